//! All-or-nothing file writes.

use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Fails, naming `path`, when it cannot be an output file: it is an existing folder. Commands
/// call it before their work, so a wrong `--output` costs nothing; [`write_atomic`] calls it
/// too.
pub fn check_output_file(path: &Path) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "{} is a folder; name the output file to write (for example {})",
            path.display(),
            path.join("out").display()
        );
    }
    Ok(())
}

/// Moves a finished temporary file into place. On failure the temporary file is removed here
/// rather than carried inside the error, where a process that exits with the error in hand
/// would leave it behind.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    tmp.persist(path).map_err(|e| {
        let _ = e.file.close();
        anyhow::Error::new(e.error).context(format!(
            "cannot move the finished file into place at {}",
            path.display()
        ))
    })?;
    Ok(())
}

/// Writes `path` through `fill`, atomically: the bytes go to a temporary file beside `path`
/// (same filesystem, so the final rename is atomic) and replace `path` only if `fill` succeeds.
/// On error the previous content of `path`, if any, is untouched.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    check_output_file(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create folder {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        fill(&mut w)?;
        w.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    make_public(tmp.as_file())?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    persist(tmp, path)
}

/// Temporary files are created owner-only (0600); a finished output gets the usual 0644.
pub(crate) fn make_public(file: &std::fs::File) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Pretty JSON, atomically, with a trailing newline.
pub fn write_json_atomic<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        w.write_all(b"\n")?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, |w| Ok(w.write_all(b"old")?)).unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            anyhow::bail!("input went bad")
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary file left behind");
    }

    #[test]
    fn a_folder_in_the_way_is_named_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.npy");
        std::fs::create_dir(&path).unwrap();
        let err = write_atomic(&path, |w| Ok(w.write_all(b"x")?)).unwrap_err();
        assert!(format!("{err:#}").contains("is a folder"), "{err:#}");
        let err = crate::NpyWriter::create(&path, 1, 1).err().unwrap();
        assert!(format!("{err:#}").contains("is a folder"), "{err:#}");
        // And if the folder appears only once the work is done, the temporary goes with the error.
        let late = dir.path().join("late.txt");
        let err = write_atomic(&late, |w| {
            std::fs::create_dir(&late)?;
            std::fs::write(late.join("x"), b"in the way")?;
            Ok(w.write_all(b"x")?)
        })
        .unwrap_err();
        drop(err);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "temporary left behind: {names:?}");
    }
}
