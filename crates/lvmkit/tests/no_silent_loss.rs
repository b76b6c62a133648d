//! Nothing lost without a word: one writer per output (locks), the leftovers of killed writers
//! cleaned up, failed runs that can be replaced, inputs refused at the door, no temporaries
//! left behind.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Names in `dir` that start with `.` (staging folders, temporaries, lock files).
fn hidden(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// `lvmkit ARGS` started behind a barrier: the shell spins until `barrier` exists, then becomes
/// lvmkit, so two of them start within microseconds of each other.
fn behind_barrier(barrier: &Path, args: &[&str]) -> std::process::Child {
    Command::new("sh")
        .arg("-c")
        .arg("while [ ! -e \"$0\" ]; do :; done; exec \"$@\"")
        .arg(barrier)
        .arg(env!("CARGO_BIN_EXE_lvmkit"))
        .args(args)
        .env("LVMKIT_LOG", "warn")
        .env("LVMKIT_DATA", data_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_trains_started_together_on_one_output_one_is_refused_and_the_run_is_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset().join("data");
    let rounds = 12;
    let mut refused_by_lock = 0;
    for round in 0..rounds {
        let run = tmp.path().join(format!("run{round}"));
        let barrier = tmp.path().join(format!("go{round}"));
        let args = |seed: &'static str, lr: &'static str| {
            vec![
                "train".to_string(),
                "--data".into(),
                s(&data).into(),
                "--output".into(),
                s(&run).into(),
                "--epochs".into(),
                "3".into(),
                "--batch-size".into(),
                "32".into(),
                "--seed".into(),
                seed.into(),
                "--lr".into(),
                lr.into(),
            ]
        };
        let (a, b) = (args("1", "0.001"), args("2", "0.002"));
        let children: Vec<_> = [&a, &b]
            .iter()
            .map(|args| {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                behind_barrier(&barrier, &refs)
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        std::fs::write(&barrier, b"").unwrap();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let won: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one of two concurrent trains must win; stderr: {} | {}",
            stderr(&outs[0]),
            stderr(&outs[1])
        );
        let (winner, loser) = (won[0], 1 - won[0]);
        let msg = stderr(&outs[loser]);
        // Refused by the lock; or, on a machine so loaded that the loser reached it only after
        // the winner had finished, by the finished run.
        if msg.contains("is in use by another lvmkit (PID") {
            refused_by_lock += 1;
        } else {
            assert!(
                msg.contains("already holds a training run"),
                "round {round}: {msg}"
            );
        }
        // Every file of the folder is the winner's.
        let cfg = read_json(&run.join("config.json"));
        assert_eq!(cfg["train"]["seed"], [1, 2][winner], "round {round}");
        let hist = read_json(&run.join("history.json"));
        assert_eq!(hist["epochs"].as_array().unwrap().len(), 3);
        let ckpt = lvmkit_models::Checkpoint::read(&run.join("best.safetensors")).unwrap();
        assert_eq!(
            ckpt.model_config().unwrap(),
            serde_json::from_value(cfg["model"].clone()).unwrap()
        );
        assert!(
            hidden(tmp.path())
                .iter()
                .all(|n| !n.ends_with("lvmkit-lock")),
            "the lock file goes with its holder: {:?}",
            hidden(tmp.path())
        );
    }
    assert!(
        refused_by_lock * 2 > rounds,
        "two trains started together met in the lock in only {refused_by_lock} of {rounds} rounds"
    );
}

#[test]
fn eval_is_refused_while_a_train_writes_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // A long run, so that it is still writing when eval comes.
    let data = dataset().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvmkit"))
        .args([
            "train",
            "--data",
            s(&data),
            "--output",
            s(&run),
            "--epochs",
            "200",
            "--batch-size",
            "32",
            "--patience",
            "0",
        ])
        .env("LVMKIT_LOG", "warn")
        .env("LVMKIT_DATA", data_root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !run.join("best.safetensors").exists() {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = lvmkit(&["eval", "--run", s(&run), "--split", "val"]);
    let _ = child.kill();
    let _ = child.wait();
    fails_with(&o, "run folder");
    fails_with(&o, "is in use by another lvmkit (PID");
    assert!(!run.join("eval").exists(), "the refused eval wrote nothing");
}

fn data_root() -> PathBuf {
    data(&[lvmkit_sources::DEFAULT_ENCODER])
        .root()
        .to_path_buf()
}

#[test]
fn a_dataset_rebuild_removes_what_a_killed_build_of_the_same_output_left() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let corpus = dataset().join("corpus.jsonl");
    let build = |out: &Path| {
        lvmkit(&[
            "dataset",
            "--corpus",
            s(&corpus),
            "--output",
            s(out),
            "--context",
            "3",
        ])
    };
    let out = d.join("data");
    ok(build(&out));
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();

    // What `kill -9` leaves at each point of a build: its staging folder, and the old dataset
    // moved aside; and another output's staging folder, which is not ours to remove.
    std::fs::create_dir(d.join(".data.lvmkit-new-Xk2p")).unwrap();
    std::fs::write(
        d.join(".data.lvmkit-new-Xk2p/concepts.npy"),
        vec![0u8; 4096],
    )
    .unwrap();
    std::fs::create_dir(d.join(".data.lvmkit-old-4242")).unwrap();
    std::fs::create_dir(d.join(".other.lvmkit-new-Ab12")).unwrap();
    ok(build(&out));
    assert_eq!(hidden(d), [".other.lvmkit-new-Ab12"]);
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), manifest);

    // Killed between moving the old dataset aside and moving the new one in: the output is
    // missing, and the next writer puts the old one back before it starts (and says so).
    std::fs::rename(&out, d.join(".data.lvmkit-old-5151")).unwrap();
    std::fs::create_dir(d.join(".data.lvmkit-new-Zz99")).unwrap();
    let o = lvmkit(&[
        "dataset",
        "--corpus",
        s(&d.join("missing.jsonl")),
        "--output",
        s(&out),
    ]);
    fails_with(&o, "missing.jsonl");
    fails_with(&o, "put back the previous one");
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), manifest);
    assert_eq!(hidden(d), [".other.lvmkit-new-Ab12"]);

    // Real kills at spread-out moments of a build, then one build that finishes: whatever the
    // kills left is gone, and the output is a whole dataset.
    for delay_ms in [50u64, 150, 300, 500, 800, 1200] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lvmkit"))
            .args([
                "dataset",
                "--corpus",
                s(&corpus),
                "--output",
                s(&out),
                "--context",
                "4",
            ])
            .env("LVMKIT_LOG", "warn")
            .env("LVMKIT_DATA", data_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // The old dataset or the new one is in place, or (killed between the two renames) the
        // old one waits under its staging name for the next build to put it back.
        assert!(
            out.join("manifest.json").exists()
                || hidden(d).iter().any(|n| n.starts_with(".data.lvmkit-old-")),
            "a killed build lost the dataset: {:?}",
            hidden(d)
        );
    }
    ok(build(&out));
    assert_eq!(hidden(d), [".other.lvmkit-new-Ab12"]);
    lvmkit_dataset::Dataset::open(&out).unwrap();
}

