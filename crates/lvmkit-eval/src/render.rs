//! An [`EvalReport`] for people: an aligned table for the terminal, Markdown for files (the
//! leaderboard), each with a legend, the ridge's chosen α and the comparisons under it. The
//! columns: cosine, recall@1/5/10, MRR, median rank, contrastive accuracy ("CA") and the
//! paraphrase ratio.

use crate::report::{Comparison, EvalReport, EvalRow, RowKind};
use lvmkit_io::{Align, Table};
use std::fmt::Write;

fn kind_name(k: RowKind) -> &'static str {
    match k {
        RowKind::Model => "model",
        RowKind::Baseline => "baseline",
    }
}

/// The rows as a table: names and kinds read left to right, numbers line up on the right.
fn table(r: &EvalReport) -> Table {
    let mut t = Table::new([
        ("name", Align::Left),
        ("kind", Align::Left),
        ("cosine", Align::Right),
        ("recall@1", Align::Right),
        ("recall@5", Align::Right),
        ("recall@10", Align::Right),
        ("mrr", Align::Right),
        ("median rank", Align::Right),
        ("CA", Align::Right),
        ("paraphrase", Align::Right),
    ]);
    for row in &r.rows {
        t.row(cells(row));
    }
    t
}

/// Four decimals, or "–" for a number the report does not have (NaN).
fn fixed4(x: f64) -> String {
    if x.is_nan() {
        "–".to_string()
    } else {
        format!("{x:.4}")
    }
}

fn cells(r: &EvalRow) -> [String; 10] {
    let m = &r.retrieval;
    [
        r.name.clone(),
        kind_name(r.kind).to_string(),
        format!("{:.4}", r.cosine),
        format!("{:.4}", m.recall_at_1),
        format!("{:.4}", m.recall_at_5),
        format!("{:.4}", m.recall_at_10),
        format!("{:.4}", m.mrr),
        format!("{}", m.median_rank),
        fixed4(r.contrastive_accuracy),
        fixed4(r.paraphrase_ratio),
    ]
}

fn heading(r: &EvalReport) -> String {
    format!(
        "split {}: {} windows in {} documents; targets ranked among the {} {} concepts; dataset {}",
        r.split,
        r.windows,
        r.documents,
        r.bank_size,
        r.bank,
        &r.dataset[..r.dataset.len().min(12)]
    )
}

fn comparison_line(c: &Comparison) -> String {
    format!(
        "{} − {} (best baseline): Δcosine {:+.4}, 95% CI [{:+.4}, {:+.4}] ({} {} resamples)",
        c.model, c.best_baseline, c.delta, c.ci95[0], c.ci95[1], c.resamples, c.unit
    )
}

/// What the two least obvious columns mean.
const LEGEND: &str = "CA: contrastive accuracy, the share of the bank (the target's copies and \
neighbours left out) farther from the prediction than the truth, 0.5 = chance; paraphrase: \
how close predictions sit to their context over how close the truths do, above 1 = copying";

/// The lines under a table: the legend, the ridge's chosen α, then each comparison.
fn notes(r: &EvalReport) -> Vec<String> {
    let legend = std::iter::once(LEGEND.to_string());
    let ridge = r.ridge.iter().map(|ri| {
        format!(
            "ridge: α = {:.4} chosen on val (val cosine {:.4})",
            ri.alpha, ri.val_cosine
        )
    });
    legend
        .chain(ridge)
        .chain(r.comparisons.iter().map(comparison_line))
        .collect()
}

/// An aligned plain-text table for the terminal, the comparisons under it.
pub fn render_table(r: &EvalReport) -> String {
    let mut out = format!("{}\n{}", heading(r), table(r).text());
    for line in notes(r) {
        writeln!(out, "{line}").unwrap();
    }
    out
}

/// The same table in Markdown, comparisons as a list under it.
pub fn markdown_table(r: &EvalReport) -> String {
    let mut out = format!("{}\n\n{}", heading(r), table(r).markdown());
    let notes = notes(r);
    if !notes.is_empty() {
        out.push('\n');
    }
    for line in notes {
        writeln!(out, "- {line}").unwrap();
    }
    out
}
