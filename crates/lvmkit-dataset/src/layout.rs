//! The on-disk dataset and its reader.

use anyhow::{bail, Context, Result};
use lvmkit_io::NpyF32;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

pub const FORMAT_VERSION: u32 = 1;
pub const SPLITS: [&str; 4] = ["train", "val", "test", "ood"];

/// A split, as a typed choice (`--split`); datasets name their splits by [`Split::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Train,
    Val,
    Test,
    /// The out-of-distribution split.
    Ood,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        SPLITS[self as usize]
    }
}

/// One window: context `start..target`, target `target` (concept rows), in document `doc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub doc: usize,
    pub start: usize,
    pub target: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DocumentEntry {
    pub index: usize,
    pub id: String,
    pub title: String,
    pub source: String,
    pub split: String,
    /// First concept row of the document.
    pub start: usize,
    /// Number of concepts (sentences).
    pub len: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SplitSummary {
    pub documents: usize,
    pub sentences: usize,
    pub windows: usize,
    /// Mean cosine between adjacent concepts of one document: how predictable the next
    /// sentence is from the last one (the copy-last baseline's ceiling, roughly).
    pub adjacent_cosine: f64,
    pub doc_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EncoderInfo {
    pub name: String,
    pub path: String,
    pub fingerprint: String,
    pub dim: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputInfo {
    pub path: String,
    pub sha256: String,
    /// "corpus" or "ood".
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub dim: usize,
    pub context: usize,
    pub encoder: EncoderInfo,
    pub seed: u64,
    pub split_ratios: crate::SplitRatios,
    pub concepts: usize,
    pub inputs: Vec<InputInfo>,
    pub splits: BTreeMap<String, SplitSummary>,
    /// Documents dropped because they had no sentences.
    pub empty_documents_skipped: usize,
    /// Sentences the encoder cut to its token limit. Left out of the file when there are none,
    /// so a manifest written before it was recorded still hashes as it did.
    #[serde(default, skip_serializing_if = "TruncatedTexts::is_none")]
    pub truncated_texts: TruncatedTexts,
    pub created_by: String,
}

/// Sentences longer than the encoder's token limit: their concepts embed only the first
/// `limit` tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TruncatedTexts {
    /// How many sentences were cut.
    pub texts: usize,
    /// The encoder's limit in tokens, special tokens included.
    pub limit: usize,
    /// Tokens of the longest cut sentence, before the cut.
    pub longest_tokens: usize,
    /// The longest cut sentence's concept row.
    pub longest_concept: usize,
    /// The id of its document.
    pub longest_document: String,
    /// Its position in that document, from 0 (as `pos` in `concepts.jsonl`).
    pub longest_position: usize,
}

impl TruncatedTexts {
    /// Locates the longest of `t` (whose indices are concept rows) in its document.
    pub fn locate(t: &lvmkit_encode::Truncation, documents: &[DocumentEntry]) -> Self {
        if t.is_none() {
            return Self::default();
        }
        let row = t.longest_index;
        let doc = documents
            .iter()
            .find(|d| (d.start..d.start + d.len).contains(&row))
            .expect("every concept row belongs to a document");
        Self {
            texts: t.texts,
            limit: t.limit,
            longest_tokens: t.longest_tokens,
            longest_concept: row,
            longest_document: doc.id.clone(),
            longest_position: row - doc.start,
        }
    }

    /// True when no sentence was cut.
    pub fn is_none(&self) -> bool {
        self.texts == 0
    }
}

impl Manifest {
    /// sha256 of the manifest's canonical JSON: identifies the dataset (inputs, encoder,
    /// split) for the checkpoints and reports of later stages.
    pub fn hash(&self) -> String {
        lvmkit_io::hash::sha256_hex(
            serde_json::to_string(self)
                .expect("manifest serialises")
                .as_bytes(),
        )
    }
}

/// An opened dataset folder.
pub struct Dataset {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub documents: Vec<DocumentEntry>,
    pub concepts: NpyF32,
}

impl Dataset {
    pub fn open(dir: &Path) -> Result<Self> {
        let mpath = dir.join("manifest.json");
        let text = std::fs::read_to_string(&mpath).with_context(|| {
            format!(
                "{} is not an lvmkit dataset (no manifest.json); build one with `lvmkit dataset`",
                dir.display()
            )
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged", mpath.display()))?;
        if manifest.format_version != FORMAT_VERSION {
            bail!(
                "{}: dataset format {} is not supported (this lvmkit reads {FORMAT_VERSION}); rebuild it",
                mpath.display(),
                manifest.format_version
            );
        }
        let concepts = NpyF32::open(&dir.join("concepts.npy"))?;
        if concepts.shape() != [manifest.concepts, manifest.dim] {
            bail!(
                "{}: shape {:?} does not match the manifest ({} × {})",
                concepts.path().display(),
                concepts.shape(),
                manifest.concepts,
                manifest.dim
            );
        }
        let dpath = dir.join("documents.jsonl");
        let file = std::fs::File::open(&dpath)
            .with_context(|| format!("cannot open {}", dpath.display()))?;
        let mut documents = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", dpath.display()))?;
            let d: DocumentEntry = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a document entry", dpath.display(), i + 1))?;
            if d.start + d.len > manifest.concepts {
                bail!("{}:{}: concept range out of bounds", dpath.display(), i + 1);
            }
            documents.push(d);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            documents,
            concepts,
        })
    }

    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    pub fn context(&self) -> usize {
        self.manifest.context
    }

    /// Splits present in this dataset, in canonical order.
    pub fn split_names(&self) -> Vec<&'static str> {
        SPLITS
            .iter()
            .copied()
            .filter(|s| self.manifest.splits.contains_key(*s))
            .collect()
    }

    pub fn windows(&self, split: &str) -> Result<Vec<Window>> {
        if !self.manifest.splits.contains_key(split) {
            bail!(
                "dataset {} has no split '{split}' (it has: {})",
                self.dir.display(),
                self.split_names().join(", ")
            );
        }
        let path = self.dir.join(format!("windows-{split}.npy"));
        let (shape, data) = lvmkit_io::npy::read::<i64>(&path)?;
        if shape.len() != 2 || shape[1] != 3 {
            bail!("{}: expected shape [W, 3], found {shape:?}", path.display());
        }
        let n = self.manifest.concepts as i64;
        data.chunks_exact(3)
            .enumerate()
            .map(|(i, w)| {
                if w.iter().any(|&x| x < 0)
                    || w[1] >= w[2]
                    || w[2] >= n
                    || w[0] as usize >= self.documents.len()
                {
                    bail!("{}: window {i} is out of range: {w:?}", path.display());
                }
                Ok(Window {
                    doc: w[0] as usize,
                    start: w[1] as usize,
                    target: w[2] as usize,
                })
            })
            .collect()
    }

    /// The context rows of a window, [len × D] row-major, borrowed from the memory map.
    pub fn context_of(&self, w: &Window) -> &[f32] {
        let d = self.dim();
        &self.concepts.data()[w.start * d..w.target * d]
    }

    pub fn target_of(&self, w: &Window) -> &[f32] {
        self.concepts.row(w.target)
    }

    /// Concept texts, row i for concept i.
    pub fn concept_texts(&self) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Row {
            text: String,
        }
        let path = self.dir.join("concepts.jsonl");
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        std::io::BufReader::new(file)
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let l = l.with_context(|| format!("cannot read {}", path.display()))?;
                Ok(serde_json::from_str::<Row>(&l)
                    .with_context(|| format!("{}:{}: bad concept row", path.display(), i + 1))?
                    .text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_split_is_named_as_datasets_name_it() {
        use clap::ValueEnum;
        for (s, name) in Split::value_variants().iter().zip(SPLITS) {
            assert_eq!(s.as_str(), name);
            assert_eq!(s.to_possible_value().unwrap().get_name(), name);
        }
    }

    /// A manifest as written before `truncated_texts` was recorded.
    const OLD_MANIFEST: &str = r#"{"format_version":1,"dim":2,"context":1,"encoder":{"name":"e","path":"/e","fingerprint":"f","dim":2},"seed":42,"split_ratios":{"train":0.8,"val":0.1,"test":0.1},"concepts":3,"inputs":[],"splits":{"train":{"documents":1,"sentences":3,"windows":2,"adjacent_cosine":0.5,"doc_ids":["a"]}},"empty_documents_skipped":0,"created_by":"lvmkit 0.1.0"}"#;

    #[test]
    fn an_old_manifest_keeps_its_hash_and_a_cut_is_recorded() {
        let old: Manifest = serde_json::from_str(OLD_MANIFEST).unwrap();
        assert!(old.truncated_texts.is_none());
        assert_eq!(serde_json::to_string(&old).unwrap(), OLD_MANIFEST);
        assert_eq!(
            old.hash(),
            lvmkit_io::hash::sha256_hex(OLD_MANIFEST.as_bytes())
        );

        let documents = [("a", 0, 2), ("b", 2, 3)].map(|(id, start, len)| DocumentEntry {
            index: start,
            id: id.into(),
            title: String::new(),
            source: "s".into(),
            split: "train".into(),
            start,
            len,
        });
        let cut = lvmkit_encode::Truncation {
            limit: 256,
            texts: 2,
            longest_tokens: 400,
            longest_index: 3,
        };
        let new = Manifest {
            truncated_texts: TruncatedTexts::locate(&cut, &documents),
            ..old.clone()
        };
        assert_eq!(
            new.truncated_texts,
            TruncatedTexts {
                texts: 2,
                limit: 256,
                longest_tokens: 400,
                longest_concept: 3,
                longest_document: "b".into(),
                longest_position: 1,
            }
        );
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), new);
        assert_ne!(new.hash(), old.hash());
    }
}
