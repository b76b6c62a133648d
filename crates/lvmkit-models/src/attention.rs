//! Multi-head self-attention and the post-norm encoder layer shared by `transformer` and
//! `graphmert-lvm`. Parameter layout follows PyTorch's `nn.MultiheadAttention` (one packed
//! in-projection, one out-projection), so sizes compare one to one.

use crate::nn::{dropout, gelu, LayerNorm, Linear, Mode, ParamStore};
use crate::ops::softmax_last;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};

/// Additive score bias that blocks attention: large but finite, so a query whose keys are all
/// blocked (a padding position) gets a uniform row instead of NaN.
pub const BLOCKED: f32 = -1e9;

pub struct SelfAttention {
    in_proj: Linear,
    out_proj: Linear,
    heads: usize,
    dropout: f32,
}

impl SelfAttention {
    /// `init_std`: `Some(σ)` for N(0, σ²) weights and zero biases, `None` for PyTorch's default.
    pub fn new(
        ps: &mut ParamStore,
        name: &str,
        d: usize,
        heads: usize,
        p: f32,
        init_std: Option<f32>,
    ) -> Result<Self> {
        if heads == 0 || !d.is_multiple_of(heads) {
            bail!("{name}: width {d} is not divisible by {heads} heads");
        }
        Ok(Self {
            in_proj: ps.linear_init(&format!("{name}.in_proj"), d, 3 * d, init_std)?,
            out_proj: ps.linear_init(&format!("{name}.out_proj"), d, d, init_std)?,
            heads,
            dropout: p,
        })
    }

    /// `x`: [B, L, d]; `bias`: additive scores broadcastable to [B, H, L, L].
    pub fn forward(&self, x: &Tensor, bias: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let (h, dh) = (self.heads, d / self.heads);
        let qkv = self
            .in_proj
            .forward(x)?
            .reshape((b, l, 3, h, dh))?
            .permute((2, 0, 3, 1, 4))?; // [3, B, H, L, dh]
        let q = (qkv.get(0)?.contiguous()? * (1.0 / (dh as f64).sqrt()))?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(bias)?;
        let weights = dropout(&softmax_last(&scores)?, self.dropout, mode)?;
        let ctx = weights.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
        self.out_proj.forward(&ctx)
    }

    /// Causal self-attention of `x` [B, n, d], the next n positions, over the keys and values
    /// of the earlier positions in `cache` and their own (appended to `cache`), in evaluation
    /// mode: what [`forward`](Self::forward) with a causal bias gives for those positions,
    /// without recomputing the earlier ones.
    pub fn forward_cached(&self, x: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let (h, dh) = (self.heads, d / self.heads);
        let qkv = self
            .in_proj
            .forward(x)?
            .reshape((b, n, 3, h, dh))?
            .permute((2, 0, 3, 1, 4))?; // [3, B, H, n, dh]
        let q = (qkv.get(0)?.contiguous()? * (1.0 / (dh as f64).sqrt()))?;
        let (k, v) = cache.append(qkv.get(1)?.contiguous()?, qkv.get(2)?.contiguous()?)?;
        let t = k.dim(2)?;
        let mut scores = q.matmul(&k.t()?)?;
        if n > 1 {
            // New position i (of n) sees the t − n earlier ones and new ones up to itself.
            let v: Vec<f32> = (0..n * t)
                .map(|j| if j % t > t - n + j / t { BLOCKED } else { 0.0 })
                .collect();
            scores = scores.broadcast_add(&Tensor::from_vec(v, (1, 1, n, t), x.device())?)?;
        }
        let weights = softmax_last(&scores)?;
        let ctx = weights.matmul(&v)?.transpose(1, 2)?.reshape((b, n, d))?;
        self.out_proj.forward(&ctx)
    }
}

/// Keys and values [B, H, T, dh] of the positions one attention layer has seen, for decoding
/// one token at a time.
#[derive(Clone, Default)]
pub struct KvCache {
    kv: Option<(Tensor, Tensor)>,
}

impl KvCache {
    fn append(&mut self, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        let kv = match self.kv.take() {
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
        };
        self.kv = Some(kv.clone());
        Ok(kv)
    }

