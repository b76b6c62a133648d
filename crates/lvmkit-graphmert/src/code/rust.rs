//! What one Rust file says: its structs, enums, unions, traits, functions and methods (with
//! signatures and doc comments), its `use` trees, its `impl` blocks, and the references in
//! function bodies (also inside macro arguments), names as written.

use super::syntax::{
    end_line, field_text, kids, line, named_kids, one_line, snippet, text, Binding, Def, FileFacts,
    Impl, ImportEdge, Parent, Path, Ref, RefKind, Scope, Target,
};
use super::{EntityKind, Item};
use std::collections::HashSet;
use tree_sitter::Node;

/// Wrappers a return type is looked through to their first type argument.
const WRAPPERS: &[&str] = &["Option", "Result", "Box", "Rc", "Arc", "Pin"];

/// Macros whose arguments are no expressions (configuration predicates, patterns, tokens).
const OPAQUE_MACROS: &[&str] = &[
    "cfg",
    "matches",
    "stringify",
    "concat",
    "concat_idents",
    "include",
    "include_str",
    "include_bytes",
    "env",
    "option_env",
    "macro_rules",
    "asm",
    "global_asm",
];

/// Keywords a token tree may hold as plain words.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "type", "union", "unsafe", "use", "where", "while",
];

/// Rust's primitive types: externals unless a name in scope says otherwise.
pub const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64",
];

/// Reads one parsed Rust file whose module path is `module` (its first segment is the crate).
pub fn read(src: &str, root: Node, module: Vec<String>) -> FileFacts {
    let mut r = Reader {
        src,
        facts: FileFacts {
            scopes: vec![Scope {
                path: module.clone(),
                vars: Vec::new(),
            }],
            module,
            lines: src.lines().count(),
            has_errors: root.has_error(),
            ..FileFacts::default()
        },
    };
    let docs: Vec<String> = named_kids(root)
        .into_iter()
        .filter_map(|k| doc_comment(k, src, "inner"))
        .collect();
    r.facts.doc = docs.join("\n").trim().to_string();
    r.items(root, 0);
    r.facts
}

struct Reader<'s> {
    src: &'s str,
    facts: FileFacts,
}

