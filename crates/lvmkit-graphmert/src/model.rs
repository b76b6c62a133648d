//! The GraphMERT encoder: token embeddings, H-GAT fusion of injected tails with their heads,
//! a post-norm transformer without positional embeddings whose attention decays with graph
//! distance, and the MLM, span-boundary (SBO) and MNM heads. Built on lvmkit-models' layers,
//! whose LayerNorm and softmax have a backward.
//!
//! Decay: λ^GELU(√(d+1) − p_h) multiplies the attention *weights* (the paper's wording),
//! implemented as the additive logit bias ln λ · GELU(√(d+1) − p_h) before the softmax (exp of
//! the bias is the factor; the softmax renormalises). The authors' code multiplies the logits
//! instead, which flips meaning with the logit's sign: a negative logit times a factor < 1
//! grows towards 0, i.e. far nodes would gain attention. Scaling the weights is sign-safe.

use crate::chain::ChainLayout;
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, D};
use lvmkit_models::attention::{Activation, EncoderLayer, LayerSizes, BLOCKED};
use lvmkit_models::nn::{dropout, gelu, Init, LayerNorm, Linear, Mode, ParamStore};
use lvmkit_models::ops::softmax_last;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphmertConfig {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    pub dropout: f32,
    /// Dropout on the relation tables W_r and a_r (the paper: 0.3).
    pub relation_dropout: f32,
    /// Seed-graph relations (ids 0..relations).
    pub relations: usize,
    /// λ of the decay mask (the paper: 0.6).
    pub decay_lambda: f32,
    /// Initial p_h (the paper: 1).
    pub decay_offset_init: f32,
    /// Head spans longer than this are cut for H-GAT.
    pub max_head_len: usize,
    pub layout: ChainLayout,
}

/// The model sizes `lvmkit graphmert train --preset` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// Hidden 64, 2 layers, 32 roots × 7 leaves: CPU- and CI-sized.
    Tiny,
    /// Hidden 192, 4 layers, 48 roots × 7 leaves (13.9M parameters): about an hour for 2
    /// epochs on 2 cores.
    Default,
    /// The paper's: hidden 512, 12 layers, 128 roots × 7 leaves.
    Paper,
}

impl GraphmertConfig {
    /// CPU- and CI-sized.
    pub fn tiny(vocab: usize, relations: usize) -> Self {
        Self {
            vocab,
            hidden: 64,
            layers: 2,
            heads: 4,
            ff: 256,
            dropout: 0.1,
            relation_dropout: 0.3,
            relations,
            decay_lambda: 0.6,
            decay_offset_init: 1.0,
            max_head_len: 8,
            layout: ChainLayout {
                roots: 32,
                leaves: 7,
            },
        }
    }

    /// The paper's model: 12 layers, hidden 512, 8 heads, FF 2048, 128 roots × 7 leaves.
    pub fn paper(vocab: usize, relations: usize) -> Self {
        Self {
            hidden: 512,
            layers: 12,
            heads: 8,
            ff: 2048,
            layout: ChainLayout {
                roots: 128,
                leaves: 7,
            },
            ..Self::tiny(vocab, relations)
        }
    }

    /// The model size a [`Preset`] names.
    pub fn preset(preset: Preset, vocab: usize, relations: usize) -> Self {
        match preset {
            Preset::Tiny => Self::tiny(vocab, relations),
            Preset::Default => Self {
                hidden: 192,
                layers: 4,
                heads: 4,
                ff: 768,
                layout: ChainLayout {
                    roots: 48,
                    leaves: 7,
                },
                ..Self::tiny(vocab, relations)
            },
            Preset::Paper => Self::paper(vocab, relations),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            bail!(
                "hidden {} is not divisible by {} heads",
                self.hidden,
                self.heads
            );
        }
        if !(0.0 < self.decay_lambda && self.decay_lambda < 1.0) {
            bail!("decay_lambda must be in (0, 1), got {}", self.decay_lambda);
        }
        for (n, p) in [
            ("dropout", self.dropout),
            ("relation_dropout", self.relation_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                bail!("{n} must be in [0, 1), got {p}");
            }
        }
        if self.relations == 0 || self.vocab == 0 || self.max_head_len == 0 {
            bail!("vocab, relations and max_head_len must be positive");
        }
        Ok(())
    }
}

