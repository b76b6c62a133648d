//! The code graph: walking source roots, reading each file (in parallel), and resolving the
//! names each file uses to entities across all files (in file order, so ids are repeatable).
//! The resolution rules are in the [module doc](super).

use super::python::BUILTINS;
use super::rust::PRIMITIVES;
use super::syntax::{module_path, FileFacts, Parent, Path, RefKind, Target};
use super::{rel, CodeEdge, Entity, EntityKind, Item, Lang, RELATIONS};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path as FsPath, PathBuf};

/// The name a source root's files are prefixed with in [`Entity::file`]: its folder name as
/// given (or, for a path such as `.`, the folder it resolves to).
pub fn root_name(root: &FsPath) -> String {
    root.file_name()
        .map(|n| n.to_os_string())
        .or_else(|| {
            root.canonicalize()
                .ok()?
                .file_name()
                .map(|n| n.to_os_string())
        })
        .and_then(|n| n.to_str().map(String::from))
        .unwrap_or_else(|| "root".to_string())
}

/// Entities and edges parsed from source trees.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CodeGraph {
    /// Parsed entities first (file by file: the module, then its definitions in source order),
    /// then the externals in order of first reference. `entities[i].id == i`.
    pub entities: Vec<Entity>,
    pub edges: Vec<CodeEdge>,
    /// Files read (not counting the skipped ones).
    pub files: usize,
    /// Lines in the files read.
    pub lines: usize,
    /// Files left out, with the reason (not UTF-8, no tree).
    pub skipped: Vec<(String, String)>,
    /// Files read with syntax errors: kept, with whatever tree-sitter recovered.
    pub partial: Vec<String>,
}

impl CodeGraph {
    /// Walks each root folder (sorted; hidden folders, `target`, `__pycache__` and
    /// `node_modules` left out, symbolic links not followed), reads every `.py` and `.rs` file,
    /// and builds the graph. A file's [`Entity::file`] is its path below its root, prefixed by the
    /// root folder's name.
    pub fn parse_roots(roots: &[PathBuf]) -> Result<Self> {
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        for root in roots {
            list_sources(root, &mut files, &mut skipped)?;
        }
        let read: Vec<Result<Outcome>> = files
            .par_iter()
            .map(|f| {
                let bytes = std::fs::read(&f.path)
                    .with_context(|| format!("cannot read {}", f.path.display()))?;
                Ok(match String::from_utf8(bytes) {
                    Ok(src) => read_source(f.lang, &f.root, &f.rel, &src),
                    Err(e) => Outcome::Skipped(format!(
                        "not UTF-8 (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    )),
                })
            })
            .collect();
        let mut ok = Vec::new();
        for (f, r) in files.iter().zip(read) {
            match r? {
                Outcome::Read(facts) => ok.push((f.display.clone(), f.lang, *facts)),
                Outcome::Skipped(why) => skipped.push((f.display.clone(), why)),
            }
        }
        let mut graph = assemble(ok);
        graph.skipped = skipped;
        Ok(graph)
    }

    /// The graph of in-memory sources: (path, text) pairs, the path's first component naming
    /// the root (`"py/json/decoder.py"`), the language by extension. Files of other extensions
    /// are ignored. For tests and small inputs; same rules as [`CodeGraph::parse_roots`].
    pub fn from_sources(sources: &[(&str, &str)]) -> Self {
        let mut sorted: Vec<&(&str, &str)> = sources.iter().collect();
        sorted.sort_by_key(|(p, _)| *p);
        let mut ok = Vec::new();
        let mut skipped = Vec::new();
        for (path, src) in sorted {
            let Some(lang) = Lang::of_path(FsPath::new(path)) else {
                continue;
            };
            let mut parts = path.split('/').map(String::from);
            let root = parts.next().unwrap_or_default();
            let rel: Vec<String> = parts.collect();
            match read_source(lang, &root, &rel, src) {
                Outcome::Read(facts) => ok.push((path.to_string(), lang, *facts)),
                Outcome::Skipped(why) => skipped.push((path.to_string(), why)),
            }
        }
        let mut graph = assemble(ok);
        graph.skipped = skipped;
        graph
    }

    /// The entity of an id.
    pub fn entity(&self, id: u32) -> &Entity {
        &self.entities[id as usize]
    }

    /// The first entity with this qualified name.
    pub fn find(&self, qualname: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.qualname == qualname)
    }

    /// The edges of one relation (by name; none for an unknown name).
    pub fn edges_of<'a>(&'a self, relation: &str) -> impl Iterator<Item = &'a CodeEdge> + 'a {
        let r = super::relation_index(relation);
        self.edges.iter().filter(move |e| Some(e.relation) == r)
    }

    /// The modules, in id order.
    pub fn modules(&self) -> impl Iterator<Item = &Entity> {
        self.entities
            .iter()
            .filter(|e| e.kind == EntityKind::Module)
    }

    /// How many edges each relation has (every relation listed, zeros included).
    pub fn relation_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> = RELATIONS.iter().map(|r| (*r, 0)).collect();
        for e in &self.edges {
            *counts.entry(RELATIONS[e.relation as usize]).or_default() += 1;
        }
        counts
    }

    /// How many entities each kind has (every kind listed, zeros included).
    pub fn kind_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            EntityKind::ALL.iter().map(|k| (k.name(), 0)).collect();
        for e in &self.entities {
            *counts.entry(e.kind.name()).or_default() += 1;
        }
        counts
    }
}

/// A file found under a root.
struct SourceFile {
    path: PathBuf,
    display: String,
    lang: Lang,
    root: String,
    rel: Vec<String>,
}

enum Outcome {
    Read(Box<FileFacts>),
    Skipped(String),
}

