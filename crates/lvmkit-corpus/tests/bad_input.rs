//! Error handling and format detection on small synthetic inputs, plus the truncated-dump case
//! on a copy of the real Wikipedia sample (fetched by `lvmkit fetch`; that test fails without
//! it).

use lvmkit_corpus::{detect_format, ingest_path, Document, Format, IngestStats, SegmentConfig};
use std::io::Write;
use std::path::Path;

fn run(path: &Path, format: Format) -> (anyhow::Result<()>, Vec<Document>, IngestStats) {
    let mut docs = Vec::new();
    let mut stats = IngestStats::default();
    let r = ingest_path(
        path,
        format,
        &SegmentConfig::default(),
        &mut stats,
        &mut |d| {
            docs.push(d);
            Ok(())
        },
    );
    (r, docs, stats)
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

fn err_text(r: anyhow::Result<()>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

const PAGE_TEXT: &str = "'''Foo''' is a [[bar|thing]] that exists in the world.{{cite web|url=x}} It is well known to many people.";

fn mediawiki(pages: usize) -> String {
    let mut xml = String::from("<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.10/\">\n<siteinfo><sitename>W</sitename></siteinfo>\n");
    for i in 0..pages {
        xml.push_str(&format!(
            "<page><title>Page {i}</title><ns>0</ns><id>{i}</id><revision><id>9{i}</id><text xml:space=\"preserve\">{}</text></revision></page>\n",
            quick_escape(PAGE_TEXT)
        ));
    }
    xml.push_str("<page><title>Redirect</title><ns>0</ns><id>1000</id><redirect title=\"Page 0\" /><revision><text>#REDIRECT [[Page 0]]</text></revision></page>\n");
    xml.push_str("<page><title>Hidden redirect</title><ns>0</ns><id>1001</id><revision><text>#redirect [[Page 0]]</text></revision></page>\n");
    xml.push_str("<page><title>Talk:Page 0</title><ns>1</ns><id>1002</id><revision><text>Talk text is not an article at all.</text></revision></page>\n");
    xml.push_str("<page><title>Empty</title><ns>0</ns><id>1003</id><revision><text>{{Infobox only}}</text></revision></page>\n");
    xml.push_str("</mediawiki>\n");
    xml
}

fn quick_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn missing_path_is_an_error_naming_it() {
    let (r, _, _) = run(Path::new("/no/such/corpus.jsonl"), Format::Auto);
    assert!(err_text(r).contains("/no/such/corpus.jsonl"));
    assert!(detect_format(Path::new("/no/such/dir")).is_err());
}

#[test]
fn wiki_xml_plain_and_bz2() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = mediawiki(3);
    write(&tmp.path().join("w.xml"), xml.as_bytes());
    write(&tmp.path().join("w.xml.bz2"), &bz2(xml.as_bytes()));
    for name in ["w.xml", "w.xml.bz2"] {
        let (r, docs, stats) = run(&tmp.path().join(name), Format::Auto);
        r.unwrap();
        assert_eq!(docs.len(), 3, "{name}");
        assert_eq!(stats.redirects_skipped, 2);
        assert_eq!(stats.empty_documents, 1);
        assert_eq!(docs[0].id, "0");
        assert_eq!(docs[0].title, "Page 0");
        assert_eq!(
            docs[0].sentences,
            vec![
                "Foo is a thing that exists in the world.",
                "It is well known to many people."
            ]
        );
    }
}

#[test]
fn truncated_bz2_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let compressed = bz2(mediawiki(200).as_bytes());
    let path = tmp.path().join("cut.xml.bz2");
    write(&path, &compressed[..compressed.len() / 2]);
    let (r, _, _) = run(&path, Format::Wiki);
    assert!(err_text(r).contains("cut.xml.bz2"));
}

