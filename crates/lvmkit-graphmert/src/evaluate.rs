//! Extraction as a user runs it, and GraphMERT's evaluation next to its baselines.
//!
//! - [`extract_filtered`]: [`extract`](crate::extract::extract) for some head occurrences,
//!   then the similarity [`filter`] (β calibrated on seed triples unless given).
//! - [`extract_to`]: `lvmkit graphmert extract`: every head (or the held-out ones) of the first
//!   sequences; writes `triples.jsonl`/`.tsv` and `extract.json`.
//! - [`evaluate`]: `lvmkit graphmert eval`: GraphMERT, the text-only baseline and the
//!   graph-only (TransE) baseline on the held-out heads, each scored against the held-out edges
//!   (precision, implied precision, recall, Hits@1/10) and by GO's own rules (validity); writes
//!   `eval.json` and `extracted.jsonl`/`.tsv`.

use crate::extract::{extract, select, ExtractOptions, Extracted, Hierarchy};
use crate::filter::{self, Calibration};
use crate::model::Graphmert;
use crate::score::{graded_precision, implied_precision, score, text_only, Scored};
use crate::train::TrainSettings;
use crate::transe::{TransE, TransEConfig};
use crate::validity::{ValidityRules, Verdict};
use crate::{DataOptions, GraphData, HeadOccurrence};
use anyhow::{bail, Result};
use lvmkit_io::Table;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The similarity filter's threshold β.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Similarity {
    /// Calibrated on seed triples: the similarity a share `keep` of them reach.
    Auto,
    /// A fixed β; 0 keeps every triple.
    Fixed(f32),
}

impl std::str::FromStr for Similarity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(Similarity::Auto);
        }
        match s.parse::<f32>() {
            Ok(b) if (0.0..=1.0).contains(&b) => Ok(Similarity::Fixed(b)),
            _ => Err(format!("must be \"auto\" or a number in [0, 1], got {s:?}")),
        }
    }
}

/// How triples are extracted and filtered (shared by `extract` and `eval`; also the CLI's
/// flags).
#[derive(Debug, Clone, clap::Args)]
pub struct ExtractSettings {
    #[command(flatten)]
    pub extract: ExtractOptions,
    /// Similarity filter: keep a triple only if cos("head relation tail", sequence) ≥ β with the
    /// sentence encoder. "auto" calibrates β on seed triples (see --keep); a number in [0, 1]
    /// sets it; 0 keeps all.
    #[arg(long, default_value = "auto")]
    pub similarity: Similarity,
    /// With --similarity auto: β is the similarity this share of true seed triples reach
    /// (chosen with `graphmert tune` on the validation heads).
    #[arg(long, default_value_t = 0.8)]
    pub keep: f64,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// What extraction and the similarity filter did.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractSummary {
    pub occurrences: usize,
    pub top_k: usize,
    /// Tails formed from top-k tokens.
    pub formed: usize,
    /// β used (0: no filter).
    pub beta: f32,
    pub calibration: Option<Calibration>,
    /// Tails that passed the filter.
    pub supported: usize,
    /// Triples kept: the best `tails` of each query after the filter.
    pub kept: usize,
}

/// A trained run with what extraction needs: the data it was trained on (same layout and split
/// seed) and the sentence encoder whose vocabulary it uses and whose embeddings filter.
pub struct TrainedRun {
    pub model: Graphmert,
    pub settings: TrainSettings,
    pub data: GraphData,
    pub encoder: PathBuf,
}

impl TrainedRun {
    /// The run in `run`, with the Gene Ontology and default encoder of the data folder.
    pub fn open(data: &lvmkit_sources::DataDir, run: &Path) -> Result<Self> {
        let (model, settings) = crate::train::load_run(run)?;
        let opts = DataOptions {
            layout: model.config.layout,
            seed: settings.seed,
            ..Default::default()
        };
        let d = GraphData::from_data_dir(data, &opts)?;
        if d.vocab.size != model.config.vocab {
            bail!(
                "the run's vocabulary ({}) is not the encoder's ({})",
                model.config.vocab,
                d.vocab.size
            );
        }
        Ok(Self {
            model,
            settings,
            data: d,
            encoder: data.default_encoder(),
        })
    }

