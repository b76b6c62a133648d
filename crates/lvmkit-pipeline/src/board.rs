//! The leaderboard job: every architecture trained on the same split and budget, each
//! evaluated next to the baselines on val, test and ood, their latency measured, and
//! OUTPUT/leaderboard.md and .json written. A model whose config and data are unchanged is
//! not retrained; an evaluation whose checkpoint and data are unchanged is not redone.

use crate::runs::{EvalSettings, EvalStage, TrainStage};
use crate::{Leaderboard, Observer};
use anyhow::{bail, Result};
use lvmkit_dataset::Dataset;
use lvmkit_io::fresh::{bring_up_to_date, Freshness, Stage};
use lvmkit_models::Architecture;
use lvmkit_train::TrainConfig;
use std::path::{Path, PathBuf};

/// Which models the leaderboard trains, on what budget, and how it evaluates them (also the
/// CLI's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct BoardSettings {
    /// Models to train and evaluate, comma-separated, or `all` (`lvmkit models` lists them).
    /// The default leaves out graphmert-lvm (67M parameters, about 20 training samples/s on 2
    /// cores, 6 minutes just to predict the default evaluation splits); `all` adds it.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mlp,lstm,gru,transformer,amn,mamba"
    )]
    pub models: Vec<String>,
    /// Training epochs per model: the cosine schedule decays to its floor over them.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Early stopping: epochs without a better val cosine.
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    /// Each model trains on a seeded sample of at most this many train windows, the same
    /// sample for every model (0 = all). The default keeps all seven models within about 30
    /// minutes on 2 cores; see `lvmkit bench models` for each one's speed.
    #[arg(long, default_value_t = 8_000)]
    pub max_train_windows: usize,
    /// Windows per training step. On a small budget more, smaller steps learn more: at 8,000
    /// windows × 2 epochs, 64 gives every model 250 steps where 256 gave 64.
    #[arg(long, default_value_t = 64)]
    pub train_batch_size: usize,
    /// Training config JSON applied to every model (its "model" field is ignored); --epochs,
    /// --patience, --max-train-windows and --train-batch-size override it.
    #[arg(long, value_name = "FILE")]
    pub train_config: Option<PathBuf>,
    #[command(flatten)]
    pub eval: EvalSettings,
}

impl Default for BoardSettings {
    /// The main job's budget: six architectures, 8,000 windows × 2 epochs in batches of 64.
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
pub fn leaderboard(
    settings: &BoardSettings,
    output: &Path,
    ds: &Dataset,
    labels: [&str; 3],
    obs: &mut dyn Observer,
) -> Result<Leaderboard> {
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
    let board = Leaderboard::build(ds, &per_model)?;
    board.write(output)?;
    obs.leaderboard(output, &board);
    Ok(board)
}
