//! An inversion decoder: a concept vector back to the tokens of a sentence.
//!
//! The vector becomes `prefix` states (one linear map, D → prefix·width), and a causal
//! transformer over `[prefix; BOS, t1, …]` predicts each next token, as in a GPT whose first
//! positions are the condition. The vocabulary is the corpus's own (a small BPE), so the output
//! layer is not 30k wide.

use crate::attention::{causal_bias, Activation, EncoderLayer, KvCache, LayerSizes, BLOCKED};
use crate::nn::{LayerNorm, Linear, Mode, ParamStore};
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// The decoder's sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderConfig {
    /// Dimension of the concept vectors it reads.
    pub dim: usize,
    /// Tokens in the vocabulary (BOS, EOS and PAD included).
    pub vocab: usize,
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    /// Positions the vector is spread over.
    pub prefix: usize,
    /// Most tokens of a sentence (BOS included).
    pub max_tokens: usize,
    pub dropout: f32,
}

pub struct VectorDecoder {
    cfg: DecoderConfig,
    prefix: Linear,
    embed: Tensor,
    positions: Tensor,
    layers: Vec<EncoderLayer>,
    norm: LayerNorm,
    out: Linear,
}

impl VectorDecoder {
    pub fn new(ps: &mut ParamStore, cfg: &DecoderConfig) -> Result<Self> {
        if cfg.prefix == 0 || cfg.max_tokens < 2 || cfg.vocab < 4 {
            bail!("decoder: prefix ≥ 1, max_tokens ≥ 2 and vocab ≥ 4 are needed");
        }
        let std = 0.02;
        let sizes = LayerSizes {
            d: cfg.width,
            heads: cfg.heads,
            ff: cfg.ff,
            dropout: cfg.dropout,
            activation: Activation::Gelu,
            init_std: Some(std),
        };
        let layers = (0..cfg.layers)
            .map(|i| EncoderLayer::new(ps, &format!("decoder.layers.{i}"), &sizes))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            prefix: ps.linear_init("decoder.prefix", cfg.dim, cfg.prefix * cfg.width, Some(std))?,
            embed: ps.tensor(
                "decoder.embed",
                &[cfg.vocab, cfg.width],
                crate::nn::Init::Normal(std),
            )?,
            positions: ps.tensor(
                "decoder.positions",
                &[cfg.prefix + cfg.max_tokens, cfg.width],
                crate::nn::Init::Normal(std),
            )?,
            layers,
            norm: ps.layer_norm("decoder.norm", cfg.width)?,
            out: ps.linear_init("decoder.out", cfg.width, cfg.vocab, Some(std))?,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// Next-token logits [B, L, vocab] for `vectors` [B, D] and input tokens `ids` [B, L] (BOS
    /// first); `mask` [B, L] is 1 on real tokens, 0 on padding after them. Row i of the output
    /// predicts token i + 1.
    pub fn forward(
        &self,
        vectors: &Tensor,
        ids: &Tensor,
        mask: &Tensor,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let (p, w) = (self.cfg.prefix, self.cfg.width);
        if l > self.cfg.max_tokens {
            bail!(
                "{l} tokens; this decoder reads at most {}",
                self.cfg.max_tokens
            );
        }
        let prefix = self.prefix.forward(vectors)?.reshape((b, p, w))?;
        let tokens = self
            .embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, l, w))?;
        let x = Tensor::cat(&[&prefix, &tokens], 1)?;
        let x = x.broadcast_add(&self.positions.narrow(0, 0, p + l)?.unsqueeze(0)?)?;
        // Causal over prefix and tokens, and no attention to padding keys.
        let ones = Tensor::ones((b, p), DType::F32, vectors.device())?;
        let keys = Tensor::cat(&[&ones, &mask.to_dtype(DType::F32)?], 1)?;
        let pad = ((keys.neg()? + 1.0)? * BLOCKED as f64)?.reshape((b, 1, 1, p + l))?;
        let bias = causal_bias(p + l, vectors.device())?.broadcast_add(&pad)?;
        let mut x = x;
        for layer in &self.layers {
            x = layer.forward(&x, &bias, mode)?;
        }
        let x = self.norm.forward(&x.narrow(1, p, l)?)?;
        self.out.forward(&x)
    }

    /// Starts decoding `vectors` [B, D] one token at a time: reads their prefix states and the
    /// `bos` token, and returns the logits [B, vocab] of the first token and the state that
    /// [`step`](Self::step) continues. Same numbers as [`forward`](Self::forward), without
    /// recomputing earlier positions at each token.
    pub fn start(&self, vectors: &Tensor, bos: u32) -> Result<(Tensor, DecodeState)> {
        let b = vectors.dim(0)?;
        let (p, w) = (self.cfg.prefix, self.cfg.width);
        let prefix = self.prefix.forward(vectors)?.reshape((b, p, w))?;
        let bos = self
            .embed
            .index_select(&Tensor::from_vec(vec![bos; b], b, vectors.device())?, 0)?
            .reshape((b, 1, w))?;
        let x = Tensor::cat(&[&prefix, &bos], 1)?
            .broadcast_add(&self.positions.narrow(0, 0, p + 1)?.unsqueeze(0)?)?;
        let mut state = DecodeState {
            caches: vec![KvCache::default(); self.layers.len()],
            positions: p + 1,
            device: vectors.device().clone(),
        };
        let logits = self.through_layers(x, &mut state)?;
        Ok((logits, state))
    }

    /// Feeds token `ids[b]` to row b; returns the logits [B, vocab] of each row's next token.
    pub fn step(&self, state: &mut DecodeState, ids: &[u32]) -> Result<Tensor> {
        let w = self.cfg.width;
        if state.positions >= self.cfg.prefix + self.cfg.max_tokens {
            bail!("this decoder writes at most {} tokens", self.cfg.max_tokens);
        }
        let device = self.embed.device();
        let x = self
            .embed
            .index_select(&Tensor::from_vec(ids.to_vec(), ids.len(), device)?, 0)?
            .broadcast_add(&self.positions.narrow(0, state.positions, 1)?)?
            .reshape((ids.len(), 1, w))?;
        state.positions += 1;
        self.through_layers(x, state)
    }

    /// Most tokens a decoding can hold after BOS.
    pub fn max_new_tokens(&self) -> usize {
        self.cfg.max_tokens - 1
    }

    fn through_layers(&self, mut x: Tensor, state: &mut DecodeState) -> Result<Tensor> {
        for (layer, cache) in self.layers.iter().zip(&mut state.caches) {
            x = layer.forward_cached(&x, cache)?;
        }
        let n = x.dim(1)?;
        let last = self.norm.forward(&x.narrow(1, n - 1, 1)?.squeeze(1)?)?;
        self.out.forward(&last)
    }

    /// Mean cross-entropy of predicting each real token after BOS: `ids` holds each row's
    /// tokens (BOS, t1, …, EOS), of any lengths; shorter rows are padded with `pad`, which is
    /// never a target.
    pub fn loss(
        &self,
        vectors: &Tensor,
        ids: &[Vec<u32>],
        pad: u32,
        mode: &mut Mode,
    ) -> Result<Tensor> {
        let device = vectors.device();
        let (inputs, mask, targets, rows) = batch(ids, pad, device)?;
        let logits = self.forward(vectors, &inputs, &mask, mode)?;
        let (b, l, v) = logits.dims3()?;
        let flat = logits.reshape((b * l, v))?;
        let picked = flat.index_select(&Tensor::from_vec(rows.clone(), rows.len(), device)?, 0)?;
        let ce = crate::ops::cross_entropy_rows(&picked, &targets)?;
        Ok(ce.mean_all()?)
    }
}

