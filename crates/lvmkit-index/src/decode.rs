//! From vectors back to text. Retrieval over the concept bank is what lvmkit has (vec2text's
//! inversion weights cannot be had offline); an inversion model plugs in as another
//! [`Decoder`] that returns generated text with `concept: None`.

use crate::bank::{ConceptBank, SearchMode};
use anyhow::Result;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;

/// A bank concept a decoded text came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConceptRef {
    pub row: usize,
    pub doc_id: String,
    pub position: usize,
}

/// One decoding of a vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decoded {
    pub text: String,
    /// Cosine between the vector and the decoded text's embedding.
    pub score: f32,
    /// The bank concept, for retrieval; `None` for text a generative decoder wrote.
    pub concept: Option<ConceptRef>,
}

pub trait Decoder: Send + Sync {
    /// Short name for responses and /v1/models ("retrieval", "vec2text", ...).
    fn name(&self) -> &str;
    /// Up to `k` decodings of each vector ([n, dim]), best first, none of whose text is in
    /// `avoid`.
    fn decode(
        &self,
        vectors: &[f32],
        k: usize,
        avoid: &HashSet<String>,
    ) -> Result<Vec<Vec<Decoded>>>;
}

/// Decoding by nearest neighbour in the concept bank.
pub struct RetrievalDecoder {
    pub bank: Arc<ConceptBank>,
    pub mode: SearchMode,
}

impl Decoder for RetrievalDecoder {
    fn name(&self) -> &str {
        "retrieval"
    }

    fn decode(
        &self,
        vectors: &[f32],
        k: usize,
        avoid: &HashSet<String>,
    ) -> Result<Vec<Vec<Decoded>>> {
        Ok(self
            .bank
            .search(vectors, k, self.mode, avoid)?
            .into_iter()
            .map(|hits| {
                hits.into_iter()
                    .map(|h| {
                        let c = self.bank.concept(h.row);
                        Decoded {
                            text: c.text.to_string(),
                            score: h.score,
                            concept: Some(ConceptRef {
                                row: c.row,
                                doc_id: c.doc_id.to_string(),
                                position: c.position,
                            }),
                        }
                    })
                    .collect()
            })
            .collect())
    }
}
