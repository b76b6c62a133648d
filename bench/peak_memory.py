#!/usr/bin/env python3
"""Peak memory of a training run, lvmkit against PyTorch: for each architecture, one process
per side trains it at batch 256 (D = 768, C = 5, the same steps as the speed benchmark) and the
kernel's count of its peak resident memory (wait4's ru_maxrss) is recorded. Also the idle
footprint of each runtime (lvmkit started, Python with torch imported), so the model's own share
can be read off. Called by bench/compare.sh; writes OUT/peak-memory.json.

    bench/.venv/bin/python bench/peak_memory.py --out runs/compare --threads 2
"""

import argparse
import json
import os
import subprocess
import sys

ARCHITECTURES = ["mlp", "lstm", "gru", "transformer", "amn", "mamba", "graphmert-lvm"]


def peak_mib(cmd, env):
    """Run cmd to completion; its peak resident set in MiB (Linux reports ru_maxrss in KiB)."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(cmd)} exited with {code}")
    return usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/compare")
    ap.add_argument("--models", default=",".join(ARCHITECTURES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lvmkit", default="target/release/lvmkit")
    args = ap.parse_args()
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    here = os.path.dirname(os.path.abspath(__file__))
    common = ["--train-batch", str(args.batch), "--infer-batch", "1", "--seconds", "1"]
    rows = {"idle": {
        "lvmkit": peak_mib([args.lvmkit, "--version"], env),
        "pytorch": peak_mib([sys.executable, "-c", "import torch"], env),
    }}
    for name in args.models.split(","):
        rows[name] = {
            "lvmkit": peak_mib([args.lvmkit, "-q", "bench", "models", "--models", name, *common], env),
            "pytorch": peak_mib([sys.executable, os.path.join(here, "pytorch_models.py"),
                                 "--models", name, "--threads", str(args.threads), *common], env),
        }
        r = rows[name]
        print(f"{name:14} lvmkit {r['lvmkit']:8.0f} MiB   pytorch {r['pytorch']:8.0f} MiB", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "peak-memory.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"batch": args.batch, "threads": args.threads, "peak_mib": rows}, f, indent=1)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
