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
    /// Search the bank's approximate index in PostgreSQL (pgvector's HNSW) rather than the
    /// usearch file: the URL of the server `lvmkit index --backend postgres` loaded the
    /// dataset into (e.g. postgres://postgres@127.0.0.1:54329/lvmkit, see scripts/postgres.sh).
    /// A table loaded from another version of the dataset is refused.
    #[arg(long, value_name = "URL")]
    pub bank: Option<String>,
    #[command(flatten)]
    pub table: TableArgs,
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
    let pg = args.bank.as_ref().map(|url| args.table.options(url, None));
    let bank = load::open_bank(args.data.as_deref(), &models[0], pg.as_ref())?;
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

/// Where the approximate index lives.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// An HNSW graph file (usearch) in <dataset>/index/, searched in process.
    Usearch,
    /// A PostgreSQL table with pgvector's HNSW index (--url).
    Postgres,
}

/// The PostgreSQL table of a bank, for `index` and `serve`.
#[derive(Args, Clone)]
pub struct TableArgs {
    /// Table of the bank in PostgreSQL (one per dataset; the `lvmkit_banks` table records
    /// which dataset version each holds).
    #[arg(long, default_value = "lvmkit_concepts")]
    pub table: String,
}

impl TableArgs {
    /// The client's settings for `url`; `hnsw` gives the index's when loading.
    fn options(
        &self,
        url: &str,
        hnsw: Option<&lvmkit_index::HnswSettings>,
    ) -> lvmkit_index::PgOptions {
        let o = lvmkit_index::PgOptions::new(url).with_table(&self.table);
        match hnsw {
            Some(h) => o.with_hnsw(h),
            None => o,
        }
    }
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
    /// Where the index goes: a usearch file beside the dataset, or a PostgreSQL table.
    #[arg(long, value_enum, default_value_t = Backend::Usearch)]
    pub backend: Backend,
    /// PostgreSQL server of `--backend postgres` (postgres://user[:password]@host:port/db).
    /// A load that was interrupted resumes where it stopped.
    #[arg(long, value_name = "URL", required_if_eq("backend", "postgres"))]
    pub url: Option<String>,
    #[command(flatten)]
    pub table: TableArgs,
    /// Drop and reload a table that holds another version of the dataset (otherwise refused).
    #[arg(long)]
    pub replace: bool,
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
    if args.backend == Backend::Postgres {
        let url = args.url.as_deref().expect("clap requires --url");
        let pg = args.table.options(url, Some(&opts.hnsw));
        let m = lvmkit_index::load_postgres(&args.data, &pg, args.replace, &opts)?;
        print_postgres(&args.data, &m);
        return Ok(());
    }
    if args.url.is_some() || args.replace {
        anyhow::bail!("--url and --replace are for --backend postgres");
    }
    let m = lvmkit_index::build_index(&args.data, &opts)?;
    print_index(&args.data, &m);
    Ok(())
}

pub fn print_postgres(data: &Path, m: &lvmkit_index::PgManifest) {
    println!(
        "bank of {} concepts ({} distinct, {}-D) in table {} at {} (recorded in {})",
        m.concepts,
        m.unique,
        m.dim,
        m.table,
        m.url,
        lvmkit_index::index_dir(data)
            .join("postgres.json")
            .display()
    );
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "loaded {} rows in {:.1} s ({} already there), pgvector HNSW (m={}, ef_construction={}, ef_search={}) built in {:.1} s; table {:.0} MiB, index {:.0} MiB",
        m.inserted,
        m.load_seconds,
        m.already_present,
        m.hnsw.connectivity,
        m.hnsw.expansion_add,
        m.hnsw.expansion_search,
        m.index_seconds,
        mib(m.table_bytes),
        mib(m.index_bytes)
    );
    print_evaluation(&m.evaluation, "PostgreSQL + pgvector HNSW");
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
    print_evaluation(e, "HNSW (usearch)");
}

/// Recall and speed of an approximate index (`name`) next to exact search.
fn print_evaluation(e: &lvmkit_index::IndexEvaluation, name: &str) {
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
        name.to_string(),
        format!("{:.4}", e.recall_at_k),
        format!("{:.0}", e.approx_qps),
        format!("{:.0}", e.approx_parallel_qps),
    ]);
    print!("{}", t.markdown());
}