#[test]
fn truncated_xml_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = mediawiki(5);
    let path = tmp.path().join("cut.xml");
    // Cut inside a tag: a syntax error at a byte position.
    write(&path, &xml.as_bytes()[..xml.len() / 2]);
    let (r, _, _) = run(&path, Format::Wiki);
    let e = err_text(r);
    assert!(e.contains("cut.xml") && e.contains("byte"), "{e}");
    // Cut cleanly between two pages: still truncated, the root element never closes.
    let cut = xml.find("</page>\n").unwrap() + "</page>\n".len();
    write(&path, &xml.as_bytes()[..cut]);
    let (r, docs, _) = run(&path, Format::Wiki);
    let e = err_text(r);
    assert!(e.contains("cut.xml") && e.contains("truncated"), "{e}");
    assert_eq!(docs.len(), 1);
}

#[test]
fn truncated_real_dump_is_an_error() {
    let real = lvmkit_sources::fetched(&["enwiki-sample"])
        .corpus("enwiki-sample")
        .unwrap();
    let bytes = std::fs::read(&real).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (name, len) in [
        ("head.xml.bz2", bytes.len() * 6 / 10),
        ("tiny.xml.bz2", 100),
    ] {
        let path = tmp.path().join(name);
        write(&path, &bytes[..len]);
        let (r, docs, _) = run(&path, Format::Auto);
        let e = err_text(r);
        assert!(e.contains(name), "{e}");
        assert!(docs.len() < 106);
    }
    // Corrupt (not truncated): flip bytes in the middle of the stream.
    let mut corrupt = bytes.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let path = tmp.path().join("corrupt.xml.bz2");
    write(&path, &corrupt);
    let (r, _, _) = run(&path, Format::Wiki);
    assert!(err_text(r).contains("corrupt.xml.bz2"));
}

#[test]
fn malformed_xml_names_file_and_position() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.xml");
    write(
        &path,
        b"<mediawiki><page><title>x</title></pag></mediawiki>",
    );
    let (r, _, _) = run(&path, Format::Wiki);
    let e = err_text(r);
    assert!(e.contains("bad.xml") && e.contains("byte"), "{e}");
}

#[test]
fn jsonl_skips_bad_lines_with_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data.jsonl");
    let lines = [
        r#"{"id": 7, "title": "Seven", "text": "The first document has one sentence here. And a second one follows it."}"#,
        r#"{"text": 5}"#,
        "",
        r#"{"text": "No id or title here, but the prose is fine and long enough."}"#,
        r#"{"id": "x", "text": "Intro\n\nA paragraph that is long enough to keep. Another sentence is here too."}"#,
        "not json at all",
    ];
    write(&path, lines.join("\n").as_bytes());
    let (r, docs, stats) = run(&path, Format::Auto);
    r.unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(stats.skipped_lines, 2);
    assert_eq!(docs[0].id, "7");
    assert_eq!(docs[0].title, "Seven");
    assert_eq!(docs[0].source, "jsonl");
    assert_eq!(docs[1].id, "data:4");
    assert_eq!(docs[2].sentences.len(), 2);
    assert!(
        stats.warnings[0].contains("data.jsonl:2"),
        "{:?}",
        stats.warnings
    );
    assert!(
        stats.warnings[1].contains("data.jsonl:6"),
        "{:?}",
        stats.warnings
    );
}

#[test]
fn jsonl_mostly_bad_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("notjson.jsonl");
    write(
        &path,
        b"{\"text\": \"One good line is here in the file.\"}\nbad\nworse\n{\"id\": 1}\n",
    );
    let e = err_text(run(&path, Format::Jsonl).0);
    assert!(e.contains("notjson.jsonl"), "{e}");

    // 100 bad lines before any good one: give up early.
    let path = tmp.path().join("csv.jsonl");
    let mut body = "a,b,c\n".repeat(100);
    body.push_str(&"{\"text\": \"A good line that comes much too late.\"}\n".repeat(300));
    write(&path, body.as_bytes());
    let (r, docs, _) = run(&path, Format::Jsonl);
    assert!(err_text(r).contains("csv.jsonl"));
    assert!(docs.is_empty());
}

