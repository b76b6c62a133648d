//! The HTTP handlers other than /v1/generate (its loop is in `generate`): encode, predict,
//! search and decode each check their request (`validate`), hand the work to the state's
//! batchers and decoders (`state`), and shape the answer into the bodies of `api`. Also the
//! small routes: models, health, metrics, the OpenAPI document, the page, and the JSON answers
//! for an unknown route or method.

use crate::api::*;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::server::ApiDoc;
use crate::state::AppState;
use crate::validate::{context_vectors, finite, Ctx};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use lvmkit_index::{Decoded, SearchMode};
use std::collections::HashSet;
use std::sync::Arc;
use utoipa::OpenApi;

pub(crate) type ApiResult<T> = std::result::Result<Json<T>, ApiError>;

/// A decoded hit as responses show it. A generative decoder's text has no concept: its doc id,
/// position and row are null.
pub(crate) fn neighbor(d: Decoded) -> Neighbor {
    let (doc_id, position, row) = match d.concept {
        Some(c) => (Some(c.doc_id), Some(c.position), Some(c.row)),
        None => (None, None, None),
    };
    Neighbor {
        text: d.text,
        doc_id,
        position,
        score: d.score,
        row,
    }
}

#[utoipa::path(post, path = "/v1/encode", request_body = EncodeRequest,
    responses((status = 200, body = EncodeResponse), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn encode(
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
        // check_texts has refused text unless there is an encoder.
        encoder: s.encoder_name.clone().unwrap_or_default(),
    }))
}

#[utoipa::path(post, path = "/v1/predict", request_body = PredictRequest,
    responses((status = 200, body = PredictResponse), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn predict(
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

#[utoipa::path(post, path = "/v1/search", request_body = SearchRequest,
    responses((status = 200, body = SearchResponse), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn search(
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

/// New text for each vector from the inversion decoder (`lvmkit serve --decoder`); a 422
/// `no_decoder` without one.
#[utoipa::path(post, path = "/v1/decode", request_body = DecodeRequest,
    responses((status = 200, body = DecodeResponse), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn decode(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<DecodeRequest>,
) -> ApiResult<DecodeResponse> {
    s.inversion("/v1/decode")?;
    s.check_decode_vectors("vectors", &req.vectors)?;
    let options = s.decode_options(req.steps, req.beam)?;
    let flat: Vec<f32> = req.vectors.into_iter().flatten().collect();
    let texts = s
        .invert(flat, options)
        .await?
        .into_iter()
        .map(|inv| {
            let best = inv.best().clone();
            DecodedText {
                text: best.text,
                cosine: best.cosine,
                steps: inv
                    .steps
                    .into_iter()
                    .map(|h| DecodeStep {
                        text: h.text,
                        cosine: h.cosine,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Json(DecodeResponse {
        decoder: DecoderKind::Inversion.name().to_string(),
        texts,
    }))
}

#[utoipa::path(get, path = "/v1/models", responses((status = 200, body = ModelsResponse)))]
pub(crate) async fn models(State(s): State<Arc<AppState>>) -> Json<ModelsResponse> {
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
        text_input: s.text_input(),
        encoder: s.encoder_name.clone(),
        encoder_fingerprint: s.encoder_fingerprint.clone(),
        decoder: s.default_decoder().name().to_string(),
        decoders: std::iter::once(DecoderKind::Retrieval)
            .chain(s.inversion.as_ref().map(|_| DecoderKind::Inversion))
            .map(|d| d.name().to_string())
            .collect(),
        inversion: s.inversion_info.clone(),
        bank: BankInfo {
            dataset: s.bank.dataset_dir.display().to_string(),
            concepts: s.bank.len(),
            unique: s.bank.unique(),
            texts: s.bank_texts,
            index: s.bank.approximate().map_or("exact", |a| a.name()).into(),
            default_search: match s.default_mode {
                SearchMode::Exact => "exact",
                SearchMode::Approximate => "approximate",
            }
            .into(),
        },
    })
}

#[utoipa::path(get, path = "/health", responses((status = 200, body = HealthResponse)))]
pub(crate) async fn health(State(s): State<Arc<AppState>>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
        text_input: s.text_input(),
        models: s.models.len(),
        concepts: s.bank.len(),
        inversion: s.inversion.is_some(),
        uptime_seconds: s.started.elapsed().as_secs_f64(),
    })
}

#[utoipa::path(get, path = "/metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub(crate) async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        "not_found",
        format!("no route {}; see /openapi.json", uri.path()),
    )
}

pub(crate) async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: format!("{method} is not allowed on {}", uri.path()),
    }
}
