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
    /// A path beside the network that the prediction starts from (see [`Skip`]); older
    /// checkpoints, written before it existed, have none.
    #[serde(default)]
    pub skip: Skip,
}

/// A base prediction beside the network: the output is `normalise(base(x) + g · net(x))` with a
/// learnt scalar gate g that starts at 0, so a fresh model predicts exactly its base and
/// training moves away from it only where the loss says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Skip {
    /// The network alone (the seeds' models).
    #[default]
    None,
    /// The mean of the (real) context concepts, a fixed base with no parameters.
    ContextMean,
    /// A fixed linear map of the flattened context (`skip.weight` [D, C·D], `skip.bias` [D],
    /// stored in checkpoints but not trained). A new model starts it as the context mean; the
    /// trainer sets it to the closed-form ridge solution of its training windows before the
    /// first step.
    Ridge,
}

impl Skip {
    pub fn name(self) -> &'static str {
        match self {
            Skip::None => "none",
            Skip::ContextMean => "context-mean",
            Skip::Ridge => "ridge",
        }
    }
}

impl std::str::FromStr for Skip {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "none" => Skip::None,
            "context-mean" => Skip::ContextMean,
            "ridge" => Skip::Ridge,
            _ => bail!("unknown skip path '{s}' (none, context-mean, ridge)"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "architecture", rename_all = "kebab-case")]
pub enum Architecture {
    Mlp(MlpConfig),
    Lstm(LstmConfig),
    Gru(GruConfig),
    Transformer(TransformerConfig),
    Amn(AmnConfig),
    Mamba(MambaConfig),
    GraphmertLvm(GraphmertLvmConfig),
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

/// The seeds' LSTMBaseline: `nn.LSTM(D→hidden, layers, dropout between layers)` → last step →
/// Linear(hidden→D). 5,120,768 parameters at D = 768.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LstmConfig {
    pub hidden: usize,
    pub layers: usize,
    pub dropout: f32,
}

impl Default for LstmConfig {
    fn default() -> Self {
        Self {
            hidden: 512,
            layers: 2,
            dropout: 0.2,
        }
    }
}

/// The seeds' GRU stack: Linear(D→hidden), `blocks` × LN(x + GRU(x)), last step, Linear(→D).
/// 7,095,552 parameters at D = 768.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GruConfig {
    pub hidden: usize,
    pub blocks: usize,
}

impl Default for GruConfig {
    fn default() -> Self {
        Self {
            hidden: 512,
            blocks: 4,
        }
    }
}

/// Causal encoder-only transformer (see `transformer.rs` for why not the seeds' decoder).
/// 13,660,928 parameters at D = 768.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformerConfig {
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    pub dropout: f32,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        Self {
            d_model: 512,
            layers: 4,
            heads: 8,
            ff: 2048,
            dropout: 0.1,
        }
    }
}

/// The seeds' attention-mixture network. 1,510,912 parameters at D = 768.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmnConfig {
    /// Query/key width.
    pub attention: usize,
    pub hidden: usize,
    pub hidden2: usize,
}

impl Default for AmnConfig {
    fn default() -> Self {
        Self {
            attention: 256,
            hidden: 512,
            hidden2: 256,
        }
    }
}

/// Selective state-space model (Mamba/S6). 2,146,560 parameters at D = 768.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MambaConfig {
    pub d_model: usize,
    pub layers: usize,
    pub d_state: usize,
    /// d_inner = expand · d_model.
    pub expand: usize,
    pub d_conv: usize,
    pub dt_rank: usize,
}

impl Default for MambaConfig {
    fn default() -> Self {
        Self {
            d_model: 256,
            layers: 4,
            d_state: 16,
            expand: 2,
            d_conv: 4,
            dt_rank: 16,
        }
    }
}

/// GraphMERT-LVM: 12 post-norm layers with per-head attention decay, mean pool, MLP head.
/// 67,352,928 parameters at D = 768 (the seeds' 67,352,833 had one shared threshold; here
/// each layer's head has its own offset p_h: 96).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphmertLvmConfig {
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    pub dropout: f32,
    /// λ of the decay λ^GELU(√(d+1) − p_h).
    pub decay_lambda: f32,
    /// Initial p_h (the seeds' threshold started at 2.0).
    pub decay_offset_init: f32,
}

