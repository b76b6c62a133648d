//! The model abstraction: sizes, gradients, masking, checkpoints.

use candle_core::{Device, Tensor};
use lvmkit_models::{Checkpoint, Mode, Model, ModelConfig};
use rand::{Rng, SeedableRng};

fn random_contexts(b: usize, c: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..b * c * d).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

#[test]
fn mlp_has_the_seeds_parameter_count() {
    let cfg = ModelConfig::new("mlp", 768, 5).unwrap();
    let model = Model::new(&cfg, 0, &Device::Cpu).unwrap();
    assert_eq!(model.num_params(), 4_720_384);
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
fn every_parameter_gets_a_finite_nonzero_gradient() {
    let (b, c, d) = (4, 5, 16);
    let cfg = ModelConfig::new("mlp", d, c).unwrap();
    let model = Model::new(&cfg, 1, &Device::Cpu).unwrap();
    let x = Tensor::from_vec(random_contexts(b, c, d, 2), (b, c, d), &Device::Cpu).unwrap();
    let mask = Tensor::ones((b, c), candle_core::DType::F32, &Device::Cpu).unwrap();
    let target = Tensor::from_vec(random_contexts(b, 1, d, 3), (b, d), &Device::Cpu).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let pred = model
        .forward(&x, &mask, &mut Mode::Train(&mut rng))
        .unwrap();
    let loss = (pred - target).unwrap().sqr().unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    for (name, var) in model.vars() {
        let g = grads
            .get(var)
            .unwrap_or_else(|| panic!("{name} got no gradient"));
        let v = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(
            v.iter().all(|x| x.is_finite()),
            "{name}: non-finite gradient"
        );
        assert!(v.iter().any(|x| *x != 0.0), "{name}: gradient is all zero");
    }
}

#[test]
fn outputs_are_unit_vectors_and_seeded_models_repeat() {
    let cfg = ModelConfig::new("mlp", 12, 3).unwrap();
    let a = Model::new(&cfg, 7, &Device::Cpu).unwrap();
    let b = Model::new(&cfg, 7, &Device::Cpu).unwrap();
    let c = Model::new(&cfg, 8, &Device::Cpu).unwrap();
    let ctx = random_contexts(5, 3, 12, 1);
    let rows: Vec<&[f32]> = ctx.chunks(36).collect();
    let pa = a.predict(&rows).unwrap();
    assert_eq!(pa, b.predict(&rows).unwrap());
    assert_ne!(pa, c.predict(&rows).unwrap());
    for row in pa.chunks(12) {
        let n: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "norm {n}");
    }
}

#[test]
fn short_contexts_are_left_padded_and_padding_is_ignored() {
    let (c, d) = (4, 6);
    let cfg = ModelConfig::new("mlp", d, c).unwrap();
    let model = Model::new(&cfg, 0, &Device::Cpu).unwrap();
    let two = random_contexts(1, 2, d, 5);
    let p_short = model.predict(&[&two]).unwrap();
    // The same two concepts with garbage in the padded slots, masked out by hand.
    let mut full = random_contexts(1, 2, d, 9);
    full.extend_from_slice(&two);
    let x = Tensor::from_vec(full, (1, c, d), &Device::Cpu).unwrap();
    let mask = Tensor::new(&[[0f32, 0., 1., 1.]], &Device::Cpu).unwrap();
    let p_masked = model.forward(&x, &mask, &mut Mode::Eval).unwrap();
    let p_masked = p_masked.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for (a, b) in p_short.iter().zip(&p_masked) {
        assert!((a - b).abs() < 1e-6);
    }
    // Longer contexts keep their last C concepts.
    let six = random_contexts(1, 6, d, 11);
    assert_eq!(
        model.predict(&[&six]).unwrap(),
        model.predict(&[&six[2 * d..]]).unwrap()
    );
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
    match &mut other.arch {
        lvmkit_models::Architecture::Mlp(m) => m.hidden = 64,
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
