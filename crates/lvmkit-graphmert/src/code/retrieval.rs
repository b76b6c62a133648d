//! `lvmkit graphmert code search-train`: GraphMERT's encoder fine-tuned for code search.
//!
//! MLM and MNM give the encoder no reason to put a doc sentence near its code (the
//! pretrained run's mean root states score MRR ≈ 0.01); CodeSearchNet-style models are
//! fine-tuned on (query, code) pairs. Here the pairs are the *training* modules' own
//! ([`CodeData::search_task`] on the training part: a doc's first sentence and the function's
//! code without its doc), the objective the usual one for dual encoders: in-batch negatives,
//! a symmetric cross-entropy over the batch's query × code cosine matrix divided by a
//! temperature. Both sides go through the same encoder (roots only, `[CLS] … [SEP]`, the
//! mean of its states). After each epoch the validation modules' search is scored; the epoch
//! with the best validation MRR is kept as RUN/search.safetensors (the held-out modules are
//! never looked at), and `code eval` ranks with it.

use super::data::SearchTask;
use super::run::CodeRun;
use super::split::Part;
use crate::inject::Vocab;
use crate::model::{GraphBatch, Graphmert};
use crate::search::{dense_ranks, SearchScores};
use anyhow::{bail, Context, Result};
use candle_core::{Tensor, D};
use lvmkit_models::nn::Mode;
use lvmkit_models::ops::{cross_entropy_rows, matmul};
use lvmkit_train::optim::{AdamW, AdamWConfig};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// The fine-tuned weights, beside the run's model.safetensors.
pub const WEIGHTS: &str = "search.safetensors";
/// Its record: settings and each epoch's loss and validation scores.
pub const RECORD: &str = "search.json";

/// `code search-train`'s settings (also its flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct SearchTrainSettings {
    /// Passes over the training modules' (query, code) pairs.
    #[arg(long, default_value_t = 6)]
    pub epochs: usize,
    /// Pairs per step (each query's negatives are the batch's other codes).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// AdamW's learning rate (constant).
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// Cosines are divided by this before the softmax.
    #[arg(long, default_value_t = 0.05)]
    pub temperature: f64,
    /// Roots each side is read with; the same weights read any number. 0: the run's (the
    /// default preset's 48 hold a function's first ~46 tokens of code; 128 scored no better
    /// on the validation modules: MRR 0.210 against 0.218 after 3 epochs).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub roots: usize,
    /// Seed of the pair order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl Default for SearchTrainSettings {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// One fine-tuning epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchEpoch {
    pub epoch: usize,
    pub loss: f64,
    pub val_mrr: f64,
    pub val_recall_at_1: f64,
    pub val_recall_at_10: f64,
    pub seconds: f64,
}

/// RUN/search.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchRecord {
    pub settings: SearchTrainSettings,
    pub pairs: usize,
    /// The validation modules' search before fine-tuning (epoch 0) and after each epoch.
    pub before: SearchScores,
    pub epochs: Vec<SearchEpoch>,
    /// The epoch kept (best validation MRR).
    pub kept: usize,
}

/// Each text's root tokens, `[CLS] … [SEP]` cut to the layout's roots.
fn root_tokens(vocab: &Vocab, roots: usize, texts: &[String]) -> Result<Vec<Vec<u32>>> {
    texts
        .iter()
        .map(|t| {
            let mut ids = vocab.tokens(t)?;
            ids.truncate(roots - 2);
            let mut out = Vec::with_capacity(ids.len() + 2);
            out.push(vocab.cls);
            out.extend(ids);
            out.push(vocab.sep);
            Ok(out)
        })
        .collect()
}

