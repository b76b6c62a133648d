//! Commands on models: train and eval.

use crate::cli::{EvalArgs, EvalSettings, RunArgs, TrainArgs};
use anyhow::{bail, Context, Result};
use lvmkit_dataset::Dataset;
use lvmkit_eval::{
    plot_cosine_histogram, plot_training_curves, render_table, Bank, EpochPoint, EvalOptions,
    EvalReport, ModelPredictions, Ridge, RowKind,
};
use lvmkit_models::Architecture;
use lvmkit_train::run::check_compatible;
use lvmkit_train::{LossConfig, RunDir, TrainConfig, TrainOptions, TrainOutcome};
use std::path::Path;

/// The training config from `--config` (or the defaults) with the flags applied over it.
pub fn train_config(args: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a training config (see a run's config.json \"train\")",
                    path.display()
                )
            })?
        }
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
    set(&mut cfg.clip, args.clip);
    set(&mut cfg.optimizer.lr, args.lr);
    set(&mut cfg.optimizer.weight_decay, args.weight_decay);
    set(&mut cfg.schedule.warmup, args.warmup);
    if let Some(k) = args.schedule {
        cfg.schedule.kind = k;
    }
    if let Some(spec) = &args.loss {
        let t = cfg.loss.temperature;
        cfg.loss = parse_loss(spec)?;
        cfg.loss.temperature = t;
    }
    if let Some(t) = args.temperature {
        cfg.loss.temperature = t;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// `cosine=1,infonce=0.05` → weights; unnamed terms are 0.
pub fn parse_loss(spec: &str) -> Result<LossConfig> {
    let mut cfg = LossConfig {
        cosine: 0.0,
        ..LossConfig::default()
    };
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, w) = part
            .split_once('=')
            .with_context(|| format!("--loss: '{part}' is not TERM=WEIGHT"))?;
        let w: f32 = w
            .trim()
            .parse()
            .with_context(|| format!("--loss: weight '{w}' of {name} is not a number"))?;
        match name.trim() {
            "cosine" => cfg.cosine = w,
            "mse" => cfg.mse = w,
            "infonce" => cfg.infonce = w,
            "moment" => cfg.moment = w,
            "variance" => cfg.variance = w,
            other => bail!(
                "--loss: unknown term '{other}' (known: cosine, mse, infonce, moment, variance)"
            ),
        }
    }
    cfg.validate()?;
    Ok(cfg)
}

pub fn train(args: &TrainArgs) -> Result<TrainOutcome> {
    if let Some(run) = &args.resume {
        let run_cfg = RunDir::new(run).read_config()?;
        let data = args
            .data
            .clone()
            .unwrap_or_else(|| run_cfg.data.path.clone().into());
        let ds = Dataset::open(&data)?;
        let opts = TrainOptions {
            resume: true,
            ..TrainOptions::default()
        };
        let out = lvmkit_train::train(&ds, &run_cfg.train, run, &opts)?;
        print_outcome(&out, run);
        return Ok(out);
    }
    let cfg = train_config(args)?;
    let data = args.data.as_ref().expect("clap requires --data");
    let out_dir = args.output.as_ref().expect("clap requires --output");
    let ds = Dataset::open(data)?;
    let opts = TrainOptions {
        force: args.force,
        ..TrainOptions::default()
    };
    let out = lvmkit_train::train(&ds, &cfg, out_dir, &opts)?;
    print_outcome(&out, out_dir);
    Ok(out)
}

fn print_outcome(out: &TrainOutcome, dir: &Path) {
    let h = &out.history;
    let last = h.epochs.last();
    println!(
        "{} ({} parameters): {} after {} epochs; best val cosine {:.4} at epoch {}; {:.0} train samples/s",
        out.config.model.arch.name(),
        out.config.params,
        h.status,
        h.epochs.len(),
        h.best_val_cosine,
        h.best_epoch,
        last.map_or(0.0, |e| e.samples_per_s)
    );
    println!("run saved in {}", dir.display());
}