impl Reader<'_> {
    /// The items of a file or inline module body.
    fn items(&mut self, container: Node, scope: usize) {
        for n in named_kids(container) {
            match n.kind() {
                "function_item" => {
                    self.function(n, scope, Parent::Scope, &[]);
                }
                "struct_item" | "enum_item" | "union_item" => {
                    let item = match n.kind() {
                        "struct_item" => Item::Struct,
                        "enum_item" => Item::Enum,
                        _ => Item::Union,
                    };
                    self.class(n, scope, item);
                }
                "trait_item" => self.trait_(n, scope),
                // `extern "C" { fn f(); }`: functions without a body, defined elsewhere.
                "foreign_mod_item" => {
                    let Some(body) = n.child_by_field_name("body") else {
                        continue;
                    };
                    for f in named_kids(body) {
                        if f.kind() == "function_signature_item" {
                            self.function(f, scope, Parent::Scope, &[]);
                        }
                    }
                }
                "impl_item" => self.impl_(n, scope),
                "use_declaration" => {
                    if let Some(arg) = n.child_by_field_name("argument") {
                        let at = (line(n), snippet(n, self.src));
                        self.use_tree(arg, Vec::new(), scope, &at);
                    }
                }
                "extern_crate_declaration" => {
                    if let (Some(name), Some(alias)) = (
                        field_text(n, "name", self.src),
                        field_text(n, "alias", self.src),
                    ) {
                        // `extern crate self as core;`: the crate's own name.
                        let krate = match name {
                            "self" => self.facts.module[0].clone(),
                            _ => name.to_string(),
                        };
                        if krate != alias {
                            self.facts.crate_aliases.push((alias.to_string(), krate));
                        }
                    }
                }
                "mod_item" => {
                    let (Some(name), Some(body)) = (
                        field_text(n, "name", self.src),
                        n.child_by_field_name("body"),
                    ) else {
                        continue;
                    };
                    let mut path = self.facts.scopes[scope].path.clone();
                    path.push(name.to_string());
                    self.facts.scopes.push(Scope {
                        path,
                        vars: Vec::new(),
                    });
                    let inner = self.facts.scopes.len() - 1;
                    self.items(body, inner);
                }
                _ => {}
            }
        }
    }

    fn class(&mut self, n: Node, scope: usize, item: Item) -> Option<usize> {
        let name = field_text(n, "name", self.src)?;
        // A tuple or unit struct's fields are its header; a braced body is not.
        let header_end = match n.child_by_field_name("body") {
            Some(b) if b.kind() != "ordered_field_declaration_list" => b.start_byte(),
            _ => n.end_byte(),
        };
        let (doc, _) = outer_docs(n, self.src);
        self.facts.defs.push(Def {
            kind: EntityKind::Class,
            item,
            name: name.to_string(),
            parent: Parent::Scope,
            scope,
            line: line(n),
            end_line: end_line(n),
            signature: one_line(&self.src[n.start_byte()..header_end], "//"),
            doc,
            is_test: false,
        });
        Some(self.facts.defs.len() - 1)
    }

    fn trait_(&mut self, n: Node, scope: usize) {
        let Some(def) = self.class(n, scope, Item::Trait) else {
            return;
        };
        if let Some(bounds) = n.child_by_field_name("bounds") {
            for b in named_kids(bounds) {
                if let Some(segs) = type_path(b, self.src) {
                    let target = Target::Path(self.anchor(segs, scope));
                    self.push_ref(def, RefKind::Base, target, b);
                }
            }
        }
        let generics = type_params(n, self.src);
        if let Some(body) = n.child_by_field_name("body") {
            for f in named_kids(body) {
                if matches!(f.kind(), "function_item" | "function_signature_item") {
                    self.function(f, scope, Parent::Def(def), &generics);
                }
            }
        }
    }

    fn impl_(&mut self, n: Node, scope: usize) {
        let generics = type_params(n, self.src);
        let ty = n.child_by_field_name("type").and_then(|t| {
            let segs = impl_type(t, self.src)?;
            match segs.len() == 1 && generics.contains(&segs[0]) {
                true => None,
                false => Some(self.anchor(segs, scope)),
            }
        });
        let trait_ = n
            .child_by_field_name("trait")
            .and_then(|t| type_path(t, self.src))
            .map(|segs| self.anchor(segs, scope));
        let body = n.child_by_field_name("body");
        let header_end = body.map_or(n.end_byte(), |b| b.start_byte());
        self.facts.impls.push(Impl {
            scope,
            line: line(n),
            ty,
            trait_,
            text: one_line(&self.src[n.start_byte()..header_end], "//"),
        });
        let k = self.facts.impls.len() - 1;
        if let Some(body) = body {
            for f in named_kids(body) {
                if f.kind() == "function_item" {
                    self.function(f, scope, Parent::Impl(k), &generics);
                }
            }
        }
    }

    /// A free function (`parent` = Scope) or a method of a trait or impl; `outer_generics` are
    /// the trait's or impl's type parameters.
    fn function(&mut self, n: Node, scope: usize, parent: Parent, outer_generics: &[String]) {
        let Some(name) = field_text(n, "name", self.src) else {
            return;
        };
        let body = n.child_by_field_name("body");
        let header_end = body.map_or(n.end_byte(), |b| b.start_byte());
        let (doc, is_test) = outer_docs(n, self.src);
        let is_method = parent != Parent::Scope;
        self.facts.defs.push(Def {
            kind: match is_method {
                true => EntityKind::Method,
                false => EntityKind::Function,
            },
            item: if is_method {
                Item::Method
            } else {
                Item::Function
            },
            name: name.to_string(),
            parent,
            scope,
            line: line(n),
            end_line: end_line(n),
            signature: one_line(&self.src[n.start_byte()..header_end], "//"),
            doc,
            is_test,
        });
        let def = self.facts.defs.len() - 1;
        let mut generics = type_params(n, self.src);
        generics.extend(outer_generics.iter().cloned());
        if let Some(t) = n.child_by_field_name("return_type") {
            if let Some(segs) = main_type(t, self.src, &generics) {
                let target = match PRIMITIVES.contains(&segs[0].as_str()) && segs.len() == 1 {
                    true => Target::Literal(segs[0].clone()),
                    false => Target::Path(self.anchor(segs, scope)),
                };
                self.push_ref(def, RefKind::Return, target, t);
            }
        }
        let Some(body) = body else {
            return;
        };
        let mut locals = HashSet::new();
        if let Some(p) = n.child_by_field_name("parameters") {
            collect_locals(p, self.src, &mut locals);
        }
        collect_locals(body, self.src, &mut locals);
        self.body(body, def, scope, &locals);
    }

    /// The calls and struct literals in a function body, attributed to `def`.
    fn body(&mut self, n: Node, def: usize, scope: usize, locals: &HashSet<String>) {
        match n.kind() {
            "call_expression" => {
                if let Some(target) = n
                    .child_by_field_name("function")
                    .and_then(|f| self.callee(f, scope, locals))
                {
                    self.push_ref(def, RefKind::Call, target, n);
                }
            }
            "struct_expression" => {
                if let Some(segs) = n
                    .child_by_field_name("name")
                    .and_then(|t| type_path(t, self.src))
                {
                    let target = Target::Path(self.anchor(segs, scope));
                    self.push_ref(def, RefKind::StructLiteral, target, n);
                }
            }
            "macro_invocation" => {
                let name = n.child_by_field_name("macro").map(|m| text(m, self.src));
                if name.is_some_and(|m| OPAQUE_MACROS.contains(&m)) {
                    return;
                }
                for tt in named_kids(n) {
                    if tt.kind() == "token_tree" {
                        self.tokens(tt, def, scope, locals, n);
                    }
                }
                return;
            }
            _ => {}
        }
        for k in named_kids(n) {
            self.body(k, def, scope, locals);
        }
    }

    fn callee(&self, f: Node, scope: usize, locals: &HashSet<String>) -> Option<Target> {
        match f.kind() {
            "identifier" => {
                let name = text(f, self.src);
                (!locals.contains(name)).then(|| Target::Path(Path::rel(vec![name.to_string()])))
            }
            "scoped_identifier" => {
                let segs = path_segs(f, self.src)?;
                if locals.contains(&segs[0]) {
                    return None;
                }
                Some(Target::Path(self.anchor(segs, scope)))
            }
            "field_expression" => {
                let value = f.child_by_field_name("value")?;
                match value.kind() == "self" {
                    true => Some(Target::SelfMethod(
                        field_text(f, "field", self.src)?.to_string(),
                    )),
                    false => None,
                }
            }
            "generic_function" => self.callee(f.child_by_field_name("function")?, scope, locals),
            _ => None,
        }
    }

    /// Calls inside a macro's token tree: a path followed by a `(...)` group (`f(x)`,
    /// `a::b(x)`, `self.m(x)`); not after `fn` or `.` (other than `self.`), not a macro (`!`),
    /// not a keyword, not inside an attribute (`#[cfg(any(..))]`).
    fn tokens(&mut self, tt: Node, def: usize, scope: usize, locals: &HashSet<String>, mac: Node) {
        let toks = kids(tt);
        let is_name = |k: Node| matches!(k.kind(), "identifier" | "self" | "super" | "crate");
        let mut i = 0;
        while i < toks.len() {
            let t = toks[i];
            if t.kind() == "token_tree" {
                let attribute = i > 0 && matches!(toks[i - 1].kind(), "#" | "!");
                if !attribute {
                    self.tokens(t, def, scope, locals, mac);
                }
                i += 1;
                continue;
            }
            if !is_name(t) || KEYWORDS.contains(&text(t, self.src)) {
                i += 1;
                continue;
            }
            let start = i;
            let mut segs = vec![text(t, self.src).to_string()];
            let mut j = i + 1;
            while j + 1 < toks.len() && toks[j].kind() == "::" && is_name(toks[j + 1]) {
                segs.push(text(toks[j + 1], self.src).to_string());
                j += 2;
            }
            let called = toks
                .get(j)
                .is_some_and(|k| k.kind() == "token_tree" && text(*k, self.src).starts_with('('));
            if called {
                let prev = start.checked_sub(1).map(|p| toks[p]);
                let target = match prev.map(|p| p.kind()) {
                    Some(".") => {
                        let before = start.checked_sub(2).map(|p| toks[p]);
                        match (before.map(|b| b.kind()), segs.len()) {
                            (Some("self"), 1) => Some(Target::SelfMethod(segs[0].clone())),
                            _ => None,
                        }
                    }
                    Some("fn") => None,
                    _ if segs[0] == "self" || locals.contains(&segs[0]) => None,
                    _ => Some(Target::Path(self.anchor(segs, scope))),
                };
                if let Some(target) = target {
                    self.facts.refs.push(Ref {
                        from: def,
                        kind: RefKind::Call,
                        target,
                        line: line(t),
                        text: snippet(mac, self.src),
                    });
                }
            }
            i = j;
        }
    }

    /// One `use` tree: an import edge and a binding per leaf.
    fn use_tree(&mut self, n: Node, prefix: Vec<String>, scope: usize, at: &(u32, String)) {
        let leaf = |r: &mut Self, segs: Vec<String>, alias: Option<String>, glob: bool| {
            let target = r.anchor(segs.clone(), scope);
            r.facts.imports.push(ImportEdge {
                scope,
                line: at.0,
                target: target.clone(),
                text: at.1.clone(),
            });
            let name = match glob {
                true => None,
                false => Some(alias.unwrap_or_else(|| segs.last().cloned().unwrap_or_default())),
            };
            if name.as_deref() != Some("_") {
                r.facts.bindings.push(Binding {
                    scope,
                    local_to: None,
                    name,
                    target,
                });
            }
        };
        let with = |segs: Option<Vec<String>>| -> Option<Vec<String>> {
            let mut p = prefix.clone();
            p.extend(segs?);
            Some(p)
        };
        match n.kind() {
            "self" if !prefix.is_empty() => leaf(self, prefix.clone(), None, false),
            "identifier" | "scoped_identifier" | "crate" | "super" | "self" => {
                if let Some(segs) = with(path_segs(n, self.src)) {
                    leaf(self, segs, None, false);
                }
            }
            "use_as_clause" => {
                let segs = with(
                    n.child_by_field_name("path")
                        .and_then(|p| path_segs(p, self.src)),
                );
                let alias = field_text(n, "alias", self.src).map(str::to_string);
                if let Some(segs) = segs {
                    leaf(self, segs, alias, false);
                }
            }
            "use_wildcard" => {
                let inner = named_kids(n).into_iter().next();
                let segs = match inner {
                    Some(p) => with(path_segs(p, self.src)),
                    None => Some(prefix.clone()),
                };
                if let Some(segs) = segs.filter(|s| !s.is_empty()) {
                    leaf(self, segs, None, true);
                }
            }
            "scoped_use_list" => {
                let p = match n.child_by_field_name("path") {
                    Some(p) => with(path_segs(p, self.src)),
                    None => Some(prefix.clone()),
                };
                if let (Some(p), Some(list)) = (p, n.child_by_field_name("list")) {
                    for k in named_kids(list) {
                        self.use_tree(k, p.clone(), scope, at);
                    }
                }
            }
            "use_list" => {
                for k in named_kids(n) {
                    self.use_tree(k, prefix.clone(), scope, at);
                }
            }
            _ => {}
        }
    }

    /// A path with `crate`, `self`, `super` and a leading `::` resolved against the scope.
    fn anchor(&self, segs: Vec<String>, scope: usize) -> Path {
        let here = &self.facts.scopes[scope].path;
        match segs.first().map(String::as_str) {
            Some("crate") => {
                let mut p = vec![here[0].clone()];
                p.extend(segs[1..].iter().cloned());
                Path::abs(p)
            }
            Some("self") => {
                let mut p = here.clone();
                p.extend(segs[1..].iter().cloned());
                Path::abs(p)
            }
            Some("super") => {
                let ups = segs.iter().take_while(|s| *s == "super").count();
                let mut p = here[..here.len().saturating_sub(ups).max(1)].to_vec();
                p.extend(segs[ups..].iter().cloned());
                Path::abs(p)
            }
            Some("") => Path::abs(segs[1..].to_vec()),
            _ => Path::rel(segs),
        }
    }

    fn push_ref(&mut self, from: usize, kind: RefKind, target: Target, at: Node) {
        self.facts.refs.push(Ref {
            from,
            kind,
            target,
            line: line(at),
            text: snippet(at, self.src),
        });
    }
}

