//! `lvmkit graphmert ...`: the GraphMERT pipeline on the Gene Ontology (`lvmkit-graphmert`).

use crate::cli::DataArgs;
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use lvmkit_graphmert::evaluate::{self as ev, ExtractSettings, ExtractSummary, Heads};
use lvmkit_graphmert::model::{GraphmertConfig, Preset};
use lvmkit_graphmert::train::TrainSettings;
use lvmkit_graphmert::{DataOptions, GraphData, RELATIONS};
use lvmkit_io::Table;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum GraphmertCommand {
    /// Build the sequences and leafy chain graphs from GO: hold out 15% of the seed edges (whole
    /// heads) for scoring and 5% more for validation, find heads in the roots, inject seed triples into the leaves; print how many
    /// triples each relation got and write OUTPUT/injection.json and OUTPUT/injected.jsonl.
    Data(DataCmd),
    /// Train GraphMERT on the GO sequences with injected seed triples: MLM with whole-word span
    /// masking and the span-boundary objective on roots, MNM on whole tails, L = MLM + SBO +
    /// μ·MNM. Prints the loss terms and MLM/MNM accuracy per epoch; writes OUTPUT/config.json,
    /// history.json and model.safetensors.
    Train(TrainCmd),
    /// Extract triples with a trained run: for each sequence, each head found in it and each
    /// relation GO allows for the head, mask leaf 0 of the head's root and form tails from GO
    /// term names made of the model's top-k tokens; filter by sentence similarity. Writes
    /// OUTPUT/triples.jsonl and triples.tsv (every triple with its sequence, token
    /// probabilities and score) and extract.json (counts and the filter's calibration).
    Extract(ExtractCmd),
    /// Extract triples with a trained run for the held-out heads (each in its own definition;
    /// --all-occurrences: wherever a held-out head is named), score them against the held-out
    /// edges next to the text-only and graph-only (TransE) baselines, check validity by GO's
    /// rules; print a table and write OUTPUT/eval.json and OUTPUT/extracted.jsonl (+ .tsv) with
    /// each triple's provenance.
    Eval(EvalCmd),
    /// Choose the extraction settings on the validation heads (never the test heads): extract
    /// and filter once, then rank and cut the candidates with every setting of the grid (tails
    /// per query, preference for specific tails, for tails the text names, dropping a tail that
    /// is an ancestor of another candidate), score each next to both baselines; print the best
    /// settings as flags for `eval` and write OUTPUT/tune.json.
    Tune(TuneCmd),
    /// GraphMERT on source code: `code data` parses source trees (the pinned Python standard
    /// library and Rust's core/alloc/std, or any `--source DIR`) into a graph of modules,
    /// classes, functions and methods and their relations.
    #[command(subcommand)]
    Code(CodeCommand),
}

