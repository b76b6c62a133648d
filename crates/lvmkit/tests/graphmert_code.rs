//! `lvmkit graphmert code data` on slices of the real Python standard library and Rust's core
//! (fetched by `lvmkit fetch`), and its refusals.

mod common;

use common::{data, fails_with, lvmkit, ok, s};
use serde_json::Value;
use std::path::Path;

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn code_data_parses_real_source_slices_into_a_split_graph_with_provenance() {
    let d = data(&["python-stdlib", "python-stdlib-core", "rust-stdlib"]);
    let tmp = tempfile::tempdir().unwrap();
    // Two source trees: Python's json and email packages, Rust's core::option and core::result.
    let py = tmp.path().join("py");
    for pkg in ["json", "email"] {
        let from = [
            d.corpus("python-stdlib").unwrap(),
            d.corpus("python-stdlib-core").unwrap(),
        ]
        .into_iter()
        .map(|r| r.join(pkg))
        .find(|p| p.is_dir())
        .unwrap();
        copy_dir(&from, &py.join(pkg));
    }
    let rs = tmp.path().join("rs/core/src");
    std::fs::create_dir_all(&rs).unwrap();
    for f in ["option.rs", "result.rs"] {
        let from = d.corpus("rust-stdlib").unwrap().join("core/src").join(f);
        std::fs::copy(from, rs.join(f)).unwrap();
    }
    let out = tmp.path().join("out");
    let o = ok(lvmkit(&[
        "graphmert",
        "code",
        "data",
        "--source",
        s(&py),
        "--source",
        s(&tmp.path().join("rs")),
        "--held-out",
        "0.3",
        "--output",
        s(&out),
        "--baselines",
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("| calls |"), "{stdout}");
    assert!(stdout.contains("0 ontology violations"), "{stdout}");
    assert!(
        stdout.contains("| bm25 |") && stdout.contains("| encoder |"),
        "{stdout}"
    );

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["violations"], 0);
    assert!(summary["held_out_fraction"].as_f64().unwrap() >= 0.3);
    for r in [
        "contains",
        "defines",
        "calls",
        "raises",
        "returns",
        "inherits_from",
    ] {
        let c = &summary["relations"][r];
        assert!(c["train"].as_u64().unwrap() > 0, "{r}: {c}");
    }

    let entities = jsonl(&out.join("entities.jsonl"));
    let decode = entities
        .iter()
        .find(|e| e["qualname"] == "json.decoder.JSONDecoder.decode")
        .expect("JSONDecoder.decode parsed");
    assert_eq!(decode["kind"], "Method");
    assert!(decode["doc"]
        .as_str()
        .unwrap()
        .contains("Python representation"));
    assert!(decode["signature"]
        .as_str()
        .unwrap()
        .starts_with("def decode(self, s"));
    assert!(entities
        .iter()
        .any(|e| e["qualname"] == "core::option::Option::map"));
    // Whole modules: every entity of a module is on its module's side.
    let part_of: std::collections::HashMap<u64, &str> = entities
        .iter()
        .map(|e| (e["id"].as_u64().unwrap(), e["part"].as_str().unwrap()))
        .collect();
    for e in &entities {
        if let Some(m) = e["module"].as_u64() {
            assert_eq!(part_of[&m], e["part"].as_str().unwrap(), "{e}");
        }
    }
    // Edges keep where they were read.
    let edges = jsonl(&out.join("edges.jsonl"));
    let raises = edges
        .iter()
        .find(|e| {
            e["relation"] == "raises" && e["head_name"] == "json.decoder.JSONDecoder.raw_decode"
        })
        .expect("raw_decode raises");
    assert_eq!(raises["file"], "py/json/decoder.py");
    assert!(raises["line"].as_u64().unwrap() > 0);
    assert!(raises["text"].as_str().unwrap().contains("raise"));
    // The code-search queries are held-out functions' first doc sentences.
    let search = jsonl(&out.join("search.jsonl"));
    assert!(!search.is_empty());
    for q in &search {
        let id = q["entity"].as_u64().unwrap();
        assert_eq!(part_of[&id], "held_out");
        assert!(q["query"].as_str().unwrap().split_whitespace().count() >= 3);
    }

    let baselines: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("search_baselines.json")).unwrap())
            .unwrap();
    for r in baselines["rows"].as_array().unwrap() {
        for k in ["mrr", "recall@1", "recall@10"] {
            let v = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{r}");
        }
        assert_eq!(r["queries"].as_u64().unwrap() as usize, search.len());
    }

    // GraphMERT trained on the slice (tiny preset, a few sequences), and the ablation without
    // leaves; then scored on the held-out modules next to every baseline.
    let run = tmp.path().join("run");
    let rs_root = tmp.path().join("rs");
    let train = |extra: &[&str], output: &Path| {
        let mut args = vec![
            "graphmert",
            "code",
            "train",
            "--source",
            s(&py),
            "--source",
            s(&rs_root),
            "--held-out",
            "0.3",
            "--preset",
            "tiny",
            "--epochs",
            "1",
            "--max-sequences",
            "64",
            "--vocab-size",
            "2000",
            "--min-per-relation",
            "5",
            "--output",
            s(output),
        ];
        args.extend_from_slice(extra);
        lvmkit(&args)
    };
    let o = ok(train(&[], &run));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("| 1 |") && stdout.contains("| calls |"),
        "{stdout}"
    );
    for f in [
        "config.json",
        "history.json",
        "model.safetensors",
        "tokenizer.json",
        "code.json",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    fails_with(&train(&[], &run), "already holds a GraphMERT run");
    let ablation = tmp.path().join("no-leaves");
    ok(train(&["--no-leaves"], &ablation));
    // The encoder fine-tuned for search on the training modules' pairs; eval ranks with it.
    let o = ok(lvmkit(&[
        "graphmert",
        "code",
        "search-train",
        "--run",
        s(&run),
        "--epochs",
        "2",
        "--batch-size",
        "8",
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("0 (pretrained)") && stdout.contains("kept epoch"),
        "{stdout}"
    );
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("search.json")).unwrap()).unwrap();
    let epochs = record["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    // In-batch negatives: the loss starts near ln(8) and falls.
    let loss = |i: usize| epochs[i]["loss"].as_f64().unwrap();
    assert!(loss(1) < loss(0) && loss(0) < 3.0, "{record}");
    let kept = record["kept"].as_u64().unwrap() as usize;
    let best = epochs
        .iter()
        .map(|e| e["val_mrr"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(epochs[kept - 1]["val_mrr"].as_f64().unwrap(), best);
    assert!(run.join("search.safetensors").exists());
    // The saved weights are the kept epoch's: scored again on the validation modules, they
    // give its MRR.
    let val_dir = tmp.path().join("eval-val");
    ok(lvmkit(&[
        "graphmert",
        "code",
        "eval",
        "--run",
        s(&run),
        "--on",
        "val",
        "--output",
        s(&val_dir),
        "--max-heads",
        "5",
        "--mlm-sequences",
        "4",
        "--transe-epochs",
        "1",
    ]));
    let val: Value =
        serde_json::from_str(&std::fs::read_to_string(val_dir.join("eval_val.json")).unwrap())
            .unwrap();
    let tuned = &val["search"]["rows"][0];
    assert_eq!(tuned["name"], "graphmert");
    assert!(
        (tuned["mrr"].as_f64().unwrap() - best).abs() < 1e-9,
        "{tuned} against {record}"
    );
    fails_with(
        &lvmkit(&[
            "graphmert",
            "code",
            "search-train",
            "--run",
            s(&run),
            "--batch-size",
            "1",
        ]),
        "--batch-size: in-batch negatives need at least 2 pairs",
    );
    let eval_dir = tmp.path().join("eval");
    let code_eval = |ablation: &Path| {
        lvmkit(&[
            "graphmert",
            "code",
            "eval",
            "--run",
            s(&run),
            "--ablation",
            s(ablation),
            "--output",
            s(&eval_dir),
            "--max-heads",
            "30",
            "--mlm-sequences",
            "32",
            "--transe-epochs",
            "1",
        ])
    };
    let o = ok(code_eval(&ablation));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("| embedding |") && stdout.contains("| no_leaves |"),
        "{stdout}"
    );
    let eval: Value =
        serde_json::from_str(&std::fs::read_to_string(eval_dir.join("eval.json")).unwrap())
            .unwrap();
    let names = |section: &str| -> Vec<String> {
        eval[section]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("relations"),
        ["graphmert", "text_only", "graph_only", "embedding"]
    );
    assert_eq!(
        names("search"),
        ["graphmert", "graphmert_pretrained", "bm25", "encoder"]
    );
    assert_eq!(
        names("mlm"),
        ["graphmert", "graphmert_without_leaves", "no_leaves"]
    );
    for r in eval["relations"]["rows"].as_array().unwrap() {
        for k in ["precision", "recall", "hits@1", "hits@10", "validity"] {
            let v = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k}: {r}");
        }
    }
    for r in eval["search"]["rows"].as_array().unwrap() {
        for k in ["mrr", "recall@1", "recall@10"] {
            let v = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k}: {r}");
        }
    }
    for t in jsonl(&eval_dir.join("extracted.jsonl")) {
        assert!(t["file"].as_str().unwrap().contains('/'), "{t}");
        assert!(t["line"].as_u64().unwrap() > 0);
        assert!(!t["text"].as_str().unwrap().is_empty());
        assert!(t["held_out_edge"].is_boolean());
        assert!(["calls", "raises", "returns", "inherits_from"]
            .contains(&t["relation"].as_str().unwrap()));
    }
    // The ablation must be a --no-leaves run.
    fails_with(&code_eval(&run), "not a run trained with --no-leaves");

    // tune chooses --mention and --min-score on the validation modules; every point beside
    // the three baselines, best first.
    let tune_dir = tmp.path().join("tune");
    let o = ok(lvmkit(&[
        "graphmert",
        "code",
        "tune",
        "--run",
        s(&run),
        "--output",
        s(&tune_dir),
        "--transe-epochs",
        "1",
        "--mention-grid",
        "off,2",
        "--min-score-grid",
        "-1000,-3",
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("best on the validation modules: --mention"),
        "{stdout}"
    );
    let tune: Value =
        serde_json::from_str(&std::fs::read_to_string(tune_dir.join("tune.json")).unwrap())
            .unwrap();
    assert_eq!(tune["on"], "val");
    let points = tune["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    let ratios: Vec<f64> = points
        .iter()
        .map(|p| p["worst_ratio"].as_f64().unwrap())
        .collect();
    assert!(ratios.windows(2).all(|w| w[0] >= w[1]), "{ratios:?}");
    // A threshold never adds a triple.
    let triples = |mention: &str, min: f64| {
        points
            .iter()
            .find(|p| {
                p["choice"]["mention"].to_string().trim_matches('"') == mention
                    && p["choice"]["min_score"].as_f64() == Some(min)
            })
            .unwrap()["row"]["triples"]
            .as_u64()
            .unwrap()
    };
    assert!(triples("off", -3.0) <= triples("off", -1000.0), "{tune}");
    assert_eq!(tune["baselines"].as_array().unwrap().len(), 3);

    // extract completes every function, method and class of the held-out modules.
    let x_dir = tmp.path().join("extract");
    let o = ok(lvmkit(&[
        "graphmert",
        "code",
        "extract",
        "--run",
        s(&run),
        "--output",
        s(&x_dir),
        "--mention",
        "2",
        "--tails",
        "3",
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("--mention 2"), "{stdout}");
    let x: Value =
        serde_json::from_str(&std::fs::read_to_string(x_dir.join("extract.json")).unwrap())
            .unwrap();
    let triples = jsonl(&x_dir.join("triples.jsonl"));
    assert_eq!(x["triples"].as_u64().unwrap() as usize, triples.len());
    assert!(x["heads"].as_u64().unwrap() >= eval["relations"]["heads"].as_u64().unwrap().min(30));
    let mut per_query: std::collections::HashMap<(u64, String), usize> = Default::default();
    for t in &triples {
        assert!(t["line"].as_u64().unwrap() > 0);
        *per_query
            .entry((t["head"].as_u64().unwrap(), t["relation"].to_string()))
            .or_default() += 1;
    }
    assert!(per_query.values().all(|&n| n <= 3), "{per_query:?}");
    fails_with(
        &lvmkit(&[
            "graphmert",
            "code",
            "extract",
            "--run",
            s(&run),
            "--output",
            s(&x_dir),
            "--mention",
            "lots",
        ]),
        "must be \"off\" or a number",
    );
    assert_eq!(
        x["held_out_edges_recovered"].as_u64().unwrap() as usize,
        triples
            .iter()
            .filter(|t| t["held_out_edge"].as_bool().unwrap())
            .count()
    );

    // Training the run again makes its search-tuned weights stale: they go.
    ok(train(&["--force"], &run));
    assert!(!run.join("search.safetensors").exists());
    assert!(!run.join("search.json").exists());

    // Refusals, by name.
    fails_with(
        &lvmkit(&[
            "graphmert",
            "code",
            "data",
            "--source",
            s(&tmp.path().join("nope")),
            "--output",
            s(&out),
        ]),
        "nope: not a folder",
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(
        &lvmkit(&[
            "graphmert",
            "code",
            "data",
            "--source",
            s(&empty),
            "--output",
            s(&out),
        ]),
        "no .py or .rs file with a definition",
    );
    let twin = tmp.path().join("other/py");
    std::fs::create_dir_all(&twin).unwrap();
    fails_with(
        &lvmkit(&[
            "graphmert",
            "code",
            "data",
            "--source",
            s(&py),
            "--source",
            s(&twin),
            "--output",
            s(&out),
        ]),
        "are both named \"py\"",
    );
    fails_with(
        &lvmkit(&[
            "graphmert",
            "code",
            "data",
            "--source",
            s(&py),
            "--held-out",
            "1.5",
            "--output",
            s(&out),
        ]),
        "--held-out: must be in [0, 1), got 1.5",
    );
}
