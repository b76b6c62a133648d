//! Retrieval of the true next concept among a bank of concepts.
//!
//! The target is identified by its concept id (the window's `target` row), never by looking up
//! its vector, and ranked among every concept of the bank: all sentences of all documents of
//! the split (`Bank::Split`), including the ones that are never a target, or of the whole
//! corpus (`Bank::Corpus`). The score is the dot product with the prediction (the bank is
//! unit-norm, so this orders by cosine).
//!
//! **Ties.** rank = 1 + the number of bank concepts whose score is *strictly* greater than the
//! target's. The bank is deduplicated by exact vector (bit-identical rows, i.e. duplicate
//! sentences) before scoring, each unique vector keeping its multiplicity, so a duplicate of
//! the target is an exact tie by construction (it cannot be ranked above the target by a
//! rounding difference in the matrix product), while a duplicated wrong answer still counts
//! once per copy.
//!
//! The same pass also counts exact ties and how the target's neighbours score
//! ([`Standing`]), from which [`crate::contrast`] derives the contrastive accuracy.

use anyhow::{bail, Result};
use candle_core::Tensor;
use lvmkit_dataset::Dataset;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::linalg::{tensor, values};

/// Which concepts a target is ranked among.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Bank {
    /// Every concept of the evaluated split's documents.
    #[default]
    Split,
    /// Every concept of the dataset: harder, slower.
    Corpus,
}

impl std::fmt::Display for Bank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bank::Split => "split",
            Bank::Corpus => "corpus",
        })
    }
}

/// Score matrices are computed a block of predictions at a time, at most this many scores
/// (128 MiB of f32) per block: large enough for the matrix product to run at full speed.
const SCORE_BUDGET: usize = 1 << 25;
const MAX_BLOCK: usize = 1024;

/// A deduplicated concept bank, ready to score predictions against.
pub struct BankIndex {
    dim: usize,
    /// Number of concepts, duplicates included.
    size: usize,
    /// The unique vectors, [unique, dim].
    vectors: Tensor,
    /// How many concepts share each unique vector.
    multiplicity: Vec<u32>,
    /// Concept row → its unique vector.
    slot: HashMap<usize, u32>,
    /// Unique vector → the first concept row (in the order given) that holds it.
    first_row: Vec<usize>,
}

impl BankIndex {
    /// The bank for evaluating `split` of `ds`.
    pub fn build(ds: &Dataset, split: &str, bank: Bank) -> Result<Self> {
        let rows: Vec<usize> = match bank {
            Bank::Split => ds
                .documents
                .iter()
                .filter(|d| d.split == split)
                .flat_map(|d| d.start..d.start + d.len)
                .collect(),
            Bank::Corpus => (0..ds.manifest.concepts).collect(),
        };
        if rows.is_empty() {
            bail!(
                "dataset {}: the {bank} bank for split '{split}' has no concepts",
                ds.dir.display()
            );
        }
        Self::from_rows(ds.concepts.data(), ds.dim(), &rows)
    }

    /// A bank of the given rows of a row-major [N, dim] concept matrix.
    pub fn from_rows(concepts: &[f32], dim: usize, rows: &[usize]) -> Result<Self> {
        let n = concepts.len() / dim;
        if let Some(r) = rows.iter().find(|&&r| r >= n) {
            bail!("bank row {r} is out of range (the concept matrix has {n} rows)");
        }
        let row = |r: usize| &concepts[r * dim..(r + 1) * dim];
        // Group bit-identical rows: hash the bits, then compare within a hash bucket.
        let mut buckets: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut unique_rows: Vec<usize> = Vec::new();
        let mut multiplicity: Vec<u32> = Vec::new();
        let mut slot = HashMap::with_capacity(rows.len());
        for &r in rows {
            let bits = || row(r).iter().map(|x| x.to_bits());
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bits().for_each(|b| b.hash(&mut h));
            let bucket = buckets.entry(h.finish()).or_default();
            let found = bucket.iter().copied().find(|&u| {
                row(unique_rows[u as usize])
                    .iter()
                    .map(|x| x.to_bits())
                    .eq(bits())
            });
            let u = match found {
                Some(u) => u,
                None => {
                    let u = unique_rows.len() as u32;
                    unique_rows.push(r);
                    multiplicity.push(0);
                    bucket.push(u);
                    u
                }
            };
            multiplicity[u as usize] += 1;
            slot.insert(r, u);
        }
        let mut data = Vec::with_capacity(unique_rows.len() * dim);
        for &r in &unique_rows {
            data.extend_from_slice(row(r));
        }
        Ok(Self {
            dim,
            size: rows.len(),
            vectors: tensor(&data, unique_rows.len(), dim)?,
            multiplicity,
            slot,
            first_row: unique_rows,
        })
    }

