#!/usr/bin/env python3
"""One table of lvmkit / PyTorch ratios from bench/compare.sh's JSON files (above 1: lvmkit is
faster; samples/s and sentences/s: lvmkit / peer; latency: peer ms / lvmkit ms), each cell
next to its target from issue 14.

    python3 bench/ratios.py runs/compare
"""

import json
import os
import sys

TARGETS = {"train@32": 1.5, "train@256": 1.0, "latency@1": 2.0, "latency@256": 1.0,
           "embedding": 1.5}


def load(path):
    with open(path) as f:
        return json.load(f)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/compare"
    lv = {r["name"]: r for r in load(os.path.join(out, "lvmkit-models.json"))}
    pt = {r["name"]: r for r in load(os.path.join(out, "pytorch-models.json"))}
    cells = [("train@32", "train_samples_per_s", 32), ("train@256", "train_samples_per_s", 256),
             ("latency@1", "infer_ms", 1), ("latency@256", "infer_ms", 256)]
    print("| model | " + " | ".join(f"{c} (target ≥{TARGETS[c]})" for c, _, _ in cells) + " |")
    print("|---|" + "---:|" * len(cells))
    for name in lv:
        if name not in pt:
            continue
        row = []
        for _, key, b in cells:
            a = dict((int(k), v) for k, v in lv[name][key]).get(b)
            p = dict((int(k), v) for k, v in pt[name][key]).get(b)
            if not a or not p:
                row.append("-")
                continue
            ratio = a / p if key == "train_samples_per_s" else p / a
            row.append(f"{ratio:.2f}")
        print(f"| {name} | " + " | ".join(row) + " |")
    emb = []
    for tag in ("stsb", "sotu-long"):
        a, p = (os.path.join(out, f"{who}-encode-{tag}.json") for who in ("lvmkit", "st"))
        if os.path.exists(a) and os.path.exists(p):
            a, p = load(a), load(p)
            emb.append(f"| {tag} ({a['sentences']} sentences, {a['mean_tokens']:.0f} tokens) | "
                       f"{a['sentences_per_second']:.0f} | {p['sentences_per_second']:.0f} | "
                       f"{a['sentences_per_second'] / p['sentences_per_second']:.2f} |")
    if emb:
        print(f"\n| embedding | lvmkit /s | sentence-transformers /s | ratio (target ≥{TARGETS['embedding']}) |")
        print("|---|---:|---:|---:|")
        print("\n".join(emb))


if __name__ == "__main__":
    main()