#[derive(Subcommand)]
pub enum CodeCommand {
    /// Parse the source trees with tree-sitter into entities (with signatures and docs) and
    /// relations (contains, defines, imports, calls, instantiates, inherits_from, implements,
    /// raises, returns, decorated_by, tests), check them against the ontology, hold out 15% of
    /// the entities as whole modules (and 5% more for validation); print the counts per relation
    /// and part and write OUTPUT/entities.jsonl, edges.jsonl (with provenance), summary.json and
    /// search.jsonl (the held-out code-search queries).
    Data(CodeDataCmd),
    /// Train GraphMERT on the code graph: a WordPiece vocabulary of the training modules' text,
    /// one sequence per entity (name, signature, doc; never the body), seed triples of the
    /// training modules injected at the entity's own name; the same model, objectives and
    /// trainer as on GO. `--no-leaves` trains the ablation without them. Writes OUTPUT/config.json,
    /// history.json, model.safetensors, tokenizer.json and code.json.
    Train(CodeTrainCmd),
    /// Score a code run on the held-out modules: relation completion from the natural-language
    /// side (name, signature, doc → calls/raises/returns/inherits_from tails) next to text-only,
    /// graph-only (TransE) and embedding baselines; code search (doc's first sentence →
    /// function) next to BM25 and the sentence encoder; MLM/MNM accuracy, beside a --no-leaves
    /// run with --ablation. Prints the tables; writes OUTPUT/eval.json and extracted.jsonl.
    Eval(CodeEvalCmd),
    /// Complete the calls/raises/returns/inherits_from tails of every function, method and
    /// class of the held-out modules (`--on val`: the validation ones) from its name,
    /// signature and doc. Writes OUTPUT/triples.jsonl (each with file, line, the text and the
    /// top-k tokens) and extract.json.
    Extract(CodeEvalCmd),
    /// Choose --mention and --min-score for `code eval` and `code extract` on the validation
    /// modules (never the held-out ones): every setting of the grid next to the three
    /// baselines, ordered by GraphMERT's worst column relative to the best baseline on it.
    /// Writes OUTPUT/tune.json.
    Tune(CodeTuneCmd),
    /// Fine-tune the run's encoder for code search on the training modules' (doc sentence,
    /// code) pairs with in-batch negatives; the epoch with the best validation MRR is kept as
    /// RUN/search.safetensors, which `code eval` then ranks with. Writes RUN/search.json.
    SearchTrain(CodeSearchTrainCmd),
}

pub fn dispatch(cmd: &GraphmertCommand) -> Result<()> {
    match cmd {
        GraphmertCommand::Data(a) => data(a),
        GraphmertCommand::Train(a) => train(a),
        GraphmertCommand::Extract(a) => extract(a),
        GraphmertCommand::Eval(a) => eval(a),
        GraphmertCommand::Tune(a) => tune(a),
        GraphmertCommand::Code(CodeCommand::Data(a)) => code_data(a),
        GraphmertCommand::Code(CodeCommand::Train(a)) => code_train(a),
        GraphmertCommand::Code(CodeCommand::Eval(a)) => code_eval(a),
        GraphmertCommand::Code(CodeCommand::Extract(a)) => code_extract(a),
        GraphmertCommand::Code(CodeCommand::Tune(a)) => code_tune(a),
        GraphmertCommand::Code(CodeCommand::SearchTrain(a)) => code_search_train(a),
    }
}

#[derive(Args)]
pub struct DataCmd {
    #[command(flatten)]
    pub data: DataArgs,
    /// Output folder.
    #[arg(long, default_value = "runs/graphmert")]
    pub output: PathBuf,
    #[command(flatten)]
    pub options: DataOptions,
}

