//! Datasets built from real slices of the default corpora with the real encoder.

use lvmkit_corpus::{ingest_path, Document, Format, IngestStats, SegmentConfig};
use lvmkit_dataset::{build, BuildInput, BuildOptions, Dataset, SplitRatios};
use lvmkit_encode::{EncodeOptions, SentenceEncoder};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The fetched default encoder (all-MiniLM-L6-v2); fails, naming the fetch command, without it.
fn default_encoder() -> SentenceEncoder {
    let data = lvmkit_sources::fetched(&[lvmkit_sources::DEFAULT_ENCODER]);
    SentenceEncoder::load(&data.default_encoder()).unwrap()
}

fn ingest(path: &Path, format: Format) -> Vec<Document> {
    let mut docs = Vec::new();
    let mut stats = IngestStats::default();
    ingest_path(
        path,
        format,
        &SegmentConfig::default(),
        &mut stats,
        &mut |d| {
            docs.push(d);
            Ok(())
        },
    )
    .unwrap();
    docs
}

fn write_jsonl(path: &Path, docs: &[Document]) {
    let mut f = std::fs::File::create(path).unwrap();
    for d in docs {
        serde_json::to_writer(&mut f, d).unwrap();
        f.write_all(b"\n").unwrap();
    }
}

/// A small real corpus: 24 Brown samples plus two short SOTU addresses, and two Wikipedia
/// articles as the out-of-distribution set.
fn corpora(dir: &Path) -> (PathBuf, PathBuf, Vec<Document>, Vec<Document>) {
    let data = lvmkit_sources::fetched(&["brown", "sotu", "enwiki-sample"]);
    let corpus = |name| data.corpus(name).unwrap();
    let brown = ingest(&corpus("brown"), Format::Brown);
    let mut sotu = ingest(&corpus("sotu"), Format::Sotu);
    sotu.sort_by_key(|d| d.sentences.len());
    let mut docs: Vec<Document> = brown.into_iter().step_by(20).take(24).collect();
    docs.extend(sotu.into_iter().take(2));
    let mut wiki = ingest(&corpus("enwiki-sample"), Format::Wiki);
    wiki.sort_by_key(|d| d.sentences.len());
    let ood: Vec<Document> = wiki
        .into_iter()
        .filter(|d| d.sentences.len() > 10)
        .take(2)
        .collect();
    let (c, o) = (dir.join("corpus.jsonl"), dir.join("ood.jsonl"));
    write_jsonl(&c, &docs);
    write_jsonl(&o, &ood);
    (c, o, docs, ood)
}

fn options(cache: &Path) -> BuildOptions {
    BuildOptions {
        context: 5,
        ratios: SplitRatios::default(),
        seed: 42,
        encode: EncodeOptions::default(),
        cache_dir: Some(cache.to_path_buf()),
    }
}

