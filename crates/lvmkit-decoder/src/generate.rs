//! From vectors to new text: beam search over the decoder, and correction steps in the spirit
//! of vec2text.
//!
//! Step 0 decodes the target vector t (beam search, the beams ranked by the decoder's own
//! length-normalised log-probability). Each correction step re-embeds the current hypothesis
//! h with the run's encoder, moves the vector it decodes from by the miss, q ← q̂ + (t̂ − ê(h))
//! (hats: unit length), decodes q, and keeps, of every text decoded so far for this vector
//! (the step-0 beams included), the one whose embedding is closest to t. So a step conditions
//! on the target, the hypothesis's vector and the hypothesis's text (it stays unless a new
//! text is closer), and the round-trip cosine never falls from one step to the next.
//! vec2text learns its corrector (a second model reading the three); lvmkit's steps use the
//! one decoder and the encoder, which a 2-core budget can train.

use crate::config::DecoderRunConfig;
use crate::run::DecoderRun;
use crate::vocab::{Vocab, BOS, EOS, PAD};
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use lvmkit_encode::{EncodeOptions, SentenceEncoder};
use lvmkit_index::{Decoded, Decoder};
use lvmkit_models::decoder::VectorDecoder;
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// Length normalisation of beam scores: log-probability sum / tokens^ALPHA.
const ALPHA: f32 = 0.7;

/// How to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvertOptions {
    /// Beams per vector (1 = greedy).
    pub beam: usize,
    /// Correction steps after the first decoding (each needs the encoder).
    pub steps: usize,
    /// Vectors decoded together.
    pub batch: usize,
}

impl Default for InvertOptions {
    fn default() -> Self {
        Self {
            beam: 4,
            steps: 1,
            batch: 64,
        }
    }
}

/// One hypothesis: its text and, when the encoder is there, the cosine of the text's
/// embedding to the target vector (the round-trip cosine).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hypothesis {
    pub text: String,
    pub cosine: Option<f32>,
}

/// A vector's decoding: the hypothesis after 0, 1, … correction steps (the last is the answer),
/// and every text decoded for it, closest first (all of them when the encoder ranks them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inversion {
    pub steps: Vec<Hypothesis>,
    pub candidates: Vec<Hypothesis>,
}

impl Inversion {
    pub fn best(&self) -> &Hypothesis {
        self.steps.last().expect("at least step 0")
    }
}

/// A trained decoder, its vocabulary, and (for correction steps and cosines) its encoder.
pub struct Inverter {
    pub config: DecoderRunConfig,
    decoder: VectorDecoder,
    vocab: Vocab,
    encoder: Option<SentenceEncoder>,
}

impl Inverter {
    /// Opens decoder run `run` with `encoder`, which must be the one its vectors came from
    /// (checked by fingerprint where the run's dataset names one, by dimension otherwise).
    pub fn open(run: &Path, encoder: Option<SentenceEncoder>) -> Result<Self> {
        let (config, decoder, vocab) = DecoderRun::new(run).load_best()?;
        if let Some(enc) = &encoder {
            let want = &config.data.encoder_fingerprint;
            if enc.dim() != config.decoder.dim || (!want.is_empty() && enc.fingerprint() != want) {
                bail!(
                    "decoder run {} reads vectors of encoder {} ({}-D), not of {} ({}-D): pass \
                     that encoder",
                    run.display(),
                    config.data.encoder,
                    config.decoder.dim,
                    enc.name(),
                    enc.dim()
                );
            }
        }
        Ok(Self {
            config,
            decoder,
            vocab,
            encoder,
        })
    }

