#!/usr/bin/env python3
"""PyTorch reference for `lvmkit bench models`: the same seven next-concept architectures,
trained and run the same way, so lvmkit's speed can be read against PyTorch's.

Every model maps a context of C concept vectors [B, C, D] to an L2-normalised prediction
[B, D]. One training step is what lvmkit's trainer takes: forward in train mode, cosine
loss mean(1 - cos(pred, target)), backward, gradient-norm clipping at 1.0, AdamW
(lr 1e-4, weight decay 0.01), zero_grad. Inference is one eval-mode forward pass without
autograd. Each cell is the median step time over at least `--seconds` seconds and at least
5 repetitions, after 2 warm-up steps, like lvmkit.

Run (after `bash bench/setup-pytorch.sh`; `bash bench/compare.sh` does all of it):

    cargo run --release -- bench models --json /tmp/lvmkit.json
    bench/.venv/bin/python bench/pytorch_models.py --threads 2 --lvmkit-json /tmp/lvmkit.json

The numbers only mean something next to `lvmkit bench models` run on the same machine
with the same thread count (CANDLE_NUM_THREADS for lvmkit, which defaults to 1;
--threads here), one after the other rather than at the same time.

    python3 bench/pytorch_models.py --check-params    # build the models, assert the counts
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

try:
    import torch
except ModuleNotFoundError:
    # Debian's python3-torch lives in the system interpreter; a pyenv or virtualenv
    # `python3` first on PATH cannot see it, so re-run there rather than fail.
    SYSTEM_PYTHON = "/usr/bin/python3"
    if (
        os.path.exists(SYSTEM_PYTHON)
        and os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
        and not os.environ.get("LVMKIT_BENCH_REEXEC")
    ):
        print(f"torch is not importable from {sys.executable}; re-running under "
              f"{SYSTEM_PYTHON}", file=sys.stderr)
        os.environ["LVMKIT_BENCH_REEXEC"] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    sys.exit("torch is not installed: run `bash bench/setup-pytorch.sh`")

import numpy as np
import torch.nn as nn
import torch.nn.functional as F

ARCHITECTURES = ["mlp", "lstm", "gru", "transformer", "amn", "mamba", "graphmert-lvm"]

# Parameter counts at D = 768, C = 5; lvmkit's models have exactly these, so a mismatch
# means the two are no longer the same architecture.
EXPECTED_PARAMS = {
    "mlp": 4_720_384,
    "lstm": 5_120_768,
    "gru": 7_095_552,
    "transformer": 13_660_928,
    "amn": 1_510_912,
    "mamba": 2_146_560,
    "graphmert-lvm": 67_352_928,
}


# --------------------------------------------------------------------------- models


class Mlp(nn.Module):
    def __init__(self, dim, context, hidden=1024, dropout=0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(context * dim, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
        )

    def forward(self, x):
        return F.normalize(self.net(x.flatten(1)), dim=-1)


class Lstm(nn.Module):
    def __init__(self, dim, context, hidden=512, layers=2, dropout=0.2):
        super().__init__()
        self.lstm = nn.LSTM(dim, hidden, num_layers=layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden, dim)

    def forward(self, x):
        out, _ = self.lstm(x)
        return F.normalize(self.head(out[:, -1]), dim=-1)


class Gru(nn.Module):
    """Stacked single-layer GRUs with post-norm residuals (a residual needs the GRU's
    output per layer, which one multi-layer nn.GRU does not expose)."""

    def __init__(self, dim, context, hidden=512, blocks=4):
        super().__init__()
        self.input = nn.Linear(dim, hidden)
        self.grus = nn.ModuleList(nn.GRU(hidden, hidden, batch_first=True) for _ in range(blocks))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(blocks))
        self.head = nn.Linear(hidden, dim)

    def forward(self, x):
        h = self.input(x)
        for gru, norm in zip(self.grus, self.norms):
            h = norm(h + gru(h)[0])
        return F.normalize(self.head(h[:, -1]), dim=-1)


def sinusoidal_positions(length, d):
    """The fixed sin/cos table of Vaswani et al. [length, d]."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(length, d)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return table