fn list_sources(
    root: &FsPath,
    out: &mut Vec<SourceFile>,
    skipped: &mut Vec<(String, String)>,
) -> Result<()> {
    if !root.is_dir() {
        bail!(
            "source root {} is not a folder (it must hold .py or .rs files)",
            root.display()
        );
    }
    let name = root_name(root);
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("cannot list {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in entries {
            let ty = e
                .file_type()
                .with_context(|| format!("cannot stat {}", e.path().display()))?;
            let Some(fname) = e.file_name().to_str().map(String::from) else {
                let shown = format!(
                    "{name}/{}",
                    e.path().strip_prefix(root).unwrap_or(&e.path()).display()
                );
                skipped.push((shown, "file name not UTF-8".into()));
                continue;
            };
            let mut r = rel.clone();
            r.push(fname.clone());
            if ty.is_dir() {
                let skip = fname.starts_with('.')
                    || ["target", "__pycache__", "node_modules"].contains(&fname.as_str());
                if !skip {
                    subdirs.push((e.path(), r));
                }
            } else if ty.is_file() {
                if let Some(lang) = Lang::of_path(&e.path()) {
                    out.push(SourceFile {
                        path: e.path(),
                        display: format!("{name}/{}", r.join("/")),
                        lang,
                        root: name.clone(),
                        rel: r,
                    });
                }
            }
        }
        // Depth first, in sorted order: push the sub-folders last-first.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// Parses one file's text.
fn read_source(lang: Lang, root: &str, rel: &[String], src: &str) -> Outcome {
    let mut parser = tree_sitter::Parser::new();
    let language: tree_sitter::Language = match lang {
        Lang::Python => tree_sitter_python::LANGUAGE.into(),
        Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
    };
    if let Err(e) = parser.set_language(&language) {
        return Outcome::Skipped(format!("tree-sitter grammar: {e}"));
    }
    let Some(tree) = parser.parse(src, None) else {
        return Outcome::Skipped("tree-sitter gave no tree".into());
    };
    let module = module_path(lang, root, rel);
    let facts = match lang {
        Lang::Python => {
            let file = rel.last().map_or("", String::as_str);
            let is_package = file == "__init__.py";
            let test_file = file.starts_with("test_")
                || file.ends_with("_test.py")
                || rel[..rel.len().saturating_sub(1)]
                    .iter()
                    .any(|d| d == "test" || d == "tests");
            super::python::read(src, tree.root_node(), module, is_package, test_file)
        }
        Lang::Rust => super::rust::read(src, tree.root_node(), module),
    };
    Outcome::Read(Box::new(facts))
}

/// A name found in a scope.
enum Name {
    Entity(u32),
    /// An import binding: the path, and the scope it was bound in (for relative Rust paths).
    Path(Path, Vec<String>),
    /// A module-level variable.
    Var,
}

/// What a path resolved to.
enum Res {
    Entity(u32),
    /// Not parsed: the External of this qualified name.
    External(String),
    /// The first segment is unknown.
    Unknown,
    /// Known not to name an entity (a variable, an associated item).
    Skip,
}

#[derive(Default)]
struct ScopeTable {
    items: HashMap<String, u32>,
    bindings: HashMap<String, Path>,
    globs: Vec<Path>,
    vars: HashSet<String>,
}

#[derive(Default)]
struct Builder {
    entities: Vec<Entity>,
    edges: Vec<CodeEdge>,
    seen: HashSet<(u32, u8, u32)>,
    by_qual: HashMap<(Lang, String), u32>,
    scopes: HashMap<(Lang, String), ScopeTable>,
    /// A module entity's scope path.
    module_scope: HashMap<u32, Vec<String>>,
    externals: HashMap<(Lang, String), u32>,
    /// Methods by type (class, trait or external type), by name: the first defined.
    methods: HashMap<u32, HashMap<String, u32>>,
    /// Parsed bases, supertraits and implemented traits, for method lookup.
    supers: HashMap<u32, Vec<u32>>,
    /// Top-level functions and classes by simple name: Some when the name is unique.
    unique: HashMap<(Lang, String), Option<u32>>,
    /// Crate aliases (`extern crate alloc as alloc_crate`): alias → crate, in every module.
    crate_aliases: HashMap<(Lang, String), String>,
}

fn key(lang: Lang, segs: &[String]) -> (Lang, String) {
    (lang, segs.join(lang.separator()))
}

/// The per-file context a reference is resolved in.
struct Ctx<'a> {
    lang: Lang,
    scope: &'a [String],
    local: Option<&'a HashMap<String, Path>>,
}

