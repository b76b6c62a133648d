//! Commands of the inversion decoder: `lvmkit decoder train|eval` and `lvmkit decode`.

use crate::cli::DataArgs;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lvmkit_dataset::Dataset;
use lvmkit_decoder::evaluate::EvalOptions;
use lvmkit_decoder::{DecoderRun, DecoderTrainConfig, InvertOptions};
use lvmkit_pipeline::decoder::DecodeRequest;
use lvmkit_train::TrainOptions;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DecoderCommand {
    /// Train an inversion decoder (concept vector → sentence) on a dataset's train sentences and
    /// their cached vectors. Writes RUN/config.json, tokenizer.json, history.json,
    /// best.safetensors and last.safetensors (atomically, at every validation). The default
    /// preset takes about an hour on 2 cores.
    Train(DecoderTrainArgs),
    /// Evaluate a decoder on held-out sentences (val, test, ood) per correction-step count,
    /// next to retrieval of the nearest train sentence: BLEU, token F1, exact match, round-trip
    /// cosine; with --model, also on that run's predictions for test windows. Writes
    /// RUN/eval/decoder.json and decoder.md, and prints the table.
    Eval(DecoderEvalArgs),
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("hyper").multiple(true)))]
pub struct DecoderTrainArgs {
    /// Dataset folder (from `lvmkit dataset` or `lvmkit run`). With --resume, defaults to the
    /// run's own dataset.
    #[arg(long, required_unless_present = "resume")]
    pub data: Option<PathBuf>,
    /// Output decoder run folder.
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    pub output: Option<PathBuf>,
    /// Continue the decoder run in this folder from its last checkpoint, with its own config.
    /// The result is the same as if it had never stopped.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["hyper", "force"])]
    pub resume: Option<PathBuf>,
    /// Replace an existing decoder run in --output.
    #[arg(long)]
    pub force: bool,
    /// Settings to start from: tiny (seconds; tests), default (about an hour on 2 cores),
    /// large (512 wide, 6 layers, 4 epochs: a bigger machine) [default: default].
    #[arg(long, group = "hyper", value_parser = clap::builder::PossibleValuesParser::new(lvmkit_decoder::config::PRESETS))]
    pub preset: Option<String>,
    /// Training config as JSON (the fields of config.json's "train"; missing fields take the
    /// preset's values). Flags below override it.
    #[arg(long, value_name = "FILE", group = "hyper", conflicts_with = "preset")]
    pub config: Option<PathBuf>,
    /// Passes over the train sentences [default: 2].
    #[arg(long, group = "hyper")]
    pub epochs: Option<usize>,
    /// Train on at most this many train sentences (whole documents, seeded); 0 = all
    /// [default: 0].
    #[arg(long, group = "hyper")]
    pub max_sentences: Option<usize>,
    /// Sentences per step [default: 64].
    #[arg(long, group = "hyper")]
    pub batch_size: Option<usize>,
    /// Peak learning rate of AdamW [default: 1e-3].
    #[arg(long, group = "hyper")]
    pub lr: Option<f64>,
    /// Validate, keep the best weights and checkpoint every this many steps [default: 250].
    #[arg(long, group = "hyper")]
    pub eval_every: Option<usize>,
    /// Seed of initialisation, vocabulary sample and shuffling [default: 42].
    #[arg(long, group = "hyper")]
    pub seed: Option<u64>,
}

