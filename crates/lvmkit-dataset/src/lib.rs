//! Leak-free next-concept datasets.
//!
//! A dataset is a folder:
//! * `concepts.npy`: f32 [N, D], every sentence of every document once, documents contiguous
//!   and in reading order, so a context window is a zero-copy slice of consecutive rows;
//! * `concepts.jsonl`: per concept `{"doc", "pos", "text"}` (row i describes concept i);
//! * `documents.jsonl`: per document `{"index", "id", "title", "source", "split", "start", "len"}`;
//! * `windows-<split>.npy`: i64 [W, 3] rows of `(doc, context_start, target)`: the context is
//!   concepts `context_start..target`, the target is concept `target`, always inside one document;
//! * `manifest.json`: dimensions, encoder, inputs, split sizes, data-quality signals.
//!
//! Splits are by document (never by window, which would leak overlapping windows), with a
//! seeded shuffle stratified by source; `--ood` corpora form their own `ood` split.

pub mod build;
pub mod layout;
pub mod npz;
pub mod split;

pub use build::{
    build, build_shard, from_vectors, merge, BuildInput, BuildOptions, VectorDocument,
};
pub use layout::{Dataset, DocumentEntry, Manifest, Split, SplitSummary, Window};
pub use split::SplitRatios;
