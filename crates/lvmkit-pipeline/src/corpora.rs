//! The ingest stage of the main job: each fetched corpus becomes `CORPUS_DIR/<name>.jsonl`,
//! stamped with the source's checksum and the segmentation settings, so it is ingested again
//! only when one of them changes.

use anyhow::Result;
use lvmkit_corpus::{Format, IngestStats, SegmentConfig};
use lvmkit_io::fresh::{Stage, Stamp};
use lvmkit_sources::{DataDir, Source};
use std::path::{Path, PathBuf};

/// Ingesting one fetched corpus, as a stage.
pub struct IngestStage<'a> {
    pub data: &'a DataDir,
    pub source: &'static Source,
    pub corpus_dir: &'a Path,
    pub segment: SegmentConfig,
    /// What ingesting found, once made.
    pub stats: Option<IngestStats>,
}

impl IngestStage<'_> {
    fn stamp(&self) -> Stamp {
        Stamp::new(
            self.corpus_dir
                .join(format!("{}.stamp.json", self.source.name)),
        )
    }
}

impl Stage for IngestStage<'_> {
    fn name(&self) -> String {
        self.source.name.into()
    }
    fn depends_on(&self) -> &'static str {
        "source and settings"
    }
    fn output(&self) -> PathBuf {
        self.corpus_dir.join(format!("{}.jsonl", self.source.name))
    }
    fn inputs(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({
            "source": self.source.name, "sha256": self.source.sha256,
            "min_words": self.segment.min_words, "max_words": self.segment.max_words,
            "lvmkit": env!("CARGO_PKG_VERSION"),
        }))
    }
    fn recorded(&self) -> Option<serde_json::Value> {
        self.stamp().read_beside(&self.output())
    }
    fn make(&mut self) -> Result<()> {
        let input = self.data.root().join(self.source.target);
        let stats =
            lvmkit_corpus::ingest_to_file(&[input], Format::Auto, &self.segment, &self.output())?;
        self.stats = Some(stats);
        self.stamp().write(&self.inputs()?)
    }
}
