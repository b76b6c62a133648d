//! Texts over the encoder's token limit (all-MiniLM-L6-v2: 256 tokens, [CLS] and [SEP]
//! included) are cut, and counted: by the tokenizer alone, while encoding, and through the
//! cache, always alike. Needs the fetched encoder (`lvmkit fetch`); fails without it.

use lvmkit_encode::{
    encode_with_cache, EmbeddingCache, EncodeOptions, SentenceEncoder, Truncation,
};

/// `n` words, each a single WordPiece token, so the text has `n + 2` tokens.
fn words(n: usize) -> String {
    let pattern = ["the", "cat", "sat", "on", "the", "mat"];
    (0..n)
        .map(|i| pattern[i % pattern.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn encoder() -> SentenceEncoder {
    let data = lvmkit_sources::fetched(&[lvmkit_sources::DEFAULT_ENCODER]);
    SentenceEncoder::load(&data.default_encoder()).unwrap()
}

fn opts() -> EncodeOptions {
    EncodeOptions {
        batch_size: 1,
        ..Default::default()
    }
}

#[test]
fn a_600_word_text_is_counted_as_cut_and_a_short_one_is_not() {
    let enc = encoder();
    assert_eq!(enc.token_limit(), 256);
    let short = "A short sentence stays whole.".to_string();
    let texts = vec![short.clone(), words(600)];
    assert_eq!(enc.token_counts(&texts).unwrap(), vec![8, 602]);
    assert_eq!(
        enc.truncation(&texts).unwrap(),
        Truncation {
            limit: 256,
            texts: 1,
            longest_tokens: 602,
            longest_index: 1,
        }
    );
    assert!(enc.truncation(&[short]).unwrap().is_none());
    // The model reads the first 256 tokens of the long text.
    assert_eq!(enc.tokenize(&texts).unwrap()[1].len(), 256);
}

#[test]
fn a_text_at_the_limit_is_whole_and_one_token_more_is_cut() {
    let enc = encoder();
    let texts = vec![words(254), words(255), words(300), words(300)];
    let t = enc.truncation(&texts).unwrap();
    // Ties go to the first: texts 2 and 3 both have 302 tokens.
    assert_eq!((t.texts, t.longest_tokens, t.longest_index), (3, 302, 2));
}

#[test]
fn encoding_counts_what_it_cuts_and_embeds_exactly_the_first_tokens() {
    let enc = encoder();
    let texts = vec![words(600), "Short.".to_string(), words(254)];
    let bar = indicatif::ProgressBar::hidden();
    let (vectors, counts) = enc.encode_counting(&texts, &opts(), &bar).unwrap();
    assert_eq!(counts, enc.token_counts(&texts).unwrap());
    // Cut to 256 tokens, the 600-word text is the 254-word one: the same ids, the same bits.
    let d = enc.dim();
    assert_eq!(vectors[..d], vectors[2 * d..3 * d]);
    assert_eq!(
        enc.encode(&texts[..1], &opts()).unwrap(),
        enc.encode(&texts[2..], &opts()).unwrap()
    );
}

#[test]
fn the_cache_reports_the_same_cut_whether_it_embedded_or_served_the_texts() {
    let enc = encoder();
    let dir = tempfile::tempdir().unwrap();
    // A duplicate of a cut text counts twice; it is embedded once.
    let texts = vec![
        "Short.".to_string(),
        words(400),
        words(300),
        words(400),
        "Also short.".to_string(),
    ];
    let expected = Truncation {
        limit: 256,
        texts: 3,
        longest_tokens: 402,
        longest_index: 1,
    };
    let mut cache = EmbeddingCache::open(dir.path(), enc.fingerprint(), enc.dim()).unwrap();
    let (first, stats) = encode_with_cache(&enc, Some(&mut cache), &texts, &opts()).unwrap();
    assert_eq!((stats.hits, stats.encoded), (0, 4));
    assert_eq!(stats.truncation, expected);
    let mut cache = EmbeddingCache::open(dir.path(), enc.fingerprint(), enc.dim()).unwrap();
    let (again, stats) = encode_with_cache(&enc, Some(&mut cache), &texts, &opts()).unwrap();
    assert_eq!((stats.hits, stats.encoded), (5, 0));
    assert_eq!(stats.truncation, expected);
    assert_eq!(first, again);
    // Half served, half embedded; and without a cache.
    let more = [&texts[..], &[words(500)]].concat();
    let (_, stats) = encode_with_cache(&enc, Some(&mut cache), &more, &opts()).unwrap();
    assert_eq!((stats.hits, stats.encoded), (5, 1));
    let (_, uncached) = encode_with_cache(&enc, None, &more, &opts()).unwrap();
    for t in [stats.truncation, uncached.truncation] {
        assert_eq!((t.texts, t.longest_tokens, t.longest_index), (4, 502, 5));
    }
}
