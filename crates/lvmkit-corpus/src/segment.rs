//! Rule-based sentence segmentation and the min/max word limits.
//!
//! The pipeline is: source text -> [`Block`]s (headings, paragraphs, list items; produced by
//! [`text_to_blocks`] for plain prose or by the markup strippers) -> sentence boundaries inside
//! each paragraph/list item ([`split_paragraph`]) -> word limits per paragraph
//! ([`apply_limits`]). Merging of short fragments never leaves its paragraph or list item, so
//! headings and paragraph breaks are hard boundaries by construction.
//!
//! Policy for short fragments (fewer than `min_words` words): merged into the next sentence of
//! the same paragraph, or into the previous one when it is the last. When a whole paragraph or
//! list item is shorter than `min_words`, it is kept only if it looks like a sentence (at least 2
//! words and ending in `.`, `!`, `?` or `…`, closing quotes allowed): `Thank you.` survives,
//! leftover labels such as `Gentlemen:` or one-word bullets do not.

use crate::abbrev::{self, AbbrevKind};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// Word limits applied to every sentence (words = whitespace-separated tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentConfig {
    /// Fragments shorter than this are merged into a neighbour; `1` disables merging.
    pub min_words: usize,
    /// Longer sentences are split, preferably at `;`, `:` or `,` near the middle.
    pub max_words: usize,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            min_words: 4,
            max_words: 80,
        }
    }
}

impl SegmentConfig {
    /// Reject limits that cannot be honoured together.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.max_words >= 1, "max_words must be at least 1");
        anyhow::ensure!(
            self.min_words <= self.max_words,
            "min_words ({}) must not exceed max_words ({})",
            self.min_words,
            self.max_words
        );
        Ok(())
    }
}

/// A structural unit of a document, before sentence splitting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A section title: never a sentence, a hard boundary, and a candidate document title.
    Heading(String),
    /// A hard boundary that is not a title (transitions, definition terms, signatures).
    Break,
    /// Running prose; single newlines inside are whitespace.
    Paragraph(String),
    /// One list item, marker removed; its own unit even without end punctuation.
    ListItem(String),
}

/// Plain prose (paragraphs separated by blank lines) to sentences, in order.
pub fn split_sentences(text: &str, cfg: &SegmentConfig) -> Vec<String> {
    segment_blocks(&text_to_blocks(text), cfg)
}

/// Sentences of a block sequence: headings and breaks are dropped, every paragraph and list
/// item is segmented and limited on its own.
pub fn segment_blocks(blocks: &[Block], cfg: &SegmentConfig) -> Vec<String> {
    let mut out = Vec::new();
    for block in blocks {
        match block {
            Block::Paragraph(t) | Block::ListItem(t) => {
                out.extend(apply_limits(split_paragraph(t), cfg));
            }
            Block::Heading(_) | Block::Break => {}
        }
    }
    out
}

/// The first heading of a block sequence, used as a document title.
pub fn first_heading(blocks: &[Block]) -> Option<&str> {
    blocks.iter().find_map(|b| match b {
        Block::Heading(h) if !h.trim().is_empty() => Some(h.as_str()),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// Cleaning

/// Invisible characters that only confuse downstream tokenisers.
fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'
            | '\u{200C}'
            | '\u{200D}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2060}'
            | '\u{FEFF}'
            | '\u{00AD}'
    )
}

/// Normalise line ends, turn tabs into spaces, drop zero-width and control characters.
/// Newlines survive so that paragraph structure can still be read afterwards.
pub fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' => out.push('\n'),
            '\t' | '\u{0B}' | '\u{0C}' => out.push(' '),
            '\u{2028}' => out.push('\n'),
            '\u{2029}' => out.push_str("\n\n"),
            c if is_zero_width(c) || c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Collapse every whitespace run to one space and trim.
pub fn normalize_ws(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Words as the limits count them.
pub fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

// ---------------------------------------------------------------------------------------------
// Plain text structure

static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:[-*•‣◦▪+]|\d{1,2}[.)]|\((?:[A-Za-z]|\d{1,2}|[ivxIVX]{1,6})\))\s+(\S.*)$")
        .unwrap()
});

/// `text` minus a leading list marker (`- `, `* `, `• `, `1. `, `2) `, `(a) `), if any.
pub fn strip_list_marker(line: &str) -> Option<&str> {
    LIST_ITEM
        .captures(line)
        .map(|c| c.get(1).map_or("", |m| m.as_str()))
}

/// A line made only of repeated decoration (`-----`, `* * *`, `=====`).
fn is_rule_line(line: &str) -> bool {
    let t: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    let mut chars = t.chars();
    match chars.next() {
        Some(first) if "-=*_~#+.".contains(first) => {
            t.chars().count() >= 3 && chars.all(|c| c == first)
        }
        _ => false,
    }
}

