//! `lvmkit bench`: the speed benchmarks. Each measures in a library (`lvmkit_train::bench`,
//! `lvmkit_encode::bench`, `lvmkit_serve::loadtest`) and prints here.

use crate::cli::DataArgs;
use crate::jobs::group_digits;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lvmkit_io::Table;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Load-test a running `lvmkit serve` on loopback: many concurrent clients for a bounded
    /// time with a mix of predict, generate, search and encode requests. Prints requests/s and
    /// p50/p99 latency per endpoint; exits non-zero if any request failed.
    Serve(lvmkit_serve::loadtest::LoadArgs),
    /// Training samples/s and inference latency of each architecture on random unit vectors
    /// (forward, cosine loss, backward and AdamW step, as the trainer takes them).
    Models(BenchModelsArgs),
    /// Sentences per second of the encoder on a text file (one sentence per line).
    Encode(BenchEncodeArgs),
    /// Sentences per second of an inversion decoder (`lvmkit decoder train`) on its dataset's
    /// val vectors, at each batch size, beam width and correction-step count.
    Decode(BenchDecodeArgs),
}

pub fn dispatch(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Serve(a) => serve_load(&a),
        BenchCommand::Models(a) => models(&a),
        BenchCommand::Encode(a) => encode(&a),
        BenchCommand::Decode(a) => decode(&a),
    }
}

