//! Honest evaluation of next-concept predictions.
//!
//! A model's predictions (one unit vector per window of a split, in `Dataset::windows` order)
//! are scored against the same windows as four baselines ([`baselines`]: copy-last,
//! context-mean, global-mean and a closed-form [`ridge`] regression), by mean cosine, by
//! retrieval of the true next concept among every concept of the split ([`retrieval`]), by
//! contrastive accuracy over that same bank and by the paraphrase ratio (how much closer to
//! their context the predictions sit than the truths do; both in [`contrast`]). A
//! document-level bootstrap ([`bootstrap`]) says whether a model's lead over the best baseline
//! is real. [`report`] puts it together, [`render`] prints it as text or Markdown, and
//! [`plot`] draws SVG figures; [`curve`] gives the ridge baseline's learning curves.

pub mod baselines;
pub mod bootstrap;
pub mod contrast;
pub mod curve;
pub mod plot;
pub mod render;
pub mod report;
pub mod retrieval;
pub mod ridge;

mod gram;
mod linalg;

#[cfg(test)]
pub(crate) mod testdata;

pub use bootstrap::{cluster_bootstrap, BootstrapInterval};
pub use curve::{
    nested_train_subset, ridge_learning_curve, CurvePoint, CurveSeries, LearningCurve,
};
pub use plot::{plot_cosine_histogram, plot_training_curves, EpochPoint};
pub use render::{markdown_table, render_table};
pub use report::{
    evaluate, Comparison, EvalOptions, EvalReport, EvalRow, ModelPredictions, RidgeInfo, RowKind,
};
pub use retrieval::{Bank, BankIndex, RetrievalMetrics, Standing};
pub use ridge::{AlphaScore, Ridge};
