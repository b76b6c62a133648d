//! The ridge baseline: a linear map from the flattened context [C·D] (plus a bias) to the next
//! concept, in closed form on the training windows, with the regularisation chosen on `val`.
//!
//! X and Y are centred with the training means (which also fits the bias); XᵀX and XᵀY come
//! from lag products of the concept sequence ([`crate::gram`]). XᵀX is decomposed once, a
//! symmetric eigendecomposition by `faer` (a maintained LAPACK-grade implementation, not worth
//! writing by hand), so that every α of the grid costs only two matrix products:
//! W(α) = V diag(1/(λ+α)) Vᵀ XᵀY. α is `scale · trace(XᵀX)/p` (the mean eigenvalue times a
//! scale); the scale whose normalised predictions have the best mean cosine on the `val`
//! windows wins.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::Tensor;
use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd;
use faer::{Accum, Mat, MatRef, Par};
use lvmkit_dataset::{Dataset, Window};
use rayon::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::gram::{window_moments, Moments};
use crate::linalg::{cosine, normalise_rows, tensor, values};

/// Regularisation scales tried, as multiples of trace(XᵀX)/p.
pub const DEFAULT_SCALES: [f64; 11] =
    [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0];

/// Windows per prediction block: 4096 × 1920 f32 is 31 MiB, large enough for full-speed
/// products.
const BLOCK: usize = 4096;
/// Written into the safetensors metadata; bump when the layout changes.
const FORMAT: &str = "lvmkit-ridge-1";

/// The validation score of one α of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlphaScore {
    pub scale: f64,
    pub alpha: f64,
    pub val_cosine: f64,
}

/// A fitted ridge map. Predictions are `normalise(x · weight + bias)` for a flattened context x.
#[derive(Debug, Clone)]
pub struct Ridge {
    /// Manifest hash of the dataset it was fitted on.
    pub dataset: String,
    pub context: usize,
    pub dim: usize,
    /// The chosen α and its mean cosine on `val`.
    pub alpha: f64,
    pub val_cosine: f64,
    /// Every α tried, in grid order.
    pub grid: Vec<AlphaScore>,
    pub train_windows: usize,
    pub val_windows: usize,
    /// [C·D, D], row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// A closed-form fit: the weights at the chosen α, and every α's validation score.
pub(crate) struct Fitted {
    /// [C·D, D] row-major.
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) grid: Vec<AlphaScore>,
    /// Index of the chosen α in `grid`.
    pub(crate) best: usize,
}

/// Flattened contexts of `windows` minus `mx`, [windows, C·D] row-major.
fn centred_contexts(concepts: &[f32], d: usize, windows: &[Window], mx: &[f64]) -> Vec<f32> {
    let p = mx.len();
    let mut out = vec![0f32; windows.len() * p];
    out.par_chunks_mut(p).zip(windows).for_each(|(row, w)| {
        let x = &concepts[w.start * d..w.target * d];
        for ((o, x), m) in row.iter_mut().zip(x).zip(mx) {
            *o = (*x as f64 - m) as f32;
        }
    });
    out
}

/// Parallelism of the eigendecomposition and the f64 products: a fixed degree rather than the
/// number of threads, so that a fit gives the same numbers on any machine.
const PAR: usize = 4;

/// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix.
fn eigen(a: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>)> {
    let n = a.nrows();
    let par = Par::rayon(PAR);
    let mut s = Diag::<f64>::zeros(n);
    let mut u = Mat::<f64>::zeros(n, n);
    let scratch = evd::self_adjoint_evd_scratch::<f64>(
        n,
        evd::ComputeEigenvectors::Yes,
        par,
        Default::default(),
    );
    evd::self_adjoint_evd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        par,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .map_err(|e| anyhow!("eigendecomposition of XᵀX ({n}×{n}) failed: {e:?}"))?;
    Ok((s.column_vector().iter().copied().collect(), u))
}

