//! HTML character references, shared by the wikitext and Markdown strippers.

use regex::{Captures, Regex};
use std::sync::LazyLock;

/// Names of U+00A0..=U+00FF in order (the HTML 4 Latin-1 set).
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Other named references that occur in real wikitext and Markdown.
const OTHER: &[(&str, &str)] = &[
    ("amp", "&"),
    ("lt", "<"),
    ("gt", ">"),
    ("quot", "\""),
    ("apos", "'"),
    ("ndash", "–"),
    ("mdash", "—"),
    ("minus", "−"),
    ("hellip", "…"),
    ("lsquo", "‘"),
    ("rsquo", "’"),
    ("sbquo", "‚"),
    ("ldquo", "“"),
    ("rdquo", "”"),
    ("bdquo", "„"),
    ("lsaquo", "‹"),
    ("rsaquo", "›"),
    ("bull", "•"),
    ("prime", "′"),
    ("Prime", "″"),
    ("thinsp", "\u{2009}"),
    ("ensp", "\u{2002}"),
    ("emsp", "\u{2003}"),
    ("zwj", ""),
    ("zwnj", ""),
    ("lrm", ""),
    ("rlm", ""),
    ("euro", "€"),
    ("trade", "™"),
    ("larr", "←"),
    ("rarr", "→"),
    ("harr", "↔"),
    ("uarr", "↑"),
    ("darr", "↓"),
    ("le", "≤"),
    ("ge", "≥"),
    ("ne", "≠"),
    ("asymp", "≈"),
    ("equiv", "≡"),
    ("infin", "∞"),
    ("sum", "∑"),
    ("radic", "√"),
    ("dagger", "†"),
    ("Dagger", "‡"),
    ("permil", "‰"),
    ("oelig", "œ"),
    ("OElig", "Œ"),
    ("scaron", "š"),
    ("Scaron", "Š"),
    ("fnof", "ƒ"),
    ("sigmaf", "ς"),
    ("thetasym", "ϑ"),
    ("part", "∂"),
    ("nabla", "∇"),
    ("isin", "∈"),
    ("prod", "∏"),
    ("int", "∫"),
    ("sdot", "⋅"),
    ("lowast", "∗"),
    ("and", "∧"),
    ("or", "∨"),
    ("cap", "∩"),
    ("cup", "∪"),
    ("sub", "⊂"),
    ("sup", "⊃"),
    ("empty", "∅"),
    ("forall", "∀"),
    ("exist", "∃"),
    ("rArr", "⇒"),
    ("lArr", "⇐"),
    ("hArr", "⇔"),
    ("spades", "♠"),
    ("clubs", "♣"),
    ("hearts", "♥"),
    ("diams", "♦"),
];

/// Greek letters in alphabetical order of their Unicode code points (U+0391.., U+03B1..).
const GREEK: [&str; 25] = [
    "Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta", "Theta", "Iota", "Kappa",
    "Lambda", "Mu", "Nu", "Xi", "Omicron", "Pi", "Rho", "", "Sigma", "Tau", "Upsilon", "Phi",
    "Chi", "Psi", "Omega",
];

static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});").unwrap()
});

fn lookup(name: &str) -> Option<String> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).map(String::from);
    }
    if let Some(i) = LATIN1.iter().position(|n| *n == name) {
        // `&shy;` is invisible; drop it like the other zero-width characters.
        if name == "shy" {
            return Some(String::new());
        }
        return char::from_u32(0xA0 + i as u32).map(String::from);
    }
    if let Some(i) = GREEK.iter().position(|n| !n.is_empty() && *n == name) {
        return char::from_u32(0x391 + i as u32).map(String::from);
    }
    if let Some(i) = GREEK
        .iter()
        .position(|n| !n.is_empty() && n.to_ascii_lowercase() == name)
    {
        return char::from_u32(0x3B1 + i as u32).map(String::from);
    }
    OTHER
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// Decode named and numeric character references; unknown names are left as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    ENTITY
        .replace_all(s, |c: &Captures| {
            lookup(&c[1]).unwrap_or_else(|| c[0].to_string())
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_named_numeric_and_unknown() {
        assert_eq!(
            decode_entities(
                "a&nbsp;b &amp; c&ndash;d &#233;&#x41; &bogus; &eacute; &eta;&Psi;&omega;"
            ),
            "a\u{a0}b & c–d éA &bogus; é ηΨω"
        );
    }
}
