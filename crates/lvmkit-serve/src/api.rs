//! Request and response bodies of the HTTP API (their JSON schemas are in /openapi.json).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/encode`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncodeRequest {
    /// Sentences to embed (1 … max_texts).
    pub texts: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EncodeResponse {
    /// One unit vector per text.
    pub vectors: Vec<Vec<f32>>,
    pub dim: usize,
    /// The sentence encoder's name.
    pub encoder: String,
}

/// One context: 1 … C sentences or vectors (longer ones keep their last C).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextInput {
    pub texts: Option<Vec<String>>,
    pub vectors: Option<Vec<Vec<f32>>>,
}

/// `POST /v1/predict`: give exactly one of `texts`, `vectors` (one context) or `contexts`
/// (a batch).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// The context as sentences, oldest first.
    pub texts: Option<Vec<String>>,
    /// The context as D-dimensional vectors, oldest first.
    pub vectors: Option<Vec<Vec<f32>>>,
    /// Several contexts at once.
    pub contexts: Option<Vec<ContextInput>>,
    /// Served model name (default: the first `--run`).
    pub model: Option<String>,
    /// Nearest bank concepts to return per prediction (default 5; 0 for none).
    pub k: Option<usize>,
    /// true: exact search for the neighbours; false: the HNSW index (default: the server's
    /// choice, see /v1/models `bank.default_search`).
    pub exact: Option<bool>,
}

/// A bank concept near a vector, or a text the inversion decoder wrote.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Neighbor {
    /// Empty when the bank's dataset holds no sentences (one imported from .npz): `doc_id`,
    /// `position` and `row` still say which concept it is.
    pub text: String,
    /// Document the concept comes from (its id in the dataset); null for written text.
    pub doc_id: Option<String>,
    /// Sentence position in that document; null for written text.
    pub position: Option<usize>,
    /// Cosine similarity to the query (for written text: of its embedding).
    pub score: f32,
    /// Concept row in the dataset; null for written text.
    pub row: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Prediction {
    /// The predicted next concept vector (not normalised: what the model outputs).
    pub vector: Vec<f32>,
    pub neighbors: Vec<Neighbor>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PredictResponse {
    One {
        model: String,
        vector: Vec<f32>,
        neighbors: Vec<Neighbor>,
    },
    Batch {
        model: String,
        predictions: Vec<Prediction>,
    },
}

/// `POST /v1/generate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// The opening sentences, oldest first.
    pub texts: Vec<String>,
    /// Concepts to generate (1 … max_steps).
    pub steps: usize,
    /// Candidates decoded per step (the first is chosen; default 1).
    pub k: Option<usize>,
    pub model: Option<String>,
    /// Never choose a concept whose text is already in the context or the continuation
    /// (default true).
    pub avoid_repeats: Option<bool>,
    /// true: exact search; false: the HNSW index (default: the server's choice). Retrieval
    /// only.
    pub exact: Option<bool>,
    /// How predictions become text (default: "inversion" when the server was started with
    /// --decoder, else "retrieval").
    pub decoder: Option<DecoderKind>,
}

/// A way to turn a predicted vector into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// The nearest concept of the bank: a sentence of the dataset.
    Retrieval,
    /// New text from the inversion decoder of `lvmkit serve --decoder`.
    Inversion,
}

