//! The T5-encoder path (GTR-T5 style: T5 encoder → mean pooling → Dense → Normalize) on a tiny
//! randomly initialised T5 that this test writes itself: no T5 sentence encoder can be
//! downloaded here. The reference is computed independently from candle's T5 encoder, one text
//! at a time (no padding), with pooling, the Dense product and normalisation done by hand.

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::t5;
use lvmkit_encode::{cosine, BackboneKind, EncodeOptions, SentenceEncoder};
use std::path::Path;

const D_MODEL: usize = 32;
const DENSE_OUT: usize = 24;

/// Deterministic pseudo-random values in [-scale, scale] (a tiny LCG, so the test needs no RNG crate).
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn words() -> Vec<&'static str> {
    "the a cat dog sat on mat ran to park and bird sang in tree river flows past old mill quickly slowly red blue"
        .split(' ')
        .collect()
}

fn t5_config(vocab: usize) -> serde_json::Value {
    serde_json::json!({
        "model_type": "t5", "vocab_size": vocab, "d_model": D_MODEL, "d_kv": 8, "d_ff": 64,
        "num_layers": 2, "num_heads": 4, "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 16, "dropout_rate": 0.0, "layer_norm_epsilon": 1e-6,
        "initializer_factor": 1.0, "feed_forward_proj": "relu", "is_encoder_decoder": true,
        "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0
    })
}

fn write_tokenizer(path: &Path) {
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["<pad>", "</s>", "<unk>"]
        .iter()
        .chain(words().iter())
        .enumerate()
    {
        vocab.insert(t.to_string(), i.into());
    }
    let special = |id: u32, content: &str| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                           "rstrip": false, "normalized": false, "special": true})
    };
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(0, "<pad>"), special(1, "</s>"), special(2, "<unk>")],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    std::fs::write(path, serde_json::to_string_pretty(&tok).unwrap()).unwrap();
}

/// Writes a sentence-transformers folder: T5 encoder, mean pooling, Dense (no bias), Normalize.
fn write_tiny_gtr(dir: &Path) -> Vec<f32> {
    let vocab = 3 + words().len();
    std::fs::write(dir.join("config.json"), t5_config(vocab).to_string()).unwrap();
    write_tokenizer(&dir.join("tokenizer.json"));
    // Let candle's own loader declare every tensor it needs, then fill them with random values.
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cfg: t5::Config = serde_json::from_value(t5_config(vocab)).unwrap();
    t5::T5EncoderModel::load(vb, &cfg).unwrap();
    {
        let data = varmap.data().lock().unwrap();
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for (k, name) in names.into_iter().enumerate() {
            let var = &data[name];
            let n = var.elem_count();
            let scale = if name.contains("layer_norm") {
                0.0
            } else {
                0.5
            };
            let v: Vec<f32> = values(n, k as u64 + 1, scale)
                .iter()
                .map(|x| x + if scale == 0.0 { 1.0 } else { 0.0 })
                .collect();
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    varmap.save(dir.join("model.safetensors")).unwrap();
    std::fs::write(
        dir.join("modules.json"),
        r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
            {"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"},
            {"idx":3,"name":"3","path":"3_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 64}"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        format!(r#"{{"word_embedding_dimension": {D_MODEL}, "pooling_mode_mean_tokens": true}}"#),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("2_Dense")).unwrap();
    std::fs::write(
        dir.join("2_Dense/config.json"),
        format!(
            r#"{{"in_features": {D_MODEL}, "out_features": {DENSE_OUT}, "bias": false,
                 "activation_function": "torch.nn.modules.linear.Identity"}}"#
        ),
    )
    .unwrap();
    let w = values(DENSE_OUT * D_MODEL, 999, 0.3);
    let t = Tensor::from_vec(w.clone(), (DENSE_OUT, D_MODEL), &Device::Cpu).unwrap();
    candle_core::safetensors::save(
        &[("linear.weight", t)].into_iter().collect(),
        dir.join("2_Dense/model.safetensors"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("3_Normalize")).unwrap();
    w
}

#[test]
fn tiny_t5_sentence_encoder_matches_a_hand_computed_reference() {
    let dir = tempfile::tempdir().unwrap();
    let dense_w = write_tiny_gtr(dir.path());
    let enc = SentenceEncoder::load(dir.path()).unwrap();
    assert_eq!(enc.folder().kind, BackboneKind::T5);
    assert_eq!(
        enc.dim(),
        DENSE_OUT,
        "the Dense layer sets the output dimension"
    );

    let texts: Vec<String> = [
        "the cat sat on the mat",
        "a dog ran",
        "the bird sang in the old tree and the river flows past",
        "red",
        "a dog ran to the park",
        "the cat sat on the mat",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let got = enc
        .encode(
            &texts,
            &EncodeOptions {
                batch_size: 4,
                progress: false,
                ..Default::default()
            },
        )
        .unwrap();

    // Independent reference: candle's T5 encoder on each text alone.
    let vocab = 3 + words().len();
    let cfg: t5::Config = serde_json::from_value(t5_config(vocab)).unwrap();
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir.path().join("model.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .unwrap();
    let mut model = t5::T5EncoderModel::load(vb, &cfg).unwrap();
    let ids_of = |t: &str| -> Vec<u32> {
        let mut ids: Vec<u32> = t
            .split(' ')
            .map(|w| 3 + words().iter().position(|x| *x == w).unwrap() as u32)
            .collect();
        ids.push(1); // </s>
        ids
    };
    for (i, t) in texts.iter().enumerate() {
        let ids = ids_of(t);
        let input = Tensor::new(ids.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let hidden: Vec<Vec<f32>> = model
            .forward(&input)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2()
            .unwrap();
        let mean: Vec<f32> = (0..D_MODEL)
            .map(|j| hidden.iter().map(|h| h[j]).sum::<f32>() / hidden.len() as f32)
            .collect();
        let projected: Vec<f32> = (0..DENSE_OUT)
            .map(|o| {
                (0..D_MODEL)
                    .map(|j| dense_w[o * D_MODEL + j] * mean[j])
                    .sum()
            })
            .collect();
        let row = &got[i * DENSE_OUT..(i + 1) * DENSE_OUT];
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-5,
            "row {i} is not unit length: {norm}"
        );
        let c = cosine(row, &projected);
        assert!(
            c > 0.99999,
            "text {i} {t:?}: cosine {c} to the hand-computed embedding"
        );
    }
    // Same text, same vector, wherever it sits in the batch; different texts differ.
    assert!(cosine(&got[..DENSE_OUT], &got[5 * DENSE_OUT..]) > 0.999999);
    assert!(cosine(&got[..DENSE_OUT], &got[DENSE_OUT..2 * DENSE_OUT]) < 0.999);
}

#[test]
fn incomplete_folders_are_refused_with_the_missing_file_named() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_gtr(dir.path());
    std::fs::remove_file(dir.path().join("2_Dense/model.safetensors")).unwrap();
    let err = SentenceEncoder::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("2_Dense") && err.contains("missing"), "{err}");
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = SentenceEncoder::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    let err = SentenceEncoder::load(&dir.path().join("nope"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}
