//! Hard cases for the segmenter. Most use `min_words = 1` so that boundaries are visible
//! without the merge rule; the limit tests use explicit configurations.

use super::*;

fn raw() -> SegmentConfig {
    SegmentConfig {
        min_words: 1,
        max_words: 1000,
    }
}

fn split(text: &str) -> Vec<String> {
    split_sentences(text, &raw())
}

#[track_caller]
fn check(text: &str, expected: &[&str]) {
    assert_eq!(split(text), expected, "input: {text:?}");
}

#[test]
fn basic_terminators() {
    check(
        "It rained. Did it? Yes! It did.",
        &["It rained.", "Did it?", "Yes!", "It did."],
    );
}

#[test]
fn closing_quote_stays_with_sentence() {
    check(
        "He said \"Stop.\" Then he left.",
        &["He said \"Stop.\"", "Then he left."],
    );
}

#[test]
fn curly_quotes_and_single_quotes() {
    check(
        "She wrote “It is over.” Nobody answered. He said ‘no.’ We left.",
        &[
            "She wrote “It is over.”",
            "Nobody answered.",
            "He said ‘no.’",
            "We left.",
        ],
    );
}

#[test]
fn closing_bracket_stays_with_sentence() {
    check(
        "(See below.) Next we start.",
        &["(See below.)", "Next we start."],
    );
}

#[test]
fn nested_brackets() {
    check(
        "He left (after the meeting (which ran late).) Then we ate. The end (see ch. 3 (part 2)) came.",
        &[
            "He left (after the meeting (which ran late).)",
            "Then we ate.",
            "The end (see ch. 3 (part 2)) came.",
        ],
    );
}

#[test]
fn question_and_exclamation_inside_quotes() {
    check(
        "\"Where are you going?\" asked Tom. \"Home!\" She smiled. \"Why?\" he asked.",
        &[
            "\"Where are you going?\" asked Tom.",
            "\"Home!\"",
            "She smiled.",
            "\"Why?\" he asked.",
        ],
    );
}

#[test]
fn interrobang_runs() {
    check(
        "You did what?! I can't believe it.",
        &["You did what?!", "I can't believe it."],
    );
}

#[test]
fn titles_do_not_split() {
    check(
        "Mr. Smith met Mrs. Jones and Dr. Brown. Prof. Lee and Gen. Grant arrived with Sen. Byrd and Lt. Col. Dan.",
        &[
            "Mr. Smith met Mrs. Jones and Dr. Brown.",
            "Prof. Lee and Gen. Grant arrived with Sen. Byrd and Lt. Col. Dan.",
        ],
    );
}

#[test]
fn doctor_initial_and_junior() {
    check(
        "Dr. J. Smith Jr. arrived. He sat down.",
        &["Dr. J. Smith Jr. arrived.", "He sat down."],
    );
}

#[test]
fn initials() {
    check(
        "J. R. R. Tolkien wrote it. George W. Bush spoke. E. B. White agreed.",
        &[
            "J. R. R. Tolkien wrote it.",
            "George W. Bush spoke.",
            "E. B. White agreed.",
        ],
    );
}

#[test]
fn latin_abbreviations_mid_sentence() {
    check(
        "Some fruits, e.g. apples, are red, i.e. not blue. Smith et al. showed this, cf. Jones.",
        &[
            "Some fruits, e.g. apples, are red, i.e. not blue.",
            "Smith et al. showed this, cf. Jones.",
        ],
    );
}

#[test]
fn etc_before_lowercase_and_capital() {
    check(
        "Apples, pears, etc. are fruit. We ate apples, pears, etc. Then we slept.",
        &[
            "Apples, pears, etc. are fruit.",
            "We ate apples, pears, etc.",
            "Then we slept.",
        ],
    );
}

#[test]
fn dotted_acronyms() {
    check(
        "The U.S. Army and the U.K. Parliament met at the U.N. Headquarters. She has a Ph.D. in physics.",
        &[
            "The U.S. Army and the U.K. Parliament met at the U.N. Headquarters.",
            "She has a Ph.D. in physics.",
        ],
    );
}

#[test]
fn abbreviation_at_sentence_end_before_starter() {
    check(
        "He moved to the U.S. The next year he married.",
        &["He moved to the U.S.", "The next year he married."],
    );
    check(
        "They met at 5 p.m. It was late. The firm is Acme Inc. It sells tools.",
        &[
            "They met at 5 p.m.",
            "It was late.",
            "The firm is Acme Inc.",
            "It sells tools.",
        ],
    );
}

