//! `cargo bench -p lvmkit-train`: per architecture at the seeds' sizes (D = 768, C = 5), one
//! training step (forward, cosine loss, backward, AdamW) at batch 32 and 256, and one forward
//! pass at batch 1 and 256. Same harness as `lvmkit bench models` (`lvmkit_train::bench`).
//! Filter by name as usual, e.g. `cargo bench -p lvmkit-train -- lstm`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lvmkit_models::{ModelConfig, ARCHITECTURES};
use lvmkit_train::bench::{Inputs, Trainable};
use std::time::Duration;

// Same allocator as the binary: without it every large tensor costs fresh pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn models(c: &mut Criterion) {
    for name in ARCHITECTURES {
        let cfg = ModelConfig::new(name, 768, 5).expect("known architecture");
        let mut t = Trainable::new(&cfg).expect("model builds");
        let mut group = c.benchmark_group(name.to_string());
        group.sample_size(10).warm_up_time(Duration::from_secs(1));
        for batch in [32usize, 256] {
            let x = Inputs::random(batch, 5, 768, batch as u64).unwrap();
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new("train", batch), &x, |b, x| {
                b.iter(|| t.step(x).unwrap())
            });
        }
        for batch in [1usize, 256] {
            let x = Inputs::random(batch, 5, 768, 1000 + batch as u64).unwrap();
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new("infer", batch), &x, |b, x| {
                b.iter(|| t.infer(x).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, models);
criterion_main!(benches);
