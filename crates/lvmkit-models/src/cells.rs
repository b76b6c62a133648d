//! Fused LSTM and GRU cells: one pass over the gates forward, one backward.
//!
//! Composed from primitive ops, one LSTM step is ~15 tensors of [B, 4H] or [B, H] each way
//! (three sigmoids, two tanh, products, sums), every one a fresh allocation and a trip through
//! candle's thread pool; at B = 256, H = 512 that was a third of a training step, more than the
//! hidden-to-hidden matrix product (`perf` on `step_profile lstm 256`). Here the gate
//! arithmetic of a step is one kernel, and its backward one more; the matrix products stay
//! where they were. Off the CPU or f32, the same maths runs as the primitive composition
//! ([`lstm_cell_composed`], [`gru_cell_composed`]), which the tests hold the kernels to.

use crate::nn::sigmoid;
use crate::ops::fused;
use anyhow::Result;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor, D};
use rayon::prelude::*;

/// One LSTM step, gate order i, f, g, o as PyTorch. `x` [B, 4H]: the input projection with
/// both biases; `hh` [B, 4H]: `h W_hhᵀ` (None at the first step, where h = 0); `c` [B, H]
/// (None for a zero state). Returns (h, c), each [B, H].
pub fn lstm_cell(x: &Tensor, hh: Option<&Tensor>, c: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
    let (b, g4) = x.dims2()?;
    let h = g4 / 4;
    if !fused(x) {
        return lstm_cell_composed(x, hh, c);
    }
    let zeros_gates;
    let hh = match hh {
        Some(t) => t,
        None => {
            zeros_gates = Tensor::zeros((b, g4), DType::F32, x.device())?;
            &zeros_gates
        }
    };
    let zeros_state;
    let c = match c {
        Some(t) => t,
        None => {
            zeros_state = Tensor::zeros((b, h), DType::F32, x.device())?;
            &zeros_state
        }
    };
    let hc = x.apply_op3(hh, c, LstmCell)?;
    Ok((hc.narrow(1, 0, h)?, hc.narrow(1, h, h)?))
}

/// [`lstm_cell`] from primitive ops: the reference the kernel is tested against.
pub fn lstm_cell_composed(
    x: &Tensor,
    hh: Option<&Tensor>,
    c: Option<&Tensor>,
) -> Result<(Tensor, Tensor)> {
    let h = x.dim(1)? / 4;
    let gates = match hh {
        Some(hh) => (x + hh)?,
        None => x.clone(),
    };
    let s = sigmoid(&gates)?;
    let i = s.narrow(D::Minus1, 0, h)?;
    let f = s.narrow(D::Minus1, h, h)?;
    let o = s.narrow(D::Minus1, 3 * h, h)?;
    let g = gates.narrow(D::Minus1, 2 * h, h)?.tanh()?;
    let ig = (i * g)?;
    let c_new = match c {
        Some(c) => ((f * c)? + ig)?,
        None => ig,
    };
    let h_new = (o * c_new.tanh()?)?;
    Ok((h_new, c_new))
}

/// One GRU step, gate order r, z, n as PyTorch: n = tanh(x_n + r·hh_n), h' = n + z·(h − n).
/// `x` [B, 3H]: the input projection with b_ih; `hh` [B, 3H]: `h W_hhᵀ + b_hh`; `h` [B, H]
/// (None for a zero state).
pub fn gru_cell(x: &Tensor, hh: &Tensor, h: Option<&Tensor>) -> Result<Tensor> {
    let (b, g3) = x.dims2()?;
    if !fused(x) {
        return gru_cell_composed(x, hh, h);
    }
    let zeros;
    let h = match h {
        Some(t) => t,
        None => {
            zeros = Tensor::zeros((b, g3 / 3), DType::F32, x.device())?;
            &zeros
        }
    };
    Ok(x.apply_op3(hh, h, GruCell)?)
}

