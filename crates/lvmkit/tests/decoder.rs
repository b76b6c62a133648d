//! The inversion decoder through the binary, on the real encoder and a real corpus slice: a
//! tiny decoder trains, decodes an .npy with correction steps, and is evaluated next to
//! retrieval from the train bank; bad input is refused by name.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;
use common::*;

/// One tiny decoder run for the whole file.
fn tiny_decoder() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dataset().join("data");
        ok(lvmkit(&[
            "decoder",
            "train",
            "--data",
            s(&data),
            "--output",
            s(&dir.path().join("dec")),
            "--preset",
            "tiny",
        ]));
        dir
    })
    .path()
}

fn decoder_run() -> PathBuf {
    tiny_decoder().join("dec")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn encode(dir: &Path, texts: &[&str]) -> PathBuf {
    let input = dir.join("texts.txt");
    std::fs::write(&input, texts.join("\n")).unwrap();
    let out = dir.join("vectors.npy");
    ok(lvmkit(&[
        "encode",
        "--input",
        s(&input),
        "--output",
        s(&out),
    ]));
    out
}

#[test]
fn a_tiny_decoder_trains_and_decodes_vectors_with_correction_steps() {
    let dec = decoder_run();
    for f in [
        "config.json",
        "tokenizer.json",
        "history.json",
        "best.safetensors",
        "last.safetensors",
    ] {
        assert!(dec.join(f).exists(), "{f} missing");
    }
    let history = read_json(&dec.join("history.json"));
    assert_eq!(history["status"], "completed");
    assert!(
        history["best_val_loss"].as_f64().unwrap() < history["initial_val_loss"].as_f64().unwrap()
    );
    // A second start on the trained run is refused; resuming a finished one does nothing.
    let data = dataset().join("data");
    let again = lvmkit(&[
        "decoder",
        "train",
        "--data",
        s(&data),
        "--output",
        s(&dec),
        "--preset",
        "tiny",
    ]);
    fails_with(&again, "--resume");
    ok(lvmkit(&["decoder", "train", "--resume", s(&dec)]));

    let tmp = tempfile::tempdir().unwrap();
    let vectors = encode(
        tmp.path(),
        &[
            "The jury said the election was conducted.",
            "It was a cold morning in the city.",
            "He did not answer.",
        ],
    );
    let txt = tmp.path().join("out.txt");
    ok(lvmkit(&[
        "decode",
        "--decoder",
        s(&dec),
        "--input",
        s(&vectors),
        "--output",
        s(&txt),
        "--beam",
        "2",
        "--steps",
        "1",
    ]));
    assert_eq!(std::fs::read_to_string(&txt).unwrap().lines().count(), 3);

    let jsonl = tmp.path().join("out.jsonl");
    ok(lvmkit(&[
        "decode",
        "--decoder",
        s(&dec),
        "--input",
        s(&vectors),
        "--output",
        s(&jsonl),
        "--beam",
        "2",
        "--steps",
        "2",
    ]));
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        let steps = l["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 3);
        let cos: Vec<f64> = steps
            .iter()
            .map(|s| s["cosine"].as_f64().unwrap())
            .collect();
        // Correction keeps the closest text so far: never worse than the step before.
        assert!(cos.windows(2).all(|w| w[1] >= w[0]), "{cos:?}");
        assert_eq!(l["text"], steps[2]["text"]);
        assert!(cos.iter().all(|c| (-1.0..=1.0).contains(c)));
    }
}

#[test]
fn decoder_eval_scores_both_decoders_per_split_and_step_and_decodes_predictions() {
    let dec = decoder_run();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("mlp");
    ok(train_small(&run, &[]));
    let out = ok(lvmkit(&[
        "decoder",
        "eval",
        "--decoder",
        s(&dec),
        "--sentences",
        "12",
        "--steps",
        "1",
        "--beam",
        "2",
        "--model",
        s(&run),
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("retrieval (train bank)"));
    let report = read_json(&dec.join("eval/decoder.json"));
    assert!(dec.join("eval/decoder.md").exists());
    let rows = report["rows"].as_array().unwrap();
    for split in ["val", "test", "ood"] {
        let of: Vec<&Value> = rows.iter().filter(|r| r["split"] == split).collect();
        let names: Vec<(String, Value)> = of
            .iter()
            .map(|r| {
                (
                    r["decoder"].as_str().unwrap().to_string(),
                    r["steps"].clone(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("inversion".to_string(), Value::from(0)),
                ("inversion".to_string(), Value::from(1)),
                ("retrieval (train bank)".to_string(), Value::Null),
            ],
            "{split}"
        );
        for r in &of {
            assert_eq!(r["sentences"], 12, "{split}");
            for k in ["bleu", "token_f1", "exact", "round_trip_cosine"] {
                assert!(r[k].as_f64().unwrap().is_finite(), "{split} {k}");
            }
        }
        assert!(
            of[1]["round_trip_cosine"].as_f64() >= of[0]["round_trip_cosine"].as_f64(),
            "{split}: a correction step lowered the cosine"
        );
    }
    let p = &report["predicted"];
    assert_eq!(p["windows"], 12);
    assert_eq!(p["rows"].as_array().unwrap().len(), 3);
    assert!(p["prediction_cosine_to_truth"]
        .as_f64()
        .unwrap()
        .is_finite());
}

#[test]
fn bad_decoder_input_is_refused_by_name() {
    let dec = decoder_run();
    let tmp = tempfile::tempdir().unwrap();
    let wrong = tmp.path().join("wrong.npy");
    lvmkit_io::npy::write::<f32>(&wrong, &[2, 5], &[0.5; 10]).unwrap();
    let out = tmp.path().join("out.txt");
    let args = |input: &Path, output: &Path, decoder: &Path| {
        lvmkit(&[
            "decode",
            "--decoder",
            s(decoder),
            "--input",
            s(input),
            "--output",
            s(output),
        ])
    };
    fails_with(&args(&wrong, &out, &dec), "wrong.npy");
    assert!(!out.exists());
    let vectors = encode(tmp.path(), &["One sentence."]);
    fails_with(&args(&vectors, tmp.path(), &dec), "is a folder");
    // A next-concept run is not a decoder run.
    let run = tmp.path().join("mlp");
    ok(train_small(&run, &[]));
    fails_with(&args(&vectors, &out, &run), "not a decoder run");
    let zero = tmp.path().join("zero.npy");
    lvmkit_io::npy::write::<f32>(&zero, &[1, 384], &[0.0; 384]).unwrap();
    fails_with(&args(&zero, &out, &dec), "row 0");
}