fn assemble(files: Vec<(String, Lang, FileFacts)>) -> CodeGraph {
    let mut b = Builder::default();
    let mut graph = CodeGraph {
        files: files.len(),
        lines: files.iter().map(|f| f.2.lines).sum(),
        partial: files
            .iter()
            .filter(|f| f.2.has_errors)
            .map(|f| f.0.clone())
            .collect(),
        ..CodeGraph::default()
    };

    // Entities: each file's module, then its definitions.
    let mut def_ids: Vec<Vec<u32>> = Vec::with_capacity(files.len());
    let mut module_ids: Vec<u32> = Vec::with_capacity(files.len());
    for (file, lang, f) in &files {
        let (lang, sep) = (*lang, lang.separator());
        let mq = f.module.join(sep);
        let mid = b.entities.len() as u32;
        b.entities.push(Entity {
            id: mid,
            kind: EntityKind::Module,
            lang,
            item: Item::Module,
            name: f.module.last().cloned().unwrap_or_default(),
            qualname: mq.clone(),
            module: Some(mid),
            parent: None,
            file: file.clone(),
            line: 1,
            end_line: f.lines.max(1) as u32,
            signature: match lang {
                Lang::Python => format!("module {mq}"),
                Lang::Rust => format!("mod {mq}"),
            },
            doc: f.doc.clone(),
        });
        b.by_qual.entry((lang, mq)).or_insert(mid);
        b.module_scope.insert(mid, f.module.clone());
        for (alias, krate) in &f.crate_aliases {
            b.crate_aliases
                .entry((lang, alias.clone()))
                .or_insert(krate.clone());
        }
        for s in &f.scopes {
            let t = b.scopes.entry(key(lang, &s.path)).or_default();
            t.vars.extend(s.vars.iter().cloned());
        }
        let mut ids: Vec<u32> = Vec::with_capacity(f.defs.len());
        for d in &f.defs {
            let id = b.entities.len() as u32;
            let (qualname, parent) = match d.parent {
                Parent::Scope => {
                    let mut q = f.scopes[d.scope].path.clone();
                    q.push(d.name.clone());
                    (q.join(sep), Some(mid))
                }
                Parent::Def(p) => {
                    let pid = ids[p];
                    (
                        format!("{}{sep}{}", b.entities[pid as usize].qualname, d.name),
                        Some(pid),
                    )
                }
                Parent::Impl(_) => (String::new(), None),
            };
            b.entities.push(Entity {
                id,
                kind: d.kind,
                lang,
                item: d.item,
                name: d.name.clone(),
                qualname: qualname.clone(),
                module: Some(mid),
                parent,
                file: file.clone(),
                line: d.line,
                end_line: d.end_line,
                signature: d.signature.clone(),
                doc: d.doc.clone(),
            });
            ids.push(id);
            match d.parent {
                Parent::Scope => {
                    b.by_qual.entry((lang, qualname)).or_insert(id);
                    let t = b
                        .scopes
                        .entry(key(lang, &f.scopes[d.scope].path))
                        .or_default();
                    t.items.entry(d.name.clone()).or_insert(id);
                    if matches!(d.kind, EntityKind::Function | EntityKind::Class) {
                        b.unique
                            .entry((lang, d.name.clone()))
                            .and_modify(|u| *u = None)
                            .or_insert(Some(id));
                    }
                }
                Parent::Def(p) => {
                    b.by_qual.entry((lang, qualname)).or_insert(id);
                    if d.kind == EntityKind::Method {
                        b.methods
                            .entry(ids[p])
                            .or_default()
                            .entry(d.name.clone())
                            .or_insert(id);
                    }
                }
                Parent::Impl(_) => {}
            }
        }
        def_ids.push(ids);
        module_ids.push(mid);
    }

    // Import bindings; function-level ones per def.
    let mut local: Vec<HashMap<usize, HashMap<String, Path>>> = Vec::with_capacity(files.len());
    for (_, lang, f) in &files {
        let mut per_def: HashMap<usize, HashMap<String, Path>> = HashMap::new();
        for bd in &f.bindings {
            match (bd.local_to, &bd.name) {
                (Some(d), Some(n)) => {
                    per_def
                        .entry(d)
                        .or_default()
                        .entry(n.clone())
                        .or_insert(bd.target.clone());
                }
                (Some(_), None) => {}
                (None, name) => {
                    let t = b
                        .scopes
                        .entry(key(*lang, &f.scopes[bd.scope].path))
                        .or_default();
                    match name {
                        Some(n) => {
                            t.bindings.entry(n.clone()).or_insert(bd.target.clone());
                        }
                        None => t.globs.push(bd.target.clone()),
                    }
                }
            }
        }
        local.push(per_def);
    }

    // Rust impls: the type and trait, `implements`; then the methods' parents and names,
    // `defines`.
    let mut impls: Vec<Vec<(Option<u32>, Option<u32>)>> = Vec::with_capacity(files.len());
    for (file, lang, f) in &files {
        let resolved: Vec<(Option<u32>, Option<u32>)> = f
            .impls
            .iter()
            .map(|imp| {
                let ctx = Ctx {
                    lang: *lang,
                    scope: &f.scopes[imp.scope].path,
                    local: None,
                };
                let ty = imp.ty.as_ref().and_then(|p| b.type_of(&ctx, p, None));
                let tr = imp.trait_.as_ref().and_then(|p| b.type_of(&ctx, p, None));
                let tr = tr.filter(|t| b.is_trait_like(*t));
                if let (Some(t), Some(tr)) = (ty, tr) {
                    b.edge(t, rel::IMPLEMENTS, tr, file, imp.line, &imp.text);
                    if b.entities[tr as usize].kind == EntityKind::Class {
                        let s = b.supers.entry(t).or_default();
                        if !s.contains(&tr) {
                            s.push(tr);
                        }
                    }
                }
                (ty, tr)
            })
            .collect();
        impls.push(resolved);
    }
    // Inherent methods first: `Type::m` means them before a trait's.
    for inherent in [true, false] {
        for (fi, (file, lang, f)) in files.iter().enumerate() {
            for (i, d) in f.defs.iter().enumerate() {
                let Parent::Impl(k) = d.parent else {
                    continue;
                };
                let (ty, tr) = impls[fi][k];
                if tr.is_none() != inherent {
                    continue;
                }
                let id = def_ids[fi][i];
                let sep = lang.separator();
                let tq = ty.map_or("_".to_string(), |t| b.entities[t as usize].qualname.clone());
                let qualname = match tr {
                    Some(tr) => format!(
                        "<{tq} as {}>{sep}{}",
                        b.entities[tr as usize].qualname, d.name
                    ),
                    None => format!("{tq}{sep}{}", d.name),
                };
                b.entities[id as usize].qualname = qualname.clone();
                b.entities[id as usize].parent = ty;
                b.by_qual.entry((*lang, qualname)).or_insert(id);
                if let Some(t) = ty {
                    b.methods
                        .entry(t)
                        .or_default()
                        .entry(d.name.clone())
                        .or_insert(id);
                    let sig: String = d.signature.chars().take(160).collect();
                    b.edge(t, rel::DEFINES, id, file, d.line, &sig);
                }
            }
        }
    }

    // Bases and supertraits, before any method lookup goes through them.
    for (fi, (file, lang, f)) in files.iter().enumerate() {
        for r in f.refs.iter().filter(|r| r.kind == RefKind::Base) {
            let Target::Path(p) = &r.target else {
                continue;
            };
            let d = &f.defs[r.from];
            let ctx = Ctx {
                lang: *lang,
                scope: &f.scopes[d.scope].path,
                local: None,
            };
            let head = def_ids[fi][r.from];
            let tail = b.type_of(&ctx, p, None);
            // A Rust supertrait that resolved to a struct was resolved wrongly.
            let tail = tail.filter(|t| *lang == Lang::Python || b.is_trait_like(*t));
            if let Some(tail) = tail {
                if tail != head && b.entities[tail as usize].kind == EntityKind::Class {
                    let s = b.supers.entry(head).or_default();
                    if !s.contains(&tail) {
                        s.push(tail);
                    }
                }
                b.edge(head, rel::INHERITS_FROM, tail, file, r.line, &r.text);
            }
        }
    }

    // Structure: contains, defines.
    for (fi, (file, _, f)) in files.iter().enumerate() {
        let mid = module_ids[fi];
        for (i, d) in f.defs.iter().enumerate() {
            let id = def_ids[fi][i];
            let sig: String = d.signature.chars().take(160).collect();
            match d.parent {
                Parent::Scope => b.edge(mid, rel::CONTAINS, id, file, d.line, &sig),
                Parent::Def(p) => {
                    let relation = match d.kind {
                        EntityKind::Class => rel::CONTAINS,
                        _ => rel::DEFINES,
                    };
                    b.edge(def_ids[fi][p], relation, id, file, d.line, &sig);
                }
                Parent::Impl(_) => {}
            }
        }
    }
    for (fi, (file, lang, f)) in files.iter().enumerate() {
        if f.module.len() < 2 {
            continue;
        }
        let parent = key(*lang, &f.module[..f.module.len() - 1]);
        if let Some(&pid) = b.by_qual.get(&parent) {
            if b.entities[pid as usize].kind == EntityKind::Module {
                let mid = module_ids[fi];
                let sig = b.entities[mid as usize].signature.clone();
                b.edge(pid, rel::CONTAINS, mid, file, 1, &sig);
            }
        }
    }

    // Imports.
    for (fi, (file, lang, f)) in files.iter().enumerate() {
        for imp in &f.imports {
            let ctx = Ctx {
                lang: *lang,
                scope: &f.scopes[imp.scope].path,
                local: None,
            };
            let abs = b.absolute(*lang, ctx.scope, &imp.target);
            let tail = match b.lookup_abs(*lang, &abs, 0) {
                Res::Entity(id) if b.entities[id as usize].kind == EntityKind::Method => None,
                Res::Entity(id) => Some(id),
                Res::External(q) => Some(b.external(*lang, &q)),
                Res::Unknown | Res::Skip => None,
            };
            if let Some(t) = tail {
                b.edge(module_ids[fi], rel::IMPORTS, t, file, imp.line, &imp.text);
            }
        }
    }

    // References from bodies and headers.
    for (fi, (file, lang, f)) in files.iter().enumerate() {
        for r in f.refs.iter().filter(|r| r.kind != RefKind::Base) {
            let d = &f.defs[r.from];
            let head = def_ids[fi][r.from];
            let ctx = Ctx {
                lang: *lang,
                scope: &f.scopes[d.scope].path,
                local: local[fi].get(&r.from),
            };
            let owner = b.entities[head as usize].parent.filter(|p| {
                matches!(
                    b.entities[*p as usize].kind,
                    EntityKind::Class | EntityKind::External
                )
            });
            let kind_of = |b: &Builder, t: u32| b.entities[t as usize].kind;
            match r.kind {
                RefKind::Call => {
                    let Some(tail) = b.callee(&ctx, &r.target, owner) else {
                        continue;
                    };
                    let relation = match kind_of(&b, tail) {
                        EntityKind::Function | EntityKind::Method | EntityKind::External => {
                            rel::CALLS
                        }
                        EntityKind::Class => rel::INSTANTIATES,
                        EntityKind::Module => continue,
                    };
                    b.edge(head, relation, tail, file, r.line, &r.text);
                    let through_self =
                        matches!(r.target, Target::SelfMethod(_) | Target::SuperMethod(_));
                    if d.is_test
                        && !through_self
                        && matches!(kind_of(&b, tail), EntityKind::Function | EntityKind::Method)
                    {
                        b.edge(head, rel::TESTS, tail, file, r.line, &r.text);
                    }
                }
                RefKind::StructLiteral => {
                    let Target::Path(p) = &r.target else {
                        continue;
                    };
                    if let Res::Entity(t) = b.resolve(&ctx, p, owner) {
                        if kind_of(&b, t) == EntityKind::Class {
                            b.edge(head, rel::INSTANTIATES, t, file, r.line, &r.text);
                        }
                    }
                }
                RefKind::Raise | RefKind::Return => {
                    let tail = match &r.target {
                        Target::Literal(s) => Some(b.external(*lang, s)),
                        Target::Path(p) => {
                            // In a trait, `Self` is the implementing type, not the trait.
                            let in_trait =
                                owner.is_some_and(|o| b.entities[o as usize].item == Item::Trait);
                            match in_trait && p.segs.first().is_some_and(|s| s == "Self") {
                                true => None,
                                false => b.type_of(&ctx, p, owner),
                            }
                        }
                        _ => None,
                    };
                    let relation = match r.kind {
                        RefKind::Raise => rel::RAISES,
                        _ => rel::RETURNS,
                    };
                    if let Some(t) = tail {
                        b.edge(head, relation, t, file, r.line, &r.text);
                    }
                }
                RefKind::Decorator => {
                    let tail = match &r.target {
                        Target::Literal(s) => Some(b.external(*lang, s)),
                        t => b.callee(&ctx, t, owner),
                    };
                    if let Some(t) = tail.filter(|t| kind_of(&b, *t) != EntityKind::Module) {
                        b.edge(head, rel::DECORATED_BY, t, file, r.line, &r.text);
                    }
                }
                RefKind::Base => {}
            }
        }
    }
    graph.entities = b.entities;
    graph.edges = b.edges;
    graph
}

