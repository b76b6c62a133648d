//! Serving a run trained on a dataset imported from .npz (`lvmkit_dataset::npz::import`, what
//! `lvmkit import-npz` runs): such a dataset names no encoder and holds no sentences. Without
//! an encoder the server takes vectors and refuses text with a 4xx that says why; an encoder
//! the user names is used when its dimension fits the bank and refused at startup otherwise.
//!
//! The startup goes through `lvmkit_serve::load`, as `lvmkit serve` does; requests go to the
//! router in process.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lvmkit_models::Architecture;
use lvmkit_serve::{load, AppState, Limits};
use lvmkit_sources::DEFAULT_ENCODER;
use lvmkit_train::{TrainConfig, TrainOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;

const C: usize = 3;

/// A seeds-style .npz of `n` sequences of `dim`-D vectors, imported as `lvmkit import-npz`
/// does, and an MLP trained on it for one epoch. Returns the run folder.
fn npz_run(dir: &Path, dim: usize) -> PathBuf {
    let n = 60;
    let value = |i: usize, m: usize| ((i * 7919 + m) % 101) as f32 / 101.0 - 0.5;
    let ctx: Vec<f32> = (0..n * C * dim).map(|i| value(i, 3)).collect();
    let tgt: Vec<f32> = (0..n * dim).map(|i| value(i, 17)).collect();
    let npz = dir.join("seeds.npz");
    lvmkit_io::npz::write_f32(
        &npz,
        &[
            lvmkit_io::npz::Array {
                name: "context_sequences",
                shape: vec![n, C, dim],
                data: &ctx,
            },
            lvmkit_io::npz::Array {
                name: "target_vectors",
                shape: vec![n, dim],
                data: &tgt,
            },
        ],
    )
    .unwrap();
    let data = dir.join("data");
    let opts = lvmkit_dataset::BuildOptions {
        context: 0,
        ratios: Default::default(),
        seed: 42,
        encode: Default::default(),
        cache_dir: None,
    };
    let m = lvmkit_dataset::npz::import(&npz, &data, &opts).unwrap();
    // What makes this case: the dataset names no encoder and has no texts.
    assert!(m.encoder.path.is_empty() && m.encoder.fingerprint.is_empty());
    let ds = lvmkit_dataset::Dataset::open(&data).unwrap();
    assert!(ds.concept_texts().unwrap().iter().all(|t| t.is_empty()));

    let mut cfg = TrainConfig {
        epochs: 1,
        batch_size: 16,
        ..TrainConfig::default()
    };
    if let Architecture::Mlp(m) = &mut cfg.model {
        m.hidden = 32;
    }
    let run = dir.join("run");
    let quiet = TrainOptions {
        progress: false,
        ..Default::default()
    };
    lvmkit_train::train(&ds, &cfg, &run, &quiet).unwrap();
    run
}

/// The server's state as `lvmkit serve --run RUN [--encoder DIR]` builds it.
fn start(run: &Path, encoder: Option<&Path>) -> anyhow::Result<AppState> {
    let model = load::open_run(run.to_str().unwrap())?;
    let bank = load::open_bank(None, &model, None)?;
    let encoder = load::open_encoder(encoder, &bank)?;
    AppState::new(
        vec![model],
        encoder,
        Arc::new(bank),
        Limits::default(),
        None,
    )
}

fn minilm() -> PathBuf {
    // Fails (naming the fetch command) when the encoder has not been fetched.
    lvmkit_sources::fetched(&[DEFAULT_ENCODER]).default_encoder()
}

async fn call(app: &axum::Router, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = match body {
        Some(b) => Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => Request::get(path).body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{path}: body is not JSON ({e}): {bytes:?}"));
    (status, v)
}

/// A 422 with code `no_encoder` whose message says what to do instead.
fn refused_for_text(path: &str, (status, v): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {v}");
    assert_eq!(v["error"]["code"], "no_encoder", "{path}: {v}");
    let msg = v["error"]["message"].as_str().unwrap();
    for needle in [
        "no sentence encoder",
        "imported from .npz",
        "vectors",
        "--encoder",
    ] {
        assert!(msg.contains(needle), "{path}: {needle:?} not in {msg}");
    }
}

#[tokio::test]
async fn an_npz_run_without_encoder_serves_vectors_and_refuses_text() {
    let tmp = tempfile::tempdir().unwrap();
    let d = 16;
    let run = npz_run(tmp.path(), d);
    let app = lvmkit_serve::router(Arc::new(start(&run, None).unwrap()));

    let (status, health) = call(&app, "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["text_input"], false);
    let (_, models) = call(&app, "/v1/models", None).await;
    assert_eq!(models["text_input"], false);
    assert_eq!(models["encoder"], Value::Null);
    assert_eq!(models["bank"]["texts"], false);

    // Vectors work as usual; neighbours have no text but say which concept they are.
    let context: Vec<Vec<f32>> = (0..C)
        .map(|i| (0..d).map(|j| ((i * d + j) % 7) as f32 - 3.0).collect())
        .collect();
    let (status, p) = call(
        &app,
        "/v1/predict",
        Some(json!({"vectors": context, "k": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["vector"].as_array().unwrap().len(), d);
    let neighbors = p["neighbors"].as_array().unwrap();
    assert_eq!(neighbors.len(), 3);
    for n in neighbors {
        assert_eq!(n["text"], "");
        assert!(n["doc_id"].as_str().unwrap().starts_with("seq-"), "{n}");
    }
    let (status, r) = call(
        &app,
        "/v1/search",
        Some(json!({"vector": context[0], "k": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["neighbors"].as_array().unwrap().len(), 2);
    // No inversion decoder was given: decoding to new text is refused, saying how to get one.
    assert_eq!(health["inversion"], false);
    assert_eq!(models["decoders"], json!(["retrieval"]));
    let (status, e) = call(&app, "/v1/decode", Some(json!({"vectors": [context[0]]}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "no_decoder");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--decoder"),
        "{e}"
    );

    // Text, wherever it is given, is refused before any work, with why and what to do.
    let texts = json!(["The cat sat on the mat.", "It purred."]);
    refused_for_text(
        "/v1/predict",
        call(&app, "/v1/predict", Some(json!({"texts": texts}))).await,
    );
    let mixed = json!({"contexts": [{"vectors": context}, {"texts": texts}]});
    let refused = call(&app, "/v1/predict", Some(mixed)).await;
    assert!(refused.1["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("'contexts[1].texts' holds text"));
    refused_for_text("/v1/predict contexts", refused);
    refused_for_text(
        "/v1/encode",
        call(&app, "/v1/encode", Some(json!({"texts": texts}))).await,
    );
    refused_for_text(
        "/v1/search",
        call(&app, "/v1/search", Some(json!({"text": "The cat."}))).await,
    );
    refused_for_text(
        "/v1/generate",
        call(
            &app,
            "/v1/generate",
            Some(json!({"texts": texts, "steps": 2})),
        )
        .await,
    );
}

#[test]
fn an_encoder_of_another_dimension_is_refused_at_startup() {
    let tmp = tempfile::tempdir().unwrap();
    let run = npz_run(tmp.path(), 16);
    let err = start(&run, Some(&minilm()))
        .err()
        .expect("a 384-D encoder on a 16-D bank");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("gives 384-D vectors") && msg.contains("holds 16-D vectors"),
        "{msg}"
    );
    assert_eq!(lvmkit_io::setting::setting_of(&err), Some("encoder"));
}

#[tokio::test]
async fn an_encoder_the_user_names_embeds_text_when_its_dimension_fits() {
    let tmp = tempfile::tempdir().unwrap();
    let run = npz_run(tmp.path(), 384);
    let app = lvmkit_serve::router(Arc::new(start(&run, Some(&minilm())).unwrap()));
    let (_, health) = call(&app, "/health", None).await;
    assert_eq!(health["text_input"], true);
    let (_, models) = call(&app, "/v1/models", None).await;
    assert_eq!(models["encoder"], "all-MiniLM-L6-v2");

    let texts = json!(["The cat sat on the mat.", "It purred."]);
    let (status, p) = call(&app, "/v1/predict", Some(json!({"texts": texts}))).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["vector"].as_array().unwrap().len(), 384);
    // A continuation would be texts the bank does not have.
    let (status, g) = call(
        &app,
        "/v1/generate",
        Some(json!({"texts": texts, "steps": 2})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{g}");
    assert_eq!(g["error"]["code"], "no_texts");
    // New text would need no bank sentences, but this server has no inversion decoder.
    let (status, g) = call(
        &app,
        "/v1/generate",
        Some(json!({"texts": texts, "steps": 2, "decoder": "inversion"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{g}");
    assert_eq!(g["error"]["code"], "no_decoder");
}
