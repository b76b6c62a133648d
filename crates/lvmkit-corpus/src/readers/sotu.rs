//! State of the Union addresses: `speeches/YYYY-Name-N.txt` plus `metadata.csv`.

use crate::fsutil::{list_files, load_text};
use crate::segment::{segment_blocks, text_to_blocks};
use crate::{emit_document, Document, IngestStats, SegmentConfig};
use anyhow::{Context, Result};
use regex::Regex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

pub(crate) fn read(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    let (speeches, root) = if path.join("speeches").is_dir() {
        (path.join("speeches"), path.to_path_buf())
    } else {
        let root = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        (path.to_path_buf(), root)
    };
    anyhow::ensure!(
        speeches.is_dir(),
        "{}: expected a folder with speeches/ (or speeches/ itself)",
        path.display()
    );
    let meta_path = [root.join("metadata.csv"), speeches.join("metadata.csv")]
        .into_iter()
        .find(|p| p.is_file());
    let meta = match &meta_path {
        Some(p) => load_metadata(p)?,
        None => {
            stats.warn(format!(
                "{}: no metadata.csv; titles fall back to file names",
                path.display()
            ));
            HashMap::new()
        }
    };
    for file in list_files(&speeches, |n| n.to_ascii_lowercase().ends_with(".txt"))? {
        let id = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let Some(text) = load_text(&file, false, stats)? else {
            continue;
        };
        let title = match meta.get(&id) {
            Some((president, date)) => format!("State of the Union, {president}, {date}"),
            None => id.clone(),
        };
        let sentences = segment_blocks(&text_to_blocks(&clean_speech(&text)), cfg);
        emit_document(id, title, "sotu", sentences, stats, emit)?;
    }
    Ok(())
}

static ANNOTATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\[\s*(?:laughter|applause|inaudible|see app note)[^\]]{0,40}\]").unwrap()
});
/// Speaker labels of recent transcripts: the President's is removed, interjections from the
/// audience are removed with everything after them on the line.
static SPEAKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*The President\.\s+|\s*\bAudience members?\.\s.*$").unwrap()
});

/// Forms of address that open a speech or one of its parts (`Gentlemen of the House:`).
static SALUTATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:to the|the senate|fellow|gentlemen|mr\.|madam|members of|ladies|good (?:morning|afternoon|evening))",
    )
    .unwrap()
});

/// Remove what was not spoken to the audience as prose: the salutation line that opens the
/// address (any first line ending in `:`), later standalone forms of address, editorial lines
/// in square brackets, `[Applause]`-style annotations and speaker labels.
pub(crate) fn clean_speech(text: &str) -> String {
    let text = ANNOTATION.replace_all(text, "");
    let text = SPEAKER.replace_all(&text, "");
    // Editorial lines (`[Delivered in person ...]`) count as blank lines.
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('[') && t.ends_with(']') {
                ""
            } else {
                l
            }
        })
        .collect();
    let blank = |i: usize| lines.get(i).is_none_or(|l| l.trim().is_empty());
    let mut out = Vec::new();
    let mut seen_text = false;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let standalone = (i == 0 || blank(i - 1)) && blank(i + 1);
        if !t.is_empty() && t.ends_with(':') && standalone {
            let first = !seen_text;
            if first || (SALUTATION.is_match(t) && t.split_whitespace().count() <= 25) {
                seen_text = true;
                continue;
            }
        }
        if !t.is_empty() {
            seen_text = true;
        }
        out.push(*line);
    }
    out.join("\n")
}

/// `fileid -> (president_full, date)` from the metadata CSV (header names looked up).
fn load_metadata(path: &Path) -> Result<HashMap<String, (String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut lines = text.lines();
    let header = parse_csv_line(lines.next().unwrap_or(""));
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(fid), Some(pres), Some(date)) = (col("fileid"), col("president_full"), col("date"))
    else {
        anyhow::bail!(
            "{}: expected columns fileid, president_full, date",
            path.display()
        );
    };
    let mut map = HashMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let row = parse_csv_line(line);
        if let (Some(f), Some(p), Some(d)) = (row.get(fid), row.get(pres), row.get(date)) {
            map.insert(f.clone(), (p.clone(), d.clone()));
        }
    }
    Ok(map)
}

/// One CSV record (RFC 4180 quoting; no embedded newlines, which this file does not use).
fn parse_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes() {
        assert_eq!(
            parse_csv_line(r#"a,"b, c","d ""e""",f"#),
            vec!["a", "b, c", "d \"e\"", "f"]
        );
    }

    #[test]
    fn speech_cleaning() {
        let t = "[Delivered in person]\nFellow-Citizens of the Senate:\n\nI embrace this. [Applause] Next point here.\n\n[1817-03-04]\nThe President. Thank you all.\nWe agree. Audience members. Boo!\n\nGentlemen of the House:\n\nWe have made some progress:\n\nFirst, a list.";
        assert_eq!(
            clean_speech(t).trim(),
            "I embrace this.  Next point here.\n\n\nThank you all.\nWe agree.\n\n\nWe have made some progress:\n\nFirst, a list."
        );
    }
}
