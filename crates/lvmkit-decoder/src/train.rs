//! `lvmkit decoder train`: the decoder learns to write each train sentence back from its cached
//! vector (teacher forcing, cross-entropy per token), with lvmkit's optimiser and schedule,
//! checkpoints that resume bit for bit, a progress bar and a history.

use crate::config::{DecoderRunConfig, DecoderTrainConfig, DECODER_RUN_FORMAT};
use crate::run::DecoderRun;
use crate::vocab::{Vocab, PAD};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use lvmkit_dataset::Dataset;
use lvmkit_models::decoder::VectorDecoder;
use lvmkit_models::nn::{Mode, ParamStore};
use lvmkit_models::Checkpoint;
use lvmkit_train::optim::AdamW;
use lvmkit_train::run::DataRef;
use lvmkit_train::{RunStatus, TrainOptions};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// One validation of `history.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderEval {
    /// Optimiser steps done.
    pub step: u64,
    /// Train sentences read so far (a sentence read twice counts twice).
    pub sentences: u64,
    pub epoch: f64,
    /// Mean of the steps' losses (each a mean per token of its batch) since the previous
    /// validation.
    pub train_loss: f64,
    /// Mean loss per token on the val sentences (teacher-forced).
    pub val_loss: f64,
    pub lr: f64,
    /// Training seconds so far, over every session of the run (validation excluded).
    pub train_seconds: f64,
    /// Train sentences per second since the previous validation.
    pub sentences_per_s: f64,
    pub grad_norm: f64,
}

/// `history.json` of a decoder run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DecoderHistory {
    pub evals: Vec<DecoderEval>,
    /// Val loss of the untrained decoder.
    pub initial_val_loss: f64,
    /// Step of best.safetensors (0 = untrained).
    pub best_step: u64,
    pub best_val_loss: f64,
    pub status: RunStatus,
    pub total_steps: u64,
}

/// What last.safetensors remembers so `--resume` continues exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    step: u64,
    history: DecoderHistory,
}

pub struct DecoderTrainOutcome {
    pub config: DecoderRunConfig,
    pub history: DecoderHistory,
    pub finished: bool,
}

/// The sentences a run learns from: token ids (cut to `max_tokens`) and the dataset row of
/// each one's vector.
struct Sentences {
    rows: Vec<usize>,
    ids: Vec<Vec<u32>>,
}

impl Sentences {
    fn new(rows: Vec<usize>, texts: &[String], vocab: &Vocab, max_tokens: usize) -> Result<Self> {
        let ids = rows
            .iter()
            .map(|&r| {
                let mut ids = vocab.encode(&texts[r])?;
                ids.truncate(max_tokens);
                Ok(ids)
            })
            .collect::<Result<_>>()?;
        Ok(Self { rows, ids })
    }

    fn vectors(&self, ds: &Dataset, batch: &[usize]) -> Result<Tensor> {
        vectors_of(ds, batch.iter().map(|&i| self.rows[i]))
    }
}

/// The dataset's vectors of `rows` as a [n, D] tensor.
pub fn vectors_of(ds: &Dataset, rows: impl Iterator<Item = usize>) -> Result<Tensor> {
    let mut v = Vec::new();
    let mut n = 0;
    for r in rows {
        v.extend_from_slice(ds.concepts.row(r));
        n += 1;
    }
    Ok(Tensor::from_vec(v, (n, ds.dim()), &Device::Cpu)?)
}

/// Concept rows of the documents of `split`, in dataset order.
pub fn split_rows(ds: &Dataset, split: &str) -> Vec<usize> {
    ds.documents
        .iter()
        .filter(|d| d.split == split)
        .flat_map(|d| d.start..d.start + d.len)
        .collect()
}

/// The train rows a run learns from: every one, or `max` of them drawn as whole documents in
/// a seeded order (the last cut), returned in dataset order.
fn train_rows(ds: &Dataset, max: usize, seed: u64) -> Vec<usize> {
    let all = split_rows(ds, "train");
    if max == 0 || all.len() <= max {
        return all;
    }
    let mut docs: Vec<(usize, usize)> = ds
        .documents
        .iter()
        .filter(|d| d.split == "train")
        .map(|d| (d.start, d.len))
        .collect();
    docs.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut rows: Vec<usize> = docs
        .into_iter()
        .flat_map(|(s, l)| s..s + l)
        .take(max)
        .collect();
    rows.sort_unstable();
    rows
}

/// `n` items spread evenly over `rows` (all of them when there are fewer).
pub fn spread<T: Copy>(rows: &[T], n: usize) -> Vec<T> {
    if rows.len() <= n {
        return rows.to_vec();
    }
    (0..n).map(|i| rows[i * rows.len() / n]).collect()
}

fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Sentences per length-sorted pool: batches are cut from pools of this many batches, so a
/// batch holds sentences of similar length (less padding) and batches still come in random
/// order.
const POOL_BATCHES: usize = 50;

/// The batches of `epoch` (0-based), as indices into the sentences: a seeded shuffle, pools
/// sorted by length, batches shuffled. The same for any session, so a resumed run reads what
/// an uninterrupted one would.
fn epoch_batches(s: &Sentences, cfg: &DecoderTrainConfig, epoch: u64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..s.ids.len()).collect();
    order.shuffle(&mut stream(cfg.seed, 2 * epoch));
    let mut batches = Vec::new();
    for pool in order.chunks(cfg.batch_size * POOL_BATCHES) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| (s.ids[i].len(), i));
        batches.extend(pool.chunks(cfg.batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(&mut stream(cfg.seed, 2 * epoch + 1));
    batches
}

/// Train (or resume) a decoder run in `out` on the train sentences of `ds`, with the options
/// every lvmkit trainer takes (`opts.stop_after` counts validations, the decoder's checkpoints).
pub fn train_decoder(
    ds: &Dataset,
    cfg: &DecoderTrainConfig,
    out: &Path,
    opts: &TrainOptions,
) -> Result<DecoderTrainOutcome> {
    let run = DecoderRun::new(out);
    let _lock = run.lock()?;
    let texts = ds.concept_texts()?;
    let (run_cfg, vocab, dec, ps, mut opt, mut state) = if opts.resume {
        resume(ds, &run)?
    } else {
        start(ds, cfg, &texts, &run, opts.force)?
    };
    let cfg = &run_cfg.train;
    if state.history.status.is_finished() {
        tracing::info!(
            "decoder run {} is already {}",
            out.display(),
            state.history.status
        );
        return Ok(DecoderTrainOutcome {
            config: run_cfg,
            history: state.history,
            finished: true,
        });
    }
    let train = Sentences::new(
        train_rows(ds, cfg.max_sentences, cfg.seed),
        &texts,
        &vocab,
        cfg.max_tokens,
    )?;
    let val = Sentences::new(
        spread(&split_rows(ds, "val"), cfg.val_sentences),
        &texts,
        &vocab,
        cfg.max_tokens,
    )?;
    let steps_per_epoch = epoch_batches(&train, cfg, 0).len() as u64;
    let total = steps_per_epoch * cfg.epochs as u64;
    state.history.total_steps = total;
    tracing::info!(
        "training a decoder ({} parameters, {} tokens) on {} train sentences, {} epoch(s) × {} \
         steps; val loss on {} val sentences every {} steps",
        run_cfg.params,
        vocab.size(),
        train.ids.len(),
        cfg.epochs,
        steps_per_epoch,
        val.ids.len(),
        cfg.eval_every
    );
    if state.step == 0 {
        let v = val_loss(&dec, ds, &val, cfg.batch_size)?;
        tracing::info!("step 0 (untrained): val loss {v:.4}");
        state.history.initial_val_loss = v;
        state.history.best_step = 0;
        state.history.best_val_loss = v;
        write_weights(&run.best_path(), &ps, &run_cfg, &[], &meta_of(0, v))?;
    }

    let bar = progress_bar(opts.progress, total, state.step);
    let mut since = Since::default();
    let mut session_evals = 0;
    let mut epoch = state.step / steps_per_epoch;
    let mut batches = epoch_batches(&train, cfg, epoch);
    while state.step < total {
        if state.step / steps_per_epoch != epoch {
            epoch = state.step / steps_per_epoch;
            batches = epoch_batches(&train, cfg, epoch);
        }
        let batch = &batches[(state.step % steps_per_epoch) as usize];
        let started = Instant::now();
        let ids: Vec<Vec<u32>> = batch.iter().map(|&i| train.ids[i].clone()).collect();
        let mut rng = stream(cfg.seed, (1 << 40) + state.step);
        let loss = dec.loss(
            &train.vectors(ds, batch)?,
            &ids,
            PAD,
            &mut Mode::Train(&mut rng),
        )?;
        let value = loss.to_scalar::<f32>()? as f64;
        if !value.is_finite() {
            bar.abandon();
            bail!(
                "the loss became {value} at step {}; training stopped. The last checkpoint is \
                 in {}: try a lower learning rate",
                state.step + 1,
                run.dir.display()
            );
        }
        let grads = loss.backward()?;
        let lr = cfg.schedule.lr(cfg.optimizer.lr, state.step, total, 1.0);
        let norm = opt.step(&grads, lr, cfg.clip)?;
        state.step += 1;
        since.add(batch.len(), value, norm, started.elapsed().as_secs_f64());
        bar.inc(1);
        if state.step % 5 == 0 {
            bar.set_message(format!("loss {:.3}", since.loss / since.steps as f64));
        }
        if state.step % cfg.eval_every as u64 == 0 || state.step == total {
            let v = val_loss(&dec, ds, &val, cfg.batch_size)?;
            let previous = state.history.evals.last();
            let record = DecoderEval {
                step: state.step,
                sentences: previous.map_or(0, |p| p.sentences) + since.sentences as u64,
                epoch: state.step as f64 / steps_per_epoch as f64,
                train_loss: since.loss / since.steps as f64,
                val_loss: v,
                lr,
                train_seconds: previous.map_or(0.0, |p| p.train_seconds) + since.seconds,
                sentences_per_s: since.sentences as f64 / since.seconds.max(1e-9),
                grad_norm: since.grad_norm / since.steps as f64,
            };
            bar.suspend(|| {
                tracing::info!(
                    "step {}/{total} (epoch {:.2}): train loss {:.4} | val loss {:.4} | lr {:.2e} | {:.1} sentences/s",
                    record.step,
                    record.epoch,
                    record.train_loss,
                    record.val_loss,
                    record.lr,
                    record.sentences_per_s
                )
            });
            state.history.evals.push(record);
            since = Since::default();
            if v < state.history.best_val_loss {
                state.history.best_step = state.step;
                state.history.best_val_loss = v;
                write_weights(
                    &run.best_path(),
                    &ps,
                    &run_cfg,
                    &[],
                    &meta_of(state.step, v),
                )?;
            }
            if state.step == total {
                state.history.status = RunStatus::Completed;
            }
            let meta = BTreeMap::from([
                ("trainer_state".to_string(), serde_json::to_string(&state)?),
                ("step".to_string(), state.step.to_string()),
            ]);
            write_weights(&run.last_path(), &ps, &run_cfg, &opt.state()?, &meta)?;
            lvmkit_io::atomic::write_json_atomic(&run.history_path(), &state.history)?;
            session_evals += 1;
            if opts.stop_after == Some(session_evals) && state.step < total {
                bar.abandon();
                return Ok(DecoderTrainOutcome {
                    config: run_cfg,
                    history: state.history,
                    finished: false,
                });
            }
        }
    }
    bar.finish_and_clear();
    Ok(DecoderTrainOutcome {
        config: run_cfg,
        history: state.history,
        finished: true,
    })
}

/// Sums since the last validation.
#[derive(Default)]
struct Since {
    steps: usize,
    sentences: usize,
    loss: f64,
    grad_norm: f64,
    seconds: f64,
}

impl Since {
    fn add(&mut self, n: usize, loss: f64, grad_norm: f64, seconds: f64) {
        self.steps += 1;
        self.sentences += n;
        self.loss += loss;
        self.grad_norm += grad_norm;
        self.seconds += seconds;
    }
}

fn meta_of(step: u64, val_loss: f64) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("step".to_string(), step.to_string()),
        ("val_loss".to_string(), val_loss.to_string()),
    ])
}

