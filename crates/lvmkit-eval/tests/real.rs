//! The baselines on the default dataset (`runs/default/data`, built by `lvmkit run`), with
//! timings. Ignored by default (it needs the dataset and a minute or two):
//!
//! ```sh
//! cargo test --release -p lvmkit-eval -- --ignored real --nocapture
//! ```
//!
//! `LVMKIT_EVAL_CORPUS=1` also ranks the test split against the whole corpus (slower).

use lvmkit_dataset::Dataset;
use lvmkit_eval::{
    evaluate, plot_cosine_histogram, render_table, Bank, EvalOptions, ModelPredictions, Ridge,
};
use std::path::Path;
use std::time::Instant;

#[test]
#[ignore = "needs runs/default/data"]
fn real_dataset_baselines() {
    // Per-row timings come from the crate's `tracing` lines.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "lvmkit_eval=debug".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runs/default/data");
    assert!(
        dir.join("manifest.json").exists(),
        "{} is missing: build it with `cargo run --release -- run`",
        dir.display()
    );
    let ds = Dataset::open(&dir).unwrap();

    let t = Instant::now();
    let ridge = Ridge::fit(&ds).unwrap();
    eprintln!(
        "ridge fit: {:.1}s on {} train windows ({}×{}), α = {:.4}, val cosine {:.4}",
        t.elapsed().as_secs_f64(),
        ridge.train_windows,
        ds.context() * ds.dim(),
        ds.dim(),
        ridge.alpha,
        ridge.val_cosine
    );
    for g in &ridge.grid {
        eprintln!(
            "  scale {:>7.0e}  α {:>10.4}  val cosine {:.5}",
            g.scale, g.alpha, g.val_cosine
        );
    }
    let out = std::env::temp_dir().join("lvmkit-eval-real");
    let cache = out.join("ridge.safetensors");
    ridge.save(&cache).unwrap();
    let t = Instant::now();
    let cached = Ridge::load_or_fit(&ds, &cache).unwrap();
    eprintln!("ridge from cache: {:.2}s", t.elapsed().as_secs_f64());
    assert_eq!(cached.weight(), ridge.weight());

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
            ..Default::default()
        };
        let t = Instant::now();
        let report = evaluate(&ds, split, &[model], &opts).unwrap();
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "\n{}({secs:.1}s for {} rows: {:.1}s per row)\n",
            render_table(&report),
            report.rows.len(),
            secs / report.rows.len() as f64
        );
        for row in &report.rows {
            assert!(row.cosine > 0.0 && row.cosine < 1.0, "{}", row.name);
            let m = &row.retrieval;
            assert!(m.recall_at_1 <= m.recall_at_5 && m.recall_at_5 <= m.recall_at_10);
            assert!(m.median_rank >= 1.0 && m.median_rank <= report.bank_size as f64);
        }
        let best = report.comparisons[0].best_baseline.clone();
        let series = [
            ("blend", report.rows[0].window_cosines.as_slice()),
            (
                best.as_str(),
                report.row(&best).unwrap().window_cosines.as_slice(),
            ),
        ];
        plot_cosine_histogram(&out.join(format!("cosines-{split}.svg")), split, &series).unwrap();
    }

    if std::env::var_os("LVMKIT_EVAL_CORPUS").is_some() {
        let opts = EvalOptions {
            bank: Bank::Corpus,
            ridge: Some(&ridge),
            ..Default::default()
        };
        let t = Instant::now();
        let report = evaluate(&ds, "test", &[], &opts).unwrap();
        eprintln!(
            "\n{}({:.1}s)",
            render_table(&report),
            t.elapsed().as_secs_f64()
        );
    }
}
