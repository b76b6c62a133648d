//! Next-concept models. One definition of each architecture, used by training, evaluation and
//! serving: a model maps a batch of contexts [B, C, D] (left-padded, with a [B, C] mask of
//! 1 = real concept, 0 = padding) to L2-normalised predictions [B, D].
//!
//! A model is its [`ModelConfig`] plus its parameters; checkpoints (safetensors) carry the
//! config in their metadata, and loading one into a different config is refused with the list
//! of what differs.

pub mod amn;
pub mod attention;
pub mod cells;
pub mod checkpoint;
pub mod config;
pub mod decoder;
pub mod mamba;
pub mod mlp;
pub mod nn;
pub mod ops;
pub mod recurrent;
pub mod scan;
pub mod transformer;

pub use checkpoint::Checkpoint;
pub use config::{
    AmnConfig, Architecture, GraphmertLvmConfig, GruConfig, LstmConfig, MambaConfig, MlpConfig,
    ModelConfig, Skip, TransformerConfig, ARCHITECTURES,
};
pub use nn::Mode;

use anyhow::{bail, Result};
use candle_core::{Device, Tensor, Var};

enum Network {
    Mlp(mlp::Mlp),
    Lstm(recurrent::Lstm),
    Gru(recurrent::GruStack),
    Transformer(transformer::Transformer),
    Amn(amn::Amn),
    Mamba(mamba::Mamba),
    GraphmertLvm(transformer::GraphmertLvm),
}

/// Every architecture's parameter count at its reference sizes for D and C
/// (`lvmkit models`), in [`ARCHITECTURES`] order.
pub fn parameter_counts(dim: usize, context: usize) -> Result<Vec<(&'static str, usize)>> {
    ARCHITECTURES
        .iter()
        .map(|name| {
            let cfg = ModelConfig::new(name, dim, context)?;
            Ok((*name, Model::new(&cfg, 0, &Device::Cpu)?.num_params()))
        })
        .collect()
}

/// A model ready to train or predict.
pub struct Model {
    config: ModelConfig,
    params: nn::ParamStore,
    net: Network,
    skip: Option<SkipPath>,
}

/// The base a [`Skip`] adds beside the network, and the gate on the network's output.
struct SkipPath {
    /// `Some` for [`Skip::Ridge`]: weight [D, C·D] and bias [D]; `None`: the context mean.
    linear: Option<(Tensor, Tensor)>,
    /// Scalar gate g on the network's output, shape [1]; starts at 0.
    gate: Tensor,
}

/// Parameter names of the skip path.
pub const SKIP_WEIGHT: &str = "skip.weight";
pub const SKIP_BIAS: &str = "skip.bias";
pub const SKIP_GATE: &str = "skip.gate";

impl Model {
    /// A freshly initialised model; the same config and seed give the same weights.
    pub fn new(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        config.validate()?;
        let mut ps = nn::ParamStore::new(seed, device);
        let (d, c) = (config.dim, config.context);
        let net = match &config.arch {
            Architecture::Mlp(a) => Network::Mlp(mlp::Mlp::new(&mut ps, a, d, c)?),
            Architecture::Lstm(a) => Network::Lstm(recurrent::Lstm::new(&mut ps, a, d)?),
            Architecture::Gru(a) => Network::Gru(recurrent::GruStack::new(&mut ps, a, d)?),
            Architecture::Transformer(a) => {
                Network::Transformer(transformer::Transformer::new(&mut ps, a, d, c)?)
            }
            Architecture::Amn(a) => Network::Amn(amn::Amn::new(&mut ps, a, d)?),
            Architecture::Mamba(a) => Network::Mamba(mamba::Mamba::new(&mut ps, a, d)?),
            Architecture::GraphmertLvm(a) => {
                Network::GraphmertLvm(transformer::GraphmertLvm::new(&mut ps, a, d, c)?)
            }
        };
        // Made after the network, so the network's weights are the same with or without it.
        let skip = match config.skip {
            Skip::None => None,
            Skip::ContextMean => Some(SkipPath {
                linear: None,
                gate: ps.tensor(SKIP_GATE, &[1], nn::Init::Zeros)?,
            }),
            Skip::Ridge => {
                // The context mean as a linear map (I/C per position, no bias) until the trainer
                // sets the ridge solution.
                let mut w = vec![0f32; d * c * d];
                for i in 0..d {
                    for k in 0..c {
                        w[i * c * d + k * d + i] = 1.0 / c as f32;
                    }
                }
                let weight = ps.tensor_from(SKIP_WEIGHT, &[d, c * d], w)?;
                let bias = ps.tensor(SKIP_BIAS, &[d], nn::Init::Zeros)?;
                Some(SkipPath {
                    linear: Some((weight, bias)),
                    gate: ps.tensor(SKIP_GATE, &[1], nn::Init::Zeros)?,
                })
            }
        };
        Ok(Self {
            config: config.clone(),
            params: ps,
            net,
            skip,
        })
    }

