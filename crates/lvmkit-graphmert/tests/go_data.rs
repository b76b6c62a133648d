//! The GraphMERT data stage on the real Gene Ontology (fetched by `lvmkit fetch`).

use lvmkit_graphmert::model::GraphmertConfig;
use lvmkit_graphmert::train::{train, TrainSettings};
use lvmkit_graphmert::{DataOptions, GraphData, RELATIONS};
use lvmkit_sources::{DataDir, DEFAULT_ENCODER, GENE_ONTOLOGY};
use lvmkit_train::TrainOptions;
use std::collections::HashSet;
use std::sync::OnceLock;

/// The data folder with the Gene Ontology and the default encoder fetched; fails, naming the
/// fetch command, without them.
fn data() -> DataDir {
    lvmkit_sources::fetched(&[GENE_ONTOLOGY, DEFAULT_ENCODER])
}

/// The GO data cut to the tiny preset's layout (32 roots × 7 leaves), built once.
fn go() -> &'static GraphData {
    static DATA: OnceLock<GraphData> = OnceLock::new();
    DATA.get_or_init(|| {
        let opts = DataOptions {
            layout: GraphmertConfig::tiny(1, 1).layout,
            ..Default::default()
        };
        GraphData::from_data_dir(&data(), &opts).unwrap()
    })
}

fn quiet() -> TrainOptions {
    TrainOptions {
        progress: false,
        ..Default::default()
    }
}