def transformer_encoder(layer, num_layers):
    # Nested tensors only help with padding masks, which the benchmark never has; turning
    # them off also silences torch 2.x's warning. torch < 1.12 lacks the argument.
    try:
        return nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
    except TypeError:
        return nn.TransformerEncoder(layer, num_layers)


class Transformer(nn.Module):
    def __init__(self, dim, context, d_model=512, heads=8, ff=2048, layers=4, dropout=0.1):
        super().__init__()
        self.input = nn.Linear(dim, d_model)
        # Buffers, not parameters: they must not count towards the parameter total.
        self.register_buffer("positions", sinusoidal_positions(context, d_model), persistent=False)
        causal = torch.triu(torch.full((context, context), float("-inf")), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=ff, dropout=dropout, activation="relu",
            batch_first=True, norm_first=False,
        )
        self.encoder = transformer_encoder(layer, layers)
        self.head = nn.Sequential(
            nn.Linear(d_model, d_model), nn.GELU(), nn.LayerNorm(d_model), nn.Linear(d_model, dim),
        )

    def forward(self, x):
        h = self.input(x) + self.positions
        h = self.encoder(h, mask=self.causal)
        return F.normalize(self.head(h[:, -1]), dim=-1)


class Amn(nn.Module):
    """Attention-mixture network: the context mean plus a learned residual from the mean
    and an attention-weighted context summary."""

    def __init__(self, dim, context, d_attn=256, hidden=512, bottleneck=256):
        super().__init__()
        self.query = nn.Linear(dim, d_attn)
        self.key = nn.Linear(dim, d_attn)
        self.scale = d_attn ** -0.5
        self.residual = nn.Sequential(
            nn.Linear(2 * dim, hidden), nn.GELU(), nn.LayerNorm(hidden),
            nn.Linear(hidden, bottleneck), nn.GELU(), nn.LayerNorm(bottleneck),
            nn.Linear(bottleneck, dim),
        )

    def forward(self, x):
        base = x.mean(dim=1)                                        # [B, D]
        q = self.query(base)                                        # [B, A]
        k = self.key(x)                                             # [B, C, A]
        attn = torch.softmax((k @ q[:, :, None]).squeeze(-1) * self.scale, dim=-1)  # [B, C]
        summary = (attn[:, :, None] * x).sum(dim=1)                 # [B, D]
        r = self.residual(torch.cat([base, summary], dim=-1))
        return F.normalize(base + r, dim=-1)


class RmsNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaBlock(nn.Module):
    """One selective-SSM (Mamba) block in plain PyTorch: the recurrence is a Python loop
    over the C positions, which at C = 5 costs less than any parallel scan would save."""

    def __init__(self, d_model=256, d_inner=512, d_state=16, d_conv=4, dt_rank=16):
        super().__init__()
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, dt_rank
        self.norm = RmsNorm(d_model)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner)
        # S4D-real initialisation: A = -(1..N) in every channel.
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        # Mamba's step-size initialisation: softplus(bias) log-uniform in [0.001, 0.1].
        with torch.no_grad():
            dt = torch.exp(torch.rand(d_inner) * (math.log(0.1) - math.log(0.001)) + math.log(0.001))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def forward(self, x):
        length = x.shape[1]
        xz = self.in_proj(self.norm(x))
        xs, z = xz.chunk(2, dim=-1)                                  # [B, L, E] each
        # Left padding plus keeping the first L outputs makes the convolution causal.
        u = F.silu(self.conv(xs.transpose(1, 2))[:, :, :length].transpose(1, 2))
        dt, b, c = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))                         # [B, L, E]
        a = -torch.exp(self.A_log)                                   # [E, N]
        h = x.new_zeros(x.shape[0], self.d_inner, self.d_state)      # [B, E, N]
        ys = []
        for t in range(length):
            d_t, u_t = delta[:, t], u[:, t]
            h = torch.exp(d_t[:, :, None] * a) * h + (d_t * u_t)[:, :, None] * b[:, t, None, :]
            ys.append((h * c[:, t, None, :]).sum(-1) + self.D * u_t)
        y = torch.stack(ys, dim=1) * F.silu(z)
        return x + self.out_proj(y)


