//! Learning curves for the leaderboard: quality against training windows (and context length)
//! for the ridge baseline and for the best model, so a reader sees whether more data would
//! change the ranking. Ridge's curve is closed form ([`lvmkit_eval::ridge_learning_curve`]);
//! the model's points are runs of its own recipe on the same nested subsets of train windows
//! (`max_train_windows` draws them with [`lvmkit_eval::nested_train_subset`]), each kept like
//! any training run when nothing changed.

use crate::runs::TrainStage;
use anyhow::{Context, Result};
use lvmkit_dataset::Dataset;
use lvmkit_eval::{ridge_learning_curve, CurveSeries, LearningCurve};
use lvmkit_io::fresh::{bring_up_to_date, Stage, Stamp};
use lvmkit_train::{RunDir, TrainConfig};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The model whose curve is drawn next to ridge's: its name, its recipe, and its scores (per
/// split) when trained on every train window.
pub struct CurveModel {
    pub name: String,
    pub config: TrainConfig,
    pub full: BTreeMap<String, f64>,
}

/// The curves of one dataset, as a stage: OUTPUT/curve/curve.json, one SVG per split, and a
/// stamp recording the dataset, the sizes and the model's recipe.
pub struct CurveStage<'a> {
    pub ds: &'a Dataset,
    /// OUTPUT/curve.
    pub dir: PathBuf,
    pub splits: Vec<String>,
    pub model: Option<CurveModel>,
    pub made: Option<LearningCurve>,
}

impl CurveStage<'_> {
    /// Numbers of train windows: 1/16, 1/8, 1/4, 1/2 and all of them.
    pub fn sizes(&self) -> Result<Vec<usize>> {
        let n = self.ds.windows("train")?.len();
        let mut s: Vec<usize> = [16, 8, 4, 2, 1].iter().map(|k| (n / k).max(1)).collect();
        s.dedup();
        Ok(s)
    }

    /// Context lengths: 1, 2, 3 and C (those up to C).
    pub fn contexts(&self) -> Vec<usize> {
        let c = self.ds.context();
        let mut k: Vec<usize> = [1, 2, 3, c].into_iter().filter(|k| *k <= c).collect();
        k.dedup();
        k
    }

    fn seed(&self) -> u64 {
        self.model.as_ref().map_or(0, |m| m.config.seed)
    }

    pub fn json_path(&self) -> PathBuf {
        self.dir.join("curve.json")
    }

    pub fn svg_path(&self, split: &str) -> PathBuf {
        self.dir.join(format!("curve-{split}.svg"))
    }

    /// The curve on disk.
    pub fn read(path: &Path) -> Result<LearningCurve> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a learning curve", path.display()))
    }

    fn stamp(&self) -> Stamp {
        Stamp::new(self.dir.join("stamp.json"))
    }
}

impl Stage for CurveStage<'_> {
    fn name(&self) -> String {
        "learning curve".into()
    }
    fn depends_on(&self) -> &'static str {
        "data and recipe"
    }
    fn output(&self) -> PathBuf {
        self.json_path()
    }
    fn inputs(&self) -> Result<serde_json::Value> {
        Ok(json!({
            "dataset": self.ds.manifest.hash(),
            "sizes": self.sizes()?,
            "contexts": self.contexts(),
            "splits": self.splits,
            "seed": self.seed(),
            "model": self.model.as_ref().map(|m| json!({
                "name": m.name,
                "config": m.config,
                "full": m.full,
            })),
        }))
    }
    fn recorded(&self) -> Option<serde_json::Value> {
        self.stamp().read_beside(&self.json_path())
    }
    fn make(&mut self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let sizes = self.sizes()?;
        let splits: Vec<&str> = self.splits.iter().map(|s| s.as_str()).collect();
        let mut curve =
            ridge_learning_curve(self.ds, &sizes, &self.contexts(), self.seed(), &splits)?;
        if let Some(m) = &self.model {
            let mut points = Vec::new();
            // The model's own budget is its full point; it is trained again on 1/8, 1/4, 1/2.
            let all = *sizes.last().expect("at least one size");
            let total = match m.config.max_train_windows {
                0 => all,
                max => max.min(all),
            };
            let mut subsets: Vec<usize> = [8, 4, 2].iter().map(|k| (total / k).max(1)).collect();
            subsets.dedup();
            for size in subsets.into_iter().filter(|s| *s < total) {
                let mut config = m.config.clone();
                config.max_train_windows = size;
                let dir = self.dir.join(format!("{}-{size}", m.name));
                tracing::info!(
                    "learning curve: {} on {size} of {total} train windows",
                    m.name
                );
                let mut stage = TrainStage {
                    ds: self.ds,
                    name: format!("{} ({size} windows)", m.name),
                    config: config.clone(),
                    dir: dir.clone(),
                };
                bring_up_to_date(&mut stage)?;
                let (_, model) = RunDir::new(&dir).load_best()?;
                let mut scores = BTreeMap::new();
                for split in &self.splits {
                    let windows = self.ds.windows(split)?;
                    let stats =
                        lvmkit_train::trainer::evaluate(&model, self.ds, &windows, &config)?;
                    scores.insert(split.clone(), stats.cosine);
                }
                points.push((size, scores));
            }
            points.push((total, m.full.clone()));
            curve.add_series(CurveSeries {
                name: m.name.clone(),
                points,
            })?;
        }
        for split in &self.splits {
            curve.plot_svg(&self.svg_path(split), split)?;
        }
        lvmkit_io::write_json_atomic(&self.json_path(), &curve)?;
        self.stamp().write(&self.inputs()?)?;
        self.made = Some(curve);
        Ok(())
    }
}
