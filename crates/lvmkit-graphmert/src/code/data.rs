//! `lvmkit graphmert code data`: the code graph of some source trees, split by whole modules,
//! written where a user (or the later stages) can read it; and the code-search task of the
//! held-out modules with its two retrieval baselines.

use super::split::{hold_out_modules, CodeSplit, Part};
use super::{CodeGraph, CodeOntology, Entity, EntityKind, Lang, RELATIONS};
use crate::search::{dense_ranks, Bm25, SearchScores};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The pinned source trees read when no `--source` is given (`lvmkit fetch` gets them).
pub const DEFAULT_SOURCES: [&str; 3] = ["python-stdlib", "python-stdlib-core", "rust-stdlib"];

/// How the code data is made (also `graphmert code data`'s flags).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct CodeDataOptions {
    /// A source tree to read (repeatable): every `.py` and `.rs` file below it. Default: the
    /// fetched Python 3.11 standard library and Rust 1.63's core, alloc and std.
    #[arg(long = "source", value_name = "DIR")]
    pub sources: Vec<PathBuf>,
    /// Share of parsed entities held out for scoring, as whole modules, in [0, 1).
    #[arg(long, default_value_t = 0.15)]
    pub held_out: f64,
    /// Share of parsed entities held out for validation (choices are made there), whole modules
    /// after the scored ones.
    #[arg(long, default_value_t = 0.05)]
    pub val_held_out: f64,
    /// Seed of the module split.
    #[arg(long = "split-seed", id = "split_seed", default_value_t = 42)]
    pub seed: u64,
}

