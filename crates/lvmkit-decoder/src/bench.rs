//! Decoding speed (`lvmkit bench decode`): sentences per second of [`Inverter::invert`] at a
//! batch size, beam width and correction-step count, on real vectors.

use crate::generate::{InvertOptions, Inverter};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct DecodeSpeed {
    pub batch: usize,
    pub beam: usize,
    pub steps: usize,
    pub sentences: usize,
    pub sentences_per_s: f64,
    /// Mean milliseconds per call of `batch` vectors.
    pub ms_per_batch: f64,
    /// Mean round-trip cosine of what was decoded (None without the encoder).
    pub round_trip_cosine: Option<f64>,
}

/// Decodes `vectors` (n × D) in calls of `batch`, timed, after one warm-up call.
pub fn measure(
    inv: &Inverter,
    vectors: &[f32],
    batch: usize,
    beam: usize,
    steps: usize,
) -> Result<DecodeSpeed> {
    let d = inv.dim();
    let n = vectors.len() / d;
    if n == 0 || batch == 0 {
        bail!("nothing to decode");
    }
    let opts = InvertOptions { beam, steps, batch };
    inv.invert(&vectors[..batch.min(n) * d], &opts)?;
    let started = Instant::now();
    let mut cos = Vec::new();
    for chunk in vectors.chunks(batch * d) {
        for i in inv.invert(chunk, &opts)? {
            cos.extend(i.best().cosine.map(f64::from));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(DecodeSpeed {
        batch,
        beam,
        steps,
        sentences: n,
        sentences_per_s: n as f64 / seconds,
        ms_per_batch: 1000.0 * seconds / n.div_ceil(batch) as f64,
        round_trip_cosine: (!cos.is_empty()).then(|| cos.iter().sum::<f64>() / cos.len() as f64),
    })
}