class Mamba(nn.Module):
    def __init__(self, dim, context, d_model=256, blocks=4):
        super().__init__()
        self.input = nn.Linear(dim, d_model)
        self.blocks = nn.ModuleList(MambaBlock(d_model) for _ in range(blocks))
        self.norm = RmsNorm(d_model)
        self.head = nn.Linear(d_model, dim)

    def forward(self, x):
        h = self.input(x)
        for block in self.blocks:
            h = block(h)
        return F.normalize(self.head(self.norm(h)[:, -1]), dim=-1)


class DistanceBiasLayer(nn.Module):
    """Post-norm encoder layer whose attention gets a learned per-head distance penalty
    ln(0.6) * GELU(sqrt(|i - j| + 1) - p_h). Attention is written out because the bias
    must stay differentiable in p_h, and a [heads, C, C] bias broadcast over the batch is
    cheaper than nn.MultiheadAttention's [B * heads, C, C] float mask."""

    def __init__(self, context, d_model=768, heads=8, ff=2048, dropout=0.1,
                 decay=0.6, offset_init=2.0):
        super().__init__()
        self.heads, self.head_dim = heads, d_model // heads
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.offset = nn.Parameter(torch.full((heads,), offset_init))
        self.ln_decay = math.log(decay)
        pos = torch.arange(context, dtype=torch.float32)
        self.register_buffer("dist", torch.sqrt((pos[:, None] - pos[None, :]).abs() + 1.0),
                             persistent=False)
        self.ff_in = nn.Linear(d_model, ff)
        self.ff_out = nn.Linear(ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def attention(self, x):
        b, l, d = x.shape
        q, k, v = (self.in_proj(x).view(b, l, 3, self.heads, self.head_dim)
                   .permute(2, 0, 3, 1, 4))                          # each [B, H, L, hd]
        bias = self.ln_decay * F.gelu(self.dist - self.offset[:, None, None])  # [H, L, L]
        scores = (q @ k.transpose(-2, -1)) * self.head_dim ** -0.5 + bias
        weights = self.dropout(torch.softmax(scores, dim=-1))
        ctx = (weights @ v).transpose(1, 2).reshape(b, l, d)
        return self.out_proj(ctx)

    def forward(self, x):
        x = self.norm1(x + self.dropout(self.attention(x)))
        f = self.ff_out(self.dropout(F.gelu(self.ff_in(x))))
        return self.norm2(x + self.dropout(f))


class GraphmertLvm(nn.Module):
    def __init__(self, dim, context, d_model=768, layers=12, dropout=0.1):
        super().__init__()
        # At D = d_model the concepts go in as they are; a projection would only add weights.
        self.input = nn.Identity() if dim == d_model else nn.Linear(dim, d_model)
        self.positions = nn.Parameter(torch.randn(context, d_model) * 0.02)
        self.layers = nn.ModuleList(DistanceBiasLayer(context, d_model) for _ in range(layers))
        self.head = nn.Sequential(
            nn.Linear(d_model, d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_model, dim),
        )

    def forward(self, x):
        h = self.input(x) + self.positions
        for layer in self.layers:
            h = layer(h)
        return F.normalize(self.head(h.mean(dim=1)), dim=-1)


MODELS = {
    "mlp": Mlp,
    "lstm": Lstm,
    "gru": Gru,
    "transformer": Transformer,
    "amn": Amn,
    "mamba": Mamba,
    "graphmert-lvm": GraphmertLvm,
}


def build(name, dim, context):
    torch.manual_seed(0)
    return MODELS[name](dim, context)


def num_params(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- inputs


def random_batch(batch, context, dim, seed):
    """Unit vectors from uniform [-1, 1) coordinates, as lvmkit's bench draws them."""
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.rand(batch, context, dim, generator=g) * 2 - 1, dim=-1)
    y = F.normalize(torch.rand(batch, dim, generator=g) * 2 - 1, dim=-1)
    return x, y


class Windows:
    """Training windows of an lvmkit dataset folder: concepts.npy [N, D] float32 and
    windows-train.npy [W, 3] int64 rows (doc, start, target)."""

    def __init__(self, folder):
        # Memory-mapped: only the sampled rows are read, however large the corpus.
        self.concepts = np.load(os.path.join(folder, "concepts.npy"), mmap_mode="r")
        self.windows = np.load(os.path.join(folder, "windows-train.npy"))
        if self.windows.ndim != 2 or self.windows.shape[1] != 3 or len(self.windows) == 0:
            sys.exit(f"{folder}/windows-train.npy: expected a non-empty [W, 3] array, "
                     f"got {self.windows.shape}")
        lengths = np.unique(self.windows[:, 2] - self.windows[:, 1])
        if len(lengths) != 1 or lengths[0] < 1:
            sys.exit(f"{folder}/windows-train.npy: context lengths {lengths[:10]} are not one "
                     "positive length")
        self.context = int(lengths[0])
        self.dim = int(self.concepts.shape[1])

    def batch(self, batch, seed):
        rows = self.windows[np.random.default_rng(seed).integers(len(self.windows), size=batch)]
        starts, targets = rows[:, 1], rows[:, 2]
        x = self.concepts[starts[:, None] + np.arange(self.context)]
        y = self.concepts[targets]
        return (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)))


