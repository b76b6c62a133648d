//! The training loop.

use crate::batch::gather;
use crate::optim::AdamW;
use crate::run::{check_compatible, DataRef, RunConfig, RunDir, RUN_FORMAT};
use crate::TrainConfig;
use anyhow::{bail, Context, Result};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};
use lvmkit_dataset::{Dataset, Window};
use lvmkit_models::{Checkpoint, Mode, Model, ModelConfig, Skip};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Loss and cosine over one pass, with each loss component (unweighted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PassStats {
    pub loss: f64,
    pub cosine: f64,
    pub components: BTreeMap<String, f64>,
}

/// One epoch of `history.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_cosine: f64,
    pub val_loss: f64,
    pub val_cosine: f64,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    pub seconds: f64,
    /// Training samples per second (the training pass only, not validation).
    pub samples_per_s: f64,
    pub train_components: BTreeMap<String, f64>,
    pub val_components: BTreeMap<String, f64>,
    /// Global gradient norm before clipping, mean over the epoch's steps.
    pub grad_norm: f64,
}

/// Where a training run stands (`history.json`'s "status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Epochs are left: `--resume` continues it.
    #[default]
    Running,
    /// Every epoch ran.
    Completed,
    /// Stopped by early stopping (`patience`).
    EarlyStopped,
}

impl RunStatus {
    /// Whether the run will train no more.
    pub fn is_finished(self) -> bool {
        self != RunStatus::Running
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::EarlyStopped => "early-stopped",
        })
    }
}

/// `history.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    /// Val cosine of the model before its first step (its skip path's base, if it has one):
    /// the best checkpoint starts as this state, so training can only improve on it.
    #[serde(default)]
    pub initial_val_cosine: Option<f64>,
    /// Epoch of the best checkpoint; 0 = the initial state.
    pub best_epoch: usize,
    pub best_val_cosine: f64,
    pub status: RunStatus,
}

/// What a checkpoint must remember for `--resume` to continue exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    /// Epochs finished.
    epoch: usize,
    optimizer_step: u64,
    epochs_without_improvement: usize,
    plateau_scale: f64,
    plateau_bad_epochs: usize,
    plateau_best: f64,
    history: History,
}

impl TrainerState {
    fn fresh() -> Self {
        TrainerState {
            epoch: 0,
            optimizer_step: 0,
            epochs_without_improvement: 0,
            plateau_scale: 1.0,
            plateau_bad_epochs: 0,
            plateau_best: f64::NEG_INFINITY,
            history: History::default(),
        }
    }
}

pub struct TrainOptions {
    pub progress: bool,
    /// Continue the run in the output folder instead of starting one.
    pub resume: bool,
    /// Replace an existing run in the output folder.
    pub force: bool,
    /// Stop (as if killed) after this many epochs of this session (validations, for the
    /// inversion decoder, whose checkpoints come every `eval_every` steps): for resume tests.
    pub stop_after: Option<usize>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            progress: true,
            resume: false,
            force: false,
            stop_after: None,
        }
    }
}

pub struct TrainOutcome {
    pub config: RunConfig,
    pub history: History,
    /// False when `stop_after` interrupted the run.
    pub finished: bool,
}

