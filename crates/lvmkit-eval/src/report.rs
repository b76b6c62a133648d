//! One evaluation of a split: models and baselines on the same windows, retrieval and
//! contrastive accuracy over the same bank, the paraphrase ratio, and each model against the
//! best baseline with a document-bootstrap interval. The report is data; [`crate::render`]
//! prints it.

use anyhow::{bail, Result};
use lvmkit_dataset::{Dataset, Window};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::baselines::{self, CONTEXT_MEAN, COPY_LAST, GLOBAL_MEAN, RIDGE};
use crate::bootstrap::cluster_bootstrap;
use crate::contrast;
use crate::linalg::cosine;
use crate::retrieval::{Bank, BankIndex, RetrievalMetrics};
use crate::ridge::Ridge;

/// A model's predictions for every window of the split, in `Dataset::windows` order,
/// row-major [windows, D].
#[derive(Debug, Clone)]
pub struct ModelPredictions {
    pub name: String,
    pub predictions: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
pub struct EvalOptions<'a> {
    pub bank: Bank,
    /// Document resamples for the intervals of the comparisons.
    pub bootstrap_resamples: usize,
    pub seed: u64,
    /// The ridge baseline row; `None` leaves it out (see [`Ridge::load_or_fit`]).
    pub ridge: Option<&'a Ridge>,
}

impl Default for EvalOptions<'_> {
    fn default() -> Self {
        Self {
            bank: Bank::Split,
            bootstrap_resamples: 1000,
            seed: 0,
            ridge: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowKind {
    Model,
    Baseline,
}

/// One row of the report: a model or a baseline on every window of the split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    pub name: String,
    pub kind: RowKind,
    /// Mean cosine between prediction and target.
    pub cosine: f64,
    #[serde(flatten)]
    pub retrieval: RetrievalMetrics,
    /// Mean contrastive accuracy over the bank (0..1, 0.5 = chance; definition in
    /// [`crate::contrast`]). NaN (shown as "–") in a report written before it existed.
    #[serde(default = "not_measured", deserialize_with = "nan_if_null")]
    pub contrastive_accuracy: f64,
    /// Mean max cosine of the predictions with their windows' context over the same for the
    /// truths (above 1: the predictions copy their context; definition in
    /// [`crate::contrast`]). NaN (JSON `null`, shown as "–") when undefined or in a report
    /// written before it existed.
    #[serde(default = "not_measured", deserialize_with = "nan_if_null")]
    pub paraphrase_ratio: f64,
    /// Cosine of each window, in window order (for plots; not serialised).
    #[serde(skip)]
    pub window_cosines: Vec<f32>,
    /// Rank of each window's target (not serialised).
    #[serde(skip)]
    pub window_ranks: Vec<u32>,
}

fn not_measured() -> f64 {
    f64::NAN
}

/// A number, or `null` (how serde_json writes NaN) read back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A model against the best baseline on the same windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub model: String,
    pub best_baseline: String,
    /// Mean cosine of the model minus that of the baseline.
    pub delta: f64,
    pub ci95: [f64; 2],
    pub resamples: usize,
    /// What the bootstrap resamples: always "document".
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub split: String,
    pub windows: usize,
    /// Concepts ranked against (duplicate sentences included).
    pub bank_size: usize,
    pub bank: Bank,
    /// Manifest hash of the dataset.
    pub dataset: String,
    /// Models first (in the order given), then copy_last, context_mean, global_mean, ridge.
    pub rows: Vec<EvalRow>,
    pub comparisons: Vec<Comparison>,
    /// Distinct vectors in the bank.
    pub bank_unique: usize,
    /// Documents of the split with at least one window (the bootstrap's clusters).
    pub documents: usize,
    /// The ridge baseline's chosen α and its mean cosine on val, when it is a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ridge: Option<RidgeInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RidgeInfo {
    pub alpha: f64,
    pub val_cosine: f64,
}

impl EvalReport {
    pub fn row(&self, name: &str) -> Option<&EvalRow> {
        self.rows.iter().find(|r| r.name == name)
    }
}