#[test]
fn go_sequences_heads_and_injection_hold_out_whole_heads_and_fit_the_leaves() {
    let d = go();
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
    // Validation: held out and validation together ≥ 20%, whole heads, disjoint from both; the
    // test heads do not depend on it.
    let both = (d.split.held_out.len() + d.split.val.len()) as f64 / o.edges.len() as f64;
    assert!((0.2..0.21).contains(&both), "{both}");
    assert!(d.split.val_heads.is_disjoint(&d.split.held_out_heads));
    assert!(d
        .split
        .seed
        .iter()
        .all(|e| !d.split.val_heads.contains(&e.child)));
    assert!(d
        .split
        .val
        .iter()
        .all(|e| d.split.val_heads.contains(&e.child)));
    let no_val = lvmkit_graphmert::split::hold_out(o, 0.15, 0.0, DataOptions::default().seed);
    assert_eq!(no_val.held_out_heads, d.split.held_out_heads);
    assert_eq!(no_val.seed.len(), d.split.seed.len() + d.split.val.len());

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
        assert!(!t.tail_tokens.is_empty() && t.tail_tokens.len() <= 7);
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

#[test]
fn tiny_graphmert_learns_on_go_and_writes_its_run() {
    let d = go();
    let config = GraphmertConfig::tiny(d.vocab.size, RELATIONS.len());
    let settings = TrainSettings {
        epochs: 3,
        batch_size: 8,
        lr: 2e-3,
        max_sequences: 48,
        val_sequences: 16,
        ..Default::default()
    };
    let out = tempfile::tempdir().unwrap();
    let (_, _, history) = train(d, &config, &settings, out.path(), &quiet(), |_| {}).unwrap();
    assert_eq!(history.len(), 3);
    let (first, last) = (&history[0].train, &history[2].train);
    assert!(
        last.mlm_loss < first.mlm_loss,
        "MLM loss did not fall: {first:?} → {last:?}"
    );
    assert!(
        last.sbo_loss < first.sbo_loss,
        "SBO loss did not fall: {first:?} → {last:?}"
    );
    // (MNM has only a handful of masked tails at this size: too noisy to compare.)
    assert!(
        first.mnm_loss > 0.0 && first.sbo_loss > 0.0,
        "a loss term is missing: {first:?}"
    );
    // The decay offsets are trained.
    assert!(history[2]
        .decay_offsets
        .iter()
        .any(|&p| (p - 1.0).abs() > 1e-4));
    for f in ["config.json", "history.json", "model.safetensors"] {
        assert!(out.path().join(f).exists(), "{f} missing");
    }
}

#[test]
fn an_interrupted_run_resumes_to_the_same_weights() {
    let d = go();
    let config = GraphmertConfig::tiny(d.vocab.size, RELATIONS.len());
    let settings = TrainSettings {
        epochs: 2,
        batch_size: 8,
        max_sequences: 24,
        val_sequences: 8,
        ..Default::default()
    };
    let whole = tempfile::tempdir().unwrap();
    train(d, &config, &settings, whole.path(), &quiet(), |_| {}).unwrap();
    let cut = tempfile::tempdir().unwrap();
    // Stop after epoch 1, then resume.
    let stop = TrainOptions {
        stop_after: Some(1),
        ..quiet()
    };
    train(d, &config, &settings, cut.path(), &stop, |_| {}).unwrap();
    let resume = TrainOptions {
        resume: true,
        ..quiet()
    };
    let (_, _, history) = train(d, &config, &settings, cut.path(), &resume, |_| {}).unwrap();
    assert_eq!(history.len(), 2);
    let read = |p: &std::path::Path| std::fs::read(p.join("model.safetensors")).unwrap();
    assert!(
        read(whole.path()) == read(cut.path()),
        "resumed weights differ"
    );
    // A fresh run into a used folder, or a resume with other settings, is refused.
    let err = train(d, &config, &settings, cut.path(), &quiet(), |_| {})
        .err()
        .unwrap();
    assert!(err.to_string().contains("already holds"), "{err}");
    let other = TrainSettings {
        lr: 1e-3,
        ..settings
    };
    let err = train(d, &config, &other, cut.path(), &resume, |_| {})
        .err()
        .unwrap();
    assert!(err.to_string().contains("another configuration"), "{err}");
}

#[test]
fn the_held_out_edges_are_valid_by_the_ontologys_own_rules_and_corruptions_are_not() {
    use lvmkit_graphmert::validity::{ValidityRules, Verdict};
    let d = go();
    let mut rules = ValidityRules::new(&d.ontology, &d.split.seed);
    let valid = d
        .split
        .held_out
        .iter()
        .filter(|e| rules.judge(e.child, e.relation, e.parent) == Verdict::Valid)
        .count();
    let share = valid as f64 / d.split.held_out.len() as f64;
    assert!(
        share > 0.99,
        "only {share:.4} of real GO edges pass the rules"
    );
    // Reversed is_a edges close cycles; the rules catch them.
    let mut rules = ValidityRules::new(&d.ontology, &d.split.seed);
    let reversed = d
        .split
        .seed
        .iter()
        .filter(|e| e.relation == 0)
        .take(500)
        .filter(|e| rules.judge(e.parent, 0, e.child) == Verdict::Cycle)
        .count();
    assert_eq!(reversed, 500);
}

#[test]
fn the_text_only_baseline_is_scored_on_the_held_out_edges() {
    use lvmkit_graphmert::score::{score, text_only};
    let d = go();
    let predicted = text_only(&d.ontology, &d.split.seed, &d.occurrences);
    let s = score(&predicted, &d.split);
    assert!(s.triples > 1000, "{s:?}");
    // Definitions do name parents now and then: some recall, far from all.
    assert!(s.recall > 0.0 && s.recall < 0.5, "{s:?}");
    assert!(s.precision > 0.0 && s.precision <= 1.0, "{s:?}");
    assert!(
        s.hits_at_1 <= s.hits_at_10 && s.hits_at_10 <= s.recall + 1e-12,
        "{s:?}"
    );
    eprintln!("text-only baseline on the held-out GO edges: {s:?}");
}

#[test]
fn the_graph_only_baseline_learns_the_seed_graph_and_is_scored_on_the_held_out_edges() {
    use lvmkit_graphmert::score::score;
    use lvmkit_graphmert::transe::{TransE, TransEConfig};
    let d = go();
    let cfg = TransEConfig {
        epochs: 20,
        ..Default::default()
    };
    let (model, losses) = TransE::train(d.ontology.terms.len(), &d.split.seed, &cfg);
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.7),
        "TransE did not learn: {losses:?}"
    );
    // Scored on 800 of the held-out heads (ranking every GO term for all 6.5k takes ~1 min).
    let heads: std::collections::BTreeSet<u32> =
        d.split.held_out_heads.iter().copied().take(800).collect();
    let split = d.split.restricted_to(&heads);
    let predicted = model.predict(&d.ontology, &d.split.seed, &heads, 10);
    let s = score(&predicted, &split);
    assert!(s.hits_at_1 <= s.hits_at_10 && s.triples > 0, "{s:?}");
    eprintln!("graph-only (TransE) baseline on the held-out GO edges: {s:?}");
}

