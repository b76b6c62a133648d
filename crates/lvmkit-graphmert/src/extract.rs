//! Extraction: for a head found in a sequence and a relation allowed for it, put [MASK] in
//! leaf 0 of the head's root (every other leaf empty), tell H-GAT the relation, and read the
//! model's top-k tokens there. Tails are then formed from GO's own term names (no language
//! model is available offline): a name qualifies only if every one of its WordPiece tokens is
//! among the top k, and names are ranked by the mean log-probability of their tokens. A
//! similarity filter (the sentence encoder, "head relation tail" against the sequence) drops
//! triples the text does not support. Every triple keeps its provenance.

use crate::go::{Namespace, Relation, RELATIONS};
use crate::inject::HeadOccurrence;
use crate::model::{GraphBatch, Graphmert, TripleSlot};
use crate::score::Scored;
use crate::GraphData;
use anyhow::Result;
use lvmkit_models::nn::Mode;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};

/// How tails are formed (also the CLI's flags).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, clap::Args)]
pub struct ExtractOptions {
    /// Tokens read at the masked leaf (the paper: 20).
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    /// Tails kept per (sequence, head, relation), after the similarity filter. The defaults of
    /// this and the ranking flags below were chosen with `graphmert tune` on the validation
    /// heads of the default run (README, GraphMERT).
    #[arg(long, default_value_t = 2)]
    pub tails: usize,
    /// Candidate tails formed per (sequence, head, relation) before the similarity filter and
    /// the ranking, the likeliest first.
    #[arg(long, default_value_t = 10)]
    pub candidates: usize,
    /// Preference for specific tails: added to a tail's score per level of depth in the seed
    /// graph (is_a/part_of steps up to a root).
    #[arg(long, default_value_t = 0.5)]
    pub specificity: f64,
    /// Added to the score of a tail whose name the sequence itself contains.
    #[arg(long, default_value_t = 3.0)]
    pub mention: f64,
    /// Drop a candidate tail when another candidate of the same query is below it in the seed
    /// graph (is_a/part_of): keep the most specific of a chain.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub drop_general: bool,
    /// Queries per forward pass.
    #[arg(long = "extract-batch", default_value_t = 32)]
    pub batch: usize,
    /// Ask about a relation for a head only if seed heads of its namespace whose names start
    /// with the same word (see [`RelationProposer`]) use it in at least this share of their
    /// edges (offline stand-in for the paper's LLM relation proposals); 0: every relation the
    /// namespaces allow.
    #[arg(long, default_value_t = 0.05)]
    pub relation_share: f64,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// One extracted triple and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Extracted {
    pub seq: usize,
    pub text: String,
    pub head: u32,
    pub head_name: String,
    pub relation: String,
    pub tail: u32,
    pub tail_name: String,
    /// The ranking score: the mean log-probability of the tail's tokens at the masked leaf
    /// (`log_prob`), plus the specificity and mention terms when they are on.
    pub score: f64,
    /// Mean log-probability of the tail's tokens at the masked leaf.
    #[serde(default)]
    pub log_prob: f64,
    /// The top-k tokens and their probabilities.
    pub tokens: Vec<(String, f32)>,
    /// Cosine between "head relation tail" and the sequence (filled by the similarity filter).
    pub similarity: Option<f32>,
}

impl Extracted {
    pub fn scored(&self) -> Scored {
        Scored {
            head: self.head,
            relation: RELATIONS
                .iter()
                .position(|r| *r == self.relation)
                .expect("extracted relations are GO's") as Relation,
            tail: self.tail,
            score: self.score,
            seq: self.seq,
        }
    }
}

/// Which relations to ask the model about for a head. The paper has a language model propose
/// them from the sentence; offline, the seed graph does: a relation is proposed when the seed
/// edges of heads of the same namespace whose names start with the same word ("regulation",
/// "positive", "mitochondrial", ...) use it at least `min_share` of the time, backing off to
/// the whole namespace when fewer than `MIN_HEADS` seed heads share the word. In GO the
/// regulates family comes almost only from "regulation of ..." terms, which this captures.
pub struct RelationProposer {
    by_word: HashMap<(Namespace, String), (usize, [usize; RELATIONS.len()])>,
    by_namespace: HashMap<Namespace, [usize; RELATIONS.len()]>,
    min_share: f64,
}

impl RelationProposer {
    const MIN_HEADS: usize = 20;

