//! GraphMERT on source code: entities and relations parsed from real source trees.
//!
//! [`CodeGraph::parse_roots`] walks source folders (the pinned `python-stdlib`,
//! `python-stdlib-core` and `rust-stdlib` sources, or any folder a user points at), parses every
//! `.py` and `.rs` file with tree-sitter and builds one knowledge graph of code entities and the
//! relations between them, each edge with its provenance (file, line, source text).
//! [`CodeOntology`] is its schema (which kinds of entity each relation joins), [`hold_out_modules`]
//! its split by whole modules.
//!
//! Files, one concept each:
//! - [`graph`]: the graph, walking the roots, and resolving names to entities.
//! - `python`, `rust`: what one file says (definitions, imports, references), per language;
//!   `syntax`: what they share (the per-file facts, tree-sitter helpers).
//! - [`ontology`]: the domain/range rules, the ValidityScore check.
//! - [`split`]: holding out whole modules before anything is trained.
//! - [`corpus`]: GraphMERT's training data in this domain: a WordPiece vocabulary, one sequence
//!   per entity of the training modules, seed triples injected at the entity's own name.
//! - [`run`]: `lvmkit graphmert code train` (the one trainer GO uses) and opening a code run.
//! - [`eval`]: `lvmkit graphmert code eval`: relation completion from the natural-language side,
//!   code search and masked-token accuracy on held-out modules, next to their baselines.
//! - [`data`]: `lvmkit graphmert code data`: the graph of some source trees with its split, the
//!   files it writes, and the code-search task with its BM25 and sentence-encoder baselines.
//!
//! # Entities
//!
//! - **Module**: one per file. Python: the dotted path from the root (`json/decoder.py` →
//!   `json.decoder`, a package's `__init__.py` is the package). Rust: `crate::a::b` from the path
//!   below the last `src/` folder, the crate named by the folder above it (`core/src/option.rs` →
//!   `core::option`; `lib.rs`, `main.rs` and `mod.rs` are their folder's module). Inline `mod x {}`
//!   blocks are no entities of their own: their items belong to the file's module, with `x` in
//!   their qualified names.
//! - **Class**: a Python `class`; a Rust `struct`, `enum`, `union` or `trait` ([`Entity::item`]
//!   says which). Python classes nested in classes are classes too.
//! - **Function**: a Python `def` at module level (also inside module-level `if`/`try`/`with`
//!   blocks); a free Rust `fn` (also in inline modules, and declared in `extern` blocks).
//!   Functions nested in function bodies are part of their enclosing function's body, not
//!   entities.
//! - **Method**: a `def` in a class body; a Rust `fn` in an `impl` or `trait` block. A Rust
//!   method's parent is the type the `impl` is for (a parsed class, else an External such as
//!   `u32`); its qualified name is `Type::m` for inherent impls, `<Type as Trait>::m` for trait
//!   impls.
//! - **External**: a name referenced but not defined in the parsed trees (builtins such as
//!   `ValueError` or `len`, other crates' types, primitive types), named by its path as far as
//!   the imports resolve it (`os.path.join`, `usize`). One per language and name.
//!
//! Qualified names are not unique: a property's getter and setter, or functions defined in both
//! branches of an `if`, share one. Name resolution takes the first definition.
//!
//! # Relations ([`RELATIONS`]; [`ontology`] has their domains and ranges)
//!
//! - **contains**: Module → Class/Function defined at its top level; package Module → submodule
//!   (`a.b` → `a.b.c`, `core` → `core::option`); Class → nested Class.
//! - **defines**: Class → Method in its body (Python), or in an `impl` for it or its `trait`
//!   body (Rust); an External type → Method for impls of types not parsed (`impl Display for u32`).
//! - **imports**: Module → what it imports: Python `import a.b` (→ `a.b`), `from a import b`
//!   (→ `a.b`, relative imports resolved); Rust `use` paths (each leaf of a `use` tree; `*` →
//!   the module). Imports inside functions count for the module.
//! - **calls**: Function/Method → Function/Method/External. `self.m()` / `cls.m()` (Python: the
//!   method's first parameter, unless `@staticmethod`; Rust: `self`) → method `m` of the
//!   enclosing class, else of its parsed bases (Rust: the type's impls, then the traits it
//!   implements and their supertraits), breadth first; not found, skipped (an attribute holding
//!   a callable). `super().m()` → `m` of the bases. A bare `f()`, in this order: a local
//!   (parameter, assigned name, loop or `with` target, nested function) is skipped; a name
//!   imported inside the function; a definition in the same module (or inline module); a name
//!   the module imports; a module-level variable (skipped); a definition reached through a `*`
//!   import of a parsed module; a Rust primitive type (External `u32`); a top-level module or
//!   crate of that name; a Python builtin (External `len`); the one top-level Function or Class
//!   of that simple name in the whole graph; else an External named `f` (Rust: skipped when capitalised, a
//!   tuple-variant constructor such as `Some`). A path `a.b.f()` / `a::b::f()` / `Type::f()` /
//!   `Self::f()` is resolved from its first segment by the same rules (`crate::`, `self::`,
//!   `super::` and `extern crate` aliases first made absolute), then segment by segment through
//!   modules, their imports and classes' methods; unresolved past a known prefix, it is the
//!   External of the full path (`os.path.join` when `os` is not parsed); a path whose first
//!   segment is unknown, local or `self` (`x.append()`, `self.x.f()`) is skipped: its receiver
//!   is unknown, and such tails would be meaningless. Calls inside Rust macro arguments
//!   (`assert_eq!(f(1), 2)`) are read from the token trees: a path followed by `(...)`, not in
//!   attributes or in `cfg!`, `matches!`, `asm!` and the like. Recursive calls are self-loops,
//!   never edges.
//! - **instantiates**: Function/Method → Class: a call that resolves to a parsed class (Python
//!   `Foo()`, Rust tuple struct `Foo(..)`), a Rust struct literal `Foo { .. }`.
//! - **inherits_from**: Class → Class/External: Python base classes (keyword arguments such as
//!   `metaclass=` are not bases; `Generic[T]` → `Generic`); Rust supertraits.
//! - **implements**: Rust type → trait, for `impl Trait for Type` (Class/External both sides).
//! - **raises**: Function/Method → Class/External: Python `raise X` / `raise X(...)` / `raise
//!   m.X(...)`; bare `raise` and raising a local (`raise err`) are skipped. Rust panics are not
//!   raises: none are made up.
//! - **returns**: Function/Method → Class/External named by the return annotation's main type.
//!   Python: `X | None`, `Optional[X]`, `Union[X, ...]` → `X` (the first member that is not
//!   `None`), `List[int]` → `List`, `"X"` → `X`, `None` → External `None`. Rust: references and
//!   pointers are looked through, and so are `Option`, `Result`, `Box`, `Rc`, `Arc` and `Pin` to
//!   their first type argument, unless it is `()` (`Result<(), E>` → `Result`) or a type
//!   parameter (`Option<T>` → `Option`); `Self` → the impl type (in a trait's own methods, no
//!   edge: it is the implementing type); `impl Trait` / `dyn Trait` → `Trait`; primitive types
//!   are Externals (`usize`); type parameters, `Self::Assoc`, tuples, slices, arrays and `fn`
//!   types give no edge. Type names resolve like calls, the unique-name fallback taking classes
//!   only.
//! - **decorated_by**: Python Function/Method/Class → its decorator, arguments dropped
//!   (`@functools.wraps(f)` → `functools.wraps`); `@x.setter` (and `getter`, `deleter`) on a
//!   property `x` of the same class → External `property.setter`.
//! - **tests**: test Function/Method → the parsed Functions/Methods it calls (not through
//!   `self`). A test is a Python function or method whose name starts with `test` in a file
//!   named `test_*.py` / `*_test.py` or under a `test`/`tests` folder; a Rust `fn` with
//!   `#[test]`.
//!
//! An edge (head, relation, tail) is kept once, with the provenance of its first occurrence
//! (for `contains` and `defines`, the child's line and signature). Cross-language edges never
//! occur: the languages share no names.
//!
//! # Determinism
//!
//! Files are walked in sorted path order and parsed in parallel, then assembled in that order:
//! the same trees give the same ids and edges. Files that are not UTF-8 are skipped with a
//! reason ([`CodeGraph::skipped`]); files with syntax errors are kept (tree-sitter recovers) and
//! listed in [`CodeGraph::partial`].