    /// For each unique vector, the first concept row that holds it.
    pub fn unique_rows(&self) -> &[usize] {
        &self.first_row
    }

    /// Number of concepts in the bank, duplicates included.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Number of distinct vectors in the bank.
    pub fn unique(&self) -> usize {
        self.multiplicity.len()
    }

    fn slots(&self, targets: &[usize]) -> Result<Vec<u32>> {
        targets
            .iter()
            .map(|t| match self.slot.get(t) {
                Some(&u) => Ok(u),
                None => bail!("target concept {t} is not in the bank"),
            })
            .collect()
    }

    /// The rank of each target concept under its prediction (row i of `predictions`, row-major
    /// [targets.len(), dim]), by the tie rule of the module documentation.
    pub fn ranks(&self, predictions: &[f32], targets: &[usize]) -> Result<Vec<u32>> {
        let none = vec![[None; 2]; targets.len()];
        Ok(self
            .standings(predictions, targets, &none)?
            .iter()
            .map(Standing::rank)
            .collect())
    }

    /// Where each target concept stands under its prediction (row i of `predictions`,
    /// row-major [targets.len(), dim]), with how each of its `neighbours` (concept rows, e.g.
    /// the sentences before and after the target) compares: one pass over the bank gives both
    /// the rank and the contrastive accuracy ([`crate::contrast`]).
    pub fn standings(
        &self,
        predictions: &[f32],
        targets: &[usize],
        neighbours: &[[Option<usize>; 2]],
    ) -> Result<Vec<Standing>> {
        let d = self.dim;
        if predictions.len() != targets.len() * d {
            bail!(
                "{} prediction values for {} targets of dimension {d}",
                predictions.len(),
                targets.len()
            );
        }
        let slots = self.slots(targets)?;
        let near = self.neighbour_slots(&slots, neighbours)?;
        let u = self.unique();
        let block = (SCORE_BUDGET / u).clamp(1, MAX_BLOCK);
        let bank_t = self.vectors.t()?;
        let mut out = Vec::with_capacity(targets.len());
        for ((preds, slots), near) in predictions
            .chunks(block * d)
            .zip(slots.chunks(block))
            .zip(near.chunks(block))
        {
            let q = tensor(preds, slots.len(), d)?;
            let scores = values(&q.matmul(&bank_t)?)?;
            let block_out: Vec<Standing> = scores
                .par_chunks_exact(u)
                .zip(slots.par_iter().zip(near.par_iter()))
                .map(|(row, (&t, near))| {
                    let target = row[t as usize];
                    let (above, tied) = self.count_above_and_tied(row, target);
                    Standing {
                        above,
                        tied,
                        copies: self.multiplicity[t as usize],
                        neighbours: near.map(|n| n.map(|n| compare(row[n as usize], target))),
                    }
                })
                .collect();
            out.extend(block_out);
        }
        Ok(out)
    }

    /// Ranks for one prediction shared by every target (the global-mean baseline): one score
    /// vector, sorted once, instead of a product per window.
    pub fn ranks_constant(&self, prediction: &[f32], targets: &[usize]) -> Result<Vec<u32>> {
        let none = vec![[None; 2]; targets.len()];
        Ok(self
            .standings_constant(prediction, targets, &none)?
            .iter()
            .map(Standing::rank)
            .collect())
    }