/// One injected triple inside a batch, as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TripleSlot {
    /// Sequence within the batch.
    pub b: usize,
    pub root: usize,
    pub head_len: usize,
    pub relation: usize,
}

/// Model input for B chain graphs.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    pub batch: usize,
    /// Node token ids (after masking), [B × N].
    pub tokens: Vec<u32>,
    /// 1 for real nodes (roots of the text, filled leaves), 0 for padding, [B × N].
    pub attend: Vec<f32>,
    pub triples: Vec<TripleSlot>,
}

pub struct Graphmert {
    pub config: GraphmertConfig,
    embeddings: Tensor,
    /// W_r, [relations, d·d].
    rel_w: Tensor,
    /// a_r, [relations, 2d].
    rel_a: Tensor,
    embed_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    /// p_h, one per head, shared by every layer.
    decay_offsets: Tensor,
    /// ln λ · GELU(√(d+1) − ·) needs √(d+1) once: [1, 1, N, N].
    sqrt_distance: Tensor,
    mlm_transform: Linear,
    mlm_norm: LayerNorm,
    mlm_bias: Tensor,
    sbo_positions: Tensor,
    sbo_1: Linear,
    sbo_norm1: LayerNorm,
    sbo_2: Linear,
    sbo_norm2: LayerNorm,
    sbo_out: Linear,
}

const INIT_STD: f32 = 0.02;

impl Graphmert {
    pub fn new(ps: &mut ParamStore, config: &GraphmertConfig) -> Result<Self> {
        config.validate()?;
        let (d, v) = (config.hidden, config.vocab);
        let embeddings = ps.tensor("embeddings", &[v, d], Init::Normal(INIT_STD))?;
        let rel_w = ps.tensor(
            "relation.w",
            &[config.relations, d * d],
            Init::Normal(INIT_STD),
        )?;
        let rel_a = ps.tensor(
            "relation.a",
            &[config.relations, 2 * d],
            Init::Normal(INIT_STD),
        )?;
        let embed_norm = ps.layer_norm("embed_norm", d)?;
        let sizes = LayerSizes {
            d,
            heads: config.heads,
            ff: config.ff,
            dropout: config.dropout,
            activation: Activation::Gelu,
            init_std: Some(INIT_STD),
        };
        let layers = (0..config.layers)
            .map(|i| EncoderLayer::new(ps, &format!("layers.{i}"), &sizes))
            .collect::<Result<Vec<_>>>()?;
        let decay_offsets = ps.tensor_from(
            "decay_offsets",
            &[config.heads],
            vec![config.decay_offset_init; config.heads],
        )?;
        let n = config.layout.nodes();
        let sqrt_distance: Vec<f32> = config
            .layout
            .distances()
            .into_iter()
            .map(|x| (x as f32 + 1.0).sqrt())
            .collect();
        let sqrt_distance = Tensor::from_vec(sqrt_distance, (1, 1, n, n), ps.device())?;
        let k = config.layout.leaves;
        Ok(Self {
            embeddings,
            rel_w,
            rel_a,
            embed_norm,
            layers,
            decay_offsets,
            sqrt_distance,
            mlm_transform: ps.linear_normal("mlm.transform", d, d, INIT_STD)?,
            mlm_norm: ps.layer_norm("mlm.norm", d)?,
            mlm_bias: ps.tensor("mlm.bias", &[v], Init::Zeros)?,
            sbo_positions: ps.tensor("sbo.positions", &[k, d], Init::Normal(INIT_STD))?,
            sbo_1: ps.linear_normal("sbo.1", 3 * d, d, INIT_STD)?,
            sbo_norm1: ps.layer_norm("sbo.norm1", d)?,
            sbo_2: ps.linear_normal("sbo.2", d, d, INIT_STD)?,
            sbo_norm2: ps.layer_norm("sbo.norm2", d)?,
            sbo_out: ps.linear_normal("sbo.out", d, v, INIT_STD)?,
            config: config.clone(),
        })
    }

