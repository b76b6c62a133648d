//! `lvmkit graphmert ...`: the GraphMERT pipeline on the Gene Ontology.

use anyhow::Result;
use clap::{Args, Subcommand};
use lvmkit_graphmert::extract::{extract, ExtractOptions, Extracted};
use lvmkit_graphmert::filter::{self, Calibration};
use lvmkit_graphmert::score::Scored;
use lvmkit_graphmert::train::TrainSettings;
use lvmkit_graphmert::validity::{ValidityRules, Verdict};
use lvmkit_graphmert::{ChainLayout, DataOptions, GraphData, HeadOccurrence, RELATIONS};
use std::collections::BTreeSet;
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
    /// Extract triples with a trained run: for each sequence, each head found in it and each
    /// relation GO allows for the head, mask leaf 0 of the head's root and form tails from GO
    /// term names made of the model's top-k tokens; filter by sentence similarity. Writes
    /// OUTPUT/triples.jsonl and triples.tsv (every triple with its sequence, token
    /// probabilities and score) and extract.json (counts and the filter's calibration).
    Extract(GraphExtractArgs),
    /// Extract triples with a trained run for the held-out heads (each in its own definition;
    /// --all-occurrences: wherever a held-out head is named), score them against the held-out
    /// edges next to the text-only and graph-only (TransE) baselines, check validity by GO's
    /// rules; print a table and write OUTPUT/eval.json and OUTPUT/extracted.jsonl (+ .tsv) with
    /// each triple's provenance.
    Eval(GraphEvalArgs),
}

/// How triples are extracted and filtered (shared by `extract` and `eval`).
#[derive(Args)]
pub struct ExtractArgs {
    /// Tokens read at the masked leaf (the paper: 20).
    #[arg(long, default_value_t = 20)]
    pub top_k: usize,
    /// Tails kept per (sequence, head, relation).
    #[arg(long, default_value_t = 3)]
    pub tails: usize,
    /// Ask about a relation for a head only if seed heads of its namespace whose names start
    /// with the same word use it in at least this share of their edges (offline stand-in for
    /// the paper's LLM relation proposals); 0: every relation the namespaces allow.
    #[arg(long, default_value_t = 0.05)]
    pub relation_share: f64,
    /// Similarity filter: keep a triple only if cos("head relation tail", sequence) ≥ β with the
    /// sentence encoder. "auto" calibrates β on seed triples (see --keep); a number sets it; 0
    /// keeps all.
    #[arg(long, default_value = "auto")]
    pub similarity: String,
    /// With --similarity auto: β is the similarity this share of true seed triples reach.
    #[arg(long, default_value_t = 0.9)]
    pub keep: f64,
}

#[derive(Args)]
pub struct GraphExtractArgs {
    #[command(flatten)]
    pub data: crate::cli::DataDir,
    /// Run folder from `lvmkit graphmert train`.
    #[arg(long, default_value = "runs/graphmert")]
    pub run: PathBuf,
    /// Output folder for triples.jsonl, triples.tsv and extract.json (default: the run folder).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Which heads to extract for: every head found in the text, or only the held-out ones.
    #[arg(long, default_value = "all", value_parser = ["all", "held-out"])]
    pub heads: String,
    /// Read at most this many sequences (0: all), the first by id.
    #[arg(long, default_value_t = 0)]
    pub max_sequences: usize,
    #[command(flatten)]
    pub extract: ExtractArgs,
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
    #[command(flatten)]
    pub extract: ExtractArgs,
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
    /// Passes over the sequences (the default preset: about 28 min each on 2 cores).
    #[arg(long, default_value_t = 2)]
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
    /// Split each batch into this many parts trained in parallel (one core each); part of the
    /// run's settings, so results do not depend on the machine's core count.
    #[arg(long, default_value_t = 2)]
    pub shards: usize,
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
        GraphmertCommand::Extract(args) => extract_command(args),
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
    let (go, encoder) = (go_sqlite(&args.data.data), encoder_dir(&args.data.data));
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
    let (go, encoder) = (go_sqlite(&args.data.data), encoder_dir(&args.data.data));
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
        shards: args.shards,
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
    let (_, ps, _) = lvmkit_graphmert::train::train(
        &d,
        &config,
        &settings,
        &args.output,
        args.resume,
        true,
        |r| {
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
        },
    )?;
    println!(
        "{} parameters; wrote {}",
        ps.num_params(),
        args.output.display()
    );
    Ok(())
}

/// GO's SQLite file under the data folder (`lvmkit fetch` puts it there).
fn go_sqlite(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("graphs/gene-ontology/GO.sqlite")
}

/// The sentence encoder whose WordPiece vocabulary GraphMERT uses and whose embeddings filter.
fn encoder_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("encoders/all-MiniLM-L6-v2")
}

