//! Scoring extracted triples against the held-out GO edges, and the text-only baseline.
//!
//! Ground truth is complete only for held-out heads (all of their edges were held out), so
//! precision and Hits@k look at triples whose head is a held-out head; recall is over every
//! held-out edge.

use crate::go::{Edge, Namespace, Ontology, Relation, RELATIONS};
use crate::inject::HeadOccurrence;
use crate::split::SeedSplit;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One extracted triple with its score (higher is more confident) and source sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub head: u32,
    pub relation: Relation,
    pub tail: u32,
    pub score: f64,
    pub seq: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    #[serde(rename = "hits@1")]
    pub hits_at_1: f64,
    #[serde(rename = "hits@10")]
    pub hits_at_10: f64,
    /// Unique (head, relation, tail) triples extracted.
    pub triples: usize,
    /// Of those, not in the seed graph.
    pub new_triples: usize,
    /// Of those, already in the seed graph (restating what was injected).
    pub restated: usize,
}

/// Precision, recall and Hits@k of `extracted` against the held-out edges.
pub fn score(extracted: &[Scored], split: &SeedSplit) -> Scores {
    // Best score per unique triple.
    let mut best: HashMap<(u32, Relation, u32), f64> = HashMap::new();
    for t in extracted {
        let e = best.entry((t.head, t.relation, t.tail)).or_insert(f64::MIN);
        *e = e.max(t.score);
    }
    let truth: HashSet<(u32, Relation, u32)> = split
        .held_out
        .iter()
        .map(|e| (e.child, e.relation, e.parent))
        .collect();
    let seed: HashSet<(u32, Relation, u32)> = split
        .seed
        .iter()
        .map(|e| (e.child, e.relation, e.parent))
        .collect();
    let judged: Vec<_> = best
        .keys()
        .filter(|k| split.held_out_heads.contains(&k.0))
        .collect();
    let correct = judged.iter().filter(|k| truth.contains(k)).count();
    // Hits@k: rank of each held-out tail among the extracted tails for its (head, relation).
    let mut ranked: HashMap<(u32, Relation), Vec<(f64, u32)>> = HashMap::new();
    for (&(h, r, t), &s) in &best {
        ranked.entry((h, r)).or_default().push((s, t));
    }
    for v in ranked.values_mut() {
        v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    }
    let (mut h1, mut h10) = (0, 0);
    for &(h, r, t) in &truth {
        if let Some(pos) = ranked
            .get(&(h, r))
            .and_then(|v| v.iter().position(|x| x.1 == t))
        {
            h1 += (pos < 1) as usize;
            h10 += (pos < 10) as usize;
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let restated = best.keys().filter(|k| seed.contains(k)).count();
    Scores {
        precision: div(correct, judged.len()),
        recall: div(correct, truth.len()),
        hits_at_1: div(h1, truth.len()),
        hits_at_10: div(h10, truth.len()),
        triples: best.len(),
        new_triples: best.len() - restated,
        restated,
    }
}

/// The text-only baseline: every other GO term named in a head's sequence is a tail, with the
/// relation the seed graph uses most often between those namespaces; the score is that
/// relation's share there (ties: the earlier mention first).
pub fn text_only(ont: &Ontology, seed: &[Edge], occurrences: &[HeadOccurrence]) -> Vec<Scored> {
    let ns = |t: u32| ont.terms[t as usize].namespace;
    let mut prior: BTreeMap<(Namespace, Namespace), [usize; RELATIONS.len()]> = BTreeMap::new();
    for e in seed {
        prior.entry((ns(e.child), ns(e.parent))).or_default()[e.relation as usize] += 1;
    }
    let mut by_seq: BTreeMap<usize, Vec<&HeadOccurrence>> = BTreeMap::new();
    for o in occurrences {
        by_seq.entry(o.seq).or_default().push(o);
    }
    let mut out = Vec::new();
    for (seq, occ) in by_seq {
        for h in &occ {
            for (i, t) in occ.iter().enumerate() {
                if t.term == h.term {
                    continue;
                }
                let Some(counts) = prior.get(&(ns(h.term), ns(t.term))) else {
                    continue;
                };
                let total: usize = counts.iter().sum();
                let (r, &c) = counts
                    .iter()
                    .enumerate()
                    .max_by_key(|(r, c)| (**c, std::cmp::Reverse(*r)))
                    .expect("RELATIONS is not empty");
                out.push(Scored {
                    head: h.term,
                    relation: r as Relation,
                    tail: t.term,
                    // Earlier mentions first among equal priors.
                    score: c as f64 / total as f64 - i as f64 * 1e-6,
                    seq,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn precision_recall_and_hits_count_what_they_should() {
        let e = |child, relation, parent| Edge {
            child,
            relation,
            parent,
        };
        let split = SeedSplit {
            seed: vec![e(1, 0, 2)],
            held_out: vec![e(5, 0, 6), e(5, 1, 7), e(8, 0, 9)],
            held_out_heads: BTreeSet::from([5, 8]),
        };
        let s = |head, relation, tail, score| Scored {
            head,
            relation,
            tail,
            score,
            seq: 0,
        };
        let extracted = vec![
            s(5, 0, 3, 0.9), // wrong, ranked above the right one
            s(5, 0, 6, 0.8), // right, rank 2
            s(5, 0, 6, 0.1), // duplicate, lower score: ignored
            s(5, 1, 7, 0.5), // right, rank 1
            s(1, 0, 2, 0.7), // restates the seed graph (head not held out: not judged)
            s(4, 0, 2, 0.7), // new, head not held out: not judged
        ];
        let sc = score(&extracted, &split);
        assert_eq!(sc.triples, 5);
        assert_eq!(sc.restated, 1);
        assert_eq!(sc.new_triples, 4);
        assert!((sc.precision - 2.0 / 3.0).abs() < 1e-12); // 2 right of 3 judged
        assert!((sc.recall - 2.0 / 3.0).abs() < 1e-12); // 2 of 3 held-out edges
        assert!((sc.hits_at_1 - 1.0 / 3.0).abs() < 1e-12); // only (5, part_of, 7) at rank 1
        assert!((sc.hits_at_10 - 2.0 / 3.0).abs() < 1e-12);
    }
}
