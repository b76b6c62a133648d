//! A loaded sentence encoder: tokenise, batch by length, run the backbone, pool, project,
//! normalise.

use anyhow::{bail, Context, Result};
use candle_core::{Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use crate::backbone::Backbone;
use crate::folder::StFolder;
use crate::pooling::l2_normalize;
use crate::truncation::Truncation;

/// How to run an encoding job.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// Most texts per forward pass (texts are sorted by token length first, so padding is small).
    pub batch_size: usize,
    /// Most padded tokens per forward pass: long texts get smaller batches, so a batch's
    /// activations stay in cache (measured: 38-token sentences ran 97/s at 64 per batch, 133/s
    /// at 16).
    pub max_batch_tokens: usize,
    /// Draw a progress bar on stderr (hidden automatically when stderr is not a terminal).
    pub progress: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            batch_size: 64,
            max_batch_tokens: token_budget(),
            progress: false,
        }
    }
}

pub struct SentenceEncoder {
    folder: StFolder,
    /// Cuts each text at `max_seq_length` tokens: the ids the model reads.
    tokenizer: Tokenizer,
    /// The same tokenizer without the cut: counts a text's tokens, so a cut can be reported.
    uncut: Tokenizer,
    backbone: Backbone,
    dense: Vec<(Linear, bool)>,
    device: Device,
    fingerprint: String,
    pad_id: u32,
}

