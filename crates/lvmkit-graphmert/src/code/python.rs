//! What one Python file says: its classes, functions and methods (with signatures and
//! docstrings), its imports, and the references in their bodies, names as written.

use super::syntax::{
    field_text, kids, line, named_kids, one_line, snippet, text, Binding, Def, FileFacts,
    ImportEdge, Parent, Path, Ref, RefKind, Scope, Target,
};
use super::{EntityKind, Item};
use std::collections::HashSet;
use tree_sitter::Node;

/// Names Python binds without an import: references to them become externals of that name.
pub const BUILTINS: &[&str] = &[
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
    "__import__",
    "None",
    "NotImplemented",
    "Ellipsis",
    "BaseException",
    "BaseExceptionGroup",
    "Exception",
    "ExceptionGroup",
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "EOFError",
    "EnvironmentError",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "RuntimeError",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "ValueError",
    "ZeroDivisionError",
    "Warning",
    "BytesWarning",
    "DeprecationWarning",
    "EncodingWarning",
    "FutureWarning",
    "ImportWarning",
    "PendingDeprecationWarning",
    "ResourceWarning",
    "RuntimeWarning",
    "SyntaxWarning",
    "UnicodeWarning",
    "UserWarning",
];

/// Reads one parsed Python file. `module` is its dotted path, `is_package` true for an
/// `__init__.py` (relative imports start from it, not from its folder), `test_file` true when
/// its `test*` functions are tests.
pub fn read(
    src: &str,
    root: Node,
    module: Vec<String>,
    is_package: bool,
    test_file: bool,
) -> FileFacts {
    let package = if is_package {
        module.clone()
    } else {
        module[..module.len().saturating_sub(1)].to_vec()
    };
    let mut r = Reader {
        src,
        package,
        test_file,
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
    r.facts.doc = docstring(root, src);
    r.block(root, None);
    r.facts
}

struct Reader<'s> {
    src: &'s str,
    package: Vec<String>,
    test_file: bool,
    facts: FileFacts,
}

