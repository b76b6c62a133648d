//! `lvmkit graphmert ...`: the GraphMERT pipeline on the Gene Ontology.

use anyhow::Result;
use clap::{Args, Subcommand};
use lvmkit_graphmert::{ChainLayout, DataOptions, GraphData, RELATIONS};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum GraphmertCommand {
    /// Build the sequences and leafy chain graphs from GO: hold out 15% of the seed edges (whole
    /// heads), find heads in the roots, inject seed triples into the leaves; print how many
    /// triples each relation got and write OUTPUT/injection.json and OUTPUT/injected.jsonl.
    Data(GraphDataArgs),
    /// Train GraphMERT on the GO sequences with injected seed triples: MLM with whole-word span
    /// masking and the span-boundary objective on roots, MNM on whole tails, L = MLM + SBO +
    /// μ·MNM. Prints the loss terms and MLM/MNM accuracy per epoch; writes OUTPUT/config.json,
    /// history.json and model.safetensors.
    Train(GraphTrainArgs),
    /// Extract triples with a trained run for the held-out heads (each in its own definition;
    /// --all-occurrences: wherever a held-out head is named), score them against the held-out
    /// edges next to the text-only and graph-only (TransE) baselines, check validity by GO's
    /// rules; print a table and write OUTPUT/eval.json and OUTPUT/extracted.jsonl (+ .tsv) with
    /// each triple's provenance.
    Eval(GraphEvalArgs),
}

#[derive(Args)]
pub struct GraphEvalArgs {
    #[command(flatten)]
    pub data: crate::cli::DataDir,
    /// Run folder from `lvmkit graphmert train`.
    #[arg(long, default_value = "runs/graphmert")]
    pub run: PathBuf,
    /// Output folder (default: the run folder).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Tokens read at the masked leaf.
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    /// Tails kept per (sequence, head, relation).
    #[arg(long, default_value_t = 3)]
    pub tails: usize,
    /// Keep a triple only if cos("head relation tail", sequence) is at least this (sentence
    /// encoder); 0 keeps all.
    #[arg(long, default_value_t = 0.4)]
    pub similarity: f32,
    /// Use every occurrence of a held-out head, not only its own definition.
    #[arg(long)]
    pub all_occurrences: bool,
    /// Evaluate at most this many held-out heads (0: all), the first by GO id.
    #[arg(long, default_value_t = 0)]
    pub max_heads: usize,
    /// TransE epochs for the graph-only baseline.
    #[arg(long, default_value_t = 20)]
    pub transe_epochs: usize,
}

#[derive(Args)]
pub struct GraphTrainArgs {
    #[command(flatten)]
    pub data: crate::cli::DataDir,
    /// Output folder.
    #[arg(long, default_value = "runs/graphmert")]
    pub output: PathBuf,
    /// Model size: tiny (CPU, CI), default, paper (12 layers, hidden 512, 128 roots × 7 leaves).
    #[arg(long, default_value = "default", value_parser = ["tiny", "default", "paper"])]
    pub preset: String,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 4e-4)]
    pub lr: f64,
    /// Weight of the MNM loss.
    #[arg(long, default_value_t = 1.0)]
    pub mu: f64,
    /// Ramp μ linearly from 0 over this many steps (0: constant).
    #[arg(long, default_value_t = 0)]
    pub mu_ramp_steps: u64,
    /// Train on at most this many sequences (0: all 35k).
    #[arg(long, default_value_t = 0)]
    pub max_sequences: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Continue the run in --output from its last finished epoch (same settings).
    #[arg(long)]
    pub resume: bool,
}

