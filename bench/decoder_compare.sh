#!/usr/bin/env bash
# One batch of the inversion decoder, lvmkit against the current PyTorch, one after the other on
# this machine with the same thread count: forward, mean cross-entropy and backward (no
# optimizer step: lvmkit's `decoder_step` example times none, and bench/pytorch_decoder.py times
# exactly what it does). Batch 64, 24 tokens a sentence, 256 wide, 4 layers (the decoder's
# default preset), vocab 4096 and 8192. Prints both sides' lines, then one table. Run it on a
# quiet machine.
#
#   bash bench/decoder_compare.sh
#   THREADS=1 BATCH=32 LEN=16 SIZES="256:4:4096 512:6:8192" bash bench/decoder_compare.sh
#
# THREADS (default nproc) goes to RAYON_NUM_THREADS for lvmkit (candle's matrix products, and
# its element-wise ops unless CANDLE_NUM_THREADS is set: the example is not the `lvmkit` binary,
# which would set that to 1) and to torch.set_num_threads. Needs bench/setup-pytorch.sh (run here
# if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${THREADS:-$(nproc)}"
batch="${BATCH:-64}"
len="${LEN:-24}"
sizes="${SIZES:-256:4:4096 256:4:8192}"
py=bench/.venv/bin/python
bin=target/release/examples/decoder_step
[ -x "$py" ] || bash bench/setup-pytorch.sh
# Built first, so that no compile time lands in a measurement.
cargo build --release --quiet -p lvmkit-models --example decoder_step
export RAYON_NUM_THREADS="$threads"

echo "== decoder step: batch $batch, len $len, $threads threads" \
    "(CANDLE_NUM_THREADS=${CANDLE_NUM_THREADS:-unset}), $(date -u +%F)"
rows=()
for size in $sizes; do
    IFS=: read -r width layers vocab <<<"$size"
    l=$("$bin" "$width" "$layers" "$vocab" "$batch" "$len")
    echo "lvmkit:  $l"
    p=$("$py" bench/pytorch_decoder.py "$width" "$layers" "$vocab" "$batch" "$len" --threads "$threads")
    echo "PyTorch: ${p//$'\n'/$'\n'         }"
    p=${p%%$'\n'*}
    # "... N params, S s/step, X sentences/s, T tokens/s"
    ls=$(sed -E 's/.* ([0-9.]+) s\/step.*/\1/' <<<"$l")
    ps=$(sed -E 's/.* ([0-9.]+) s\/step.*/\1/' <<<"$p")
    lsent=$(sed -E 's/.* ([0-9.]+) sentences\/s.*/\1/' <<<"$l")
    psent=$(sed -E 's/.* ([0-9.]+) sentences\/s.*/\1/' <<<"$p")
    lparams=$(sed -E 's/.*: ([0-9]+) params.*/\1/' <<<"$l")
    pparams=$(sed -E 's/.*: ([0-9]+) params.*/\1/' <<<"$p")
    [ "$lparams" = "$pparams" ] || echo "warning: parameter counts differ ($lparams vs $pparams)" >&2
    rows+=("$width $layers $vocab $lparams $ls $ps $lsent $psent")
done

echo
printf '%-6s %-6s %-6s %-10s %-10s %-10s %-12s %-12s %s\n' width layers vocab params \
    "lvmkit s" "torch s" "lvmkit sent/s" "torch sent/s" "lvmkit/torch speed"
for r in "${rows[@]}"; do
    read -r w n v params ls ps lsent psent <<<"$r"
    # The ratio from sentences/s, which the two sides print with more digits than s/step.
    awk -v w="$w" -v n="$n" -v v="$v" -v pa="$params" -v ls="$ls" -v ps="$ps" \
        -v lx="$lsent" -v px="$psent" \
        'BEGIN { printf "%-6s %-6s %-6s %-10s %-10s %-10s %-13s %-12s %.2f\n",
                 w, n, v, pa, ls, ps, lx, px, lx / px }'
done
echo "(s = seconds per step, forward + loss + backward, the 3rd fastest of 6 steps;" \
    "speed above 1: lvmkit is faster)"
