//! Training: MLM (+ span boundary) on roots and MNM on leaves, L = MLM + SBO + μ·MNM with an
//! optional linear ramp of μ; AdamW (lvmkit-train's) with warm-up then cosine decay. Writes
//! OUTPUT/config.json, history.json and model.safetensors (atomically, after every epoch).

use crate::inject::InjectedTriple;
use crate::masking::{masked_batch, split_batch, MaskingConfig, Targets};
use crate::model::{cross_entropy, GraphBatch, Graphmert, GraphmertConfig};
use crate::TrainingData;
use anyhow::{bail, Context, Result};
use candle_core::{backprop::GradStore, Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use lvmkit_models::nn::{Mode, ParamStore};
use lvmkit_train::optim::{AdamW, AdamWConfig};
use lvmkit_train::schedule::ScheduleConfig;
use lvmkit_train::TrainOptions;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Every hyper-parameter of a GraphMERT run (config.json's "train"; also the CLI's flags).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct TrainSettings {
    /// Passes over the sequences (the default preset: about 28 min each on 2 cores).
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Peak learning rate of AdamW.
    #[arg(long, default_value_t = 4e-4)]
    pub lr: f64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Share of steps warming up, then cosine decay to lr × --min-lr-ratio.
    #[arg(long, default_value_t = 0.05)]
    pub warmup: f64,
    /// Warm up for this many steps instead of the --warmup share (the seeds' GraphMER-SE: 400);
    /// 0: use the share.
    #[arg(long, default_value_t = 0)]
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_steps: u64,
    /// Where the cosine decay ends, as a share of --lr.
    #[arg(long, default_value_t = 0.025)]
    pub min_lr_ratio: f64,
    /// Clip the global gradient norm; 0 = off.
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Weight of the MNM loss.
    #[arg(long, default_value_t = 1.0)]
    pub mu: f64,
    /// Ramp μ linearly from 0 over this many steps (0: constant; the seeds' GraphMER-SE: 1000).
    #[arg(long, default_value_t = 0)]
    pub mu_ramp_steps: u64,
    /// Sequences kept aside to report validation loss and accuracy.
    #[arg(long, default_value_t = 256)]
    pub val_sequences: usize,
    /// Train on at most this many sequences (0: all), a seeded sample.
    #[arg(long, default_value_t = 0)]
    pub max_sequences: usize,
    /// Seed of the held-out split, the sample, initialisation, masking and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Split each batch into this many parts trained in parallel (one core each); part of the
    /// run's settings, so results do not depend on the machine's core count.
    #[serde(default = "default_shards")]
    #[arg(long, default_value_t = default_shards())]
    pub shards: usize,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn default_shards() -> usize {
    2
}

impl Default for TrainSettings {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metrics {
    pub loss: f64,
    pub mlm_loss: f64,
    pub sbo_loss: f64,
    pub mnm_loss: f64,
    pub mlm_accuracy: f64,
    pub mnm_accuracy: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train: Metrics,
    pub val: Metrics,
    pub lr: f64,
    pub mu: f64,
    pub seconds: f64,
    pub sequences_per_second: f64,
    /// p_h per head after the epoch.
    pub decay_offsets: Vec<f32>,
}

/// An epoch's loss terms: the sum of each batch's means, and how many batches.
#[derive(Default)]
struct Sums {
    batches: Terms,
    count: usize,
}

impl Sums {
    fn metrics(&self) -> Metrics {
        let div = |a: f64, n: usize| if n == 0 { 0.0 } else { a / n as f64 };
        let t = &self.batches;
        Metrics {
            loss: div(t.total, self.count),
            mlm_loss: div(t.mlm.0, self.count),
            sbo_loss: div(t.sbo.0, self.count),
            mnm_loss: div(t.mnm.0, self.count),
            mlm_accuracy: div(t.mlm.1 as f64, t.mlm.2),
            mnm_accuracy: div(t.mnm.1 as f64, t.mnm.2),
        }
    }
}

/// How one batch is run.
struct Pass<'a> {
    masking: &'a MaskingConfig,
    /// Weight of the MNM term.
    mu: f64,
    /// Compute gradients (training) or not (validation).
    train: bool,
    /// Dropout on (training; off only to compare runs exactly in tests).
    dropout: bool,
    /// Parts of the batch run in parallel.
    shards: usize,
}

/// One part of a batch, masked and ready to run.
struct Shard {
    graphs: GraphBatch,
    targets: Targets,
    dropout_seed: u64,
}

/// A shard's share of its batch's loss terms: each term is the shard's mean weighted by its
/// share of the batch's targets, so the shards add up to the whole batch's mean.
#[derive(Default)]
struct Terms {
    mlm: (f64, usize, usize),
    sbo: (f64, usize),
    mnm: (f64, usize, usize),
    total: f64,
}

impl Terms {
    fn add(&mut self, o: &Terms) {
        self.mlm = (
            self.mlm.0 + o.mlm.0,
            self.mlm.1 + o.mlm.1,
            self.mlm.2 + o.mlm.2,
        );
        self.sbo = (self.sbo.0 + o.sbo.0, self.sbo.1 + o.sbo.1);
        self.mnm = (
            self.mnm.0 + o.mnm.0,
            self.mnm.1 + o.mnm.1,
            self.mnm.2 + o.mnm.2,
        );
        self.total += o.total;
    }
}

/// Run one batch: mask it (from `rng`), cut it into `pass.shards` parts, run the parts in
/// parallel, and when training, back-propagate each and
/// sum their gradients in shard order. Every thread runs its own graph on one core (candle's
/// own matmul threads gain ~10% on these sizes; two graphs at once gain ~2×). The terms go
/// into `sums`; `None` when the batch has no target at all.
fn run_batch(
    model: &Graphmert,
    data: &impl TrainingData,
    batch: &[(usize, Vec<&InjectedTriple>)],
    pass: &Pass,
    rng: &mut rand_chacha::ChaCha8Rng,
    sums: &mut Sums,
) -> Result<Option<GradStore>> {
    let seqs: Vec<_> = batch
        .iter()
        .map(|(s, t)| (&data.sequences()[*s], t.clone()))
        .collect();
    let (graphs, targets) =
        masked_batch(&seqs, &model.config.layout, data.vocab(), pass.masking, rng);
    let per_shard = batch.len().div_ceil(pass.shards.max(1));
    let shards: Vec<Shard> = split_batch(&graphs, &targets, model.config.layout.nodes(), per_shard)
        .into_iter()
        .map(|(graphs, targets)| Shard {
            graphs,
            targets,
            dropout_seed: rand::Rng::gen(rng),
        })
        .collect();
    let count = |f: fn(&Targets) -> usize| shards.iter().map(|s| f(&s.targets)).sum::<usize>();
    let totals = (
        count(|t| t.roots.len()),
        count(|t| t.sbo.len()),
        count(|t| t.leaves.len()),
    );
    if totals == (0, 0, 0) {
        return Ok(None);
    }
    let results: Vec<Result<(Terms, Option<GradStore>)>> = shards
        .par_iter()
        .map(|shard| run_shard(model, shard, totals, pass))
        .collect();
    let mut grads: Option<GradStore> = None;
    let mut terms = Terms::default();
    for r in results {
        let (t, g) = r?;
        terms.add(&t);
        match (&mut grads, g) {
            (Some(all), Some(g)) => all.extend(g)?,
            (None, g) => grads = g,
            (Some(_), None) => {}
        }
    }
    if !terms.total.is_finite() {
        bail!("the loss became {}", terms.total);
    }
    sums.batches.add(&terms);
    sums.count += 1;
    Ok(grads)
}

/// One shard's weighted loss terms, and its gradients when training.
fn run_shard(
    model: &Graphmert,
    shard: &Shard,
    (n_mlm, n_sbo, n_mnm): (usize, usize, usize),
    pass: &Pass,
) -> Result<(Terms, Option<GradStore>)> {
    let mut dropout_rng = rand_chacha::ChaCha8Rng::seed_from_u64(shard.dropout_seed);
    let mut mode = if pass.dropout {
        Mode::Train(&mut dropout_rng)
    } else {
        Mode::Eval
    };
    let hidden = model.encode(&shard.graphs, &mut mode)?;
    let targets = &shard.targets;
    let mut loss: Option<Tensor> = None;
    let mut terms = Terms::default();
    // Adds `weight` × a term (a mean over this shard's `n` targets, weighted by n / batch_n);
    // returns the weighted value.
    let mut add = |mean: Tensor, n: usize, batch_n: usize, weight: f64| -> Result<f64> {
        let share = n as f64 / batch_n as f64;
        let v = mean.to_scalar::<f32>()? as f64 * share;
        let t = (mean * (share * weight))?;
        loss = Some(match loss.take() {
            Some(l) => (l + t)?,
            None => t,
        });
        Ok(v)
    };
    if !targets.roots.is_empty() {
        let (pos, tok): (Vec<u32>, Vec<u32>) = targets.roots.iter().copied().unzip();
        let (l, hits) = cross_entropy(&model.token_logits(&hidden, &pos)?, &tok)?;
        let v = add(l, tok.len(), n_mlm, 1.0)?;
        terms.mlm = (v, hits, tok.len());
        terms.total += v;
    }
    if !targets.sbo.is_empty() {
        let spans: Vec<(u32, u32, u32)> = targets.sbo.iter().map(|s| (s.0, s.1, s.2)).collect();
        let tok: Vec<u32> = targets.sbo.iter().map(|s| s.3).collect();
        let (l, _) = cross_entropy(&model.sbo_logits(&hidden, &spans)?, &tok)?;
        let v = add(l, tok.len(), n_sbo, 1.0)?;
        terms.sbo = (v, tok.len());
        terms.total += v;
    }
    if !targets.leaves.is_empty() {
        let (pos, tok): (Vec<u32>, Vec<u32>) = targets.leaves.iter().copied().unzip();
        let (l, hits) = cross_entropy(&model.token_logits(&hidden, &pos)?, &tok)?;
        let v = add(l, tok.len(), n_mnm, pass.mu)?;
        terms.mnm = (v, hits, tok.len());
        terms.total += pass.mu * v;
    }
    let grads = match (&loss, pass.train) {
        (Some(l), true) => Some(l.backward()?),
        _ => None,
    };
    Ok((terms, grads))
}

/// Write named tensors atomically, through lvmkit's one safetensors writer.
pub(crate) fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    lvmkit_io::safetensors::write(path, tensors.iter(), &Default::default())
}

/// The parameters' current tensors. They share storage with the parameters, which AdamW
/// updates in place: save them before the next step, or take a [`snapshot`].
pub(crate) fn params(ps: &ParamStore) -> HashMap<String, Tensor> {
    ps.vars()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect()
}

/// A copy of the parameters that later training steps leave alone.
pub(crate) fn snapshot(ps: &ParamStore) -> Result<HashMap<String, Tensor>> {
    ps.vars()
        .iter()
        .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?)))
        .collect()
}

