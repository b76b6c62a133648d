//! What a sentence-transformers model folder declares: the transformer, pooling, optional Dense
//! projections and optional normalisation, read from `modules.json` and each module's config.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::pooling::Pooling;

/// The transformer families lvmkit can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackboneKind {
    /// BERT and its relatives that share its weight layout (MiniLM, BGE, E5, ...).
    Bert,
    /// A T5 encoder stack (GTR-T5, sentence-T5).
    T5,
}

/// A Dense module: `out = activation(W x + b)`.
#[derive(Debug, Clone)]
pub struct DenseSpec {
    pub dir: PathBuf,
    pub in_features: usize,
    pub out_features: usize,
    pub bias: bool,
    pub tanh: bool,
}

/// A parsed sentence-transformers folder (or a bare transformer folder, which gets the
/// sentence-transformers defaults: mean pooling, no normalisation).
#[derive(Debug, Clone)]
pub struct StFolder {
    pub root: PathBuf,
    /// Folder holding `config.json`, the weights and `tokenizer.json`.
    pub transformer_dir: PathBuf,
    pub kind: BackboneKind,
    pub hidden_size: usize,
    pub max_seq_length: usize,
    pub pooling: Pooling,
    pub dense: Vec<DenseSpec>,
    pub normalize: bool,
}

#[derive(Deserialize)]
struct ModuleEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct DenseConfig {
    in_features: usize,
    out_features: usize,
    #[serde(default = "yes")]
    bias: bool,
    #[serde(default)]
    activation_function: String,
}

fn yes() -> bool {
    true
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "the encoder folder is incomplete: cannot read {}",
            path.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON for this field layout", path.display()))
}

impl StFolder {
    pub fn open(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            bail!(
                "encoder folder {} does not exist (run `lvmkit fetch` for the default all-MiniLM-L6-v2, or pass --encoder DIR pointing at a sentence-transformers folder)",
                root.display()
            );
        }
        let modules_path = root.join("modules.json");
        let modules: Vec<ModuleEntry> = if modules_path.exists() {
            read_json(&modules_path)?
        } else {
            // A bare Hugging Face transformer folder: sentence-transformers' defaults.
            vec![ModuleEntry {
                path: String::new(),
                kind: "sentence_transformers.models.Transformer".into(),
            }]
        };
        let mut transformer_dir = None;
        let mut pooling = None;
        let mut dense = Vec::new();
        let mut normalize = false;
        for m in &modules {
            let dir = root.join(&m.path);
            let short = m.kind.rsplit('.').next().unwrap_or(&m.kind);
            match short {
                "Transformer" | "T5" | "MPNet" => transformer_dir = Some(dir),
                "Pooling" => {
                    let cfg: PoolingConfig = read_json(&dir.join("config.json"))?;
                    pooling = Some(Pooling::from_flags(
                        cfg.pooling_mode_cls_token,
                        cfg.pooling_mode_mean_tokens,
                        cfg.pooling_mode_max_tokens,
                        cfg.pooling_mode_mean_sqrt_len_tokens,
                    ).with_context(|| format!("in {}", dir.join("config.json").display()))?);
                }
                "Dense" => {
                    let cfg: DenseConfig = read_json(&dir.join("config.json"))?;
                    let act = cfg.activation_function.rsplit('.').next().unwrap_or("").to_string();
                    let tanh = match act.as_str() {
                        "" | "Identity" => false,
                        "Tanh" => true,
                        other => bail!(
                            "{}: Dense activation '{other}' is not supported (Identity or Tanh)",
                            dir.join("config.json").display()
                        ),
                    };
                    dense.push(DenseSpec {
                        dir,
                        in_features: cfg.in_features,
                        out_features: cfg.out_features,
                        bias: cfg.bias,
                        tanh,
                    });
                }
                "Normalize" => normalize = true,
                other => bail!(
                    "{}: module type '{}' is not supported by lvmkit (Transformer, Pooling, Dense, Normalize)",
                    modules_path.display(),
                    other
                ),
            }
        }
        let transformer_dir = transformer_dir
            .with_context(|| format!("{} lists no Transformer module", modules_path.display()))?;
        for needed in ["config.json", "tokenizer.json", "model.safetensors"] {
            if !transformer_dir.join(needed).exists() {
                let hint = if needed == "model.safetensors"
                    && transformer_dir.join("pytorch_model.bin").exists()
                {
                    " (only pytorch_model.bin is there: convert it with safetensors' `save_file`)"
                } else {
                    ""
                };
                bail!(
                    "the encoder folder is incomplete: {} is missing{hint}",
                    transformer_dir.join(needed).display()
                );
            }
        }
        let config: serde_json::Value = read_json(&transformer_dir.join("config.json"))?;
        let model_type = config
            .get("model_type")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let kind = match model_type {
            "bert" => BackboneKind::Bert,
            "t5" | "mt5" => BackboneKind::T5,
            other => bail!(
                "{}: model_type '{other}' is not supported (bert or t5)",
                transformer_dir.join("config.json").display()
            ),
        };
        let size_key = if kind == BackboneKind::T5 {
            "d_model"
        } else {
            "hidden_size"
        };
        let hidden_size = config
            .get(size_key)
            .and_then(|v| v.as_u64())
            .with_context(|| {
                format!(
                    "{}: no '{size_key}'",
                    transformer_dir.join("config.json").display()
                )
            })? as usize;
        let max_positions = config
            .get("max_position_embeddings")
            .and_then(|v| v.as_u64());
        let st_config = transformer_dir.join("sentence_bert_config.json");
        let max_seq_length = if st_config.exists() {
            let v: serde_json::Value = read_json(&st_config)?;
            v.get("max_seq_length").and_then(|v| v.as_u64())
        } else {
            None
        }
        .or(max_positions)
        .unwrap_or(512) as usize;
        let mut width = hidden_size;
        for d in &dense {
            if d.in_features != width {
                bail!(
                    "{}: Dense in_features {} does not match the previous output size {width}",
                    d.dir.join("config.json").display(),
                    d.in_features
                );
            }
            width = d.out_features;
        }
        Ok(Self {
            root: root.to_path_buf(),
            transformer_dir,
            kind,
            hidden_size,
            max_seq_length,
            pooling: pooling.unwrap_or(Pooling::Mean),
            dense,
            normalize,
        })
    }

    /// Dimension of the final embeddings.
    pub fn dim(&self) -> usize {
        self.dense
            .last()
            .map(|d| d.out_features)
            .unwrap_or(self.hidden_size)
    }

    /// Every file whose content defines the embeddings: the encoder's fingerprint hashes these.
    pub fn defining_files(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.transformer_dir.join("config.json"),
            self.transformer_dir.join("tokenizer.json"),
            self.transformer_dir.join("model.safetensors"),
        ];
        for d in &self.dense {
            files.push(d.dir.join("config.json"));
            files.push(d.dir.join("model.safetensors"));
        }
        files
    }
}
