//! `lvmkit graphmert code eval`: what GraphMERT on code knows that a parser cannot read off the
//! code, on modules it never saw.
//!
//! - **Relation completion from the natural-language side.** For each held-out function,
//!   method or class with at least one `calls`/`raises`/`returns`/`inherits_from` edge, the
//!   roots are its name, signature and doc (never its body); for each of those relations that
//!   training edges have for its kind and language, leaf 0 of its own name's root is masked and
//!   H-GAT is told the relation ([`leaf_outputs`]). Candidate tails are entity names whose
//!   tokens are all among the top-k at that leaf, and with `--mention` the names the head's
//!   text mentions, scored by the model's distribution at the leaf and given only to the
//!   relation it prefers; `--min-score` and `--tails` cut them ([`choose`]; `code tune` picks
//!   both on the validation modules). Scored on the names of the held-out tails
//!   (precision over every triple of a judged head, recall, Hits@1/10; a tail with the head's
//!   own name is left out of the truth and of every system) and by the ontology (validity:
//!   every system proposes only names the relation's range allows, so it is 1 by construction
//!   and says only that), next to a text-only baseline (names the text mentions, relation by
//!   prior), a graph-only one (TransE on the training edges) and an embedding one (tail names
//!   nearest the head's text with the sentence encoder); each system keeps `--tails` per
//!   (head, relation).
//! - **Code search**: [`CodeData::search_task`]; GraphMERT ranks by the cosine of its mean
//!   root states (query text vs code text) with the search-tuned encoder of `code
//!   search-train` when the run has one (the pretrained encoder's row beside it), next to BM25
//!   and the sentence encoder.
//! - **MLM and MNM accuracy** on the held-out modules' sequences (their own edges in the
//!   leaves), and with `--ablation RUN` (a `--no-leaves` run of the same data) this run and the
//!   ablation on the same sequences without leaves, masked alike: whether training with the
//!   graph made a better model of the text.

use super::corpus::{own_name, sequence, CodeCorpus};
use super::data::{CodeData, SearchRow};
use super::retrieval;
use super::run::CodeRun;
use super::split::Part;
use super::{CodeOntology, EntityKind, Lang, RELATIONS};
use crate::evaluate::Scoring;
use crate::extract::{form_tails, top_tokens};
use crate::go::Edge;
use crate::model::{GraphBatch, TripleSlot};
use crate::score::{score, Scored, Scores};
use crate::split::SeedSplit;
use crate::train::{evaluate_sequences, Metrics};
use crate::transe::{TransE, TransEConfig};
use anyhow::{bail, Result};
use lvmkit_models::nn::Mode;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The relations completed from the natural-language side.
pub const TARGETS: [&str; 4] = ["calls", "raises", "returns", "inherits_from"];

/// `graphmert code eval`'s settings (also its flags).
#[derive(Debug, Clone, clap::Args)]
pub struct CodeEvalSettings {
    /// Tokens read at the masked leaf.
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    /// Tails kept per (head, relation), for every system.
    #[arg(long, default_value_t = 10)]
    pub tails: usize,
    #[command(flatten)]
    pub choice: CodeChoice,
    /// Score at most this many heads (0: all), the first by id.
    #[arg(long, default_value_t = 0)]
    pub max_heads: usize,
    /// The held-out modules (the reported numbers) or the validation ones.
    #[arg(long, value_enum, default_value_t = Scoring::Test)]
    pub on: Scoring,
    /// TransE epochs for the graph-only baseline.
    #[arg(long, default_value_t = 20)]
    pub transe_epochs: usize,
    /// Masked-token accuracy on at most this many held-out sequences (0: all).
    #[arg(long, default_value_t = 2000)]
    pub mlm_sequences: usize,
    /// A run trained with --no-leaves: its MLM/MNM accuracy goes beside this run's.
    #[arg(long, value_name = "RUN")]
    pub ablation: Option<PathBuf>,
}

impl Default for CodeEvalSettings {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// One predicted triple with its provenance.
#[derive(Debug, Clone, Serialize)]
pub struct CodeTriple {
    pub head: u32,
    pub head_name: String,
    pub relation: &'static str,
    pub tail: String,
    pub score: f64,
    /// Whether it is one of the head's held-out edges (by tail name).
    pub held_out_edge: bool,
    /// Where the head is, and the text the roots held.
    pub file: String,
    pub line: u32,
    pub text: String,
    /// The top-k tokens at the masked leaf.
    pub tokens: Vec<(String, f32)>,
}

/// A system's relation-completion row.
#[derive(Debug, Clone, Serialize)]
pub struct RelationRow {
    pub name: &'static str,
    pub precision: f64,
    pub recall: f64,
    #[serde(rename = "hits@1")]
    pub hits_at_1: f64,
    #[serde(rename = "hits@10")]
    pub hits_at_10: f64,
    pub validity: f64,
    pub triples: usize,
}

/// A masked-token row.
#[derive(Debug, Clone, Serialize)]
pub struct MlmRow {
    pub name: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// Everything `graphmert code eval` measured (`eval.json`).
#[derive(Debug, Clone, Serialize)]
pub struct CodeEvaluation {
    pub on: Scoring,
    pub heads: usize,
    pub edges: usize,
    /// The part's edges left out because their tail has the head's own name.
    pub own_named_edges: usize,
    pub relations: Vec<RelationRow>,
    pub search: Vec<SearchRow>,
    pub search_queries: usize,
    pub search_documents: usize,
    pub mlm: Vec<MlmRow>,
    pub mlm_sequences: usize,
}

impl CodeEvaluation {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "on": self.on,
            "relations": {"rows": self.relations, "heads": self.heads, "edges": self.edges, "own_named_edges": self.own_named_edges},
            "search": {"rows": self.search, "queries": self.search_queries, "documents": self.search_documents},
            "mlm": {"rows": self.mlm, "sequences": self.mlm_sequences},
        })
    }
}

