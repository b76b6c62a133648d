//! reStructuredText to prose blocks.
//!
//! Code (literal blocks, doctests, code directives) and tables (grid, simple, directive tables)
//! are dropped; admonitions (`note`, `warning`, `seealso`, `versionchanged` ...) and the bodies
//! of object descriptions (`function`, `class` ...) are kept as prose; inline markup (roles,
//! literals, emphasis, references, substitutions) is reduced to its visible text. Holds the
//! directive tables (`RST_*`), the block parser ([`rst_to_blocks`]), the inline reducer
//! ([`rst_inline`]) and the line helpers only reST needs (dedent, indented block extent,
//! section adornments).

use super::{expand_tabs, indent_of, is_blank};
use crate::segment::{normalize_ws, Block};
use regex::{Captures, Regex};
use std::sync::LazyLock;

/// Directives whose argument and body are code, tables, metadata or navigation: dropped whole.
const RST_DROP: &[&str] = &[
    "code-block",
    "code",
    "sourcecode",
    "literalinclude",
    "doctest",
    "testcode",
    "testoutput",
    "testsetup",
    "testcleanup",
    "parsed-literal",
    "index",
    "toctree",
    "include",
    "highlight",
    "image",
    "figure",
    "math",
    "raw",
    "productionlist",
    "tabularcolumns",
    "list-table",
    "csv-table",
    "table",
    "module",
    "currentmodule",
    "sectionauthor",
    "moduleauthor",
    "codeauthor",
    "contents",
    "sectnum",
    "audit-event",
    "availability",
    "program",
    "default-role",
    "role",
    "meta",
    "title",
    "header",
    "footer",
    "graphviz",
    "digraph",
    "literal",
    "limited-api",
    "c:namespace",
    "cpp:namespace",
    "cpp:namespace-push",
    "cpp:namespace-pop",
    "highlightlang",
    "autosummary",
    "automodule",
    "autoclass",
    "autofunction",
    "moduleauthor",
    "centered",
];

/// Admonitions: the text after `::` is already content.
const RST_ADMONITION: &[&str] = &[
    "note",
    "warning",
    "seealso",
    "important",
    "caution",
    "tip",
    "hint",
    "attention",
    "danger",
    "error",
    "impl-detail",
    "todo",
];

/// Version notes: the first argument token (two for `deprecated-removed`) is a version number,
/// anything after it is content.
const RST_VERSION: &[&str] = &[
    "versionadded",
    "versionchanged",
    "deprecated",
    "deprecated-removed",
];

/// Containers whose argument is a title and whose body is prose.
const RST_TITLED: &[&str] = &["admonition", "topic", "sidebar", "rubric"];

/// Remove the common indentation of the non-blank lines.
fn dedent(lines: &[String]) -> Vec<String> {
    let min = lines
        .iter()
        .filter(|l| !is_blank(l))
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if is_blank(l) {
                String::new()
            } else {
                l[min..].to_string()
            }
        })
        .collect()
}

/// Index of the first non-blank line at or after `start` indented at most `base`.
fn block_end(lines: &[String], start: usize, base: usize) -> usize {
    let mut j = start;
    while j < lines.len() && (is_blank(&lines[j]) || indent_of(&lines[j]) > base) {
        j += 1;
    }
    j
}

/// A section adornment: one punctuation character repeated (at least 3 times).
fn is_adornment(line: &str) -> bool {
    let t = line.trim_end();
    let mut chars = t.chars();
    match chars.next() {
        Some(c) if "=-`:'\"~^_*+#<>.".contains(c) => t.len() >= 3 && chars.all(|x| x == c),
        _ => false,
    }
}

static RST_SIMPLE_TABLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^=+( +=+)+\s*$").unwrap());
static RST_FIELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^:[^:`\s][^:`]*:(\s|$)").unwrap());
static RST_DIRECTIVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z][\w:.+-]*)::(?:\s+(.*))?$").unwrap());
static RST_LIST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[-*+•]|#\.|\d{1,3}\.|\(?(?:\d{1,3}|[A-Za-z]|[ivxIVX]{1,6})\))( +)\S").unwrap()
});

