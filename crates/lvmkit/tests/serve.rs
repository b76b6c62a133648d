//! `lvmkit index` and `lvmkit serve` as a user runs them: a real dataset, real trained runs,
//! the real binary listening on a loopback port, and HTTP requests against it.

mod common;
use common::*;
use lvmkit_sources::DEFAULT_ENCODER;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Two small runs (MLP and GRU) and the dataset's HNSW index, built once for the file.
fn fixture() -> (&'static Path, &'static Path) {
    static RUNS: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    let (_, mlp, gru) = RUNS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mlp = dir.path().join("mlp");
        let gru = dir.path().join("gru");
        ok(train_small(&mlp, &[]));
        ok(train_small(&gru, &["--model", "gru"]));
        let out = ok(lvmkit(&[
            "index",
            "--data",
            s(&dataset().join("data")),
            "--queries",
            "200",
        ]));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("recall@10"), "{text}");
        (dir, mlp, gru)
    });
    (mlp, gru)
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let (mlp, gru) = fixture();
        let mut args = vec![
            "serve".to_string(),
            "--run".into(),
            s(mlp).into(),
            "--run".into(),
            format!("recurrent={}", s(gru)),
            "--data".into(),
            s(&dataset().join("data")).into(),
            "--addr".into(),
            "127.0.0.1:0".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        Self::spawn(&args)
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Sentences of the bank (concepts.jsonl), the first `n`.
fn bank_texts(n: usize) -> Vec<String> {
    let mut texts = concept_texts(&dataset().join("data"));
    texts.truncate(n);
    texts
}

#[test]
fn every_route_answers_with_the_documented_shape() {
    let srv = Server::start(&[]);
    let (status, health) = srv.get("/health");
    assert_eq!(status, 200);
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["models"], 2);

    let (_, models) = srv.get("/v1/models");
    let models: Value = serde_json::from_str(&models).unwrap();
    let list = models["models"].as_array().unwrap();
    assert_eq!(list[0]["name"], "mlp");
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[1]["name"], "recurrent");
    assert_eq!(list[1]["architecture"], "gru");
    assert!(list[1]["params"].as_u64().unwrap() > 100_000);
    assert_eq!(list[0]["dim"], 384);
    assert_eq!(list[0]["context"], 5);
    assert!(
        list[0]["trained_on"]["manifest_hash"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    assert_eq!(models["bank"]["index"], "hnsw");
    assert_eq!(models["decoder"], "retrieval");

    // encode: unit vectors of the dataset's dimension.
    let enc = srv.post_ok(
        "/v1/encode",
        &json!({"texts": ["A cat sat on the mat.", "Stocks fell."]}),
    );
    assert_eq!(enc["dim"], 384);
    let vs = enc["vectors"].as_array().unwrap();
    assert_eq!(vs.len(), 2);
    assert!((norm(&floats(&vs[0])) - 1.0).abs() < 1e-4);

    // search: a bank sentence finds itself first, exact and approximate alike.
    let texts = bank_texts(50);
    for exact in [true, false] {
        let r = srv.post_ok(
            "/v1/search",
            &json!({"text": texts[30], "k": 5, "exact": exact}),
        );
        assert_eq!(r["search"], if exact { "exact" } else { "approximate" });
        let n = r["neighbors"].as_array().unwrap();
        assert_eq!(n.len(), 5);
        assert_eq!(n[0]["text"], texts[30].as_str());
        assert!(n[0]["score"].as_f64().unwrap() > 0.999);
        assert!(n[0]["doc_id"].is_string() && n[0]["position"].is_u64());
        let scores: Vec<f64> = n.iter().map(|x| x["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    }

    // predict: one context (texts or vectors), or a batch; both models.
    let ctx = &texts[10..14];
    let one = srv.post_ok("/v1/predict", &json!({"texts": ctx, "k": 3}));
    assert_eq!(one["model"], "mlp");
    assert_eq!(one["vector"].as_array().unwrap().len(), 384);
    assert_eq!(one["neighbors"].as_array().unwrap().len(), 3);
    let vectors = srv.post_ok("/v1/encode", &json!({"texts": ctx}))["vectors"].clone();
    let by_vec = srv.post_ok("/v1/predict", &json!({"vectors": vectors, "k": 0}));
    let (a, b) = (floats(&one["vector"]), floats(&by_vec["vector"]));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5));
    assert!(by_vec["neighbors"].as_array().unwrap().is_empty());
    let batch = srv.post_ok(
        "/v1/predict",
        &json!({"contexts": [{"texts": ctx}, {"vectors": vectors}], "model": "recurrent"}),
    );
    assert_eq!(batch["model"], "recurrent");
    let preds = batch["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    let (a, b) = (floats(&preds[0]["vector"]), floats(&preds[1]["vector"]));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5));

    // generate: the requested steps, never a repeat, with its diagnostics.
    let g = srv.post_ok(
        "/v1/generate",
        &json!({"texts": &texts[0..3], "steps": 6, "k": 3}),
    );
    let steps = g["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    let mut seen: std::collections::HashSet<&str> =
        texts[0..3].iter().map(|t| t.as_str()).collect();
    for (i, st) in steps.iter().enumerate() {
        assert_eq!(st["step"], i + 1);
        assert!(seen.insert(st["text"].as_str().unwrap()), "repeat: {st}");
        assert_eq!(st["repeated"], false);
        assert_eq!(st["alternatives"].as_array().unwrap().len(), 2);
        let c = st["cosine_to_previous"].as_f64().unwrap();
        assert!((-1.0..=1.0001).contains(&c));
    }
    assert_eq!(g["diagnostics"]["distinct_steps"], 6);
    assert_eq!(g["diagnostics"]["repeated_steps"], 0);
    assert_eq!(g["decoder"], "retrieval");
    // Without avoid_repeats the diagnostics report what happened, whatever it was.
    let g2 = srv.post_ok(
        "/v1/generate",
        &json!({"texts": &texts[0..3], "steps": 6, "avoid_repeats": false}),
    );
    let d = &g2["diagnostics"];
    let steps2 = g2["steps"].as_array().unwrap();
    let repeated = steps2.iter().filter(|s| s["repeated"] == true).count();
    assert_eq!(d["repeated_steps"], repeated);

    // OpenAPI lists every route; the page is HTML with its form.
    let (_, spec) = srv.get("/openapi.json");
    let spec: Value = serde_json::from_str(&spec).unwrap();
    for p in [
        "/v1/encode",
        "/v1/predict",
        "/v1/generate",
        "/v1/search",
        "/v1/models",
        "/health",
        "/metrics",
    ] {
        assert!(
            spec["paths"][p].is_object(),
            "{p} missing from /openapi.json"
        );
    }
    let (status, page) = srv.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("<textarea") && page.contains("/v1/generate"));

    // Metrics count what was just asked, by route and status.
    let (_, metrics) = srv.get("/metrics");
    assert!(
        metrics.contains(
            r#"lvmkit_http_requests_total{method="POST",route="/v1/generate",status="200"} 2"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("lvmkit_http_request_duration_seconds_bucket"));
    assert!(metrics.contains(r#"lvmkit_batch_items_count{worker="encoder"}"#));
    assert!(metrics.contains("lvmkit_bank_concepts"));
}

#[test]
fn bad_input_is_a_json_4xx_and_the_server_keeps_serving() {
    let srv = Server::start(&[
        "--max-body-bytes",
        "20000",
        "--max-k",
        "20",
        "--max-steps",
        "8",
        "--max-texts",
        "4",
    ]);
    let d384 = |x: f32| vec![x; 384];
    let mut wrong_norm = d384(0.0);
    wrong_norm[0] = 1e30;
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("/v1/predict", json!({"texts": []}), 422, "empty_input"),
        (
            "/v1/predict",
            json!({"texts": ["ok", "  "]}),
            422,
            "empty_input",
        ),
        (
            "/v1/predict",
            json!({"vectors": [[0.1, 0.2]]}),
            422,
            "bad_dimension",
        ),
        (
            "/v1/predict",
            json!({"vectors": [wrong_norm]}),
            422,
            "too_large",
        ),
        (
            "/v1/predict",
            json!({"texts": ["a b c"], "model": "nope"}),
            404,
            "unknown_model",
        ),
        (
            "/v1/predict",
            json!({"texts": ["a b c"], "k": 21}),
            422,
            "out_of_range",
        ),
        (
            "/v1/predict",
            json!({"texts": ["a"], "vectors": [d384(0.1)]}),
            422,
            "bad_request",
        ),
        ("/v1/predict", json!({}), 422, "bad_request"),
        (
            "/v1/predict",
            json!({"texts": ["a"], "tmperature": 1}),
            422,
            "invalid_field",
        ),
        (
            "/v1/predict",
            json!({"texts": "not a list"}),
            422,
            "invalid_field",
        ),
        (
            "/v1/predict",
            json!({"texts": ["a", "b", "c", "d", "e"]}),
            422,
            "too_large",
        ),
        ("/v1/predict", json!({"contexts": []}), 422, "out_of_range"),
        (
            "/v1/predict",
            json!({"contexts": [{"texts": ["a"], "vectors": [d384(0.1)]}]}),
            422,
            "bad_request",
        ),
        (
            "/v1/encode",
            json!({"texts": ["x".repeat(2001)]}),
            422,
            "too_large",
        ),
        (
            "/v1/generate",
            json!({"texts": ["Hello there."], "steps": 0}),
            422,
            "out_of_range",
        ),
        (
            "/v1/generate",
            json!({"texts": ["Hello there."], "steps": 9}),
            422,
            "out_of_range",
        ),
        (
            "/v1/generate",
            json!({"texts": ["Hello there."], "steps": 2, "k": 0}),
            422,
            "out_of_range",
        ),
        (
            "/v1/generate",
            json!({"texts": ["Hello."], "steps": -1}),
            422,
            "invalid_field",
        ),
        (
            "/v1/search",
            json!({"vector": d384(0.0)}),
            422,
            "zero_vector",
        ),
        (
            "/v1/search",
            json!({"text": "a", "vector": d384(0.1)}),
            422,
            "bad_request",
        ),
        (
            "/v1/search",
            json!({"text": "hello", "k": 0}),
            422,
            "out_of_range",
        ),
        (
            "/v1/search",
            json!({"text": "hello", "k": 1e12}),
            422,
            "invalid_field",
        ),
    ];
    for (path, body, status, code) in &cases {
        let (got, v) = srv.post(path, body);
        assert_eq!(
            (got, v["error"]["code"].as_str().unwrap_or("")),
            (*status, *code),
            "{path} {body}: {v}"
        );
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // Bodies JSON cannot even hold.
    let raw: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "/v1/predict",
            "application/json",
            b"{\"texts\": [".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "/v1/predict",
            "application/json",
            b"{\"vectors\": [[NaN]]}".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "/v1/predict",
            "application/json",
            b"{\"vectors\": [[1e999]]}".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "/v1/predict",
            "application/json",
            vec![0xff, 0xfe, 0x00],
            400,
            "malformed_json",
        ),
        (
            "/v1/predict",
            "text/plain",
            b"{\"texts\": [\"a\"]}".to_vec(),
            415,
            "not_json",
        ),
        (
            "/v1/encode",
            "application/json",
            format!("{{\"texts\": [\"{}\"]}}", "a".repeat(30_000)).into_bytes(),
            413,
            "too_large",
        ),
    ];
    for (path, ct, body, status, code) in raw {
        let (got, v) = srv.post_raw(path, ct, body);
        assert_eq!(
            (got, v["error"]["code"].as_str().unwrap()),
            (status, code),
            "{path}: {v}"
        );
    }
    let (status, body) = srv.get("/no/such/route");
    assert_eq!(status, 404);
    assert!(body.contains("not_found"));
    let mut r = Server::agent()
        .delete(format!("{}/v1/predict", srv.url))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert!(r
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("method_not_allowed"));

    // Still serving, and every refusal was counted as an error, none as a 5xx.
    let g = srv.post_ok(
        "/v1/generate",
        &json!({"texts": ["The vote was close."], "steps": 2}),
    );
    assert_eq!(g["steps"].as_array().unwrap().len(), 2);
    let (_, metrics) = srv.get("/metrics");
    assert!(
        metrics.contains(r#"lvmkit_http_errors_total{code="bad_dimension",route="/v1/predict"} 1"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"status="5"#),
        "a 5xx was served: {metrics}"
    );
}

#[test]
fn the_server_predicts_what_lvmkit_predict_writes() {
    let (mlp, gru) = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let texts = bank_texts(40);
    let contexts: Vec<Vec<String>> = vec![
        texts[0..5].to_vec(),
        texts[5..7].to_vec(),
        texts[20..28].to_vec(),
        vec![texts[30].clone()],
    ];
    let input = tmp.path().join("contexts.jsonl");
    std::fs::write(
        &input,
        contexts
            .iter()
            .map(|c| serde_json::to_string(c).unwrap() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let srv = Server::start(&[]);
    for (name, run) in [("mlp", mlp), ("recurrent", gru)] {
        let out = tmp.path().join(format!("{name}.npy"));
        ok(lvmkit(&[
            "predict",
            "--run",
            s(run),
            "--input",
            s(&input),
            "--output",
            s(&out),
        ]));
        let (shape, cli) = read_npy(&out);
        assert_eq!(shape, vec![contexts.len(), 384]);
        // One request per context, and all of them in one batch: both equal the CLI.
        let batch = srv.post_ok(
            "/v1/predict",
            &json!({"contexts": contexts.iter().map(|c| json!({"texts": c})).collect::<Vec<_>>(), "model": name, "k": 0}),
        );
        for (i, ctx) in contexts.iter().enumerate() {
            let one = srv.post_ok("/v1/predict", &json!({"texts": ctx, "model": name, "k": 0}));
            for got in [
                floats(&one["vector"]),
                floats(&batch["predictions"][i]["vector"]),
            ] {
                let want = &cli[i * 384..(i + 1) * 384];
                let worst = got
                    .iter()
                    .zip(want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst < 1e-5,
                    "{name} context {i}: differs from lvmkit predict by {worst}"
                );
            }
        }
    }
}

#[test]
fn concurrent_clients_get_their_own_answers() {
    let srv = Server::start(&[]);
    let texts = bank_texts(60);
    let contexts: Vec<Vec<String>> = (0..24).map(|i| texts[i..i + 1 + i % 5].to_vec()).collect();
    // Sequential answers first, then the same requests all at once.
    let want: Vec<Vec<f32>> = contexts
        .iter()
        .map(|c| floats(&srv.post_ok("/v1/predict", &json!({"texts": c, "k": 0}))["vector"]))
        .collect();
    let got: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let hs: Vec<_> = contexts
            .iter()
            .map(|c| {
                let srv = &srv;
                scope.spawn(move || {
                    floats(&srv.post_ok("/v1/predict", &json!({"texts": c, "k": 0}))["vector"])
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let worst = g
            .iter()
            .zip(w)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-5,
            "context {i}: concurrent answer differs by {worst}"
        );
    }
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    let mut srv = Server::start(&[]);
    let texts = bank_texts(5);
    let url = srv.url.clone();
    let body = json!({"texts": texts, "steps": 40, "k": 5, "exact": true});
    let request = std::thread::spawn(move || {
        let mut r = Server::agent()
            .post(format!("{url}/v1/generate"))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    });
    // Let the request reach the server, then ask it to stop.
    std::thread::sleep(Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-TERM", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (status, body) = request.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 40);
    let started = Instant::now();
    let exit = loop {
        if let Some(st) = srv.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status after SIGTERM: {exit}");
}

#[test]
fn serving_refuses_runs_that_do_not_fit_the_bank() {
    let (mlp, _) = fixture();
    // A bank from another encoder space: a dataset whose manifest names a different encoder.
    let tmp = tempfile::tempdir().unwrap();
    let npz = tmp.path().join("seeds.npz");
    let ctx: Vec<f32> = (0..40 * 3 * 16)
        .map(|i| ((i * 7919) % 101) as f32 / 101.0)
        .collect();
    let tgt: Vec<f32> = (0..40 * 16)
        .map(|i| ((i * 104729) % 97) as f32 / 97.0)
        .collect();
    write_seeds_npz(&npz, [40, 3, 16], &ctx, [40, 16], &tgt);
    let other = tmp.path().join("other");
    ok(lvmkit(&[
        "import-npz",
        "--input",
        s(&npz),
        "--output",
        s(&other),
    ]));
    let encoder = data(&[DEFAULT_ENCODER]).default_encoder();
    let out = lvmkit(&[
        "serve",
        "--run",
        s(mlp),
        "--data",
        s(&other),
        "--encoder",
        s(&encoder),
        "--addr",
        "127.0.0.1:0",
    ]);
    fails_with(&out, "is not the one the bank's dataset");

    // A run folder that is not a run.
    let out = lvmkit(&["serve", "--run", s(tmp.path()), "--addr", "127.0.0.1:0"]);
    fails_with(&out, "cannot serve run");
}

/// The page at / in headless Chromium (Debian's package), driven by scripts/browser/page-test.mjs:
/// type, press Continue, see the continuation and neighbours, see the server's error for empty
/// input; screenshot in target/tmp/page.png. Needs `scripts/setup-browser.sh` (CI runs it and
/// sets LVMKIT_REQUIRE_BROWSER=1; elsewhere the test says it was skipped).
#[test]
fn the_page_shows_a_continuation_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("scripts/browser/page-test.mjs");
    let ready = Path::new("/usr/bin/chromium").exists()
        && root
            .join("scripts/browser/node_modules/playwright-core")
            .exists()
        && Command::new("node").arg("--version").output().is_ok();
    if !ready {
        assert!(
            std::env::var_os("LVMKIT_REQUIRE_BROWSER").is_none(),
            "the browser test is required here: run scripts/setup-browser.sh"
        );
        eprintln!("SKIPPED: no chromium or playwright-core; run scripts/setup-browser.sh");
        return;
    }
    let srv = Server::start(&[]);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("{}/", srv.url))
        .arg(&shot)
        .arg("4")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "page test failed: {}\n{stdout}",
        stderr(&out)
    );
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["models"], json!(["mlp", "recurrent"]));
    assert_eq!(summary["continuation"].as_array().unwrap().len(), 4);
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "no screenshot at {}",
        shot.display()
    );
}