    /// [`extract_filtered`] with this run's model, data, encoder and seed.
    pub fn extract(
        &self,
        occurrences: &[HeadOccurrence],
        settings: &ExtractSettings,
    ) -> Result<(Vec<Extracted>, ExtractSummary)> {
        let (m, d, seed) = (&self.model, &self.data, self.settings.seed);
        extract_filtered(m, d, occurrences, settings, &self.encoder, seed)
    }
}

/// Extract for `occurrences`, then score and filter by similarity with the sentence encoder in
/// `encoder` (β calibrated on 2,000 seed triples drawn with `seed` unless fixed).
pub fn extract_filtered(
    model: &Graphmert,
    d: &GraphData,
    occurrences: &[HeadOccurrence],
    settings: &ExtractSettings,
    encoder: &Path,
    seed: u64,
) -> Result<(Vec<Extracted>, ExtractSummary)> {
    if !(0.0..=1.0).contains(&settings.keep) {
        let msg = format!("must be in [0, 1], got {}", settings.keep);
        return Err(lvmkit_io::setting_error("keep", msg).into());
    }
    let mut triples = extract(model, d, occurrences, &settings.extract, true)?;
    let formed = triples.len();
    let mut calibration = None;
    let mut beta = match settings.similarity {
        Similarity::Auto => 0.0,
        Similarity::Fixed(b) => b,
    };
    if settings.similarity != Similarity::Fixed(0.0) && !triples.is_empty() {
        let enc = lvmkit_encode::SentenceEncoder::load(encoder)?;
        if settings.similarity == Similarity::Auto {
            let c = filter::calibrate(&enc, d, 2000, settings.keep, seed)?;
            beta = c.beta;
            calibration = Some(c);
        }
        filter::score(&enc, d, &mut triples)?;
        triples.retain(|x| x.similarity.unwrap_or(0.0) >= beta);
    }
    let supported = triples.len();
    let triples = select(d, &Hierarchy::new(d), &triples, &settings.extract);
    let summary = ExtractSummary {
        occurrences: occurrences.len(),
        top_k: settings.extract.top_k,
        formed,
        beta,
        calibration,
        supported,
        kept: triples.len(),
    };
    Ok((triples, summary))
}

/// Share of distinct triples that GO's rules accept.
pub fn validity(d: &GraphData, triples: &[Scored]) -> f64 {
    let mut rules = ValidityRules::new(&d.ontology, &d.split.seed);
    let unique: BTreeSet<(u32, u8, u32)> = triples
        .iter()
        .map(|t| (t.head, t.relation, t.tail))
        .collect();
    if unique.is_empty() {
        return 0.0;
    }
    let ok = unique
        .iter()
        .filter(|(h, r, t)| rules.judge(*h, *r, *t) == Verdict::Valid)
        .count();
    ok as f64 / unique.len() as f64
}

/// OUT/STEM.jsonl (everything, provenance included) and OUT/STEM.tsv (one line per triple).
/// With `held_out`, each JSON row also says whether its triple is a held-out GO edge.
pub fn write_triples(
    out: &Path,
    stem: &str,
    triples: &[Extracted],
    held_out: Option<&BTreeSet<(u32, u8, u32)>>,
) -> Result<()> {
    std::fs::create_dir_all(out)?;
    lvmkit_io::write_atomic(&out.join(format!("{stem}.jsonl")), |w| {
        for x in triples {
            let mut row = serde_json::to_value(x)?;
            if let Some(truth) = held_out {
                let s = x.scored();
                row["held_out_edge"] = truth.contains(&(s.head, s.relation, s.tail)).into();
            }
            writeln!(w, "{row}")?;
        }
        Ok(())
    })?;
    lvmkit_io::write_atomic(&out.join(format!("{stem}.tsv")), |w| {
        writeln!(
            w,
            "seq\thead\trelation\ttail\tscore\tsimilarity\ttop_tokens\ttext"
        )?;
        for x in triples {
            let tokens: Vec<String> = x
                .tokens
                .iter()
                .map(|(t, p)| format!("{t}:{p:.3}"))
                .collect();
            writeln!(
                w,
                "{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{}\t{}",
                x.seq,
                x.head_name,
                x.relation,
                x.tail_name,
                x.score,
                x.similarity.unwrap_or(f32::NAN),
                tokens.join(" "),
                x.text.replace(['\t', '\n'], " ")
            )?;
        }
        Ok(())
    })
}

/// Which heads `lvmkit graphmert extract` extracts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Heads {
    /// Every head found in the text.
    All,
    /// Only the held-out heads.
    HeldOut,
}

