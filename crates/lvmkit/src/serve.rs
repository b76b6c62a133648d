//! `lvmkit serve`: load runs and the bank, then hand them to lvmkit-serve.

use anyhow::{bail, Context, Result};
use clap::Args;
use lvmkit_index::ConceptBank;
use lvmkit_serve::{Limits, ServedModel};
use lvmkit_train::RunDir;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Sentence-transformers folder (default: the encoder the dataset names).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Default search of the bank: exact (matrix product), approximate (the HNSW index of
    /// `lvmkit index`), or auto (approximate when the index exists). A request's "exact" field
    /// overrides it.
    #[arg(long, default_value = "auto", value_parser = ["auto", "exact", "approximate"])]
    pub search: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 2 << 20)]
    pub max_body_bytes: usize,
    /// Most sentences per request.
    #[arg(long, default_value_t = 256)]
    pub max_texts: usize,
    /// Most characters per sentence.
    #[arg(long, default_value_t = 2000)]
    pub max_text_chars: usize,
    /// Most vectors per request.
    #[arg(long, default_value_t = 1024)]
    pub max_vectors: usize,
    /// Most contexts in one /v1/predict batch.
    #[arg(long, default_value_t = 256)]
    pub max_contexts: usize,
    /// Largest k (neighbours or candidates).
    #[arg(long, default_value_t = 100)]
    pub max_k: usize,
    /// Most /v1/generate steps.
    #[arg(long, default_value_t = 64)]
    pub max_steps: usize,
    /// Most items (contexts or sentences) in one batched forward pass.
    #[arg(long, default_value_t = 256)]
    pub max_batch: usize,
}

fn parse_run(spec: &str) -> (Option<String>, PathBuf) {
    match spec.split_once('=') {
        Some((name, path)) if !name.is_empty() && !name.contains('/') => {
            (Some(name.to_string()), PathBuf::from(path))
        }
        _ => (None, PathBuf::from(spec)),
    }
}

pub fn serve(args: &ServeArgs) -> Result<()> {
    let mut models = Vec::new();
    for spec in &args.runs {
        let (name, dir) = parse_run(spec);
        let rd = RunDir::new(&dir);
        let (config, model) = rd
            .load_best()
            .with_context(|| format!("cannot serve run {}", dir.display()))?;
        let name = name.unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| config.model.arch.name().to_string())
        });
        let best_val_cosine = rd.read_history().ok().map(|h| h.best_val_cosine);
        tracing::info!(
            "model {name}: {} ({} parameters) from {}",
            config.model.arch.name(),
            config.params,
            dir.display()
        );
        models.push(ServedModel {
            name,
            run_dir: dir,
            config,
            model,
            best_val_cosine,
        });
    }
    let data = match &args.data {
        Some(d) => d.clone(),
        None => PathBuf::from(&models[0].config.data.path),
    };
    let bank = ConceptBank::open(&data).with_context(|| {
        format!(
            "cannot open the concept bank {} (pass --data DATASET)",
            data.display()
        )
    })?;
    if bank.has_hnsw() {
        tracing::info!("bank: {} concepts, HNSW index", bank.len());
    } else {
        tracing::warn!(
            "bank: {} concepts, exact search only; `lvmkit index --data {}` builds the HNSW index",
            bank.len(),
            data.display()
        );
    }
    let enc_dir: PathBuf = match &args.encoder {
        Some(p) => p.clone(),
        None => PathBuf::from(&bank.dataset().manifest.encoder.path),
    };
    let encoder = lvmkit_encode::SentenceEncoder::load(&enc_dir).with_context(|| {
        format!(
            "loading the encoder from {} (pass --encoder)",
            enc_dir.display()
        )
    })?;
    let limits = Limits {
        max_body_bytes: args.max_body_bytes,
        max_texts: args.max_texts,
        max_text_chars: args.max_text_chars,
        max_vectors: args.max_vectors,
        max_contexts: args.max_contexts,
        max_k: args.max_k,
        max_steps: args.max_steps,
        max_batch_items: args.max_batch,
    };
    if [
        limits.max_body_bytes,
        limits.max_texts,
        limits.max_text_chars,
        limits.max_vectors,
        limits.max_contexts,
        limits.max_k,
        limits.max_steps,
        limits.max_batch_items,
    ]
    .contains(&0)
    {
        bail!("every --max-* limit must be at least 1");
    }
    let state = Arc::new(lvmkit_serve::AppState::new(
        models,
        encoder,
        Arc::new(bank),
        limits,
        match args.search.as_str() {
            "exact" => Some(lvmkit_index::SearchMode::Exact),
            "approximate" => Some(lvmkit_index::SearchMode::Approximate),
            _ => None,
        },
    )?);
    let app = lvmkit_serve::router(state);
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
