//! Text files of one item per line.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Reads one text per line (`\n` or `\r\n`), failing on a binary file or on the first line that
/// is not UTF-8, with the file, line and byte. The trailing newline of the last line does not
/// make an extra empty line.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.iter().take(8192).any(|&b| b == 0) {
        bail!(
            "{} looks like a binary file (NUL bytes); expected UTF-8 text, one text per line",
            path.display()
        );
    }
    let mut lines = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}: not valid UTF-8 (byte {} of the line)",
                path.display(),
                i + 1,
                e.valid_up_to() + 1
            )
        })?;
        lines.push(line.to_string());
    }
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_back_without_their_endings_and_bad_bytes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, "one\r\ntwo\n\nfour\n").unwrap();
        assert_eq!(read_lines(&p).unwrap(), ["one", "two", "", "four"]);
        std::fs::write(&p, b"ok\nbad \xff here\n").unwrap();
        let e = read_lines(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("t.txt:2: not valid UTF-8 (byte 5 of the line)"),
            "{e}"
        );
        std::fs::write(&p, b"a\0b").unwrap();
        assert!(read_lines(&p).unwrap_err().to_string().contains("binary"));
    }
}