#[test]
fn extraction_forms_tails_from_the_top_k_tokens_and_keeps_provenance() {
    use lvmkit_graphmert::extract::{extract, ExtractOptions};
    let d = go();
    let config = GraphmertConfig::tiny(d.vocab.size, RELATIONS.len());
    let settings = TrainSettings {
        epochs: 1,
        batch_size: 8,
        max_sequences: 32,
        val_sequences: 8,
        ..Default::default()
    };
    let out = tempfile::tempdir().unwrap();
    train(d, &config, &settings, out.path(), &quiet(), |_| {}).unwrap();
    let (model, _) = lvmkit_graphmert::train::load_run(out.path()).unwrap();
    // Held-out heads in their own definitions. An untrained model ranks tokens nearly at
    // random, so k is large: this checks the mechanics, not the quality.
    let occ: Vec<_> = d
        .occurrences
        .iter()
        .filter(|o| d.split.held_out_heads.contains(&o.term) && d.sequences[o.seq].term == o.term)
        .take(20)
        .copied()
        .collect();
    let opts = ExtractOptions {
        top_k: 3000,
        ..Default::default()
    };
    let got = extract(&model, d, &occ, &opts, false).unwrap();
    assert!(
        !got.is_empty(),
        "no tail formed from 3000 tokens for 20 heads"
    );
    // The same queries, one per batch and run in parallel: the same triples in the same order,
    // up to float rounding (products of other shapes round differently).
    let one_by_one = extract(&model, d, &occ, &ExtractOptions { batch: 1, ..opts }, false).unwrap();
    assert_eq!(got.len(), one_by_one.len());
    let mut same = 0;
    for (a, b) in got.iter().zip(&one_by_one) {
        assert!(
            (a.score - b.score).abs() < 1e-3,
            "{} vs {}",
            a.score,
            b.score
        );
        let agree = (a.seq, a.head, &a.relation, a.tail) == (b.seq, b.head, &b.relation, b.tail);
        same += usize::from(agree);
    }
    // Near-ties may swap places.
    assert!(same * 10 >= got.len() * 9, "{same} of {} agree", got.len());
    for x in &got {
        assert!(RELATIONS.contains(&x.relation.as_str()));
        assert_eq!(
            x.scored().relation as usize,
            RELATIONS.iter().position(|r| *r == x.relation).unwrap()
        );
        assert_eq!(
            x.text, d.sequences[x.seq].text,
            "provenance: the source sequence"
        );
        assert_eq!(x.tokens.len(), 3000);
        assert_ne!(x.head, x.tail);
        // Every token of the tail is among the top-k tokens read at the leaf.
        let top: std::collections::HashSet<&str> =
            x.tokens.iter().map(|(t, _)| t.as_str()).collect();
        for id in d.vocab.tokens(&x.tail_name).unwrap() {
            let piece = d.vocab.decode(&[id]);
            assert!(
                top.contains(piece.as_str()),
                "{piece} of {} not in the top k",
                x.tail_name
            );
        }
        assert!(x.score <= 0.0 && x.score.is_finite());
    }
}

#[test]
fn the_similarity_filter_is_calibrated_on_seed_triples_and_separates_true_from_corrupted() {
    use lvmkit_graphmert::filter::{calibrate, score};
    let d = go();
    let enc = lvmkit_encode::SentenceEncoder::load(&data().default_encoder()).unwrap();
    let c = calibrate(&enc, d, 300, 0.9, 7).unwrap();
    eprintln!("{c:?}");
    assert!((c.keep - 0.9).abs() < 0.02, "{c:?}");
    // Measured with 1,500 seed triples: AUC 0.91 against random same-namespace tails.
    assert!(c.auc > 0.8, "{c:?}");
    assert!(c.mean_true > c.mean_corrupted + 0.05, "{c:?}");
    assert!(c.corrupted_kept < 0.6, "{c:?}");
    assert_eq!(
        calibrate(&enc, d, 300, 0.9, 7).unwrap().beta,
        c.beta,
        "seeded"
    );
    // Scoring: a seed triple stated in its head's own definition against a nonsense one.
    let own = d
        .split
        .seed
        .iter()
        .find(|e| d.sequences.iter().any(|s| s.term == e.child))
        .unwrap();
    let seq = d.sequences.iter().find(|s| s.term == own.child).unwrap();
    let make = |tail: u32| lvmkit_graphmert::extract::Extracted {
        seq: seq.id,
        text: seq.text.clone(),
        head: own.child,
        head_name: d.ontology.terms[own.child as usize].name.clone(),
        relation: RELATIONS[own.relation as usize].to_string(),
        tail,
        tail_name: d.ontology.terms[tail as usize].name.clone(),
        score: 0.0,
        log_prob: 0.0,
        tokens: vec![],
        similarity: None,
    };
    let mut xs = vec![make(own.parent), make(own.parent)];
    score(&enc, d, &mut xs).unwrap();
    let s = xs[0].similarity.unwrap();
    assert!(s > 0.0 && s <= 1.0 + 1e-6);
    assert_eq!(xs[0].similarity, xs[1].similarity);
}

