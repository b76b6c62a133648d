//! The main job on the default data, start to finish: fetch → ingest → dataset → train →
//! evaluate → report → index. Every stage whose inputs have not changed is kept
//! ([`lvmkit_io::fresh`]), so a second run takes seconds, and an interrupted training run
//! resumes from its last epoch.

use crate::board::{leaderboard_locked, run_stage, BoardSettings};
use crate::corpora::IngestStage;
use crate::dataset::{DatasetSpec, DatasetStage};
use crate::encode::load_encoder;
use crate::{Leaderboard, Observer};
use anyhow::Result;
use lvmkit_corpus::SegmentConfig;
use lvmkit_dataset::{Dataset, SplitRatios};
use lvmkit_index::{IndexOptions, IndexStage};
use lvmkit_io::fresh::Freshness;
use lvmkit_sources::{DataDir, DEFAULT_ENCODER};
use std::path::{Path, PathBuf};

/// Everything the main job is run with (also `lvmkit run`'s flags).
#[derive(Debug, Clone, clap::Args)]
pub struct MainJob {
    /// Output folder: corpora in <output>/corpus, the dataset in <output>/data, runs in
    /// <output>/models.
    #[arg(long, default_value = "runs/default")]
    pub output: PathBuf,
    /// Training corpora. The default fits the main job in about 15 minutes on 2 cores; add
    /// `sotu` (73k long sentences, +20 minutes of embedding on the first run) for more data.
    #[arg(long, value_delimiter = ',', default_value = "brown,python-docs")]
    pub corpora: Vec<String>,
    /// Out-of-distribution corpora (default: the Wikipedia sample).
    #[arg(long, value_delimiter = ',', default_value = "enwiki-sample")]
    pub ood: Vec<String>,
    /// Concepts of context before each target.
    #[arg(long, default_value_t = 5)]
    pub context: usize,
    /// Seed of the document split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Texts per encoder forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[command(flatten)]
    pub board: BoardSettings,
}

impl Default for MainJob {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

impl MainJob {
    /// The dataset folder.
    pub fn data_dir(&self) -> PathBuf {
        self.output.join("data")
    }
}

/// Runs the main job with the sources in `data`.
pub fn run(job: &MainJob, data: &DataDir, obs: &mut dyn Observer) -> Result<Leaderboard> {
    // One main job per output folder; each stage also locks what it writes inside it.
    let lock = lvmkit_io::OutputLock::acquire(&job.output, "main job folder")?;
    let names: Vec<&String> = job.corpora.iter().chain(&job.ood).collect();
    for n in &names {
        data.corpus(n)?;
    }
    let mut needed: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    needed.push(DEFAULT_ENCODER.into());
    obs.stage("[1/7] fetch");
    lvmkit_sources::fetch_all(data, &needed)?;

    obs.stage("[2/7] ingest");
    let corpus_dir = job.output.join("corpus");
    let mut files = Vec::new();
    for n in &names {
        let mut stage = IngestStage {
            data,
            source: lvmkit_sources::source(n)?,
            corpus_dir: &corpus_dir,
            segment: SegmentConfig::default(),
            stats: None,
        };
        if run_stage(&mut stage, obs)? == Freshness::Made {
            let stats = stage.stats.take().unwrap_or_default();
            obs.ingested(&lvmkit_io::fresh::Stage::output(&stage), &stats);
        }
        files.push((n.to_string(), lvmkit_io::fresh::Stage::output(&stage)));
    }

    obs.stage("[3/7] dataset");
    let out = job.data_dir();
    let enc = load_encoder(&data.default_encoder())?;
    let corpus_of = |ood: bool| -> Vec<PathBuf> {
        files
            .iter()
            .filter(|(n, _)| job.ood.contains(n) == ood)
            .map(|(_, p)| p.clone())
            .collect()
    };
    let spec = DatasetSpec {
        corpus: corpus_of(false),
        ood: corpus_of(true),
        context: job.context,
        ratios: SplitRatios::default(),
        seed: job.seed,
        batch_size: job.batch_size,
        cache: Some(data.embedding_cache()),
    };
    run_stage(
        &mut DatasetStage {
            spec: &spec,
            encoder: &enc,
            output: &out,
        },
        obs,
    )?;
    drop(enc);
    let ds = Dataset::open(&out)?;
    obs.dataset(&out, &ds.manifest);

    let board = leaderboard_locked(
        &job.board,
        &lock,
        &ds,
        ["[4/7] train", "[5/7] evaluate", "[6/7] report"],
        obs,
    )?;

    obs.stage("[7/7] index");
    index(&out, IndexOptions::default(), obs)?;
    Ok(board)
}

/// Builds the search index of the dataset in `data` unless it is up to date.
pub fn index(data: &Path, opts: IndexOptions, obs: &mut dyn Observer) -> Result<()> {
    let mut stage = IndexStage {
        dataset_dir: data,
        opts,
        built: None,
    };
    if run_stage(&mut stage, obs)? == Freshness::Made {
        if let Some(m) = &stage.built {
            obs.indexed(data, m);
        }
    }
    Ok(())
}
