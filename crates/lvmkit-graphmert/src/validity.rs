//! ValidityScore by the ontology's own rules, with no language-model judge: a triple is valid
//! when
//! - head and tail differ (no self-loops);
//! - its relation joins the namespaces it joins somewhere in the seed graph (GO never says a
//!   molecular function `is_a` cellular component; the allowed pairs are read off the seed
//!   graph, not typed in);
//! - an `is_a` triple closes no cycle with the seed graph's `is_a` edges (nor with the other
//!   `is_a` triples being scored, taken in order).

use crate::go::{Edge, Namespace, Ontology, Relation, RELATIONS};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

const IS_A: Relation = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Valid,
    SelfLoop,
    /// The relation never joins these namespaces in the seed graph.
    Namespaces,
    /// An is_a edge that would make the is_a graph cyclic.
    Cycle,
}

pub struct ValidityRules {
    allowed: HashSet<(Relation, Namespace, Namespace)>,
    namespace: Vec<Namespace>,
    /// is_a children → parents, growing as valid is_a triples are accepted.
    is_a: HashMap<u32, Vec<u32>>,
}

impl ValidityRules {
    pub fn new(ont: &Ontology, seed: &[Edge]) -> Self {
        let namespace: Vec<Namespace> = ont.terms.iter().map(|t| t.namespace).collect();
        let allowed = seed
            .iter()
            .map(|e| {
                (
                    e.relation,
                    namespace[e.child as usize],
                    namespace[e.parent as usize],
                )
            })
            .collect();
        let mut is_a: HashMap<u32, Vec<u32>> = HashMap::new();
        for e in seed.iter().filter(|e| e.relation == IS_A) {
            is_a.entry(e.child).or_default().push(e.parent);
        }
        Self {
            allowed,
            namespace,
            is_a,
        }
    }

    /// Whether `to` is reachable from `from` along is_a edges.
    fn reaches(&self, from: u32, to: u32) -> bool {
        let mut stack = vec![from];
        let mut seen = HashSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n) {
                stack.extend(self.is_a.get(&n).into_iter().flatten());
            }
        }
        false
    }

    /// Judge one triple; an accepted is_a triple joins the graph later triples are checked
    /// against.
    pub fn judge(&mut self, head: u32, relation: Relation, tail: u32) -> Verdict {
        if head == tail {
            return Verdict::SelfLoop;
        }
        let (hn, tn) = (self.namespace[head as usize], self.namespace[tail as usize]);
        if !self.allowed.contains(&(relation, hn, tn)) {
            return Verdict::Namespaces;
        }
        if relation == IS_A {
            // head is_a tail closes a cycle iff tail already reaches head.
            if self.reaches(tail, head) {
                return Verdict::Cycle;
            }
            self.is_a.entry(head).or_default().push(tail);
        }
        Verdict::Valid
    }

    /// The (relation, head namespace, tail namespace) combinations the seed graph uses.
    pub fn allowed(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .allowed
            .iter()
            .map(|(r, h, t)| {
                format!(
                    "{} {} {}",
                    h.long_name(),
                    RELATIONS[*r as usize],
                    t.long_name()
                )
            })
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::go::Term;

    fn term(name: &str, ns: Namespace) -> Term {
        Term {
            go_id: name.into(),
            name: name.into(),
            namespace: ns,
            definition: None,
            synonyms: Vec::new(),
        }
    }

    #[test]
    fn self_loops_foreign_namespaces_and_is_a_cycles_are_invalid() {
        use Namespace::*;
        let terms = vec![
            term("a", BP),
            term("b", BP),
            term("c", BP),
            term("f", MF),
            term("x", CC),
        ];
        let e = |child, relation, parent| Edge {
            child,
            relation,
            parent,
        };
        // a is_a b is_a c; f part_of ... nothing; x has no edges.
        let seed = vec![e(0, 0, 1), e(1, 0, 2), e(3, 2, 0)]; // f regulates a (MF → BP)
        let ont = Ontology::from_parts(terms, seed.clone());
        let mut rules = ValidityRules::new(&ont, &seed);
        assert_eq!(rules.judge(0, 0, 0), Verdict::SelfLoop);
        // is_a between BP terms is allowed, but c is_a a closes a → b → c → a.
        assert_eq!(rules.judge(2, 0, 0), Verdict::Cycle);
        // a is_a c is fine (already implied).
        assert_eq!(rules.judge(0, 0, 2), Verdict::Valid);
        // BP is_a CC never occurs in the seed graph.
        assert_eq!(rules.judge(0, 0, 4), Verdict::Namespaces);
        // MF regulates BP does.
        assert_eq!(rules.judge(3, 2, 1), Verdict::Valid);
        // Accepted is_a triples count for later ones: b is_a ... c is_a b would now cycle.
        assert_eq!(rules.judge(2, 0, 1), Verdict::Cycle);
        assert!(rules
            .allowed()
            .contains(&"molecular_function regulates biological_process".to_string()));
    }
}
