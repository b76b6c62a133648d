//! `lvmkit graphmert data | train | extract | eval` end to end on the real Gene Ontology, with
//! the tiny preset on a slice of the sequences.

mod common;

use common::{fails_with, lvmkit, ok, s};
use serde_json::Value;
use std::path::Path;

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The provenance every extracted triple carries.
fn check_provenance(t: &Value) {
    for field in [
        "seq",
        "text",
        "head",
        "head_name",
        "relation",
        "tail",
        "tail_name",
    ] {
        assert!(!t[field].is_null(), "{field} missing in {t}");
    }
    assert!(t["log_prob"].as_f64().unwrap() <= 0.0);
    let tokens = t["tokens"].as_array().unwrap();
    assert!(!tokens.is_empty());
    let p = tokens[0][1].as_f64().unwrap();
    assert!(p > 0.0 && p <= 1.0);
}

#[test]
fn graphmert_runs_end_to_end_on_go() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");

    let o = ok(lvmkit(&[
        "graphmert",
        "data",
        "--roots",
        "32",
        "--output",
        s(&run),
    ]));
    let out = stdout(&o);
    assert!(out.contains("| is_a |"), "{out}");
    let injection: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("injection.json")).unwrap())
            .unwrap();
    assert!(injection["injected"]["is_a"].as_u64().unwrap() > 1000);
    let injected = jsonl(&run.join("injected.jsonl"));
    assert!(injected[0]["head_go_id"]
        .as_str()
        .unwrap()
        .starts_with("GO:"));

    let train = |extra: &[&str]| {
        let mut args = vec![
            "graphmert",
            "train",
            "--preset",
            "tiny",
            "--epochs",
            "1",
            "--max-sequences",
            "96",
            "--output",
            s(&run),
        ];
        args.extend_from_slice(extra);
        lvmkit(&args)
    };
    let o = ok(train(&[]));
    assert!(stdout(&o).contains("| 1 |"), "{}", stdout(&o));
    for f in [
        "config.json",
        "history.json",
        "model.safetensors",
        "last.safetensors",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    // A second run into the same folder is refused, not silently overwritten.
    fails_with(&train(&[]), "already holds a GraphMERT run");

    // Extraction over the first sequences, without the filter. The model has seen 96
    // sequences once, so k is large: this checks the command, not the quality.
    let o = ok(lvmkit(&[
        "graphmert",
        "extract",
        "--run",
        s(&run),
        "--max-sequences",
        "30",
        "--top-k",
        "3000",
        "--similarity",
        "0",
    ]));
    assert!(stdout(&o).contains("distinct triples"), "{}", stdout(&o));
    let triples = jsonl(&run.join("triples.jsonl"));
    assert!(!triples.is_empty());
    for t in &triples {
        check_provenance(t);
        assert!(t["seq"].as_u64().unwrap() < 30);
    }
    let tsv = std::fs::read_to_string(run.join("triples.tsv")).unwrap();
    assert!(tsv.starts_with("seq\thead\trelation\ttail\tscore\tsimilarity\ttop_tokens\ttext"));
    assert_eq!(tsv.lines().count(), triples.len() + 1);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("extract.json")).unwrap()).unwrap();
    assert_eq!(
        summary["summary"]["kept"].as_u64().unwrap() as usize,
        triples.len()
    );

    // Evaluation with the calibrated filter, against both baselines.
    let eval_dir = tmp.path().join("eval");
    let o = ok(lvmkit(&[
        "graphmert",
        "eval",
        "--run",
        s(&run),
        "--output",
        s(&eval_dir),
        "--max-heads",
        "40",
        "--top-k",
        "3000",
        "--transe-epochs",
        "1",
    ]));
    assert!(stdout(&o).contains("| graph_only |"), "{}", stdout(&o));
    let eval: Value =
        serde_json::from_str(&std::fs::read_to_string(eval_dir.join("eval.json")).unwrap())
            .unwrap();
    let rows = eval["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["graphmert", "text_only", "graph_only"]);
    for r in rows {
        for k in [
            "precision",
            "implied_precision",
            "graded_precision",
            "recall",
            "hits@1",
            "hits@10",
            "validity",
        ] {
            let v = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k} = {v}");
        }
        assert!(r["triples"].as_u64().is_some() && r["new_triples"].as_u64().is_some());
        assert!(r["implied_precision"].as_f64() >= r["precision"].as_f64());
        assert!(r["graded_precision"].as_f64() >= r["precision"].as_f64());
    }
    assert_eq!(eval["on"], "test");
    let beta = eval["extraction"]["beta"].as_f64().unwrap();
    assert!(beta > 0.0 && beta < 1.0, "calibrated β {beta}");
    for t in jsonl(&eval_dir.join("extracted.jsonl")) {
        check_provenance(&t);
        assert!(t["similarity"].as_f64().unwrap() >= beta - 1e-6);
        assert!(t["held_out_edge"].is_boolean());
    }

    // Settings are chosen on the validation heads, which are not the scored ones.
    let tune_dir = tmp.path().join("tune");
    let o = ok(lvmkit(&[
        "graphmert",
        "tune",
        "--run",
        s(&run),
        "--output",
        s(&tune_dir),
        "--max-heads",
        "40",
        "--top-k",
        "3000",
        "--transe-epochs",
        "1",
        "--tails-grid",
        "1,3",
        "--specificity-grid",
        "0,0.5",
        "--mention-grid",
        "0",
        "--keep-grid",
        "0.8,0.9",
    ]));
    assert!(
        stdout(&o).contains("best on the validation heads: --keep 0."),
        "{}",
        stdout(&o)
    );
    let tune: Value =
        serde_json::from_str(&std::fs::read_to_string(tune_dir.join("tune.json")).unwrap())
            .unwrap();
    assert_eq!(tune["on"], "val");
    let points = tune["points"].as_array().unwrap();
    assert_eq!(points.len(), 2 * 2 * 2 * 2);
    // Best first: validity at least the better baseline's, then the worst other column.
    let keys: Vec<(bool, f64)> = points
        .iter()
        .map(|p| {
            (
                p["validity_ok"].as_bool().unwrap(),
                p["worst_ratio"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(
        keys.windows(2)
            .all(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less)),
        "{keys:?}"
    );
    // Into the test evaluation's folder: the validation files sit beside the test ones.
    let o = ok(lvmkit(&[
        "graphmert",
        "eval",
        "--on",
        "val",
        "--run",
        s(&run),
        "--output",
        s(&eval_dir),
        "--max-heads",
        "40",
        "--top-k",
        "3000",
        "--transe-epochs",
        "1",
    ]));
    assert!(stdout(&o).contains("| graphmert |"), "{}", stdout(&o));
    let on = |file: &str| -> Value {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(eval_dir.join(file)).unwrap()).unwrap();
        v["on"].clone()
    };
    assert_eq!(on("eval.json"), "test");
    assert_eq!(on("eval_val.json"), "val");
    let heads = |file: &str| -> std::collections::BTreeSet<u64> {
        jsonl(&eval_dir.join(file))
            .iter()
            .map(|t| t["head"].as_u64().unwrap())
            .collect()
    };
    let (val_heads, test_heads) = (heads("extracted_val.jsonl"), heads("extracted.jsonl"));
    assert!(!val_heads.is_empty() && !test_heads.is_empty());
    assert!(val_heads.is_disjoint(&test_heads));

    // Bad input: named, non-zero exit.
    fails_with(
        &lvmkit(&[
            "graphmert",
            "extract",
            "--run",
            s(&run),
            "--similarity",
            "high",
        ]),
        "'--similarity <SIMILARITY>': must be \"auto\" or a number in [0, 1]",
    );
    fails_with(
        &lvmkit(&["graphmert", "eval", "--run", s(&tmp.path().join("nothing"))]),
        "is not a GraphMERT run",
    );
}
