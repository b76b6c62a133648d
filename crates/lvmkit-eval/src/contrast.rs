//! Two per-row metrics beyond cosine and retrieval, computed for models and baselines alike on
//! the same windows and the same bank as [`crate::retrieval`].
//!
//! **Contrastive accuracy** (CA), after Meta's "Large Concept Models": for window i with
//! prediction p and true next concept t (a concept row), CA_i is the share of the *contrast
//! set* whose cosine with p is lower than t's, a tie counting one half:
//!
//! CA_i = (#{c : s_c < s_t} + ½·#{c : s_c = s_t}) / |contrast set|, with s_c = p·c.
//!
//! The contrast set is every concept of the bank (duplicates included, each copy counting once,
//! as for the ranks) except
//! * the target row itself and every bank concept whose vector is bit-identical to the target's
//!   (the same sentence elsewhere: the retrieval code's duplicate rule, so a copy of the target
//!   is neither a win nor a loss), and
//! * the target's immediate neighbours in its document, rows t−1 and t+1 when they belong to
//!   the same document (t−1 always does: it is the last context sentence). A neighbour that is
//!   a copy of the target is excluded once, as a copy.
//!
//! Window i's CA is ½ (chance) when its contrast set is empty. The row's CA is the mean over
//! windows, summed in window order. It is exact over the whole bank: it comes from the same
//! pass over the scores as the ranks ([`BankIndex::standings`]), whose counts are integers, so
//! it does not depend on the number of threads. 1 = the truth always beats every other
//! concept; 0.5 = chance.
//!
//! **Paraphrase ratio**: mean over windows of max_k cos(p_i, context_k), divided by the mean
//! over windows of max_k cos(t_i, context_k), context_k being the window's real context
//! concepts. A ratio of means, so a window whose truth is orthogonal to its context cannot blow
//! it up. Above 1, predictions sit closer to their context than the truths do (the model copies
//! its context); the oracle scores exactly 1. It is NaN (`null` in JSON) when the truths' mean
//! is not positive.
//!
//! [`BankIndex::standings`]: crate::retrieval::BankIndex::standings

use lvmkit_dataset::{Dataset, Window};
use rayon::prelude::*;
use std::cmp::Ordering;

use crate::linalg::cosine;
use crate::retrieval::Standing;

/// The rows t−1 and t+1 of each window's target t, each when it belongs to the target's
/// document.
pub fn neighbours(ds: &Dataset, windows: &[Window]) -> Vec<[Option<usize>; 2]> {
    windows
        .iter()
        .map(|w| {
            let doc = &ds.documents[w.doc];
            let t = w.target;
            let inside = |r: usize| (doc.start..doc.start + doc.len).contains(&r);
            [
                t.checked_sub(1).filter(|&r| inside(r)),
                Some(t + 1).filter(|&r| inside(r)),
            ]
        })
        .collect()
}

/// CA of one window whose target stands at `s` in a bank of `bank_size` concepts.
pub fn window_contrastive_accuracy(s: &Standing, bank_size: usize) -> f64 {
    let (mut above, mut tied) = (s.above as usize, s.tied as usize - s.copies as usize);
    let mut below = bank_size - s.above as usize - s.tied as usize;
    for n in s.neighbours.iter().flatten() {
        match n {
            Ordering::Greater => above -= 1,
            Ordering::Equal => tied -= 1,
            Ordering::Less => below -= 1,
        }
    }
    let contrast = above + tied + below;
    if contrast == 0 {
        return 0.5;
    }
    (below as f64 + 0.5 * tied as f64) / contrast as f64
}

/// The mean CA over windows, summed in window order.
pub fn contrastive_accuracy(standings: &[Standing], bank_size: usize) -> f64 {
    standings
        .iter()
        .map(|s| window_contrastive_accuracy(s, bank_size))
        .sum::<f64>()
        / standings.len() as f64
}