    /// [`BankIndex::standings`] for one prediction shared by every target.
    pub fn standings_constant(
        &self,
        prediction: &[f32],
        targets: &[usize],
        neighbours: &[[Option<usize>; 2]],
    ) -> Result<Vec<Standing>> {
        if prediction.len() != self.dim {
            bail!(
                "a prediction of {} values for a bank of dimension {}",
                prediction.len(),
                self.dim
            );
        }
        let slots = self.slots(targets)?;
        let near = self.neighbour_slots(&slots, neighbours)?;
        let scores = values(&tensor(prediction, 1, self.dim)?.matmul(&self.vectors.t()?)?)?;
        let mut order: Vec<(f32, u32)> = scores
            .iter()
            .copied()
            .zip(self.multiplicity.iter().copied())
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        // above[i] = concepts among the first i entries (the i highest scores).
        let mut above = Vec::with_capacity(order.len() + 1);
        above.push(0u32);
        for (_, m) in &order {
            above.push(above.last().unwrap() + m);
        }
        Ok(slots
            .iter()
            .zip(&near)
            .map(|(&t, near)| {
                let st = scores[t as usize];
                let higher = above[order.partition_point(|(s, _)| *s > st)];
                let at_least = above[order.partition_point(|(s, _)| *s >= st)];
                Standing {
                    above: higher,
                    tied: at_least - higher,
                    copies: self.multiplicity[t as usize],
                    neighbours: near.map(|n| n.map(|n| compare(scores[n as usize], st))),
                }
            })
            .collect())
    }

    /// The unique vector of each neighbour row that is in the bank and does not share its
    /// target's vector (those copies are accounted for by [`Standing::copies`]).
    fn neighbour_slots(
        &self,
        slots: &[u32],
        neighbours: &[[Option<usize>; 2]],
    ) -> Result<Vec<[Option<u32>; 2]>> {
        if neighbours.len() != slots.len() {
            bail!(
                "{} neighbour pairs for {} targets",
                neighbours.len(),
                slots.len()
            );
        }
        Ok(slots
            .iter()
            .zip(neighbours)
            .map(|(&t, pair)| {
                pair.map(|n| {
                    n.and_then(|n| self.slot.get(&n).copied())
                        .filter(|&u| u != t)
                })
            })
            .collect())
    }

    /// The `k` nearest distinct vectors to each query (row-major [n, dim]) by dot product
    /// (cosine for unit vectors), best first, as (concept row, score). A vector shared by
    /// several concepts is reported once, under its first concept row.
    pub fn nearest(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(usize, f32)>>> {
        let d = self.dim;
        if !queries.len().is_multiple_of(d) {
            bail!(
                "{} query values are not a multiple of the bank's dimension {d}",
                queries.len()
            );
        }
        let first_row = &self.first_row;
        let u = self.unique();
        let k = k.min(u);
        let block = (SCORE_BUDGET / u).clamp(1, MAX_BLOCK);
        let bank_t = self.vectors.t()?;
        let mut out = Vec::with_capacity(queries.len() / d);
        for chunk in queries.chunks(block * d) {
            let scores = values(&tensor(chunk, chunk.len() / d, d)?.matmul(&bank_t)?)?;
            out.extend(
                scores
                    .par_chunks_exact(u)
                    .map(|row| {
                        let mut idx: Vec<u32> = (0..u as u32).collect();
                        let by_score =
                            |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]);
                        if k < u {
                            idx.select_nth_unstable_by(k, by_score);
                            idx.truncate(k);
                        }
                        idx.sort_by(by_score);
                        idx.iter()
                            .map(|&i| (first_row[i as usize], row[i as usize]))
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>(),
            );
        }
        Ok(out)
    }

    /// Concepts scoring strictly above `target`, and exactly at it.
    fn count_above_and_tied(&self, scores: &[f32], target: f32) -> (u32, u32) {
        let (mut above, mut tied) = (0u32, 0u32);
        for (&s, &m) in scores.iter().zip(&self.multiplicity) {
            above += m * u32::from(s > target);
            tied += m * u32::from(s == target);
        }
        (above, tied)
    }
}

/// How a score compares with the target's, by the same `>` and `==` the counts use (so that
/// 0.0 and -0.0 tie).
fn compare(score: f32, target: f32) -> Ordering {
    if score > target {
        Ordering::Greater
    } else if score == target {
        Ordering::Equal
    } else {
        Ordering::Less
    }
}

/// Where one target stands among the bank under its prediction, counted over concepts
/// (duplicates included), from one pass over the scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Concepts scoring strictly above the target.
    pub above: u32,
    /// Concepts scoring exactly the target's score, the target and its copies included.
    pub tied: u32,
    /// Concepts whose vector is bit-identical to the target's, the target included.
    pub copies: u32,
    /// For each neighbour asked about that is in the bank and is not a copy of the target:
    /// how its score compares with the target's.
    pub neighbours: [Option<Ordering>; 2],
}

