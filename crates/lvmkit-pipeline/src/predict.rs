//! `lvmkit predict`: next-concept predictions for contexts given as text or as vectors.
//!
//! Input: JSONL, one context per line, each a JSON array of 1…C sentences (embedded with the
//! run's own encoder) or of D-dimensional vectors. Output: an f32 .npy [lines, D], row i the
//! prediction for line i, written atomically; with `top_k`, the nearest concepts of the
//! dataset's bank as text.

use anyhow::{bail, Context, Result};
use lvmkit_dataset::Dataset;
use lvmkit_encode::{EncodeOptions, SentenceEncoder};
use lvmkit_train::RunDir;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// One parsed input line.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Texts(Vec<String>),
    Vectors(Vec<f32>),
}

/// Parse the JSONL input; every error names the file and line.
pub fn read_contexts(path: &Path, dim: usize) -> Result<Vec<Prompt>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let line = line.with_context(|| format!("{}: not UTF-8 text", at()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not valid JSON", at()))?;
        let Some(items) = value.as_array() else {
            bail!("{}: expected a JSON array of sentences or vectors", at());
        };
        if items.is_empty() {
            bail!("{}: empty context (give 1 or more sentences)", at());
        }
        if items.iter().all(|v| v.is_string()) {
            let texts: Vec<String> = items
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect();
            if let Some(j) = texts.iter().position(|t| t.trim().is_empty()) {
                bail!("{}: sentence {} is empty", at(), j + 1);
            }
            out.push(Prompt::Texts(texts));
        } else if items.iter().all(|v| v.is_array()) {
            let mut flat = Vec::with_capacity(items.len() * dim);
            for (j, v) in items.iter().enumerate() {
                let row = v.as_array().expect("checked");
                if row.len() != dim {
                    bail!(
                        "{}: vector {} has {} values, the model takes D = {dim}",
                        at(),
                        j + 1,
                        row.len()
                    );
                }
                for x in row {
                    match x.as_f64() {
                        Some(f) if f.is_finite() => flat.push(f as f32),
                        _ => bail!("{}: vector {} holds {x}, not a finite number", at(), j + 1),
                    }
                }
            }
            out.push(Prompt::Vectors(flat));
        } else {
            bail!(
                "{}: expected an array of sentences (strings) or of vectors (arrays of numbers), not a mix",
                at()
            );
        }
    }
    if out.is_empty() {
        bail!("{} has no contexts", path.display());
    }
    Ok(out)
}

/// The encoder a run's dataset was embedded with, checked by fingerprint: vectors from any
/// other encoder would be in another space. A run trained on vectors of no named encoder (a
/// dataset from `lvmkit import-npz`) has no fingerprint to check: text needs the user to name
/// an encoder, and only its dimension is checked.
pub(crate) fn run_encoder(
    explicit: Option<&Path>,
    ds: Option<&Dataset>,
    data: &lvmkit_sources::DataDir,
    trained_on: &lvmkit_train::run::DataRef,
) -> Result<SentenceEncoder> {
    let expected = &trained_on.encoder_fingerprint;
    if expected.is_empty() && explicit.is_none() {
        bail!(
            "text contexts need an encoder, and this run's dataset {} names none (encoder: {}): \
             pass --encoder DIR, an encoder of {}-D vectors, to embed text; vector contexts \
             need none",
            trained_on.path,
            trained_on.encoder,
            trained_on.dim
        );
    }
    let dir: PathBuf = match (explicit, ds) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(ds)) if Path::new(&ds.manifest.encoder.path).exists() => {
            ds.manifest.encoder.path.clone().into()
        }
        _ => data.default_encoder(),
    };
    let enc = SentenceEncoder::load(&dir).with_context(|| {
        format!(
            "loading the encoder from {} (pass --encoder)",
            dir.display()
        )
    })?;
    if expected.is_empty() {
        if enc.dim() != trained_on.dim {
            bail!(
                "encoder {} gives {}-D vectors, but this run takes {}-D vectors: pass an encoder \
                 of {}-D vectors with --encoder",
                dir.display(),
                enc.dim(),
                trained_on.dim,
                trained_on.dim
            );
        }
        tracing::warn!(
            "embedding text with encoder {}, named by --encoder: the run's dataset names none, \
             so only its dimension ({}-D) is checked",
            dir.display(),
            enc.dim()
        );
    } else if enc.fingerprint() != expected {
        bail!(
            "encoder {} (fingerprint {}) is not the one this run's dataset was embedded with \
             (fingerprint {expected}); pass that encoder with --encoder",
            dir.display(),
            enc.fingerprint()
        );
    }
    Ok(enc)
}

