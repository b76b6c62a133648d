//! Attention models: the seeds' causal Transformer and GraphMERT-LVM.
//!
//! `transformer` is an encoder-only stack (causal self-attention). The seeds' version was an
//! `nn.TransformerDecoder` called with `memory = x` and the causal mask on the cross-attention
//! too, so its cross-attention recomputed self-attention over the same inputs with a second set
//! of weights (17,867,520 parameters); the encoder computes the same kind of function without
//! that duplicate block, at 13,660,928 parameters (D=768).
//!
//! `graphmert-lvm` adds a distance decay to every head's scores, `ln λ · GELU(√(d+1) − p_h)`,
//! with `d = |i − j|`. The seeds compared the distance to the threshold with a boolean, so the
//! "learnable" threshold never received a gradient; here p_h enters through GELU, which is
//! smooth, so it trains (a test checks that it moves).

use crate::attention::{
    causal_bias, key_padding_bias, sinusoidal_positions, Activation, EncoderLayer, LayerSizes,
};
use crate::config::{GraphmertLvmConfig, TransformerConfig};
use crate::nn::{dropout, gelu, Init, LayerNorm, Linear, Mode, ParamStore};
use crate::ops::affine_rows;
use anyhow::Result;
use candle_core::Tensor;

pub struct Transformer {
    input: Linear,
    input_scale: f64,
    positions: Tensor,
    layers: Vec<EncoderLayer>,
    head_in: Linear,
    head_norm: LayerNorm,
    head_out: Linear,
}

impl Transformer {
    pub fn new(
        ps: &mut ParamStore,
        cfg: &TransformerConfig,
        dim: usize,
        context: usize,
    ) -> Result<Self> {
        let input = ps.linear("input", dim, cfg.d_model)?;
        let sizes = LayerSizes {
            d: cfg.d_model,
            heads: cfg.heads,
            ff: cfg.ff,
            dropout: cfg.dropout,
            activation: Activation::Relu,
            init_std: None,
        };
        let layers = (0..cfg.layers)
            .map(|i| EncoderLayer::new(ps, &format!("layers.{i}"), &sizes))
            .collect::<Result<_>>()?;
        Ok(Self {
            input,
            input_scale: (cfg.d_model as f64).sqrt(),
            positions: sinusoidal_positions(context, cfg.d_model, ps.device())?,
            layers,
            head_in: ps.linear("head.0", cfg.d_model, cfg.d_model)?,
            head_norm: ps.layer_norm("head.norm", cfg.d_model)?,
            head_out: ps.linear("head.1", cfg.d_model, dim)?,
        })
    }

    pub fn forward(&self, x: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let l = x.dim(1)?;
        let bias = causal_bias(l, x.device())?.broadcast_add(&key_padding_bias(mask)?)?;
        // Scaled by √d_model as in Vaswani et al.: unit-norm concept vectors come out of the input
        // projection with entries around 0.03 while the position table's are ±1, so without
        // it every window looked alike after the first LayerNorm and the model collapsed to
        // predicting the mean (measured: val cosine 0.22 = global_mean's, flat for 2 epochs).
        let mut h = (self.input.forward(x)? * self.input_scale)?.broadcast_add(&self.positions)?;
        for layer in &self.layers {
            h = layer.forward(&h, &bias, mode)?;
        }
        // Contexts are left-padded, so the last position is always a real concept.
        let last = h.narrow(1, l - 1, 1)?.squeeze(1)?;
        let y = gelu(&self.head_in.forward(&last)?)?;
        self.head_out.forward(&self.head_norm.forward(&y)?)
    }
}

pub struct GraphmertLvm {
    input: Option<Linear>,
    positions: Tensor,
    layers: Vec<EncoderLayer>,
    /// Per layer, the per-head decay offsets p_h [H].
    decay_offsets: Vec<Tensor>,
    ln_lambda: f64,
    head_in: Linear,
    head_out: Linear,
    dropout: f32,
    heads: usize,
}