    fn device(&self) -> &Device {
        self.embeddings.device()
    }

    /// H-GAT: each injected tail token t_i is fused with its head tokens h_j through its
    /// relation's W_r and a_r: e_ij = LeakyReLU(a_rᵀ[W_r t_i ‖ W_r h_j]), α = softmax_j,
    /// x(t_i) = E[t_i] + Σ_j α_ij W_r E[h_j]. Runs once, on the (masked) token embeddings.
    fn hgat(&self, x: &Tensor, batch: &GraphBatch, mode: &mut Mode) -> Result<Tensor> {
        let t = batch.triples.len();
        if t == 0 {
            return Ok(x.clone());
        }
        let c = &self.config;
        let (d, k, m, n) = (c.hidden, c.layout.leaves, c.max_head_len, c.layout.nodes());
        let mut head_ids = Vec::with_capacity(t * m);
        let mut head_mask = Vec::with_capacity(t * m);
        let mut tail_nodes = Vec::with_capacity(t * k);
        let mut tail_mask = Vec::with_capacity(t * k);
        let mut rels = Vec::with_capacity(t);
        for s in &batch.triples {
            if s.relation >= c.relations || s.root + s.head_len > c.layout.roots || s.head_len == 0
            {
                bail!("triple slot out of range: {s:?}");
            }
            let base = s.b * n;
            for j in 0..m {
                let ok = j < s.head_len;
                head_ids.push(if ok {
                    (base + s.root + j) as u32
                } else {
                    base as u32
                });
                head_mask.push(if ok { 0f32 } else { BLOCKED });
            }
            for leaf in 0..k {
                let node = base + c.layout.leaf(s.root, leaf);
                tail_nodes.push(node as u32);
                tail_mask.push(batch.attend[node]);
            }
            rels.push(s.relation as u32);
        }
        let dev = self.device();
        let head_idx = Tensor::from_vec(head_ids, t * m, dev)?;
        let tail_idx = Tensor::from_vec(tail_nodes, t * k, dev)?;
        let rel_idx = Tensor::from_vec(rels, t, dev)?;
        let e_head = x.index_select(&head_idx, 0)?.reshape((t, m, d))?;
        let e_tail = x.index_select(&tail_idx, 0)?.reshape((t, k, d))?;
        let w = dropout(&self.rel_w, c.relation_dropout, mode)?
            .index_select(&rel_idx, 0)?
            .reshape((t, d, d))?;
        let a = dropout(&self.rel_a, c.relation_dropout, mode)?.index_select(&rel_idx, 0)?;
        let wt = w.t()?;
        let wh = e_head.matmul(&wt)?; // [T, M, d]
        let wtl = e_tail.matmul(&wt)?; // [T, K, d]
        let a1 = a.narrow(1, 0, d)?.unsqueeze(2)?; // [T, d, 1]
        let a2 = a.narrow(1, d, d)?.unsqueeze(2)?;
        let s_tail = wtl.matmul(&a1)?; // [T, K, 1]
        let s_head = wh.matmul(&a2)?.transpose(1, 2)?; // [T, 1, M]
        let e = s_tail.broadcast_add(&s_head)?;
        let e = e.maximum(&(&e * 0.01)?)?; // LeakyReLU(0.01)
        let block = Tensor::from_vec(head_mask, (t, 1, m), dev)?;
        let alpha = softmax_last(&e.broadcast_add(&block)?)?; // [T, K, M]
        let fused = alpha.matmul(&wh)?; // [T, K, d]
        let keep = Tensor::from_vec(tail_mask, (t, k, 1), dev)?;
        let delta = fused.broadcast_mul(&keep)?.reshape((t * k, d))?;
        Ok(x.index_add(&tail_idx, &delta, 0)?)
    }

    fn check(&self, batch: &GraphBatch) -> Result<()> {
        let c = &self.config;
        let (b, n) = (batch.batch, c.layout.nodes());
        if batch.tokens.len() != b * n || batch.attend.len() != b * n {
            bail!(
                "batch holds {} tokens for {b} graphs of {n} nodes",
                batch.tokens.len()
            );
        }
        if let Some(&bad) = batch.tokens.iter().find(|&&t| t as usize >= c.vocab) {
            bail!("token id {bad} is outside the vocabulary of {}", c.vocab);
        }
        Ok(())
    }

