//! lvmkit's pipeline as a library: what the `lvmkit` binary runs, callable from any front end
//! (tests, a Python package, a cluster scheduler script).
//!
//! - [`main_job`]: the main job, fetch → ingest → dataset → train → evaluate → report → index.
//! - [`board`]: the leaderboard job, every architecture on one budget next to the baselines.
//! - [`leaderboard`]: the leaderboard itself: merged reports, latency, Markdown and JSON.
//! - [`runs`]: runs evaluated into `RUN/eval/`, and training and evaluation as stages.
//! - [`corpora`], [`dataset`]: the ingest and dataset stages.
//! - [`encode`]: the encoder as commands use it (loading, the cache, a file into `.npy`).
//! - [`predict`]: next-concept predictions for contexts given as text or vectors.
//! - [`decoder`]: the inversion decoder's commands (decode a `.npy`, evaluate a decoder run).
//! - [`observer`]: what a job tells its front end as it goes.
//!
//! Each stage that can be skipped is an [`lvmkit_io::fresh::Stage`]: kept when the inputs its
//! output records equal its inputs now. Where data lives is [`lvmkit_sources::DataDir`]'s.

pub mod board;
pub mod corpora;
pub mod curve;
pub mod dataset;
pub mod decoder;
pub mod encode;
pub mod leaderboard;
pub mod main_job;
pub mod observer;
pub mod predict;
pub mod runs;

pub use board::{leaderboard, selected_models, BoardSettings};
pub use leaderboard::Leaderboard;
pub use main_job::MainJob;
pub use observer::{Observer, Silent};
pub use runs::{evaluate_run, EvalSettings};