/// Where a token-by-token decoding stands: each layer's keys and values, and how many
/// positions (prefix included) have been read.
#[derive(Clone)]
pub struct DecodeState {
    caches: Vec<KvCache>,
    positions: usize,
    device: Device,
}

impl DecodeState {
    /// Keeps batch rows `rows`, in that order (the survivors of a beam search step).
    pub fn select(&mut self, rows: &[u32]) -> Result<()> {
        let rows = Tensor::from_vec(rows.to_vec(), rows.len(), &self.device)?;
        for c in &mut self.caches {
            c.select(&rows)?;
        }
        Ok(())
    }
}

/// Inputs [B, L−1] (each row without its last token), their mask, and the targets of the real
/// positions with their flat row indices in [B·(L−1)].
fn batch(
    ids: &[Vec<u32>],
    pad: u32,
    device: &Device,
) -> Result<(Tensor, Tensor, Vec<u32>, Vec<u32>)> {
    let l = ids.iter().map(Vec::len).max().unwrap_or(0);
    if l < 2 {
        bail!("every sentence needs BOS and at least one more token");
    }
    let li = l - 1;
    let (mut inputs, mut mask, mut targets, mut rows) = (vec![], vec![], vec![], vec![]);
    for (r, seq) in ids.iter().enumerate() {
        for i in 0..li {
            let real = i + 1 < seq.len();
            inputs.push(if i < seq.len() { seq[i] } else { pad });
            mask.push(if i < seq.len() { 1f32 } else { 0.0 });
            if real {
                targets.push(seq[i + 1]);
                rows.push((r * li + i) as u32);
            }
        }
    }
    let b = ids.len();
    Ok((
        Tensor::from_vec(inputs, (b, li), device)?,
        Tensor::from_vec(mask, (b, li), device)?,
        targets,
        rows,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ParamStore;

    fn tiny() -> DecoderConfig {
        DecoderConfig {
            dim: 8,
            vocab: 12,
            width: 16,
            layers: 2,
            heads: 2,
            ff: 32,
            prefix: 2,
            max_tokens: 8,
            dropout: 0.0,
        }
    }

    #[test]
    fn token_by_token_decoding_gives_the_full_forward_logits() {
        let mut ps = ParamStore::new(5, &Device::Cpu);
        let dec = VectorDecoder::new(&mut ps, &tiny()).unwrap();
        let v = Tensor::randn(0f32, 1.0, (3, 8), &Device::Cpu).unwrap();
        let ids: Vec<u32> = vec![1, 5, 6, 7, 1, 9, 3, 4, 1, 2, 2, 11];
        let full = dec
            .forward(
                &v,
                &Tensor::from_vec(ids.clone(), (3, 4), &Device::Cpu).unwrap(),
                &Tensor::ones((3, 4), DType::F32, &Device::Cpu).unwrap(),
                &mut Mode::Eval,
            )
            .unwrap();
        let (first, mut state) = dec.start(&v, 1).unwrap();
        let mut steps = vec![first];
        for i in 1..4 {
            let col: Vec<u32> = (0..3).map(|r| ids[r * 4 + i]).collect();
            steps.push(dec.step(&mut state, &col).unwrap());
        }
        for (i, s) in steps.iter().enumerate() {
            let want = full.narrow(1, i, 1).unwrap().squeeze(1).unwrap();
            let gap = max_gap(s, &want);
            assert!(gap < 1e-4, "position {i}: logits differ by {gap}");
        }
        // Beam reordering keeps the chosen rows' histories.
        let (_, mut a) = dec.start(&v, 1).unwrap();
        a.select(&[2, 2, 0]).unwrap();
        let col: Vec<u32> = vec![ids[9], ids[9], ids[1]];
        let got = dec.step(&mut a, &col).unwrap();
        let want = steps[1]
            .index_select(&Tensor::new(&[2u32, 2, 0], &Device::Cpu).unwrap(), 0)
            .unwrap();
        let gap = max_gap(&got, &want);
        assert!(gap < 1e-4, "reordered rows differ by {gap}");
    }

    fn max_gap(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn every_parameter_gets_a_gradient_and_padding_changes_nothing() {
        let mut ps = ParamStore::new(3, &Device::Cpu);
        let dec = VectorDecoder::new(&mut ps, &tiny()).unwrap();
        let v = Tensor::randn(0f32, 1.0, (2, 8), &Device::Cpu).unwrap();
        let ids = vec![vec![1u32, 5, 6, 7, 2], vec![1, 9, 2]];
        let loss = dec.loss(&v, &ids, 0, &mut Mode::Eval).unwrap();
        let grads = loss.backward().unwrap();
        for (name, var) in ps.vars() {
            let g = grads
                .get(var)
                .unwrap_or_else(|| panic!("{name}: no gradient"));
            let n = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(n.is_finite() && n > 0.0, "{name}: gradient norm {n}");
        }
        // The short row's loss alone equals its loss inside the padded batch's sum.
        let alone = dec
            .loss(&v.narrow(0, 1, 1).unwrap(), &ids[1..], 0, &mut Mode::Eval)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let first = dec
            .loss(&v.narrow(0, 0, 1).unwrap(), &ids[..1], 0, &mut Mode::Eval)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let both = loss.to_scalar::<f32>().unwrap();
        // 4 targets in row 0, 2 in row 1.
        assert!((both - (4.0 * first + 2.0 * alone) / 6.0).abs() < 1e-5);
    }
}
