//! Prometheus metrics, one registry per server (tests run several in one process).

use crate::error::ErrorCode;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};
use std::sync::Arc;
use std::time::Instant;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    pub batch_size: HistogramVec,
    pub in_flight: IntGauge,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("lvmkit".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "http_errors_total",
                "Error responses by route and error code",
            ),
            &["route", "code"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Request latency by route")
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ]),
            &["route"],
        )?;
        let batch_size = HistogramVec::new(
            HistogramOpts::new(
                "batch_items",
                "Items (contexts or sentences) per forward pass, by worker",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
            ]),
            &["worker"],
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "Requests being served")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(Self {
            registry,
            requests,
            errors,
            latency,
            batch_size,
            in_flight,
        })
    }

    /// A gauge set once (bank size, models served, ...).
    pub fn constant(&self, name: &str, help: &str, value: i64) -> prometheus::Result<()> {
        let g = IntGauge::new(name, help)?;
        g.set(value);
        self.registry.register(Box::new(g))
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding of gathered metrics");
        String::from_utf8(buf).expect("Prometheus text is UTF-8")
    }
}

/// Middleware: count and time every request under its route pattern (never the raw path, so
/// a scan of random URLs cannot blow up the label set).
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    m.in_flight.inc();
    let resp = next.run(req).await;
    m.in_flight.dec();
    m.latency
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[&route, &method, resp.status().as_str()])
        .inc();
    if resp.status().is_client_error() || resp.status().is_server_error() {
        let code = resp
            .extensions()
            .get::<ErrorCode>()
            .map(|c| c.0)
            .unwrap_or("other");
        m.errors.with_label_values(&[&route, code]).inc();
    }
    resp
}
