//! What every request shares: the served models with their batch workers, the encoder, the
//! concept bank and its retrieval decoder, the inversion decoder when there is one, the limits
//! and the metrics. It is built once, checked for one vector space, and held behind an `Arc` by
//! the router; handlers only read it.
//!
//! A server without an encoder (its bank's dataset was built from vectors, e.g. imported from
//! .npz, and names none) takes vectors only: every text input is a 4xx `no_encoder`.

use crate::api::{DecoderKind, InversionInfo, ModelInfo};
use crate::batch::Batcher;
use crate::error::ApiError;
use crate::metrics::Metrics;
use anyhow::{bail, Result};
use lvmkit_decoder::{Inversion, InversionDecoder, InvertOptions, Inverter};
use lvmkit_encode::{EncodeOptions, SentenceEncoder};
use lvmkit_index::{ConceptBank, Decoded, Decoder, RetrievalDecoder, SearchMode};
use lvmkit_io::setting_error;
use lvmkit_models::Model;
use lvmkit_train::run::RunConfig;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What a client may ask for at most (also the CLI's flags). Every limit is a 4xx when
/// exceeded, never a slow server.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct Limits {
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 2 << 20)]
    pub max_body_bytes: usize,
    /// Most sentences per request (all contexts together).
    #[arg(long, default_value_t = 256)]
    pub max_texts: usize,
    /// Most characters per sentence.
    #[arg(long, default_value_t = 2000)]
    pub max_text_chars: usize,
    /// Most vectors per request (all contexts together).
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
    /// Most correction steps a /v1/decode request may ask of the inversion decoder.
    #[arg(long, default_value_t = 8)]
    pub max_decode_steps: usize,
    /// Most beams per vector a /v1/decode request may ask of the inversion decoder.
    #[arg(long, default_value_t = 16)]
    pub max_decode_beam: usize,
    /// Most items (contexts or sentences) in one batched forward pass.
    #[arg(long = "max-batch", default_value_t = 256)]
    pub max_batch_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

impl Limits {
    /// Every limit must be at least 1; the error names the first that is not.
    pub fn validate(&self) -> Result<()> {
        let l = self;
        for (name, v) in [
            ("max_body_bytes", l.max_body_bytes),
            ("max_texts", l.max_texts),
            ("max_text_chars", l.max_text_chars),
            ("max_vectors", l.max_vectors),
            ("max_contexts", l.max_contexts),
            ("max_k", l.max_k),
            ("max_steps", l.max_steps),
            ("max_decode_steps", l.max_decode_steps),
            ("max_decode_beam", l.max_decode_beam),
            ("max_batch", l.max_batch_items),
        ] {
            if v == 0 {
                return Err(setting_error(name, "every limit must be at least 1").into());
            }
        }
        Ok(())
    }
}

/// A trained run, loaded through the same model definitions that trained it.
pub struct ServedModel {
    pub name: String,
    pub run_dir: PathBuf,
    pub config: RunConfig,
    pub model: Model,
    pub best_val_cosine: Option<f64>,
}

/// One served model: what /v1/models says about it, and the worker that runs its passes.
pub(crate) struct ModelSlot {
    pub(crate) info: ModelInfo,
    pub(crate) context: usize,
    pub(crate) batcher: Batcher<Vec<f32>, Vec<f32>>,
}

// Fields are crate-visible because the handlers, the checks and the generation loop each read
// them from their own module; only `new` writes them. The encoder's batcher stays private:
// everything goes through `encode`, which maps its failure (or its absence) to an ApiError.
pub struct AppState {
    pub(crate) models: Vec<ModelSlot>,
    pub(crate) default_mode: SearchMode,
    /// `None`: vector input only.
    encoder: Option<Batcher<String, Vec<f32>>>,
    pub(crate) encoder_name: Option<String>,
    pub(crate) encoder_fingerprint: Option<String>,
    pub(crate) dim: usize,
    pub(crate) bank: Arc<ConceptBank>,
    /// Whether any bank concept has a text (a dataset imported from .npz has none).
    pub(crate) bank_texts: bool,
    /// Nearest bank concept, by the server's default search.
    pub(crate) retrieval: Arc<dyn Decoder>,
    /// The inversion decoder (`lvmkit serve --decoder`), with the options a request that names
    /// none gets; `None`: /v1/decode and generate's "inversion" are refused.
    pub(crate) inversion: Option<Arc<InversionDecoder>>,
    pub(crate) inversion_info: Option<InversionInfo>,
    pub(crate) limits: Limits,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) started: Instant,
}