const EPOCH_KEY: &str = "__trainer.epoch";
const STEP_KEY: &str = "__trainer.step";

/// The seeded generator of one epoch's order, masking and dropout: a resumed run draws exactly
/// what an uninterrupted one would.
fn epoch_rng(seed: u64, epoch: usize) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch as u64)
}

/// Train on `data`; `report` sees each epoch as it ends. The run options are the LVM
/// trainer's own ([`TrainOptions`]): with `resume`, continue the run in `output` from its last
/// finished epoch (its config must be this one), and the result is the same, bit for bit, as an
/// uninterrupted run; `force` replaces a run in `output`; `stop_after` stops after that many
/// epochs of this session, as an interruption would; `progress` shows a bar per epoch.
pub fn train(
    data: &impl TrainingData,
    config: &GraphmertConfig,
    s: &TrainSettings,
    output: &Path,
    opts: &TrainOptions,
    mut report: impl FnMut(&EpochRecord),
) -> Result<(Graphmert, ParamStore, Vec<EpochRecord>)> {
    // Held until the run is saved; the check for a run already there is made under it.
    let _lock = lvmkit_io::OutputLock::acquire(output, "GraphMERT run")?;
    if config.layout != data.layout() {
        bail!(
            "the model's chain layout {:?} differs from the data's {:?}",
            config.layout,
            data.layout()
        );
    }
    if s.batch_size == 0 || s.epochs == 0 || s.shards == 0 {
        bail!("batch size, epochs and shards must be positive");
    }
    let mut by_seq: HashMap<usize, Vec<&InjectedTriple>> = HashMap::new();
    for t in data.injected() {
        by_seq.entry(t.seq).or_default().push(t);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
    let mut order: Vec<usize> = (0..data.sequences().len()).collect();
    order.shuffle(&mut rng);
    let n_val = s.val_sequences.min(order.len() / 10);
    let val: Vec<usize> = order[..n_val].to_vec();
    let mut train_ids: Vec<usize> = order[n_val..].to_vec();
    if s.max_sequences > 0 {
        train_ids.truncate(s.max_sequences);
    }
    if train_ids.is_empty() {
        bail!("no training sequences");
    }
    let item = |i: usize| (i, by_seq.get(&i).cloned().unwrap_or_default());

    let run_config =
        serde_json::json!({"format": "lvmkit-graphmert-1", "model": config, "train": s});
    let mut ps = ParamStore::new(s.seed, &Device::Cpu);
    let model = Graphmert::new(&mut ps, config)?;
    let mut opt = AdamW::new(
        ps.vars(),
        AdamWConfig {
            lr: s.lr,
            weight_decay: s.weight_decay,
            ..Default::default()
        },
    )?;
    let steps_per_epoch = train_ids.len().div_ceil(s.batch_size) as u64;
    let total_steps = steps_per_epoch * s.epochs as u64;
    let schedule = ScheduleConfig {
        warmup: if s.warmup_steps > 0 {
            (s.warmup_steps as f64 / total_steps.max(1) as f64).min(1.0)
        } else {
            s.warmup
        },
        min_lr_ratio: s.min_lr_ratio,
        ..Default::default()
    };
    let masking = MaskingConfig::default();
    std::fs::create_dir_all(output)?;
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut step = 0u64;
    let mut first_epoch = 1;
    let last_path = output.join("last.safetensors");
    if opts.resume {
        let cpath = output.join("config.json");
        let saved: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&cpath)
                .with_context(|| format!("cannot resume: {} is missing", cpath.display()))?,
        )
        .with_context(|| format!("{} is damaged", cpath.display()))?;
        if saved != run_config {
            bail!(
                "cannot resume {}: it was started with another configuration\n  saved: {saved}\n  now:   {run_config}",
                output.display()
            );
        }
        let state = candle_core::safetensors::load(&last_path, &Device::Cpu)
            .with_context(|| format!("cannot resume: cannot read {}", last_path.display()))?;
        for (name, var) in ps.vars() {
            let t = state
                .get(name)
                .with_context(|| format!("{} lacks parameter {name}", last_path.display()))?;
            var.set(t)?;
        }
        let scalar = |k: &str| -> Result<u64> {
            Ok(state
                .get(k)
                .with_context(|| format!("{} lacks {k}", last_path.display()))?
                .to_scalar::<f64>()? as u64)
        };
        let done = scalar(EPOCH_KEY)? as usize;
        step = scalar(STEP_KEY)?;
        opt.load_state(&state, step)?;
        let hpath = output.join("history.json");
        history = serde_json::from_str(&std::fs::read_to_string(&hpath)?)
            .with_context(|| format!("{} is damaged", hpath.display()))?;
        history.truncate(done);
        first_epoch = done + 1;
    } else {
        if last_path.exists() && !opts.force {
            bail!(
                "{} already holds a GraphMERT run: resume it, replace it with --force, or choose another --output",
                output.display()
            );
        }
        // A replaced run's files would describe weights that no longer exist.
        for stale in [
            &last_path,
            &output.join("model.safetensors"),
            &output.join("history.json"),
        ] {
            if stale.exists() {
                std::fs::remove_file(stale)
                    .with_context(|| format!("cannot remove {}", stale.display()))?;
            }
        }
        lvmkit_io::write_json_atomic(&output.join("config.json"), &run_config)?;
    }
    // Weights derived from this run's (a search-tuned encoder) describe weights that this
    // training replaces or continues.
    if first_epoch <= s.epochs {
        for derived in [
            crate::code::retrieval::WEIGHTS,
            crate::code::retrieval::RECORD,
        ] {
            let path = output.join(derived);
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
    }
    let base_order = train_ids.clone();
    for epoch in first_epoch..=s.epochs {
        let mut rng = epoch_rng(s.seed, epoch);
        let started = Instant::now();
        train_ids.clone_from(&base_order);
        train_ids.shuffle(&mut rng);
        let mut sums = Sums::default();
        let (mut lr, mut mu) = (0.0, s.mu);
        let progress = progress_bar(opts.progress, steps_per_epoch, epoch, s.epochs);
        for chunk in train_ids.chunks(s.batch_size) {
            let batch: Vec<_> = chunk.iter().map(|&i| item(i)).collect();
            lr = schedule.lr(s.lr, step, total_steps, 1.0);
            mu = if s.mu_ramp_steps > 0 {
                s.mu * ((step + 1) as f64 / s.mu_ramp_steps as f64).min(1.0)
            } else {
                s.mu
            };
            let pass = Pass {
                masking: &masking,
                mu,
                train: true,
                dropout: true,
                shards: s.shards,
            };
            let grads = run_batch(&model, data, &batch, &pass, &mut rng, &mut sums)
                .with_context(|| format!("step {step}; nothing saved from this epoch"))?;
            if let Some(grads) = grads {
                opt.step(&grads, lr, s.clip)?;
            }
            progress.inc(1);
            step += 1;
        }
        progress.finish_and_clear();
        let train_metrics = sums.metrics();
        let val_metrics = evaluate_sequences(&model, data, &val, s)?;
        let seconds = started.elapsed().as_secs_f64();
        let rec = EpochRecord {
            epoch,
            train: train_metrics,
            val: val_metrics,
            lr,
            mu,
            seconds,
            sequences_per_second: train_ids.len() as f64 / seconds,
            decay_offsets: model.decay_offsets()?,
        };
        report(&rec);
        history.push(rec);
        let weights = params(&ps);
        save_tensors(&weights, &output.join("model.safetensors"))?;
        let mut last = weights;
        last.extend(opt.state()?);
        last.insert(EPOCH_KEY.into(), Tensor::new(epoch as f64, &Device::Cpu)?);
        last.insert(STEP_KEY.into(), Tensor::new(step as f64, &Device::Cpu)?);
        // History first: a crash between the two leaves a history one epoch ahead, which
        // resume truncates to the epoch in last.safetensors.
        lvmkit_io::write_json_atomic(&output.join("history.json"), &history)?;
        save_tensors(&last, &last_path)?;
        if opts.stop_after == Some(epoch + 1 - first_epoch) {
            break;
        }
    }
    Ok((model, ps, history))
}