fn write_weights(
    path: &Path,
    ps: &ParamStore,
    run_cfg: &DecoderRunConfig,
    extra: &[(String, Tensor)],
    meta: &BTreeMap<String, String>,
) -> Result<()> {
    let mut meta = meta.clone();
    meta.insert("dataset".into(), run_cfg.data.manifest_hash.clone());
    Checkpoint::write_vars(
        path,
        ps.vars(),
        &serde_json::to_string(&run_cfg.decoder)?,
        extra,
        &meta,
    )
}

/// Mean loss per token of `s`, teacher-forced, in evaluation mode.
fn val_loss(dec: &VectorDecoder, ds: &Dataset, s: &Sentences, batch: usize) -> Result<f64> {
    let (mut sum, mut tokens) = (0.0, 0usize);
    let all: Vec<usize> = (0..s.ids.len()).collect();
    for chunk in all.chunks(batch) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|&i| s.ids[i].clone()).collect();
        let n: usize = ids.iter().map(|i| i.len() - 1).sum();
        let loss = dec.loss(&s.vectors(ds, chunk)?, &ids, PAD, &mut Mode::Eval)?;
        sum += loss.to_scalar::<f32>()? as f64 * n as f64;
        tokens += n;
    }
    Ok(sum / tokens.max(1) as f64)
}

type Started = (
    DecoderRunConfig,
    Vocab,
    VectorDecoder,
    ParamStore,
    AdamW,
    TrainerState,
);

