//! Fused CPU kernels with a hand-written backward, for the ops candle ships without one.
//!
//! candle's `LayerNorm`, `softmax_last_dim` and `rms_norm` run forward only: a model built on
//! them trains nothing below them, silently. Composing them from primitive ops works but costs
//! 6–8 allocations per call. These kernels do one pass forward and one pass backward over
//! contiguous f32 rows; on other devices or dtypes the public functions fall back to the
//! primitive composition, which has the same maths.

use anyhow::Result;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, D};

/// `(x − mean) / √(var + ε)` over the last dimension (LayerNorm without its affine part).
pub fn standardize_rows(x: &Tensor, eps: f32) -> Result<Tensor> {
    if fused(x) {
        return Ok(x.contiguous()?.apply_op1(RowNorm { eps, centre: true })?);
    }
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(centred.broadcast_div(&(var + eps as f64)?.sqrt()?)?)
}

/// `x / √(mean(x²) + ε)` over the last dimension (RMSNorm without its weight).
pub fn rms_rows(x: &Tensor, eps: f32) -> Result<Tensor> {
    if fused(x) {
        return Ok(x.contiguous()?.apply_op1(RowNorm { eps, centre: false })?);
    }
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(x.broadcast_div(&(ms + eps as f64)?.sqrt()?)?)
}

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        return Ok(x.contiguous()?.apply_op1(Softmax)?);
    }
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

/// Cross-entropy of each row of `logits` [P, V] against its target class: `logsumexp(row) −
/// row[target]`, a [P] vector. Fused, it is one pass over the logits forward and one backward
/// (`softmax − onehot`); the primitive composition makes ~8 [P, V] tensors each way, which at
/// V = 30,522 (a WordPiece vocabulary) cost more than the matrix product that made the logits.
pub fn cross_entropy_rows(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let (p, v) = logits.dims2()?;
    if targets.len() != p {
        anyhow::bail!("{} targets for {p} rows of logits", targets.len());
    }
    if let Some(t) = targets.iter().find(|&&t| t as usize >= v) {
        anyhow::bail!("target class {t} is out of range for {v} logits");
    }
    if fused(logits) {
        return Ok(logits.contiguous()?.apply_op1(CrossEntropy {
            targets: targets.to_vec(),
        })?);
    }
    let t = Tensor::from_vec(targets.to_vec(), (p, 1), logits.device())?;
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok((lse - shifted.gather(&t, D::Minus1)?)?.squeeze(1)?)
}

/// `a [M, K] @ b [K, N]`, with both halves of the work on their own core.
///
/// candle hands the whole product to `gemm`, which parallelises over blocks of rows and
/// columns; at the shapes these models use (M = 256 windows, N ≤ 1024) that is one block, so
/// one core did all the work (measured: 82 GFLOP/s with 1 thread or 2 at 256×3840 @ 3840×1024,
/// against 152 when the work splits). Here the rows (or, for short M, the columns) are cut into
/// one slab per thread, each a single-threaded `gemm`. The backward is two more such products.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    // gemm splits wide products well by itself (measured 152 GFLOP/s at N = 3840).
    let wide = b.dims().last().is_some_and(|&n| n >= 2048);
    if !wide
        && a.rank() == 2
        && b.rank() == 2
        && fused(a)
        && b.dtype() == DType::F32
        && b.device().is_cpu()
    {
        return Ok(a.apply_op2(b, MatMul)?);
    }
    Ok(a.matmul(b)?)
}

struct MatMul;

/// Below this many multiply-adds a product runs on one thread: splitting costs more than it saves.
const SPLIT_WORK: usize = 1 << 18;

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        "split-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        split_gemm(s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // An operand that is neither a parameter nor computed from one (the model's input)
        // needs no gradient: skipping it saves a third of the first layer's backward.
        let ga = if a.track_op() {
            Some(grad.apply_op2_no_bwd(&b.t()?, &MatMul)?)
        } else {
            None
        };
        let gb = if b.track_op() {
            Some(a.t()?.apply_op2_no_bwd(grad, &MatMul)?)
        } else {
            None
        };
        Ok((ga, gb))
    }
}

