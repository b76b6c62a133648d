//! Learning curves of the ridge baseline: its mean cosine against the number of training
//! windows, for several context lengths.
//!
//! The training subsets are nested and seeded ([`nested_train_subset`]): the train documents
//! are put in a random order and windows are taken document by document, so a larger subset
//! holds every smaller one. Drawing whole documents keeps each document's windows together,
//! which is what the lag products of [`crate::gram`] need to stay cheap (about one D×D product
//! per lag over the subset's concepts), and it measures data the way it arrives: more
//! documents. A model trained on `nested_train_subset(ds, size, seed)` sees exactly the
//! windows the ridge point of that size saw; its curve goes next to ridge's as a
//! [`CurveSeries`].
//!
//! A shorter context C' keeps the same windows (the same targets) and only their last C'
//! concepts. Its moments are a block of the full context's ones (the last C'+1 positions of
//! each stacked window), so each subset's moments are computed once, at the dataset's C, and
//! every point is then one fit from moments by the ridge's own code ([`crate::ridge`]: one
//! eigendecomposition, α chosen by mean cosine on the whole `val` split at context C').
//!
//! α is searched on [`DEFAULT_SCALES`], the ridge's grid, by climbing: from the scale chosen
//! at the next smaller size (same context), one neighbour at a time until both neighbours
//! score lower. That is the grid's best whenever val cosine has a single peak over the grid
//! (the usual shape for ridge), and it needs three or four α instead of eleven: scoring an α
//! costs a [val windows × C'·D] × [C'·D × D] product, the largest cost of a point after the
//! eigendecomposition. With all windows and the full context a point is `Ridge::fit`'s fit
//! (same moments, same eigendecomposition, same α products).
//!
//! Every number is independent of the thread count: sums run in a fixed order and the
//! eigendecomposition uses a fixed degree of parallelism.

use anyhow::{bail, Context, Result};
use lvmkit_dataset::layout::SPLITS;
use lvmkit_dataset::{Dataset, Window};
use plotters::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use crate::gram::{window_moments, Moments};
use crate::linalg::{cosine, tensor, values};
use crate::plot::{colour, finite_range, write_svg};
use crate::ridge::{fit_moments, Fitted, Search, DEFAULT_SCALES};

/// Windows per prediction block.
const BLOCK: usize = 4096;

/// The ridge fitted on `train_windows` windows with a context of `context` concepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub train_windows: usize,
    pub context: usize,
    /// The α chosen on `val` (a scale of the ridge's grid times trace(XᵀX)/p).
    pub alpha: f64,
    /// Mean cosine of the normalised predictions, by split name. `train` is the subset the
    /// ridge was fitted on (in-sample); every other split is all of its windows.
    pub cosine: BTreeMap<String, f64>,
}

/// Another model's curve, drawn and tabulated next to ridge's: its mean cosine per split after
/// training on `nested_train_subset(ds, train_windows, seed)` with the curve's seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveSeries {
    pub name: String,
    /// (train windows, split → mean cosine).
    pub points: Vec<(usize, BTreeMap<String, f64>)>,
}

/// Ridge's learning curve on one dataset, and any other models' curves added to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearningCurve {
    /// Manifest hash of the dataset.
    pub dataset: String,
    /// Seed of the nested subsets.
    pub seed: u64,
    /// Train windows of the dataset (the largest possible subset).
    pub train_total: usize,
    /// The dataset's context length C.
    pub max_context: usize,
    /// Splits scored, in the order asked for.
    pub splits: Vec<String>,
    /// By train windows (ascending), then context (ascending).
    pub points: Vec<CurvePoint>,
    /// Other models' curves.
    #[serde(default)]
    pub series: Vec<CurveSeries>,
}

/// The first `size` train windows of a seeded random order of the train documents (each
/// document's windows in dataset order), returned in dataset order. Subsets of one seed are
/// nested; a size above the train count gives every train window.
pub fn nested_train_subset(ds: &Dataset, size: usize, seed: u64) -> Result<Vec<Window>> {
    let train = ds.windows("train")?;
    let mut take = draw_order(&train, seed);
    take.truncate(size);
    take.sort_unstable();
    Ok(take.into_iter().map(|i| train[i]).collect())
}