# ---------------------------------------------------------------------------- timing


def median_seconds(fn, min_reps, min_time):
    """Run fn until min_time has passed and min_reps are done; the median duration."""
    times = []
    started = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - started < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= 10_000:
            break
    return statistics.median(times)


def measure(name, dim, context, args, windows):
    model = build(name, dim, context)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def batch(b, seed):
        return windows.batch(b, seed) if windows else random_batch(b, context, dim, seed)

    def train_step(x, y):
        pred = model(x)
        loss = (1 - F.cosine_similarity(pred, y, dim=-1)).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    train = []
    model.train()
    for b in args.train_batch:
        x, y = batch(b, b)
        for _ in range(args.warmup):
            train_step(x, y)
        secs = median_seconds(lambda: train_step(x, y), args.min_reps, args.seconds)
        train.append([b, b / secs])

    infer = []
    model.eval()
    with torch.inference_mode():
        for b in args.infer_batch:
            x, _ = batch(b, 1000 + b)
            for _ in range(args.warmup):
                model(x)
            secs = median_seconds(lambda: model(x), args.min_reps, args.seconds)
            infer.append([b, secs * 1e3])

    return {
        "name": name,
        "params": num_params(model),
        "dim": dim,
        "context": context,
        "train_samples_per_s": train,
        "infer_ms": infer,
    }


# --------------------------------------------------------------------------- reports


def print_header(args):
    cols = [f"train@{b} /s" for b in args.train_batch] + [f"infer@{b} ms" for b in args.infer_batch]
    print(f"{'model':<14} {'params':>12}" + "".join(f" {c:>14}" for c in cols))


def print_row(r):
    line = f"{r['name']:<14} {r['params']:>12,}"
    line += "".join(f" {v:>14.0f}" for _, v in r["train_samples_per_s"])
    line += "".join(f" {v:>14.2f}" for _, v in r["infer_ms"])
    print(line, flush=True)


