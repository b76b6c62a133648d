//! The GraphMERT data stage on the real Gene Ontology (fetched by `lvmkit fetch`).

use lvmkit_graphmert::{ChainLayout, DataOptions, GraphData, RELATIONS};
use std::collections::HashSet;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    let data = std::env::var_os("LVMKIT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data"));
    assert!(
        data.join("graphs/gene-ontology/GO.sqlite").exists(),
        "GO missing under {}: run `cargo run --release -p lvmkit -- fetch` first",
        data.display()
    );
    data
}

#[test]
fn go_sequences_heads_and_injection_hold_out_whole_heads_and_fit_the_leaves() {
    let data = data_dir();
    let opts = DataOptions {
        layout: ChainLayout {
            roots: 48,
            leaves: 5,
        },
        ..Default::default()
    };
    let d = GraphData::build(
        &data.join("graphs/gene-ontology/GO.sqlite"),
        &data.join("encoders/all-MiniLM-L6-v2"),
        &opts,
    )
    .unwrap();
    let o = &d.ontology;
    // GO release 2022-07 as packaged: the numbers datasets.md records.
    assert_eq!(o.release, "2022-07-01");
    assert!(
        (43_000..44_000).contains(&o.terms.len()),
        "{}",
        o.terms.len()
    );
    assert!(
        (85_000..86_000).contains(&o.edges.len()),
        "{}",
        o.edges.len()
    );
    assert_eq!(
        d.sequences.len(),
        o.terms.iter().filter(|t| t.definition.is_some()).count()
    );

    // Held out: ≥ 15% of edges, by whole heads, disjoint from the seed graph.
    let held = d.split.held_out.len() as f64 / o.edges.len() as f64;
    assert!((0.15..0.16).contains(&held), "{held}");
    assert!(d
        .split
        .seed
        .iter()
        .all(|e| !d.split.held_out_heads.contains(&e.child)));
    assert!(d
        .split
        .held_out
        .iter()
        .all(|e| d.split.held_out_heads.contains(&e.child)));

    // The first sequence's own term is found at root 1 (right after [CLS]).
    let first = &d.sequences[0];
    let own = d
        .occurrences
        .iter()
        .find(|h| h.seq == first.id && h.root == 1)
        .expect("the term's own name starts its sequence");
    assert_eq!(
        o.terms[own.term as usize].name,
        o.terms[first.term as usize].name
    );

    // Every injected triple is a seed edge (never a held-out one), its tail fits the leaves,
    // and no root carries two.
    let seed: HashSet<(u32, u8, u32)> = d
        .split
        .seed
        .iter()
        .map(|e| (e.child, e.relation, e.parent))
        .collect();
    let mut roots = HashSet::new();
    for t in &d.injected {
        assert!(seed.contains(&(t.head, t.relation, t.tail)));
        assert!(!d.split.held_out_heads.contains(&t.head));
        assert!(!t.tail_tokens.is_empty() && t.tail_tokens.len() <= 5);
        assert!(roots.insert((t.seq, t.root)), "two triples on one root");
        assert_eq!(
            d.sequences[t.seq].roots[t.root..t.root + t.head_len].len(),
            t.head_len
        );
    }
    // Every relation of GO has enough examples to be injected.
    for rel in RELATIONS {
        assert!(
            d.report.injected.get(rel).copied().unwrap_or(0) >= 100,
            "{rel}: {:?}",
            d.report
        );
    }
}
