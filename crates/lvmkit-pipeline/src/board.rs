//! The leaderboard job: every architecture trained on the same split and budget, each
//! evaluated next to the baselines on val, test and ood, their latency measured, and
//! OUTPUT/leaderboard.md and .json written. A model whose config and data are unchanged is
//! not retrained; an evaluation whose checkpoint and data are unchanged is not redone.

use crate::runs::{EvalSettings, EvalStage, TrainStage};
use crate::{Leaderboard, Observer};
use anyhow::{bail, Context, Result};
use lvmkit_dataset::Dataset;
use lvmkit_io::fresh::{bring_up_to_date, Freshness, Stage};
use lvmkit_io::OutputLock;
use lvmkit_models::Architecture;
use lvmkit_train::TrainConfig;
use std::path::{Path, PathBuf};

/// Which models the leaderboard trains, on what budget, and how it evaluates them (also the
/// CLI's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct BoardSettings {
    /// Models to train and evaluate, comma-separated, or `all` (`lvmkit models` lists them).
    /// The default is the models that train to convergence on every train window within the
    /// main job's 30 minutes on 2 cores (about 2,000 samples/s each at batch 256). The others
    /// train at 100–450 samples/s (`lvmkit bench models`), 4–15 minutes per epoch of the
    /// default data: add them with e.g. `--models mlp,amn,lstm` or `--models all`.
    #[arg(long, value_delimiter = ',', default_value = "mlp,amn")]
    pub models: Vec<String>,
    /// Most training epochs per model: the cosine schedule decays to its floor over them, and
    /// early stopping usually ends a run sooner.
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Early stopping: epochs without a better val cosine.
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    /// Each model trains on at most this many train windows (documents in a seeded order, the
    /// last one cut to fit, the same for every model; 0 = all of them).
    #[arg(long, default_value_t = 0)]
    pub max_train_windows: usize,
    /// Windows per training step.
    #[arg(long, default_value_t = 256)]
    pub train_batch_size: usize,
    /// The base every model starts from (see `lvmkit train --help`): none, context-mean, or
    /// ridge. Chosen on val (README, "Recipes").
    #[arg(long, default_value = "context-mean")]
    pub skip: lvmkit_models::Skip,
    /// Share of training windows whose context is cut to a random 1…C−1 concepts.
    #[arg(long, default_value_t = 0.0)]
    pub short_contexts: f64,
    /// Whose learning curve to draw next to ridge's: `auto` (the best model on val), `none`
    /// (ridge's only), or a model name. The model is trained again on 1/8, 1/4 and 1/2 of the
    /// train windows with its own recipe.
    #[arg(long, default_value = "auto")]
    pub curve_model: String,
    /// Training config JSON applied to every model (its "model" field is ignored); --epochs,
    /// --patience, --max-train-windows, --train-batch-size, --skip and --short-contexts
    /// override it.
    #[arg(long, value_name = "FILE")]
    pub train_config: Option<PathBuf>,
    #[command(flatten)]
    pub eval: EvalSettings,
}

impl Default for BoardSettings {
    /// The main job's recipe: the models that fit its budget, every train window, early
    /// stopping on val.
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// The model names of `models` (`all` expands to every architecture), each once, in order.
pub fn selected_models(models: &[String]) -> Result<Vec<String>> {
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
        bail!("no model named");
    }
    Ok(out)
}

impl BoardSettings {
    /// Each model's training config: the shared base with its architecture.
    pub fn train_configs(&self) -> Result<Vec<(String, TrainConfig)>> {
        let mut base = match &self.train_config {
            Some(path) => TrainConfig::read(path)?,
            None => TrainConfig::default(),
        };
        base.epochs = self.epochs;
        base.patience = self.patience;
        base.max_train_windows = self.max_train_windows;
        base.batch_size = self.train_batch_size;
        base.skip = self.skip;
        base.short_contexts = self.short_contexts;
        selected_models(&self.models)?
            .into_iter()
            .map(|name| {
                let mut cfg = base.clone();
                if cfg.model.name() != name {
                    cfg.model = Architecture::default_for(&name)?;
                }
                cfg.validate()?;
                Ok((name, cfg))
            })
            .collect()
    }
}

