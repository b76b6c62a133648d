//! Learning-rate schedules: linear warm-up, then cosine decay per step, reduce-on-plateau per
//! epoch, or constant.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    Cosine,
    Plateau,
    Constant,
}

impl std::str::FromStr for ScheduleKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "cosine" => Self::Cosine,
            "plateau" => Self::Plateau,
            "constant" => Self::Constant,
            _ => bail!("unknown schedule '{s}' (known: cosine, plateau, constant)"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    pub kind: ScheduleKind,
    /// Share of all training steps spent warming up linearly from 0 (every kind).
    pub warmup: f64,
    /// Cosine decays to lr × this.
    pub min_lr_ratio: f64,
    /// Plateau: multiply the lr by this when val cosine has not improved for `plateau_patience`
    /// epochs.
    pub plateau_factor: f64,
    pub plateau_patience: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            kind: ScheduleKind::Cosine,
            warmup: 0.05,
            min_lr_ratio: 0.01,
            plateau_factor: 0.5,
            plateau_patience: 1,
        }
    }
}

impl ScheduleConfig {
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.warmup) {
            bail!(
                "schedule warmup must be a share in [0, 1), got {}",
                self.warmup
            );
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            bail!(
                "schedule min_lr_ratio must be in [0, 1], got {}",
                self.min_lr_ratio
            );
        }
        if !(self.plateau_factor > 0.0 && self.plateau_factor < 1.0) {
            bail!(
                "schedule plateau_factor must be in (0, 1), got {}",
                self.plateau_factor
            );
        }
        Ok(())
    }

    /// Learning rate for 0-based `step` of `total` steps, given the plateau scale so far.
    pub fn lr(&self, base: f64, step: u64, total: u64, plateau_scale: f64) -> f64 {
        let warmup = (self.warmup * total as f64).round() as u64;
        if step < warmup {
            return base * (step + 1) as f64 / warmup as f64;
        }
        match self.kind {
            ScheduleKind::Constant => base,
            ScheduleKind::Plateau => base * plateau_scale,
            ScheduleKind::Cosine => {
                let span = total.saturating_sub(warmup).max(1) as f64;
                let progress = ((step - warmup) as f64 / span).min(1.0);
                let min = base * self.min_lr_ratio;
                min + (base - min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}
