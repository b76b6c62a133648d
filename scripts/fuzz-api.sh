#!/usr/bin/env bash
# Property-based fuzzing of a running `lvmkit serve` from its own /openapi.json, with
# schemathesis (PyPI, installed into a git-ignored venv on first use): valid and invalid bodies
# for every operation; fails on any 5xx, any response that breaks the documented schema, or a
# wrong content type. Client mistakes are 4xx by design, so "schema-valid request rejected" is
# not checked (the schema cannot say "exactly one of texts, vectors and contexts").
#
#   cargo run --release -- serve --run runs/default/models/mlp &
#   scripts/fuzz-api.sh [URL] [EXAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
url="${1:-http://127.0.0.1:8080}"
examples="${2:-300}"
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi
"$venv/bin/schemathesis" run "$url/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --mode all --max-examples "$examples" --workers 2 --seed 42
