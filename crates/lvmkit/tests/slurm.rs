//! `lvmkit dataset` on a real scheduler: a one-node Slurm cluster from Debian's packages
//! (scripts/slurm/cluster.sh, as root), the job array of scripts/slurm/submit-dataset.sh over a
//! small real corpus, and the merged dataset compared byte for byte with the single-process one.
//!
//! Needs root and `scripts/slurm/install.sh` (apt: slurmctld, slurmd, slurm-client, munge); it
//! fails, never skips, without them.

mod common;

use common::{lvmkit, ok, s};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SHARDS: usize = 3;
/// The whole submission, shards and merge, on 2 cores takes well under a minute.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(600);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/slurm")
        .join(name)
}

/// The one-node cluster up (`cluster.sh up` does nothing when it is), or the test fails with
/// the reason: never skipped.
fn cluster_up() {
    let up = Command::new(script("cluster.sh"))
        .arg("up")
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "could not bring up the one-node Slurm cluster (scripts/slurm/cluster.sh up, as root); \
         install Slurm and munge first with scripts/slurm/install.sh.\n{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The text of a command's output, for a failure message.
fn shell(cmd: &str, args: &[&str]) -> String {
    match Command::new(cmd).args(args).output() {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => format!("({cmd} failed to run: {e})"),
    }
}

/// The contents of every file in `dir`, for a failure message.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            out.push_str(&format!("--- {}\n{text}\n", p.display()));
        }
    }
    out
}

