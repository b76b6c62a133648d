//! MediaWiki wikitext to prose blocks.
//!
//! Not a MediaWiki parser: a sequence of passes, each removing one kind of markup whose
//! rendering is not article prose (references, templates, tables, media, categories), then
//! reducing links and formatting to their visible text. Order matters: comments and
//! references go first because they may contain anything; templates and tables next because
//! they nest and span lines; links after templates (link captions may hold templates); line
//! structure (headings, lists) last.

use crate::entities::decode_entities;
use crate::markup::strip_html_comments;
use crate::segment::{clean_text, normalize_ws, Block};
use regex::{Captures, Regex};
use std::sync::LazyLock;

/// Section titles after which a page is apparatus, not prose. The first one ends the page.
const STOP_SECTIONS: &[&str] = &[
    "references",
    "reference",
    "external links",
    "external link",
    "see also",
    "further reading",
    "notes",
    "note",
    "bibliography",
    "sources",
    "footnotes",
    "citations",
    "notes and references",
    "references and notes",
    "works cited",
    "literature",
    "notes and citations",
];

/// Elements whose content is not prose (dropped with everything inside).
const DROP_ELEMENTS: &[&str] = &[
    "ref",
    "references",
    "math",
    "gallery",
    "timeline",
    "score",
    "syntaxhighlight",
    "source",
    "pre",
    "chem",
    "ce",
    "hiero",
    "imagemap",
    "mapframe",
    "maplink",
    "graph",
    "templatedata",
    "inputbox",
    "categorytree",
    "noinclude",
    "includeonly",
];

static DROP_RES: LazyLock<Vec<(Regex, Regex)>> = LazyLock::new(|| {
    DROP_ELEMENTS
        .iter()
        .map(|name| {
            (
                Regex::new(&format!(r"(?i)<{name}\b[^<>]*/>")).unwrap(),
                Regex::new(&format!(r"(?is)<{name}\b[^<>]*>.*?</{name}\s*>")).unwrap(),
            )
        })
        .collect()
});

/// Remove the non-prose elements; an unclosed one loses only its opening tag.
fn drop_elements(text: &str) -> String {
    let mut s = text.to_string();
    for (selfclosing, paired) in DROP_RES.iter() {
        if !s.contains('<') {
            break;
        }
        s = selfclosing.replace_all(&s, "").into_owned();
        s = paired.replace_all(&s, "").into_owned();
    }
    s
}

/// Is `pos` at the start of a line (only spaces before it)?
fn at_line_start(b: &[u8], pos: usize) -> bool {
    let mut k = pos;
    while k > 0 && (b[k - 1] == b' ' || b[k - 1] == b'\t') {
        k -= 1;
    }
    k == 0 || b[k - 1] == b'\n'
}

#[derive(PartialEq)]
enum Open {
    Template,
    Table,
}

/// End (exclusive) of the template or table opening at `start`, honouring nesting of both.
fn match_braces(b: &[u8], start: usize) -> Option<usize> {
    let mut stack = Vec::new();
    let mut j = start;
    while j + 1 < b.len() {
        match (b[j], b[j + 1]) {
            (b'{', b'{') => {
                stack.push(Open::Template);
                j += 2;
            }
            (b'{', b'|') if at_line_start(b, j) => {
                stack.push(Open::Table);
                j += 2;
            }
            (b'}', b'}') if stack.last() == Some(&Open::Template) => {
                stack.pop();
                j += 2;
            }
            (b'|', b'}') if stack.last() == Some(&Open::Table) => {
                stack.pop();
                j += 2;
            }
            _ => j += 1,
        }
        if stack.is_empty() {
            return Some(j);
        }
    }
    None
}

/// Split template content at top-level `|` (not inside nested templates or links).
fn split_args(inner: &str) -> Vec<&str> {
    let b = inner.as_bytes();
    let (mut depth, mut last, mut out) = (0i32, 0usize, Vec::new());
    let mut j = 0;
    while j < b.len() {
        match b[j] {
            b'{' | b'[' if j + 1 < b.len() && b[j + 1] == b[j] => {
                depth += 1;
                j += 2;
                continue;
            }
            b'}' | b']' if j + 1 < b.len() && b[j + 1] == b[j] => {
                depth -= 1;
                j += 2;
                continue;
            }
            b'|' if depth <= 0 => {
                out.push(&inner[last..j]);
                last = j + 1;
            }
            _ => {}
        }
        j += 1;
    }
    out.push(&inner[last..]);
    out
}