/// Train (or resume) a run in `out` on dataset `ds`.
pub fn train(
    ds: &Dataset,
    cfg: &TrainConfig,
    out: &Path,
    opts: &TrainOptions,
) -> Result<TrainOutcome> {
    let run = RunDir::new(out);
    // Held until the run is saved; the check for a run already there is made under it.
    let _lock = run.lock()?;
    let device = Device::Cpu;
    let (run_cfg, model, mut opt, mut state) = if opts.resume {
        resume(ds, &run)?
    } else {
        start(ds, cfg, &run, opts.force, &device)?
    };
    let cfg = &run_cfg.train;
    if state.history.status.is_finished() {
        tracing::info!("run {} is already {}", out.display(), state.history.status);
        return Ok(TrainOutcome {
            config: run_cfg,
            history: state.history,
            finished: true,
        });
    }

    let train_windows = sample_windows(ds, non_empty_windows(ds, "train")?, cfg)?;
    let val_windows = non_empty_windows(ds, "val")?;
    let steps_per_epoch = train_windows.len().div_ceil(cfg.batch_size) as u64;
    let total_steps = steps_per_epoch * cfg.epochs as u64;
    tracing::info!(
        "training {} ({} parameters) on {} train / {} val windows, {} epochs × {} steps",
        run_cfg.model.arch.name(),
        run_cfg.params,
        train_windows.len(),
        val_windows.len(),
        cfg.epochs,
        steps_per_epoch
    );

    if state.epoch == 0 && state.history.initial_val_cosine.is_none() {
        // Epoch 0: the untrained model is a candidate like every epoch after it.
        let val = evaluate(&model, ds, &val_windows, cfg)?;
        tracing::info!("epoch 0 (before training): val cosine {:.4}", val.cosine);
        state.history.initial_val_cosine = Some(val.cosine);
        state.history.best_epoch = 0;
        state.history.best_val_cosine = val.cosine;
        write_best(&run, &model, 0, val.cosine, &run_cfg)?;
    }

    let mut session_epochs = 0;
    while state.epoch < cfg.epochs {
        let epoch = state.epoch + 1;
        let started = Instant::now();
        let bar = progress_bar(opts.progress, train_windows.len(), epoch, cfg.epochs);

        // Per-epoch streams: a resumed run draws exactly what an uninterrupted one would.
        let mut order = train_windows.clone();
        order.shuffle(&mut stream(cfg.seed, 2 * epoch as u64));
        let mut dropout_rng = stream(cfg.seed, 2 * epoch as u64 + 1);
        let mut cut_rng = stream(cfg.seed, (1 << 32) + epoch as u64);

        let mut sums = Sums::default();
        let mut grad_norm_sum = 0.0;
        let mut lr = 0.0;
        for (i, chunk) in order.chunks(cfg.batch_size).enumerate() {
            let mut b = gather(ds, chunk, &device)?;
            if cfg.short_contexts > 0.0 {
                b.mask = short_context_mask(
                    chunk.len(),
                    ds.context(),
                    cfg.short_contexts,
                    &mut cut_rng,
                    &device,
                )?;
            }
            let pred = model.forward(&b.contexts, &b.mask, &mut Mode::Train(&mut dropout_rng))?;
            let loss = cfg.loss.compute(&pred, &b.targets)?;
            let loss_value = loss.total.to_scalar::<f32>()? as f64;
            if !loss_value.is_finite() {
                bar.abandon();
                bail!(
                    "the loss became {loss_value} at epoch {epoch}, step {} (lr {lr:.3e}); training \
                     stopped. {} Try a lower --lr, or --clip if it is off.",
                    i + 1,
                    last_good(&run, state.epoch)
                );
            }
            let grads = loss.total.backward()?;
            lr = cfg
                .schedule
                .lr(cfg.optimizer.lr, opt.step, total_steps, state.plateau_scale);
            grad_norm_sum += opt.step(&grads, lr, cfg.clip)?;

            let cos = batch_cosine(&pred, &b.targets)?;
            sums.add(chunk.len(), loss_value, cos, &loss.components)?;
            bar.inc(chunk.len() as u64);
            if i % 10 == 0 {
                bar.set_message(format!(
                    "loss {:.4} cos {:.4}",
                    sums.mean_loss(),
                    sums.mean_cos()
                ));
            }
        }
        let train_seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let train_stats = sums.finish();
        let val = evaluate(&model, ds, &val_windows, cfg)?;
        if !val.loss.is_finite() {
            bail!(
                "the validation loss became {} at epoch {epoch}; training stopped. {}",
                val.loss,
                last_good(&run, state.epoch)
            );
        }

        let record = EpochRecord {
            epoch,
            train_loss: train_stats.loss,
            train_cosine: train_stats.cosine,
            val_loss: val.loss,
            val_cosine: val.cosine,
            lr,
            seconds: started.elapsed().as_secs_f64(),
            samples_per_s: train_windows.len() as f64 / train_seconds,
            train_components: train_stats.components,
            val_components: val.components,
            grad_norm: grad_norm_sum / steps_per_epoch as f64,
        };
        tracing::info!(
            "epoch {epoch}/{}: train loss {:.4} cos {:.4} | val loss {:.4} cos {:.4} | lr {:.2e} | {:.0} samples/s",
            cfg.epochs,
            record.train_loss,
            record.train_cosine,
            record.val_loss,
            record.val_cosine,
            record.lr,
            record.samples_per_s
        );
        state.history.epochs.push(record);
        state.epoch = epoch;
        state.optimizer_step = opt.step;

        // A run from before epoch 0 was recorded has no best yet after its first epoch.
        let no_best = state.history.best_epoch == 0 && state.history.initial_val_cosine.is_none();
        if no_best || val.cosine > state.history.best_val_cosine {
            state.history.best_epoch = epoch;
            state.history.best_val_cosine = val.cosine;
            state.epochs_without_improvement = 0;
            write_best(&run, &model, epoch, val.cosine, &run_cfg)?;
        } else {
            state.epochs_without_improvement += 1;
        }
        if val.cosine > state.plateau_best {
            state.plateau_best = val.cosine;
            state.plateau_bad_epochs = 0;
        } else {
            state.plateau_bad_epochs += 1;
            if state.plateau_bad_epochs > cfg.schedule.plateau_patience {
                state.plateau_scale *= cfg.schedule.plateau_factor;
                state.plateau_bad_epochs = 0;
            }
        }
        if cfg.patience > 0 && state.epochs_without_improvement >= cfg.patience {
            tracing::info!(
                "early stop: val cosine has not improved for {} epochs (best {:.4} at epoch {})",
                cfg.patience,
                state.history.best_val_cosine,
                state.history.best_epoch
            );
            state.history.status = RunStatus::EarlyStopped;
        } else if epoch == cfg.epochs {
            state.history.status = RunStatus::Completed;
        }
        save_last(&run, &model, &opt, &state)?;

        session_epochs += 1;
        if state.history.status.is_finished() {
            break;
        }
        if opts.stop_after == Some(session_epochs) {
            return Ok(TrainOutcome {
                config: run_cfg,
                history: state.history,
                finished: false,
            });
        }
    }
    Ok(TrainOutcome {
        config: run_cfg,
        history: state.history,
        finished: true,
    })
}