fn data(args: &DataCmd) -> Result<()> {
    let d = GraphData::from_data_dir(&args.data.dir(), &args.options)?;
    let (r, o, split) = (&d.report, &d.ontology, &d.split);
    println!(
        "Gene Ontology {}: {} terms, {} edges; {} held out ({} heads), {} for validation ({} heads), {} seed",
        o.release,
        o.terms.len(),
        o.edges.len(),
        split.held_out.len(),
        split.held_out_heads.len(),
        split.val.len(),
        split.val_heads.len(),
        split.seed.len()
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
    let mut t = Table::named(["relation", "candidates", "injected"]);
    for rel in RELATIONS {
        let n = |m: &std::collections::BTreeMap<String, usize>| m.get(rel).copied().unwrap_or(0);
        t.row([
            rel.to_string(),
            n(&r.candidates).to_string(),
            n(&r.injected).to_string(),
        ]);
    }
    print!("{}", t.markdown());
    if !r.dropped_relations.is_empty() {
        println!(
            "dropped (fewer than {} examples): {}",
            r.min_per_relation,
            r.dropped_relations.join(", ")
        );
    }
    d.write_injection(&args.output)?;
    println!("wrote {}", args.output.display());
    Ok(())
}

#[derive(Args)]
pub struct TrainCmd {
    #[command(flatten)]
    pub data: DataArgs,
    /// Output folder.
    #[arg(long, default_value = "runs/graphmert")]
    pub output: PathBuf,
    /// Model size: tiny (CPU, CI), default (13.9M parameters), paper (12 layers, hidden 512,
    /// 128 roots × 7 leaves).
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    #[command(flatten)]
    pub settings: TrainSettings,
    /// Continue the run in --output from its last finished epoch (same settings).
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Replace a run in --output.
    #[arg(long)]
    pub force: bool,
}

fn train(args: &TrainCmd) -> Result<()> {
    // The preset fixes the chain layout; the data is cut to it.
    let layout = GraphmertConfig::preset(args.preset, 1, 1).layout;
    let settings = &args.settings;
    let opts = DataOptions {
        layout,
        seed: settings.seed,
        ..Default::default()
    };
    let d = GraphData::from_data_dir(&args.data.dir(), &opts)?;
    let config = GraphmertConfig::preset(args.preset, d.vocab.size, RELATIONS.len());
    println!(
        "GraphMERT {} (hidden {}, {} layers, {} heads, R={} K={}): {} sequences, {} injected triples",
        args.preset.to_possible_value().expect("no skipped presets").get_name(),
        config.hidden,
        config.layers,
        config.heads,
        layout.roots,
        layout.leaves,
        d.sequences.len(),
        d.injected.len()
    );
    let opts = lvmkit_train::TrainOptions {
        resume: args.resume,
        force: args.force,
        ..Default::default()
    };
    let mut table = EpochTable::new();
    let (_, ps, _) =
        lvmkit_graphmert::train::train(&d, &config, settings, &args.output, &opts, |r| {
            table.row(r)
        })?;
    println!(
        "{} parameters; wrote {}",
        ps.num_params(),
        args.output.display()
    );
    Ok(())
}

fn print_calibration(s: &ExtractSummary) {
    if let Some(c) = &s.calibration {
        eprintln!(
            "similarity filter: β = {:.3} keeps {:.0}% of {} seed triples and {:.0}% of corrupted ones (AUC {:.3})",
            c.beta,
            100.0 * c.keep,
            c.samples,
            100.0 * c.corrupted_kept,
            c.auc
        );
    }
}

/// A trained run and where its outputs go (shared by `extract` and `eval`).
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder from `lvmkit graphmert train`.
    #[arg(long, default_value = "runs/graphmert")]
    pub run: PathBuf,
    /// Output folder for the files written (default: the run folder).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

impl RunArgs {
    fn open(&self) -> Result<(ev::TrainedRun, &Path)> {
        let run = ev::TrainedRun::open(&self.data.dir(), &self.run)?;
        Ok((run, self.output.as_deref().unwrap_or(&self.run)))
    }
}

#[derive(Args)]
pub struct ExtractCmd {
    #[command(flatten)]
    pub run: RunArgs,
    /// Which heads to extract for: every head found in the text, or only the held-out ones.
    #[arg(long, value_enum, default_value_t = Heads::All)]
    pub heads: Heads,
    /// Read at most this many sequences (0: all), the first by id.
    #[arg(long, default_value_t = 0)]
    pub max_sequences: usize,
    #[command(flatten)]
    pub extract: ExtractSettings,
}

fn extract(args: &ExtractCmd) -> Result<()> {
    let (run, out) = args.run.open()?;
    let r = ev::extract_to(&run, (args.heads, args.max_sequences), &args.extract, out)?;
    let s = &r.summary;
    print_calibration(s);
    println!(
        "{} tails formed from top-{} tokens; {} kept by the similarity filter (β {:.3}); {} distinct triples: {} new, {} already in the seed graph; validity {:.3}",
        s.formed, s.top_k, s.kept, s.beta, r.distinct, r.new, r.restated, r.validity
    );
    println!(
        "wrote {}",
        out.join("triples.jsonl (+ .tsv, extract.json)").display()
    );
    Ok(())
}

#[derive(Args)]
pub struct EvalCmd {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub settings: ev::EvalSettings,
}

fn eval(args: &EvalCmd) -> Result<()> {
    let (run, out) = args.run.open()?;
    let e = ev::evaluate(&run, &args.settings, out)?;
    let s = &e.extraction;
    print_calibration(s);
    print!("{}", e.table().markdown());
    println!(
        "graphmert: {} tails formed from top-{} tokens, {} kept by the similarity filter (β {:.3})",
        s.formed, s.top_k, s.kept, s.beta
    );
    println!("wrote {}", out.display());
    Ok(())
}

#[derive(Args)]
pub struct TuneCmd {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub settings: ev::EvalSettings,
    #[command(flatten)]
    pub grid: ev::TuneGrid,
    /// Settings printed (best first).
    #[arg(long, default_value_t = 10)]
    pub show: usize,
}

fn tune(args: &TuneCmd) -> Result<()> {
    let (run, out) = args.run.open()?;
    let (points, baselines) = ev::tune(&run, &args.settings, &args.grid, out)?;
    let mut t = Table::named(
        [
            "keep",
            "tails",
            "specificity",
            "mention",
            "drop general",
            "worst vs baselines",
        ]
        .into_iter()
        .map(String::from)
        .chain(ev::columns(&baselines[0]).map(|(c, _)| c.to_string())),
    );
    let cells = |r: &ev::SystemRow| ev::columns(r).map(|(_, v)| format!("{v:.4}"));
    for b in &baselines {
        let mut row = vec![b.name.to_string()];
        row.extend(std::iter::repeat_n(String::new(), 5));
        row.extend(cells(b));
        t.row(row);
    }
    for p in points.iter().take(args.show) {
        let mut row = vec![
            p.keep.to_string(),
            p.tails.to_string(),
            p.specificity.to_string(),
            p.mention.to_string(),
            p.drop_general.to_string(),
            format!("{:.3} ({})", p.worst_ratio, p.worst_column),
        ];
        row.extend(cells(&p.row));
        t.row(row);
    }
    print!("{}", t.markdown());
    if let Some(b) = points.first() {
        println!(
            "best on the validation heads: --keep {} --tails {} --specificity {} --mention {} --drop-general {}",
            b.keep, b.tails, b.specificity, b.mention, b.drop_general
        );
    }
    println!("wrote {}", out.join("tune.json").display());
    Ok(())
}

#[derive(Args)]
pub struct CodeDataCmd {
    #[command(flatten)]
    pub data: DataArgs,
    /// Output folder.
    #[arg(long, default_value = "runs/graphmert-code")]
    pub output: PathBuf,
    #[command(flatten)]
    pub options: lvmkit_graphmert::code::data::CodeDataOptions,
    /// Also score the code-search baselines on the held-out modules, BM25 and the sentence
    /// encoder (embeds every held-out function: minutes on 2 cores), into
    /// OUTPUT/search_baselines.json.
    #[arg(long)]
    pub baselines: bool,
}

fn code_data(args: &CodeDataCmd) -> Result<()> {
    use lvmkit_graphmert::code::data::CodeData;
    let data = args.data.dir();
    let started = std::time::Instant::now();
    let d = CodeData::build(&data, &args.options)?;
    let encoder = if args.baselines {
        Some(lvmkit_encode::SentenceEncoder::load(
            &data.default_encoder(),
        )?)
    } else {
        None
    };
    let (s, task, rows) = d.write(&args.output, encoder.as_ref())?;
    println!(
        "{} files ({} lines, {} with syntax errors kept, {} skipped) read in {:.1} s; {} modules: {} held out, {} for validation ({:.1}% of entities held out); {} ontology violations",
        s.files,
        s.lines,
        s.partial,
        s.skipped.len(),
        started.elapsed().as_secs_f64(),
        s.modules.total(),
        s.modules.held_out,
        s.modules.val,
        100.0 * s.held_out_fraction,
        s.violations
    );
    let mut t = Table::named(["", "train", "val", "held out", "total"]);
    let row = |t: &mut Table, name: &str, c: &lvmkit_graphmert::code::data::PartCounts| {
        t.row([
            name.to_string(),
            c.train.to_string(),
            c.val.to_string(),
            c.held_out.to_string(),
            c.total().to_string(),
        ]);
    };
    for (k, c) in &s.kinds {
        let plural = if k.ends_with('s') { "es" } else { "s" };
        row(&mut t, &format!("{k}{plural}"), c);
    }
    for (r, c) in &s.relations {
        row(&mut t, r, c);
    }
    print!("{}", t.markdown());
    println!(
        "code search on the held-out modules: {} queries (docs' first sentences; {} left out, their code repeats them) over {} functions and methods",
        task.queries.len(),
        task.leaked,
        task.documents.len()
    );
    if let Some(rows) = rows {
        let mut t = Table::named(["baseline", "MRR", "recall@1", "recall@10"]);
        for r in rows {
            let sc = r.scores;
            t.row([
                r.name,
                format!("{:.4}", sc.mrr),
                format!("{:.4}", sc.recall_at_1),
                format!("{:.4}", sc.recall_at_10),
            ]);
        }
        print!("{}", t.markdown());
    }
    println!("wrote {}", args.output.display());
    Ok(())
}

/// The per-epoch table `graphmert train` and `graphmert code train` print.
struct EpochTable(Table);

impl EpochTable {
    fn new() -> Self {
        let table = Table::named([
            "epoch",
            "loss",
            "MLM",
            "SBO",
            "MNM",
            "MLM acc",
            "MNM acc",
            "val MLM acc",
            "val MNM acc",
            "seq/s",
        ]);
        print!("{}", table.markdown_head());
        Self(table)
    }

    fn row(&mut self, r: &lvmkit_graphmert::train::EpochRecord) {
        let (t, v) = (&r.train, &r.val);
        let mut cells = vec![r.epoch.to_string()];
        cells.extend(
            [
                t.loss,
                t.mlm_loss,
                t.sbo_loss,
                t.mnm_loss,
                t.mlm_accuracy,
                t.mnm_accuracy,
            ]
            .into_iter()
            .chain([v.mlm_accuracy, v.mnm_accuracy])
            .map(|x| format!("{x:.3}")),
        );
        cells.push(format!("{:.1}", r.sequences_per_second));
        print!("{}", self.0.markdown_row(&cells));
    }
}

#[derive(Args)]
pub struct CodeTrainCmd {
    #[command(flatten)]
    pub data: DataArgs,
    /// Output folder.
    #[arg(long, default_value = "runs/graphmert-code")]
    pub output: PathBuf,
    #[command(flatten)]
    pub code: lvmkit_graphmert::code::data::CodeDataOptions,
    #[command(flatten)]
    pub run: lvmkit_graphmert::code::run::CodeRunOptions,
    /// Model size (see `graphmert train`).
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    #[command(flatten)]
    pub settings: TrainSettings,
    /// Continue the run in --output from its last finished epoch (same settings).
    #[arg(long, conflicts_with = "force")]
    pub resume: bool,
    /// Replace a run in --output.
    #[arg(long)]
    pub force: bool,
}

fn code_train(args: &CodeTrainCmd) -> Result<()> {
    let opts = lvmkit_train::TrainOptions {
        resume: args.resume,
        force: args.force,
        ..Default::default()
    };
    let mut table = None;
    let (model, ps, _, corpus) = lvmkit_graphmert::code::run::train(
        &args.data.dir(),
        &args.code,
        &args.run,
        args.preset,
        &args.settings,
        &args.output,
        &opts,
        |r| table.get_or_insert_with(EpochTable::new).row(r),
    )?;
    let c = &model.config;
    println!(
        "GraphMERT {} on code (hidden {}, {} layers, R={} K={}, vocabulary {}): {} sequences, {} injected triples{}; {} parameters; wrote {}",
        args.preset.to_possible_value().expect("no skipped presets").get_name(),
        c.hidden,
        c.layers,
        c.layout.roots,
        c.layout.leaves,
        corpus.vocab.size,
        corpus.sequences.len(),
        corpus.report.injected.values().sum::<usize>(),
        if args.run.no_leaves { " (not injected: --no-leaves)" } else { "" },
        ps.num_params(),
        args.output.display()
    );
    let mut t = Table::named(["relation", "candidates", "injected"]);
    for (rel, n) in &corpus.report.candidates {
        let injected = if args.run.no_leaves {
            0
        } else {
            corpus.report.injected.get(rel).copied().unwrap_or(0)
        };
        t.row([rel.clone(), n.to_string(), injected.to_string()]);
    }
    print!("{}", t.markdown());
    Ok(())
}

#[derive(Args)]
pub struct CodeEvalCmd {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder from `lvmkit graphmert code train`.
    #[arg(long, default_value = "runs/graphmert-code")]
    pub run: PathBuf,
    /// Output folder (default: the run folder).
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub settings: lvmkit_graphmert::code::eval::CodeEvalSettings,
}

fn code_eval(args: &CodeEvalCmd) -> Result<()> {
    let data = args.data.dir();
    let run = lvmkit_graphmert::code::run::CodeRun::open(&data, &args.run)?;
    let out = args.output.as_deref().unwrap_or(&args.run);
    let e = lvmkit_graphmert::code::eval::evaluate(&data, &run, &args.settings, out)?;
    println!(
        "relation completion: {} heads, {} held-out calls/raises/returns/inherits_from edges",
        e.heads, e.edges
    );
    let f = |x: f64| format!("{x:.4}");
    let mut t = Table::named([
        "system",
        "precision",
        "recall",
        "Hits@1",
        "Hits@10",
        "validity",
        "triples",
    ]);
    for r in &e.relations {
        t.row([
            r.name.to_string(),
            f(r.precision),
            f(r.recall),
            f(r.hits_at_1),
            f(r.hits_at_10),
            f(r.validity),
            r.triples.to_string(),
        ]);
    }
    print!("{}", t.markdown());
    println!(
        "code search: {} queries over {} functions and methods",
        e.search_queries, e.search_documents
    );
    let mut t = Table::named(["system", "MRR", "recall@1", "recall@10"]);
    for r in &e.search {
        let s = &r.scores;
        t.row([
            r.name.clone(),
            f(s.mrr),
            f(s.recall_at_1),
            f(s.recall_at_10),
        ]);
    }
    print!("{}", t.markdown());
    println!("masked tokens on {} held-out sequences", e.mlm_sequences);
    let mut t = Table::named(["run", "MLM loss", "MLM acc", "MNM loss", "MNM acc"]);
    for r in &e.mlm {
        let m = &r.metrics;
        t.row([
            r.name.clone(),
            f(m.mlm_loss),
            f(m.mlm_accuracy),
            f(m.mnm_loss),
            f(m.mnm_accuracy),
        ]);
    }
    print!("{}", t.markdown());
    println!("wrote {}", out.display());
    Ok(())
}

fn code_extract(args: &CodeEvalCmd) -> Result<()> {
    let data = args.data.dir();
    let run = lvmkit_graphmert::code::run::CodeRun::open(&data, &args.run)?;
    let out = args.output.as_deref().unwrap_or(&args.run);
    let x = lvmkit_graphmert::code::eval::extract(&run, &args.settings, out)?;
    println!(
        "{} heads, {} (head, relation) queries: {} triples ({} of them the modules' own edges); --mention {} --min-score {}",
        x.heads, x.queries, x.triples, x.held_out_edges_recovered, x.choice.mention, x.choice.min_score
    );
    println!(
        "wrote {}",
        out.join("triples.jsonl (+ extract.json)").display()
    );
    Ok(())
}

#[derive(Args)]
pub struct CodeTuneCmd {
    #[command(flatten)]
    pub eval: CodeEvalCmd,
    #[command(flatten)]
    pub grid: lvmkit_graphmert::code::eval::CodeTuneGrid,
    /// Settings shown (best first).
    #[arg(long, default_value_t = 10)]
    pub show: usize,
}

fn code_tune(args: &CodeTuneCmd) -> Result<()> {
    let a = &args.eval;
    let data = a.data.dir();
    let run = lvmkit_graphmert::code::run::CodeRun::open(&data, &a.run)?;
    let out = a.output.as_deref().unwrap_or(&a.run);
    let (points, baselines) =
        lvmkit_graphmert::code::eval::tune(&data, &run, &a.settings, &args.grid, out)?;
    let f = |x: f64| format!("{x:.4}");
    let mut t = Table::named([
        "system",
        "mention",
        "min score",
        "worst vs baselines",
        "precision",
        "recall",
        "Hits@1",
        "Hits@10",
        "triples",
    ]);
    for b in &baselines {
        t.row([
            b.name.to_string(),
            String::new(),
            String::new(),
            String::new(),
            f(b.precision),
            f(b.recall),
            f(b.hits_at_1),
            f(b.hits_at_10),
            b.triples.to_string(),
        ]);
    }
    for p in points.iter().take(args.show) {
        let r = &p.row;
        t.row([
            "graphmert".to_string(),
            p.choice.mention.to_string(),
            p.choice.min_score.to_string(),
            format!("{:.3} ({})", p.worst_ratio, p.worst_column),
            f(r.precision),
            f(r.recall),
            f(r.hits_at_1),
            f(r.hits_at_10),
            r.triples.to_string(),
        ]);
    }
    print!("{}", t.markdown());
    if let Some(b) = points.first() {
        println!(
            "best on the validation modules: --mention {} --min-score {}",
            b.choice.mention, b.choice.min_score
        );
    }
    println!("wrote {}", out.join("tune.json").display());
    Ok(())
}

#[derive(Args)]
pub struct CodeSearchTrainCmd {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder from `lvmkit graphmert code train`.
    #[arg(long, default_value = "runs/graphmert-code")]
    pub run: PathBuf,
    #[command(flatten)]
    pub settings: lvmkit_graphmert::code::retrieval::SearchTrainSettings,
}

fn code_search_train(args: &CodeSearchTrainCmd) -> Result<()> {
    use std::io::IsTerminal;
    let data = args.data.dir();
    let f = |x: f64| format!("{x:.4}");
    let record = lvmkit_graphmert::code::retrieval::train(
        &data,
        &args.run,
        &args.settings,
        std::io::stderr().is_terminal(),
        |e| {
            eprintln!(
                "epoch {}: loss {:.4}, validation MRR {:.4} ({:.0} s)",
                e.epoch, e.loss, e.val_mrr, e.seconds
            )
        },
    )?;
    println!(
        "{} (doc sentence, code) pairs of the training modules; validation modules' search:",
        record.pairs
    );
    let mut t = Table::named(["epoch", "loss", "val MRR", "val recall@1", "val recall@10"]);
    let b = &record.before;
    t.row([
        "0 (pretrained)".to_string(),
        String::new(),
        f(b.mrr),
        f(b.recall_at_1),
        f(b.recall_at_10),
    ]);
    for e in &record.epochs {
        t.row([
            e.epoch.to_string(),
            f(e.loss),
            f(e.val_mrr),
            f(e.val_recall_at_1),
            f(e.val_recall_at_10),
        ]);
    }
    print!("{}", t.markdown());
    println!(
        "kept epoch {}: wrote {}",
        record.kept,
        args.run
            .join("search.safetensors (+ search.json)")
            .display()
    );
    Ok(())
}