/// Visible text of the few templates that render inline prose; every other template is
/// dropped. Keeping these avoids holes such as "the river is long" for `{{convert|5|km}}`.
fn render_template(inner: &str) -> String {
    let args = split_args(inner);
    let name = args[0].trim().replace('_', " ").to_lowercase();
    let pos: Vec<String> = args[1..]
        .iter()
        .filter(|a| !a.contains('=') || a.contains("{{") || a.contains("[["))
        .map(|a| strip_templates(a.trim()))
        .collect();
    let p = |i: usize| pos.get(i).cloned().unwrap_or_default();
    match name.as_str() {
        "lang" | "transl" | "transliteration" => pos.last().cloned().unwrap_or_default(),
        n if n.starts_with("lang-") => p(0),
        "nowrap" | "nobr" | "small" | "smaller" | "big" | "larger" | "mvar" | "math" | "em"
        | "strong" | "var" | "sic" | "not a typo" | "sup" | "sub" | "ill"
        | "interlanguage link" | "visible anchor" | "vanchor" | "abbr" | "keypress" | "lang-en"
        | "nowrap begin" | "wikt-lang" | "linktext" => {
            if name == "wikt-lang" {
                p(1)
            } else {
                p(0)
            }
        }
        "snd" | "spaced ndash" | "spnd" | "dash" => " – ".into(),
        "ndash" | "–" => "–".into(),
        "mdash" | "—" => "—".into(),
        "'" => "'".into(),
        "'s" => "'s".into(),
        "nbsp" | "sp" | "space" => " ".into(),
        "circa" | "c." | "ca." => format!("c. {}", p(0)),
        "as of" => {
            let date: Vec<String> = pos.iter().take(3).cloned().collect();
            format!("As of {}", date.join(" "))
        }
        "frac" | "fraction" => match pos.len() {
            0 => String::new(),
            1 => format!("1/{}", p(0)),
            2 => format!("{}/{}", p(0), p(1)),
            _ => format!("{} {}/{}", p(0), p(1), p(2)),
        },
        "convert" | "cvt" => {
            let ranges = [
                "-", "–", "to", "and", "or", "by", "x", "×", "+/-", "±", "to(-)",
            ];
            if pos.len() >= 4 && ranges.contains(&p(1).as_str()) {
                format!("{} {} {} {}", p(0), p(1), p(2), p(3))
            } else {
                format!("{} {}", p(0), p(1))
            }
        }
        "bc" | "bce" => format!("{} BC", p(0)),
        "angbr" | "angle bracket" => format!("⟨{}⟩", p(0)),
        "flag" | "flagcountry" | "nihongo" | "ipa" | "ipa link" | "ipaslink" | "ipablink" => p(0),
        "chem" | "chem2" => pos.concat(),
        _ => String::new(),
    }
}

/// Replace templates by their rendering (usually nothing) and drop tables.
fn strip_templates(text: &str) -> String {
    if !text.contains('{') {
        return text.to_string();
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 1 < b.len() {
        let template = b[i] == b'{' && b[i + 1] == b'{';
        let table = b[i] == b'{' && b[i + 1] == b'|' && at_line_start(b, i);
        if !(template || table) {
            i += 1;
            continue;
        }
        out.push_str(&text[copied..i]);
        match match_braces(b, i) {
            Some(end) => {
                if template {
                    out.push_str(&render_template(&text[i + 2..end - 2]));
                }
                i = end;
            }
            // Unbalanced: MediaWiki shows the braces literally; we just drop the opener.
            None => i += 2,
        }
        copied = i;
    }
    out.push_str(&text[copied.min(text.len())..]);
    out
}

/// Matching `]]` for the `[[` at `start`, with nesting.
fn match_brackets(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0;
    let mut j = start;
    while j + 1 < b.len() {
        if b[j] == b'[' && b[j + 1] == b'[' {
            depth += 1;
            j += 2;
        } else if b[j] == b']' && b[j + 1] == b']' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return Some(j);
            }
        } else {
            j += 1;
        }
    }
    None
}

static INTERLANG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z]{2,3}(?:-[a-z0-9]+)*$").unwrap());
const SISTER: &[&str] = &[
    "w",
    "wikt",
    "wiktionary",
    "s",
    "wikisource",
    "q",
    "wikiquote",
    "b",
    "wikibooks",
    "n",
    "wikinews",
    "v",
    "wikiversity",
    "voy",
    "d",
    "m",
    "meta",
    "c",
    "commons",
    "mw",
    "species",
];

