//! SVG figures, drawn with `plotters`' SVG backend only: text is left to the viewer's fonts,
//! so drawing needs no system fonts or libraries. Files are written atomically.

use anyhow::{bail, Result};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Colours of successive series (matplotlib's first eight, readable on white).
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];
const BINS: usize = 40;

pub(crate) fn colour(k: usize) -> RGBColor {
    COLOURS[k % COLOURS.len()]
}

/// One epoch of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochPoint {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub train_cosine: f64,
    pub val_cosine: f64,
}

/// Overlaid histograms of per-window cosines (e.g. a model and the best baseline), each as the
/// share of its windows per bin so that series of different sizes compare.
pub fn plot_cosine_histogram(path: &Path, title: &str, series: &[(&str, &[f32])]) -> Result<()> {
    if series.is_empty() || series.iter().any(|(_, v)| v.is_empty()) {
        bail!(
            "a cosine histogram ({}) needs at least one non-empty series",
            path.display()
        );
    }
    let all = series.iter().flat_map(|(_, v)| v.iter().copied());
    let (mut lo, mut hi) = finite_range(all.map(f64::from)).unwrap_or((-1.0, 1.0));
    if hi - lo < 1e-3 {
        (lo, hi) = (lo - 0.05, hi + 0.05);
    }
    let width = (hi - lo) / BINS as f64;
    let histograms: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, v)| {
            let mut h = vec![0.0; BINS];
            for x in v.iter().filter(|x| x.is_finite()) {
                let b = (((*x as f64 - lo) / width) as usize).min(BINS - 1);
                h[b] += 1.0 / v.len() as f64;
            }
            h
        })
        .collect();
    let top = histograms.iter().flatten().fold(0.0f64, |a, b| a.max(*b)) * 1.1;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(lo..hi, 0.0..top.max(1e-9))?;
        chart
            .configure_mesh()
            .x_desc("cosine(prediction, target)")
            .y_desc("share of windows")
            .draw()?;
        for (k, ((name, values), h)) in series.iter().zip(&histograms).enumerate() {
            let c = colour(k);
            chart.draw_series(h.iter().enumerate().map(|(b, y)| {
                let x0 = lo + b as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, *y)], c.mix(0.25).filled())
            }))?;
            let mut outline = vec![(lo, 0.0)];
            for (b, y) in h.iter().enumerate() {
                let x0 = lo + b as f64 * width;
                outline.extend([(x0, *y), (x0 + width, *y)]);
            }
            outline.push((hi, 0.0));
            let mean = values.iter().map(|x| *x as f64).sum::<f64>() / values.len() as f64;
            chart
                .draw_series(LineSeries::new(outline, c.stroke_width(2)))?
                .label(format!("{name} (mean {mean:.3})"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    write_svg(path, &svg)
}

/// Loss (left) and cosine (right) per epoch, train and val. Non-finite values (a diverged
/// epoch) are left out of the lines rather than failing the whole figure.
pub fn plot_training_curves(path: &Path, epochs: &[EpochPoint]) -> Result<()> {
    if epochs.is_empty() {
        bail!(
            "training curves ({}) need at least one epoch",
            path.display()
        );
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 450)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((1, 2));
        type Get = fn(&EpochPoint) -> f64;
        let loss: [(&str, Get); 2] = [
            ("train loss", |e| e.train_loss),
            ("val loss", |e| e.val_loss),
        ];
        let cosine: [(&str, Get); 2] = [
            ("train cosine", |e| e.train_cosine),
            ("val cosine", |e| e.val_cosine),
        ];
        for (area, (title, lines)) in panels.iter().zip([("loss", loss), ("cosine", cosine)]) {
            let (x0, x1) = finite_range(epochs.iter().map(|e| e.epoch as f64)).unwrap();
            let (x0, x1) = if x1 - x0 < 1.0 {
                (x0 - 0.5, x1 + 0.5)
            } else {
                (x0, x1)
            };
            let values = epochs
                .iter()
                .flat_map(|e| lines.iter().map(move |(_, f)| f(e)));
            let (y0, y1) = finite_range(values).unwrap_or((0.0, 1.0));
            let pad = ((y1 - y0) * 0.08).max(1e-3);
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{title} per epoch"), ("sans-serif", 18))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc(title)
                .draw()?;
            for (k, (name, f)) in lines.iter().enumerate() {
                let c = colour(k);
                let points: Vec<(f64, f64)> = epochs
                    .iter()
                    .map(|e| (e.epoch as f64, f(e)))
                    .filter(|(_, y)| y.is_finite())
                    .collect();
                chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
                chart
                    .draw_series(LineSeries::new(points, c.stroke_width(2)))?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
    }
    write_svg(path, &svg)
}

/// (min, max) of the finite values, `None` when there are none.
pub(crate) fn finite_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

pub(crate) fn write_svg(path: &Path, svg: &str) -> Result<()> {
    lvmkit_io::write_atomic(path, |w| Ok(w.write_all(svg.as_bytes())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_svg_holds_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plots/cosines.svg");
        let model: Vec<f32> = (0..500).map(|i| 0.3 + 0.5 * (i as f32 / 500.0)).collect();
        let baseline: Vec<f32> = (0..300).map(|i| 0.1 + 0.4 * (i as f32 / 300.0)).collect();
        plot_cosine_histogram(
            &path,
            "test split",
            &[("mlp", &model), ("ridge", &baseline)],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("test split"));
        assert!(svg.contains("mlp (mean 0.55"), "model legend missing");
        assert!(
            svg.contains("ridge (mean 0.299)"),
            "baseline legend missing"
        );
        // Two series of BINS bars each, plus the background and legend boxes.
        assert!(svg.matches("<rect").count() >= 2 * BINS);
        assert!(
            svg.contains("#1F77B4") || svg.contains("#1f77b4"),
            "first series colour"
        );
        assert!(
            svg.contains("#FF7F0E") || svg.contains("#ff7f0e"),
            "second series colour"
        );
        assert!(plot_cosine_histogram(&path, "x", &[]).is_err());
    }

    #[test]
    fn training_curves_svg_has_both_panels_and_all_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.svg");
        let epochs: Vec<EpochPoint> = (1..=5)
            .map(|e| EpochPoint {
                epoch: e,
                train_loss: 1.0 / e as f64,
                val_loss: 1.2 / e as f64,
                train_cosine: 0.3 + 0.05 * e as f64,
                val_cosine: if e == 3 {
                    f64::NAN
                } else {
                    0.28 + 0.04 * e as f64
                },
            })
            .collect();
        plot_training_curves(&path, &epochs).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        for label in [
            "loss per epoch",
            "cosine per epoch",
            "train loss",
            "val loss",
            "train cosine",
            "val cosine",
        ] {
            assert!(svg.contains(label), "{label} missing");
        }
        assert!(svg.matches("<polyline").count() >= 4, "one line per series");
        // A single epoch still draws (the x range is widened around it).
        plot_training_curves(&path, &epochs[..1]).unwrap();
        assert!(plot_training_curves(&path, &[]).is_err());
    }
}