fn serve_load(args: &lvmkit_serve::loadtest::LoadArgs) -> Result<()> {
    let report = lvmkit_serve::loadtest::run(args)?;
    print!("{}", report.table().markdown());
    let total = &report.total;
    if total.errors > 0 {
        for e in &report.first_errors {
            eprintln!("error: {e}");
        }
        anyhow::bail!("{} of {} requests failed", total.errors, total.requests);
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchModelsArgs {
    /// Architectures, comma-separated (default: all; `lvmkit models` lists them).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Embedding dimension D (the seeds' encoder: 768).
    #[arg(long, default_value_t = 768)]
    pub dim: usize,
    /// Context length C.
    #[arg(long, default_value_t = 5)]
    pub context: usize,
    /// Training batch sizes (32: the seeds'; 256: lvmkit's default).
    #[arg(long, value_delimiter = ',', default_value = "32,256")]
    pub train_batch: Vec<usize>,
    /// Inference batch sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,256")]
    pub infer_batch: Vec<usize>,
    /// Minimum seconds timed per measurement (the median step is reported).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn models(args: &BenchModelsArgs) -> Result<()> {
    let settings = lvmkit_train::bench::SpeedSettings {
        train_batches: args.train_batch.clone(),
        infer_batches: args.infer_batch.clone(),
        min_time: std::time::Duration::from_secs_f64(args.seconds),
        ..Default::default()
    };
    let names: Vec<String> = match args.models.is_empty() {
        true => lvmkit_models::ARCHITECTURES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        false => args.models.clone(),
    };
    println!(
        "D = {}, C = {}, AdamW + cosine loss, CANDLE_NUM_THREADS={}; median of ≥{:.0} s per cell",
        args.dim,
        args.context,
        std::env::var("CANDLE_NUM_THREADS").unwrap_or_default(),
        args.seconds
    );
    let mut columns = vec!["model".to_string(), "params".to_string()];
    columns.extend(
        settings
            .train_batches
            .iter()
            .map(|b| format!("train@{b} /s")),
    );
    columns.extend(
        settings
            .infer_batches
            .iter()
            .map(|b| format!("infer@{b} ms")),
    );
    let mut table = Table::named(columns);
    let mut results = Vec::new();
    for name in &names {
        let cfg = lvmkit_models::ModelConfig::new(name, args.dim, args.context)?;
        let r = lvmkit_train::bench::measure(&cfg, &settings)?;
        let mut row = vec![r.name.clone(), group_digits(r.params as u64)];
        row.extend(r.train_samples_per_s.iter().map(|(_, v)| format!("{v:.0}")));
        row.extend(r.infer_ms.iter().map(|(_, v)| format!("{v:.2}")));
        table.row(row);
        results.push(r);
    }
    print!("{}", table.text());
    if let Some(path) = &args.json {
        lvmkit_io::write_json_atomic(path, &results)?;
        println!("results in {}", path.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchEncodeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Sentence-transformers folder (default: the fetched all-MiniLM-L6-v2).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Text file, one sentence per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Use at most this many lines.
    #[arg(long, default_value_t = 2000)]
    pub limit: usize,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Timed repetitions (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Also write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn encode(args: &BenchEncodeArgs) -> Result<()> {
    let mut texts = lvmkit_io::text::read_lines(&args.input)?;
    texts.retain(|t| !t.trim().is_empty());
    texts.truncate(args.limit);
    let dir = args.data.dir().encoder_or_default(args.encoder.as_deref());
    let enc = lvmkit_pipeline::encode::load_encoder(&dir)?;
    let input = args.input.display().to_string();
    let r = lvmkit_encode::bench::measure(&enc, &texts, &input, args.batch_size, args.repeat)
        .with_context(|| input.clone())?;
    let runs: Vec<String> = r.runs.iter().map(|x| format!("{x:.0}")).collect();
    println!(
        "encoder {}: {} sentences ({:.1} tokens each), batch {}, {} threads: median {:.0} sentences/s (runs: {})",
        r.encoder,
        r.sentences,
        r.mean_tokens,
        r.batch_size,
        r.threads,
        r.sentences_per_second,
        runs.join(", ")
    );
    if let Some(path) = &args.json {
        lvmkit_io::write_json_atomic(path, &r)?;
    }
    Ok(())
}

#[derive(Args)]
pub struct BenchDecodeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Decoder run folder.
    #[arg(long)]
    pub decoder: PathBuf,
    /// Sentence-transformers folder (default: the one the decoder's dataset names).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Batch sizes (vectors per call).
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub batch: Vec<usize>,
    /// Decoding settings as BEAM:STEPS (1:0 is greedy without correction).
    #[arg(long, value_delimiter = ',', default_value = "1:0,4:0,4:1")]
    pub settings: Vec<String>,
    /// Val vectors decoded per cell at batch 1; larger batches decode this many batches' worth,
    /// at most 256.
    #[arg(long, default_value_t = 16)]
    pub sentences: usize,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

fn decode(args: &BenchDecodeArgs) -> Result<()> {
    let inv = lvmkit_pipeline::decoder::open_inverter(
        &args.decoder,
        args.encoder.as_deref(),
        &args.data.dir(),
        true,
    )?;
    let ds = lvmkit_dataset::Dataset::open(std::path::Path::new(&inv.config.data.path))?;
    let rows = lvmkit_decoder::train::split_rows(&ds, "val");
    let mut settings = Vec::new();
    for s in &args.settings {
        let parsed = s
            .split_once(':')
            .and_then(|(b, k)| Some((b.parse::<usize>().ok()?, k.parse::<usize>().ok()?)));
        match parsed {
            Some((beam, steps)) if beam >= 1 => settings.push((beam, steps)),
            _ => anyhow::bail!("--settings: '{s}' is not BEAM:STEPS (e.g. 4:1)"),
        }
    }
    println!(
        "decoder {} ({} parameters), CANDLE_NUM_THREADS={}",
        args.decoder.display(),
        group_digits(inv.config.params as u64),
        std::env::var("CANDLE_NUM_THREADS").unwrap_or_default()
    );
    let mut table = Table::named(
        [
            "batch",
            "beam",
            "steps",
            "sentences",
            "sentences/s",
            "ms/batch",
            "round-trip cos",
        ]
        .map(String::from)
        .to_vec(),
    );
    let mut results = Vec::new();
    for &batch in &args.batch {
        let n = if batch == 1 {
            args.sentences
        } else {
            (args.sentences * batch).min(256).max(batch)
        };
        let picked = lvmkit_decoder::train::spread(&rows, n);
        let vectors: Vec<f32> = picked
            .iter()
            .flat_map(|&r| ds.concepts.row(r).to_vec())
            .collect();
        for &(beam, steps) in &settings {
            let r = lvmkit_decoder::bench::measure(&inv, &vectors, batch, beam, steps)?;
            table.row(vec![
                batch.to_string(),
                beam.to_string(),
                steps.to_string(),
                r.sentences.to_string(),
                format!("{:.1}", r.sentences_per_s),
                format!("{:.0}", r.ms_per_batch),
                r.round_trip_cosine
                    .map_or("–".into(), |c| format!("{c:.3}")),
            ]);
            results.push(r);
        }
    }
    print!("{}", table.text());
    if let Some(path) = &args.json {
        lvmkit_io::write_json_atomic(path, &results)?;
        println!("results in {}", path.display());
    }
    Ok(())
}