#[derive(Args)]
pub struct GraphDataArgs {
    #[command(flatten)]
    pub data: crate::cli::DataDir,
    /// Output folder.
    #[arg(long, default_value = "runs/graphmert")]
    pub output: PathBuf,
    /// Root nodes per sequence (text tokens; the paper: 128).
    #[arg(long, default_value_t = 64)]
    pub roots: usize,
    /// Leaves per root (tail tokens; the paper: 7).
    #[arg(long, default_value_t = 7)]
    pub leaves: usize,
    /// Share of seed edges held out for scoring extraction.
    #[arg(long, default_value_t = 0.15)]
    pub held_out: f64,
    /// Relations with fewer examples are not injected.
    #[arg(long, default_value_t = 100)]
    pub min_per_relation: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn dispatch(cmd: &GraphmertCommand) -> Result<()> {
    match cmd {
        GraphmertCommand::Data(args) => data(args),
        GraphmertCommand::Train(args) => train(args),
        GraphmertCommand::Eval(args) => eval(args),
    }
}

fn data(args: &GraphDataArgs) -> Result<()> {
    if !(0.0..1.0).contains(&args.held_out) {
        anyhow::bail!("--held-out must be in [0, 1), got {}", args.held_out);
    }
    let opts = DataOptions {
        layout: ChainLayout {
            roots: args.roots,
            leaves: args.leaves,
        },
        held_out: args.held_out,
        min_per_relation: args.min_per_relation,
        seed: args.seed,
    };
    let go = args.data.data.join("graphs/gene-ontology/GO.sqlite");
    let encoder = args.data.data.join("encoders/all-MiniLM-L6-v2");
    let d = GraphData::build(&go, &encoder, &opts)?;
    let r = &d.report;
    println!(
        "Gene Ontology {}: {} terms, {} edges; {} held out ({} heads), {} seed",
        d.ontology.release,
        d.ontology.terms.len(),
        d.ontology.edges.len(),
        d.split.held_out.len(),
        d.split.held_out_heads.len(),
        d.split.seed.len()
    );
    println!(
        "{} sequences (R={}, K={}); {} head occurrences, {} with a seed triple that fits; {} tails longer than K skipped",
        d.sequences.len(),
        d.layout.roots,
        d.layout.leaves,
        r.head_occurrences,
        r.with_candidates,
        r.tails_too_long
    );
    println!("| relation | candidates | injected |");
    println!("|---|---:|---:|");
    for rel in RELATIONS {
        println!(
            "| {rel} | {} | {} |",
            r.candidates.get(rel).copied().unwrap_or(0),
            r.injected.get(rel).copied().unwrap_or(0)
        );
    }
    if !r.dropped_relations.is_empty() {
        println!(
            "dropped (fewer than {} examples): {}",
            r.min_per_relation,
            r.dropped_relations.join(", ")
        );
    }
    std::fs::create_dir_all(&args.output)?;
    lvmkit_io::write_json_atomic(&args.output.join("injection.json"), r)?;
    lvmkit_io::write_atomic(&args.output.join("injected.jsonl"), |w| {
        for t in &d.injected {
            let s = &d.sequences[t.seq];
            let row = serde_json::json!({
                "seq": t.seq,
                "text": s.text,
                "head": d.ontology.terms[t.head as usize].name,
                "head_go_id": d.ontology.terms[t.head as usize].go_id,
                "relation": RELATIONS[t.relation as usize],
                "tail": d.ontology.terms[t.tail as usize].name,
                "tail_go_id": d.ontology.terms[t.tail as usize].go_id,
                "root": t.root,
                "head_len": t.head_len,
            });
            writeln!(w, "{row}")?;
        }
        Ok(())
    })?;
    println!("wrote {}", args.output.display());
    Ok(())
}

fn train(args: &GraphTrainArgs) -> Result<()> {
    let go = args.data.data.join("graphs/gene-ontology/GO.sqlite");
    let encoder = args.data.data.join("encoders/all-MiniLM-L6-v2");
    // The preset fixes the chain layout; the data is cut to it.
    let probe = lvmkit_graphmert::model::GraphmertConfig::preset(&args.preset, 1, 1)?;
    let opts = DataOptions {
        layout: probe.layout,
        seed: args.seed,
        ..Default::default()
    };
    let d = GraphData::build(&go, &encoder, &opts)?;
    let config = lvmkit_graphmert::model::GraphmertConfig::preset(
        &args.preset,
        d.vocab.size,
        RELATIONS.len(),
    )?;
    let settings = lvmkit_graphmert::train::TrainSettings {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        mu: args.mu,
        mu_ramp_steps: args.mu_ramp_steps,
        max_sequences: args.max_sequences,
        seed: args.seed,
        ..Default::default()
    };
    println!(
        "GraphMERT {} (hidden {}, {} layers, {} heads, R={} K={}): {} sequences, {} injected triples",
        args.preset,
        config.hidden,
        config.layers,
        config.heads,
        config.layout.roots,
        config.layout.leaves,
        d.sequences.len(),
        d.injected.len()
    );
    println!("| epoch | loss | MLM | SBO | MNM | MLM acc | MNM acc | val MLM acc | val MNM acc | seq/s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (_, ps, _) =
        lvmkit_graphmert::train::train(&d, &config, &settings, &args.output, args.resume, |r| {
            println!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} |",
                r.epoch,
                r.train.loss,
                r.train.mlm_loss,
                r.train.sbo_loss,
                r.train.mnm_loss,
                r.train.mlm_accuracy,
                r.train.mnm_accuracy,
                r.val.mlm_accuracy,
                r.val.mnm_accuracy,
                r.sequences_per_second
            );
            true
        })?;
    println!(
        "{} parameters; wrote {}",
        ps.num_params(),
        args.output.display()
    );
    Ok(())
}