/// Ridge's learning curve and the chosen model's next to it (see [`crate::curve`]).
fn learning_curve(
    settings: &BoardSettings,
    output: &Path,
    ds: &Dataset,
    splits: &[String],
    per_model: &[(String, PathBuf, Vec<lvmkit_eval::EvalReport>)],
    obs: &mut dyn Observer,
) -> Result<lvmkit_eval::LearningCurve> {
    let val_cosine = |reports: &[lvmkit_eval::EvalReport]| {
        reports
            .iter()
            .find(|r| r.split == "val")
            .and_then(|r| {
                r.rows
                    .iter()
                    .find(|x| x.kind == lvmkit_eval::RowKind::Model)
            })
            .map_or(f64::NEG_INFINITY, |x| x.cosine)
    };
    let chosen = match settings.curve_model.as_str() {
        "none" => None,
        "auto" => per_model
            .iter()
            .max_by(|a, b| val_cosine(&a.2).total_cmp(&val_cosine(&b.2))),
        name => Some(
            per_model
                .iter()
                .find(|(n, _, _)| n == name)
                .with_context(|| {
                    format!("--curve-model {name}: not one of the models trained (--models)")
                })?,
        ),
    };
    let model = match chosen {
        None => None,
        Some((name, dir, reports)) => {
            let config = lvmkit_train::RunDir::new(dir).read_config()?.train;
            let full = reports
                .iter()
                .filter_map(|r| {
                    let row = r
                        .rows
                        .iter()
                        .find(|x| x.kind == lvmkit_eval::RowKind::Model)?;
                    Some((r.split.clone(), row.cosine))
                })
                .collect();
            Some(crate::curve::CurveModel {
                name: name.clone(),
                config,
                full,
            })
        }
    };
    let mut stage = crate::curve::CurveStage {
        ds,
        dir: output.join("curve"),
        splits: splits.to_vec(),
        model,
        made: None,
    };
    if run_stage(&mut stage, obs)? == Freshness::Made {
        if let Some(c) = stage.made.take() {
            return Ok(c);
        }
    }
    crate::curve::CurveStage::read(&stage.json_path())
}

/// Runs `stage`, telling `obs` when it was kept.
pub(crate) fn run_stage(stage: &mut dyn Stage, obs: &mut dyn Observer) -> Result<Freshness> {
    let done = bring_up_to_date(stage)?;
    if done == Freshness::Kept {
        obs.kept(&stage.name(), stage.depends_on(), &stage.output());
    }
    Ok(done)
}

/// Trains each model into OUTPUT/models/<name>, evaluates it on val/test/ood and writes the
/// leaderboard into OUTPUT. `labels` name the three steps (train, evaluate, report) for `obs`.
/// Holds OUTPUT's lock throughout.
pub fn leaderboard(
    settings: &BoardSettings,
    output: &Path,
    ds: &Dataset,
    labels: [&str; 3],
    obs: &mut dyn Observer,
) -> Result<Leaderboard> {
    let lock = OutputLock::acquire(output, "leaderboard folder")?;
    leaderboard_locked(settings, &lock, ds, labels, obs)
}

/// [`leaderboard`] into the folder `lock` guards (the main job holds its output's lock).
pub(crate) fn leaderboard_locked(
    settings: &BoardSettings,
    lock: &OutputLock,
    ds: &Dataset,
    labels: [&str; 3],
    obs: &mut dyn Observer,
) -> Result<Leaderboard> {
    let output = lock.output();
    let configs = settings.train_configs()?;
    let splits: Vec<String> = ["val", "test", "ood"]
        .iter()
        .filter(|s| ds.split_names().contains(s))
        .map(|s| s.to_string())
        .collect();

    obs.stage(labels[0]);
    let mut runs = Vec::new();
    for (name, config) in configs {
        let dir = output.join("models").join(&name);
        let mut stage = TrainStage {
            ds,
            name: name.clone(),
            config,
            dir: dir.clone(),
        };
        run_stage(&mut stage, obs)?;
        runs.push((name, dir));
    }

    obs.stage(labels[1]);
    let mut per_model = Vec::new();
    for (name, dir) in runs {
        let mut stage = EvalStage {
            ds,
            name: name.clone(),
            dir: dir.clone(),
            splits: &splits,
            settings: &settings.eval,
            made: None,
        };
        if run_stage(&mut stage, obs)? == Freshness::Made {
            obs.evaluated(
                &crate::runs::eval_dir(&dir),
                stage.made.as_deref().unwrap_or(&[]),
            );
        }
        per_model.push((name, dir, stage.reports()?));
    }

    obs.stage(labels[2]);
    let curve = learning_curve(settings, output, ds, &splits, &per_model, obs)?;
    let mut board = Leaderboard::build(ds, &per_model)?;
    board.curve = Some(curve);
    board.left_out = lvmkit_models::ARCHITECTURES
        .iter()
        .filter(|a| !per_model.iter().any(|(n, _, _)| n == *a))
        .map(|a| a.to_string())
        .collect();
    board.write(output)?;
    obs.leaderboard(output, &board);
    Ok(board)
}
