//! JSON Lines: one object per line with a `text` field (exported Wikipedia datasets).

use crate::fsutil::{doc_stem, list_files};
use crate::segment::split_sentences;
use crate::{emit_document, Document, IngestStats, SegmentConfig};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Consecutive bad lines at the start after which the file is judged not to be JSONL.
const GIVE_UP_AFTER: usize = 100;

pub(crate) fn read(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    if path.is_dir() {
        let files = list_files(path, |n| {
            let n = n.to_ascii_lowercase();
            n.ends_with(".jsonl") || n.ends_with(".ndjson") || n.ends_with(".json")
        })?;
        for f in files {
            read_file(&f, cfg, stats, emit)?;
        }
        Ok(())
    } else {
        read_file(path, cfg, stats, emit)
    }
}

/// A line's document fields, or why the line is unusable.
fn parse_line(
    bytes: &[u8],
) -> std::result::Result<(Option<String>, Option<String>, String), String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 at column {}", e.valid_up_to() + 1))?;
    let value: Value = serde_json::from_str(text).map_err(|e| format!("bad JSON ({e})"))?;
    let Value::Object(obj) = value else {
        return Err("not a JSON object".into());
    };
    let body = match obj.get("text") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("`text` is not a string".into()),
        None => return Err("no `text` field".into()),
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let title = match obj.get("title") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok((id, title, body))
}

fn read_file(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut reader = BufReader::new(file);
    let stem = doc_stem(path);
    let (mut good, mut bad) = (0usize, 0usize);
    let mut line = Vec::new();
    let mut lineno = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("{}: read error after line {lineno}", path.display()))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(&line) {
            Ok((id, title, body)) => {
                good += 1;
                let id = id.unwrap_or_else(|| format!("{stem}:{lineno}"));
                let title = title.unwrap_or_else(|| id.clone());
                let sentences = split_sentences(&body, cfg);
                emit_document(id, title, "jsonl", sentences, stats, emit)?;
            }
            Err(why) => {
                bad += 1;
                stats.skipped_lines += 1;
                stats.warn(format!("{}:{lineno}: skipped line, {why}", path.display()));
                if good == 0 && bad >= GIVE_UP_AFTER {
                    bail!(
                        "{}: the first {bad} non-empty lines are all malformed; this does not look like JSONL",
                        path.display()
                    );
                }
            }
        }
    }
    if bad * 2 > good + bad {
        bail!(
            "{}: {bad} of {} non-empty lines are malformed; this does not look like JSONL",
            path.display(),
            good + bad
        );
    }
    Ok(())
}
