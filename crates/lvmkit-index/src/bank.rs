//! The concept bank of a dataset as a search index: every concept's text, document and
//! position, exact search (the ground truth) and, when `lvmkit index` has built one, the HNSW
//! graph.

use crate::hnsw::{Hnsw, HnswSettings};
use crate::pg::{PgIndex, PgOptions};
use anyhow::{bail, Context, Result};
use lvmkit_dataset::Dataset;
use lvmkit_eval::BankIndex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub const INDEX_FORMAT: &str = "lvmkit-index-1";

/// How a query is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Matrix product over every vector.
    Exact,
    /// The approximate index: the HNSW graph, in process or in PostgreSQL (falls back to exact
    /// when the bank has none).
    Approximate,
}

/// Where a concept comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Concept<'a> {
    pub row: usize,
    pub text: &'a str,
    pub doc_id: &'a str,
    pub position: usize,
}

/// One neighbour of a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Concept row (the first of the concepts that share this vector).
    pub row: usize,
    /// Cosine similarity to the query.
    pub score: f32,
}

/// `<dataset>/index/index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexManifest {
    pub format: String,
    /// Hash of the dataset manifest the index was built from: a rebuilt dataset invalidates it.
    pub dataset_manifest_hash: String,
    pub dim: usize,
    pub concepts: usize,
    /// Distinct vectors (sentences that occur more than once share one).
    pub unique: usize,
    pub metric: String,
    pub hnsw: HnswSettings,
    /// Threads that built the graph (0: every core); 1 is reproducible byte for byte.
    pub build_threads: usize,
    pub build_seconds: f64,
    pub evaluation: crate::build::IndexEvaluation,
}

pub fn index_dir(dataset: &Path) -> PathBuf {
    dataset.join("index")
}

pub struct ConceptBank {
    pub dim: usize,
    pub dataset_dir: PathBuf,
    texts: Vec<String>,
    doc_ids: Vec<String>,
    /// Concept row → (document index, position in the document).
    places: Vec<(u32, u32)>,
    exact: BankIndex,
    /// Unit-length bank vectors, [concepts, dim] (a copy only when the dataset's are not unit).
    unit: Option<Vec<f32>>,
    dataset: Dataset,
    approximate: Option<Approximate>,
    pub manifest: Option<IndexManifest>,
}

/// The approximate index a bank searches: the usearch file of `lvmkit index`, or a PostgreSQL
/// table with pgvector's HNSW index (`lvmkit index --backend postgres`).
pub enum Approximate {
    Usearch(Hnsw),
    Postgres(PgIndex),
}

impl Approximate {
    /// Keys (concept rows) and cosine similarities of the `k` nearest, best first.
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>> {
        match self {
            Self::Usearch(h) => h.search(query, k),
            Self::Postgres(p) => p.search(query, k),
        }
    }

    /// "hnsw" (usearch, in process) or "postgres" (pgvector's HNSW).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Usearch(_) => "hnsw",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Unit-length copy of `v` ([n, dim]) when any row is not unit length already.
fn unit_rows(v: &[f32], dim: usize) -> Option<Vec<f32>> {
    let unit = v.chunks_exact(dim).all(|r| {
        let n: f32 = r.iter().map(|x| x * x).sum();
        (n - 1.0).abs() < 1e-3
    });
    if unit {
        return None;
    }
    let mut out = v.to_vec();
    for r in out.chunks_exact_mut(dim) {
        let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        r.iter_mut().for_each(|x| *x /= n);
    }
    Some(out)
}

impl ConceptBank {
    /// The bank of every concept of a dataset, with its HNSW index when `<dataset>/index`
    /// holds one built from this very dataset.
    pub fn open(dataset_dir: &Path) -> Result<Self> {
        let dataset = Dataset::open(dataset_dir)?;
        let mut bank = Self::exact_only(dataset)?;
        let idx = index_dir(dataset_dir);
        let mpath = idx.join("index.json");
        if mpath.exists() {
            let m: IndexManifest = serde_json::from_str(
                &std::fs::read_to_string(&mpath)
                    .with_context(|| format!("cannot read {}", mpath.display()))?,
            )
            .with_context(|| {
                format!(
                    "{} is damaged; rebuild it with `lvmkit index`",
                    mpath.display()
                )
            })?;
            if m.format != INDEX_FORMAT {
                bail!(
                    "{}: index format {} is not {INDEX_FORMAT}; rebuild it with `lvmkit index`",
                    mpath.display(),
                    m.format
                );
            }
            if m.dataset_manifest_hash != bank.dataset.manifest.hash() {
                bail!(
                    "{} was built from another version of the dataset; rebuild it with `lvmkit index --data {}`",
                    idx.display(),
                    dataset_dir.display()
                );
            }
            let hnsw = Hnsw::load(&idx.join("hnsw.usearch"), bank.dim, &m.hnsw, bank.unique())?;
            bank.approximate = Some(Approximate::Usearch(hnsw));
            bank.manifest = Some(m);
        }
        Ok(bank)
    }

