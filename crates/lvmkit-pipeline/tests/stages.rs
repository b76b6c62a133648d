//! The pipeline's stages on a small real dataset (Brown samples and Wikipedia articles, embedded
//! by all-MiniLM-L6-v2): each is made once and kept while its inputs are unchanged, and the
//! baselines behave on real text. Needs the fetched data (`lvmkit fetch`); fails without it.

use lvmkit_corpus::{Format, SegmentConfig};
use lvmkit_dataset::{Dataset, SplitRatios};
use lvmkit_eval::{evaluate, render_table, EvalOptions, ModelPredictions, Ridge};
use lvmkit_io::fresh::{bring_up_to_date, is_fresh, Freshness};
use lvmkit_pipeline::dataset::{DatasetSpec, DatasetStage};
use lvmkit_pipeline::encode::load_encoder;
use lvmkit_pipeline::{BoardSettings, Observer};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Keeps every `step`-th document of a corpus JSONL, each cut to `max` sentences.
fn slice(input: &Path, output: &Path, step: usize, take: usize, max: usize) {
    let text = std::fs::read_to_string(input).unwrap();
    let mut out = String::new();
    for line in text.lines().step_by(step).take(take) {
        let mut doc: serde_json::Value = serde_json::from_str(line).unwrap();
        doc["sentences"].as_array_mut().unwrap().truncate(max);
        out.push_str(&doc.to_string());
        out.push('\n');
    }
    std::fs::write(output, out).unwrap();
}

/// 40 Brown samples (train/val/test) and 6 Wikipedia articles (ood), sliced into a folder kept
/// for the whole test binary, with a dataset spec over them.
fn corpora() -> &'static (tempfile::TempDir, DatasetSpec) {
    static DIR: OnceLock<(tempfile::TempDir, DatasetSpec)> = OnceLock::new();
    DIR.get_or_init(|| {
        let data = lvmkit_sources::fetched(&["all-MiniLM-L6-v2", "brown", "enwiki-sample"]);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cfg = SegmentConfig::default();
        for (name, format) in [("brown", Format::Brown), ("enwiki-sample", Format::Wiki)] {
            let full = d.join(format!("{name}-full.jsonl"));
            lvmkit_corpus::ingest_to_file(&[data.corpus(name).unwrap()], format, &cfg, &full)
                .unwrap();
        }
        slice(
            &d.join("brown-full.jsonl"),
            &d.join("brown.jsonl"),
            12,
            40,
            40,
        );
        slice(
            &d.join("enwiki-sample-full.jsonl"),
            &d.join("wiki.jsonl"),
            15,
            6,
            40,
        );
        let spec = DatasetSpec {
            corpus: vec![d.join("brown.jsonl")],
            ood: vec![d.join("wiki.jsonl")],
            context: 5,
            ratios: SplitRatios::default(),
            seed: 42,
            batch_size: 64,
            cache: Some(d.join("cache")),
        };
        (dir, spec)
    })
}

fn encoder_dir() -> PathBuf {
    lvmkit_sources::fetched(&["all-MiniLM-L6-v2"]).default_encoder()
}

