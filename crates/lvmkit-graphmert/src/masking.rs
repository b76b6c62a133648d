//! Building a chain graph for a sequence and masking it for training: whole-word root spans for
//! MLM (geometric lengths, p = 0.2, at most K tokens) with their span-boundary targets, whole
//! tails for MNM (each injected tail with probability 0.15), and 80/10/10 corruption.

use crate::chain::ChainLayout;
use crate::inject::{InjectedTriple, Sequence, Vocab};
use crate::model::{GraphBatch, TripleSlot};
use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct MaskingConfig {
    /// Share of a sequence's text roots to mask (in whole-word spans).
    pub root_rate: f64,
    /// Geometric span-length parameter (P(ℓ) ∝ p(1−p)^(ℓ−1), ℓ ≤ K).
    pub span_p: f64,
    /// Probability that an injected tail is masked whole.
    pub leaf_rate: f64,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            root_rate: 0.15,
            span_p: 0.2,
            leaf_rate: 0.15,
        }
    }
}

/// What to predict in one batch, as flat node positions (b·N + node).
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Masked roots: (position, original token).
    pub roots: Vec<(u32, u32)>,
    /// Masked leaves: (position, original token).
    pub leaves: Vec<(u32, u32)>,
    /// Span-boundary targets: (left boundary, right boundary, offset in span, token).
    pub sbo: Vec<(u32, u32, u32, u32)>,
}

/// The unmasked chain graph of one sequence and its injected triples.
pub fn graph_nodes(
    seq: &Sequence,
    triples: &[&InjectedTriple],
    layout: &ChainLayout,
    vocab: &Vocab,
) -> (Vec<u32>, Vec<f32>) {
    let n = layout.nodes();
    let mut tokens = vec![vocab.pad; n];
    let mut attend = vec![0f32; n];
    for r in 0..layout.roots {
        tokens[r] = seq.roots[r];
        attend[r] = (r < seq.len) as u8 as f32;
    }
    for t in triples {
        for (k, &tok) in t.tail_tokens.iter().take(layout.leaves).enumerate() {
            let node = layout.leaf(t.root, k);
            tokens[node] = tok;
            attend[node] = 1.0;
        }
    }
    (tokens, attend)
}

fn span_length(rng: &mut impl Rng, p: f64, max: usize) -> usize {
    // Truncated geometric by inversion over the few allowed lengths.
    let weights: Vec<f64> = (1..=max)
        .map(|l| p * (1.0 - p).powi(l as i32 - 1))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i + 1;
        }
        u -= w;
    }
    max
}

/// Whole-word spans over roots 1..len−1 (never [CLS] or [SEP]) covering about `rate` of them.
/// Returns (start, end) pairs, end exclusive.
pub fn root_spans(
    seq: &Sequence,
    vocab: &Vocab,
    cfg: &MaskingConfig,
    max_span: usize,
    rng: &mut impl Rng,
) -> Vec<(usize, usize)> {
    let (first, last) = (1, seq.len.saturating_sub(1)); // text roots: first..last
    if last <= first {
        return Vec::new();
    }
    let budget = ((cfg.root_rate * (last - first) as f64).floor() as usize).max(1);
    let starts: Vec<usize> = (first..last)
        .filter(|&i| vocab.word_start[seq.roots[i] as usize])
        .collect();
    let mut used = vec![false; seq.len];
    let mut spans = Vec::new();
    let mut masked = 0;
    for _ in 0..100 {
        if masked >= budget || starts.is_empty() {
            break;
        }
        let want = span_length(rng, cfg.span_p, max_span);
        let s = starts[rng.gen_range(0..starts.len())];
        // Extend over `want` words, each to its end ("##" pieces follow their word).
        let mut e = s;
        let mut words = 0;
        while e < last && words < want {
            e += 1;
            while e < last && vocab.continuation[seq.roots[e] as usize] {
                e += 1;
            }
            words += 1;
        }
        if e - s > max_span || used[s..e].iter().any(|&u| u) {
            continue;
        }
        used[s..e].iter_mut().for_each(|u| *u = true);
        masked += e - s;
        spans.push((s, e));
    }
    spans.sort_unstable();
    spans
}