/// Tail names: every entity's simple name once, and which names may be tails of a relation
/// for a head of a language (some entity of that name in the relation's range).
struct Names {
    names: Vec<String>,
    id: HashMap<String, u32>,
    of_entity: Vec<u32>,
    /// (relation, language) → names allowed as tails.
    allowed: HashMap<(u8, Lang), BTreeSet<u32>>,
}

impl Names {
    fn new(d: &CodeData) -> Self {
        let g = &d.graph;
        let mut names = Vec::new();
        let mut id = HashMap::new();
        let of_entity = g
            .entities
            .iter()
            .map(|e| {
                *id.entry(e.name.clone()).or_insert_with(|| {
                    names.push(e.name.clone());
                    names.len() as u32 - 1
                })
            })
            .collect::<Vec<u32>>();
        let mut allowed: HashMap<(u8, Lang), BTreeSet<u32>> = HashMap::new();
        for (r, rule) in super::ontology::RULES.iter().enumerate() {
            for e in &g.entities {
                if rule.langs.contains(&e.lang) && rule.pairs.iter().any(|p| p.1 == e.kind) {
                    allowed
                        .entry((r as u8, e.lang))
                        .or_default()
                        .insert(of_entity[e.id as usize]);
                }
            }
        }
        Self {
            names,
            id,
            of_entity,
            allowed,
        }
    }
}

/// The heads scored and their held-out target edges (tails as name ids), with the relations
/// each head is asked about (those the training edges use for its kind and language).
struct Task {
    heads: Vec<u32>,
    split: SeedSplit,
    queries: Vec<(u32, u8)>,
    /// Relation prior per (head kind, language): training edge counts.
    prior: HashMap<(EntityKind, Lang, u8), usize>,
    /// Edges of the part left out because their tail has the head's own name.
    own_named: usize,
}

fn targets() -> Vec<u8> {
    TARGETS
        .iter()
        .map(|t| super::relation_index(t).expect("targets are relations"))
        .collect()
}