/// Evaluate a run on each of `splits`, writing RUN/eval/<split>.json, RUN/eval/<split>-cosines.svg
/// and RUN/eval/training-curves.svg. Returns the reports in split order.
pub fn evaluate_run(
    run: &Path,
    ds: &Dataset,
    splits: &[String],
    settings: &EvalSettings,
) -> Result<Vec<EvalReport>> {
    let rd = RunDir::new(run);
    let (cfg, model) = rd.load_best()?;
    check_compatible(&cfg, ds, run)?;
    if cfg.data.manifest_hash != ds.manifest.hash() {
        tracing::warn!(
            "run {} was trained on another dataset ({}); its documents may overlap this \
             dataset's evaluation splits, so the numbers may be optimistic",
            run.display(),
            cfg.data.path
        );
    }
    let name = cfg.model.arch.name().to_string();
    let ridge = load_ridge(ds)?;
    let eval_dir = run.join("eval");
    std::fs::create_dir_all(&eval_dir)
        .with_context(|| format!("cannot create {}", eval_dir.display()))?;
    let mut reports = Vec::new();
    for split in splits {
        let windows = ds.windows(split)?;
        if windows.is_empty() {
            bail!(
                "split '{split}' of dataset {} has no windows to evaluate",
                ds.dir.display()
            );
        }
        let started = std::time::Instant::now();
        let contexts: Vec<&[f32]> = windows.iter().map(|w| ds.context_of(w)).collect();
        let predictions = model.predict(&contexts)?;
        tracing::info!(
            "{name}: predicted {} {split} windows in {:.1}s",
            windows.len(),
            started.elapsed().as_secs_f64()
        );
        let opts = EvalOptions {
            bank: settings.bank(),
            bootstrap_resamples: settings.bootstrap,
            seed: 0,
            ridge: Some(&ridge),
        };
        let report = lvmkit_eval::evaluate(
            ds,
            split,
            &[ModelPredictions {
                name: name.clone(),
                predictions,
            }],
            &opts,
        )?;
        lvmkit_io::write_json_atomic(&eval_dir.join(format!("{split}.json")), &report)?;
        plot_histogram(&report, &eval_dir.join(format!("{split}-cosines.svg")))?;
        println!("{}", render_table(&report));
        reports.push(report);
    }
    if let Ok(history) = rd.read_history() {
        let points: Vec<EpochPoint> = history
            .epochs
            .iter()
            .map(|e| EpochPoint {
                epoch: e.epoch,
                train_loss: e.train_loss,
                val_loss: e.val_loss,
                train_cosine: e.train_cosine,
                val_cosine: e.val_cosine,
            })
            .collect();
        if !points.is_empty() {
            plot_training_curves(&eval_dir.join("training-curves.svg"), &points)?;
        }
    }
    println!("reports and plots in {}", eval_dir.display());
    Ok(reports)
}

impl EvalSettings {
    pub fn bank(&self) -> Bank {
        if self.bank == "corpus" {
            Bank::Corpus
        } else {
            Bank::Split
        }
    }
}

/// The ridge baseline, cached beside the dataset (it depends on nothing else); fitted in
/// memory when the dataset folder is read-only.
pub fn load_ridge(ds: &Dataset) -> Result<Ridge> {
    let path = ds.dir.join("baselines").join("ridge.safetensors");
    if std::fs::create_dir_all(path.parent().unwrap()).is_err() {
        tracing::warn!(
            "{} is read-only: fitting the ridge baseline without caching it",
            ds.dir.display()
        );
        return Ridge::fit(ds);
    }
    Ridge::load_or_fit(ds, &path)
}

/// Per-window cosines of each model next to the best baseline.
fn plot_histogram(report: &EvalReport, path: &Path) -> Result<()> {
    let best = report
        .rows
        .iter()
        .filter(|r| r.kind == RowKind::Baseline)
        .max_by(|a, b| a.cosine.total_cmp(&b.cosine));
    let mut series: Vec<(&str, &[f32])> = report
        .rows
        .iter()
        .filter(|r| r.kind == RowKind::Model)
        .map(|r| (r.name.as_str(), r.window_cosines.as_slice()))
        .collect();
    if let Some(b) = best {
        series.push((b.name.as_str(), b.window_cosines.as_slice()));
    }
    plot_cosine_histogram(
        path,
        &format!("cosine to the true next concept, {} split", report.split),
        &series,
    )
}

