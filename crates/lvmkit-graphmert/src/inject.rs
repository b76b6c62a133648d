//! From the ontology to training sequences: each term with a definition becomes one sequence
//! ("name: definition", WordPiece-tokenised into the roots); heads are found in the roots by
//! exact token match of term names and synonyms; seed triples are injected into the leaves.

use crate::chain::ChainLayout;
use crate::go::{Edge, Ontology, Relation};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tokenizers::Tokenizer;

/// The WordPiece vocabulary and what GraphMERT needs to know about each token.
pub struct Vocab {
    pub tokenizer: Tokenizer,
    pub size: usize,
    pub cls: u32,
    pub sep: u32,
    pub pad: u32,
    pub mask: u32,
    /// Not a "##" continuation, and starts with a letter or digit: a span may start here.
    pub word_start: Vec<bool>,
    /// A "##" continuation piece.
    pub continuation: Vec<bool>,
    pub special: Vec<bool>,
}

impl Vocab {
    /// The encoder's own tokenizer (`tokenizer.json` of a sentence-transformers folder).
    pub fn load(encoder_dir: &Path) -> Result<Self> {
        let path = encoder_dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Self::from_tokenizer(tokenizer, &path.display().to_string())
    }

    /// A WordPiece tokenizer with [CLS], [SEP], [PAD] and [MASK] (`what` names it in errors).
    pub fn from_tokenizer(mut tokenizer: Tokenizer, what: &str) -> Result<Self> {
        tokenizer
            .with_truncation(None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tokenizer.with_padding(None);
        let size = tokenizer.get_vocab_size(true);
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .with_context(|| format!("{what} has no {t} token"))
        };
        let (cls, sep, pad, mask) = (id("[CLS]")?, id("[SEP]")?, id("[PAD]")?, id("[MASK]")?);
        let mut word_start = vec![false; size];
        let mut continuation = vec![false; size];
        let mut special = vec![false; size];
        for i in 0..size as u32 {
            let Some(t) = tokenizer.id_to_token(i) else {
                continue;
            };
            let cont = t.starts_with("##");
            continuation[i as usize] = cont;
            word_start[i as usize] = !cont && t.chars().next().is_some_and(|c| c.is_alphanumeric());
            special[i as usize] = t.starts_with('[') && t.ends_with(']');
        }
        Ok(Self {
            tokenizer,
            size,
            cls,
            sep,
            pad,
            mask,
            word_start,
            continuation,
            special,
        })
    }

    /// Token ids of `text`, lowercased, without special tokens.
    pub fn tokens(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text.to_lowercase(), false)
            .map_err(|e| anyhow::anyhow!("tokenisation failed: {e}"))?
            .get_ids()
            .to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, true).unwrap_or_default()
    }
}

/// One training (or extraction) sequence: a term's name and definition in the roots.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sequence {
    pub id: usize,
    /// The term whose definition this is.
    pub term: u32,
    pub text: String,
    /// [CLS] tokens… [SEP], then [PAD] up to R.
    pub roots: Vec<u32>,
    /// Roots that are not padding.
    pub len: usize,
}

/// A term name or synonym found in a sequence's roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadOccurrence {
    pub seq: usize,
    /// Root index of the head's first token.
    pub root: usize,
    /// Number of head tokens.
    pub len: usize,
    pub term: u32,
}

/// Builds sequences, one per term with a definition, truncated to R roots.
pub fn sequences(ont: &Ontology, vocab: &Vocab, layout: &ChainLayout) -> Result<Vec<Sequence>> {
    if layout.roots < 8 {
        bail!("a sequence needs at least 8 roots, got {}", layout.roots);
    }
    let mut out = Vec::new();
    for (t, term) in ont.terms.iter().enumerate() {
        let Some(def) = &term.definition else {
            continue;
        };
        let text = format!("{}: {}", term.name, def);
        let mut roots = vec![vocab.cls];
        let toks = vocab.tokens(&text)?;
        roots.extend(toks.iter().take(layout.roots - 2));
        roots.push(vocab.sep);
        let len = roots.len();
        roots.resize(layout.roots, vocab.pad);
        out.push(Sequence {
            id: out.len(),
            term: t as u32,
            text,
            roots,
            len,
        });
    }
    Ok(out)
}

