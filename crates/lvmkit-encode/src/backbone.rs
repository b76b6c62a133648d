//! The transformer stack of an encoder: token ids in, token states out.

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::t5;

use crate::bert;

use crate::folder::{BackboneKind, StFolder};

pub enum Backbone {
    Bert(bert::Bert),
    T5(t5::T5EncoderModel),
}

impl Backbone {
    pub fn load(folder: &StFolder, device: &Device) -> Result<Self> {
        let config_path = folder.transformer_dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?;
        let weights = folder.transformer_dir.join("model.safetensors");
        // SAFETY: the weights file is memory-mapped read-only and not modified while loaded.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device) }
            .with_context(|| format!("cannot read weights {}", weights.display()))?;
        let what = || {
            format!(
                "weights {} do not match {}",
                weights.display(),
                config_path.display()
            )
        };
        Ok(match folder.kind {
            BackboneKind::Bert => {
                let cfg: bert::BertConfig = serde_json::from_str(&config_text)
                    .with_context(|| format!("{} is not a BERT config", config_path.display()))?;
                Self::Bert(bert::Bert::load(vb, &cfg).with_context(what)?)
            }
            BackboneKind::T5 => {
                let cfg: t5::Config = serde_json::from_str(&config_text)
                    .with_context(|| format!("{} is not a T5 config", config_path.display()))?;
                Self::T5(t5::T5EncoderModel::load(vb, &cfg).with_context(what)?)
            }
        })
    }

    /// `ids` and `mask` are [B, T] u32; returns [B, T, H] f32 token states.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Self::Bert(m) => m.forward(ids, mask)?,
            // No attention mask: every batch holds texts of one length (`plan_batches`).
            // `forward` takes &mut for the decoder's kv-cache; a clone shares the weights.
            Self::T5(m) => m.clone().forward(ids)?,
        })
    }
}
