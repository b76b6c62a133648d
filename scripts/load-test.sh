#!/usr/bin/env bash
# Load test of `lvmkit serve` on loopback, bounded in time: start the server on the default
# runs (or RUN folders given as arguments), wait until it answers, run `lvmkit bench serve`
# with many concurrent clients for DURATION seconds (default 60), then stop the server with SIGTERM and
# check that it exits cleanly. Fails if any request failed.
#
#   scripts/load-test.sh [RUN ...]
#   DURATION=30 CLIENTS=16 scripts/load-test.sh runs/default/models/mlp
#
# Results: runs/load-test.json (requests/s, p50/p99 per endpoint) and the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${DURATION:-60}"
clients="${CLIENTS:-32}"
port="${PORT:-18080}"
data="${DATA:-runs/default/data}"
out="${OUT:-runs/load-test.json}"
bin=target/release/lvmkit
[ -x "$bin" ] || cargo build --release -p lvmkit

runs=("$@")
if [ ${#runs[@]} -eq 0 ]; then
  for d in runs/default/models/*/; do
    [ -f "$d/best.safetensors" ] && runs+=("${d%/}")
  done
fi
if [ ${#runs[@]} -eq 0 ]; then
  echo "no runs to serve: run \`cargo run --release -- run\` first, or pass RUN folders" >&2
  exit 1
fi
args=()
for r in "${runs[@]}"; do args+=(--run "$r"); done

log=$(mktemp)
"$bin" serve "${args[@]}" --data "$data" --addr "127.0.0.1:$port" >"$log" 2>&1 &
server=$!
trap 'kill -9 $server 2>/dev/null || true; rm -f "$log"' EXIT

# Wait for the server (loading models and the bank takes a few seconds), at most 2 minutes.
for _ in $(seq 240); do
  if curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then cat "$log" >&2; echo "the server did not start" >&2; exit 1; fi
  sleep 0.5
done

status=0
timeout $((${duration%.*} + 120)) "$bin" bench serve --url "http://127.0.0.1:$port" \
  --seconds "$duration" --clients "$clients" --json "$out" || status=$?

# Graceful shutdown: SIGTERM, then the server must exit 0 on its own.
kill -TERM $server
for _ in $(seq 100); do kill -0 $server 2>/dev/null || break; sleep 0.2; done
if kill -0 $server 2>/dev/null; then echo "the server ignored SIGTERM for 20 s" >&2; exit 1; fi
wait $server || { echo "the server exited with status $? after SIGTERM" >&2; cat "$log" >&2; exit 1; }
echo "server stopped cleanly after SIGTERM; results in $out"
exit $status
