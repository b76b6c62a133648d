//! GraphMERT (Belova et al., arXiv 2510.09580) in Rust: distil a knowledge graph from a domain
//! corpus and a seed graph.
//!
//! Pipeline stages, one module each:
//! - [`go`]: the Gene Ontology (terms, definitions, synonyms, typed edges) from Debian's GO.db.
//! - [`split`]: hold out whole heads' edge sets before training, to score extraction honestly.
//! - [`chain`]: the leafy chain graph layout and its closed-form shortest paths.
//! - [`inject`]: sequences, head matching in the roots, and the seed-triple injection rule.
//! - [`model`]: the encoder (H-GAT, decayed attention without positions) and its heads.
//! - [`masking`]: whole-word root spans (MLM + SBO), whole tails (MNM), 80/10/10.
//! - [`train`]: L = MLM + SBO + μ·MNM with AdamW, warm-up and cosine decay.
//! - [`extract`]: top-k tokens at a masked leaf, tails formed from GO term names.
//! - [`score`]: precision, recall, Hits@k against the held-out edges; the text-only baseline.
//! - [`transe`]: the graph-only baseline, TransE on the seed edges.
//! - [`validity`]: ValidityScore by GO's own rules (namespaces, self-loops, is_a cycles).

pub mod chain;
pub mod extract;
pub mod filter;
pub mod go;
pub mod inject;
pub mod masking;
pub mod model;
pub mod score;
pub mod split;
pub mod train;
pub mod transe;
pub mod validity;

pub use chain::ChainLayout;
pub use go::{Edge, Namespace, Ontology, Term, RELATIONS};
pub use inject::{HeadMatcher, HeadOccurrence, InjectedTriple, InjectionReport, Sequence, Vocab};
pub use split::SeedSplit;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything built from the ontology before a model sees it.
pub struct GraphData {
    pub ontology: Ontology,
    pub vocab: Vocab,
    pub layout: ChainLayout,
    pub split: SeedSplit,
    pub sequences: Vec<Sequence>,
    pub occurrences: Vec<HeadOccurrence>,
    pub injected: Vec<InjectedTriple>,
    pub report: InjectionReport,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DataOptions {
    pub layout: ChainLayout,
    /// Share of seed edges held out (whole heads' edge sets).
    pub held_out: f64,
    /// Relations with fewer examples are not injected.
    pub min_per_relation: usize,
    pub seed: u64,
}

impl Default for DataOptions {
    fn default() -> Self {
        Self {
            layout: ChainLayout {
                roots: 64,
                leaves: 7,
            },
            held_out: 0.15,
            min_per_relation: 100,
            seed: 42,
        }
    }
}

impl GraphData {
    pub fn build(go_sqlite: &Path, encoder_dir: &Path, opts: &DataOptions) -> Result<Self> {
        let ontology = Ontology::open(go_sqlite)?;
        let vocab = Vocab::load(encoder_dir)?;
        let split = split::hold_out(&ontology, opts.held_out, opts.seed);
        let sequences = inject::sequences(&ontology, &vocab, &opts.layout)?;
        let matcher = HeadMatcher::new(&ontology, &vocab)?;
        let occurrences: Vec<HeadOccurrence> = sequences
            .iter()
            .flat_map(|s| matcher.find(s, &vocab))
            .collect();
        let tail_tokens = ontology
            .terms
            .iter()
            .map(|t| vocab.tokens(&t.name))
            .collect::<Result<Vec<_>>>()?;
        let (injected, report) = inject::inject(
            &occurrences,
            &split.seed,
            &tail_tokens,
            &opts.layout,
            opts.min_per_relation,
        );
        Ok(Self {
            ontology,
            vocab,
            layout: opts.layout,
            split,
            sequences,
            occurrences,
            injected,
            report,
        })
    }
}