    pub fn dim(&self) -> usize {
        self.config.decoder.dim
    }

    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    /// Decodes `vectors` (n × D, row-major).
    pub fn invert(&self, vectors: &[f32], opts: &InvertOptions) -> Result<Vec<Inversion>> {
        let d = self.dim();
        if !vectors.len().is_multiple_of(d) {
            bail!("{} numbers are not rows of {d}", vectors.len());
        }
        if opts.beam == 0 || opts.batch == 0 {
            bail!("beam and batch must be at least 1");
        }
        if opts.steps > 0 && self.encoder.is_none() {
            bail!(
                "correction steps re-embed each hypothesis and need the run's encoder ({}); \
                 pass it, or decode with 0 steps",
                self.config.data.encoder
            );
        }
        let mut out = Vec::with_capacity(vectors.len() / d);
        for chunk in vectors.chunks(opts.batch * d) {
            out.extend(self.invert_chunk(chunk, opts)?);
        }
        Ok(out)
    }

    fn invert_chunk(&self, targets: &[f32], opts: &InvertOptions) -> Result<Vec<Inversion>> {
        let d = self.dim();
        let n = targets.len() / d;
        let unit_targets: Vec<f32> = targets.chunks(d).flat_map(unit).collect();
        let mut queries = unit_targets.clone();
        let mut pools: Vec<Vec<Hypothesis>> = vec![Vec::new(); n];
        let mut results: Vec<Vec<Hypothesis>> = vec![Vec::new(); n];
        for step in 0..=opts.steps {
            let beams = self.beam_search(&queries, opts.beam)?;
            let texts: Vec<Vec<String>> = beams
                .iter()
                .map(|b| b.iter().map(|(ids, _)| self.vocab.decode(ids)).collect())
                .collect::<Result<_>>()?;
            // New texts of each row, embedded together.
            let mut fresh: Vec<(usize, String)> = Vec::new();
            for (i, row) in texts.iter().enumerate() {
                for t in row {
                    let known = pools[i].iter().any(|h| &h.text == t)
                        || fresh.iter().any(|(j, f)| *j == i && f == t);
                    if !known {
                        fresh.push((i, t.clone()));
                    }
                }
            }
            let cosines = self.cosines(&fresh, &unit_targets)?;
            for ((i, text), cosine) in fresh.into_iter().zip(cosines) {
                pools[i].push(Hypothesis { text, cosine });
            }
            for i in 0..n {
                let pick = if step == 0 || self.encoder.is_none() {
                    // The decoder's own best beam.
                    pools[i]
                        .iter()
                        .find(|h| h.text == texts[i][0])
                        .cloned()
                        .expect("the top beam is in the pool")
                } else {
                    closest(&pools[i]).clone()
                };
                results[i].push(pick);
            }
            if step < opts.steps {
                // Move each query by the miss of its current hypothesis.
                let hyps: Vec<String> = results.iter().map(|r| r[step].text.clone()).collect();
                let e = self.embed_texts(&hyps)?;
                for i in 0..n {
                    let (q, t, h) = (
                        &mut queries[i * d..(i + 1) * d],
                        &unit_targets[i * d..(i + 1) * d],
                        unit(&e[i * d..(i + 1) * d]),
                    );
                    let qn = unit(q);
                    for k in 0..d {
                        q[k] = qn[k] + t[k] - h[k];
                    }
                }
            }
        }
        Ok(results
            .into_iter()
            .zip(pools)
            .map(|(steps, mut candidates)| {
                if self.encoder.is_some() {
                    candidates.sort_by(|a, b| key(b).total_cmp(&key(a)));
                }
                Inversion { steps, candidates }
            })
            .collect())
    }

    /// Embeds `texts` with the run's encoder.
    pub fn embed_texts(&self, texts: &[String]) -> Result<Vec<f32>> {
        let Some(enc) = self.encoder.as_ref() else {
            bail!("no encoder was given to embed decoded texts with");
        };
        enc.encode(
            texts,
            &EncodeOptions {
                progress: false,
                ..EncodeOptions::default()
            },
        )
    }

    /// Round-trip cosines of `(row, text)` to unit target rows (None without an encoder).
    fn cosines(&self, texts: &[(usize, String)], unit_targets: &[f32]) -> Result<Vec<Option<f32>>> {
        if self.encoder.is_none() || texts.is_empty() {
            return Ok(vec![None; texts.len()]);
        }
        let d = self.dim();
        let only: Vec<String> = texts.iter().map(|(_, t)| t.clone()).collect();
        let e = self.embed_texts(&only)?;
        Ok(texts
            .iter()
            .enumerate()
            .map(|(k, (i, _))| {
                Some(dot(
                    &unit(&e[k * d..(k + 1) * d]),
                    &unit_targets[i * d..(i + 1) * d],
                ))
            })
            .collect())
    }

