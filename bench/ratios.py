#!/usr/bin/env python3
"""One table of lvmkit / PyTorch ratios from bench/compare.sh's JSON files (above 1: lvmkit is
faster; samples/s and sentences/s: lvmkit / peer; latency: peer ms / lvmkit ms), each cell
next to its target from issue 14; then the absolute figures, peak memory and embedding. With
OUT/rounds (compare.sh's repeated pairs), each side's best of the rounds.

    python3 bench/ratios.py runs/compare
"""

import json
import os
import sys

# The order of `lvmkit models`, for the tables.
ORDER = ["mlp", "lstm", "gru", "transformer", "amn", "mamba", "graphmert-lvm"]
TARGETS = {"train@32": 1.5, "train@256": 1.0, "latency@1": 2.0, "latency@256": 1.0,
           "embedding": 1.5}


def load(path):
    with open(path) as f:
        return json.load(f)


def best_of_rounds(out):
    """Merge OUT/rounds/{lvmkit,pytorch}-MODEL-ROUND.json into one result per side and model:
    the most samples/s and the least latency of the rounds. Written to OUT/{side}-models.json."""
    rounds = os.path.join(out, "rounds")
    if not os.path.isdir(rounds):
        return
    for side in ("lvmkit", "pytorch"):
        merged = {}
        for f in sorted(os.listdir(rounds)):
            if not (f.startswith(side + "-") and f.endswith(".json")):
                continue
            for r in load(os.path.join(rounds, f)):
                m = merged.setdefault(r["name"], {**r, "train_samples_per_s": {}, "infer_ms": {}})
                for b, v in r["train_samples_per_s"]:
                    m["train_samples_per_s"][b] = max(v, m["train_samples_per_s"].get(b, 0))
                for b, v in r["infer_ms"]:
                    m["infer_ms"][b] = min(v, m["infer_ms"].get(b, float("inf")))
        ranked = sorted(merged.values(),
                        key=lambda m: ORDER.index(m["name"]) if m["name"] in ORDER else len(ORDER))
        rows = [{**m, "train_samples_per_s": sorted(m["train_samples_per_s"].items()),
                 "infer_ms": sorted(m["infer_ms"].items())} for m in ranked]
        with open(os.path.join(out, f"{side}-models.json"), "w") as f:
            json.dump(rows, f, indent=1)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/compare"
    best_of_rounds(out)
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
    print("\n| model | lvmkit samples/s @32 | PyTorch @32 | lvmkit @256 | PyTorch @256 "
          "| lvmkit ms @1 | PyTorch @1 | lvmkit ms @256 | PyTorch @256 |")
    print("|---|" + "---:|" * 8)
    for name in lv:
        if name in pt:
            cells = []
            for key, b in (("train_samples_per_s", 32), ("train_samples_per_s", 256),
                           ("infer_ms", 1), ("infer_ms", 256)):
                for side in (lv, pt):
                    v = dict((int(k), v) for k, v in side[name][key]).get(b)
                    cells.append("-" if v is None else f"{v:,.1f}" if v < 100 else f"{v:,.0f}")
            print(f"| {name} | " + " | ".join(cells) + " |")
    mem = os.path.join(out, "peak-memory.json")
    if os.path.exists(mem):
        m = load(mem)
        peak = m["peak_mib"]
        idle = peak["idle"]
        print(f"\n| peak memory, training at batch {m['batch']} (MiB) | lvmkit | PyTorch | "
              f"lvmkit above idle | PyTorch above idle | ratio above idle (target ≤ 1) |")
        print("|---|" + "---:|" * 5)
        print(f"| idle (lvmkit started; Python with torch imported) | {idle['lvmkit']:.0f} | "
              f"{idle['pytorch']:.0f} | | | |")
        for name, r in peak.items():
            if name == "idle":
                continue
            a, p = r["lvmkit"] - idle["lvmkit"], r["pytorch"] - idle["pytorch"]
            print(f"| {name} | {r['lvmkit']:.0f} | {r['pytorch']:.0f} | {a:.0f} | {p:.0f} | "
                  f"{a / p:.2f} |")
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