    /// Sets the [`Skip::Ridge`] path to `x · weight + bias` (`weight` [C·D, D] row-major, as
    /// the closed-form ridge stores it; `bias` [D]).
    pub fn set_skip_linear(&self, weight: &[f32], bias: &[f32]) -> Result<()> {
        let (c, d) = (self.config.context, self.config.dim);
        let Some(SkipPath {
            linear: Some(_), ..
        }) = &self.skip
        else {
            bail!(
                "this {} model has no linear skip path (skip: {})",
                self.config.arch.name(),
                self.config.skip.name()
            );
        };
        if weight.len() != c * d * d || bias.len() != d {
            bail!(
                "skip path: expected a [{}, {d}] weight and a [{d}] bias, got {} and {} values",
                c * d,
                weight.len(),
                bias.len()
            );
        }
        let w = Tensor::from_slice(weight, (c * d, d), self.device())?
            .t()?
            .contiguous()?;
        let b = Tensor::from_slice(bias, d, self.device())?;
        for (name, value) in [(SKIP_WEIGHT, w), (SKIP_BIAS, b)] {
            let var = self
                .vars()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .expect("the ridge skip path has both");
            var.set(&value)?;
        }
        Ok(())
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn num_params(&self) -> usize {
        self.params.num_params()
    }

    /// Every parameter by name, in a fixed order (what checkpoints hold).
    pub fn vars(&self) -> &[(String, Var)] {
        self.params.vars()
    }

    /// The parameters training updates: all of them except a [`Skip::Ridge`] path's weight
    /// and bias, which stay at the closed-form solution they were set to (Adam's per-weight
    /// steps of size ~lr would otherwise scramble a finely balanced linear map within one
    /// epoch: measured, the val cosine fell below the ridge's at once).
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        self.vars()
            .iter()
            .filter(|(n, _)| n != SKIP_WEIGHT && n != SKIP_BIAS)
            .cloned()
            .collect()
    }

    pub fn device(&self) -> &Device {
        self.params.device()
    }

    /// Predictions [B, D], unit norm. `contexts`: [B, C, D]; `mask`: [B, C] f32 (1 = real).
    pub fn forward(&self, contexts: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let (c, d) = (self.config.context, self.config.dim);
        match contexts.dims() {
            [b, cc, dd] if *cc == c && *dd == d => {
                if mask.dims() != [*b, c] {
                    bail!("mask has shape {:?}, expected [{b}, {c}]", mask.dims());
                }
            }
            dims => bail!("contexts have shape {dims:?}, this model takes [B, {c}, {d}]"),
        }
        // Padding rows contribute nothing, whatever the caller put there.
        let x = contexts.broadcast_mul(&mask.unsqueeze(2)?)?;
        let raw = match &self.net {
            Network::Mlp(m) => m.forward(&x, mode)?,
            Network::Lstm(m) => m.forward(&x, mask, mode)?,
            Network::Gru(m) => m.forward(&x, mask)?,
            Network::Transformer(m) => m.forward(&x, mask, mode)?,
            Network::Amn(m) => m.forward(&x, mask)?,
            Network::Mamba(m) => m.forward(&x, mask, mode)?,
            Network::GraphmertLvm(m) => m.forward(&x, mask, mode)?,
        };
        let raw = match &self.skip {
            None => raw,
            Some(s) => {
                let base = match &s.linear {
                    Some((w, bias)) => {
                        let y = ops::linear(&x.flatten_from(1)?, w)?;
                        ops::affine_rows(&y, None, Some(bias))?
                    }
                    None => {
                        // Σ over the context as a [1, C] @ [C, D] product (see amn.rs).
                        let count = mask.sum_keepdim(1)?.clamp(1.0, f64::INFINITY)?;
                        let sum = mask.unsqueeze(1)?.matmul(&x)?.squeeze(1)?;
                        sum.broadcast_div(&count)?
                    }
                };
                (base + raw.broadcast_mul(&s.gate)?)?
            }
        };
        nn::l2_normalize(&raw)
    }