impl SentenceEncoder {
    /// Loads a sentence-transformers folder (see [`StFolder`]) on the CPU.
    pub fn load(dir: &Path) -> Result<Self> {
        let folder = StFolder::open(dir)?;
        let device = Device::Cpu;
        let tok_path = folder.transformer_dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| anyhow::anyhow!("cannot load tokenizer {}: {e}", tok_path.display()))?;
        // The shipped tokenizer.json may pad to a fixed 128 and truncate at 128; the model's
        // real limit is max_seq_length, and lvmkit pads per batch itself.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: folder.max_seq_length,
                ..Default::default()
            }))
            .map_err(|e| anyhow::anyhow!("{}: {e}", tok_path.display()))?;
        tokenizer.with_padding(None::<PaddingParams>);
        let mut uncut = tokenizer.clone();
        uncut
            .with_truncation(None)
            .map_err(|e| anyhow::anyhow!("{}: {e}", tok_path.display()))?;
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| tokenizer.token_to_id("[PAD]"))
            .or_else(|| tokenizer.token_to_id("<pad>"))
            .unwrap_or(0);
        let backbone = Backbone::load(&folder, &device)?;
        let mut dense = Vec::new();
        for d in &folder.dense {
            let path = d.dir.join("model.safetensors");
            if !path.exists() {
                bail!(
                    "the encoder folder is incomplete: {} is missing",
                    path.display()
                );
            }
            // SAFETY: read-only memory map of a weights file.
            let vb = unsafe {
                VarBuilder::from_mmaped_safetensors(&[&path], candle_core::DType::F32, &device)
            }?;
            let vb = vb.pp("linear");
            let w = vb
                .get((d.out_features, d.in_features), "weight")
                .with_context(|| {
                    format!(
                        "{}: no linear.weight of the configured shape",
                        path.display()
                    )
                })?;
            let b = if d.bias {
                Some(vb.get(d.out_features, "bias")?)
            } else {
                None
            };
            dense.push((Linear::new(w, b), d.tanh));
        }
        let fingerprint = fingerprint(&folder)?;
        Ok(Self {
            folder,
            tokenizer,
            uncut,
            backbone,
            dense,
            device,
            fingerprint,
            pad_id,
        })
    }

    pub fn dim(&self) -> usize {
        self.folder.dim()
    }

    pub fn folder(&self) -> &StFolder {
        &self.folder
    }

    /// sha256 over everything that defines the embeddings (weights, configs, tokenizer,
    /// pooling, sequence limit). Two folders with the same fingerprint embed identically.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A short human name: the folder's name.
    pub fn name(&self) -> String {
        self.folder
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "encoder".into())
    }

    /// The most tokens the model reads of a text (`max_seq_length`, special tokens included);
    /// the tokenizer cuts longer texts to it.
    pub fn token_limit(&self) -> usize {
        self.folder.max_seq_length
    }

    /// Token ids of each text after truncation (no padding).
    pub fn tokenize(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        Ok(encode_batch(&self.tokenizer, texts)?
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }

    /// Tokens of each text before the cut at [`token_limit`](Self::token_limit), special
    /// tokens included.
    pub fn token_counts(&self, texts: &[String]) -> Result<Vec<usize>> {
        Ok(encode_batch(&self.uncut, texts)?
            .iter()
            .map(|e| e.len())
            .collect())
    }

    /// How many of `texts` the token limit cuts, and the longest (tokenises them; does not
    /// embed them).
    pub fn truncation(&self, texts: &[String]) -> Result<Truncation> {
        Ok(Truncation::of(
            &self.token_counts(texts)?,
            self.token_limit(),
        ))
    }

    /// [`tokenize`](Self::tokenize) and [`token_counts`](Self::token_counts) from one pass:
    /// every text is tokenised uncut, and only the few over the limit again by the cutting
    /// tokenizer, so their ids are exactly the ones it gives.
    fn tokenize_counting(&self, texts: &[String]) -> Result<(Vec<Vec<u32>>, Vec<usize>)> {
        let uncut = encode_batch(&self.uncut, texts)?;
        let counts: Vec<usize> = uncut.iter().map(|e| e.len()).collect();
        let mut ids: Vec<Vec<u32>> = uncut.into_iter().map(|e| e.get_ids().to_vec()).collect();
        let over: Vec<usize> = (0..texts.len())
            .filter(|&i| counts[i] > self.token_limit())
            .collect();
        if !over.is_empty() {
            let long: Vec<String> = over.iter().map(|&i| texts[i].clone()).collect();
            for (&i, e) in over.iter().zip(encode_batch(&self.tokenizer, &long)?) {
                ids[i] = e.get_ids().to_vec();
            }
        }
        Ok((ids, counts))
    }

    /// Embeds `texts`; returns N×D row-major, L2-normalised, in input order.
    pub fn encode(&self, texts: &[String], opts: &EncodeOptions) -> Result<Vec<f32>> {
        let bar = progress_bar(texts.len(), opts.progress);
        let out = self.encode_with_bar(texts, opts, &bar);
        bar.finish_and_clear();
        out
    }

    /// [`encode`](Self::encode), advancing a caller's progress bar (for jobs done in chunks).
    pub fn encode_with_bar(
        &self,
        texts: &[String],
        opts: &EncodeOptions,
        bar: &ProgressBar,
    ) -> Result<Vec<f32>> {
        Ok(self.encode_counting(texts, opts, bar)?.0)
    }

    /// [`encode_with_bar`](Self::encode_with_bar), also giving each text's token count before
    /// the cut (as [`token_counts`](Self::token_counts), from the same tokenisation; see
    /// [`Truncation::of`]).
    pub fn encode_counting(
        &self,
        texts: &[String],
        opts: &EncodeOptions,
        bar: &ProgressBar,
    ) -> Result<(Vec<f32>, Vec<usize>)> {
        let dim = self.dim();
        if texts.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let (ids, counts) = self.tokenize_counting(texts)?;
        let batches = plan_batches(&ids, opts.batch_size.max(1), opts.max_batch_tokens.max(1));
        // Batches run in parallel across rayon's threads (matrix products still split their
        // work through rayon too). Element-wise ops run best inline: see `main.rs` on
        // CANDLE_NUM_THREADS.
        let run = |batch: &Vec<usize>| {
            let out = self.forward_batch(batch.iter().map(|&i| ids[i].as_slice()));
            bar.inc(batch.len() as u64);
            out
        };
        let results: Vec<Result<Vec<f32>>> = batches.par_iter().map(run).collect();
        let mut out = vec![0f32; texts.len() * dim];
        for (batch, rows) in batches.iter().zip(results) {
            let rows = rows?;
            for (k, &i) in batch.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&rows[k * dim..(k + 1) * dim]);
            }
        }
        Ok((out, counts))
    }

    fn forward_batch<'a>(&self, seqs: impl Iterator<Item = &'a [u32]>) -> Result<Vec<f32>> {
        let seqs: Vec<&[u32]> = seqs.collect();
        let b = seqs.len();
        let t = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![self.pad_id; b * t];
        let mut mask = vec![0u32; b * t];
        for (r, s) in seqs.iter().enumerate() {
            ids[r * t..r * t + s.len()].copy_from_slice(s);
            mask[r * t..r * t + s.len()].fill(1);
        }
        let ids = Tensor::from_vec(ids, (b, t), &self.device)?;
        let mask = Tensor::from_vec(mask, (b, t), &self.device)?;
        let hidden = self.backbone.forward(&ids, &mask)?;
        let mut x = self.folder.pooling.apply(&hidden, &mask)?;
        for (linear, tanh) in &self.dense {
            x = linear.forward(&x)?;
            if *tanh {
                x = x.tanh()?;
            }
        }
        // lvmkit's concepts are unit vectors whether or not the folder has a Normalize module:
        // every later stage (cosine losses, retrieval by dot product) relies on it.
        let x = l2_normalize(&x)?;
        Ok(x.flatten_all()?.to_vec1()?)
    }
}