impl Reader<'_> {
    /// The statements of a module (`class_def` = None) or class body, with the blocks of
    /// compound statements (`if`, `try`, `with`, ...) in them.
    fn block(&mut self, block: Node, class_def: Option<usize>) {
        for st in named_kids(block) {
            match st.kind() {
                "function_definition" => self.function(st, &[], class_def),
                "class_definition" => self.class(st, &[], class_def),
                "decorated_definition" => {
                    let decorators: Vec<Node> = named_kids(st)
                        .into_iter()
                        .filter(|d| d.kind() == "decorator")
                        .collect();
                    match st.child_by_field_name("definition") {
                        Some(d) if d.kind() == "function_definition" => {
                            self.function(d, &decorators, class_def)
                        }
                        Some(d) if d.kind() == "class_definition" => {
                            self.class(d, &decorators, class_def)
                        }
                        _ => {}
                    }
                }
                "import_statement" | "import_from_statement" => self.import(st, None),
                "expression_statement" if class_def.is_none() => {
                    for a in named_kids(st) {
                        if a.kind() == "assignment" {
                            let mut names = Vec::new();
                            assigned_names(a, self.src, &mut names);
                            self.facts.scopes[0].vars.extend(names);
                        }
                    }
                }
                _ => {
                    for b in inner_blocks(st) {
                        self.block(b, class_def);
                    }
                }
            }
        }
    }

    fn class(&mut self, n: Node, decorators: &[Node], class_def: Option<usize>) {
        let Some(name) = field_text(n, "name", self.src) else {
            return;
        };
        let body = n.child_by_field_name("body");
        let header_end = body.map_or(n.end_byte(), |b| b.start_byte());
        let def = self.push_def(Def {
            kind: EntityKind::Class,
            item: Item::Class,
            name: name.to_string(),
            parent: class_def.map_or(Parent::Scope, Parent::Def),
            scope: 0,
            line: line(n),
            end_line: super::syntax::end_line(n),
            signature: one_line(&self.src[n.start_byte()..header_end], "#"),
            doc: body.map(|b| docstring(b, self.src)).unwrap_or_default(),
            is_test: false,
        });
        self.decorators(def, decorators, class_def);
        if let Some(bases) = n.child_by_field_name("superclasses") {
            for b in named_kids(bases) {
                let path = match b.kind() {
                    "subscript" => b
                        .child_by_field_name("value")
                        .and_then(|v| dotted(v, self.src)),
                    _ => dotted(b, self.src),
                };
                if let Some(segs) = path {
                    self.push_ref(def, RefKind::Base, Target::Path(Path::rel(segs)), b);
                }
            }
        }
        if let Some(b) = body {
            self.block(b, Some(def));
        }
    }

    fn function(&mut self, n: Node, decorators: &[Node], class_def: Option<usize>) {
        let Some(name) = field_text(n, "name", self.src) else {
            return;
        };
        let Some(body) = n.child_by_field_name("body") else {
            return;
        };
        let is_method = class_def.is_some_and(|c| self.facts.defs[c].kind == EntityKind::Class);
        let def = self.push_def(Def {
            kind: if is_method {
                EntityKind::Method
            } else {
                EntityKind::Function
            },
            item: if is_method {
                Item::Method
            } else {
                Item::Function
            },
            name: name.to_string(),
            parent: class_def.map_or(Parent::Scope, Parent::Def),
            scope: 0,
            line: line(n),
            end_line: super::syntax::end_line(n),
            signature: one_line(&self.src[n.start_byte()..body.start_byte()], "#"),
            doc: docstring(body, self.src),
            is_test: self.test_file && name.starts_with("test"),
        });
        self.decorators(def, decorators, class_def);
        if let Some(t) = n.child_by_field_name("return_type") {
            if let Some(target) = return_type(t, self.src) {
                self.push_ref(def, RefKind::Return, target, t);
            }
        }
        let params: Vec<String> = n
            .child_by_field_name("parameters")
            .map(|p| parameter_names(p, self.src))
            .unwrap_or_default();
        let static_method = decorators
            .iter()
            .any(|d| text(*d, self.src).trim() == "@staticmethod");
        let self_name = match is_method && !static_method {
            true => params.first().cloned(),
            false => None,
        };
        let mut locals: HashSet<String> = params.into_iter().collect();
        collect_locals(body, self.src, &mut locals);
        let mut body_reader = Body {
            r: self,
            def,
            self_name,
            locals: &locals,
        };
        body_reader.walk(body);
    }

    fn decorators(&mut self, def: usize, decorators: &[Node], class_def: Option<usize>) {
        for d in decorators {
            let Some(mut e) = named_kids(*d).into_iter().find(|k| k.kind() != "comment") else {
                continue;
            };
            if e.kind() == "call" {
                match e.child_by_field_name("function") {
                    Some(f) => e = f,
                    None => continue,
                }
            }
            let Some(segs) = dotted(e, self.src) else {
                continue;
            };
            // `@x.setter` on a property `x` defined just before in the same class.
            let accessor = segs.len() == 2
                && ["setter", "getter", "deleter"].contains(&segs[1].as_str())
                && class_def.is_some()
                && self.facts.defs[..def]
                    .iter()
                    .any(|o| o.parent == self.facts.defs[def].parent && o.name == segs[0]);
            let target = match accessor {
                true => Target::Literal(format!("property.{}", segs[1])),
                false => Target::Path(Path::rel(segs)),
            };
            self.push_ref(def, RefKind::Decorator, target, *d);
        }
    }

    /// `import a.b as c`, `from .a import b`, `from a import *`; `local_to` for an import
    /// inside a function body.
    fn import(&mut self, n: Node, local_to: Option<usize>) {
        let src = self.src;
        let snip = snippet(n, src);
        let line = line(n);
        let edge = |facts: &mut FileFacts, target: Vec<String>| {
            facts.imports.push(ImportEdge {
                scope: 0,
                line,
                target: Path::abs(target),
                text: snip.clone(),
            })
        };
        let bind = |facts: &mut FileFacts, name: Option<String>, target: Vec<String>| {
            facts.bindings.push(Binding {
                scope: 0,
                local_to,
                name,
                target: Path::abs(target),
            })
        };
        if n.kind() == "import_statement" {
            for (i, k) in kids(n).into_iter().enumerate() {
                if n.field_name_for_child(i as u32) != Some("name") {
                    continue;
                }
                if k.kind() == "aliased_import" {
                    let (Some(target), Some(alias)) = (
                        k.child_by_field_name("name").and_then(|t| dotted(t, src)),
                        field_text(k, "alias", src),
                    ) else {
                        continue;
                    };
                    edge(&mut self.facts, target.clone());
                    bind(&mut self.facts, Some(alias.to_string()), target);
                } else if let Some(target) = dotted(k, src) {
                    edge(&mut self.facts, target.clone());
                    bind(
                        &mut self.facts,
                        Some(target[0].clone()),
                        vec![target[0].clone()],
                    );
                }
            }
            return;
        }
        // from M import ...
        let Some(m) = n.child_by_field_name("module_name") else {
            return;
        };
        let module: Vec<String> = if m.kind() == "relative_import" {
            let mut level = 0;
            let mut rest = Vec::new();
            for k in named_kids(m) {
                match k.kind() {
                    "import_prefix" => level = text(k, src).matches('.').count(),
                    "dotted_name" => rest = dotted(k, src).unwrap_or_default(),
                    _ => {}
                }
            }
            let keep = self.package.len().saturating_sub(level.saturating_sub(1));
            let mut base = self.package[..keep].to_vec();
            base.extend(rest);
            base
        } else {
            match dotted(m, src) {
                Some(s) => s,
                None => return,
            }
        };
        if module.first().is_some_and(|s| s == "__future__") || module.is_empty() {
            return;
        }
        let mut named = false;
        for (i, k) in kids(n).into_iter().enumerate() {
            if n.field_name_for_child(i as u32) != Some("name") {
                continue;
            }
            named = true;
            let (name_node, alias) = match k.kind() {
                "aliased_import" => (
                    k.child_by_field_name("name"),
                    field_text(k, "alias", src).map(str::to_string),
                ),
                _ => (Some(k), None),
            };
            let Some(segs) = name_node.and_then(|t| dotted(t, src)) else {
                continue;
            };
            let mut target = module.clone();
            target.extend(segs.iter().cloned());
            edge(&mut self.facts, target.clone());
            let bound = alias.unwrap_or_else(|| segs.last().unwrap().clone());
            bind(&mut self.facts, Some(bound), target);
        }
        if !named && named_kids(n).iter().any(|k| k.kind() == "wildcard_import") {
            edge(&mut self.facts, module.clone());
            bind(&mut self.facts, None, module);
        }
    }

    fn push_def(&mut self, def: Def) -> usize {
        self.facts.defs.push(def);
        self.facts.defs.len() - 1
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

/// Reading one function body: its calls and raises, and the imports inside it.
struct Body<'r, 's> {
    r: &'r mut Reader<'s>,
    def: usize,
    self_name: Option<String>,
    locals: &'r HashSet<String>,
}

impl Body<'_, '_> {
    fn walk(&mut self, n: Node) {
        match n.kind() {
            "call" => {
                if let Some(target) = n
                    .child_by_field_name("function")
                    .and_then(|f| self.callee(f))
                {
                    self.r.push_ref(self.def, RefKind::Call, target, n);
                }
            }
            "raise_statement" => {
                let cause = n.child_by_field_name("cause").map(|c| c.id());
                let raised = named_kids(n)
                    .into_iter()
                    .find(|k| Some(k.id()) != cause && k.kind() != "comment");
                if let Some(e) = raised {
                    let (what, args) = match e.kind() {
                        "call" => (e.child_by_field_name("function"), Some(e)),
                        _ => (Some(e), None),
                    };
                    if let Some(target) = what.and_then(|w| self.name_target(w)) {
                        self.r.push_ref(self.def, RefKind::Raise, target, n);
                    }
                    // The raised call is the raise; calls inside its arguments are calls.
                    if let Some(a) = args.and_then(|c| c.child_by_field_name("arguments")) {
                        self.walk(a);
                    }
                    if let Some(c) = n.child_by_field_name("cause") {
                        self.walk(c);
                    }
                    return;
                }
            }
            "import_statement" | "import_from_statement" => {
                let def = self.def;
                self.r.import(n, Some(def));
                return;
            }
            _ => {}
        }
        for k in named_kids(n) {
            self.walk(k);
        }
    }

    /// A callee as a target: `f`, `a.b.f`, `self.m`, `super().m`; None for locals, unknown
    /// receivers and other expressions.
    fn callee(&self, f: Node) -> Option<Target> {
        if text(f, self.r.src) == "super" {
            return None;
        }
        if f.kind() == "attribute" {
            let object = f.child_by_field_name("object")?;
            let attr = field_text(f, "attribute", self.r.src)?.to_string();
            if object.kind() == "call"
                && object
                    .child_by_field_name("function")
                    .is_some_and(|g| text(g, self.r.src) == "super")
            {
                return Some(Target::SuperMethod(attr));
            }
            if object.kind() == "identifier"
                && self.self_name.as_deref() == Some(text(object, self.r.src))
            {
                return Some(Target::SelfMethod(attr));
            }
        }
        self.name_target(f)
    }

    /// A dotted name as a target, unless it starts at a local or at `self`.
    fn name_target(&self, e: Node) -> Option<Target> {
        let segs = dotted(e, self.r.src)?;
        if self.locals.contains(&segs[0]) || self.self_name.as_deref() == Some(segs[0].as_str()) {
            return None;
        }
        Some(Target::Path(Path::rel(segs)))
    }
}

/// `a`, `a.b.c` as segments; None for anything else.
fn dotted(n: Node, src: &str) -> Option<Vec<String>> {
    match n.kind() {
        "identifier" => Some(vec![text(n, src).to_string()]),
        "attribute" => {
            let mut segs = dotted(n.child_by_field_name("object")?, src)?;
            segs.push(field_text(n, "attribute", src)?.to_string());
            Some(segs)
        }
        "dotted_name" => Some(
            named_kids(n)
                .into_iter()
                .map(|k| text(k, src).to_string())
                .collect(),
        ),
        _ => None,
    }
}

/// The blocks inside a compound statement and its clauses (`elif`, `else`, `except`,
/// `finally`, `case`).
fn inner_blocks(st: Node) -> Vec<Node> {
    let mut out = Vec::new();
    for k in named_kids(st) {
        match k.kind() {
            "block" => out.push(k),
            "elif_clause"
            | "else_clause"
            | "except_clause"
            | "except_group_clause"
            | "finally_clause"
            | "case_clause"
            | "with_clause" => out.extend(inner_blocks(k)),
            _ => {}
        }
    }
    out
}

/// The docstring of a module or block: its first statement when that is a string literal,
/// dedented like `inspect.cleandoc`.
fn docstring(block: Node, src: &str) -> String {
    let Some(first) = named_kids(block)
        .into_iter()
        .find(|k| k.kind() != "comment")
    else {
        return String::new();
    };
    if first.kind() != "expression_statement" {
        return String::new();
    }
    let Some(mut s) = first.named_child(0) else {
        return String::new();
    };
    if s.kind() == "concatenated_string" {
        match s.named_child(0) {
            Some(k) => s = k,
            None => return String::new(),
        }
    }
    if s.kind() != "string" {
        return String::new();
    }
    cleandoc(&string_value(text(s, src)))
}

/// The inside of a string literal: prefix and quotes removed; `\` line continuations joined in
/// non-raw strings. Other escapes are left as written.
fn string_value(lit: &str) -> String {
    let body = lit.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let prefix = &lit[..lit.len() - body.len()];
    let raw = prefix.contains(['r', 'R']);
    let inner = ["\"\"\"", "'''", "\"", "'"]
        .iter()
        .find(|q| body.len() >= 2 * q.len() && body.starts_with(**q) && body.ends_with(**q))
        .map_or(body, |q| &body[q.len()..body.len() - q.len()]);
    match raw {
        true => inner.to_string(),
        false => inner.replace("\\\n", ""),
    }
}

/// `inspect.cleandoc`: tabs expanded, the first line's leading white space and the other lines'
/// common indentation removed, blank lines at both ends dropped.
pub fn cleandoc(doc: &str) -> String {
    let expanded = doc.replace('\t', "        ");
    let lines: Vec<&str> = expanded.lines().collect();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let l = match i {
            0 => l.trim_start(),
            _ => l.get(margin..).unwrap_or("").trim_end(),
        };
        out.push(l.trim_end().to_string());
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    let start = out.iter().position(|l| !l.is_empty()).unwrap_or(out.len());
    out[start..].join("\n")
}

/// The main type of a return annotation (see the module doc); None when there is none to name.
fn return_type(t: Node, src: &str) -> Option<Target> {
    let segs = main_type(t, src)?;
    Some(match segs.as_slice() {
        [none] if none == "None" => Target::Literal("None".into()),
        _ => Target::Path(Path::rel(segs)),
    })
}

fn main_type(n: Node, src: &str) -> Option<Vec<String>> {
    let is_none = |segs: &Vec<String>| segs.len() == 1 && segs[0] == "None";
    let first_not_none = |members: Vec<Node>| -> Option<Vec<String>> {
        let found: Vec<Vec<String>> = members
            .into_iter()
            .filter_map(|m| main_type(m, src))
            .collect();
        found
            .iter()
            .find(|s| !is_none(s))
            .or(found.first())
            .cloned()
    };
    match n.kind() {
        "type" | "parenthesized_expression" => main_type(named_kids(n).into_iter().next()?, src),
        "none" => Some(vec!["None".into()]),
        "identifier" | "attribute" => dotted(n, src),
        "generic_type" | "subscript" => {
            let (head, args): (Node, Vec<Node>) = match n.kind() {
                "subscript" => {
                    let args = kids(n)
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| n.field_name_for_child(*i as u32) == Some("subscript"))
                        .map(|(_, k)| k)
                        .collect();
                    (n.child_by_field_name("value")?, args)
                }
                _ => {
                    let ks = named_kids(n);
                    let args = ks
                        .iter()
                        .filter(|k| k.kind() == "type_parameter")
                        .flat_map(|k| named_kids(*k))
                        .collect();
                    (*ks.first()?, args)
                }
            };
            let head = dotted(head, src)?;
            match head.last().map(String::as_str) {
                Some("Optional") | Some("Union") => first_not_none(args),
                _ => Some(head),
            }
        }
        "binary_operator" | "union_type" => {
            let mut members = Vec::new();
            flatten_union(n, &mut members);
            first_not_none(members)
        }
        "string" => type_from_text(&string_value(text(n, src))),
        _ => None,
    }
}

