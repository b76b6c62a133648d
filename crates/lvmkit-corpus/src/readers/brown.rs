//! The tagged Brown corpus: one sentence per line, `word/tag` tokens, paragraphs separated by
//! blank lines. The corpus's own sentence boundaries are kept; only the word limits apply.

use crate::fsutil::{list_files, load_text};
use crate::is_brown_name;
use crate::segment::{apply_limits, clean_text, normalize_ws};
use crate::{emit_document, Document, IngestStats, SegmentConfig};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::Path;

pub(crate) fn read(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    let (dir, files, single) = if path.is_dir() {
        (path.to_path_buf(), list_files(path, is_brown_name)?, false)
    } else {
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        (dir, vec![path.to_path_buf()], true)
    };
    let cats = load_categories(&dir.join("cats.txt"))?;
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let Some(text) = load_text(&file, single, stats)? else {
            continue;
        };
        let title = match cats.get(&name) {
            Some(genre) => format!("Brown {name} ({genre})"),
            None => format!("Brown {name}"),
        };
        emit_document(
            name,
            title,
            "brown",
            brown_sentences(&text, cfg),
            stats,
            emit,
        )?;
    }
    Ok(())
}

/// `cats.txt`: `ca01 news` per line. Missing file: no genres.
fn load_categories(path: &Path) -> Result<HashMap<String, String>> {
    if !path.is_file() {
        return Ok(HashMap::new());
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect())
}

/// Sentences of one Brown file, paragraph by paragraph.
pub(crate) fn brown_sentences(text: &str, cfg: &SegmentConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let mut quote_open = false;
    for line in clean_text(text).lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !para.is_empty() {
                out.extend(apply_limits(std::mem::take(&mut para), cfg));
            }
            quote_open = false;
            continue;
        }
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|tok| tok.rsplit_once('/').map_or(tok, |(w, _)| w))
            .collect();
        let s = detokenize(&words, &mut quote_open);
        if !s.is_empty() {
            para.push(s);
        }
    }
    out
}

/// Tokens that attach to the word before them.
fn no_space_before(w: &str) -> bool {
    matches!(
        w,
        "," | "." | ";" | ":" | "!" | "?" | ")" | "]" | "}" | "''" | "%"
    ) || w.eq_ignore_ascii_case("n't")
        || matches!(
            w.to_ascii_lowercase().as_str(),
            "'s" | "'re" | "'ll" | "'ve" | "'d" | "'m"
        )
}

/// Join Brown tokens into text: `` `` `` and `''` become `"`, a bare `'` alternates between
/// opening and closing (`quote_open` carries across the lines of a paragraph), punctuation
/// attaches to the left, opening brackets and quotes to the right; doubled punctuation is
/// collapsed.
pub(crate) fn detokenize(words: &[&str], quote_open: &mut bool) -> String {
    let mut out = String::new();
    let mut glue_next = true; // no space before the first word
    for (i, &w) in words.iter().enumerate() {
        // The corpus sometimes doubles punctuation (`? ?`, `; ;`) and puts a sentence period
        // after an abbreviation's own (`Jr. .`).
        if let Some(&prev) = i.checked_sub(1).and_then(|p| words.get(p)) {
            let punct = matches!(w, "." | "?" | "!" | ";" | ":" | ",");
            if punct && (prev == w || (w == "." && prev.ends_with('.'))) {
                continue;
            }
        }
        let (text, attach_left, attach_right) = match w {
            "``" => ("\"", false, true),
            "''" => ("\"", true, false),
            "'" => {
                let next_is_word = words
                    .get(i + 1)
                    .is_some_and(|n| n.chars().next().is_some_and(char::is_alphanumeric));
                if *quote_open || !next_is_word {
                    *quote_open = false;
                    ("'", true, false)
                } else {
                    *quote_open = true;
                    ("'", false, true)
                }
            }
            "(" | "[" | "{" => (w, false, true),
            _ => (w, no_space_before(w), false),
        };
        if !(glue_next || attach_left) {
            out.push(' ');
        }
        out.push_str(text);
        glue_next = attach_right;
    }
    normalize_ws(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detok(line: &str) -> String {
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|t| t.rsplit_once('/').map_or(t, |(w, _)| w))
            .collect();
        detokenize(&words, &mut false)
    }

    #[test]
    fn detokenizes_quotes_punctuation_and_slashes() {
        assert_eq!(
            detok("The/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, and/cc (/( then/rb )/) ./."),
            "The jury said \"no evidence\", and (then)."
        );
        assert_eq!(
            detok("and/or/cc 1/2/cd cup/nn ;/. it/pps is/bez n't/* ./."),
            "and/or 1/2 cup; it isn't."
        );
        assert_eq!(
            detok("headline/nn :/: '/' City/nn Hooked/vbn '/' ./."),
            "headline: 'City Hooked'."
        );
        assert_eq!(
            detok("won/vbn by/in Allen/np Jr./np ./."),
            "won by Allen Jr."
        );
        assert_eq!(detok("him/ppo ?/. ?/."), "him?");
    }
}
