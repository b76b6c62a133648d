//! A selective state-space model (Mamba, Gu & Dao 2023, the S6 layer), not a recurrent
//! network under its name (the seeds' "Mamba2" fell back to a GRU).
//!
//! Block (pre-norm residual): x + out_proj(SSM(SiLU(conv(in_x))) · SiLU(z)), where
//! in_proj(RMSNorm(x)) = [in_x, z]; the depthwise causal convolution has kernel `d_conv`; the
//! selective scan uses input-dependent Δ (softplus of a rank-`dt_rank` projection), B and C:
//!   h_t = exp(Δ_t A) ⊙ h_{t−1} + (Δ_t u_t) B_t,   y_t = C_t · h_t + D ⊙ u_t,
//! with A = −exp(A_log) (S4D-real init, A_log = ln 1…N) and D a learnt skip.
//! Inputs enter through Linear(D → d_model); the output is the last position through RMSNorm
//! and Linear(d_model → D). Defaults: d_model 256, 4 layers, d_state 16, expand 2 (d_inner
//! 512), d_conv 4, dt_rank 16: 2,146,560 parameters at D = 768.

use crate::config::MambaConfig;
use crate::nn::{softplus, Init, Linear, Mode, ParamStore, RmsNorm};
use anyhow::Result;
use candle_core::{Tensor, D};
use rand::Rng;

struct MambaBlock {
    norm: RmsNorm,
    in_proj: Linear,
    conv_weight: Tensor, // [d_inner, d_conv]
    conv_bias: Tensor,   // [d_inner]
    x_proj: Linear,
    dt_proj: Linear,
    a_log: Tensor,  // [d_inner, d_state]
    d_skip: Tensor, // [d_inner]
    out_proj: Linear,
    d_inner: usize,
    d_state: usize,
    dt_rank: usize,
    d_conv: usize,
}

impl MambaBlock {
    fn new(ps: &mut ParamStore, name: &str, cfg: &MambaConfig) -> Result<Self> {
        let d_inner = cfg.expand * cfg.d_model;
        let (n, r, k) = (cfg.d_state, cfg.dt_rank, cfg.d_conv);
        let norm = ps.rms_norm(&format!("{name}.norm"), cfg.d_model)?;
        let in_proj = ps.linear_no_bias(&format!("{name}.in_proj"), cfg.d_model, 2 * d_inner)?;
        // nn.Conv1d's default init: U(±1/√fan_in), fan_in = kernel size for a depthwise conv.
        let cb = Init::Uniform(1.0 / (k as f32).sqrt());
        let conv_weight = ps.tensor(&format!("{name}.conv.weight"), &[d_inner, k], cb)?;
        let conv_bias = ps.tensor(&format!("{name}.conv.bias"), &[d_inner], cb)?;
        let x_proj = ps.linear_no_bias(&format!("{name}.x_proj"), d_inner, r + 2 * n)?;
        let dt_w = ps.tensor(
            &format!("{name}.dt_proj.weight"),
            &[d_inner, r],
            Init::Uniform(1.0 / (r as f32).sqrt()),
        )?;
        // Mamba's Δ init: softplus(bias) log-uniform in [0.001, 0.1].
        let dt_bias: Vec<f32> = (0..d_inner)
            .map(|_| {
                let u: f32 = ps.rng().gen();
                let dt = (0.001f32.ln() + u * (0.1f32.ln() - 0.001f32.ln()))
                    .exp()
                    .max(1e-4);
                dt + (-(-dt).exp_m1()).ln() // inverse softplus
            })
            .collect();
        let dt_b = ps.tensor_from(&format!("{name}.dt_proj.bias"), &[d_inner], dt_bias)?;
        let a_log: Vec<f32> = (0..d_inner)
            .flat_map(|_| (1..=n).map(|j| (j as f32).ln()))
            .collect();
        let a_log = ps.tensor_from(&format!("{name}.A_log"), &[d_inner, n], a_log)?;
        let d_skip = ps.tensor(&format!("{name}.D"), &[d_inner], Init::Ones)?;
        let out_proj = ps.linear_no_bias(&format!("{name}.out_proj"), d_inner, cfg.d_model)?;
        Ok(Self {
            norm,
            in_proj,
            conv_weight,
            conv_bias,
            x_proj,
            dt_proj: Linear::from_parts(dt_w, Some(dt_b)),
            a_log,
            d_skip,
            out_proj,
            d_inner,
            d_state: n,
            dt_rank: r,
            d_conv: k,
        })
    }