/// max_k cos(vector_of(i), context_k) for each window i.
pub fn max_context_cosines<'a>(
    ds: &Dataset,
    windows: &[Window],
    vector_of: impl Fn(usize) -> &'a [f32] + Sync,
) -> Vec<f64> {
    let d = ds.dim();
    (0..windows.len())
        .into_par_iter()
        .map(|i| {
            ds.context_of(&windows[i])
                .chunks_exact(d)
                .map(|c| cosine(vector_of(i), c))
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

/// Mean of the predictions' max context cosines over the truths' mean (each summed in window
/// order); NaN when the truths' mean is not positive.
pub fn paraphrase_ratio(predicted: &[f64], truth: &[f64]) -> f64 {
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let t = mean(truth);
    if t > 0.0 {
        mean(predicted) / t
    } else {
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use crate::baselines;
    use crate::report::{evaluate, EvalOptions, ModelPredictions};
    use crate::ridge::Ridge;
    use crate::testdata::{unit, write_dataset, Doc};
    use lvmkit_dataset::{Dataset, Window};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const D: usize = 16;
    const C: usize = 2;

    fn axis(i: usize) -> Vec<f32> {
        let mut v = vec![0.0; D];
        v[i] = 1.0;
        v
    }

    /// Test documents made of the given axes (one-hot vectors, so every score against the bank
    /// is one component of the prediction: exact in f32 and f64 alike, ties included); train
    /// and val documents of random vectors, for the global mean and the ridge.
    fn dataset(dir: &std::path::Path, test: &[&[usize]]) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut docs = vec![];
        for (split, n, len) in [("train", 5, 7), ("val", 2, 6)] {
            for _ in 0..n {
                docs.push(Doc::new(
                    split,
                    (0..len).map(|_| unit(&mut rng, D)).collect(),
                ));
            }
        }
        for axes in test {
            docs.push(Doc::new("test", axes.iter().map(|&a| axis(a)).collect()));
        }
        write_dataset(dir, D, C, &docs)
    }

    /// Duplicate sentences within and across documents (e1 twice in the first, e0 in the first
    /// two), a target whose neighbour is its copy (e7, e7), a document too short for a window.
    const WITH_DUPLICATES: [&[usize]; 4] = [
        &[0, 1, 2, 1, 3, 4],
        &[5, 6, 0, 7, 7, 8],
        &[9, 10, 11],
        &[12],
    ];

    fn per_window(ds: &Dataset, f: impl FnMut(&Window) -> Vec<f32>) -> Vec<f32> {
        let mut out: Vec<f32> = ds.windows("test").unwrap().iter().flat_map(f).collect();
        crate::linalg::normalise_rows(&mut out, D);
        out
    }

    fn model(name: &str, predictions: Vec<f32>) -> ModelPredictions {
        ModelPredictions {
            name: name.into(),
            predictions,
        }
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    /// CA by its definition, one bank concept at a time: (wins + ties / 2) / contrast set,
    /// where the contrast set is the test documents' concepts minus the target, its copies and
    /// its neighbours in its document. Also returns how many ties it met.
    fn brute_force_ca(ds: &Dataset, pred: &[f32]) -> (f64, usize) {
        let windows = ds.windows("test").unwrap();
        let bank: Vec<usize> = ds
            .documents
            .iter()
            .filter(|d| d.split == "test")
            .flat_map(|d| d.start..d.start + d.len)
            .collect();
        let (mut sum, mut ties) = (0.0, 0);
        for (i, w) in windows.iter().enumerate() {
            let p = &pred[i * D..(i + 1) * D];
            let t = w.target;
            let doc = &ds.documents[w.doc];
            let in_doc = |r: usize| r >= doc.start && r < doc.start + doc.len;
            let st = dot(p, ds.concepts.row(t));
            let (mut wins, mut n) = (0.0, 0);
            for &r in &bank {
                let copy = ds.concepts.row(r) == ds.concepts.row(t);
                let neighbour = (r + 1 == t || r == t + 1) && in_doc(r);
                if r == t || copy || neighbour {
                    continue;
                }
                n += 1;
                let s = dot(p, ds.concepts.row(r));
                if s < st {
                    wins += 1.0;
                } else if s == st {
                    wins += 0.5;
                    ties += 1;
                }
            }
            sum += if n == 0 { 0.5 } else { wins / n as f64 };
        }
        (sum / windows.len() as f64, ties)
    }

    /// max_k cos(v, context_k), plainly.
    fn max_context_cosine(ds: &Dataset, w: &Window, v: &[f32]) -> f64 {
        let norm = |x: &[f32]| dot(x, x).sqrt();
        (w.start..w.target)
            .map(|r| {
                let c = ds.concepts.row(r);
                dot(v, c) / (norm(v) * norm(c))
            })
            .fold(f64::NEG_INFINITY, f64::max)
    }

    #[test]
    fn every_row_matches_a_brute_force_computation() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path(), &WITH_DUPLICATES);
        let windows = ds.windows("test").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        // Small integer components: many exact ties among the bank's axes.
        let mut quantised = || {
            per_window(&ds, |_| {
                let mut v: Vec<f32> = (0..D).map(|_| rng.gen_range(-1..=2) as f32).collect();
                v[0] += 0.5; // never the zero vector
                v
            })
        };
        let models = [model("a", quantised()), model("b", quantised())];
        let ridge = Ridge::fit(&ds).unwrap();
        let opts = EvalOptions {
            ridge: Some(&ridge),
            ..Default::default()
        };
        let report = evaluate(&ds, "test", &models, &opts).unwrap();
        assert_eq!(report.windows, 9);
        assert_eq!((report.bank_size, report.bank_unique), (16, 13));

        let global = baselines::global_mean(&ds).unwrap();
        let rows: Vec<(&str, Vec<f32>)> = vec![
            ("a", models[0].predictions.clone()),
            ("b", models[1].predictions.clone()),
            ("copy_last", baselines::copy_last(&ds, &windows)),
            ("context_mean", baselines::context_mean(&ds, &windows)),
            (
                "global_mean",
                windows.iter().flat_map(|_| global.clone()).collect(),
            ),
            ("ridge", ridge.predict_windows(&ds, &windows).unwrap()),
        ];
        assert_eq!(report.rows.len(), rows.len());
        let truth: f64 = windows
            .iter()
            .map(|w| max_context_cosine(&ds, w, ds.target_of(w)))
            .sum::<f64>()
            / windows.len() as f64;
        let mut all_ties = 0;
        for (name, pred) in &rows {
            let row = report.row(name).unwrap();
            let (ca, ties) = brute_force_ca(&ds, pred);
            all_ties += ties;
            assert!(
                (row.contrastive_accuracy - ca).abs() < 1e-12,
                "{name}: CA {} vs brute force {ca}",
                row.contrastive_accuracy
            );
            let predicted: f64 = windows
                .iter()
                .enumerate()
                .map(|(i, w)| max_context_cosine(&ds, w, &pred[i * D..(i + 1) * D]))
                .sum::<f64>()
                / windows.len() as f64;
            assert!(
                (row.paraphrase_ratio - predicted / truth).abs() < 1e-12,
                "{name}: paraphrase {} vs {}",
                row.paraphrase_ratio,
                predicted / truth
            );
        }
        assert!(all_ties > 50, "the case should exercise ties ({all_ties})");
    }

    #[test]
    fn an_oracle_scores_one_despite_duplicate_targets() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path(), &WITH_DUPLICATES);
        let oracle = per_window(&ds, |w| ds.target_of(w).to_vec());
        let report = evaluate(
            &ds,
            "test",
            &[model("oracle", oracle)],
            &EvalOptions::default(),
        )
        .unwrap();
        let row = report.row("oracle").unwrap();
        // Copies of the target (e1, e0, e7 twice) would tie with it; they are left out.
        assert_eq!(row.contrastive_accuracy, 1.0);
        assert_eq!(row.paraphrase_ratio, 1.0);
        assert_eq!(row.retrieval.recall_at_1, 1.0);
    }

    #[test]
    fn copy_last_paraphrase_ratio_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path(), &WITH_DUPLICATES);
        let report = evaluate(&ds, "test", &[], &EvalOptions::default()).unwrap();
        // copy_last predicts a context sentence: its max context cosine is 1 in every window.
        // The truth's is 1 in two of the nine windows (the second e1 follows e1, e2; the second
        // e7 follows e0, e7) and 0 in the others (orthogonal axes): mean 2/9, ratio 1/(2/9).
        let copy = report.row("copy_last").unwrap();
        assert!((copy.paraphrase_ratio - 4.5).abs() < 1e-12, "{copy:?}");
        // The global mean sits no closer to one window's context than to another's, but the
        // ratio is still a number.
        assert!(report
            .row("global_mean")
            .unwrap()
            .paraphrase_ratio
            .is_finite());
    }

    #[test]
    fn neighbours_closer_than_the_target_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        // Distinct axes: no copies, so only the neighbours are left out.
        let ds = dataset(dir.path(), &[&[0, 1, 2, 3, 4], &[5, 6, 7, 8], &[9]]);
        let windows = ds.windows("test").unwrap();
        let row = |r: usize| ds.concepts.row(r).to_vec();
        let in_doc = |w: &Window, r: usize| {
            let d = &ds.documents[w.doc];
            r >= d.start && r < d.start + d.len
        };
        // Twice the weight on the sentences before and after the target as on the target.
        let near = per_window(&ds, |w| {
            let mut v = row(w.target);
            for r in [w.target - 1, w.target + 1] {
                if in_doc(w, r) {
                    v.iter_mut().zip(row(r)).for_each(|(a, b)| *a += 2.0 * b);
                }
            }
            v
        });
        // The same weight on the first context sentence, which is no neighbour.
        let far = per_window(&ds, |w| {
            let mut v = row(w.target);
            v.iter_mut()
                .zip(row(w.start))
                .for_each(|(a, b)| *a += 2.0 * b);
            v
        });
        let report = evaluate(
            &ds,
            "test",
            &[model("near", near), model("far", far)],
            &EvalOptions::default(),
        )
        .unwrap();
        let near = report.row("near").unwrap();
        assert_eq!(
            near.retrieval.recall_at_1, 0.0,
            "the neighbours score higher"
        );
        assert_eq!(near.contrastive_accuracy, 1.0);
        // One concept of the contrast set beats the target in every window.
        let bank = 10;
        let expected = windows
            .iter()
            .map(|w| {
                let neighbours = [w.target - 1, w.target + 1]
                    .iter()
                    .filter(|&&r| in_doc(w, r))
                    .count();
                let contrast = (bank - 1 - neighbours) as f64;
                (contrast - 1.0) / contrast
            })
            .sum::<f64>()
            / windows.len() as f64;
        let far = report.row("far").unwrap();
        assert!(
            (far.contrastive_accuracy - expected).abs() < 1e-12,
            "{far:?}"
        );
    }
}