def print_comparison(pytorch, lvmkit):
    """One row per (model, cell); ratio > 1 always means lvmkit is faster."""
    ours = {r["name"]: r for r in lvmkit}
    print()
    print("lvmkit vs PyTorch (ratio > 1: lvmkit faster; samples/s: lvmkit / pytorch, "
          "latency: pytorch ms / lvmkit ms)")
    print(f"{'model':<14} {'cell':<14} {'lvmkit':>12} {'pytorch':>12} {'ratio':>8}")
    for p in pytorch:
        l = ours.get(p["name"])
        if l is None:
            print(f"{p['name']:<14} (not in the lvmkit results)")
            continue
        notes = [f"{k} {l.get(k)} vs {p[k]}" for k in ("dim", "context", "params") if l.get(k) != p[k]]
        if notes:
            print(f"{p['name']:<14} warning: different {', '.join(notes)} (lvmkit vs pytorch)")
        for key, label, fmt, faster in (
            ("train_samples_per_s", "train@{} /s", "{:>12.0f}", lambda lv, pt: lv / pt),
            ("infer_ms", "infer@{} ms", "{:>12.2f}", lambda lv, pt: pt / lv),
        ):
            theirs = dict((int(b), v) for b, v in l.get(key, []))
            for b, pt in p[key]:
                cell = label.format(b)
                if b not in theirs:
                    print(f"{p['name']:<14} {cell:<14} {'-':>12} " + fmt.format(pt))
                    continue
                lv = theirs[b]
                ratio = faster(lv, pt) if lv > 0 and pt > 0 else float("nan")
                print(f"{p['name']:<14} {cell:<14} " + fmt.format(lv) + " " + fmt.format(pt)
                      + f" {ratio:>7.2f}x")
            for b in sorted(set(theirs) - {int(b) for b, _ in p[key]}):
                print(f"{p['name']:<14} {label.format(b):<14} " + fmt.format(theirs[b])
                      + f" {'-':>12}")


def check_params(names):
    """Build every model at D = 768, C = 5 and compare with lvmkit's counts."""
    bad = 0
    print(f"{'model':<14} {'params':>12} {'expected':>12}")
    for name in names:
        n = num_params(build(name, 768, 5))
        ok = n == EXPECTED_PARAMS[name]
        bad += not ok
        print(f"{name:<14} {n:>12,} {EXPECTED_PARAMS[name]:>12,}  {'ok' if ok else 'MISMATCH'}")
    if bad:
        sys.exit(f"{bad} parameter count(s) differ from lvmkit's")


# ------------------------------------------------------------------------------ main


def int_list(s):
    return [int(v) for v in s.split(",") if v.strip()]


def main():
    ap = argparse.ArgumentParser(
        description="PyTorch reference for `lvmkit bench models` (see the module docstring).")
    ap.add_argument("--models", default=",".join(ARCHITECTURES),
                    help="comma-separated architectures (default: all)")
    ap.add_argument("--dim", type=int, default=768, help="embedding dimension D")
    ap.add_argument("--context", type=int, default=5, help="context length C")
    ap.add_argument("--train-batch", type=int_list, default=[32, 256])
    ap.add_argument("--infer-batch", type=int_list, default=[1, 256])
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="minimum timed seconds per cell (the median step is reported)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--data", help="lvmkit dataset folder: time on its real train windows "
                                   "(D and C then come from the data)")
    ap.add_argument("--json", help="write the results here (lvmkit's JSON format)")
    ap.add_argument("--lvmkit-json", help="JSON from `lvmkit bench models --json`: print "
                                          "a side-by-side comparison")
    ap.add_argument("--check-params", action="store_true",
                    help="only build the models at D=768, C=5 and assert their parameter counts")
    args = ap.parse_args()
    # Same protocol as lvmkit's SpeedSettings::default().
    args.min_reps, args.warmup = 5, 2

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(ARCHITECTURES)}")

    torch.set_num_threads(args.threads)
    try:
        # Intra-op threads are what lvmkit's CANDLE_NUM_THREADS corresponds to.
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)

    if args.check_params:
        check_params(names)
        return

    windows = Windows(args.data) if args.data else None
    dim, context = (windows.dim, windows.context) if windows else (args.dim, args.context)
    source = f"train windows of {args.data}" if windows else "random unit vectors"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; D = {dim}, C = {context}, "
          f"{source}; AdamW + cosine loss; median of >= {args.seconds:g} s per cell")
    print_header(args)
    results = []
    for name in names:
        r = measure(name, dim, context, args, windows)
        print_row(r)
        results.append(r)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"results in {args.json}")
    if args.lvmkit_json:
        with open(args.lvmkit_json) as f:
            print_comparison(results, json.load(f))


if __name__ == "__main__":
    main()