fn encode_batch(tokenizer: &Tokenizer, texts: &[String]) -> Result<Vec<tokenizers::Encoding>> {
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    tokenizer
        .encode_batch(texts, true)
        .map_err(|e| anyhow::anyhow!("tokenisation failed: {e}"))
}

/// A progress bar on stderr, or a hidden one (indicatif also hides it when stderr is not a
/// terminal).
pub fn progress_bar(len: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "encoding {bar:30.cyan/blue} {pos}/{len} sentences  {per_sec}  eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}

/// Default padded-token budget per batch (`LVMKIT_BATCH_TOKENS` overrides it for experiments).
fn token_budget() -> usize {
    std::env::var("LVMKIT_BATCH_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

/// Groups text indices into batches of texts of exactly equal token length, longest first,
/// each with at most `batch_size` texts and `max_tokens` tokens (a single text may exceed the
/// budget).
///
/// Never padded, for two reasons: a text's embedding must have the same bits whatever texts
/// share its batch (padding changes the width that attention's reductions run over, and so
/// the last bits; the number of rows does not), so that the cache, a sharded job's merge and a
/// single process agree byte for byte (`tests/batch_invariance.rs`); and candle's T5 encoder
/// takes no attention mask.
fn plan_batches(ids: &[Vec<u32>], batch_size: usize, max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match batches.last_mut() {
            Some(cur)
                if cur.len() < batch_size
                    && (cur.len() + 1) * ids[cur[0]].len() <= max_tokens
                    && ids[cur[0]].len() == ids[i].len() =>
            {
                cur.push(i)
            }
            _ => batches.push(vec![i]),
        }
    }
    batches
}

fn fingerprint(folder: &StFolder) -> Result<String> {
    let mut h = Sha256::new();
    for f in folder.defining_files() {
        let digest = lvmkit_io::hash::sha256_file(&f)?;
        h.update(f.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(digest.as_bytes());
    }
    h.update(format!(
        "pooling={:?};max_seq_length={};normalize=always",
        folder.pooling, folder.max_seq_length
    ));
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_sorted_by_length_and_never_padded() {
        let ids: Vec<Vec<u32>> = [3, 5, 3, 4, 5, 3].iter().map(|&n| vec![1; n]).collect();
        let b = plan_batches(&ids, 2, 100);
        assert_eq!(b.iter().map(|x| x.len()).sum::<usize>(), 6);
        assert_eq!(b, vec![vec![1, 4], vec![3], vec![0, 2], vec![5]]);
        // the token budget splits batches of long texts: 2 × 5 tokens > 9
        assert!(plan_batches(&ids, 10, 9)
            .iter()
            .all(|b| b.len() * ids[b[0]].len() <= 9 || b.len() == 1));
        let b = plan_batches(&ids, 10, 100);
        for batch in &b {
            assert!(batch.iter().all(|&i| ids[i].len() == ids[batch[0]].len()));
        }
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn counting_tokenisation_gives_the_cutting_tokenizers_ids() {
        let data = lvmkit_sources::fetched(&[lvmkit_sources::DEFAULT_ENCODER]);
        let enc = SentenceEncoder::load(&data.default_encoder()).unwrap();
        let long = |n: usize| vec!["word"; n].join(" ");
        let texts: Vec<String> = vec![
            "Whole.".into(),
            long(600),
            String::new(),
            long(254),
            long(255),
            "naïve café, 東京 — ünïcödé".into(),
        ];
        let (ids, counts) = enc.tokenize_counting(&texts).unwrap();
        assert_eq!(ids, enc.tokenize(&texts).unwrap());
        assert_eq!(counts, enc.token_counts(&texts).unwrap());
        assert_eq!(counts[1..5], [602, 2, 256, 257]);
    }
}