#[derive(Args)]
pub struct DecoderEvalArgs {
    /// Decoder run folder (from `lvmkit decoder train`).
    #[arg(long)]
    pub decoder: PathBuf,
    /// Dataset whose val, test and ood sentences are decoded (the decoder's own by default).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Sentences per split, spread evenly over it.
    #[arg(long, default_value_t = 200)]
    pub sentences: usize,
    /// Correction steps: every count from 0 to this is reported.
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// Beams per vector (1 = greedy).
    #[arg(long, default_value_t = 4)]
    pub beam: usize,
    /// A next-concept run (from `lvmkit train`) whose predictions for test windows are decoded
    /// too.
    #[arg(long, value_name = "RUN")]
    pub model: Option<PathBuf>,
    /// Sentence-transformers folder (default: the one the decoder's dataset names).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Folder for downloaded data, where the default encoder is (default: $LVMKIT_DATA or
    /// ./data). Named apart from --data, the dataset.
    #[arg(long, env = "LVMKIT_DATA", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Args)]
pub struct DecodeArgs {
    /// Decoder run folder (from `lvmkit decoder train`).
    #[arg(long)]
    pub decoder: PathBuf,
    /// f32 .npy of N × D vectors (e.g. from `lvmkit predict` or `lvmkit encode`).
    #[arg(long)]
    pub input: PathBuf,
    /// Output: one text per line; a .jsonl name writes one JSON object per vector with each
    /// step's text and round-trip cosine.
    #[arg(long)]
    pub output: PathBuf,
    /// Correction steps after the first decoding (each re-embeds the hypothesis with the
    /// run's encoder).
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// Beams per vector (1 = greedy).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub beam: u64,
    /// Sentence-transformers folder (default: the one the decoder's dataset names).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    #[command(flatten)]
    pub data_dir: DataArgs,
}

pub fn dispatch(c: &DecoderCommand) -> Result<()> {
    match c {
        DecoderCommand::Train(a) => train(a),
        DecoderCommand::Eval(a) => eval(a),
    }
}

fn train_config(a: &DecoderTrainArgs) -> Result<DecoderTrainConfig> {
    let mut cfg = match (&a.config, &a.preset) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --config {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a decoder training config", path.display()))?
        }
        (None, Some(p)) => DecoderTrainConfig::preset(p)?,
        (None, None) => DecoderTrainConfig::default(),
    };
    fn set<T: Copy>(slot: &mut T, v: Option<T>) {
        if let Some(v) = v {
            *slot = v;
        }
    }
    set(&mut cfg.epochs, a.epochs);
    set(&mut cfg.max_sentences, a.max_sentences);
    set(&mut cfg.batch_size, a.batch_size);
    set(&mut cfg.optimizer.lr, a.lr);
    set(&mut cfg.eval_every, a.eval_every);
    set(&mut cfg.seed, a.seed);
    cfg.validate()?;
    Ok(cfg)
}

fn train(a: &DecoderTrainArgs) -> Result<()> {
    let (out, resume) = match (&a.resume, &a.output) {
        (Some(r), _) => (r.clone(), true),
        (None, Some(o)) => (o.clone(), false),
        (None, None) => unreachable!("clap requires one"),
    };
    let data = match (&a.data, resume) {
        (Some(d), _) => d.clone(),
        (None, true) => PathBuf::from(DecoderRun::new(&out).read_config()?.data.path),
        (None, false) => unreachable!("clap requires --data"),
    };
    let cfg = if resume {
        DecoderTrainConfig::default()
    } else {
        train_config(a)?
    };
    let ds = Dataset::open(&data)?;
    let outcome = lvmkit_decoder::train_decoder(
        &ds,
        &cfg,
        &out,
        &TrainOptions {
            resume,
            force: a.force,
            ..TrainOptions::default()
        },
    )?;
    let h = &outcome.history;
    let last = h.evals.last();
    println!(
        "decoder run {}: {} ({} parameters, {} steps, {:.0} s of training); best val loss {:.4} \
         at step {} (untrained: {:.4}). Evaluate it with `lvmkit decoder eval --decoder {}`",
        out.display(),
        h.status,
        outcome.config.params,
        last.map_or(0, |e| e.step),
        last.map_or(0.0, |e| e.train_seconds),
        h.best_val_loss,
        h.best_step,
        h.initial_val_loss,
        out.display()
    );
    Ok(())
}

fn eval(a: &DecoderEvalArgs) -> Result<()> {
    let data = match &a.data {
        Some(d) => d.clone(),
        None => PathBuf::from(DecoderRun::new(&a.decoder).read_config()?.data.path),
    };
    let (report, md) = lvmkit_pipeline::decoder::evaluate(
        &a.decoder,
        &data,
        a.encoder.as_deref(),
        &lvmkit_sources::DataDir::new(&a.data_dir),
        &EvalOptions {
            sentences: a.sentences,
            steps: a.steps,
            beam: a.beam,
            model_run: a.model.clone(),
        },
    )?;
    println!("{}", report.markdown());
    println!("written: {} and decoder.json beside it", md.display());
    Ok(())
}

pub fn decode(a: &DecodeArgs) -> Result<()> {
    let out = lvmkit_pipeline::decoder::decode_file(
        &DecodeRequest {
            decoder: a.decoder.clone(),
            input: a.input.clone(),
            output: a.output.clone(),
            options: InvertOptions {
                beam: a.beam as usize,
                steps: a.steps,
                ..InvertOptions::default()
            },
            encoder: a.encoder.clone(),
        },
        &a.data_dir.dir(),
    )?;
    let cosines: Vec<f32> = out.iter().filter_map(|i| i.best().cosine).collect();
    if cosines.is_empty() {
        println!("decoded {} vectors into {}", out.len(), a.output.display());
    } else {
        println!(
            "decoded {} vectors into {}; mean round-trip cosine {:.3}",
            out.len(),
            a.output.display(),
            cosines.iter().sum::<f32>() / cosines.len() as f32
        );
    }
    Ok(())
}
