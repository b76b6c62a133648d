//! The training loop on a small constructed dataset: learning, exact resume, refusals.

use lvmkit_dataset::layout::EncoderInfo;
use lvmkit_dataset::{Dataset, VectorDocument};
use lvmkit_models::Architecture;
use lvmkit_train::{train, RunDir, ScheduleKind, TrainConfig, TrainOptions};
use rand::{Rng, SeedableRng};
use std::path::Path;

const D: usize = 8;
const C: usize = 3;

fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// Documents whose sentences follow a fixed rotation of the previous one (plus a little
/// noise), so the next concept is learnable from the context.
fn make_dataset(dir: &Path, docs_per_split: [(&str, usize); 3]) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut docs = Vec::new();
    for (split, n) in docs_per_split {
        for i in 0..n {
            let len = 10 + i % 5;
            let mut v = unit((0..D).map(|_| rng.gen_range(-1.0..1.0)).collect());
            let mut vectors = Vec::new();
            for _ in 0..len {
                vectors.extend_from_slice(&v);
                // Rotate pairs of coordinates by fixed angles.
                let mut next = v.clone();
                for k in (0..D).step_by(2) {
                    let a = 0.5 + k as f32 * 0.2;
                    next[k] = a.cos() * v[k] - a.sin() * v[k + 1];
                    next[k + 1] = a.sin() * v[k] + a.cos() * v[k + 1];
                }
                v = unit(
                    next.iter()
                        .map(|x| x + rng.gen_range(-0.02..0.02))
                        .collect(),
                );
            }
            docs.push(VectorDocument {
                id: format!("{split}-{i}"),
                source: "synthetic".into(),
                split: split.into(),
                texts: (0..len)
                    .map(|j| format!("{split} {i} sentence {j}"))
                    .collect(),
                vectors,
            });
        }
    }
    let enc = EncoderInfo {
        name: "synthetic".into(),
        path: String::new(),
        fingerprint: "synthetic-0".into(),
        dim: D,
    };
    lvmkit_dataset::from_vectors(&dir.join("data"), docs, D, C, enc).unwrap();
    Dataset::open(&dir.join("data")).unwrap()
}

fn small_config() -> TrainConfig {
    let mut cfg = TrainConfig {
        epochs: 4,
        batch_size: 16,
        patience: 0,
        ..TrainConfig::default()
    };
    if let Architecture::Mlp(m) = &mut cfg.model {
        m.hidden = 32;
    }
    cfg.optimizer.lr = 3e-3;
    cfg
}

fn quiet() -> TrainOptions {
    TrainOptions {
        progress: false,
        ..TrainOptions::default()
    }
}

#[test]
fn training_learns_and_writes_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 40), ("val", 6), ("test", 6)]);
    let run = dir.path().join("run");
    let mut cfg = small_config();
    cfg.epochs = 30;
    cfg.optimizer.lr = 1e-2;
    let out = train(&ds, &cfg, &run, &quiet()).unwrap();
    let h = &out.history;
    assert_eq!(h.status, lvmkit_train::RunStatus::Completed);
    assert_eq!(h.epochs.len(), 30);
    assert!(h.best_val_cosine > 0.95, "val cosine {}", h.best_val_cosine);
    assert!(h.epochs[0].val_cosine < h.best_val_cosine);
    let rd = RunDir::new(&run);
    let (cfg_read, model) = rd.load_best().unwrap();
    assert_eq!(cfg_read.data.manifest_hash, ds.manifest.hash());
    assert_eq!(cfg_read.params, model.num_params());
    assert_eq!(rd.read_history().unwrap(), *h);
    let e = &h.epochs[0];
    assert!(e.samples_per_s > 0.0 && e.seconds > 0.0 && e.lr > 0.0);
    assert!(e.train_components.contains_key("cosine") && e.val_components.contains_key("cosine"));
}

#[test]
fn a_resumed_run_ends_exactly_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 12), ("val", 3), ("test", 3)]);
    let mut cfg = small_config();
    cfg.loss.infonce = 0.1; // exercise more of the loop
    let whole = dir.path().join("whole");
    train(&ds, &cfg, &whole, &quiet()).unwrap();

    let parts = dir.path().join("parts");
    let first = train(
        &ds,
        &cfg,
        &parts,
        &TrainOptions {
            stop_after: Some(1),
            ..quiet()
        },
    )
    .unwrap();
    assert!(!first.finished);
    assert_eq!(first.history.epochs.len(), 1);
    let second = train(
        &ds,
        &cfg,
        &parts,
        &TrainOptions {
            resume: true,
            stop_after: Some(2),
            ..quiet()
        },
    )
    .unwrap();
    assert_eq!(second.history.epochs.len(), 3);
    let done = train(
        &ds,
        &cfg,
        &parts,
        &TrainOptions {
            resume: true,
            ..quiet()
        },
    )
    .unwrap();
    assert!(done.finished);

    // Weights and optimiser moments bit for bit (the checkpoints' timings naturally differ).
    for name in ["best.safetensors", "last.safetensors"] {
        let a = lvmkit_models::Checkpoint::read(&whole.join(name)).unwrap();
        let b = lvmkit_models::Checkpoint::read(&parts.join(name)).unwrap();
        assert_eq!(a.tensors.len(), b.tensors.len());
        assert_eq!(
            a.metadata["tensors_sha256"], b.metadata["tensors_sha256"],
            "{name} differs between the resumed and the uninterrupted run"
        );
    }
    let ha = RunDir::new(&whole).read_history().unwrap();
    let hb = RunDir::new(&parts).read_history().unwrap();
    for (a, b) in ha.epochs.iter().zip(&hb.epochs) {
        assert_eq!(
            (a.train_loss, a.val_loss, a.val_cosine, a.lr, a.grad_norm),
            (b.train_loss, b.val_loss, b.val_cosine, b.lr, b.grad_norm)
        );
    }
    // Resuming a finished run changes nothing.
    let again = train(
        &ds,
        &cfg,
        &parts,
        &TrainOptions {
            resume: true,
            ..quiet()
        },
    )
    .unwrap();
    assert_eq!(again.history.epochs.len(), 4);
}

