//! Speed of every architecture, measured the same way for `lvmkit bench models` and
//! `cargo bench`: training samples/s (forward, cosine loss, backward, AdamW step) and
//! inference latency, on seeded random unit vectors, after warm-up steps.

use crate::loss::cosine_loss;
use crate::optim::{AdamW, AdamWConfig};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use lvmkit_models::{Mode, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::{Duration, Instant};

/// A batch of random unit-vector contexts [B, C, D], full masks and targets [B, D].
pub struct Inputs {
    pub contexts: Tensor,
    pub mask: Tensor,
    pub targets: Tensor,
}

impl Inputs {
    pub fn random(batch: usize, context: usize, dim: usize, seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut unit = |n: usize| -> Vec<f32> {
            let mut v: Vec<f32> = (0..n * dim).map(|_| rng.gen_range(-1.0..1.0)).collect();
            for row in v.chunks_mut(dim) {
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                row.iter_mut().for_each(|x| *x /= norm);
            }
            v
        };
        let dev = Device::Cpu;
        Ok(Self {
            contexts: Tensor::from_vec(unit(batch * context), (batch, context, dim), &dev)?,
            mask: Tensor::ones((batch, context), DType::F32, &dev)?,
            targets: Tensor::from_vec(unit(batch), (batch, dim), &dev)?,
        })
    }
}

/// A model with its optimiser, ready to take timed steps.
pub struct Trainable {
    pub model: Model,
    opt: AdamW,
    rng: ChaCha8Rng,
}

impl Trainable {
    pub fn new(cfg: &ModelConfig) -> Result<Self> {
        let model = Model::new(cfg, 0, &Device::Cpu)?;
        let opt = AdamW::new(model.vars(), AdamWConfig::default())?;
        Ok(Self {
            model,
            opt,
            rng: ChaCha8Rng::seed_from_u64(1),
        })
    }

    /// One full training step, as the trainer takes it.
    pub fn step(&mut self, x: &Inputs) -> Result<f32> {
        let pred = self
            .model
            .forward(&x.contexts, &x.mask, &mut Mode::Train(&mut self.rng))?;
        let loss = cosine_loss(&pred, &x.targets)?;
        let value = loss.to_scalar::<f32>()?;
        self.opt.step(&loss.backward()?, 1e-4, 1.0)?;
        Ok(value)
    }

    /// One forward pass in evaluation mode.
    pub fn infer(&self, x: &Inputs) -> Result<Tensor> {
        self.model.forward(&x.contexts, &x.mask, &mut Mode::Eval)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelSpeed {
    pub name: String,
    pub params: usize,
    pub dim: usize,
    pub context: usize,
    /// batch size → training samples per second.
    pub train_samples_per_s: Vec<(usize, f64)>,
    /// batch size → median milliseconds per forward pass.
    pub infer_ms: Vec<(usize, f64)>,
}

/// Run `f` until `min_time` has passed and at least `min_reps` times; the median duration.
pub fn median_time(
    min_reps: usize,
    min_time: Duration,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Duration> {
    let started = Instant::now();
    let mut times = Vec::new();
    while times.len() < min_reps || started.elapsed() < min_time {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
        if times.len() >= 10_000 {
            break;
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

pub struct SpeedSettings {
    pub train_batches: Vec<usize>,
    pub infer_batches: Vec<usize>,
    /// Minimum timed repetitions and time per measurement (after warm-up).
    pub min_reps: usize,
    pub min_time: Duration,
    pub warmup: usize,
}

impl Default for SpeedSettings {
    fn default() -> Self {
        Self {
            train_batches: vec![32, 256],
            infer_batches: vec![1, 256],
            min_reps: 5,
            min_time: Duration::from_secs(3),
            warmup: 2,
        }
    }
}

/// Measure one architecture.
pub fn measure(cfg: &ModelConfig, s: &SpeedSettings) -> Result<ModelSpeed> {
    let mut t = Trainable::new(cfg)?;
    let mut train = Vec::new();
    for &b in &s.train_batches {
        let x = Inputs::random(b, cfg.context, cfg.dim, b as u64)?;
        for _ in 0..s.warmup {
            t.step(&x)?;
        }
        let d = median_time(s.min_reps, s.min_time, || t.step(&x).map(|_| ()))?;
        train.push((b, b as f64 / d.as_secs_f64()));
    }
    let mut infer = Vec::new();
    for &b in &s.infer_batches {
        let x = Inputs::random(b, cfg.context, cfg.dim, 1000 + b as u64)?;
        for _ in 0..s.warmup {
            t.infer(&x)?;
        }
        let d = median_time(s.min_reps, s.min_time, || t.infer(&x).map(|_| ()))?;
        infer.push((b, d.as_secs_f64() * 1e3));
    }
    Ok(ModelSpeed {
        name: cfg.arch.name().to_string(),
        params: t.model.num_params(),
        dim: cfg.dim,
        context: cfg.context,
        train_samples_per_s: train,
        infer_ms: infer,
    })
}
