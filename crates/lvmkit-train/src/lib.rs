//! Training next-concept models on an lvmkit dataset.
//!
//! The loop, start to finish, is [`trainer::train`]: shuffle the train windows (seeded per
//! epoch), step AdamW on the weighted loss, evaluate on val, keep the best checkpoint, write
//! the last one with the optimiser and trainer state so `--resume` continues bit-for-bit.

pub mod batch;
pub mod bench;
pub mod loss;
pub mod optim;
pub mod run;
pub mod schedule;
pub mod trainer;

pub use loss::LossConfig;
pub use optim::AdamWConfig;
pub use run::{RunConfig, RunDir};
pub use schedule::{ScheduleConfig, ScheduleKind};
pub use trainer::{train, History, RunStatus, TrainOptions, TrainOutcome};

use anyhow::{bail, Context, Result};
use lvmkit_models::{Architecture, Skip};
use serde::{Deserialize, Serialize};

/// Every hyper-parameter of a training run, in one place (also the `--config FILE` format;
/// fields left out take these defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Architecture and its settings, e.g. `{"architecture": "mlp", "hidden": 1024}`.
    pub model: Architecture,
    pub loss: LossConfig,
    pub optimizer: AdamWConfig,
    pub schedule: ScheduleConfig,
    pub batch_size: usize,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Stop after this many epochs without a better val cosine (0 = never stop early).
    pub patience: usize,
    /// Clip the global gradient norm to this (0 = off).
    pub clip: f64,
    /// Seeds initialisation, shuffling and dropout: the same seed repeats a run exactly.
    pub seed: u64,
    /// Train on a seeded sample of at most this many train windows (the same sample for every
    /// model with the same seed: a shared budget for comparisons); 0 = every window.
    pub max_train_windows: usize,
    /// A base the prediction starts from, beside the network (`none`, `context-mean`, or
    /// `ridge`: a linear path set to the closed-form ridge of the train windows before the first
    /// step). With a base, the network's output enters through a gate that starts at 0.
    pub skip: Skip,
    /// Share of training windows (each epoch, drawn per window) whose context is cut to a
    /// random 1…C−1 most recent concepts, so the model also learns the short prompts users
    /// give; validation always uses whole windows. 0 = off.
    pub short_contexts: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: Architecture::default_for("mlp").expect("mlp exists"),
            loss: LossConfig::default(),
            optimizer: AdamWConfig::default(),
            schedule: ScheduleConfig::default(),
            batch_size: 256,
            epochs: 20,
            patience: 3,
            clip: 1.0,
            seed: 0,
            max_train_windows: 0,
            skip: Skip::None,
            short_contexts: 0.0,
        }
    }
}

impl TrainConfig {
    /// A `--config FILE`: the fields of a run's config.json "train" (missing ones take their
    /// defaults).
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a training config (see a run's config.json \"train\")",
                path.display()
            )
        })
    }

    pub fn validate(&self) -> Result<()> {
        self.loss.validate()?;
        self.schedule.validate()?;
        if self.batch_size < 2 {
            bail!("batch_size must be at least 2, got {}", self.batch_size);
        }
        if self.epochs == 0 {
            bail!("epochs must be at least 1");
        }
        let o = &self.optimizer;
        if !(o.lr.is_finite() && o.lr > 0.0) {
            bail!("optimizer lr must be > 0, got {}", o.lr);
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            bail!("optimizer weight_decay must be ≥ 0, got {}", o.weight_decay);
        }
        if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
            bail!("optimizer betas must be in [0, 1)");
        }
        if !(0.0..=1.0).contains(&self.short_contexts) {
            bail!(
                "short_contexts must be a share in [0, 1], got {}",
                self.short_contexts
            );
        }
        if !(self.clip.is_finite() && self.clip >= 0.0) {
            bail!("clip must be ≥ 0, got {}", self.clip);
        }
        Ok(())
    }
}
