//! The server: its state, the handlers and the router.

use crate::api::*;
use crate::batch::Batcher;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::metrics::Metrics;
use anyhow::{bail, Context as _, Result};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lvmkit_encode::{EncodeOptions, SentenceEncoder};
use lvmkit_index::{ConceptBank, Decoded, Decoder, RetrievalDecoder, SearchMode};
use lvmkit_models::Model;
use lvmkit_train::run::RunConfig;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi;

/// What a client may ask for at most. Every limit is a 4xx when exceeded, never a slow server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Request body size in bytes.
    pub max_body_bytes: usize,
    /// Sentences in one request (all contexts together).
    pub max_texts: usize,
    /// Characters in one sentence.
    pub max_text_chars: usize,
    /// Vectors in one request (all contexts together).
    pub max_vectors: usize,
    /// Contexts in one /v1/predict batch.
    pub max_contexts: usize,
    pub max_k: usize,
    pub max_steps: usize,
    /// Items a worker runs in one forward pass (batches of waiting requests are cut here).
    pub max_batch_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 << 20,
            max_texts: 256,
            max_text_chars: 2000,
            max_vectors: 1024,
            max_contexts: 256,
            max_k: 100,
            max_steps: 64,
            max_batch_items: 256,
        }
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

struct ModelSlot {
    info: ModelInfo,
    context: usize,
    batcher: Batcher<Vec<f32>, Vec<f32>>,
}

pub struct AppState {
    models: Vec<ModelSlot>,
    default_mode: SearchMode,
    encoder: Batcher<String, Vec<f32>>,
    encoder_name: String,
    encoder_fingerprint: String,
    dim: usize,
    bank: Arc<ConceptBank>,
    decoder: Arc<dyn Decoder>,
    limits: Limits,
    metrics: Arc<Metrics>,
    started: Instant,
}

/// Longest input vector accepted (concept vectors are unit length).
pub const MAX_VECTOR_NORM: f64 = 1000.0;

/// A model's output must be finite before it is decoded or returned.
fn finite(pred: &[f32]) -> std::result::Result<(), ApiError> {
    if pred.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "not_finite",
            "the model's prediction for this context is not finite",
        ))
    }
}

type ApiResult<T> = std::result::Result<Json<T>, ApiError>;

