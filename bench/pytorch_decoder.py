#!/usr/bin/env python3
"""PyTorch twin of lvmkit's `decoder_step` example: the time of one inversion-decoder batch.

    bench/.venv/bin/python bench/pytorch_decoder.py WIDTH LAYERS VOCAB BATCH LEN [--threads N]

lvmkit's side is `cargo run --release -p lvmkit-models --example decoder_step -- WIDTH LAYERS
VOCAB BATCH LEN` (crates/lvmkit-models/examples/decoder_step.rs); `bench/decoder_compare.sh`
runs the two one after the other.

The model is lvmkit's `VectorDecoder` (crates/lvmkit-models/src/decoder.rs) at the example's
settings: D = 384; the vector becomes prefix = 4 states by one Linear (384 -> 4*width); token
embedding [vocab, width] and learned positions [prefix + max_tokens (64), width], N(0, 0.02)
like every weight, biases zero; LAYERS post-norm encoder layers (nn.TransformerEncoderLayer:
packed in_proj MultiheadAttention, heads = width / 64, GELU (erf) feed-forward of 4*width,
dropout 0, LayerNorm eps 1e-5) run over [prefix; tokens] with a causal mask and a key-padding
mask; a final LayerNorm on the token positions; a Linear to vocab; the logits of the real
positions picked by row index; mean cross-entropy against the next tokens.

What one step is, as in the example: build the batch tensors from the token-id lists (each row
is LEN ids, (r*31 + i*7) % (vocab-3) + 3, all real, so the model reads LEN-1 input tokens after
the prefix and predicts LEN-1 targets a row), forward, loss, backward. Gradients are fresh each
step (set to None before it, as candle's `backward` returns new ones). No optimizer step: the
example times none (`--adamw` adds PyTorch's AdamW, lr 1e-3, weight decay 0.01, to the timed
step, for reference only; it then no longer matches the example).

Threads: the example is its own binary, not `lvmkit`, so nothing sets CANDLE_NUM_THREADS for
it; candle then uses RAYON_NUM_THREADS, else the physical cores it may run on, for both its
matrix products (gemm on rayon, and lvmkit's own row-split matmul on rayon's global pool) and
its element-wise ops. On the 2-core machine this was written for that is 2 threads, so
`--threads` defaults to the CPUs this process may run on (len(os.sched_getaffinity(0))) and
`torch.set_num_threads` is set to it; decoder_compare.sh passes THREADS (default `nproc`) to
both sides.

Timing: WARMUP untimed steps (default 2), then STEPS timed ones (default 6); the reported
s/step is the lower median of the timed steps (sorted[(STEPS-1)//2], i.e. the 3rd fastest of 6:
the statistic the example prints, which has no warm-up but takes the 3rd fastest of its 6
steps). Prints one line in the example's format, then every timed step.
"""

import argparse
import os
import sys
import time

try:
    import torch
except ModuleNotFoundError:
    sys.exit("torch is not installed: run `bash bench/setup-pytorch.sh`, then use bench/.venv/bin/python")

import torch.nn as nn
import torch.nn.functional as F

DIM = 384
PREFIX = 4
MAX_TOKENS = 64
STD = 0.02


class VectorDecoder(nn.Module):
    def __init__(self, vocab, width, layers):
        super().__init__()
        if width % 64:
            raise SystemExit(f"width {width} is not a multiple of 64 (heads = width / 64)")
        self.width = width
        self.prefix = nn.Linear(DIM, PREFIX * width)
        self.embed = nn.Parameter(torch.empty(vocab, width))
        self.positions = nn.Parameter(torch.empty(PREFIX + MAX_TOKENS, width))
        layer = nn.TransformerEncoderLayer(
            width, width // 64, 4 * width, dropout=0.0, activation="gelu",
            layer_norm_eps=1e-5, batch_first=True, norm_first=False,
        )
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width, eps=1e-5)
        self.out = nn.Linear(width, vocab)
        # lvmkit's init: N(0, 0.02) for every weight matrix and table, zero biases, LayerNorm 1/0.
        for name, p in self.named_parameters():
            if ".norm" in name or name.startswith("norm."):
                continue
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, STD)
            else:
                nn.init.zeros_(p)

    def forward(self, vectors, inputs, mask):
        b, l = inputs.shape
        p, w = PREFIX, self.width
        prefix = self.prefix(vectors).reshape(b, p, w)
        tokens = self.embed.index_select(0, inputs.reshape(-1)).reshape(b, l, w)
        x = torch.cat([prefix, tokens], 1) + self.positions[: p + l].unsqueeze(0)
        causal = torch.triu(torch.ones(p + l, p + l, dtype=torch.bool), diagonal=1)
        pad = torch.cat([torch.zeros(b, p, dtype=torch.bool), ~mask], 1)
        x = self.layers(x, mask=causal, src_key_padding_mask=pad)
        return self.out(self.norm(x[:, p:]))

    def loss(self, vectors, ids, pad_id=0):
        # lvmkit's `batch`: inputs are each row without its last token, targets the real next
        # tokens, with their flat row indices.
        l = max(len(s) for s in ids) - 1
        inputs, mask, targets, rows = [], [], [], []
        for r, seq in enumerate(ids):
            for i in range(l):
                inputs.append(seq[i] if i < len(seq) else pad_id)
                mask.append(i < len(seq))
                if i + 1 < len(seq):
                    targets.append(seq[i + 1])
                    rows.append(r * l + i)
        b = len(ids)
        inputs = torch.tensor(inputs, dtype=torch.long).reshape(b, l)
        mask = torch.tensor(mask, dtype=torch.bool).reshape(b, l)
        logits = self.forward(vectors, inputs, mask)
        picked = logits.reshape(b * l, -1).index_select(0, torch.tensor(rows, dtype=torch.long))
        return F.cross_entropy(picked, torch.tensor(targets, dtype=torch.long))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ["width", "layers", "vocab", "batch", "len"]:
        ap.add_argument(name, type=int)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch.set_num_threads (default: the CPUs this process may use)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--adamw", action="store_true",
                    help="also time an AdamW step (lr 1e-3, wd 0.01); the example does not")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = VectorDecoder(a.vocab, a.width, a.layers)
    model.train()  # dropout is 0: train and eval compute the same; train mode as for training
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01) if a.adamw else None
    v = torch.randn(a.batch, DIM)
    ids = [[(r * 31 + i * 7) % (a.vocab - 3) + 3 for i in range(a.len)] for r in range(a.batch)]

    times = []
    for step in range(a.warmup + a.steps):
        model.zero_grad(set_to_none=True)
        t = time.perf_counter()
        loss = model.loss(v, ids)
        loss.backward()
        if opt is not None:
            opt.step()
        dt = time.perf_counter() - t
        if step >= a.warmup:
            times.append(dt)
    times.sort()
    s = times[(len(times) - 1) // 2]
    print(
        f"width {a.width} layers {a.layers} vocab {a.vocab} batch {a.batch} len {a.len}: "
        f"{params} params, {s:.3f} s/step, {a.batch / s:.0f} sentences/s, "
        f"{a.batch * a.len / s:.0f} tokens/s"
    )
    print(
        f"  torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{'forward+backward+AdamW' if opt else 'forward+backward'}, loss {loss.item():.3f}; "
        f"timed steps (s, sorted): {' '.join(f'{x:.3f}' for x in times)}"
    )


if __name__ == "__main__":
    main()