/// reST source to blocks.
pub fn rst_to_blocks(text: &str) -> Vec<Block> {
    let lines: Vec<String> = crate::segment::clean_text(text)
        .lines()
        .map(|l| expand_tabs(l).trim_end().to_string())
        .collect();
    let mut out = Vec::new();
    rst_parse(&lines, &mut out);
    out
}

/// Parse lines whose base indentation is 0.
fn rst_parse(lines: &[String], out: &mut Vec<Block>) {
    let n = lines.len();
    let mut i = 0;
    while i < n {
        let line = &lines[i];
        if is_blank(line) {
            i += 1;
            continue;
        }
        if indent_of(line) > 0 {
            // Block quote: prose, parsed recursively.
            let end = block_end(lines, i, 0);
            rst_parse(&dedent(&lines[i..end]), out);
            i = end;
            continue;
        }
        let t = line.as_str();
        if t == ".." || t.starts_with(".. ") {
            let end = block_end(lines, i + 1, 0);
            rst_explicit(t, &lines[i + 1..end], out);
            i = end;
            continue;
        }
        // Title with overline.
        if is_adornment(t)
            && i + 2 < n
            && !is_blank(&lines[i + 1])
            && is_adornment(&lines[i + 2])
            && lines[i + 2]
                .trim()
                .starts_with(t.chars().next().unwrap_or(' '))
        {
            out.push(Block::Heading(rst_inline(lines[i + 1].trim())));
            i += 3;
            continue;
        }
        // Title with underline.
        if i + 1 < n && is_adornment(&lines[i + 1]) && !is_adornment(t) {
            out.push(Block::Heading(rst_inline(t.trim())));
            i += 2;
            continue;
        }
        // Transition.
        if is_adornment(t) {
            out.push(Block::Break);
            i += 1;
            continue;
        }
        // Grid table: all contiguous non-blank lines.
        if t.starts_with("+-") || t.starts_with("+=") {
            while i < n && !is_blank(&lines[i]) {
                i += 1;
            }
            continue;
        }
        // Simple table: up to a border line followed by a blank line.
        if RST_SIMPLE_TABLE.is_match(t) {
            i += 1;
            while i < n {
                let border = RST_SIMPLE_TABLE.is_match(&lines[i]) || is_adornment(&lines[i]);
                i += 1;
                if border && (i >= n || is_blank(&lines[i])) {
                    break;
                }
            }
            continue;
        }
        // Doctest block.
        if t.starts_with(">>>") {
            while i < n && !is_blank(&lines[i]) {
                i += 1;
            }
            continue;
        }
        // Field list item (`:Author: ...`, `:param x: ...`): metadata, dropped with its body.
        if RST_FIELD.is_match(t) {
            i = block_end(lines, i + 1, 0);
            continue;
        }
        // Bullet or enumerated list item: marker replaced by spaces, body parsed recursively.
        if let Some(c) = RST_LIST.captures(t) {
            let width = c.get(1).map_or(0, |m| m.end());
            let end = block_end(lines, i + 1, 0);
            let mut item = vec![format!("{}{}", " ".repeat(width), &t[width..])];
            item.extend(lines[i + 1..end].iter().cloned());
            let mut inner = Vec::new();
            rst_parse(&dedent(&item), &mut inner);
            // The item's first paragraph is the list item proper.
            if let Some(Block::Paragraph(p)) = inner.first_mut() {
                let p = std::mem::take(p);
                inner[0] = Block::ListItem(p);
            }
            out.extend(inner);
            i = end;
            continue;
        }
        // Definition list: a term line directly followed by an indented definition.
        if i + 1 < n && !is_blank(&lines[i + 1]) && indent_of(&lines[i + 1]) > 0 {
            out.push(Block::Break);
            let end = block_end(lines, i + 1, 0);
            rst_parse(&dedent(&lines[i + 1..end]), out);
            i = end;
            continue;
        }
        // Paragraph.
        let mut j = i;
        while j < n && !is_blank(&lines[j]) && indent_of(&lines[j]) == 0 {
            j += 1;
        }
        let text = lines[i..j].join(" ");
        i = j;
        match literal_marker(&text) {
            Some(kept) => {
                if !kept.is_empty() {
                    out.push(Block::Paragraph(rst_inline(&kept)));
                }
                // Skip the literal block: the next indented block after blank lines.
                let mut k = i;
                while k < n && is_blank(&lines[k]) {
                    k += 1;
                }
                if k < n && indent_of(&lines[k]) > 0 {
                    i = block_end(lines, k, 0);
                }
            }
            None => out.push(Block::Paragraph(rst_inline(&text))),
        }
    }
}