fn flatten_union<'t>(n: Node<'t>, out: &mut Vec<Node<'t>>) {
    if matches!(n.kind(), "binary_operator" | "union_type") {
        for k in named_kids(n) {
            flatten_union(k, out);
        }
    } else {
        out.push(n);
    }
}

/// A string annotation's main type (`"Foo | None"`, `"Optional[a.Foo]"`, `"list[int]"`).
fn type_from_text(s: &str) -> Option<Vec<String>> {
    let members: Vec<&str> = s.split('|').map(str::trim).collect();
    let pick = members.iter().find(|m| **m != "None").or(members.first())?;
    let (head, inner) = match pick.split_once('[') {
        Some((h, rest)) => (h.trim(), Some(rest.trim_end_matches(']'))),
        None => (*pick, None),
    };
    let last = head.rsplit('.').next().unwrap_or(head);
    if let (Some(inner), "Optional" | "Union") = (inner, last) {
        let first = inner
            .split(',')
            .map(str::trim)
            .find(|m| *m != "None")
            .unwrap_or("");
        return type_from_text(first);
    }
    let ok = !head.is_empty()
        && head
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'));
    ok.then(|| head.split('.').map(String::from).collect())
}

/// The names a parameter list binds, in order.
fn parameter_names(params: Node, src: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in named_kids(params) {
        let name = match p.kind() {
            "identifier" => Some(p),
            "default_parameter" | "typed_default_parameter" => p.child_by_field_name("name"),
            "typed_parameter" | "list_splat_pattern" | "dictionary_splat_pattern" => {
                named_kids(p).into_iter().find_map(|k| match k.kind() {
                    "identifier" => Some(k),
                    "list_splat_pattern" | "dictionary_splat_pattern" => {
                        named_kids(k).into_iter().find(|i| i.kind() == "identifier")
                    }
                    _ => None,
                })
            }
            _ => None,
        };
        if let Some(n) = name {
            out.push(text(n, src).to_string());
        }
    }
    out
}