pub mod corpus;
pub mod data;
pub mod eval;
pub mod graph;
pub mod ontology;
mod python;
pub mod retrieval;
pub mod run;
mod rust;
pub mod split;
mod syntax;

pub use graph::CodeGraph;
pub use ontology::{CodeOntology, RelationRule};
pub use split::{hold_out_modules, CodeSplit, Part};

use serde::{Deserialize, Serialize};

/// A source language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Lang {
    Python,
    Rust,
}

impl Lang {
    /// The language of a file, by its extension (`.py`, `.rs`).
    pub fn of_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "py" => Some(Lang::Python),
            "rs" => Some(Lang::Rust),
            _ => None,
        }
    }

    /// What joins the segments of a qualified name: `.` or `::`.
    pub fn separator(self) -> &'static str {
        match self {
            Lang::Python => ".",
            Lang::Rust => "::",
        }
    }
}

/// What an entity is (the ontology's entity types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    Module,
    Class,
    Function,
    Method,
    External,
}

impl EntityKind {
    /// Every kind, in declaration order.
    pub const ALL: [EntityKind; 5] = [
        EntityKind::Module,
        EntityKind::Class,
        EntityKind::Function,
        EntityKind::Method,
        EntityKind::External,
    ];

    /// The kind's name in lower case.
    pub fn name(self) -> &'static str {
        match self {
            EntityKind::Module => "module",
            EntityKind::Class => "class",
            EntityKind::Function => "function",
            EntityKind::Method => "method",
            EntityKind::External => "external",
        }
    }
}

