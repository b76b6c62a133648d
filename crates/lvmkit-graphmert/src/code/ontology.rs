//! The code graph's schema: for each relation, which kinds of entity it may join (its
//! domain and range, as kind pairs) and in which languages. ValidityScore counts the
//! extracted triples that obey it; every parsed edge does (a test checks it).

use super::{CodeGraph, EntityKind, Item, Lang};
use EntityKind::{Class, External, Function, Method, Module};

/// One relation's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationRule {
    pub relation: &'static str,
    /// The (head kind, tail kind) pairs allowed.
    pub pairs: &'static [(EntityKind, EntityKind)],
    /// The languages the relation exists in.
    pub langs: &'static [Lang],
    /// The tail, when parsed and a class, must be a trait (Rust `impl Trait for`,
    /// supertraits).
    pub tail_trait: bool,
}

const BOTH: &[Lang] = &[Lang::Python, Lang::Rust];

/// The rules, in [`RELATIONS`](super::RELATIONS) order.
pub const RULES: &[RelationRule] = &[
    RelationRule {
        relation: "contains",
        pairs: &[
            (Module, Module),
            (Module, Class),
            (Module, Function),
            (Class, Class),
        ],
        langs: BOTH,
        tail_trait: false,
    },
    RelationRule {
        relation: "defines",
        pairs: &[(Class, Method), (External, Method)],
        langs: BOTH,
        tail_trait: false,
    },
    RelationRule {
        relation: "imports",
        pairs: &[
            (Module, Module),
            (Module, Class),
            (Module, Function),
            (Module, External),
        ],
        langs: BOTH,
        tail_trait: false,
    },
    RelationRule {
        relation: "calls",
        pairs: &[
            (Function, Function),
            (Function, Method),
            (Function, External),
            (Method, Function),
            (Method, Method),
            (Method, External),
        ],
        langs: BOTH,
        tail_trait: false,
    },
    RelationRule {
        relation: "instantiates",
        pairs: &[(Function, Class), (Method, Class)],
        langs: BOTH,
        tail_trait: false,
    },
    RelationRule {
        relation: "inherits_from",
        pairs: &[(Class, Class), (Class, External)],
        langs: BOTH,
        tail_trait: false,
    },
    RelationRule {
        relation: "implements",
        pairs: &[
            (Class, Class),
            (Class, External),
            (External, Class),
            (External, External),
        ],
        langs: &[Lang::Rust],
        tail_trait: true,
    },
    RelationRule {
        relation: "raises",
        pairs: &[
            (Function, Class),
            (Function, External),
            (Method, Class),
            (Method, External),
        ],
        langs: &[Lang::Python],
        tail_trait: false,
    },
    RelationRule {
        relation: "returns",
        pairs: &[
            (Function, Class),
            (Function, External),
            (Method, Class),
            (Method, External),
        ],
        langs: BOTH,
        tail_trait: false,
    },
    RelationRule {
        relation: "decorated_by",
        pairs: &[
            (Function, Function),
            (Function, Method),
            (Function, Class),
            (Function, External),
            (Method, Function),
            (Method, Method),
            (Method, Class),
            (Method, External),
            (Class, Function),
            (Class, Method),
            (Class, Class),
            (Class, External),
        ],
        langs: &[Lang::Python],
        tail_trait: false,
    },
    RelationRule {
        relation: "tests",
        pairs: &[
            (Function, Function),
            (Function, Method),
            (Method, Function),
            (Method, Method),
        ],
        langs: BOTH,
        tail_trait: false,
    },
];

/// The schema of code graphs: [`RULES`], plus what holds for every relation: no self-loops,
/// head and tail in one language.
#[derive(Debug, Clone, Copy, Default)]
pub struct CodeOntology;