impl Standing {
    /// The rank of the module documentation: 1 + the concepts scoring strictly above.
    pub fn rank(&self) -> u32 {
        1 + self.above
    }
}

/// Retrieval metrics of a list of ranks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    pub mrr: f64,
    /// The middle rank (the mean of the two middle ones for an even count).
    pub median_rank: f64,
}

impl RetrievalMetrics {
    pub fn from_ranks(ranks: &[u32]) -> Self {
        let n = ranks.len() as f64;
        let recall = |k: u32| ranks.iter().filter(|&&r| r <= k).count() as f64 / n;
        let mut sorted = ranks.to_vec();
        sorted.sort_unstable();
        let m = sorted.len();
        let median_rank = if m == 0 {
            f64::NAN
        } else if m % 2 == 1 {
            sorted[m / 2] as f64
        } else {
            (sorted[m / 2 - 1] as f64 + sorted[m / 2] as f64) / 2.0
        };
        Self {
            recall_at_1: recall(1),
            recall_at_5: recall(5),
            recall_at_10: recall(10),
            mrr: ranks.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / n,
            median_rank,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: usize = 16;

    fn one_hot(i: usize) -> Vec<f32> {
        let mut v = vec![0.0; D];
        v[i] = 1.0;
        v
    }

    /// A prediction with weight `w` on each listed axis, normalised.
    fn pred(weights: &[(usize, f32)]) -> Vec<f32> {
        let mut v = vec![0.0; D];
        for &(i, w) in weights {
            v[i] = w;
        }
        crate::linalg::normalise_rows(&mut v, D);
        v
    }

    /// Bank: rows 0..14 are the axes e0..e13 and row 14 duplicates e13; row 15 (e15) is not in
    /// the bank. Targets are given by concept row.
    fn bank() -> (Vec<f32>, BankIndex) {
        let mut concepts: Vec<f32> = (0..14).flat_map(one_hot).collect();
        concepts.extend(one_hot(13));
        concepts.extend(one_hot(15));
        let rows: Vec<usize> = (0..15).collect();
        let index = BankIndex::from_rows(&concepts, D, &rows).unwrap();
        (concepts, index)
    }

    #[test]
    fn nearest_returns_distinct_vectors_best_first() {
        let (_, index) = bank();
        // Weights 3 on e2, 2 on e13 (rows 13 and 14 share it), 1 on e5.
        let q = pred(&[(2, 3.0), (13, 2.0), (5, 1.0)]);
        let hits = index.nearest(&q, 3).unwrap();
        let rows: Vec<usize> = hits[0].iter().map(|h| h.0).collect();
        assert_eq!(rows, vec![2, 13, 5]);
        assert!(hits[0][0].1 > hits[0][1].1 && hits[0][1].1 > hits[0][2].1);
        // k beyond the bank: every distinct vector once.
        assert_eq!(index.nearest(&q, 100).unwrap()[0].len(), 14);
    }

    #[test]
    fn ranks_known_by_hand() {
        let (_, index) = bank();
        assert_eq!(index.size(), 15);
        assert_eq!(index.unique(), 14);
        // Target row 0 (e0) every time; the prediction puts `k` other axes above it.
        let above = |k: usize| {
            let mut w = vec![(0, 0.5)];
            w.extend((1..=k).map(|i| (i, 1.0)));
            pred(&w)
        };
        let cases: Vec<(Vec<f32>, usize, u32)> = vec![
            (above(0), 0, 1),
            (above(2), 0, 3),
            (above(11), 0, 12),
            // Ties with other concepts do not count: e1 and e2 score exactly like e0.
            (pred(&[(0, 1.0), (1, 1.0), (2, 1.0), (3, 2.0)]), 0, 2),
            // Target row 14 is a duplicate of row 13 (same sentence twice): an exact tie with
            // its twin, so rank 1 when the prediction is e13.
            (one_hot(13), 14, 1),
            (one_hot(13), 13, 1),
            // A duplicated wrong answer counts twice: e13 (rows 13 and 14) above e0.
            (pred(&[(0, 0.5), (13, 1.0)]), 0, 3),
            // The prediction ignores the target e5: only e7 scores above its 0; the rest tie.
            (one_hot(7), 5, 2),
        ];
        let preds: Vec<f32> = cases.iter().flat_map(|c| c.0.clone()).collect();
        let targets: Vec<usize> = cases.iter().map(|c| c.1).collect();
        let expected: Vec<u32> = cases.iter().map(|c| c.2).collect();
        assert_eq!(index.ranks(&preds, &targets).unwrap(), expected);

        let m = RetrievalMetrics::from_ranks(&expected);
        // Ranks 1, 3, 12, 2, 1, 1, 3, 2.
        assert_eq!(m.recall_at_1, 3.0 / 8.0);
        assert_eq!(m.recall_at_5, 7.0 / 8.0);
        assert_eq!(m.recall_at_10, 7.0 / 8.0);
        let mrr = (1.0 + 1.0 / 3.0 + 1.0 / 12.0 + 0.5 + 1.0 + 1.0 + 1.0 / 3.0 + 0.5) / 8.0;
        assert!((m.mrr - mrr).abs() < 1e-12);
        assert_eq!(m.median_rank, 2.0);
    }

    #[test]
    fn constant_prediction_ranks_match_the_general_path() {
        let (_, index) = bank();
        let p = pred(&[(3, 1.0), (4, 0.5), (13, 0.7), (0, 0.5)]);
        let targets: Vec<usize> = (0..15).collect();
        let preds: Vec<f32> = targets.iter().flat_map(|_| p.clone()).collect();
        let general = index.ranks(&preds, &targets).unwrap();
        assert_eq!(index.ranks_constant(&p, &targets).unwrap(), general);
        // e3 first, e13 ×2 next, then e0 and e4 tied, then nine zeros tied.
        assert_eq!(general[3], 1);
        assert_eq!(general[13], 2);
        assert_eq!(general[14], 2);
        assert_eq!(general[0], 4);
        assert_eq!(general[4], 4);
        assert_eq!(general[5], 6);
    }

    #[test]
    fn a_target_outside_the_bank_is_an_error() {
        let (_, index) = bank();
        let err = index.ranks(&one_hot(0), &[15]).unwrap_err().to_string();
        assert!(err.contains("concept 15"), "{err}");
    }

    #[test]
    fn blocks_do_not_change_ranks() {
        // More predictions than one block holds (the block is 1024 rows for this small bank).
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let concepts: Vec<f32> = (0..50)
            .flat_map(|_| crate::testdata::unit(&mut rng, D))
            .collect();
        let index = BankIndex::from_rows(&concepts, D, &(0..50).collect::<Vec<_>>()).unwrap();
        let n = 2500;
        let targets: Vec<usize> = (0..n).map(|i| i % 50).collect();
        let preds: Vec<f32> = (0..n)
            .flat_map(|_| crate::testdata::unit(&mut rng, D))
            .collect();
        let ranks = index.ranks(&preds, &targets).unwrap();
        for (i, &t) in targets.iter().enumerate() {
            let p = &preds[i * D..(i + 1) * D];
            let s = |r: usize| crate::linalg::dot(p, &concepts[r * D..(r + 1) * D]);
            let above = (0..50).filter(|&r| s(r) > s(t) + 1e-6).count() as u32;
            let at_most = (0..50).filter(|&r| s(r) > s(t) - 1e-6).count() as u32;
            assert!(
                ranks[i] > above && ranks[i] <= at_most,
                "window {i}: rank {}",
                ranks[i]
            );
        }
    }
}