impl AppState {
    /// Check that every model, the encoder and the bank live in one vector space, and start a
    /// batch worker for each model and for the encoder.
    /// `encoder`: `None` serves vector input only. When the bank's dataset records no encoder
    /// fingerprint (it was built from vectors), only the encoder's dimension can be checked.
    /// `search`: the default search of the bank; `None`: approximate when the bank has an HNSW
    /// index, exact otherwise.
    pub fn new(
        models: Vec<ServedModel>,
        encoder: Option<SentenceEncoder>,
        bank: Arc<ConceptBank>,
        limits: Limits,
        search: Option<SearchMode>,
    ) -> Result<Self> {
        limits.validate()?;
        if models.is_empty() {
            return Err(setting_error("run", "no model to serve").into());
        }
        let dim = bank.dim;
        let ds_fp = &bank.dataset().manifest.encoder.fingerprint;
        if let Some(encoder) = &encoder {
            if !ds_fp.is_empty() && encoder.fingerprint() != ds_fp {
                bail!(
                    "encoder {} (fingerprint {}) is not the one the bank's dataset {} was embedded with ({ds_fp})",
                    encoder.name(),
                    encoder.fingerprint(),
                    bank.dataset_dir.display()
                );
            }
            if encoder.dim() != dim {
                return Err(setting_error(
                    "encoder",
                    format!(
                        "encoder {} gives {}-D vectors, so it is not the one the bank's dataset {} \
                         was embedded with: that holds {dim}-D vectors; name an encoder of \
                         {dim}-D vectors, or none to serve vector input only",
                        encoder.name(),
                        encoder.dim(),
                        bank.dataset_dir.display()
                    ),
                )
                .into());
            }
        }
        let metrics = Arc::new(Metrics::new()?);
        let mut names = HashSet::new();
        let mut slots = Vec::new();
        for (i, m) in models.into_iter().enumerate() {
            if !names.insert(m.name.clone()) {
                bail!(
                    "two runs are both named '{}': name them with --run NAME=PATH",
                    m.name
                );
            }
            let c = &m.config;
            if c.model.dim != dim || c.data.encoder_fingerprint != *ds_fp {
                bail!(
                    "run {} was trained on {}-D vectors of encoder {} ({}), the bank {} holds {dim}-D vectors of {} ({ds_fp})",
                    m.run_dir.display(),
                    c.model.dim,
                    c.data.encoder,
                    c.data.encoder_fingerprint,
                    bank.dataset_dir.display(),
                    bank.dataset().manifest.encoder.name
                );
            }
            let info = ModelInfo {
                name: m.name.clone(),
                architecture: c.model.arch.name().to_string(),
                params: c.params,
                dim: c.model.dim,
                context: c.model.context,
                default: i == 0,
                run: m.run_dir.display().to_string(),
                best_val_cosine: m.best_val_cosine,
                config: serde_json::to_value(&c.model)?,
                trained_on: serde_json::to_value(&c.data)?,
            };
            let model = m.model;
            let observed = metrics.batch_size.with_label_values(&[&m.name]);
            let batcher = Batcher::spawn(
                &m.name,
                limits.max_batch_items,
                move |contexts: Vec<Vec<f32>>| {
                    let rows: Vec<&[f32]> = contexts.iter().map(|c| c.as_slice()).collect();
                    let flat = model.predict(&rows)?;
                    Ok(flat.chunks_exact(dim).map(|r| r.to_vec()).collect())
                },
                move |n| observed.observe(n as f64),
            )?;
            slots.push(ModelSlot {
                context: c.model.context,
                info,
                batcher,
            });
        }
        let encoder_name = encoder.as_ref().map(|e| e.name());
        let encoder_fingerprint = encoder.as_ref().map(|e| e.fingerprint().to_string());
        let encoder = match encoder {
            Some(encoder) => {
                let observed = metrics.batch_size.with_label_values(&["encoder"]);
                Some(Batcher::spawn(
                    "encoder",
                    limits.max_batch_items,
                    move |texts: Vec<String>| {
                        let flat = encoder.encode(&texts, &EncodeOptions::default())?;
                        Ok(flat.chunks_exact(dim).map(|r| r.to_vec()).collect())
                    },
                    move |n| observed.observe(n as f64),
                )?)
            }
            None => None,
        };
        let bank_texts = (0..bank.len()).any(|r| !bank.concept(r).text.is_empty());
        if !bank_texts {
            tracing::warn!(
                "the bank's dataset {} holds no sentences: neighbours have empty text (their \
                 doc_id, position and row say which concept), and /v1/generate is refused",
                bank.dataset_dir.display()
            );
        }
        metrics.constant("bank_concepts", "Concepts in the bank", bank.len() as i64)?;
        metrics.constant("models_served", "Models served", slots.len() as i64)?;
        let mode = match search {
            Some(SearchMode::Approximate) if !bank.has_approximate() => bail!(
                "approximate search needs the bank's HNSW index: run `lvmkit index --data {}`",
                bank.dataset_dir.display()
            ),
            Some(m) => m,
            None if bank.has_approximate() => SearchMode::Approximate,
            None => SearchMode::Exact,
        };
        let retrieval: Arc<dyn Decoder> = Arc::new(RetrievalDecoder {
            bank: bank.clone(),
            mode,
        });
        Ok(Self {
            default_mode: mode,
            models: slots,
            encoder,
            encoder_name,
            encoder_fingerprint,
            dim,
            bank,
            bank_texts,
            retrieval,
            inversion: None,
            inversion_info: None,
            limits,
            metrics,
            started: Instant::now(),
        })
    }