/// The batch of chain graphs whose roots are `seqs` (leaves empty).
fn root_batch(model: &Graphmert, vocab: &Vocab, seqs: &[&Vec<u32>]) -> GraphBatch {
    let n = model.config.layout.nodes();
    let mut tokens = Vec::with_capacity(seqs.len() * n);
    let mut attend = Vec::with_capacity(seqs.len() * n);
    for s in seqs {
        let mut tok = vec![vocab.pad; n];
        let mut att = vec![0f32; n];
        for (i, &t) in s.iter().enumerate() {
            tok[i] = t;
            att[i] = 1.0;
        }
        tokens.extend(tok);
        attend.extend(att);
    }
    GraphBatch {
        batch: seqs.len(),
        tokens,
        attend,
        triples: Vec::new(),
    }
}

/// Unit-length mean root states [B, d] of `seqs`, with gradients.
fn embed(model: &Graphmert, vocab: &Vocab, seqs: &[&Vec<u32>]) -> Result<Tensor> {
    let batch = root_batch(model, vocab, seqs);
    // Empty nodes' states are zeros, so the sum over all nodes is the sum over the roots.
    let hidden = model.encode(&batch, &mut Mode::Eval)?;
    let lens: Vec<f32> = seqs.iter().map(|s| s.len() as f32).collect();
    let lens = Tensor::from_vec(lens, (seqs.len(), 1), hidden.device())?;
    let mean = hidden.sum(1)?.broadcast_div(&lens)?;
    let norm = mean
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .affine(1.0, 1e-12)?
        .sqrt()?;
    Ok(mean.broadcast_div(&norm)?)
}

