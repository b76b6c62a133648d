//! The checks that turn bad input into an `ApiError` (a 4xx with a JSON message) before any
//! work is queued: text given to a server without an encoder, blank or long sentences, vectors
//! of the wrong dimension, non-finite or huge values, k out of range, too many items, decoding
//! options out of range. `finite` is the one check after a pass: a model's prediction must be
//! finite before it is decoded or returned.
//!
//! `/v1/predict`'s contexts are checked and turned into model rows here too, because the
//! totals over all contexts are what the limits bound.

use crate::error::ApiError;
use crate::state::AppState;
use lvmkit_decoder::InvertOptions;

/// Longest input vector accepted (concept vectors are unit length).
pub const MAX_VECTOR_NORM: f64 = 1000.0;

/// A model's output must be finite before it is decoded or returned.
pub(crate) fn finite(pred: &[f32]) -> std::result::Result<(), ApiError> {
    if pred.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "not_finite",
            "the model's prediction for this context is not finite",
        ))
    }
}

// Methods of the state because each check reads the state's limits or dimension.
impl AppState {
    /// Text sent to a server without an encoder: why it is refused and what works instead.
    pub(crate) fn no_encoder(&self, field: &str) -> ApiError {
        let ds = self.bank.dataset();
        ApiError::unprocessable(
            "no_encoder",
            format!(
                "{field} holds text, but this server has no sentence encoder: its dataset {} \
                 names none (encoder: {}), so it takes vectors only. Send {}-D vectors instead \
                 ('vectors' or 'contexts[].vectors' to /v1/predict, 'vector' to /v1/search), or \
                 restart `lvmkit serve` with --encoder DIR to accept text",
                ds.dir.display(),
                ds.manifest.encoder.name,
                self.dim
            ),
        )
    }

