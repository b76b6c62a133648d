//! Turning dataset windows into tensors.

use anyhow::Result;
use candle_core::{Device, Tensor};
use lvmkit_dataset::{Dataset, Window};

/// A batch: contexts [B, C, D], mask [B, C] (all ones: dataset windows are full), targets [B, D].
pub struct Batch {
    pub contexts: Tensor,
    pub mask: Tensor,
    pub targets: Tensor,
}

pub fn gather(ds: &Dataset, windows: &[Window], device: &Device) -> Result<Batch> {
    let (c, d) = (ds.context(), ds.dim());
    let b = windows.len();
    let mut ctx = Vec::with_capacity(b * c * d);
    let mut tgt = Vec::with_capacity(b * d);
    for w in windows {
        ctx.extend_from_slice(ds.context_of(w));
        tgt.extend_from_slice(ds.target_of(w));
    }
    Ok(Batch {
        contexts: Tensor::from_vec(ctx, (b, c, d), device)?,
        mask: Tensor::ones((b, c), candle_core::DType::F32, device)?,
        targets: Tensor::from_vec(tgt, (b, d), device)?,
    })
}