/// Fits on `train` windows of a row-major [N, d] concept matrix, choosing α on `val`.
fn fit_windows(
    concepts: &[f32],
    d: usize,
    c: usize,
    train: &[Window],
    val: &[Window],
    scales: &[f64],
) -> Result<Fitted> {
    let started = Instant::now();
    let m = window_moments(concepts, d, c, train)?;
    tracing::debug!(
        "ridge moments of {} windows: {:.1}s",
        train.len(),
        started.elapsed().as_secs_f64()
    );
    fit_moments(concepts, d, c, &m, val, scales, Search::All)
}

/// Which scales of the α grid are scored on `val`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Search {
    /// Every one: the best of the grid.
    All,
    /// Uphill from this index of the grid, one neighbour at a time, until both neighbours
    /// score lower: the best of the grid whenever val cosine has a single peak over it, at
    /// three or four products instead of one per scale.
    Climb(usize),
}

/// Fits from the moments of the training windows (context `c`: [`Moments`] of (C+1)·D
/// values), choosing α on the `val` windows, which must have a context of `c` concepts. The
/// returned grid holds the scales `search` tried, in grid order.
pub(crate) fn fit_moments(
    concepts: &[f32],
    d: usize,
    c: usize,
    m: &Moments,
    val: &[Window],
    scales: &[f64],
    search: Search,
) -> Result<Fitted> {
    let (p, q) = (c * d, (c + 1) * d);
    if scales.is_empty() {
        bail!("ridge: no regularisation scales to try");
    }
    if m.mean.len() != q || m.gram.len() != q * q {
        bail!(
            "ridge: moments of {} values do not match a context of {c} × {d}",
            m.mean.len()
        );
    }
    if let Some(w) = val.iter().find(|w| w.target != w.start + c) {
        bail!(
            "ridge: validation window of document {} has a context of {} concepts, not {c}",
            w.doc,
            w.target - w.start
        );
    }
    let started = Instant::now();
    let (mx, my) = m.mean.split_at(p);
    let trace: f64 = (0..p).map(|i| m.gram[i * q + i]).sum();
    if trace.is_nan() || trace <= 0.0 {
        bail!(
            "the training contexts do not vary (trace of XᵀX is {trace}); ridge cannot be fitted"
        );
    }

    // XᵀX is the top-left block of the window Gram matrix, XᵀY the top-right one.
    let (lambda, v) = eigen(Mat::<f64>::from_fn(p, p, |i, j| m.gram[i * q + j]).as_ref())?;
    // Rounding can leave the smallest eigenvalues of a PSD matrix slightly negative.
    let lambda: Vec<f64> = lambda.into_iter().map(|l| l.max(0.0)).collect();
    let mut vt_h = Mat::<f64>::zeros(p, d);
    faer::linalg::matmul::matmul(
        vt_h.as_mut(),
        Accum::Replace,
        v.transpose(),
        Mat::<f64>::from_fn(p, d, |i, j| m.gram[i * q + p + j]).as_ref(),
        1.0,
        Par::rayon(PAR),
    );
    let eigen_secs = started.elapsed().as_secs_f64();

    // Validation inputs, centred once and reused for every α.
    let xv = tensor(&centred_contexts(concepts, d, val, mx), val.len(), p)?;
    // V in f32 for the per-α products: W is kept in f32 anyway.
    let v32 = tensor(
        &(0..p * p)
            .map(|k| v[(k / p, k % p)] as f32)
            .collect::<Vec<_>>(),
        p,
        p,
    )?;
    // Scores scale `i` of the grid (once), keeping the map of the best one so far.
    let mut tried: Vec<Option<AlphaScore>> = vec![None; scales.len()];
    let mut best: Option<(usize, Tensor)> = None;
    let mut score = |i: usize| -> Result<f64> {
        if let Some(s) = tried[i] {
            return Ok(s.val_cosine);
        }
        let scale = scales[i];
        let alpha = scale * trace / p as f64;
        let shrunk: Vec<f32> = (0..p * d)
            .map(|k| (vt_h[(k / d, k % d)] / (lambda[k / d] + alpha)) as f32)
            .collect();
        let w = v32.matmul(&tensor(&shrunk, p, d)?)?;
        let mut pred = values(&xv.matmul(&w)?)?;
        let cos: Vec<f64> = pred
            .par_chunks_mut(d)
            .zip(val)
            .map(|(row, w)| {
                row.iter_mut().zip(my).for_each(|(x, m)| *x += *m as f32);
                cosine(row, &concepts[w.target * d..(w.target + 1) * d])
            })
            .collect();
        let val_cosine = cos.iter().sum::<f64>() / val.len() as f64;
        tracing::debug!("ridge α = {scale:e}·tr/p = {alpha:.4}: val cosine {val_cosine:.5}");
        tried[i] = Some(AlphaScore {
            scale,
            alpha,
            val_cosine,
        });
        if best
            .as_ref()
            .is_none_or(|(b, _)| val_cosine > tried[*b].expect("scored").val_cosine)
        {
            best = Some((i, w));
        }
        Ok(val_cosine)
    };
    match search {
        Search::All => {
            for i in 0..scales.len() {
                score(i)?;
            }
        }
        Search::Climb(start) => {
            let mut at = start.min(scales.len() - 1);
            loop {
                let here = score(at)?;
                let mut next = (at, here);
                for nb in [
                    at.checked_sub(1),
                    Some(at + 1).filter(|&i| i < scales.len()),
                ]
                .into_iter()
                .flatten()
                {
                    let v = score(nb)?;
                    if v > next.1 {
                        next = (nb, v);
                    }
                }
                if next.0 == at {
                    break;
                }
                at = next.0;
            }
        }
    }
    tracing::debug!(
        "ridge timings: eigendecomposition {eigen_secs:.1}s, α grid {:.1}s",
        started.elapsed().as_secs_f64() - eigen_secs
    );
    let (best, weight) = best.expect("at least one scale");
    // The grid holds the scales tried, in grid order.
    let best = tried[..best].iter().flatten().count();
    let grid: Vec<AlphaScore> = tried.into_iter().flatten().collect();
    let weight = values(&weight)?;
    // The bias folds the centring in: (x - mx)·W + my = x·W + (my - mx·W).
    let bias = (0..d)
        .map(|j| {
            let mw: f64 = (0..p).map(|i| mx[i] * weight[i * d + j] as f64).sum();
            (my[j] - mw) as f32
        })
        .collect();
    Ok(Fitted {
        weight,
        bias,
        grid,
        best,
    })
}