    /// Adds the inversion decoder of run `run` (/v1/decode, and /v1/generate's "inversion",
    /// which becomes its default), decoding with `options` when a request names none. Refused
    /// unless it reads the bank's vectors (their dimension, and their encoder where both name
    /// one) and `options` are within the limits.
    pub fn with_inverter(
        mut self,
        run: &Path,
        inverter: Inverter,
        options: InvertOptions,
    ) -> Result<Self> {
        let cfg = &inverter.config;
        let ds = &self.bank.dataset().manifest.encoder;
        let space = |what: &str| {
            setting_error(
                "decoder",
                format!(
                    "decoder run {} reads {}-D vectors of encoder {}{what}, but the served runs \
                     and the bank {} hold {}-D vectors of {}: name a decoder trained on a \
                     dataset of the bank's encoder (`lvmkit decoder train --data DATASET`)",
                    run.display(),
                    cfg.decoder.dim,
                    cfg.data.encoder,
                    self.bank.dataset_dir.display(),
                    self.dim,
                    ds.name
                ),
            )
        };
        if inverter.dim() != self.dim {
            return Err(space("").into());
        }
        let fp = &cfg.data.encoder_fingerprint;
        if !fp.is_empty() && !ds.fingerprint.is_empty() && *fp != ds.fingerprint {
            return Err(space(&format!(
                " (fingerprint {fp}, the bank's is {})",
                ds.fingerprint
            ))
            .into());
        }
        let l = &self.limits;
        if options.steps > l.max_decode_steps {
            return Err(setting_error(
                "decode_steps",
                format!(
                    "{} correction steps is above the limit max_decode_steps = {}",
                    options.steps, l.max_decode_steps
                ),
            )
            .into());
        }
        if options.beam == 0 || options.beam > l.max_decode_beam {
            return Err(setting_error(
                "decode_beam",
                format!(
                    "{} beams is outside 1…{} (max_decode_beam)",
                    options.beam, l.max_decode_beam
                ),
            )
            .into());
        }
        if options.steps > 0 && !inverter.has_encoder() {
            return Err(setting_error(
                "decode_steps",
                format!(
                    "correction steps re-embed each text with the decoder's encoder ({}), which \
                     was not loaded: name it, or decode with 0 steps",
                    cfg.data.encoder
                ),
            )
            .into());
        }
        tracing::info!(
            "inversion decoder: {} parameters from {} ({} correction step(s), beam {} by default)",
            cfg.params,
            run.display(),
            options.steps,
            options.beam
        );
        self.inversion_info = Some(InversionInfo {
            run: run.display().to_string(),
            params: cfg.params,
            dim: cfg.decoder.dim,
            encoder: cfg.data.encoder.clone(),
            round_trip: inverter.has_encoder(),
            default_steps: options.steps,
            default_beam: options.beam,
            max_steps: l.max_decode_steps,
            max_beam: l.max_decode_beam,
        });
        self.inversion = Some(Arc::new(InversionDecoder { inverter, options }));
        Ok(self)
    }

