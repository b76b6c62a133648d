//! Means and centred Gram matrix of the training windows, for the ridge baseline.
//!
//! Stack each window as z = [x₀ … x_{C-1} | y] ((C+1)·D values: the context concepts, then the
//! target). Computed row by row, ZᵀZ costs n·((C+1)·D)² multiply-adds: 1.3 TFLOP for the
//! default dataset. But consecutive windows share concepts: block (p, q) of ZᵀZ is
//! Σ_k c[s+k+p]·c[s+k+q]ᵀ over the windows k of a run starting at concept s, which is the
//! sum of *all* lag-(q-p) products of the run's concepts minus the few (C - (q-p)) that fall
//! before or after the window range. So one D×D product per lag over the concepts, plus small
//! edge corrections, gives every block: about C+1 times less work.

use anyhow::{bail, Result};
use lvmkit_dataset::Window;
use rayon::prelude::*;

use crate::linalg::{tensor, values};

/// Rows per matrix-product block (8192 × 384 f32 = 12 MiB).
const BLOCK: usize = 8192;

#[derive(Debug)]
pub(crate) struct Moments {
    /// Mean of z, [(C+1)·D].
    pub mean: Vec<f64>,
    /// Σ (z - mean)(z - mean)ᵀ over the windows, [(C+1)·D]² row-major.
    pub gram: Vec<f64>,
}

/// Windows whose starts follow one another: window k of the run reads concepts
/// `start+k ..= start+k+C` (the last one is its target).
struct Run {
    start: usize,
    windows: usize,
}

fn runs(windows: &[Window], c: usize) -> Result<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::new();
    for w in windows {
        if w.target != w.start + c {
            bail!(
                "window of document {} (concepts {}..{}) has a context of {} concepts, not {c}",
                w.doc,
                w.start,
                w.target,
                w.target - w.start
            );
        }
        match runs.last_mut() {
            Some(r) if r.start + r.windows == w.start => r.windows += 1,
            _ => runs.push(Run {
                start: w.start,
                windows: 1,
            }),
        }
    }
    Ok(runs)
}

pub(crate) fn window_moments(
    concepts: &[f32],
    d: usize,
    c: usize,
    windows: &[Window],
) -> Result<Moments> {
    let q = (c + 1) * d;
    let n = windows.len();
    let runs = runs(windows, c)?;
    let mean = position_means(concepts, d, c, windows);
    // Products are taken of concepts minus one common vector (the mean over positions), which
    // keeps the f32 products free of large cancellations; the exact centring is applied after.
    let shift: Vec<f64> = (0..d)
        .map(|j| (0..=c).map(|p| mean[p * d + j]).sum::<f64>() / (c + 1) as f64)
        .collect();
    let delta = |p: usize, j: usize| mean[p * d + j] - shift[j];

    let mut gram = vec![0f64; q * q];
    for lag in 0..=c {
        let all: Vec<usize> = runs
            .iter()
            .flat_map(|r| r.start..r.start + r.windows + c - lag)
            .collect();
        let total = lag_product(concepts, d, &shift, &all, lag)?;
        for p in 0..=c - lag {
            // Pairs of the run outside windows' reach at this position: before the first
            // window's position p, after the last one's.
            let edges: Vec<usize> = runs
                .iter()
                .flat_map(|r| {
                    (r.start..r.start + p)
                        .chain(r.start + p + r.windows..r.start + r.windows + c - lag)
                })
                .collect();
            let edge = lag_product(concepts, d, &shift, &edges, lag)?;
            let pq = p + lag;
            for a in 0..d {
                for b in 0..d {
                    // Σ (u - δp)(v - δq)ᵀ = Σ u vᵀ - n δp δqᵀ, as Σ u = n δp.
                    let v =
                        total[a * d + b] - edge[a * d + b] - n as f64 * delta(p, a) * delta(pq, b);
                    gram[(p * d + a) * q + pq * d + b] = v;
                    gram[(pq * d + b) * q + p * d + a] = v;
                }
            }
        }
    }
    Ok(Moments { mean, gram })
}

