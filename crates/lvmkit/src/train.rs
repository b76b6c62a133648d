//! Commands on one run: train, eval, predict.

use crate::cli::DataArgs;
use anyhow::{Context, Result};
use clap::Args;
use lvmkit_dataset::Dataset;
use lvmkit_models::Architecture;
use lvmkit_pipeline::predict::{PredictRequest, Prompt};
use lvmkit_train::{LossConfig, RunDir, TrainConfig, TrainOptions, TrainOutcome};
use std::path::{Path, PathBuf};

#[derive(Args)]
#[command(group(clap::ArgGroup::new("hyper").multiple(true)))]
pub struct TrainArgs {
    /// Dataset folder (from `lvmkit dataset` or `lvmkit run`). With --resume, defaults to the
    /// run's own dataset.
    #[arg(long, required_unless_present = "resume")]
    pub data: Option<PathBuf>,
    /// Output run folder.
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    pub output: Option<PathBuf>,
    /// Continue the run in this folder from its last finished epoch, with its own config. The
    /// result is the same as if it had never stopped.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["hyper", "force"])]
    pub resume: Option<PathBuf>,
    /// Replace an existing run in --output.
    #[arg(long)]
    pub force: bool,
    /// Training config as JSON (the fields of config.json's "train"; missing fields take their
    /// defaults). Flags below override it.
    #[arg(long, value_name = "FILE", group = "hyper")]
    pub config: Option<PathBuf>,
    /// Architecture [default: mlp]. `lvmkit models` lists them.
    #[arg(long, group = "hyper")]
    pub model: Option<String>,
    /// Maximum epochs [default: 20].
    #[arg(long, group = "hyper")]
    pub epochs: Option<usize>,
    /// Windows per step [default: 256].
    #[arg(long, group = "hyper")]
    pub batch_size: Option<usize>,
    /// Peak learning rate of AdamW [default: 1e-3].
    #[arg(long, group = "hyper")]
    pub lr: Option<f64>,
    /// AdamW decoupled weight decay, on weight matrices [default: 0.01].
    #[arg(long, group = "hyper")]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule: cosine (warm-up then cosine decay), plateau (halve when val
    /// cosine stalls), constant [default: cosine].
    #[arg(long, group = "hyper")]
    pub schedule: Option<lvmkit_train::ScheduleKind>,
    /// Share of steps spent on linear warm-up [default: 0.05].
    #[arg(long, group = "hyper")]
    pub warmup: Option<f64>,
    /// Early stopping: epochs without a better val cosine before stopping; 0 = off [default: 3].
    #[arg(long, group = "hyper")]
    pub patience: Option<usize>,
    /// Clip the global gradient norm; 0 = off [default: 1.0].
    #[arg(long, group = "hyper")]
    pub clip: Option<f64>,
    /// Seed of initialisation, shuffling and dropout [default: 0].
    #[arg(long, group = "hyper")]
    pub seed: Option<u64>,
    /// Loss terms and weights, e.g. `cosine=1,infonce=0.05`; terms left out get weight 0.
    /// Terms: cosine, mse, infonce, moment, variance [default: cosine=1].
    #[arg(long, group = "hyper", value_name = "TERM=W,...")]
    pub loss: Option<String>,
    /// Train on a seeded sample of at most this many train windows; 0 = all [default: 0].
    #[arg(long, group = "hyper")]
    pub max_train_windows: Option<usize>,
    /// InfoNCE temperature [default: 0.07].
    #[arg(long, group = "hyper")]
    pub temperature: Option<f32>,
    /// A base beside the network that training starts from: none, context-mean, or ridge (a
    /// linear path set to the closed-form ridge of the train windows); the network's output
    /// enters through a gate that starts at 0 [default: none].
    #[arg(long, group = "hyper")]
    pub skip: Option<lvmkit_models::Skip>,
    /// Share of training windows whose context is cut to a random 1…C−1 concepts [default: 0].
    #[arg(long, group = "hyper")]
    pub short_contexts: Option<f64>,
}

/// The training config from `--config` (or the defaults) with the flags applied over it.
fn train_config(args: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = match &args.config {
        Some(path) => TrainConfig::read(path)?,
        None => TrainConfig::default(),
    };
    if let Some(name) = &args.model {
        if name != cfg.model.name() {
            cfg.model = Architecture::default_for(name)?;
        }
    }
    fn set<T: Copy>(slot: &mut T, v: Option<T>) {
        if let Some(v) = v {
            *slot = v;
        }
    }
    set(&mut cfg.epochs, args.epochs);
    set(&mut cfg.batch_size, args.batch_size);
    set(&mut cfg.patience, args.patience);
    set(&mut cfg.seed, args.seed);
    set(&mut cfg.max_train_windows, args.max_train_windows);
    set(&mut cfg.clip, args.clip);
    set(&mut cfg.skip, args.skip);
    set(&mut cfg.short_contexts, args.short_contexts);
    set(&mut cfg.optimizer.lr, args.lr);
    set(&mut cfg.optimizer.weight_decay, args.weight_decay);
    set(&mut cfg.schedule.warmup, args.warmup);
    set(&mut cfg.schedule.kind, args.schedule);
    if let Some(spec) = &args.loss {
        let t = cfg.loss.temperature;
        cfg.loss = LossConfig::parse(spec).context("--loss")?;
        cfg.loss.temperature = t;
    }
    set(&mut cfg.loss.temperature, args.temperature);
    cfg.validate()?;
    Ok(cfg)
}