/// `a @ b` for 2-D f32 operands of any strides, one slab of rows (or columns) per thread.
fn split_gemm(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let (CpuStorage::F32(a), CpuStorage::F32(b)) = (s1, s2) else {
        candle_core::bail!("split-matmul: expected f32")
    };
    let (&[m, k], &[k2, n]) = (l1.dims(), l2.dims()) else {
        candle_core::bail!("split-matmul: expected 2-D operands")
    };
    if k != k2 {
        candle_core::bail!("split-matmul: [{m}, {k}] @ [{k2}, {n}]")
    }
    let a = &a[l1.start_offset()..];
    let b = &b[l2.start_offset()..];
    let (a_rs, a_cs) = (l1.stride()[0] as isize, l1.stride()[1] as isize);
    let (b_rs, b_cs) = (l2.stride()[0] as isize, l2.stride()[1] as isize);
    if k == 0 || m * n == 0 {
        return Ok((CpuStorage::F32(vec![0f32; m * n]), Shape::from((m, n))));
    }
    // Not zero-filled: with read_dst false, gemm writes every element of dst and reads none
    // (the fill was 3% of a training step in `perf`).
    let mut dst: Vec<f32> = Vec::with_capacity(m * n);
    let threads = rayon::current_num_threads().max(1);
    let parts = if m * n * k < SPLIT_WORK { 1 } else { threads };
    // Slabs of rows when there are enough of them, else of columns.
    let by_rows = m >= 16 * parts;
    let len = if by_rows { m } else { n };
    let step = len.div_ceil(parts).max(1);
    let dst_ptr = SendPtr(dst.as_mut_ptr());
    let run = |start: usize| {
        let count = step.min(len - start);
        let (mm, nn, a_off, b_off, d_off) = if by_rows {
            (count, n, start as isize * a_rs, 0, start * n)
        } else {
            (m, count, 0, start as isize * b_cs, start)
        };
        // SAFETY: each slab writes a disjoint set of dst elements; the operand pointers
        // and strides come from candle's layouts of live storages.
        unsafe {
            gemm::gemm(
                mm,
                nn,
                k,
                dst_ptr.get().add(d_off),
                1,
                n as isize,
                false,
                a.as_ptr().offset(a_off),
                a_cs,
                a_rs,
                b.as_ptr().offset(b_off),
                b_cs,
                b_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    };
    let starts: Vec<usize> = (0..len).step_by(step).collect();
    if starts.len() > 1 {
        use rayon::prelude::*;
        starts.into_par_iter().for_each(run);
    } else {
        starts.into_iter().for_each(run);
    }
    // SAFETY: the slabs above cover all m·n elements, each written by gemm.
    unsafe { dst.set_len(m * n) };
    Ok((CpuStorage::F32(dst), Shape::from((m, n))))
}

/// `x [N, in] @ wᵀ` for a weight stored as PyTorch does, `w [out, in]`. A plain matmul with
/// `w.t()` would make autograd produce w's gradient transposed (a strided copy for the
/// optimiser to untangle); this op computes it as `gᵀ x`, already [out, in].
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if x.rank() == 2 && w.rank() == 2 && fused(x) && w.dtype() == DType::F32 && w.device().is_cpu()
    {
        return Ok(x.apply_op2(w, LinearOp)?);
    }
    Ok(x.matmul(&w.t()?)?)
}

struct LinearOp;

impl CustomOp2 for LinearOp {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        split_gemm(s1, l1, s2, &l2.transpose(0, 1)?)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let gx = if x.track_op() {
            Some(grad.apply_op2_no_bwd(w, &MatMul)?)
        } else {
            None
        };
        let gw = if w.track_op() {
            Some(grad.t()?.apply_op2_no_bwd(x, &MatMul)?)
        } else {
            None
        };
        Ok((gx, gw))
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint output slabs to worker threads.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Whether the CPU f32 kernels apply (else the primitive composition runs).
pub(crate) fn fused(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && x.rank() >= 1
}

/// The values of a contiguous f32 CPU storage; `op` names the kernel in the error.
pub(crate) fn contiguous_f32<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expected f32")
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: inputs must be contiguous")
    };
    Ok(&v[a..b])
}

