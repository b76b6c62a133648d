//! Documentation markup to prose blocks.
//!
//! "Markup to blocks" means turning a markup source into the [`Block`](crate::Block) sequence
//! the segmenter consumes: headings, paragraphs and list items carrying only the text a reader
//! sees, plus breaks where the structure imposes a hard boundary. Documentation sources mix
//! prose with code, tables and cross-reference markup. The encoder should only see the prose a
//! reader sees, so code (literal blocks, doctests, code directives, fenced/indented code) and
//! tables are dropped, admonitions and the bodies of object descriptions are kept as prose, and
//! inline markup is reduced to its visible text.
//!
//! Submodules (private; their entry points are re-exported here):
//!
//! - `rst`: reStructuredText, [`rst_to_blocks`] and [`rst_inline`], with the directive tables
//!   and the reST-only line helpers.
//! - `markdown`: Markdown, [`markdown_to_blocks`] and [`md_inline`], plus the HTML comment
//!   stripper shared with the wikitext stripper.
//!
//! This module holds the line helpers both parsers use (tab expansion, indentation, blank
//! lines).

mod markdown;
mod rst;

pub(crate) use markdown::strip_html_comments;
pub use markdown::{markdown_to_blocks, md_inline};
pub use rst::{rst_inline, rst_to_blocks};

/// Expand tabs (reST tab stops are every 8 columns) so indentation can be compared.
fn expand_tabs(line: &str) -> String {
    if !line.contains('\t') {
        return line.to_string();
    }
    let mut out = String::new();
    let mut col = 0;
    for c in line.chars() {
        if c == '\t' {
            let n = 8 - col % 8;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// Test helper: the text of the paragraphs and list items, in order.
#[cfg(test)]
fn paras(blocks: &[crate::Block]) -> Vec<String> {
    blocks
        .iter()
        .filter_map(|b| match b {
            crate::Block::Paragraph(t) | crate::Block::ListItem(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}