/// What `lvmkit predict` is asked.
#[derive(Debug, Clone)]
pub struct PredictRequest {
    /// The run whose best checkpoint predicts.
    pub run: PathBuf,
    /// JSONL contexts.
    pub input: PathBuf,
    /// Output .npy.
    pub output: PathBuf,
    /// Also find the K nearest concepts of the dataset bank for each prediction.
    pub top_k: Option<usize>,
    /// Dataset for the bank and the encoder (default: the run's own).
    pub dataset: Option<PathBuf>,
    /// Sentence-transformers folder (default: the one the run's dataset names).
    pub encoder: Option<PathBuf>,
}

/// What [`predict`] wrote and found.
pub struct Predicted {
    pub model: String,
    pub dim: usize,
    pub context: usize,
    pub contexts: Vec<Prompt>,
    /// Contexts longer than the model's C (their last C concepts were used).
    pub longer: usize,
    /// Per context, the nearest bank concepts (text, cosine), with `top_k`.
    pub neighbours: Option<Vec<Vec<(String, f32)>>>,
}

/// Predicts the next concept for every context of `req.input` and writes `req.output`.
pub fn predict(req: &PredictRequest, data: &lvmkit_sources::DataDir) -> Result<Predicted> {
    lvmkit_io::atomic::check_output_file(&req.output)?;
    let rd = RunDir::new(&req.run);
    let (cfg, model) = rd.load_best()?;
    let (dim, c) = (cfg.model.dim, cfg.model.context);
    let contexts = read_contexts(&req.input, dim)?;

    // The dataset is needed for the bank (top-k) and to find the encoder.
    let data_path: PathBuf = req
        .dataset
        .clone()
        .unwrap_or_else(|| cfg.data.path.clone().into());
    let ds = match Dataset::open(&data_path) {
        Ok(ds) => Some(ds),
        Err(e) if req.top_k.is_none() => {
            tracing::debug!("dataset not available: {e:#}");
            None
        }
        Err(e) => {
            return Err(e.context(lvmkit_io::setting_error(
                "top_k",
                "the nearest concepts need the run's dataset (or another dataset)",
            )))
        }
    };
    if let Some(ds) = &ds {
        lvmkit_train::run::check_compatible(&cfg, ds, &req.run)?;
    }

    let n_texts: usize = contexts
        .iter()
        .map(|c| match c {
            Prompt::Texts(t) => t.len(),
            Prompt::Vectors(_) => 0,
        })
        .sum();
    let mut text_vectors = Vec::new();
    if n_texts > 0 {
        let enc = run_encoder(req.encoder.as_deref(), ds.as_ref(), data, &cfg.data)?;
        let texts: Vec<String> = contexts
            .iter()
            .filter_map(|c| match c {
                Prompt::Texts(t) => Some(t.iter().cloned()),
                Prompt::Vectors(_) => None,
            })
            .flatten()
            .collect();
        text_vectors = enc.encode(&texts, &EncodeOptions::default())?;
    }

    let mut offset = 0;
    let mut longer = 0;
    let rows: Vec<&[f32]> = contexts
        .iter()
        .map(|ctx| {
            let v: &[f32] = match ctx {
                Prompt::Vectors(v) => v,
                Prompt::Texts(t) => {
                    let s = &text_vectors[offset * dim..(offset + t.len()) * dim];
                    offset += t.len();
                    s
                }
            };
            if v.len() / dim > c {
                longer += 1;
            }
            v
        })
        .collect();
    let predictions = model.predict(&rows)?;
    lvmkit_io::npy::write(&req.output, &[rows.len(), dim], &predictions)?;

    let neighbours = match (req.top_k, &ds) {
        (Some(k), Some(ds)) => {
            let all: Vec<usize> = (0..ds.manifest.concepts).collect();
            let bank = lvmkit_eval::BankIndex::from_rows(ds.concepts.data(), dim, &all)?;
            let hits = bank.nearest(&predictions, k)?;
            let texts = ds.concept_texts()?;
            Some(
                hits.iter()
                    .map(|hs| {
                        hs.iter()
                            .map(|(row, score)| (texts[*row].clone(), *score))
                            .collect()
                    })
                    .collect(),
            )
        }
        _ => None,
    };
    Ok(Predicted {
        model: cfg.model.arch.name().to_string(),
        dim,
        context: c,
        contexts,
        longer,
        neighbours,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvmkit_models::Architecture;
    use lvmkit_sources::DEFAULT_ENCODER;

    const C: usize = 3;

    /// A run trained for one epoch on a `dim`-D dataset imported from a seeds-style .npz (as
    /// `lvmkit import-npz` builds it: no encoder, no texts).
    fn npz_run(dir: &Path, dim: usize) -> PathBuf {
        let n = 60;
        let value = |i: usize, m: usize| ((i * 7919 + m) % 101) as f32 / 101.0 - 0.5;
        let ctx: Vec<f32> = (0..n * C * dim).map(|i| value(i, 3)).collect();
        let tgt: Vec<f32> = (0..n * dim).map(|i| value(i, 17)).collect();
        let npz = dir.join("seeds.npz");
        lvmkit_io::npz::write_f32(
            &npz,
            &[
                lvmkit_io::npz::Array {
                    name: "context_sequences",
                    shape: vec![n, C, dim],
                    data: &ctx,
                },
                lvmkit_io::npz::Array {
                    name: "target_vectors",
                    shape: vec![n, dim],
                    data: &tgt,
                },
            ],
        )
        .unwrap();
        let data = dir.join("data");
        let opts = lvmkit_dataset::BuildOptions {
            context: 0,
            ratios: Default::default(),
            seed: 42,
            encode: Default::default(),
            cache_dir: None,
        };
        lvmkit_dataset::npz::import(&npz, &data, &opts).unwrap();
        let ds = Dataset::open(&data).unwrap();
        let mut cfg = lvmkit_train::TrainConfig {
            epochs: 1,
            batch_size: 16,
            ..Default::default()
        };
        if let Architecture::Mlp(m) = &mut cfg.model {
            m.hidden = 32;
        }
        let run = dir.join("run");
        let quiet = lvmkit_train::TrainOptions {
            progress: false,
            ..Default::default()
        };
        lvmkit_train::train(&ds, &cfg, &run, &quiet).unwrap();
        run
    }

    fn request(dir: &Path, run: &Path, line: &str, encoder: Option<PathBuf>) -> PredictRequest {
        let input = dir.join("contexts.jsonl");
        std::fs::write(&input, format!("{line}\n")).unwrap();
        PredictRequest {
            run: run.to_path_buf(),
            input,
            output: dir.join("pred.npy"),
            top_k: Some(2),
            dataset: None,
            encoder,
        }
    }

    #[test]
    fn an_npz_run_predicts_vectors_and_asks_for_an_encoder_for_text() {
        let tmp = tempfile::tempdir().unwrap();
        let run = npz_run(tmp.path(), 16);
        // Fails (naming the fetch command) unless the default encoder is fetched: without the
        // fix, text fell back to it and was refused for its fingerprint.
        let data = lvmkit_sources::fetched(&[DEFAULT_ENCODER]);

        let vectors = serde_json::json!(vec![vec![0.25f32; 16]; C]).to_string();
        let p = predict(&request(tmp.path(), &run, &vectors, None), &data).unwrap();
        assert_eq!(p.dim, 16);
        // The imported bank has no texts: neighbours come back with empty text.
        let hits = &p.neighbours.unwrap()[0];
        assert_eq!(hits.len(), 2);
        assert!(hits.iter().all(|(t, _)| t.is_empty()));

        let texts = r#"["The cat sat on the mat.", "It purred."]"#;
        let err = predict(&request(tmp.path(), &run, texts, None), &data)
            .err()
            .expect("text without an encoder");
        let msg = format!("{err:#}");
        for needle in [
            "names none",
            "--encoder",
            "16-D",
            "vector contexts need none",
        ] {
            assert!(msg.contains(needle), "{needle:?} not in {msg}");
        }

        let minilm = Some(data.default_encoder());
        let err = predict(&request(tmp.path(), &run, texts, minilm), &data)
            .err()
            .expect("a 384-D encoder for a 16-D run");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("gives 384-D vectors, but this run takes 16-D vectors"),
            "{msg}"
        );
    }

    #[test]
    fn an_npz_run_embeds_text_with_the_encoder_the_user_names() {
        let tmp = tempfile::tempdir().unwrap();
        let run = npz_run(tmp.path(), 384);
        let data = lvmkit_sources::fetched(&[DEFAULT_ENCODER]);
        let texts = r#"["The cat sat on the mat.", "It purred."]"#;
        let req = request(tmp.path(), &run, texts, Some(data.default_encoder()));
        let p = predict(&req, &data).unwrap();
        assert_eq!(p.dim, 384);
        assert_eq!(p.contexts.len(), 1);
    }
}