impl Builder {
    /// Adds an edge unless it is a self-loop or already there.
    fn edge(&mut self, head: u32, relation: u8, tail: u32, file: &str, line: u32, text: &str) {
        if head == tail || !self.seen.insert((head, relation, tail)) {
            return;
        }
        self.edges.push(CodeEdge {
            head,
            relation,
            tail,
            file: file.to_string(),
            line,
            text: text.to_string(),
        });
    }

    /// A trait, or an External (which may be one).
    fn is_trait_like(&self, id: u32) -> bool {
        let e = &self.entities[id as usize];
        e.kind == EntityKind::External || e.item == Item::Trait
    }

    /// The External of this qualified name, made on first use.
    fn external(&mut self, lang: Lang, qualname: &str) -> u32 {
        if let Some(&id) = self.externals.get(&(lang, qualname.to_string())) {
            return id;
        }
        let id = self.entities.len() as u32;
        let name = qualname
            .rsplit(lang.separator())
            .next()
            .unwrap_or(qualname)
            .to_string();
        self.entities.push(Entity {
            id,
            kind: EntityKind::External,
            lang,
            item: Item::External,
            name,
            qualname: qualname.to_string(),
            module: None,
            parent: None,
            file: String::new(),
            line: 0,
            end_line: 0,
            signature: String::new(),
            doc: String::new(),
        });
        self.externals.insert((lang, qualname.to_string()), id);
        id
    }

    /// A binding's path made absolute: Rust `use a::b` is relative to the scope when `a` is
    /// one of its items or sub-modules, else it names a crate (or a crate's alias).
    fn absolute(&self, lang: Lang, scope: &[String], p: &Path) -> Vec<String> {
        if p.absolute || p.segs.is_empty() {
            return p.segs.clone();
        }
        let mut inner = scope.to_vec();
        inner.push(p.segs[0].clone());
        let k = key(lang, &inner);
        let here = self.scopes.get(&key(lang, scope));
        if self.by_qual.contains_key(&k)
            || self.scopes.contains_key(&k)
            || here.is_some_and(|t| t.items.contains_key(&p.segs[0]))
        {
            let mut s = scope.to_vec();
            s.extend(p.segs.iter().cloned());
            return s;
        }
        self.unalias(lang, &p.segs)
    }