impl Task {
    /// The part's heads with at least one target edge (`every_head`: every function, method
    /// and class of the part that training edges give a target relation for), the first
    /// `max_heads` by id (0: all).
    fn new(d: &CodeData, names: &Names, part: Part, max_heads: usize, every_head: bool) -> Self {
        let g = &d.graph;
        let targets = targets();
        let mut prior: HashMap<(EntityKind, Lang, u8), usize> = HashMap::new();
        let mut truth: Vec<Edge> = Vec::new();
        let mut own_named = 0;
        for e in &g.edges {
            if !targets.contains(&e.relation) {
                continue;
            }
            let h = g.entity(e.head);
            match d.split.edge_part(g, e) {
                Part::Train => *prior.entry((h.kind, h.lang, e.relation)).or_default() += 1,
                p if p == part && d.split.entity_part(e.head) == part => {
                    let tail = names.of_entity[e.tail as usize];
                    // A tail named like its head (`__init__` calls a base's `__init__`) is left
                    // out: no system names the head's own name.
                    if tail == names.of_entity[e.head as usize] {
                        own_named += 1;
                    } else {
                        truth.push(Edge {
                            child: e.head,
                            relation: e.relation,
                            parent: tail,
                        });
                    }
                }
                _ => {}
            }
        }
        let mut heads: Vec<u32> = if every_head {
            g.entities
                .iter()
                .filter(|e| e.kind != EntityKind::External && e.kind != EntityKind::Module)
                .filter(|e| d.split.entity_part(e.id) == part)
                .filter(|e| {
                    targets
                        .iter()
                        .any(|&r| prior.get(&(e.kind, e.lang, r)).copied().unwrap_or(0) > 0)
                })
                .map(|e| e.id)
                .collect()
        } else {
            truth
                .iter()
                .map(|e| e.child)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        if max_heads > 0 {
            heads.truncate(max_heads);
        }
        let head_set: BTreeSet<u32> = heads.iter().copied().collect();
        truth.retain(|e| head_set.contains(&e.child));
        truth.sort_by_key(|e| (e.child, e.relation, e.parent));
        truth.dedup();
        let mut queries = Vec::new();
        for &h in &heads {
            let e = g.entity(h);
            for &r in &targets {
                if prior.get(&(e.kind, e.lang, r)).copied().unwrap_or(0) > 0 {
                    queries.push((h, r));
                }
            }
        }
        Self {
            heads,
            split: SeedSplit {
                held_out: truth,
                held_out_heads: head_set,
                ..Default::default()
            },
            queries,
            prior,
            own_named,
        }
    }

    /// The part's target edges as (head, relation, tail name).
    fn truth(&self) -> HashSet<(u32, u8, u32)> {
        self.split
            .held_out
            .iter()
            .map(|e| (e.child, e.relation, e.parent))
            .collect()
    }

    fn row(
        &self,
        d: &CodeData,
        names: &Names,
        name: &'static str,
        triples: &[Scored],
    ) -> RelationRow {
        let s: Scores = score(triples, &self.split);
        // Validity: some entity of the tail's name makes the triple obey the ontology.
        let mut by_name: HashMap<u32, Vec<u32>> = HashMap::new();
        for (e, &n) in names.of_entity.iter().enumerate() {
            by_name.entry(n).or_default().push(e as u32);
        }
        let unique: BTreeSet<(u32, u8, u32)> = triples
            .iter()
            .map(|t| (t.head, t.relation, t.tail))
            .collect();
        let valid = unique
            .iter()
            .filter(|(h, r, t)| {
                by_name
                    .get(t)
                    .into_iter()
                    .flatten()
                    .any(|&e| CodeOntology.valid(&d.graph, *h, *r, e))
            })
            .count();
        RelationRow {
            name,
            precision: s.precision,
            recall: s.recall,
            hits_at_1: s.hits_at_1,
            hits_at_10: s.hits_at_10,
            validity: if unique.is_empty() {
                0.0
            } else {
                valid as f64 / unique.len() as f64
            },
            triples: s.triples,
        }
    }
}

/// The top-k tokens at a masked leaf and their probabilities.
type TopTokens = Vec<(String, f32)>;

/// Each completed triple's top-k tokens.
type TokensOf = HashMap<(u32, u8, u32), TopTokens>;

/// How GraphMERT's relation completion picks its tails (flags of `code eval` and
/// `code extract`; `code tune` chooses them on the validation modules).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, clap::Args)]
pub struct CodeChoice {
    /// Names the head's own text mentions are candidates too, scored by the model at the
    /// masked leaf (each name only for the relation the model gives it the most probability
    /// for) with this bonus added to their mean log-probability; "off": only the names formed
    /// from the top-k tokens. The default was chosen by `code tune`.
    #[arg(long, default_value = "10", allow_negative_numbers = true)]
    pub mention: Mention,
    /// Keep a tail only if its score (mean log-probability, plus the mention bonus) is at
    /// least this; a very low value (-1000) keeps all. The default was chosen by `code tune`.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    pub min_score: f64,
}

impl Default for CodeChoice {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// `--mention`: off, or the bonus for a tail the head's text names (JSON: "off" or the
/// number).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mention {
    Off,
    Bonus(f64),
}

impl std::str::FromStr for Mention {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "off" {
            return Ok(Mention::Off);
        }
        match s.parse::<f64>() {
            Ok(b) if b.is_finite() => Ok(Mention::Bonus(b)),
            _ => Err(format!("must be \"off\" or a number, got {s:?}")),
        }
    }
}

impl Serialize for Mention {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Mention::Off => s.serialize_str("off"),
            Mention::Bonus(b) => s.serialize_f64(*b),
        }
    }
}

impl std::fmt::Display for Mention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mention::Off => write!(f, "off"),
            Mention::Bonus(b) => write!(f, "{b}"),
        }
    }
}

/// What the model says at one (head, relation) query's masked leaf: the top-k tokens, the
/// names formed from them, and the names the head's text mentions with their mean
/// log-probability under the whole distribution.
struct LeafOut {
    head: u32,
    relation: u8,
    top: TopTokens,
    formed: Vec<(f64, u32)>,
    mentioned: Vec<(f64, u32)>,
}

/// The names `text` mentions (words of letters, digits and `_`, longer than one character)
/// that are entity names other than `own`, in order of first mention.
fn mentioned_names(names: &Names, text: &str, own: u32) -> Vec<u32> {
    let mut seen = HashSet::new();
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.len() > 1)
        .filter_map(|w| names.id.get(w).copied())
        .filter(|&nm| nm != own && seen.insert(nm))
        .collect()
}