#[test]
fn a_run_that_never_finished_an_epoch_is_replaced_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    fails_with(&train_small(&run, &["--lr", "1e30"]), "the loss became");
    assert!(run.join("config.json").exists());
    assert!(!run.join("last.safetensors").exists());
    // The retry with good settings needs no --force, and is the retry's run.
    ok(train_small(&run, &["--lr", "0.001"]));
    let cfg = read_json(&run.join("config.json"));
    assert_eq!(cfg["train"]["optimizer"]["lr"], 0.001);
    // A run that did train is still kept.
    fails_with(&train_small(&run, &[]), "already holds a training run");
}

#[test]
fn inputs_that_no_command_could_use_are_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = dataset().join("corpus.jsonl");
    let out = tmp.path().join("data");
    for (split, needle) in [
        ("100/0/0", "the val share is 0"),
        ("90/10/0", "the test share is 0"),
        ("50/50/50", "add up to 150, not 100"),
    ] {
        let t = Instant::now();
        let o = lvmkit(&[
            "dataset",
            "--corpus",
            s(&corpus),
            "--output",
            s(&out),
            "--split",
            split,
        ]);
        fails_with(&o, needle);
        fails_with(&o, "--split");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "refused at parse time"
        );
    }
    assert!(!out.exists());

    // A negative value is the flag's value, refused with its range.
    let run = tmp.path().join("run");
    fails_with(
        &train_small(&run, &["--lr", "-1"]),
        "lr must be > 0, got -1",
    );
    fails_with(
        &train_small(&run, &["--patience", "-3"]),
        "invalid value '-3' for '--patience",
    );
    assert!(!run.exists());

    // --bootstrap 0 before any work.
    ok(train_small(&run, &[]));
    let t = Instant::now();
    let o = lvmkit(&["eval", "--run", s(&run), "--bootstrap", "0"]);
    fails_with(
        &o,
        "invalid value '0' for '--bootstrap <BOOTSTRAP>': must be at least 1",
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "refused at parse time"
    );

    // An unknown field in config.json is refused at the top level as inside "model".
    let cfg_path = run.join("config.json");
    let good = std::fs::read_to_string(&cfg_path).unwrap();
    for place in ["top", "model", "data"] {
        let mut cfg: Value = serde_json::from_str(&good).unwrap();
        let target = match place {
            "top" => &mut cfg,
            other => &mut cfg[other],
        };
        target["colour"] = Value::from("blue");
        std::fs::write(&cfg_path, cfg.to_string()).unwrap();
        let o = lvmkit(&["eval", "--run", s(&run), "--split", "val"]);
        fails_with(&o, "unknown field `colour`");
    }
    std::fs::write(&cfg_path, good).unwrap();
}

#[test]
fn an_output_that_is_a_folder_is_named_and_no_temporary_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let texts = d.join("texts.txt");
    std::fs::write(&texts, "One sentence here.\nAnother sentence there.\n").unwrap();
    let run = d.join("run");
    ok(train_small(&run, &[]));
    let contexts = d.join("contexts.jsonl");
    std::fs::write(&contexts, "[\"One sentence here.\"]\n").unwrap();
    let corpus = dataset().join("corpus.jsonl");

    let folder = d.join("out");
    std::fs::create_dir(&folder).unwrap();
    let commands: [Vec<&str>; 3] = [
        vec!["ingest", "--input", s(&corpus), "--output", s(&folder)],
        vec![
            "encode",
            "--input",
            s(&texts),
            "--output",
            s(&folder),
            "--no-cache",
        ],
        vec![
            "predict",
            "--run",
            s(&run),
            "--input",
            s(&contexts),
            "--output",
            s(&folder),
        ],
    ];
    for args in commands {
        let o = lvmkit(&args);
        fails_with(&o, "is a folder");
        assert!(hidden(d).is_empty(), "{} left {:?}", args[0], hidden(d));
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
    }
}
