//! `lvmkit train` and `lvmkit eval` on a small dataset built from real corpora with the real
//! encoder: the files a user gets, the JSON they parse, and the refusals they meet.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

mod common;
use common::*;

#[test]
fn train_then_eval_writes_the_documented_files_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = ok(train_small(&run, &["--loss", "cosine=1,infonce=0.05"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("samples/s"));
    for f in [
        "config.json",
        "history.json",
        "best.safetensors",
        "last.safetensors",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model"]["architecture"], "mlp");
    assert_eq!(cfg["model"]["dim"], 384);
    assert_eq!(cfg["train"]["loss"]["infonce"], 0.05);
    assert_eq!(cfg["data"]["manifest_hash"].as_str().unwrap().len(), 64);
    let hist: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("history.json")).unwrap()).unwrap();
    let epochs = hist["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3);
    for key in [
        "train_loss",
        "train_cosine",
        "val_loss",
        "val_cosine",
        "lr",
        "seconds",
        "samples_per_s",
    ] {
        assert!(epochs[0][key].is_number(), "history lacks {key}");
    }
    assert!(epochs[0]["train_components"]["infonce"].is_number());

    ok(lvmkit(&[
        "eval",
        "--run",
        s(&run),
        "--split",
        "test,ood",
        "--bootstrap",
        "200",
    ]));
    for split in ["test", "ood"] {
        let path = run.join("eval").join(format!("{split}.json"));
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(r["split"], split);
        assert!(r["windows"].as_u64().unwrap() > 0);
        assert!(r["bank_size"].as_u64().unwrap() > r["windows"].as_u64().unwrap());
        let rows = r["rows"].as_array().unwrap();
        let names: Vec<&str> = rows.iter().map(|x| x["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["mlp", "copy_last", "context_mean", "global_mean", "ridge"]
        );
        assert_eq!(rows[0]["kind"], "model");
        assert_eq!(rows[1]["kind"], "baseline");
        for row in rows {
            for key in ["cosine", "recall@1", "recall@5", "recall@10", "mrr"] {
                let v = row[key].as_f64().unwrap_or_else(|| panic!("{key} missing"));
                assert!((-1.0..=1.0).contains(&v), "{key} = {v}");
            }
            assert!(row["recall@1"].as_f64() <= row["recall@10"].as_f64());
        }
        let cmp = &r["comparisons"][0];
        assert_eq!(cmp["model"], "mlp");
        let (lo, hi) = (
            cmp["ci95"][0].as_f64().unwrap(),
            cmp["ci95"][1].as_f64().unwrap(),
        );
        let delta = cmp["delta"].as_f64().unwrap();
        assert!(lo <= delta && delta <= hi);
        let svg =
            std::fs::read_to_string(run.join("eval").join(format!("{split}-cosines.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("mlp"));
    }
    assert!(run.join("eval/training-curves.svg").exists());
}

#[test]
fn bad_requests_are_refused_and_nothing_is_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset().join("data");
    let run = tmp.path().join("run");

    fails_with(
        &train_small(&run, &["--model", "mamba9"]),
        "unknown model 'mamba9'",
    );
    fails_with(&train_small(&run, &["--lr=-1"]), "lr must be > 0");
    fails_with(
        &train_small(&run, &["--loss", "cosine=1,cross=2"]),
        "unknown term 'cross'",
    );
    fails_with(&train_small(&run, &["--warmup", "1.5"]), "warmup");
    assert!(!run.exists(), "a refused run must not create its folder");

    ok(train_small(&run, &[]));
    let best = std::fs::read(run.join("best.safetensors")).unwrap();
    fails_with(&train_small(&run, &[]), "already holds a training run");
    assert_eq!(best, std::fs::read(run.join("best.safetensors")).unwrap());

    fails_with(
        &lvmkit(&["eval", "--run", s(&run), "--split", "dev"]),
        "invalid value 'dev' for '--split <SPLIT>'",
    );

    // A truncated checkpoint is refused by name.
    let cut = tmp.path().join("cut");
    std::fs::create_dir(&cut).unwrap();
    std::fs::copy(run.join("config.json"), cut.join("config.json")).unwrap();
    std::fs::write(cut.join("best.safetensors"), &best[..best.len() - 100]).unwrap();
    fails_with(
        &lvmkit(&["eval", "--run", s(&cut), "--data", s(&data)]),
        "damaged or truncated",
    );

    // A dataset of another dimension.
    let other = tmp.path().join("other");
    let docs = (0..6)
        .map(|i| lvmkit_dataset::VectorDocument {
            id: i.to_string(),
            source: "x".into(),
            split: ["train", "train", "train", "val", "test", "test"][i].into(),
            texts: (0..8).map(|j| format!("s{j}")).collect(),
            vectors: (0..8 * 16)
                .map(|k| ((k * 7 + i) % 11) as f32 / 11.0)
                .collect(),
        })
        .collect();
    let enc = lvmkit_dataset::layout::EncoderInfo {
        name: "toy".into(),
        path: String::new(),
        fingerprint: "toy".into(),
        dim: 16,
    };
    lvmkit_dataset::from_vectors(&other, docs, 16, 5, enc).unwrap();
    fails_with(
        &lvmkit(&["eval", "--run", s(&run), "--data", s(&other)]),
        "takes 384-D vectors but dataset",
    );
}

#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset().join("data");
    let args = |run: &Path| -> Vec<String> {
        [
            "train",
            "--data",
            s(&data),
            "--output",
            s(run),
            "--epochs",
            "4",
            "--batch-size",
            "16",
            "--patience",
            "0",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let whole = tmp.path().join("whole");
    ok(lvmkit(
        &args(&whole).iter().map(String::as_str).collect::<Vec<_>>(),
    ));

    // SIGKILL the same run as soon as its first epoch is saved.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvmkit"))
        .args(args(&killed))
        .env("LVMKIT_LOG", "warn")
        .spawn()
        .unwrap();
    while !killed.join("history.json").exists() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let hist: Value =
        serde_json::from_str(&std::fs::read_to_string(killed.join("history.json")).unwrap())
            .unwrap();
    assert_eq!(
        hist["status"], "running",
        "the kill came after the run had finished"
    );

    fails_with(
        &lvmkit(&["train", "--resume", s(&killed), "--lr", "0.1"]),
        "cannot be used with",
    );
    ok(lvmkit(&["train", "--resume", s(&killed)]));
    for f in ["best.safetensors", "last.safetensors"] {
        let a = lvmkit_models::Checkpoint::read(&whole.join(f)).unwrap();
        let b = lvmkit_models::Checkpoint::read(&killed.join(f)).unwrap();
        assert_eq!(
            a.metadata["tensors_sha256"], b.metadata["tensors_sha256"],
            "{f} differs"
        );
    }
    // Resuming a finished run changes nothing.
    let best = std::fs::read(killed.join("best.safetensors")).unwrap();
    ok(lvmkit(&["train", "--resume", s(&killed)]));
    assert_eq!(
        best,
        std::fs::read(killed.join("best.safetensors")).unwrap()
    );
}

#[test]
fn predict_embeds_text_with_the_runs_encoder_and_refuses_bad_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    ok(train_small(&run, &[]));
    let sentences = [
        "The jury praised the handling of the election.",
        "It said the city had been well served.",
    ];
    // The same two sentences as vectors, from `lvmkit encode`.
    let texts = tmp.path().join("texts.txt");
    std::fs::write(&texts, sentences.join("\n")).unwrap();
    let vecs = tmp.path().join("vecs.npy");
    ok(lvmkit(&[
        "encode",
        "--input",
        s(&texts),
        "--output",
        s(&vecs),
        "--no-cache",
    ]));
    let (shape, v) = read_npy(&vecs);
    assert_eq!(shape, vec![2, 384]);
    let rows: Vec<Vec<f64>> = v
        .chunks(384)
        .map(|r| r.iter().map(|x| *x as f64).collect())
        .collect();

    let input = tmp.path().join("contexts.jsonl");
    let lines = [
        serde_json::json!(sentences),
        serde_json::json!([sentences[1]]),
        serde_json::json!(rows),
    ];
    let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&input, body.join("\n") + "\n").unwrap();
    let out = tmp.path().join("pred.npy");
    let o = ok(lvmkit(&[
        "predict",
        "--run",
        s(&run),
        "--input",
        s(&input),
        "--output",
        s(&out),
        "--top-k",
        "3",
    ]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("[1] after") && stdout.contains("  3. "),
        "{stdout}"
    );
    let (shape, p) = read_npy(&out);
    assert_eq!(shape, vec![3, 384]);
    // Row 0 (text) and row 2 (the same sentences as vectors) are the same prediction.
    for (a, b) in p[..384].iter().zip(&p[768..]) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert!(p[..384]
        .iter()
        .zip(&p[384..768])
        .any(|(a, b)| (a - b).abs() > 1e-3));

    // Bad lines: named by file and line, and the output is left alone.
    let before = std::fs::read(&out).unwrap();
    for (line, needle) in [
        ("[]", "contexts.jsonl:2: empty context"),
        (
            "[\"a sentence\", [0.5]]",
            "contexts.jsonl:2: expected an array of sentences",
        ),
        (
            "[[0.5, 0.25]]",
            "contexts.jsonl:2: vector 1 has 2 values, the model takes D = 384",
        ),
        ("{\"text\": 1}", "contexts.jsonl:2: expected a JSON array"),
        ("[\"ok\"", "contexts.jsonl:2: not valid JSON"),
    ] {
        std::fs::write(&input, format!("[\"fine\"]\n{line}\n")).unwrap();
        fails_with(
            &lvmkit(&[
                "predict",
                "--run",
                s(&run),
                "--input",
                s(&input),
                "--output",
                s(&out),
            ]),
            needle,
        );
        assert_eq!(std::fs::read(&out).unwrap(), before);
    }
}

#[test]
fn leaderboard_trains_each_model_on_one_budget_and_reports_speed() {
    let tmp = tempfile::tempdir().unwrap();
    let board = tmp.path().join("board");
    let data = dataset().join("data");
    let args = [
        "leaderboard",
        "--data",
        s(&data),
        "--output",
        s(&board),
        "--models",
        "mlp,amn",
        "--epochs",
        "1",
        "--max-train-windows",
        "300",
        "--bootstrap",
        "50",
    ];
    ok(lvmkit(&args));
    let lb: Value =
        serde_json::from_str(&std::fs::read_to_string(board.join("leaderboard.json")).unwrap())
            .unwrap();
    let models = lb["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for m in models {
        assert_eq!(m["train_windows"], 300);
        assert!(m["infer_ms_batch1"].as_f64().unwrap() > 0.0);
        assert!(m["infer_ms_batch256"].as_f64().unwrap() > 0.0);
        assert!(m["train_samples_per_s"].as_f64().unwrap() > 0.0);
    }
    for split in ["val", "test", "ood"] {
        let names: Vec<&str> = lb["splits"][split]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "mlp",
                "amn",
                "copy_last",
                "context_mean",
                "global_mean",
                "ridge"
            ],
            "{split}"
        );
    }
    let md = std::fs::read_to_string(board.join("leaderboard.md")).unwrap();
    assert!(
        md.contains("| amn |") && md.contains("latency batch 1"),
        "{md}"
    );
    // A second run finds every model unchanged and retrains nothing.
    let again = ok(lvmkit(&args));
    assert!(
        stderr(&again).contains("amn: config and data unchanged"),
        "{}",
        stderr(&again)
    );
    fails_with(
        &lvmkit(&[
            "leaderboard",
            "--data",
            s(&data),
            "--output",
            s(&board),
            "--models",
            "mamba3",
        ]),
        "unknown model 'mamba3'",
    );
}

#[test]
fn models_lists_every_architecture_with_its_size() {
    let o = ok(lvmkit(&["models", "--json"]));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 7);
    assert_eq!(list[0]["name"], "mlp");
    assert_eq!(list[0]["params"], 4_720_384);
    let o = ok(lvmkit(&[
        "models",
        "--dim",
        "384",
        "--context",
        "3",
        "--json",
    ]));
    let small: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(small[0]["params"], 3 * 384 * 1024 + 1024 + 1024 * 384 + 384);
}