/// The names bound inside a function body: assignments, loop and `with`/`except` targets,
/// walrus names, nested functions and classes, lambda parameters.
fn collect_locals(n: Node, src: &str, out: &mut HashSet<String>) {
    let mut names = Vec::new();
    match n.kind() {
        "assignment" | "augmented_assignment" => assigned_names(n, src, &mut names),
        "for_statement" | "for_in_clause" => {
            if let Some(l) = n.child_by_field_name("left") {
                pattern_names(l, src, &mut names);
            }
        }
        "as_pattern" => {
            if let Some(a) = n.child_by_field_name("alias") {
                pattern_names(a, src, &mut names);
            }
        }
        "named_expression" | "function_definition" | "class_definition" => {
            if let Some(a) = n.child_by_field_name("name") {
                names.push(text(a, src).to_string());
            }
        }
        "lambda" => {
            if let Some(p) = n.child_by_field_name("parameters") {
                names.extend(parameter_names(p, src));
            }
        }
        _ => {}
    }
    out.extend(names);
    for k in named_kids(n) {
        collect_locals(k, src, out);
    }
}

/// The names an assignment's left side binds (`a`, `a, (b, c)`; not `a.b` or `a[0]`).
fn assigned_names(a: Node, src: &str, out: &mut Vec<String>) {
    if let Some(l) = a.child_by_field_name("left") {
        pattern_names(l, src, out);
    }
    if let Some(r) = a.child_by_field_name("right") {
        if r.kind() == "assignment" {
            assigned_names(r, src, out);
        }
    }
}

