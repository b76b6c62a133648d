//! Reducing token states [B, T, H] to one vector per text [B, H], ignoring padding.

use anyhow::{bail, Result};
use candle_core::{DType, Tensor, D};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    Mean,
    Cls,
    Max,
    MeanSqrtLen,
}

impl Pooling {
    /// sentence-transformers' pooling flags; exactly one must be set.
    pub fn from_flags(cls: bool, mean: bool, max: bool, mean_sqrt_len: bool) -> Result<Self> {
        match (cls, mean, max, mean_sqrt_len) {
            (false, true, false, false) => Ok(Self::Mean),
            (true, false, false, false) => Ok(Self::Cls),
            (false, false, true, false) => Ok(Self::Max),
            (false, false, false, true) => Ok(Self::MeanSqrtLen),
            _ => bail!(
                "exactly one pooling mode must be enabled (lvmkit does not concatenate several)"
            ),
        }
    }

    /// `hidden` [B, T, H] f32, `mask` [B, T] (1 for real tokens, 0 for padding).
    pub fn apply(self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let mask = mask.to_dtype(DType::F32)?;
        match self {
            Self::Cls => hidden.narrow(1, 0, 1)?.squeeze(1),
            Self::Mean | Self::MeanSqrtLen => {
                let m = mask.unsqueeze(D::Minus1)?;
                let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                let counts = mask.sum_keepdim(1)?.clamp(1e-9, f64::MAX)?;
                let denom = if self == Self::Mean {
                    counts
                } else {
                    counts.sqrt()?
                };
                summed.broadcast_div(&denom)
            }
            Self::Max => {
                // Padding gets a large negative value so it never wins the max.
                let m = mask.unsqueeze(D::Minus1)?;
                let penalty = ((m.ones_like()? - &m)? * -1e9)?;
                hidden.broadcast_add(&penalty)?.max(1)
            }
        }
    }
}

/// Row-wise L2 normalisation of a [B, H] tensor.
pub fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn mean_pooling_ignores_padding() {
        let dev = Device::Cpu;
        // one text of 2 real tokens + 1 pad token with a huge value that must not count
        let h = Tensor::new(&[[[1f32, 2.], [3., 4.], [1000., 1000.]]], &dev).unwrap();
        let m = Tensor::new(&[[1u32, 1, 0]], &dev).unwrap();
        let out: Vec<Vec<f32>> = Pooling::Mean.apply(&h, &m).unwrap().to_vec2().unwrap();
        assert_eq!(out, vec![vec![2., 3.]]);
        let out: Vec<Vec<f32>> = Pooling::Max.apply(&h, &m).unwrap().to_vec2().unwrap();
        assert_eq!(out, vec![vec![3., 4.]]);
        let out: Vec<Vec<f32>> = Pooling::Cls.apply(&h, &m).unwrap().to_vec2().unwrap();
        assert_eq!(out, vec![vec![1., 2.]]);
    }
}
