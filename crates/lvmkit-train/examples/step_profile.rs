//! Where one training step's time goes: forward, backward, optimiser (and a forward pass in
//! evaluation mode), for one architecture
//! at D = 768, C = 5. `cargo run --release -p lvmkit-train --example step_profile -- mlp 256`.
//! (mimalloc, as the lvmkit binary: the system allocator pays page faults on every big tensor.)
//! To time what the binary runs, set what its `main` sets:
//! `CANDLE_NUM_THREADS=1 MIMALLOC_PURGE_DELAY=-1 RAYON_NUM_THREADS=2 target/release/examples/step_profile lstm 256`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use lvmkit_models::{Mode, ModelConfig};
use lvmkit_train::bench::{Inputs, Trainable};
use std::time::Instant;
fn main() -> anyhow::Result<()> {
    let name = std::env::args().nth(1).unwrap_or("mlp".into());
    let b: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(32);
    let cfg = ModelConfig::new(&name, 768, 5)?;
    let mut t = Trainable::new(&cfg)?;
    let x = Inputs::random(b, 5, 768, 0)?;
    for _ in 0..3 {
        t.step(&x)?;
    }
    let (mut tf, mut tb, mut to) = (0.0, 0.0, 0.0);
    let reps = 20;
    let mut opt = lvmkit_train::optim::AdamW::new(t.model.vars(), Default::default())?;
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    for _ in 0..reps {
        let s = Instant::now();
        let pred = t
            .model
            .forward(&x.contexts, &x.mask, &mut Mode::Train(&mut rng))?;
        let loss = lvmkit_train::loss::cosine_loss(&pred, &x.targets)?;
        let _ = loss.to_scalar::<f32>()?;
        tf += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let g = loss.backward()?;
        tb += s.elapsed().as_secs_f64();
        let s = Instant::now();
        opt.step(&g, 1e-4, 1.0)?;
        to += s.elapsed().as_secs_f64();
    }
    let s = Instant::now();
    for _ in 0..reps {
        t.infer(&x)?;
    }
    let ti = s.elapsed().as_secs_f64();
    let r = reps as f64;
    println!(
        "{name} b={b}: forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms; inference {:.1} ms",
        tf / r * 1e3,
        tb / r * 1e3,
        to / r * 1e3,
        ti / r * 1e3
    );
    Ok(())
}