/// A paragraph ending in `::` introduces a literal block. reST shows `text::` as `text:`,
/// `text ::` as `text`, and a bare `::` as nothing. `None` when there is no marker.
fn literal_marker(text: &str) -> Option<String> {
    let t = text.trim_end();
    let before = t.strip_suffix("::")?;
    if before.ends_with('\\') {
        return None;
    }
    if before.trim().is_empty() {
        Some(String::new())
    } else if before.ends_with(char::is_whitespace) {
        Some(before.trim_end().to_string())
    } else {
        Some(format!("{before}:"))
    }
}

/// `.. something`: directive, target, footnote, substitution definition or comment.
fn rst_explicit(first: &str, body: &[String], out: &mut Vec<Block>) {
    let rest = first[2..].trim();
    let Some(c) = RST_DIRECTIVE.captures(rest) else {
        // Comments, `.. _target:`, `.. [1] footnotes`, `.. |sub| replace::`: not prose.
        return;
    };
    let full_name = c[1].to_ascii_lowercase();
    let name = full_name.strip_prefix("py:").unwrap_or(&full_name);
    let arg = c.get(2).map_or("", |m| m.as_str()).trim();
    let body = dedent(body);
    if RST_DROP.contains(&name) {
        return;
    }
    if RST_ADMONITION.contains(&name) || RST_VERSION.contains(&name) {
        let skip = match name {
            "deprecated-removed" => 2,
            n if RST_VERSION.contains(&n) => 1,
            _ => 0,
        };
        let arg_text: Vec<&str> = arg.split_whitespace().skip(skip).collect();
        let mut lines = Vec::new();
        if !arg_text.is_empty() {
            lines.push(arg_text.join(" "));
        }
        lines.extend(skip_options(&body).iter().cloned());
        out.push(Block::Break);
        rst_parse(&dedent(&lines), out);
        out.push(Block::Break);
        return;
    }
    if RST_TITLED.contains(&name) {
        if !arg.is_empty() {
            out.push(Block::Heading(rst_inline(arg)));
        }
        rst_parse(&dedent(skip_options(&body)), out);
        return;
    }
    // Object descriptions (`function`, `class`, `c:macro`, `envvar` ...) and unknown
    // directives: the argument and its continuation lines are signatures; content follows
    // the first blank line.
    out.push(Block::Break);
    let content_start = body.iter().position(|l| is_blank(l)).unwrap_or(body.len());
    rst_parse(&dedent(skip_options(&body[content_start..])), out);
    out.push(Block::Break);
}

/// Drop directive option lines (`:class: x`) and blank lines at the top of a body.
fn skip_options(body: &[String]) -> &[String] {
    let k = body
        .iter()
        .position(|l| !is_blank(l) && !RST_FIELD.is_match(l))
        .unwrap_or(body.len());
    &body[k..]
}

static RST_INLINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
          \\(?P<esc>[\s\S])
        | ``(?P<lit>.+?)``
        | (?P<role>:[A-Za-z][\w:+.-]*:)`(?P<rtext>[^`]+)`
        | `(?P<ref>[^`]+)`__?
        | _`(?P<target>[^`]+)`
        | `(?P<interp>[^`]+)`(?::[A-Za-z][\w:+.-]*:)?
        | \*\*(?P<strong>[^*]+?)\*\*
        | \*(?P<em>[^*\s](?:[^*]*?[^*\s])?)\*
        | \[(?:\#[\w-]*|\*|\d+|[A-Za-z][\w.-]*)\]_
        | \|(?P<sub>[^|\s](?:[^|]*?[^|\s])?)\|(?:__?)?
        | \b(?P<named>[A-Za-z][A-Za-z0-9]*)__?\b
        ",
    )
    .unwrap()
});

static EXPLICIT_TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?s)(.*?)\s*<([^<>]*)>$").unwrap());

