//! AdamW with its state exposed, so checkpoints can store it and a resumed run continues
//! bit-for-bit (candle-nn's AdamW keeps its moments private).

use anyhow::{bail, Context, Result};
use candle_core::{backprop::GradStore, Tensor, Var};
use candle_core::{CpuStorage, InplaceOp1, Layout, Storage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    // Moments as plain vectors: the update is one fused pass per parameter instead of a dozen
    // tensor ops that each allocate a parameter-sized buffer (measured: the optimiser and its
    // page faults were a third of an MLP training step).
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl AdamW {
    pub fn new(params: &[(String, Var)], cfg: AdamWConfig) -> Result<Self> {
        Ok(Self {
            cfg,
            step: 0,
            m: params
                .iter()
                .map(|(_, v)| vec![0.0; v.elem_count()])
                .collect(),
            v: params
                .iter()
                .map(|(_, v)| vec![0.0; v.elem_count()])
                .collect(),
            params: params.to_vec(),
        })
    }

    /// One update with learning rate `lr`, after clipping the global gradient norm to
    /// `max_norm` (0 = no clipping). Returns the norm before clipping.
    pub fn step(&mut self, grads: &GradStore, lr: f64, max_norm: f64) -> Result<f64> {
        // Gradients are read in place (no copy) and the update is written into each
        // parameter's own storage, in parallel chunks: measured, copying gradients and
        // parameters out and back made this step 50 ms of a 4.7M-parameter MLP's step.
        let gs: Vec<Option<Tensor>> = self
            .params
            .iter()
            .map(|(_, p)| grads.get(p).map(|g| g.contiguous()).transpose())
            .collect::<candle_core::Result<_>>()?;
        let mut sq = 0f64;
        for g in gs.iter().flatten() {
            // Chunk sums collected in order and added in order: the same norm on every run,
            // whatever the thread scheduling.
            let parts: Vec<f64> = with_slice(g, |v| {
                v.par_chunks(CHUNK)
                    .map(|c| c.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>())
                    .collect()
            })?;
            sq += parts.iter().sum::<f64>();
        }
        let norm = sq.sqrt();
        let scale = if max_norm > 0.0 && norm > max_norm {
            (max_norm / (norm + 1e-6)) as f32
        } else {
            1.0
        };
        self.step += 1;
        let c = &self.cfg;
        let t = self.step as i32;
        let consts = Consts {
            scale,
            b1: c.beta1 as f32,
            b2: c.beta2 as f32,
            bc1: (1.0 - c.beta1.powi(t)) as f32,
            bc2: (1.0 - c.beta2.powi(t)) as f32,
            lr: lr as f32,
            eps: c.eps as f32,
            decay: 1.0,
        };
        for (i, (_, p)) in self.params.iter().enumerate() {
            let Some(g) = &gs[i] else { continue };
            // Decoupled weight decay on matrices only.
            let decay = if p.rank() >= 2 {
                (1.0 - lr * c.weight_decay) as f32
            } else {
                1.0
            };
            let k = Consts { decay, ..consts };
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            with_slice(g, |gv| -> Result<()> {
                if p.device().is_cpu() && p.dtype() == candle_core::DType::F32 {
                    let op = Update {
                        g: gv,
                        m: std::cell::RefCell::new(m),
                        v: std::cell::RefCell::new(v),
                        k,
                    };
                    p.as_tensor().inplace_op1(&op)?;
                } else {
                    let mut w = p.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                    update(&mut w, gv, m, v, &k);
                    p.set(&Tensor::from_vec(w, p.shape(), p.device())?)?;
                }
                Ok(())
            })??;
        }
        Ok(norm)
    }

    /// The moments as named tensors, for a checkpoint.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (kind, data) in [("m", &self.m[i]), ("v", &self.v[i])] {
                out.push((
                    format!("__adamw.{kind}.{name}"),
                    Tensor::from_slice(data, p.shape(), p.device())?,
                ));
            }
        }
        Ok(out)
    }

    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (kind, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("__adamw.{kind}.{name}");
                let t = tensors
                    .get(&key)
                    .with_context(|| format!("checkpoint lacks optimiser state {key}"))?;
                if t.dims() != p.dims() {
                    bail!(
                        "optimiser state {key} has shape {:?}, the parameter {:?}",
                        t.dims(),
                        p.dims()
                    );
                }
                *slot = t.flatten_all()?.to_vec1::<f32>()?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Elements per parallel chunk of the update.
const CHUNK: usize = 1 << 15;

#[derive(Clone, Copy)]
struct Consts {
    scale: f32,
    b1: f32,
    b2: f32,
    bc1: f32,
    bc2: f32,
    lr: f32,
    eps: f32,
    decay: f32,
}

/// The AdamW update of one parameter, in parallel chunks.
fn update(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &Consts) {
    w.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((w, g), (m, v))| {
            for j in 0..w.len() {
                let gj = g[j] * k.scale;
                m[j] = k.b1 * m[j] + (1.0 - k.b1) * gj;
                v[j] = k.b2 * v[j] + (1.0 - k.b2) * gj * gj;
                let step = (m[j] / k.bc1) / ((v[j] / k.bc2).sqrt() + k.eps);
                w[j] = w[j] * k.decay - k.lr * step;
            }
        });
}

/// Run `f` on a contiguous CPU f32 tensor's values without copying them (other tensors are
/// copied out first).
fn with_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    if let (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) =
        (&*storage, layout.contiguous_offsets())
    {
        return Ok(f(&v[a..b]));
    }
    drop(storage);
    let v = t.flatten_all()?.to_vec1::<f32>()?;
    Ok(f(&v))
}

/// The update applied in the parameter's own storage.
struct Update<'a> {
    g: &'a [f32],
    m: std::cell::RefCell<&'a mut Vec<f32>>,
    v: std::cell::RefCell<&'a mut Vec<f32>>,
    k: Consts,
}

impl InplaceOp1 for Update<'_> {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(w) = storage else {
            candle_core::bail!("adamw: parameters must be f32")
        };
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("adamw: parameters must be contiguous")
        };
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        update(&mut w[a..b], self.g, &mut m, &mut v, &self.k);
        Ok(())
    }
}