/// Visible text of one internal link's content (between `[[` and `]]`).
fn render_link(inner: &str) -> String {
    let (target, label) = match inner.find('|') {
        Some(p) => (&inner[..p], Some(&inner[p + 1..])),
        None => (inner, None),
    };
    let target = target.trim();
    let visible_ns = target.starts_with(':');
    let target = target.trim_start_matches(':');
    if let Some((prefix, _)) = target.split_once(':') {
        let prefix = prefix.trim().to_lowercase();
        if !visible_ns && matches!(prefix.as_str(), "file" | "image" | "media" | "category") {
            return String::new();
        }
        if !visible_ns
            && label.is_none()
            && INTERLANG.is_match(&prefix)
            && !SISTER.contains(&prefix.as_str())
        {
            return String::new();
        }
    }
    match label {
        Some(l) if !l.trim().is_empty() => convert_links(l),
        // Pipe trick: `[[Foo (bar)|]]` shows `Foo`.
        Some(_) => {
            let t = target.rsplit(':').next().unwrap_or(target);
            t.split(" (").next().unwrap_or(t).trim().to_string()
        }
        None => match target.split_once('#') {
            Some(("", section)) => section.to_string(),
            Some((page, _)) => page.to_string(),
            None => target.to_string(),
        },
    }
}

/// Replace `[[...]]` by visible text; media, categories and interlanguage links vanish.
fn convert_links(text: &str) -> String {
    if !text.contains("[[") {
        return text.to_string();
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 1 < b.len() {
        if !(b[i] == b'[' && b[i + 1] == b'[') {
            i += 1;
            continue;
        }
        out.push_str(&text[copied..i]);
        match match_brackets(b, i) {
            Some(end) => {
                out.push_str(&render_link(&text[i + 2..end - 2]));
                i = end;
            }
            None => i += 2,
        }
        copied = i;
    }
    out.push_str(&text[copied.min(text.len())..]);
    out
}

static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(=+)\s*(.*?)\s*(=+)\s*$").unwrap());
static EXT_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[(?:https?:|ftp:|mailto:|//)[^\s\]]*(?:\s+(?P<label>[^\]]*))?\]").unwrap()
});
static BARE_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\b(?:https?|ftp)://[^\s<>\[\]{}|"]+"#).unwrap());
static BR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)<br\s*/?>").unwrap());
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>").unwrap());
static QUOTES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"'{2,}").unwrap());
static MAGIC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"__[A-Z]+__").unwrap());
static EMPTY_PARENS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(\s*(?:[,;:]\s*)*\)").unwrap());
static PAREN_LEAD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(\s*[,;:]\s*").unwrap());
static PAREN_TRAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s*[,;:]\s*\)").unwrap());
static SPACE_PUNCT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+([,;:.!?])(\s|$)").unwrap());

/// Inline markup of one paragraph or list item to plain text.
fn inline(text: &str) -> String {
    let s = EXT_LINK.replace_all(text, |c: &Captures| {
        c.name("label")
            .map_or(String::new(), |m| m.as_str().to_string())
    });
    let s = BARE_URL.replace_all(&s, "");
    let s = BR.replace_all(&s, " ");
    let s = TAG.replace_all(&s, "");
    let s = QUOTES.replace_all(&s, |c: &Captures| {
        if c[0].len() == 4 {
            "'".to_string()
        } else {
            String::new()
        }
    });
    let s = MAGIC.replace_all(&s, "");
    let mut s = decode_entities(&s);
    // Whatever markup survived unbalanced must not reach the encoder.
    for junk in ["{{", "}}", "[[", "]]", "{|", "|}"] {
        if s.contains(junk) {
            s = s.replace(junk, "");
        }
    }
    // Holes left by removed templates: "( ; born 1900)", "word ,".
    let s = normalize_ws(&s);
    let s = EMPTY_PARENS.replace_all(&s, "");
    let s = PAREN_LEAD.replace_all(&s, "(");
    let s = PAREN_TRAIL.replace_all(&s, ")");
    let s = SPACE_PUNCT.replace_all(&s, "$1$2");
    normalize_ws(&s)
}

/// Is this (already inline-stripped) heading the start of the apparatus?
fn is_stop_section(title: &str) -> bool {
    let t = title.trim().trim_end_matches(':').to_lowercase();
    STOP_SECTIONS.contains(&t.as_str())
}