impl DecoderKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Retrieval => "retrieval",
            Self::Inversion => "inversion",
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GeneratedStep {
    pub step: usize,
    /// The chosen text: a bank concept's (retrieval) or a new one (inversion).
    pub text: String,
    /// The chosen concept's document and position (null for inversion: the text is new).
    pub doc_id: Option<String>,
    pub position: Option<usize>,
    /// Cosine between the model's prediction and the chosen text's vector (for inversion, the
    /// text's embedding by the server's encoder).
    pub score: f32,
    /// Cosine between the chosen concept and the previous one (the last context sentence for
    /// step 1): near 1 means the generation is standing still.
    pub cosine_to_previous: f32,
    /// Cosine between the raw prediction and the previous concept (a model that copies its
    /// last input scores near 1 here).
    pub prediction_to_previous: f32,
    /// The text already occurred in the context or an earlier step.
    pub repeated: bool,
    /// The other candidates of this step (k − 1 of them).
    pub alternatives: Vec<Neighbor>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateDiagnostics {
    /// Steps whose concept had occurred before.
    pub repeated_steps: usize,
    /// Distinct texts among the steps.
    pub distinct_steps: usize,
    pub mean_score: f32,
    pub mean_cosine_to_previous: f32,
    pub max_cosine_to_previous: f32,
    pub mean_prediction_to_previous: f32,
    /// Why generation stopped before `steps`, if it did.
    pub stopped_early: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateResponse {
    pub model: String,
    /// How predictions became text: "retrieval" (the nearest bank concept) or "inversion"
    /// (new text from the inversion decoder).
    pub decoder: String,
    pub context: Vec<String>,
    pub steps: Vec<GeneratedStep>,
    pub diagnostics: GenerateDiagnostics,
}

/// `POST /v1/search`: exactly one of `text` and `vector`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub text: Option<String>,
    pub vector: Option<Vec<f32>>,
    /// Neighbours to return (default 10).
    pub k: Option<usize>,
    /// true: exact search (matrix product); false: the HNSW index (default: the server's
    /// choice).
    pub exact: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    /// "exact" or "approximate".
    pub search: String,
    pub neighbors: Vec<Neighbor>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInfo {
    pub name: String,
    pub architecture: String,
    pub params: usize,
    /// Concept dimension D.
    pub dim: usize,
    /// Context length C.
    pub context: usize,
    /// Served when a request names no model.
    pub default: bool,
    pub run: String,
    pub best_val_cosine: Option<f64>,
    /// The model's full configuration, as in RUN/config.json.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// The dataset it was trained on: path, manifest hash, encoder.
    #[schema(value_type = Object)]
    pub trained_on: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsResponse {
    pub models: Vec<ModelInfo>,
    /// Whether requests may give sentences; false when the server has no encoder (its
    /// dataset names none and `lvmkit serve` was given no --encoder): vectors only.
    pub text_input: bool,
    /// The sentence encoder's name (null without one).
    pub encoder: Option<String>,
    pub encoder_fingerprint: Option<String>,
    /// The decoder /v1/generate uses when a request names none: "inversion" when the server
    /// has an inversion decoder, else "retrieval".
    pub decoder: String,
    /// Every decoder a request may name: "retrieval", and "inversion" with --decoder.
    pub decoders: Vec<String>,
    /// The inversion decoder of /v1/decode (null when the server was started without
    /// --decoder).
    pub inversion: Option<InversionInfo>,
    pub bank: BankInfo,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InversionInfo {
    /// The decoder run folder (from `lvmkit decoder train`).
    pub run: String,
    pub params: usize,
    /// Concept dimension D it reads.
    pub dim: usize,
    /// The encoder whose vectors it learnt to invert.
    pub encoder: String,
    /// Whether it has that encoder loaded: without it there are no correction steps and no
    /// round-trip cosines.
    pub round_trip: bool,
    /// Correction steps and beams a request gets when it names none.
    pub default_steps: usize,
    pub default_beam: usize,
    /// The most a request may ask for.
    pub max_steps: usize,
    pub max_beam: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BankInfo {
    pub dataset: String,
    pub concepts: usize,
    pub unique: usize,
    /// Whether its concepts have sentences; false for a dataset imported from .npz (neighbours
    /// then have empty text, and /v1/generate is refused).
    pub texts: bool,
    /// The approximate index: "hnsw" when `lvmkit index` has built one, "postgres" when the
    /// server searches a PostgreSQL bank (`serve --bank URL`), else "exact".
    pub index: String,
    /// What a request that does not say `exact` gets: "exact" or "approximate".
    pub default_search: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: String,
    /// Whether requests may give sentences (see /v1/models `text_input`).
    pub text_input: bool,
    pub models: usize,
    pub concepts: usize,
    /// Whether /v1/decode and the "inversion" decoder are available (`--decoder`).
    pub inversion: bool,
    pub uptime_seconds: f64,
}

/// `POST /v1/decode`: concept vectors to new text with the inversion decoder.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecodeRequest {
    /// D-dimensional vectors (1 … max_vectors), e.g. /v1/predict's predictions or
    /// /v1/encode's vectors.
    pub vectors: Vec<Vec<f32>>,
    /// Correction steps after the first decoding (default: the server's --decode-steps; see
    /// /v1/models `inversion` for the limits). Each re-embeds the current text and decodes
    /// again from the vector moved by its miss.
    pub steps: Option<usize>,
    /// Beams per vector (1 = greedy; default: the server's --decode-beam).
    pub beam: Option<usize>,
}

/// The text of one step: step 0 is the first decoding, each later one a correction.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecodeStep {
    pub text: String,
    /// Cosine between the text's embedding and the vector (null when the decoder has no
    /// encoder).
    pub cosine: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecodedText {
    /// The answer: the last step's text.
    pub text: String,
    /// Its round-trip cosine; never below step 0's.
    pub cosine: Option<f32>,
    /// Every step's text, step 0 first.
    pub steps: Vec<DecodeStep>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DecodeResponse {
    /// "inversion".
    pub decoder: String,
    /// One per vector, in order.
    pub texts: Vec<DecodedText>,
}