#[test]
fn relations_are_proposed_from_seed_heads_that_start_with_the_same_word() {
    use lvmkit_graphmert::extract::RelationProposer;
    let d = go();
    let proposer = RelationProposer::new(d, 0.05);
    let by_name = |name: &str| {
        d.ontology
            .terms
            .iter()
            .position(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} is a GO term")) as u32
    };
    let names = |rs: Vec<u8>| -> Vec<&str> { rs.iter().map(|&r| RELATIONS[r as usize]).collect() };
    let positive = names(proposer.propose(d, by_name("positive regulation of cell cycle")));
    assert!(positive.contains(&"positively_regulates"), "{positive:?}");
    assert!(!positive.contains(&"negatively_regulates"), "{positive:?}");
    let plain = names(proposer.propose(d, by_name("mitochondrion organization")));
    assert!(plain.contains(&"is_a"), "{plain:?}");
    assert!(!plain.iter().any(|r| r.contains("regulates")), "{plain:?}");
    // 0: every relation.
    assert_eq!(
        RelationProposer::new(d, 0.0)
            .propose(d, by_name("mitochondrion organization"))
            .len(),
        RELATIONS.len()
    );
}

#[test]
fn selection_prefers_specific_tails_when_asked() {
    use lvmkit_graphmert::extract::{select, ExtractOptions, Extracted, Hierarchy};
    let d = go();
    let h = Hierarchy::new(d);
    // A seed is_a chain child → parent → grandparent, the child with its own definition.
    let parent_of = |t: u32| {
        d.split
            .seed
            .iter()
            .find(|e| e.child == t && e.relation == 0)
            .map(|e| e.parent)
    };
    let (child, parent, grand) = d
        .sequences
        .iter()
        .find_map(|s| {
            let p = parent_of(s.term)?;
            Some((s.term, p, parent_of(p)?))
        })
        .unwrap();
    assert!(h.ancestors(parent).contains(&grand));
    assert!(h.depth(parent) > h.depth(grand));
    let seq = d.sequences.iter().find(|s| s.term == child).unwrap();
    let cand = |tail: u32, log_prob: f64| Extracted {
        seq: seq.id,
        text: seq.text.clone(),
        head: child,
        head_name: d.ontology.terms[child as usize].name.clone(),
        relation: "is_a".into(),
        tail,
        tail_name: d.ontology.terms[tail as usize].name.clone(),
        score: log_prob,
        log_prob,
        tokens: vec![],
        similarity: None,
    };
    // The general tail is likelier.
    let cands = [cand(grand, -0.5), cand(parent, -1.0)];
    let pick = |opts: ExtractOptions| -> Vec<u32> {
        select(d, &h, &cands, &opts)
            .iter()
            .map(|x| x.tail)
            .collect()
    };
    let base = ExtractOptions {
        tails: 2,
        specificity: 0.0,
        mention: 0.0,
        drop_general: false,
        ..Default::default()
    };
    assert_eq!(pick(base), [grand, parent]);
    // Dropping ancestors of other candidates keeps the specific one only.
    assert_eq!(
        pick(ExtractOptions {
            drop_general: true,
            ..base
        }),
        [parent]
    );
    // Enough weight on depth puts the specific one first.
    assert_eq!(
        pick(ExtractOptions {
            specificity: 1.0,
            ..base
        }),
        [parent, grand]
    );
    // One tail per query.
    assert_eq!(pick(ExtractOptions { tails: 1, ..base }), [grand]);
}