#[test]
fn the_same_seed_repeats_a_run_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 8), ("val", 2), ("test", 2)]);
    let mut cfg = small_config();
    cfg.epochs = 2;
    let a = train(&ds, &cfg, &dir.path().join("a"), &quiet()).unwrap();
    let b = train(&ds, &cfg, &dir.path().join("b"), &quiet()).unwrap();
    cfg.seed = 1;
    let c = train(&ds, &cfg, &dir.path().join("c"), &quiet()).unwrap();
    assert_eq!(a.history.epochs[1].val_loss, b.history.epochs[1].val_loss);
    assert_ne!(a.history.epochs[1].val_loss, c.history.epochs[1].val_loss);
}

#[test]
fn early_stopping_and_plateau_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 8), ("val", 2), ("test", 2)]);
    let mut cfg = small_config();
    cfg.epochs = 50;
    cfg.patience = 2;
    cfg.schedule.kind = ScheduleKind::Plateau;
    // A learning rate this large makes val cosine oscillate, so it soon stops improving.
    cfg.optimizer.lr = 0.5;
    let out = train(&ds, &cfg, &dir.path().join("r"), &quiet()).unwrap();
    assert_eq!(out.history.status, lvmkit_train::RunStatus::EarlyStopped);
    let n = out.history.epochs.len();
    assert!(n < 50);
    assert_eq!(n - out.history.best_epoch, 2);
}

#[test]
fn an_existing_run_is_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 6), ("val", 2), ("test", 2)]);
    let mut cfg = small_config();
    cfg.epochs = 1;
    let run = dir.path().join("r");
    train(&ds, &cfg, &run, &quiet()).unwrap();
    let before = std::fs::read(run.join("best.safetensors")).unwrap();
    cfg.seed = 5;
    let err = train(&ds, &cfg, &run, &quiet()).err().unwrap().to_string();
    assert!(err.contains("already holds a training run"), "{err}");
    assert_eq!(before, std::fs::read(run.join("best.safetensors")).unwrap());
    train(
        &ds,
        &cfg,
        &run,
        &TrainOptions {
            force: true,
            ..quiet()
        },
    )
    .unwrap();
    assert_ne!(before, std::fs::read(run.join("best.safetensors")).unwrap());
}

#[test]
fn a_diverging_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 8), ("val", 2), ("test", 2)]);
    let mut cfg = small_config();
    cfg.epochs = 2;
    let run = dir.path().join("r");
    train(
        &ds,
        &cfg,
        &run,
        &TrainOptions {
            stop_after: Some(1),
            ..quiet()
        },
    )
    .unwrap();
    let good = std::fs::read(run.join("last.safetensors")).unwrap();
    // Poison the stored config so the resumed epoch diverges: an absurd learning rate with no
    // clipping overflows the weights to inf, and the normalised output to NaN.
    let mut rc = RunDir::new(&run).read_config().unwrap();
    rc.train.optimizer.lr = 1e38;
    rc.train.clip = 0.0;
    rc.train.schedule.kind = ScheduleKind::Constant;
    lvmkit_io::write_json_atomic(&run.join("config.json"), &rc).unwrap();
    let err = train(
        &ds,
        &rc.train,
        &run,
        &TrainOptions {
            resume: true,
            ..quiet()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("became NaN") || err.contains("became inf"),
        "{err}"
    );
    assert!(err.contains("last good checkpoint (epoch 1)"), "{err}");
    assert_eq!(good, std::fs::read(run.join("last.safetensors")).unwrap());
}