#[test]
fn decimals_money_and_percent() {
    check(
        "Pi is about 3.14 today. The deal cost $1.5 billion. Growth was 3.5% last year.",
        &[
            "Pi is about 3.14 today.",
            "The deal cost $1.5 billion.",
            "Growth was 3.5% last year.",
        ],
    );
}

#[test]
fn version_numbers() {
    check(
        "Install Python 3.11.2 first. Then run it on version 3.11.2. Done now.",
        &[
            "Install Python 3.11.2 first.",
            "Then run it on version 3.11.2.",
            "Done now.",
        ],
    );
}

#[test]
fn urls_files_and_identifiers() {
    check(
        "Call os.path.join on the path. Visit example.com for details. Read config.yaml now.",
        &[
            "Call os.path.join on the path.",
            "Visit example.com for details.",
            "Read config.yaml now.",
        ],
    );
    check(
        "See www.example.com. The site is up.",
        &["See www.example.com.", "The site is up."],
    );
}

#[test]
fn abbreviation_inside_compound() {
    check(
        "The Great Lakes-St. Lawrence Seaway opened. It was busy.",
        &[
            "The Great Lakes-St. Lawrence Seaway opened.",
            "It was busy.",
        ],
    );
}

#[test]
fn numbered_things() {
    check(
        "See No. 5 and Fig. 3 on p. 12 in Vol. 2, pp. 10-12. The answer is no. Then we left.",
        &[
            "See No. 5 and Fig. 3 on p. 12 in Vol. 2, pp. 10-12.",
            "The answer is no.",
            "Then we left.",
        ],
    );
}

#[test]
fn months_and_places() {
    check(
        "It opened on Jan. 5 in St. Louis near Mt. Hood on Main St. The crowd was large.",
        &[
            "It opened on Jan. 5 in St. Louis near Mt. Hood on Main St.",
            "The crowd was large.",
        ],
    );
}

#[test]
fn ellipsis_inside_and_at_end() {
    check(
        "I thought... maybe not. Fine.",
        &["I thought... maybe not.", "Fine."],
    );
    check("...and then. Next time.", &["...and then.", "Next time."]);
    check("Wait for it… Now go.", &["Wait for it…", "Now go."]);
    check("Well ... perhaps later.", &["Well ... perhaps later."]);
}

#[test]
fn lowercase_after_period_does_not_split() {
    check(
        "The value is 5. and it grows.",
        &["The value is 5. and it grows."],
    );
}

#[test]
fn no_split_without_whitespace() {
    check(
        "A.B.C.D is a name.Next is glued.",
        &["A.B.C.D is a name.Next is glued."],
    );
}

#[test]
fn digits_and_quotes_can_start_sentences() {
    check(
        "It ended. 1990 was a good year. \"Really?\" Yes. (It was.)",
        &[
            "It ended.",
            "1990 was a good year.",
            "\"Really?\"",
            "Yes.",
            "(It was.)",
        ],
    );
}

#[test]
fn paragraph_break_always_ends_a_sentence() {
    check(
        "A line without a final period\nthat continues here\n\nA new paragraph starts and runs on for more than ten words",
        &[
            "A line without a final period that continues here",
            "A new paragraph starts and runs on for more than ten words",
        ],
    );
}

#[test]
fn single_newline_is_whitespace() {
    check(
        "This sentence is\nwrapped over\nthree lines. And this one too.",
        &[
            "This sentence is wrapped over three lines.",
            "And this one too.",
        ],
    );
}

#[test]
fn list_items_are_units() {
    let text = "Shopping list for the week:\n- apples and pears\n* bread from the bakery\n• milk\n1. eggs from the farm\n2) cheese\n(a) butter\n  (continued here)\nBack to prose. Done.";
    check(
        text,
        &[
            "Shopping list for the week:",
            "apples and pears",
            "bread from the bakery",
            "milk",
            "eggs from the farm",
            "cheese",
            "butter (continued here)",
            "Back to prose.",
            "Done.",
        ],
    );
}

#[test]
fn headings_are_dropped() {
    check(
        "Introduction\n\nThe study began in May. It ended soon.\n\nRESULTS AND DISCUSSION.\n\nWe found nothing.\n\nMethods\n=======\n\nWe looked.",
        &["The study began in May.", "It ended soon.", "We found nothing.", "We looked."],
    );
    let blocks = text_to_blocks("Introduction\n\nText here.");
    assert_eq!(first_heading(&blocks), Some("Introduction"));
}

#[test]
fn headings_are_hard_boundaries_for_merging() {
    let cfg = SegmentConfig::default();
    // "Go now." is short; it must not be merged across the heading into the next paragraph.
    let out = split_sentences(
        "We waited for the train all day. Go now.\n\nPart Two\n\nShort one.\n\nThe next paragraph is long enough.",
        &cfg,
    );
    assert_eq!(
        out,
        vec![
            "We waited for the train all day. Go now.",
            "Short one.",
            "The next paragraph is long enough."
        ]
    );
}

