//! Where a GraphMERT training step goes: forward (encoder), heads + losses, backward, AdamW.
//!
//!   cargo run --release -p lvmkit-graphmert --example graphmert_step_profile -- [PRESET] [BATCH]
//!
//! With DETACH=1 the heads' losses do not reach the encoder, so "backward" is the heads' alone.
//!
//! Needs the fetched data (`lvmkit fetch`) in $LVMKIT_DATA, else the repository's data/.

use candle_core::Device;
use lvmkit_graphmert::masking::{masked_batch, MaskingConfig};
use lvmkit_graphmert::model::{cross_entropy, Graphmert, GraphmertConfig, Preset};
use lvmkit_graphmert::{DataOptions, GraphData, RELATIONS};
use lvmkit_models::nn::{Mode, ParamStore};
use lvmkit_sources::{DataDir, DEFAULT_ENCODER, GENE_ONTOLOGY};
use lvmkit_train::optim::{AdamW, AdamWConfig};
use rand::SeedableRng;
use std::collections::HashMap;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("tiny");
    let preset = <Preset as clap::ValueEnum>::from_str(name, true)
        .map_err(|e| anyhow::anyhow!("preset '{name}': {e}"))?;
    let batch: usize = args.get(2).and_then(|b| b.parse().ok()).unwrap_or(16);
    let data = DataDir::of_repository();
    data.require(&[GENE_ONTOLOGY, DEFAULT_ENCODER])?;
    let probe = GraphmertConfig::preset(preset, 1, 1);
    let d = GraphData::from_data_dir(
        &data,
        &DataOptions {
            layout: probe.layout,
            ..Default::default()
        },
    )?;
    let config = GraphmertConfig::preset(preset, d.vocab.size, RELATIONS.len());
    let mut ps = ParamStore::new(1, &Device::Cpu);
    let model = Graphmert::new(&mut ps, &config)?;
    let mut opt = AdamW::new(ps.vars(), AdamWConfig::default())?;
    let mut by_seq: HashMap<usize, Vec<_>> = HashMap::new();
    for t in &d.injected {
        by_seq.entry(t.seq).or_default().push(t);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (mut fwd, mut heads, mut bwd, mut step) = (0.0, 0.0, 0.0, 0.0);
    let steps = 12;
    for s in 0..steps {
        let seqs: Vec<_> = (s * batch..(s + 1) * batch)
            .map(|i| (&d.sequences[i], by_seq.get(&i).cloned().unwrap_or_default()))
            .collect();
        let (g, targets) = masked_batch(
            &seqs,
            &config.layout,
            &d.vocab,
            &MaskingConfig::default(),
            &mut rng,
        );
        let t0 = Instant::now();
        let mut drng = rand_chacha::ChaCha8Rng::seed_from_u64(s as u64);
        let h = model.encode(&g, &mut Mode::Train(&mut drng))?;
        let h = if std::env::var_os("DETACH").is_some() {
            h.detach()
        } else {
            h
        };
        let t1 = Instant::now();
        let (pos, tok): (Vec<u32>, Vec<u32>) = targets.roots.iter().copied().unzip();
        let (l1, _) = cross_entropy(&model.token_logits(&h, &pos)?, &tok)?;
        let spans: Vec<_> = targets.sbo.iter().map(|s| (s.0, s.1, s.2)).collect();
        let stok: Vec<u32> = targets.sbo.iter().map(|s| s.3).collect();
        let (l2, _) = cross_entropy(&model.sbo_logits(&h, &spans)?, &stok)?;
        let loss = (l1 + l2)?;
        let _ = loss.to_scalar::<f32>()?;
        let t2 = Instant::now();
        let grads = loss.backward()?;
        let t3 = Instant::now();
        opt.step(&grads, 1e-4, 1.0)?;
        let t4 = Instant::now();
        if s >= 2 {
            fwd += (t1 - t0).as_secs_f64();
            heads += (t2 - t1).as_secs_f64();
            bwd += (t3 - t2).as_secs_f64();
            step += (t4 - t3).as_secs_f64();
        }
    }
    let n = (steps - 2) as f64 * 1e-3;
    println!(
        "{name}, batch {batch}, {} params: encoder {:.0} ms, heads+loss {:.0} ms, backward {:.0} ms, AdamW {:.0} ms per step",
        ps.num_params(),
        fwd / n,
        heads / n,
        bwd / n,
        step / n
    );
    Ok(())
}
