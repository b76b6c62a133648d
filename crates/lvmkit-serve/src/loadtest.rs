//! `lvmkit bench serve`: many concurrent clients against a running `lvmkit serve` on
//! loopback, for a bounded time, with a realistic mix of requests. Reports requests/s and
//! latency percentiles per endpoint, and how many requests failed.

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Server to load (loopback addresses only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Concurrent clients, each with one connection and one request at a time.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Seed of each client's request choices.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// Sentences the clients build their contexts from.
const SENTENCES: &[&str] = &[
    "The committee met on Tuesday to discuss the budget.",
    "Several members objected to the proposed cuts.",
    "The chairman asked for a vote before the end of the session.",
    "Rain had fallen all night and the river was rising.",
    "By morning the lower fields were under water.",
    "Farmers moved their cattle to higher ground.",
    "The function returns a list of the keys in the dictionary.",
    "If the key is not found, a KeyError is raised.",
    "Use the get method to supply a default value instead.",
    "She opened the letter and read it twice.",
    "Her hands were shaking when she put it down.",
    "Nobody in the house said a word at dinner.",
    "The new bridge will carry four lanes of traffic.",
    "Construction is expected to take three years.",
    "Photosynthesis converts light energy into chemical energy.",
    "The reaction takes place in the chloroplasts.",
];

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Kind {
    Predict,
    PredictBatch,
    Generate,
    SearchText,
    SearchVector,
    Encode,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Predict => "predict (texts)",
            Kind::PredictBatch => "predict (4 contexts)",
            Kind::Generate => "generate (3 steps)",
            Kind::SearchText => "search (text)",
            Kind::SearchVector => "search (vector)",
            Kind::Encode => "encode (2 texts)",
        }
    }
}

/// Request mix, in percent.
const MIX: &[(Kind, u32)] = &[
    (Kind::Predict, 35),
    (Kind::PredictBatch, 10),
    (Kind::Generate, 10),
    (Kind::SearchText, 15),
    (Kind::SearchVector, 15),
    (Kind::Encode, 15),
];

/// Requests and latency of one endpoint (or of all together).
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub endpoint: String,
    pub requests: usize,
    pub errors: usize,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What a load test measured (also the `--json` file).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub clients: usize,
    pub seconds: f64,
    /// Every request together (its `endpoint` is "all").
    #[serde(flatten)]
    pub total: KindReport,
    pub endpoints: Vec<KindReport>,
    pub first_errors: Vec<String>,
}