/// Loss and MLM/MNM accuracy of `model` on the sequences `ids` of `data`, with their injected
/// triples in the leaves, masked from a fixed seed (`settings.seed`): the trainer's validation
/// pass, also how held-out sequences are scored.
pub fn evaluate_sequences(
    model: &Graphmert,
    data: &impl TrainingData,
    ids: &[usize],
    settings: &TrainSettings,
) -> Result<Metrics> {
    let mut by_seq: HashMap<usize, Vec<&InjectedTriple>> = HashMap::new();
    for t in data.injected() {
        by_seq.entry(t.seq).or_default().push(t);
    }
    let masking = MaskingConfig::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(settings.seed ^ 0x5eed);
    let mut sums = Sums::default();
    for chunk in ids.chunks(settings.batch_size.max(1)) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| (i, by_seq.get(&i).cloned().unwrap_or_default()))
            .collect();
        let pass = Pass {
            masking: &masking,
            mu: settings.mu,
            train: false,
            dropout: false,
            shards: settings.shards,
        };
        run_batch(model, data, &batch, &pass, &mut rng, &mut sums)?;
    }
    Ok(sums.metrics())
}

pub(crate) fn progress_bar(show: bool, steps: u64, epoch: usize, epochs: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "epoch {epoch}/{epochs} [{{bar:30}}] {{pos}}/{{len}} steps, {{per_sec}}, ETA {{eta}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// A trained run: its model (weights from model.safetensors) and the settings it was trained
/// with.
pub fn load_run(output: &Path) -> Result<(Graphmert, TrainSettings)> {
    let (model, settings, _) = load_run_params(output, "model.safetensors", None)?;
    Ok((model, settings))
}

/// A run's model with the weights of OUTPUT/`weights`, and the parameter store that holds
/// them (to train them further). `roots` reads longer (or shorter) root chains with the same
/// weights: no parameter depends on the number of roots (the model has no positions; the
/// attention decay is by graph distance).
pub fn load_run_params(
    output: &Path,
    weights: &str,
    roots: Option<usize>,
) -> Result<(Graphmert, TrainSettings, ParamStore)> {
    let cpath = output.join("config.json");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cpath).with_context(|| {
            format!(
                "{} is not a GraphMERT run (no config.json)",
                output.display()
            )
        })?)
        .with_context(|| format!("{} is damaged", cpath.display()))?;
    if saved["format"] != "lvmkit-graphmert-1" {
        bail!("{}: not a GraphMERT run config", cpath.display());
    }
    let mut config: GraphmertConfig = serde_json::from_value(saved["model"].clone())
        .with_context(|| format!("{}: bad model config", cpath.display()))?;
    if let Some(roots) = roots {
        config.layout.roots = roots;
    }
    let settings: TrainSettings = serde_json::from_value(saved["train"].clone())
        .with_context(|| format!("{}: bad train settings", cpath.display()))?;
    let mut ps = ParamStore::new(settings.seed, &Device::Cpu);
    let model = Graphmert::new(&mut ps, &config)?;
    let wpath = output.join(weights);
    let weights = candle_core::safetensors::load(&wpath, &Device::Cpu)
        .with_context(|| format!("cannot read {}", wpath.display()))?;
    for (name, var) in ps.vars() {
        let t = weights
            .get(name)
            .with_context(|| format!("{} lacks {name}", wpath.display()))?;
        if t.dims() != var.dims() {
            bail!(
                "{}: {name} has shape {:?}, the config says {:?}",
                wpath.display(),
                t.dims(),
                var.dims()
            );
        }
        var.set(t)?;
    }
    Ok((model, settings, ps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataOptions;

    /// AdamW updates parameters in place: a snapshot keeps the values it was taken with.
    #[test]
    fn a_snapshot_survives_later_steps() {
        let mut ps = ParamStore::new(7, &Device::Cpu);
        let w = ps
            .tensor("w", &[4], lvmkit_models::nn::Init::Normal(1.0))
            .unwrap();
        let kept = snapshot(&ps).unwrap()["w"].to_vec1::<f32>().unwrap();
        let shared = params(&ps)["w"].clone();
        let mut opt = AdamW::new(ps.vars(), AdamWConfig::default()).unwrap();
        let grads = w.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        opt.step(&grads, 0.1, 1.0).unwrap();
        let now = ps.vars()[0].1.as_tensor().to_vec1::<f32>().unwrap();
        assert_ne!(now, kept);
        assert_eq!(snapshot(&ps).unwrap()["w"].to_vec1::<f32>().unwrap(), now);
        // The plain tensors follow the parameters; the snapshot does not.
        assert_eq!(shared.to_vec1::<f32>().unwrap(), now);
    }

    /// A batch's loss terms and gradients are the same whether it runs whole or as shards
    /// (dropout off): the shards' means are weighted by their share of the targets.
    #[test]
    fn sharded_batches_have_the_whole_batchs_loss_and_gradients() {
        let data_dir = lvmkit_sources::fetched(&[
            lvmkit_sources::GENE_ONTOLOGY,
            lvmkit_sources::DEFAULT_ENCODER,
        ]);
        let config = GraphmertConfig::tiny(1, 1);
        let data = crate::GraphData::from_data_dir(
            &data_dir,
            &DataOptions {
                layout: config.layout,
                ..Default::default()
            },
        )
        .unwrap();
        let config = GraphmertConfig::tiny(data.vocab.size, crate::RELATIONS.len());
        let mut ps = ParamStore::new(3, &Device::Cpu);
        let model = Graphmert::new(&mut ps, &config).unwrap();
        let mut by_seq: HashMap<usize, Vec<&InjectedTriple>> = HashMap::new();
        for t in &data.injected {
            by_seq.entry(t.seq).or_default().push(t);
        }
        // Sequences with injected triples, so that every term (MLM, SBO, MNM) is present.
        let batch: Vec<_> = by_seq
            .iter()
            .filter(|(s, _)| data.sequences[**s].len > 12)
            .take(12)
            .map(|(s, t)| (*s, t.clone()))
            .collect();
        let masking = MaskingConfig {
            leaf_rate: 1.0,
            ..Default::default()
        };
        let mut runs = Vec::new();
        for shards in [1, 3, 5] {
            let pass = Pass {
                masking: &masking,
                mu: 0.7,
                train: true,
                dropout: false,
                shards,
            };
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
            let mut sums = Sums::default();
            let grads = run_batch(&model, &data, &batch, &pass, &mut rng, &mut sums)
                .unwrap()
                .unwrap();
            let g: Vec<Vec<f32>> = ps
                .vars()
                .iter()
                .map(|(_, v)| {
                    grads
                        .get(v.as_tensor())
                        .map(|g| g.flatten_all().unwrap().to_vec1().unwrap())
                        .unwrap_or_default()
                })
                .collect();
            runs.push((sums.metrics(), g));
        }
        let (whole, whole_grads) = &runs[0];
        assert!(whole.mlm_loss > 0.0 && whole.sbo_loss > 0.0 && whole.mnm_loss > 0.0);
        for (m, g) in &runs[1..] {
            for (a, b) in [
                (m.loss, whole.loss),
                (m.mlm_loss, whole.mlm_loss),
                (m.sbo_loss, whole.sbo_loss),
                (m.mnm_loss, whole.mnm_loss),
                (m.mlm_accuracy, whole.mlm_accuracy),
            ] {
                assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{a} vs {b}");
            }
            for (x, y) in g.iter().zip(whole_grads) {
                assert_eq!(x.len(), y.len());
                for (p, q) in x.iter().zip(y) {
                    assert!((p - q).abs() <= 1e-4 + 1e-3 * q.abs(), "{p} vs {q}");
                }
            }
        }
    }
}
