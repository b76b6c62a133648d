//! The seeds' recurrent models: a 2-layer LSTM and a post-norm GRU stack.
//!
//! Parameters follow PyTorch's `nn.LSTM`/`nn.GRU` layout (two bias vectors per layer), so the
//! counts equal the seeds'. Input projections for all C steps are one matrix product; only the
//! hidden-to-hidden product runs step by step. Left padding is handled by holding the state at
//! zero until the first real concept, so a short context computes exactly what an unpadded
//! sequence would.

use crate::config::{GruConfig, LstmConfig};
use crate::nn::{dropout, sigmoid, Init, LayerNorm, Linear, Mode, ParamStore};
use crate::ops::linear;
use anyhow::Result;
use candle_core::{Tensor, D};

/// One recurrent layer's weights: W_ih [G·H, in], W_hh [G·H, H], b_ih, b_hh, G gates.
struct RecurrentWeights {
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    hidden: usize,
}

impl RecurrentWeights {
    fn new(
        ps: &mut ParamStore,
        name: &str,
        input: usize,
        hidden: usize,
        gates: usize,
    ) -> Result<Self> {
        let b = Init::Uniform(1.0 / (hidden as f32).sqrt());
        let w_ih = ps.tensor(&format!("{name}.weight_ih"), &[gates * hidden, input], b)?;
        let w_hh = ps.tensor(&format!("{name}.weight_hh"), &[gates * hidden, hidden], b)?;
        let b_ih = ps.tensor(&format!("{name}.bias_ih"), &[gates * hidden], b)?;
        let b_hh = ps.tensor(&format!("{name}.bias_hh"), &[gates * hidden], b)?;
        Ok(Self {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            hidden,
        })
    }

    /// x [B, L, in] → input projections of every step at once [B, L, G·H].
    fn project_inputs(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, i) = x.dims3()?;
        let flat = linear(&x.reshape((b * l, i))?, &self.w_ih)?;
        Ok(flat.broadcast_add(&self.b_ih)?.reshape((b, l, ()))?)
    }

    fn project_hidden(&self, h: &Tensor) -> Result<Tensor> {
        Ok(linear(h, &self.w_hh)?.broadcast_add(&self.b_hh)?)
    }
}

/// Hold the state where the step is padding: new·m + old·(1 − m), m [B, 1].
fn masked_update(new: &Tensor, old: &Tensor, m: &Tensor) -> Result<Tensor> {
    Ok((new.broadcast_mul(m)? + old.broadcast_mul(&(m.neg()? + 1.0)?)?)?)
}

/// Per-step masks [B, 1], or None when every context is full length.
fn step_masks(mask: &Tensor) -> Result<Option<Vec<Tensor>>> {
    if mask.min_all()?.to_scalar::<f32>()? >= 1.0 {
        return Ok(None);
    }
    let l = mask.dim(1)?;
    Ok(Some(
        (0..l)
            .map(|t| mask.narrow(1, t, 1))
            .collect::<candle_core::Result<_>>()?,
    ))
}

pub struct Lstm {
    layers: Vec<RecurrentWeights>,
    head: Linear,
    dropout: f32,
}

impl Lstm {
    pub fn new(ps: &mut ParamStore, cfg: &LstmConfig, dim: usize) -> Result<Self> {
        let mut layers = Vec::new();
        for i in 0..cfg.layers {
            let input = if i == 0 { dim } else { cfg.hidden };
            layers.push(RecurrentWeights::new(
                ps,
                &format!("lstm.{i}"),
                input,
                cfg.hidden,
                4,
            )?);
        }
        Ok(Self {
            layers,
            head: ps.linear("head", cfg.hidden, dim)?,
            dropout: cfg.dropout,
        })
    }

