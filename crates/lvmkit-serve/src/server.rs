//! The application around the handlers: the router (routes, body limit, metrics, panic
//! guard), the OpenAPI document that lists every route, and `serve` with its graceful
//! shutdown. Start reading here to see which handler answers which route.

use crate::api::{
    ContextInput, DecodeStep, DecodedText, DecoderKind, InversionInfo, Neighbor, Prediction,
};
use crate::error::{ApiError, ErrorBody};
// Globs, because utoipa's `paths(...)` needs each handler's hidden `__path_*` struct in scope;
// naming a handler by its module path instead (`handlers::encode`) would tag its operation
// with the module name and change /openapi.json.
use crate::generate::*;
use crate::handlers::*;
use anyhow::{Context as _, Result};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use utoipa::OpenApi;

// These lived in this module before it was split; the old paths (`server::AppState`, …) keep
// working.
pub use crate::state::{AppState, Limits, ServedModel};
pub use crate::validate::MAX_VECTOR_NORM;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lvmkit",
        description = "Latent vector models over HTTP: encode sentences, predict the next concept, generate continuations decoded by retrieval or by the inversion decoder, decode vectors to new text, search the concept bank."
    ),
    paths(encode, predict, generate, decode, search, models, health, metrics),
    components(schemas(
        ErrorBody,
        ContextInput,
        Neighbor,
        Prediction,
        DecoderKind,
        DecodeStep,
        DecodedText,
        InversionInfo
    ))
)]
pub struct ApiDoc;

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
        .route("/v1/decode", post(decode))
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