    /// Token embeddings after H-GAT, [B·N, d].
    fn embed(&self, batch: &GraphBatch, mode: &mut Mode) -> Result<Tensor> {
        let n = self.config.layout.nodes();
        let ids = Tensor::from_vec(batch.tokens.clone(), batch.batch * n, self.device())?;
        let x = self.embeddings.index_select(&ids, 0)?;
        self.hgat(&x, batch, mode)
    }

    /// ln λ · GELU(√(d+1) − p_h) for `sqrt_distance` [B or 1, 1, L, L]: [·, H, L, L].
    fn decay(&self, sqrt_distance: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let p = self.decay_offsets.reshape((1, c.heads, 1, 1))?;
        Ok((gelu(&sqrt_distance.broadcast_sub(&p)?)? * (c.decay_lambda as f64).ln())?)
    }

    /// Hidden states [B, N, d] (padding nodes: zeros).
    ///
    /// Most nodes of a chain graph are empty leaves: with 32 roots × 7 leaves a sequence has
    /// ~40 real nodes of 256. Padding keys are blocked and padding queries feed nothing, so
    /// the transformer runs on each graph's real nodes only (gathered, with their pairwise
    /// distances), which gives the same states for them as running on all N
    /// ([`Self::encode_all_nodes`], tested) at a fraction of the cost.
    pub fn encode(&self, batch: &GraphBatch, mode: &mut Mode) -> Result<Tensor> {
        self.check(batch)?;
        let c = &self.config;
        let (b, n, d) = (batch.batch, c.layout.nodes(), c.hidden);
        let dev = self.device();
        let real: Vec<Vec<usize>> = (0..b)
            .map(|g| (0..n).filter(|&i| batch.attend[g * n + i] > 0.0).collect())
            .collect();
        let l = real.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        // Compact slot (g, j) ← node real[g][j]; slots past a graph's real nodes repeat its
        // first node and are blocked as keys.
        let mut gather = Vec::with_capacity(b * l);
        let mut key_bias = vec![0f32; b * l];
        let mut sqrt_d = vec![0f32; b * l * l];
        let (mut slots, mut targets) = (Vec::new(), Vec::new());
        for (g, nodes) in real.iter().enumerate() {
            for j in 0..l {
                let node = nodes.get(j).or(nodes.first()).copied().unwrap_or(0);
                gather.push((g * n + node) as u32);
                if j < nodes.len() {
                    slots.push((g * l + j) as u32);
                    targets.push((g * n + node) as u32);
                } else {
                    key_bias[g * l + j] = BLOCKED;
                }
                for k in 0..l {
                    let other = nodes.get(k).or(nodes.first()).copied().unwrap_or(0);
                    sqrt_d[(g * l + j) * l + k] =
                        (c.layout.distance(node, other) as f32 + 1.0).sqrt();
                }
            }
        }
        let x = self.embed(batch, mode)?;
        let gather = Tensor::from_vec(gather, b * l, dev)?;
        let x = x.index_select(&gather, 0)?.reshape((b, l, d))?;
        let x = dropout(&self.embed_norm.forward(&x)?, c.dropout, mode)?;
        let sqrt_d = Tensor::from_vec(sqrt_d, (b, 1, l, l), dev)?;
        let keys = Tensor::from_vec(key_bias, (b, 1, 1, l), dev)?;
        let bias = self.decay(&sqrt_d)?.broadcast_add(&keys)?;
        let mut h = x;
        for layer in &self.layers {
            h = layer.forward(&h, &bias, mode)?;
        }
        // Back to node positions.
        let (ns, nt) = (slots.len(), targets.len());
        let real_h = h
            .reshape((b * l, d))?
            .index_select(&Tensor::from_vec(slots, ns, dev)?, 0)?;
        let full = Tensor::zeros((b * n, d), real_h.dtype(), dev)?.index_add(
            &Tensor::from_vec(targets, nt, dev)?,
            &real_h,
            0,
        )?;
        Ok(full.reshape((b, n, d))?)
    }

