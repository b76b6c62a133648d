//! AdamW with its state exposed, so checkpoints can store it and a resumed run continues
//! bit-for-bit (candle-nn's AdamW keeps its moments private).

use anyhow::{Context, Result};
use candle_core::{backprop::GradStore, Tensor, Var};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    pub lr: f64,
    /// Decoupled weight decay, applied to matrices only (not to biases or norm gains, which
    /// decay would pull toward zero for no regularising benefit).
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

pub struct AdamW {
    pub cfg: AdamWConfig,
    /// Completed steps.
    pub step: u64,
    params: Vec<(String, Var)>,
    m: Vec<Var>,
    v: Vec<Var>,
}

impl AdamW {
    pub fn new(params: &[(String, Var)], cfg: AdamWConfig) -> Result<Self> {
        let zeros = |v: &Var| -> Result<Var> { Ok(Var::zeros(v.shape(), v.dtype(), v.device())?) };
        Ok(Self {
            cfg,
            step: 0,
            m: params
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<Result<_>>()?,
            v: params
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<Result<_>>()?,
            params: params.to_vec(),
        })
    }

    /// Global L2 norm of the gradients; scales them down to `max_norm` if above (0 = off).
    pub fn clip(grads: &mut GradStore, params: &[(String, Var)], max_norm: f64) -> Result<f64> {
        let mut sq = 0f64;
        for (_, p) in params {
            if let Some(g) = grads.get(p) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        let norm = sq.sqrt();
        if max_norm > 0.0 && norm > max_norm {
            let scale = max_norm / (norm + 1e-6);
            for (_, p) in params {
                if let Some(g) = grads.remove(p) {
                    grads.insert(p, (g * scale)?);
                }
            }
        }
        Ok(norm)
    }

    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let c = &self.cfg;
        let t = self.step as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        for (i, (_, p)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p) else { continue };
            let m = ((self.m[i].as_tensor() * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            let v = ((self.v[i].as_tensor() * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + c.eps)?)?;
            let decay = if p.rank() >= 2 {
                1.0 - lr * c.weight_decay
            } else {
                1.0
            };
            p.set(&((p.as_tensor() * decay)? - (update * lr)?)?)?;
            self.m[i].set(&m)?;
            self.v[i].set(&v)?;
        }
        Ok(())
    }

    /// The moments as named tensors, for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("__adamw.m.{name}"), self.m[i].as_tensor().clone()));
            out.push((format!("__adamw.v.{name}"), self.v[i].as_tensor().clone()));
        }
        out
    }

    pub fn load_state(
        &mut self,
        tensors: &std::collections::HashMap<String, Tensor>,
        step: u64,
    ) -> Result<()> {
        for (i, (name, _)) in self.params.iter().enumerate() {
            for (kind, slot) in [("m", &self.m[i]), ("v", &self.v[i])] {
                let key = format!("__adamw.{kind}.{name}");
                let t = tensors
                    .get(&key)
                    .with_context(|| format!("checkpoint lacks optimiser state {key}"))?;
                slot.set(t)
                    .with_context(|| format!("optimiser state {key}"))?;
            }
        }
        self.step = step;
        Ok(())
    }
}