/// [`gru_cell`] from primitive ops: the reference the kernel is tested against.
pub fn gru_cell_composed(x: &Tensor, hh: &Tensor, h: Option<&Tensor>) -> Result<Tensor> {
    let hsz = x.dim(1)? / 3;
    let rz = sigmoid(&(x.narrow(D::Minus1, 0, 2 * hsz)? + hh.narrow(D::Minus1, 0, 2 * hsz)?)?)?;
    let r = rz.narrow(D::Minus1, 0, hsz)?;
    let z = rz.narrow(D::Minus1, hsz, hsz)?;
    let n = (x.narrow(D::Minus1, 2 * hsz, hsz)? + (r * hh.narrow(D::Minus1, 2 * hsz, hsz)?)?)?
        .tanh()?;
    Ok(match h {
        Some(h) => (&n + (z * (h - &n)?)?)?,
        None => (&n - (z * &n)?)?,
    })
}

fn sig(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// tanh through one `exp`: glibc's `tanhf` goes through `expm1f` and was a tenth of an LSTM
/// step. Absolute error stays below 1e-7; the tests hold it to the composition.
fn tanh(v: f32) -> f32 {
    let v = v.clamp(-15.0, 15.0);
    1.0 - 2.0 / (1.0 + (2.0 * v).exp())
}

/// Rows of a 2-D f32 operand whose last dimension is dense: (values from the first row,
/// row stride, row length). Broadcast rows (stride 0) and views of wider tensors are fine.
fn rows<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<Rows<'a>> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expected f32")
    };
    let (&[n, width], &[stride, col]) = (l.dims(), l.stride()) else {
        candle_core::bail!("{op}: expected 2-D operands, got {:?}", l.dims())
    };
    if col != 1 && width > 1 {
        candle_core::bail!("{op}: the last dimension must be dense")
    }
    Ok(Rows {
        data: &v[l.start_offset()..],
        stride,
        width,
        n,
    })
}

struct Rows<'a> {
    data: &'a [f32],
    stride: usize,
    width: usize,
    n: usize,
}

impl Rows<'_> {
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.stride..i * self.stride + self.width]
    }
}

/// Fill `out` ([n, width] row-major) row by row, the rows split over threads when there are
/// enough elements to pay for it. Each row is computed alone, so the result does not depend
/// on the thread count.
fn each_row(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if out.len() >= 1 << 15 {
        out.par_chunks_mut(width)
            .enumerate()
            .with_min_len(8)
            .for_each(|(i, r)| f(i, r));
    } else {
        out.chunks_mut(width).enumerate().for_each(|(i, r)| f(i, r));
    }
}

/// Forward: (x, hh, c) → [h | c'] [B, 2H].
struct LstmCell;

