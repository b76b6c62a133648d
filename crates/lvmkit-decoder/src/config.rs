//! Every setting of a decoder training run, its presets, and `RUN/config.json`.

use anyhow::{bail, Result};
use lvmkit_models::decoder::DecoderConfig;
use lvmkit_train::run::DataRef;
use lvmkit_train::{AdamWConfig, ScheduleConfig};
use serde::{Deserialize, Serialize};

pub const DECODER_RUN_FORMAT: &str = "lvmkit-decoder-run-1";

/// Every hyper-parameter of `lvmkit decoder train` (also its `--config FILE` format; fields left
/// out take the `default` preset's values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoderTrainConfig {
    /// Tokens in the byte-level BPE vocabulary trained on the train sentences (PAD, BOS and
    /// EOS included).
    pub vocab: usize,
    /// Transformer width, layers, heads and feed-forward size.
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    /// Positions the concept vector is spread over.
    pub prefix: usize,
    /// Most tokens of a sentence, BOS and EOS included: longer sentences are cut for training
    /// (their vectors still hold the whole sentence), and decodings stop there.
    pub max_tokens: usize,
    pub dropout: f32,
    pub batch_size: usize,
    /// Passes over the train sentences.
    pub epochs: usize,
    /// Train on at most this many train sentences, drawn as whole documents in a seeded order
    /// (the last one cut to fit); 0 = every train sentence.
    pub max_sentences: usize,
    pub optimizer: AdamWConfig,
    pub schedule: ScheduleConfig,
    /// Clip the global gradient norm to this (0 = off).
    pub clip: f64,
    pub seed: u64,
    /// Validate, keep the best weights and write a resumable checkpoint every this many steps
    /// (and at the end).
    pub eval_every: usize,
    /// Val sentences whose loss picks the best checkpoint.
    pub val_sentences: usize,
}

impl Default for DecoderTrainConfig {
    fn default() -> Self {
        Self::preset("default").expect("the default preset exists")
    }
}

pub const PRESETS: [&str; 3] = ["tiny", "default", "large"];

impl DecoderTrainConfig {
    /// `tiny` (tests, seconds), `default` (about an hour on 2 cores), `large` (a longer run of a
    /// wider, deeper model: for a machine with more cores or the GPU build).
    pub fn preset(name: &str) -> Result<Self> {
        let base = Self {
            vocab: 4096,
            width: 256,
            layers: 4,
            heads: 4,
            ff: 1024,
            prefix: 4,
            max_tokens: 48,
            dropout: 0.0,
            batch_size: 64,
            // Two passes over the default dataset's 100k train sentences: about an hour on 2
            // cores (one pass took 26 minutes alone at 65 sentences/s).
            epochs: 2,
            max_sentences: 0,
            optimizer: AdamWConfig {
                lr: 1e-3,
                ..AdamWConfig::default()
            },
            schedule: ScheduleConfig {
                warmup: 0.02,
                min_lr_ratio: 0.05,
                ..ScheduleConfig::default()
            },
            clip: 1.0,
            seed: 42,
            eval_every: 250,
            val_sentences: 512,
        };
        Ok(match name {
            "default" => base,
            "tiny" => Self {
                vocab: 400,
                width: 32,
                layers: 1,
                heads: 2,
                ff: 64,
                prefix: 2,
                max_tokens: 24,
                batch_size: 16,
                epochs: 2,
                max_sentences: 400,
                optimizer: AdamWConfig {
                    lr: 3e-3,
                    ..AdamWConfig::default()
                },
                eval_every: 10,
                val_sentences: 32,
                ..base
            },
            "large" => Self {
                vocab: 8192,
                width: 512,
                layers: 6,
                heads: 8,
                ff: 2048,
                epochs: 4,
                optimizer: AdamWConfig {
                    lr: 5e-4,
                    ..AdamWConfig::default()
                },
                ..base
            },
            other => bail!(
                "unknown decoder preset '{other}' (known: {})",
                PRESETS.join(", ")
            ),
        })
    }

    pub fn validate(&self) -> Result<()> {
        let checks: [(bool, &str); 8] = [
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.eval_every >= 1, "eval_every must be at least 1"),
            (self.val_sentences >= 1, "val_sentences must be at least 1"),
            (self.prefix >= 1, "prefix must be at least 1"),
            (
                self.max_tokens >= 3,
                "max_tokens must be at least 3 (BOS, a token, EOS)",
            ),
            (
                (0.0..1.0).contains(&self.dropout),
                "dropout must be in [0, 1)",
            ),
            (
                self.optimizer.lr > 0.0 && self.optimizer.lr.is_finite(),
                "optimizer.lr must be a positive number",
            ),
        ];
        for (ok, msg) in checks {
            if !ok {
                bail!("decoder config: {msg}");
            }
        }
        if self.width == 0 || self.layers == 0 || self.ff == 0 {
            bail!("decoder config: width, layers and ff must be at least 1");
        }
        if self.vocab < 259 {
            bail!(
                "decoder config: vocab must be at least 259 (256 bytes and PAD, BOS, EOS), not {}",
                self.vocab
            );
        }
        if self.schedule.kind == lvmkit_train::ScheduleKind::Plateau {
            bail!("decoder config: the plateau schedule is not available for the decoder (use cosine or constant)");
        }
        if self.heads == 0 || !self.width.is_multiple_of(self.heads) {
            bail!(
                "decoder config: width {} is not divisible by {} heads",
                self.width,
                self.heads
            );
        }
        self.schedule.validate()
    }

    /// The network's sizes for `dim`-D vectors and a vocabulary of `vocab` tokens.
    pub fn network(&self, dim: usize, vocab: usize) -> DecoderConfig {
        DecoderConfig {
            dim,
            vocab,
            width: self.width,
            layers: self.layers,
            heads: self.heads,
            ff: self.ff,
            prefix: self.prefix,
            max_tokens: self.max_tokens,
            dropout: self.dropout,
        }
    }
}

/// `RUN/config.json` of a decoder run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderRunConfig {
    pub format: String,
    pub decoder: DecoderConfig,
    pub params: usize,
    pub train: DecoderTrainConfig,
    /// The dataset whose train sentences it learnt from, and its encoder (the space of the
    /// vectors it reads).
    pub data: DataRef,
    /// Train sentences it learnt from.
    pub train_sentences: usize,
    /// Mean length of their vectors: vectors to decode are scaled to it.
    pub vector_norm: f32,
    pub created_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_unknown_fields_are_refused() {
        for p in PRESETS {
            DecoderTrainConfig::preset(p).unwrap().validate().unwrap();
        }
        assert!(DecoderTrainConfig::preset("huge").is_err());
        let e = serde_json::from_str::<DecoderTrainConfig>(r#"{"widht": 3}"#).unwrap_err();
        assert!(e.to_string().contains("widht"), "{e}");
        let cfg: DecoderTrainConfig = serde_json::from_str(r#"{"layers": 2}"#).unwrap();
        assert_eq!(cfg.layers, 2);
        assert_eq!(cfg.width, DecoderTrainConfig::default().width);
        let bad = DecoderTrainConfig {
            heads: 3,
            ..DecoderTrainConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("heads"));
    }
}
