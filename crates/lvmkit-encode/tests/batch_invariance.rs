//! A text's embedding does not depend on the other texts it is batched with: sharded jobs
//! (`--shard I/N`) embed each share apart, and their merge must be byte for byte the unsharded
//! output.

mod common;

use lvmkit_encode::{EncodeOptions, SentenceEncoder};

fn texts() -> Vec<String> {
    let text = std::fs::read_to_string(common::testdata().join("minilm-reference.jsonl")).unwrap();
    let mut out: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect();
    // Lengths from one word to well past a batch's width, so batches pad differently.
    out.push("Yes.".into());
    out.push(out[..6].join(" "));
    out
}

fn encode(enc: &SentenceEncoder, texts: &[String], batch_size: usize) -> Vec<Vec<u32>> {
    let opts = EncodeOptions {
        batch_size,
        progress: false,
        ..Default::default()
    };
    enc.encode(texts, &opts)
        .unwrap()
        .chunks_exact(enc.dim())
        .map(|r| r.iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn a_texts_bits_do_not_depend_on_its_batch() {
    let enc = SentenceEncoder::load(&common::minilm_dir()).unwrap();
    let texts = texts();
    let all = encode(&enc, &texts, 64);
    // Alone, in other batch sizes, and in every third subset (other neighbours, other widths).
    for bs in [1, 3, 16] {
        assert_eq!(encode(&enc, &texts, bs), all, "batch size {bs}");
    }
    for r in 0..3 {
        let idx: Vec<usize> = (r..texts.len()).step_by(3).collect();
        let part: Vec<String> = idx.iter().map(|&i| texts[i].clone()).collect();
        for (got, &i) in encode(&enc, &part, 64).iter().zip(&idx) {
            assert_eq!(got, &all[i], "text {i} in subset {r}");
        }
    }
}
