//! A run folder: what a training run leaves behind, and how later stages (evaluation,
//! prediction, serving) open it.
//!
//! ```text
//! RUN/config.json        RunConfig: model config, training config, dataset manifest hash
//! RUN/history.json       per epoch: losses, cosines, lr, seconds, samples/s
//! RUN/best.safetensors   weights of the epoch with the best val cosine (what eval/serve use)
//! RUN/last.safetensors   weights + optimiser state + trainer state of the last finished epoch
//! ```

use crate::TrainConfig;
use anyhow::{bail, Context, Result};
use lvmkit_dataset::Dataset;
use lvmkit_models::{Model, ModelConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const RUN_FORMAT: &str = "lvmkit-run-1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRef {
    /// Where the dataset was when training started (informative; the hash is what counts).
    pub path: String,
    pub manifest_hash: String,
    pub dim: usize,
    pub context: usize,
    pub encoder: String,
    pub encoder_fingerprint: String,
}

impl DataRef {
    pub fn of(ds: &Dataset) -> Self {
        Self {
            path: ds.dir.display().to_string(),
            manifest_hash: ds.manifest.hash(),
            dim: ds.dim(),
            context: ds.context(),
            encoder: ds.manifest.encoder.name.clone(),
            encoder_fingerprint: ds.manifest.encoder.fingerprint.clone(),
        }
    }
}

/// `RUN/config.json`. A field this version does not know is refused by name, at the top level
/// as inside `model` and `train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub format: String,
    pub model: ModelConfig,
    pub params: usize,
    pub train: TrainConfig,
    pub data: DataRef,
    pub created_by: String,
}

pub struct RunDir {
    pub dir: PathBuf,
}

impl RunDir {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn history_path(&self) -> PathBuf {
        self.dir.join("history.json")
    }
    pub fn best_path(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }
    pub fn last_path(&self) -> PathBuf {
        self.dir.join("last.safetensors")
    }

    /// Whether the folder holds anything of a run.
    pub fn exists(&self) -> bool {
        self.config_path().exists() || self.last_path().exists() || self.best_path().exists()
    }

    /// Whether the run has finished an epoch (its last.safetensors), so that replacing it would
    /// lose training. A run that failed or was stopped before that holds nothing a new one
    /// would lose.
    pub fn has_trained(&self) -> bool {
        self.last_path().exists()
    }

    /// Takes the lock on the run folder for the life of the command that writes it (train,
    /// eval): a second writer is refused, naming the first.
    pub fn lock(&self) -> Result<lvmkit_io::OutputLock> {
        lvmkit_io::OutputLock::acquire(&self.dir, "run folder")
    }

    pub fn read_config(&self) -> Result<RunConfig> {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a training run (cannot read {})",
                self.dir.display(),
                path.display()
            )
        })?;
        let cfg: RunConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged or from another version", path.display()))?;
        if cfg.format != RUN_FORMAT {
            bail!(
                "{}: run format '{}' is not supported (this lvmkit reads {RUN_FORMAT})",
                path.display(),
                cfg.format
            );
        }
        Ok(cfg)
    }

    /// The run's best model, checked against its config.json.
    pub fn load_best(&self) -> Result<(RunConfig, Model)> {
        let cfg = self.read_config()?;
        let path = self.best_path();
        if !path.exists() {
            bail!(
                "run {} has no best.safetensors yet (no epoch finished); resume it with \
                 `lvmkit train --resume {}`",
                self.dir.display(),
                self.dir.display()
            );
        }
        let model = Model::load(&path, Some(&cfg.model))?;
        Ok((cfg, model))
    }

    pub fn read_history(&self) -> Result<crate::History> {
        let path = self.history_path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
    }
}

/// Refuse to use `ds` with a run trained on a different shape of data; warn-free only when the
/// data is the very same dataset or at least the same encoder and dimensions.
pub fn check_compatible(cfg: &RunConfig, ds: &Dataset, run_dir: &Path) -> Result<()> {
    if cfg.model.dim != ds.dim() {
        bail!(
            "run {} takes {}-D vectors but dataset {} has {}-D vectors (encoder {})",
            run_dir.display(),
            cfg.model.dim,
            ds.dir.display(),
            ds.dim(),
            ds.manifest.encoder.name
        );
    }
    if cfg.model.context < ds.context() {
        bail!(
            "run {} takes contexts of up to {} concepts but dataset {} has windows of {}",
            run_dir.display(),
            cfg.model.context,
            ds.dir.display(),
            ds.context()
        );
    }
    if cfg.data.encoder_fingerprint != ds.manifest.encoder.fingerprint {
        bail!(
            "run {} was trained on vectors from encoder {} ({}…) but dataset {} uses {} ({}…): \
             the vector spaces differ",
            run_dir.display(),
            cfg.data.encoder,
            &cfg.data.encoder_fingerprint[..12.min(cfg.data.encoder_fingerprint.len())],
            ds.dir.display(),
            ds.manifest.encoder.name,
            &ds.manifest.encoder.fingerprint[..12.min(ds.manifest.encoder.fingerprint.len())]
        );
    }
    Ok(())
}