/// The `///` (and `/** */`) doc comments above an item, joined, and whether it has `#[test]`.
fn outer_docs(n: Node, src: &str) -> (String, bool) {
    let mut docs = Vec::new();
    let mut is_test = false;
    let mut prev = n.prev_sibling();
    while let Some(p) = prev {
        match p.kind() {
            "line_comment" | "block_comment" => {
                if let Some(d) = doc_comment(p, src, "outer") {
                    docs.push(d);
                }
            }
            "attribute_item" => {
                let attr = named_kids(p)
                    .into_iter()
                    .next()
                    .map(|a| text(a, src).trim());
                if attr.is_some_and(|a| a == "test" || a.ends_with("::test")) {
                    is_test = true;
                }
            }
            _ => break,
        }
        prev = p.prev_sibling();
    }
    docs.reverse();
    (docs.join("\n").trim().to_string(), is_test)
}

/// A doc comment's text when `n` is one of the `marker` side (`outer` for `///`, `inner` for
/// `//!`): one leading space per line dropped, block comments' leading `*` too.
fn doc_comment(n: Node, src: &str, marker: &str) -> Option<String> {
    if !matches!(n.kind(), "line_comment" | "block_comment") {
        return None;
    }
    n.child_by_field_name(marker)?;
    let body = text(n.child_by_field_name("doc")?, src);
    let lines: Vec<&str> = body
        .trim_end_matches('\n')
        .lines()
        .map(|l| match n.kind() {
            "block_comment" => {
                let t = l.trim_start();
                let t = t.strip_prefix('*').unwrap_or(t);
                t.strip_prefix(' ').unwrap_or(t)
            }
            _ => l.strip_prefix(' ').unwrap_or(l),
        })
        .collect();
    Some(lines.join("\n").trim_end().to_string())
}

