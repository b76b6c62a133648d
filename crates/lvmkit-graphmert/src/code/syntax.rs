//! What both languages' readers share: the facts one file yields (before names are resolved
//! across files), and small helpers over tree-sitter nodes.

use super::{EntityKind, Item, Lang};
use tree_sitter::Node;

/// Everything one file says, with names as written: [`super::graph`] resolves them once every
/// file is read.
#[derive(Debug, Clone, Default)]
pub struct FileFacts {
    /// The module's qualified name, as segments.
    pub module: Vec<String>,
    /// The module's doc (docstring or `//!` comments).
    pub doc: String,
    pub lines: usize,
    /// True when tree-sitter found syntax errors (it recovers; what it could read is kept).
    pub has_errors: bool,
    /// Scopes names are looked up in: 0 is the module, then Rust's inline `mod x {}` blocks.
    pub scopes: Vec<Scope>,
    /// Classes, functions and methods, parents before their children.
    pub defs: Vec<Def>,
    /// Rust `impl` blocks (their methods are in `defs`, with [`Parent::Impl`]).
    pub impls: Vec<Impl>,
    /// What the module imports (one edge each).
    pub imports: Vec<ImportEdge>,
    /// Names the imports bind.
    pub bindings: Vec<Binding>,
    /// References from definitions: calls, raises, returns, decorators, bases, literals.
    pub refs: Vec<Ref>,
    /// Rust `extern crate a as b;`: (b, a). The alias names the crate in every module of it.
    pub crate_aliases: Vec<(String, String)>,
}

/// A namespace: the file's module or an inline module.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub path: Vec<String>,
    /// Names bound to module-level variables (Python assignments): references to them are
    /// skipped, they are no entities.
    pub vars: Vec<String>,
}

/// Where a definition hangs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// Directly in a scope (module or inline module).
    Scope,
    /// In a class or trait body: the index of that def.
    Def(usize),
    /// In a Rust `impl` block: its index in [`FileFacts::impls`].
    Impl(usize),
}

/// A class, function or method.
#[derive(Debug, Clone)]
pub struct Def {
    pub kind: EntityKind,
    pub item: Item,
    pub name: String,
    pub parent: Parent,
    pub scope: usize,
    pub line: u32,
    pub end_line: u32,
    pub signature: String,
    pub doc: String,
    /// A test function (see the module doc for the rule).
    pub is_test: bool,
}

/// A Rust `impl [Trait for] Type` block.
#[derive(Debug, Clone)]
pub struct Impl {
    pub scope: usize,
    pub line: u32,
    /// The type's path; `None` when it is one of the impl's type parameters (`impl<T> X for T`).
    pub ty: Option<Path>,
    pub trait_: Option<Path>,
    pub text: String,
}

/// A path as written, and how its first segment is to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub segs: Vec<String>,
    /// True when `segs` is already absolute (Python imports, Rust `crate::`/`self::`/`super::`
    /// resolved); false when its first segment is a name to look up in the scope.
    pub absolute: bool,
}

impl Path {
    pub fn rel(segs: Vec<String>) -> Self {
        Self {
            segs,
            absolute: false,
        }
    }
    pub fn abs(segs: Vec<String>) -> Self {
        Self {
            segs,
            absolute: true,
        }
    }
}

/// A module imports this (an `imports` edge).
#[derive(Debug, Clone)]
pub struct ImportEdge {
    pub scope: usize,
    pub line: u32,
    pub target: Path,
    pub text: String,
}

/// A name an import binds (`name` = None: a `*` import of the target).
#[derive(Debug, Clone)]
pub struct Binding {
    pub scope: usize,
    /// A function-level import: the def it is local to.
    pub local_to: Option<usize>,
    pub name: Option<String>,
    pub target: Path,
}

/// What a reference points at, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A name or path to resolve in the referring def's scope (`f`, `os.path.join`,
    /// `Self::new`).
    Path(Path),
    /// `self.m` / `cls.m`: method `m` of the enclosing class or its bases.
    SelfMethod(String),
    /// `super().m`: method `m` of the enclosing class's bases.
    SuperMethod(String),
    /// An external entity of exactly this name (`property.setter`).
    Literal(String),
}

/// What a reference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// A call (`calls`, or `instantiates` when it resolves to a class).
    Call,
    /// A Rust struct literal (`instantiates` when it resolves to a parsed class).
    StructLiteral,
    Raise,
    Return,
    Decorator,
    Base,
}

/// A reference from a def.
#[derive(Debug, Clone)]
pub struct Ref {
    /// The referring def's index.
    pub from: usize,
    pub kind: RefKind,
    pub target: Target,
    pub line: u32,
    pub text: String,
}

/// The named and anonymous children of a node.
pub fn kids(n: Node) -> Vec<Node> {
    let mut c = n.walk();
    n.children(&mut c).collect()
}