    /// A path whose first segment is a crate alias, with the crate's name instead.
    fn unalias(&self, lang: Lang, segs: &[String]) -> Vec<String> {
        let mut s = segs.to_vec();
        if let Some(krate) = s
            .first()
            .and_then(|f| self.crate_aliases.get(&(lang, f.clone())))
        {
            s[0] = krate.clone();
        }
        s
    }

    /// A name looked up in a scope: its items, its import bindings, its variables, then the
    /// scopes it `*`-imports.
    fn lookup_name(&self, lang: Lang, scope: &[String], name: &str, depth: usize) -> Option<Name> {
        if depth > 4 {
            return None;
        }
        let table = self.scopes.get(&key(lang, scope))?;
        if let Some(&id) = table.items.get(name) {
            return Some(Name::Entity(id));
        }
        if let Some(p) = table.bindings.get(name) {
            return Some(Name::Path(p.clone(), scope.to_vec()));
        }
        if table.vars.contains(name) {
            return Some(Name::Var);
        }
        for g in &table.globs {
            let gs = self.absolute(lang, scope, g);
            if gs != scope && self.scopes.contains_key(&key(lang, &gs)) {
                if let Some(n) = self.lookup_name(lang, &gs, name, depth + 1) {
                    return Some(n);
                }
            }
        }
        None
    }

    /// A path as written in `ctx`'s scope.
    fn resolve(&mut self, ctx: &Ctx, path: &Path, self_ty: Option<u32>) -> Res {
        let lang = ctx.lang;
        let Some(first) = path.segs.first() else {
            return Res::Skip;
        };
        if path.absolute {
            return self.lookup_abs(lang, &path.segs, 0);
        }
        let rest = &path.segs[1..];
        if lang == Lang::Rust && first == "Self" {
            return match self_ty {
                Some(t) => self.walk(lang, t, rest, 0),
                None => Res::Skip,
            };
        }
        if let Some(p) = ctx.local.and_then(|l| l.get(first)) {
            let mut s = p.segs.clone();
            s.extend(rest.iter().cloned());
            return self.lookup_abs(lang, &s, 0);
        }
        match self.lookup_name(lang, ctx.scope, first, 0) {
            Some(Name::Entity(id)) => self.walk(lang, id, rest, 0),
            Some(Name::Path(p, at)) => {
                let mut s = self.absolute(lang, &at, &p);
                s.extend(rest.iter().cloned());
                self.lookup_abs(lang, &s, 0)
            }
            Some(Name::Var) => Res::Skip,
            None if lang == Lang::Rust && PRIMITIVES.contains(&first.as_str()) => {
                let t = self.external(lang, first);
                self.walk(lang, t, rest, 0)
            }
            None => {
                let segs = self.unalias(lang, &path.segs);
                match self.by_qual.get(&(lang, segs[0].clone())) {
                    Some(&id) if self.entities[id as usize].kind == EntityKind::Module => {
                        self.walk(lang, id, &segs[1..], 0)
                    }
                    _ => Res::Unknown,
                }
            }
        }
    }

    /// An absolute path: an exact qualified name, or its longest known prefix and the rest
    /// looked up from there.
    fn lookup_abs(&mut self, lang: Lang, segs: &[String], depth: usize) -> Res {
        if segs.is_empty() {
            return Res::Skip;
        }
        if depth > 8 {
            return Res::External(segs.join(lang.separator()));
        }
        if let Some(&id) = self.by_qual.get(&key(lang, segs)) {
            return Res::Entity(id);
        }
        for i in (1..segs.len()).rev() {
            let prefix = &segs[..i];
            if let Some(&id) = self.by_qual.get(&key(lang, prefix)) {
                return self.walk(lang, id, &segs[i..], depth + 1);
            }
            if self.scopes.contains_key(&key(lang, prefix)) {
                return self.walk_scope(lang, prefix, &segs[i..], depth + 1);
            }
        }
        Res::External(segs.join(lang.separator()))
    }

    /// `rest` looked up from an entity: a module's names, a class's (or type's) methods.
    fn walk(&mut self, lang: Lang, id: u32, rest: &[String], depth: usize) -> Res {
        if rest.is_empty() {
            return Res::Entity(id);
        }
        let e = &self.entities[id as usize];
        match e.kind {
            EntityKind::Module => {
                let scope = self.module_scope[&id].clone();
                self.walk_scope(lang, &scope, rest, depth)
            }
            EntityKind::Class | EntityKind::External => {
                if rest.len() == 1 {
                    if let Some(m) = self.find_method(id, &rest[0]) {
                        return Res::Entity(m);
                    }
                }
                // An enum variant or nested type: no entity to name.
                if rest[0].starts_with(|c: char| c.is_uppercase()) {
                    return Res::Skip;
                }
                let sep = lang.separator();
                Res::External(format!("{}{sep}{}", e.qualname, rest.join(sep)))
            }
            EntityKind::Function | EntityKind::Method => Res::Skip,
        }
    }

    /// `rest` looked up in a scope (module or inline module).
    fn walk_scope(&mut self, lang: Lang, scope: &[String], rest: &[String], depth: usize) -> Res {
        let full = || {
            let mut s = scope.to_vec();
            s.extend(rest.iter().cloned());
            s.join(lang.separator())
        };
        if depth > 8 {
            return Res::External(full());
        }
        match self.lookup_name(lang, scope, &rest[0], 0) {
            Some(Name::Entity(id)) => self.walk(lang, id, &rest[1..], depth + 1),
            Some(Name::Path(p, at)) => {
                let mut s = self.absolute(lang, &at, &p);
                s.extend(rest[1..].iter().cloned());
                self.lookup_abs(lang, &s, depth + 1)
            }
            Some(Name::Var) => Res::Skip,
            None => Res::External(full()),
        }
    }

    /// Method `name` of a type, else of its bases, supertraits and implemented traits
    /// (breadth first).
    fn find_method(&self, ty: u32, name: &str) -> Option<u32> {
        let mut queue = VecDeque::from([ty]);
        let mut seen = HashSet::new();
        while let Some(t) = queue.pop_front() {
            if !seen.insert(t) || seen.len() > 64 {
                continue;
            }
            if let Some(&m) = self.methods.get(&t).and_then(|ms| ms.get(name)) {
                return Some(m);
            }
            if let Some(s) = self.supers.get(&t) {
                queue.extend(s.iter().copied());
            }
        }
        None
    }