impl Default for CodeDataOptions {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// A code graph, the source roots it was read from and its split.
pub struct CodeData {
    pub graph: CodeGraph,
    pub split: CodeSplit,
    /// Each root by its folder name (the first component of [`Entity::file`]).
    pub roots: BTreeMap<String, PathBuf>,
}

impl CodeData {
    /// Reads `opts.sources`, or the fetched default trees of `data` when there are none.
    pub fn build(data: &lvmkit_sources::DataDir, opts: &CodeDataOptions) -> Result<Self> {
        for (name, v) in [
            ("held_out", opts.held_out),
            ("val_held_out", opts.val_held_out),
        ] {
            if !(0.0..1.0).contains(&v) {
                let msg = format!("must be in [0, 1), got {v}");
                return Err(lvmkit_io::setting_error(name, msg).into());
            }
        }
        if opts.held_out + opts.val_held_out >= 1.0 {
            let msg = "held_out + val_held_out must be below 1".to_string();
            return Err(lvmkit_io::setting_error("val_held_out", msg).into());
        }
        let dirs: Vec<PathBuf> = if opts.sources.is_empty() {
            let d = data.require(&DEFAULT_SOURCES)?;
            DEFAULT_SOURCES
                .iter()
                .map(|n| d.corpus(n))
                .collect::<Result<_>>()?
        } else {
            opts.sources.clone()
        };
        let mut roots = BTreeMap::new();
        for dir in &dirs {
            if !dir.is_dir() {
                bail!("--source {}: not a folder", dir.display());
            }
            let name = super::graph::root_name(dir);
            if let Some(other) = roots.insert(name.clone(), dir.clone()) {
                bail!(
                    "--source {} and {} are both named {name:?}: give each source tree its own folder name",
                    other.display(),
                    dir.display()
                );
            }
        }
        let graph = CodeGraph::parse_roots(&dirs)?;
        if graph.entities.iter().all(|e| !e.is_parsed()) {
            bail!(
                "no .py or .rs file with a definition under {}",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let split = hold_out_modules(&graph, opts.held_out, opts.val_held_out, opts.seed);
        Ok(Self {
            graph,
            split,
            roots,
        })
    }

    /// Edges per relation and part, entities per kind and part, and what was read.
    pub fn summary(&self) -> CodeSummary {
        let g = &self.graph;
        let mut relations: BTreeMap<String, PartCounts> = RELATIONS
            .iter()
            .map(|r| (r.to_string(), PartCounts::default()))
            .collect();
        for e in &g.edges {
            let c = relations
                .get_mut(RELATIONS[e.relation as usize])
                .expect("every relation listed");
            c.add(self.split.edge_part(g, e));
        }
        let mut kinds: BTreeMap<String, PartCounts> = BTreeMap::new();
        for e in &g.entities {
            kinds
                .entry(e.kind.name().to_string())
                .or_default()
                .add(self.split.entity_part(e.id));
        }
        let mut modules = PartCounts::default();
        for m in g.modules() {
            modules.add(self.split.entity_part(m.id));
        }
        CodeSummary {
            sources: self
                .roots
                .iter()
                .map(|(n, p)| (n.clone(), p.display().to_string()))
                .collect(),
            files: g.files,
            lines: g.lines,
            skipped: g.skipped.clone(),
            partial: g.partial.len(),
            modules,
            kinds,
            relations,
            held_out_fraction: self.split.held_out_fraction(),
            violations: CodeOntology.violations(g).len(),
        }
    }

    /// OUT/entities.jsonl, OUT/edges.jsonl (each with its part of the split, edges with
    /// their provenance), OUT/summary.json and OUT/search.jsonl (the held-out code-search
    /// queries), and with an encoder the code-search baselines (OUT/search_baselines.json), all
    /// under one output lock.
    pub fn write(
        &self,
        out: &Path,
        baselines: Option<&lvmkit_encode::SentenceEncoder>,
    ) -> Result<(CodeSummary, SearchTask, Option<Vec<SearchRow>>)> {
        let _lock = lvmkit_io::OutputLock::acquire(out, "GraphMERT code output folder")?;
        std::fs::create_dir_all(out)?;
        let g = &self.graph;
        let part = |p: Part| match p {
            Part::Train => "train",
            Part::Val => "val",
            Part::HeldOut => "held_out",
        };
        lvmkit_io::write_atomic(&out.join("entities.jsonl"), |w| {
            for e in &g.entities {
                let mut row = serde_json::to_value(e)?;
                row["part"] = part(self.split.entity_part(e.id)).into();
                writeln!(w, "{row}")?;
            }
            Ok(())
        })?;
        lvmkit_io::write_atomic(&out.join("edges.jsonl"), |w| {
            for e in &g.edges {
                let row = serde_json::json!({
                    "head": e.head,
                    "head_name": g.entity(e.head).qualname,
                    "relation": RELATIONS[e.relation as usize],
                    "tail": e.tail,
                    "tail_name": g.entity(e.tail).qualname,
                    "file": e.file,
                    "line": e.line,
                    "text": e.text,
                    "part": part(self.split.edge_part(g, e)),
                });
                writeln!(w, "{row}")?;
            }
            Ok(())
        })?;
        let summary = self.summary();
        lvmkit_io::write_json_atomic(&out.join("summary.json"), &summary)?;
        let task = self.search_task(Part::HeldOut)?;
        lvmkit_io::write_atomic(&out.join("search.jsonl"), |w| {
            for (q, &r) in task.queries.iter().zip(&task.right) {
                let e = g.entity(task.entities[r]);
                let row = serde_json::json!({
                    "query": q, "entity": e.id, "qualname": e.qualname, "file": e.file, "line": e.line,
                });
                writeln!(w, "{row}")?;
            }
            Ok(())
        })?;
        let rows = match baselines {
            Some(encoder) => Some(task.baselines(encoder, out)?),
            None => None,
        };
        Ok((summary, task, rows))
    }

    /// The source text of a parsed entity (its lines), read from its root.
    pub fn source_of(&self, e: &Entity) -> Result<String> {
        let (root, rel) = e
            .file
            .split_once('/')
            .with_context(|| format!("{} has no file", e.qualname))?;
        let dir = self
            .roots
            .get(root)
            .with_context(|| format!("{}: no source root named {root:?}", e.file))?;
        let path = dir.join(rel);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let lines: Vec<&str> = text
            .lines()
            .skip(e.line.saturating_sub(1) as usize)
            .take((e.end_line + 1).saturating_sub(e.line) as usize)
            .collect();
        Ok(lines.join("\n"))
    }

    /// Code search over one part's modules (CodeSearchNet-style): each function or method
    /// whose doc has a first sentence of at least three words is a query (that sentence), and
    /// every function and method of those modules is a document (its code with its doc
    /// removed). A pair whose code still holds the query's words in order is left out (the
    /// answer would be in the document).
    pub fn search_task(&self, part: Part) -> Result<SearchTask> {
        let mut task = SearchTask::default();
        let mut doc_of: HashMap<u32, usize> = HashMap::new();
        for e in &self.graph.entities {
            if !matches!(e.kind, EntityKind::Function | EntityKind::Method)
                || self.split.entity_part(e.id) != part
            {
                continue;
            }
            doc_of.insert(e.id, task.documents.len());
            task.entities.push(e.id);
            task.documents.push(strip_doc(&self.source_of(e)?, e.lang));
        }
        for &id in &task.entities {
            let e = self.graph.entity(id);
            let q = e.first_sentence_of_doc();
            if q.split_whitespace().count() < 3 {
                continue;
            }
            let d = doc_of[&id];
            if normalize(&task.documents[d]).contains(&normalize(&q)) {
                task.leaked += 1;
                continue;
            }
            task.queries.push(q);
            task.right.push(d);
        }
        Ok(task)
    }
}

/// Lower case, words only, single spaces: for the leak check.
fn normalize(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A function's code without its doc: Rust `///`, `//!` and `#[doc` lines; Python's docstring
/// (the first statement after the header when it is a string literal).
pub fn strip_doc(code: &str, lang: Lang) -> String {
    match lang {
        Lang::Rust => code
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                !(t.starts_with("///") || t.starts_with("//!") || t.starts_with("#[doc"))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Lang::Python => strip_python_docstring(code),
    }
}

fn strip_python_docstring(code: &str) -> String {
    // The header ends at the first line ending in ':' (after decorators and a multi-line
    // signature); the docstring, if any, is the next non-blank statement.
    let lines: Vec<&str> = code.lines().collect();
    let Some(header_end) = lines.iter().position(|l| {
        let t = l.split('#').next().unwrap_or("").trim_end();
        t.ends_with(':') && !t.trim_start().starts_with('@')
    }) else {
        return code.to_string();
    };
    let rest = lines[header_end + 1..].join("\n");
    let body = rest.trim_start();
    let lead = rest.len() - body.len();
    let prefix_len = body
        .chars()
        .take_while(|c| matches!(c, 'r' | 'R' | 'u' | 'U' | 'b' | 'B' | 'f' | 'F'))
        .count();
    let after = &body[prefix_len..];
    let quote = ["\"\"\"", "'''", "\"", "'"]
        .into_iter()
        .find(|q| after.starts_with(q));
    let Some(q) = quote else {
        return code.to_string();
    };
    let Some(close) = after[q.len()..].find(q) else {
        return code.to_string();
    };
    let end = lead + prefix_len + q.len() + close + q.len();
    let mut out = lines[..=header_end].join("\n");
    out.push('\n');
    out.push_str(&rest[end..]);
    out
}

/// Queries, documents, and which document answers each query.
#[derive(Debug, Clone, Default)]
pub struct SearchTask {
    pub queries: Vec<String>,
    pub documents: Vec<String>,
    /// The document each query's function is.
    pub right: Vec<usize>,
    /// The entity of each document.
    pub entities: Vec<u32>,
    /// Queries left out because their document still held their words.
    pub leaked: usize,
}

impl SearchTask {
    /// BM25 over the identifier-split code.
    pub fn bm25(&self) -> SearchScores {
        let ranks = Bm25::new(&self.documents).ranks(&self.queries, &self.right);
        SearchScores::from_ranks(&ranks, self.documents.len())
    }

    /// Cosine similarity of the sentence encoder's embeddings of query and code.
    pub fn encoder(&self, encoder: &lvmkit_encode::SentenceEncoder) -> Result<SearchScores> {
        let opts = lvmkit_encode::EncodeOptions {
            progress: true,
            ..Default::default()
        };
        let q = encoder.encode(&self.queries, &opts)?;
        let d = encoder.encode(&self.documents, &opts)?;
        let ranks = dense_ranks(&q, &d, encoder.dim(), &self.right);
        Ok(SearchScores::from_ranks(&ranks, self.documents.len()))
    }
}

/// One system's code-search scores (a row of `search.rows` in the eval JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchRow {
    pub name: String,
    #[serde(flatten)]
    pub scores: SearchScores,
}

impl SearchTask {
    /// BM25's and the sentence encoder's rows, also written to OUT/search_baselines.json.
    pub fn baselines(
        &self,
        encoder: &lvmkit_encode::SentenceEncoder,
        out: &Path,
    ) -> Result<Vec<SearchRow>> {
        let rows = vec![
            SearchRow {
                name: "bm25".into(),
                scores: self.bm25(),
            },
            SearchRow {
                name: "encoder".into(),
                scores: self.encoder(encoder)?,
            },
        ];
        let json = serde_json::json!({ "rows": rows, "leaked": self.leaked });
        lvmkit_io::write_json_atomic(&out.join("search_baselines.json"), &json)?;
        Ok(rows)
    }
}

/// Counts on each side of the split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartCounts {
    pub train: usize,
    pub val: usize,
    pub held_out: usize,
}

impl PartCounts {
    fn add(&mut self, p: Part) {
        match p {
            Part::Train => self.train += 1,
            Part::Val => self.val += 1,
            Part::HeldOut => self.held_out += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.train + self.val + self.held_out
    }
}

/// What `graphmert code data` read and made (also `summary.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeSummary {
    /// Each source root: its name and folder.
    pub sources: BTreeMap<String, String>,
    pub files: usize,
    pub lines: usize,
    pub skipped: Vec<(String, String)>,
    /// Files read with syntax errors (kept).
    pub partial: usize,
    pub modules: PartCounts,
    pub kinds: BTreeMap<String, PartCounts>,
    pub relations: BTreeMap<String, PartCounts>,
    pub held_out_fraction: f64,
    /// Edges breaking the ontology's rules (0 for a graph the parsers made).
    pub violations: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_docstrings_and_rust_doc_comments_are_removed() {
        let py =
            "def f(a,\n      b):\n    \"\"\"Add them.\n\n    More.\n    \"\"\"\n    return a + b";
        assert_eq!(
            strip_doc(py, Lang::Python),
            "def f(a,\n      b):\n\n    return a + b"
        );
        let one = "@property\ndef g(self):  # note\n    r'One line.'\n    return 1";
        assert_eq!(
            strip_doc(one, Lang::Python),
            "@property\ndef g(self):  # note\n\n    return 1"
        );
        let none = "def h():\n    return \"\"\"not a doc\"\"\"";
        assert_eq!(strip_doc(none, Lang::Python), none);
        let rs = "/// Adds.\n#[inline]\npub fn add(a: u8) -> u8 {\n    //! inner\n    a + 1\n}";
        assert_eq!(
            strip_doc(rs, Lang::Rust),
            "#[inline]\npub fn add(a: u8) -> u8 {\n    a + 1\n}"
        );
    }
}
