//! An [`EvalReport`] for people: an aligned table for the terminal, Markdown for files (the
//! leaderboard), each with the ridge's chosen α and the comparisons under it.

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
    ]);
    for row in &r.rows {
        t.row(cells(row));
    }
    t
}

fn cells(r: &EvalRow) -> [String; 8] {
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

/// The lines under a table: the ridge's chosen α, then each comparison.
fn notes(r: &EvalReport) -> Vec<String> {
    let ridge = r.ridge.iter().map(|ri| {
        format!(
            "ridge: α = {:.4} chosen on val (val cosine {:.4})",
            ri.alpha, ri.val_cosine
        )
    });
    ridge
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