pub fn eval(args: &EvalArgs) -> Result<Vec<EvalReport>> {
    let data = match &args.data {
        Some(d) => d.clone(),
        None => RunDir::new(&args.run).read_config()?.data.path.into(),
    };
    let ds = Dataset::open(&data)?;
    evaluate_run(&args.run, &ds, &args.split, &args.settings)
}

/// Stages 4–6 of `lvmkit run`: train each model, evaluate it on val/test/ood, write the
/// leaderboard. Each stage is skipped when its inputs are unchanged.
pub fn run_models(args: &RunArgs, data_dir: &Path) -> Result<()> {
    let ds = Dataset::open(data_dir)?;
    let mut base = match &args.train_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str::<TrainConfig>(&text)
                .with_context(|| format!("{}: not a training config", path.display()))?
        }
        None => TrainConfig::default(),
    };
    base.epochs = args.epochs;
    base.patience = args.patience;
    let splits: Vec<String> = ["val", "test", "ood"]
        .iter()
        .filter(|s| ds.split_names().contains(s))
        .map(|s| s.to_string())
        .collect();

    eprintln!("[4/6] train");
    let mut runs = Vec::new();
    for name in &args.models {
        let mut cfg = base.clone();
        if cfg.model.name() != name {
            cfg.model = Architecture::default_for(name)?;
        }
        cfg.validate()?;
        let dir = args.output.join("models").join(name);
        let rd = RunDir::new(&dir);
        let same = rd
            .read_config()
            .is_ok_and(|rc| rc.train == cfg && rc.data.manifest_hash == ds.manifest.hash());
        let finished = same && rd.read_history().is_ok_and(|h| h.status != "running");
        let opts = TrainOptions {
            resume: same && !finished,
            // The main job owns OUTPUT/models: a run with other settings or data is replaced.
            force: !same,
            ..TrainOptions::default()
        };
        if finished {
            eprintln!(
                "      {name}: config and data unchanged, kept {}",
                dir.display()
            );
        } else {
            lvmkit_train::train(&ds, &cfg, &dir, &opts)?;
        }
        runs.push((name.clone(), dir));
    }

    eprintln!("[5/6] evaluate");
    let mut per_model = Vec::new();
    for (name, dir) in &runs {
        let stamp = serde_json::json!({
            "dataset": ds.manifest.hash(),
            "checkpoint": lvmkit_models::Checkpoint::read(&RunDir::new(dir).best_path())?
                .metadata
                .get("tensors_sha256")
                .cloned(),
            "bank": args.eval.bank,
            "bootstrap": args.eval.bootstrap,
            "splits": splits,
        });
        let stamp_path = dir.join("eval").join("stamp.json");
        let current = std::fs::read_to_string(&stamp_path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let cached: Option<Vec<EvalReport>> = (current.as_ref() == Some(&stamp))
            .then(|| {
                splits
                    .iter()
                    .map(|s| {
                        let text =
                            std::fs::read_to_string(dir.join("eval").join(format!("{s}.json")))
                                .ok()?;
                        serde_json::from_str(&text).ok()
                    })
                    .collect()
            })
            .flatten();
        let reports = match cached {
            Some(r) => {
                eprintln!(
                    "      {name}: checkpoint and data unchanged, kept {}",
                    dir.join("eval").display()
                );
                r
            }
            None => {
                let r = evaluate_run(dir, &ds, &splits, &args.eval)?;
                lvmkit_io::write_json_atomic(&stamp_path, &stamp)?;
                r
            }
        };
        per_model.push((name.clone(), dir.clone(), reports));
    }

    eprintln!("[6/6] report");
    let leaderboard = crate::leaderboard::Leaderboard::build(&ds, &per_model)?;
    leaderboard.write(&args.output)?;
    print!("{}", leaderboard.terminal_summary());
    println!(
        "leaderboard: {} and {}",
        args.output.join("leaderboard.md").display(),
        args.output.join("leaderboard.json").display()
    );
    Ok(())
}