    /// A type name (base, impl type, trait, raised or returned type): a parsed class, or an
    /// External; None for modules, functions and what names nothing.
    fn type_of(&mut self, ctx: &Ctx, p: &Path, self_ty: Option<u32>) -> Option<u32> {
        match self.resolve(ctx, p, self_ty) {
            Res::Entity(id) => match self.entities[id as usize].kind {
                EntityKind::Class | EntityKind::External => Some(id),
                _ => None,
            },
            Res::External(q) => Some(self.external(ctx.lang, &q)),
            Res::Unknown => {
                let name = &p.segs[0];
                if p.segs.len() == 1 {
                    if let Some(Some(id)) = self.unique.get(&(ctx.lang, name.clone())) {
                        if self.entities[*id as usize].kind == EntityKind::Class {
                            return Some(*id);
                        }
                    }
                }
                Some(self.external(ctx.lang, &p.segs.join(ctx.lang.separator())))
            }
            Res::Skip => None,
        }
    }

    /// A callee (or decorator): see the module doc for the order of the rules.
    fn callee(&mut self, ctx: &Ctx, target: &Target, owner: Option<u32>) -> Option<u32> {
        match target {
            Target::SelfMethod(m) => self.find_method(owner?, m),
            Target::SuperMethod(m) => {
                let bases = self.supers.get(&owner?).cloned().unwrap_or_default();
                bases.into_iter().find_map(|b| self.find_method(b, m))
            }
            Target::Literal(s) => Some(self.external(ctx.lang, s)),
            Target::Path(p) => match self.resolve(ctx, p, owner) {
                Res::Entity(id) => Some(id),
                Res::External(q) => Some(self.external(ctx.lang, &q)),
                Res::Skip => None,
                Res::Unknown if p.segs.len() > 1 => None,
                Res::Unknown => {
                    let name = &p.segs[0];
                    if ctx.lang == Lang::Python && BUILTINS.contains(&name.as_str()) {
                        return Some(self.external(ctx.lang, name));
                    }
                    if let Some(Some(id)) = self.unique.get(&(ctx.lang, name.clone())) {
                        return Some(*id);
                    }
                    if ctx.lang == Lang::Rust && name.starts_with(|c: char| c.is_uppercase()) {
                        return None;
                    }
                    Some(self.external(ctx.lang, name))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::CodeOntology;
    use std::collections::BTreeSet;

    /// Edges as `head relation tail` strings of qualified names.
    fn triples(g: &CodeGraph) -> BTreeSet<String> {
        g.edges
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    g.entity(e.head).qualname,
                    RELATIONS[e.relation as usize],
                    g.entity(e.tail).qualname
                )
            })
            .collect()
    }

    fn assert_has(t: &BTreeSet<String>, want: &[&str]) {
        let missing: Vec<&&str> = want.iter().filter(|w| !t.contains(**w)).collect();
        assert!(missing.is_empty(), "missing {missing:#?}\nin {t:#?}");
    }

    fn assert_lacks(t: &BTreeSet<String>, unwanted: &[&str]) {
        let found: Vec<&&str> = unwanted.iter().filter(|w| t.contains(**w)).collect();
        assert!(found.is_empty(), "unexpected {found:#?}");
    }

    const PY: &[(&str, &str)] = &[
        (
            "py/pkg/__init__.py",
            "\"\"\"Package doc.\"\"\"\nfrom .core import Base, helper\nfrom . import util\n",
        ),
        (
            "py/pkg/core.py",
            r#"import os
import functools
from .errors import MyError

class Base(object):
    """Base class.

    More about it.
    """
    def run(self):
        """Run it."""
        self.step()
        return helper(1)

    def step(self):
        raise MyError("x")

def helper(x) -> int:
    return len(os.path.join("a", x))
"#,
        ),
        ("py/pkg/errors.py", "class MyError(ValueError):\n    pass\n"),
        (
            "py/pkg/util.py",
            r#"from pkg.core import Base
from pkg import core
import functools
CACHE = {}

class Child(Base):
    @property
    def name(self) -> "Child | None":
        return self.run()

    @name.setter
    def name(self, v):
        super().step()
        core.helper(2)

    @staticmethod
    @functools.lru_cache()
    def make() -> Base:
        x = []
        x.append(1)
        CACHE.get(1)
        return Base()

def uses_local(cb):
    cb()
    _private()
    undefined_thing()
    uses_local(cb)

def _private():
    from pkg.errors import MyError as E
    raise E()
"#,
        ),
        (
            "py/tests/test_util.py",
            "from pkg.util import Child, uses_local\n\ndef test_child():\n    Child.make()\n    uses_local(print)\n",
        ),
    ];

    #[test]
    fn python_relations_and_resolution() {
        let g = CodeGraph::from_sources(PY);
        assert_eq!((g.files, g.skipped.len(), g.partial.len()), (5, 0, 0));
        let t = triples(&g);
        assert_has(
            &t,
            &[
                // contains: package → submodule, module → top-level definitions.
                "pkg contains pkg.core",
                "pkg contains pkg.util",
                "pkg.core contains pkg.core.Base",
                "pkg.core contains pkg.core.helper",
                "tests.test_util contains tests.test_util.test_child",
                // defines
                "pkg.core.Base defines pkg.core.Base.run",
                "pkg.util.Child defines pkg.util.Child.make",
                // imports: relative and absolute, parsed and external.
                "pkg imports pkg.core.Base",
                "pkg imports pkg.util",
                "pkg.core imports os",
                "pkg.core imports pkg.errors.MyError",
                "pkg.util imports pkg.core",
                "pkg.util imports pkg.errors.MyError",
                // calls: self, inherited self, super, module attribute, imported name, builtin,
                // unresolved name, a class's static method.
                "pkg.core.Base.run calls pkg.core.Base.step",
                "pkg.core.Base.run calls pkg.core.helper",
                "pkg.util.Child.name calls pkg.core.Base.run",
                "pkg.util.Child.name calls pkg.core.Base.step",
                "pkg.util.Child.name calls pkg.core.helper",
                "pkg.core.helper calls len",
                "pkg.core.helper calls os.path.join",
                "pkg.util.uses_local calls pkg.util._private",
                "pkg.util.uses_local calls undefined_thing",
                "tests.test_util.test_child calls pkg.util.Child.make",
                "tests.test_util.test_child calls pkg.util.uses_local",
                // instantiates
                "pkg.util.Child.make instantiates pkg.core.Base",
                // inherits_from
                "pkg.core.Base inherits_from object",
                "pkg.errors.MyError inherits_from ValueError",
                "pkg.util.Child inherits_from pkg.core.Base",
                // raises: imported, aliased inside a function.
                "pkg.core.Base.step raises pkg.errors.MyError",
                "pkg.util._private raises pkg.errors.MyError",
                // returns: builtin, string annotation with None, a class.
                "pkg.core.helper returns int",
                "pkg.util.Child.name returns pkg.util.Child",
                "pkg.util.Child.make returns pkg.core.Base",
                // decorated_by
                "pkg.util.Child.name decorated_by property",
                "pkg.util.Child.name decorated_by property.setter",
                "pkg.util.Child.make decorated_by staticmethod",
                "pkg.util.Child.make decorated_by functools.lru_cache",
                // tests
                "tests.test_util.test_child tests pkg.util.Child.make",
                "tests.test_util.test_child tests pkg.util.uses_local",
            ],
        );
        assert_lacks(
            &t,
            &[
                "pkg.util.uses_local calls cb",
                "pkg.util.Child.make calls append",
                "pkg.util.Child.make calls CACHE.get",
                "pkg.util.Child.make calls pkg.util.CACHE.get",
                "pkg.util.uses_local calls pkg.util.uses_local",
                "pkg.util.Child.name calls super",
                "pkg.core.helper tests len",
            ],
        );
        let base = g.find("pkg.core.Base").unwrap();
        assert_eq!((base.kind, base.item), (EntityKind::Class, Item::Class));
        assert_eq!(base.signature, "class Base(object)");
        assert_eq!(base.doc, "Base class.\n\nMore about it.");
        assert_eq!(base.file, "py/pkg/core.py");
        assert_eq!((base.line, base.end_line), (5, 16));
        assert_eq!(g.find("pkg").unwrap().doc, "Package doc.");
        let run = g.find("pkg.core.Base.run").unwrap();
        assert_eq!(
            (run.kind, run.parent, run.module),
            (EntityKind::Method, Some(base.id), base.module)
        );
        let ext = g.find("os.path.join").unwrap();
        assert_eq!(
            (ext.kind, ext.name.as_str(), ext.module),
            (EntityKind::External, "join", None)
        );
        // Provenance.
        let e = g
            .edges
            .iter()
            .find(|e| {
                g.entity(e.head).qualname == "pkg.core.Base.step" && e.relation == rel::RAISES
            })
            .unwrap();
        assert_eq!(
            (e.file.as_str(), e.line, e.text.as_str()),
            ("py/pkg/core.py", 16, "raise MyError(\"x\")")
        );
        assert!(
            CodeOntology.violations(&g).is_empty(),
            "{:?}",
            CodeOntology.violations(&g)
        );
    }

    const RS: &[(&str, &str)] = &[
        (
            "rs/src/lib.rs",
            "//! The crate.\npub mod shapes;\nmod util;\npub use shapes::Shape;\n",
        ),
        (
            "rs/src/shapes.rs",
            r#"//! Shapes.
use crate::util::{area_of, Helper};
use std::fmt;

/// A shape.
pub trait Shape: fmt::Debug {
    /// Its area.
    fn area(&self) -> f64;
    fn describe(&self) -> String { format!("{}", self.area()) }
    fn twice(&self) -> Self;
}

/// A square.
#[derive(Debug)]
pub struct Square {
    pub side: f64,
}

impl Square {
    /// A new square.
    pub fn new(side: f64) -> Self {
        Square { side }
    }
    pub fn doubled(&self) -> Option<Square> {
        Some(Self::new(self.side * 2.0))
    }
}

impl Shape for Square {
    fn area(&self) -> f64 {
        area_of(self.side, self.side)
    }
    fn twice(&self) -> Self { self.doubled().unwrap() }
}

impl fmt::Display for Square {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl Shape for f64 {
    fn area(&self) -> f64 { *self }
}
"#,
        ),
        (
            "rs/src/util.rs",
            r#"pub fn area_of(a: f64, b: f64) -> f64 {
    a * b
}
pub struct Helper;
pub trait Sub: super::shapes::Shape {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::Square;

    #[test]
    fn square_area() {
        let s = Square::new(2.0);
        assert_eq!(area_of(2.0, 2.0), 4.0);
        helper_fn();
        f64::area(&1.0);
    }

    fn helper_fn() {}
}
"#,
        ),
    ];

    #[test]
    fn rust_relations_and_resolution() {
        let g = CodeGraph::from_sources(RS);
        let t = triples(&g);
        let sq = "rs::shapes::Square";
        assert_has(
            &t,
            &[
                "rs contains rs::shapes",
                "rs contains rs::util",
                "rs::shapes contains rs::shapes::Shape",
                "rs::shapes contains rs::shapes::Square",
                "rs::util contains rs::util::tests::square_area",
                "rs::shapes::Shape defines rs::shapes::Shape::area",
                "rs::shapes::Square defines rs::shapes::Square::new",
                "rs::shapes::Square defines <rs::shapes::Square as rs::shapes::Shape>::area",
                "rs::shapes::Square defines <rs::shapes::Square as std::fmt::Display>::fmt",
                "f64 defines <f64 as rs::shapes::Shape>::area",
                "rs imports rs::shapes::Shape",
                "rs::shapes imports rs::util::area_of",
                "rs::shapes imports rs::util::Helper",
                "rs::shapes imports std::fmt",
                "rs::util imports rs::shapes::Square",
                "rs::shapes::Square implements rs::shapes::Shape",
                "rs::shapes::Square implements std::fmt::Display",
                "f64 implements rs::shapes::Shape",
                "rs::shapes::Shape inherits_from std::fmt::Debug",
                "rs::util::Sub inherits_from rs::shapes::Shape",
                // self in a trait's default method and inside a macro; Self::; use bindings;
                // a trait's default method through an impl; a `*` import of the parent module.
                "rs::shapes::Shape::describe calls rs::shapes::Shape::area",
                "rs::shapes::Square::doubled calls rs::shapes::Square::new",
                "<rs::shapes::Square as rs::shapes::Shape>::area calls rs::util::area_of",
                "<rs::shapes::Square as rs::shapes::Shape>::twice calls rs::shapes::Square::doubled",
                "<rs::shapes::Square as std::fmt::Display>::fmt calls rs::shapes::Shape::describe",
                "rs::util::tests::square_area calls rs::shapes::Square::new",
                "rs::util::tests::square_area calls rs::util::area_of",
                "rs::util::tests::square_area calls rs::util::tests::helper_fn",
                "rs::util::tests::square_area calls <f64 as rs::shapes::Shape>::area",
                "rs::shapes::Square::new instantiates rs::shapes::Square",
                "rs::shapes::Shape::area returns f64",
                "rs::shapes::Shape::describe returns String",
                "rs::shapes::Square::new returns rs::shapes::Square",
                "rs::shapes::Square::doubled returns rs::shapes::Square",
                "<rs::shapes::Square as std::fmt::Display>::fmt returns std::fmt::Result",
                "rs::util::tests::square_area tests rs::shapes::Square::new",
                "rs::util::tests::square_area tests rs::util::area_of",
            ],
        );
        assert_lacks(
            &t,
            &[
                "rs::shapes::Square::doubled calls Some",
                "rs::shapes::Shape::twice returns rs::shapes::Shape",
                "rs::util imports rs::util",
            ],
        );
        let s = g.find(sq).unwrap();
        assert_eq!((s.item, s.doc.as_str()), (Item::Struct, "A square."));
        assert_eq!(s.signature, "pub struct Square");
        let new = g.find("rs::shapes::Square::new").unwrap();
        assert_eq!((new.kind, new.parent), (EntityKind::Method, Some(s.id)));
        assert_eq!(new.signature, "pub fn new(side: f64) -> Self");
        assert_eq!(g.find("rs").unwrap().doc, "The crate.");
        assert!(
            CodeOntology.violations(&g).is_empty(),
            "{:?}",
            CodeOntology.violations(&g)
        );
    }

    #[test]
    fn rust_crates_and_crate_aliases() {
        let g = CodeGraph::from_sources(&[
            ("ws/a/src/lib.rs", "pub mod inner;\npub fn f() {}\n"),
            ("ws/a/src/inner.rs", "pub fn deep() {}\n"),
            (
                "ws/b/src/lib.rs",
                "extern crate a as a_crate;\nextern crate self as b;\nmod m;\npub fn g() { a_crate::f(); a::inner::deep(); }\n",
            ),
            ("ws/b/src/m.rs", "use a_crate::f;\npub fn h() { f(); other(); b::g(); }\n"),
        ]);
        let t = triples(&g);
        assert_has(
            &t,
            &[
                "a contains a::inner",
                "b contains b::m",
                "b::g calls a::f",
                "b::g calls a::inner::deep",
                "b::m imports a::f",
                "b::m::h calls a::f",
                "b::m::h calls other",
                "b::m::h calls b::g",
            ],
        );
    }

    #[test]
    fn ids_and_edges_repeat() {
        let mixed: Vec<(&str, &str)> = PY.iter().chain(RS).copied().collect();
        let reversed: Vec<(&str, &str)> = mixed.iter().rev().copied().collect();
        let a = CodeGraph::from_sources(&mixed);
        let b = CodeGraph::from_sources(&reversed);
        assert_eq!(a.entities, b.entities);
        assert_eq!(a.edges, b.edges);
        for (i, e) in a.entities.iter().enumerate() {
            assert_eq!(e.id as usize, i);
        }
        // Parsed entities come before every external.
        let first_ext = a
            .entities
            .iter()
            .position(|e| e.kind == EntityKind::External)
            .unwrap();
        assert!(a.entities[first_ext..]
            .iter()
            .all(|e| e.kind == EntityKind::External));
        // One graph, two languages: never an edge across them.
        assert!(a
            .edges
            .iter()
            .all(|e| a.entity(e.head).lang == a.entity(e.tail).lang));
        let json = serde_json::to_string(&a).unwrap();
        let back: CodeGraph = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (back.entities, back.edges),
            (a.entities.clone(), a.edges.clone())
        );
        let counts = a.relation_counts();
        assert_eq!(counts.len(), RELATIONS.len());
        assert_eq!(counts.values().sum::<usize>(), a.edges.len());
        assert_eq!(a.kind_counts().values().sum::<usize>(), a.entities.len());
    }

