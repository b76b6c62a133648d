//! Assigning whole documents to train/val/test.

use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Fractions of documents for train, val and test (parsed from "80/10/10").
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitRatios {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

impl Default for SplitRatios {
    fn default() -> Self {
        Self {
            train: 0.8,
            val: 0.1,
            test: 0.1,
        }
    }
}

impl FromStr for SplitRatios {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<f64> = s
            .split('/')
            .map(|p| p.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| anyhow::anyhow!("--split '{s}': expected three numbers like 80/10/10"))?;
        if parts.len() != 3 || parts.iter().any(|p| !p.is_finite() || *p < 0.0) {
            bail!("--split '{s}': expected three non-negative numbers like 80/10/10");
        }
        let total: f64 = parts.iter().sum();
        // Percentages (80/10/10) or fractions (0.8/0.1/0.1), never silently rescaled.
        if (total - 100.0).abs() > 1e-6 && (total - 1.0).abs() > 1e-9 {
            bail!(
                "--split '{s}': the shares add up to {total}, not 100; give train/val/test \
                 percentages like 80/10/10"
            );
        }
        for (name, share) in ["train", "val", "test"].iter().zip(&parts) {
            if *share <= 0.0 {
                bail!(
                    "--split '{s}': the {name} share is 0; every split needs documents (train to \
                     learn from, val to stop early and keep the best epoch, test to report)"
                );
            }
        }
        Ok(Self {
            train: parts[0] / total,
            val: parts[1] / total,
            test: parts[2] / total,
        })
    }
}

impl std::fmt::Display for SplitRatios {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.train * 100.0,
            self.val * 100.0,
            self.test * 100.0
        )
    }
}

/// Returns the split name of each document. Documents are shuffled with `seed` within each
/// source (so every split sees the same mix of sources) and cut at the ratio boundaries; a split
/// with a positive share gets at least one document whenever a source has enough of them.
pub fn assign(sources: &[&str], ratios: SplitRatios, seed: u64) -> Vec<&'static str> {
    let mut by_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in sources.iter().enumerate() {
        by_source.entry(s).or_default().push(i);
    }
    let mut out = vec!["train"; sources.len()];
    for (k, (_, mut docs)) in by_source.into_iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(k as u64 * 0x9E37_79B9));
        docs.shuffle(&mut rng);
        let n = docs.len();
        let mut n_val = (ratios.val * n as f64).round() as usize;
        let mut n_test = (ratios.test * n as f64).round() as usize;
        if n >= 3 {
            if ratios.val > 0.0 {
                n_val = n_val.max(1);
            }
            if ratios.test > 0.0 {
                n_test = n_test.max(1);
            }
        }
        while n_val + n_test >= n && n_val + n_test > 0 {
            if n_test >= n_val && n_test > 0 {
                n_test -= 1;
            } else {
                n_val -= 1;
            }
        }
        for (j, &d) in docs.iter().enumerate() {
            out[d] = if j < n_val {
                "val"
            } else if j < n_val + n_test {
                "test"
            } else {
                "train"
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_parse_and_reject_nonsense() {
        let r: SplitRatios = "80/10/10".parse().unwrap();
        assert!((r.train - 0.8).abs() < 1e-12);
        assert!("80/20".parse::<SplitRatios>().is_err());
        assert!("0/50/50".parse::<SplitRatios>().is_err());
        assert!("a/b/c".parse::<SplitRatios>().is_err());
        let r: SplitRatios = "0.7/0.2/0.1".parse().unwrap();
        assert!((r.val - 0.2).abs() < 1e-12);
        let err = "100/0/0".parse::<SplitRatios>().unwrap_err().to_string();
        assert!(err.contains("the val share is 0"), "{err}");
        let err = "90/10/0".parse::<SplitRatios>().unwrap_err().to_string();
        assert!(err.contains("the test share is 0"), "{err}");
        let err = "50/50/50".parse::<SplitRatios>().unwrap_err().to_string();
        assert!(err.contains("add up to 150, not 100"), "{err}");
    }

    #[test]
    fn assignment_is_seeded_stratified_and_complete() {
        let sources: Vec<&str> = (0..100)
            .map(|i| if i % 4 == 0 { "a" } else { "b" })
            .collect();
        let r = SplitRatios::default();
        let s1 = assign(&sources, r, 42);
        assert_eq!(s1, assign(&sources, r, 42));
        assert_ne!(s1, assign(&sources, r, 43));
        for src in ["a", "b"] {
            let n = sources.iter().filter(|s| **s == src).count();
            let val = (0..100)
                .filter(|&i| sources[i] == src && s1[i] == "val")
                .count();
            assert_eq!(val, (n as f64 * 0.1).round() as usize);
        }
        // tiny corpora still get a val and a test document
        let s = assign(&["x", "x", "x"], r, 1);
        assert_eq!(s.iter().filter(|&&x| x == "train").count(), 1);
    }
}