#[test]
fn datasets_split_by_document_window_inside_documents_and_repeat_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (corpus, ood, docs, ood_docs) = corpora(tmp.path());
    let encoder = default_encoder();
    let inputs = [
        BuildInput {
            path: corpus.clone(),
            ood: false,
        },
        BuildInput {
            path: ood,
            ood: true,
        },
    ];
    let out = tmp.path().join("ds");
    let opts = options(&tmp.path().join("cache"));
    let manifest = build(&inputs, &encoder, &opts, &out).unwrap();
    let ds = Dataset::open(&out).unwrap();

    // No document is in two splits, and every document is in exactly one.
    let mut split_of: HashMap<&str, &str> = HashMap::new();
    for (name, s) in &manifest.splits {
        for id in &s.doc_ids {
            assert!(
                split_of.insert(id, name).is_none(),
                "document {id} is in two splits"
            );
        }
    }
    assert_eq!(split_of.len(), docs.len() + ood_docs.len());
    for d in &ood_docs {
        assert_eq!(split_of[d.id.as_str()], "ood");
    }
    for s in ["train", "val", "test"] {
        assert!(manifest.splits[s].documents > 0, "split {s} is empty");
    }

    // Window counts are Σ max(0, sentences − context) over each split's documents.
    let c = manifest.context;
    let all: Vec<&Document> = docs.iter().chain(&ood_docs).collect();
    for (name, s) in &manifest.splits {
        let expected: usize = all
            .iter()
            .filter(|d| split_of[d.id.as_str()] == name)
            .map(|d| d.sentences.len().saturating_sub(c))
            .sum();
        assert_eq!(s.windows, expected, "split {name}");
        let windows = ds.windows(name).unwrap();
        assert_eq!(windows.len(), expected);
        for w in &windows {
            let doc = &ds.documents[w.doc];
            assert_eq!(doc.split, *name);
            assert!(
                w.start >= doc.start && w.target < doc.start + doc.len,
                "window leaves its document"
            );
            assert_eq!(w.target - w.start, c);
            assert_eq!(
                ds.context_of(w),
                &ds.concepts.data()[w.start * 384..w.target * 384]
            );
        }
        assert!(
            s.adjacent_cosine > 0.05 && s.adjacent_cosine < 0.9,
            "{name}: {}",
            s.adjacent_cosine
        );
    }

    // Concept rows hold the real embeddings of the right sentences, in reading order.
    let texts = ds.concept_texts().unwrap();
    let first = &ds.documents[0];
    assert_eq!(texts[first.start], docs[0].sentences[0]);
    let again = encoder
        .encode(&texts[..3], &EncodeOptions::default())
        .unwrap();
    for i in 0..3 {
        assert!(
            lvmkit_encode::cosine(&again[i * 384..(i + 1) * 384], ds.concepts.row(i)) > 0.99999
        );
    }

    // Same seed and inputs: byte-identical files (the second build comes from the cache).
    let out2 = tmp.path().join("ds2");
    build(&inputs, &encoder, &opts, &out2).unwrap();
    for f in [
        "concepts.npy",
        "windows-train.npy",
        "windows-val.npy",
        "windows-test.npy",
        "documents.jsonl",
    ] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(out2.join(f)).unwrap(),
            "{f} differs"
        );
    }
    // Another seed moves documents between splits.
    let out3 = tmp.path().join("ds3");
    let m3 = build(
        &inputs,
        &encoder,
        &BuildOptions {
            seed: 7,
            ..opts.clone()
        },
        &out3,
    )
    .unwrap();
    assert_ne!(m3.splits["val"].doc_ids, manifest.splits["val"].doc_ids);

    // The seeds' .npz layout round-trips.
    let npz = tmp.path().join("val.npz");
    let n = lvmkit_dataset::npz::export(&ds, "val", &npz).unwrap();
    let (cshape, contexts) = lvmkit_io::npz::read_f32(&npz, "context_sequences").unwrap();
    let (tshape, targets) = lvmkit_io::npz::read_f32(&npz, "target_vectors").unwrap();
    assert_eq!((cshape, tshape), (vec![n, c, 384], vec![n, 384]));
    let val = ds.windows("val").unwrap();
    assert_eq!(&targets[..384], ds.target_of(&val[0]));
    assert_eq!(&contexts[..c * 384], ds.context_of(&val[0]));
    let imported = tmp.path().join("imported");
    let m = lvmkit_dataset::npz::import(&npz, &imported, &opts).unwrap();
    assert_eq!(m.context, c);
    assert_eq!(m.splits.values().map(|s| s.windows).sum::<usize>(), n);
    let imp = Dataset::open(&imported).unwrap();
    let ids: HashSet<_> = imp.documents.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids.len(), n);
}

#[test]
fn a_non_dataset_folder_is_never_overwritten_and_bad_corpora_name_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let encoder = default_encoder();
    let corpus = tmp.path().join("c.jsonl");
    std::fs::write(
        &corpus,
        "{\"id\":\"a\",\"title\":\"\",\"source\":\"t\",\"sentences\":[\"One.\",\"Two.\"]}\n{not json\n",
    )
    .unwrap();
    let out = tmp.path().join("mine");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "precious").unwrap();
    let inputs = [BuildInput {
        path: corpus.clone(),
        ood: false,
    }];
    // The folder is refused before any corpus is read or sentence embedded.
    let err = build(&inputs, &encoder, &options(&tmp.path().join("cache")), &out).unwrap_err();
    assert!(
        format!("{err:#}").contains("refusing to overwrite"),
        "{err:#}"
    );
    let fresh = tmp.path().join("fresh");
    let err = build(
        &inputs,
        &encoder,
        &options(&tmp.path().join("cache")),
        &fresh,
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("c.jsonl:2"), "{err:#}");
    assert!(!fresh.exists());
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "precious"
    );
}
