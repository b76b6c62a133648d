//! /v1/generate: continue a text one concept at a time. Each step predicts from the last C
//! vectors, decodes the prediction (by default skipping texts already in the text), appends
//! the chosen text's vector and repeats. Decoding is retrieval (the nearest bank concept, whose
//! vector is appended) or the inversion decoder (new text, embedded again by the encoder). The
//! response reports every step with its alternatives, and diagnostics (repeats, similarity to
//! the previous step) that show a model looping or drifting.
//!
//! It lives apart from the other handlers because it is a loop over the model and the decoder,
//! not one pass, and its helpers (`unit`, `cosine`) serve only it.

use crate::api::*;
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::handlers::{neighbor, ApiResult};
use crate::state::AppState;
use crate::validate::finite;
use axum::extract::State;
use axum::Json;
use lvmkit_index::Decoder;
use std::collections::HashSet;
use std::sync::Arc;

#[utoipa::path(post, path = "/v1/generate", request_body = GenerateRequest,
    responses((status = 200, body = GenerateResponse), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn generate(
    State(s): State<Arc<AppState>>,
    ApiJson(req): ApiJson<GenerateRequest>,
) -> ApiResult<GenerateResponse> {
    let slot = s.model(req.model.as_deref())?;
    let kind = req.decoder.unwrap_or(s.default_decoder());
    let decoder: Arc<dyn Decoder> = match kind {
        DecoderKind::Retrieval => s.retrieval(s.mode(req.exact)),
        DecoderKind::Inversion => s.inversion("\"decoder\": \"inversion\"")?.clone(),
    };
    s.check_texts("texts", &req.texts)?;
    // New text needs no bank sentences.
    if kind == DecoderKind::Retrieval && !s.bank_texts {
        return Err(ApiError::unprocessable(
            "no_texts",
            format!(
                "the bank's dataset {} holds no sentences (it was built from vectors), so a \
                 continuation has no text to show; /v1/predict gives the nearest concepts' \
                 doc_id, position and row",
                s.bank.dataset_dir.display()
            ),
        ));
    }
    if req.texts.len() > s.limits.max_texts {
        return Err(ApiError::unprocessable(
            "too_large",
            format!(
                "{} texts; the limit is {}",
                req.texts.len(),
                s.limits.max_texts
            ),
        ));
    }
    if req.steps == 0 || req.steps > s.limits.max_steps {
        return Err(ApiError::unprocessable(
            "out_of_range",
            format!(
                "'steps' = {} is outside 1…{}",
                req.steps, s.limits.max_steps
            ),
        ));
    }
    let k = s.check_k(req.k.unwrap_or(1), "k", 1)?;
    let avoid_repeats = req.avoid_repeats.unwrap_or(true);
    let c = slot.context;

    let mut context = s.encode(req.texts.clone()).await?;
    let mut seen: HashSet<String> = req.texts.iter().cloned().collect();
    let mut steps: Vec<GeneratedStep> = Vec::new();
    let mut stopped_early = None;
    for step in 1..=req.steps {
        let window: Vec<f32> = context[context.len().saturating_sub(c)..]
            .iter()
            .flatten()
            .copied()
            .collect();
        let pred = slot
            .batcher
            .run(vec![window])
            .await
            .map_err(ApiError::internal)?
            .remove(0);
        finite(&pred)?;
        let avoid = if avoid_repeats {
            seen.clone()
        } else {
            HashSet::new()
        };
        let mut cands = s
            .decode_with(decoder.clone(), pred.clone(), k, avoid)
            .await?
            .remove(0);
        if cands.is_empty() {
            stopped_early = Some(match kind {
                DecoderKind::Retrieval => "every concept of the bank has been used".to_string(),
                DecoderKind::Inversion => format!(
                    "every text the inversion decoder gave for step {step} is already in the text"
                ),
            });
            break;
        }
        let mut chosen = cands.remove(0);
        let chosen_vec = match &chosen.concept {
            Some(c) => s.bank.vector(c.row).to_vec(),
            // A generative decoder's text goes back through the encoder.
            None => unit(&s.encode(vec![chosen.text.clone()]).await?.remove(0)),
        };
        if !chosen.score.is_finite() {
            // A decoder without its encoder has no round-trip cosine; the server's encoder
            // (the same space) gives it.
            chosen.score = cosine(&chosen_vec, &pred);
        }
        let previous = context.last().expect("context is never empty");
        let repeated = !seen.insert(chosen.text.clone());
        steps.push(GeneratedStep {
            step,
            cosine_to_previous: cosine(&chosen_vec, previous),
            prediction_to_previous: cosine(&pred, previous),
            score: chosen.score,
            repeated,
            doc_id: chosen.concept.as_ref().map(|c| c.doc_id.clone()),
            position: chosen.concept.as_ref().map(|c| c.position),
            text: chosen.text,
            alternatives: cands.into_iter().map(neighbor).collect(),
        });
        context.push(chosen_vec);
    }
    let n = steps.len().max(1) as f32;
    let diagnostics = GenerateDiagnostics {
        repeated_steps: steps.iter().filter(|s| s.repeated).count(),
        distinct_steps: steps
            .iter()
            .map(|s| s.text.as_str())
            .collect::<HashSet<_>>()
            .len(),
        mean_score: steps.iter().map(|s| s.score).sum::<f32>() / n,
        mean_cosine_to_previous: steps.iter().map(|s| s.cosine_to_previous).sum::<f32>() / n,
        max_cosine_to_previous: steps
            .iter()
            .map(|s| s.cosine_to_previous)
            .fold(f32::NEG_INFINITY, f32::max)
            .max(-1.0),
        mean_prediction_to_previous: steps.iter().map(|s| s.prediction_to_previous).sum::<f32>()
            / n,
        stopped_early,
    };
    Ok(Json(GenerateResponse {
        model: slot.info.name.clone(),
        decoder: decoder.name().to_string(),
        context: req.texts,
        steps,
        diagnostics,
    }))
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    // Rounding can push a cosine of parallel vectors just past 1.
    (dot / (na * nb).max(1e-12)).clamp(-1.0, 1.0)
}
