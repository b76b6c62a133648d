#!/usr/bin/env python3
"""sentence-transformers' throughput on the same sentences and model as `lvmkit bench encode`:
the median of `--repeat` timed runs after one warm-up, in the same JSON format, so that
bench/compare.sh can put the two side by side.

    bench/.venv/bin/python bench/st_encode.py --model data/encoders/all-MiniLM-L6-v2 \
        --input sentences.txt --threads 2 --json st.json
"""

import argparse
import json
import os
import statistics
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="sentence-transformers folder")
    ap.add_argument("--input", required=True, help="text file, one sentence per line")
    ap.add_argument("--limit", type=int, default=2000, help="use at most this many lines")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    with open(args.input, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f if line.strip()][: args.limit]
    if not texts:
        raise SystemExit(f"{args.input}: no text to benchmark on")
    model = SentenceTransformer(args.model, device="cpu")
    tokens = sum(len(t) for t in model.tokenizer(texts)["input_ids"])
    model.encode(texts[:256], batch_size=args.batch_size)
    runs = []
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        model.encode(texts, batch_size=args.batch_size)
        runs.append(len(texts) / (time.perf_counter() - t))
    runs.sort()
    result = {
        "encoder": f"sentence-transformers {__import__('sentence_transformers').__version__}, "
        f"torch {torch.__version__}",
        "input": args.input,
        "sentences": len(texts),
        "mean_tokens": tokens / len(texts),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "sentences_per_second": statistics.median(runs),
        "runs": runs,
    }
    print(f"{result['encoder']}: {len(texts)} sentences ({result['mean_tokens']:.1f} tokens each), "
          f"batch {args.batch_size}, {args.threads} threads: median "
          f"{result['sentences_per_second']:.0f} sentences/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
