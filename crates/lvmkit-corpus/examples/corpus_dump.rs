//! Inspect what the readers produce: `cargo run -p lvmkit-corpus --example corpus_dump -- PATH
//! [FORMAT]` prints one JSON document per line on stdout and the stats on stderr.

use lvmkit_corpus::{ingest_path, Format, IngestStats, SegmentConfig};
use std::io::Write;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: corpus_dump PATH [FORMAT]");
    let format: Format = args.next().as_deref().unwrap_or("auto").parse()?;
    let mut stats = IngestStats::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    ingest_path(
        path.as_ref(),
        format,
        &SegmentConfig::default(),
        &mut stats,
        &mut |doc| {
            serde_json::to_writer(&mut out, &doc)?;
            writeln!(out)?;
            Ok(())
        },
    )?;
    eprintln!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}