/// Exact token-sequence matching of every term name and synonym, at word boundaries, longest
/// first, without overlaps.
pub struct HeadMatcher {
    by_first: HashMap<u32, Vec<(Vec<u32>, u32)>>,
}

impl HeadMatcher {
    pub fn new(ont: &Ontology, vocab: &Vocab) -> Result<Self> {
        let mut by_first: HashMap<u32, Vec<(Vec<u32>, u32)>> = HashMap::new();
        for (t, term) in ont.terms.iter().enumerate() {
            for name in std::iter::once(&term.name).chain(&term.synonyms) {
                let toks = vocab.tokens(name)?;
                if toks.is_empty() {
                    continue;
                }
                by_first.entry(toks[0]).or_default().push((toks, t as u32));
            }
        }
        for v in by_first.values_mut() {
            // Longest first; a name shared by several terms keeps the lowest term id.
            v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
            v.dedup_by(|a, b| a.0 == b.0);
        }
        Ok(Self { by_first })
    }

    pub fn find(&self, seq: &Sequence, vocab: &Vocab) -> Vec<HeadOccurrence> {
        let roots = &seq.roots[..seq.len];
        let mut out = Vec::new();
        let mut i = 1; // after [CLS]
        while i + 1 < roots.len() {
            let mut advanced = false;
            if vocab.word_start[roots[i] as usize] {
                if let Some(cands) = self.by_first.get(&roots[i]) {
                    for (toks, term) in cands {
                        let end = i + toks.len();
                        // Must end at a word end: the next root is not a "##" piece.
                        if end < roots.len()
                            && roots[i..end] == toks[..]
                            && !vocab.continuation[roots[end] as usize]
                        {
                            out.push(HeadOccurrence {
                                seq: seq.id,
                                root: i,
                                len: toks.len(),
                                term: *term,
                            });
                            i = end;
                            advanced = true;
                            break;
                        }
                    }
                }
            }
            if !advanced {
                i += 1;
            }
        }
        out
    }
}

/// A seed triple placed in a sequence: the tail's tokens fill the leaves of the head's first
/// root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedTriple {
    pub seq: usize,
    pub root: usize,
    pub head_len: usize,
    pub head: u32,
    pub relation: Relation,
    pub tail: u32,
    pub tail_tokens: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InjectionReport {
    /// Head occurrences found in the roots.
    pub head_occurrences: usize,
    /// Occurrences with at least one seed triple whose tail fits the leaves.
    pub with_candidates: usize,
    /// Seed triples skipped because the tail has more tokens than there are leaves.
    pub tails_too_long: usize,
    /// Candidate triples per relation (before the rule).
    pub candidates: BTreeMap<String, usize>,
    /// Injected triples per relation.
    pub injected: BTreeMap<String, usize>,
    /// Relations dropped for having fewer than `min_per_relation` examples.
    pub dropped_relations: Vec<String>,
    pub min_per_relation: usize,
}