    pub(crate) fn check_texts(
        &self,
        field: &str,
        texts: &[String],
    ) -> std::result::Result<(), ApiError> {
        if !self.text_input() {
            return Err(self.no_encoder(&format!("'{field}'")));
        }
        if texts.is_empty() {
            return Err(ApiError::unprocessable(
                "empty_input",
                format!("'{field}' is empty: give at least one sentence"),
            ));
        }
        for (i, t) in texts.iter().enumerate() {
            if t.trim().is_empty() {
                return Err(ApiError::unprocessable(
                    "empty_input",
                    format!("{field}[{i}] is blank"),
                ));
            }
            let n = t.chars().count();
            if n > self.limits.max_text_chars {
                return Err(ApiError::unprocessable(
                    "too_large",
                    format!(
                        "{field}[{i}] has {n} characters; the limit is {}",
                        self.limits.max_text_chars
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn check_vectors(
        &self,
        field: &str,
        vectors: &[Vec<f32>],
    ) -> std::result::Result<(), ApiError> {
        if vectors.is_empty() {
            return Err(ApiError::unprocessable(
                "empty_input",
                format!("'{field}' is empty: give at least one vector"),
            ));
        }
        for (i, v) in vectors.iter().enumerate() {
            if v.len() != self.dim {
                return Err(ApiError::unprocessable(
                    "bad_dimension",
                    format!(
                        "{field}[{i}] has {} values; the models take D = {}",
                        v.len(),
                        self.dim
                    ),
                ));
            }
            if let Some(j) = v.iter().position(|x| !x.is_finite()) {
                return Err(ApiError::unprocessable(
                    "not_finite",
                    format!("{field}[{i}][{j}] is not a finite number"),
                ));
            }
            // Concept vectors are (near) unit length; values far beyond overflow the models.
            let norm = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            if norm > MAX_VECTOR_NORM {
                return Err(ApiError::unprocessable(
                    "too_large",
                    format!(
                        "{field}[{i}] has length {norm:.3e}; concept vectors are unit length \
                         and the limit is {MAX_VECTOR_NORM}"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Vectors for the inversion decoder: as `check_vectors`, at most `max_vectors`, none all
    /// zeros (it has no direction to decode).
    pub(crate) fn check_decode_vectors(
        &self,
        field: &str,
        vectors: &[Vec<f32>],
    ) -> std::result::Result<(), ApiError> {
        self.check_vectors(field, vectors)?;
        if vectors.len() > self.limits.max_vectors {
            return Err(ApiError::unprocessable(
                "too_large",
                format!(
                    "'{field}' holds {} vectors; the limit is {} per request",
                    vectors.len(),
                    self.limits.max_vectors
                ),
            ));
        }
        if let Some(i) = vectors.iter().position(|v| v.iter().all(|&x| x == 0.0)) {
            return Err(ApiError::unprocessable(
                "zero_vector",
                format!("{field}[{i}] is all zeros: it has no direction to decode"),
            ));
        }
        Ok(())
    }

    /// A request's correction steps and beams (the server's defaults where it names none),
    /// within the limits; steps need the decoder's encoder.
    pub(crate) fn decode_options(
        &self,
        steps: Option<usize>,
        beam: Option<usize>,
    ) -> std::result::Result<InvertOptions, ApiError> {
        let dec = self.inversion("/v1/decode")?;
        let l = &self.limits;
        let steps = steps.unwrap_or(dec.options.steps);
        if steps > l.max_decode_steps {
            return Err(ApiError::unprocessable(
                "out_of_range",
                format!("'steps' = {steps} is outside 0…{}", l.max_decode_steps),
            ));
        }
        let beam = beam.unwrap_or(dec.options.beam);
        if beam == 0 || beam > l.max_decode_beam {
            return Err(ApiError::unprocessable(
                "out_of_range",
                format!("'beam' = {beam} is outside 1…{}", l.max_decode_beam),
            ));
        }
        if steps > 0 && !dec.inverter.has_encoder() {
            return Err(ApiError::unprocessable(
                "no_encoder",
                format!(
                    "'steps' = {steps}, but correction steps re-embed each text with the \
                     decoder's encoder ({}), which this server could not load: send \"steps\": 0, \
                     or restart `lvmkit serve` with --encoder DIR",
                    dec.inverter.config.data.encoder
                ),
            ));
        }
        Ok(InvertOptions {
            steps,
            beam,
            ..dec.options
        })
    }

    pub(crate) fn check_k(
        &self,
        k: usize,
        field: &str,
        min: usize,
    ) -> std::result::Result<usize, ApiError> {
        if k < min || k > self.limits.max_k {
            return Err(ApiError::unprocessable(
                "out_of_range",
                format!("'{field}' = {k} is outside {min}…{}", self.limits.max_k),
            ));
        }
        Ok(k)
    }
}

/// One /v1/predict context as the client gave it: sentences to embed, or vectors as they are.
pub(crate) enum Ctx {
    Texts(Vec<String>),
    Vectors(Vec<Vec<f32>>),
}

/// Validate contexts and turn each into its last C rows, flat. Texts of every context are
/// embedded in one call.
pub(crate) async fn context_vectors(
    s: &AppState,
    contexts: Vec<Ctx>,
    c: usize,
    single: bool,
) -> std::result::Result<Vec<Vec<f32>>, ApiError> {
    let mut texts = Vec::new();
    let (mut n_texts, mut n_vectors) = (0, 0);
    let field = |i: usize, name: &str| {
        if single {
            name.to_string()
        } else {
            format!("contexts[{i}].{name}")
        }
    };
    for (i, ctx) in contexts.iter().enumerate() {
        match ctx {
            Ctx::Texts(t) => {
                s.check_texts(&field(i, "texts"), t)?;
                n_texts += t.len();
                texts.extend(t.iter().cloned());
            }
            Ctx::Vectors(v) => {
                s.check_vectors(&field(i, "vectors"), v)?;
                n_vectors += v.len();
            }
        }
    }
    if n_texts > s.limits.max_texts || n_vectors > s.limits.max_vectors {
        return Err(ApiError::unprocessable(
            "too_large",
            format!(
                "{n_texts} sentences and {n_vectors} vectors; the limits are {} and {} per request",
                s.limits.max_texts, s.limits.max_vectors
            ),
        ));
    }
    let mut embedded = s.encode(texts).await?.into_iter();
    let d = s.dim;
    Ok(contexts
        .into_iter()
        .map(|ctx| {
            let rows: Vec<Vec<f32>> = match ctx {
                Ctx::Texts(t) => embedded.by_ref().take(t.len()).collect(),
                Ctx::Vectors(v) => v,
            };
            let skip = rows.len().saturating_sub(c);
            let mut flat = Vec::with_capacity((rows.len() - skip) * d);
            rows[skip..].iter().for_each(|r| flat.extend_from_slice(r));
            flat
        })
        .collect())
}