fn rows_of<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<(&'a [f32], usize)> {
    let n = *l.dims().last().unwrap_or(&1);
    Ok((contiguous_f32(s, l, "fused row op")?, n.max(1)))
}

/// Row statistics: (mean, 1/σ) for standardisation, (0, 1/rms) for RMS normalisation.
fn row_stats(row: &[f32], eps: f32, centre: bool) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = if centre {
        row.iter().sum::<f32>() / n
    } else {
        0.0
    };
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

struct RowNorm {
    eps: f32,
    centre: bool,
}

impl CustomOp1 for RowNorm {
    fn name(&self) -> &'static str {
        if self.centre {
            "standardize-rows"
        } else {
            "rms-rows"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, n) = rows_of(s, l)?;
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            let (mean, rstd) = row_stats(xr, self.eps, self.centre);
            for (o, v) in yr.iter_mut().zip(xr) {
                *o = (v - mean) * rstd;
            }
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(
            &grad,
            &RowNormBackward {
                eps: self.eps,
                centre: self.centre,
            },
        )?))
    }
}

/// dx = (1/σ)·(g − mean(g) − x̂·mean(g·x̂)); without centring the mean(g) term drops out.
struct RowNormBackward {
    eps: f32,
    centre: bool,
}

impl CustomOp2 for RowNormBackward {
    fn name(&self) -> &'static str {
        "row-norm-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, n) = rows_of(s1, l1)?;
        let (g, _) = rows_of(s2, l2)?;
        let nf = n as f32;
        let mut dx = vec![0f32; x.len()];
        for ((xr, gr), dr) in x
            .chunks_exact(n)
            .zip(g.chunks_exact(n))
            .zip(dx.chunks_exact_mut(n))
        {
            let (mean, rstd) = row_stats(xr, self.eps, self.centre);
            let mut g_mean = 0f32;
            let mut gx_mean = 0f32;
            for (v, gv) in xr.iter().zip(gr) {
                g_mean += gv;
                gx_mean += gv * (v - mean) * rstd;
            }
            g_mean = if self.centre { g_mean / nf } else { 0.0 };
            gx_mean /= nf;
            for ((o, v), gv) in dr.iter_mut().zip(xr).zip(gr) {
                let xhat = (v - mean) * rstd;
                *o = rstd * (gv - g_mean - xhat * gx_mean);
            }
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax-last"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, n) = rows_of(s, l)?;
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            let max = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (o, v) in yr.iter_mut().zip(xr) {
                *o = (v - max).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            yr.iter_mut().for_each(|o| *o *= inv);
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(res.apply_op2_no_bwd(&grad, &SoftmaxBackward)?))
    }
}

/// dx = y·(g − Σ g·y).
struct SoftmaxBackward;

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "softmax-last-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (y, n) = rows_of(s1, l1)?;
        let (g, _) = rows_of(s2, l2)?;
        let mut dx = vec![0f32; y.len()];
        for ((yr, gr), dr) in y
            .chunks_exact(n)
            .zip(g.chunks_exact(n))
            .zip(dx.chunks_exact_mut(n))
        {
            let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
            for ((o, yv), gv) in dr.iter_mut().zip(yr).zip(gr) {
                *o = yv * (gv - dot);
            }
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

struct CrossEntropy {
    targets: Vec<u32>,
}

/// (max, ln Σ exp(x − max)) of a row.
fn row_logsumexp(row: &[f32]) -> (f32, f32) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|v| (v - max).exp()).sum();
    (max, sum.ln())
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, n) = rows_of(s, l)?;
        let loss: Vec<f32> = x
            .chunks_exact(n)
            .zip(&self.targets)
            .map(|(row, &t)| {
                let (max, lse) = row_logsumexp(row);
                max + lse - row[t as usize]
            })
            .collect();
        let rows = loss.len();
        Ok((CpuStorage::F32(loss), Shape::from(rows)))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(arg.apply_op2_no_bwd(
            &grad,
            &CrossEntropyBackward {
                targets: self.targets.clone(),
            },
        )?))
    }
}

