#!/usr/bin/env bash
# lvmkit against the current PyTorch on this machine, one after the other, the same thread
# count each: the seven architectures (`lvmkit bench models` vs bench/pytorch_models.py) and
# peak memory of a training run (bench/peak_memory.py), and sentence embedding (`lvmkit bench
# encode` vs sentence-transformers on the same model folder)
# on STS-B test sentences and long State of the Union sentences. Ends with one table of ratios
# (bench/ratios.py). Run it on a quiet machine.
#
#   bash bench/compare.sh                       # everything, about 30 minutes on 2 cores
#   MODELS=mlp,amn SECONDS_PER_CELL=1 ROUNDS=1 bash bench/compare.sh
#
# Needs: bench/setup-pytorch.sh (run here if missing), the fetched data (`lvmkit fetch`), and
# the STS-B test file (STSB, default ../shared/testdata/stsb/sts-test.csv). Results in OUT
# (default runs/compare).
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${THREADS:-$(nproc)}"
rounds="${ROUNDS:-2}"
out="${OUT:-runs/compare}"
stsb="${STSB:-../shared/testdata/stsb/sts-test.csv}"
data="${LVMKIT_DATA:-data}"
py=bench/.venv/bin/python
bin=target/release/lvmkit
mkdir -p "$out"
[ -x "$py" ] || bash bench/setup-pytorch.sh
cargo build --release -p lvmkit
export RAYON_NUM_THREADS="$threads"

echo "== models ($threads threads each, $rounds rounds)"
# One model at a time, lvmkit then PyTorch, so a pair shares the machine's state; each pair
# ROUNDS times, and ratios.py keeps each side's best of the rounds: on a shared machine
# interference only ever slows a run down.
all_models="${MODELS:-mlp,lstm,gru,transformer,amn,mamba,graphmert-lvm}"
rm -rf "$out/rounds" && mkdir -p "$out/rounds"
for round in $(seq "$rounds"); do
    for m in ${all_models//,/ }; do
        "$bin" bench models --models "$m" --seconds "${SECONDS_PER_CELL:-3}" \
            --json "$out/rounds/lvmkit-$m-$round.json"
        "$py" bench/pytorch_models.py --models "$m" --threads "$threads" \
            --seconds "${SECONDS_PER_CELL:-3}" --json "$out/rounds/pytorch-$m-$round.json"
    done
done

echo "== peak memory of training at batch 256"
"$py" bench/peak_memory.py --out "$out" --models "$all_models" --threads "$threads" --lvmkit "$bin"

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
