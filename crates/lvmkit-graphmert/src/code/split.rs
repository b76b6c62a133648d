//! Hold out whole modules before anything is trained: a held-out module goes with every class,
//! function and method defined in it, so no held-out entity has a sibling in training, and its
//! edges are scored, never seen.

use super::{CodeEdge, CodeGraph, EntityKind};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Which side of the split something is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Part {
    Train,
    /// Validation: never trained on, never scored with the held-out part; settings are chosen
    /// on it.
    Val,
    /// Held out: scored only.
    HeldOut,
}

/// Modules (and their entities) held out, and the validation ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CodeSplit {
    pub held_out_modules: BTreeSet<u32>,
    /// The held-out modules and everything defined in them.
    pub held_out_entities: BTreeSet<u32>,
    pub val_modules: BTreeSet<u32>,
    pub val_entities: BTreeSet<u32>,
    /// Parsed (non-External) entities in the graph.
    pub parsed_entities: usize,
}

impl CodeSplit {
    /// The part of an entity; externals are shared names, in training.
    pub fn entity_part(&self, id: u32) -> Part {
        if self.held_out_entities.contains(&id) {
            Part::HeldOut
        } else if self.val_entities.contains(&id) {
            Part::Val
        } else {
            Part::Train
        }
    }

    /// The module an edge belongs to: its head's, or its tail's when the head is an External
    /// (`u32 defines fmt`); None when neither is parsed.
    pub fn edge_module(graph: &CodeGraph, e: &CodeEdge) -> Option<u32> {
        graph
            .entity(e.head)
            .module
            .or_else(|| graph.entity(e.tail).module)
    }

    /// The part of an edge: its module's ([`CodeSplit::edge_module`]). A training function's
    /// call to a held-out one stays in training: it says nothing of the held-out function's own
    /// edges, text or body.
    pub fn edge_part(&self, graph: &CodeGraph, e: &CodeEdge) -> Part {
        match Self::edge_module(graph, e) {
            Some(m) if self.held_out_modules.contains(&m) => Part::HeldOut,
            Some(m) if self.val_modules.contains(&m) => Part::Val,
            _ => Part::Train,
        }
    }

    /// True for the edges of held-out modules.
    pub fn is_held_out(&self, graph: &CodeGraph, e: &CodeEdge) -> bool {
        self.edge_part(graph, e) == Part::HeldOut
    }

    /// The share of parsed entities held out.
    pub fn held_out_fraction(&self) -> f64 {
        self.held_out_entities.len() as f64 / self.parsed_entities.max(1) as f64
    }
}

/// Moves modules, in a seeded shuffled order, to the held-out side until it has at least
/// `fraction` of the parsed (non-External) entities, then the next ones to the validation
/// side until it has `val_fraction` of them. The held-out modules do not depend on
/// `val_fraction`.
pub fn hold_out_modules(
    graph: &CodeGraph,
    fraction: f64,
    val_fraction: f64,
    seed: u64,
) -> CodeSplit {
    let mut members: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for e in &graph.entities {
        if let Some(m) = e.module {
            members.entry(m).or_default().push(e.id);
        }
    }
    let parsed = graph
        .entities
        .iter()
        .filter(|e| e.kind != EntityKind::External)
        .count();
    let mut modules: Vec<u32> = members.keys().copied().collect();
    modules.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let want = (fraction * parsed as f64).ceil() as usize;
    let want_val = (val_fraction * parsed as f64).ceil() as usize;
    let mut split = CodeSplit {
        parsed_entities: parsed,
        ..CodeSplit::default()
    };
    for m in modules {
        let (ms, es) = if split.held_out_entities.len() < want {
            (&mut split.held_out_modules, &mut split.held_out_entities)
        } else if split.val_entities.len() < want_val {
            (&mut split.val_modules, &mut split.val_entities)
        } else {
            break;
        };
        ms.insert(m);
        es.extend(members[&m].iter().copied());
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> CodeGraph {
        let srcs: Vec<(String, String)> = (0..20)
            .map(|i| {
                let body: String = (0..=i % 4)
                    .map(|j| format!("def f{j}():\n    return g{j}()\n"))
                    .collect();
                (
                    format!("py/m{i:02}.py"),
                    format!("class C{i}:\n    def m(self): pass\n{body}"),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = srcs.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
        CodeGraph::from_sources(&refs)
    }

    #[test]
    fn whole_modules_at_least_the_fraction_and_repeatable() {
        let g = graph();
        let s = hold_out_modules(&g, 0.2, 0.1, 7);
        assert!(s.held_out_fraction() >= 0.2, "{}", s.held_out_fraction());
        assert!(s.val_entities.len() as f64 >= 0.1 * s.parsed_entities as f64);
        assert!(s.held_out_modules.is_disjoint(&s.val_modules));
        for e in &g.entities {
            let Some(m) = e.module else {
                assert_eq!(s.entity_part(e.id), Part::Train, "externals are shared");
                continue;
            };
            // Whole modules: an entity is where its module is.
            assert_eq!(s.entity_part(e.id), s.entity_part(m), "{}", e.qualname);
        }
        for e in &g.edges {
            let head_part = s.entity_part(e.head);
            if g.entity(e.head).module.is_some() {
                assert_eq!(s.edge_part(&g, e), head_part);
            }
        }
        let again = hold_out_modules(&g, 0.2, 0.1, 7);
        assert_eq!(again.held_out_modules, s.held_out_modules);
        assert_eq!(again.val_modules, s.val_modules);
        let other = hold_out_modules(&g, 0.2, 0.1, 8);
        assert_ne!(
            other.held_out_modules, s.held_out_modules,
            "the seed matters"
        );
        let no_val = hold_out_modules(&g, 0.2, 0.0, 7);
        assert_eq!(no_val.held_out_modules, s.held_out_modules);
        assert!(no_val.val_modules.is_empty());
        assert!(hold_out_modules(&g, 0.0, 0.0, 7)
            .held_out_entities
            .is_empty());
    }
}