/// A short standalone line that reads like a title: at most 10 words and either no terminal
/// punctuation or no lowercase letters at all (`VETERANS`, `WAR DEPARTMENT.`, `IV.`).
fn is_plain_heading(line: &str) -> bool {
    let t = line.trim();
    let words = word_count(t);
    if words == 0 || words > 10 || !t.chars().any(char::is_alphanumeric) {
        return false;
    }
    let all_caps = t.chars().any(char::is_uppercase) && !t.chars().any(char::is_lowercase);
    let last = t.trim_end_matches(is_closer).chars().last();
    let terminal = matches!(last, Some('.' | '!' | '?' | ':' | ';' | ',' | '…'));
    !terminal || all_caps
}

/// Parse plain prose into blocks: blank lines separate paragraphs, list lines become items,
/// short standalone lines without end punctuation are headings (dropped from the sentences).
pub fn text_to_blocks(text: &str) -> Vec<Block> {
    let cleaned = clean_text(text);
    let mut blocks = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    for line in cleaned.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            paragraph_to_blocks(&para, &mut blocks);
            para.clear();
        } else {
            para.push(line);
        }
    }
    blocks
}

fn paragraph_to_blocks(lines: &[&str], blocks: &mut Vec<Block>) {
    match lines {
        [] => return,
        [only] if is_rule_line(only) => {
            blocks.push(Block::Break);
            return;
        }
        [only] if is_plain_heading(only) && strip_list_marker(only).is_none() => {
            blocks.push(Block::Heading(normalize_ws(only)));
            return;
        }
        [title, rule] if is_rule_line(rule) && !is_rule_line(title) => {
            blocks.push(Block::Heading(normalize_ws(title)));
            return;
        }
        _ => {}
    }
    // Lines inside a paragraph: list items start a new unit; an indented line continues the
    // current item; an unindented line after an item starts prose again.
    let mut cur: Option<Block> = None;
    let flush = |cur: &mut Option<Block>, blocks: &mut Vec<Block>| {
        if let Some(b) = cur.take() {
            blocks.push(b);
        }
    };
    for line in lines {
        if is_rule_line(line) {
            flush(&mut cur, blocks);
            blocks.push(Block::Break);
            continue;
        }
        if let Some(item) = strip_list_marker(line) {
            flush(&mut cur, blocks);
            cur = Some(Block::ListItem(item.to_string()));
            continue;
        }
        let indented = line.starts_with(char::is_whitespace);
        match &mut cur {
            Some(Block::ListItem(t)) if indented => {
                t.push(' ');
                t.push_str(line.trim());
            }
            Some(Block::Paragraph(t)) => {
                t.push(' ');
                t.push_str(line.trim());
            }
            _ => {
                flush(&mut cur, blocks);
                cur = Some(Block::Paragraph(line.trim().to_string()));
            }
        }
    }
    flush(&mut cur, blocks);
}

// ---------------------------------------------------------------------------------------------
// Sentence boundaries

/// Characters that close a quotation or bracket and stay with the sentence before them.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '”' | '’' | '»' | '›' | ')' | ']' | '}' | '」' | '』'
    )
}

/// Characters that open a quotation or bracket.
fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '“' | '‘' | '„' | '«' | '‹' | '(' | '[' | '{' | '¿' | '¡' | '「' | '『'
    )
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '‽')
}

/// Could `next` begin a sentence? Capital letter, digit, an uncased letter (CJK, Arabic...),
/// or an opening quote/bracket not followed by a lowercase letter.
fn plausible_start(next: &str) -> bool {
    let body = next.trim_start_matches(is_opener);
    match body.chars().next() {
        None => true,
        Some(c) if c.is_lowercase() => false,
        Some(c) if c.is_alphanumeric() => true,
        Some(_) => body.len() != next.len(),
    }
}

/// Is `next` a common sentence starter (and not itself an initial such as `A.`)?
fn starter_follows(next: &str) -> bool {
    let body = next.trim_start_matches(is_opener);
    let word: String = body.chars().take_while(|c| c.is_alphabetic()).collect();
    if word.is_empty() {
        return false;
    }
    let rest = &body[word.len()..];
    if word.chars().count() == 1 && rest.starts_with('.') {
        return false;
    }
    abbrev::is_starter(&word)
}

/// Does a number, bracket or roman numeral follow (`No. 5`, `Fig. (a)`, `Vol. IV`)?
fn number_follows(next: &str) -> bool {
    let t = next.trim_start_matches(['(', '[', '#']);
    if next.starts_with(['(', '[', '#']) {
        return true;
    }
    match t.chars().next() {
        Some(c) if c.is_ascii_digit() => true,
        _ => {
            let w = t.trim_end_matches(|c: char| !c.is_alphanumeric());
            !w.is_empty() && w.chars().all(|c| "IVXLCivxlc".contains(c)) && w.len() <= 6
        }
    }
}

