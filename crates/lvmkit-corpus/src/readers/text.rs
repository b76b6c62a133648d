//! Plain text, reStructuredText and Markdown files; a folder is read recursively.

use crate::fsutil::{doc_stem, load_text, relative_id, walk_files};
use crate::markup::{markdown_to_blocks, rst_to_blocks};
use crate::segment::{first_heading, segment_blocks, text_to_blocks, Block};
use crate::{emit_document, Document, IngestStats, SegmentConfig};
use anyhow::Result;
use std::path::Path;

/// Which stripper a file needs, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Markup {
    Plain,
    Rst,
    Markdown,
}

/// `None` for files a folder walk should ignore.
pub(crate) fn markup_of(path: &Path) -> Option<Markup> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".rst.txt") || name.ends_with(".rst") || name.ends_with(".rest") {
        Some(Markup::Rst)
    } else if name.ends_with(".md") || name.ends_with(".markdown") {
        Some(Markup::Markdown)
    } else if name.ends_with(".txt") || name.ends_with(".text") {
        Some(Markup::Plain)
    } else {
        None
    }
}

pub(crate) fn blocks_for(text: &str, markup: Markup) -> Vec<Block> {
    match markup {
        Markup::Plain => text_to_blocks(text),
        Markup::Rst => rst_to_blocks(text),
        Markup::Markdown => markdown_to_blocks(text),
    }
}

pub(crate) fn read(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    if path.is_dir() {
        for file in walk_files(path)? {
            if let Some(markup) = markup_of(&file) {
                let id = relative_id(path, &file);
                read_file(&file, id, markup, false, cfg, stats, emit)?;
            }
        }
        Ok(())
    } else {
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let markup = markup_of(path).unwrap_or(Markup::Plain);
        read_file(path, id, markup, true, cfg, stats, emit)
    }
}

fn read_file(
    path: &Path,
    id: String,
    markup: Markup,
    single: bool,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    let Some(text) = load_text(path, single, stats)? else {
        return Ok(());
    };
    let blocks = blocks_for(&text, markup);
    let title = first_heading(&blocks)
        .map(str::to_string)
        .unwrap_or_else(|| doc_stem(path));
    let sentences = segment_blocks(&blocks, cfg);
    emit_document(id, title, "text", sentences, stats, emit)
}
