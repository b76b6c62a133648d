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
