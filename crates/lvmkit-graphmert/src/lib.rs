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
//! - [`filter`]: the β similarity filter, calibrated on seed triples.
//! - [`evaluate`]: extraction with the filter, GraphMERT next to both baselines, the table,
//!   and the files `lvmkit graphmert extract` and `eval` write.

pub mod chain;
pub mod code;
pub mod evaluate;
pub mod extract;
pub mod filter;
pub mod go;
pub mod inject;
pub mod masking;
pub mod model;
pub mod score;
pub mod search;
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

/// What GraphMERT trains on, whatever the domain (GO terms, source code): a vocabulary, the
/// chain layout, the sequences (roots) and the seed triples injected into their leaves. One
/// trainer ([`train::train`]) for every domain.
pub trait TrainingData {
    fn vocab(&self) -> &Vocab;
    fn layout(&self) -> ChainLayout;
    fn sequences(&self) -> &[Sequence];
    fn injected(&self) -> &[InjectedTriple];
}

impl TrainingData for GraphData {
    fn vocab(&self) -> &Vocab {
        &self.vocab
    }
    fn layout(&self) -> ChainLayout {
        self.layout
    }
    fn sequences(&self) -> &[Sequence] {
        &self.sequences
    }
    fn injected(&self) -> &[InjectedTriple] {
        &self.injected
    }
}

/// How the GO data is cut (also `graphmert data`'s flags).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, clap::Args)]
pub struct DataOptions {
    #[command(flatten)]
    pub layout: ChainLayout,
    /// Share of seed edges held out for scoring extraction (whole heads' edge sets), in [0, 1).
    #[arg(long, default_value_t = 0.15)]
    pub held_out: f64,
    /// Share of seed edges held out as validation heads (after the scored ones), never injected:
    /// extraction settings are chosen on them, never on the scored heads.
    #[arg(long, default_value_t = 0.05)]
    pub val_held_out: f64,
    /// Relations with fewer examples are not injected.
    #[arg(long, default_value_t = 100)]
    pub min_per_relation: usize,
    /// Seed of the held-out split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl Default for DataOptions {
    fn default() -> Self {
        lvmkit_io::setting::defaults()
    }
}

impl GraphData {
    /// From the fetched Gene Ontology and default encoder (whose WordPiece vocabulary GraphMERT
    /// uses) in the data folder.
    pub fn from_data_dir(data: &lvmkit_sources::DataDir, opts: &DataOptions) -> Result<Self> {
        Self::build(&data.gene_ontology(), &data.default_encoder(), opts)
    }

    /// OUT/injection.json (the report: candidates and injected triples per relation) and
    /// OUT/injected.jsonl (each injected triple with its sequence's text and GO ids).
    pub fn write_injection(&self, out: &Path) -> Result<()> {
        let _lock = lvmkit_io::OutputLock::acquire(out, "GraphMERT output folder")?;
        std::fs::create_dir_all(out)?;
        lvmkit_io::write_json_atomic(&out.join("injection.json"), &self.report)?;
        let term = |t: u32| &self.ontology.terms[t as usize];
        lvmkit_io::write_atomic(&out.join("injected.jsonl"), |w| {
            for t in &self.injected {
                let row = serde_json::json!({
                    "seq": t.seq,
                    "text": self.sequences[t.seq].text,
                    "head": term(t.head).name,
                    "head_go_id": term(t.head).go_id,
                    "relation": RELATIONS[t.relation as usize],
                    "tail": term(t.tail).name,
                    "tail_go_id": term(t.tail).go_id,
                    "root": t.root,
                    "head_len": t.head_len,
                });
                writeln!(w, "{row}")?;
            }
            Ok(())
        })
    }

    pub fn build(go_sqlite: &Path, encoder_dir: &Path, opts: &DataOptions) -> Result<Self> {
        if !(0.0..1.0).contains(&opts.held_out) {
            let msg = format!("must be in [0, 1), got {}", opts.held_out);
            return Err(lvmkit_io::setting_error("held_out", msg).into());
        }
        let ontology = Ontology::open(go_sqlite)?;
        let vocab = Vocab::load(encoder_dir)?;
        if !(0.0..1.0).contains(&opts.val_held_out) || opts.held_out + opts.val_held_out >= 1.0 {
            let msg = format!(
                "must be in [0, 1) with held_out + val_held_out < 1, got {}",
                opts.val_held_out
            );
            return Err(lvmkit_io::setting_error("val_held_out", msg).into());
        }
        let split = split::hold_out(&ontology, opts.held_out, opts.val_held_out, opts.seed);
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
            &RELATIONS,
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
