//! Checkpoints: safetensors files (written by `lvmkit_io::safetensors`, the one writer) whose
//! metadata carries the model config and a sha256 of the tensor data, so a damaged or truncated
//! file, or one from another config, is refused loudly.

use crate::config::ModelConfig;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "lvmkit-checkpoint-1";
/// Tensors under this prefix are not model weights (e.g. optimiser state).
pub const EXTRA_PREFIX: &str = "__";

pub struct Checkpoint {
    pub path: PathBuf,
    pub metadata: BTreeMap<String, String>,
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Write `model`'s weights plus `extra` tensors (names must start with [`EXTRA_PREFIX`])
    /// and `extra_meta`, atomically.
    pub fn write(
        path: &Path,
        model: &crate::Model,
        extra: &[(String, Tensor)],
        extra_meta: &BTreeMap<String, String>,
    ) -> Result<()> {
        Self::write_vars(
            path,
            model.vars(),
            &serde_json::to_string(model.config())?,
            extra,
            extra_meta,
        )
    }

    /// [`write`](Self::write) for any set of weights `vars` (the inversion decoder's as much as
    /// a [`crate::Model`]'s) and the JSON of the config that makes them.
    pub fn write_vars(
        path: &Path,
        vars: &[(String, candle_core::Var)],
        config_json: &str,
        extra: &[(String, Tensor)],
        extra_meta: &BTreeMap<String, String>,
    ) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        for (n, t) in extra {
            if !n.starts_with(EXTRA_PREFIX) {
                bail!("extra checkpoint tensor '{n}' must start with {EXTRA_PREFIX}");
            }
            named.push((n.clone(), t.clone()));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let mut meta = extra_meta.clone();
        meta.insert("format".into(), FORMAT.into());
        meta.insert("config".into(), config_json.to_string());
        meta.insert(
            "params".into(),
            vars.iter()
                .map(|(_, v)| v.elem_count())
                .sum::<usize>()
                .to_string(),
        );
        meta.insert("tensors_sha256".into(), digest(&named)?);
        lvmkit_io::safetensors::write(path, named.iter().map(|(n, t)| (n.as_str(), t)), &meta)
            .context("writing the checkpoint")
    }

    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        let damaged = |what: String| {
            anyhow::anyhow!(
                "checkpoint {} is damaged or truncated ({what}); retrain, or use another checkpoint",
                path.display()
            )
        };
        let metadata: BTreeMap<String, String> = lvmkit_io::safetensors::metadata(&bytes)
            .map_err(|e| damaged(format!("header: {e:#}")))?
            .unwrap_or_default();
        if metadata.get("format").map(String::as_str) != Some(FORMAT) {
            bail!(
                "{} is not an lvmkit checkpoint (no '{FORMAT}' format tag in its metadata)",
                path.display()
            );
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| damaged(format!("tensors: {e}")))?;
        let mut named: Vec<(String, Tensor)> = tensors
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        if metadata.get("tensors_sha256") != Some(&digest(&named)?) {
            return Err(damaged("tensor data does not match its sha256".into()));
        }
        Ok(Self {
            path: path.to_path_buf(),
            metadata,
            tensors,
        })
    }

    /// Copies this checkpoint's weights into `vars` (those of `what`, for messages), refusing
    /// any name or shape mismatch; tensors under [`EXTRA_PREFIX`] are not weights.
    pub fn assign_to(&self, vars: &[(String, candle_core::Var)], what: &str) -> Result<()> {
        let mut problems = Vec::new();
        for (name, var) in vars {
            match self.tensors.get(name) {
                None => problems.push(format!("{name}: missing from the checkpoint")),
                Some(t) if t.dims() != var.dims() => problems.push(format!(
                    "{name}: checkpoint has shape {:?}, model has {:?}",
                    t.dims(),
                    var.dims()
                )),
                Some(_) => {}
            }
        }
        for name in self.tensors.keys() {
            if !name.starts_with(EXTRA_PREFIX) && !vars.iter().any(|(n, _)| n == name) {
                problems.push(format!("{name}: in the checkpoint but not in the model"));
            }
        }
        if !problems.is_empty() {
            bail!(
                "checkpoint {} does not fit this {what}:\n  {}",
                self.path.display(),
                problems.join("\n  ")
            );
        }
        for (name, var) in vars {
            var.set(&self.tensors[name].to_dtype(var.dtype())?)
                .with_context(|| format!("setting {name}"))?;
        }
        Ok(())
    }

    /// The stored config, as JSON text (each kind of weights reads its own config type).
    pub fn config_json(&self) -> Result<&str> {
        self.metadata
            .get("config")
            .map(String::as_str)
            .with_context(|| format!("checkpoint {} has no config", self.path.display()))
    }

    pub fn model_config(&self) -> Result<ModelConfig> {
        let text = self
            .metadata
            .get("config")
            .with_context(|| format!("checkpoint {} has no model config", self.path.display()))?;
        serde_json::from_str(text).with_context(|| {
            format!(
                "checkpoint {}: model config is not readable by this lvmkit",
                self.path.display()
            )
        })
    }
}

fn digest(named: &[(String, Tensor)]) -> Result<String> {
    let mut h = Sha256::new();
    for (n, t) in named {
        h.update(n.as_bytes());
        h.update(format!("{:?}{:?}", t.dtype(), t.dims()).as_bytes());
        let v = t
            .flatten_all()?
            .to_dtype(candle_core::DType::F32)?
            .to_vec1::<f32>()?;
        h.update(bytemuck::cast_slice::<f32, u8>(&v));
    }
    Ok(hex::encode(h.finalize()))
}