/// A module, class, function, method or external name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Its index in [`CodeGraph::entities`].
    pub id: u32,
    pub kind: EntityKind,
    pub lang: Lang,
    /// The item as written: a Python class is a [`Item::Class`], a Rust one a struct, enum,
    /// union or trait; the other kinds have the item of their name.
    pub item: Item,
    /// The simple name (`decode`, `map`).
    pub name: String,
    /// The qualified name (`json.decoder.JSONDecoder.decode`, `core::option::Option::map`).
    pub qualname: String,
    /// The module (file) it is defined in; a module's is itself; `None` for externals.
    pub module: Option<u32>,
    /// The enclosing class or (for top-level items) module; a Rust method's impl type (a class
    /// or an external); `None` for modules and externals.
    pub parent: Option<u32>,
    /// Its file: the path below its source root, prefixed by the root folder's name
    /// (`python3.11-stdlib/json/decoder.py`); empty for externals.
    pub file: String,
    /// First line, 1-based (a decorated definition's `def`/`class` line; 1 for modules, 0 for
    /// externals).
    pub line: u32,
    /// Last line, 1-based (0 for externals).
    pub end_line: u32,
    /// The header without the body, whitespace collapsed: `def decode(self, s, _w=WHITESPACE.match)`,
    /// `class JSONDecoder(object)`, `pub fn map<U, F>(self, f: F) -> Option<U> where F: FnOnce(T) -> U`.
    pub signature: String,
    /// The docstring (Python, dedented like `inspect.cleandoc`) or the `///` / `//!` doc comments
    /// (Rust, joined); may be empty.
    pub doc: String,
}

impl Entity {
    /// The natural-language side of the entity: name, signature and doc, one per line (empty
    /// ones left out). Never the body.
    pub fn text(&self) -> String {
        [self.name.as_str(), &self.signature, &self.doc]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The doc's first sentence: its first paragraph up to the first `.` followed by white
    /// space (not counting `e.g.` and `i.e.`), whitespace collapsed; the whole paragraph when it
    /// has no such full stop; empty when there is no doc.
    pub fn first_sentence_of_doc(&self) -> String {
        let para = self.doc.trim().split("\n\n").next().unwrap_or("");
        let words: Vec<&str> = para.split_whitespace().collect();
        let mut out = Vec::new();
        for w in words {
            out.push(w);
            let lower = w.to_ascii_lowercase();
            if w.ends_with('.') && !lower.ends_with("e.g.") && !lower.ends_with("i.e.") {
                break;
            }
        }
        out.join(" ")
    }

    /// True for modules, classes, functions and methods: entities defined in the parsed trees.
    pub fn is_parsed(&self) -> bool {
        self.kind != EntityKind::External
    }
}

/// What an entity is as written in its language (finer than [`EntityKind`]: a Rust class is a
/// struct, an enum, a union or a trait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Item {
    Module,
    Class,
    Struct,
    Enum,
    Union,
    Trait,
    Function,
    Method,
    External,
}

