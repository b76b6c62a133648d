//! Concept vectors back to new text: an inversion decoder trained on the dataset's own
//! sentences.
//!
//! - [`vocab`]: a byte-level BPE trained on the train sentences, so the output layer is
//!   thousands wide rather than 30k, and any text round-trips.
//! - [`train`]: `lvmkit decoder train` (teacher forcing, checkpoints, exact resume).
//! - [`generate`]: beam search and correction steps; [`generate::InversionDecoder`] is the
//!   server's `"inversion"` decoder.
//! - [`metrics`] and [`evaluate`]: BLEU, token F1, exact match and round-trip cosine, next to
//!   retrieval from the train bank.
//! - [`bench`]: decoding speed.

pub mod bench;
pub mod config;
pub mod evaluate;
pub mod generate;
pub mod metrics;
pub mod run;
pub mod train;
pub mod vocab;

pub use config::{DecoderRunConfig, DecoderTrainConfig};
pub use generate::{Inversion, InversionDecoder, InvertOptions, Inverter};
pub use run::DecoderRun;
pub use train::train_decoder;
