//! Training runs as the pipeline uses them: evaluated next to the baselines (reports and plots
//! in `RUN/eval/`), and trained or evaluated only when their inputs changed ([`TrainStage`],
//! [`EvalStage`]).

use anyhow::{bail, Context, Result};
use lvmkit_dataset::Dataset;
use lvmkit_eval::{
    plot_cosine_histogram, plot_training_curves, Bank, EpochPoint, EvalOptions, EvalReport,
    ModelPredictions, Ridge, RowKind,
};
use lvmkit_io::fresh::{Stage, Stamp};
use lvmkit_train::run::check_compatible;
use lvmkit_train::{RunDir, TrainConfig, TrainOptions};
use std::path::{Path, PathBuf};

/// How runs are evaluated (also the CLI's flags).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct EvalSettings {
    /// Rank the true next concept among the concepts of the evaluated split ("split") or of the
    /// whole dataset ("corpus": harder, slower).
    #[arg(long, value_enum, default_value_t = Bank::Split)]
    pub bank: Bank,
    /// Document resamples for the bootstrap interval of model − best baseline (at least 1).
    #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
    pub bootstrap: usize,
}

/// A count that must be at least 1, refused when the flags are read rather than after the work.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e} (expected a whole number of at least 1)")),
    }
}

impl Default for EvalSettings {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// Evaluates a run's best checkpoint on each of `splits` next to the baselines, writing
/// RUN/eval/<split>.json, RUN/eval/<split>-cosines.svg and RUN/eval/training-curves.svg.
/// Returns the reports in split order. Holds the run folder's lock while it writes.
pub fn evaluate_run(
    run: &Path,
    ds: &Dataset,
    splits: &[String],
    settings: &EvalSettings,
) -> Result<Vec<EvalReport>> {
    let _lock = RunDir::new(run).lock()?;
    evaluate_locked(run, ds, splits, settings)
}

/// [`evaluate_run`] for a caller that holds the run folder's lock.
fn evaluate_locked(
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
    let ridge = Ridge::cached(ds)?;
    let eval_dir = eval_dir(run);
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
            bank: settings.bank,
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
    Ok(reports)
}

/// Where a run's evaluation reports and plots go.
pub fn eval_dir(run: &Path) -> PathBuf {
    run.join("eval")
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

/// Training a run, as a stage: its config.json records the training config and dataset, and a
/// run is up to date once it has finished. One with the same inputs that stopped early is
/// resumed; one with other inputs is replaced (the caller owns the folder).
pub struct TrainStage<'a> {
    pub ds: &'a Dataset,
    pub name: String,
    pub config: TrainConfig,
    pub dir: PathBuf,
}

impl TrainStage<'_> {
    fn record(train: &TrainConfig, dataset: &str) -> Result<serde_json::Value> {
        Ok(serde_json::json!({"train": train, "dataset": dataset}))
    }
}

impl Stage for TrainStage<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn depends_on(&self) -> &'static str {
        "config and data"
    }
    fn output(&self) -> PathBuf {
        self.dir.clone()
    }
    fn inputs(&self) -> Result<serde_json::Value> {
        Self::record(&self.config, &self.ds.manifest.hash())
    }
    fn recorded(&self) -> Option<serde_json::Value> {
        let rd = RunDir::new(&self.dir);
        let rc = rd.read_config().ok()?;
        if !rd.read_history().ok()?.status.is_finished() {
            return None;
        }
        Self::record(&rc.train, &rc.data.manifest_hash).ok()
    }
    fn make(&mut self) -> Result<()> {
        let rd = RunDir::new(&self.dir);
        let same = rd.read_config().is_ok_and(|rc| {
            rc.train == self.config && rc.data.manifest_hash == self.ds.manifest.hash()
        });
        let opts = TrainOptions {
            resume: same,
            force: !same,
            ..TrainOptions::default()
        };
        lvmkit_train::train(self.ds, &self.config, &self.dir, &opts).map(|_| ())
    }
}

/// Evaluating a run, as a stage: RUN/eval/stamp.json records the dataset, the evaluated
/// checkpoint's checksum and the settings.
pub struct EvalStage<'a> {
    pub ds: &'a Dataset,
    pub name: String,
    pub dir: PathBuf,
    pub splits: &'a [String],
    pub settings: &'a EvalSettings,
    /// The reports, once made.
    pub made: Option<Vec<EvalReport>>,
}

impl EvalStage<'_> {
    fn stamp(&self) -> Stamp {
        Stamp::new(eval_dir(&self.dir).join("stamp.json"))
    }

    fn read_reports(&self) -> Option<Vec<EvalReport>> {
        self.splits
            .iter()
            .map(|s| {
                let path = eval_dir(&self.dir).join(format!("{s}.json"));
                serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
            })
            .collect()
    }

    /// The reports: made, or read back from RUN/eval when the stage was kept.
    pub fn reports(self) -> Result<Vec<EvalReport>> {
        if let Some(r) = self.made {
            return Ok(r);
        }
        self.read_reports().with_context(|| {
            format!(
                "cannot read the reports in {}",
                eval_dir(&self.dir).display()
            )
        })
    }
}

impl Stage for EvalStage<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn depends_on(&self) -> &'static str {
        "checkpoint and data"
    }
    fn output(&self) -> PathBuf {
        eval_dir(&self.dir)
    }
    fn inputs(&self) -> Result<serde_json::Value> {
        let best = lvmkit_models::Checkpoint::read(&RunDir::new(&self.dir).best_path())?;
        Ok(serde_json::json!({
            "dataset": self.ds.manifest.hash(),
            "checkpoint": best.metadata.get("tensors_sha256").cloned(),
            "bank": self.settings.bank,
            "bootstrap": self.settings.bootstrap,
            "splits": self.splits,
        }))
    }
    fn recorded(&self) -> Option<serde_json::Value> {
        self.read_reports()?;
        self.stamp().read()
    }
    fn make(&mut self) -> Result<()> {
        // The reports and the stamp that vouches for them, under one hold of the lock.
        let _lock = RunDir::new(&self.dir).lock()?;
        self.made = Some(evaluate_locked(
            &self.dir,
            self.ds,
            self.splits,
            self.settings,
        )?);
        self.stamp().write(&self.inputs()?)
    }
}