/// Scores every model and baseline on the windows of `split`.
pub fn evaluate(
    ds: &Dataset,
    split: &str,
    models: &[ModelPredictions],
    opts: &EvalOptions,
) -> Result<EvalReport> {
    let windows = ds.windows(split)?;
    let hash = ds.manifest.hash();
    if windows.is_empty() {
        bail!(
            "split '{split}' of dataset {} ({}) has no windows: no document of it has more than {} sentences",
            ds.dir.display(),
            &hash[..12],
            ds.context()
        );
    }
    let (w, d) = (windows.len(), ds.dim());
    for m in models {
        if m.predictions.len() != w * d {
            bail!(
                "model '{}': predictions have {} values, expected [{w}, {d}] = {} (one row per window of split '{split}', in window order)",
                m.name,
                m.predictions.len(),
                w * d
            );
        }
        if let Some(i) = m.predictions.iter().position(|x| !x.is_finite()) {
            bail!(
                "model '{}': the prediction for window {} of split '{split}' is not finite",
                m.name,
                i / d
            );
        }
    }
    if let Some(r) = opts.ridge {
        r.check_dataset(ds)?;
    }
    for (i, m) in models.iter().enumerate() {
        if BASELINES.contains(&m.name.as_str()) {
            bail!(
                "model '{}' is named like a baseline ({}); rename it",
                m.name,
                BASELINES.join(", ")
            );
        }
        if models[..i].iter().any(|o| o.name == m.name) {
            bail!(
                "two models are named '{}'; rows are told apart by name",
                m.name
            );
        }
    }

    let started = Instant::now();
    let bank = BankIndex::build(ds, split, opts.bank)?;
    tracing::debug!(
        "{} bank for '{split}': {} concepts ({} distinct) in {:.1}s",
        opts.bank,
        bank.size(),
        bank.unique(),
        started.elapsed().as_secs_f64()
    );
    let targets: Vec<usize> = windows.iter().map(|w| w.target).collect();
    let neighbours = contrast::neighbours(ds, &windows);
    let truth_context = contrast::max_context_cosines(ds, &windows, |i| ds.target_of(&windows[i]));
    let scorer = Scorer {
        ds,
        windows: &windows,
        bank: &bank,
        targets: &targets,
        neighbours: &neighbours,
        truth_context: &truth_context,
    };

    let mut rows = Vec::new();
    for m in models {
        rows.push(scorer.row(&m.name, RowKind::Model, Preds::PerWindow(&m.predictions))?);
    }
    let copy = baselines::copy_last(ds, &windows);
    rows.push(scorer.row(COPY_LAST, RowKind::Baseline, Preds::PerWindow(&copy))?);
    let mean = baselines::context_mean(ds, &windows);
    rows.push(scorer.row(CONTEXT_MEAN, RowKind::Baseline, Preds::PerWindow(&mean))?);
    let global = baselines::global_mean(ds)?;
    rows.push(scorer.row(GLOBAL_MEAN, RowKind::Baseline, Preds::Same(&global))?);
    if let Some(r) = opts.ridge {
        let pred = r.predict_windows(ds, &windows)?;
        rows.push(scorer.row(RIDGE, RowKind::Baseline, Preds::PerWindow(&pred))?);
    }

    let best = rows
        .iter()
        .filter(|r| r.kind == RowKind::Baseline)
        .max_by(|a, b| a.cosine.total_cmp(&b.cosine))
        .expect("baseline rows");
    let docs: Vec<usize> = windows.iter().map(|w| w.doc).collect();
    let mut comparisons = Vec::new();
    for model in rows.iter().filter(|r| r.kind == RowKind::Model) {
        let diff: Vec<f64> = model
            .window_cosines
            .iter()
            .zip(&best.window_cosines)
            .map(|(m, b)| *m as f64 - *b as f64)
            .collect();
        let ci = cluster_bootstrap(&diff, &docs, opts.bootstrap_resamples, opts.seed)?;
        comparisons.push(Comparison {
            model: model.name.clone(),
            best_baseline: best.name.clone(),
            delta: model.cosine - best.cosine,
            ci95: [ci.lo, ci.hi],
            resamples: ci.resamples,
            unit: "document".into(),
        });
    }
    let documents: std::collections::BTreeSet<usize> = docs.iter().copied().collect();
    Ok(EvalReport {
        split: split.to_string(),
        windows: w,
        bank_size: bank.size(),
        bank: opts.bank,
        dataset: hash,
        rows,
        comparisons,
        bank_unique: bank.unique(),
        documents: documents.len(),
        ridge: opts.ridge.map(|r| RidgeInfo {
            alpha: r.alpha,
            val_cosine: r.val_cosine,
        }),
    })
}

const BASELINES: [&str; 4] = [COPY_LAST, CONTEXT_MEAN, GLOBAL_MEAN, RIDGE];

enum Preds<'a> {
    /// One row per window.
    PerWindow(&'a [f32]),
    /// One vector for every window.
    Same(&'a [f32]),
}

struct Scorer<'a> {
    ds: &'a Dataset,
    windows: &'a [Window],
    bank: &'a BankIndex,
    targets: &'a [usize],
    /// Each target's neighbours in its document, left out of its contrast set.
    neighbours: &'a [[Option<usize>; 2]],
    /// max_k cos(target, context_k) of each window: the paraphrase ratio's denominator.
    truth_context: &'a [f64],
}

