//! The seeds' attention-mixture network (AMN): start from the context mean, attend over the
//! context with a query made from that mean, and learn a residual correction.
//!
//! b = mean(x); aᵢ = softmax(q(b)·k(xᵢ)/√a); w = Σ aᵢ xᵢ;
//! r = Linear(2D→h1) GELU LN → Linear(h1→h2) GELU LN → Linear(h2→D) on [b, w];
//! output normalise(b + r). At D = 768: 1,510,912 parameters.
//!
//! The served AMN of the seeds computed a different function from the trained one; here the
//! one definition below is the only one.

use crate::attention::key_padding_bias;
use crate::config::AmnConfig;
use crate::nn::{gelu, LayerNorm, Linear, ParamStore};
use crate::ops::softmax_last;
use anyhow::Result;
use candle_core::Tensor;

pub struct Amn {
    query: Linear,
    key: Linear,
    scale: f64,
    r1: Linear,
    n1: LayerNorm,
    r2: Linear,
    n2: LayerNorm,
    r3: Linear,
}

impl Amn {
    pub fn new(ps: &mut ParamStore, cfg: &AmnConfig, dim: usize) -> Result<Self> {
        Ok(Self {
            query: ps.linear("query", dim, cfg.attention)?,
            key: ps.linear("key", dim, cfg.attention)?,
            scale: 1.0 / (cfg.attention as f64).sqrt(),
            r1: ps.linear("residual.0", 2 * dim, cfg.hidden)?,
            n1: ps.layer_norm("residual.norm0", cfg.hidden)?,
            r2: ps.linear("residual.1", cfg.hidden, cfg.hidden2)?,
            n2: ps.layer_norm("residual.norm1", cfg.hidden2)?,
            r3: ps.linear("residual.2", cfg.hidden2, dim)?,
        })
    }

    /// `x` [B, C, D] with zeros at padding; `mask` [B, C]. Returns b + residual (unnormalised).
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, c, _) = x.dims3()?;
        let count = mask.sum_keepdim(1)?.clamp(1.0, f64::INFINITY)?; // [B, 1]
                                                                     // Σ over the context as a [1, C] @ [C, D] product per window: candle's reduction over a
                                                                     // middle dimension walks element by element (14% of a step at batch 256 in `perf`).
                                                                     // Padding rows of x are zero, so weighting by the mask sums the same rows.
        let sum = mask.unsqueeze(1)?.matmul(x)?.squeeze(1)?; // [B, D]
        let mean = sum.broadcast_div(&count)?; // [B, D]
        let q = self.query.forward(&mean)?.unsqueeze(1)?; // [B, 1, A]
        let k = self.key.forward(x)?; // [B, C, A]
        let scores = (q.matmul(&k.t()?.contiguous()?)? * self.scale)?; // [B, 1, C]
        let pad = key_padding_bias(mask)?.reshape((b, 1, c))?;
        let a = softmax_last(&scores.broadcast_add(&pad)?)?;
        let w = a.matmul(x)?.squeeze(1)?; // [B, D]
        let h = Tensor::cat(&[&mean, &w], 1)?;
        let h = self.n1.forward(&gelu(&self.r1.forward(&h)?)?)?;
        let h = self.n2.forward(&gelu(&self.r2.forward(&h)?)?)?;
        Ok((mean + self.r3.forward(&h)?)?)
    }
}