impl CodeOntology {
    /// The rule of a relation index.
    pub fn rule(&self, relation: u8) -> Option<&'static RelationRule> {
        RULES.get(relation as usize)
    }

    /// The kinds a relation's heads may have.
    pub fn domain(&self, relation: u8) -> Vec<EntityKind> {
        self.kinds(relation, |p| p.0)
    }

    /// The kinds a relation's tails may have.
    pub fn range(&self, relation: u8) -> Vec<EntityKind> {
        self.kinds(relation, |p| p.1)
    }

    fn kinds(
        &self,
        relation: u8,
        pick: fn(&(EntityKind, EntityKind)) -> EntityKind,
    ) -> Vec<EntityKind> {
        let mut out: Vec<EntityKind> = self
            .rule(relation)
            .map(|r| r.pairs.iter().map(pick).collect())
            .unwrap_or_default();
        out.sort();
        out.dedup();
        out
    }

    /// Why `head relation tail` breaks the schema, or None when it is valid.
    pub fn violation(
        &self,
        graph: &CodeGraph,
        head: u32,
        relation: u8,
        tail: u32,
    ) -> Option<String> {
        let (Some(h), Some(t)) = (
            graph.entities.get(head as usize),
            graph.entities.get(tail as usize),
        ) else {
            return Some(format!("no entity {head} or {tail}"));
        };
        let Some(rule) = self.rule(relation) else {
            return Some(format!("no relation {relation}"));
        };
        if head == tail {
            return Some(format!("self-loop on {}", h.qualname));
        }
        if h.lang != t.lang {
            return Some(format!(
                "{} and {} are in different languages",
                h.qualname, t.qualname
            ));
        }
        if !rule.langs.contains(&h.lang) {
            return Some(format!("{} has no {:?} edges", rule.relation, h.lang));
        }
        if !rule.pairs.contains(&(h.kind, t.kind)) {
            return Some(format!(
                "{} cannot join a {} ({}) to a {} ({})",
                rule.relation,
                h.kind.name(),
                h.qualname,
                t.kind.name(),
                t.qualname
            ));
        }
        if rule.tail_trait && t.kind == Class && t.item != Item::Trait {
            return Some(format!(
                "{} must name a trait, {} is a {}",
                rule.relation,
                t.qualname,
                t.item.name()
            ));
        }
        None
    }

    /// True when `head relation tail` obeys the schema (ValidityScore's test).
    pub fn valid(&self, graph: &CodeGraph, head: u32, relation: u8, tail: u32) -> bool {
        self.violation(graph, head, relation, tail).is_none()
    }

    /// Every edge of the graph that breaks the schema: its index and why.
    pub fn violations(&self, graph: &CodeGraph) -> Vec<(usize, String)> {
        graph
            .edges
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                self.violation(graph, e.head, e.relation, e.tail)
                    .map(|why| (i, why))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::RELATIONS;

    #[test]
    fn one_rule_per_relation_in_order() {
        assert_eq!(RULES.len(), RELATIONS.len());
        for (r, name) in RULES.iter().zip(RELATIONS) {
            assert_eq!(r.relation, *name);
        }
        let o = CodeOntology;
        assert_eq!(o.domain(3), vec![Function, Method]);
        assert_eq!(o.range(3), vec![Function, Method, External]);
    }

    #[test]
    fn checks_kinds_loops_languages_and_traits() {
        let g = CodeGraph::from_sources(&[
            ("py/m.py", "class A:\n    def f(self): pass\n"),
            ("rs/src/lib.rs", "pub struct S;\npub trait T {}\n"),
        ]);
        let id = |q: &str| g.find(q).unwrap().id;
        let o = CodeOntology;
        let calls = crate::code::relation_index("calls").unwrap();
        let defines = crate::code::relation_index("defines").unwrap();
        let implements = crate::code::relation_index("implements").unwrap();
        assert!(o.valid(&g, id("m.A"), defines, id("m.A.f")));
        assert!(
            !o.valid(&g, id("m.A.f"), defines, id("m.A")),
            "wrong direction"
        );
        assert!(!o.valid(&g, id("m.A.f"), calls, id("m.A.f")), "self-loop");
        assert!(
            !o.valid(&g, id("m.A"), calls, id("m.A.f")),
            "class cannot call"
        );
        assert!(
            !o.valid(&g, id("m.A"), implements, id("rs::T")),
            "two languages"
        );
        assert!(o.valid(&g, id("rs::S"), implements, id("rs::T")));
        assert!(
            !o.valid(&g, id("rs::T"), implements, id("rs::S")),
            "not a trait"
        );
        assert!(!o.valid(&g, id("m.A"), 200, id("m.A.f")));
        assert!(o.violations(&g).is_empty());
    }
}
