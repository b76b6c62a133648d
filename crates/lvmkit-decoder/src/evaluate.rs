//! `lvmkit decoder eval`: the decoder on held-out sentences (val, test, ood: never trained
//! on), per correction-step count, next to retrieval decoding from the train bank (the
//! nearest train sentence by exact cosine: what lvmkit decoded with before, now on sentences
//! the bank does not hold); and on a model's predicted vectors for test windows.

use crate::generate::{InvertOptions, Inverter};
use crate::metrics::{exact, token_f1, Bleu};
use crate::train::{split_rows, spread};
use anyhow::{bail, Result};
use lvmkit_dataset::Dataset;
use lvmkit_eval::retrieval::{Bank, BankIndex};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

pub struct EvalOptions {
    /// Sentences (or test windows) per split, spread evenly over it.
    pub sentences: usize,
    /// Correction steps: every count from 0 to this is reported.
    pub steps: usize,
    pub beam: usize,
    /// A next-concept model run whose predictions for test windows are decoded too.
    pub model_run: Option<std::path::PathBuf>,
}

/// One line of the table: a decoder on a split at a step count.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    pub split: String,
    /// "inversion" or "retrieval (train bank)".
    pub decoder: String,
    /// Correction steps (None for retrieval).
    pub steps: Option<usize>,
    pub sentences: usize,
    pub bleu: f64,
    pub token_f1: f64,
    pub exact: f64,
    /// Cosine of the decoded text's embedding to the target vector, mean.
    pub round_trip_cosine: f64,
}