impl AppState {
    /// Check that every model, the encoder and the bank live in one vector space, and start a
    /// batch worker for each model and for the encoder.
    /// `search`: the default search of the bank; `None`: approximate when the bank has an HNSW
    /// index, exact otherwise.
    pub fn new(
        models: Vec<ServedModel>,
        encoder: SentenceEncoder,
        bank: Arc<ConceptBank>,
        limits: Limits,
        search: Option<SearchMode>,
    ) -> Result<Self> {
        if models.is_empty() {
            bail!("no model to serve: give at least one --run");
        }
        let dim = bank.dim;
        let ds_fp = &bank.dataset().manifest.encoder.fingerprint;
        if encoder.fingerprint() != ds_fp {
            bail!(
                "encoder {} (fingerprint {}) is not the one the bank's dataset {} was embedded with ({ds_fp})",
                encoder.name(),
                encoder.fingerprint(),
                bank.dataset_dir.display()
            );
        }
        if encoder.dim() != dim {
            bail!(
                "encoder gives {}-D vectors, the bank holds {dim}-D",
                encoder.dim()
            );
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
        let encoder_name = encoder.name();
        let encoder_fingerprint = encoder.fingerprint().to_string();
        let observed = metrics.batch_size.with_label_values(&["encoder"]);
        let encoder = Batcher::spawn(
            "encoder",
            limits.max_batch_items,
            move |texts: Vec<String>| {
                let flat = encoder.encode(&texts, &EncodeOptions::default())?;
                Ok(flat.chunks_exact(dim).map(|r| r.to_vec()).collect())
            },
            move |n| observed.observe(n as f64),
        )?;
        metrics.constant("bank_concepts", "Concepts in the bank", bank.len() as i64)?;
        metrics.constant("models_served", "Models served", slots.len() as i64)?;
        let mode = match search {
            Some(SearchMode::Approximate) if !bank.has_hnsw() => bail!(
                "approximate search needs the bank's HNSW index: run `lvmkit index --data {}`",
                bank.dataset_dir.display()
            ),
            Some(m) => m,
            None if bank.has_hnsw() => SearchMode::Approximate,
            None => SearchMode::Exact,
        };
        let decoder: Arc<dyn Decoder> = Arc::new(RetrievalDecoder {
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
            decoder,
            limits,
            metrics,
            started: Instant::now(),
        })
    }

    fn model(&self, name: Option<&str>) -> std::result::Result<&ModelSlot, ApiError> {
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

    fn check_texts(&self, field: &str, texts: &[String]) -> std::result::Result<(), ApiError> {
        if texts.is_empty() {
            return Err(ApiError::unprocessable(
                "empty_input",
                format!("'{field}' is empty: give at least one sentence"),
            ));
        }
        for (i, t) in texts.iter().enumerate() {
            if t.trim().is_empty() {
                return Err(ApiError::unprocessable(
                    "empty_input",
                    format!("{field}[{i}] is blank"),
                ));
            }
            let n = t.chars().count();
            if n > self.limits.max_text_chars {
                return Err(ApiError::unprocessable(
                    "too_large",
                    format!(
                        "{field}[{i}] has {n} characters; the limit is {}",
                        self.limits.max_text_chars
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_vectors(
        &self,
        field: &str,
        vectors: &[Vec<f32>],
    ) -> std::result::Result<(), ApiError> {
        if vectors.is_empty() {
            return Err(ApiError::unprocessable(
                "empty_input",
                format!("'{field}' is empty: give at least one vector"),
            ));
        }
        for (i, v) in vectors.iter().enumerate() {
            if v.len() != self.dim {
                return Err(ApiError::unprocessable(
                    "bad_dimension",
                    format!(
                        "{field}[{i}] has {} values; the models take D = {}",
                        v.len(),
                        self.dim
                    ),
                ));
            }
            if let Some(j) = v.iter().position(|x| !x.is_finite()) {
                return Err(ApiError::unprocessable(
                    "not_finite",
                    format!("{field}[{i}][{j}] is not a finite number"),
                ));
            }
            // Concept vectors are (near) unit length; values far beyond overflow the models.
            let norm = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            if norm > MAX_VECTOR_NORM {
                return Err(ApiError::unprocessable(
                    "too_large",
                    format!(
                        "{field}[{i}] has length {norm:.3e}; concept vectors are unit length \
                         and the limit is {MAX_VECTOR_NORM}"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_k(&self, k: usize, field: &str, min: usize) -> std::result::Result<usize, ApiError> {
        if k < min || k > self.limits.max_k {
            return Err(ApiError::unprocessable(
                "out_of_range",
                format!("'{field}' = {k} is outside {min}…{}", self.limits.max_k),
            ));
        }
        Ok(k)
    }

    fn mode(&self, exact: Option<bool>) -> SearchMode {
        match exact {
            Some(true) => SearchMode::Exact,
            Some(false) if self.bank.has_hnsw() => SearchMode::Approximate,
            Some(false) => SearchMode::Exact,
            None => self.default_mode,
        }
    }

    async fn encode(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, ApiError> {
        self.encoder.run(texts).await.map_err(ApiError::internal)
    }

    /// Decode vectors (flat [n, dim]) on the blocking pool.
    async fn decode(
        &self,
        vectors: Vec<f32>,
        k: usize,
        mode: SearchMode,
        avoid: HashSet<String>,
    ) -> std::result::Result<Vec<Vec<Decoded>>, ApiError> {
        if k == 0 {
            return Ok(vec![Vec::new(); vectors.len() / self.dim]);
        }
        let decoder: Arc<dyn Decoder> = if mode == self.default_mode {
            self.decoder.clone()
        } else {
            Arc::new(RetrievalDecoder {
                bank: self.bank.clone(),
                mode,
            })
        };
        tokio::task::spawn_blocking(move || decoder.decode(&vectors, k, &avoid))
            .await
            .map_err(|e| ApiError::internal(e.into()))?
            .map_err(ApiError::internal)
    }
}

fn neighbor(d: Decoded) -> Neighbor {
    let (doc_id, position, row) = match d.concept {
        Some(c) => (c.doc_id, c.position, c.row),
        None => (String::new(), 0, usize::MAX),
    };
    Neighbor {
        text: d.text,
        doc_id,
        position,
        score: d.score,
        row,
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    // Rounding can push a cosine of parallel vectors just past 1.
    (dot / (na * nb).max(1e-12)).clamp(-1.0, 1.0)
}

#[utoipa::path(post, path = "/v1/encode", request_body = EncodeRequest,
    responses((status = 200, body = EncodeResponse), (status = "4XX", body = ErrorBody)))]
async fn encode(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<EncodeRequest>,
) -> ApiResult<EncodeResponse> {
    s.check_texts("texts", &req.texts)?;
    if req.texts.len() > s.limits.max_texts {
        return Err(ApiError::unprocessable(
            "too_large",
            format!(
                "{} texts; the limit is {} per request",
                req.texts.len(),
                s.limits.max_texts
            ),
        ));
    }
    let vectors = s.encode(req.texts).await?;
    Ok(Json(EncodeResponse {
        vectors,
        dim: s.dim,
        encoder: s.encoder_name.clone(),
    }))
}

enum Ctx {
    Texts(Vec<String>),
    Vectors(Vec<Vec<f32>>),
}

/// Validate contexts and turn each into its last C rows, flat. Texts of every context are
/// embedded in one call.
async fn context_vectors(
    s: &AppState,
    contexts: Vec<Ctx>,
    c: usize,
    single: bool,
) -> std::result::Result<Vec<Vec<f32>>, ApiError> {
    let mut texts = Vec::new();
    let (mut n_texts, mut n_vectors) = (0, 0);
    let field = |i: usize, name: &str| {
        if single {
            name.to_string()
        } else {
            format!("contexts[{i}].{name}")
        }
    };
    for (i, ctx) in contexts.iter().enumerate() {
        match ctx {
            Ctx::Texts(t) => {
                s.check_texts(&field(i, "texts"), t)?;
                n_texts += t.len();
                texts.extend(t.iter().cloned());
            }
            Ctx::Vectors(v) => {
                s.check_vectors(&field(i, "vectors"), v)?;
                n_vectors += v.len();
            }
        }
    }
    if n_texts > s.limits.max_texts || n_vectors > s.limits.max_vectors {
        return Err(ApiError::unprocessable(
            "too_large",
            format!(
                "{n_texts} sentences and {n_vectors} vectors; the limits are {} and {} per request",
                s.limits.max_texts, s.limits.max_vectors
            ),
        ));
    }
    let mut embedded = s.encode(texts).await?.into_iter();
    let d = s.dim;
    Ok(contexts
        .into_iter()
        .map(|ctx| {
            let rows: Vec<Vec<f32>> = match ctx {
                Ctx::Texts(t) => embedded.by_ref().take(t.len()).collect(),
                Ctx::Vectors(v) => v,
            };
            let skip = rows.len().saturating_sub(c);
            let mut flat = Vec::with_capacity((rows.len() - skip) * d);
            rows[skip..].iter().for_each(|r| flat.extend_from_slice(r));
            flat
        })
        .collect())
}

#[utoipa::path(post, path = "/v1/predict", request_body = PredictRequest,
    responses((status = 200, body = PredictResponse), (status = "4XX", body = ErrorBody)))]
async fn predict(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<PredictRequest>,
) -> ApiResult<PredictResponse> {
    let slot = s.model(req.model.as_deref())?;
    let k = s.check_k(req.k.unwrap_or(5), "k", 0)?;
    let given = [
        req.texts.is_some(),
        req.vectors.is_some(),
        req.contexts.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        return Err(ApiError::unprocessable(
            "bad_request",
            "give exactly one of 'texts', 'vectors' and 'contexts'",
        ));
    }
    let single = req.contexts.is_none();
    let contexts: Vec<Ctx> = if let Some(t) = req.texts {
        vec![Ctx::Texts(t)]
    } else if let Some(v) = req.vectors {
        vec![Ctx::Vectors(v)]
    } else {
        let cs = req.contexts.unwrap_or_default();
        if cs.is_empty() || cs.len() > s.limits.max_contexts {
            return Err(ApiError::unprocessable(
                "out_of_range",
                format!(
                    "'contexts' holds {}; give 1…{}",
                    cs.len(),
                    s.limits.max_contexts
                ),
            ));
        }
        cs.into_iter()
            .enumerate()
            .map(|(i, c)| match (c.texts, c.vectors) {
                (Some(t), None) => Ok(Ctx::Texts(t)),
                (None, Some(v)) => Ok(Ctx::Vectors(v)),
                _ => Err(ApiError::unprocessable(
                    "bad_request",
                    format!("contexts[{i}]: give exactly one of 'texts' and 'vectors'"),
                )),
            })
            .collect::<std::result::Result<_, _>>()?
    };
    let rows = context_vectors(&s, contexts, slot.context, single).await?;
    let preds = slot.batcher.run(rows).await.map_err(ApiError::internal)?;
    preds.iter().try_for_each(|p| finite(p))?;
    let flat: Vec<f32> = preds.iter().flatten().copied().collect();
    let hits = s.decode(flat, k, s.mode(req.exact), HashSet::new()).await?;
    let name = slot.info.name.clone();
    let mut out: Vec<Prediction> = preds
        .into_iter()
        .zip(hits)
        .map(|(vector, hs)| Prediction {
            vector,
            neighbors: hs.into_iter().map(neighbor).collect(),
        })
        .collect();
    Ok(Json(if single {
        let p = out.remove(0);
        PredictResponse::One {
            model: name,
            vector: p.vector,
            neighbors: p.neighbors,
        }
    } else {
        PredictResponse::Batch {
            model: name,
            predictions: out,
        }
    }))
}

#[utoipa::path(post, path = "/v1/generate", request_body = GenerateRequest,
    responses((status = 200, body = GenerateResponse), (status = "4XX", body = ErrorBody)))]
async fn generate(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<GenerateRequest>,
) -> ApiResult<GenerateResponse> {
    let slot = s.model(req.model.as_deref())?;
    s.check_texts("texts", &req.texts)?;
    if req.texts.len() > s.limits.max_texts {
        return Err(ApiError::unprocessable(
            "too_large",
            format!(
                "{} texts; the limit is {}",
                req.texts.len(),
                s.limits.max_texts
            ),
        ));
    }
    if req.steps == 0 || req.steps > s.limits.max_steps {
        return Err(ApiError::unprocessable(
            "out_of_range",
            format!(
                "'steps' = {} is outside 1…{}",
                req.steps, s.limits.max_steps
            ),
        ));
    }
    let k = s.check_k(req.k.unwrap_or(1), "k", 1)?;
    let avoid_repeats = req.avoid_repeats.unwrap_or(true);
    let mode = s.mode(req.exact);
    let c = slot.context;

    let mut context = s.encode(req.texts.clone()).await?;
    let mut seen: HashSet<String> = req.texts.iter().cloned().collect();
    let mut steps: Vec<GeneratedStep> = Vec::new();
    let mut stopped_early = None;
    for step in 1..=req.steps {
        let window: Vec<f32> = context[context.len().saturating_sub(c)..]
            .iter()
            .flatten()
            .copied()
            .collect();
        let pred = slot
            .batcher
            .run(vec![window])
            .await
            .map_err(ApiError::internal)?
            .remove(0);
        finite(&pred)?;
        let avoid = if avoid_repeats {
            seen.clone()
        } else {
            HashSet::new()
        };
        let mut cands = s.decode(pred.clone(), k, mode, avoid).await?.remove(0);
        if cands.is_empty() {
            stopped_early = Some("every concept of the bank has been used".to_string());
            break;
        }
        let chosen = cands.remove(0);
        let chosen_vec = match &chosen.concept {
            Some(c) => s.bank.vector(c.row).to_vec(),
            // A generative decoder's text goes back through the encoder.
            None => unit(&s.encode(vec![chosen.text.clone()]).await?.remove(0)),
        };
        let previous = context.last().expect("context is never empty");
        let repeated = !seen.insert(chosen.text.clone());
        steps.push(GeneratedStep {
            step,
            cosine_to_previous: cosine(&chosen_vec, previous),
            prediction_to_previous: cosine(&pred, previous),
            score: chosen.score,
            repeated,
            doc_id: chosen.concept.as_ref().map(|c| c.doc_id.clone()),
            position: chosen.concept.as_ref().map(|c| c.position),
            text: chosen.text,
            alternatives: cands.into_iter().map(neighbor).collect(),
        });
        context.push(chosen_vec);
    }
    let n = steps.len().max(1) as f32;
    let diagnostics = GenerateDiagnostics {
        repeated_steps: steps.iter().filter(|s| s.repeated).count(),
        distinct_steps: steps
            .iter()
            .map(|s| s.text.as_str())
            .collect::<HashSet<_>>()
            .len(),
        mean_score: steps.iter().map(|s| s.score).sum::<f32>() / n,
        mean_cosine_to_previous: steps.iter().map(|s| s.cosine_to_previous).sum::<f32>() / n,
        max_cosine_to_previous: steps
            .iter()
            .map(|s| s.cosine_to_previous)
            .fold(f32::NEG_INFINITY, f32::max)
            .max(-1.0),
        mean_prediction_to_previous: steps.iter().map(|s| s.prediction_to_previous).sum::<f32>()
            / n,
        stopped_early,
    };
    Ok(Json(GenerateResponse {
        model: slot.info.name.clone(),
        decoder: s.decoder.name().to_string(),
        context: req.texts,
        steps,
        diagnostics,
    }))
}

#[utoipa::path(post, path = "/v1/search", request_body = SearchRequest,
    responses((status = 200, body = SearchResponse), (status = "4XX", body = ErrorBody)))]
async fn search(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> ApiResult<SearchResponse> {
    let k = s.check_k(req.k.unwrap_or(10), "k", 1)?;
    let query = match (req.text, req.vector) {
        (Some(t), None) => {
            s.check_texts("text", std::slice::from_ref(&t))?;
            s.encode(vec![t]).await?.remove(0)
        }
        (None, Some(v)) => {
            let v = vec![v];
            s.check_vectors("vector", &v)?;
            if v[0].iter().all(|&x| x == 0.0) {
                return Err(ApiError::unprocessable(
                    "zero_vector",
                    "'vector' is all zeros: it has no direction to search",
                ));
            }
            v.into_iter().next().expect("one")
        }
        _ => {
            return Err(ApiError::unprocessable(
                "bad_request",
                "give exactly one of 'text' and 'vector'",
            ))
        }
    };
    let mode = s.mode(req.exact);
    let hits = s.decode(query, k, mode, HashSet::new()).await?.remove(0);
    Ok(Json(SearchResponse {
        search: match mode {
            SearchMode::Exact => "exact",
            SearchMode::Approximate => "approximate",
        }
        .into(),
        neighbors: hits.into_iter().map(neighbor).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/models", responses((status = 200, body = ModelsResponse)))]
async fn models(State(s): State<Arc<AppState>>) -> Json<ModelsResponse> {
    Json(ModelsResponse {
        models: s
            .models
            .iter()
            .map(|m| ModelInfo {
                name: m.info.name.clone(),
                architecture: m.info.architecture.clone(),
                params: m.info.params,
                dim: m.info.dim,
                context: m.info.context,
                default: m.info.default,
                run: m.info.run.clone(),
                best_val_cosine: m.info.best_val_cosine,
                config: m.info.config.clone(),
                trained_on: m.info.trained_on.clone(),
            })
            .collect(),
        encoder: s.encoder_name.clone(),
        encoder_fingerprint: s.encoder_fingerprint.clone(),
        decoder: s.decoder.name().to_string(),
        bank: BankInfo {
            dataset: s.bank.dataset_dir.display().to_string(),
            concepts: s.bank.len(),
            unique: s.bank.unique(),
            index: if s.bank.has_hnsw() { "hnsw" } else { "exact" }.into(),
            default_search: match s.default_mode {
                SearchMode::Exact => "exact",
                SearchMode::Approximate => "approximate",
            }
            .into(),
        },
    })
}

#[utoipa::path(get, path = "/health", responses((status = 200, body = HealthResponse)))]
async fn health(State(s): State<Arc<AppState>>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
        models: s.models.len(),
        concepts: s.bank.len(),
        uptime_seconds: s.started.elapsed().as_secs_f64(),
    })
}

#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lvmkit",
        description = "Latent vector models over HTTP: encode sentences, predict the next concept, generate continuations decoded by retrieval, search the concept bank."
    ),
    paths(encode, predict, generate, search, models, health, metrics),
    components(schemas(ErrorBody, ContextInput, Neighbor, Prediction))
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        "not_found",
        format!("no route {}; see /openapi.json", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: format!("{method} is not allowed on {}", uri.path()),
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(anyhow::anyhow!("a handler panicked")).into_response()
}

/// The application: routes, body limit, metrics, panic guard.
pub fn router(state: Arc<AppState>) -> Router {
    let metrics = state.metrics.clone();
    let limit = state.limits.max_body_bytes;
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics_route))
        .route("/openapi.json", get(openapi))
        .route("/v1/models", get(models))
        .route("/v1/encode", post(encode))
        .route("/v1/predict", post(predict))
        .route("/v1/generate", post(generate))
        .route("/v1/search", post(search))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
}

// utoipa's path macro and the route share the handler; a thin alias keeps names apart.
async fn metrics_route(s: State<Arc<AppState>>) -> Response {
    metrics(s).await
}

/// Serve until SIGTERM or Ctrl-C, then let requests in flight finish.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server stopped")?;
    tracing::info!("stopped: every request in flight was answered");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