/// What `lvmkit graphmert extract` did (also `extract.json`).
#[derive(Debug, Clone, Serialize)]
pub struct ExtractReport {
    pub sequences: usize,
    pub summary: ExtractSummary,
    pub distinct: usize,
    pub new: usize,
    pub restated: usize,
    pub validity: f64,
}

/// Extracts for every head (or held-out head) of the first `max_sequences` sequences (0: all),
/// and writes OUT/triples.jsonl, triples.tsv and extract.json.
pub fn extract_to(
    run: &TrainedRun,
    (heads, max_sequences): (Heads, usize),
    settings: &ExtractSettings,
    out: &Path,
) -> Result<ExtractReport> {
    let _lock = lvmkit_io::OutputLock::acquire(out, "GraphMERT output folder")?;
    let d = &run.data;
    let occurrences: Vec<HeadOccurrence> = d
        .occurrences
        .iter()
        .filter(|o| max_sequences == 0 || o.seq < max_sequences)
        .filter(|o| heads == Heads::All || d.split.held_out_heads.contains(&o.term))
        .copied()
        .collect();
    let sequences = occurrences.iter().map(|o| o.seq).collect::<BTreeSet<_>>();
    tracing::info!(
        "extracting for {} head occurrences in {} sequences",
        occurrences.len(),
        sequences.len()
    );
    let (triples, summary) = run.extract(&occurrences, settings)?;
    let scored: Vec<Scored> = triples.iter().map(Extracted::scored).collect();
    let seed: BTreeSet<(u32, u8, u32)> = d
        .split
        .seed
        .iter()
        .map(|e| (e.child, e.relation, e.parent))
        .collect();
    let unique: BTreeSet<(u32, u8, u32)> = scored
        .iter()
        .map(|t| (t.head, t.relation, t.tail))
        .collect();
    let restated = unique.iter().filter(|t| seed.contains(t)).count();
    let report = ExtractReport {
        sequences: sequences.len(),
        summary,
        distinct: unique.len(),
        new: unique.len() - restated,
        restated,
        validity: validity(d, &scored),
    };
    write_triples(out, "triples", &triples, None)?;
    let mut json = serde_json::to_value(&report)?;
    json["heads"] = match heads {
        Heads::All => "all",
        Heads::HeldOut => "held-out",
    }
    .into();
    lvmkit_io::write_json_atomic(&out.join("extract.json"), &json)?;
    Ok(report)
}

/// What `lvmkit graphmert eval` scores, beyond the extraction settings (also the CLI's flags).
#[derive(Debug, Clone, clap::Args)]
pub struct EvalSettings {
    #[command(flatten)]
    pub extract: ExtractSettings,
    /// Use every occurrence of a held-out head, not only its own definition.
    #[arg(long)]
    pub all_occurrences: bool,
    /// Evaluate at most this many held-out heads (0: all), the first by GO id.
    #[arg(long, default_value_t = 0)]
    pub max_heads: usize,
    /// Which held-out heads are scored: the test heads (the reported numbers) or the
    /// validation heads (where extraction settings are chosen; `graphmert tune`).
    #[arg(long, value_enum, default_value_t = Scoring::Test)]
    pub on: Scoring,
    /// TransE epochs for the graph-only baseline.
    #[arg(long, default_value_t = 20)]
    pub transe_epochs: usize,
}

impl Default for EvalSettings {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// Which held-out heads an evaluation scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scoring {
    /// The held-out test heads: the numbers to report.
    Test,
    /// The validation heads: where settings are chosen.
    Val,
}

/// One system's row of the evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemRow {
    pub name: &'static str,
    pub scores: crate::score::Scores,
    pub implied_precision: f64,
    pub graded_precision: f64,
    pub validity: f64,
}

/// GraphMERT next to both baselines on the held-out heads.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub rows: Vec<SystemRow>,
    pub held_out_heads: usize,
    pub held_out_edges: usize,
    pub extraction: ExtractSummary,
}