fn write_best(
    run: &RunDir,
    model: &Model,
    epoch: usize,
    val_cosine: f64,
    run_cfg: &RunConfig,
) -> Result<()> {
    let meta = BTreeMap::from([
        ("epoch".to_string(), epoch.to_string()),
        ("val_cosine".to_string(), val_cosine.to_string()),
        ("dataset".to_string(), run_cfg.data.manifest_hash.clone()),
    ]);
    Checkpoint::write(&run.best_path(), model, &[], &meta)
}

/// A [B, C] mask that cuts each window's context, with probability `share`, to its last
/// 1…C−1 concepts (uniform); the rest keep all C.
fn short_context_mask(
    b: usize,
    c: usize,
    share: f64,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<candle_core::Tensor> {
    use rand::Rng;
    let mut mask = vec![1f32; b * c];
    if c > 1 {
        for row in mask.chunks_mut(c) {
            if rng.gen::<f64>() < share {
                let keep = rng.gen_range(1..c);
                row[..c - keep].fill(0.0);
            }
        }
    }
    Ok(candle_core::Tensor::from_vec(mask, (b, c), device)?)
}

fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The `max_train_windows` budget: documents in a seeded order, the last one cut to fit
/// ([`lvmkit_eval::nested_train_subset`], the learning curves' subsets), kept in dataset order.
fn sample_windows(ds: &Dataset, windows: Vec<Window>, cfg: &TrainConfig) -> Result<Vec<Window>> {
    let max = cfg.max_train_windows;
    if max == 0 || windows.len() <= max {
        return Ok(windows);
    }
    lvmkit_eval::nested_train_subset(ds, max, cfg.seed)
}

fn non_empty_windows(ds: &Dataset, split: &str) -> Result<Vec<Window>> {
    let w = ds.windows(split)?;
    if w.is_empty() {
        bail!(
            "split '{split}' of dataset {} has no windows (documents shorter than context + 1?)",
            ds.dir.display()
        );
    }
    Ok(w)
}

fn last_good(run: &RunDir, epochs_done: usize) -> String {
    if epochs_done == 0 {
        "No epoch had finished (best.safetensors is the untrained model of epoch 0); the next \
         `lvmkit train` on this folder replaces the run without --force."
            .into()
    } else {
        format!(
            "The last good checkpoint (epoch {epochs_done}) is kept in {}.",
            run.last_path().display()
        )
    }
}

fn batch_cosine(pred: &candle_core::Tensor, target: &candle_core::Tensor) -> Result<f64> {
    Ok(crate::loss::mean_cosine(pred, target)?.to_scalar::<f32>()? as f64)
}

fn start(
    ds: &Dataset,
    cfg: &TrainConfig,
    run: &RunDir,
    force: bool,
    device: &Device,
) -> Result<(RunConfig, Model, AdamW, TrainerState)> {
    cfg.validate()?;
    // A dataset no run can train on is refused before the folder is made.
    non_empty_windows(ds, "train")?;
    non_empty_windows(ds, "val")?;
    if run.has_trained() && !force {
        bail!(
            "{} already holds a training run; continue it with --resume, or replace it with --force",
            run.dir.display()
        );
    }
    if run.exists() && !force {
        tracing::info!(
            "replacing the run in {}: no epoch of it had finished",
            run.dir.display()
        );
    }
    let model_cfg = ModelConfig {
        dim: ds.dim(),
        context: ds.context(),
        arch: cfg.model.clone(),
        skip: cfg.skip,
    };
    let model = Model::new(&model_cfg, cfg.seed, device)?;
    init_skip(ds, cfg, &model)?;
    let run_cfg = RunConfig {
        format: RUN_FORMAT.into(),
        model: model_cfg,
        params: model.num_params(),
        train: cfg.clone(),
        data: DataRef::of(ds),
        created_by: format!("lvmkit {}", env!("CARGO_PKG_VERSION")),
    };
    std::fs::create_dir_all(&run.dir)
        .with_context(|| format!("cannot create run folder {}", run.dir.display()))?;
    for stale in [run.best_path(), run.last_path(), run.history_path()] {
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }
    // Evaluations of the replaced run would describe weights that no longer exist.
    let eval_dir = run.dir.join("eval");
    if eval_dir.exists() {
        std::fs::remove_dir_all(&eval_dir)
            .with_context(|| format!("cannot remove {}", eval_dir.display()))?;
    }
    lvmkit_io::atomic::write_json_atomic(&run.config_path(), &run_cfg)?;
    let opt = AdamW::new(&model.trainable_vars(), cfg.optimizer.clone())?;
    Ok((run_cfg, model, opt, TrainerState::fresh()))
}

/// Sets a [`Skip::Ridge`] path to the ridge of the windows this run trains on (a smaller
/// budget gets no more data through its starting point); other models are left as made.
fn init_skip(ds: &Dataset, cfg: &TrainConfig, model: &Model) -> Result<()> {
    if cfg.skip != Skip::Ridge {
        return Ok(());
    }
    let train = non_empty_windows(ds, "train")?;
    let all = train.len();
    let sample = sample_windows(ds, train, cfg)?;
    let ridge = if sample.len() == all {
        lvmkit_eval::Ridge::cached(ds)?
    } else {
        lvmkit_eval::Ridge::fit_on(ds, &sample)?
    };
    model.set_skip_linear(ridge.weight(), ridge.bias())
}

fn resume(ds: &Dataset, run: &RunDir) -> Result<(RunConfig, Model, AdamW, TrainerState)> {
    let run_cfg = run.read_config()?;
    check_compatible(&run_cfg, ds, &run.dir)?;
    if run_cfg.data.manifest_hash != ds.manifest.hash() {
        bail!(
            "run {} was trained on another dataset (manifest {}…); {} has manifest {}…. Resume \
             with the same --data",
            run.dir.display(),
            &run_cfg.data.manifest_hash[..12],
            ds.dir.display(),
            &ds.manifest.hash()[..12]
        );
    }
    let model = Model::new(&run_cfg.model, run_cfg.train.seed, &Device::Cpu)?;
    let mut opt = AdamW::new(&model.trainable_vars(), run_cfg.train.optimizer.clone())?;
    if !run.last_path().exists() {
        tracing::info!(
            "no epoch of {} had finished: starting it from the beginning",
            run.dir.display()
        );
        init_skip(ds, &run_cfg.train, &model)?;
        return Ok((run_cfg, model, opt, TrainerState::fresh()));
    }
    let ckpt = Checkpoint::read(&run.last_path())?;
    let stored = ckpt.model_config()?;
    let diff = lvmkit_models::config::config_diff(
        &serde_json::to_value(&run_cfg.model)?,
        &serde_json::to_value(&stored)?,
    );
    if !diff.is_empty() {
        bail!(
            "{} does not match {}:\n  {}",
            run.last_path().display(),
            run.config_path().display(),
            diff.join("\n  ")
        );
    }
    model.assign(&ckpt)?;
    let state: TrainerState = serde_json::from_str(
        ckpt.metadata
            .get("trainer_state")
            .with_context(|| format!("{} has no trainer state", run.last_path().display()))?,
    )
    .with_context(|| format!("{}: unreadable trainer state", run.last_path().display()))?;
    opt.load_state(&ckpt.tensors, state.optimizer_step)?;
    tracing::info!(
        "resuming {} after epoch {} (best val cosine {:.4} at epoch {})",
        run.dir.display(),
        state.epoch,
        state.history.best_val_cosine,
        state.history.best_epoch
    );
    Ok((run_cfg, model, opt, state))
}

fn save_last(run: &RunDir, model: &Model, opt: &AdamW, state: &TrainerState) -> Result<()> {
    let meta = BTreeMap::from([
        ("trainer_state".to_string(), serde_json::to_string(state)?),
        ("epoch".to_string(), state.epoch.to_string()),
    ]);
    Checkpoint::write(&run.last_path(), model, &opt.state()?, &meta)?;
    // history.json is a readable copy of what last.safetensors holds.
    lvmkit_io::atomic::write_json_atomic(&run.history_path(), &state.history)
}

/// Loss and cosine of `model` on `windows`, in evaluation mode.
pub fn evaluate(
    model: &Model,
    ds: &Dataset,
    windows: &[Window],
    cfg: &TrainConfig,
) -> Result<PassStats> {
    let mut sums = Sums::default();
    // Batches the size of training ones, so InfoNCE sees the same number of negatives.
    for chunk in windows.chunks(cfg.batch_size.max(2)) {
        let b = gather(ds, chunk, model.device())?;
        let pred = model.forward(&b.contexts, &b.mask, &mut Mode::Eval)?;
        let loss = cfg.loss.compute(&pred, &b.targets)?;
        let cos = batch_cosine(&pred, &b.targets)?;
        sums.add(
            chunk.len(),
            loss.total.to_scalar::<f32>()? as f64,
            cos,
            &loss.components,
        )?;
    }
    Ok(sums.finish())
}

/// Sample-weighted running means.
#[derive(Default)]
struct Sums {
    n: usize,
    loss: f64,
    cos: f64,
    components: BTreeMap<String, f64>,
}

impl Sums {
    fn add(
        &mut self,
        n: usize,
        loss: f64,
        cos: f64,
        components: &[(&'static str, candle_core::Tensor)],
    ) -> Result<()> {
        self.n += n;
        self.loss += loss * n as f64;
        self.cos += cos * n as f64;
        for (name, t) in components {
            *self.components.entry(name.to_string()).or_default() +=
                t.to_scalar::<f32>()? as f64 * n as f64;
        }
        Ok(())
    }
    fn mean_loss(&self) -> f64 {
        self.loss / self.n.max(1) as f64
    }
    fn mean_cos(&self) -> f64 {
        self.cos / self.n.max(1) as f64
    }
    fn finish(self) -> PassStats {
        let n = self.n.max(1) as f64;
        PassStats {
            loss: self.loss / n,
            cosine: self.cos / n,
            components: self
                .components
                .into_iter()
                .map(|(k, v)| (k, v / n))
                .collect(),
        }
    }
}

fn progress_bar(show: bool, len: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "epoch {epoch}/{epochs} [{{bar:30}}] {{pos}}/{{len}} windows, {{per_sec}}, ETA {{eta}} {{msg}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}