/// d logits = g_row · (softmax(row) − onehot(target)).
struct CrossEntropyBackward {
    targets: Vec<u32>,
}

impl CustomOp2 for CrossEntropyBackward {
    fn name(&self) -> &'static str {
        "cross-entropy-rows-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, n) = rows_of(s1, l1)?;
        let g = contiguous_f32(s2, l2, "cross-entropy backward")?;
        let mut dx = vec![0f32; x.len()];
        for (((row, d), &t), &gv) in x
            .chunks_exact(n)
            .zip(dx.chunks_exact_mut(n))
            .zip(&self.targets)
            .zip(g)
        {
            let (max, lse) = row_logsumexp(row);
            let shift = max + lse;
            for (o, v) in d.iter_mut().zip(row) {
                *o = gv * (v - shift).exp();
            }
            d[t as usize] -= gv;
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// `x · w + b` over the last dimension (`w`, `b` [D], either optional): a layer's bias and a
/// norm's affine part. As broadcast ops, their backward sums the gradient over the rows with
/// candle's generic strided reduction, which was an eighth of a GRU training step (`perf` on
/// `step_profile gru 256`); here the sums run down contiguous rows.
pub fn affine_rows(x: &Tensor, w: Option<&Tensor>, b: Option<&Tensor>) -> Result<Tensor> {
    let (Some(any), true) = (w.or(b), fused(x)) else {
        let x = match w {
            Some(w) => x.broadcast_mul(w)?,
            None => x.clone(),
        };
        return Ok(match b {
            Some(b) => x.broadcast_add(b)?,
            None => x,
        });
    };
    let op = Affine {
        scale: w.is_some(),
        shift: b.is_some(),
    };
    Ok(x.contiguous()?
        .apply_op3(w.unwrap_or(any), b.unwrap_or(any), op)?)
}

/// Forward of [`affine_rows`]; an absent `w` or `b` is a stand-in operand that is not read.
struct Affine {
    scale: bool,
    shift: bool,
}

fn vector_of<'a>(s: &'a CpuStorage, l: &Layout, d: usize) -> candle_core::Result<&'a [f32]> {
    let v = contiguous_f32(s, l, "affine-rows")?;
    if v.len() != d {
        candle_core::bail!("affine-rows: a vector of {} for rows of {d}", v.len())
    }
    Ok(v)
}