fn eval(args: &GraphEvalArgs) -> Result<()> {
    use lvmkit_graphmert::extract::{extract, ExtractOptions};
    use lvmkit_graphmert::score::{score, text_only, Scored, Scores};
    use lvmkit_graphmert::transe::{TransE, TransEConfig};
    use lvmkit_graphmert::validity::{ValidityRules, Verdict};
    use std::collections::BTreeSet;

    let out = args.output.clone().unwrap_or_else(|| args.run.clone());
    let (model, settings) = lvmkit_graphmert::train::load_run(&args.run)?;
    let go = args.data.data.join("graphs/gene-ontology/GO.sqlite");
    let encoder_dir = args.data.data.join("encoders/all-MiniLM-L6-v2");
    let opts = DataOptions {
        layout: model.config.layout,
        seed: settings.seed,
        ..Default::default()
    };
    let d = GraphData::build(&go, &encoder_dir, &opts)?;
    if d.vocab.size != model.config.vocab {
        anyhow::bail!(
            "the run's vocabulary ({}) is not the encoder's ({})",
            model.config.vocab,
            d.vocab.size
        );
    }
    // The heads scored, and the held-out edges restricted to them.
    let heads: BTreeSet<u32> = if args.max_heads > 0 {
        d.split
            .held_out_heads
            .iter()
            .copied()
            .take(args.max_heads)
            .collect()
    } else {
        d.split.held_out_heads.clone()
    };
    let split = d.split.restricted_to(&heads);
    let occurrences: Vec<_> = d
        .occurrences
        .iter()
        .filter(|o| {
            heads.contains(&o.term) && (args.all_occurrences || d.sequences[o.seq].term == o.term)
        })
        .copied()
        .collect();
    eprintln!(
        "extracting for {} held-out heads ({} occurrences)",
        heads.len(),
        occurrences.len()
    );
    let xopts = ExtractOptions {
        top_k: args.top_k,
        tails: args.tails,
        ..Default::default()
    };
    let mut extracted = extract(&model, &d, &occurrences, &xopts)?;
    let formed = extracted.len();

    // Similarity filter: the sentence encoder, triple text against its sequence.
    if args.similarity > 0.0 && !extracted.is_empty() {
        let enc = lvmkit_encode::SentenceEncoder::load(&encoder_dir)?;
        let triple_texts: Vec<String> = extracted
            .iter()
            .map(|(_, x)| {
                format!(
                    "{} {} {}",
                    x.head_name,
                    x.relation.replace('_', " "),
                    x.tail_name
                )
            })
            .collect();
        let seq_ids: Vec<usize> = extracted
            .iter()
            .map(|(_, x)| x.seq)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let seq_texts: Vec<String> = seq_ids
            .iter()
            .map(|&s| d.sequences[s].text.clone())
            .collect();
        let eo = lvmkit_encode::EncodeOptions::default();
        let tv = enc.encode(&triple_texts, &eo)?;
        let sv = enc.encode(&seq_texts, &eo)?;
        let dim = enc.dim();
        let row: std::collections::HashMap<usize, usize> =
            seq_ids.iter().enumerate().map(|(i, &s)| (s, i)).collect();
        for (i, (_, x)) in extracted.iter_mut().enumerate() {
            let a = &tv[i * dim..(i + 1) * dim];
            let b = &sv[row[&x.seq] * dim..(row[&x.seq] + 1) * dim];
            x.similarity = Some(a.iter().zip(b).map(|(p, q)| p * q).sum());
        }
        extracted.retain(|(_, x)| x.similarity.unwrap_or(0.0) >= args.similarity);
    }

    let graphmert: Vec<Scored> = extracted.iter().map(|(r, x)| x.scored(*r)).collect();
    let text: Vec<Scored> = text_only(&d.ontology, &d.split.seed, &d.occurrences)
        .into_iter()
        .filter(|s| heads.contains(&s.head))
        .collect();
    let (transe, _) = TransE::train(
        d.ontology.terms.len(),
        &d.split.seed,
        &TransEConfig {
            epochs: args.transe_epochs,
            seed: settings.seed,
            ..Default::default()
        },
    );
    let graph = transe.predict(&d.ontology, &d.split.seed, &heads, 10);

    let validity = |triples: &[Scored]| -> f64 {
        let mut rules = ValidityRules::new(&d.ontology, &d.split.seed);
        let unique: BTreeSet<(u32, u8, u32)> = triples
            .iter()
            .map(|t| (t.head, t.relation, t.tail))
            .collect();
        if unique.is_empty() {
            return 0.0;
        }
        let ok = unique
            .iter()
            .filter(|(h, r, t)| rules.judge(*h, *r, *t) == Verdict::Valid)
            .count();
        ok as f64 / unique.len() as f64
    };
    let mut rows = Vec::new();
    println!(
        "| system | precision | recall | Hits@1 | Hits@10 | validity | triples | new | restated |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, triples) in [
        ("graphmert", &graphmert),
        ("text_only", &text),
        ("graph_only", &graph),
    ] {
        let s: Scores = score(triples, &split);
        let v = validity(triples);
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} | {} |",
            s.precision,
            s.recall,
            s.hits_at_1,
            s.hits_at_10,
            v,
            s.triples,
            s.new_triples,
            s.restated
        );
        rows.push(serde_json::json!({
            "name": name, "precision": s.precision, "recall": s.recall,
            "hits@1": s.hits_at_1, "hits@10": s.hits_at_10, "validity": v,
            "triples": s.triples, "new_triples": s.new_triples, "restated": s.restated,
        }));
    }
    println!(
        "graphmert: {formed} tails formed from top-{} tokens, {} kept by the similarity filter (≥ {})",
        args.top_k,
        extracted.len(),
        args.similarity
    );
    std::fs::create_dir_all(&out)?;
    lvmkit_io::write_json_atomic(
        &out.join("eval.json"),
        &serde_json::json!({
            "rows": rows,
            "held_out_heads": heads.len(),
            "held_out_edges": split.held_out.len(),
            "top_k": args.top_k,
            "similarity": args.similarity,
        }),
    )?;
    lvmkit_io::write_atomic(&out.join("extracted.jsonl"), |w| {
        for (_, x) in &extracted {
            writeln!(w, "{}", serde_json::to_string(x)?)?;
        }
        Ok(())
    })?;
    lvmkit_io::write_atomic(&out.join("extracted.tsv"), |w| {
        writeln!(w, "seq\thead\trelation\ttail\tscore\tsimilarity\ttext")?;
        for (_, x) in &extracted {
            writeln!(
                w,
                "{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{}",
                x.seq,
                x.head_name,
                x.relation,
                x.tail_name,
                x.score,
                x.similarity.unwrap_or(f32::NAN),
                x.text.replace(['\t', '\n'], " ")
            )?;
        }
        Ok(())
    })?;
    println!("wrote {}", out.display());
    Ok(())
}