    /// The decoder /v1/generate uses when a request names none.
    pub(crate) fn default_decoder(&self) -> DecoderKind {
        match self.inversion {
            Some(_) => DecoderKind::Inversion,
            None => DecoderKind::Retrieval,
        }
    }

    /// The inversion decoder, or why there is none and how to get one (a 422 `no_decoder`).
    pub(crate) fn inversion(
        &self,
        what: &str,
    ) -> std::result::Result<&Arc<InversionDecoder>, ApiError> {
        self.inversion.as_ref().ok_or_else(|| {
            ApiError::unprocessable(
                "no_decoder",
                format!(
                    "{what} needs the inversion decoder, and this server has none: restart \
                     `lvmkit serve` with --decoder RUN, a run of `lvmkit decoder train` on \
                     {}-D vectors of this dataset. /v1/search and /v1/generate's \
                     \"decoder\": \"retrieval\" turn vectors into the bank's nearest sentences \
                     without one",
                    self.dim
                ),
            )
        })
    }

    /// The named model, or the default (the first `--run`) when the request names none.
    pub(crate) fn model(&self, name: Option<&str>) -> std::result::Result<&ModelSlot, ApiError> {
        match name {
            None => Ok(&self.models[0]),
            Some(n) => self
                .models
                .iter()
                .find(|m| m.info.name == n)
                .ok_or_else(|| {
                    ApiError::not_found(
                        "unknown_model",
                        format!(
                            "no model named '{n}'; served: {}",
                            self.models
                                .iter()
                                .map(|m| m.info.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                }),
        }
    }

    /// A request's `exact` overrides the server's default search; asking for approximate
    /// search of a bank without an HNSW index gets exact search rather than an error.
    pub(crate) fn mode(&self, exact: Option<bool>) -> SearchMode {
        match exact {
            Some(true) => SearchMode::Exact,
            Some(false) if self.bank.has_approximate() => SearchMode::Approximate,
            Some(false) => SearchMode::Exact,
            None => self.default_mode,
        }
    }

    /// Whether text input is accepted (the server has an encoder).
    pub(crate) fn text_input(&self) -> bool {
        self.encoder.is_some()
    }

    /// Embed `texts`; a server without an encoder refuses any (none is fine).
    pub(crate) async fn encode(
        &self,
        texts: Vec<String>,
    ) -> std::result::Result<Vec<Vec<f32>>, ApiError> {
        match &self.encoder {
            _ if texts.is_empty() => Ok(Vec::new()),
            Some(e) => e.run(texts).await.map_err(ApiError::internal),
            None => Err(self.no_encoder("the request")),
        }
    }

    /// Retrieval from the bank by `mode`.
    pub(crate) fn retrieval(&self, mode: SearchMode) -> Arc<dyn Decoder> {
        if mode == self.default_mode {
            self.retrieval.clone()
        } else {
            Arc::new(RetrievalDecoder {
                bank: self.bank.clone(),
                mode,
            })
        }
    }

    /// The `k` nearest bank concepts of each vector (flat [n, dim]), on the blocking pool.
    pub(crate) async fn decode(
        &self,
        vectors: Vec<f32>,
        k: usize,
        mode: SearchMode,
        avoid: HashSet<String>,
    ) -> std::result::Result<Vec<Vec<Decoded>>, ApiError> {
        self.decode_with(self.retrieval(mode), vectors, k, avoid)
            .await
    }

    /// Decode vectors (flat [n, dim]) with `decoder` on the blocking pool.
    pub(crate) async fn decode_with(
        &self,
        decoder: Arc<dyn Decoder>,
        vectors: Vec<f32>,
        k: usize,
        avoid: HashSet<String>,
    ) -> std::result::Result<Vec<Vec<Decoded>>, ApiError> {
        if k == 0 {
            return Ok(vec![Vec::new(); vectors.len() / self.dim]);
        }
        blocking(move || decoder.decode(&vectors, k, &avoid)).await
    }

    /// Every step of the inversion decoder for each vector (flat [n, dim]), on the blocking
    /// pool.
    pub(crate) async fn invert(
        &self,
        vectors: Vec<f32>,
        options: InvertOptions,
    ) -> std::result::Result<Vec<Inversion>, ApiError> {
        let decoder = self.inversion("decoding")?.clone();
        blocking(move || decoder.inverter.invert(&vectors, &options)).await
    }
}

/// Runs `f` on the blocking pool: decoding is seconds of CPU, not a wait.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> std::result::Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map_err(ApiError::internal)
}
