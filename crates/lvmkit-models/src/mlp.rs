//! The seeds' SimpleMLP: flatten the C×D context → Linear(C·D, hidden) → ReLU → Dropout →
//! Linear(hidden, D). At C=5, D=768, hidden=1024 that is 4,720,384 parameters.

use crate::config::MlpConfig;
use crate::nn::{dropout, Linear, Mode, ParamStore};
use anyhow::Result;
use candle_core::Tensor;

pub struct Mlp {
    hidden: Linear,
    out: Linear,
    dropout: f32,
}

impl Mlp {
    pub fn new(ps: &mut ParamStore, cfg: &MlpConfig, dim: usize, context: usize) -> Result<Self> {
        Ok(Self {
            hidden: ps.linear("hidden", context * dim, cfg.hidden)?,
            out: ps.linear("out", cfg.hidden, dim)?,
            dropout: cfg.dropout,
        })
    }

    /// `x`: [B, C, D] with padded positions already zero. Returns the raw [B, D] output.
    pub fn forward(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let h = self.hidden.forward(&x.flatten_from(1)?)?.relu()?;
        let h = dropout(&h, self.dropout, mode)?;
        self.out.forward(&h)
    }
}
