//! The model abstraction: sizes, gradients, masking, checkpoints.

use candle_core::{Device, Tensor};
use lvmkit_models::{Checkpoint, Mode, Model, ModelConfig, Skip};
use rand::{Rng, SeedableRng};

fn random_contexts(b: usize, c: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..b * c * d).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn set_var(model: &Model, name: &str, values: &[f32]) {
    let (_, var) = model.vars().iter().find(|(n, _)| n == name).unwrap();
    var.set(&Tensor::from_slice(values, var.dims(), &Device::Cpu).unwrap())
        .unwrap();
}

/// A fresh model with a skip path predicts exactly its base: the context mean, or the linear
/// map it was given.
#[test]
fn a_fresh_model_with_a_skip_path_predicts_its_base() {
    let (c, d) = (3, 4);
    let ctx = random_contexts(2, c, d, 21);
    let short = &ctx[..2 * d]; // two concepts: the mean of the real ones only
    let normalise = |v: Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<_>>()
    };
    for name in lvmkit_models::ARCHITECTURES {
        let mut cfg = small(name, d, c);
        cfg.skip = Skip::ContextMean;
        let model = Model::new(&cfg, 4, &Device::Cpu).unwrap();
        let p = model.predict(&[&ctx[..c * d], short]).unwrap();
        let mean = |rows: &[f32], n: usize| {
            normalise(
                (0..d)
                    .map(|j| (0..n).map(|k| rows[k * d + j]).sum::<f32>() / n as f32)
                    .collect(),
            )
        };
        for (got, want) in p[..d].iter().zip(mean(&ctx, c)) {
            assert!((got - want).abs() < 1e-5, "{name}: {got} vs {want}");
        }
        for (got, want) in p[d..].iter().zip(mean(short, 2)) {
            assert!(
                (got - want).abs() < 1e-5,
                "{name}, short context: {got} vs {want}"
            );
        }

        cfg.skip = Skip::Ridge;
        let model = Model::new(&cfg, 4, &Device::Cpu).unwrap();
        // weight [C·D, D]: output j = 2 · (last concept)_j + bias_j.
        let mut w = vec![0f32; c * d * d];
        for j in 0..d {
            w[((c - 1) * d + j) * d + j] = 2.0;
        }
        let bias: Vec<f32> = (0..d).map(|j| j as f32 * 0.1).collect();
        model.set_skip_linear(&w, &bias).unwrap();
        let p = model.predict(&[&ctx[..c * d]]).unwrap();
        let want = normalise(
            (0..d)
                .map(|j| 2.0 * ctx[(c - 1) * d + j] + bias[j])
                .collect(),
        );
        for (got, want) in p.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{name}, ridge: {got} vs {want}");
        }
    }
    let plain = Model::new(&small("mlp", d, c), 0, &Device::Cpu).unwrap();
    let err = plain
        .set_skip_linear(&[0.0; 48], &[0.0; 4])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no linear skip path"), "{err}");
}

/// The seeds' sizes at D = 768, C = 5 (mamba and graphmert-lvm: this crate's documented sizes).
#[test]
fn every_architecture_has_its_documented_parameter_count() {
    let expected = [
        ("mlp", 4_720_384),
        ("lstm", 5_120_768),
        ("gru", 7_095_552),
        ("transformer", 13_660_928),
        ("amn", 1_510_912),
        ("mamba", 2_146_560),
        ("graphmert-lvm", 67_352_928),
    ];
    assert_eq!(expected.len(), lvmkit_models::ARCHITECTURES.len());
    for (name, params) in expected {
        let cfg = ModelConfig::new(name, 768, 5).unwrap();
        let model = Model::new(&cfg, 0, &Device::Cpu).unwrap();
        assert_eq!(model.num_params(), params, "{name}");
    }
}

/// Each architecture at a size small enough to run many backward passes quickly.
fn small(name: &str, d: usize, c: usize) -> ModelConfig {
    use lvmkit_models::Architecture as A;
    let mut cfg = ModelConfig::new(name, d, c).unwrap();
    match &mut cfg.arch {
        A::Mlp(m) => m.hidden = 32,
        A::Lstm(m) => m.hidden = 16,
        A::Gru(m) => {
            m.hidden = 16;
            m.blocks = 2;
        }
        A::Transformer(m) => {
            m.d_model = 16;
            m.heads = 4;
            m.ff = 32;
            m.layers = 2;
        }
        A::Amn(m) => {
            m.attention = 8;
            m.hidden = 32;
            m.hidden2 = 16;
        }
        A::Mamba(m) => {
            m.d_model = 16;
            m.layers = 2;
            m.d_state = 4;
            m.dt_rank = 4;
        }
        A::GraphmertLvm(m) => {
            m.d_model = 16;
            m.heads = 4;
            m.ff = 32;
            m.layers = 2;
        }
    }
    cfg
}