/// A trained run and the data it was trained on (same layout and split seed).
fn load_run_and_data(
    data_dir: &std::path::Path,
    run: &std::path::Path,
) -> Result<(lvmkit_graphmert::model::Graphmert, TrainSettings, GraphData)> {
    let (model, settings) = lvmkit_graphmert::train::load_run(run)?;
    let opts = DataOptions {
        layout: model.config.layout,
        seed: settings.seed,
        ..Default::default()
    };
    let d = GraphData::build(&go_sqlite(data_dir), &encoder_dir(data_dir), &opts)?;
    if d.vocab.size != model.config.vocab {
        anyhow::bail!(
            "the run's vocabulary ({}) is not the encoder's ({})",
            model.config.vocab,
            d.vocab.size
        );
    }
    Ok((model, settings, d))
}

/// What extraction and the similarity filter did.
#[derive(serde::Serialize)]
struct ExtractSummary {
    occurrences: usize,
    top_k: usize,
    /// Tails formed from top-k tokens.
    formed: usize,
    /// β used (0: no filter).
    beta: f32,
    calibration: Option<Calibration>,
    /// Triples kept by the filter.
    kept: usize,
}

/// Extract for `occurrences`, then score and filter by similarity (β calibrated on seed
/// triples unless given).
fn extract_filtered(
    model: &lvmkit_graphmert::model::Graphmert,
    d: &GraphData,
    occurrences: &[HeadOccurrence],
    args: &ExtractArgs,
    encoder: &std::path::Path,
    seed: u64,
) -> Result<(Vec<Extracted>, ExtractSummary)> {
    let fixed_beta: Option<f32> = match args.similarity.as_str() {
        "auto" => None,
        v => Some(v.parse().map_err(|_| {
            anyhow::anyhow!("--similarity must be \"auto\" or a number, got {v:?}")
        })?),
    };
    if !(0.0..=1.0).contains(&args.keep) {
        anyhow::bail!("--keep must be in [0, 1], got {}", args.keep);
    }
    let xopts = ExtractOptions {
        top_k: args.top_k,
        tails: args.tails,
        relation_share: args.relation_share,
        ..Default::default()
    };
    let mut triples = extract(model, d, occurrences, &xopts, true)?;
    let formed = triples.len();
    let mut calibration = None;
    let mut beta = fixed_beta.unwrap_or(0.0);
    if fixed_beta != Some(0.0) && !triples.is_empty() {
        let enc = lvmkit_encode::SentenceEncoder::load(encoder)?;
        if fixed_beta.is_none() {
            let c = filter::calibrate(&enc, d, 2000, args.keep, seed)?;
            eprintln!(
                "similarity filter: β = {:.3} keeps {:.0}% of 2000 seed triples and {:.0}% of corrupted ones (AUC {:.3})",
                c.beta,
                100.0 * c.keep,
                100.0 * c.corrupted_kept,
                c.auc
            );
            beta = c.beta;
            calibration = Some(c);
        }
        filter::score(&enc, d, &mut triples)?;
        triples.retain(|x| x.similarity.unwrap_or(0.0) >= beta);
    }
    let summary = ExtractSummary {
        occurrences: occurrences.len(),
        top_k: args.top_k,
        formed,
        beta,
        calibration,
        kept: triples.len(),
    };
    Ok((triples, summary))
}

/// OUT/STEM.jsonl (everything, provenance included) and OUT/STEM.tsv (one line per triple).
/// With `held_out`, each JSON row also says whether its triple is a held-out GO edge.
fn write_triples(
    out: &std::path::Path,
    stem: &str,
    triples: &[Extracted],
    held_out: Option<&BTreeSet<(u32, u8, u32)>>,
) -> Result<()> {
    std::fs::create_dir_all(out)?;
    lvmkit_io::write_atomic(&out.join(format!("{stem}.jsonl")), |w| {
        for x in triples {
            let mut row = serde_json::to_value(x)?;
            if let Some(truth) = held_out {
                let s = x.scored();
                row["held_out_edge"] = truth.contains(&(s.head, s.relation, s.tail)).into();
            }
            writeln!(w, "{row}")?;
        }
        Ok(())
    })?;
    lvmkit_io::write_atomic(&out.join(format!("{stem}.tsv")), |w| {
        writeln!(
            w,
            "seq\thead\trelation\ttail\tscore\tsimilarity\ttop_tokens\ttext"
        )?;
        for x in triples {
            let tokens: Vec<String> = x
                .tokens
                .iter()
                .map(|(t, p)| format!("{t}:{p:.3}"))
                .collect();
            writeln!(
                w,
                "{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{}\t{}",
                x.seq,
                x.head_name,
                x.relation,
                x.tail_name,
                x.score,
                x.similarity.unwrap_or(f32::NAN),
                tokens.join(" "),
                x.text.replace(['\t', '\n'], " ")
            )?;
        }
        Ok(())
    })
}

