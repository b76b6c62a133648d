//! Training losses on L2-normalised predictions, combinable with weights. Every component is
//! reported unweighted so the history shows what each term is doing.

use anyhow::{bail, Context, Result};
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// Loss weights (0 switches a term off) and the InfoNCE temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// 1 − cos(prediction, target).
    pub cosine: f32,
    /// Mean squared error over B×D elements. On unit vectors this equals (2 − 2cos)/D, so it is
    /// D/2 times smaller than the cosine loss: weigh it accordingly.
    pub mse: f32,
    /// Cross-entropy of each prediction against the batch's targets (in-batch negatives).
    pub infonce: f32,
    /// (batch mean of predictions − of targets)² + (batch std − batch std)², mean over dims.
    pub moment: f32,
    /// Mean over dims of ReLU(std(targets) − std(predictions)): penalises predictions that spread
    /// less than the targets do (collapse to the mean), scaled by the targets' own spread.
    pub variance: f32,
    /// InfoNCE temperature τ.
    pub temperature: f32,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            cosine: 1.0,
            mse: 0.0,
            infonce: 0.0,
            moment: 0.0,
            variance: 0.0,
            temperature: 0.07,
        }
    }
}

/// A computed loss: the weighted total (differentiable) and each component's unweighted value.
pub struct LossValue {
    pub total: Tensor,
    pub components: Vec<(&'static str, Tensor)>,
}

impl LossConfig {
    /// Weights from `cosine=1,infonce=0.05` (terms left out get weight 0), with the default
    /// temperature.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut cfg = LossConfig {
            cosine: 0.0,
            ..LossConfig::default()
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = part
                .split_once('=')
                .with_context(|| format!("'{part}' is not TERM=WEIGHT"))?;
            let w: f32 = w
                .trim()
                .parse()
                .with_context(|| format!("weight '{w}' of {name} is not a number"))?;
            match name.trim() {
                "cosine" => cfg.cosine = w,
                "mse" => cfg.mse = w,
                "infonce" => cfg.infonce = w,
                "moment" => cfg.moment = w,
                "variance" => cfg.variance = w,
                other => {
                    bail!("unknown term '{other}' (known: cosine, mse, infonce, moment, variance)")
                }
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        let terms = self.terms();
        for (name, w) in terms {
            if !w.is_finite() || w < 0.0 {
                bail!("loss weight {name} must be finite and ≥ 0, got {w}");
            }
        }
        if terms.iter().all(|(_, w)| *w == 0.0) {
            bail!("every loss weight is 0: nothing to train");
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            bail!("loss temperature must be > 0, got {}", self.temperature);
        }
        Ok(())
    }

    fn terms(&self) -> [(&'static str, f32); 5] {
        [
            ("cosine", self.cosine),
            ("mse", self.mse),
            ("infonce", self.infonce),
            ("moment", self.moment),
            ("variance", self.variance),
        ]
    }

    /// `pred`: [B, D] unit rows; `target`: [B, D] unit rows.
    pub fn compute(&self, pred: &Tensor, target: &Tensor) -> Result<LossValue> {
        let mut total: Option<Tensor> = None;
        let mut components = Vec::new();
        for (name, w) in self.terms() {
            if w == 0.0 {
                continue;
            }
            let value = match name {
                "cosine" => cosine_loss(pred, target)?,
                "mse" => mse_loss(pred, target)?,
                "infonce" => infonce_loss(pred, target, self.temperature)?,
                "moment" => moment_loss(pred, target)?,
                "variance" => variance_loss(pred, target)?,
                _ => unreachable!(),
            };
            let weighted = (&value * w as f64)?;
            total = Some(match total {
                None => weighted,
                Some(t) => (t + weighted)?,
            });
            components.push((name, value));
        }
        Ok(LossValue {
            total: total.expect("validate() ensures one non-zero weight"),
            components,
        })
    }
}

/// Mean cosine of matching rows.
pub fn mean_cosine(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    Ok((pred * target)?.sum(D::Minus1)?.mean_all()?)
}

pub fn cosine_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    Ok((1.0 - mean_cosine(pred, target)?)?)
}

pub fn mse_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    Ok((pred - target)?.sqr()?.mean_all()?)
}

/// InfoNCE, prediction → target direction. Other rows whose target is the same vector (a
/// repeated sentence such as "Thank you.") are not negatives: they are masked out.
pub fn infonce_loss(pred: &Tensor, target: &Tensor, temperature: f32) -> Result<Tensor> {
    let b = pred.dim(0)?;
    let logits = (pred.matmul(&target.t()?)? / temperature as f64)?;
    let same = target.matmul(&target.t()?)?.to_vec2::<f32>()?;
    let mut bias = vec![0f32; b * b];
    for i in 0..b {
        for j in 0..b {
            if i != j && same[i][j] > 0.9999 {
                bias[i * b + j] = -1e9;
            }
        }
    }
    let logits = (logits + Tensor::from_vec(bias, (b, b), pred.device())?)?;
    let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let eye = Tensor::eye(b, log_p.dtype(), pred.device())?;
    Ok(((log_p * eye)?.sum_all()?.neg()? / b as f64)?)
}

fn batch_std(x: &Tensor) -> Result<Tensor> {
    let mean = x.mean_keepdim(0)?;
    Ok((x.broadcast_sub(&mean)?.sqr()?.mean(0)? + 1e-12)?.sqrt()?)
}

pub fn moment_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    let mean_gap = (pred.mean(0)? - target.mean(0)?)?.sqr()?.mean_all()?;
    let std_gap = (batch_std(pred)? - batch_std(target)?)?.sqr()?.mean_all()?;
    Ok((mean_gap + std_gap)?)
}

pub fn variance_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    Ok((batch_std(target)?.detach() - batch_std(pred)?)?
        .relu()?
        .mean_all()?)
}
