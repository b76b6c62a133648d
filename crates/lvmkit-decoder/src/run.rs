//! A decoder run folder.
//!
//! ```text
//! RUN/config.json        DecoderRunConfig: network sizes, training config, dataset and encoder
//! RUN/tokenizer.json     the vocabulary (a `tokenizers` file, readable by Hugging Face's library)
//! RUN/history.json       per validation: step, sentences seen, train and val loss, lr, time
//! RUN/best.safetensors   weights with the lowest val loss (what decode, eval and serve use)
//! RUN/last.safetensors   weights + optimiser and trainer state of the last validation
//! RUN/eval/              `lvmkit decoder eval` reports
//! ```

use crate::config::{DecoderRunConfig, DECODER_RUN_FORMAT};
use crate::vocab::Vocab;
use anyhow::{bail, Context, Result};
use candle_core::Device;
use lvmkit_models::decoder::VectorDecoder;
use lvmkit_models::nn::ParamStore;
use lvmkit_models::Checkpoint;
use std::path::{Path, PathBuf};

pub struct DecoderRun {
    pub dir: PathBuf,
}

impl DecoderRun {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
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
    pub fn eval_dir(&self) -> PathBuf {
        self.dir.join("eval")
    }

    /// Whether training has reached its first checkpoint, so replacing the run would lose work.
    pub fn has_trained(&self) -> bool {
        self.last_path().exists()
    }

    /// The lock on the run folder for the life of a command that writes it.
    pub fn lock(&self) -> Result<lvmkit_io::OutputLock> {
        lvmkit_io::OutputLock::acquire(&self.dir, "decoder run folder")
    }

    pub fn read_config(&self) -> Result<DecoderRunConfig> {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a decoder run (cannot read {}); `lvmkit decoder train` makes one",
                self.dir.display(),
                path.display()
            )
        })?;
        let probe: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let format = probe.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != DECODER_RUN_FORMAT {
            bail!(
                "{} is not a decoder run (format '{format}', expected {DECODER_RUN_FORMAT}){}",
                self.dir.display(),
                if format.starts_with("lvmkit-run") {
                    ": it is a next-concept model run (`lvmkit train`)"
                } else {
                    ""
                }
            );
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged or from another version", path.display()))
    }

    pub fn vocab(&self) -> Result<Vocab> {
        Vocab::load(&self.tokenizer_path())
    }

    /// The checkpoint at `path`, checked to hold the network `cfg` describes.
    pub fn read_checkpoint(&self, cfg: &DecoderRunConfig, path: &Path) -> Result<Checkpoint> {
        let ckpt = Checkpoint::read(path)?;
        let stored: lvmkit_models::decoder::DecoderConfig =
            serde_json::from_str(ckpt.config_json()?)
                .with_context(|| format!("{}: its config is not a decoder's", path.display()))?;
        if stored != cfg.decoder {
            bail!(
                "{} was written for another decoder than {} describes",
                path.display(),
                self.config_path().display()
            );
        }
        Ok(ckpt)
    }

    /// The network of `cfg` with the weights of `path`, checked against the config.
    pub fn load_weights(&self, cfg: &DecoderRunConfig, path: &Path) -> Result<VectorDecoder> {
        let ckpt = self.read_checkpoint(cfg, path)?;
        let mut ps = ParamStore::new(0, &Device::Cpu);
        let dec = VectorDecoder::new(&mut ps, &cfg.decoder)?;
        ckpt.assign_to(ps.vars(), "decoder")?;
        Ok(dec)
    }

    /// The run's best decoder and vocabulary.
    pub fn load_best(&self) -> Result<(DecoderRunConfig, VectorDecoder, Vocab)> {
        let cfg = self.read_config()?;
        // best.safetensors starts as the untrained decoder (step 0); a run stopped before its
        // first validation has no history and nothing worth decoding with.
        let validated = std::fs::read_to_string(self.history_path())
            .ok()
            .and_then(|t| serde_json::from_str::<crate::train::DecoderHistory>(&t).ok())
            .is_some_and(|h| !h.evals.is_empty());
        if !validated || !self.best_path().exists() {
            bail!(
                "decoder run {} has no best.safetensors yet (it stopped before its first \
                 validation); continue it with `lvmkit decoder train --resume --output {}`",
                self.dir.display(),
                self.dir.display()
            );
        }
        let dec = self.load_weights(&cfg, &self.best_path())?;
        let vocab = self.vocab()?;
        if vocab.size() != cfg.decoder.vocab {
            bail!(
                "{} has {} tokens but the decoder was trained with {}",
                self.tokenizer_path().display(),
                vocab.size(),
                cfg.decoder.vocab
            );
        }
        Ok((cfg, dec, vocab))
    }
}