impl CustomOp3 for Affine {
    fn name(&self) -> &'static str {
        "affine-rows"
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
        let (x, d) = rows_of(s1, l1)?;
        let w = self.scale.then(|| vector_of(s2, l2, d)).transpose()?;
        let b = self.shift.then(|| vector_of(s3, l3, d)).transpose()?;
        let mut y = x.to_vec();
        for r in y.chunks_exact_mut(d) {
            if let Some(w) = w {
                r.iter_mut().zip(w).for_each(|(v, s)| *v *= s);
            }
            if let Some(b) = b {
                r.iter_mut().zip(b).for_each(|(v, s)| *v += s);
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = *x.dims().last().unwrap_or(&1);
        let grad = grad.contiguous()?;
        // [Σ g·x; Σ g] down the rows, in one pass.
        let packed = grad.apply_op2_no_bwd(x, &AffineBackward { scale: self.scale })?;
        let gx = if !x.track_op() {
            None
        } else if self.scale {
            Some(grad.broadcast_mul(w)?)
        } else {
            Some(grad.clone())
        };
        let gw = (self.scale && w.track_op())
            .then(|| packed.narrow(0, 0, 1)?.reshape(d))
            .transpose()?;
        let gb = (self.shift && b.track_op())
            .then(|| packed.narrow(0, 1, 1)?.reshape(d))
            .transpose()?;
        Ok((gx, gw, gb))
    }
}

/// (grad, x) → [2, D]: the column sums of grad·x (with `scale`) and of grad. Each thread sums whole columns, rows in
/// order, so the sums do not depend on the thread count.
struct AffineBackward {
    scale: bool,
}

impl CustomOp2 for AffineBackward {
    fn name(&self) -> &'static str {
        "affine-rows-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, d) = rows_of(s1, l1)?;
        let (x, _) = rows_of(s2, l2)?;
        let n = g.len() / d;
        let mut sums = vec![0f32; 2 * d];
        let (gx_sum, g_sum) = sums.split_at_mut(d);
        let columns = |start: usize, gx: &mut [f32], gs: &mut [f32]| {
            let width = gs.len();
            for r in 0..n {
                let row = r * d + start;
                let gr = &g[row..row + width];
                gs.iter_mut().zip(gr).for_each(|(s, v)| *s += v);
                if self.scale {
                    let xr = &x[row..row + width];
                    for ((s, v), xv) in gx.iter_mut().zip(gr).zip(xr) {
                        *s += v * xv;
                    }
                }
            }
        };
        let chunk = 64;
        if n * d >= 1 << 15 {
            use rayon::prelude::*;
            gx_sum
                .par_chunks_mut(chunk)
                .zip(g_sum.par_chunks_mut(chunk))
                .enumerate()
                .for_each(|(i, (gx, gs))| columns(i * chunk, gx, gs));
        } else {
            columns(0, gx_sum, g_sum);
        }
        Ok((CpuStorage::F32(sums), Shape::from((2, d))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// The fused kernels against the primitive composition, forward and backward.
    fn check(
        f_fused: impl Fn(&Tensor) -> Result<Tensor>,
        f_ref: impl Fn(&Tensor) -> Result<Tensor>,
    ) {
        let data: Vec<f32> = (0..60)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let w: Vec<f32> = (0..60)
            .map(|i| ((i * 13 % 17) as f32 - 8.0) / 5.0)
            .collect();
        let w = Tensor::from_vec(w, (3, 4, 5), &Device::Cpu).unwrap();
        let mut outs = Vec::new();
        for f in [&f_fused as &dyn Fn(&Tensor) -> Result<Tensor>, &f_ref] {
            let x =
                Var::from_tensor(&Tensor::from_vec(data.clone(), (3, 4, 5), &Device::Cpu).unwrap())
                    .unwrap();
            let y = f(x.as_tensor()).unwrap();
            let loss = (&y * &w).unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap().get(&x).unwrap().clone();
            outs.push((
                y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                g.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            ));
        }
        for (a, b) in outs[0]
            .0
            .iter()
            .zip(&outs[1].0)
            .chain(outs[0].1.iter().zip(&outs[1].1))
        {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    fn on_f64(f: impl Fn(&Tensor) -> Result<Tensor>) -> impl Fn(&Tensor) -> Result<Tensor> {
        // f64 takes the primitive path: the reference.
        move |x| Ok(f(&x.to_dtype(DType::F64)?)?.to_dtype(DType::F32)?)
    }

    #[test]
    fn fused_standardize_matches_primitives() {
        check(
            |x| standardize_rows(x, 1e-5),
            on_f64(|x| standardize_rows(x, 1e-5)),
        );
    }

    #[test]
    fn fused_rms_matches_primitives() {
        check(|x| rms_rows(x, 1e-6), on_f64(|x| rms_rows(x, 1e-6)));
    }

    #[test]
    fn split_matmul_matches_candle_forward_and_backward() {
        // Shapes that take each path: one thread, row slabs, column slabs; a transposed operand.
        for (m, k, n) in [(3, 4, 5), (256, 64, 48), (4, 300, 600)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
                .collect();
            let b: Vec<f32> = (0..n * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let dev = Device::Cpu;
            let a = Var::from_tensor(&Tensor::from_vec(a, (m, k), &dev).unwrap()).unwrap();
            let bt = Var::from_tensor(&Tensor::from_vec(b, (n, k), &dev).unwrap()).unwrap();
            let mut outs = Vec::new();
            for ours in [true, false] {
                let b = bt.as_tensor().t().unwrap();
                let y = if ours {
                    matmul(a.as_tensor(), &b).unwrap()
                } else {
                    a.as_tensor().matmul(&b).unwrap()
                };
                let loss = y.sqr().unwrap().sum_all().unwrap();
                let g = loss.backward().unwrap();
                outs.push([
                    y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    g.get(&a)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap(),
                    g.get(&bt)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap(),
                ]);
            }
            for (x, y) in outs[0].iter().zip(&outs[1]) {
                for (p, q) in x.iter().zip(y) {
                    assert!(
                        (p - q).abs() <= 1e-3 * q.abs().max(1.0),
                        "{m}x{k}x{n}: {p} vs {q}"
                    );
                }
            }
        }
    }

    #[test]
    fn fused_softmax_matches_primitives() {
        check(softmax_last, on_f64(softmax_last));
    }

    #[test]
    fn fused_cross_entropy_matches_primitives() {
        // 12 rows of 5 classes, every class a target somewhere.
        let targets: Vec<u32> = (0..12).map(|i| (i * 3 % 5) as u32).collect();
        let rows = |x: &Tensor| x.reshape((12, 5));
        let weights = |y: Tensor| -> Result<Tensor> {
            // Unequal weights per row, so a wrong row-to-gradient pairing shows.
            let w: Vec<f32> = (0..12).map(|i| 1.0 + i as f32 / 4.0).collect();
            let w = Tensor::from_vec(w, 12, y.device())?.to_dtype(y.dtype())?;
            Ok((y * w)?
                .broadcast_as((12,))?
                .reshape((3, 4, 1))?
                .repeat((1, 1, 5))?)
        };
        check(
            |x| weights(cross_entropy_rows(&rows(x)?, &targets)?),
            on_f64(|x| weights(cross_entropy_rows(&rows(x)?, &targets)?)),
        );
    }

    #[test]
    fn cross_entropy_refuses_bad_targets() {
        let x = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(cross_entropy_rows(&x, &[0]).is_err());
        assert!(cross_entropy_rows(&x, &[0, 3]).is_err());
    }

    #[test]
    fn fused_affine_matches_primitives_for_every_gradient() {
        // 3 rows on one thread; 700 rows of 70 split over threads, 70 not a multiple of a chunk.
        for (n, d) in [(3, 5), (700, 70)] {
            let val = |len: usize, seed: usize| -> Vec<f32> {
                (0..len)
                    .map(|i| (((i + seed) * 37 % 23) as f32 - 11.0) / 7.0)
                    .collect()
            };
            for (scale, shift) in [(true, true), (true, false), (false, true)] {
                let mut outs = Vec::new();
                for dtype in [DType::F32, DType::F64] {
                    let var = |v: Vec<f32>, shape: &[usize]| {
                        let t = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
                        Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()
                    };
                    let (x, w, b) = (
                        var(val(n * d, 0), &[n, d]),
                        var(val(d, 3), &[d]),
                        var(val(d, 5), &[d]),
                    );
                    let y = affine_rows(
                        &x,
                        scale.then_some(w.as_tensor()),
                        shift.then_some(b.as_tensor()),
                    )
                    .unwrap();
                    let weights = var(val(n * d, 9), &[n, d]);
                    let g = (&y * weights.as_tensor())
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    let flat = |t: &Tensor| {
                        t.to_dtype(DType::F32)
                            .unwrap()
                            .flatten_all()
                            .unwrap()
                            .to_vec1::<f32>()
                            .unwrap()
                    };
                    let mut all = flat(&y);
                    for (v, on) in [(&x, true), (&w, scale), (&b, shift)] {
                        assert_eq!(g.get(v).is_some(), on, "scale {scale}, shift {shift}");
                        if let Some(t) = g.get(v) {
                            all.extend(flat(t));
                        }
                    }
                    outs.push(all);
                }
                assert_eq!(outs[0].len(), outs[1].len());
                for (p, q) in outs[0].iter().zip(&outs[1]) {
                    assert!(
                        (p - q).abs() <= 1e-4 * q.abs().max(1.0),
                        "{n}x{d}: {p} vs {q}"
                    );
                }
            }
        }
    }
}