/// `submit-dataset.sh --shards 3 --wait` with `lvmkit` binary `lvmkit`, run in `d`: its exit
/// status and output. Fails the test, with the queue and the job logs, past the time limit.
fn submit(
    d: &Path,
    lvmkit: &str,
    data: &Path,
    log_dir: &Path,
    corpus: &Path,
    ood: &Path,
    output: &Path,
) -> (std::process::ExitStatus, String) {
    let shards = SHARDS.to_string();
    let (stdout_path, stderr_path) = (d.join("submit.out"), d.join("submit.err"));
    let mut child = Command::new(script("submit-dataset.sh"))
        .args(["--shards", &shards, "--wait"])
        .args(["--lvmkit", lvmkit])
        .args(["--data", s(data)])
        .args(["--logs", s(log_dir)])
        .arg("--")
        .args(["--corpus", s(corpus), "--ood", s(ood)])
        .args(["--output", s(output)])
        .current_dir(d)
        .env("LVMKIT_LOG", "warn")
        .env("POLL_SECONDS", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SUBMIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let submit_out = format!(
        "{}{}",
        std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );
    let Some(status) = status else {
        let queue = shell("squeue", &["-a", "-l"]);
        // The jobs of this test, named on its first lines, go with it.
        for line in submit_out.lines() {
            for prefix in ["shards: job array ", "merge:  job "] {
                if let Some(id) = line.strip_prefix(prefix) {
                    let id = id.split([' ', ',']).next().unwrap();
                    Command::new("scancel").arg(id).status().ok();
                }
            }
        }
        panic!(
            "submit-dataset.sh --wait did not finish in {SUBMIT_TIMEOUT:?}\n\
             its output:\n{submit_out}\nsqueue:\n{queue}\njob logs:\n{}",
            logs(log_dir)
        );
    };
    (status, submit_out)
}

#[test]
fn slurm_job_array_builds_the_same_dataset_as_one_process() {
    let started = Instant::now();

    cluster_up();
    eprintln!("cluster up after {:.1}s", started.elapsed().as_secs_f64());

    // A small real corpus: 12 Brown samples and 2 Wikipedia articles, 20 sentences at most.
    let data = common::data(&["all-MiniLM-L6-v2", "brown", "enwiki-sample"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::small_corpus(d, (40, 12), (20, 2), 20);
    let corpus = d.join("corpus.jsonl");
    let ood = d.join("ood.jsonl");

    // One process.
    let single = d.join("single");
    ok(lvmkit(&[
        "dataset",
        "--corpus",
        s(&corpus),
        "--ood",
        s(&ood),
        "--output",
        s(&single),
    ]));
    eprintln!(
        "single-process dataset after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // The job array and its merge, waited for.
    let sharded = d.join("sharded");
    let log_dir = d.join("logs");
    let (status, submit_out) = submit(
        d,
        env!("CARGO_BIN_EXE_lvmkit"),
        data.root(),
        &log_dir,
        &corpus,
        &ood,
        &sharded,
    );
    assert!(
        status.success(),
        "submit-dataset.sh failed ({status})\nits output:\n{submit_out}\njob logs:\n{}",
        logs(&log_dir)
    );
    eprintln!(
        "sharded dataset after {:.1}s:\n{submit_out}",
        started.elapsed().as_secs_f64()
    );

    // Three array tasks ran, each wrote its shard, and the merge ran.
    let mut names: Vec<String> = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let task_logs: Vec<&String> = names.iter().filter(|n| n.starts_with("dataset_")).collect();
    assert_eq!(task_logs.len(), SHARDS, "one log per array task: {names:?}");
    for i in 0..SHARDS {
        let log = task_logs
            .iter()
            .find(|n| n.ends_with(&format!("_{i}.out")))
            .unwrap_or_else(|| panic!("no log of array task {i}: {names:?}"));
        let text = std::fs::read_to_string(log_dir.join(log)).unwrap();
        assert!(
            text.contains(&format!("shard {i}/{SHARDS} done")),
            "array task {i} did not finish its shard:\n{text}"
        );
        let shard_file = d
            .join("sharded.shards")
            .join(format!("shard-{i:05}-of-{SHARDS:05}.safetensors"));
        assert!(
            shard_file.is_file(),
            "no shard file {}",
            shard_file.display()
        );
    }
    assert_eq!(
        names.iter().filter(|n| n.starts_with("merge_")).count(),
        1,
        "one merge log: {names:?}"
    );

    // The merged dataset is the single-process one, file for file and byte for byte.
    let (a, b) = (files(&single), files(&sharded));
    assert!(!a.is_empty(), "the single-process dataset is empty");
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the two datasets hold different files"
    );
    for (name, bytes) in &a {
        let other = &b[name];
        let first = bytes.iter().zip(other).position(|(x, y)| x != y);
        assert!(
            bytes == other,
            "{} differs between the single-process and the sharded dataset: {} and {} bytes, \
             {} bytes differ, the first at offset {:?}",
            name.display(),
            bytes.len(),
            other.len(),
            bytes.iter().zip(other).filter(|(x, y)| x != y).count(),
            first
        );
    }
    eprintln!(
        "{} files identical; whole test {:.1}s",
        a.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_failed_shard_is_named_with_the_command_that_reruns_it() {
    cluster_up();
    let data = common::data(&["all-MiniLM-L6-v2", "brown", "enwiki-sample"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::small_corpus(d, (60, 6), (30, 1), 10);
    // lvmkit, except that shard 1 fails as a node crash would.
    let wrapper = d.join("lvmkit-failing-shard-1");
    std::fs::write(
        &wrapper,
        format!(
            "#!/usr/bin/env bash\nfor a in \"$@\"; do [ \"$a\" = 1/{SHARDS} ] && {{ echo 'shard 1 lost its node' >&2; exit 3; }}; done\nexec {} \"$@\"\n",
            env!("CARGO_BIN_EXE_lvmkit")
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = d.join("sharded");
    let (status, said) = submit(
        d,
        s(&wrapper),
        data.root(),
        &d.join("logs"),
        &d.join("corpus.jsonl"),
        &d.join("ood.jsonl"),
        &out,
    );
    assert!(
        !status.success(),
        "a failed shard must fail the job:\n{said}"
    );
    assert!(
        said.contains("shard 1") || said.contains("task 1"),
        "{said}"
    );
    assert!(said.contains("--only 1"), "{said}");
    assert!(!out.exists(), "the merge must not run:\n{said}");
}
