//! Markdown to prose blocks.
//!
//! YAML front matter, fenced and indented code, pipe tables, link definitions and HTML
//! comments are dropped; headings (ATX and setext), paragraphs, list items and block quotes are
//! kept; inline markup (code spans, links, images, emphasis, HTML tags) is reduced to its
//! visible text with entities decoded. Holds the block parser ([`markdown_to_blocks`]), the
//! inline reducer ([`md_inline`]) and the HTML comment stripper, which the wikitext stripper
//! shares.

use super::{expand_tabs, indent_of, is_blank};
use crate::entities::decode_entities;
use crate::segment::{normalize_ws, Block};
use regex::{Captures, Regex};
use std::sync::LazyLock;

static MD_ATX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$").unwrap());
static MD_FENCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^ {0,3}(`{3,}|~{3,})").unwrap());
static MD_HR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ {0,3}([-*_])(?:\s*[-*_]){2,}\s*$").unwrap());
static MD_SETEXT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^ {0,3}(=+|-+)\s*$").unwrap());
static MD_LIST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:[-*+•]|\d{1,9}[.)])\s+(.*)$").unwrap());
static MD_TABLE_SEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$").unwrap());
static MD_LINK_DEF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ {0,3}\[[^\]]+\]:\s*\S+").unwrap());

/// Markdown source to blocks.
pub fn markdown_to_blocks(text: &str) -> Vec<Block> {
    let cleaned = crate::segment::clean_text(text);
    let cleaned = strip_html_comments(&cleaned);
    let lines: Vec<String> = cleaned.lines().map(expand_tabs).collect();
    let n = lines.len();
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    let mut cur_lines = 0usize;
    let mut prev_blank = true;
    let mut in_list = false;
    let flush = |cur: &mut Option<Block>, out: &mut Vec<Block>| {
        if let Some(b) = cur.take() {
            out.push(match b {
                Block::Paragraph(t) => Block::Paragraph(md_inline(&t)),
                Block::ListItem(t) => Block::ListItem(md_inline(&t)),
                other => other,
            });
        }
    };
    let mut i = 0;
    // YAML front matter.
    if lines.first().is_some_and(|l| l.trim() == "---") {
        if let Some(end) = lines[1..]
            .iter()
            .position(|l| matches!(l.trim(), "---" | "..."))
        {
            i = end + 2;
        }
    }
    while i < n {
        let raw = &lines[i];
        // Block quotes are prose: drop the markers.
        let line = raw.trim_start().trim_start_matches(['>', ' ']);
        let line = if raw.trim_start().starts_with('>') {
            line
        } else {
            raw.as_str()
        };
        if let Some(c) = MD_FENCE.captures(line) {
            flush(&mut cur, &mut out);
            let fence = c[1].to_string();
            i += 1;
            while i < n && !lines[i].trim_start().starts_with(&fence) {
                i += 1;
            }
            i += 1;
            prev_blank = true;
            continue;
        }
        if is_blank(line) {
            flush(&mut cur, &mut out);
            prev_blank = true;
            i += 1;
            continue;
        }
        let indent = indent_of(line);
        if indent >= 4 && prev_blank && cur.is_none() && !in_list {
            // Indented code block.
            while i < n && (is_blank(&lines[i]) || indent_of(&lines[i]) >= 4) {
                i += 1;
            }
            continue;
        }
        prev_blank = false;
        if let Some(c) = MD_ATX.captures(line) {
            flush(&mut cur, &mut out);
            out.push(Block::Heading(md_inline(
                c.get(2).map_or("", |m| m.as_str()),
            )));
            in_list = false;
            i += 1;
            continue;
        }
        if MD_SETEXT.is_match(line) && cur_lines == 1 && matches!(cur, Some(Block::Paragraph(_))) {
            if let Some(Block::Paragraph(t)) = cur.take() {
                out.push(Block::Heading(md_inline(&t)));
            }
            i += 1;
            continue;
        }
        if MD_HR.is_match(line) {
            flush(&mut cur, &mut out);
            out.push(Block::Break);
            in_list = false;
            i += 1;
            continue;
        }
        if MD_LINK_DEF.is_match(line) {
            i += 1;
            continue;
        }
        // Pipe tables: a row followed by a separator row; skip until a line without `|`.
        if line.contains('|') && i + 1 < n && MD_TABLE_SEP.is_match(&lines[i + 1]) {
            flush(&mut cur, &mut out);
            while i < n && lines[i].contains('|') {
                i += 1;
            }
            continue;
        }
        if let Some(c) = MD_LIST.captures(line) {
            flush(&mut cur, &mut out);
            cur = Some(Block::ListItem(c[1].to_string()));
            cur_lines = 1;
            in_list = true;
            i += 1;
            continue;
        }
        match &mut cur {
            Some(Block::Paragraph(t)) | Some(Block::ListItem(t)) => {
                t.push(' ');
                t.push_str(line.trim());
                cur_lines += 1;
            }
            _ => {
                if indent == 0 {
                    in_list = false;
                }
                cur = Some(Block::Paragraph(line.trim().to_string()));
                cur_lines = 1;
            }
        }
        i += 1;
    }
    flush(&mut cur, &mut out);
    out
}

static HTML_COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<!--.*?-->").unwrap());

/// Remove `<!-- ... -->`; an unclosed comment runs to the end of the text.
pub(crate) fn strip_html_comments(text: &str) -> String {
    let s = HTML_COMMENT.replace_all(text, "");
    match s.find("<!--") {
        Some(pos) => s[..pos].to_string(),
        None => s.into_owned(),
    }
}

static MD_INLINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
          \\(?P<esc>[!-/:-@\[-`{-~])
        | ``\s?(?P<code2>.+?)\s?``
        | `(?P<code1>[^`]+)`
        | !\[[^\]]*\]\([^)]*\)
        | !\[[^\]]*\]\[[^\]]*\]
        | \[(?P<ltext>[^\]]+)\]\([^)]*\)
        | \[(?P<rtext>[^\]]+)\]\[[^\]]*\]
        | <(?:https?|ftp|mailto):[^>\s]+>
        | </?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>
        | \*\*(?P<b1>[^*]+?)\*\*
        | __(?P<b2>[^_]+?)__
        | ~~(?P<s>[^~]+?)~~
        | \*(?P<i1>[^*\s](?:[^*]*?[^*\s])?)\*
        | \b_(?P<i2>[^_\s](?:[^_]*?[^_\s])?)_\b
        ",
    )
    .unwrap()
});

/// Markdown inline markup to visible text, entities decoded, whitespace normalised.
pub fn md_inline(text: &str) -> String {
    let replaced = MD_INLINE.replace_all(text, |c: &Captures| {
        let g = |name: &str| c.name(name).map(|m| m.as_str());
        if let Some(e) = g("esc").or(g("code2")).or(g("code1")) {
            return e.to_string();
        }
        if let Some(t) = g("ltext").or(g("rtext")) {
            return md_inline(t);
        }
        for name in ["b1", "b2", "s", "i1", "i2"] {
            if let Some(t) = g(name) {
                return md_inline(t);
            }
        }
        String::new() // images, autolinks, HTML tags
    });
    normalize_ws(&decode_entities(&replaced))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markup::paras;

    #[test]
    fn markdown_structure_and_inline() {
        let src = "\
---
title: x
---
# Heading One

Some *emphasis*, **strong** and `code` with a [link](http://x.org) and ![img](a.png) <b>tag</b>.

```rust
fn dropped() {}
```

| a | b |
|---|---|
| 1 | 2 |

- item one
- item [two][ref]

[ref]: http://example.com

Setext
------

> Quoted text &amp; more.
";
        let blocks = markdown_to_blocks(src);
        assert_eq!(blocks[0], Block::Heading("Heading One".into()));
        assert!(blocks.contains(&Block::Heading("Setext".into())));
        assert_eq!(
            paras(&blocks),
            vec![
                "Some emphasis, strong and code with a link and tag.",
                "item one",
                "item two",
                "Quoted text & more."
            ]
        );
    }
}
