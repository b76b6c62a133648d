//! One writer per output: an advisory lock that a command holds on the folder (or file) it
//! writes, for its whole life, and the leftovers of a killed writer.
//!
//! The lock is `flock` on a hidden file beside the output, `.NAME.lvmkit-lock` (through
//! [`std::fs::File::try_lock`], the same call the lock crates wrap). The kernel releases it when
//! its holder exits, however it exits, so a `kill -9` never leaves a stale lock. The holder
//! writes its PID and command line into the file, for the message a second writer gets; it
//! removes the file when it lets go. A contender that opened the file just before it was
//! removed sees that the path no longer names what it locked and tries again.
//!
//! A writer stages its output beside it under a name [`OutputLock::staging_prefix`] gives
//! (`.NAME.lvmkit-new-…`, `.NAME.lvmkit-old-…`). Whoever holds the lock is the only writer of
//! NAME, so every such name it finds on taking the lock is a leftover of a killed writer of the
//! same output, and is removed, as are the atomic writes' temporary files (`.FILE.XXXX.tmp`)
//! directly inside the output folder; other outputs' staging names are left alone. An old copy
//! keeps its `old` name only while it is whole: it is renamed to a `new` name before it is
//! deleted, so the one copy that may be put back is never half-deleted.

use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Held while a command writes `output`; dropped, it removes its lock file and lets go.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    lock_path: PathBuf,
    output: PathBuf,
    parent: PathBuf,
    name: String,
    cleaned: Vec<Leftover>,
    /// The first folder above the output that taking the lock had to create: removed again on
    /// release if the output never came to exist, so a refused command leaves no empty folders.
    created: Option<PathBuf>,
}

/// What a leftover of a killed writer was, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub path: PathBuf,
    /// Put back in place of a missing output (a writer killed between moving the old output
    /// aside and moving the new one in).
    pub restored: bool,
}