    /// The reference computation over all N nodes of every graph (padding blocked as keys):
    /// what [`Self::encode`] must equal on real nodes.
    pub fn encode_all_nodes(&self, batch: &GraphBatch, mode: &mut Mode) -> Result<Tensor> {
        self.check(batch)?;
        let c = &self.config;
        let (b, n, d) = (batch.batch, c.layout.nodes(), c.hidden);
        let dev = self.device();
        let x = self.embed(batch, mode)?;
        let x = dropout(
            &self.embed_norm.forward(&x.reshape((b, n, d))?)?,
            c.dropout,
            mode,
        )?;
        let attend = Tensor::from_vec(batch.attend.clone(), (b, 1, 1, n), dev)?;
        // 0 for real keys, BLOCKED for padding.
        let pad = ((attend - 1.0)? * -(BLOCKED as f64))?;
        let bias = self.decay(&self.sqrt_distance)?.broadcast_add(&pad)?;
        let mut h = x;
        for layer in &self.layers {
            h = layer.forward(&h, &bias, mode)?;
        }
        Ok(h)
    }

    /// Token logits [P, V] at the given flat node positions (b·N + node): the MLM head for
    /// roots and the MNM head for leaves share it (tied to the input embeddings).
    pub fn token_logits(&self, hidden: &Tensor, positions: &[u32]) -> Result<Tensor> {
        let d = self.config.hidden;
        let flat = hidden.reshape(((), d))?;
        let idx = Tensor::from_vec(positions.to_vec(), positions.len(), self.device())?;
        let h = flat.index_select(&idx, 0)?;
        let h = self
            .mlm_norm
            .forward(&gelu(&self.mlm_transform.forward(&h)?)?)?;
        Ok(h.matmul(&self.embeddings.t()?)?
            .broadcast_add(&self.mlm_bias)?)
    }

    /// Span-boundary logits [P, V]: each (left boundary, right boundary, offset k) predicts the
    /// k-th token of a masked root span from the span's outside neighbours.
    pub fn sbo_logits(&self, hidden: &Tensor, spans: &[(u32, u32, u32)]) -> Result<Tensor> {
        let d = self.config.hidden;
        let flat = hidden.reshape(((), d))?;
        let dev = self.device();
        let left = Tensor::from_vec(
            spans.iter().map(|s| s.0).collect::<Vec<_>>(),
            spans.len(),
            dev,
        )?;
        let right = Tensor::from_vec(
            spans.iter().map(|s| s.1).collect::<Vec<_>>(),
            spans.len(),
            dev,
        )?;
        let off = Tensor::from_vec(
            spans.iter().map(|s| s.2).collect::<Vec<_>>(),
            spans.len(),
            dev,
        )?;
        let x = Tensor::cat(
            &[
                flat.index_select(&left, 0)?,
                flat.index_select(&right, 0)?,
                self.sbo_positions.index_select(&off, 0)?,
            ],
            1,
        )?;
        let h = self.sbo_norm1.forward(&gelu(&self.sbo_1.forward(&x)?)?)?;
        let h = self.sbo_norm2.forward(&gelu(&self.sbo_2.forward(&h)?)?)?;
        self.sbo_out.forward(&h)
    }

    pub fn decay_offsets(&self) -> Result<Vec<f32>> {
        Ok(self.decay_offsets.to_vec1::<f32>()?)
    }
}

/// Mean cross-entropy of logits [P, V] against targets, and how many argmaxes hit.
pub fn cross_entropy(logits: &Tensor, targets: &[u32]) -> Result<(Tensor, usize)> {
    let loss = lvmkit_models::ops::cross_entropy_rows(logits, targets)?.mean_all()?;
    let hits = logits
        .argmax(D::Minus1)?
        .to_dtype(DType::U32)?
        .to_vec1::<u32>()?
        .iter()
        .zip(targets)
        .filter(|(a, b)| a == b)
        .count();
    Ok((loss, hits))
}
