//! Scoring extracted triples against the held-out GO edges, and the text-only baseline.
//!
//! Ground truth is complete only for held-out heads (all of their edges were held out), so
//! precision and Hits@k look at triples whose head is a held-out head; recall is over every
//! held-out edge.

use crate::go::{Edge, Namespace, Ontology, Relation, RELATIONS};
use crate::inject::HeadOccurrence;
use crate::split::SeedSplit;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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

/// Precision that also counts what GO implies: a judged triple (held-out head) is right when
/// it is a held-out edge, or when the full ontology (`edges`: seed and held-out) entails it by
/// GO's composition rules for its two structural relations: a chain of is_a edges entails
/// is_a; a chain of is_a and part_of edges with at least one part_of entails part_of. So
/// "UTP-C complex is_a protein-containing complex", true through a more specific parent, counts
/// here and not in [`score`]'s precision. Regulation triples count only when exact.
pub fn implied_precision(extracted: &[Scored], split: &SeedSplit, edges: &[Edge]) -> f64 {
    const IS_A: Relation = 0;
    const PART_OF: Relation = 1;
    let mut up: HashMap<u32, Vec<(u32, bool)>> = HashMap::new();
    for e in edges {
        if e.relation == IS_A || e.relation == PART_OF {
            up.entry(e.child)
                .or_default()
                .push((e.parent, e.relation == PART_OF));
        }
    }
    // Every (ancestor, reached through a part_of) from a head.
    let closure = |head: u32| -> HashSet<(u32, bool)> {
        let mut seen = HashSet::new();
        let mut stack = vec![(head, false)];
        while let Some((node, part)) = stack.pop() {
            for &(parent, is_part) in up.get(&node).into_iter().flatten() {
                let next = (parent, part || is_part);
                if seen.insert(next) {
                    stack.push(next);
                }
            }
        }
        seen
    };
    let truth: HashSet<(u32, Relation, u32)> = split
        .held_out
        .iter()
        .map(|e| (e.child, e.relation, e.parent))
        .collect();
    let judged: BTreeSet<(u32, Relation, u32)> = extracted
        .iter()
        .filter(|t| split.held_out_heads.contains(&t.head))
        .map(|t| (t.head, t.relation, t.tail))
        .collect();
    if judged.is_empty() {
        return 0.0;
    }
    let mut cache: HashMap<u32, HashSet<(u32, bool)>> = HashMap::new();
    let right = judged
        .iter()
        .filter(|&&(h, r, t)| {
            truth.contains(&(h, r, t))
                || match r {
                    IS_A => cache
                        .entry(h)
                        .or_insert_with(|| closure(h))
                        .contains(&(t, false)),
                    PART_OF => cache
                        .entry(h)
                        .or_insert_with(|| closure(h))
                        .contains(&(t, true)),
                    _ => false,
                }
        })
        .count();
    right as f64 / judged.len() as f64
}

/// Graded precision: each judged triple (held-out head) earns 1/(1 + d), where d is the
/// ontology distance from its tail to the nearest held-out tail of the same head and relation:
/// the fewest is_a/part_of steps from both up to a common ancestor in the full ontology
/// (`edges`), 0 for the exact tail, 1 for a parent or child of it, 2 for a sibling or
/// grandparent. A tail more than [`GRADED_MAX_STEPS`] steps away, or a relation the head has no
/// held-out edge for, or a tail below the head itself, earns 0. So a true but more general
/// parent earns part of a point, and an unrelated term none.
pub fn graded_precision(extracted: &[Scored], split: &SeedSplit, edges: &[Edge]) -> f64 {
    const IS_A: Relation = 0;
    const PART_OF: Relation = 1;
    let mut up: HashMap<u32, Vec<u32>> = HashMap::new();
    for e in edges {
        if e.relation == IS_A || e.relation == PART_OF {
            up.entry(e.child).or_default().push(e.parent);
        }
    }
    // Steps up from a term to each ancestor within the limit (itself at 0).
    let steps_up = |term: u32| -> HashMap<u32, u32> {
        let mut dist = HashMap::from([(term, 0)]);
        let mut frontier = vec![term];
        for d in 1..=GRADED_MAX_STEPS {
            let mut next = Vec::new();
            for t in frontier {
                for &p in up.get(&t).into_iter().flatten() {
                    if let std::collections::hash_map::Entry::Vacant(v) = dist.entry(p) {
                        v.insert(d);
                        next.push(p);
                    }
                }
            }
            frontier = next;
        }
        dist
    };
    let mut truth: HashMap<(u32, Relation), Vec<u32>> = HashMap::new();
    for e in &split.held_out {
        truth
            .entry((e.child, e.relation))
            .or_default()
            .push(e.parent);
    }
    let judged: BTreeSet<(u32, Relation, u32)> = extracted
        .iter()
        .filter(|t| split.held_out_heads.contains(&t.head))
        .map(|t| (t.head, t.relation, t.tail))
        .collect();
    if judged.is_empty() {
        return 0.0;
    }
    let mut cache: HashMap<u32, HashMap<u32, u32>> = HashMap::new();
    let mut total = 0.0;
    for &(h, r, t) in &judged {
        let Some(tails) = truth.get(&(h, r)) else {
            continue;
        };
        // A tail below its own head (a cycle) would reach the held-out tail through the head's
        // own edge: no credit.
        if cache
            .entry(t)
            .or_insert_with(|| steps_up(t))
            .contains_key(&h)
        {
            continue;
        }
        let mut best = u32::MAX;
        for &want in tails {
            for term in [t, want] {
                cache.entry(term).or_insert_with(|| steps_up(term));
            }
            let (a, b) = (&cache[&t], &cache[&want]);
            if let Some(d) = a
                .iter()
                .filter_map(|(c, da)| b.get(c).map(|db| da + db))
                .min()
            {
                best = best.min(d);
            }
        }
        if best <= GRADED_MAX_STEPS {
            total += 1.0 / (1.0 + best as f64);
        }
    }
    total / judged.len() as f64
}