/// Runs GraphMERT on every query of `task`: one masked leaf per (head, relation).
fn leaf_outputs(
    run: &CodeRun,
    names: &Names,
    queries_of: &[(u32, u8)],
    top_k: usize,
) -> Result<Vec<LeafOut>> {
    let (model, corpus, d) = (&run.model, &run.corpus, &run.data);
    let layout = model.config.layout;
    let n = layout.nodes();
    let vocab = &corpus.vocab;
    // Names by their first token, per (relation, language), for the constrained tail search.
    let name_tokens: Vec<Vec<u32>> = names
        .names
        .iter()
        .map(|s| vocab.tokens(s))
        .collect::<Result<_>>()?;
    let mut by_first: HashMap<(u8, Lang), HashMap<u32, Vec<u32>>> = HashMap::new();
    for (&key, allowed) in &names.allowed {
        let m = by_first.entry(key).or_default();
        for &nm in allowed {
            let t = &name_tokens[nm as usize];
            if !t.is_empty() && t.len() <= layout.leaves {
                m.entry(t[0]).or_default().push(nm);
            }
        }
    }
    struct Query {
        head: u32,
        relation: u8,
        roots: Vec<u32>,
        len: usize,
        root: usize,
        head_len: usize,
        mentioned: Vec<u32>,
    }
    let mut queries = Vec::new();
    for &(h, r) in queries_of {
        let e = d.graph.entity(h);
        let seq = sequence(vocab, &layout, 0, e)?;
        let Some(o) = own_name(vocab, &seq, &corpus.tail_tokens[h as usize])
            .into_iter()
            .next()
        else {
            continue;
        };
        let own = names.of_entity[h as usize];
        let allowed = names.allowed.get(&(r, e.lang));
        let mentioned = mentioned_names(names, &e.text(), own)
            .into_iter()
            .filter(|nm| allowed.is_some_and(|a| a.contains(nm)))
            .filter(|&nm| !name_tokens[nm as usize].is_empty())
            .collect();
        queries.push(Query {
            head: h,
            relation: r,
            roots: seq.roots,
            len: seq.len,
            root: o.root,
            head_len: o.len.min(model.config.max_head_len),
            mentioned,
        });
    }
    let run_chunk = |chunk: &[Query]| -> Result<Vec<LeafOut>> {
        let mut tokens = Vec::with_capacity(chunk.len() * n);
        let mut attend = Vec::with_capacity(chunk.len() * n);
        let mut triples = Vec::new();
        let mut positions = Vec::new();
        for (b, q) in chunk.iter().enumerate() {
            let mut tok = vec![vocab.pad; n];
            let mut att = vec![0f32; n];
            for i in 0..layout.roots {
                tok[i] = q.roots[i];
                att[i] = (i < q.len) as u8 as f32;
            }
            let leaf = layout.leaf(q.root, 0);
            tok[leaf] = vocab.mask;
            att[leaf] = 1.0;
            tokens.extend(tok);
            attend.extend(att);
            triples.push(TripleSlot {
                b,
                root: q.root,
                head_len: q.head_len,
                relation: q.relation as usize,
            });
            positions.push((b * n + leaf) as u32);
        }
        let batch = GraphBatch {
            batch: chunk.len(),
            tokens,
            attend,
            triples,
        };
        let hidden = model.encode(&batch, &mut Mode::Eval)?;
        let probs = lvmkit_models::ops::softmax_last(&model.token_logits(&hidden, &positions)?)?;
        let probs: Vec<Vec<f32>> = probs.to_vec2()?;
        let mut out = Vec::new();
        for (q, p) in chunk.iter().zip(probs) {
            let top = top_tokens(&p, &vocab.special, top_k);
            let lang = d.graph.entity(q.head).lang;
            let own = names.of_entity[q.head as usize];
            let index = by_first.get(&(q.relation, lang));
            let formed = form_tails(
                &top,
                |t0| {
                    index
                        .and_then(|m| m.get(&t0))
                        .map_or(&[][..], Vec::as_slice)
                },
                |nm| &name_tokens[nm as usize],
                |nm| nm != own,
            );
            let mentioned = q
                .mentioned
                .iter()
                .map(|&nm| {
                    let toks = &name_tokens[nm as usize];
                    let lp = toks
                        .iter()
                        .map(|&t| (p[t as usize].max(1e-12) as f64).ln())
                        .sum::<f64>()
                        / toks.len() as f64;
                    (lp, nm)
                })
                .collect();
            out.push(LeafOut {
                head: q.head,
                relation: q.relation,
                top: top.iter().map(|(t, p)| (vocab.decode(&[*t]), *p)).collect(),
                formed,
                mentioned,
            });
        }
        Ok(out)
    };
    let parts: Vec<Result<Vec<LeafOut>>> = queries.par_chunks(32).map(run_chunk).collect();
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// GraphMERT's tails from its leaf outputs: the names formed from the top-k tokens, with
/// `choice.mention` the names the text mentions too (each only for the relation the model
/// gives it the most probability for, with the bonus), merged per (head, relation) at their
/// best score, those below `choice.min_score` dropped, the best `tails` kept.
fn choose(outs: &[LeafOut], choice: &CodeChoice, tails: usize) -> (Vec<Scored>, TokensOf) {
    // For each (head, mentioned name), the relation with the highest log-probability.
    let mut best_relation: HashMap<(u32, u32), (f64, u8)> = HashMap::new();
    if let Mention::Bonus(_) = choice.mention {
        for o in outs {
            for &(lp, nm) in &o.mentioned {
                let e = best_relation
                    .entry((o.head, nm))
                    .or_insert((f64::NEG_INFINITY, u8::MAX));
                if lp > e.0 || (lp == e.0 && o.relation < e.1) {
                    *e = (lp, o.relation);
                }
            }
        }
    }
    let mut triples = Vec::new();
    let mut tokens = HashMap::new();
    for o in outs {
        let mut score: HashMap<u32, f64> = HashMap::new();
        for &(lp, nm) in &o.formed {
            score.insert(nm, lp);
        }
        if let Mention::Bonus(bonus) = choice.mention {
            for &(lp, nm) in &o.mentioned {
                if best_relation[&(o.head, nm)].1 != o.relation {
                    continue;
                }
                let s = score.entry(nm).or_insert(f64::NEG_INFINITY);
                *s = s.max(lp) + bonus;
            }
        }
        let mut ranked: Vec<(f64, u32)> = score
            .into_iter()
            .filter(|&(_, s)| s >= choice.min_score)
            .map(|(nm, s)| (s, nm))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(s, nm) in ranked.iter().take(tails) {
            tokens.insert((o.head, o.relation, nm), o.top.clone());
            triples.push(Scored {
                head: o.head,
                relation: o.relation,
                tail: nm,
                score: s,
                seq: 0,
            });
        }
    }
    (triples, tokens)
}

/// Names the head's text mentions (other than its own), each with the relation its kind and
/// language most often have in training whose range allows the name; score = that share.
fn text_only(d: &CodeData, names: &Names, task: &Task, tails: usize) -> Vec<Scored> {
    let targets = targets();
    let mut out = Vec::new();
    for &h in &task.heads {
        let e = d.graph.entity(h);
        let own = names.of_entity[h as usize];
        let mut per_relation: HashMap<u8, usize> = HashMap::new();
        for (i, nm) in mentioned_names(names, &e.text(), own)
            .into_iter()
            .enumerate()
        {
            let total: usize = targets
                .iter()
                .map(|&r| task.prior.get(&(e.kind, e.lang, r)).copied().unwrap_or(0))
                .sum();
            let best = targets
                .iter()
                .filter(|&&r| {
                    names
                        .allowed
                        .get(&(r, e.lang))
                        .is_some_and(|a| a.contains(&nm))
                })
                .map(|&r| {
                    (
                        task.prior.get(&(e.kind, e.lang, r)).copied().unwrap_or(0),
                        r,
                    )
                })
                .filter(|(c, _)| *c > 0)
                .max_by_key(|&(c, r)| (c, std::cmp::Reverse(r)));
            if let Some((c, r)) = best {
                let n = per_relation.entry(r).or_insert(0usize);
                if *n >= tails {
                    continue;
                }
                *n += 1;
                out.push(Scored {
                    head: h,
                    relation: r,
                    tail: nm,
                    score: c as f64 / total.max(1) as f64 - i as f64 * 1e-6,
                    seq: 0,
                });
            }
        }
    }
    out
}

/// TransE on the training edges; for each query, the nearest tails whose names the relation
/// allows, as names.
fn graph_only(
    d: &CodeData,
    names: &Names,
    task: &Task,
    (epochs, seed, tails): (usize, u64, usize),
) -> Vec<Scored> {
    let g = &d.graph;
    let edges: Vec<Edge> = g
        .edges
        .iter()
        .filter(|e| d.split.edge_part(g, e) == Part::Train)
        .map(|e| Edge {
            child: e.head,
            relation: e.relation,
            parent: e.tail,
        })
        .collect();
    let (transe, _) = TransE::train_with_relations(
        g.entities.len(),
        RELATIONS.len(),
        &edges,
        &TransEConfig {
            epochs,
            seed,
            ..Default::default()
        },
    );
    task.queries
        .par_iter()
        .flat_map_iter(|&(h, r)| {
            let lang = g.entity(h).lang;
            let own = names.of_entity[h as usize];
            let allowed = names.allowed.get(&(r, lang));
            let mut cands: Vec<(f32, u32)> = g
                .entities
                .iter()
                .filter(|t| {
                    let nm = names.of_entity[t.id as usize];
                    nm != own && allowed.is_some_and(|a| a.contains(&nm))
                })
                .map(|t| (transe.distance(h, r, t.id), t.id))
                .collect();
            cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut seen = HashSet::new();
            cands
                .into_iter()
                .filter(|(_, t)| seen.insert(names.of_entity[*t as usize]))
                .take(tails)
                .map(|(dist, t)| Scored {
                    head: h,
                    relation: r,
                    tail: names.of_entity[t as usize],
                    score: -dist as f64,
                    seq: 0,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The tail names nearest the head's text with the sentence encoder, among those the relation
/// allows.
fn embedding(
    d: &CodeData,
    names: &Names,
    task: &Task,
    encoder: &lvmkit_encode::SentenceEncoder,
    tails: usize,
) -> Result<Vec<Scored>> {
    let opts = lvmkit_encode::EncodeOptions {
        progress: true,
        ..Default::default()
    };
    let texts: Vec<String> = task
        .heads
        .iter()
        .map(|&h| d.graph.entity(h).text())
        .collect();
    let hv = encoder.encode(&texts, &opts)?;
    let nv = encoder.encode(&names.names, &opts)?;
    let dim = encoder.dim();
    let row = |m: &[f32], i: usize| m[i * dim..(i + 1) * dim].to_vec();
    let head_row: HashMap<u32, usize> = task
        .heads
        .iter()
        .enumerate()
        .map(|(i, &h)| (h, i))
        .collect();
    Ok(task
        .queries
        .par_iter()
        .flat_map_iter(|&(h, r)| {
            let e = d.graph.entity(h);
            let own = names.of_entity[h as usize];
            let q = row(&hv, head_row[&h]);
            let mut cands: Vec<(f32, u32)> = names
                .allowed
                .get(&(r, e.lang))
                .into_iter()
                .flatten()
                .filter(|&&nm| nm != own)
                .map(|&nm| {
                    (
                        lvmkit_encode::cosine(&q, &nv[nm as usize * dim..(nm as usize + 1) * dim]),
                        nm,
                    )
                })
                .collect();
            cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            cands
                .into_iter()
                .take(tails)
                .map(|(c, nm)| Scored {
                    head: h,
                    relation: r,
                    tail: nm,
                    score: c as f64,
                    seq: 0,
                })
                .collect::<Vec<_>>()
        })
        .collect())
}

/// Scores a code run (see the module doc); writes OUT/eval.json and OUT/extracted.jsonl.
pub fn evaluate(
    data_dir: &lvmkit_sources::DataDir,
    run: &CodeRun,
    settings: &CodeEvalSettings,
    out: &Path,
) -> Result<CodeEvaluation> {
    let _lock = lvmkit_io::OutputLock::acquire(out, "GraphMERT code output folder")?;
    let d = &run.data;
    let part = match settings.on {
        Scoring::Test => Part::HeldOut,
        Scoring::Val => Part::Val,
    };
    let names = Names::new(d);
    let task = Task::new(d, &names, part, settings.max_heads, false);
    if task.heads.is_empty() {
        bail!("no {part:?} entity has a calls/raises/returns/inherits_from edge to complete");
    }
    tracing::info!(
        "relation completion for {} heads ({} queries)",
        task.heads.len(),
        task.queries.len()
    );
    let encoder = lvmkit_encode::SentenceEncoder::load(&data_dir.default_encoder())?;
    let outs = leaf_outputs(run, &names, &task.queries, settings.top_k)?;
    let (gm, tokens) = choose(&outs, &settings.choice, settings.tails);
    let systems: Vec<(&'static str, Vec<Scored>)> = vec![
        ("graphmert", gm),
        ("text_only", text_only(d, &names, &task, settings.tails)),
        (
            "graph_only",
            graph_only(
                d,
                &names,
                &task,
                (settings.transe_epochs, run.settings.seed, settings.tails),
            ),
        ),
        (
            "embedding",
            embedding(d, &names, &task, &encoder, settings.tails)?,
        ),
    ];
    let relations = systems
        .iter()
        .map(|(n, t)| task.row(d, &names, n, t))
        .collect();

    // Code search.
    // GraphMERT ranks with its search-tuned encoder when `code search-train` made one; the
    // pretrained encoder's row follows it.
    let search = d.search_task(part)?;
    let vocab = &run.corpus.vocab;
    let pretrained = retrieval::search_scores(&run.model, vocab, &search)?;
    let mut search_rows = Vec::new();
    if let Some(tuned) = retrieval::load(&run.dir)? {
        search_rows.push(SearchRow {
            name: "graphmert".into(),
            scores: retrieval::search_scores(&tuned, vocab, &search)?,
        });
        search_rows.push(SearchRow {
            name: "graphmert_pretrained".into(),
            scores: pretrained,
        });
    } else {
        search_rows.push(SearchRow {
            name: "graphmert".into(),
            scores: pretrained,
        });
    }
    search_rows.extend([
        SearchRow {
            name: "bm25".into(),
            scores: search.bm25(),
        },
        SearchRow {
            name: "encoder".into(),
            scores: search.encoder(&encoder)?,
        },
    ]);

    // Masked-token accuracy on the part's own sequences, its edges in the leaves (only the
    // relations the run injected in training). Every row is masked from this run's seed; the
    // two rows without leaves draw the very same masks.
    let kept: HashSet<u8> = run
        .corpus
        .report
        .injected
        .keys()
        .filter_map(|r| super::relation_index(r))
        .collect();
    let mut held = CodeCorpus::with_vocab(
        d,
        run.model.config.layout,
        run.corpus.vocab.tokenizer.clone(),
        1,
        part,
    )?;
    held.injected.retain(|t| kept.contains(&t.relation));
    let mut ids: Vec<usize> = (0..held.sequences.len()).collect();
    if settings.mlm_sequences > 0 {
        ids.truncate(settings.mlm_sequences);
    }
    let mut mlm = vec![MlmRow {
        name: "graphmert".into(),
        metrics: evaluate_sequences(&run.model, &held, &ids, &run.settings)?,
    }];
    if let Some(ablation) = &settings.ablation {
        let other = CodeRun::open(data_dir, ablation)?;
        if !other.options.run.no_leaves {
            bail!(
                "--ablation {}: not a run trained with --no-leaves",
                ablation.display()
            );
        }
        let (a, b) = (&other.options.data, &run.options.data);
        if a.sources != b.sources
            || a.seed != b.seed
            || a.held_out != b.held_out
            || a.val_held_out != b.val_held_out
            || other.options.run.vocab_size != run.options.run.vocab_size
        {
            bail!(
                "--ablation {}: made from other sources, split or vocabulary size than {}; train both with the same flags",
                ablation.display(),
                run.dir.display()
            );
        }
        let mut bare = CodeCorpus::with_vocab(
            d,
            run.model.config.layout,
            run.corpus.vocab.tokenizer.clone(),
            1,
            part,
        )?;
        bare.injected.clear();
        mlm.push(MlmRow {
            name: "graphmert_without_leaves".into(),
            metrics: evaluate_sequences(&run.model, &bare, &ids, &run.settings)?,
        });
        let mut other_bare = CodeCorpus::with_vocab(
            d,
            other.model.config.layout,
            other.corpus.vocab.tokenizer.clone(),
            1,
            part,
        )?;
        other_bare.injected.clear();
        mlm.push(MlmRow {
            name: "no_leaves".into(),
            metrics: evaluate_sequences(&other.model, &other_bare, &ids, &run.settings)?,
        });
    }

    let evaluation = CodeEvaluation {
        on: settings.on,
        heads: task.heads.len(),
        edges: task.split.held_out.len(),
        own_named_edges: task.own_named,
        relations,
        search: search_rows,
        search_queries: search.queries.len(),
        search_documents: search.documents.len(),
        mlm,
        mlm_sequences: ids.len(),
    };
    std::fs::create_dir_all(out)?;
    // The validation part's files never replace the held-out part's.
    let suffix = match settings.on {
        Scoring::Test => "",
        Scoring::Val => "_val",
    };
    lvmkit_io::write_json_atomic(
        &out.join(format!("eval{suffix}.json")),
        &evaluation.to_json(),
    )?;
    write_triples(
        &out.join(format!("extracted{suffix}.jsonl")),
        d,
        &names,
        &task,
        &systems[0].1,
        &tokens,
    )?;
    Ok(evaluation)
}

/// Writes GraphMERT's triples with their provenance, one JSON object a line.
fn write_triples(
    path: &Path,
    d: &CodeData,
    names: &Names,
    task: &Task,
    triples: &[Scored],
    tokens: &TokensOf,
) -> Result<()> {
    let truth = task.truth();
    lvmkit_io::write_atomic(path, |w| {
        for s in triples {
            let e = d.graph.entity(s.head);
            let row = CodeTriple {
                head: s.head,
                head_name: e.qualname.clone(),
                relation: RELATIONS[s.relation as usize],
                tail: names.names[s.tail as usize].clone(),
                score: s.score,
                held_out_edge: truth.contains(&(s.head, s.relation, s.tail)),
                file: e.file.clone(),
                line: e.line,
                text: e.text(),
                tokens: tokens
                    .get(&(s.head, s.relation, s.tail))
                    .cloned()
                    .unwrap_or_default(),
            };
            writeln!(w, "{}", serde_json::to_string(&row)?)?;
        }
        Ok(())
    })
}

/// What `graphmert code extract` did.
#[derive(Debug, Clone, Serialize)]
pub struct CodeExtraction {
    pub on: Scoring,
    /// Heads asked about (every function, method and class of the part).
    pub heads: usize,
    pub queries: usize,
    pub triples: usize,
    /// Triples that are one of the part's own edges (by tail name).
    pub held_out_edges_recovered: usize,
    pub choice: CodeChoice,
}

/// Completes the calls/raises/returns/inherits_from tails of every function, method and class
/// of the held-out (or validation) modules from its name, signature and doc; writes
/// OUT/triples.jsonl (with provenance) and extract.json.
pub fn extract(run: &CodeRun, settings: &CodeEvalSettings, out: &Path) -> Result<CodeExtraction> {
    let _lock = lvmkit_io::OutputLock::acquire(out, "GraphMERT code output folder")?;
    let d = &run.data;
    let part = match settings.on {
        Scoring::Test => Part::HeldOut,
        Scoring::Val => Part::Val,
    };
    let names = Names::new(d);
    let task = Task::new(d, &names, part, settings.max_heads, true);
    if task.heads.is_empty() {
        bail!("no {part:?} function, method or class to complete");
    }
    let outs = leaf_outputs(run, &names, &task.queries, settings.top_k)?;
    let (triples, tokens) = choose(&outs, &settings.choice, settings.tails);
    std::fs::create_dir_all(out)?;
    write_triples(
        &out.join("triples.jsonl"),
        d,
        &names,
        &task,
        &triples,
        &tokens,
    )?;
    let truth = task.truth();
    let x = CodeExtraction {
        on: settings.on,
        heads: task.heads.len(),
        queries: outs.len(),
        triples: triples.len(),
        held_out_edges_recovered: triples
            .iter()
            .filter(|s| truth.contains(&(s.head, s.relation, s.tail)))
            .count(),
        choice: settings.choice,
    };
    lvmkit_io::write_json_atomic(&out.join("extract.json"), &x)?;
    Ok(x)
}

/// `graphmert code tune`'s grid.
#[derive(Debug, Clone, clap::Args)]
pub struct CodeTuneGrid {
    /// Mention settings ("off" or a bonus).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "off,1,2,4,6,8,10,12,14,16"
    )]
    pub mention_grid: Vec<Mention>,
    /// Score thresholds (-1000: none).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "-1000,-0.5,-0.75,-1,-1.25,-1.5,-2,-2.5,-3,-4"
    )]
    pub min_score_grid: Vec<f64>,
}

impl Default for CodeTuneGrid {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// One setting of `graphmert code tune` and how GraphMERT scores with it on the validation
/// modules.
#[derive(Debug, Clone, Serialize)]
pub struct CodeTunePoint {
    pub choice: CodeChoice,
    /// GraphMERT's worst column (precision, recall, Hits@1, Hits@10) relative to the best
    /// baseline on it (> 1: above every baseline on all of them).
    pub worst_ratio: f64,
    pub worst_column: &'static str,
    pub row: RelationRow,
}

/// Chooses GraphMERT's tail choice on the validation modules, never the held-out ones: runs
/// the model on every query once, then scores every setting of `grid` next to the three
/// baselines and orders the settings by GraphMERT's worst column relative to the best
/// baseline on it. Writes OUT/tune.json; returns the points (best first) and the baselines.
pub fn tune(
    data_dir: &lvmkit_sources::DataDir,
    run: &CodeRun,
    settings: &CodeEvalSettings,
    grid: &CodeTuneGrid,
    out: &Path,
) -> Result<(Vec<CodeTunePoint>, Vec<RelationRow>)> {
    let _lock = lvmkit_io::OutputLock::acquire(out, "GraphMERT code output folder")?;
    let d = &run.data;
    let names = Names::new(d);
    let task = Task::new(d, &names, Part::Val, settings.max_heads, false);
    if task.heads.is_empty() {
        bail!(
            "the run's data has no validation heads with a calls/raises/returns/inherits_from edge"
        );
    }
    let encoder = lvmkit_encode::SentenceEncoder::load(&data_dir.default_encoder())?;
    let baselines = vec![
        task.row(
            d,
            &names,
            "text_only",
            &text_only(d, &names, &task, settings.tails),
        ),
        task.row(
            d,
            &names,
            "graph_only",
            &graph_only(
                d,
                &names,
                &task,
                (settings.transe_epochs, run.settings.seed, settings.tails),
            ),
        ),
        task.row(
            d,
            &names,
            "embedding",
            &embedding(d, &names, &task, &encoder, settings.tails)?,
        ),
    ];
    let columns = |r: &RelationRow| {
        [
            ("precision", r.precision),
            ("recall", r.recall),
            ("Hits@1", r.hits_at_1),
            ("Hits@10", r.hits_at_10),
        ]
    };
    let mut best = columns(&baselines[0]);
    for b in &baselines[1..] {
        for (x, (_, v)) in best.iter_mut().zip(columns(b)) {
            x.1 = x.1.max(v);
        }
    }
    let outs = leaf_outputs(run, &names, &task.queries, settings.top_k)?;
    let mut points = Vec::new();
    for &mention in &grid.mention_grid {
        for &min_score in &grid.min_score_grid {
            let choice = CodeChoice { mention, min_score };
            let (triples, _) = choose(&outs, &choice, settings.tails);
            let row = task.row(d, &names, "graphmert", &triples);
            let (worst_column, worst_ratio) = crate::evaluate::worst_ratio(&columns(&row), &best);
            points.push(CodeTunePoint {
                choice,
                worst_ratio,
                worst_column,
                row,
            });
        }
    }
    points.sort_by(|a, b| b.worst_ratio.total_cmp(&a.worst_ratio));
    let json = serde_json::json!({
        "on": "val",
        "heads": task.heads.len(),
        "edges": task.split.held_out.len(),
        "tails": settings.tails,
        "baselines": baselines,
        "points": points,
    });
    std::fs::create_dir_all(out)?;
    lvmkit_io::write_json_atomic(&out.join("tune.json"), &json)?;
    Ok((points, baselines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(head: u32, relation: u8, formed: &[(f64, u32)], mentioned: &[(f64, u32)]) -> LeafOut {
        LeafOut {
            head,
            relation,
            top: vec![("x".into(), 0.5)],
            formed: formed.to_vec(),
            mentioned: mentioned.to_vec(),
        }
    }

    fn picked(outs: &[LeafOut], mention: Mention, min_score: f64, tails: usize) -> Vec<(u8, u32)> {
        let (t, tokens) = choose(outs, &CodeChoice { mention, min_score }, tails);
        assert_eq!(tokens.len(), t.len());
        t.iter().map(|s| (s.relation, s.tail)).collect()
    }

    #[test]
    fn mentioned_names_go_to_the_relation_the_model_prefers_and_thresholds_only_remove() {
        // Name 7 is mentioned; the model gives it more probability as a `raises` tail (1)
        // than as a `calls` tail (0). Name 9 is formed from the top-k tokens for calls.
        let outs = [
            leaf(3, 0, &[(-1.0, 9), (-6.0, 5)], &[(-4.0, 7)]),
            leaf(3, 1, &[], &[(-2.0, 7)]),
        ];
        assert_eq!(picked(&outs, Mention::Off, -1000.0, 10), [(0, 9), (0, 5)]);
        assert_eq!(
            picked(&outs, Mention::Bonus(0.0), -1000.0, 10),
            [(0, 9), (0, 5), (1, 7)]
        );
        // The bonus moves the mentioned name up; the threshold drops the weak formed one.
        assert_eq!(
            picked(&outs, Mention::Bonus(3.0), -3.0, 10),
            [(0, 9), (1, 7)]
        );
        assert_eq!(
            picked(&outs, Mention::Bonus(3.0), -1000.0, 1),
            [(0, 9), (1, 7)]
        );
        // A name both formed and mentioned is one candidate, at its better score + bonus.
        let both = [leaf(3, 0, &[(-1.0, 7)], &[(-4.0, 7)])];
        let (t, _) = choose(
            &both,
            &CodeChoice {
                mention: Mention::Bonus(2.0),
                min_score: -1000.0,
            },
            10,
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].score, 1.0);
        assert_eq!("off".parse::<Mention>(), Ok(Mention::Off));
        assert_eq!("2.5".parse::<Mention>(), Ok(Mention::Bonus(2.5)));
        assert!("inf".parse::<Mention>().is_err());
    }
}