    pub fn new(data: &GraphData, min_share: f64) -> Self {
        let ont = &data.ontology;
        let mut by_word: HashMap<(Namespace, String), (usize, [usize; RELATIONS.len()])> =
            HashMap::new();
        let mut by_namespace: HashMap<Namespace, [usize; RELATIONS.len()]> = HashMap::new();
        let mut heads = HashSet::new();
        for e in &data.split.seed {
            let term = &ont.terms[e.child as usize];
            let entry = by_word
                .entry((term.namespace, first_word(&term.name)))
                .or_default();
            entry.0 += usize::from(heads.insert(e.child));
            entry.1[e.relation as usize] += 1;
            by_namespace.entry(term.namespace).or_default()[e.relation as usize] += 1;
        }
        Self {
            by_word,
            by_namespace,
            min_share,
        }
    }

    /// The relations proposed for `head`, in GO's order.
    pub fn propose(&self, data: &GraphData, head: u32) -> Vec<Relation> {
        let term = &data.ontology.terms[head as usize];
        if self.min_share <= 0.0 {
            return (0..RELATIONS.len() as Relation).collect();
        }
        let counts = match self.by_word.get(&(term.namespace, first_word(&term.name))) {
            Some((heads, c)) if *heads >= Self::MIN_HEADS => Some(c),
            _ => self.by_namespace.get(&term.namespace),
        };
        let Some(counts) = counts else {
            return Vec::new();
        };
        let total: usize = counts.iter().sum();
        (0..RELATIONS.len())
            .filter(|&r| counts[r] > 0 && counts[r] as f64 >= self.min_share * total as f64)
            .map(|r| r as Relation)
            .collect()
    }
}

fn first_word(name: &str) -> String {
    name.split_whitespace().next().unwrap_or("").to_lowercase()
}