/// Visible text of a role: explicit titles win, `!x` is `x`, `~a.b.c` is `c`.
fn role_text(role: &str, text: &str) -> String {
    let role = role.trim_matches(':').to_ascii_lowercase();
    if let Some(c) = EXPLICIT_TITLE.captures(text) {
        if !c[1].trim().is_empty() {
            return c[1].trim().to_string();
        }
    }
    let t = text.trim().trim_start_matches('!');
    let t = match t.strip_prefix('~') {
        Some(path) => path.rsplit('.').next().unwrap_or(path),
        None => t,
    };
    match role.rsplit(':').next().unwrap_or("") {
        "pep" => format!("PEP {t}"),
        "rfc" => format!("RFC {t}"),
        _ => t.to_string(),
    }
}

/// reST inline markup to visible text, whitespace normalised.
pub fn rst_inline(text: &str) -> String {
    let replaced = RST_INLINE.replace_all(text, |c: &Captures| {
        let g = |name: &str| c.name(name).map(|m| m.as_str());
        if let Some(e) = g("esc") {
            return if e.trim().is_empty() {
                String::new()
            } else {
                e.to_string()
            };
        }
        if let Some(l) = g("lit") {
            return l.to_string();
        }
        if let (Some(r), Some(t)) = (g("role"), g("rtext")) {
            return role_text(r, t);
        }
        if let Some(r) = g("ref") {
            return EXPLICIT_TITLE
                .captures(r)
                .map_or(r.to_string(), |m| m[1].trim().to_string());
        }
        for name in ["target", "interp", "strong", "em", "sub", "named"] {
            if let Some(t) = g(name) {
                return t.to_string();
            }
        }
        String::new() // footnote / citation references
    });
    // Sphinx "smart quotes" render `---` as an em dash.
    normalize_ws(&replaced.replace("---", "—"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markup::paras;

    #[test]
    fn rst_roles_literals_and_emphasis() {
        assert_eq!(
            rst_inline(
                "The :keyword:`!if` and :func:`~os.path.join` and ``x = 1`` and *emph* and \
                 **strong** see :ref:`the tutorial <tut-if>` and :pep:`8` and `Python <https://python.org>`_."
            ),
            "The if and join and x = 1 and emph and strong see the tutorial and PEP 8 and Python."
        );
        assert_eq!(
            rst_inline("a footnote [#]_ and |version| and link_ here"),
            "a footnote and version and link here"
        );
        assert_eq!(
            rst_inline(r"escaped \*args and ``__init__``"),
            "escaped *args and __init__"
        );
    }

    #[test]
    fn rst_headings_literal_blocks_and_doctests() {
        let src = "\
*****
Title
*****

Intro paragraph for example::

   x = 1
   y = 2

Section
=======

>>> print(1)
1

Text before ::

    code

::

    more code

After code.
";
        let blocks = rst_to_blocks(src);
        assert_eq!(blocks[0], Block::Heading("Title".into()));
        assert!(blocks.contains(&Block::Heading("Section".into())));
        assert_eq!(
            paras(&blocks),
            vec!["Intro paragraph for example:", "Text before", "After code."]
        );
    }

    #[test]
    fn rst_directives_kept_and_dropped() {
        let src = "\
.. index:: single: foo

.. note::
   Keep this note.

.. code-block:: python

   print('dropped')

.. function:: spam(a, b)
              spam(a)
   :noindex:

   Return spam.

   .. versionchanged:: 3.6
      Accepts a path.

.. This is a comment
   spanning lines.

.. _label:

.. seealso:: Inline seealso text.

+-----+-----+
| a   | b   |
+-----+-----+

=====  =====
col    col2
=====  =====
x      y
=====  =====

:Author: Someone

* First item
  continues here.
* Second item.
";
        let p = paras(&rst_to_blocks(src));
        assert_eq!(
            p,
            vec![
                "Keep this note.",
                "Return spam.",
                "Accepts a path.",
                "Inline seealso text.",
                "First item continues here.",
                "Second item."
            ]
        );
    }
}