impl OutputLock {
    /// Takes the lock on `output` (which need not exist yet) for this process, or fails naming
    /// the process that holds it. `what` names the output in that message ("run folder",
    /// "dataset"). Leftovers of killed writers of `output` are cleaned up
    /// ([`OutputLock::leftovers`] says which).
    pub fn acquire(output: &Path, what: &str) -> Result<Self> {
        let (parent, name) = split(output)?;
        let created = parent
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
            .last()
            .map(Path::to_path_buf);
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
        let lock_path = parent.join(format!(".{name}.lvmkit-lock"));
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .with_context(|| format!("cannot create the lock file {}", lock_path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    bail!(
                        "{} {} is in use by {}; wait for it to finish, or choose another output",
                        what,
                        output.display(),
                        holder(file, &lock_path)
                    )
                }
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()));
                }
            }
            if !same_file(&file, &lock_path) {
                // Its holder removed it between our open and our lock: try the new one.
                continue;
            }
            let mut lock = Self {
                file,
                lock_path,
                output: output.to_path_buf(),
                parent,
                name,
                cleaned: Vec::new(),
                created: created.clone(),
            };
            lock.write_holder()?;
            lock.cleaned = lock.clean_leftovers()?;
            return Ok(lock);
        }
    }

    /// The output this lock guards.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// The leftovers of killed writers that taking the lock cleaned up.
    pub fn leftovers(&self) -> &[Leftover] {
        &self.cleaned
    }

    /// The folder the output is in, where staging names go.
    pub fn parent(&self) -> &Path {
        &self.parent
    }

    /// The start of a staging name beside the output for `kind` ("new", "old"):
    /// `.NAME.lvmkit-KIND-`. Whatever a writer stages under it is cleaned up by the next holder
    /// of the lock if the writer is killed.
    pub fn staging_prefix(&self, kind: &str) -> String {
        format!(".{}.lvmkit-{kind}-", self.name)
    }

    fn write_holder(&mut self) -> Result<()> {
        let command: Vec<String> = std::env::args().collect();
        let line = format!("{} {}\n", std::process::id(), command.join(" "));
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file
            .write_all(line.as_bytes())
            .with_context(|| format!("cannot write {}", self.lock_path.display()))?;
        self.file.flush()?;
        Ok(())
    }

    /// Removes `.NAME.lvmkit-new-*` and `.NAME.lvmkit-old-*` beside the output. When the
    /// output itself is missing and exactly one old copy is there, that copy is put back rather
    /// than removed: it was the output until a writer was killed mid-swap.
    fn clean_leftovers(&self) -> Result<Vec<Leftover>> {
        let mut found: Vec<(PathBuf, bool)> = Vec::new();
        let mut cleaned = Vec::new();
        // Temporary files of the atomic writes inside the output folder (`.NAME.XXXX.tmp`):
        // only the holder writes there, so any it finds were left by a killed writer.
        if let Ok(inside) = std::fs::read_dir(&self.output) {
            for entry in inside.flatten() {
                let n = entry.file_name().to_string_lossy().into_owned();
                let file = entry.file_type().is_ok_and(|t| t.is_file());
                if file && n.starts_with('.') && n.ends_with(".tmp") {
                    std::fs::remove_file(entry.path()).with_context(|| {
                        format!("cannot remove the leftover {}", entry.path().display())
                    })?;
                    cleaned.push(Leftover {
                        path: entry.path(),
                        restored: false,
                    });
                }
            }
        }
        let (new, old) = (self.staging_prefix("new"), self.staging_prefix("old"));
        let entries = match std::fs::read_dir(&self.parent) {
            Ok(e) => e,
            Err(_) => return Ok(cleaned),
        };
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with(&new) {
                found.push((entry.path(), false));
            } else if n.starts_with(&old) {
                found.push((entry.path(), true));
            }
        }
        found.sort();
        let olds = found.iter().filter(|(_, old)| *old).count();
        for (path, is_old) in found {
            if is_old && olds == 1 && std::fs::symlink_metadata(&self.output).is_err() {
                std::fs::rename(&path, &self.output).with_context(|| {
                    format!(
                        "cannot put {} back in place of {}",
                        path.display(),
                        self.output.display()
                    )
                })?;
                tracing::warn!(
                    "{} was missing after an interrupted write; put back the previous one from {}",
                    self.output.display(),
                    path.display()
                );
                cleaned.push(Leftover {
                    path,
                    restored: true,
                });
                continue;
            }
            remove_any(&path)
                .with_context(|| format!("cannot remove the leftover {}", path.display()))?;
            tracing::info!(
                "removed {}, left by an interrupted write of {}",
                path.display(),
                self.output.display()
            );
            cleaned.push(Leftover {
                path,
                restored: false,
            });
        }
        Ok(cleaned)
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held, so no one can take a lock on this file and keep it.
        let _ = std::fs::remove_file(&self.lock_path);
        let _ = self.file.unlock();
        if let Some(top) = &self.created {
            if std::fs::symlink_metadata(&self.output).is_err() {
                // Only empty folders go (remove_dir refuses others), from the bottom up.
                for dir in self.parent.ancestors() {
                    if std::fs::remove_dir(dir).is_err() || dir == top {
                        break;
                    }
                }
            }
        }
    }
}

