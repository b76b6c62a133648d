//! Decoder training on a small constructed dataset (each sentence's vector names its words):
//! it learns, resumes exactly, refuses what it should, and decodes without an encoder.

use lvmkit_dataset::layout::EncoderInfo;
use lvmkit_dataset::{Dataset, VectorDocument};
use lvmkit_decoder::{train_decoder, DecoderRun, DecoderTrainConfig, InvertOptions, Inverter};
use lvmkit_train::TrainOptions;
use std::path::Path;

const D: usize = 16;
const WORDS: [&str; 8] = [
    "red", "green", "blue", "cat", "dog", "runs", "sleeps", "fast",
];

/// Sentences of three words; a sentence's vector is the sum of fixed random vectors of its
/// words, one per position, so the text is recoverable from the vector.
fn make_dataset(dir: &Path) -> Dataset {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let table: Vec<Vec<f32>> = (0..WORDS.len() * 3)
        .map(|_| (0..D).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect();
    let mut docs = Vec::new();
    for (split, n) in [("train", 30), ("val", 4), ("test", 4)] {
        for i in 0..n {
            let mut texts = Vec::new();
            let mut vectors = Vec::new();
            for _ in 0..8 {
                let picks: Vec<usize> = (0..3).map(|_| rng.gen_range(0..WORDS.len())).collect();
                texts.push(
                    picks
                        .iter()
                        .map(|&w| WORDS[w])
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                let mut v = [0f32; D];
                for (pos, &w) in picks.iter().enumerate() {
                    for (x, t) in v.iter_mut().zip(&table[pos * WORDS.len() + w]) {
                        *x += t;
                    }
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                vectors.extend(v.iter().map(|x| x / norm));
            }
            docs.push(VectorDocument {
                id: format!("{split}-{i}"),
                source: "synthetic".into(),
                split: split.into(),
                texts,
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
    lvmkit_dataset::from_vectors(&dir.join("data"), docs, D, 2, enc).unwrap();
    Dataset::open(&dir.join("data")).unwrap()
}

fn config() -> DecoderTrainConfig {
    DecoderTrainConfig {
        epochs: 25,
        max_sentences: 0,
        eval_every: 150,
        width: 64,
        ff: 128,
        ..DecoderTrainConfig::preset("tiny").unwrap()
    }
}

fn quiet() -> TrainOptions {
    TrainOptions {
        progress: false,
        ..TrainOptions::default()
    }
}

#[test]
fn it_learns_and_a_resumed_run_equals_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = make_dataset(tmp.path());
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let full = train_decoder(&ds, &config(), &a, &quiet()).unwrap();
    assert!(full.finished);
    let h = &full.history;
    assert!(
        h.best_val_loss < 0.5 * h.initial_val_loss,
        "val loss {} → {}",
        h.initial_val_loss,
        h.best_val_loss
    );
    assert_eq!(h.evals.last().unwrap().step, h.total_steps);

    // Stopped after its first validation, then resumed.
    let stopped = train_decoder(
        &ds,
        &config(),
        &b,
        &TrainOptions {
            stop_after: Some(1),
            ..quiet()
        },
    )
    .unwrap();
    assert!(!stopped.finished);
    let again = train_decoder(&ds, &config(), &b, &quiet());
    let e = again.err().expect("a second start is refused").to_string();
    assert!(e.contains("--resume"), "{e}");
    let resumed = train_decoder(
        &ds,
        &config(),
        &b,
        &TrainOptions {
            resume: true,
            ..quiet()
        },
    )
    .unwrap();
    assert!(resumed.finished);
    let strip = |h: &lvmkit_decoder::train::DecoderHistory| -> Vec<(u64, f64, f64)> {
        h.evals
            .iter()
            .map(|e| (e.step, e.train_loss, e.val_loss))
            .collect()
    };
    assert_eq!(strip(&resumed.history), strip(&full.history));
    for name in ["best.safetensors", "tokenizer.json"] {
        assert_eq!(
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
            "{name} differs"
        );
    }

    // Without an encoder it decodes (0 steps) and refuses correction steps by name.
    let inv = Inverter::open(&a, None).unwrap();
    let rows: Vec<usize> = ds
        .documents
        .iter()
        .filter(|d| d.split == "test")
        .map(|d| d.start)
        .collect();
    let vectors: Vec<f32> = rows
        .iter()
        .flat_map(|&r| ds.concepts.row(r).to_vec())
        .collect();
    let texts = ds.concept_texts().unwrap();
    let out = inv
        .invert(
            &vectors,
            &InvertOptions {
                beam: 3,
                steps: 0,
                batch: 2,
            },
        )
        .unwrap();
    assert_eq!(out.len(), rows.len());
    let right_words: usize = out
        .iter()
        .zip(&rows)
        .map(|(o, &r)| {
            o.best()
                .text
                .split_whitespace()
                .zip(texts[r].split_whitespace())
                .filter(|(x, y)| x == y)
                .count()
        })
        .sum();
    // Chance is 1 word in 8 per position.
    assert!(
        right_words * 2 >= rows.len() * 3,
        "{right_words} of {} words right: {:?}",
        rows.len() * 3,
        out.iter().map(|o| &o.best().text).collect::<Vec<_>>()
    );
    let e = inv
        .invert(
            &vectors,
            &InvertOptions {
                steps: 1,
                ..InvertOptions::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("encoder"), "{e}");
}

#[test]
fn a_run_from_another_dataset_or_a_model_run_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = make_dataset(tmp.path());
    let run = tmp.path().join("run");
    let cfg = DecoderTrainConfig {
        epochs: 1,
        ..config()
    };
    train_decoder(&ds, &cfg, &run, &quiet()).unwrap();
    // config.json of a next-concept run is not a decoder's.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join("config.json"),
        r#"{"format": "lvmkit-run-1", "model": {}}"#,
    )
    .unwrap();
    let e = DecoderRun::new(&other)
        .read_config()
        .unwrap_err()
        .to_string();
    assert!(e.contains("next-concept model run"), "{e}");
    // A bad setting is refused before anything is written.
    let bad = DecoderTrainConfig {
        batch_size: 0,
        ..config()
    };
    let fresh = tmp.path().join("fresh");
    let e = train_decoder(&ds, &bad, &fresh, &quiet())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("batch_size"), "{e}");
    assert!(!fresh.join("config.json").exists());
}