    /// Depthwise causal convolution over time: x [B, L, E] → [B, L, E].
    fn causal_conv(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, e) = x.dims3()?;
        let k = self.d_conv;
        let padded = Tensor::cat(
            &[&Tensor::zeros((b, k - 1, e), x.dtype(), x.device())?, x],
            1,
        )?;
        let mut acc = self
            .conv_bias
            .reshape((1, 1, e))?
            .broadcast_as((b, l, e))?
            .contiguous()?;
        for j in 0..k {
            let w = self.conv_weight.narrow(1, j, 1)?.reshape((1, 1, e))?;
            acc = (acc + padded.narrow(1, j, l)?.broadcast_mul(&w)?)?;
        }
        Ok(acc)
    }

    /// x [B, L, d_model]; `m` [B, L, 1] (1 = real). Returns the new residual stream.
    fn forward(&self, x: &Tensor, m: &Tensor) -> Result<Tensor> {
        let (e, n, r) = (self.d_inner, self.d_state, self.dt_rank);
        let xz = self.in_proj.forward(&self.norm.forward(x)?)?;
        let u = self.causal_conv(&xz.narrow(D::Minus1, 0, e)?)?.silu()?;
        // Padding steps carry no input, so the state stays zero until the first real concept.
        let u = u.broadcast_mul(m)?;
        let z = xz.narrow(D::Minus1, e, e)?;
        let dbc = self.x_proj.forward(&u)?;
        let delta = softplus(&self.dt_proj.forward(&dbc.narrow(D::Minus1, 0, r)?)?)?; // [B, L, E]
        let b_sel = dbc.narrow(D::Minus1, r, n)?; // [B, L, N]
        let c_sel = dbc.narrow(D::Minus1, r + n, n)?; // [B, L, N]
        let a = self.a_log.exp()?.neg()?; // [E, N]
        let y = crate::scan::selective_scan(&u, &delta, &a, &b_sel, &c_sel)?; // [B, L, E]
        let y = (y + u.broadcast_mul(&self.d_skip)?)?;
        let y = (y * z.silu()?)?;
        Ok((x + self.out_proj.forward(&y)?)?.broadcast_mul(m)?)
    }
}

pub struct Mamba {
    input: Linear,
    blocks: Vec<MambaBlock>,
    norm: RmsNorm,
    head: Linear,
}

impl Mamba {
    pub fn new(ps: &mut ParamStore, cfg: &MambaConfig, dim: usize) -> Result<Self> {
        let input = ps.linear("input", dim, cfg.d_model)?;
        let blocks = (0..cfg.layers)
            .map(|i| MambaBlock::new(ps, &format!("blocks.{i}"), cfg))
            .collect::<Result<_>>()?;
        Ok(Self {
            input,
            blocks,
            norm: ps.rms_norm("norm", cfg.d_model)?,
            head: ps.linear("head", cfg.d_model, dim)?,
        })
    }

    pub fn forward(&self, x: &Tensor, mask: &Tensor, _mode: &mut Mode) -> Result<Tensor> {
        let l = x.dim(1)?;
        let m = mask.unsqueeze(2)?;
        let mut h = self.input.forward(x)?.broadcast_mul(&m)?;
        for block in &self.blocks {
            h = block.forward(&h, &m)?;
        }
        let last = h.narrow(1, l - 1, 1)?.squeeze(1)?;
        self.head.forward(&self.norm.forward(&last)?)
    }
}
