//! Commands on models: train and eval.

use crate::cli::{BoardArgs, EvalArgs, EvalSettings, LeaderboardArgs, TrainArgs};
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
    set(&mut cfg.max_train_windows, args.max_train_windows);
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

/// `lvmkit leaderboard`.
pub fn leaderboard(args: &LeaderboardArgs) -> Result<()> {
    let ds = Dataset::open(&args.data)?;
    run_models(
        &args.board,
        &args.output,
        &ds,
        ["train", "evaluate", "report"],
    )
}

/// The model names of `--models` (`all` expands to every architecture).
fn selected_models(models: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for m in models {
        let names: Vec<String> = if m == "all" {
            lvmkit_models::ARCHITECTURES
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            Architecture::default_for(m)?;
            vec![m.clone()]
        };
        for n in names {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    if out.is_empty() {
        bail!("--models names no model");
    }
    Ok(out)
}

/// Train each model, evaluate it on val/test/ood, write the leaderboard (stages 4–6 of
/// `lvmkit run`, with `stage` naming them in its progress lines). Each step is skipped when
/// its inputs are unchanged.
pub fn run_models(args: &BoardArgs, output: &Path, ds: &Dataset, stage: [&str; 3]) -> Result<()> {
    let models = selected_models(&args.models)?;
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
    base.max_train_windows = args.max_train_windows;
    base.batch_size = args.train_batch_size;
    let splits: Vec<String> = ["val", "test", "ood"]
        .iter()
        .filter(|s| ds.split_names().contains(s))
        .map(|s| s.to_string())
        .collect();

    eprintln!("{}", stage[0]);
    let mut runs = Vec::new();
    for name in &models {
        let mut cfg = base.clone();
        if cfg.model.name() != name {
            cfg.model = Architecture::default_for(name)?;
        }
        cfg.validate()?;
        let dir = output.join("models").join(name);
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
            lvmkit_train::train(ds, &cfg, &dir, &opts)?;
        }
        runs.push((name.clone(), dir));
    }

    eprintln!("{}", stage[1]);
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
                let r = evaluate_run(dir, ds, &splits, &args.eval)?;
                lvmkit_io::write_json_atomic(&stamp_path, &stamp)?;
                r
            }
        };
        per_model.push((name.clone(), dir.clone(), reports));
    }

    eprintln!("{}", stage[2]);
    let leaderboard = crate::leaderboard::Leaderboard::build(ds, &per_model)?;
    leaderboard.write(output)?;
    print!("{}", leaderboard.terminal_summary());
    println!(
        "leaderboard: {} and {}",
        output.join("leaderboard.md").display(),
        output.join("leaderboard.json").display()
    );
    Ok(())
}

/// `lvmkit models`: every architecture and its parameter count at D, C.
pub fn list_models(dim: usize, context: usize, json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for name in lvmkit_models::ARCHITECTURES {
        let cfg = lvmkit_models::ModelConfig::new(name, dim, context)?;
        let model = lvmkit_models::Model::new(&cfg, 0, &candle_core::Device::Cpu)?;
        rows.push(serde_json::json!({"name": name, "params": model.num_params()}));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<14} {:>12}   (D = {dim}, C = {context})",
            "model", "parameters"
        );
        for r in &rows {
            println!(
                "{:<14} {:>12}",
                r["name"].as_str().unwrap_or_default(),
                group_digits(r["params"].as_u64().unwrap_or_default())
            );
        }
    }
    Ok(())
}

pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `lvmkit bench models`: training samples/s and inference latency per architecture.
pub fn bench_models(
    models: &[String],
    dim: usize,
    context: usize,
    settings: lvmkit_train::bench::SpeedSettings,
    json: Option<&Path>,
) -> Result<()> {
    let names: Vec<String> = if models.is_empty() {
        lvmkit_models::ARCHITECTURES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        models.to_vec()
    };
    let mut results = Vec::new();
    let threads = std::env::var("CANDLE_NUM_THREADS").unwrap_or_default();
    println!(
        "D = {dim}, C = {context}, AdamW + cosine loss, CANDLE_NUM_THREADS={threads}; median of ≥{:.0} s per cell",
        settings.min_time.as_secs_f64()
    );
    let mut header = format!("{:<14} {:>12}", "model", "params");
    for b in &settings.train_batches {
        header += &format!(" {:>14}", format!("train@{b} /s"));
    }
    for b in &settings.infer_batches {
        header += &format!(" {:>14}", format!("infer@{b} ms"));
    }
    println!("{header}");
    for name in &names {
        let cfg = lvmkit_models::ModelConfig::new(name, dim, context)?;
        let r = lvmkit_train::bench::measure(&cfg, &settings)?;
        let mut line = format!("{:<14} {:>12}", r.name, group_digits(r.params as u64));
        for (_, v) in &r.train_samples_per_s {
            line += &format!(" {v:>14.0}");
        }
        for (_, v) in &r.infer_ms {
            line += &format!(" {v:>14.2}");
        }
        println!("{line}");
        results.push(r);
    }
    if let Some(path) = json {
        lvmkit_io::write_json_atomic(path, &results)?;
        println!("results in {}", path.display());
    }
    Ok(())
}
