//! Hold out part of the seed graph before anything is trained: whole heads' edge sets, so no
//! held-out triple has a sibling edge of its head in the injected graph.

use crate::go::{Edge, Ontology};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeedSplit {
    /// Edges that may be injected into training sequences.
    pub seed: Vec<Edge>,
    /// Edges never injected, used only to score extraction.
    pub held_out: Vec<Edge>,
    pub held_out_heads: BTreeSet<u32>,
    /// Edges of the validation heads: never injected and never scored with `held_out`; the
    /// extraction settings are chosen on them (`graphmert tune`, `graphmert eval --on val`).
    #[serde(default)]
    pub val: Vec<Edge>,
    #[serde(default)]
    pub val_heads: BTreeSet<u32>,
}

impl SeedSplit {
    /// The same split scored on some held-out heads only: their held-out edges, the same seed.
    pub fn restricted_to(&self, heads: &BTreeSet<u32>) -> Self {
        Self {
            seed: self.seed.clone(),
            held_out: self
                .held_out
                .iter()
                .filter(|e| heads.contains(&e.child))
                .copied()
                .collect(),
            held_out_heads: heads.intersection(&self.held_out_heads).copied().collect(),
            val: Vec::new(),
            val_heads: BTreeSet::new(),
        }
    }

    /// The validation heads in the place of the scored ones: their edges become `held_out`.
    pub fn validation(&self) -> Self {
        Self {
            seed: self.seed.clone(),
            held_out: self.val.clone(),
            held_out_heads: self.val_heads.clone(),
            val: Vec::new(),
            val_heads: BTreeSet::new(),
        }
    }
}

/// Move heads, in a seeded order, to the held-out side until it has at least `fraction` of
/// the edges, then the next ones to the validation side until both sides together have at
/// least `fraction + val_fraction` of them.
/// The held-out heads do not depend on `val_fraction`.
pub fn hold_out(ont: &Ontology, fraction: f64, val_fraction: f64, seed: u64) -> SeedSplit {
    let mut by_head: BTreeMap<u32, Vec<Edge>> = BTreeMap::new();
    for e in &ont.edges {
        by_head.entry(e.child).or_default().push(*e);
    }
    let mut heads: Vec<u32> = by_head.keys().copied().collect();
    heads.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let want = (fraction * ont.edges.len() as f64).round() as usize;
    let want_val = want + (val_fraction * ont.edges.len() as f64).round() as usize;
    let mut held_out_heads = BTreeSet::new();
    let mut val_heads = BTreeSet::new();
    let mut n = 0;
    for h in heads {
        if n < want {
            held_out_heads.insert(h);
        } else if n < want_val {
            val_heads.insert(h);
        } else {
            break;
        }
        n += by_head[&h].len();
    }
    let mut split = SeedSplit {
        seed: Vec::new(),
        held_out: Vec::new(),
        held_out_heads,
        val: Vec::new(),
        val_heads,
    };
    for e in &ont.edges {
        if split.held_out_heads.contains(&e.child) {
            split.held_out.push(*e);
        } else if split.val_heads.contains(&e.child) {
            split.val.push(*e);
        } else {
            split.seed.push(*e);
        }
    }
    split
}