    /// The pinned standard libraries (about 4 s): every relation has the paper's 100 examples,
    /// every edge obeys the schema, nothing is skipped.
    #[test]
    fn real_standard_libraries() {
        let names = ["python-stdlib", "python-stdlib-core", "rust-stdlib"];
        let data = lvmkit_sources::fetched(&names);
        let roots: Vec<PathBuf> = names.iter().map(|n| data.corpus(n).unwrap()).collect();
        let g = CodeGraph::parse_roots(&roots).unwrap();
        assert!(
            g.files > 1200 && g.skipped.is_empty(),
            "{} files, {:?}",
            g.files,
            g.skipped
        );
        for (relation, n) in g.relation_counts() {
            assert!(n >= 100, "{relation}: {n} edges");
        }
        let bad = CodeOntology.violations(&g);
        assert!(
            bad.is_empty(),
            "{} violations, first {:?}",
            bad.len(),
            bad.first()
        );
        for q in [
            "json.decoder.JSONDecoder.decode",
            "core::option::Option::map",
        ] {
            let e = g.find(q).unwrap();
            assert!(!e.doc.is_empty() && !e.signature.is_empty(), "{q}");
        }
        let split = crate::code::hold_out_modules(&g, 0.15, 0.05, 42);
        assert!(split.held_out_fraction() >= 0.15);
    }

