//! Model configurations: serde-tagged by architecture, stored in every checkpoint.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Everything needed to rebuild a model: its input shape and its architecture's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Embedding dimension D (inputs and output).
    pub dim: usize,
    /// Maximum context length C; shorter contexts are left-padded and masked.
    pub context: usize,
    #[serde(flatten)]
    pub arch: Architecture,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "architecture", rename_all = "kebab-case")]
pub enum Architecture {
    Mlp(MlpConfig),
}

/// The seeds' SimpleMLP: flatten C×D → Linear(hidden) → ReLU → Dropout → Linear(D).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    pub hidden: usize,
    pub dropout: f32,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: 1024,
            dropout: 0.1,
        }
    }
}

/// Architecture names accepted by `--model`, in leaderboard order.
pub const ARCHITECTURES: &[&str] = &["mlp"];

impl Architecture {
    pub fn name(&self) -> &'static str {
        match self {
            Architecture::Mlp(_) => "mlp",
        }
    }

    /// The architecture's default settings (the seeds' sizes).
    pub fn default_for(name: &str) -> Result<Self> {
        Ok(match name {
            "mlp" => Architecture::Mlp(MlpConfig::default()),
            _ => bail!(
                "unknown model '{name}'; known models: {}",
                ARCHITECTURES.join(", ")
            ),
        })
    }
}

impl ModelConfig {
    pub fn new(name: &str, dim: usize, context: usize) -> Result<Self> {
        let cfg = Self {
            dim,
            context,
            arch: Architecture::default_for(name)?,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            bail!("model dim must be at least 1");
        }
        if self.context == 0 {
            bail!("model context must be at least 1");
        }
        match &self.arch {
            Architecture::Mlp(m) => {
                if m.hidden == 0 {
                    bail!("mlp.hidden must be at least 1");
                }
                check_dropout("mlp.dropout", m.dropout)?;
            }
        }
        Ok(())
    }
}

fn check_dropout(field: &str, p: f32) -> Result<()> {
    if !(0.0..1.0).contains(&p) {
        bail!("{field} must be in [0, 1), got {p}");
    }
    Ok(())
}

/// Differences between two configs as `field: a ≠ b` lines (empty when equal).
pub fn config_diff(expected: &serde_json::Value, found: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into("", expected, found, &mut out);
    out
}

fn diff_into(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff_into(&p, u, v, out),
                    (Some(u), None) => out.push(format!("{p}: expected {u}, missing")),
                    (None, Some(v)) => out.push(format!("{p}: unexpected {v}")),
                    (None, None) => {}
                }
            }
        }
        _ if a != b => out.push(format!("{path}: expected {a}, found {b}")),
        _ => {}
    }
}
