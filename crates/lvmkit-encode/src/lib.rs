//! Sentence encoders in Rust: text in, L2-normalised concept vectors out.
//!
//! The pipeline mirrors a sentence-transformers folder, one module per stage:
//! [`folder`] reads `modules.json` and the per-module configs, [`backbone`] runs the transformer
//! (BERT family or T5 encoder), [`pooling`] reduces token states under the attention mask,
//! [`encoder`] adds the optional Dense layers and normalisation and batches texts by length,
//! and [`cache`] remembers embeddings by (encoder fingerprint, text hash) so an unchanged corpus
//! is never embedded twice; [`shard`] splits the embedding of a corpus into independent shards
//! for a cluster, and merges them. [`truncation`] counts the texts cut to the encoder's token limit.
//! [`bench`] measures sentences per second.

pub mod backbone;
pub mod bench;
pub mod bert;
pub mod cache;
pub mod encoder;
pub mod folder;
pub mod pooling;
pub mod shard;
pub mod truncation;

pub use cache::{encode_with_cache, CacheStats, EmbeddingCache};
pub use encoder::{EncodeOptions, SentenceEncoder};
pub use folder::{BackboneKind, StFolder};
pub use shard::{Shard, ShardInput};
pub use truncation::Truncation;

/// Cosine similarity of two vectors (not assumed normalised).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        dot += (*x as f64) * (*y as f64);
        na += (*x as f64) * (*x as f64);
        nb += (*y as f64) * (*y as f64);
    }
    (dot / (na.sqrt() * nb.sqrt()).max(1e-12)) as f32
}
