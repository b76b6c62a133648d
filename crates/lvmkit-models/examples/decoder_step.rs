//! Forward + backward time of one decoder batch, to size the default (issue 17 prototype):
//! `cargo run --release -p lvmkit-models --example decoder_step -- WIDTH LAYERS VOCAB BATCH LEN`.
use candle_core::{Device, Tensor};
use lvmkit_models::decoder::{DecoderConfig, VectorDecoder};
use lvmkit_models::nn::{Mode, ParamStore};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (width, layers, vocab, b, len) = (a[0], a[1], a[2], a[3], a[4]);
    let cfg = DecoderConfig {
        dim: 384,
        vocab,
        width,
        layers,
        heads: width / 64,
        ff: 4 * width,
        prefix: 4,
        max_tokens: 64,
        dropout: 0.0,
    };
    let mut ps = ParamStore::new(0, &Device::Cpu);
    let dec = VectorDecoder::new(&mut ps, &cfg)?;
    let v = Tensor::randn(0f32, 1.0, (b, 384), &Device::Cpu)?;
    let ids: Vec<Vec<u32>> = (0..b)
        .map(|r| {
            (0..len)
                .map(|i| ((r * 31 + i * 7) % (vocab - 3) + 3) as u32)
                .collect()
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..6 {
        let t = Instant::now();
        let loss = dec.loss(&v, &ids, 0, &mut Mode::Eval)?;
        let _ = loss.backward()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let s = times[2];
    println!(
        "width {width} layers {layers} vocab {vocab} batch {b} len {len}: {} params, {:.3} s/step, {:.0} sentences/s, {:.0} tokens/s",
        ps.num_params(),
        s,
        b as f64 / s,
        (b * len) as f64 / s
    );
    Ok(())
}