fn start(
    ds: &Dataset,
    cfg: &DecoderTrainConfig,
    texts: &[String],
    run: &DecoderRun,
    force: bool,
) -> Result<Started> {
    cfg.validate()?;
    let rows = train_rows(ds, cfg.max_sentences, cfg.seed);
    if rows.is_empty() {
        bail!(
            "dataset {} has no train sentences to train a decoder on",
            ds.dir.display()
        );
    }
    if split_rows(ds, "val").is_empty() {
        bail!(
            "dataset {} has no val sentences to choose the best decoder on",
            ds.dir.display()
        );
    }
    if run.has_trained() && !force {
        bail!(
            "{} already holds a decoder run; continue it with --resume, or replace it with --force",
            run.dir.display()
        );
    }
    let train_texts: Vec<String> = rows.iter().map(|&r| texts[r].clone()).collect();
    let started = Instant::now();
    let vocab = Vocab::train(&train_texts, cfg.vocab)?;
    tracing::info!(
        "vocabulary: {} tokens from {} train sentences in {:.1} s",
        vocab.size(),
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    let network = cfg.network(ds.dim(), vocab.size());
    let mut ps = ParamStore::new(cfg.seed, &Device::Cpu);
    let dec = VectorDecoder::new(&mut ps, &network)?;
    let run_cfg = DecoderRunConfig {
        format: DECODER_RUN_FORMAT.into(),
        decoder: network,
        params: ps.num_params(),
        train: cfg.clone(),
        data: DataRef::of(ds),
        train_sentences: rows.len(),
        vector_norm: (rows
            .iter()
            .map(|&r| {
                ds.concepts
                    .row(r)
                    .iter()
                    .map(|x| (x * x) as f64)
                    .sum::<f64>()
                    .sqrt()
            })
            .sum::<f64>()
            / rows.len() as f64) as f32,
        created_by: format!("lvmkit {}", env!("CARGO_PKG_VERSION")),
    };
    std::fs::create_dir_all(&run.dir)
        .with_context(|| format!("cannot create decoder run folder {}", run.dir.display()))?;
    let eval_dir = run.eval_dir();
    for stale in [run.best_path(), run.last_path(), run.history_path()] {
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }
    if eval_dir.exists() {
        std::fs::remove_dir_all(&eval_dir)
            .with_context(|| format!("cannot remove {}", eval_dir.display()))?;
    }
    vocab.save(&run.tokenizer_path())?;
    lvmkit_io::atomic::write_json_atomic(&run.config_path(), &run_cfg)?;
    let opt = AdamW::new(ps.vars(), cfg.optimizer.clone())?;
    let state = TrainerState {
        step: 0,
        history: DecoderHistory::default(),
    };
    Ok((run_cfg, vocab, dec, ps, opt, state))
}

fn resume(ds: &Dataset, run: &DecoderRun) -> Result<Started> {
    let run_cfg = run.read_config()?;
    if run_cfg.data.manifest_hash != ds.manifest.hash() {
        bail!(
            "decoder run {} was trained on another dataset (manifest {}…, at {}); {} has \
             manifest {}…. Resume with the same --data",
            run.dir.display(),
            &run_cfg.data.manifest_hash[..12.min(run_cfg.data.manifest_hash.len())],
            run_cfg.data.path,
            ds.dir.display(),
            &ds.manifest.hash()[..12]
        );
    }
    let vocab = run.vocab()?;
    let mut ps = ParamStore::new(run_cfg.train.seed, &Device::Cpu);
    let dec = VectorDecoder::new(&mut ps, &run_cfg.decoder)?;
    let mut opt = AdamW::new(ps.vars(), run_cfg.train.optimizer.clone())?;
    if !run.last_path().exists() {
        tracing::info!(
            "decoder run {} had reached no checkpoint: starting it from the beginning",
            run.dir.display()
        );
        let state = TrainerState {
            step: 0,
            history: DecoderHistory::default(),
        };
        return Ok((run_cfg, vocab, dec, ps, opt, state));
    }
    let ckpt = run.read_checkpoint(&run_cfg, &run.last_path())?;
    ckpt.assign_to(ps.vars(), "decoder")?;
    let state: TrainerState = serde_json::from_str(
        ckpt.metadata
            .get("trainer_state")
            .with_context(|| format!("{} has no trainer state", run.last_path().display()))?,
    )
    .with_context(|| format!("{}: unreadable trainer state", run.last_path().display()))?;
    opt.load_state(&ckpt.tensors, state.step)?;
    tracing::info!(
        "resuming decoder run {} at step {} (best val loss {:.4} at step {})",
        run.dir.display(),
        state.step,
        state.history.best_val_loss,
        state.history.best_step
    );
    Ok((run_cfg, vocab, dec, ps, opt, state))
}

fn progress_bar(show: bool, total: u64, done: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "decoder [{bar:30}] {pos}/{len} steps, {per_sec}, ETA {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(done);
    bar.reset_eta();
    bar
}