/// BERT-style initialisation, as the seeds' GraphMERT-LVM (`N(0, 0.02)`, zero biases).
const INIT_STD: f32 = 0.02;

impl GraphmertLvm {
    pub fn new(
        ps: &mut ParamStore,
        cfg: &GraphmertLvmConfig,
        dim: usize,
        context: usize,
    ) -> Result<Self> {
        let d = cfg.d_model;
        // Inputs already have width d at the seeds' D = 768; other dimensions get a projection.
        let input = if dim != d {
            Some(ps.linear_normal("input", dim, d, INIT_STD)?)
        } else {
            None
        };
        let positions = ps.tensor("positions", &[context, d], Init::Normal(INIT_STD))?;
        let sizes = LayerSizes {
            d,
            heads: cfg.heads,
            ff: cfg.ff,
            dropout: cfg.dropout,
            activation: Activation::Gelu,
            init_std: Some(INIT_STD),
        };
        let mut layers = Vec::new();
        let mut decay_offsets = Vec::new();
        for i in 0..cfg.layers {
            layers.push(EncoderLayer::new(ps, &format!("layers.{i}"), &sizes)?);
            let p0 = vec![cfg.decay_offset_init; cfg.heads];
            decay_offsets.push(ps.tensor_from(
                &format!("layers.{i}.decay_offset"),
                &[cfg.heads],
                p0,
            )?);
        }
        Ok(Self {
            input,
            positions,
            layers,
            decay_offsets,
            ln_lambda: (cfg.decay_lambda as f64).ln(),
            head_in: ps.linear_normal("head.0", d, d, INIT_STD)?,
            head_out: ps.linear_normal("head.1", d, dim, INIT_STD)?,
            dropout: cfg.dropout,
            heads: cfg.heads,
        })
    }

    /// ln λ · GELU(√(|i − j| + 1) − p_h) as a [1, H, L, L] additive bias.
    fn decay_bias(&self, offsets: &Tensor, l: usize) -> Result<Tensor> {
        let dist: Vec<f32> = (0..l * l)
            .map(|k| (((k / l) as f32 - (k % l) as f32).abs() + 1.0).sqrt())
            .collect();
        let dist = Tensor::from_vec(dist, (1, 1, l, l), offsets.device())?;
        let p = offsets.reshape((1, self.heads, 1, 1))?;
        Ok((gelu(&dist.broadcast_sub(&p)?)? * self.ln_lambda)?)
    }

    pub fn forward(&self, x: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let l = x.dim(1)?;
        let pad = key_padding_bias(mask)?;
        let mut h = match &self.input {
            Some(p) => p.forward(x)?,
            None => x.clone(),
        };
        // The learnt position table, added as one row of L·d per window: its gradient then sums
        // contiguous rows instead of candle's strided reduction over the batch.
        let (b, _, d) = h.dims3()?;
        h = affine_rows(
            &h.reshape((b, l * d))?,
            None,
            Some(&self.positions.flatten_all()?),
        )?
        .reshape((b, l, d))?;
        for (layer, offsets) in self.layers.iter().zip(&self.decay_offsets) {
            let bias = self.decay_bias(offsets, l)?.broadcast_add(&pad)?;
            h = layer.forward(&h, &bias, mode)?;
        }
        // Mean over the real positions only: a [1, L] @ [L, d] product per window (candle's sum
        // over a middle dimension walks element by element).
        let sum = mask.unsqueeze(1)?.matmul(&h)?.squeeze(1)?;
        let pooled = sum.broadcast_div(&mask.sum_keepdim(1)?.clamp(1.0, f64::INFINITY)?)?;
        let y = dropout(&gelu(&self.head_in.forward(&pooled)?)?, self.dropout, mode)?;
        self.head_out.forward(&y)
    }

    /// The learnt decay offsets, layer by layer (for inspection and the gradient test).
    pub fn decay_offsets(&self) -> Result<Vec<Vec<f32>>> {
        self.decay_offsets
            .iter()
            .map(|t| Ok(t.to_vec1::<f32>()?))
            .collect()
    }
}
