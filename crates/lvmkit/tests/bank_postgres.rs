//! The concept bank in PostgreSQL + pgvector as a user runs it: `lvmkit index --backend
//! postgres` against a real server (scripts/postgres.sh), again (nothing loaded twice), then
//! `lvmkit serve --bank URL` answering search, predict and generate from it, and a stale table
//! refused.

mod common;
use common::*;

use serde_json::{json, Value};
use std::path::Path;

#[test]
fn the_bank_loads_into_postgres_once_and_serves_search_predict_and_generate() {
    let url = postgres_url();
    let data = dataset().join("data");
    let table = "lvmkit_test_cli_bank";
    let index_of = |data: &Path, extra: &[&str]| {
        let mut args = vec![
            "index",
            "--data",
            s(data),
            "--backend",
            "postgres",
            "--url",
            url,
            "--table",
            table,
            "--queries",
            "100",
        ];
        args.extend_from_slice(extra);
        lvmkit(&args)
    };
    let index = |extra: &[&str]| index_of(&data, extra);
    // --replace: a table left by an earlier run of this test on another dataset build.
    let first = String::from_utf8_lossy(&ok(index(&["--replace"])).stdout).into_owned();
    assert!(first.contains("PostgreSQL + pgvector HNSW"), "{first}");
    assert!(first.contains("recall@10"), "{first}");
    let recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("index/postgres.json")).unwrap())
            .unwrap();
    let unique = recorded["unique"].as_u64().unwrap();
    assert_eq!(recorded["table"], table);
    assert!(recorded["evaluation"]["recall_at_k"].as_f64().unwrap() > 0.9);
    // Loading again inserts nothing: every row is there once.
    let again = String::from_utf8_lossy(&ok(index(&[])).stdout).into_owned();
    assert!(
        again.contains("loaded 0 rows") && again.contains(&format!("({unique} already there)")),
        "{again}"
    );

    let run = tempfile::tempdir().unwrap();
    let mlp = run.path().join("mlp");
    ok(train_small(&mlp, &[]));
    let srv = Server::spawn(&[
        "serve",
        "--run",
        s(&mlp),
        "--data",
        s(&data),
        "--bank",
        url,
        "--table",
        table,
        "--addr",
        "127.0.0.1:0",
    ]);
    let info: Value = serde_json::from_str(&srv.get("/v1/models").1).unwrap();
    assert_eq!(info["bank"]["index"], "postgres", "{info}");
    assert_eq!(info["bank"]["default_search"], "approximate");
    let texts = concept_texts(&data);
    for i in [3, 30, 300] {
        let r = srv.post_ok("/v1/search", &json!({"text": texts[i], "k": 5}));
        assert_eq!(r["search"], "approximate");
        let n = r["neighbors"].as_array().unwrap();
        assert_eq!(n.len(), 5);
        assert_eq!(n[0]["text"], texts[i].as_str());
        assert!(n[0]["score"].as_f64().unwrap() > 0.999);
        let exact = srv.post_ok(
            "/v1/search",
            &json!({"text": texts[i], "k": 5, "exact": true}),
        );
        let rows = |v: &Value| -> Vec<u64> {
            v["neighbors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["row"].as_u64().unwrap())
                .collect()
        };
        let (a, e) = (rows(&r), rows(&exact));
        assert!(
            a.iter().filter(|x| e.contains(x)).count() >= 4,
            "{a:?} vs exact {e:?}"
        );
    }
    let p = srv.post_ok("/v1/predict", &json!({"texts": &texts[0..5], "k": 3}));
    assert_eq!(p["neighbors"].as_array().unwrap().len(), 3);
    let g = srv.post_ok("/v1/generate", &json!({"texts": &texts[0..3], "steps": 3}));
    for st in g["steps"].as_array().unwrap() {
        assert!(
            texts.contains(&st["text"].as_str().unwrap().to_string()),
            "{st}"
        );
    }
    // SIGTERM: a clean exit, the pooled connections closed off the async threads.
    let mut srv = srv;
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(st) = srv.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
    drop(srv);

    // Another version of the dataset (other windows: another manifest) finds the table stale.
    let other = run.path().join("other");
    let corpus = dataset();
    ok(lvmkit(&[
        "dataset",
        "--corpus",
        s(&corpus.join("corpus.jsonl")),
        "--output",
        s(&other),
        "--context",
        "4",
    ]));
    let o = lvmkit(&[
        "serve",
        "--run",
        s(&mlp),
        "--data",
        s(&other),
        "--bank",
        url,
        "--table",
        table,
        "--addr",
        "127.0.0.1:0",
    ]);
    fails_with(&o, "another version of the dataset");
    fails_with(&o, table);
    fails_with(&index_of(&other, &[]), "--replace");
}
