//! `--shard I/N` and `--merge`: a sharded job writes byte for byte what the single process
//! writes, a failed shard is re-run alone, and a merge with a missing or foreign shard is
//! refused by name.

mod common;

use common::{dataset, fails_with, lvmkit, ok, s};
use std::path::Path;

/// Every file of folder `a` equals the file of the same name in `b`, and neither has more.
fn same_files(a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(a), names(b), "{} and {}", a.display(), b.display());
    for n in names(a) {
        let (x, y) = (
            std::fs::read(a.join(&n)).unwrap(),
            std::fs::read(b.join(&n)).unwrap(),
        );
        assert!(
            x == y,
            "{n} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

fn dataset_args<'a>(corpus: &'a Path, ood: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "dataset",
        "--corpus",
        s(corpus),
        "--ood",
        s(ood),
        "--output",
        s(out),
    ]
}

fn with<'a>(args: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(more).copied().collect()
}

#[test]
fn a_sharded_dataset_is_the_unsharded_one_byte_for_byte() {
    let src = dataset();
    let (corpus, ood) = (src.join("corpus.jsonl"), src.join("ood.jsonl"));
    let dir = tempfile::tempdir().unwrap();
    let (single, sharded) = (dir.path().join("single"), dir.path().join("sharded"));

    ok(lvmkit(&with(
        &dataset_args(&corpus, &ood, &single),
        &["--no-cache"],
    )));
    let args = dataset_args(&corpus, &ood, &sharded);
    for i in 0..3 {
        let shard = format!("{i}/3");
        let out = ok(lvmkit(&with(&args, &["--shard", &shard])));
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(said.contains(&format!("shard {i}/3:")), "{said}");
    }
    assert!(!sharded.exists(), "a shard must not write the dataset");
    ok(lvmkit(&with(&args, &["--merge"])));
    same_files(&single, &sharded);
    // The single-process build through the embedding cache is the same dataset too.
    same_files(&src.join("data"), &sharded);

    // A failed shard is re-run alone; the merge refuses until it is back, naming it.
    let shards = dir.path().join("sharded.shards");
    let two = shards.join("shard-00002-of-00003.safetensors");
    std::fs::remove_file(&two).unwrap();
    let o = lvmkit(&with(&args, &["--merge"]));
    fails_with(&o, "1 of 3 shards missing");
    fails_with(&o, "2/3");
    fails_with(&o, "--shard I/N");
    ok(lvmkit(&with(&args, &["--shard", "2/3"])));
    ok(lvmkit(&with(&args, &["--merge"])));
    same_files(&single, &sharded);

    // A shard made from other inputs is foreign: named, not merged.
    let other = dir.path().join("other.jsonl");
    let text = std::fs::read_to_string(&corpus).unwrap();
    std::fs::write(&other, text.lines().skip(1).collect::<Vec<_>>().join("\n")).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    ok(lvmkit(&with(
        &dataset_args(&other, &ood, &elsewhere),
        &["--shard", "1/3"],
    )));
    let one = shards.join("shard-00001-of-00003.safetensors");
    std::fs::copy(
        dir.path()
            .join("elsewhere.shards")
            .join("shard-00001-of-00003.safetensors"),
        &one,
    )
    .unwrap();
    let o = lvmkit(&with(&args, &["--merge"]));
    fails_with(&o, "foreign");
    fails_with(&o, "other inputs");
    fails_with(&o, s(&one));
    // ... and so is a shard copied under another shard's name.
    std::fs::copy(shards.join("shard-00000-of-00003.safetensors"), &one).unwrap();
    fails_with(
        &lvmkit(&with(&args, &["--merge"])),
        "says it is shard 0/3, not 1/3",
    );
    ok(lvmkit(&with(&args, &["--shard", "1/3"])));

    // Shards of another count beside these are refused rather than guessed at.
    ok(lvmkit(&with(&args, &["--shard", "0/2"])));
    fails_with(&lvmkit(&with(&args, &["--merge"])), "2 different counts");

    fails_with(
        &lvmkit(&with(&args, &["--shard", "3/3"])),
        "expected I/N with 0 <= I < N",
    );
    // A setting the merge would refuse is refused before a shard embeds anything.
    let wide = dir.path().join("wide");
    fails_with(
        &lvmkit(&with(
            &dataset_args(&corpus, &ood, &wide),
            &["--shard", "0/2", "--context", "500"],
        )),
        "no windows",
    );
    assert!(!dir.path().join("wide.shards").exists());
}

#[test]
fn a_sharded_encode_is_the_unsharded_one_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let corpus = std::fs::read_to_string(dataset().join("corpus.jsonl")).unwrap();
    let mut lines = Vec::new();
    for line in corpus.lines().take(6) {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        for t in doc["sentences"].as_array().unwrap() {
            lines.push(t.as_str().unwrap().to_string());
        }
    }
    // A repeated line is embedded once, in one shard, and fills both rows.
    lines.push(lines[0].clone());
    std::fs::write(d.join("in.txt"), lines.join("\n") + "\n").unwrap();
    let input = d.join("in.txt");
    let (single, sharded) = (d.join("single.npy"), d.join("sharded.npy"));
    ok(lvmkit(&[
        "encode",
        "--input",
        s(&input),
        "--output",
        s(&single),
        "--no-cache",
    ]));
    let args = ["encode", "--input", s(&input), "--output", s(&sharded)];
    fails_with(&lvmkit(&with(&args, &["--merge"])), "no shards to merge");
    for i in 0..2 {
        ok(lvmkit(&with(&args, &["--shard", &format!("{i}/2")])));
    }
    ok(lvmkit(&with(&args, &["--merge"])));
    assert!(std::fs::read(&single).unwrap() == std::fs::read(&sharded).unwrap());
}