impl Evaluation {
    /// One line per system: what `lvmkit graphmert eval` prints.
    pub fn table(&self) -> Table {
        let mut t = Table::named([
            "system",
            "precision",
            "implied precision",
            "graded precision",
            "recall",
            "Hits@1",
            "Hits@10",
            "validity",
            "triples",
            "new",
            "restated",
        ]);
        for r in &self.rows {
            let s = &r.scores;
            t.row([
                r.name.to_string(),
                format!("{:.4}", s.precision),
                format!("{:.4}", r.implied_precision),
                format!("{:.4}", r.graded_precision),
                format!("{:.4}", s.recall),
                format!("{:.4}", s.hits_at_1),
                format!("{:.4}", s.hits_at_10),
                format!("{:.4}", r.validity),
                s.triples.to_string(),
                s.new_triples.to_string(),
                s.restated.to_string(),
            ]);
        }
        t
    }

    /// `eval.json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "rows": self.rows.iter().map(row_json).collect::<Vec<_>>(),
            "held_out_heads": self.held_out_heads,
            "held_out_edges": self.held_out_edges,
            "extraction": self.extraction,
        })
    }
}

/// Extracts for the held-out heads, scores GraphMERT, the text-only and the graph-only
/// (TransE) baselines against the held-out edges, and writes OUT/eval.json and
/// OUT/extracted.jsonl (+ .tsv), each triple with its provenance and whether it is a held-out
/// edge.
pub fn evaluate(run: &TrainedRun, settings: &EvalSettings, out: &Path) -> Result<Evaluation> {
    let _lock = lvmkit_io::OutputLock::acquire(out, "GraphMERT output folder")?;
    let d = &run.data;
    let scored = Judged::new(run, settings);
    tracing::info!(
        "extracting for {} {} heads ({} occurrences)",
        scored.split.held_out_heads.len(),
        if settings.on == Scoring::Val {
            "validation"
        } else {
            "held-out"
        },
        scored.occurrences.len()
    );
    let (extracted, extraction) = run.extract(&scored.occurrences, &settings.extract)?;
    let graphmert: Vec<Scored> = extracted.iter().map(Extracted::scored).collect();
    let mut rows = vec![scored.row(d, "graphmert", &graphmert)];
    rows.extend(scored.baselines(run, settings));
    let evaluation = Evaluation {
        rows,
        held_out_heads: scored.split.held_out_heads.len(),
        held_out_edges: scored.split.held_out.len(),
        extraction,
    };
    std::fs::create_dir_all(out)?;
    let mut json = evaluation.to_json();
    json["on"] = serde_json::to_value(settings.on)?;
    // The validation heads' files never replace the test heads'.
    let suffix = match settings.on {
        Scoring::Test => "",
        Scoring::Val => "_val",
    };
    lvmkit_io::write_json_atomic(&out.join(format!("eval{suffix}.json")), &json)?;
    let truth: BTreeSet<(u32, u8, u32)> = scored
        .split
        .held_out
        .iter()
        .map(|e| (e.child, e.relation, e.parent))
        .collect();
    write_triples(out, &format!("extracted{suffix}"), &extracted, Some(&truth))?;
    Ok(evaluation)
}

/// The heads an evaluation scores, their held-out edges and the occurrences extracted for.
struct Judged {
    heads: BTreeSet<u32>,
    split: crate::split::SeedSplit,
    occurrences: Vec<HeadOccurrence>,
    edges: Vec<crate::go::Edge>,
}

impl Judged {
    fn new(run: &TrainedRun, settings: &EvalSettings) -> Self {
        let d = &run.data;
        let base = match settings.on {
            Scoring::Test => d.split.clone(),
            Scoring::Val => d.split.validation(),
        };
        let heads: BTreeSet<u32> = if settings.max_heads > 0 {
            base.held_out_heads
                .iter()
                .copied()
                .take(settings.max_heads)
                .collect()
        } else {
            base.held_out_heads.clone()
        };
        let split = base.restricted_to(&heads);
        let occurrences: Vec<_> = d
            .occurrences
            .iter()
            .filter(|o| {
                heads.contains(&o.term)
                    && (settings.all_occurrences || d.sequences[o.seq].term == o.term)
            })
            .copied()
            .collect();
        // What implied and graded precision may walk through: the whole ontology for the test
        // heads; on the validation heads everything but the test heads' edges, so no choice
        // made there sees a test edge.
        let edges = match settings.on {
            Scoring::Test => d.ontology.edges.clone(),
            Scoring::Val => d
                .ontology
                .edges
                .iter()
                .filter(|e| !d.split.held_out_heads.contains(&e.child))
                .copied()
                .collect(),
        };
        Self {
            heads,
            split,
            occurrences,
            edges,
        }
    }

