//! `lvmkit serve`: every trained run behind one HTTP server, with the same model code that
//! trained it.
//!
//! - [`server`]: the router, the OpenAPI document, serving and graceful shutdown.
//! - [`state`]: what every request shares: the models, encoder, bank, decoders, limits and
//!   metrics.
//! - [`validate`]: the checks that turn bad input into a 4xx before any work is queued.
//! - `handlers`: encode, predict, search, decode, models, health, metrics, and the fallbacks.
//! - `generate`: /v1/generate, the step-by-step generation loop.
//! - [`batch`]: concurrent requests share forward passes.
//! - [`api`]: request and response bodies (their schemas are served at /openapi.json).
//! - [`error`]: every client mistake is a 4xx with a JSON message.
//! - [`metrics`]: Prometheus counters and histograms at /metrics.
//! - [`load`]: a server's runs, bank and encoder opened from their folders (the inversion
//!   decoder's run is opened by `lvmkit_pipeline::decoder::open_inverter`, which finds its
//!   encoder, and added with [`AppState::with_inverter`]).
//! - [`loadtest`]: `lvmkit bench serve`, the client side: many concurrent clients on loopback.

pub mod api;
pub mod batch;
pub mod error;
mod generate;
mod handlers;
pub mod load;
pub mod loadtest;
pub mod metrics;
pub mod server;
pub mod state;
pub mod validate;

pub use server::{router, serve, ApiDoc};
pub use state::{AppState, Limits, ServedModel};
