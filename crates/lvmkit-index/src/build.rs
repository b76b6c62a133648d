//! `lvmkit index`: build the HNSW graph of a dataset's bank, measure it against exact search,
//! and write `<dataset>/index/` (index.json and hnsw.usearch).

use crate::bank::{index_dir, Approximate, ConceptBank, IndexManifest, SearchMode, INDEX_FORMAT};
use crate::hnsw::{Hnsw, HnswSettings};
use crate::pg::{PgIndex, PgOptions, PgRow};

/// Format of `<dataset>/index/postgres.json`.
pub const PG_FORMAT: &str = "lvmkit-pgbank-1";
use anyhow::Result;
use lvmkit_dataset::Dataset;
use lvmkit_io::fresh::Stage;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

/// Recall and speed of the approximate index against exact search, on held-out queries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexEvaluation {
    pub queries: usize,
    /// What the queries are (they are never bank vectors: those would find themselves).
    pub query_source: String,
    pub k: usize,
    /// Mean over queries of |approximate top-k ∩ exact top-k| / k.
    pub recall_at_k: f64,
    /// One query at a time (the matrix product itself uses every thread).
    pub exact_qps: f64,
    /// All queries in one matrix product (every thread).
    pub exact_batched_qps: f64,
    /// One query at a time, one thread.
    pub approx_qps: f64,
    /// Queries spread over every thread.
    pub approx_parallel_qps: f64,
    pub threads: usize,
    /// Size of the approximate index: usearch's graph in memory, or for PostgreSQL the table
    /// and its HNSW index on disk (the name is kept so older index.json files still read).
    pub hnsw_memory_bytes: usize,
}

pub struct IndexOptions {
    pub hnsw: HnswSettings,
    /// Threads inserting into the graph: 1 (the default) writes the same index every time;
    /// 0 is every core.
    pub build_threads: usize,
    pub queries: usize,
    pub k: usize,
    pub seed: u64,
    pub show_progress: bool,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            hnsw: HnswSettings::default(),
            build_threads: 1,
            queries: 1000,
            k: 10,
            seed: 42,
            show_progress: true,
        }
    }
}

/// Prediction-like queries: the mean of a context window's concepts (the context-mean
/// baseline's prediction), from windows of the held-out splits, seeded.
fn evaluation_queries(ds: &Dataset, n: usize, seed: u64) -> Result<(Vec<f32>, String)> {
    let d = ds.dim();
    let mut windows = Vec::new();
    for split in ["val", "test", "ood"] {
        if ds.manifest.splits.contains_key(split) {
            windows.extend(ds.windows(split)?);
        }
    }
    if windows.is_empty() {
        windows = ds.windows("train")?;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    windows.shuffle(&mut rng);
    windows.truncate(n);
    let mut q = Vec::with_capacity(windows.len() * d);
    for w in &windows {
        let ctx = ds.context_of(w);
        let rows = ctx.len() / d;
        let mut mean = vec![0f32; d];
        for r in ctx.chunks_exact(d) {
            mean.iter_mut()
                .zip(r)
                .for_each(|(m, x)| *m += x / rows as f32);
        }
        q.extend(mean);
    }
    Ok((
        q,
        format!(
            "{} context means of held-out windows (seed {seed})",
            windows.len()
        ),
    ))
}

/// The bar of an index build over `len` items (hidden unless `opts.show_progress`).
fn progress(opts: &IndexOptions, len: usize, what: &str, items: &str) -> indicatif::ProgressBar {
    if !opts.show_progress {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(len as u64);
    b.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:30.cyan/blue}} {{pos}}/{{len}} {items}  {{per_sec}}  eta {{eta}}"
        ))
        .expect("valid template"),
    );
    b
}