    fn row(&self, d: &GraphData, name: &'static str, triples: &[Scored]) -> SystemRow {
        SystemRow {
            name,
            scores: score(triples, &self.split),
            implied_precision: implied_precision(triples, &self.split, &self.edges),
            graded_precision: graded_precision(triples, &self.split, &self.edges),
            validity: validity(d, triples),
        }
    }

    /// The text-only and graph-only (TransE) baselines' rows.
    fn baselines(&self, run: &TrainedRun, settings: &EvalSettings) -> Vec<SystemRow> {
        let d = &run.data;
        let text: Vec<Scored> = text_only(&d.ontology, &d.split.seed, &d.occurrences)
            .into_iter()
            .filter(|s| self.heads.contains(&s.head))
            .collect();
        let (transe, _) = TransE::train(
            d.ontology.terms.len(),
            &d.split.seed,
            &TransEConfig {
                epochs: settings.transe_epochs,
                seed: run.settings.seed,
                ..Default::default()
            },
        );
        let graph = transe.predict(&d.ontology, &d.split.seed, &self.heads, 10);
        vec![
            self.row(d, "text_only", &text),
            self.row(d, "graph_only", &graph),
        ]
    }
}

/// The extraction settings `graphmert tune` tries: every combination.
#[derive(Debug, Clone, clap::Args)]
pub struct TuneGrid {
    /// Tails kept per query.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub tails_grid: Vec<usize>,
    /// Specificity weights.
    #[arg(long, value_delimiter = ',', default_value = "0,0.1,0.25,0.5")]
    pub specificity_grid: Vec<f64>,
    /// Mention bonuses.
    #[arg(long, value_delimiter = ',', default_value = "0,1,3")]
    pub mention_grid: Vec<f64>,
    /// Similarity filter strengths (--keep: the share of true seed triples β keeps).
    #[arg(long, value_delimiter = ',', default_value = "0.7,0.8,0.9")]
    pub keep_grid: Vec<f64>,
}

/// One setting of `graphmert tune` and how GraphMERT scores with it on the validation heads.
#[derive(Debug, Clone, Serialize)]
pub struct TunePoint {
    /// The similarity filter's --keep (β calibrated for it).
    pub keep: f64,
    pub tails: usize,
    pub specificity: f64,
    pub mention: f64,
    pub drop_general: bool,
    /// Validity at least the better baseline's.
    pub validity_ok: bool,
    /// GraphMERT's worst column but validity relative to the better baseline on it (> 1:
    /// above both on all of them).
    pub worst_ratio: f64,
    pub worst_column: &'static str,
    #[serde(skip)]
    pub row: SystemRow,
}