/// Indices of `train` in draw order: documents shuffled, each document's windows in order.
fn draw_order(train: &[Window], seed: u64) -> Vec<usize> {
    let mut by_doc: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, w) in train.iter().enumerate() {
        by_doc.entry(w.doc).or_default().push(i);
    }
    let mut docs: Vec<Vec<usize>> = by_doc.into_values().collect();
    docs.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    docs.concat()
}

/// The same windows with only their last `context` concepts.
fn shorten(windows: &[Window], context: usize) -> Vec<Window> {
    windows
        .iter()
        .map(|w| Window {
            doc: w.doc,
            start: w.target - context,
            target: w.target,
        })
        .collect()
}

/// Moments of the windows' last `keep` context concepts and target, from the moments of their
/// full context of `c` concepts: the bottom-right block.
fn tail_moments(m: &Moments, d: usize, c: usize, keep: usize) -> Moments {
    let (q, off, q2) = ((c + 1) * d, (c - keep) * d, (keep + 1) * d);
    Moments {
        mean: m.mean[off..].to_vec(),
        gram: (off..off + q2)
            .flat_map(|i| m.gram[i * q + off..i * q + q].iter().copied())
            .collect(),
    }
}

/// Mean cosine of the fitted map's predictions for `windows` (context `c`) with their targets.
fn mean_cosine(
    concepts: &[f32],
    d: usize,
    c: usize,
    fitted: &Fitted,
    windows: &[Window],
) -> Result<f64> {
    let p = c * d;
    let weight = tensor(&fitted.weight, p, d)?;
    let mut cos = Vec::with_capacity(windows.len());
    for block in windows.chunks(BLOCK) {
        let x: Vec<f32> = block
            .iter()
            .flat_map(|w| concepts[w.start * d..w.target * d].iter().copied())
            .collect();
        let pred = values(&tensor(&x, block.len(), p)?.matmul(&weight)?)?;
        let part: Vec<f64> = pred
            .par_chunks(d)
            .zip(block)
            .map(|(row, w)| {
                let row: Vec<f32> = row.iter().zip(&fitted.bias).map(|(x, b)| x + b).collect();
                cosine(&row, &concepts[w.target * d..(w.target + 1) * d])
            })
            .collect();
        cos.extend(part);
    }
    Ok(cos.iter().sum::<f64>() / windows.len() as f64)
}