/// How far (in is_a/part_of steps through a common ancestor) a tail may be from the held-out
/// one and still earn part of a point in [`graded_precision`].
pub const GRADED_MAX_STEPS: u32 = 4;

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
            ..Default::default()
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

    #[test]
    fn graded_precision_counts_steps_through_a_common_ancestor() {
        let e = |child, relation, parent| Edge {
            child,
            relation,
            parent,
        };
        // 5 is_a 6 (held out); 6 is_a 7; 8 is_a 7 (6's sibling); 7 is_a 9; 11 is_a 12 (unrelated).
        let split = SeedSplit {
            seed: vec![e(6, 0, 7), e(8, 0, 7), e(7, 0, 9), e(11, 0, 12)],
            held_out: vec![e(5, 0, 6)],
            held_out_heads: BTreeSet::from([5]),
            ..Default::default()
        };
        let all: Vec<Edge> = split.seed.iter().chain(&split.held_out).copied().collect();
        let one = |relation, tail| {
            vec![Scored {
                head: 5,
                relation,
                tail,
                score: 1.0,
                seq: 0,
            }]
        };
        let g = |relation, tail| graded_precision(&one(relation, tail), &split, &all);
        assert_eq!(g(0, 6), 1.0); // exact
        assert_eq!(g(0, 7), 0.5); // the parent: one step
        assert_eq!(g(0, 8), 1.0 / 3.0); // a sibling: two steps
        assert_eq!(g(0, 9), 1.0 / 3.0); // the grandparent
        assert_eq!(g(0, 11), 0.0); // no common ancestor
        assert_eq!(g(1, 6), 0.0); // no held-out part_of edge for this head
                                  // Averaged over distinct judged triples; other heads are not judged.
        let mut two = one(0, 6);
        two.extend(one(0, 7));
        two.push(Scored {
            head: 8,
            relation: 0,
            tail: 7,
            score: 1.0,
            seq: 0,
        });
        assert_eq!(graded_precision(&two, &split, &all), 0.75);
    }

    #[test]
    fn implied_precision_follows_gos_composition_rules() {
        let e = |child, relation, parent| Edge {
            child,
            relation,
            parent,
        };
        // 5 is_a 6 (held out), 6 is_a 7, 7 part_of 8, 8 is_a 9; 5 regulates 10 (held out).
        let split = SeedSplit {
            seed: vec![e(6, 0, 7), e(7, 1, 8), e(8, 0, 9)],
            held_out: vec![e(5, 0, 6), e(5, 2, 10)],
            held_out_heads: BTreeSet::from([5]),
            ..Default::default()
        };
        let all: Vec<Edge> = split.seed.iter().chain(&split.held_out).copied().collect();
        let s = |relation, tail| Scored {
            head: 5,
            relation,
            tail,
            score: 0.0,
            seq: 0,
        };
        let p = |x: &[Scored]| implied_precision(x, &split, &all);
        assert_eq!(p(&[s(0, 6)]), 1.0); // exact
        assert_eq!(p(&[s(0, 7)]), 1.0); // is_a ∘ is_a
        assert_eq!(p(&[s(0, 8)]), 0.0); // through part_of: not is_a
        assert_eq!(p(&[s(1, 8)]), 1.0); // is_a ∘ is_a ∘ part_of
        assert_eq!(p(&[s(1, 9)]), 1.0); // … ∘ is_a after the part_of
        assert_eq!(p(&[s(1, 7)]), 0.0); // no part_of on the way
        assert_eq!(p(&[s(2, 10)]), 1.0); // regulation: exact only
        assert_eq!(p(&[s(2, 7)]), 0.0);
        assert_eq!(p(&[s(0, 7), s(0, 11)]), 0.5);
    }
}
