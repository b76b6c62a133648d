//! The graph-only baseline: TransE (Bordes et al. 2013) trained on the seed edges alone, then
//! asked for the tails of the held-out heads. Plain f32 loops: the model is two embedding
//! tables and a margin loss, and SGD over one edge at a time is what TransE is.

use crate::go::{Edge, Namespace, Ontology, Relation, RELATIONS};
use crate::score::Scored;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TransEConfig {
    pub dim: usize,
    pub epochs: usize,
    pub lr: f32,
    /// Margin γ of the ranking loss.
    pub margin: f32,
    pub seed: u64,
}

impl Default for TransEConfig {
    fn default() -> Self {
        Self {
            dim: 64,
            epochs: 50,
            lr: 0.01,
            margin: 1.0,
            seed: 42,
        }
    }
}

pub struct TransE {
    dim: usize,
    entities: Vec<f32>,
    relations: Vec<f32>,
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

impl TransE {
    /// ‖h + r − t‖₁ (lower is more plausible).
    pub fn distance(&self, h: u32, r: Relation, t: u32) -> f32 {
        let d = self.dim;
        let (h, r, t) = (
            &self.entities[h as usize * d..][..d],
            &self.relations[r as usize * d..][..d],
            &self.entities[t as usize * d..][..d],
        );
        h.iter()
            .zip(r)
            .zip(t)
            .map(|((h, r), t)| (h + r - t).abs())
            .sum()
    }

    /// Margin-ranking SGD with one corrupted head or tail per edge, entities renormalised to
    /// unit length every epoch. Returns the model and the mean loss of each epoch.
    pub fn train(n_entities: usize, edges: &[Edge], cfg: &TransEConfig) -> (Self, Vec<f32>) {
        Self::train_with_relations(n_entities, RELATIONS.len(), edges, cfg)
    }

    /// [`TransE::train`] for a domain with `n_relations` relations (GO has
    /// [`RELATIONS`]`.len()`).
    pub fn train_with_relations(
        n_entities: usize,
        n_relations: usize,
        edges: &[Edge],
        cfg: &TransEConfig,
    ) -> (Self, Vec<f32>) {
        let d = cfg.dim;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
        let bound = 6.0 / (d as f32).sqrt();
        let mut init =
            |n: usize| -> Vec<f32> { (0..n * d).map(|_| rng.gen_range(-bound..bound)).collect() };
        let mut model = Self {
            dim: d,
            entities: init(n_entities),
            relations: init(n_relations),
        };
        model.relations.chunks_exact_mut(d).for_each(normalize);
        let mut order: Vec<usize> = (0..edges.len()).collect();
        let mut losses = Vec::new();
        for _ in 0..cfg.epochs {
            model.entities.chunks_exact_mut(d).for_each(normalize);
            rand::seq::SliceRandom::shuffle(&mut order[..], &mut rng);
            let mut total = 0.0;
            for &i in &order {
                let e = edges[i];
                let (h, r, t) = (e.child, e.relation, e.parent);
                let corrupt = rng.gen_range(0..n_entities as u32);
                let (h2, t2) = if rng.gen::<bool>() {
                    (corrupt, t)
                } else {
                    (h, corrupt)
                };
                let loss = cfg.margin + model.distance(h, r, t) - model.distance(h2, r, t2);
                if loss <= 0.0 {
                    continue;
                }
                total += loss;
                // ∂‖x‖₁ = sign(x): pull the true triple together, push the corrupted apart.
                for k in 0..d {
                    let ent = |x: u32| x as usize * d + k;
                    let rel = r as usize * d + k;
                    let g_pos = (model.entities[ent(h)] + model.relations[rel]
                        - model.entities[ent(t)])
                    .signum();
                    let g_neg = (model.entities[ent(h2)] + model.relations[rel]
                        - model.entities[ent(t2)])
                    .signum();
                    model.entities[ent(h)] -= cfg.lr * g_pos;
                    model.entities[ent(t)] += cfg.lr * g_pos;
                    model.entities[ent(h2)] += cfg.lr * g_neg;
                    model.entities[ent(t2)] -= cfg.lr * g_neg;
                    model.relations[rel] -= cfg.lr * (g_pos - g_neg);
                }
            }
            losses.push(total / edges.len().max(1) as f32);
        }
        (model, losses)
    }

    /// The `k` most plausible tails for each held-out head under each relation its namespace
    /// uses in the seed graph, tails restricted to the namespaces that relation reaches there;
    /// score = −distance. Seed triples are not proposed again.
    pub fn predict(
        &self,
        ont: &Ontology,
        seed: &[Edge],
        heads: &BTreeSet<u32>,
        k: usize,
    ) -> Vec<Scored> {
        let ns = |t: u32| ont.terms[t as usize].namespace;
        let allowed: HashSet<(Relation, Namespace, Namespace)> = seed
            .iter()
            .map(|e| (e.relation, ns(e.child), ns(e.parent)))
            .collect();
        let known: HashSet<(u32, Relation, u32)> = seed
            .iter()
            .map(|e| (e.child, e.relation, e.parent))
            .collect();
        let n = ont.terms.len() as u32;
        heads
            .par_iter()
            .flat_map_iter(|&h| {
                let mut out = Vec::new();
                for r in 0..RELATIONS.len() as Relation {
                    let mut cands: Vec<(f32, u32)> = (0..n)
                        .filter(|&t| {
                            t != h
                                && allowed.contains(&(r, ns(h), ns(t)))
                                && !known.contains(&(h, r, t))
                        })
                        .map(|t| (self.distance(h, r, t), t))
                        .collect();
                    if cands.is_empty() {
                        continue;
                    }
                    let kk = k.min(cands.len());
                    cands.select_nth_unstable_by(kk - 1, |a, b| {
                        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
                    });
                    cands.truncate(kk);
                    cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    out.extend(cands.into_iter().map(|(dist, t)| Scored {
                        head: h,
                        relation: r,
                        tail: t,
                        score: -dist as f64,
                        seq: usize::MAX,
                    }));
                }
                out
            })
            .collect()
    }
}