impl Default for GraphmertLvmConfig {
    fn default() -> Self {
        Self {
            d_model: 768,
            layers: 12,
            heads: 8,
            ff: 2048,
            dropout: 0.1,
            decay_lambda: 0.6,
            decay_offset_init: 2.0,
        }
    }
}

/// Architecture names accepted by `--model`, in leaderboard order.
pub const ARCHITECTURES: &[&str] = &[
    "mlp",
    "lstm",
    "gru",
    "transformer",
    "amn",
    "mamba",
    "graphmert-lvm",
];

impl Architecture {
    pub fn name(&self) -> &'static str {
        match self {
            Architecture::Mlp(_) => "mlp",
            Architecture::Lstm(_) => "lstm",
            Architecture::Gru(_) => "gru",
            Architecture::Transformer(_) => "transformer",
            Architecture::Amn(_) => "amn",
            Architecture::Mamba(_) => "mamba",
            Architecture::GraphmertLvm(_) => "graphmert-lvm",
        }
    }

    /// The architecture's default settings (the seeds' sizes).
    pub fn default_for(name: &str) -> Result<Self> {
        Ok(match name {
            "mlp" => Architecture::Mlp(MlpConfig::default()),
            "lstm" => Architecture::Lstm(LstmConfig::default()),
            "gru" => Architecture::Gru(GruConfig::default()),
            "transformer" => Architecture::Transformer(TransformerConfig::default()),
            "amn" => Architecture::Amn(AmnConfig::default()),
            "mamba" => Architecture::Mamba(MambaConfig::default()),
            "graphmert-lvm" => Architecture::GraphmertLvm(GraphmertLvmConfig::default()),
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
            skip: Skip::None,
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
            Architecture::Lstm(m) => {
                positive(&[("lstm.hidden", m.hidden), ("lstm.layers", m.layers)])?;
                check_dropout("lstm.dropout", m.dropout)?;
            }
            Architecture::Gru(m) => {
                positive(&[("gru.hidden", m.hidden), ("gru.blocks", m.blocks)])?
            }
            Architecture::Transformer(m) => {
                positive(&[
                    ("transformer.d_model", m.d_model),
                    ("transformer.layers", m.layers),
                    ("transformer.heads", m.heads),
                    ("transformer.ff", m.ff),
                ])?;
                divisible("transformer", m.d_model, m.heads)?;
                check_dropout("transformer.dropout", m.dropout)?;
            }
            Architecture::Amn(m) => positive(&[
                ("amn.attention", m.attention),
                ("amn.hidden", m.hidden),
                ("amn.hidden2", m.hidden2),
            ])?,
            Architecture::Mamba(m) => {
                positive(&[
                    ("mamba.d_model", m.d_model),
                    ("mamba.layers", m.layers),
                    ("mamba.d_state", m.d_state),
                    ("mamba.expand", m.expand),
                    ("mamba.d_conv", m.d_conv),
                    ("mamba.dt_rank", m.dt_rank),
                ])?;
                if m.d_state > crate::scan::MAX_STATE {
                    bail!(
                        "mamba.d_state must be at most {}, got {}",
                        crate::scan::MAX_STATE,
                        m.d_state
                    );
                }
            }
            Architecture::GraphmertLvm(m) => {
                positive(&[
                    ("graphmert-lvm.d_model", m.d_model),
                    ("graphmert-lvm.layers", m.layers),
                    ("graphmert-lvm.heads", m.heads),
                    ("graphmert-lvm.ff", m.ff),
                ])?;
                divisible("graphmert-lvm", m.d_model, m.heads)?;
                check_dropout("graphmert-lvm.dropout", m.dropout)?;
                if !(m.decay_lambda > 0.0 && m.decay_lambda < 1.0) {
                    bail!(
                        "graphmert-lvm.decay_lambda must be in (0, 1), got {}",
                        m.decay_lambda
                    );
                }
                if !m.decay_offset_init.is_finite() {
                    bail!("graphmert-lvm.decay_offset_init must be finite");
                }
            }
        }
        Ok(())
    }
}

fn positive(fields: &[(&str, usize)]) -> Result<()> {
    for (name, v) in fields {
        if *v == 0 {
            bail!("{name} must be at least 1");
        }
    }
    Ok(())
}

fn divisible(arch: &str, d_model: usize, heads: usize) -> Result<()> {
    if !d_model.is_multiple_of(heads) {
        bail!("{arch}.d_model ({d_model}) must be divisible by {arch}.heads ({heads})");
    }
    Ok(())
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
