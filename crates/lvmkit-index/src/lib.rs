//! The concept bank as a search index and a decoder.
//!
//! - [`ConceptBank`]: every concept of a dataset with its text, document and position; exact
//!   search by matrix product (the ground truth) and approximate search over an HNSW graph,
//!   in process (usearch) or in PostgreSQL with pgvector ([`pg`]).
//! - [`build_index`]: `lvmkit index`, which builds the graph, measures its recall and speed
//!   against exact search and saves both under `<dataset>/index/`; [`load_postgres`] loads the
//!   bank into a PostgreSQL table instead and measures it the same way.
//! - [`Decoder`]: vectors back to text; [`RetrievalDecoder`] snaps to the nearest concept.

pub mod bank;
pub mod build;
pub mod decode;
pub mod hnsw;
pub mod pg;

pub use bank::{index_dir, Approximate, Concept, ConceptBank, Hit, IndexManifest, SearchMode};
pub use build::{
    build_index, load_postgres, IndexEvaluation, IndexOptions, IndexStage, PgManifest,
};
pub use decode::{ConceptRef, Decoded, Decoder, RetrievalDecoder};
pub use hnsw::HnswSettings;
pub use pg::PgOptions;