    /// Up to `beam` token sequences (BOS … EOS) of each row of `queries`, best
    /// first, with their length-normalised log-probabilities.
    pub fn beam_search(&self, queries: &[f32], beam: usize) -> Result<Vec<Vec<Scored>>> {
        let d = self.dim();
        let n = queries.len() / d;
        // At the length of the vectors it learnt from.
        let scale = self.config.vector_norm;
        let scaled: Vec<f32> = queries
            .chunks(d)
            .flat_map(unit)
            .map(|x| x * scale)
            .collect();
        let vectors = Tensor::from_vec(scaled, (n, d), &Device::Cpu)?;
        let dec = &self.decoder;
        let (logits, mut state) = dec.start(&vectors, BOS)?;
        let k = beam.min(self.vocab.size());
        // Row i's beams are rows i·k … i·k + k − 1 once the first token is chosen.
        let mut beams: Vec<Beam> = Vec::with_capacity(n * k);
        let first = log_softmax_rows(&logits)?;
        let v = self.vocab.size();
        for i in 0..n {
            for (t, lp) in top_k(&first[i * v..(i + 1) * v], k) {
                beams.push(Beam::new(t, lp));
            }
        }
        let parents: Vec<u32> = (0..n * k).map(|r| (r / k) as u32).collect();
        state.select(&parents)?;
        for _ in 1..dec.max_new_tokens() {
            if beams.iter().all(|b| b.done) {
                break;
            }
            let feed: Vec<u32> = beams
                .iter()
                .map(|b| {
                    if b.done {
                        PAD
                    } else {
                        *b.tokens.last().expect("one token")
                    }
                })
                .collect();
            let mut lp = log_softmax_rows(&dec.step(&mut state, &feed)?)?;
            for (j, b) in beams.iter().enumerate() {
                for t in repeats(&b.tokens) {
                    lp[j * v + t as usize] = f32::NEG_INFINITY;
                }
            }
            let mut next: Vec<Beam> = Vec::with_capacity(n * k);
            let mut rows: Vec<u32> = Vec::with_capacity(n * k);
            for i in 0..n {
                let mut cands: Vec<Extension> = Vec::new();
                for j in i * k..(i + 1) * k {
                    let b = &beams[j];
                    if b.done {
                        cands.push((b.score(), j, None));
                    } else {
                        for (t, l) in top_k(&lp[j * v..(j + 1) * v], k) {
                            cands.push((b.score_with(l), j, Some((t, l))));
                        }
                    }
                }
                cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                for (_, j, ext) in cands.into_iter().take(k) {
                    let mut b = beams[j].clone();
                    if let Some((t, l)) = ext {
                        b.push(t, l);
                    }
                    next.push(b);
                    rows.push(j as u32);
                }
            }
            state.select(&rows)?;
            beams = next;
        }
        Ok(beams
            .chunks(k)
            .map(|row| {
                let mut row: Vec<Scored> = row
                    .iter()
                    .map(|b| {
                        let mut ids = vec![BOS];
                        ids.extend(&b.tokens);
                        (ids, b.score())
                    })
                    .collect();
                row.sort_by(|a, b| b.1.total_cmp(&a.1));
                row
            })
            .collect())
    }
}

/// A decoded token sequence (BOS … EOS) and its length-normalised log-probability.
pub type Scored = (Vec<u32>, f32);

/// A candidate of one beam-search step: its score, the beam it extends, and the token added
/// with its log-probability (None for a finished beam kept as it is).
type Extension = (f32, usize, Option<(u32, f32)>);

#[derive(Clone)]
struct Beam {
    tokens: Vec<u32>,
    logp: f32,
    done: bool,
}

