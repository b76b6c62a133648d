//! Every architecture can memorise a tiny dataset: the forward pass, the backward pass and the
//! optimiser together really learn, whatever the model.

use candle_core::{Device, Tensor};
use lvmkit_models::{Architecture as A, Mode, Model, ModelConfig};
use lvmkit_train::loss::cosine_loss;
use lvmkit_train::optim::{AdamW, AdamWConfig};
use rand::{Rng, SeedableRng};

const N: usize = 16;
const C: usize = 3;
const D: usize = 12;

fn unit_rows(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<f32> = (0..n * D).map(|_| rng.gen_range(-1.0..1.0)).collect();
    for row in v.chunks_mut(D) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Small widths, no dropout: memorisation is the point.
fn tiny(name: &str) -> ModelConfig {
    let mut cfg = ModelConfig::new(name, D, C).unwrap();
    match &mut cfg.arch {
        A::Mlp(m) => {
            m.hidden = 64;
            m.dropout = 0.0;
        }
        A::Lstm(m) => {
            m.hidden = 32;
            m.dropout = 0.0;
        }
        A::Gru(m) => {
            m.hidden = 32;
            m.blocks = 2;
        }
        A::Transformer(m) => {
            m.d_model = 32;
            m.heads = 4;
            m.ff = 64;
            m.layers = 2;
            m.dropout = 0.0;
        }
        A::Amn(m) => {
            m.attention = 16;
            m.hidden = 64;
            m.hidden2 = 32;
        }
        A::Mamba(m) => {
            m.d_model = 32;
            m.layers = 2;
            m.d_state = 8;
            m.dt_rank = 4;
        }
        A::GraphmertLvm(m) => {
            m.d_model = 32;
            m.heads = 4;
            m.ff = 64;
            m.layers = 2;
            m.dropout = 0.0;
        }
    }
    cfg
}

/// Train on the whole tiny set; returns the final mean cosine (evaluation mode).
fn overfit(model: &Model, steps: usize) -> f32 {
    let dev = Device::Cpu;
    let x = Tensor::from_vec(unit_rows(N * C, 1), (N, C, D), &dev).unwrap();
    let y = Tensor::from_vec(unit_rows(N, 2), (N, D), &dev).unwrap();
    let mask = Tensor::ones((N, C), candle_core::DType::F32, &dev).unwrap();
    let cfg = AdamWConfig {
        lr: 3e-3,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(model.vars(), cfg).unwrap();
    for _ in 0..steps {
        let pred = model.forward(&x, &mask, &mut Mode::Eval).unwrap();
        let loss = cosine_loss(&pred, &y).unwrap();
        opt.step(&loss.backward().unwrap(), 3e-3, 1.0).unwrap();
    }
    let pred = model.forward(&x, &mask, &mut Mode::Eval).unwrap();
    1.0 - cosine_loss(&pred, &y).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn every_architecture_overfits_a_tiny_dataset() {
    for name in lvmkit_models::ARCHITECTURES {
        let model = Model::new(&tiny(name), 0, &Device::Cpu).unwrap();
        let cos = overfit(&model, 400);
        assert!(cos > 0.99, "{name}: cosine {cos} after 400 steps");
    }
}

/// The seeds' GraphMERT-LVM threshold sat behind a boolean comparison and never moved; here
/// each head's decay offset p_h must be trained.
#[test]
fn graphmert_decay_offsets_receive_gradient_and_move() {
    let model = Model::new(&tiny("graphmert-lvm"), 0, &Device::Cpu).unwrap();
    let before = model.decay_offsets().unwrap().unwrap();
    overfit(&model, 20);
    let after = model.decay_offsets().unwrap().unwrap();
    for (layer, (b, a)) in before.iter().zip(&after).enumerate() {
        for (h, (x, y)) in b.iter().zip(a).enumerate() {
            assert!(
                (x - y).abs() > 1e-4,
                "layer {layer} head {h}: p_h stayed at {x}"
            );
        }
    }
}