/// The named children of a node.
pub fn named_kids(n: Node) -> Vec<Node> {
    let mut c = n.walk();
    n.named_children(&mut c).collect()
}

/// A node's source text.
pub fn text<'s>(n: Node, src: &'s str) -> &'s str {
    src.get(n.byte_range()).unwrap_or("")
}

/// The field's text, when the node has it.
pub fn field_text<'s>(n: Node, field: &str, src: &'s str) -> Option<&'s str> {
    n.child_by_field_name(field).map(|c| text(c, src))
}

/// A node's first line, 1-based.
pub fn line(n: Node) -> u32 {
    n.start_position().row as u32 + 1
}

/// A node's last line, 1-based.
pub fn end_line(n: Node) -> u32 {
    n.end_position().row as u32 + 1
}

/// A provenance snippet: the first line of the node's text, trimmed, at most 160 characters.
pub fn snippet(n: Node, src: &str) -> String {
    let first = text(n, src).lines().next().unwrap_or("").trim();
    first.chars().take(160).collect()
}

/// A header's text on one line: comments (from `comment` to the end of a line, outside string
/// quotes) dropped, whitespace collapsed, no space just inside brackets or before a comma, and a
/// trailing `:`, `;` or `{` removed.
pub fn one_line(header: &str, comment: &str) -> String {
    let mut kept = String::new();
    for l in header.lines() {
        kept.push_str(strip_comment(l, comment));
        kept.push(' ');
    }
    let mut s = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ,", ","),
    ] {
        while s.contains(from) {
            s = s.replace(from, to);
        }
    }
    // A trailing comma before a closing bracket is layout, not meaning.
    for (from, to) in [(",)", ")"), (",]", "]")] {
        s = s.replace(from, to);
    }
    let s = s.trim_end_matches([':', ';', '{']).trim_end();
    s.to_string()
}

/// The line up to its comment, if any, not counting `comment` inside '…' or "…".
fn strip_comment<'a>(line: &'a str, comment: &str) -> &'a str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || c == '\'' {
            // A Rust lifetime ('a) is no quote; a quote closes on the same line or not at all.
            if line[i + 1..].contains(c) {
                quote = Some(c);
            }
            continue;
        }
        if line[i..].starts_with(comment) {
            return &line[..i];
        }
    }
    line
}

/// The language's module path for a file at `rel` (segments of its path below the root) in a
/// root named `root`. See the module doc for the rules.
pub fn module_path(lang: Lang, root: &str, rel: &[String]) -> Vec<String> {
    let Some((file, dirs)) = rel.split_last() else {
        return vec![root.to_string()];
    };
    let stem = file.rsplit_once('.').map_or(file.as_str(), |(s, _)| s);
    match lang {
        Lang::Python => {
            let mut segs: Vec<String> = dirs.to_vec();
            if stem != "__init__" || segs.is_empty() {
                segs.push(stem.to_string());
            }
            segs
        }
        Lang::Rust => {
            let (krate, below) = match dirs.iter().rposition(|d| d == "src") {
                Some(0) => (root.to_string(), &dirs[1..]),
                Some(i) => (dirs[i - 1].clone(), &dirs[i + 1..]),
                None => (root.to_string(), dirs),
            };
            let mut segs = vec![krate.replace('-', "_")];
            segs.extend(below.iter().cloned());
            let crate_root = below.is_empty() && (stem == "lib" || stem == "main");
            if stem != "mod" && !crate_root {
                segs.push(stem.to_string());
            }
            segs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.split('/').map(String::from).collect()
    }

    #[test]
    fn module_paths() {
        let py = |p| module_path(Lang::Python, "py", &segs(p)).join(".");
        assert_eq!(py("json/decoder.py"), "json.decoder");
        assert_eq!(py("json/__init__.py"), "json");
        assert_eq!(py("os.py"), "os");
        assert_eq!(py("__init__.py"), "__init__");
        let rs = |p| module_path(Lang::Rust, "my-crate", &segs(p)).join("::");
        assert_eq!(rs("core/src/option.rs"), "core::option");
        assert_eq!(rs("core/src/lib.rs"), "core");
        assert_eq!(rs("std/src/sys/unix/mod.rs"), "std::sys::unix");
        assert_eq!(rs("std/src/sys/unix/fs.rs"), "std::sys::unix::fs");
        assert_eq!(rs("src/lib.rs"), "my_crate");
        assert_eq!(rs("src/a/b.rs"), "my_crate::a::b");
        assert_eq!(rs("tests/x.rs"), "my_crate::tests::x");
    }

    #[test]
    fn headers_on_one_line() {
        assert_eq!(
            one_line("def f(\n    a,  # the a\n    b='#',\n):", "#"),
            "def f(a, b='#')"
        );
        assert_eq!(
            one_line("pub fn f<'a>(x: &'a str) // c\n    -> usize {", "//"),
            "pub fn f<'a>(x: &'a str) -> usize"
        );
    }
}
