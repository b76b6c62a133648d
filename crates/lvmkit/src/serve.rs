//! The bank and serving: `lvmkit index` builds the bank's search index, `lvmkit serve` opens
//! runs, bank and encoder (`lvmkit_serve::load`), and the inversion decoder with its encoder
//! (`lvmkit_pipeline::decoder`), and hands them to the server.

use anyhow::{Context, Result};
use clap::Args;
use lvmkit_decoder::InvertOptions;
use lvmkit_index::SearchMode;
use lvmkit_io::Table;
use lvmkit_serve::{load, Limits};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default search of the bank.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Search {
    /// Approximate when the index exists, exact otherwise.
    Auto,
    /// A matrix product over every concept.
    Exact,
    /// The HNSW index of `lvmkit index`.
    Approximate,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Run folder to serve (repeat for several; the first is the default model). NAME=PATH
    /// names it; otherwise the folder's name is used.
    #[arg(long = "run", required = true, value_name = "[NAME=]RUN")]
    pub runs: Vec<String>,
    /// Dataset folder whose concepts are the bank for search and decoding (default: the first
    /// run's dataset). Its HNSW index is used when `lvmkit index` has built one.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Sentence-transformers folder (default: the encoder the dataset names). A dataset that
    /// names none (from `lvmkit import-npz`) is served for vector input only unless this names
    /// one of its dimension.
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Default search of the bank; a request's "exact" field overrides it.
    #[arg(long, value_enum, default_value_t = Search::Auto)]
    pub search: Search,
    /// Inversion decoder run (from `lvmkit decoder train` on this dataset's vectors): serves
    /// /v1/decode, and becomes /v1/generate's default decoder ("inversion": new text rather
    /// than the bank's nearest sentence).
    #[arg(long, value_name = "RUN")]
    pub decoder: Option<PathBuf>,
    /// Correction steps of the inversion decoder when a request names none (each re-embeds
    /// the text and decodes again).
    #[arg(long, default_value_t = 1, requires = "decoder")]
    pub decode_steps: usize,
    /// Beams per vector of the inversion decoder when a request names none (1 = greedy).
    #[arg(long, default_value_t = 4, requires = "decoder")]
    pub decode_beam: usize,
    /// Folder of downloaded data and encoders, where the decoder's encoder is looked for when
    /// neither --encoder nor its dataset names one that exists (default: $LVMKIT_DATA or
    /// ./data).
    #[arg(long, env = "LVMKIT_DATA", default_value = "data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    #[command(flatten)]
    pub limits: Limits,
}

pub fn serve(args: &ServeArgs) -> Result<()> {
    let models = args
        .runs
        .iter()
        .map(|r| load::open_run(r))
        .collect::<Result<Vec<_>>>()?;
    let bank = load::open_bank(args.data.as_deref(), &models[0])?;
    let encoder = load::open_encoder(args.encoder.as_deref(), &bank)?;
    let search = match args.search {
        Search::Auto => None,
        Search::Exact => Some(SearchMode::Exact),
        Search::Approximate => Some(SearchMode::Approximate),
    };
    let mut state =
        lvmkit_serve::AppState::new(models, encoder, Arc::new(bank), args.limits, search)?;
    if let Some(run) = &args.decoder {
        let options = InvertOptions {
            steps: args.decode_steps,
            beam: args.decode_beam,
            ..InvertOptions::default()
        };
        let inverter = lvmkit_pipeline::decoder::open_inverter(
            run,
            args.encoder.as_deref(),
            &lvmkit_sources::DataDir::new(&args.data_dir),
            options.steps > 0,
        )
        .with_context(|| {
            lvmkit_io::setting_error(
                "decoder",
                format!("cannot open the inversion decoder {}", run.display()),
            )
        })?;
        state = state.with_inverter(run, inverter, options)?;
    }
    let app = lvmkit_serve::router(Arc::new(state));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        // The bound address on stdout, for scripts that ask for port 0.
        println!("listening on http://{}", listener.local_addr()?);
        lvmkit_serve::serve(listener, app).await
    })
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

pub fn index(args: &IndexArgs) -> Result<()> {
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
    print_index(&args.data, &m);
    Ok(())
}

pub fn print_index(data: &Path, m: &lvmkit_index::IndexManifest) {
    let e = &m.evaluation;
    println!(
        "index of {} concepts ({} distinct, {}-D) in {}",
        m.concepts,
        m.unique,
        m.dim,
        lvmkit_index::index_dir(data).display()
    );
    let threads = match m.build_threads {
        0 => "every".to_string(),
        n => n.to_string(),
    };
    println!(
        "HNSW (M={}, ef_construction={}, ef={}): built in {:.1} s on {threads} thread(s), {:.0} MiB",
        m.hnsw.connectivity,
        m.hnsw.expansion_add,
        m.hnsw.expansion_search,
        m.build_seconds,
        e.hnsw_memory_bytes as f64 / (1 << 20) as f64
    );
    println!("queries: {}", e.query_source);
    let mut t = Table::named([
        "search".to_string(),
        format!("recall@{}", e.k),
        "queries/s, one at a time".to_string(),
        format!("queries/s, {} at once ({} threads)", e.queries, e.threads),
    ]);
    t.row([
        "exact (matrix product)".to_string(),
        "1.0000".to_string(),
        format!("{:.0}", e.exact_qps),
        format!("{:.0} (one batch)", e.exact_batched_qps),
    ]);
    t.row([
        "HNSW".to_string(),
        format!("{:.4}", e.recall_at_k),
        format!("{:.0}", e.approx_qps),
        format!("{:.0}", e.approx_parallel_qps),
    ]);
    print!("{}", t.markdown());
}