fn pattern_names(p: Node, src: &str, out: &mut Vec<String>) {
    match p.kind() {
        "identifier" => out.push(text(p, src).to_string()),
        "pattern_list"
        | "tuple_pattern"
        | "list_pattern"
        | "tuple"
        | "list"
        | "parenthesized_expression"
        | "list_splat_pattern"
        | "as_pattern_target"
        | "list_splat" => {
            for k in named_kids(p) {
                pattern_names(k, src, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> tree_sitter::Tree {
        let mut p = tree_sitter::Parser::new();
        p.set_language(&tree_sitter_python::LANGUAGE.into())
            .unwrap();
        p.parse(src, None).unwrap()
    }

    fn read_str(src: &str, module: &str) -> FileFacts {
        let tree = parse(src);
        let m = module.split('.').map(String::from).collect();
        read(src, tree.root_node(), m, false, false)
    }

    #[test]
    fn cleandoc_matches_inspect() {
        assert_eq!(
            cleandoc("Summary.\n\n    Body\n      more\n    "),
            "Summary.\n\nBody\n  more"
        );
        assert_eq!(cleandoc("\n    Only body.\n"), "Only body.");
        assert_eq!(string_value("r'''a\\nb'''"), "a\\nb");
        assert_eq!(string_value("\"x\""), "x");
    }

    #[test]
    fn string_annotations() {
        let t = |s: &str| type_from_text(s).map(|v| v.join("."));
        assert_eq!(t("Foo | None").as_deref(), Some("Foo"));
        assert_eq!(t("Optional[a.Foo]").as_deref(), Some("a.Foo"));
        assert_eq!(t("list[int]").as_deref(), Some("list"));
        assert_eq!(t("Callable[..., Any]").as_deref(), Some("Callable"));
        assert_eq!(t("1 + 2"), None);
    }

    #[test]
    fn definitions_signatures_and_docs() {
        let src = r#"'''Module doc.'''
import os.path as p, sys
from . import sib
from ..up import (a as b, c)
from m import *
X = 1
if p:
    def guarded(): pass

@dec.wrap(1)
class A(B, m.C, Generic[T], metaclass=M):
    r"""Class doc.

       Indented.
    """
    async def f(self, a: int = 1, *args, b,
                **kw) -> Optional[List[int]]:
        "Doc of f."
        import json
        raise ValueError("x") from err
        raise
        q = foo(bar(), json.dumps(x))
        self.g(super().h(), q.append(1), self.x.y(), X(), p.join())
        raise q

    @property
    def v(self) -> "A | None": ...

    @v.setter
    def v(self, value) -> None: ...
"#;
        let f = read_str(src, "pkg.mod");
        assert_eq!(f.doc, "Module doc.");
        assert_eq!(f.scopes[0].vars, vec!["X"]);
        let names: Vec<(&str, EntityKind)> =
            f.defs.iter().map(|d| (d.name.as_str(), d.kind)).collect();
        assert_eq!(
            names,
            vec![
                ("guarded", EntityKind::Function),
                ("A", EntityKind::Class),
                ("f", EntityKind::Method),
                ("v", EntityKind::Method),
                ("v", EntityKind::Method),
            ]
        );
        let a = &f.defs[1];
        assert_eq!(a.signature, "class A(B, m.C, Generic[T], metaclass=M)");
        assert_eq!(a.doc, "Class doc.\n\nIndented.");
        let m = &f.defs[2];
        assert_eq!(
            m.signature,
            "async def f(self, a: int = 1, *args, b, **kw) -> Optional[List[int]]"
        );
        assert_eq!(m.doc, "Doc of f.");
        assert_eq!(m.parent, Parent::Def(1));
        let targets: Vec<String> = f.imports.iter().map(|i| i.target.segs.join(".")).collect();
        assert_eq!(
            targets,
            ["os.path", "sys", "pkg.sib", "up.a", "up.c", "m", "json"]
        );
        let bound: Vec<(Option<&str>, String, Option<usize>)> = f
            .bindings
            .iter()
            .map(|b| (b.name.as_deref(), b.target.segs.join("."), b.local_to))
            .collect();
        assert_eq!(bound[0], (Some("p"), "os.path".into(), None));
        assert_eq!(bound[1], (Some("sys"), "sys".into(), None));
        assert_eq!(bound[3], (Some("b"), "up.a".into(), None));
        assert_eq!(bound[5], (None, "m".into(), None));
        assert_eq!(bound[6], (Some("json"), "json".into(), Some(2)));
        let refs: Vec<(usize, RefKind, Target)> = f
            .refs
            .iter()
            .map(|r| (r.from, r.kind, r.target.clone()))
            .collect();
        let path = |s: &str| Target::Path(Path::rel(s.split('.').map(String::from).collect()));
        let want = vec![
            (1, RefKind::Decorator, path("dec.wrap")),
            (1, RefKind::Base, path("B")),
            (1, RefKind::Base, path("m.C")),
            (1, RefKind::Base, path("Generic")),
            (2, RefKind::Return, path("List")),
            (2, RefKind::Raise, path("ValueError")),
            (2, RefKind::Call, path("foo")),
            (2, RefKind::Call, path("bar")),
            (2, RefKind::Call, path("json.dumps")),
            (2, RefKind::Call, Target::SelfMethod("g".into())),
            (2, RefKind::Call, Target::SuperMethod("h".into())),
            (2, RefKind::Call, path("X")),
            (2, RefKind::Call, path("p.join")),
            (3, RefKind::Decorator, path("property")),
            (3, RefKind::Return, path("A")),
            (
                4,
                RefKind::Decorator,
                Target::Literal("property.setter".into()),
            ),
            (4, RefKind::Return, Target::Literal("None".into())),
        ];
        assert_eq!(refs, want);
    }
}