    #[test]
    fn roots_on_disk_with_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mini");
        std::fs::create_dir_all(root.join("pkg/__pycache__")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("pkg/__init__.py"), "def f():\n    return g()\n").unwrap();
        std::fs::write(root.join("pkg/latin1.py"), b"s = '\xe9'\n").unwrap();
        std::fs::write(root.join("pkg/broken.py"), "def f(:\n    pass\n").unwrap();
        std::fs::write(root.join("pkg/__pycache__/x.py"), "def cached(): pass\n").unwrap();
        std::fs::write(root.join(".git/y.py"), "def hidden(): pass\n").unwrap();
        std::fs::write(root.join("notes.txt"), "not code").unwrap();
        let g = CodeGraph::parse_roots(std::slice::from_ref(&root)).unwrap();
        assert_eq!(g.files, 2);
        assert_eq!(g.skipped.len(), 1);
        assert_eq!(g.skipped[0].0, "mini/pkg/latin1.py");
        assert!(g.skipped[0].1.contains("not UTF-8"), "{}", g.skipped[0].1);
        assert_eq!(g.partial, ["mini/pkg/broken.py"]);
        assert!(g.find("pkg.f").is_some());
        assert!(g.find("pkg.__pycache__.x").is_none() && g.find(".git.y").is_none());
        let missing = dir.path().join("nowhere");
        let err = CodeGraph::parse_roots(std::slice::from_ref(&missing))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
    }
}