impl Beam {
    fn new(t: u32, lp: f32) -> Self {
        Self {
            tokens: vec![t],
            logp: lp,
            done: t == EOS,
        }
    }
    fn push(&mut self, t: u32, lp: f32) {
        self.tokens.push(t);
        self.logp += lp;
        self.done = t == EOS;
    }
    fn score(&self) -> f32 {
        self.logp / (self.tokens.len() as f32).powf(ALPHA)
    }
    fn score_with(&self, lp: f32) -> f32 {
        (self.logp + lp) / ((self.tokens.len() + 1) as f32).powf(ALPHA)
    }
}

/// Tokens that would repeat a trigram `tokens` already holds. Beam search bans them (the
/// usual `no_repeat_ngram_size = 3`): an undertrained decoder otherwise loops ("to be used to
/// be used to be used …") until its length limit.
fn repeats(tokens: &[u32]) -> Vec<u32> {
    let n = tokens.len();
    if n < 3 {
        return Vec::new();
    }
    let (a, b) = (tokens[n - 2], tokens[n - 1]);
    (0..n - 2)
        .filter(|&i| tokens[i] == a && tokens[i + 1] == b)
        .map(|i| tokens[i + 2])
        .collect()
}

fn log_softmax_rows(logits: &Tensor) -> Result<Vec<f32>> {
    let l = logits.to_dtype(candle_core::DType::F32)?;
    let v = l.dim(1)?;
    let mut x = l.flatten_all()?.to_vec1::<f32>()?;
    for row in x.chunks_mut(v) {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z = row.iter().map(|&a| (a - m).exp()).sum::<f32>().ln() + m;
        for a in row.iter_mut() {
            *a -= z;
        }
    }
    Ok(x)
}

/// The `k` largest entries of `row` (index, value), largest first, ties to the lower index.
fn top_k(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    let cmp = |a: &usize, b: &usize| row[*b].total_cmp(&row[*a]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx.into_iter().map(|i| (i as u32, row[i])).collect()
}

fn unit(x: &[f32]) -> Vec<f32> {
    let n = x.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
    x.iter().map(|a| a / n).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A hypothesis's cosine for ordering (none or NaN last).
fn key(h: &Hypothesis) -> f32 {
    h.cosine
        .filter(|c| !c.is_nan())
        .unwrap_or(f32::NEG_INFINITY)
}

fn closest(pool: &[Hypothesis]) -> &Hypothesis {
    pool.iter()
        .max_by(|a, b| key(a).total_cmp(&key(b)))
        .expect("a pool is never empty")
}

/// An [`Inverter`] as the server's [`Decoder`]: the answer and the other candidates, closest
/// first.
pub struct InversionDecoder {
    pub inverter: Inverter,
    pub options: InvertOptions,
}

impl Decoder for InversionDecoder {
    fn name(&self) -> &str {
        "inversion"
    }

    fn decode(
        &self,
        vectors: &[f32],
        k: usize,
        avoid: &HashSet<String>,
    ) -> Result<Vec<Vec<Decoded>>> {
        let inv = self.inverter.invert(vectors, &self.options)?;
        Ok(inv
            .into_iter()
            .map(|i| {
                let best = i.best().clone();
                std::iter::once(best.clone())
                    .chain(i.candidates.into_iter().filter(|c| c.text != best.text))
                    .filter(|h| !avoid.contains(&h.text))
                    .take(k)
                    .map(|h| Decoded {
                        text: h.text,
                        score: h.cosine.unwrap_or(f32::NAN),
                        concept: None,
                    })
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigram_is_never_repeated() {
        assert_eq!(repeats(&[5, 6, 7, 5, 6]), vec![7]);
        assert_eq!(repeats(&[5, 6, 7, 8]), Vec::<u32>::new());
        assert_eq!(repeats(&[5, 5, 5]), vec![5]);
    }

    #[test]
    fn top_k_takes_the_largest_in_order() {
        let row = [0.1, 0.9, -1.0, 0.9, 0.5];
        assert_eq!(top_k(&row, 3), vec![(1, 0.9), (3, 0.9), (4, 0.5)]);
        assert_eq!(top_k(&row, 9).len(), 5);
    }
}