/// The names of an item's type parameters (`<T, U: Tr, const N: usize>` → T, U, N).
fn type_params(n: Node, src: &str) -> Vec<String> {
    let Some(tp) = n.child_by_field_name("type_parameters") else {
        return Vec::new();
    };
    named_kids(tp)
        .into_iter()
        .filter_map(|p| match p.kind() {
            "lifetime_parameter" | "lifetime" => None,
            "type_identifier" => Some(text(p, src).to_string()),
            _ => p
                .child_by_field_name("name")
                .or_else(|| {
                    named_kids(p)
                        .into_iter()
                        .find(|k| k.kind() == "type_identifier")
                })
                .map(|k| text(k, src).to_string()),
        })
        .collect()
}

/// `a::b::c` (identifiers, `crate`, `self`, `super`, `Self`, generic segments) as segments.
fn path_segs(n: Node, src: &str) -> Option<Vec<String>> {
    match n.kind() {
        "identifier" | "type_identifier" | "crate" | "self" | "super" | "primitive_type" => {
            Some(vec![text(n, src).to_string()])
        }
        "scoped_identifier" | "scoped_type_identifier" => {
            let mut segs = match n.child_by_field_name("path") {
                Some(p) => path_segs(p, src)?,
                // `::a` (a path from the crate root of the 2015 edition).
                None => vec![String::new()],
            };
            segs.push(field_text(n, "name", src)?.to_string());
            Some(segs)
        }
        "generic_type" => path_segs(n.child_by_field_name("type")?, src),
        _ => None,
    }
}

