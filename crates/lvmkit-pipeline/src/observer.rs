//! What the pipeline tells its front end as it goes. The library decides what happens; the
//! front end (the CLI, a test, a notebook) decides how it is shown. Every method has a default
//! that shows nothing, so [`Silent`] is an empty impl.

use lvmkit_corpus::IngestStats;
use lvmkit_dataset::Manifest;
use lvmkit_eval::EvalReport;
use lvmkit_index::IndexManifest;
use std::path::Path;

pub trait Observer {
    /// A stage of a multi-stage job begins (the main job's "[1/7] fetch").
    fn stage(&mut self, _label: &str) {}
    /// A stage's output was up to date and kept ([`lvmkit_io::fresh`]).
    fn kept(&mut self, _name: &str, _depends_on: &str, _output: &Path) {}
    /// A corpus was ingested into `output`.
    fn ingested(&mut self, _output: &Path, _stats: &IngestStats) {}
    /// The dataset in `dir` is ready (built or kept).
    fn dataset(&mut self, _dir: &Path, _manifest: &Manifest) {}
    /// A run was evaluated; its reports and plots are in `eval_dir`.
    fn evaluated(&mut self, _eval_dir: &Path, _reports: &[EvalReport]) {}
    /// The leaderboard was written into `output`.
    fn leaderboard(&mut self, _output: &Path, _board: &crate::Leaderboard) {}
    /// The search index of the dataset in `data` was built.
    fn indexed(&mut self, _data: &Path, _manifest: &IndexManifest) {}
}

/// Shows nothing.
pub struct Silent;

impl Observer for Silent {}
