//! File-system helpers shared by the readers: deterministic listings and careful text loading.

use crate::IngestStats;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// How many leading bytes are checked for NUL when deciding that a file is binary.
const BINARY_SNIFF: usize = 8192;

/// Every regular file under `dir` (recursively, hidden entries and symlinked folders
/// skipped), sorted by path so that output order does not depend on the file system.
pub(crate) fn walk_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("{}: cannot list", d.display()))?
        {
            let entry = entry.with_context(|| format!("{}: cannot list", d.display()))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let p = entry.path();
            let ty = entry
                .file_type()
                .with_context(|| format!("{}: cannot stat", p.display()))?;
            if ty.is_dir() {
                stack.push(p);
            } else if ty.is_file() || (ty.is_symlink() && p.is_file()) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Sorted files directly inside `dir` whose name satisfies `keep`.
pub(crate) fn list_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?
    {
        let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
        let p = entry.path();
        if p.is_file() && keep(&entry.file_name().to_string_lossy()) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Why a readable file cannot be used as text.
fn text_problem(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(BINARY_SNIFF)];
    if head.contains(&0) {
        return Some("binary file (NUL bytes in the first 8 KB)".into());
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => None,
        Err(e) => Some(format!("invalid UTF-8 at byte {}", e.valid_up_to())),
    }
}

/// Load a UTF-8 text file (BOM removed). A binary or non-UTF-8 file is an error when it is the
/// whole input (`single`), and a warning plus `skipped_files` when it is one file of a folder.
/// I/O failures are always errors.
pub(crate) fn load_text(
    path: &Path,
    single: bool,
    stats: &mut IngestStats,
) -> Result<Option<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if let Some(problem) = text_problem(&bytes) {
        if single {
            bail!("{}: {problem}", path.display());
        }
        stats.skipped_files += 1;
        stats.warn(format!("{}: skipped, {problem}", path.display()));
        return Ok(None);
    }
    let text = String::from_utf8(bytes).expect("checked above");
    Ok(Some(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }))
}

/// `a/b/c.rst.txt` relative to `base`, with `/` separators on every platform.
pub(crate) fn relative_id(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// File name without its (possibly double, `.rst.txt`) extension.
pub(crate) fn doc_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    for ext in [
        ".rst.txt",
        ".txt",
        ".md",
        ".markdown",
        ".rst",
        ".rest",
        ".text",
    ] {
        if lower.ends_with(ext) && name.len() > ext.len() {
            return name[..name.len() - ext.len()].to_string();
        }
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or(name)
}

/// Open a file for reading, decompressed when it starts with the gzip or the bzip2 magic (the
/// one place that sniffs compression: Wikipedia dumps are .bz2, verse tables .csv.gz).
pub(crate) fn open_decompressed(path: &Path) -> Result<Box<dyn std::io::BufRead>> {
    use std::io::{BufReader, Read};
    let open =
        || std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()));
    let mut magic = [0u8; 3];
    let n = open()?
        .read(&mut magic)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let file = open()?;
    let reader: Box<dyn Read> = if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if n == 3 && &magic == b"BZh" {
        Box::new(bzip2::read::MultiBzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}
