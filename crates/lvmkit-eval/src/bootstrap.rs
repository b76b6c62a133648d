//! Cluster bootstrap of a mean difference. Windows of one document overlap (they share four of
//! their five context sentences), so they are not independent draws: resampling windows would
//! give intervals that are too narrow. Whole documents are resampled instead.

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// A point estimate with its 95% percentile interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapInterval {
    /// The mean over all windows.
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    pub resamples: usize,
    /// Number of clusters (documents) resampled.
    pub clusters: usize,
}

/// The mean of `values` with a 95% interval from `resamples` cluster resamples: each draws as
/// many clusters as there are, with replacement, and takes the mean over all their windows
/// (so long documents weigh as much as in the estimate itself). `clusters[i]` is the cluster
/// (document) of `values[i]`. Seeded: the same inputs and seed give the same interval.
pub fn cluster_bootstrap(
    values: &[f64],
    clusters: &[usize],
    resamples: usize,
    seed: u64,
) -> Result<BootstrapInterval> {
    if values.is_empty() || values.len() != clusters.len() {
        bail!(
            "bootstrap needs one cluster per value and at least one value ({} values, {} clusters)",
            values.len(),
            clusters.len()
        );
    }
    if resamples == 0 {
        bail!("the bootstrap needs at least one resample");
    }
    // Per cluster: (sum, count). A BTreeMap keeps the cluster order fixed for the seed.
    let mut by_cluster: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for (v, c) in values.iter().zip(clusters) {
        let e = by_cluster.entry(*c).or_default();
        e.0 += v;
        e.1 += 1;
    }
    let groups: Vec<(f64, usize)> = by_cluster.into_values().collect();
    let k = groups.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            let (mut sum, mut n) = (0.0, 0usize);
            for _ in 0..k {
                let (s, c) = groups[rng.gen_range(0..k)];
                sum += s;
                n += c;
            }
            sum / n as f64
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    Ok(BootstrapInterval {
        estimate: values.iter().sum::<f64>() / values.len() as f64,
        lo: quantile(&stats, 0.025),
        hi: quantile(&stats, 0.975),
        resamples,
        clusters: k,
    })
}

/// Linear interpolation between order statistics (NumPy's default) of sorted data.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<f64>, Vec<usize>) {
        // 40 documents of 3..12 windows; each document has its own offset, so windows of one
        // document are correlated as in real data.
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut values, mut clusters) = (vec![], vec![]);
        for doc in 0..40 {
            let offset = rng.gen_range(-0.05..0.05);
            for _ in 0..rng.gen_range(3..12) {
                values.push(0.02 + offset + rng.gen_range(-0.01..0.01));
                clusters.push(doc * 7);
            }
        }
        (values, clusters)
    }

    #[test]
    fn seeded_and_brackets_the_estimate() {
        let (v, c) = sample();
        let a = cluster_bootstrap(&v, &c, 1000, 0).unwrap();
        assert_eq!(a, cluster_bootstrap(&v, &c, 1000, 0).unwrap());
        let b = cluster_bootstrap(&v, &c, 1000, 1).unwrap();
        assert_ne!((a.lo, a.hi), (b.lo, b.hi));
        assert_eq!(a.clusters, 40);
        assert!(a.lo < a.estimate && a.estimate < a.hi, "{a:?}");
        // Document offsets spread ±0.05 over 40 documents: the interval is about ±0.01 wide.
        assert!(a.hi - a.lo > 0.005 && a.hi - a.lo < 0.04, "{a:?}");
    }

    #[test]
    fn resampling_documents_is_wider_than_resampling_windows() {
        let (v, c) = sample();
        let docs = cluster_bootstrap(&v, &c, 1000, 0).unwrap();
        let each: Vec<usize> = (0..v.len()).collect();
        let windows = cluster_bootstrap(&v, &each, 1000, 0).unwrap();
        assert!(docs.hi - docs.lo > 1.5 * (windows.hi - windows.lo));
    }

    #[test]
    fn a_constant_difference_has_a_zero_width_interval() {
        let i = cluster_bootstrap(&[0.25; 10], &[0, 0, 1, 1, 1, 2, 3, 3, 4, 4], 200, 5).unwrap();
        assert_eq!((i.estimate, i.lo, i.hi), (0.25, 0.25, 0.25));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(cluster_bootstrap(&[], &[], 10, 0).is_err());
        assert!(cluster_bootstrap(&[1.0], &[0, 1], 10, 0).is_err());
        assert!(cluster_bootstrap(&[1.0], &[0], 0, 0).is_err());
    }
}