/// Share of distinct triples that GO's rules accept.
fn validity(d: &GraphData, triples: &[Scored]) -> f64 {
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
}

fn extract_command(args: &GraphExtractArgs) -> Result<()> {
    let out = args.output.clone().unwrap_or_else(|| args.run.clone());
    let (model, settings, d) = load_run_and_data(&args.data.data, &args.run)?;
    let held_out = args.heads == "held-out";
    let occurrences: Vec<HeadOccurrence> = d
        .occurrences
        .iter()
        .filter(|o| args.max_sequences == 0 || o.seq < args.max_sequences)
        .filter(|o| !held_out || d.split.held_out_heads.contains(&o.term))
        .copied()
        .collect();
    let sequences = occurrences.iter().map(|o| o.seq).collect::<BTreeSet<_>>();
    eprintln!(
        "extracting for {} head occurrences in {} sequences",
        occurrences.len(),
        sequences.len()
    );
    let (triples, summary) = extract_filtered(
        &model,
        &d,
        &occurrences,
        &args.extract,
        &encoder_dir(&args.data.data),
        settings.seed,
    )?;
    let scored: Vec<Scored> = triples.iter().map(Extracted::scored).collect();
    let seed: BTreeSet<(u32, u8, u32)> = d
        .split
        .seed
        .iter()
        .map(|e| (e.child, e.relation, e.parent))
        .collect();
    let unique: BTreeSet<(u32, u8, u32)> = scored
        .iter()
        .map(|t| (t.head, t.relation, t.tail))
        .collect();
    let restated = unique.iter().filter(|t| seed.contains(t)).count();
    let valid = validity(&d, &scored);
    println!(
        "{} tails formed from top-{} tokens; {} kept by the similarity filter (β {:.3}); {} distinct triples: {} new, {} already in the seed graph; validity {:.3}",
        summary.formed,
        summary.top_k,
        summary.kept,
        summary.beta,
        unique.len(),
        unique.len() - restated,
        restated,
        valid
    );
    write_triples(&out, "triples", &triples, None)?;
    lvmkit_io::write_json_atomic(
        &out.join("extract.json"),
        &serde_json::json!({
            "heads": args.heads,
            "sequences": sequences.len(),
            "summary": summary,
            "distinct": unique.len(),
            "new": unique.len() - restated,
            "restated": restated,
            "validity": valid,
        }),
    )?;
    println!(
        "wrote {}",
        out.join("triples.jsonl (+ .tsv, extract.json)").display()
    );
    Ok(())
}

fn eval(args: &GraphEvalArgs) -> Result<()> {
    use lvmkit_graphmert::score::{implied_precision, score, text_only, Scores};
    use lvmkit_graphmert::transe::{TransE, TransEConfig};

    let out = args.output.clone().unwrap_or_else(|| args.run.clone());
    let (model, settings, d) = load_run_and_data(&args.data.data, &args.run)?;
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
    let (extracted, summary) = extract_filtered(
        &model,
        &d,
        &occurrences,
        &args.extract,
        &encoder_dir(&args.data.data),
        settings.seed,
    )?;

    let graphmert: Vec<Scored> = extracted.iter().map(Extracted::scored).collect();
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

    let mut rows = Vec::new();
    println!(
        "| system | precision | implied precision | recall | Hits@1 | Hits@10 | validity | triples | new | restated |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, triples) in [
        ("graphmert", &graphmert),
        ("text_only", &text),
        ("graph_only", &graph),
    ] {
        let s: Scores = score(triples, &split);
        let v = validity(&d, triples);
        let implied = implied_precision(triples, &split, &d.ontology.edges);
        println!(
            "| {name} | {:.4} | {implied:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} | {} |",
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
            "name": name, "precision": s.precision, "implied_precision": implied, "recall": s.recall,
            "hits@1": s.hits_at_1, "hits@10": s.hits_at_10, "validity": v,
            "triples": s.triples, "new_triples": s.new_triples, "restated": s.restated,
        }));
    }
    println!(
        "graphmert: {} tails formed from top-{} tokens, {} kept by the similarity filter (β {:.3})",
        summary.formed, summary.top_k, summary.kept, summary.beta
    );
    std::fs::create_dir_all(&out)?;
    lvmkit_io::write_json_atomic(
        &out.join("eval.json"),
        &serde_json::json!({
            "rows": rows,
            "held_out_heads": heads.len(),
            "held_out_edges": split.held_out.len(),
            "extraction": summary,
        }),
    )?;
    let truth: BTreeSet<(u32, u8, u32)> = split
        .held_out
        .iter()
        .map(|e| (e.child, e.relation, e.parent))
        .collect();
    write_triples(&out, "extracted", &extracted, Some(&truth))?;
    println!("wrote {}", out.display());
    Ok(())
}
