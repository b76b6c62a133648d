//! Small datasets written by hand for the tests, in the real on-disk layout.

use lvmkit_dataset::layout::{EncoderInfo, FORMAT_VERSION, SPLITS};
use lvmkit_dataset::{Dataset, DocumentEntry, Manifest, SplitRatios, SplitSummary};
use rand::Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub struct Doc {
    pub split: &'static str,
    pub vectors: Vec<Vec<f32>>,
}

impl Doc {
    pub fn new(split: &'static str, vectors: Vec<Vec<f32>>) -> Self {
        Self { split, vectors }
    }
}

/// Writes a dataset folder with every split present (possibly empty) and opens it.
pub fn write_dataset(dir: &Path, dim: usize, context: usize, docs: &[Doc]) -> Dataset {
    let mut concepts: Vec<f32> = Vec::new();
    let mut entries = Vec::new();
    let mut windows: BTreeMap<&str, Vec<i64>> = SPLITS.iter().map(|s| (*s, vec![])).collect();
    let mut splits: BTreeMap<String, SplitSummary> = BTreeMap::new();
    for s in SPLITS {
        splits.insert(
            s.to_string(),
            SplitSummary {
                documents: 0,
                sentences: 0,
                windows: 0,
                adjacent_cosine: 0.0,
                doc_ids: vec![],
            },
        );
    }
    for (index, doc) in docs.iter().enumerate() {
        let start = concepts.len() / dim;
        for v in &doc.vectors {
            assert_eq!(v.len(), dim);
            concepts.extend_from_slice(v);
        }
        let len = doc.vectors.len();
        entries.push(DocumentEntry {
            index,
            id: format!("doc{index}"),
            title: format!("Document {index}"),
            source: "test".into(),
            split: doc.split.into(),
            start,
            len,
        });
        let w = windows.get_mut(doc.split).expect("known split");
        for target in start + context..start + len {
            w.extend_from_slice(&[index as i64, (target - context) as i64, target as i64]);
        }
        let sum = splits.get_mut(doc.split).unwrap();
        sum.documents += 1;
        sum.sentences += len;
        sum.windows += len.saturating_sub(context);
        sum.doc_ids.push(format!("doc{index}"));
    }
    let n = concepts.len() / dim;
    lvmkit_io::npy::write(&dir.join("concepts.npy"), &[n, dim], &concepts).unwrap();
    let mut f = std::fs::File::create(dir.join("documents.jsonl")).unwrap();
    for e in &entries {
        writeln!(f, "{}", serde_json::to_string(e).unwrap()).unwrap();
    }
    for (s, w) in &windows {
        lvmkit_io::npy::write(&dir.join(format!("windows-{s}.npy")), &[w.len() / 3, 3], w).unwrap();
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        dim,
        context,
        encoder: EncoderInfo {
            name: "test".into(),
            path: "none".into(),
            fingerprint: "0".into(),
            dim,
        },
        seed: 0,
        split_ratios: SplitRatios::default(),
        concepts: n,
        inputs: vec![],
        splits,
        empty_documents_skipped: 0,
        truncated_texts: Default::default(),
        created_by: "lvmkit-eval tests".into(),
    };
    lvmkit_io::write_json_atomic(&dir.join("manifest.json"), &manifest).unwrap();
    Dataset::open(dir).unwrap()
}

/// A random unit vector.
pub fn unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    crate::linalg::normalise_rows(&mut v, dim);
    v
}