/// Mean root states of `texts` as rows (no gradients), for ranking.
pub fn represent(model: &Graphmert, vocab: &Vocab, texts: &[String]) -> Result<Vec<f32>> {
    let seqs = root_tokens(vocab, model.config.layout.roots, texts)?;
    let parts: Vec<Result<Vec<f32>>> = seqs
        .par_chunks(32)
        .map(|chunk| {
            let refs: Vec<&Vec<u32>> = chunk.iter().collect();
            Ok(embed(model, vocab, &refs)?
                .detach()
                .flatten_all()?
                .to_vec1()?)
        })
        .collect();
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Scores `model` on a search task (cosine of the representations).
pub fn search_scores(model: &Graphmert, vocab: &Vocab, task: &SearchTask) -> Result<SearchScores> {
    let q = represent(model, vocab, &task.queries)?;
    let docs = represent(model, vocab, &task.documents)?;
    let ranks = dense_ranks(&q, &docs, model.config.hidden, &task.right);
    Ok(SearchScores::from_ranks(&ranks, task.documents.len()))
}

/// Fine-tunes the run's encoder for code search (see the module doc); writes
/// RUN/search.safetensors and RUN/search.json. `report` sees each epoch as it ends.
pub fn train(
    data_dir: &lvmkit_sources::DataDir,
    run_dir: &Path,
    s: &SearchTrainSettings,
    progress: bool,
    mut report: impl FnMut(&SearchEpoch),
) -> Result<SearchRecord> {
    if s.epochs == 0 {
        bail!("--epochs: at least 1");
    }
    if s.batch_size < 2 {
        bail!(
            "--batch-size: in-batch negatives need at least 2 pairs, got {}",
            s.batch_size
        );
    }
    if s.temperature <= 0.0 || !s.temperature.is_finite() {
        bail!(
            "--temperature: must be a positive number, got {}",
            s.temperature
        );
    }
    let _lock = lvmkit_io::OutputLock::acquire(run_dir, "GraphMERT code run")?;
    let run = CodeRun::open(data_dir, run_dir)?;
    if s.roots != 0 && s.roots < 8 {
        bail!("--roots: at least 8, got {}", s.roots);
    }
    let (model, _, ps) = crate::train::load_run_params(
        run_dir,
        "model.safetensors",
        (s.roots > 0).then_some(s.roots),
    )?;
    let vocab = &run.corpus.vocab;
    let roots = model.config.layout.roots;
    let train_task = run.data.search_task(Part::Train)?;
    let val_task = run.data.search_task(Part::Val)?;
    if train_task.queries.len() < s.batch_size {
        bail!(
            "the training modules have {} (doc sentence, code) pairs, fewer than one batch of {}",
            train_task.queries.len(),
            s.batch_size
        );
    }
    if val_task.queries.is_empty() {
        bail!("the validation modules have no doc sentence to search with");
    }
    let queries = root_tokens(vocab, roots, &train_task.queries)?;
    let codes = root_tokens(vocab, roots, &train_task.documents)?;
    let pairs: Vec<(usize, usize)> = train_task.right.iter().copied().enumerate().collect();
    let mut opt = AdamW::new(
        ps.vars(),
        AdamWConfig {
            lr: s.lr,
            ..Default::default()
        },
    )?;
    let before = search_scores(&model, vocab, &val_task)?;
    tracing::info!(
        "{} training pairs; validation MRR before fine-tuning {:.4}",
        pairs.len(),
        before.mrr
    );
    let mut best: Option<(f64, usize, std::collections::HashMap<String, Tensor>)> = None;
    let mut epochs = Vec::new();
    for epoch in 1..=s.epochs {
        let started = Instant::now();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed ^ epoch as u64);
        let mut order = pairs.clone();
        order.shuffle(&mut rng);
        let steps = order.len() / s.batch_size;
        let bar = crate::train::progress_bar(progress, steps as u64, epoch, s.epochs);
        let mut loss_sum = 0.0;
        // Whole batches only: a last batch of one pair has no negative.
        for chunk in order.chunks_exact(s.batch_size) {
            let q: Vec<&Vec<u32>> = chunk.iter().map(|&(qi, _)| &queries[qi]).collect();
            let c: Vec<&Vec<u32>> = chunk.iter().map(|&(_, di)| &codes[di]).collect();
            let eq = embed(&model, vocab, &q)?;
            let ec = embed(&model, vocab, &c)?;
            let sims = (matmul(&eq, &ec.t()?.contiguous()?)? / s.temperature)?;
            let right: Vec<u32> = (0..chunk.len() as u32).collect();
            let loss = ((cross_entropy_rows(&sims, &right)?.mean_all()?
                + cross_entropy_rows(&sims.t()?.contiguous()?, &right)?.mean_all()?)?
                / 2.0)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            let grads = loss.backward()?;
            opt.step(&grads, s.lr, 1.0)?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        let val = search_scores(&model, vocab, &val_task)?;
        let e = SearchEpoch {
            epoch,
            loss: loss_sum / steps.max(1) as f64,
            val_mrr: val.mrr,
            val_recall_at_1: val.recall_at_1,
            val_recall_at_10: val.recall_at_10,
            seconds: started.elapsed().as_secs_f64(),
        };
        report(&e);
        if best.as_ref().is_none_or(|b| val.mrr > b.0) {
            best = Some((val.mrr, epoch, crate::train::snapshot(&ps)?));
        }
        epochs.push(e);
    }
    let (_, kept, weights) = best.expect("at least one epoch");
    crate::train::save_tensors(&weights, &run_dir.join(WEIGHTS))?;
    let record = SearchRecord {
        settings: s.clone(),
        pairs: pairs.len(),
        before,
        epochs,
        kept,
    };
    lvmkit_io::write_json_atomic(&run_dir.join(RECORD), &record)?;
    Ok(record)
}

/// The run's search-tuned encoder, when `code search-train` made one, with the roots it was
/// tuned with.
pub fn load(run_dir: &Path) -> Result<Option<Graphmert>> {
    if !run_dir.join(WEIGHTS).exists() {
        return Ok(None);
    }
    let path = run_dir.join(RECORD);
    let record: SearchRecord = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("{} is missing beside {WEIGHTS}", path.display()))?,
    )
    .with_context(|| format!("{} is damaged", path.display()))?;
    let roots = record.settings.roots;
    let (model, _, _) =
        crate::train::load_run_params(run_dir, WEIGHTS, (roots > 0).then_some(roots))?;
    Ok(Some(model))
}
