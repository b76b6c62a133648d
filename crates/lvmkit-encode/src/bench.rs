//! `lvmkit bench encode`: sentences per second of an encoder on given texts, the median of
//! several timed runs after a warm-up. Speed is measured here, never in timed unit tests.

use crate::{EncodeOptions, SentenceEncoder};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::Instant;

/// One measurement (also the `--json` file).
#[derive(Debug, Clone, Serialize)]
pub struct EncodeSpeed {
    pub encoder: String,
    pub input: String,
    pub sentences: usize,
    pub mean_tokens: f64,
    pub batch_size: usize,
    /// Cores available to the process.
    pub threads: usize,
    /// The median run's rate.
    pub sentences_per_second: f64,
    /// Every run's rate, slowest first.
    pub runs: Vec<f64>,
}

/// Times `repeat` runs of `enc` over `texts` (after one warm-up on at most 256 of them).
/// `input` only names where the texts came from.
pub fn measure(
    enc: &SentenceEncoder,
    texts: &[String],
    input: &str,
    batch_size: usize,
    repeat: usize,
) -> Result<EncodeSpeed> {
    if texts.is_empty() {
        bail!("no text to benchmark on");
    }
    let opts = EncodeOptions {
        batch_size,
        progress: false,
        ..Default::default()
    };
    let tokens: usize = enc.tokenize(texts)?.iter().map(Vec::len).sum();
    enc.encode(&texts[..texts.len().min(256)], &opts)?;
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        enc.encode(texts, &opts)?;
        runs.push(texts.len() as f64 / t.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    Ok(EncodeSpeed {
        encoder: enc.name(),
        input: input.to_string(),
        sentences: texts.len(),
        mean_tokens: tokens as f64 / texts.len() as f64,
        batch_size,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        sentences_per_second: runs[runs.len() / 2],
        runs,
    })
}
