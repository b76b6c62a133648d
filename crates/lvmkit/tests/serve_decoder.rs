//! `lvmkit serve --decoder` as a user runs it: a real dataset, a real next-concept run and a
//! tiny inversion decoder trained by the binary, the server listening on a loopback port, and
//! HTTP requests to /v1/decode and /v1/generate's "inversion" decoder; and the same routes
//! refused, saying what to do, by a server started without one.

mod common;
use common::*;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// An MLP run and a tiny decoder run on the shared dataset, trained once for the file.
fn fixture() -> (&'static Path, &'static Path) {
    static RUNS: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    let (_, mlp, dec) = RUNS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mlp = dir.path().join("mlp");
        let dec = dir.path().join("dec");
        ok(train_small(&mlp, &[]));
        ok(lvmkit(&[
            "decoder",
            "train",
            "--data",
            s(&dataset().join("data")),
            "--output",
            s(&dec),
            "--preset",
            "tiny",
        ]));
        (dir, mlp, dec)
    });
    (mlp, dec)
}

fn serve_args<'a>(mlp: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "serve",
        "--run",
        s(mlp),
        "--addr",
        "127.0.0.1:0",
        "--max-vectors",
        "6",
        "--max-decode-steps",
        "3",
    ];
    args.extend_from_slice(extra);
    args
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let (mlp, _) = fixture();
        Self::spawn(&serve_args(mlp, extra))
    }

    /// GET `path`, which must answer 200 with JSON.
    fn get_json(&self, path: &str) -> Value {
        let (status, text) = self.get(path);
        assert_eq!(status, 200, "{path}");
        serde_json::from_str(&text).unwrap()
    }

    /// A 4xx whose code is `code` and whose message holds every one of `needles`.
    fn refused(&self, path: &str, body: &Value, status: u16, code: &str, needles: &[&str]) {
        let (got, v) = self.post(path, body);
        assert_eq!(
            (got, v["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{path} {body}: {v}"
        );
        let msg = v["error"]["message"].as_str().unwrap();
        for n in needles {
            assert!(msg.contains(n), "{path}: {n:?} not in {msg:?}");
        }
    }
}

/// Sentences of the bank (concepts.jsonl), the first `n`.
fn bank_texts(n: usize) -> Vec<String> {
    let mut texts = concept_texts(&dataset().join("data"));
    texts.truncate(n);
    texts
}

fn cosine(v: &Value) -> f64 {
    v["cosine"]
        .as_f64()
        .unwrap_or_else(|| panic!("no cosine: {v}"))
}

#[test]
fn a_server_with_a_decoder_decodes_vectors_and_generates_new_text() {
    let (_, dec) = fixture();
    let srv = Server::start(&["--decoder", s(dec), "--decode-beam", "2"]);
    let texts = bank_texts(12);

    let health = srv.get_json("/health");
    assert_eq!(health["inversion"], true);
    let models = srv.get_json("/v1/models");
    assert_eq!(models["decoder"], "inversion");
    assert_eq!(models["decoders"], json!(["retrieval", "inversion"]));
    let inv = &models["inversion"];
    assert_eq!(inv["dim"], 384);
    assert_eq!(inv["round_trip"], true);
    assert_eq!(
        (
            &inv["default_steps"],
            &inv["default_beam"],
            &inv["max_steps"]
        ),
        (&json!(1), &json!(2), &json!(3))
    );

    // One text per vector, every step with its round-trip cosine, never falling.
    let vectors = srv.post_ok("/v1/encode", &json!({"texts": &texts[3..5]}))["vectors"].clone();
    let r = srv.post_ok("/v1/decode", &json!({"vectors": vectors, "steps": 2}));
    assert_eq!(r["decoder"], "inversion");
    let out = r["texts"].as_array().unwrap();
    assert_eq!(out.len(), 2);
    for t in out {
        let steps = t["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 3, "{t}");
        assert!(t["text"].is_string(), "{t}");
        assert_eq!(t["text"], steps[2]["text"]);
        assert_eq!(t["cosine"], steps[2]["cosine"]);
        let cos: Vec<f64> = steps.iter().map(cosine).collect();
        assert!(cos.iter().all(|c| (-1.0..=1.0001).contains(c)), "{cos:?}");
        assert!(
            cos[2] >= cos[0],
            "the final cosine fell below step 0's: {cos:?}"
        );
        assert!(cos.windows(2).all(|w| w[1] >= w[0]), "{cos:?}");
    }
    // The server's defaults: one correction step.
    let r = srv.post_ok("/v1/decode", &json!({"vectors": [vectors[0]]}));
    assert_eq!(r["texts"][0]["steps"].as_array().unwrap().len(), 2);

    // Bad input: a 422 naming the problem, and the server keeps serving.
    let v384 = |x: f32| vec![x; 384];
    srv.refused(
        "/v1/decode",
        &json!({"vectors": [[0.1, 0.2, 0.3]]}),
        422,
        "bad_dimension",
        &["vectors[0]", "3 values", "D = 384"],
    );
    srv.refused(
        "/v1/decode",
        &json!({"vectors": []}),
        422,
        "empty_input",
        &["'vectors'"],
    );
    srv.refused(
        "/v1/decode",
        &json!({"vectors": vec![v384(0.05); 7]}),
        422,
        "too_large",
        &["7 vectors", "limit is 6"],
    );
    srv.refused(
        "/v1/decode",
        &json!({"vectors": [v384(0.0)]}),
        422,
        "zero_vector",
        &["vectors[0]"],
    );
    srv.refused(
        "/v1/decode",
        &json!({"vectors": [v384(0.05)], "steps": 4}),
        422,
        "out_of_range",
        &["'steps' = 4", "0…3"],
    );
    srv.refused(
        "/v1/decode",
        &json!({"vectors": [v384(0.05)], "beam": 0}),
        422,
        "out_of_range",
        &["'beam' = 0"],
    );
    srv.refused(
        "/v1/decode",
        &json!({"vector": [v384(0.05)]}),
        422,
        "invalid_field",
        &["vector"],
    );

    // Generation: the decoder's new text by default and on request, retrieval still on request.
    for body in [
        json!({"texts": &texts[0..3], "steps": 2}),
        json!({"texts": &texts[0..3], "steps": 2, "decoder": "inversion", "k": 2}),
    ] {
        let g = srv.post_ok("/v1/generate", &body);
        assert_eq!(g["decoder"], "inversion", "{g}");
        let steps = g["steps"].as_array().unwrap();
        assert!(!steps.is_empty(), "{g}");
        for st in steps {
            assert!(st["text"].is_string(), "{st}");
            assert!(st["doc_id"].is_null(), "new text has no document: {st}");
            let score = st["score"].as_f64().unwrap();
            assert!((-1.0..=1.0001).contains(&score), "{st}");
        }
    }
    let g = srv.post_ok(
        "/v1/generate",
        &json!({"texts": &texts[0..3], "steps": 2, "decoder": "retrieval"}),
    );
    assert_eq!(g["decoder"], "retrieval");
    assert_eq!(g["steps"].as_array().unwrap().len(), 2);
    assert!(g["steps"][0]["doc_id"].is_string(), "{g}");
    srv.refused(
        "/v1/generate",
        &json!({"texts": &texts[0..3], "steps": 2, "decoder": "vec2text"}),
        422,
        "invalid_field",
        &["retrieval", "inversion"],
    );

    let spec = srv.get_json("/openapi.json");
    assert!(spec["paths"]["/v1/decode"]["post"].is_object(), "{spec}");
    assert!(spec["components"]["schemas"]["GenerateRequest"]["properties"]["decoder"].is_object());
}

#[test]
fn a_server_without_a_decoder_refuses_inversion_and_says_how_to_get_it() {
    let srv = Server::start(&[]);
    let texts = bank_texts(4);
    assert_eq!(srv.get_json("/health")["inversion"], false);
    let models = srv.get_json("/v1/models");
    assert_eq!(models["decoder"], "retrieval");
    assert_eq!(models["decoders"], json!(["retrieval"]));
    assert!(models["inversion"].is_null());

    // Refused before the input is looked at: the missing decoder is the problem to fix.
    for body in [
        json!({"vectors": [vec![0.05f32; 384]]}),
        json!({"vectors": []}),
    ] {
        srv.refused(
            "/v1/decode",
            &body,
            422,
            "no_decoder",
            &["inversion decoder", "--decoder", "lvmkit decoder train"],
        );
    }
    srv.refused(
        "/v1/generate",
        &json!({"texts": &texts[0..2], "steps": 1, "decoder": "inversion"}),
        422,
        "no_decoder",
        &["\"inversion\"", "--decoder", "retrieval"],
    );
    let g = srv.post_ok("/v1/generate", &json!({"texts": &texts[0..2], "steps": 1}));
    assert_eq!(g["decoder"], "retrieval");
}

#[test]
fn serving_refuses_a_decoder_that_is_not_one_or_does_not_fit() {
    let (mlp, dec) = fixture();
    let run = |extra: &[&str]| lvmkit(&serve_args(mlp, extra));

    // A next-concept run named as the decoder.
    let out = run(&["--decoder", s(mlp)]);
    fails_with(&out, "--decoder");
    fails_with(&out, "not a decoder run");

    // Options past the limits, named by their flags.
    fails_with(
        &run(&["--decoder", s(dec), "--decode-steps", "4"]),
        "--decode-steps",
    );
    fails_with(
        &run(&["--decoder", s(dec), "--decode-beam", "0"]),
        "--decode-beam",
    );
    fails_with(&run(&["--decode-steps", "2"]), "--decoder");

    // A decoder of 384-D vectors next to a bank (and a run) of 16-D vectors.
    let tmp = tempfile::tempdir().unwrap();
    let npz = tmp.path().join("seeds.npz");
    let ctx: Vec<f32> = (0..40 * 3 * 16)
        .map(|i| ((i * 7919) % 101) as f32 / 101.0 - 0.5)
        .collect();
    let tgt: Vec<f32> = (0..40 * 16)
        .map(|i| ((i * 104729) % 97) as f32 / 97.0 - 0.5)
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
    let small = tmp.path().join("small");
    ok(lvmkit(&[
        "train",
        "--data",
        s(&other),
        "--output",
        s(&small),
        "--epochs",
        "1",
        "--batch-size",
        "16",
    ]));
    let out = lvmkit(&serve_args(
        &small,
        &["--decoder", s(dec), "--decode-steps", "0"],
    ));
    fails_with(&out, "--decoder");
    fails_with(&out, "384-D");
    fails_with(&out, "16-D");
}
