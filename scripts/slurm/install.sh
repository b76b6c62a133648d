#!/usr/bin/env bash
# Install what a one-node Slurm cluster needs, from Debian's packages: slurmctld, slurmd and
# slurm-client (Slurm's controller, node daemon and sbatch/squeue/...), and munge
# (authentication). Idempotent: apt is not touched when everything is already installed.
# Runs as root (or through sudo) on Debian or Ubuntu.
#
#   scripts/slurm/install.sh
set -euo pipefail

packages=(slurmctld slurmd slurm-client munge)
# The commands each package brings; all present means nothing to do.
commands=(slurmctld slurmd sbatch squeue sinfo scontrol srun munged munge mungekey)

missing=0
for c in "${commands[@]}"; do
  command -v "$c" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1 || missing=1
done
if [ "$missing" -eq 0 ]; then
  echo "slurm and munge are already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install.sh: run as root (or install sudo): apt-get needs it" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install.sh: apt-get not found: install ${packages[*]} with this system's package manager" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "installing ${packages[*]} with apt-get"
if ! "${sudo[@]}" apt-get update -q; then
  echo "install.sh: apt-get update failed" >&2
  exit 1
fi
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"; then
  echo "install.sh: apt-get install ${packages[*]} failed" >&2
  exit 1
fi
for c in "${commands[@]}"; do
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$c" >/dev/null 2>&1; then
    echo "install.sh: $c is still missing after apt-get install ${packages[*]}" >&2
    exit 1
  fi
done
echo "installed: $(PATH="$PATH:/usr/sbin:/sbin" slurmctld -V), $(munge -V 2>&1 | awk '{print $1; exit}')"