impl Item {
    /// Its name in lower case (`trait`).
    pub fn name(self) -> &'static str {
        match self {
            Item::Module => "module",
            Item::Class => "class",
            Item::Struct => "struct",
            Item::Enum => "enum",
            Item::Union => "union",
            Item::Trait => "trait",
            Item::Function => "function",
            Item::Method => "method",
            Item::External => "external",
        }
    }
}

/// One edge: `head relation tail`, where it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeEdge {
    pub head: u32,
    /// Index into [`RELATIONS`].
    pub relation: u8,
    pub tail: u32,
    /// The file it was read from (as [`Entity::file`]).
    pub file: String,
    /// The line it was read from, 1-based.
    pub line: u32,
    /// The source text it was read from: the reference's first line (for `contains` and
    /// `defines`, the child's signature), at most 160 characters.
    pub text: String,
}

/// The relations, in the order of [`CodeEdge::relation`].
pub const RELATIONS: &[&str] = &[
    "contains",
    "defines",
    "imports",
    "calls",
    "instantiates",
    "inherits_from",
    "implements",
    "raises",
    "returns",
    "decorated_by",
    "tests",
];

/// The index of a relation in [`RELATIONS`].
pub fn relation_index(name: &str) -> Option<u8> {
    RELATIONS.iter().position(|r| *r == name).map(|i| i as u8)
}

/// [`RELATIONS`] indices, named.
pub(crate) mod rel {
    pub const CONTAINS: u8 = 0;
    pub const DEFINES: u8 = 1;
    pub const IMPORTS: u8 = 2;
    pub const CALLS: u8 = 3;
    pub const INSTANTIATES: u8 = 4;
    pub const INHERITS_FROM: u8 = 5;
    pub const IMPLEMENTS: u8 = 6;
    pub const RAISES: u8 = 7;
    pub const RETURNS: u8 = 8;
    pub const DECORATED_BY: u8 = 9;
    pub const TESTS: u8 = 10;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_constants_match_the_names() {
        for (i, name) in [
            (rel::CONTAINS, "contains"),
            (rel::DEFINES, "defines"),
            (rel::IMPORTS, "imports"),
            (rel::CALLS, "calls"),
            (rel::INSTANTIATES, "instantiates"),
            (rel::INHERITS_FROM, "inherits_from"),
            (rel::IMPLEMENTS, "implements"),
            (rel::RAISES, "raises"),
            (rel::RETURNS, "returns"),
            (rel::DECORATED_BY, "decorated_by"),
            (rel::TESTS, "tests"),
        ] {
            assert_eq!(relation_index(name), Some(i));
        }
        assert_eq!(relation_index("is_a"), None);
    }

    #[test]
    fn text_and_first_sentence() {
        let e = Entity {
            id: 0,
            kind: EntityKind::Function,
            lang: Lang::Python,
            item: Item::Function,
            name: "loads".into(),
            qualname: "json.loads".into(),
            module: Some(0),
            parent: Some(0),
            file: "py/json/__init__.py".into(),
            line: 1,
            end_line: 9,
            signature: "def loads(s)".into(),
            doc: "Deserialize ``s``, e.g. a\n``str``, to a Python object. More.\n\nDetails.".into(),
        };
        assert_eq!(e.text(), format!("loads\ndef loads(s)\n{}", e.doc));
        assert_eq!(
            e.first_sentence_of_doc(),
            "Deserialize ``s``, e.g. a ``str``, to a Python object."
        );
        let bare = Entity {
            doc: String::new(),
            ..e
        };
        assert_eq!(bare.text(), "loads\ndef loads(s)");
        assert_eq!(bare.first_sentence_of_doc(), "");
    }
}
