//! The main job's report: every model and every baseline on val, test and ood, with how each
//! model was trained. `leaderboard.json` is `{"splits": {"val": <eval report>, ...}, "models":
//! [...], "dataset": {...}}`, where each split's report holds all models' rows.

use anyhow::Result;
use lvmkit_dataset::Dataset;
use lvmkit_eval::{markdown_table, render_table, EvalReport};
use lvmkit_io::Table;
use lvmkit_train::{RunDir, RunStatus};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
pub struct ModelEntry {
    pub name: String,
    pub run: String,
    pub params: usize,
    pub epochs: usize,
    pub best_epoch: usize,
    pub best_val_cosine: f64,
    pub status: RunStatus,
    /// Mean training samples per second over the epochs.
    pub train_samples_per_s: f64,
    pub train_seconds: f64,
    /// Windows the model trained on per epoch (the shared budget).
    pub train_windows: usize,
    /// Median milliseconds of one forward pass at batch 1 and at batch 256 (real test windows).
    pub infer_ms_batch1: f64,
    pub infer_ms_batch256: f64,
}

#[derive(Serialize)]
pub struct DatasetEntry {
    pub path: String,
    pub manifest_hash: String,
    pub encoder: String,
    pub dim: usize,
    pub context: usize,
    pub concepts: usize,
    /// split → (documents, windows).
    pub splits: BTreeMap<String, (usize, usize)>,
}

#[derive(Serialize)]
pub struct Leaderboard {
    pub splits: BTreeMap<String, EvalReport>,
    pub models: Vec<ModelEntry>,
    pub dataset: DatasetEntry,
    /// Ridge's learning curve, and the best model's beside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<lvmkit_eval::LearningCurve>,
    /// Architectures this leaderboard did not train (`--models` adds them).
    pub left_out: Vec<String>,
    #[serde(skip)]
    order: Vec<String>,
}

impl Leaderboard {
    /// Merge per-model reports: the baselines are the same for every model (same windows, same
    /// bank), so each split keeps one set of baseline rows and every model's row.
    pub fn build(ds: &Dataset, per_model: &[(String, PathBuf, Vec<EvalReport>)]) -> Result<Self> {
        let mut splits: BTreeMap<String, EvalReport> = BTreeMap::new();
        let mut order = Vec::new();
        let mut models = Vec::new();
        for (name, dir, reports) in per_model {
            for r in reports {
                match splits.get_mut(&r.split) {
                    None => {
                        order.push(r.split.clone());
                        splits.insert(r.split.clone(), r.clone());
                    }
                    Some(merged) => {
                        let n_models = merged
                            .rows
                            .iter()
                            .filter(|x| x.kind == lvmkit_eval::RowKind::Model)
                            .count();
                        for (i, row) in r
                            .rows
                            .iter()
                            .filter(|x| x.kind == lvmkit_eval::RowKind::Model)
                            .enumerate()
                        {
                            merged.rows.insert(n_models + i, row.clone());
                        }
                        merged.comparisons.extend(r.comparisons.iter().cloned());
                    }
                }
            }
            let rd = RunDir::new(dir);
            let cfg = rd.read_config()?;
            let h = rd.read_history()?;
            let n = h.epochs.len().max(1) as f64;
            let (_, model) = rd.load_best()?;
            let (infer_ms_batch1, infer_ms_batch256) = latency(&model, ds)?;
            let train_windows = match cfg.train.max_train_windows {
                0 => ds.manifest.splits.get("train").map_or(0, |s| s.windows),
                m => m.min(ds.manifest.splits.get("train").map_or(0, |s| s.windows)),
            };
            models.push(ModelEntry {
                name: name.clone(),
                run: dir.display().to_string(),
                params: cfg.params,
                epochs: h.epochs.len(),
                best_epoch: h.best_epoch,
                best_val_cosine: h.best_val_cosine,
                status: h.status,
                train_samples_per_s: h.epochs.iter().map(|e| e.samples_per_s).sum::<f64>() / n,
                train_seconds: h.epochs.iter().map(|e| e.seconds).sum(),
                train_windows,
                infer_ms_batch1,
                infer_ms_batch256,
            });
        }
        let m = &ds.manifest;
        Ok(Self {
            splits,
            models,
            dataset: DatasetEntry {
                path: ds.dir.display().to_string(),
                manifest_hash: m.hash(),
                encoder: m.encoder.name.clone(),
                dim: m.dim,
                context: m.context,
                concepts: m.concepts,
                splits: m
                    .splits
                    .iter()
                    .map(|(k, v)| (k.clone(), (v.documents, v.windows)))
                    .collect(),
            },
            curve: None,
            left_out: Vec::new(),
            order,
        })
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        lvmkit_io::write_json_atomic(&dir.join("leaderboard.json"), self)?;
        let md = self.markdown();
        lvmkit_io::write_atomic(&dir.join("leaderboard.md"), |w| {
            Ok(w.write_all(md.as_bytes())?)
        })
    }