    /// Keeps rows `rows` of the batch, in that order (a beam search's survivors).
    pub fn select(&mut self, rows: &Tensor) -> Result<()> {
        if let Some((k, v)) = self.kv.take() {
            self.kv = Some((k.index_select(rows, 0)?, v.index_select(rows, 0)?));
        }
        Ok(())
    }
}

/// Which non-linearity the feed-forward block uses.
#[derive(Clone, Copy)]
pub enum Activation {
    Relu,
    Gelu,
}

/// Post-norm encoder layer: x = LN(x + drop(attn(x))); x = LN(x + drop(ff(x))).
pub struct EncoderLayer {
    attn: SelfAttention,
    ff_in: Linear,
    ff_out: Linear,
    norm1: LayerNorm,
    norm2: LayerNorm,
    activation: Activation,
    dropout: f32,
}

pub struct LayerSizes {
    pub d: usize,
    pub heads: usize,
    pub ff: usize,
    pub dropout: f32,
    pub activation: Activation,
    /// `Some(σ)`: N(0, σ²) weights and zero biases; `None`: PyTorch's default.
    pub init_std: Option<f32>,
}

impl EncoderLayer {
    pub fn new(ps: &mut ParamStore, name: &str, s: &LayerSizes) -> Result<Self> {
        let attn = SelfAttention::new(
            ps,
            &format!("{name}.attn"),
            s.d,
            s.heads,
            s.dropout,
            s.init_std,
        )?;
        let ff_in = ps.linear_init(&format!("{name}.ff_in"), s.d, s.ff, s.init_std)?;
        let ff_out = ps.linear_init(&format!("{name}.ff_out"), s.ff, s.d, s.init_std)?;
        Ok(Self {
            attn,
            ff_in,
            ff_out,
            norm1: ps.layer_norm(&format!("{name}.norm1"), s.d)?,
            norm2: ps.layer_norm(&format!("{name}.norm2"), s.d)?,
            activation: s.activation,
            dropout: s.dropout,
        })
    }

    pub fn forward(&self, x: &Tensor, bias: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let a = dropout(&self.attn.forward(x, bias, mode)?, self.dropout, mode)?;
        self.feed_forward(&self.norm1.forward(&(x + a)?)?, mode)
    }

    /// The second half of the layer: x = LN(x + drop(ff(x))).
    fn feed_forward(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let h = self.ff_in.forward(x)?;
        let h = match self.activation {
            Activation::Relu => h.relu()?,
            Activation::Gelu => gelu(&h)?,
        };
        let h = dropout(&h, self.dropout, mode)?;
        let f = dropout(&self.ff_out.forward(&h)?, self.dropout, mode)?;
        self.norm2.forward(&(x + f)?)
    }
}

impl EncoderLayer {
    /// [`forward`](Self::forward) with a causal bias, in evaluation mode, for the next
    /// positions `x` [B, n, d] only (see [`SelfAttention::forward_cached`]).
    pub fn forward_cached(&self, x: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let a = self.attn.forward_cached(x, cache)?;
        self.feed_forward(&self.norm1.forward(&(x + a)?)?, &mut Mode::Eval)
    }
}

/// [B, 1, 1, L] bias that blocks padding keys (mask 0).
pub fn key_padding_bias(mask: &Tensor) -> Result<Tensor> {
    let (b, l) = mask.dims2()?;
    // (1 − m)·BLOCKED
    Ok(((mask.neg()? + 1.0)? * BLOCKED as f64)?.reshape((b, 1, 1, l))?)
}

/// [1, 1, L, L] bias that blocks attention to later positions.
pub fn causal_bias(l: usize, device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..l * l)
        .map(|k| if k % l > k / l { BLOCKED } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(v, (1, 1, l, l), device)?)
}

/// The classic sinusoidal position table [L, d] (Vaswani et al.), as the seeds' `PositionalEncoding`.
pub fn sinusoidal_positions(l: usize, d: usize, device: &Device) -> Result<Tensor> {
    let mut v = vec![0f32; l * d];
    for pos in 0..l {
        for i in (0..d).step_by(2) {
            let freq = (-(i as f64) * (10000f64).ln() / d as f64).exp();
            let angle = pos as f64 * freq;
            v[pos * d + i] = angle.sin() as f32;
            if i + 1 < d {
                v[pos * d + i + 1] = angle.cos() as f32;
            }
        }
    }
    Ok(Tensor::from_vec(v, (l, d), device)?.to_dtype(DType::F32)?)
}