impl Ridge {
    /// Fits on the `train` windows of `ds`, choosing α on `val` over [`DEFAULT_SCALES`].
    pub fn fit(ds: &Dataset) -> Result<Self> {
        Self::fit_with_scales(ds, &DEFAULT_SCALES)
    }

    pub fn fit_with_scales(ds: &Dataset, scales: &[f64]) -> Result<Self> {
        Self::fit_windows_of(ds, &ds.windows("train")?, scales)
    }

    /// Fits on some of the `train` windows of `ds` (a training budget, a learning curve's
    /// subset), choosing α on `val` over [`DEFAULT_SCALES`].
    pub fn fit_on(ds: &Dataset, train: &[Window]) -> Result<Self> {
        Self::fit_windows_of(ds, train, &DEFAULT_SCALES)
    }

    fn fit_windows_of(ds: &Dataset, train: &[Window], scales: &[f64]) -> Result<Self> {
        if scales.is_empty() || scales.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
            bail!("ridge regularisation scales must be positive numbers, got {scales:?}");
        }
        let (c, d) = (ds.context(), ds.dim());
        let val = ds.windows("val")?;
        for (name, w) in [("train", train), ("val", &val[..])] {
            if w.is_empty() {
                bail!(
                    "dataset {}: the {name} split has no windows; the ridge baseline fits on train and chooses α on val",
                    ds.dir.display()
                );
            }
        }
        let (n_train, n_val) = (train.len(), val.len());
        let started = Instant::now();
        let fitted = fit_windows(ds.concepts.data(), d, c, train, &val, scales)?;
        let chosen = fitted.grid[fitted.best];
        tracing::info!(
            "ridge fitted on {n_train} windows ({}×{d}) in {:.1}s: α = {:.4} ({:e}·tr/p), val cosine {:.4}",
            c * d,
            started.elapsed().as_secs_f64(),
            chosen.alpha,
            chosen.scale,
            chosen.val_cosine
        );
        Ok(Self {
            dataset: ds.manifest.hash(),
            context: c,
            dim: d,
            alpha: chosen.alpha,
            val_cosine: chosen.val_cosine,
            grid: fitted.grid,
            train_windows: n_train,
            val_windows: n_val,
            weight: fitted.weight,
            bias: fitted.bias,
        })
    }

    /// [C·D, D] row-major.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// Unit-norm predictions for flattened contexts, row-major [n, C·D] → [n, D].
    pub fn predict(&self, contexts: &[f32]) -> Result<Vec<f32>> {
        let (p, d) = (self.context * self.dim, self.dim);
        if contexts.len() / p * p != contexts.len() {
            bail!(
                "ridge predict: {} context values are not whole rows of {} ({} concepts × {d})",
                contexts.len(),
                p,
                self.context
            );
        }
        let w = tensor(&self.weight, p, d)?;
        let mut out = Vec::with_capacity(contexts.len() / p * d);
        for block in contexts.chunks(BLOCK * p) {
            let n = block.len() / p;
            let mut pred = values(&tensor(block, n, p)?.matmul(&w)?)?;
            for row in pred.chunks_exact_mut(d) {
                row.iter_mut().zip(&self.bias).for_each(|(x, b)| *x += b);
            }
            out.extend(pred);
        }
        normalise_rows(&mut out, d);
        Ok(out)
    }

    /// Predictions for windows of `ds` (which must be the dataset it was fitted on).
    pub fn predict_windows(&self, ds: &Dataset, windows: &[Window]) -> Result<Vec<f32>> {
        self.check_dataset(ds)?;
        let mut out = Vec::with_capacity(windows.len() * self.dim);
        for block in windows.chunks(BLOCK) {
            let contexts: Vec<f32> = block
                .iter()
                .flat_map(|w| ds.context_of(w).iter().copied())
                .collect();
            out.extend(self.predict(&contexts)?);
        }
        Ok(out)
    }

    /// An error unless this ridge was fitted on `ds`.
    pub fn check_dataset(&self, ds: &Dataset) -> Result<()> {
        let hash = ds.manifest.hash();
        if self.dataset != hash || self.dim != ds.dim() || self.context != ds.context() {
            bail!(
                "the ridge baseline was fitted on dataset {} (C={}, D={}), not on {} ({}, C={}, D={}); refit it",
                short(&self.dataset),
                self.context,
                self.dim,
                ds.dir.display(),
                short(&hash),
                ds.context(),
                ds.dim()
            );
        }
        Ok(())
    }

    /// Saves as safetensors (`weight`, `bias`) with the dataset hash, α and grid as metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let (p, d) = (self.context * self.dim, self.dim);
        let le = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let (wb, bb) = (le(&self.weight), le(&self.bias));
        // The grid as an f64 tensor rather than JSON metadata: serde_json does not promise to
        // read floats back bit for bit.
        let gb: Vec<u8> = self
            .grid
            .iter()
            .flat_map(|g| [g.scale, g.alpha, g.val_cosine])
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let meta: BTreeMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("dataset", self.dataset.clone()),
            ("context", self.context.to_string()),
            ("dim", self.dim.to_string()),
            ("alpha", self.alpha.to_string()),
            ("val_cosine", self.val_cosine.to_string()),
            ("train_windows", self.train_windows.to_string()),
            ("val_windows", self.val_windows.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        lvmkit_io::safetensors::write(
            path,
            [
                ("weight", TensorView::new(Dtype::F32, vec![p, d], &wb)?),
                ("bias", TensorView::new(Dtype::F32, vec![d], &bb)?),
                (
                    "grid",
                    TensorView::new(Dtype::F64, vec![self.grid.len(), 3], &gb)?,
                ),
            ],
            &meta,
        )
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let st = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{} is not a safetensors file", path.display()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .with_context(|| format!("{} is not a safetensors file", path.display()))?;
        // Files written before the one writer kept each field as its own metadata key.
        let meta: BTreeMap<String, String> = match lvmkit_io::safetensors::metadata(&bytes)
            .with_context(|| path.display().to_string())?
        {
            Some(m) => m,
            None => header
                .metadata()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        };
        let field = |k: &str| -> Result<&String> {
            meta.get(k).with_context(|| {
                format!(
                    "{}: no '{k}' in the metadata (not a ridge baseline saved by lvmkit)",
                    path.display()
                )
            })
        };
        fn parse<T: std::str::FromStr>(path: &Path, k: &str, s: &str) -> Result<T> {
            s.parse()
                .map_err(|_| anyhow!("{}: metadata '{k}' is not valid: {s:?}", path.display()))
        }
        if field("format")? != FORMAT {
            bail!(
                "{}: ridge format {:?} is not {FORMAT:?}; refit it",
                path.display(),
                field("format")?
            );
        }
        let context: usize = parse(path, "context", field("context")?)?;
        let dim: usize = parse(path, "dim", field("dim")?)?;
        let tensor = |name: &str, dtype: Dtype, shape: Option<&[usize]>| -> Result<TensorView> {
            let t = st
                .tensor(name)
                .with_context(|| format!("{}: no tensor '{name}'", path.display()))?;
            if t.dtype() != dtype || shape.is_some_and(|s| t.shape() != s) || t.shape().is_empty() {
                bail!(
                    "{}: tensor '{name}' is {:?} {:?}, expected {dtype:?} {}",
                    path.display(),
                    t.dtype(),
                    t.shape(),
                    shape.map_or("[k, 3]".to_string(), |s| format!("{s:?}"))
                );
            }
            Ok(t)
        };
        let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            Ok(tensor(name, Dtype::F32, Some(shape))?
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect())
        };
        let g = tensor("grid", Dtype::F64, None)?;
        if g.shape().len() != 2 || g.shape()[1] != 3 {
            bail!(
                "{}: tensor 'grid' has shape {:?}, expected [k, 3]",
                path.display(),
                g.shape()
            );
        }
        let numbers: Vec<f64> = g
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let grid = numbers
            .chunks_exact(3)
            .map(|r| AlphaScore {
                scale: r[0],
                alpha: r[1],
                val_cosine: r[2],
            })
            .collect();
        Ok(Self {
            dataset: field("dataset")?.clone(),
            context,
            dim,
            alpha: parse(path, "alpha", field("alpha")?)?,
            val_cosine: parse(path, "val_cosine", field("val_cosine")?)?,
            grid,
            train_windows: parse(path, "train_windows", field("train_windows")?)?,
            val_windows: parse(path, "val_windows", field("val_windows")?)?,
            weight: read("weight", &[context * dim, dim])?,
            bias: read("bias", &[dim])?,
        })
    }

    /// The ridge saved at `path` if it was fitted on `ds`; otherwise fits one and saves it
    /// there. A file for another dataset, or an unreadable one, is replaced (and logged).
    pub fn load_or_fit(ds: &Dataset, path: &Path) -> Result<Self> {
        if path.exists() {
            match Self::load(path) {
                Ok(r) if r.check_dataset(ds).is_ok() => return Ok(r),
                Ok(_) => tracing::info!(
                    "{} was fitted on another dataset; refitting",
                    path.display()
                ),
                Err(e) => tracing::warn!("{e:#}; refitting the ridge baseline"),
            }
        }
        let ridge = Self::fit(ds)?;
        ridge.save(path)?;
        Ok(ridge)
    }

    /// Where the ridge of a dataset is cached: `DATA/baselines/ridge.safetensors`.
    pub fn cache_path(ds: &Dataset) -> std::path::PathBuf {
        ds.dir.join("baselines").join("ridge.safetensors")
    }

    /// The ridge of `ds`, cached at [`Self::cache_path`] (it depends on nothing but the
    /// dataset): evaluation's baseline and the trainer's ridge skip path are the same fit.
    /// Fitted in memory when the dataset folder is read-only.
    pub fn cached(ds: &Dataset) -> Result<Self> {
        let path = Self::cache_path(ds);
        if std::fs::create_dir_all(path.parent().expect("a file in a folder")).is_err() {
            tracing::warn!(
                "{} is read-only: fitting the ridge baseline without caching it",
                ds.dir.display()
            );
            return Self::fit(ds);
        }
        Self::load_or_fit(ds, &path)
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{unit, write_dataset, Doc};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn recovers_an_exact_linear_map() {
        // Sequences of C = 3 random concepts followed by y = x·W* + b* exactly: the smallest α
        // must win and the fit must give back W* and b*.
        let (c, d, n) = (3, 4, 400);
        let p = c * d;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut r = |k: usize| -> Vec<f32> { (0..k).map(|_| rng.gen_range(-1.0..1.0)).collect() };
        let (w_true, b_true) = (r(p * d), r(d));
        let mut concepts = vec![];
        let mut windows = vec![];
        for i in 0..n {
            let x = r(p);
            concepts.extend_from_slice(&x);
            concepts.extend(
                (0..d).map(|j| b_true[j] + (0..p).map(|k| x[k] * w_true[k * d + j]).sum::<f32>()),
            );
            let start = i * (c + 1);
            windows.push(Window {
                doc: i,
                start,
                target: start + c,
            });
        }
        let (train, val) = windows.split_at(300);
        let f = fit_windows(&concepts, d, c, train, val, &[1e-6, 1e-2, 1.0]).unwrap();
        assert_eq!(f.best, 0, "{:?}", f.grid);
        assert!(f.grid[0].val_cosine > 0.99999);
        assert!(f.grid[0].val_cosine > f.grid[1].val_cosine);
        assert!(f.grid[1].val_cosine > f.grid[2].val_cosine);
        for (a, b) in f.weight.iter().zip(&w_true) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        for (a, b) in f.bias.iter().zip(&b_true) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

    /// Documents that follow a fixed rotation: concept t+1 = R · concept t, unit-norm
    /// throughout, so the next concept is an exact linear function of the context.
    fn rotation_dataset(dir: &Path) -> Dataset {
        let (d, c) = (6, 2);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // R: a product of plane rotations, orthogonal.
        let mut r = vec![0f32; d * d];
        (0..d).for_each(|i| r[i * d + i] = 1.0);
        for (a, b, t) in [(0, 1, 0.7f32), (2, 3, 1.1), (4, 5, 0.4), (1, 4, 0.9)] {
            let mut g = vec![0f32; d * d];
            (0..d).for_each(|i| g[i * d + i] = 1.0);
            g[a * d + a] = t.cos();
            g[b * d + b] = t.cos();
            g[a * d + b] = -t.sin();
            g[b * d + a] = t.sin();
            r = (0..d * d)
                .map(|k| (0..d).map(|m| g[(k / d) * d + m] * r[m * d + k % d]).sum())
                .collect();
        }
        let docs: Vec<Doc> = (0..60)
            .map(|i| {
                let mut v = unit(&mut rng, d);
                let vectors = (0..8)
                    .map(|_| {
                        let cur = v.clone();
                        v = (0..d)
                            .map(|a| (0..d).map(|b| r[a * d + b] * cur[b]).sum())
                            .collect();
                        cur
                    })
                    .collect();
                let split = ["train", "train", "train", "val", "test"][i % 5];
                Doc::new(split, vectors)
            })
            .collect();
        write_dataset(dir, d, c, &docs)
    }

    #[test]
    fn predicts_a_rotation_sequence_and_survives_a_save() {
        let dir = tempfile::tempdir().unwrap();
        let ds = rotation_dataset(&dir.path().join("data"));
        let ridge = Ridge::fit(&ds).unwrap();
        assert_eq!(ridge.grid.len(), DEFAULT_SCALES.len());
        assert!(ridge.val_cosine > 0.999, "{:?}", ridge.grid);
        let test = ds.windows("test").unwrap();
        let pred = ridge.predict_windows(&ds, &test).unwrap();
        for (w, p) in test.iter().zip(pred.chunks(6)) {
            assert!(cosine(p, ds.target_of(w)) > 0.999);
        }

        let path = dir.path().join("ridge.safetensors");
        ridge.save(&path).unwrap();
        let back = Ridge::load(&path).unwrap();
        assert_eq!(back.weight(), ridge.weight());
        assert_eq!(back.bias(), ridge.bias());
        assert_eq!(back.grid, ridge.grid);
        assert_eq!(back.alpha, ridge.alpha);
        assert_eq!(back.dataset, ds.manifest.hash());
        // A cached fit is reused, not refitted: same weights bit for bit either way, so check
        // the file is untouched.
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        let cached = Ridge::load_or_fit(&ds, &path).unwrap();
        assert_eq!(cached.weight(), ridge.weight());
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
    }

    #[test]
    fn climbing_the_grid_finds_its_peak_with_fewer_products() {
        let dir = tempfile::tempdir().unwrap();
        let ds = rotation_dataset(dir.path());
        let (c, d) = (ds.context(), ds.dim());
        let train = ds.windows("train").unwrap();
        // Noisy targets so that the val cosine peaks inside the grid rather than at its end.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut concepts = ds.concepts.data().to_vec();
        concepts
            .iter_mut()
            .for_each(|x| *x += rng.gen_range(-0.4f32..0.4));
        let val = ds.windows("val").unwrap();
        let m = window_moments(&concepts, d, c, &train).unwrap();
        let fit = |search| fit_moments(&concepts, d, c, &m, &val, &DEFAULT_SCALES, search).unwrap();
        let all = fit(Search::All);
        let peak = all.grid[all.best];
        assert!(
            all.best > 0 && all.best < DEFAULT_SCALES.len() - 1,
            "the test wants a peak inside the grid: {:?}",
            all.grid
        );
        for start in [0, all.best, DEFAULT_SCALES.len() - 1, 99] {
            let climbed = fit(Search::Climb(start));
            assert_eq!(climbed.grid[climbed.best], peak, "from {start}");
            assert_eq!(climbed.weight, all.weight);
            assert_eq!(climbed.bias, all.bias);
            assert!(climbed.grid.windows(2).all(|g| g[0].scale < g[1].scale));
            assert!(climbed.grid.iter().all(|g| all.grid.contains(g)));
        }
        assert_eq!(fit(Search::Climb(all.best)).grid.len(), 3);
    }

    #[test]
    fn fitting_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let ds = rotation_dataset(dir.path());
        let a = Ridge::fit(&ds).unwrap();
        let b = Ridge::fit(&ds).unwrap();
        assert_eq!(a.weight(), b.weight());
        assert_eq!(a.grid, b.grid);
    }

    #[test]
    fn a_ridge_for_another_dataset_is_refused_and_refitted() {
        let dir = tempfile::tempdir().unwrap();
        let ds = rotation_dataset(&dir.path().join("a"));
        let ridge = Ridge::fit(&ds).unwrap();
        let mut other = ridge.clone();
        other.dataset = "f".repeat(64);
        let err = other.check_dataset(&ds).unwrap_err().to_string();
        assert!(
            err.contains("ffffffffffff") && err.contains("refit"),
            "{err}"
        );
        let path = dir.path().join("r.safetensors");
        other.save(&path).unwrap();
        let refit = Ridge::load_or_fit(&ds, &path).unwrap();
        assert_eq!(refit.dataset, ds.manifest.hash());
        assert_eq!(Ridge::load(&path).unwrap().dataset, ds.manifest.hash());

        // A damaged file names itself.
        std::fs::write(&path, b"not safetensors").unwrap();
        let err = format!("{:#}", Ridge::load(&path).unwrap_err());
        assert!(err.contains("r.safetensors"), "{err}");
    }
}
