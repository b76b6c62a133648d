//! The seeds' recurrent models: a 2-layer LSTM and a post-norm GRU stack.
//!
//! Parameters follow PyTorch's `nn.LSTM`/`nn.GRU` layout (two bias vectors per layer), so the
//! counts equal the seeds'. Input projections for all C steps are one matrix product; only the
//! hidden-to-hidden product runs step by step. Left padding is handled by holding the state at
//! zero until the first real concept, so a short context computes exactly what an unpadded
//! sequence would.

use crate::cells::{gru_cell, lstm_cell};
use crate::config::{GruConfig, LstmConfig};
use crate::nn::{dropout, Init, LayerNorm, Linear, Mode, ParamStore};
use crate::ops::{affine_rows, linear};
use anyhow::{Context, Result};
use candle_core::Tensor;

/// One recurrent layer's weights: W_ih [G·H, in], W_hh [G·H, H], b_ih, b_hh, G gates.
struct RecurrentWeights {
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
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
        })
    }

    /// x [B, L, in] → input projections of every step at once [B, L, G·H], plus `bias`.
    fn project_inputs(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (b, l, i) = x.dims3()?;
        let flat = linear(&x.reshape((b * l, i))?, &self.w_ih)?;
        Ok(affine_rows(&flat, None, Some(bias))?.reshape((b, l, ()))?)
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
        let l = x.dim(1)?;
        let masks = step_masks(mask)?;
        let mut input = x.clone();
        let mut last = None;
        for (li, w) in self.layers.iter().enumerate() {
            if li > 0 {
                // nn.LSTM's inter-layer dropout: on every layer's output except the last.
                input = dropout(&input, self.dropout, mode)?;
            }
            // b_ih and b_hh only ever appear summed: add them once, to every step's projection.
            let xp = w.project_inputs(&input, &(&w.b_ih + &w.b_hh)?)?;
            let mut state: Option<(Tensor, Tensor)> = None;
            let mut outputs = Vec::with_capacity(l);
            for t in 0..l {
                let xt = xp.narrow(1, t, 1)?.squeeze(1)?;
                // The state starts at zero, so the first step has no hidden product to make.
                let hh = state
                    .as_ref()
                    .map(|(h, _)| linear(h, &w.w_hh))
                    .transpose()?;
                let (h_new, c_new) = lstm_cell(&xt, hh.as_ref(), state.as_ref().map(|s| &s.1))?;
                let (h, c) = match (&masks, &state) {
                    (Some(m), Some((h, c))) => (
                        masked_update(&h_new, h, &m[t])?,
                        masked_update(&c_new, c, &m[t])?,
                    ),
                    (Some(m), None) => (h_new.broadcast_mul(&m[t])?, c_new.broadcast_mul(&m[t])?),
                    (None, _) => (h_new, c_new),
                };
                outputs.push(h.clone());
                state = Some((h, c));
            }
            let (h, _) = state.context("an empty context")?;
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
            let xp = w.project_inputs(&x, &w.b_ih)?;
            let mut h: Option<Tensor> = None;
            let mut outputs = Vec::with_capacity(l);
            for t in 0..l {
                let xt = xp.narrow(1, t, 1)?.squeeze(1)?;
                // The state starts at zero: the first step's hidden projection is b_hh alone.
                let hh = match &h {
                    Some(h) => affine_rows(&linear(h, &w.w_hh)?, None, Some(&w.b_hh))?,
                    None => w.b_hh.unsqueeze(0)?.broadcast_as((b, w.b_hh.dim(0)?))?,
                };
                let h_new = gru_cell(&xt, &hh, h.as_ref())?;
                let next = match (&masks, &h) {
                    (Some(m), Some(h)) => masked_update(&h_new, h, &m[t])?,
                    (Some(m), None) => h_new.broadcast_mul(&m[t])?,
                    (None, _) => h_new,
                };
                outputs.push(next.clone());
                h = Some(next);
            }
            let y = Tensor::stack(&outputs, 1)?;
            x = norm.forward(&(x + y)?)?;
        }
        self.head.forward(&x.narrow(1, l - 1, 1)?.squeeze(1)?)
    }
}