    pub fn forward(&self, x: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let masks = step_masks(mask)?;
        let mut input = x.clone();
        let mut last = None;
        for (li, w) in self.layers.iter().enumerate() {
            if li > 0 {
                // nn.LSTM's inter-layer dropout: on every layer's output except the last.
                input = dropout(&input, self.dropout, mode)?;
            }
            let hsz = w.hidden;
            let xp = w.project_inputs(&input)?;
            let mut h = Tensor::zeros((b, hsz), x.dtype(), x.device())?;
            let mut c = h.clone();
            let mut outputs = Vec::with_capacity(l);
            for t in 0..l {
                let gates = (xp.narrow(1, t, 1)?.squeeze(1)? + w.project_hidden(&h)?)?;
                // Gate order i, f, g, o as PyTorch: one sigmoid over all, tanh for g.
                let s = sigmoid(&gates)?;
                let i = s.narrow(D::Minus1, 0, hsz)?;
                let f = s.narrow(D::Minus1, hsz, hsz)?;
                let o = s.narrow(D::Minus1, 3 * hsz, hsz)?;
                let g = gates.narrow(D::Minus1, 2 * hsz, hsz)?.tanh()?;
                let c_new = ((f * &c)? + (i * g)?)?;
                let h_new = (o * c_new.tanh()?)?;
                match &masks {
                    Some(m) => {
                        c = masked_update(&c_new, &c, &m[t])?;
                        h = masked_update(&h_new, &h, &m[t])?;
                    }
                    None => {
                        c = c_new;
                        h = h_new;
                    }
                }
                outputs.push(h.clone());
            }
            last = Some(h);
            input = Tensor::stack(&outputs, 1)?;
        }
        self.head.forward(&last.expect("at least one layer"))
    }
}

pub struct GruStack {
    input: Linear,
    blocks: Vec<(RecurrentWeights, LayerNorm)>,
    head: Linear,
}

impl GruStack {
    pub fn new(ps: &mut ParamStore, cfg: &GruConfig, dim: usize) -> Result<Self> {
        let input = ps.linear("input", dim, cfg.hidden)?;
        let mut blocks = Vec::new();
        for i in 0..cfg.blocks {
            let gru =
                RecurrentWeights::new(ps, &format!("blocks.{i}.gru"), cfg.hidden, cfg.hidden, 3)?;
            let norm = ps.layer_norm(&format!("blocks.{i}.norm"), cfg.hidden)?;
            blocks.push((gru, norm));
        }
        Ok(Self {
            input,
            blocks,
            head: ps.linear("head", cfg.hidden, dim)?,
        })
    }

    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let masks = step_masks(mask)?;
        let mut x = self.input.forward(x)?;
        for (w, norm) in &self.blocks {
            let hsz = w.hidden;
            let xp = w.project_inputs(&x)?;
            let mut h = Tensor::zeros((b, hsz), x.dtype(), x.device())?;
            let mut outputs = Vec::with_capacity(l);
            for t in 0..l {
                let xi = xp.narrow(1, t, 1)?.squeeze(1)?;
                let hh = w.project_hidden(&h)?;
                // Gate order r, z, n as PyTorch: n = tanh(x_n + r·(W_hn h + b_hn)).
                let rz = sigmoid(
                    &(xi.narrow(D::Minus1, 0, 2 * hsz)? + hh.narrow(D::Minus1, 0, 2 * hsz)?)?,
                )?;
                let r = rz.narrow(D::Minus1, 0, hsz)?;
                let z = rz.narrow(D::Minus1, hsz, hsz)?;
                let n = (xi.narrow(D::Minus1, 2 * hsz, hsz)?
                    + (r * hh.narrow(D::Minus1, 2 * hsz, hsz)?)?)?
                .tanh()?;
                // h' = (1 − z)·n + z·h = n + z·(h − n)
                let h_new = (&n + (z * (&h - &n)?)?)?;
                h = match &masks {
                    Some(m) => masked_update(&h_new, &h, &m[t])?,
                    None => h_new,
                };
                outputs.push(h.clone());
            }
            let y = Tensor::stack(&outputs, 1)?;
            x = norm.forward(&(x + y)?)?;
        }
        self.head.forward(&x.narrow(1, l - 1, 1)?.squeeze(1)?)
    }
}