fn qps(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// Recall@k of `bank`'s approximate search against its exact search on `queries`, and the
/// speed of both, one query at a time and many at once. `memory` is the approximate index's
/// size in bytes.
fn evaluate(
    bank: &ConceptBank,
    queries: &[f32],
    query_source: String,
    k: usize,
    memory: usize,
) -> Result<IndexEvaluation> {
    let dim = bank.dim;
    let n = queries.len() / dim;
    let none = HashSet::new();
    let t = Instant::now();
    let exact = bank.search(queries, k, SearchMode::Exact, &none)?;
    let exact_batched_qps = qps(n, t);
    let single = n.min(200);
    let t = Instant::now();
    for q in queries.chunks_exact(dim).take(single) {
        bank.search(q, k, SearchMode::Exact, &none)?;
    }
    let exact_qps = qps(single, t);
    let t = Instant::now();
    let approx: Vec<_> = queries
        .chunks_exact(dim)
        .map(|q| Ok(bank.search(q, k, SearchMode::Approximate, &none)?.remove(0)))
        .collect::<Result<_>>()?;
    let approx_qps = qps(n, t);
    let t = Instant::now();
    queries
        .par_chunks_exact(dim)
        .try_for_each(|q| bank.search(q, k, SearchMode::Approximate, &none).map(drop))?;
    let approx_parallel_qps = qps(n, t);
    let recall = exact
        .iter()
        .zip(&approx)
        .map(|(e, a)| {
            let truth: HashSet<usize> = e.iter().map(|h| h.row).collect();
            a.iter().filter(|h| truth.contains(&h.row)).count() as f64 / e.len().max(1) as f64
        })
        .sum::<f64>()
        / n.max(1) as f64;
    Ok(IndexEvaluation {
        queries: n,
        query_source,
        k,
        recall_at_k: recall,
        exact_qps,
        exact_batched_qps,
        approx_qps,
        approx_parallel_qps,
        threads: rayon::current_num_threads(),
        hnsw_memory_bytes: memory,
    })
}

/// What building either index starts from: the dataset's index folder locked, its manifest
/// hash, the evaluation queries, its bank with exact search only, and the bank's distinct
/// unit vectors with the concept row of each.
struct Indexing {
    _lock: lvmkit_io::OutputLock,
    hash: String,
    queries: Vec<f32>,
    query_source: String,
    bank: ConceptBank,
    vectors: Vec<f32>,
    rows: Vec<usize>,
}

fn start(dataset_dir: &Path, opts: &IndexOptions) -> Result<Indexing> {
    let ds = Dataset::open(dataset_dir)?;
    let lock = lvmkit_io::OutputLock::acquire(&index_dir(dataset_dir), "index")?;
    let hash = ds.manifest.hash();
    let (queries, query_source) = evaluation_queries(&ds, opts.queries, opts.seed)?;
    let bank = ConceptBank::exact_only(ds)?;
    let (vectors, rows) = bank.unique_vectors();
    Ok(Indexing {
        _lock: lock,
        hash,
        queries,
        query_source,
        bank,
        vectors,
        rows,
    })
}

/// Build, evaluate and save the index of `dataset_dir`. Returns the manifest written.
pub fn build_index(dataset_dir: &Path, opts: &IndexOptions) -> Result<IndexManifest> {
    let Indexing {
        _lock,
        hash,
        queries,
        query_source,
        mut bank,
        vectors,
        rows,
    } = start(dataset_dir, opts)?;
    let dim = bank.dim;
    let keys: Vec<u64> = rows.iter().map(|&r| r as u64).collect();
    let bar = progress(opts, keys.len(), "HNSW", "vectors");
    let started = Instant::now();
    let hnsw = Hnsw::build(&vectors, dim, &keys, &opts.hnsw, opts.build_threads, &bar)?;
    let build_seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    drop(vectors);
    let memory = hnsw.memory_bytes();
    bank.set_approximate(Approximate::Usearch(hnsw));
    let evaluation = evaluate(&bank, &queries, query_source, opts.k, memory)?;

    let manifest = IndexManifest {
        format: INDEX_FORMAT.into(),
        dataset_manifest_hash: hash,
        dim,
        concepts: bank.len(),
        unique: bank.unique(),
        metric: "cosine".into(),
        hnsw: opts.hnsw,
        build_threads: opts.build_threads,
        build_seconds,
        evaluation,
    };
    let dir = index_dir(dataset_dir);
    std::fs::create_dir_all(&dir)?;
    // The graph first, the manifest last: a manifest only ever describes a complete graph.
    let mpath = dir.join("index.json");
    if mpath.exists() {
        std::fs::remove_file(&mpath)?;
    }
    match bank.approximate() {
        Some(Approximate::Usearch(h)) => h.save(&dir.join("hnsw.usearch"))?,
        _ => unreachable!("the graph was just built"),
    }
    lvmkit_io::write_json_atomic(&mpath, &manifest)?;
    Ok(manifest)
}

/// Building a dataset's index, as a stage: its record is index.json's format and the dataset
/// manifest it was built from, so a changed dataset rebuilds it and a second run keeps it.
pub struct IndexStage<'a> {
    pub dataset_dir: &'a Path,
    pub opts: IndexOptions,
    /// The manifest of the index made, once made.
    pub built: Option<IndexManifest>,
}

