//! The Gene Ontology as Debian's `r-bioc-go.db` ships it (one SQLite file, GO release
//! 2022-07): terms with their namespace, definition and synonyms, and the typed child → parent
//! edges that are the seed graph.

use anyhow::{bail, Context, Result};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// GO's three namespaces (sub-ontologies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Namespace {
    /// biological_process
    BP,
    /// molecular_function
    MF,
    /// cellular_component
    CC,
}

impl Namespace {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "BP" => Some(Self::BP),
            "MF" => Some(Self::MF),
            "CC" => Some(Self::CC),
            _ => None,
        }
    }

    pub fn long_name(self) -> &'static str {
        match self {
            Self::BP => "biological_process",
            Self::MF => "molecular_function",
            Self::CC => "cellular_component",
        }
    }
}

/// The relations of the seed graph, in the order of their ids.
pub const RELATIONS: [&str; 5] = [
    "is_a",
    "part_of",
    "regulates",
    "positively_regulates",
    "negatively_regulates",
];

pub type Relation = u8;

fn relation_of(sqlite_name: &str) -> Option<Relation> {
    let name = sqlite_name.replace(' ', "_");
    let name = if name == "isa" {
        "is_a".to_string()
    } else {
        name
    };
    RELATIONS
        .iter()
        .position(|r| *r == name)
        .map(|i| i as Relation)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Term {
    pub go_id: String,
    pub name: String,
    pub namespace: Namespace,
    pub definition: Option<String>,
    /// Label synonyms (not the alternative GO ids the table also lists).
    pub synonyms: Vec<String>,
}

/// `child --relation--> parent`: in GraphMERT's words the child is the head, the parent's
/// name the tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edge {
    pub child: u32,
    pub relation: Relation,
    pub parent: u32,
}

pub struct Ontology {
    pub terms: Vec<Term>,
    pub edges: Vec<Edge>,
    pub release: String,
    by_go_id: HashMap<String, u32>,
}

impl Ontology {
    /// Read `GO.sqlite` (from `lvmkit fetch --only gene-ontology`).
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            bail!(
                "{} not found: run `lvmkit fetch --only gene-ontology`",
                path.display()
            );
        }
        let db = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let ctx = || format!("{} is not the GO.db SQLite file", path.display());
        let release: String = db
            .query_row(
                "SELECT source_date FROM map_metadata WHERE source_name = 'Gene Ontology' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| "unknown".into());

        let mut terms = Vec::new();
        let mut by_row: HashMap<i64, u32> = HashMap::new();
        let mut stmt = db
            .prepare("SELECT _id, go_id, term, ontology, definition FROM go_term ORDER BY go_id")
            .with_context(ctx)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        for row in rows {
            let (rowid, go_id, name, ns, definition) = row.with_context(ctx)?;
            // go_term also holds the three namespace roots' pseudo-entry "all"; keep real terms.
            let Some(namespace) = Namespace::parse(&ns) else {
                continue;
            };
            by_row.insert(rowid, terms.len() as u32);
            terms.push(Term {
                go_id,
                name,
                namespace,
                definition: definition.filter(|d| !d.trim().is_empty()),
                synonyms: Vec::new(),
            });
        }
        let mut stmt = db
            .prepare(
                "SELECT _id, synonym FROM go_synonym WHERE like_go_id = 0 ORDER BY _id, synonym",
            )
            .with_context(ctx)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (rowid, syn) = row.with_context(ctx)?;
            if let Some(&t) = by_row.get(&rowid) {
                terms[t as usize].synonyms.push(syn);
            }
        }
        let mut edges = Vec::new();
        for table in ["go_bp_parents", "go_mf_parents", "go_cc_parents"] {
            let mut stmt = db
                .prepare(&format!(
                    "SELECT _id, _parent_id, relationship_type FROM {table} ORDER BY _id, _parent_id, relationship_type"
                ))
                .with_context(ctx)?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (c, p, rel) = row.with_context(ctx)?;
                let (Some(&child), Some(&parent)) = (by_row.get(&c), by_row.get(&p)) else {
                    continue;
                };
                let relation = relation_of(&rel)
                    .with_context(|| format!("{table}: unknown relationship type '{rel}'"))?;
                edges.push(Edge {
                    child,
                    relation,
                    parent,
                });
            }
        }
        edges.sort_by_key(|e| (e.child, e.relation, e.parent));
        edges.dedup();
        let by_go_id = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.go_id.clone(), i as u32))
            .collect();
        Ok(Self {
            terms,
            edges,
            release,
            by_go_id,
        })
    }

    /// An ontology from terms and edges already in memory (tests, other ontologies).
    pub fn from_parts(terms: Vec<Term>, edges: Vec<Edge>) -> Self {
        let by_go_id = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.go_id.clone(), i as u32))
            .collect();
        Self {
            terms,
            edges,
            release: "in memory".into(),
            by_go_id,
        }
    }

    pub fn term(&self, go_id: &str) -> Option<u32> {
        self.by_go_id.get(go_id).copied()
    }
}