impl CustomOp3 for LstmCell {
    fn name(&self) -> &'static str {
        "lstm-cell"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, hh, c) = (
            rows(s1, l1, "lstm-cell")?,
            rows(s2, l2, "lstm-cell")?,
            rows(s3, l3, "lstm-cell")?,
        );
        let h = c.width;
        if x.width != 4 * h || hh.width != 4 * h || x.n != c.n || hh.n != c.n {
            candle_core::bail!(
                "lstm-cell: gates {:?}, {:?} for a state {:?}",
                l1.dims(),
                l2.dims(),
                l3.dims()
            )
        }
        let mut out = vec![0f32; c.n * 2 * h];
        each_row(&mut out, 2 * h, |b, o| {
            let (xr, hr, cr) = (x.row(b), hh.row(b), c.row(b));
            let (oh, oc) = o.split_at_mut(h);
            for j in 0..h {
                let i = sig(xr[j] + hr[j]);
                let f = sig(xr[h + j] + hr[h + j]);
                let g = tanh(xr[2 * h + j] + hr[2 * h + j]);
                let og = sig(xr[3 * h + j] + hr[3 * h + j]);
                let cn = f * cr[j] + i * g;
                oc[j] = cn;
                oh[j] = og * tanh(cn);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((c.n, 2 * h))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        hh: &Tensor,
        c: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let h = c.dim(1)?;
        let pre = (x + hh)?;
        let packed = pre.apply_op3_no_bwd(c, &grad.contiguous()?, &LstmCellBackward)?;
        let d_pre = packed.narrow(1, 0, 4 * h)?;
        let dc = c
            .track_op()
            .then(|| packed.narrow(1, 4 * h, h))
            .transpose()?;
        let dx = x.track_op().then(|| d_pre.clone());
        let dhh = hh.track_op().then_some(d_pre);
        Ok((dx, dhh, dc))
    }
}

/// (pre-activation gates [B, 4H], c [B, H], grad of [h | c'] [B, 2H]) → [d gates | d c] [B, 5H].
struct LstmCellBackward;

impl CustomOp3 for LstmCellBackward {
    fn name(&self) -> &'static str {
        "lstm-cell-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "lstm-cell-backward";
        let (pre, c, g) = (rows(s1, l1, op)?, rows(s2, l2, op)?, rows(s3, l3, op)?);
        let h = c.width;
        let mut out = vec![0f32; c.n * 5 * h];
        each_row(&mut out, 5 * h, |b, o| {
            let (pr, cr, gr) = (pre.row(b), c.row(b), g.row(b));
            let (dg, dc) = o.split_at_mut(4 * h);
            for j in 0..h {
                let i = sig(pr[j]);
                let f = sig(pr[h + j]);
                let gg = tanh(pr[2 * h + j]);
                let og = sig(pr[3 * h + j]);
                let cn = f * cr[j] + i * gg;
                let tc = tanh(cn);
                let (dh, dcn) = (gr[j], gr[h + j]);
                let dct = dcn + dh * og * (1.0 - tc * tc);
                dg[j] = dct * gg * i * (1.0 - i);
                dg[h + j] = dct * cr[j] * f * (1.0 - f);
                dg[2 * h + j] = dct * i * (1.0 - gg * gg);
                dg[3 * h + j] = dh * tc * og * (1.0 - og);
                dc[j] = dct * f;
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((c.n, 5 * h))))
    }
}

/// Forward: (x, hh, h) → h' [B, H].
struct GruCell;

impl CustomOp3 for GruCell {
    fn name(&self) -> &'static str {
        "gru-cell"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "gru-cell";
        let (x, hh, hp) = (rows(s1, l1, op)?, rows(s2, l2, op)?, rows(s3, l3, op)?);
        let h = hp.width;
        if x.width != 3 * h || hh.width != 3 * h || x.n != hp.n || hh.n != hp.n {
            candle_core::bail!(
                "gru-cell: gates {:?}, {:?} for a state {:?}",
                l1.dims(),
                l2.dims(),
                l3.dims()
            )
        }
        let mut out = vec![0f32; hp.n * h];
        each_row(&mut out, h, |b, o| {
            let (xr, hr, pr) = (x.row(b), hh.row(b), hp.row(b));
            for j in 0..h {
                let r = sig(xr[j] + hr[j]);
                let z = sig(xr[h + j] + hr[h + j]);
                let n = tanh(xr[2 * h + j] + r * hr[2 * h + j]);
                o[j] = n + z * (pr[j] - n);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((hp.n, h))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        hh: &Tensor,
        hp: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let h = hp.dim(1)?;
        let both = Tensor::cat(&[x, hh], 1)?;
        let packed = both.apply_op3_no_bwd(hp, &grad.contiguous()?, &GruCellBackward)?;
        let dx = x
            .track_op()
            .then(|| packed.narrow(1, 0, 3 * h))
            .transpose()?;
        let dhh = hh
            .track_op()
            .then(|| packed.narrow(1, 3 * h, 3 * h))
            .transpose()?;
        let dh = hp
            .track_op()
            .then(|| packed.narrow(1, 6 * h, h))
            .transpose()?;
        Ok((dx, dhh, dh))
    }
}

/// ([x | hh] [B, 6H], h [B, H], grad of h' [B, H]) → [d x | d hh | d h] [B, 7H].
struct GruCellBackward;

impl CustomOp3 for GruCellBackward {
    fn name(&self) -> &'static str {
        "gru-cell-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "gru-cell-backward";
        let (both, hp, g) = (rows(s1, l1, op)?, rows(s2, l2, op)?, rows(s3, l3, op)?);
        let h = hp.width;
        let mut out = vec![0f32; hp.n * 7 * h];
        each_row(&mut out, 7 * h, |b, o| {
            let (br, pr, gr) = (both.row(b), hp.row(b), g.row(b));
            let (xr, hr) = br.split_at(3 * h);
            let (dx, rest) = o.split_at_mut(3 * h);
            let (dhh, dh) = rest.split_at_mut(3 * h);
            for j in 0..h {
                let r = sig(xr[j] + hr[j]);
                let z = sig(xr[h + j] + hr[h + j]);
                let n = tanh(xr[2 * h + j] + r * hr[2 * h + j]);
                let d = gr[j];
                let dn = d * (1.0 - z) * (1.0 - n * n);
                let dz = d * (pr[j] - n) * z * (1.0 - z);
                let dr = dn * hr[2 * h + j] * r * (1.0 - r);
                dx[j] = dr;
                dx[h + j] = dz;
                dx[2 * h + j] = dn;
                dhh[j] = dr;
                dhh[h + j] = dz;
                dhh[2 * h + j] = dn * r;
                dh[j] = d * z;
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((hp.n, 7 * h))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn var(shape: (usize, usize), seed: u64) -> Var {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| rng.gen_range(-2.0..2.0))
            .collect();
        Var::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn close(a: &Tensor, b: &Tensor, what: &str) {
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            d < 1e-5,
            "{what}: the kernel and the composition differ by {d}"
        );
    }

    type LstmFn = fn(&Tensor, Option<&Tensor>, Option<&Tensor>) -> Result<(Tensor, Tensor)>;

    /// The kernel's gradients (`got`) against the composition's, operand by operand.
    fn same_gradients(got: &[Option<Tensor>], expected: &[Option<Tensor>]) {
        for (k, (a, e)) in got.iter().zip(expected).enumerate() {
            match (a, e) {
                (Some(a), Some(e)) => close(a, e, &format!("gradient of operand {k}")),
                (None, None) => {}
                _ => panic!("operand {k}: one side has a gradient, the other not"),
            }
        }
    }

    /// A loss that weighs every output element differently, so a swapped gate shows.
    fn weighted(t: &Tensor, seed: u64) -> Tensor {
        let w = var(t.dims2().unwrap(), seed);
        (t * w.as_tensor()).unwrap().sum_all().unwrap()
    }

    #[test]
    fn the_lstm_kernel_matches_the_composition_forward_and_backward() {
        // H = 7 with B = 5 (small, one thread) and B = 1200 (rows split over threads).
        for b in [5, 1200] {
            // x is a view into a wider tensor, as the models pass one step of all projections.
            let (xw, hh, c) = (var((b, 56), 1), var((b, 28), 2), var((b, 7), 3));
            let x = xw.narrow(1, 14, 28).unwrap();
            for (with_hh, with_c) in [(true, true), (false, false)] {
                let run = |cell: LstmFn| {
                    let (h1, c1) = cell(
                        &x,
                        with_hh.then_some(hh.as_tensor()),
                        with_c.then_some(c.as_tensor()),
                    )
                    .unwrap();
                    let loss = (weighted(&h1, 4) + weighted(&c1, 5)).unwrap();
                    let g = loss.backward().unwrap();
                    let grads: Vec<Option<Tensor>> = [&xw, &hh, &c]
                        .iter()
                        .map(|v| g.get(v.as_tensor()).cloned())
                        .collect();
                    (h1, c1, grads)
                };
                let (h1, c1, g1) = run(lstm_cell);
                let (h2, c2, g2) = run(lstm_cell_composed);
                close(&h1, &h2, "h");
                close(&c1, &c2, "c");
                same_gradients(&g1, &g2);
            }
        }
    }

    #[test]
    fn the_gru_kernel_matches_the_composition_forward_and_backward() {
        for b in [5, 1200] {
            let (xw, hh, h) = (var((b, 42), 1), var((b, 21), 2), var((b, 7), 3));
            let x = xw.narrow(1, 21, 21).unwrap();
            for with_h in [true, false] {
                let run = |cell: fn(&Tensor, &Tensor, Option<&Tensor>) -> Result<Tensor>| {
                    let h1 = cell(&x, hh.as_tensor(), with_h.then_some(h.as_tensor())).unwrap();
                    let g = weighted(&h1, 4).backward().unwrap();
                    let grads: Vec<Option<Tensor>> = [&xw, &hh, &h]
                        .iter()
                        .map(|v| g.get(v.as_tensor()).cloned())
                        .collect();
                    (h1, grads)
                };
                let (h1, g1) = run(gru_cell);
                let (h2, g2) = run(gru_cell_composed);
                close(&h1, &h2, "h");
                same_gradients(&g1, &g2);
            }
        }
    }
}