impl Stage for IndexStage<'_> {
    fn name(&self) -> String {
        "index".into()
    }
    fn depends_on(&self) -> &'static str {
        "dataset"
    }
    fn output(&self) -> std::path::PathBuf {
        index_dir(self.dataset_dir)
    }
    fn inputs(&self) -> Result<serde_json::Value> {
        let ds = Dataset::open(self.dataset_dir)?;
        Ok(serde_json::json!({"format": INDEX_FORMAT, "dataset": ds.manifest.hash()}))
    }
    fn recorded(&self) -> Option<serde_json::Value> {
        let dir = index_dir(self.dataset_dir);
        if !dir.join("hnsw.usearch").exists() {
            return None;
        }
        let text = std::fs::read_to_string(dir.join("index.json")).ok()?;
        let m: IndexManifest = serde_json::from_str(&text).ok()?;
        Some(serde_json::json!({"format": m.format, "dataset": m.dataset_manifest_hash}))
    }
    fn make(&mut self) -> Result<()> {
        self.built = Some(build_index(self.dataset_dir, &self.opts)?);
        Ok(())
    }
}

/// `<dataset>/index/postgres.json`: what `lvmkit index --backend postgres` loaded and measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgManifest {
    pub format: String,
    pub dataset_manifest_hash: String,
    /// The server, without its password.
    pub url: String,
    pub table: String,
    pub dim: usize,
    pub concepts: usize,
    /// Rows of the table: one per distinct vector, as in the usearch graph.
    pub unique: usize,
    pub hnsw: HnswSettings,
    /// Rows this run inserted, and rows an earlier (interrupted) run had already loaded.
    pub inserted: usize,
    pub already_present: usize,
    pub load_seconds: f64,
    pub index_seconds: f64,
    pub table_bytes: u64,
    pub index_bytes: u64,
    pub evaluation: IndexEvaluation,
}

/// Loads the bank of `dataset_dir` into PostgreSQL (resuming an interrupted load, refusing a
/// table of another dataset version unless `replace`), builds pgvector's HNSW index, measures
/// it against exact search as [`build_index`] measures usearch's, and writes
/// `<dataset>/index/postgres.json`.
pub fn load_postgres(
    dataset_dir: &Path,
    pg: &PgOptions,
    replace: bool,
    opts: &IndexOptions,
) -> Result<PgManifest> {
    let Indexing {
        _lock,
        hash,
        queries,
        query_source,
        mut bank,
        vectors,
        rows,
    } = start(dataset_dir, opts)?;
    let dim = bank.dim;
    let concepts: Vec<_> = rows.iter().map(|&r| bank.concept(r)).collect();
    let pg_rows: Vec<PgRow> = concepts
        .iter()
        .zip(vectors.chunks_exact(dim))
        .map(|(c, v)| PgRow {
            row: c.row as u64,
            doc_id: c.doc_id,
            position: c.position as u32,
            text: c.text,
            vector: v,
        })
        .collect();
    let bar = progress(opts, pg_rows.len(), "PostgreSQL", "rows");
    let report = crate::pg::load(pg, &hash, dim, &pg_rows, replace, &mut |done| {
        bar.set_position(done as u64);
        Ok(())
    })?;
    bar.finish_and_clear();
    drop(pg_rows);
    drop(concepts);
    drop(vectors);
    let index = PgIndex::open(pg, &hash, dim, bank.unique())?;
    let memory = (report.table_bytes + report.index_bytes) as usize;
    bank.set_approximate(Approximate::Postgres(index));
    let evaluation = evaluate(&bank, &queries, query_source, opts.k, memory)?;
    let manifest = PgManifest {
        format: PG_FORMAT.into(),
        dataset_manifest_hash: hash,
        url: crate::pg::redact_url(&pg.url),
        table: pg.table.clone(),
        dim,
        concepts: bank.len(),
        unique: bank.unique(),
        hnsw: HnswSettings {
            connectivity: pg.connectivity,
            expansion_add: pg.expansion_add,
            expansion_search: pg.expansion_search,
        },
        inserted: report.inserted,
        already_present: report.already_present,
        load_seconds: report.load_seconds,
        index_seconds: report.index_seconds,
        table_bytes: report.table_bytes,
        index_bytes: report.index_bytes,
        evaluation,
    };
    let dir = index_dir(dataset_dir);
    std::fs::create_dir_all(&dir)?;
    lvmkit_io::write_json_atomic(&dir.join("postgres.json"), &manifest)?;
    Ok(manifest)
}
