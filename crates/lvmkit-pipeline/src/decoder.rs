//! The inversion decoder as commands use it: opening a decoder run with its encoder,
//! `lvmkit decode` (an `.npy` of vectors to texts), and `lvmkit decoder eval`'s reports.

use anyhow::{bail, Context, Result};
use lvmkit_dataset::Dataset;
use lvmkit_decoder::evaluate::{evaluate_decoder, DecoderReport, EvalOptions};
use lvmkit_decoder::{DecoderRun, InvertOptions, Inverter};
use lvmkit_sources::DataDir;
use std::path::{Path, PathBuf};

/// Opens decoder run `run` with the encoder its vectors came from: `explicit` if given (checked
/// by fingerprint), else the one its dataset names, else the default encoder. With
/// `need_encoder` false and no encoder to be found, the decoder opens without one (0 correction
/// steps, no cosines).
pub fn open_inverter(
    run: &Path,
    explicit: Option<&Path>,
    data: &DataDir,
    need_encoder: bool,
) -> Result<Inverter> {
    let cfg = DecoderRun::new(run).read_config()?;
    let ds = Dataset::open(Path::new(&cfg.data.path)).ok();
    let enc = match crate::predict::run_encoder(explicit, ds.as_ref(), data, &cfg.data) {
        Ok(enc) => Some(enc),
        Err(e) if !need_encoder && explicit.is_none() => {
            tracing::warn!("decoding without the encoder (no correction steps, no cosines): {e:#}");
            None
        }
        Err(e) => return Err(e),
    };
    Inverter::open(run, enc)
}

/// What `lvmkit decode` is asked.
pub struct DecodeRequest {
    pub decoder: PathBuf,
    /// `.npy` of f32 vectors, N × D.
    pub input: PathBuf,
    /// One text per line; or, for a `.jsonl` name, one JSON object per vector with every step's
    /// hypothesis and cosine.
    pub output: PathBuf,
    pub options: InvertOptions,
    pub encoder: Option<PathBuf>,
}

/// Decodes the vectors of `req.input` into `req.output`; returns the decodings.
pub fn decode_file(req: &DecodeRequest, data: &DataDir) -> Result<Vec<lvmkit_decoder::Inversion>> {
    lvmkit_io::atomic::check_output_file(&req.output)?;
    let (shape, vectors) = lvmkit_io::npy::read::<f32>(&req.input)?;
    let inv = open_inverter(
        &req.decoder,
        req.encoder.as_deref(),
        data,
        req.options.steps > 0,
    )?;
    if shape.len() != 2 || shape[1] != inv.dim() {
        bail!(
            "{}: shape {:?}; the decoder reads N × {} vectors",
            req.input.display(),
            shape,
            inv.dim()
        );
    }
    if let Some(row) = vectors
        .chunks(inv.dim())
        .position(|r| r.iter().any(|x| !x.is_finite()) || r.iter().all(|&x| x == 0.0))
    {
        bail!(
            "{}: row {row} is not a vector to decode (a non-finite or all-zero row)",
            req.input.display()
        );
    }
    let out = inv.invert(&vectors, &req.options)?;
    let jsonl = req.output.extension().is_some_and(|e| e == "jsonl");
    lvmkit_io::write_atomic(&req.output, |w| {
        for i in &out {
            if jsonl {
                serde_json::to_writer(
                    &mut *w,
                    &serde_json::json!({
                        "text": i.best().text,
                        "cosine": i.best().cosine,
                        "steps": i.steps,
                    }),
                )?;
                writeln!(w)?;
            } else {
                // One line per vector: a decoded line break would shift every later row.
                writeln!(w, "{}", i.best().text.replace(['\n', '\r'], " "))?;
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// `lvmkit decoder eval`: the report, written to RUN/eval/decoder.json and decoder.md.
pub fn evaluate(
    run: &Path,
    data: &Path,
    explicit_encoder: Option<&Path>,
    data_dir: &DataDir,
    opts: &EvalOptions,
) -> Result<(DecoderReport, PathBuf)> {
    let decoder_run = DecoderRun::new(run);
    let _lock = decoder_run.lock()?;
    let ds = Dataset::open(data)?;
    let inv = open_inverter(run, explicit_encoder, data_dir, true)?;
    let report = evaluate_decoder(&inv, run, &ds, opts)?;
    let dir = decoder_run.eval_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    lvmkit_io::atomic::write_json_atomic(&dir.join("decoder.json"), &report)?;
    let md = dir.join("decoder.md");
    let text = report.markdown();
    lvmkit_io::write_atomic(&md, |w| Ok(w.write_all(text.as_bytes())?))?;
    Ok((report, md))
}