/// Ridge's learning curve: for each number of train windows in `sizes` (the subset
/// [`nested_train_subset`] gives for `seed`; sizes above the train count, e.g. `usize::MAX`,
/// are all of it, listed once) and each context length in `contexts` (1 to the dataset's C),
/// the ridge fitted on that subset with α chosen on the whole `val` split, scored by mean
/// cosine on `splits`. Splits the dataset lacks or has no windows in are left out; `train`
/// scores the subset itself (in-sample, and as costly as scoring that many held-out windows).
/// Points come by size, then context, both ascending.
pub fn ridge_learning_curve(
    ds: &Dataset,
    sizes: &[usize],
    contexts: &[usize],
    seed: u64,
    splits: &[&str],
) -> Result<LearningCurve> {
    let (c, d) = (ds.context(), ds.dim());
    if sizes.is_empty() || sizes.contains(&0) {
        return Err(lvmkit_io::setting_error(
            "sizes",
            format!(
                "learning curve sizes must be positive numbers of train windows, got {sizes:?}"
            ),
        )
        .into());
    }
    if contexts.is_empty() || contexts.iter().any(|&k| k == 0 || k > c) {
        return Err(lvmkit_io::setting_error(
            "contexts",
            format!(
                "learning curve contexts must be between 1 and the dataset's context of {c}, got {contexts:?}"
            ),
        )
        .into());
    }
    if let Some(s) = splits.iter().find(|s| !SPLITS.contains(s)) {
        return Err(lvmkit_io::setting_error(
            "splits",
            format!("unknown split '{s}' (splits are {})", SPLITS.join(", ")),
        )
        .into());
    }
    let contexts: Vec<usize> = contexts
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let train = ds.windows("train")?;
    let val = if ds.manifest.splits.contains_key("val") {
        ds.windows("val")?
    } else {
        vec![]
    };
    for (name, w) in [("train", &train), ("val", &val)] {
        if w.is_empty() {
            bail!(
                "dataset {}: the {name} split has no windows; the ridge learning curve fits on train and chooses α on val",
                ds.dir.display()
            );
        }
    }
    let sizes: Vec<usize> = sizes
        .iter()
        .map(|&s| s.min(train.len()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    // Splits scored: each once, in the order asked for, if the dataset has windows for it.
    let mut scored: Vec<String> = vec![];
    let mut held_out: BTreeMap<String, Vec<Window>> = BTreeMap::new();
    for &s in splits {
        if scored.iter().any(|x| x == s) {
            continue;
        }
        let windows = match s {
            "train" => train.clone(),
            "val" => val.clone(),
            _ if ds.manifest.splits.contains_key(s) => ds.windows(s)?,
            _ => vec![],
        };
        if windows.is_empty() {
            tracing::info!("learning curve: dataset has no {s} windows; not scored");
            continue;
        }
        if s != "train" && s != "val" {
            held_out.insert(s.to_string(), windows);
        }
        scored.push(s.to_string());
    }
    // Val and the held-out splits at each context, once.
    type Shortened<'a> = (Vec<Window>, BTreeMap<&'a str, Vec<Window>>);
    let at_context: BTreeMap<usize, Shortened> = contexts
        .iter()
        .map(|&k| {
            let splits = held_out
                .iter()
                .map(|(s, w)| (s.as_str(), shorten(w, k)))
                .collect();
            (k, (shorten(&val, k), splits))
        })
        .collect();

    let concepts = ds.concepts.data();
    let order = draw_order(&train, seed);
    let started = Instant::now();
    let mut points = Vec::with_capacity(sizes.len() * contexts.len());
    // Where each context's α search starts: the scale chosen at the size before.
    let mut start: BTreeMap<usize, usize> = BTreeMap::new();
    let mut last = DEFAULT_SCALES.len() / 2;
    for &size in &sizes {
        let mut take = order[..size].to_vec();
        take.sort_unstable();
        let subset: Vec<Window> = take.into_iter().map(|i| train[i]).collect();
        let t = Instant::now();
        let m = window_moments(concepts, d, c, &subset)?;
        tracing::debug!(
            "learning curve: moments of {size} windows in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        for &k in &contexts {
            let tail;
            let mk = if k == c {
                &m
            } else {
                tail = tail_moments(&m, d, c, k);
                &tail
            };
            let (val_k, held_k) = &at_context[&k];
            let from = start.get(&k).copied().unwrap_or(last);
            let fitted = fit_moments(
                concepts,
                d,
                k,
                mk,
                val_k,
                &DEFAULT_SCALES,
                Search::Climb(from),
            )
            .with_context(|| {
                format!("ridge learning curve at {size} train windows, context {k}")
            })?;
            let chosen = fitted.grid[fitted.best];
            last = DEFAULT_SCALES
                .iter()
                .position(|s| *s == chosen.scale)
                .expect("a scale of the grid");
            start.insert(k, last);
            let mut cos = BTreeMap::new();
            for s in &scored {
                let v = match s.as_str() {
                    "val" => chosen.val_cosine,
                    "train" => mean_cosine(concepts, d, k, &fitted, &shorten(&subset, k))?,
                    s => mean_cosine(concepts, d, k, &fitted, &held_k[s])?,
                };
                cos.insert(s.clone(), v);
            }
            tracing::info!(
                "ridge learning curve: {size} train windows, context {k}: α = {:.4} ({:e}·tr/p), val cosine {:.4} ({:.1}s so far)",
                chosen.alpha,
                chosen.scale,
                chosen.val_cosine,
                started.elapsed().as_secs_f64()
            );
            points.push(CurvePoint {
                train_windows: size,
                context: k,
                alpha: chosen.alpha,
                cosine: cos,
            });
        }
    }
    Ok(LearningCurve {
        dataset: ds.manifest.hash(),
        seed,
        train_total: train.len(),
        max_context: c,
        splits: scored,
        points,
        series: vec![],
    })
}

impl LearningCurve {
    /// Numbers of train windows of ridge's points, ascending.
    pub fn sizes(&self) -> Vec<usize> {
        let s: BTreeSet<usize> = self.points.iter().map(|p| p.train_windows).collect();
        s.into_iter().collect()
    }

    /// Context lengths of ridge's points, ascending.
    pub fn contexts(&self) -> Vec<usize> {
        let s: BTreeSet<usize> = self.points.iter().map(|p| p.context).collect();
        s.into_iter().collect()
    }

    pub fn point(&self, train_windows: usize, context: usize) -> Option<&CurvePoint> {
        self.points
            .iter()
            .find(|p| p.train_windows == train_windows && p.context == context)
    }

    /// Adds another model's curve, drawn and tabulated next to ridge's.
    pub fn add_series(&mut self, series: CurveSeries) -> Result<()> {
        if self.series.iter().any(|s| s.name == series.name) {
            bail!(
                "the learning curve already has a series named '{}'",
                series.name
            );
        }
        self.series.push(series);
        Ok(())
    }

    fn size_label(&self, n: usize) -> String {
        if n == self.train_total {
            format!("{n} (all)")
        } else {
            n.to_string()
        }
    }

    /// One table of mean cosines per split (rows: train windows; columns: ridge at each
    /// context, then the other series), and one of the chosen α.
    pub fn markdown(&self) -> String {
        let contexts = self.contexts();
        let mut sizes: BTreeSet<usize> = self.sizes().into_iter().collect();
        sizes.extend(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
        );
        let mut out = format!(
            "Ridge learning curve: mean cosine of normalised predictions against the number of train windows \
             (nested subsets drawn by document, seed {}, of {} train windows; α chosen on val at each point).\n",
            self.seed, self.train_total
        );
        let header = |first: &str| -> Vec<String> {
            std::iter::once(first.to_string())
                .chain(contexts.iter().map(|k| format!("ridge C={k}")))
                .chain(self.series.iter().map(|s| s.name.clone()))
                .collect()
        };
        let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
        for split in &self.splits {
            let mut t = lvmkit_io::Table::named(header("train windows"));
            for &n in &sizes {
                let row = std::iter::once(self.size_label(n))
                    .chain(contexts.iter().map(|&k| {
                        cell(self.point(n, k).and_then(|p| p.cosine.get(split).copied()))
                    }))
                    .chain(self.series.iter().map(|s| {
                        cell(
                            s.points
                                .iter()
                                .find(|p| p.0 == n)
                                .and_then(|p| p.1.get(split).copied()),
                        )
                    }));
                t.row(row);
            }
            out.push_str(&format!("\n**{split}**\n\n{}", t.markdown()));
        }
        let mut t = lvmkit_io::Table::named(
            std::iter::once("train windows".to_string())
                .chain(contexts.iter().map(|k| format!("α, C={k}"))),
        );
        for n in self.sizes() {
            t.row(
                std::iter::once(self.size_label(n)).chain(contexts.iter().map(|&k| {
                    self.point(n, k)
                        .map_or("–".to_string(), |p| format!("{:.4e}", p.alpha))
                })),
            );
        }
        out.push_str(&format!("\n**chosen α**\n\n{}", t.markdown()));
        out
    }

    /// Mean cosine on `split` against train windows (log scale): one line per ridge context
    /// length, and one dashed line per other series.
    pub fn plot_svg(&self, path: &Path, split: &str) -> Result<()> {
        type Line = (String, Vec<(f64, f64)>, bool);
        let mut lines: Vec<Line> = self
            .contexts()
            .into_iter()
            .map(|k| {
                let pts = self
                    .points
                    .iter()
                    .filter(|p| p.context == k)
                    .filter_map(|p| Some((p.train_windows as f64, *p.cosine.get(split)?)))
                    .collect();
                (format!("ridge C={k}"), pts, false)
            })
            .collect();
        for s in &self.series {
            let mut pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter_map(|(n, c)| Some((*n as f64, *c.get(split)?)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            lines.push((s.name.clone(), pts, true));
        }
        for (_, pts, _) in &mut lines {
            pts.retain(|(x, y)| *x > 0.0 && y.is_finite());
        }
        lines.retain(|(_, pts, _)| !pts.is_empty());
        if lines.is_empty() {
            bail!(
                "the learning curve has no {split} cosines to plot (it scored: {})",
                self.splits.join(", ")
            );
        }
        let all = || lines.iter().flat_map(|(_, pts, _)| pts.iter());
        let (x0, x1) = finite_range(all().map(|p| p.0)).expect("points");
        let (x0, x1) = (x0 / 1.3, x1 * 1.3);
        let (y0, y1) = finite_range(all().map(|p| p.1)).expect("points");
        let pad = ((y1 - y0) * 0.08).max(1e-3);

        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    format!("learning curve: {split} cosine"),
                    ("sans-serif", 20),
                )
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(65)
                .build_cartesian_2d((x0..x1).log_scale(), (y0 - pad)..(y1 + pad))?;
            chart
                .configure_mesh()
                .x_desc("train windows (log scale)")
                .y_desc(format!("mean cosine on {split}"))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .draw()?;
            for (k, (name, pts, dashed)) in lines.iter().enumerate() {
                let c = colour(k);
                chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
                let drawn = if *dashed {
                    chart.draw_series(DashedLineSeries::new(
                        pts.clone(),
                        8,
                        5,
                        c.stroke_width(2),
                    ))?
                } else {
                    chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
                };
                drawn.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
            root.present()?;
        }
        write_svg(path, &svg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ridge::Ridge;
    use crate::testdata::{unit, write_dataset, Doc};
    use rand::Rng;

    /// Documents where each concept is `a ·` the one before plus noise of `noise` per
    /// coordinate, `a` a fixed random orthogonal map; documents of 6..=14 concepts, split
    /// train/train/train/val/test/ood.
    fn linear_dataset(dir: &Path, d: usize, c: usize, docs: usize, noise: f32) -> Dataset {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // Gram–Schmidt on random rows: an orthogonal map, so sequences neither blow up nor fade.
        let mut a: Vec<Vec<f32>> = vec![];
        while a.len() < d {
            let mut v: Vec<f32> = (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect();
            for u in &a {
                let dot: f32 = v.iter().zip(u).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
            }
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 1e-3 {
                a.push(v.iter().map(|x| x / n).collect());
            }
        }
        let docs: Vec<Doc> = (0..docs)
            .map(|i| {
                let len = rng.gen_range(6..=14);
                let mut v = unit(&mut rng, d);
                let vectors = (0..len)
                    .map(|_| {
                        let cur = v.clone();
                        v = a
                            .iter()
                            .map(|row| {
                                row.iter().zip(&cur).map(|(x, y)| x * y).sum::<f32>()
                                    + noise * rng.gen_range(-1.0f32..1.0)
                            })
                            .collect();
                        cur
                    })
                    .collect();
                let split = ["train", "train", "train", "val", "test", "ood"][i % 6];
                Doc::new(split, vectors)
            })
            .collect();
        write_dataset(dir, d, c, &docs)
    }

    #[test]
    fn subsets_are_nested_seeded_and_in_dataset_order() {
        let dir = tempfile::tempdir().unwrap();
        let ds = linear_dataset(dir.path(), 4, 2, 60, 0.05);
        let train = ds.windows("train").unwrap();
        let n = train.len();
        let position = |w: &Window| train.iter().position(|t| t == w).unwrap();
        let mut previous: Vec<Window> = vec![];
        for size in [1, 7, 40, n / 2, n - 3, n] {
            let s = nested_train_subset(&ds, size, 5).unwrap();
            assert_eq!(s.len(), size);
            let at: Vec<usize> = s.iter().map(position).collect();
            assert!(at.windows(2).all(|p| p[0] < p[1]), "not in dataset order");
            assert!(
                previous.iter().all(|w| s.contains(w)),
                "not nested at {size}"
            );
            assert_eq!(s, nested_train_subset(&ds, size, 5).unwrap());
            previous = s;
        }
        assert_eq!(previous, train);
        assert_eq!(nested_train_subset(&ds, 10 * n, 5).unwrap(), train);
        assert_ne!(
            nested_train_subset(&ds, n / 2, 5).unwrap(),
            nested_train_subset(&ds, n / 2, 6).unwrap(),
            "another seed draws another subset"
        );
        // Drawn by document: at most one document is only partly in a subset.
        let s = nested_train_subset(&ds, n / 2, 5).unwrap();
        let docs: BTreeSet<usize> = s.iter().map(|w| w.doc).collect();
        let partial = docs
            .iter()
            .filter(|doc| {
                train.iter().filter(|w| w.doc == **doc).count()
                    != s.iter().filter(|w| w.doc == **doc).count()
            })
            .count();
        assert!(partial <= 1, "{partial} documents split");
    }

    #[test]
    fn all_windows_at_full_context_reproduce_the_ridge() {
        let dir = tempfile::tempdir().unwrap();
        let ds = linear_dataset(dir.path(), 6, 3, 90, 0.3);
        let ridge = Ridge::fit_with_scales(&ds, &DEFAULT_SCALES).unwrap();
        // The curve climbs the grid: it finds the grid's best when val cosine has one peak.
        let cos: Vec<f64> = ridge.grid.iter().map(|g| g.val_cosine).collect();
        let peak = cos.iter().position(|v| *v == ridge.val_cosine).unwrap();
        assert!(
            cos[..=peak].windows(2).all(|w| w[0] < w[1])
                && cos[peak..].windows(2).all(|w| w[0] > w[1]),
            "the test wants a single peak: {cos:?}"
        );
        let curve =
            ridge_learning_curve(&ds, &[usize::MAX], &[3], 1, &["val", "test", "ood"]).unwrap();
        assert_eq!(curve.points.len(), 1);
        let p = &curve.points[0];
        assert_eq!(p.train_windows, ridge.train_windows);
        assert_eq!(p.alpha, ridge.alpha);
        assert_eq!(p.cosine["val"], ridge.val_cosine);
        for split in ["test", "ood"] {
            let windows = ds.windows(split).unwrap();
            let pred = ridge.predict_windows(&ds, &windows).unwrap();
            let mean = windows
                .iter()
                .zip(pred.chunks(6))
                .map(|(w, p)| cosine(p, ds.target_of(w)))
                .sum::<f64>()
                / windows.len() as f64;
            assert!((p.cosine[split] - mean).abs() < 1e-6, "{split}");
        }
    }

    #[test]
    fn a_shorter_context_is_the_ridge_of_the_shortened_windows() {
        let dir = tempfile::tempdir().unwrap();
        let ds = linear_dataset(dir.path(), 5, 4, 90, 0.3);
        let size = 150;
        let curve = ridge_learning_curve(&ds, &[size], &[2], 3, &["val"]).unwrap();
        let subset = nested_train_subset(&ds, size, 3).unwrap();
        let concepts = ds.concepts.data();
        let m = window_moments(concepts, 5, 2, &shorten(&subset, 2)).unwrap();
        let val = shorten(&ds.windows("val").unwrap(), 2);
        let direct = fit_moments(concepts, 5, 2, &m, &val, &DEFAULT_SCALES, Search::All).unwrap();
        let p = &curve.points[0];
        // The same scale of the grid wins; α and the cosine differ only by rounding (the lag
        // products are taken in f32).
        let alpha = direct.grid[direct.best].alpha;
        assert!(
            (p.alpha - alpha).abs() < 1e-5 * alpha,
            "{} vs {alpha}",
            p.alpha
        );
        assert!((p.cosine["val"] - direct.grid[direct.best].val_cosine).abs() < 1e-5);
    }

    #[test]
    fn a_linear_sequence_is_learnt_with_more_windows_and_one_concept_of_context() {
        let dir = tempfile::tempdir().unwrap();
        let (d, c) = (8, 3);
        let ds = linear_dataset(dir.path(), d, c, 240, 0.02);
        let total = ds.windows("train").unwrap().len();
        let sizes = [12, 30, 100, 400, total];
        let curve = ridge_learning_curve(&ds, &sizes, &[1, 3], 9, &["val", "test", "ood"]).unwrap();
        assert_eq!(curve.sizes(), sizes);
        assert_eq!(curve.contexts(), [1, 3]);
        assert_eq!(curve.splits, ["val", "test", "ood"]);
        for k in [1, 3] {
            let val: Vec<f64> = sizes
                .iter()
                .map(|&n| curve.point(n, k).unwrap().cosine["val"])
                .collect();
            assert!(
                val.windows(2).all(|v| v[1] >= v[0] - 1e-3),
                "context {k}: val cosine falls with more windows: {val:?}"
            );
            assert!(val[val.len() - 1] > val[0], "context {k}: {val:?}");
        }
        let full = curve.point(total, 1).unwrap();
        for split in ["val", "test", "ood"] {
            assert!(full.cosine[split] > 0.99, "{split}: {:?}", full.cosine);
        }
        assert!(curve.point(total, 3).unwrap().cosine["val"] > 0.99);
    }

    #[test]
    fn sizes_above_the_train_count_clamp_and_are_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let ds = linear_dataset(dir.path(), 4, 2, 60, 0.1);
        let total = ds.windows("train").unwrap().len();
        let curve = ridge_learning_curve(
            &ds,
            &[3 * total, 50, total, total + 1, 50],
            &[2, 1, 2],
            0,
            &["test", "val", "test", "ood"],
        )
        .unwrap();
        assert_eq!(curve.sizes(), [50, total]);
        assert_eq!(curve.contexts(), [1, 2]);
        assert_eq!(curve.points.len(), 4);
        assert_eq!(curve.train_total, total);
        assert_eq!(curve.splits, ["test", "val", "ood"]);
        let order: Vec<(usize, usize)> = curve
            .points
            .iter()
            .map(|p| (p.train_windows, p.context))
            .collect();
        assert_eq!(order, [(50, 1), (50, 2), (total, 1), (total, 2)]);
    }

    #[test]
    fn the_curve_does_not_depend_on_the_thread_count() {
        let dir = tempfile::tempdir().unwrap();
        // Large enough (p = 3 × 64) for the parallel paths of the products and the
        // eigendecomposition.
        let ds = linear_dataset(dir.path(), 64, 3, 150, 0.2);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    ridge_learning_curve(&ds, &[40, 120, 10_000], &[1, 3], 4, &["val", "test"])
                        .unwrap()
                })
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(one, run(1));
        let back: LearningCurve =
            serde_json::from_str(&serde_json::to_string(&one).unwrap()).unwrap();
        assert_eq!(back.points.len(), one.points.len());
        assert_eq!(back.sizes(), one.sizes());
    }

    #[test]
    fn bad_requests_name_their_setting() {
        let dir = tempfile::tempdir().unwrap();
        let ds = linear_dataset(dir.path(), 4, 2, 30, 0.1);
        let setting = |r: Result<LearningCurve>| lvmkit_io::setting_of(&r.unwrap_err());
        assert_eq!(
            setting(ridge_learning_curve(&ds, &[], &[1], 0, &["val"])),
            Some("sizes")
        );
        assert_eq!(
            setting(ridge_learning_curve(&ds, &[0, 10], &[1], 0, &["val"])),
            Some("sizes")
        );
        assert_eq!(
            setting(ridge_learning_curve(&ds, &[10], &[3], 0, &["val"])),
            Some("contexts")
        );
        assert_eq!(
            setting(ridge_learning_curve(&ds, &[10], &[0], 0, &["val"])),
            Some("contexts")
        );
        assert_eq!(
            setting(ridge_learning_curve(&ds, &[10], &[1], 0, &["dev"])),
            Some("splits")
        );
    }

    #[test]
    fn markdown_and_svg_show_ridge_and_another_series() {
        let dir = tempfile::tempdir().unwrap();
        let ds = linear_dataset(&dir.path().join("data"), 4, 2, 60, 0.1);
        let total = ds.windows("train").unwrap().len();
        let mut curve =
            ridge_learning_curve(&ds, &[20, 60, total], &[1, 2], 2, &["train", "val", "test"])
                .unwrap();
        // In-sample cosine on the subset itself.
        assert!(curve.points.iter().all(|p| p.cosine.contains_key("train")));
        let model = CurveSeries {
            name: "mlp".into(),
            points: vec![
                (20, BTreeMap::from([("val".to_string(), 0.5)])),
                (total, BTreeMap::from([("val".to_string(), 0.75)])),
            ],
        };
        curve.add_series(model.clone()).unwrap();
        assert!(curve.add_series(model).is_err(), "a name is used once");

        let md = curve.markdown();
        for s in [
            "**val**",
            "**test**",
            "**train**",
            "**chosen α**",
            "| train windows | ridge C=1 | ridge C=2 | mlp |",
            &format!("| {total} (all) |"),
            "0.7500 |",
        ] {
            assert!(md.contains(s), "{s} missing from\n{md}");
        }
        let p = curve.point(60, 2).unwrap();
        assert!(
            md.contains(&format!(
                "| 60 | {:.4} | {:.4} | – |",
                curve.point(60, 1).unwrap().cosine["val"],
                p.cosine["val"]
            )),
            "{md}"
        );

        let path = dir.path().join("plots/curve.svg");
        curve.plot_svg(&path, "val").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for label in ["ridge C=1", "ridge C=2", "mlp", "val cosine", "log scale"] {
            assert!(svg.contains(label), "{label} missing");
        }
        // Test cosines exist for ridge only; ood was never scored.
        curve.plot_svg(&path, "test").unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("mlp"));
        let err = curve.plot_svg(&path, "ood").unwrap_err().to_string();
        assert!(err.contains("no ood cosines"), "{err}");
    }
}