/// Mean concept at each position 0..=C of the windows. Summed per block, then the blocks in
/// order, so the result does not depend on how rayon schedules the work.
fn position_means(concepts: &[f32], d: usize, c: usize, windows: &[Window]) -> Vec<f64> {
    let q = (c + 1) * d;
    let blocks: Vec<Vec<f64>> = windows
        .par_chunks(BLOCK)
        .map(|ws| {
            let mut s = vec![0f64; q];
            for w in ws {
                let z = &concepts[w.start * d..(w.target + 1) * d];
                s.iter_mut().zip(z).for_each(|(s, v)| *s += *v as f64);
            }
            s
        })
        .collect();
    let mut mean = vec![0f64; q];
    for s in blocks {
        mean.iter_mut().zip(&s).for_each(|(m, s)| *m += s);
    }
    mean.iter_mut().for_each(|m| *m /= windows.len() as f64);
    mean
}

/// Σ_t (c[t] - shift)(c[t+lag] - shift)ᵀ over the given rows t, [D, D] row-major.
fn lag_product(
    concepts: &[f32],
    d: usize,
    shift: &[f64],
    rows: &[usize],
    lag: usize,
) -> Result<Vec<f64>> {
    let gather = |rows: &[usize], offset: usize| -> Vec<f32> {
        let mut out = vec![0f32; rows.len() * d];
        out.par_chunks_mut(d).zip(rows).for_each(|(o, &t)| {
            let r = &concepts[(t + offset) * d..(t + offset + 1) * d];
            for ((o, v), s) in o.iter_mut().zip(r).zip(shift) {
                *o = (*v as f64 - s) as f32;
            }
        });
        out
    };
    let mut acc = vec![0f64; d * d];
    for block in rows.chunks(BLOCK) {
        let a = tensor(&gather(block, 0), block.len(), d)?;
        let b = tensor(&gather(block, lag), block.len(), d)?;
        let part = values(&a.t()?.matmul(&b)?)?;
        acc.iter_mut().zip(part).for_each(|(a, v)| *a += v as f64);
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn lag_products_equal_the_gram_of_the_stacked_windows() {
        let (d, c) = (5, 3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        // Documents of 4..12 concepts (C + 1 is the shortest with a window), with an offset so
        // that the shift matters; some windows dropped so runs break inside a document.
        let mut concepts: Vec<f32> = vec![];
        let mut windows = vec![];
        for doc in 0..30 {
            let start = concepts.len() / d;
            let len = rng.gen_range(c + 1..12);
            concepts.extend((0..len * d).map(|_| rng.gen_range(-1.0f32..1.0) + 0.7));
            for s in start..start + len - c {
                if rng.gen_bool(0.85) {
                    windows.push(Window {
                        doc,
                        start: s,
                        target: s + c,
                    });
                }
            }
        }
        let m = window_moments(&concepts, d, c, &windows).unwrap();

        let q = (c + 1) * d;
        let n = windows.len() as f64;
        let z = |w: &Window| &concepts[w.start * d..(w.target + 1) * d];
        let mut mean = vec![0f64; q];
        for w in &windows {
            mean.iter_mut()
                .zip(z(w))
                .for_each(|(m, v)| *m += *v as f64 / n);
        }
        let mut gram = vec![0f64; q * q];
        for w in &windows {
            let z = z(w);
            for i in 0..q {
                for j in 0..q {
                    gram[i * q + j] += (z[i] as f64 - mean[i]) * (z[j] as f64 - mean[j]);
                }
            }
        }
        for (a, b) in m.mean.iter().zip(&mean) {
            assert!((a - b).abs() < 1e-9);
        }
        for (i, (a, b)) in m.gram.iter().zip(&gram).enumerate() {
            assert!(
                (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                "entry {i}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn a_context_of_the_wrong_length_is_an_error() {
        let w = Window {
            doc: 4,
            start: 10,
            target: 12,
        };
        let err = window_moments(&[0.0; 100], 2, 3, &[w])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("document 4") && err.contains("2 concepts"),
            "{err}"
        );
    }
}