/// Decoding a model's predictions: how close the decoded text is to what the model predicted,
/// and to the true next sentence.
#[derive(Debug, Clone, Serialize)]
pub struct PredictedRow {
    pub decoder: String,
    pub steps: Option<usize>,
    pub round_trip_cosine: f64,
    pub cosine_to_truth: f64,
    /// BLEU of the decoded text against the true next sentence.
    pub bleu_to_truth: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Predicted {
    pub model_run: String,
    pub windows: usize,
    /// The prediction's own cosine to the true next sentence's vector.
    pub prediction_cosine_to_truth: f64,
    pub rows: Vec<PredictedRow>,
    pub examples: Vec<Example>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub split: String,
    pub target: String,
    /// After the most correction steps.
    pub decoded: String,
    pub round_trip_cosine: f64,
    pub retrieval: String,
    pub retrieval_cosine: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecoderReport {
    pub decoder_run: String,
    pub data: String,
    pub beam: usize,
    pub steps: usize,
    pub rows: Vec<ScoreRow>,
    pub predicted: Option<Predicted>,
    /// Per split, the three best and three worst decodings by round-trip cosine.
    pub examples: Vec<Example>,
    /// Inversion decoding speed on the splits' sentences (all step counts, re-embedding
    /// included; retrieval and the predictions not counted).
    pub sentences_per_s: f64,
    pub seconds: f64,
}

/// The nearest train sentence of each query, by exact cosine: (row, cosine). The bank is
/// lvmkit-eval's ([`BankIndex`], the one `lvmkit eval` ranks with).
struct TrainBank(BankIndex);

impl TrainBank {
    fn new(ds: &Dataset) -> Result<Self> {
        if split_rows(ds, "train").is_empty() {
            bail!(
                "dataset {} has no train sentences to retrieve from",
                ds.dir.display()
            );
        }
        Ok(Self(BankIndex::build(ds, "train", Bank::Split)?))
    }

    fn nearest(&self, queries: &[f32], d: usize) -> Result<Vec<(usize, f64)>> {
        let unit: Vec<f32> = queries
            .chunks(d)
            .flat_map(|q| {
                let n = q.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                q.iter().map(move |x| x / n)
            })
            .collect();
        Ok(self
            .0
            .nearest(&unit, 1)?
            .into_iter()
            .map(|hits| {
                let (row, score) = hits[0];
                (row, score as f64)
            })
            .collect())
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    lvmkit_encode::cosine(a, b) as f64
}

/// Evaluates `inv` (which must have its encoder) on `ds`.
pub fn evaluate_decoder(
    inv: &Inverter,
    run_dir: &Path,
    ds: &Dataset,
    opts: &EvalOptions,
) -> Result<DecoderReport> {
    if !inv.has_encoder() {
        bail!("evaluating a decoder re-embeds its texts: it needs the run's encoder");
    }
    if ds.dim() != inv.dim() {
        bail!(
            "dataset {} has {}-D vectors; the decoder reads {}-D",
            ds.dir.display(),
            ds.dim(),
            inv.dim()
        );
    }
    if ds.manifest.encoder.fingerprint != inv.config.data.encoder_fingerprint {
        bail!(
            "dataset {} was embedded with {}, the decoder with {}: their vectors are in \
             different spaces",
            ds.dir.display(),
            ds.manifest.encoder.name,
            inv.config.data.encoder
        );
    }
    if opts.sentences == 0 {
        bail!("--sentences must be at least 1");
    }
    let started = Instant::now();
    let texts = ds.concept_texts()?;
    let bank = TrainBank::new(ds)?;
    let d = ds.dim();
    let invert = InvertOptions {
        beam: opts.beam,
        steps: opts.steps,
        batch: 64,
    };
    let (mut rows, mut examples, mut decoded) = (Vec::new(), Vec::new(), 0usize);
    let mut decode_seconds = 0.0;
    for split in ["val", "test", "ood"] {
        let picked = spread(&split_rows(ds, split), opts.sentences);
        if picked.is_empty() {
            continue;
        }
        tracing::info!("decoding {} {split} sentences", picked.len());
        let targets: Vec<f32> = picked
            .iter()
            .flat_map(|&r| ds.concepts.row(r).to_vec())
            .collect();
        let decoding = Instant::now();
        let inversions = inv.invert(&targets, &invert)?;
        decode_seconds += decoding.elapsed().as_secs_f64();
        decoded += picked.len();
        for s in 0..=opts.steps {
            let mut bleu = Bleu::default();
            let (mut f1, mut ex, mut cos) = (0.0, 0.0, 0.0);
            for (k, &r) in picked.iter().enumerate() {
                let h = &inversions[k].steps[s];
                bleu.add(&h.text, &texts[r]);
                f1 += token_f1(&h.text, &texts[r]);
                ex += exact(&h.text, &texts[r]) as u8 as f64;
                cos += h.cosine.expect("the encoder is there") as f64;
            }
            let n = picked.len() as f64;
            rows.push(ScoreRow {
                split: split.into(),
                decoder: "inversion".into(),
                steps: Some(s),
                sentences: picked.len(),
                bleu: bleu.score(),
                token_f1: f1 / n,
                exact: ex / n,
                round_trip_cosine: cos / n,
            });
        }
        let nearest = bank.nearest(&targets, d)?;
        let mut bleu = Bleu::default();
        let (mut f1, mut ex, mut cos) = (0.0, 0.0, 0.0);
        for (k, &r) in picked.iter().enumerate() {
            let t = &texts[nearest[k].0];
            bleu.add(t, &texts[r]);
            f1 += token_f1(t, &texts[r]);
            ex += exact(t, &texts[r]) as u8 as f64;
            cos += nearest[k].1;
        }
        let n = picked.len() as f64;
        rows.push(ScoreRow {
            split: split.into(),
            decoder: "retrieval (train bank)".into(),
            steps: None,
            sentences: picked.len(),
            bleu: bleu.score(),
            token_f1: f1 / n,
            exact: ex / n,
            round_trip_cosine: cos / n,
        });
        let mut ex: Vec<Example> = picked
            .iter()
            .enumerate()
            .map(|(k, &r)| Example {
                split: split.into(),
                target: texts[r].clone(),
                decoded: inversions[k].best().text.clone(),
                round_trip_cosine: inversions[k].best().cosine.unwrap_or(f32::NAN) as f64,
                retrieval: texts[nearest[k].0].clone(),
                retrieval_cosine: nearest[k].1,
            })
            .collect();
        ex.sort_by(|a, b| b.round_trip_cosine.total_cmp(&a.round_trip_cosine));
        let worst = if ex.len() > 6 {
            ex.split_off(ex.len() - 3)
        } else {
            Vec::new()
        };
        examples.extend(ex.into_iter().take(6 - worst.len()).chain(worst));
    }
    if decoded == 0 {
        bail!(
            "dataset {} has no val, test or ood sentences to decode",
            ds.dir.display()
        );
    }
    let predicted = match &opts.model_run {
        Some(run) => Some(predicted(inv, &bank, ds, &texts, run, opts, &invert)?),
        None => None,
    };
    let seconds = started.elapsed().as_secs_f64();
    Ok(DecoderReport {
        decoder_run: run_dir.display().to_string(),
        data: ds.dir.display().to_string(),
        beam: opts.beam,
        steps: opts.steps,
        rows,
        predicted,
        examples,
        sentences_per_s: decoded as f64 / decode_seconds,
        seconds,
    })
}

fn predicted(
    inv: &Inverter,
    bank: &TrainBank,
    ds: &Dataset,
    texts: &[String],
    run: &Path,
    opts: &EvalOptions,
    invert: &InvertOptions,
) -> Result<Predicted> {
    let (run_cfg, model) = lvmkit_train::RunDir::new(run).load_best()?;
    if run_cfg.data.encoder_fingerprint != ds.manifest.encoder.fingerprint {
        bail!(
            "model run {} predicts vectors of encoder {}, not of this dataset's {}",
            run.display(),
            run_cfg.data.encoder,
            ds.manifest.encoder.name
        );
    }
    if model.config().dim != ds.dim() {
        bail!(
            "model run {} predicts {}-D vectors; the dataset has {}-D",
            run.display(),
            model.config().dim,
            ds.dim()
        );
    }
    let windows = ds.windows("test")?;
    let picked = spread(&windows, opts.sentences);
    if picked.is_empty() {
        bail!("dataset {} has no test windows", ds.dir.display());
    }
    tracing::info!(
        "decoding {}'s predictions for {} test windows",
        run.display(),
        picked.len()
    );
    let d = ds.dim();
    let contexts: Vec<&[f32]> = picked.iter().map(|w| ds.context_of(w)).collect();
    let preds = model.predict(&contexts)?;
    let truth: Vec<&[f32]> = picked.iter().map(|w| ds.target_of(w)).collect();
    let n = picked.len() as f64;
    let prediction_cosine_to_truth = (0..picked.len())
        .map(|k| cosine(&preds[k * d..(k + 1) * d], truth[k]))
        .sum::<f64>()
        / n;
    let inversions = inv.invert(&preds, invert)?;
    let decoded_texts: Vec<String> = inversions.iter().map(|i| i.best().text.clone()).collect();
    let mut rows = Vec::new();
    for s in 0..=opts.steps {
        let hyps: Vec<String> = inversions.iter().map(|i| i.steps[s].text.clone()).collect();
        rows.push(score_predicted(
            inv,
            &hyps,
            &preds,
            &truth,
            picked.iter().map(|w| texts[w.target].as_str()),
            "inversion",
            Some(s),
        )?);
    }
    let nearest = bank.nearest(&preds, d)?;
    let retrieved: Vec<String> = nearest.iter().map(|(r, _)| texts[*r].clone()).collect();
    rows.push(score_predicted(
        inv,
        &retrieved,
        &preds,
        &truth,
        picked.iter().map(|w| texts[w.target].as_str()),
        "retrieval (train bank)",
        None,
    )?);
    let examples = (0..picked.len().min(5))
        .map(|k| Example {
            split: "test (predicted)".into(),
            target: texts[picked[k].target].clone(),
            decoded: decoded_texts[k].clone(),
            round_trip_cosine: inversions[k].best().cosine.unwrap_or(f32::NAN) as f64,
            retrieval: retrieved[k].clone(),
            retrieval_cosine: nearest[k].1,
        })
        .collect();
    Ok(Predicted {
        model_run: run.display().to_string(),
        windows: picked.len(),
        prediction_cosine_to_truth,
        rows,
        examples,
    })
}

fn score_predicted<'a>(
    inv: &Inverter,
    hyps: &[String],
    preds: &[f32],
    truth: &[&[f32]],
    truth_texts: impl Iterator<Item = &'a str>,
    decoder: &str,
    steps: Option<usize>,
) -> Result<PredictedRow> {
    let d = inv.dim();
    let e = inv.embed_texts(hyps)?;
    let n = hyps.len() as f64;
    let mut bleu = Bleu::default();
    for (h, t) in hyps.iter().zip(truth_texts) {
        bleu.add(h, t);
    }
    Ok(PredictedRow {
        decoder: decoder.into(),
        steps,
        round_trip_cosine: (0..hyps.len())
            .map(|k| cosine(&e[k * d..(k + 1) * d], &preds[k * d..(k + 1) * d]))
            .sum::<f64>()
            / n,
        cosine_to_truth: (0..hyps.len())
            .map(|k| cosine(&e[k * d..(k + 1) * d], truth[k]))
            .sum::<f64>()
            / n,
        bleu_to_truth: bleu.score(),
    })
}

impl DecoderReport {
    /// The report as Markdown (what `lvmkit decoder eval` prints and writes beside the JSON).
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "# Decoder evaluation\n\ndecoder {} on {}; beam {}, up to {} correction step(s); \
             {:.0} s ({:.1} sentences/s decoded, every step count included)\n\n\
             | split | decoder | steps | n | BLEU | token F1 | exact | round-trip cosine |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
            self.decoder_run, self.data, self.beam, self.steps, self.seconds, self.sentences_per_s
        );
        for r in &self.rows {
            s += &format!(
                "| {} | {} | {} | {} | {:.1} | {:.3} | {:.3} | {:.3} |\n",
                r.split,
                r.decoder,
                r.steps.map_or("–".into(), |x| x.to_string()),
                r.sentences,
                r.bleu,
                r.token_f1,
                r.exact,
                r.round_trip_cosine
            );
        }
        if let Some(p) = &self.predicted {
            s += &format!(
                "\n## Decoding predictions\n\n{} on {} test windows; the predictions' own cosine \
                 to the true next sentence: {:.3}\n\n\
                 | decoder | steps | cosine to prediction | cosine to truth | BLEU to truth |\n\
                 |---|---:|---:|---:|---:|\n",
                p.model_run, p.windows, p.prediction_cosine_to_truth
            );
            for r in &p.rows {
                s += &format!(
                    "| {} | {} | {:.3} | {:.3} | {:.1} |\n",
                    r.decoder,
                    r.steps.map_or("–".into(), |x| x.to_string()),
                    r.round_trip_cosine,
                    r.cosine_to_truth,
                    r.bleu_to_truth
                );
            }
        }
        s += "\n## Examples (best and worst by round-trip cosine)\n\n";
        let all = self
            .examples
            .iter()
            .chain(self.predicted.iter().flat_map(|p| &p.examples));
        for e in all {
            s += &format!(
                "- **{}**, cosine {:.3} (retrieval {:.3})\n  - target: {}\n  - decoded: {}\n  - retrieval: {}\n",
                e.split,
                e.round_trip_cosine,
                e.retrieval_cosine,
                e.target,
                e.decoded,
                e.retrieval
            );
        }
        s
    }
}