/// 80% [MASK], 10% a random non-special token, 10% unchanged.
fn corrupt(token: &mut u32, vocab: &Vocab, rng: &mut impl Rng) {
    let u: f64 = rng.gen();
    if u < 0.8 {
        *token = vocab.mask;
    } else if u < 0.9 {
        loop {
            let t = rng.gen_range(0..vocab.size as u32);
            if !vocab.special[t as usize] {
                *token = t;
                break;
            }
        }
    }
}

/// A masked training batch of `seqs` (each with its injected triples).
pub fn masked_batch(
    seqs: &[(&Sequence, Vec<&InjectedTriple>)],
    layout: &ChainLayout,
    vocab: &Vocab,
    cfg: &MaskingConfig,
    rng: &mut impl Rng,
) -> (GraphBatch, Targets) {
    let n = layout.nodes();
    let mut tokens = Vec::with_capacity(seqs.len() * n);
    let mut attend = Vec::with_capacity(seqs.len() * n);
    let mut triples = Vec::new();
    let mut targets = Targets::default();
    for (b, (seq, injected)) in seqs.iter().enumerate() {
        let (mut tok, att) = graph_nodes(seq, injected, layout, vocab);
        let base = (b * n) as u32;
        for (s, e) in root_spans(seq, vocab, cfg, layout.leaves, rng) {
            for (k, i) in (s..e).enumerate() {
                targets.roots.push((base + i as u32, tok[i]));
                // Span boundary: the roots just outside the span, both inside the text.
                if s >= 1 && e < seq.len {
                    targets
                        .sbo
                        .push((base + s as u32 - 1, base + e as u32, k as u32, tok[i]));
                }
            }
            for t in &mut tok[s..e] {
                corrupt(t, vocab, rng);
            }
        }
        for t in injected {
            if rng.gen::<f64>() < cfg.leaf_rate {
                for k in 0..t.tail_tokens.len().min(layout.leaves) {
                    let node = layout.leaf(t.root, k);
                    targets.leaves.push((base + node as u32, tok[node]));
                    corrupt(&mut tok[node], vocab, rng);
                }
            }
            triples.push(TripleSlot {
                b,
                root: t.root,
                head_len: t.head_len,
                relation: t.relation as usize,
            });
        }
        tokens.extend(tok);
        attend.extend(att);
    }
    (
        GraphBatch {
            batch: seqs.len(),
            tokens,
            attend,
            triples,
        },
        targets,
    )
}

/// Cut a masked batch of graphs with `nodes` nodes each into parts of at most `per_part`
/// consecutive graphs, positions renumbered within each part. The masking is drawn once for the
/// whole batch, so how a batch is split changes nothing but where it runs.
pub fn split_batch(
    graphs: &GraphBatch,
    targets: &Targets,
    nodes: usize,
    per_part: usize,
) -> Vec<(GraphBatch, Targets)> {
    let per_part = per_part.max(1);
    (0..graphs.batch)
        .step_by(per_part)
        .map(|first| {
            let end = (first + per_part).min(graphs.batch);
            let (lo, hi) = ((first * nodes) as u32, (end * nodes) as u32);
            let inside = |p: u32| (lo..hi).contains(&p);
            let part = GraphBatch {
                batch: end - first,
                tokens: graphs.tokens[lo as usize..hi as usize].to_vec(),
                attend: graphs.attend[lo as usize..hi as usize].to_vec(),
                triples: graphs
                    .triples
                    .iter()
                    .filter(|t| (first..end).contains(&t.b))
                    .map(|t| TripleSlot {
                        b: t.b - first,
                        ..*t
                    })
                    .collect(),
            };
            let shift = |v: &[(u32, u32)]| -> Vec<(u32, u32)> {
                v.iter()
                    .filter(|(p, _)| inside(*p))
                    .map(|&(p, t)| (p - lo, t))
                    .collect()
            };
            let t = Targets {
                roots: shift(&targets.roots),
                leaves: shift(&targets.leaves),
                // A span's boundaries lie in its own graph.
                sbo: targets
                    .sbo
                    .iter()
                    .filter(|s| inside(s.0))
                    .map(|&(l, r, k, tok)| (l - lo, r - lo, k, tok))
                    .collect(),
            };
            (part, t)
        })
        .collect()
}