#[test]
fn unicode_is_kept() {
    check(
        "Der Bär schläft — ganz ruhig. Élodie dit « Bonjour. » Ça va? 東京は大きい。 Ελληνικά κείμενα.",
        &[
            "Der Bär schläft — ganz ruhig.",
            "Élodie dit « Bonjour. »",
            "Ça va?",
            "東京は大きい。 Ελληνικά κείμενα.",
        ],
    );
}

#[test]
fn zero_width_and_control_chars_are_dropped() {
    check(
        "Zero\u{200B}width and\u{0007} bell\u{FEFF}. Tabs\there\r\nand CRLF.",
        &["Zerowidth and bell.", "Tabs here and CRLF."],
    );
}

#[test]
fn empty_and_whitespace_input() {
    assert!(split("").is_empty());
    assert!(split("   \n\n\t  \n").is_empty());
    assert!(split_sentences("\u{200B}\u{FEFF}", &SegmentConfig::default()).is_empty());
}

#[test]
fn min_words_merges_forward_and_backward() {
    let cfg = SegmentConfig {
        min_words: 4,
        max_words: 80,
    };
    assert_eq!(
        split_sentences(
            "Yes. We will go there tomorrow. It ends well enough. Fine.",
            &cfg
        ),
        vec![
            "Yes. We will go there tomorrow.",
            "It ends well enough. Fine."
        ]
    );
    // A run of short fragments merges until it is long enough.
    assert_eq!(
        split_sentences("No. Not now. Maybe later today. We will see them.", &cfg),
        vec!["No. Not now. Maybe later today.", "We will see them."]
    );
}

#[test]
fn min_words_lone_fragment_policy() {
    let cfg = SegmentConfig::default();
    // A paragraph that is only a short fragment: kept if it reads as a sentence.
    assert_eq!(split_sentences("Thank you.", &cfg), vec!["Thank you."]);
    assert!(split_sentences("Yes.", &cfg).is_empty());
    assert!(split_sentences("- apples", &cfg).is_empty());
    assert!(split_sentences("Gentlemen and friends:", &cfg).is_empty());
    // min_words = 1 disables merging and dropping.
    assert_eq!(
        split_sentences("Yes. No. Maybe.", &raw()),
        vec!["Yes.", "No.", "Maybe."]
    );
}

#[test]
fn max_words_prefers_semicolon_near_middle() {
    let cfg = SegmentConfig {
        min_words: 1,
        max_words: 10,
    };
    let s = "one two three four five six seven; eight nine ten eleven twelve thirteen fourteen.";
    assert_eq!(
        split_sentences(s, &cfg),
        vec![
            "one two three four five six seven;",
            "eight nine ten eleven twelve thirteen fourteen."
        ]
    );
}

#[test]
fn max_words_falls_back_to_equal_chunks() {
    let cfg = SegmentConfig {
        min_words: 1,
        max_words: 10,
    };
    let words: Vec<String> = (0..25).map(|i| format!("w{i}")).collect();
    let out = split_sentences(&format!("{}.", words.join(" ")), &cfg);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|s| word_count(s) <= 10));
    assert_eq!(out.iter().map(|s| word_count(s)).sum::<usize>(), 25);
    assert_eq!(out.join(" "), format!("{}.", words.join(" ")));
}

#[test]
fn very_long_sentence_respects_max_words() {
    let cfg = SegmentConfig::default();
    let clause = "the committee reviewed the budget, the schedule and the staffing plan";
    let text = format!("{}.", vec![clause; 30].join("; "));
    let out = split_sentences(&text, &cfg);
    assert!(out.len() > 1);
    for s in &out {
        let n = word_count(s);
        assert!((4..=80).contains(&n), "{n} words: {s}");
    }
    assert_eq!(out.join(" "), text);
}

#[test]
fn limits_validate() {
    assert!(SegmentConfig::default().validate().is_ok());
    assert!(SegmentConfig {
        min_words: 5,
        max_words: 4
    }
    .validate()
    .is_err());
    assert!(SegmentConfig {
        min_words: 0,
        max_words: 0
    }
    .validate()
    .is_err());
}

#[test]
fn roman_numerals_and_vitamin() {
    check(
        "He served in World War II. After the war he rested. Take vitamin C. It helps.",
        &[
            "He served in World War II.",
            "After the war he rested.",
            "Take vitamin C.",
            "It helps.",
        ],
    );
}