/// A type's path, generics dropped, references, pointers, `impl` and `dyn` looked through.
fn type_path(n: Node, src: &str) -> Option<Vec<String>> {
    match n.kind() {
        "reference_type" | "pointer_type" => type_path(n.child_by_field_name("type")?, src),
        "abstract_type" | "dynamic_type" => type_path(n.child_by_field_name("trait")?, src),
        "bounded_type" => type_path(named_kids(n).into_iter().next()?, src),
        "generic_type_with_turbofish" => type_path(n.child_by_field_name("type")?, src),
        _ => path_segs(n, src),
    }
}

/// An impl's type: its path, or the type as written (one segment, such as `[T]` or `(A, B)`)
/// for slices, arrays, tuples and function pointers.
fn impl_type(n: Node, src: &str) -> Option<Vec<String>> {
    if matches!(n.kind(), "reference_type" | "pointer_type") {
        return impl_type(n.child_by_field_name("type")?, src);
    }
    type_path(n, src).or_else(|| Some(vec![one_line(text(n, src), "//")]))
}

/// The main type of a return type (see the module doc); None when there is none to name.
fn main_type(n: Node, src: &str, generics: &[String]) -> Option<Vec<String>> {
    match n.kind() {
        "reference_type" | "pointer_type" => {
            main_type(n.child_by_field_name("type")?, src, generics)
        }
        "generic_type" => {
            let head = path_segs(n.child_by_field_name("type")?, src)?;
            if !WRAPPERS.contains(&head.last()?.as_str()) {
                return Some(head);
            }
            let first = n.child_by_field_name("type_arguments").and_then(|a| {
                named_kids(a).into_iter().find(|k| {
                    !matches!(
                        k.kind(),
                        "lifetime" | "type_binding" | "line_comment" | "block_comment"
                    )
                })
            });
            match first {
                Some(a) if a.kind() != "unit_type" => main_type(a, src, generics).or(Some(head)),
                _ => Some(head),
            }
        }
        "abstract_type" | "dynamic_type" => type_path(n.child_by_field_name("trait")?, src),
        "type_identifier" | "scoped_type_identifier" | "primitive_type" => {
            let segs = path_segs(n, src)?;
            let generic = generics.contains(&segs[0]);
            let assoc = segs.len() > 1 && segs[0] == "Self";
            (!generic && !assoc).then_some(segs)
        }
        _ => None,
    }
}