/// The paper's injection rule, without its external similarity scores:
/// - relations with fewer than `min_per_relation` candidates are dropped;
/// - one triple per head occurrence;
/// - among an occurrence's candidates the rarest relation wins (so frequent relations such as
///   is_a do not crowd the others out), then the tail injected least so far, then the lowest
///   term id (deterministic);
/// - relations left with fewer than `min_per_relation` injections are dropped again.
///
/// `relations` names the domain's relations (GO's [`RELATIONS`](crate::RELATIONS), or code's), indexed by
/// [`Edge::relation`].
pub fn inject(
    occurrences: &[HeadOccurrence],
    seed: &[Edge],
    tail_tokens: &[Vec<u32>],
    layout: &ChainLayout,
    min_per_relation: usize,
    relations: &[&str],
) -> (Vec<InjectedTriple>, InjectionReport) {
    let mut by_head: HashMap<u32, Vec<&Edge>> = HashMap::new();
    for e in seed {
        by_head.entry(e.child).or_default().push(e);
    }
    let fits = |e: &Edge| {
        let n = tail_tokens[e.parent as usize].len();
        n > 0 && n <= layout.leaves
    };
    let mut rel_candidates = vec![0usize; relations.len()];
    let mut tails_too_long = 0;
    let mut with_candidates = 0;
    for o in occurrences {
        let mut any = false;
        for e in by_head.get(&o.term).into_iter().flatten() {
            if fits(e) {
                rel_candidates[e.relation as usize] += 1;
                any = true;
            } else {
                tails_too_long += 1;
            }
        }
        with_candidates += any as usize;
    }
    let allowed = |r: Relation| rel_candidates[r as usize] >= min_per_relation;
    let mut tail_uses: HashMap<u32, usize> = HashMap::new();
    let mut triples = Vec::new();
    for o in occurrences {
        let best = by_head
            .get(&o.term)
            .into_iter()
            .flatten()
            .filter(|e| fits(e) && allowed(e.relation))
            .min_by_key(|e| {
                (
                    rel_candidates[e.relation as usize],
                    tail_uses.get(&e.parent).copied().unwrap_or(0),
                    e.parent,
                )
            });
        if let Some(e) = best {
            *tail_uses.entry(e.parent).or_default() += 1;
            triples.push(InjectedTriple {
                seq: o.seq,
                root: o.root,
                head_len: o.len,
                head: o.term,
                relation: e.relation,
                tail: e.parent,
                tail_tokens: tail_tokens[e.parent as usize].clone(),
            });
        }
    }
    let mut injected = vec![0usize; relations.len()];
    for t in &triples {
        injected[t.relation as usize] += 1;
    }
    triples.retain(|t| injected[t.relation as usize] >= min_per_relation);
    let dropped_relations = (0..relations.len())
        .filter(|&r| !allowed(r as Relation) || injected[r] < min_per_relation)
        .map(|r| relations[r].to_string())
        .collect();
    let mut report_injected = BTreeMap::new();
    for t in &triples {
        *report_injected
            .entry(relations[t.relation as usize].to_string())
            .or_insert(0) += 1;
    }
    let report = InjectionReport {
        head_occurrences: occurrences.len(),
        with_candidates,
        tails_too_long,
        candidates: (0..relations.len())
            .map(|r| (relations[r].to_string(), rel_candidates[r]))
            .collect(),
        injected: report_injected,
        dropped_relations,
        min_per_relation,
    };
    (triples, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(child: u32, relation: Relation, parent: u32) -> Edge {
        Edge {
            child,
            relation,
            parent,
        }
    }

    #[test]
    fn one_triple_per_occurrence_rarest_relation_first_and_thin_relations_dropped() {
        let layout = ChainLayout {
            roots: 16,
            leaves: 3,
        };
        // Terms 0..4 are heads; 10.. are tails. Tail 13 has 4 tokens: too long for 3 leaves.
        let mut tails = vec![vec![]; 20];
        for (t, toks) in tails.iter_mut().enumerate().skip(10) {
            *toks = vec![100 + t as u32];
        }
        tails[13] = vec![1, 2, 3, 4];
        let seed = vec![
            edge(0, 0, 10), // is_a
            edge(0, 1, 11), // part_of (rarer)
            edge(1, 0, 10),
            edge(1, 0, 12),
            edge(2, 0, 13), // too long
            edge(2, 0, 12),
            edge(3, 1, 11),
            edge(4, 2, 14), // regulates: one example only
        ];
        let occ = |seq, term| HeadOccurrence {
            seq,
            root: 1,
            len: 1,
            term,
        };
        let occurrences = vec![
            occ(0, 0),
            occ(1, 1),
            occ(5, 1),
            occ(2, 2),
            occ(3, 3),
            occ(4, 4),
        ];
        let (triples, report) = inject(&occurrences, &seed, &tails, &layout, 2, &crate::RELATIONS);
        assert_eq!(report.tails_too_long, 1);
        // part_of has 2 candidates, is_a 6: head 0 gets part_of.
        assert_eq!(
            (triples[0].head, triples[0].relation, triples[0].tail),
            (0, 1, 11)
        );
        // Head 1 twice: its tails are spread (10 first, then 12, the least used).
        let head1: Vec<u32> = triples
            .iter()
            .filter(|t| t.head == 1)
            .map(|t| t.tail)
            .collect();
        assert_eq!(head1, vec![10, 12]);
        // regulates had one candidate (< 2): dropped, nothing injected for head 4.
        assert!(triples.iter().all(|t| t.head != 4));
        assert!(report.dropped_relations.contains(&"regulates".to_string()));
        assert_eq!(report.injected["part_of"], 2);
        assert_eq!(report.injected["is_a"], 3);
        assert_eq!(triples.len(), 5);
    }
}
