//! The concept bank as a search index and a decoder.
//!
//! - [`ConceptBank`]: every concept of a dataset with its text, document and position; exact
//!   search by matrix product (the ground truth) and approximate search over an HNSW graph.
//! - [`build_index`]: `lvmkit index`, which builds the graph, measures its recall and speed
//!   against exact search and saves both under `<dataset>/index/`.
//! - [`Decoder`]: vectors back to text; [`RetrievalDecoder`] snaps to the nearest concept.

pub mod bank;
pub mod build;
pub mod decode;
pub mod hnsw;

pub use bank::{index_dir, Concept, ConceptBank, Hit, IndexManifest, SearchMode};
pub use build::{build_index, IndexEvaluation, IndexOptions, IndexStage};
pub use decode::{ConceptRef, Decoded, Decoder, RetrievalDecoder};
pub use hnsw::HnswSettings;
