//! Baselines without learning (the ridge regression lives in [`crate::ridge`]). Each returns
//! unit-norm predictions, one row per window, in the order of the windows given.

use anyhow::{bail, Result};
use lvmkit_dataset::{Dataset, Window};

use crate::linalg::normalise_rows;

/// Row names in report order (the ridge row comes last and only when a ridge is given).
pub const COPY_LAST: &str = "copy_last";
pub const CONTEXT_MEAN: &str = "context_mean";
pub const GLOBAL_MEAN: &str = "global_mean";
pub const RIDGE: &str = "ridge";

/// The last context vector: "the next sentence says what the last one said".
pub fn copy_last(ds: &Dataset, windows: &[Window]) -> Vec<f32> {
    let d = ds.dim();
    let mut out = Vec::with_capacity(windows.len() * d);
    for w in windows {
        let ctx = ds.context_of(w);
        out.extend_from_slice(&ctx[ctx.len() - d..]);
    }
    // Concepts are stored unit-norm; normalising again guards against a hand-made dataset.
    normalise_rows(&mut out, d);
    out
}

/// The normalised mean of the context vectors.
pub fn context_mean(ds: &Dataset, windows: &[Window]) -> Vec<f32> {
    let d = ds.dim();
    let mut out = Vec::with_capacity(windows.len() * d);
    let mut acc = vec![0f64; d];
    for w in windows {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for row in ds.context_of(w).chunks_exact(d) {
            acc.iter_mut().zip(row).for_each(|(a, x)| *a += *x as f64);
        }
        out.extend(acc.iter().map(|a| *a as f32));
    }
    normalise_rows(&mut out, d);
    out
}

/// The normalised mean of every training target: one vector, the same for every window. It
/// comes from `train` whatever split is evaluated, so it sees no evaluation data.
pub fn global_mean(ds: &Dataset) -> Result<Vec<f32>> {
    let windows = ds.windows("train")?;
    if windows.is_empty() {
        bail!(
            "dataset {} has no training windows: the global-mean baseline needs them",
            ds.dir.display()
        );
    }
    let d = ds.dim();
    let mut acc = vec![0f64; d];
    for w in &windows {
        acc.iter_mut()
            .zip(ds.target_of(w))
            .for_each(|(a, x)| *a += *x as f64);
    }
    let mut out: Vec<f32> = acc.iter().map(|a| *a as f32).collect();
    normalise_rows(&mut out, d);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{write_dataset, Doc};

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn baselines_on_a_hand_made_dataset() {
        // D = 2, C = 2. One training document a, b, c, d: windows predict c (from a, b) and d
        // (from b, c). Test document: e, f, g.
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let train = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![s, s], vec![-1.0, 0.0]];
        let test = vec![vec![1.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0]];
        let dir = tempfile::tempdir().unwrap();
        let ds = write_dataset(
            dir.path(),
            2,
            2,
            &[Doc::new("train", train), Doc::new("test", test)],
        );
        let tw = ds.windows("test").unwrap();
        assert_eq!(tw.len(), 1);
        close(&copy_last(&ds, &tw), &[1.0, 0.0]);
        close(&context_mean(&ds, &tw), &[1.0, 0.0]);
        let trw = ds.windows("train").unwrap();
        close(&copy_last(&ds, &trw), &[0.0, 1.0, s, s]);
        // Means of (a, b) and of (b, c), normalised; the second is the direction (s, 1 + s).
        let n = (s * s + (1.0 + s) * (1.0 + s)).sqrt();
        close(&context_mean(&ds, &trw), &[s, s, s / n, (1.0 + s) / n]);
        // Training targets (s, s) and (-1, 0): mean (s - 1, s) / 2, normalised.
        let n = ((s - 1.0).powi(2) + s * s).sqrt();
        close(&global_mean(&ds).unwrap(), &[(s - 1.0) / n, s / n]);
    }
}
