//! `lvmkit graphmert code train`: GraphMERT on a code graph, with the one trainer GO uses
//! ([`crate::train::train`]); and opening such a run again for extraction and evaluation.

use super::corpus::CodeCorpus;
use super::data::{CodeData, CodeDataOptions};
use super::split::Part;
use super::RELATIONS;
use crate::model::{Graphmert, GraphmertConfig, Preset};
use crate::train::{EpochRecord, TrainSettings};
use anyhow::{bail, Context, Result};
use lvmkit_models::nn::ParamStore;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What the code domain adds to a run's settings (also the CLI's flags).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct CodeRunOptions {
    /// Size of the WordPiece vocabulary trained on the training modules' text.
    #[arg(long, default_value_t = 8192)]
    pub vocab_size: usize,
    /// Relations with fewer seed examples are not injected (the paper: 100).
    #[arg(long, default_value_t = 100)]
    pub min_per_relation: usize,
    /// The ablation: inject no seed triple (empty leaves), so the model learns from the text
    /// alone; compare its MLM accuracy with a run that has the leaves.
    #[arg(long)]
    pub no_leaves: bool,
}

impl Default for CodeRunOptions {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

/// RUN/code.json: how the run's data was made, so extraction and evaluation rebuild the same.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRunFile {
    pub format: String,
    pub data: CodeDataOptions,
    pub run: CodeRunOptions,
}

const FORMAT: &str = "lvmkit-graphmert-code-1";

/// Trains GraphMERT on the code data of `data_opts` into `output`, with the vocabulary
/// (`tokenizer.json`) and `code.json` beside the trainer's files. With `opts.resume`, the run's
/// own vocabulary is read back.
#[allow(clippy::too_many_arguments)]
pub fn train(
    data_dir: &lvmkit_sources::DataDir,
    data_opts: &CodeDataOptions,
    run_opts: &CodeRunOptions,
    preset: Preset,
    settings: &TrainSettings,
    output: &Path,
    opts: &lvmkit_train::TrainOptions,
    report: impl FnMut(&EpochRecord),
) -> Result<(Graphmert, ParamStore, Vec<EpochRecord>, CodeCorpus)> {
    let layout = GraphmertConfig::preset(preset, 1, 1).layout;
    let d = CodeData::build(data_dir, data_opts)?;
    let saved = output.join("tokenizer.json");
    let mut corpus = if opts.resume && saved.exists() {
        let file = read_run_file(output)?;
        if file.data.sources != data_opts.sources
            || file.data.seed != data_opts.seed
            || file.data.held_out != data_opts.held_out
            || file.data.val_held_out != data_opts.val_held_out
            || file.run.vocab_size != run_opts.vocab_size
            || file.run.min_per_relation != run_opts.min_per_relation
            || file.run.no_leaves != run_opts.no_leaves
        {
            bail!(
                "{}: the run was made from other code data or settings; resume it with the same flags",
                output.display()
            );
        }
        CodeCorpus::with_vocab(
            &d,
            layout,
            load_tokenizer(&saved)?,
            run_opts.min_per_relation,
            Part::Train,
        )?
    } else {
        CodeCorpus::build(&d, layout, run_opts.vocab_size, run_opts.min_per_relation)?
    };
    if run_opts.no_leaves {
        corpus.injected.clear();
    }
    // The vocabulary and how the data was made go beside the trainer's files before it starts,
    // so an interrupted run resumes with them; never over a run this command may not replace.
    if !opts.resume {
        if !opts.force && output.join("config.json").exists() {
            bail!(
                "{} already holds a GraphMERT run: resume it, replace it with --force, or choose another --output",
                output.display()
            );
        }
        std::fs::create_dir_all(output)?;
        corpus.save_vocab(output)?;
        let file = CodeRunFile {
            format: FORMAT.into(),
            data: data_opts.clone(),
            run: run_opts.clone(),
        };
        lvmkit_io::write_json_atomic(&output.join("code.json"), &file)?;
    }
    let config = GraphmertConfig::preset(preset, corpus.vocab.size, RELATIONS.len());
    let (model, ps, history) =
        crate::train::train(&corpus, &config, settings, output, opts, report)?;
    Ok((model, ps, history, corpus))
}

fn load_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer> {
    tokenizers::Tokenizer::from_file(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

fn read_run_file(run: &Path) -> Result<CodeRunFile> {
    let path = run.join("code.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} is not a GraphMERT code run (no code.json; `lvmkit graphmert code train` makes one)",
            run.display()
        )
    })?;
    let file: CodeRunFile =
        serde_json::from_str(&text).with_context(|| format!("cannot read {}", path.display()))?;
    if file.format != FORMAT {
        bail!(
            "{}: format {:?}, expected {FORMAT:?}",
            path.display(),
            file.format
        );
    }
    Ok(file)
}

/// A trained code run with its data, rebuilt from `code.json` and `tokenizer.json`.
pub struct CodeRun {
    /// The run folder.
    pub dir: std::path::PathBuf,
    pub model: Graphmert,
    pub settings: TrainSettings,
    pub options: CodeRunFile,
    pub data: CodeData,
    pub corpus: CodeCorpus,
}

impl CodeRun {
    pub fn open(data_dir: &lvmkit_sources::DataDir, run: &Path) -> Result<Self> {
        let options = read_run_file(run)?;
        let (model, settings) = crate::train::load_run(run)?;
        let data = CodeData::build(data_dir, &options.data)?;
        let tokenizer = load_tokenizer(&run.join("tokenizer.json"))?;
        let corpus = CodeCorpus::with_vocab(
            &data,
            model.config.layout,
            tokenizer,
            options.run.min_per_relation,
            Part::Train,
        )?;
        if corpus.vocab.size != model.config.vocab {
            bail!(
                "{}: the model's vocabulary ({}) is not its tokenizer.json's ({})",
                run.display(),
                model.config.vocab,
                corpus.vocab.size
            );
        }
        Ok(Self {
            dir: run.to_path_buf(),
            model,
            settings,
            options,
            data,
            corpus,
        })
    }
}
