//! The similarity filter: keep an extracted triple only when the sentence encoder finds its text,
//! "head relation tail", close enough to the sequence it came from (the paper's β filter).
//!
//! The paper's β = 0.67 belongs to Gemini's embeddings; on another encoder the same number means
//! something else (with all-MiniLM-L6-v2, "head relation tail" against a sequence that names the
//! head is ≥ 0.6 for almost any tail). So β is calibrated on the *seed* graph, never the held-out
//! edges: for seed triples whose head has its own definition, β is the similarity that a chosen
//! share of them reach. Corrupted copies (the tail swapped for a random term of the same
//! namespace) measure how well the similarity separates true from false at all (AUC).

use crate::extract::Extracted;
use crate::go::RELATIONS;
use crate::GraphData;
use anyhow::Result;
use lvmkit_encode::{EncodeOptions, SentenceEncoder};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The text of a triple as the filter embeds it: "head relation tail", relation with spaces.
pub fn triple_text(head: &str, relation: &str, tail: &str) -> String {
    format!("{head} {} {tail}", relation.replace('_', " "))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// The threshold: `keep` of the true seed triples reach it.
    pub beta: f32,
    /// Share of true seed triples kept at β.
    pub keep: f64,
    /// Seed triples sampled (and as many corrupted ones).
    pub samples: usize,
    /// Chance that a true triple scores above its corrupted copy's population.
    pub auc: f64,
    pub mean_true: f64,
    pub mean_corrupted: f64,
    /// Share of corrupted triples that β would still keep.
    pub corrupted_kept: f64,
}

/// Cosine similarity of each (triple text, sequence) pair, sequences embedded once each.
fn similarities(
    encoder: &SentenceEncoder,
    data: &GraphData,
    pairs: &[(String, usize)],
) -> Result<Vec<f32>> {
    let mut seq_row: BTreeMap<usize, usize> = BTreeMap::new();
    for (_, s) in pairs {
        let next = seq_row.len();
        seq_row.entry(*s).or_insert(next);
    }
    let mut seq_ids = vec![0; seq_row.len()];
    for (&s, &row) in &seq_row {
        seq_ids[row] = s;
    }
    let seq_texts: Vec<String> = seq_ids
        .iter()
        .map(|&s| data.sequences[s].text.clone())
        .collect();
    let triple_texts: Vec<String> = pairs.iter().map(|(t, _)| t.clone()).collect();
    let opts = EncodeOptions {
        progress: true,
        ..Default::default()
    };
    let sv = encoder.encode(&seq_texts, &opts)?;
    let tv = encoder.encode(&triple_texts, &opts)?;
    let dim = encoder.dim();
    Ok(pairs
        .iter()
        .enumerate()
        .map(|(i, (_, s))| {
            let row = seq_row[s];
            lvmkit_encode::cosine(&tv[i * dim..(i + 1) * dim], &sv[row * dim..(row + 1) * dim])
        })
        .collect())
}

/// Fill in each triple's similarity to its source sequence.
pub fn score(encoder: &SentenceEncoder, data: &GraphData, triples: &mut [Extracted]) -> Result<()> {
    let pairs: Vec<(String, usize)> = triples
        .iter()
        .map(|x| (triple_text(&x.head_name, &x.relation, &x.tail_name), x.seq))
        .collect();
    for (x, s) in triples.iter_mut().zip(similarities(encoder, data, &pairs)?) {
        x.similarity = Some(s);
    }
    Ok(())
}

/// Choose β from `samples` seed triples (seeded): the similarity that a share `keep` of them
/// reach in their head's own definition.
pub fn calibrate(
    encoder: &SentenceEncoder,
    data: &GraphData,
    samples: usize,
    keep: f64,
    seed: u64,
) -> Result<Calibration> {
    if !(0.0..=1.0).contains(&keep) || samples == 0 {
        anyhow::bail!("calibration needs samples > 0 and keep in [0, 1]");
    }
    let ont = &data.ontology;
    let own: HashMap<u32, usize> = data.sequences.iter().map(|s| (s.term, s.id)).collect();
    let usable: Vec<_> = data
        .split
        .seed
        .iter()
        .filter(|e| own.contains_key(&e.child))
        .collect();
    if usable.is_empty() {
        anyhow::bail!("no seed triple has a head with a definition to calibrate on");
    }
    let mut by_namespace: BTreeMap<_, Vec<u32>> = BTreeMap::new();
    for (i, t) in ont.terms.iter().enumerate() {
        by_namespace.entry(t.namespace).or_default().push(i as u32);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut pairs = Vec::with_capacity(2 * samples);
    for _ in 0..samples {
        let e = usable[rng.gen_range(0..usable.len())];
        let pool = &by_namespace[&ont.terms[e.parent as usize].namespace];
        let fake = loop {
            let t = pool[rng.gen_range(0..pool.len())];
            if t != e.parent && t != e.child {
                break t;
            }
        };
        let head = &ont.terms[e.child as usize].name;
        let rel = RELATIONS[e.relation as usize];
        for tail in [e.parent, fake] {
            pairs.push((
                triple_text(head, rel, &ont.terms[tail as usize].name),
                own[&e.child],
            ));
        }
    }
    let sims = similarities(encoder, data, &pairs)?;
    let truth: Vec<f32> = sims.iter().step_by(2).copied().collect();
    let corrupted: Vec<f32> = sims.iter().skip(1).step_by(2).copied().collect();
    let mut sorted = truth.clone();
    sorted.sort_by(f32::total_cmp);
    let cut = (((1.0 - keep) * sorted.len() as f64).floor() as usize).min(sorted.len() - 1);
    let beta = sorted[cut];
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    Ok(Calibration {
        beta,
        keep: truth.iter().filter(|&&s| s >= beta).count() as f64 / truth.len() as f64,
        samples,
        auc: auc(&truth, &corrupted),
        mean_true: mean(&truth),
        mean_corrupted: mean(&corrupted),
        corrupted_kept: corrupted.iter().filter(|&&s| s >= beta).count() as f64
            / corrupted.len() as f64,
    })
}

/// Area under the ROC curve: the chance that a positive outscores a negative (ties count half).
pub fn auc(positive: &[f32], negative: &[f32]) -> f64 {
    if positive.is_empty() || negative.is_empty() {
        return f64::NAN;
    }
    let mut neg = negative.to_vec();
    neg.sort_by(f32::total_cmp);
    let mut wins = 0.0;
    for p in positive {
        let below = neg.partition_point(|n| n < p);
        let ties = neg[below..].partition_point(|n| n <= p);
        wins += below as f64 + 0.5 * ties as f64;
    }
    wins / (positive.len() * neg.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_wins_and_half_ties() {
        assert_eq!(auc(&[1.0, 2.0], &[0.0, 0.5]), 1.0);
        assert_eq!(auc(&[0.0], &[1.0]), 0.0);
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
        // 3 > {1, 2}, 2 > {1} and ties {2}: (2 + 1.5) / 4.
        assert_eq!(auc(&[3.0, 2.0], &[1.0, 2.0]), 0.875);
    }

    #[test]
    fn triple_text_spells_relations_out() {
        assert_eq!(
            triple_text("mitosis", "positively_regulates", "cell cycle"),
            "mitosis positively regulates cell cycle"
        );
    }
}
