//! The approximate index: an HNSW graph (usearch) over the bank's unique vectors, keyed by the
//! first concept row that holds each vector, compared by inner product (cosine: the vectors are
//! unit length).

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// HNSW graph settings. The defaults reach recall@10 ≥ 0.99 against exact search on the default
/// bank (144k × 384; `lvmkit index` measures it on every build).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HnswSettings {
    /// Links per node (usearch's `connectivity`, HNSW's M).
    pub connectivity: usize,
    /// Candidate list size while inserting (efConstruction).
    pub expansion_add: usize,
    /// Candidate list size while searching (ef); raised to k when k is larger.
    pub expansion_search: usize,
}

impl Default for HnswSettings {
    fn default() -> Self {
        Self {
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
        }
    }
}

pub struct Hnsw {
    index: Index,
    dim: usize,
    /// usearch serves at most as many concurrent searches as it has reserved thread contexts
    /// (more fail with "Reserve capacity ahead of searches!"): callers wait for a free one.
    contexts: Contexts,
}

/// A counting semaphore over usearch's search contexts.
struct Contexts {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl Contexts {
    fn new(n: usize) -> Self {
        Self {
            free: std::sync::Mutex::new(n),
            freed: std::sync::Condvar::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            while *free == 0 {
                free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
            }
            *free -= 1;
        }
        let out = f();
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.freed.notify_one();
        out
    }
}

/// Concurrent searches per index: enough for every core twice over.
fn search_contexts() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(8)
        .max(8)
}

fn options(dim: usize, s: &HnswSettings) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        metric: MetricKind::IP,
        quantization: ScalarKind::F32,
        connectivity: s.connectivity,
        expansion_add: s.expansion_add,
        expansion_search: s.expansion_search,
        multi: false,
    }
}

impl Hnsw {
    /// Insert `keys[i]` ↦ row i of `vectors` ([n, dim], unit length) on `threads` threads (0:
    /// every rayon thread). On one thread the insertions run in order and the file is the same
    /// byte for byte on every build (tested); on several, the graph depends on their timing
    /// (measured: two 8-thread builds of 3,000 vectors disagreed on the top 10 of 37 of 200
    /// queries).
    pub fn build(
        vectors: &[f32],
        dim: usize,
        keys: &[u64],
        settings: &HnswSettings,
        threads: usize,
        progress: &indicatif::ProgressBar,
    ) -> Result<Self> {
        let index = Index::new(&options(dim, settings))
            .map_err(|e| anyhow::anyhow!("cannot create the HNSW index: {e}"))?;
        let contexts = rayon::current_num_threads().max(search_contexts());
        index
            .reserve_capacity_and_threads(keys.len(), contexts)
            .map_err(|e| anyhow::anyhow!("cannot reserve {} HNSW slots: {e}", keys.len()))?;
        let insert = |(&key, v): (&u64, &[f32])| {
            progress.inc(1);
            index
                .add(key, v)
                .map_err(|e| anyhow::anyhow!("HNSW insert of key {key}: {e}"))
        };
        if threads == 1 {
            keys.iter()
                .zip(vectors.chunks_exact(dim))
                .try_for_each(insert)?;
        } else {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            pool.install(|| {
                keys.par_iter()
                    .zip(vectors.par_chunks_exact(dim))
                    .try_for_each(insert)
            })?;
        }
        Ok(Self {
            index,
            dim,
            contexts: Contexts::new(contexts),
        })
    }

    /// Save atomically: a temporary file beside `path`, then a rename.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".hnsw.")
            .suffix(".tmp")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let tmp_path = tmp.path().to_str().context("index path is not UTF-8")?;
        self.index
            .save(tmp_path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        lvmkit_io::atomic::persist(tmp, path)
    }

    pub fn load(path: &Path, dim: usize, settings: &HnswSettings, expected: usize) -> Result<Self> {
        let p = path.to_str().context("index path is not UTF-8")?;
        let index = Index::new(&options(dim, settings))
            .map_err(|e| anyhow::anyhow!("cannot create the HNSW index: {e}"))?;
        index.load(p).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a readable HNSW index ({e}); rebuild it with `lvmkit index`",
                path.display()
            )
        })?;
        if index.dimensions() != dim || index.size() != expected {
            bail!(
                "{} holds {} vectors of {} dimensions, the bank has {expected} of {dim}; rebuild it with `lvmkit index`",
                path.display(),
                index.size(),
                index.dimensions()
            );
        }
        let threads = search_contexts();
        index
            .reserve_capacity_and_threads(expected, threads)
            .map_err(|e| anyhow::anyhow!("cannot reserve HNSW search contexts: {e}"))?;
        Ok(Self {
            index,
            dim,
            contexts: Contexts::new(threads),
        })
    }

    pub fn len(&self) -> usize {
        self.index.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` approximate nearest keys of one unit query, best first, as (key, cosine).
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>> {
        if query.len() != self.dim {
            bail!("query has {} values, the index {}", query.len(), self.dim);
        }
        let m = self
            .contexts
            .with(|| self.index.search(query, k))
            .map_err(|e| anyhow::anyhow!("HNSW search: {e}"))?;
        // usearch's inner-product distance is 1 − dot.
        Ok(m.keys
            .into_iter()
            .zip(m.distances)
            .map(|(key, d)| (key, 1.0 - d))
            .collect())
    }

    pub fn set_expansion_search(&self, ef: usize) {
        self.index.change_expansion_search(ef);
    }

    pub fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }
}