#[test]
fn resume_refuses_another_dataset_and_a_mismatched_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 6), ("val", 2), ("test", 2)]);
    let mut cfg = small_config();
    cfg.epochs = 2;
    let run = dir.path().join("r");
    train(
        &ds,
        &cfg,
        &run,
        &TrainOptions {
            stop_after: Some(1),
            ..quiet()
        },
    )
    .unwrap();

    let other_dir = tempfile::tempdir().unwrap();
    let other = make_dataset(other_dir.path(), [("train", 7), ("val", 2), ("test", 2)]);
    let err = train(
        &other,
        &cfg,
        &run,
        &TrainOptions {
            resume: true,
            ..quiet()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("trained on another dataset"), "{err}");

    // config.json edited to another width: last.safetensors no longer matches it.
    let mut rc = RunDir::new(&run).read_config().unwrap();
    if let Architecture::Mlp(m) = &mut rc.model.arch {
        m.hidden = 48;
    }
    lvmkit_io::write_json_atomic(&run.join("config.json"), &rc).unwrap();
    let err = train(
        &ds,
        &cfg,
        &run,
        &TrainOptions {
            resume: true,
            ..quiet()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("hidden: expected 48, found 32"), "{err}");
}

#[test]
fn an_empty_split_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // Refused when the dataset is built, naming the flag that gives val its share…
    let doc = |split: &str, i: usize| VectorDocument {
        id: format!("{split}-{i}"),
        source: "s".into(),
        split: split.into(),
        texts: (0..6).map(|j| format!("{j}")).collect(),
        vectors: (0..6 * D).map(|k| ((k + i) % 5) as f32 - 2.0).collect(),
    };
    let enc = EncoderInfo {
        name: "synthetic".into(),
        path: String::new(),
        fingerprint: "synthetic-0".into(),
        dim: D,
    };
    let docs = vec![doc("train", 0), doc("train", 1), doc("test", 2)];
    let err = lvmkit_dataset::from_vectors(&dir.path().join("novali"), docs, D, C, enc)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the val split has no windows") && err.contains("--split"),
        "{err}"
    );
    assert!(!dir.path().join("novali").exists());
    // …and by the trainer, before it makes a run folder, on a dataset built without that check
    // (here: its val windows emptied by hand).
    make_dataset(dir.path(), [("train", 6), ("val", 1), ("test", 2)]);
    lvmkit_io::npy::write::<i64>(&dir.path().join("data/windows-val.npy"), &[0, 3], &[]).unwrap();
    let ds = Dataset::open(&dir.path().join("data")).unwrap();
    let run = dir.path().join("r");
    let err = train(&ds, &small_config(), &run, &quiet())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("split 'val'") && err.contains("no windows"),
        "{err}"
    );
    assert!(!run.exists(), "a refused run makes no folder");
}

/// With a ridge skip path the run starts at the ridge: epoch 0 scores the ridge's own val
/// cosine, and the best checkpoint can only be better than that.
#[test]
fn a_ridge_skip_run_starts_at_the_ridge_and_never_ends_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 12), ("val", 4), ("test", 3)]);
    let ridge = lvmkit_eval::Ridge::cached(&ds).unwrap();
    let cfg = TrainConfig {
        skip: lvmkit_models::Skip::Ridge,
        short_contexts: 0.3,
        ..small_config()
    };
    let out = train(&ds, &cfg, &dir.path().join("run"), &quiet()).unwrap();
    let h = &out.history;
    let initial = h.initial_val_cosine.unwrap();
    assert!(
        (initial - ridge.val_cosine).abs() < 1e-4,
        "epoch 0: {initial} vs the ridge's {}",
        ridge.val_cosine
    );
    assert!(h.best_val_cosine >= initial);
    assert!(h.epochs.iter().all(|e| e.val_cosine <= h.best_val_cosine));
    let best =
        lvmkit_models::Checkpoint::read(&RunDir::new(&dir.path().join("run")).best_path()).unwrap();
    assert_eq!(best.metadata["epoch"], h.best_epoch.to_string());
}

/// A ridge-skip run killed before its first epoch finished resumes from the same ridge start,
/// and ends exactly like an uninterrupted run.
#[test]
fn a_ridge_skip_run_killed_in_its_first_epoch_resumes_from_the_ridge() {
    let dir = tempfile::tempdir().unwrap();
    let ds = make_dataset(dir.path(), [("train", 12), ("val", 4), ("test", 3)]);
    let cfg = TrainConfig {
        skip: lvmkit_models::Skip::Ridge,
        epochs: 2,
        ..small_config()
    };
    let whole = train(&ds, &cfg, &dir.path().join("whole"), &quiet()).unwrap();
    let cut = dir.path().join("cut");
    let stop = TrainOptions {
        stop_after: Some(1),
        ..quiet()
    };
    train(&ds, &cfg, &cut, &stop).unwrap();
    // As if killed during epoch 1: no epoch had finished.
    let rd = RunDir::new(&cut);
    std::fs::remove_file(rd.last_path()).unwrap();
    std::fs::remove_file(rd.history_path()).unwrap();
    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let resumed = train(&ds, &cfg, &cut, &resume).unwrap();
    let learnt = |h: &lvmkit_train::History| {
        let per_epoch: Vec<(f64, f64)> = h
            .epochs
            .iter()
            .map(|e| (e.train_loss, e.val_cosine))
            .collect();
        (
            h.initial_val_cosine,
            h.best_epoch,
            h.best_val_cosine,
            per_epoch,
        )
    };
    assert_eq!(learnt(&resumed.history), learnt(&whole.history));
}