#[test]
fn the_dataset_stage_is_built_once_and_again_when_an_input_changes() {
    let (dir, spec) = corpora();
    let enc = load_encoder(&encoder_dir()).unwrap();
    let out = dir.path().join("stage-data");
    let mut stage = DatasetStage {
        spec,
        encoder: &enc,
        output: &out,
    };
    assert_eq!(bring_up_to_date(&mut stage).unwrap(), Freshness::Made);
    assert_eq!(bring_up_to_date(&mut stage).unwrap(), Freshness::Kept);
    let first = Dataset::open(&out).unwrap().manifest;

    // Another setting.
    let other = DatasetSpec {
        context: 3,
        ..spec.clone()
    };
    let stage = DatasetStage {
        spec: &other,
        encoder: &enc,
        output: &out,
    };
    assert!(!is_fresh(&stage).unwrap());

    // The same corpus path with other content.
    let copy = dir.path().join("brown-copy.jsonl");
    std::fs::copy(&spec.corpus[0], &copy).unwrap();
    let moved = DatasetSpec {
        corpus: vec![copy.clone()],
        ..spec.clone()
    };
    let mut stage = DatasetStage {
        spec: &moved,
        encoder: &enc,
        output: &out,
    };
    assert_eq!(bring_up_to_date(&mut stage).unwrap(), Freshness::Made);
    let text = std::fs::read_to_string(&copy).unwrap();
    std::fs::write(
        &copy,
        text.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    assert!(!is_fresh(&stage).unwrap());
    assert!(first.splits["train"].windows > 100, "{:?}", first.splits);
}

/// Records which stages were kept.
#[derive(Default)]
struct Kept(Vec<String>);

impl Observer for Kept {
    fn kept(&mut self, name: &str, depends_on: &str, _output: &Path) {
        self.0.push(format!("{name}: {depends_on}"));
    }
}

#[test]
fn the_leaderboard_keeps_runs_and_evaluations_whose_inputs_are_unchanged() {
    let (dir, spec) = corpora();
    let data = dir.path().join("board-data");
    spec.build(&load_encoder(&encoder_dir()).unwrap(), &data)
        .unwrap();
    let ds = Dataset::open(&data).unwrap();
    let settings = BoardSettings {
        models: vec!["mlp".into()],
        epochs: 1,
        max_train_windows: 200,
        eval: lvmkit_pipeline::EvalSettings {
            bootstrap: 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let out = dir.path().join("board");
    let steps = ["train", "evaluate", "report"];
    let mut first = Kept::default();
    let board = lvmkit_pipeline::leaderboard(&settings, &out, &ds, steps, &mut first).unwrap();
    assert!(first.0.is_empty(), "{:?}", first.0);
    let mut second = Kept::default();
    let again = lvmkit_pipeline::leaderboard(&settings, &out, &ds, steps, &mut second).unwrap();
    assert_eq!(
        second.0,
        [
            "mlp: config and data",
            "mlp: checkpoint and data",
            "learning curve: data and recipe"
        ]
    );
    // The curve: ridge at every size and context, and the model trained again on 1/8, 1/4
    // and 1/2 of its 200 windows, beside its full run.
    let curve = board.curve.as_ref().unwrap();
    assert_eq!(curve.contexts(), [1, 2, 3, 5]);
    let model = &curve.series[0];
    assert_eq!(model.name, "mlp");
    let sizes: Vec<usize> = model.points.iter().map(|p| p.0).collect();
    assert_eq!(sizes, [25, 50, 100, 200]);
    assert!(model.points.iter().all(|p| p.1["val"].is_finite()));
    assert!(out.join("curve").join("curve-val.svg").exists());
    let json = |b: &lvmkit_pipeline::Leaderboard| serde_json::to_value(&b.splits).unwrap();
    assert_eq!(json(&board), json(&again));
    // Another evaluation setting re-evaluates without retraining.
    let other = BoardSettings {
        eval: lvmkit_pipeline::EvalSettings {
            bootstrap: 30,
            ..Default::default()
        },
        ..settings
    };
    let mut third = Kept::default();
    lvmkit_pipeline::leaderboard(&other, &out, &ds, steps, &mut third).unwrap();
    assert_eq!(
        third.0,
        ["mlp: config and data", "learning curve: data and recipe"]
    );
}

/// The baselines on real text (this was an ignored test over the main job's dataset; it runs
/// here on every CI run, on the small real dataset).
#[test]
fn the_baselines_behave_on_real_text() {
    let (dir, spec) = corpora();
    let data = dir.path().join("baselines-data");
    spec.build(&load_encoder(&encoder_dir()).unwrap(), &data)
        .unwrap();
    let ds = Dataset::open(&data).unwrap();
    let ridge = Ridge::fit(&ds).unwrap();
    assert!(
        ridge.alpha > 0.0 && ridge.val_cosine > 0.0,
        "α {}",
        ridge.alpha
    );
    // The cache round-trips exactly, and `Ridge::cached` loads it.
    let cached = lvmkit_eval::Ridge::cached(&ds).unwrap();
    assert_eq!(cached.weight(), ridge.weight());
    assert_eq!(
        lvmkit_eval::Ridge::cached(&ds).unwrap().weight(),
        ridge.weight()
    );

    for split in ["test", "ood"] {
        // A stand-in model (ridge and copy-last averaged) to exercise the comparison path.
        let windows = ds.windows(split).unwrap();
        let d = ds.dim();
        let r = ridge.predict_windows(&ds, &windows).unwrap();
        let c = lvmkit_eval::baselines::copy_last(&ds, &windows);
        let mut blend: Vec<f32> = r.iter().zip(&c).map(|(a, b)| a + b).collect();
        for row in blend.chunks_exact_mut(d) {
            let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= n);
        }
        let model = ModelPredictions {
            name: "blend".into(),
            predictions: blend,
        };
        let opts = EvalOptions {
            ridge: Some(&ridge),
            bootstrap_resamples: 100,
            ..Default::default()
        };
        let report = evaluate(&ds, split, &[model], &opts).unwrap();
        eprintln!("{}", render_table(&report));
        for row in &report.rows {
            assert!(row.cosine > 0.0 && row.cosine < 1.0, "{}", row.name);
            let m = &row.retrieval;
            assert!(m.recall_at_1 <= m.recall_at_5 && m.recall_at_5 <= m.recall_at_10);
            assert!(m.median_rank >= 1.0 && m.median_rank <= report.bank_size as f64);
        }
        // Real text is not noise: the context predicts the next sentence better than the
        // mean of all training targets does.
        let cos = |n: &str| report.row(n).unwrap().cosine;
        assert!(cos("context_mean") > cos("global_mean"), "{split}");
        assert_eq!(report.comparisons.len(), 1);
    }
}