/// A system's worst column relative to the best value on it, as (column, ratio): a column
/// where both are 0 counts as 1, one where only the best is 0 as infinite. `row` and `best`
/// list the same columns in the same order.
pub fn worst_ratio(
    row: &[(&'static str, f64)],
    best: &[(&'static str, f64)],
) -> (&'static str, f64) {
    row.iter()
        .zip(best)
        .map(|(&(name, g), &(_, b))| {
            let ratio = match (g > 0.0, b > 0.0) {
                (_, true) => g / b,
                (true, false) => f64::INFINITY,
                (false, false) => 1.0,
            };
            (name, ratio)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one column")
}

/// Each column's best value among `rows`.
fn best_of(rows: &[SystemRow]) -> [(&'static str, f64); 7] {
    let mut best = columns(&rows[0]);
    for r in &rows[1..] {
        for (b, (_, v)) in best.iter_mut().zip(columns(r)) {
            b.1 = b.1.max(v);
        }
    }
    best
}

/// The columns a system must lead on, each as (name, value); validity last.
pub fn columns(r: &SystemRow) -> [(&'static str, f64); 7] {
    let s = &r.scores;
    [
        ("precision", s.precision),
        ("implied precision", r.implied_precision),
        ("graded precision", r.graded_precision),
        ("recall", s.recall),
        ("Hits@1", s.hits_at_1),
        ("Hits@10", s.hits_at_10),
        ("validity", r.validity),
    ]
}

/// Chooses the extraction settings on the validation heads, never the test heads: forms every
/// candidate and its similarity once, then filters (β calibrated per `keep`), ranks and cuts
/// the candidates with every setting of `grid` (with and without `drop_general`), scores each next to both
/// baselines, and orders the settings: validity at least the better baseline's first, then by
/// GraphMERT's worst other column relative to the better baseline on it. Writes
/// OUT/tune.json; returns the points (best first) and the baselines' rows.
pub fn tune(
    run: &TrainedRun,
    settings: &EvalSettings,
    grid: &TuneGrid,
    out: &Path,
) -> Result<(Vec<TunePoint>, Vec<SystemRow>)> {
    let _lock = lvmkit_io::OutputLock::acquire(out, "GraphMERT output folder")?;
    let settings = EvalSettings {
        on: Scoring::Val,
        ..settings.clone()
    };
    let d = &run.data;
    let scored = Judged::new(run, &settings);
    if scored.heads.is_empty() {
        bail!("the run's data has no validation heads");
    }
    // Every candidate formed and scored by the encoder once; the filter (per --keep) and the
    // selection are redone per setting.
    let mut candidates = extract(
        &run.model,
        d,
        &scored.occurrences,
        &settings.extract.extract,
        true,
    )?;
    let enc = lvmkit_encode::SentenceEncoder::load(&run.encoder)?;
    filter::score(&enc, d, &mut candidates)?;
    let baselines = scored.baselines(run, &settings);
    let hierarchy = Hierarchy::new(d);
    let mut points = Vec::new();
    for &keep in &grid.keep_grid {
        let beta = filter::calibrate(&enc, d, 2000, keep, run.settings.seed)?.beta;
        let supported: Vec<Extracted> = candidates
            .iter()
            .filter(|x| x.similarity.unwrap_or(0.0) >= beta)
            .cloned()
            .collect();
        for &tails in &grid.tails_grid {
            for &specificity in &grid.specificity_grid {
                for &mention in &grid.mention_grid {
                    for drop_general in [false, true] {
                        let opts = ExtractOptions {
                            tails,
                            specificity,
                            mention,
                            drop_general,
                            ..settings.extract.extract
                        };
                        let chosen = select(d, &hierarchy, &supported, &opts);
                        let triples: Vec<Scored> = chosen.iter().map(Extracted::scored).collect();
                        let row = scored.row(d, "graphmert", &triples);
                        let best = best_of(&baselines);
                        let validity_ok = row.validity >= best[6].1;
                        let (worst_column, worst_ratio) =
                            worst_ratio(&columns(&row)[..6], &best[..6]);
                        points.push(TunePoint {
                            keep,
                            validity_ok,
                            tails,
                            specificity,
                            mention,
                            drop_general,
                            worst_ratio,
                            worst_column,
                            row,
                        });
                    }
                }
            }
        }
    }
    points.sort_by(|a, b| {
        (b.validity_ok, b.worst_ratio)
            .partial_cmp(&(a.validity_ok, a.worst_ratio))
            .expect("ratios are not NaN")
    });
    let json = serde_json::json!({
        "on": "val",
        "heads": scored.heads.len(),
        "edges": scored.split.held_out.len(),
        "candidates": candidates.len(),
        "baselines": baselines.iter().map(row_json).collect::<Vec<_>>(),
        "points": points.iter().map(|p| {
            let mut v = serde_json::to_value(p).expect("plain data");
            v["row"] = row_json(&p.row);
            v
        }).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(out)?;
    lvmkit_io::write_json_atomic(&out.join("tune.json"), &json)?;
    Ok((points, baselines))
}

fn row_json(r: &SystemRow) -> serde_json::Value {
    let s = &r.scores;
    serde_json::json!({
        "name": r.name, "precision": s.precision, "implied_precision": r.implied_precision,
        "graded_precision": r.graded_precision,
        "recall": s.recall, "hits@1": s.hits_at_1, "hits@10": s.hits_at_10,
        "validity": r.validity, "triples": s.triples, "new_triples": s.new_triples,
        "restated": s.restated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_auto_or_a_threshold_in_the_unit_interval() {
        assert_eq!("auto".parse(), Ok(Similarity::Auto));
        assert_eq!("0.75".parse(), Ok(Similarity::Fixed(0.75)));
        assert_eq!("0".parse(), Ok(Similarity::Fixed(0.0)));
        for bad in ["high", "1.5", "-0.1", ""] {
            let e = bad.parse::<Similarity>().unwrap_err();
            assert!(e.contains("\"auto\" or a number"), "{e}");
        }
    }
}
