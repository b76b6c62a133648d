//! The dataset stage: ingested corpora embedded (through the cache) and cut into windows, split
//! by document. [`DatasetStage`] is the main job's version, skipped when the dataset's manifest
//! says it was built from the same inputs.

use anyhow::Result;
use lvmkit_dataset::{BuildInput, BuildOptions, Dataset, Manifest, SplitRatios};
use lvmkit_encode::shard::{Merged, ShardReport};
use lvmkit_encode::{EncodeOptions, SentenceEncoder, Shard};
use lvmkit_io::fresh::Stage;
use std::path::{Path, PathBuf};

/// What a dataset is built from, beyond its corpora and encoder.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    /// Corpus JSONL files split into train/val/test by document.
    pub corpus: Vec<PathBuf>,
    /// Corpus JSONL files that form the separate `ood` split.
    pub ood: Vec<PathBuf>,
    pub context: usize,
    pub ratios: SplitRatios,
    pub seed: u64,
    /// Texts per encoder forward pass.
    pub batch_size: usize,
    /// The embedding cache; `None` embeds everything afresh.
    pub cache: Option<PathBuf>,
}

impl DatasetSpec {
    fn inputs(&self) -> Vec<BuildInput> {
        let input = |ood: bool| {
            move |p: &PathBuf| BuildInput {
                path: p.clone(),
                ood,
            }
        };
        self.corpus
            .iter()
            .map(input(false))
            .chain(self.ood.iter().map(input(true)))
            .collect()
    }

    fn options(&self) -> BuildOptions {
        BuildOptions {
            context: self.context,
            ratios: self.ratios,
            seed: self.seed,
            encode: EncodeOptions {
                batch_size: self.batch_size,
                progress: true,
                ..Default::default()
            },
            cache_dir: self.cache.clone(),
        }
    }

    /// Builds the dataset into `output` (replacing it atomically).
    pub fn build(&self, enc: &SentenceEncoder, output: &Path) -> Result<Manifest> {
        lvmkit_dataset::build(&self.inputs(), enc, &self.options(), output)
    }

    /// Embeds shard `shard` of the sentences into its file beside `output`.
    pub fn build_shard(
        &self,
        enc: &SentenceEncoder,
        output: &Path,
        shard: Shard,
    ) -> Result<ShardReport> {
        lvmkit_dataset::build_shard(&self.inputs(), enc, &self.options(), output, shard)
    }

    /// Builds the dataset into `output` from the shards beside it; `command` makes a missing
    /// shard (named in the refusal).
    pub fn merge(
        &self,
        enc: &SentenceEncoder,
        output: &Path,
        command: &str,
    ) -> Result<(Manifest, Merged)> {
        lvmkit_dataset::merge(&self.inputs(), enc, &self.options(), output, command)
    }
}

/// Building a dataset, as a stage: the manifest records what it was built from.
pub struct DatasetStage<'a> {
    pub spec: &'a DatasetSpec,
    pub encoder: &'a SentenceEncoder,
    pub output: &'a Path,
}

impl DatasetStage<'_> {
    fn record(
        context: usize,
        seed: u64,
        ratios: &SplitRatios,
        encoder: &str,
        inputs: Vec<(String, String, String)>,
    ) -> serde_json::Value {
        serde_json::json!({
            "context": context, "seed": seed, "split": ratios, "encoder": encoder,
            "inputs": inputs,
        })
    }
}

impl Stage for DatasetStage<'_> {
    fn name(&self) -> String {
        "dataset".into()
    }
    fn depends_on(&self) -> &'static str {
        "inputs"
    }
    fn output(&self) -> PathBuf {
        self.output.to_path_buf()
    }
    fn inputs(&self) -> Result<serde_json::Value> {
        let inputs = self
            .spec
            .inputs()
            .into_iter()
            .map(|i| {
                let hash = lvmkit_io::hash::sha256_file(&i.path)?;
                let role = if i.ood { "ood" } else { "corpus" };
                Ok((i.path.display().to_string(), role.to_string(), hash))
            })
            .collect::<Result<_>>()?;
        Ok(Self::record(
            self.spec.context,
            self.spec.seed,
            &self.spec.ratios,
            self.encoder.fingerprint(),
            inputs,
        ))
    }
    fn recorded(&self) -> Option<serde_json::Value> {
        let m = Dataset::open(self.output).ok()?.manifest;
        let inputs = m
            .inputs
            .iter()
            .map(|i| (i.path.clone(), i.role.clone(), i.sha256.clone()))
            .collect();
        Some(Self::record(
            m.context,
            m.seed,
            &m.split_ratios,
            &m.encoder.fingerprint,
            inputs,
        ))
    }
    fn make(&mut self) -> Result<()> {
        self.spec.build(self.encoder, self.output).map(|_| ())
    }
}
