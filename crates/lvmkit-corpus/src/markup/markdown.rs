//! Markdown to prose blocks.
//!
//! YAML front matter, fenced and indented code (in block quotes too), pipe tables, link and
//! footnote definitions, grammar block quotes (the Rust Reference's `**<sup>Syntax</sup>**`),
//! listing captions (mdBook's `<span class="caption">`), raw HTML tables and `<pre>` blocks
//! and HTML comments are dropped; headings (ATX and setext), paragraphs, list items and block
//! quotes are kept; inline markup (code spans, links of every kind, footnote references,
//! images, emphasis, HTML tags) is reduced to its visible text with entities decoded. Holds the block parser ([`markdown_to_blocks`]), the
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
/// A link (or footnote) definition; group 1 is its destination, empty when that is on the next
/// line.
static MD_LINK_DEF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ {0,3}\[[^\]]+\]:(?:\s+(\S*)|$)").unwrap());
/// The first line of a grammar in a block quote, as the Rust Reference writes its syntax
/// (`> **<sup>Syntax</sup>**\`, `Lexer`).
static MD_GRAMMAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\*\*<sup>\s*(?:Syntax|Lexer)\b").unwrap());

/// A paragraph that is only a listing's caption or file name (mdBook's `<span
/// class="caption">Listing 1-1: ...</span>`): a label for code that is dropped.
static MD_CAPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)^\s*<span class="(?:caption|filename)">.*</span>\s*$"#).unwrap()
});
/// The start of a raw HTML block that holds no prose.
static MD_HTML_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^ {0,3}<(table|pre)[\s>]").unwrap());

/// True for a block-quote line (`> ...`, at any indentation).
fn is_quoted(raw: &str) -> bool {
    raw.trim_start().starts_with('>')
}

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
            if matches!(&b, Block::Paragraph(t) if MD_CAPTION.is_match(t)) {
                return;
            }
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
        // A fence may open a list item (`* ```rust`).
        let item = MD_LIST.captures(line).and_then(|c| c.get(1));
        let fence = MD_FENCE
            .captures(line)
            .or_else(|| item.and_then(|m| MD_FENCE.captures(m.as_str())));
        if let Some(c) = fence {
            flush(&mut cur, &mut out);
            let fence = c[1].to_string();
            let quoted = is_quoted(raw);
            i += 1;
            // A fence opened in a block quote closes with a quoted fence, or ends with the
            // quote.
            while i < n {
                let l = &lines[i];
                if quoted && !is_quoted(l) {
                    i -= 1;
                    break;
                }
                let inner = if quoted {
                    l.trim_start().trim_start_matches(['>', ' '])
                } else {
                    l.trim_start()
                };
                if inner.starts_with(&fence) {
                    break;
                }
                i += 1;
            }
            i += 1;
            prev_blank = true;
            continue;
        }
        if let Some(c) = MD_HTML_BLOCK.captures(line) {
            // Raw HTML tables and preformatted text: cells and code, not prose.
            flush(&mut cur, &mut out);
            let close = format!("</{}>", c[1].to_ascii_lowercase());
            while i < n && !lines[i].to_ascii_lowercase().contains(&close) {
                i += 1;
            }
            i += 1;
            prev_blank = true;
            continue;
        }
        if is_quoted(raw) && cur.is_none() && MD_GRAMMAR.is_match(line) {
            // A grammar, not prose: the whole block quote goes.
            while i < n && is_quoted(&lines[i]) {
                i += 1;
            }
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
        if let Some(c) = MD_LINK_DEF.captures(line) {
            flush(&mut cur, &mut out);
            let dest_on_next_line = c.get(1).is_none_or(|m| m.as_str().is_empty());
            i += 1;
            if dest_on_next_line && i < n && !is_blank(&lines[i]) {
                i += 1;
            }
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
        // An ordered list interrupts a paragraph only when it starts at 1: a wrapped line that
        // begins `99. The next ...` is the paragraph's text.
        let interrupts = |l: &str| {
            let t = l.trim_start();
            let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            digits == 0 || !matches!(cur, Some(Block::Paragraph(_))) || t[..digits] == *"1"
        };
        if let Some(c) = MD_LIST.captures(line).filter(|_| interrupts(line)) {
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
        | \[\^[^\]\s]+\]
        | \[(?P<ltext>(?:[^\[\]]|\[[^\[\]]*\])+)\]\([^)]*\)
        | \[(?P<rtext>(?:[^\[\]]|\[[^\[\]]*\])+)\]\[[^\]]*\]
        | \[(?P<stext>(?:[^\[\]]|\[[^\[\]]*\])+)\]
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
    normalize_ws(&decode_entities(&reduce_inline(text, false)))
}

/// [`md_inline`] before entities and whitespace. Inside a link's text (`in_link`), brackets are
/// the text's own (`[#[derive]](...)`), not shortcut links.
fn reduce_inline(text: &str, in_link: bool) -> String {
    MD_INLINE
        .replace_all(text, |c: &Captures| {
            let g = |name: &str| c.name(name).map(|m| m.as_str());
            if let Some(e) = g("esc").or(g("code2")).or(g("code1")) {
                return e.to_string();
            }
            if let Some(t) = g("ltext").or(g("rtext")) {
                return reduce_inline(t, true);
            }
            if let Some(t) = g("stext") {
                return match in_link {
                    true => format!("[{}]", reduce_inline(t, true)),
                    false => reduce_inline(t, true),
                };
            }
            for name in ["b1", "b2", "s", "i1", "i2"] {
                if let Some(t) = g(name) {
                    return reduce_inline(t, in_link);
                }
            }
            String::new() // images, footnote references, autolinks, HTML tags
        })
        .into_owned()
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

    #[test]
    fn quoted_code_grammars_references_and_footnotes() {
        let src = "\
> Quoted prose:
>
> ```toml
> [profile.release]
> ```

After the quote.

```rust
fn still_code() {}
```

> **<sup>Syntax</sup>**\\
> _Struct_ :\\
> &nbsp;&nbsp; | _TupleStruct_

See [the Book] and [`Vec<T>`][vec], also [#[derive]](#derive) and `[dependencies]`.[^note]

[the Book]:
https://doc.rust-lang.org/book/
[vec]: std::vec::Vec
[^note]: A footnote.

* ```ignore
  fn in_an_item() {}
  ```

This error points at line 4 where we access index
99. The next line tells us more.

<span class=\"caption\">Listing 1-1: A program</span>

<table>
<tr><td>cell</td></tr>
</table>

The end.
";
        assert_eq!(
            paras(&markdown_to_blocks(src)),
            vec![
                "Quoted prose:",
                "After the quote.",
                "See the Book and Vec<T>, also #[derive] and [dependencies].",
                "This error points at line 4 where we access index 99. The next line tells us more.",
                "The end."
            ]
        );
    }
}
