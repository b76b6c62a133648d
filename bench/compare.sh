#!/usr/bin/env bash
# lvmkit against the current PyTorch on this machine, one after the other, the same thread
# count each: the seven architectures (`lvmkit bench models` vs bench/pytorch_models.py) and
# sentence embedding (`lvmkit bench encode` vs sentence-transformers on the same model folder)
# on STS-B test sentences and long State of the Union sentences. Ends with one table of ratios
# (bench/ratios.py). Run it on a quiet machine.
#
#   bash bench/compare.sh                       # everything, about 15 minutes on 2 cores
#   MODELS=mlp,amn SECONDS_PER_CELL=1 bash bench/compare.sh
#
# Needs: bench/setup-pytorch.sh (run here if missing), the fetched data (`lvmkit fetch`), and
# the STS-B test file (STSB, default ../shared/testdata/stsb/sts-test.csv). Results in OUT
# (default runs/compare).
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${THREADS:-$(nproc)}"
out="${OUT:-runs/compare}"
stsb="${STSB:-../shared/testdata/stsb/sts-test.csv}"
data="${LVMKIT_DATA:-data}"
py=bench/.venv/bin/python
bin=target/release/lvmkit
mkdir -p "$out"
[ -x "$py" ] || bash bench/setup-pytorch.sh
cargo build --release -p lvmkit
export RAYON_NUM_THREADS="$threads"

echo "== models ($threads threads each)"
models=()
[ -n "${MODELS:-}" ] && models=(--models "$MODELS")
"$bin" bench models "${models[@]}" --seconds "${SECONDS_PER_CELL:-3}" --json "$out/lvmkit-models.json"
"$py" bench/pytorch_models.py "${models[@]}" --threads "$threads" --seconds "${SECONDS_PER_CELL:-3}" \
    --json "$out/pytorch-models.json" --lvmkit-json "$out/lvmkit-models.json"

echo "== sentence embedding"
cut -f6,7 "$stsb" | tr '\t' '\n' | awk 'NF && !seen[$0]++' > "$out/stsb.txt"
if [ ! -s "$out/sotu-long.txt" ]; then
    "$bin" -q ingest --input "$data/corpora/sotu" --output "$out/sotu.jsonl"
    "$py" - "$out/sotu.jsonl" "$out/sotu-long.txt" <<'PY'
import json, sys
seen, out = set(), []
for line in open(sys.argv[1]):
    for s in json.loads(line)["sentences"]:
        if len(s.split()) >= 30 and s not in seen:
            seen.add(s)
            out.append(s)
open(sys.argv[2], "w").write("\n".join(out[:2000]) + "\n")
PY
fi
for tag in stsb sotu-long; do
    "$bin" bench encode --input "$out/$tag.txt" --repeat 5 --json "$out/lvmkit-encode-$tag.json"
    "$py" bench/st_encode.py --model "$data/encoders/all-MiniLM-L6-v2" --input "$out/$tag.txt" \
        --repeat 5 --threads "$threads" --json "$out/st-encode-$tag.json"
done

echo "== ratios (above 1: lvmkit is faster)"
"$py" bench/ratios.py "$out"