/// Names bound by patterns in a function: parameters, `let`, closure parameters, `for`,
/// `match` arms, `if let`; nested `fn` items.
fn collect_locals(n: Node, src: &str, out: &mut HashSet<String>) {
    match n.kind() {
        "let_declaration" | "parameter" | "for_expression" | "match_arm" | "let_condition" => {
            if let Some(p) = n.child_by_field_name("pattern") {
                pattern_names(p, src, out);
            }
        }
        "closure_parameters" => {
            for k in named_kids(n) {
                pattern_names(k, src, out);
            }
        }
        "function_item" => {
            if let Some(name) = field_text(n, "name", src) {
                out.insert(name.to_string());
            }
        }
        _ => {}
    }
    for k in named_kids(n) {
        collect_locals(k, src, out);
    }
}

fn pattern_names(p: Node, src: &str, out: &mut HashSet<String>) {
    match p.kind() {
        "identifier" => {
            out.insert(text(p, src).to_string());
        }
        "scoped_identifier" | "type_identifier" | "scoped_type_identifier" => {}
        "parameter" => {
            if let Some(q) = p.child_by_field_name("pattern") {
                pattern_names(q, src, out);
            }
        }
        _ => {
            for (i, k) in kids(p).into_iter().enumerate() {
                // `Some(x)`: the constructor is no binding.
                if p.field_name_for_child(i as u32) != Some("type") && k.is_named() {
                    pattern_names(k, src, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_str(src: &str, module: &str) -> FileFacts {
        let mut p = tree_sitter::Parser::new();
        p.set_language(&tree_sitter_rust::LANGUAGE.into()).unwrap();
        let tree = p.parse(src, None).unwrap();
        read(
            src,
            tree.root_node(),
            module.split("::").map(String::from).collect(),
        )
    }

    #[test]
    fn items_docs_uses_and_references() {
        let src = r#"//! Crate doc.
//! More.
use crate::a::{self, b as c, d::*};
use super::x;
/// Doc of S.
#[derive(Debug)]
pub struct S<T> { a: T }
pub struct U(pub u32);
/// A trait.
pub trait Tr: Clone + fmt::Debug {
    fn m(&self) -> Self;
    fn d(&self) { self.m(); }
}
impl<T> Tr for S<T> where T: Clone {
    /// M doc
    fn m(&self) -> Option<&'a mut Self> {
        Self::new(); S::<T>::f(); a::b(x); foo::<T>(); self.a.len(); U(3); S { a: 1 }
    }
}
#[test]
fn t() -> Result<(), E> {
    assert_eq!(foo(1), bar::baz(2), "{}", self.q(x.len()));
    cfg!(any(unix));
    m! { #[cfg(all(x))] for y in (z) {} };
    let (p, q) = r;
    let f = |z| z;
    f(1); p(2); Some(3);
}
mod tests {
    use super::*;
    fn k<I>() -> impl Iterator<Item = u8> {}
    fn g<I>(x: I) -> Box<I> {}
}
impl fmt::Display for &[u8] {}
extern "rust-intrinsic" {
    /// Reinterprets.
    pub fn transmute<T, U>(x: T) -> U;
}
"#;
        let f = read_str(src, "kr::m");
        assert_eq!(f.doc, "Crate doc.\nMore.");
        let defs: Vec<(&str, EntityKind, Item, Parent)> = f
            .defs
            .iter()
            .map(|d| (d.name.as_str(), d.kind, d.item, d.parent))
            .collect();
        assert_eq!(
            defs,
            vec![
                ("S", EntityKind::Class, Item::Struct, Parent::Scope),
                ("U", EntityKind::Class, Item::Struct, Parent::Scope),
                ("Tr", EntityKind::Class, Item::Trait, Parent::Scope),
                ("m", EntityKind::Method, Item::Method, Parent::Def(2)),
                ("d", EntityKind::Method, Item::Method, Parent::Def(2)),
                ("m", EntityKind::Method, Item::Method, Parent::Impl(0)),
                ("t", EntityKind::Function, Item::Function, Parent::Scope),
                ("k", EntityKind::Function, Item::Function, Parent::Scope),
                ("g", EntityKind::Function, Item::Function, Parent::Scope),
                (
                    "transmute",
                    EntityKind::Function,
                    Item::Function,
                    Parent::Scope
                ),
            ]
        );
        assert_eq!(f.defs[0].signature, "pub struct S<T>");
        assert_eq!(f.defs[0].doc, "Doc of S.");
        assert_eq!(f.defs[1].signature, "pub struct U(pub u32)");
        assert_eq!(f.defs[2].signature, "pub trait Tr: Clone + fmt::Debug");
        assert_eq!(f.defs[3].signature, "fn m(&self) -> Self");
        assert_eq!(f.defs[5].signature, "fn m(&self) -> Option<&'a mut Self>");
        assert_eq!(f.defs[5].doc, "M doc");
        assert!(f.defs[6].is_test && !f.defs[5].is_test);
        assert_eq!(f.defs[9].signature, "pub fn transmute<T, U>(x: T) -> U");
        assert_eq!(f.defs[9].doc, "Reinterprets.");
        assert_eq!(f.scopes[1].path, ["kr", "m", "tests"]);
        assert_eq!(f.defs[7].scope, 1);
        let imports: Vec<String> = f.imports.iter().map(|i| i.target.segs.join("::")).collect();
        assert_eq!(imports, ["kr::a", "kr::a::b", "kr::a::d", "kr::x", "kr::m"]);
        let names: Vec<Option<&str>> = f.bindings.iter().map(|b| b.name.as_deref()).collect();
        assert_eq!(names, [Some("a"), Some("c"), None, Some("x"), None]);
        let imp = &f.impls[0];
        assert_eq!(imp.ty, Some(Path::rel(vec!["S".into()])));
        assert_eq!(imp.trait_, Some(Path::rel(vec!["Tr".into()])));
        assert_eq!(f.impls[1].ty, Some(Path::rel(vec!["[u8]".into()])));
        let p = |s: &str| Target::Path(Path::rel(s.split("::").map(String::from).collect()));
        let refs: Vec<(usize, RefKind, Target)> = f
            .refs
            .iter()
            .map(|r| (r.from, r.kind, r.target.clone()))
            .collect();
        assert_eq!(
            refs,
            vec![
                (2, RefKind::Base, p("Clone")),
                (2, RefKind::Base, p("fmt::Debug")),
                (3, RefKind::Return, p("Self")),
                (4, RefKind::Call, Target::SelfMethod("m".into())),
                (5, RefKind::Return, p("Self")),
                (5, RefKind::Call, p("Self::new")),
                (5, RefKind::Call, p("S::f")),
                (5, RefKind::Call, p("a::b")),
                (5, RefKind::Call, p("foo")),
                (5, RefKind::Call, p("U")),
                (5, RefKind::StructLiteral, p("S")),
                (6, RefKind::Return, p("Result")),
                (6, RefKind::Call, p("foo")),
                (6, RefKind::Call, p("bar::baz")),
                (6, RefKind::Call, Target::SelfMethod("q".into())),
                (6, RefKind::Call, p("Some")),
                (7, RefKind::Return, p("Iterator")),
                (8, RefKind::Return, p("Box")),
            ]
        );
    }
}