#[test]
fn unknown_model_names_are_refused_with_the_known_ones() {
    let err = ModelConfig::new("mamba3", 384, 5).unwrap_err().to_string();
    assert!(
        err.contains("unknown model 'mamba3'") && err.contains("mlp"),
        "{err}"
    );
}

#[test]
fn every_parameter_of_every_architecture_gets_a_finite_nonzero_gradient() {
    let (b, c, d) = (4, 5, 12);
    let skips = [Skip::None, Skip::ContextMean, Skip::Ridge];
    for (name, skip) in lvmkit_models::ARCHITECTURES
        .iter()
        .flat_map(|n| skips.iter().map(move |s| (*n, *s)))
    {
        let mut cfg = small(name, d, c);
        cfg.skip = skip;
        let model = Model::new(&cfg, 1, &Device::Cpu).unwrap();
        let name = format!("{name} (skip {})", skip.name());
        if skip != Skip::None {
            // The gate starts at 0, which holds the network's gradients at 0 for one step;
            // the test is that they flow once it has moved.
            set_var(&model, lvmkit_models::SKIP_GATE, &[0.5]);
        }
        let x = Tensor::from_vec(random_contexts(b, c, d, 2), (b, c, d), &Device::Cpu).unwrap();
        // One short context among them: the masked paths must pass gradients too.
        let mask = Tensor::new(
            &[
                [1f32, 1., 1., 1., 1.],
                [0., 0., 1., 1., 1.],
                [1.; 5],
                [1.; 5],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let target = Tensor::from_vec(random_contexts(b, 1, d, 3), (b, d), &Device::Cpu).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let pred = model
            .forward(&x, &mask, &mut Mode::Train(&mut rng))
            .unwrap();
        let loss = (pred - target).unwrap().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        for (pname, var) in model.vars() {
            let g = grads
                .get(var)
                .unwrap_or_else(|| panic!("{name}: {pname} got no gradient"));
            let v = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(
                v.iter().all(|x| x.is_finite()),
                "{name}: {pname}: non-finite gradient"
            );
            assert!(
                v.iter().any(|x| *x != 0.0),
                "{name}: {pname}: gradient is all zero"
            );
        }
    }
}

#[test]
fn outputs_are_unit_vectors_and_seeded_models_repeat() {
    for name in lvmkit_models::ARCHITECTURES {
        let cfg = small(name, 12, 3);
        let a = Model::new(&cfg, 7, &Device::Cpu).unwrap();
        let b = Model::new(&cfg, 7, &Device::Cpu).unwrap();
        let c = Model::new(&cfg, 8, &Device::Cpu).unwrap();
        let ctx = random_contexts(5, 3, 12, 1);
        let rows: Vec<&[f32]> = ctx.chunks(36).collect();
        let pa = a.predict(&rows).unwrap();
        assert_eq!(pa, b.predict(&rows).unwrap(), "{name}");
        assert_ne!(pa, c.predict(&rows).unwrap(), "{name}");
        for row in pa.chunks(12) {
            let n: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-5, "{name}: norm {n}");
        }
    }
}

/// A checkpoint of one architecture cannot be loaded as another.
#[test]
fn a_checkpoint_of_one_architecture_is_refused_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lstm.safetensors");
    let lstm = Model::new(&small("lstm", 8, 3), 0, &Device::Cpu).unwrap();
    Checkpoint::write(&path, &lstm, &[], &Default::default()).unwrap();
    let err = format!(
        "{:#}",
        Model::load(&path, Some(&small("gru", 8, 3))).err().unwrap()
    );
    assert!(
        err.contains("architecture: expected \"gru\", found \"lstm\""),
        "{err}"
    );
}

