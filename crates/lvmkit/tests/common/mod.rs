//! Helpers shared by the integration tests: the lvmkit binary, the real data, and one small
//! real dataset built once per test binary.
#![allow(dead_code)]

use lvmkit_sources::{DataDir, DEFAULT_ENCODER};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn lvmkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvmkit"))
        .args(args)
        .env("LVMKIT_LOG", "warn")
        .env("LVMKIT_DATA", data(&[DEFAULT_ENCODER]).root())
        .output()
        .unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "command failed: {}", stderr(&o));
    o
}

pub fn fails_with(o: &Output, needle: &str) {
    assert!(
        !o.status.success(),
        "expected a failure; stderr: {}",
        stderr(o)
    );
    assert!(
        stderr(o).contains(needle),
        "message should mention {needle:?}: {}",
        stderr(o)
    );
}

/// The data folder (`$LVMKIT_DATA`, else the repository's `data/`, through `lvmkit_sources`),
/// canonical so that the binary, whatever folder it runs in, is handed the same one as
/// LVMKIT_DATA. Fails, naming the fetch command, unless every source of `sources` is fetched.
pub fn data(sources: &[&str]) -> DataDir {
    let data = lvmkit_sources::fetched(sources);
    DataDir::new(std::fs::canonicalize(data.root()).unwrap())
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Keep every `step`-th document of a JSONL corpus, each cut to `max` sentences.
pub fn slice_jsonl(input: &Path, output: &Path, step: usize, take: usize, max: usize) {
    let text = std::fs::read_to_string(input).unwrap();
    let mut out = String::new();
    for line in text.lines().step_by(step).take(take) {
        let mut doc: Value = serde_json::from_str(line).unwrap();
        let sentences = doc["sentences"].as_array_mut().unwrap();
        sentences.truncate(max);
        out.push_str(&doc.to_string());
        out.push('\n');
    }
    std::fs::write(output, out).unwrap();
}

/// One real dataset for the whole file: 40 Brown samples (train/val/test by document) and 4
/// Wikipedia articles (ood), 40 sentences each at most, embedded by all-MiniLM-L6-v2.
pub fn dataset() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let data = data(&["brown", "enwiki-sample"]);
        ok(lvmkit(&[
            "ingest",
            "--input",
            s(&data.corpus("brown").unwrap()),
            "--output",
            s(&d.join("brown.jsonl")),
        ]));
        ok(lvmkit(&[
            "ingest",
            "--input",
            s(&data.corpus("enwiki-sample").unwrap()),
            "--output",
            s(&d.join("wiki.jsonl")),
        ]));
        slice_jsonl(&d.join("brown.jsonl"), &d.join("corpus.jsonl"), 12, 40, 40);
        slice_jsonl(&d.join("wiki.jsonl"), &d.join("ood.jsonl"), 20, 4, 40);
        ok(lvmkit(&[
            "dataset",
            "--corpus",
            s(&d.join("corpus.jsonl")),
            "--ood",
            s(&d.join("ood.jsonl")),
            "--output",
            s(&d.join("data")),
        ]));
        dir
    })
    .path()
}

pub fn train_small(run: &Path, extra: &[&str]) -> Output {
    let data = dataset().join("data");
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--output",
        s(run),
        "--epochs",
        "3",
        "--batch-size",
        "32",
    ];
    args.extend_from_slice(extra);
    lvmkit(&args)
}

pub fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    lvmkit_io::npy::read::<f32>(path).unwrap()
}

/// A seeds-style .npz: `context_sequences` [N, C, D] and `target_vectors` [N, D'].
pub fn write_seeds_npz(
    path: &Path,
    ctx_shape: [usize; 3],
    ctx: &[f32],
    tgt_shape: [usize; 2],
    tgt: &[f32],
) {
    lvmkit_io::npz::write_f32(
        path,
        &[
            lvmkit_io::npz::Array {
                name: "context_sequences",
                shape: ctx_shape.to_vec(),
                data: ctx,
            },
            lvmkit_io::npz::Array {
                name: "target_vectors",
                shape: tgt_shape.to_vec(),
                data: tgt,
            },
        ],
    )
    .unwrap();
}