    pub fn markdown(&self) -> String {
        let d = &self.dataset;
        let mut out = String::new();
        writeln!(out, "# lvmkit leaderboard\n").unwrap();
        writeln!(
            out,
            "Dataset `{}` (manifest `{}`): {} concepts embedded by {} ({}-D), contexts of {} \
             concepts. Splits are by document, so no window of an evaluated document was seen in \
             training:\n",
            d.path,
            &d.manifest_hash[..12],
            d.concepts,
            d.encoder,
            d.dim,
            d.context
        )
        .unwrap();
        let mut splits = Table::named(["split", "documents", "windows"]);
        for s in lvmkit_dataset::layout::SPLITS {
            if let Some((docs, wins)) = d.splits.get(s) {
                splits.row([s.to_string(), docs.to_string(), wins.to_string()]);
            }
        }
        out.push_str(&splits.markdown());
        writeln!(out, "\n## Models\n").unwrap();
        let mut models = Table::named([
            "model",
            "parameters",
            "train windows × epochs",
            "best epoch",
            "best val cosine",
            "train samples/s",
            "training time",
            "latency batch 1",
            "latency batch 256",
        ]);
        for m in &self.models {
            models.row([
                m.name.clone(),
                m.params.to_string(),
                format!("{} × {} ({})", m.train_windows, m.epochs, m.status),
                m.best_epoch.to_string(),
                format!("{:.4}", m.best_val_cosine),
                format!("{:.0}", m.train_samples_per_s),
                format!("{:.0} s", m.train_seconds),
                format!("{:.2} ms", m.infer_ms_batch1),
                format!("{:.1} ms", m.infer_ms_batch256),
            ]);
        }
        out.push_str(&models.markdown());
        if !self.left_out.is_empty() {
            writeln!(
                out,
                "\nNot trained here: {} (add with `--models {},{}` or `--models all`; \
                 `lvmkit bench models` gives each one's speed).",
                self.left_out.join(", "),
                self.models
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                self.left_out.join(",")
            )
            .unwrap();
        }
        for s in &self.order {
            writeln!(out, "\n## {s}\n").unwrap();
            out.push_str(&markdown_table(&self.splits[s]));
        }
        if let Some(c) = &self.curve {
            writeln!(
                out,
                "\n## Learning curves\n\nMean cosine against the number of train windows \
                 (nested subsets of whole documents) and the context length, for ridge (fitted in \
                 closed form, α chosen on val) and the model beside it (its own recipe, trained \
                 again on each subset). Plots: `curve/curve-<split>.svg`.\n"
            )
            .unwrap();
            out.push_str(&c.markdown());
        }
        out.push_str(
            "\n## Reading the tables\n\n\
             - **cosine**: mean cosine between the prediction and the true next sentence's embedding.\n\
             - **recall@k**, **MRR**, **median rank**: where the true next concept (by its concept \
             id, not by vector equality) ranks among *every* concept of the split's documents \
             (`bank`). A duplicate sentence scores the same as the target and does not push it down.\n\
             - **CA** (contrastive accuracy, as in the Large Concept Models paper): the share of the \
             bank's concepts that are farther from the prediction than the true next concept, \
             leaving out the target's copies and its neighbours in its document; 0.5 is chance.\n\
             - **paraphrase**: mean over windows of the prediction's highest cosine to its context, \
             divided by the same for the true next concept. Above 1, predictions sit closer to the \
             context than the truth does: the model copies.\n\
             - Baselines use the very same windows: `copy_last` predicts the last context sentence, \
             `context_mean` the mean of the context, `global_mean` the mean train target, `ridge` a \
             linear map from the flattened context fitted in closed form on train (α chosen on val).\n\
             - The interval under each table is a 95% bootstrap over documents (windows of one \
             document overlap, so resampling windows would understate the uncertainty) of the \
             model's mean cosine minus the best baseline's.\n",
        );
        out
    }

    /// What the main job prints at the end: the models, then the test and ood tables.
    pub fn terminal_summary(&self) -> String {
        let mut t = Table::named([
            "model",
            "params",
            "val cos",
            "samples/s",
            "train s",
            "ms @1",
            "ms @256",
        ]);
        for m in &self.models {
            t.row([
                m.name.clone(),
                m.params.to_string(),
                format!("{:.4}", m.best_val_cosine),
                format!("{:.0}", m.train_samples_per_s),
                format!("{:.0}", m.train_seconds),
                format!("{:.2}", m.infer_ms_batch1),
                format!("{:.1}", m.infer_ms_batch256),
            ]);
        }
        let mut out = format!("\n{}", t.text());
        if !self.left_out.is_empty() {
            writeln!(
                out,
                "not trained: {} (add with --models; see leaderboard.md)",
                self.left_out.join(", ")
            )
            .unwrap();
        }
        for s in ["test", "ood"] {
            if let Some(r) = self.splits.get(s) {
                writeln!(out, "\n{}", render_table(r)).unwrap();
            }
        }
        out
    }
}

/// Median forward-pass latency at batch 1 and 256 on real windows (test split if present).
fn latency(model: &lvmkit_models::Model, ds: &Dataset) -> Result<(f64, f64)> {
    let split = ["test", "val", "train"]
        .into_iter()
        .find(|s| ds.split_names().contains(s))
        .unwrap_or("train");
    let windows = ds.windows(split)?;
    let contexts: Vec<&[f32]> = windows.iter().take(256).map(|w| ds.context_of(w)).collect();
    let mut out = [0.0; 2];
    for (slot, batch) in [1usize, 256].into_iter().enumerate() {
        let rows: Vec<&[f32]> = contexts.iter().cycle().take(batch).copied().collect();
        if rows.is_empty() {
            continue;
        }
        model.predict(&rows)?; // warm-up
        let d = lvmkit_train::bench::median_time(5, std::time::Duration::from_millis(500), || {
            model.predict(&rows).map(|_| ())
        })?;
        out[slot] = d.as_secs_f64() * 1e3;
    }
    Ok((out[0], out[1]))
}