#[test]
fn bad_text_files_skipped_in_folder_but_fatal_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("docs");
    write(
        &dir.join("a.txt"),
        b"A perfectly good first file lives here. It has two sentences.",
    );
    write(&dir.join("b.txt"), b"Invalid \xff\xfe UTF-8 in this file.");
    write(&dir.join("c.md"), b"binary\0\0\0data");
    write(
        &dir.join("sub/d.md"),
        b"# Title D\n\nMarkdown *prose* in a nested folder is kept.\n",
    );
    write(
        &dir.join("e.rst"),
        b"Heading E\n=========\n\nSome reST prose with ``code`` inside it.\n",
    );
    write(&dir.join("ignored.csv"), b"a,b\n");
    write(&dir.join("empty.txt"), b"   \n\n");
    let (r, docs, stats) = run(&dir, Format::Auto);
    r.unwrap();
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, vec!["a.txt", "e.rst", "sub/d.md"]);
    assert_eq!(docs[1].title, "Heading E");
    assert_eq!(docs[2].title, "Title D");
    assert_eq!(docs[0].title, "a");
    assert_eq!(
        docs[1].sentences,
        vec!["Some reST prose with code inside it."]
    );
    assert_eq!(stats.skipped_files, 2);
    assert_eq!(stats.empty_documents, 1);
    assert!(stats
        .warnings
        .iter()
        .any(|w| w.contains("b.txt") && w.contains("UTF-8")));
    assert!(stats
        .warnings
        .iter()
        .any(|w| w.contains("c.md") && w.contains("binary")));

    let e = err_text(run(&dir.join("b.txt"), Format::Auto).0);
    assert!(e.contains("b.txt") && e.contains("UTF-8"), "{e}");
    let e = err_text(run(&dir.join("c.md"), Format::Text).0);
    assert!(e.contains("c.md") && e.contains("binary"), "{e}");
}

#[test]
fn format_detection() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path();
    let cases: &[(&str, &[u8], Format)] = &[
        ("x.jsonl", b"{}", Format::Jsonl),
        ("x.ndjson", b"{}", Format::Jsonl),
        ("x.json", b"{}", Format::Jsonl),
        ("x.xml", b"<mediawiki>", Format::Wiki),
        ("x.bz2", b"BZh9", Format::Wiki),
        ("x.txt", b"text", Format::Text),
        ("x.md", b"text", Format::Text),
        ("x.rst", b"text", Format::Text),
        ("dump", b"BZh91AY&SY", Format::Wiki),
        ("export", b"  <mediawiki xmlns=\"x\">", Format::Wiki),
        ("lines", b"{\"text\": \"x\"}", Format::Jsonl),
    ];
    for (name, bytes, want) in cases {
        write(&p.join(name), bytes);
        assert_eq!(detect_format(&p.join(name)).unwrap(), *want, "{name}");
    }
    write(&p.join("mystery.bin"), b"\x00\x01 nothing known");
    let e = format!("{:#}", detect_format(&p.join("mystery.bin")).unwrap_err());
    assert!(
        e.contains("cannot detect the format of")
            && e.contains("mystery.bin")
            && e.contains("--format"),
        "{e}"
    );

    write(&p.join("sotu/speeches/1790-A-1.txt"), b"x");
    assert_eq!(detect_format(&p.join("sotu")).unwrap(), Format::Sotu);
    assert_eq!(
        detect_format(&p.join("sotu/speeches")).unwrap(),
        Format::Sotu
    );
    write(&p.join("brown/ca01"), b"x");
    write(&p.join("brown/cats.txt"), b"ca01 news");
    assert_eq!(detect_format(&p.join("brown")).unwrap(), Format::Brown);
    write(&p.join("plain/readme.txt"), b"x");
    assert_eq!(detect_format(&p.join("plain")).unwrap(), Format::Text);
}

#[test]
fn emit_errors_propagate() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.txt");
    write(&path, b"Some text that is long enough to be a sentence.");
    let mut stats = IngestStats::default();
    let r = ingest_path(
        &path,
        Format::Text,
        &SegmentConfig::default(),
        &mut stats,
        &mut |_| anyhow::bail!("sink full"),
    );
    assert!(err_text(r).contains("sink full"));
}

#[test]
fn invalid_limits_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.txt");
    write(&path, b"Text.");
    let cfg = SegmentConfig {
        min_words: 10,
        max_words: 5,
    };
    let r = ingest_path(
        &path,
        Format::Text,
        &cfg,
        &mut IngestStats::default(),
        &mut |_| Ok(()),
    );
    assert!(r.is_err());
}