#[test]
fn every_architecture_takes_short_contexts_and_ignores_padding() {
    let (c, d) = (4, 6);
    for name in lvmkit_models::ARCHITECTURES {
        let model = Model::new(&small(name, d, c), 0, &Device::Cpu).unwrap();
        for n in 1..=c {
            let ctx = random_contexts(1, n, d, 5 + n as u64);
            let p_short = model.predict(&[&ctx]).unwrap();
            assert!(p_short.iter().all(|v| v.is_finite()), "{name}");
            // The same concepts with garbage in the padded slots, masked out by hand.
            let mut full = random_contexts(1, c - n, d, 9);
            full.extend_from_slice(&ctx);
            let x = Tensor::from_vec(full, (1, c, d), &Device::Cpu).unwrap();
            let m: Vec<f32> = (0..c).map(|i| if i < c - n { 0.0 } else { 1.0 }).collect();
            let mask = Tensor::from_vec(m, (1, c), &Device::Cpu).unwrap();
            let p_masked = model.forward(&x, &mask, &mut Mode::Eval).unwrap();
            let p_masked = p_masked.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for (a, b) in p_short.iter().zip(&p_masked) {
                assert!((a - b).abs() < 1e-5, "{name}, {n} concepts: {a} vs {b}");
            }
        }
        // Longer contexts keep their last C concepts.
        let six = random_contexts(1, 6, d, 11);
        assert_eq!(
            model.predict(&[&six]).unwrap(),
            model.predict(&[&six[2 * d..]]).unwrap(),
            "{name}"
        );
    }
}

/// The recurrent and state-space models hold their state at zero through the padding, so a
/// padded short context computes exactly what the same concepts would in a model built for
/// that shorter length.
#[test]
fn recurrent_models_treat_a_padded_context_as_the_unpadded_sequence() {
    for name in ["lstm", "gru", "mamba"] {
        let long = Model::new(&small(name, 6, 5), 3, &Device::Cpu).unwrap();
        let short = Model::new(&small(name, 6, 2), 3, &Device::Cpu).unwrap();
        let ctx = random_contexts(1, 2, 6, 4);
        let a = long.predict(&[&ctx]).unwrap();
        let b = short.predict(&[&ctx]).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{name}: {x} vs {y}");
        }
    }
}

#[test]
fn wrong_input_shapes_are_refused() {
    let cfg = ModelConfig::new("mlp", 8, 5).unwrap();
    let model = Model::new(&cfg, 0, &Device::Cpu).unwrap();
    let x = Tensor::zeros((2, 5, 16), candle_core::DType::F32, &Device::Cpu).unwrap();
    let mask = Tensor::ones((2, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
    let err = model
        .forward(&x, &mask, &mut Mode::Eval)
        .unwrap_err()
        .to_string();
    assert!(err.contains("[B, 5, 8]"), "{err}");
    let err = model.predict(&[&[0.5f32; 12]]).unwrap_err().to_string();
    assert!(err.contains("multiple of D = 8"), "{err}");
}

#[test]
fn checkpoints_round_trip_and_refuse_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let cfg = ModelConfig::new("mlp", 10, 3).unwrap();
    let model = Model::new(&cfg, 3, &Device::Cpu).unwrap();
    Checkpoint::write(&path, &model, &[], &Default::default()).unwrap();
    let ctx = random_contexts(4, 3, 10, 4);
    let rows: Vec<&[f32]> = ctx.chunks(30).collect();
    let loaded = Model::load(&path, Some(&cfg)).unwrap();
    assert_eq!(
        model.predict(&rows).unwrap(),
        loaded.predict(&rows).unwrap()
    );

    // A different config: the message names each differing field.
    let mut other = cfg.clone();
    other.dim = 12;
    if let lvmkit_models::Architecture::Mlp(m) = &mut other.arch {
        m.hidden = 64;
    }
    let err = format!("{:#}", Model::load(&path, Some(&other)).err().unwrap());
    assert!(err.contains("dim: expected 12, found 10"), "{err}");
    assert!(err.contains("hidden: expected 64, found 1024"), "{err}");

    // Shapes that do not fit the model.
    let ckpt = Checkpoint::read(&path).unwrap();
    let bigger = Model::new(&other, 0, &Device::Cpu).unwrap();
    let err = bigger.assign(&ckpt).unwrap_err().to_string();
    assert!(
        err.contains("hidden.weight: checkpoint has shape [1024, 30], model has [64, 36]"),
        "{err}"
    );

    // Truncated and corrupted files.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = format!("{:#}", Model::load(&cut, None).err().unwrap());
    assert!(err.contains("damaged or truncated"), "{err}");
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 0x40;
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, &flipped).unwrap();
    let err = format!("{:#}", Model::load(&bad, None).err().unwrap());
    assert!(err.contains("does not match its sha256"), "{err}");
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    assert!(Model::load(&junk, None).is_err());
}