    /// The bank of every concept of a dataset, searched approximately through the PostgreSQL
    /// table `lvmkit index --backend postgres` loaded from this very dataset (refused when the
    /// table holds another version of it, or an unfinished load). Searches with the
    /// `ef_search` that `lvmkit index` measured this table with (`<dataset>/index/postgres.json`,
    /// when it describes this table and dataset version), else `pg`'s.
    pub fn open_postgres(dataset_dir: &Path, pg: &PgOptions) -> Result<Self> {
        let dataset = Dataset::open(dataset_dir)?;
        let mut bank = Self::exact_only(dataset)?;
        let hash = bank.dataset.manifest.hash();
        let mut pg = pg.clone();
        let recorded = std::fs::read_to_string(index_dir(dataset_dir).join("postgres.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<crate::build::PgManifest>(&t).ok());
        if let Some(m) = recorded {
            if m.table == pg.table && m.dataset_manifest_hash == hash {
                pg.expansion_search = m.hnsw.expansion_search;
            }
        }
        let index = PgIndex::open(&pg, &hash, bank.dim, bank.unique()).with_context(|| {
            format!(
                "the bank of {} in PostgreSQL cannot be searched",
                dataset_dir.display()
            )
        })?;
        bank.approximate = Some(Approximate::Postgres(index));
        Ok(bank)
    }

    /// Exact search only (no HNSW graph is read).
    pub fn exact_only(dataset: Dataset) -> Result<Self> {
        let dim = dataset.dim();
        let n = dataset.manifest.concepts;
        if n == 0 {
            bail!("dataset {} has no concepts", dataset.dir.display());
        }
        let unit = unit_rows(dataset.concepts.data(), dim);
        let all: Vec<usize> = (0..n).collect();
        let exact = BankIndex::from_rows(
            unit.as_deref().unwrap_or(dataset.concepts.data()),
            dim,
            &all,
        )?;
        let texts = dataset.concept_texts()?;
        if texts.len() != n {
            bail!(
                "{}: {} concept texts for {n} vectors",
                dataset.dir.join("concepts.jsonl").display(),
                texts.len()
            );
        }
        let mut places = vec![(0u32, 0u32); n];
        for d in &dataset.documents {
            for p in 0..d.len {
                places[d.start + p] = (d.index as u32, p as u32);
            }
        }
        let doc_ids = dataset.documents.iter().map(|d| d.id.clone()).collect();
        Ok(Self {
            dim,
            dataset_dir: dataset.dir.clone(),
            texts,
            doc_ids,
            places,
            exact,
            unit,
            dataset,
            approximate: None,
            manifest: None,
        })
    }

    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Number of concepts, duplicates included.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Number of distinct vectors.
    pub fn unique(&self) -> usize {
        self.exact.unique()
    }

    /// Whether approximate search has an index (usearch's or PostgreSQL's) to go to.
    pub fn has_approximate(&self) -> bool {
        self.approximate.is_some()
    }

    /// The approximate index, if any.
    pub fn approximate(&self) -> Option<&Approximate> {
        self.approximate.as_ref()
    }

    pub(crate) fn set_approximate(&mut self, a: Approximate) {
        self.approximate = Some(a);
    }

    /// Unit vectors of the concept rows that represent each distinct vector, with those rows.
    pub(crate) fn unique_vectors(&self) -> (Vec<f32>, Vec<usize>) {
        let rows = self.exact.unique_rows().to_vec();
        let mut v = Vec::with_capacity(rows.len() * self.dim);
        for &r in &rows {
            v.extend_from_slice(self.vector(r));
        }
        (v, rows)
    }

    /// Unit vector of concept `row`.
    pub fn vector(&self, row: usize) -> &[f32] {
        match &self.unit {
            Some(u) => &u[row * self.dim..(row + 1) * self.dim],
            None => self.dataset.concepts.row(row),
        }
    }

    pub fn concept(&self, row: usize) -> Concept<'_> {
        let (doc, pos) = self.places[row];
        Concept {
            row,
            text: &self.texts[row],
            doc_id: &self.doc_ids[doc as usize],
            position: pos as usize,
        }
    }

    /// The `k` nearest distinct concepts to each query ([n, dim], any length: compared by
    /// cosine), best first, skipping concepts whose text is in `exclude`.
    pub fn search(
        &self,
        queries: &[f32],
        k: usize,
        mode: SearchMode,
        exclude: &HashSet<String>,
    ) -> Result<Vec<Vec<Hit>>> {
        let d = self.dim;
        if queries.is_empty() || !queries.len().is_multiple_of(d) {
            bail!(
                "{} query values are not a positive multiple of the bank's dimension {d}",
                queries.len()
            );
        }
        let mut unit = queries.to_vec();
        for r in unit.chunks_exact_mut(d) {
            // In f64: a finite f32 vector can have a squared length beyond f32.
            let n = r.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            if !n.is_finite() || n == 0.0 {
                bail!("a query vector has zero or non-finite length");
            }
            r.iter_mut().for_each(|x| *x = (*x as f64 / n) as f32);
        }
        // Excluded texts may each hide one hit (or a few duplicates): fetch that many more.
        let fetch = (k + exclude.len()).min(self.unique());
        let keep = |hits: Vec<Hit>| -> Vec<Hit> {
            hits.into_iter()
                .filter(|h| exclude.is_empty() || !exclude.contains(&self.texts[h.row]))
                .take(k)
                .collect()
        };
        match (&self.approximate, mode) {
            (Some(h), SearchMode::Approximate) => unit
                .chunks_exact(d)
                .map(|q| {
                    let hits = h
                        .search(q, fetch)?
                        .into_iter()
                        .map(|(key, score)| {
                            // A table reloaded from another dataset under a running server.
                            anyhow::ensure!(
                                (key as usize) < self.len(),
                                "the {} index returned concept row {key}, beyond the bank's {} concepts: it was rebuilt from another dataset while this process ran; restart it",
                                h.name(),
                                self.len()
                            );
                            Ok(Hit {
                                row: key as usize,
                                score,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Ok(keep(hits))
                })
                .collect(),
            _ => Ok(self
                .exact
                .nearest(&unit, fetch)?
                .into_iter()
                .map(|hs| {
                    keep(
                        hs.into_iter()
                            .map(|(row, score)| Hit { row, score })
                            .collect(),
                    )
                })
                .collect()),
        }
    }
}