/// The folder an output is in and its name; `.`, `..` and a trailing `/` are resolved.
fn split(output: &Path) -> Result<(PathBuf, String)> {
    let named = output
        .file_name()
        .filter(|n| *n != ".." && *n != ".")
        .is_some();
    let path = if named {
        output.to_path_buf()
    } else {
        std::fs::canonicalize(output)
            .with_context(|| format!("cannot resolve {}", output.display()))?
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file or folder", output.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// Who holds a lock, from what they wrote into its file.
fn holder(mut file: File, lock_path: &Path) -> String {
    let mut text = String::new();
    // The holder writes its line right after taking the lock; give it a moment.
    for _ in 0..20 {
        text.clear();
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.read_to_string(&mut text);
        if text.ends_with('\n') {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    match text.trim().split_once(' ') {
        Some((pid, command)) => format!("another lvmkit (PID {pid}: {command})"),
        None if !text.trim().is_empty() => format!("another lvmkit (PID {})", text.trim()),
        None => format!(
            "another lvmkit (it holds {}, and has not said which process it is yet)",
            lock_path.display()
        ),
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_naming_the_holder_and_let_in_once_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let first = OutputLock::acquire(&out, "run folder").unwrap();
        // Another open file description of the same lock file, as another process would have.
        let err = OutputLock::acquire(&out, "run folder")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is in use by another lvmkit (PID"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        // The same folder spelled another way is the same output.
        let other = dir.path().join(".").join("run");
        assert!(OutputLock::acquire(&other, "run folder").is_err());
        drop(first);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(names.is_empty(), "the lock file is removed on release");
        let _again = OutputLock::acquire(&out, "run folder").unwrap();
    }

    #[test]
    fn only_leftovers_of_the_same_output_are_removed_and_a_lost_output_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join(".data.lvmkit-new-ab12")).unwrap();
        std::fs::write(p.join(".data.lvmkit-new-ab12/concepts.npy"), b"x").unwrap();
        std::fs::create_dir(p.join(".data.lvmkit-old-77")).unwrap();
        std::fs::write(p.join(".data.lvmkit-old-77/manifest.json"), b"{}").unwrap();
        std::fs::create_dir(p.join(".data2.lvmkit-new-cd34")).unwrap();
        std::fs::create_dir(p.join("data.lvmkit-new-not-hidden")).unwrap();
        let lock = OutputLock::acquire(&p.join("data"), "dataset").unwrap();
        let cleaned = lock.leftovers();
        assert_eq!(cleaned.len(), 2);
        assert!(!p.join(".data.lvmkit-new-ab12").exists());
        // The output was missing: the one old copy is what it was.
        assert!(cleaned.iter().any(|l| l.restored));
        assert_eq!(std::fs::read(p.join("data/manifest.json")).unwrap(), b"{}");
        assert!(
            p.join(".data2.lvmkit-new-cd34").exists(),
            "another output's"
        );
        assert!(p.join("data.lvmkit-new-not-hidden").exists());
    }

    #[test]
    fn a_refused_command_leaves_no_folders_it_made_for_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a/b/run");
        let lock = OutputLock::acquire(&out, "run folder").unwrap();
        assert!(dir.path().join("a/b").is_dir());
        drop(lock);
        assert!(!dir.path().join("a").exists(), "no output: the folders go");
        let lock = OutputLock::acquire(&out, "run folder").unwrap();
        std::fs::create_dir(&out).unwrap();
        drop(lock);
        assert!(
            out.is_dir(),
            "an output that came to exist keeps its folders"
        );
    }

    #[test]
    fn temporaries_inside_the_output_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join(".last.safetensors.Ab12Cd.tmp"), b"half").unwrap();
        std::fs::write(out.join("best.safetensors"), b"kept").unwrap();
        std::fs::write(out.join("notes.tmp"), b"the user's").unwrap();
        let lock = OutputLock::acquire(&out, "run folder").unwrap();
        assert_eq!(lock.leftovers().len(), 1);
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["best.safetensors", "notes.tmp"]);
    }

    #[test]
    fn an_old_copy_beside_a_present_output_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("data")).unwrap();
        std::fs::create_dir(p.join(".data.lvmkit-old-77")).unwrap();
        let lock = OutputLock::acquire(&p.join("data"), "dataset").unwrap();
        let cleaned = lock.leftovers();
        assert_eq!(cleaned.len(), 1);
        assert!(!cleaned[0].restored);
        assert!(!p.join(".data.lvmkit-old-77").exists());
    }
}
