//! MediaWiki XML exports (plain or bzip2, multistream included), streamed page by page.

use crate::fsutil::{list_files, open_decompressed};
use crate::segment::segment_blocks;
use crate::wikitext::{is_redirect_text, wikitext_to_blocks};
use crate::{emit_document, Document, IngestStats, SegmentConfig};
use anyhow::{anyhow, bail, Result};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::io::BufRead;
use std::path::Path;

pub(crate) fn read(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    if path.is_dir() {
        let files = list_files(path, |n| {
            let n = n.to_ascii_lowercase();
            n.ends_with(".xml") || n.ends_with(".bz2")
        })?;
        for f in files {
            read_file(&f, cfg, stats, emit)?;
        }
        Ok(())
    } else {
        read_file(path, cfg, stats, emit)
    }
}

/// The fields of one `<page>` we care about.
#[derive(Default)]
struct Page {
    title: String,
    ns: Option<String>,
    id: Option<String>,
    redirect: bool,
    text: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Field {
    Title,
    Ns,
    Id,
    Text,
}

fn read_file(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    let mut reader = Reader::from_reader(open_decompressed(path)?);
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut page: Option<Page> = None;
    let mut field: Option<Field> = None;
    let mut value = String::new();
    let mut saw_root = false;
    let xml_err = |reader: &Reader<Box<dyn BufRead>>, e: quick_xml::Error| {
        anyhow!(
            "{}: cannot read the XML at byte {} of the (decompressed) stream: {e}",
            path.display(),
            reader.error_position()
        )
    };
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_err(&reader, e))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                saw_root = true;
                let parent = stack.last().map(Vec::as_slice);
                match (parent, name.as_slice()) {
                    (_, b"page") => page = Some(Page::default()),
                    (Some(b"page"), b"title") => field = Some(Field::Title),
                    (Some(b"page"), b"ns") => field = Some(Field::Ns),
                    (Some(b"page"), b"id") => field = Some(Field::Id),
                    (Some(b"page"), b"redirect") => {
                        if let Some(p) = page.as_mut() {
                            p.redirect = true;
                        }
                    }
                    (Some(b"revision"), b"text") => field = Some(Field::Text),
                    _ => {}
                }
                if field.is_some() {
                    value.clear();
                }
                stack.push(name);
            }
            Event::Empty(e) => {
                saw_root = true;
                let name = e.local_name();
                let parent = stack.last().map(Vec::as_slice);
                if parent == Some(b"page") && name.as_ref() == b"redirect" {
                    if let Some(p) = page.as_mut() {
                        p.redirect = true;
                    }
                }
                if parent == Some(b"revision") && name.as_ref() == b"text" {
                    if let Some(p) = page.as_mut() {
                        p.text.clear();
                    }
                }
            }
            Event::Text(e) if field.is_some() => {
                let t = e.unescape().map_err(|e| xml_err(&reader, e))?;
                value.push_str(&t);
            }
            Event::CData(e) if field.is_some() => {
                value.push_str(&String::from_utf8_lossy(&e));
            }
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                if let (Some(f), Some(p)) = (field.take(), page.as_mut()) {
                    let v = std::mem::take(&mut value);
                    match f {
                        Field::Title => p.title = v,
                        Field::Ns => p.ns = Some(v.trim().to_string()),
                        Field::Id => p.id = Some(v.trim().to_string()),
                        Field::Text => p.text = v,
                    }
                }
                if name == b"page" {
                    if let Some(p) = page.take() {
                        finish_page(p, cfg, stats, emit)?;
                    }
                }
            }
            Event::Eof => {
                if !stack.is_empty() {
                    bail!(
                        "{}: the XML ends inside <{}> at byte {}; the file is truncated",
                        path.display(),
                        String::from_utf8_lossy(stack.last().map_or(&b""[..], |v| v.as_slice())),
                        reader.buffer_position()
                    );
                }
                if !saw_root {
                    bail!(
                        "{}: no XML elements found; not a MediaWiki export",
                        path.display()
                    );
                }
                break;
            }
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

fn finish_page(
    page: Page,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    if page.ns.as_deref().unwrap_or("0") != "0" {
        return Ok(());
    }
    if page.redirect || is_redirect_text(&page.text) {
        stats.redirects_skipped += 1;
        return Ok(());
    }
    let sentences = segment_blocks(&wikitext_to_blocks(&page.text), cfg);
    let id = page.id.unwrap_or_else(|| page.title.clone());
    emit_document(id, page.title, "wikipedia", sentences, stats, emit)
}
