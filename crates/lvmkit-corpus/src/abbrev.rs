//! Word lists the segmenter consults when a token ends in a single `.`.
//!
//! The lists are deliberately small and closed: a wrong "abbreviation" silently glues two
//! sentences together, a missing one splits a sentence in two, and both are cheap to spot in a
//! test. Lookups are on the word with leading openers and the final `.` removed.

/// What a known abbreviation tells the segmenter about the period after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AbbrevKind {
    /// Titles, post-nominals, company suffixes, Latin shorthands, months, `St.`, `Mt.` ...:
    /// usually mid-sentence, so the period ends the sentence only when the next word is a
    /// common sentence starter (`He moved to the U.S. The next year`).
    Usual,
    /// Labels of numbered things (`No. 5`, `Fig. 3`, `pp. 10-12`): no split before a number,
    /// a bracket or a roman numeral; otherwise the period behaves like any other.
    Numbered,
    /// `etc.`: ends a sentence whenever a plausible sentence start follows.
    Final,
}

/// Case-insensitive abbreviations (compared lowercased).
const USUAL: &[&str] = &[
    // titles and honorifics
    "mr", "mrs", "ms", "messrs", "mmes", "mme", "mlle", "dr", "drs", "prof", "profs", "sr", "jr",
    "st", "ste", "gen", "col", "gov", "sen", "rep", "reps", "lt", "capt", "cmdr", "comdr", "sgt",
    "cpl", "pvt", "maj", "adm", "brig", "rev", "hon", "pres", "supt", "fr", "esq", "mt", "ft",
    "insp", "asst", "assoc", "atty", "gens", "lieut", // companies and organisations
    "inc", "ltd", "co", "corp", "bros", "dept", "univ", "assn", "intl", "natl", "govt", "llc",
    // places
    "ave", "blvd", "rd", "hwy", "mts", // Latin and scholarly shorthands
    "vs", "al", "cf", "viz", "ca", "approx", "ed", "eds", "trans", "ibid", "op", "cit", "resp",
    "esp", "incl", "misc", "est", "orig", "repr",
];

/// Month abbreviations, case-sensitive so that `mar.` / `jun.` as words are not caught.
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
];

/// Labels that precede a number.
const NUMBERED: &[&str] = &[
    "no", "nos", "fig", "figs", "eq", "eqs", "vol", "vols", "pp", "p", "ch", "chap", "sec", "secs",
    "art", "arts", "para", "paras", "pt", "pts", "tab", "ref", "refs", "app", "n", "nr",
];

/// Classify the word before a period; `None` means "an ordinary word". In hyphenated or
/// slashed compounds the last part counts (`Great Lakes-St. Lawrence`).
pub(crate) fn classify(word: &str) -> Option<AbbrevKind> {
    match word.rsplit_once(['-', '/', '–']) {
        Some((_, last)) if !last.is_empty() => classify_word(last).or_else(|| classify_word(word)),
        _ => classify_word(word),
    }
}

fn classify_word(word: &str) -> Option<AbbrevKind> {
    if word.is_empty() {
        return None;
    }
    if MONTHS.contains(&word) {
        return Some(AbbrevKind::Usual);
    }
    let lower = word.to_lowercase();
    if lower == "etc" {
        return Some(AbbrevKind::Final);
    }
    // Single letters only count as labels in lower case (`p. 5`); `P.` is an initial.
    let single = word.chars().count() == 1;
    if NUMBERED.contains(&lower.as_str()) && (!single || word == lower) {
        return Some(AbbrevKind::Numbered);
    }
    if USUAL.contains(&lower.as_str()) {
        return Some(AbbrevKind::Usual);
    }
    // Initials (`J.`, `W.`) and dotted acronyms (`U.S`, `Ph.D`, `e.g`, `a.m`, `U.S.A`).
    if is_initial_or_acronym(word) {
        return Some(AbbrevKind::Usual);
    }
    None
}

/// `J`, `U.S`, `Ph.D`, `e.g`, `a.m`: every dot-separated part is one or two letters, with at
/// least one part of a single letter. Dotted identifiers such as `os.path` or `example.com`
/// therefore stay ordinary words, so a sentence ending in one still splits.
fn is_initial_or_acronym(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    if parts.len() == 1 {
        let mut chars = word.chars();
        return matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphabetic());
    }
    parts
        .iter()
        .all(|p| (1..=2).contains(&p.chars().count()) && p.chars().all(char::is_alphabetic))
        && parts.iter().any(|p| p.chars().count() == 1)
}

/// Capitalised words that very often begin a sentence and rarely follow a title or an initial.
/// Names (`Will`, `May`, `Mark`) and `No` (`Dr. No`) are left out on purpose.
const STARTERS: &[&str] = &[
    "The",
    "A",
    "An",
    "It",
    "Its",
    "He",
    "She",
    "They",
    "We",
    "I",
    "You",
    "His",
    "Her",
    "Their",
    "Our",
    "My",
    "Your",
    "This",
    "That",
    "These",
    "Those",
    "There",
    "Here",
    "In",
    "On",
    "At",
    "By",
    "For",
    "From",
    "With",
    "Without",
    "After",
    "Before",
    "During",
    "Since",
    "Until",
    "When",
    "While",
    "Where",
    "Why",
    "How",
    "What",
    "Who",
    "Which",
    "If",
    "As",
    "But",
    "And",
    "Or",
    "So",
    "Yet",
    "However",
    "Although",
    "Though",
    "Because",
    "Then",
    "Thus",
    "Therefore",
    "Hence",
    "Also",
    "Meanwhile",
    "Moreover",
    "Furthermore",
    "Nevertheless",
    "Nonetheless",
    "Instead",
    "Later",
    "Today",
    "Now",
    "Some",
    "Many",
    "Most",
    "All",
    "Each",
    "Every",
    "Both",
    "Such",
    "One",
    "Another",
    "Other",
    "Others",
    "Several",
    "Few",
    "Among",
    "Between",
    "Under",
    "Over",
    "Following",
    "Despite",
    "According",
    "Once",
    "Not",
    "To",
    "Of",
    "Unlike",
    "Like",
    "Upon",
    "Through",
    "Within",
    "Whether",
    "Even",
    "Only",
    "Still",
    "Indeed",
    "Finally",
    "First",
    "Second",
    "Third",
    "Last",
    "Next",
    "Subsequently",
    "Currently",
    "Previously",
    "Afterwards",
    "Soon",
    "Again",
];

/// True when `word` (openers and trailing punctuation already removed) is a sentence starter.
pub(crate) fn is_starter(word: &str) -> bool {
    STARTERS.contains(&word)
}