/// Does a sentence end between `tok` and `next`?
fn is_boundary(tok: &str, next: &str) -> bool {
    let core = tok.trim_end_matches(is_closer);
    let stem = core.trim_end_matches(is_terminator);
    let term = &core[stem.len()..];
    if term.is_empty() || !plausible_start(next) {
        return false;
    }
    if term.contains(['!', '?', '‽']) || term.chars().count() > 1 || term == "…" {
        // `?`, `!`, `?!`, and an ellipsis followed by a capital.
        return true;
    }
    // A single period.
    if stem.is_empty() || stem.ends_with(is_closer) {
        return true;
    }
    let word = stem.trim_start_matches(is_opener);
    match abbrev::classify(word) {
        None | Some(AbbrevKind::Final) => true,
        Some(AbbrevKind::Numbered) => !number_follows(next),
        Some(AbbrevKind::Usual) => starter_follows(next),
    }
}

/// Split one paragraph (or list item) into sentences. Whitespace is normalised; no limits.
pub fn split_paragraph(text: &str) -> Vec<String> {
    let cleaned = clean_text(text);
    let tokens: Vec<&str> = cleaned.split_whitespace().collect();
    let only_closers = |t: &str| t.chars().all(is_closer);
    let mut out = Vec::new();
    let mut start = 0;
    // `eff` glues free-standing closers (`Bonjour. »`) onto the token before them.
    let mut eff = String::new();
    for i in 0..tokens.len() {
        if i > 0 && only_closers(tokens[i]) {
            eff.push_str(tokens[i]);
        } else {
            eff.clear();
            eff.push_str(tokens[i]);
        }
        let end = match tokens.get(i + 1) {
            None => true,
            Some(next) => !only_closers(next) && is_boundary(&eff, next),
        };
        if end {
            out.push(tokens[start..=i].join(" "));
            start = i + 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Limits

/// Does a short leftover look like a sentence of its own (see the module docs)?
fn keep_lone_fragment(s: &str) -> bool {
    word_count(s) >= 2
        && s.trim_end_matches(is_closer)
            .chars()
            .last()
            .is_some_and(is_terminator)
}

/// Apply `min_words` (merge) then `max_words` (split) to the sentences of one paragraph.
pub fn apply_limits(sentences: Vec<String>, cfg: &SegmentConfig) -> Vec<String> {
    let min = cfg.min_words.max(1);
    let max = cfg.max_words.max(1);
    let mut merged: Vec<String> = Vec::with_capacity(sentences.len());
    let mut pending: Option<String> = None;
    for s in sentences {
        let s = normalize_ws(&s);
        if s.is_empty() {
            continue;
        }
        let s = match pending.take() {
            Some(p) => format!("{p} {s}"),
            None => s,
        };
        if word_count(&s) < min {
            pending = Some(s);
        } else {
            merged.push(s);
        }
    }
    if let Some(p) = pending {
        match merged.last_mut() {
            Some(last) => {
                last.push(' ');
                last.push_str(&p);
            }
            None if min == 1 || keep_lone_fragment(&p) => merged.push(p),
            None => {}
        }
    }
    let mut out = Vec::with_capacity(merged.len());
    for s in merged {
        let words: Vec<&str> = s.split_whitespace().collect();
        split_long(&words, max, &mut out);
    }
    out
}

/// Priority of a split after `word`: `;` beats `:` beats `,`/dashes.
fn boundary_priority(word: &str) -> u32 {
    let w = word.trim_end_matches(is_closer);
    if w.ends_with(';') {
        3
    } else if w.ends_with(':') {
        2
    } else if w.ends_with(',') || matches!(word, "—" | "–" | "--") {
        1
    } else {
        0
    }
}

/// Split `words` into pieces of at most `max` words. Recursive bisection at the best
/// punctuation boundary in the middle half; without one, equal chunks at word boundaries.
fn split_long(words: &[&str], max: usize, out: &mut Vec<String>) {
    let n = words.len();
    if n <= max {
        if n > 0 {
            out.push(words.join(" "));
        }
        return;
    }
    let lo = n.div_ceil(4).max(1);
    let hi = (n * 3 / 4).clamp(lo, n - 1);
    let mid = n as f64 / 2.0;
    let best = (lo..=hi)
        .filter_map(|j| {
            let p = boundary_priority(words[j - 1]);
            (p > 0).then(|| (p, -((j as f64 - mid).abs() * 2.0) as i64, j))
        })
        .max();
    if let Some((_, _, j)) = best {
        split_long(&words[..j], max, out);
        split_long(&words[j..], max, out);
        return;
    }
    let pieces = n.div_ceil(max);
    let mut start = 0;
    for k in 0..pieces {
        let end = n * (k + 1) / pieces;
        out.push(words[start..end].join(" "));
        start = end;
    }
}

#[cfg(test)]
#[path = "segment_tests.rs"]
mod tests;
