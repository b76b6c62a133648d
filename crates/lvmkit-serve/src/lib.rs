//! `lvmkit serve`: every trained run behind one HTTP server, with the same model code that
//! trained it.
//!
//! - [`server`]: state, handlers, router, graceful shutdown.
//! - [`batch`]: concurrent requests share forward passes.
//! - [`api`]: request and response bodies (their schemas are served at /openapi.json).
//! - [`error`]: every client mistake is a 4xx with a JSON message.
//! - [`metrics`]: Prometheus counters and histograms at /metrics.

pub mod api;
pub mod batch;
pub mod error;
pub mod metrics;
pub mod server;

pub use server::{router, serve, ApiDoc, AppState, Limits, ServedModel};