/// True for a page whose text is a redirect (`#REDIRECT [[Target]]`, any case).
pub fn is_redirect_text(text: &str) -> bool {
    let t = text.trim_start();
    t.len() >= 9 && t.as_bytes()[..9].eq_ignore_ascii_case(b"#redirect")
}

/// Wikitext of one page to blocks.
pub fn wikitext_to_blocks(text: &str) -> Vec<Block> {
    let t = clean_text(text);
    let t = strip_html_comments(&t);
    let t = drop_elements(&t);
    let t = strip_templates(&t);
    let t = convert_links(&t);

    let mut blocks = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !para.is_empty() {
            let text = inline(&para.join(" "));
            if !text.is_empty() {
                blocks.push(Block::Paragraph(text));
            }
            para.clear();
        }
    };
    for line in t.lines() {
        let l = line.trim();
        if l.is_empty() {
            flush(&mut para, &mut blocks);
            continue;
        }
        if let Some(c) = HEADING.captures(l) {
            if !c[2].is_empty() {
                flush(&mut para, &mut blocks);
                let title = inline(&c[2]);
                if is_stop_section(&title) {
                    return blocks;
                }
                blocks.push(Block::Heading(title));
                continue;
            }
        }
        if l.starts_with(['|', '!']) || l.starts_with("{|") {
            continue; // leftover table syntax
        }
        if l.starts_with("----") {
            flush(&mut para, &mut blocks);
            blocks.push(Block::Break);
            continue;
        }
        if l.starts_with(['*', '#', ':', ';']) {
            flush(&mut para, &mut blocks);
            let item = inline(l.trim_start_matches(['*', '#', ':', ';', ' ']));
            if !item.is_empty() {
                blocks.push(Block::ListItem(item));
            }
            continue;
        }
        para.push(l);
    }
    flush(&mut para, &mut blocks);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(blocks: &[Block]) -> Vec<String> {
        blocks
            .iter()
            .filter_map(|b| match b {
                Block::Paragraph(t) | Block::ListItem(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn templates_refs_links_and_formatting() {
        let src = "{{Infobox person\n| name = {{nowrap|X Y}}\n| image = [[File:a.jpg|thumb]]\n}}\n\
'''Ada Lovelace''' (born {{circa|1815}}) was an [[England|English]] [[mathematician]]s.<ref name=\"a\">{{cite web|url=http://x}}</ref> \
She worked on the [[Analytical Engine]].<ref name=b/> It ran {{convert|5|km}}. See [http://example.com the site] or http://bare.example.org now.<!-- hidden -->";
        let blocks = wikitext_to_blocks(src);
        assert_eq!(
            texts(&blocks),
            vec!["Ada Lovelace (born c. 1815) was an English mathematicians. She worked on the Analytical Engine. It ran 5 km. See the site or now."]
        );
    }

    #[test]
    fn tables_media_categories_and_sections() {
        let src = "Intro &amp; more&nbsp;text.\n\n{| class=\"wikitable\"\n|-\n! H\n|-\n| {{flag|X}} || cell\n{|\n| nested\n|}\n|}\n\
[[File:Map.png|thumb|A map of [[Paris]] and [[Lyon|the city]]]]\n\
== History ==\nThe ''early'' years were '''hard'''.\n* First item with [[link]]\n# Second item\n\
|leftover\n== See also ==\n* [[Other]]\n== Later ==\nDropped text.\n[[Category:Things]]\n[[fr:Chose]]";
        let blocks = wikitext_to_blocks(src);
        assert_eq!(
            texts(&blocks),
            vec![
                "Intro & more text.",
                "The early years were hard.",
                "First item with link",
                "Second item"
            ]
        );
        assert!(blocks.contains(&Block::Heading("History".into())));
    }

    #[test]
    fn redirect_detection() {
        assert!(is_redirect_text("#REDIRECT [[Foo]]"));
        assert!(is_redirect_text("  #redirect[[Foo]]"));
        assert!(!is_redirect_text("Redirects are ..."));
    }

    #[test]
    fn unbalanced_markup_does_not_leak() {
        let blocks = wikitext_to_blocks("Text {{unclosed template and [[broken link here.");
        let t = texts(&blocks).join(" ");
        assert!(!t.contains("{{") && !t.contains("[["), "{t}");
    }
}
