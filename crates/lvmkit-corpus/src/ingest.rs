//! Several inputs ingested into one corpus JSONL file, one document per line.

use crate::{detect_format, ingest_path, Document, Format, IngestStats, SegmentConfig};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Reads each of `inputs` (as `format`, or detected per path when [`Format::Auto`]) and writes
/// every document to `output` as a JSON line, atomically: on any error nothing is written. A
/// document id that comes twice in one source is an error naming both inputs; an input with no
/// documents is logged; no documents at all is an error.
pub fn ingest_to_file(
    inputs: &[PathBuf],
    format: Format,
    cfg: &SegmentConfig,
    output: &Path,
) -> Result<IngestStats> {
    cfg.validate()?;
    let mut stats = IngestStats::default();
    let mut seen = HashMap::new();
    lvmkit_io::write_atomic(output, |w| {
        for input in inputs {
            if !input.exists() {
                bail!("input {} does not exist", input.display());
            }
            let format = match format {
                Format::Auto => detect_format(input)?,
                f => f,
            };
            tracing::info!("reading {} as {format}", input.display());
            let before = stats.documents;
            let mut emit = |doc: Document| -> Result<()> {
                if let Some(prev) = seen.insert((doc.source.clone(), doc.id.clone()), input.clone())
                {
                    bail!(
                        "document id '{}' of source '{}' comes twice (from {} and {}): ingest these inputs into separate files",
                        doc.id,
                        doc.source,
                        prev.display(),
                        input.display()
                    );
                }
                serde_json::to_writer(&mut *w, &doc)?;
                w.write_all(b"\n")?;
                Ok(())
            };
            ingest_path(input, format, cfg, &mut stats, &mut emit)
                .with_context(|| format!("while ingesting {}", input.display()))?;
            if stats.documents == before {
                tracing::warn!("{} produced no documents", input.display());
            }
        }
        if stats.documents == 0 {
            bail!("no documents found in the inputs; nothing written");
        }
        Ok(())
    })?;
    Ok(stats)
}