impl Scorer<'_> {
    fn row(&self, name: &str, kind: RowKind, preds: Preds) -> Result<EvalRow> {
        let started = Instant::now();
        let d = self.ds.dim();
        let pred_of = |i: usize| match preds {
            Preds::PerWindow(p) => &p[i * d..(i + 1) * d],
            Preds::Same(p) => p,
        };
        let cosines: Vec<f64> = (0..self.windows.len())
            .into_par_iter()
            .map(|i| cosine(pred_of(i), self.ds.target_of(&self.windows[i])))
            .collect();
        // Summed in window order: the same number on every run.
        let cos = cosines.iter().sum::<f64>() / cosines.len() as f64;
        let window_cosines = cosines.iter().map(|c| *c as f32).collect();
        // One pass over the bank gives each window's rank and contrastive accuracy.
        let standings = match preds {
            Preds::PerWindow(p) => self.bank.standings(p, self.targets, self.neighbours)?,
            Preds::Same(p) => self
                .bank
                .standings_constant(p, self.targets, self.neighbours)?,
        };
        let window_ranks: Vec<u32> = standings.iter().map(|s| s.rank()).collect();
        let retrieval = RetrievalMetrics::from_ranks(&window_ranks);
        let contrastive_accuracy = contrast::contrastive_accuracy(&standings, self.bank.size());
        let pred_context = contrast::max_context_cosines(self.ds, self.windows, pred_of);
        let paraphrase_ratio = contrast::paraphrase_ratio(&pred_context, self.truth_context);
        tracing::info!(
            "{name}: cosine {cos:.4}, recall@1 {:.4}, mrr {:.4}, CA {contrastive_accuracy:.4}, paraphrase {paraphrase_ratio:.4} ({:.1}s)",
            retrieval.recall_at_1,
            retrieval.mrr,
            started.elapsed().as_secs_f64()
        );
        Ok(EvalRow {
            name: name.to_string(),
            kind,
            cosine: cos,
            retrieval,
            contrastive_accuracy,
            paraphrase_ratio,
            window_cosines,
            window_ranks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{unit, write_dataset, Doc};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Random unit vectors: 8 train documents, 3 val, 4 test (one of them too short for a
    /// window), no ood documents.
    fn dataset(dir: &std::path::Path) -> Dataset {
        let d = 8;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut docs = vec![];
        for (split, n, len) in [
            ("train", 8, 9),
            ("val", 3, 7),
            ("test", 3, 8),
            ("test", 1, 2),
        ] {
            for _ in 0..n {
                docs.push(Doc::new(
                    split,
                    (0..len).map(|_| unit(&mut rng, d)).collect(),
                ));
            }
        }
        write_dataset(dir, d, 3, &docs)
    }

    fn oracle(ds: &Dataset, split: &str) -> ModelPredictions {
        let windows = ds.windows(split).unwrap();
        ModelPredictions {
            name: "oracle".into(),
            predictions: windows
                .iter()
                .flat_map(|w| ds.target_of(w).to_vec())
                .collect(),
        }
    }

    #[test]
    fn a_perfect_model_tops_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let ridge = Ridge::fit(&ds).unwrap();
        let opts = EvalOptions {
            ridge: Some(&ridge),
            ..Default::default()
        };
        let report = evaluate(&ds, "test", &[oracle(&ds, "test")], &opts).unwrap();
        assert_eq!(report.windows, 15);
        // Bank: all sentences of the 4 test documents, the 2-sentence one included.
        assert_eq!(report.bank_size, 3 * 8 + 2);
        assert_eq!(report.documents, 3);
        let names: Vec<&str> = report.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "oracle",
                "copy_last",
                "context_mean",
                "global_mean",
                "ridge"
            ]
        );
        let top = &report.rows[0];
        assert!((top.cosine - 1.0).abs() < 1e-6);
        assert_eq!(top.retrieval.recall_at_1, 1.0);
        assert_eq!(top.retrieval.median_rank, 1.0);
        assert_eq!(top.window_cosines.len(), 15);
        // copy_last's cosine is exactly the mean dot product of each target with its
        // predecessor.
        let windows = ds.windows("test").unwrap();
        let expected = windows
            .iter()
            .map(|w| crate::linalg::dot(ds.target_of(w), ds.concepts.row(w.target - 1)))
            .sum::<f64>()
            / 15.0;
        assert!((report.row("copy_last").unwrap().cosine - expected).abs() < 1e-6);

        let c = &report.comparisons[0];
        let best = report.rows[1..]
            .iter()
            .max_by(|a, b| a.cosine.total_cmp(&b.cosine))
            .unwrap();
        assert_eq!(c.best_baseline, best.name);
        assert!((c.delta - (top.cosine - best.cosine)).abs() < 1e-12);
        assert!(c.ci95[0] <= c.delta && c.delta <= c.ci95[1], "{c:?}");
        assert_eq!((c.resamples, c.unit.as_str()), (1000, "document"));

        // The JSON shape the CLI and later tools read.
        let json = serde_json::to_value(&report).unwrap();
        for key in [
            "split",
            "windows",
            "bank_size",
            "bank",
            "dataset",
            "rows",
            "comparisons",
        ] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
        assert_eq!(json["bank"], "split");
        assert_eq!(json["dataset"], ds.manifest.hash());
        let row = &json["rows"][0];
        for key in [
            "name",
            "kind",
            "cosine",
            "recall@1",
            "recall@5",
            "recall@10",
            "mrr",
            "median_rank",
            "contrastive_accuracy",
            "paraphrase_ratio",
        ] {
            assert!(row.get(key).is_some(), "row field {key} missing");
        }
        assert_eq!(row["kind"], "model");
        assert_eq!(json["rows"][1]["kind"], "baseline");
        assert!(row.get("window_cosines").is_none());
        assert_eq!(json["comparisons"][0]["unit"], "document");
        assert_eq!(json["comparisons"][0]["ci95"].as_array().unwrap().len(), 2);

        // Same inputs, same report (the bootstrap is seeded).
        assert_eq!(
            evaluate(&ds, "test", &[oracle(&ds, "test")], &opts).unwrap(),
            report
        );

        let table = crate::render::render_table(&report);
        assert!(table.contains("oracle") && table.contains("recall@10"));
        assert!(table.contains("best baseline"));
        let md = crate::render::markdown_table(&report);
        assert!(md.contains("| oracle | model | 1.0000 | 1.0000 |"), "{md}");
    }

    #[test]
    fn reports_without_the_contrastive_metrics_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let report = evaluate(&ds, "test", &[oracle(&ds, "test")], &Default::default()).unwrap();
        let mut json = serde_json::to_value(&report).unwrap();
        for row in json["rows"].as_array_mut().unwrap() {
            let row = row.as_object_mut().unwrap();
            row.remove("contrastive_accuracy");
            // serde_json writes an undefined ratio (NaN) as null.
            row.insert("paraphrase_ratio".into(), serde_json::Value::Null);
        }
        let old: EvalReport = serde_json::from_value(json).unwrap();
        assert!(old.rows.iter().all(|r| r.contrastive_accuracy.is_nan()));
        assert!(old.rows.iter().all(|r| r.paraphrase_ratio.is_nan()));
        let md = crate::render::markdown_table(&old);
        assert!(md.contains("| CA | paraphrase |"), "{md}");
        assert!(md.contains("| – | – |"), "{md}");
    }

    #[test]
    fn the_corpus_bank_holds_every_concept() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let opts = EvalOptions {
            bank: Bank::Corpus,
            ..Default::default()
        };
        let report = evaluate(&ds, "test", &[], &opts).unwrap();
        assert_eq!(report.bank_size, ds.manifest.concepts);
        assert_eq!(report.rows.len(), 3);
        assert!(report.comparisons.is_empty());
        assert_eq!(serde_json::to_value(&report).unwrap()["bank"], "corpus");
    }

    #[test]
    fn an_empty_split_names_itself_and_the_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let err = evaluate(&ds, "ood", &[], &EvalOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'ood'") && err.contains("no windows"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn bad_model_inputs_are_errors_that_name_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let mut m = oracle(&ds, "test");
        m.name = "mlp".into();
        m.predictions.truncate(14 * 8);
        let err = evaluate(&ds, "test", &[m.clone()], &EvalOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'mlp'") && err.contains("112") && err.contains("[15, 8]"),
            "{err}"
        );

        let mut twin = oracle(&ds, "test");
        let err = evaluate(
            &ds,
            "test",
            &[twin.clone(), twin.clone()],
            &EvalOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("two models are named 'oracle'"), "{err}");
        twin.name = "ridge".into();
        let err = evaluate(&ds, "test", &[twin], &EvalOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'ridge' is named like a baseline"), "{err}");

        m.predictions = oracle(&ds, "test").predictions;
        m.predictions[20] = f32::NAN;
        let err = evaluate(&ds, "test", &[m], &EvalOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("window 2") && err.contains("not finite"),
            "{err}"
        );
    }
}