impl Report {
    /// One line per endpoint, then all together.
    pub fn table(&self) -> lvmkit_io::Table {
        let mut t = lvmkit_io::Table::named([
            "endpoint", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms",
        ]);
        for e in self.endpoints.iter().chain(std::iter::once(&self.total)) {
            t.row([
                e.endpoint.clone(),
                e.requests.to_string(),
                e.errors.to_string(),
                format!("{:.1}", e.requests_per_second),
                format!("{:.1}", e.p50_ms),
                format!("{:.1}", e.p99_ms),
                format!("{:.1}", e.max_ms),
            ]);
        }
        t
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn context(rng: &mut impl Rng) -> Vec<&'static str> {
    let start = rng.gen_range(0..SENTENCES.len());
    let len = rng.gen_range(1..=5);
    (0..len)
        .map(|i| SENTENCES[(start + i) % SENTENCES.len()])
        .collect()
}

fn body(kind: Kind, rng: &mut impl Rng, models: &[String], dim: usize) -> (&'static str, Value) {
    let model = &models[rng.gen_range(0..models.len())];
    match kind {
        Kind::Predict => (
            "/v1/predict",
            json!({"texts": context(rng), "model": model, "k": 5}),
        ),
        Kind::PredictBatch => (
            "/v1/predict",
            json!({
                "contexts": (0..4).map(|_| json!({"texts": context(rng)})).collect::<Vec<_>>(),
                "model": model, "k": 3
            }),
        ),
        Kind::Generate => (
            "/v1/generate",
            json!({"texts": context(rng), "steps": 3, "model": model, "k": 2}),
        ),
        Kind::SearchText => (
            "/v1/search",
            json!({"text": SENTENCES[rng.gen_range(0..SENTENCES.len())], "k": 10}),
        ),
        Kind::SearchVector => {
            let v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            ("/v1/search", json!({"vector": v, "k": 10}))
        }
        Kind::Encode => {
            let c = context(rng);
            ("/v1/encode", json!({"texts": &c[..c.len().min(2)]}))
        }
    }
}

fn check_loopback(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--url {url}: only http:// URLs are supported"))?;
    let host = rest.split('/').next().unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(host)
        .trim_matches(['[', ']']);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !loopback {
        bail!("--url {url}: the load test only runs against loopback addresses");
    }
    Ok(())
}

/// Runs the load test; `--json` is written here. Failed requests are counted in the report,
/// not returned as an error: the caller decides (the CLI prints the table, then fails).
pub fn run(args: &LoadArgs) -> Result<Report> {
    check_loopback(&args.url)?;
    if args.clients == 0 || args.seconds <= 0.0 {
        bail!("--clients and --seconds must be positive");
    }
    let base = args.url.trim_end_matches('/').to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut resp = agent
        .get(format!("{base}/v1/models"))
        .call()
        .with_context(|| format!("cannot reach {base} (is `lvmkit serve` running?)"))?;
    let models: Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
    let names: Vec<String> = models["models"]
        .as_array()
        .context("/v1/models: no model list")?
        .iter()
        .filter_map(|m| m["name"].as_str().map(String::from))
        .collect();
    let dim = models["models"][0]["dim"]
        .as_u64()
        .context("/v1/models: no dim")? as usize;
    tracing::info!(
        "{} clients for {:.0} s against {base} ({} models: {})",
        args.clients,
        args.seconds,
        names.len(),
        names.join(", ")
    );

    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let results: Vec<Vec<(Kind, f64, Option<String>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.clients)
            .map(|c| {
                let (names, base) = (&names, &base);
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                scope.spawn(move || {
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed + c as u64);
                    let mut out = Vec::new();
                    while Instant::now() < deadline {
                        let mut pick = rng.gen_range(0..100u32);
                        let kind = MIX
                            .iter()
                            .find(|(_, w)| {
                                let hit = pick < *w;
                                pick = pick.saturating_sub(*w);
                                hit
                            })
                            .map(|(k, _)| *k)
                            .unwrap_or(Kind::Predict);
                        let (path, body) = body(kind, &mut rng, names, dim);
                        let t = Instant::now();
                        let result = agent
                            .post(format!("{base}{path}"))
                            .header("content-type", "application/json")
                            .send(body.to_string())
                            .map_err(|e| e.to_string())
                            .and_then(|mut r| {
                                let status = r.status().as_u16();
                                let text =
                                    r.body_mut().read_to_string().map_err(|e| e.to_string())?;
                                if status == 200 {
                                    Ok(())
                                } else {
                                    Err(format!("{path}: HTTP {status}: {text}"))
                                }
                            });
                        out.push((kind, t.elapsed().as_secs_f64() * 1e3, result.err()));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let all: Vec<(Kind, f64, Option<String>)> = results.into_iter().flatten().collect();

    let summarize = |name: String, rows: &[&(Kind, f64, Option<String>)]| {
        let mut ms: Vec<f64> = rows.iter().map(|r| r.1).collect();
        ms.sort_by(f64::total_cmp);
        KindReport {
            endpoint: name,
            requests: rows.len(),
            errors: rows.iter().filter(|r| r.2.is_some()).count(),
            requests_per_second: rows.len() as f64 / elapsed,
            p50_ms: percentile(&ms, 50.0),
            p99_ms: percentile(&ms, 99.0),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    };
    let endpoints: Vec<KindReport> = MIX
        .iter()
        .map(|(k, _)| {
            let rows: Vec<_> = all.iter().filter(|r| r.0 == *k).collect();
            summarize(k.name().to_string(), &rows)
        })
        .collect();
    let total = summarize("all".into(), &all.iter().collect::<Vec<_>>());
    let report = Report {
        url: base.clone(),
        clients: args.clients,
        seconds: elapsed,
        total,
        endpoints,
        first_errors: all.iter().filter_map(|r| r.2.clone()).take(5).collect(),
    };

    if let Some(path) = &args.json {
        lvmkit_io::write_json_atomic(path, &report)?;
    }
    Ok(report)
}
