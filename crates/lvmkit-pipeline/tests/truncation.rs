//! Texts over the encoder's token limit are reported by `lvmkit encode` and `lvmkit dataset`'s
//! library calls, alike on a first run and on one served from the embedding cache. Needs the
//! fetched encoder (`lvmkit fetch`); fails without it.

use lvmkit_dataset::layout::TruncatedTexts;
use lvmkit_dataset::{Dataset, SplitRatios};
use lvmkit_encode::{EmbeddingCache, SentenceEncoder, Truncation};
use lvmkit_pipeline::dataset::DatasetSpec;
use lvmkit_pipeline::encode::{encode_file, load_encoder};

fn encoder() -> SentenceEncoder {
    let data = lvmkit_sources::fetched(&[lvmkit_sources::DEFAULT_ENCODER]);
    load_encoder(&data.default_encoder()).unwrap()
}

/// `n` words, each one WordPiece token: `n + 2` tokens with [CLS] and [SEP].
fn words(n: usize) -> String {
    vec!["word"; n].join(" ")
}

#[test]
fn encode_file_reports_the_same_cut_when_the_rows_come_from_the_cache() {
    let enc = encoder();
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = vec![
        "The first line is short.".into(),
        words(300),
        words(600),
        "So is the last.".into(),
    ];
    let expected = Truncation {
        limit: 256,
        texts: 2,
        longest_tokens: 602,
        longest_index: 2,
    };
    let run = |output: &str| {
        let mut cache =
            EmbeddingCache::open(&dir.path().join("cache"), enc.fingerprint(), enc.dim()).unwrap();
        let out = dir.path().join(output);
        let e = encode_file(&texts, &out, &enc, Some(&mut cache), 8).unwrap();
        (e, std::fs::read(out).unwrap())
    };
    let (first, first_npy) = run("first.npy");
    assert_eq!((first.encoded, first.from_cache), (4, 0));
    assert_eq!(first.truncation, expected);
    let (again, again_npy) = run("again.npy");
    assert_eq!((again.encoded, again.from_cache), (0, 4));
    assert_eq!(again.truncation, expected);
    assert_eq!(first_npy, again_npy);
    // Without the cache too.
    let e = encode_file(&texts, &dir.path().join("none.npy"), &enc, None, 8).unwrap();
    assert_eq!(e.truncation, expected);
}

#[test]
fn a_dataset_records_its_cut_sentences_in_the_manifest() {
    let enc = encoder();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let mut lines = String::new();
    for d in 0..20 {
        let mut sentences: Vec<String> = (0..7)
            .map(|s| format!("Document {d} makes its point number {s}."))
            .collect();
        if d == 13 {
            sentences[4] = words(400);
        }
        let doc = serde_json::json!({
            "id": format!("doc-{d}"), "title": "", "source": "test", "sentences": sentences,
        });
        lines.push_str(&format!("{doc}\n"));
    }
    std::fs::write(&corpus, lines).unwrap();
    let spec = DatasetSpec {
        corpus: vec![corpus],
        ood: vec![],
        context: 5,
        ratios: SplitRatios::default(),
        seed: 42,
        batch_size: 16,
        cache: Some(dir.path().join("cache")),
    };
    let expected = TruncatedTexts {
        texts: 1,
        limit: 256,
        longest_tokens: 402,
        longest_concept: 13 * 7 + 4,
        longest_document: "doc-13".into(),
        longest_position: 4,
    };
    let out = dir.path().join("data");
    let built = spec.build(&enc, &out).unwrap();
    assert_eq!(built.truncated_texts, expected);
    assert_eq!(Dataset::open(&out).unwrap().manifest, built);
    // Rebuilt from the cache: the same manifest, so the same hash.
    let rebuilt = spec.build(&enc, &out).unwrap();
    assert_eq!(rebuilt, built);
    assert_eq!(rebuilt.hash(), built.hash());
}
