//! The code graphs of the pinned source trees, counted: files, lines, entities by kind, edges by
//! relation, parse time, schema violations, and the module split. One graph per language
//! (Python: the standard library, minimal set included; Rust: core, alloc, std).
//!
//!   cargo run --release -p lvmkit-graphmert --example code_graph_stats [-- DIR ...]
//!
//! With folders given, one graph of them instead. Needs the fetched sources (`lvmkit fetch
//! --only python-stdlib --only python-stdlib-core --only rust-stdlib`) in $LVMKIT_DATA, else
//! the repository's data/.
use lvmkit_graphmert::code::{hold_out_modules, CodeGraph, CodeOntology, RELATIONS};
use lvmkit_io::{Align, Table};
use lvmkit_sources::DataDir;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let sets: Vec<(String, Vec<PathBuf>)> = if args.is_empty() {
        let data = DataDir::of_repository();
        let names = ["python-stdlib", "python-stdlib-core", "rust-stdlib"];
        data.require(&names)?;
        vec![
            (
                "python-stdlib + core".into(),
                vec![data.corpus(names[0])?, data.corpus(names[1])?],
            ),
            ("rust-stdlib".into(), vec![data.corpus(names[2])?]),
        ]
    } else {
        vec![("given folders".into(), args)]
    };
    for (name, roots) in sets {
        let start = Instant::now();
        let g = CodeGraph::parse_roots(&roots)?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "\n## {name}: {} files, {} lines, parsed in {secs:.2} s ({} skipped, {} with syntax errors)",
            g.files,
            g.lines,
            g.skipped.len(),
            g.partial.len()
        );
        for (file, why) in g.skipped.iter().take(5) {
            println!("skipped {file}: {why}");
        }
        let mut kinds = Table::new([("entity kind", Align::Left), ("count", Align::Right)]);
        for (k, n) in g.kind_counts() {
            kinds.row([k.to_string(), n.to_string()]);
        }
        print!("\n{}", kinds.text());
        let mut rels = Table::new([
            ("relation", Align::Left),
            ("edges", Align::Right),
            ("distinct heads", Align::Right),
            ("distinct tails", Align::Right),
            ("tails parsed", Align::Right),
        ]);
        for (i, r) in RELATIONS.iter().enumerate() {
            let edges: Vec<_> = g
                .edges
                .iter()
                .filter(|e| e.relation as usize == i)
                .collect();
            let heads: std::collections::HashSet<u32> = edges.iter().map(|e| e.head).collect();
            let tails: std::collections::HashSet<u32> = edges.iter().map(|e| e.tail).collect();
            let parsed = edges
                .iter()
                .filter(|e| g.entity(e.tail).is_parsed())
                .count();
            rels.row([
                r.to_string(),
                edges.len().to_string(),
                heads.len().to_string(),
                tails.len().to_string(),
                parsed.to_string(),
            ]);
        }
        print!("\n{}", rels.text());
        let bad = CodeOntology.violations(&g);
        println!("\nschema violations: {}", bad.len());
        for (i, why) in bad.iter().take(5) {
            println!("  edge {i}: {why}");
        }
        let split = hold_out_modules(&g, 0.15, 0.05, 42);
        let held_edges = g.edges.iter().filter(|e| split.is_held_out(&g, e)).count();
        println!(
            "split (seed 42): {} modules held out, {:.1}% of {} parsed entities, {} edges; {} validation modules",
            split.held_out_modules.len(),
            100.0 * split.held_out_fraction(),
            split.parsed_entities,
            held_edges,
            split.val_modules.len()
        );
    }
    Ok(())
}