    /// GraphMERT-LVM's learnt per-head decay offsets p_h, layer by layer (None for others).
    pub fn decay_offsets(&self) -> Result<Option<Vec<Vec<f32>>>> {
        match &self.net {
            Network::GraphmertLvm(m) => Ok(Some(m.decay_offsets()?)),
            _ => Ok(None),
        }
    }

    /// Predict for contexts of 1…C concepts each (row-major [len × D] slices; longer ones keep
    /// their last C), in evaluation mode, in batches. Returns [N × D] row-major.
    pub fn predict(&self, contexts: &[&[f32]]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(contexts.len() * self.config.dim);
        for chunk in contexts.chunks(1024) {
            let (x, mask) =
                pack_contexts(chunk, self.config.dim, self.config.context, self.device())?;
            let y = self.forward(&x, &mask, &mut Mode::Eval)?;
            out.extend(y.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Load a checkpoint. With `expected`, the stored config must equal it, otherwise the
    /// error lists each differing field.
    pub fn load(path: &std::path::Path, expected: Option<&ModelConfig>) -> Result<Self> {
        let ckpt = Checkpoint::read(path)?;
        Self::from_checkpoint(&ckpt, expected)
    }

    pub fn from_checkpoint(ckpt: &Checkpoint, expected: Option<&ModelConfig>) -> Result<Self> {
        let config = ckpt.model_config()?;
        if let Some(exp) = expected {
            let diff =
                config::config_diff(&serde_json::to_value(exp)?, &serde_json::to_value(&config)?);
            if !diff.is_empty() {
                bail!(
                    "checkpoint {} was trained with a different model config:\n  {}",
                    ckpt.path.display(),
                    diff.join("\n  ")
                );
            }
        }
        let model = Self::new(&config, 0, &Device::Cpu)?;
        model.assign(ckpt)?;
        Ok(model)
    }

    /// Copy a checkpoint's weights into this model, refusing any name or shape mismatch.
    pub fn assign(&self, ckpt: &Checkpoint) -> Result<()> {
        ckpt.assign_to(self.vars(), &format!("{} model", self.config.arch.name()))
    }
}

/// Left-pad contexts of 1…C concept rows into a [B, C, D] tensor and its [B, C] mask.
pub fn pack_contexts(
    contexts: &[&[f32]],
    dim: usize,
    context: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let b = contexts.len();
    let mut x = vec![0f32; b * context * dim];
    let mut mask = vec![0f32; b * context];
    for (i, rows) in contexts.iter().enumerate() {
        if rows.is_empty() || rows.len() % dim != 0 {
            bail!(
                "context {i} has {} values, expected a positive multiple of D = {dim}",
                rows.len()
            );
        }
        let n = rows.len() / dim;
        let keep = n.min(context);
        let src = &rows[(n - keep) * dim..];
        let dst = (i * context + context - keep) * dim;
        x[dst..dst + keep * dim].copy_from_slice(src);
        mask[i * context + context - keep..(i + 1) * context].fill(1.0);
    }
    Ok((
        Tensor::from_vec(x, (b, context, dim), device)?,
        Tensor::from_vec(mask, (b, context), device)?,
    ))
}