/// Top-k extraction for the given head occurrences, each with the relations the
/// [`RelationProposer`] proposes for it: up to `opts.candidates` tails per query, the likeliest
/// first, for [`select`] to rank and cut after the similarity filter. Batches run in parallel
/// (rayon); the output keeps the occurrences' order, a query's candidates together.
pub fn extract(
    model: &Graphmert,
    data: &GraphData,
    occurrences: &[HeadOccurrence],
    opts: &ExtractOptions,
    progress: bool,
) -> Result<Vec<Extracted>> {
    let ont = &data.ontology;
    let layout = model.config.layout;
    let n = layout.nodes();
    let ns = |t: u32| ont.terms[t as usize].namespace;
    // Which relations a head's namespace may have, and into which namespaces: the seed graph's.
    let mut allowed: HashMap<(Namespace, Relation), BTreeSet<Namespace>> = HashMap::new();
    for e in &data.split.seed {
        allowed
            .entry((ns(e.child), e.relation))
            .or_default()
            .insert(ns(e.parent));
    }
    // Term names by their tokens, for the constrained tail search.
    let names: Vec<Vec<u32>> = ont
        .terms
        .iter()
        .map(|t| data.vocab.tokens(&t.name))
        .collect::<Result<_>>()?;
    let mut by_token: HashMap<u32, Vec<u32>> = HashMap::new();
    for (t, toks) in names.iter().enumerate() {
        if !toks.is_empty() && toks.len() <= layout.leaves {
            by_token.entry(toks[0]).or_default().push(t as u32);
        }
    }
    let proposer = RelationProposer::new(data, opts.relation_share);
    let mut queries: Vec<(&HeadOccurrence, Relation)> = Vec::new();
    for o in occurrences {
        for r in proposer.propose(data, o.term) {
            if allowed.contains_key(&(ns(o.term), r)) {
                queries.push((o, r));
            }
        }
    }
    let bar = if progress {
        let b = indicatif::ProgressBar::new(queries.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "extracting [{bar:30}] {pos}/{len} (head, relation) queries, {per_sec}, ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let run = |chunk: &[(&HeadOccurrence, Relation)]| -> Result<Vec<Extracted>> {
        let mut out = Vec::new();
        let mut tokens = Vec::with_capacity(chunk.len() * n);
        let mut attend = Vec::with_capacity(chunk.len() * n);
        let mut triples = Vec::new();
        let mut positions = Vec::new();
        for (b, (o, r)) in chunk.iter().enumerate() {
            let seq = &data.sequences[o.seq];
            let mut tok = vec![data.vocab.pad; n];
            let mut att = vec![0f32; n];
            for i in 0..layout.roots {
                tok[i] = seq.roots[i];
                att[i] = (i < seq.len) as u8 as f32;
            }
            let leaf = layout.leaf(o.root, 0);
            tok[leaf] = data.vocab.mask;
            att[leaf] = 1.0;
            tokens.extend(tok);
            attend.extend(att);
            triples.push(TripleSlot {
                b,
                root: o.root,
                head_len: o.len.min(model.config.max_head_len),
                relation: *r as usize,
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
        for ((o, r), p) in chunk.iter().zip(probs) {
            let top = top_tokens(&p, &data.vocab.special, opts.top_k);
            let tail_ns = &allowed[&(ns(o.term), *r)];
            let cands = form_tails(
                &top,
                |t0| by_token.get(&t0).map_or(&[][..], Vec::as_slice),
                |term| &names[term as usize],
                |term| term != o.term && tail_ns.contains(&ns(term)),
            );
            let seq = &data.sequences[o.seq];
            for &(score, tail) in cands.iter().take(opts.candidates.max(opts.tails)) {
                out.push(Extracted {
                    seq: o.seq,
                    text: seq.text.clone(),
                    head: o.term,
                    head_name: ont.terms[o.term as usize].name.clone(),
                    relation: RELATIONS[*r as usize].to_string(),
                    tail,
                    tail_name: ont.terms[tail as usize].name.clone(),
                    score,
                    log_prob: score,
                    tokens: top
                        .iter()
                        .map(|(t, p)| (data.vocab.decode(&[*t]), *p))
                        .collect(),
                    similarity: None,
                });
            }
        }
        bar.inc(chunk.len() as u64);
        Ok(out)
    };
    let parts: Vec<Result<Vec<Extracted>>> =
        queries.par_chunks(opts.batch.max(1)).map(run).collect();
    bar.finish_and_clear();
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// The `k` likeliest tokens that are not special (at least one), likeliest first (ties: lower
/// id first).
pub fn top_tokens(probs: &[f32], special: &[bool], k: usize) -> Vec<(u32, f32)> {
    let mut top: Vec<(u32, f32)> = probs
        .iter()
        .enumerate()
        .filter(|(i, _)| !special[*i])
        .map(|(i, &v)| (i as u32, v))
        .collect();
    let k = k.min(top.len()).max(1);
    top.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
    top.truncate(k);
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    top
}

/// The paper's tail forming with a closed set of names: every name (found through
/// `starting_with(first token)`) whose tokens are all among `top`, and that `keep` accepts,
/// scored by the mean log-probability of its tokens; best first (ties: lower id first).
pub fn form_tails<'a>(
    top: &[(u32, f32)],
    starting_with: impl Fn(u32) -> &'a [u32],
    tokens_of: impl Fn(u32) -> &'a [u32],
    keep: impl Fn(u32) -> bool,
) -> Vec<(f64, u32)> {
    let in_top: HashMap<u32, f32> = top.iter().copied().collect();
    let mut cands: Vec<(f64, u32)> = Vec::new();
    let mut seen = HashSet::new();
    for &(t0, _) in top {
        for &name in starting_with(t0) {
            if !keep(name) || !seen.insert(name) {
                continue;
            }
            let toks = tokens_of(name);
            if toks.iter().all(|t| in_top.contains_key(t)) {
                let lp = toks
                    .iter()
                    .map(|t| (in_top[t].max(1e-12) as f64).ln())
                    .sum::<f64>()
                    / toks.len() as f64;
                cands.push((lp, name));
            }
        }
    }
    cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    cands
}

/// Where each term sits in the seed graph's is_a/part_of hierarchy: its parents and its depth
/// (fewest steps up to a term without parents). Only seed edges are read, never held-out ones.
pub struct Hierarchy {
    parents: HashMap<u32, Vec<u32>>,
    depth: Vec<u32>,
}

impl Hierarchy {
    pub fn new(data: &GraphData) -> Self {
        const IS_A: Relation = 0;
        const PART_OF: Relation = 1;
        let mut parents: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for e in &data.split.seed {
            if e.relation == IS_A || e.relation == PART_OF {
                parents.entry(e.child).or_default().push(e.parent);
                children.entry(e.parent).or_default().push(e.child);
            }
        }
        // Breadth-first down from every term without parents.
        let n = data.ontology.terms.len();
        let mut depth = vec![u32::MAX; n];
        let mut queue = std::collections::VecDeque::new();
        for t in 0..n as u32 {
            if !parents.contains_key(&t) {
                depth[t as usize] = 0;
                queue.push_back(t);
            }
        }
        while let Some(t) = queue.pop_front() {
            for &c in children.get(&t).into_iter().flatten() {
                if depth[c as usize] == u32::MAX {
                    depth[c as usize] = depth[t as usize] + 1;
                    queue.push_back(c);
                }
            }
        }
        Self { parents, depth }
    }

    /// Steps up to a root (0 for a term the seed graph gives no parent).
    pub fn depth(&self, term: u32) -> u32 {
        match self.depth[term as usize] {
            u32::MAX => 0,
            d => d,
        }
    }

    /// Every is_a/part_of ancestor of `term` in the seed graph.
    pub fn ancestors(&self, term: u32) -> HashSet<u32> {
        let mut seen = HashSet::new();
        let mut stack = vec![term];
        while let Some(t) = stack.pop() {
            for &p in self.parents.get(&t).into_iter().flatten() {
                if seen.insert(p) {
                    stack.push(p);
                }
            }
        }
        seen
    }
}

/// Whether `text` names `name` as whole words (case-insensitive).
fn mentions(text: &str, name: &str) -> bool {
    let (text, name) = (text.to_lowercase(), name.to_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    text.match_indices(&name).any(|(i, _)| {
        !word(text[..i].chars().next_back()) && !word(text[i + name.len()..].chars().next())
    })
}

/// Ranks and cuts each query's candidates (consecutive rows of [`extract`]'s output with the
/// same sequence, head and relation, already through the similarity filter): score = mean
/// log-probability + `specificity` × depth + `mention` if the sequence names the tail. An is_a
/// or part_of tail that the seed graph puts below the head is dropped (it would close a
/// cycle); with `drop_general`, so is a tail that is an ancestor of another candidate of the
/// query; then the best `tails` stay.
pub fn select(
    data: &GraphData,
    hierarchy: &Hierarchy,
    candidates: &[Extracted],
    opts: &ExtractOptions,
) -> Vec<Extracted> {
    let mut out = Vec::new();
    // One query per (sequence, head, relation), whichever occurrence of the head formed a
    // candidate; a tail formed twice keeps its likelier copy.
    type Query<'a> = (usize, u32, &'a str);
    let mut groups: Vec<(Query, Vec<&Extracted>)> = Vec::new();
    let mut index: HashMap<Query, usize> = HashMap::new();
    for x in candidates {
        let key = (x.seq, x.head, x.relation.as_str());
        let i = *index.entry(key).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        let group = &mut groups[i].1;
        match group.iter_mut().find(|y| y.tail == x.tail) {
            Some(y) if x.log_prob > y.log_prob => *y = x,
            Some(_) => {}
            None => group.push(x),
        }
    }
    for (_, group) in &groups {
        let mut ranked: Vec<Extracted> = group
            .iter()
            .map(|&x| {
                let mut x = x.clone();
                x.score = x.log_prob
                    + opts.specificity * hierarchy.depth(x.tail) as f64
                    + if opts.mention != 0.0 && mentions(&data.sequences[x.seq].text, &x.tail_name)
                    {
                        opts.mention
                    } else {
                        0.0
                    };
                x
            })
            .collect();
        // A tail below the head in the seed graph would close a cycle: never kept.
        let below_head: HashSet<u32> = match group.first().copied() {
            Some(x) if x.relation == RELATIONS[0] || x.relation == RELATIONS[1] => {
                let head = x.head;
                ranked
                    .iter()
                    .filter(|c| hierarchy.ancestors(c.tail).contains(&head))
                    .map(|c| c.tail)
                    .collect()
            }
            _ => HashSet::new(),
        };
        ranked.retain(|x| !below_head.contains(&x.tail));
        if opts.drop_general && ranked.len() > 1 {
            let below: HashSet<u32> = ranked
                .iter()
                .flat_map(|x| hierarchy.ancestors(x.tail))
                .collect();
            ranked.retain(|x| !below.contains(&x.tail));
        }
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.tail.cmp(&b.tail)));
        ranked.truncate(opts.tails);
        out.extend(ranked);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn mentions_are_whole_words() {
        assert!(mentions("A Protein Complex that binds", "protein complex"));
        assert!(mentions("binds DNA.", "DNA"));
        assert!(!mentions("a proteinaceous complex", "protein"));
        assert!(!mentions("nucleus", "nucleu"));
    }
}