pub fn train(args: &TrainArgs) -> Result<()> {
    let (out, dir) = match &args.resume {
        Some(run) => {
            let run_cfg = RunDir::new(run).read_config()?;
            let data = args.data.clone().unwrap_or(run_cfg.data.path.into());
            let opts = TrainOptions {
                resume: true,
                ..TrainOptions::default()
            };
            let ds = Dataset::open(&data)?;
            (lvmkit_train::train(&ds, &run_cfg.train, run, &opts)?, run)
        }
        None => {
            let cfg = train_config(args)?;
            let ds = Dataset::open(args.data.as_ref().expect("clap requires --data"))?;
            let dir = args.output.as_ref().expect("clap requires --output");
            let opts = TrainOptions {
                force: args.force,
                ..TrainOptions::default()
            };
            (lvmkit_train::train(&ds, &cfg, dir, &opts)?, dir)
        }
    };
    print_outcome(&out, dir);
    Ok(())
}

fn print_outcome(out: &TrainOutcome, dir: &Path) {
    let h = &out.history;
    println!(
        "{} ({} parameters): {} after {} epochs; best val cosine {:.4} at epoch {}; {:.0} train samples/s",
        out.config.model.arch.name(),
        out.config.params,
        h.status,
        h.epochs.len(),
        h.best_val_cosine,
        h.best_epoch,
        h.epochs.last().map_or(0.0, |e| e.samples_per_s)
    );
    println!("run saved in {}", dir.display());
}

#[derive(Args)]
pub struct EvalRunArgs {
    /// Run folder (from `lvmkit train`).
    #[arg(long)]
    pub run: PathBuf,
    /// Dataset folder (default: the one the run was trained on).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Splits to evaluate, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "test")]
    pub split: Vec<lvmkit_dataset::Split>,
    #[command(flatten)]
    pub eval: lvmkit_pipeline::EvalSettings,
}

pub fn eval(args: &EvalRunArgs) -> Result<()> {
    let data = match &args.data {
        Some(d) => d.clone(),
        None => RunDir::new(&args.run).read_config()?.data.path.into(),
    };
    let ds = Dataset::open(&data)?;
    let splits: Vec<String> = args.split.iter().map(|s| s.as_str().into()).collect();
    let reports = lvmkit_pipeline::evaluate_run(&args.run, &ds, &splits, &args.eval)?;
    crate::jobs::print_reports(&lvmkit_pipeline::runs::eval_dir(&args.run), &reports);
    Ok(())
}

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder (from `lvmkit train` or `lvmkit run`): its best checkpoint predicts.
    #[arg(long)]
    pub run: PathBuf,
    /// JSONL contexts, e.g. `["The cat sat.", "It purred."]` or `[[0.1, ...], [...]]`.
    #[arg(long)]
    pub input: PathBuf,
    /// Output .npy (f32, lines × D), written atomically.
    #[arg(long)]
    pub output: PathBuf,
    /// Also print the K nearest concepts of the dataset bank for each prediction.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top_k: Option<u16>,
    /// Dataset folder for the bank and the encoder (default: the run's own dataset).
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Sentence-transformers folder (default: the encoder the run's dataset names).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
}

pub fn predict(args: &PredictArgs) -> Result<()> {
    let req = PredictRequest {
        run: args.run.clone(),
        input: args.input.clone(),
        output: args.output.clone(),
        top_k: args.top_k.map(usize::from),
        dataset: args.dataset.clone(),
        encoder: args.encoder.clone(),
    };
    let p = lvmkit_pipeline::predict::predict(&req, &args.data.dir())?;
    let c = p.context;
    if p.longer > 0 {
        eprintln!(
            "note: {} contexts are longer than the model's C = {c}; their last {c} concepts are used",
            p.longer
        );
    }
    println!(
        "{} predictions ({}, {}-D) written to {}",
        p.contexts.len(),
        p.model,
        p.dim,
        args.output.display()
    );
    for (i, (ctx, hits)) in p
        .contexts
        .iter()
        .zip(p.neighbours.iter().flatten())
        .enumerate()
    {
        let last = match ctx {
            Prompt::Texts(t) => format!("“{}”", t.last().cloned().unwrap_or_default()),
            Prompt::Vectors(v) => format!("{} vectors", v.len() / p.dim),
        };
        println!("\n[{}] after {last}:", i + 1);
        for (rank, (text, score)) in hits.iter().enumerate() {
            // A dataset imported from .npz holds vectors only.
            let text = if text.is_empty() { "(no text)" } else { text };
            println!("  {:>2}. {score:.3}  {text}", rank + 1);
        }
    }
    Ok(())
}
