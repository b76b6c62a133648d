//! Building blocks with a backward pass and seeded initialisation.
//!
//! Why not candle-nn's modules directly: its fused `LayerNorm`, `softmax_last_dim` and
//! `rms_norm` have no backward (training silently stops updating everything below them), and
//! its initialisers draw from an unseedable CPU generator. Everything here is built from
//! differentiable primitive ops and draws from one seeded ChaCha stream, so the same seed gives
//! the same model.

use anyhow::{bail, Result};
use candle_core::{Device, Tensor, Var, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Whether a forward pass trains (dropout active, drawn from the given generator) or evaluates.
pub enum Mode<'a> {
    Eval,
    Train(&'a mut ChaCha8Rng),
}

impl Mode<'_> {
    pub fn is_train(&self) -> bool {
        matches!(self, Mode::Train(_))
    }
}

/// How a new parameter is filled.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    Zeros,
    Ones,
    /// U(-b, b).
    Uniform(f32),
    /// N(0, σ²).
    Normal(f32),
}

/// The trainable parameters of one model, in creation order, with unique dotted names.
pub struct ParamStore {
    vars: Vec<(String, Var)>,
    rng: ChaCha8Rng,
    device: Device,
}

impl ParamStore {
    pub fn new(seed: u64, device: &Device) -> Self {
        Self {
            vars: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            device: device.clone(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A new parameter. Values are drawn in creation order, so the model's constructor fixes
    /// the stream: same config + same seed = same weights.
    pub fn tensor(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor> {
        if self.vars.iter().any(|(n, _)| n == name) {
            bail!("parameter '{name}' defined twice");
        }
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match init {
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Uniform(b) => (0..n).map(|_| self.rng.gen_range(-b..=b)).collect(),
            Init::Normal(std) => (0..n)
                .map(|_| std * standard_normal(&mut self.rng))
                .collect(),
        };
        let var = Var::from_tensor(&Tensor::from_vec(data, shape, &self.device)?)?;
        let t = var.as_tensor().clone();
        self.vars.push((name.to_string(), var));
        Ok(t)
    }

    /// `nn.Linear(input, output)` with PyTorch's default initialisation (U(±1/√input) for the
    /// weight and the bias), so learning rates tuned in PyTorch carry over.
    pub fn linear(&mut self, name: &str, input: usize, output: usize) -> Result<Linear> {
        let weight = self.linear_no_bias(name, input, output)?.weight;
        let bound = 1.0 / (input as f32).sqrt();
        let b = self.tensor(&format!("{name}.bias"), &[output], Init::Uniform(bound))?;
        Ok(Linear::from_parts(weight, Some(b)))
    }

    /// A dense layer without bias (Mamba's projections), same initialisation as [`Self::linear`].
    pub fn linear_no_bias(&mut self, name: &str, input: usize, output: usize) -> Result<Linear> {
        let bound = 1.0 / (input as f32).sqrt();
        let w = self.tensor(
            &format!("{name}.weight"),
            &[output, input],
            Init::Uniform(bound),
        )?;
        Ok(Linear::from_parts(w, None))
    }

    /// A dense layer with N(0, σ²) weights and zero bias (BERT-style init).
    pub fn linear_normal(
        &mut self,
        name: &str,
        input: usize,
        output: usize,
        std: f32,
    ) -> Result<Linear> {
        let w = self.tensor(
            &format!("{name}.weight"),
            &[output, input],
            Init::Normal(std),
        )?;
        let b = self.tensor(&format!("{name}.bias"), &[output], Init::Zeros)?;
        Ok(Linear::from_parts(w, Some(b)))
    }

    /// [`Self::linear_normal`] with `Some(σ)`, [`Self::linear`] with `None`.
    pub fn linear_init(
        &mut self,
        name: &str,
        input: usize,
        output: usize,
        std: Option<f32>,
    ) -> Result<Linear> {
        match std {
            Some(s) => self.linear_normal(name, input, output, s),
            None => self.linear(name, input, output),
        }
    }

    /// A parameter with values computed by the caller (structured inits such as Mamba's A).
    pub fn tensor_from(&mut self, name: &str, shape: &[usize], values: Vec<f32>) -> Result<Tensor> {
        let t = self.tensor(name, shape, Init::Zeros)?;
        let var = &self.vars.last().expect("just pushed").1;
        var.set(&Tensor::from_vec(values, shape, &self.device)?)?;
        Ok(t)
    }

    /// The init stream, for structured inits drawn in creation order.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    pub fn rms_norm(&mut self, name: &str, dim: usize) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: self.tensor(&format!("{name}.weight"), &[dim], Init::Ones)?,
            eps: 1e-5,
        })
    }

    pub fn layer_norm(&mut self, name: &str, dim: usize) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.tensor(&format!("{name}.weight"), &[dim], Init::Ones)?,
            bias: self.tensor(&format!("{name}.bias"), &[dim], Init::Zeros)?,
            eps: 1e-5,
        })
    }

    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    pub fn num_params(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }
}

fn standard_normal(rng: &mut ChaCha8Rng) -> f32 {
    // Box–Muller: rand_distr would be one more dependency for one line.
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A dense layer: y = x Wᵀ + b over the last dimension, through [`crate::ops::linear`] so both
/// cores share the product.
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer from existing parameters (`weight` [out, in]).
    pub fn from_parts(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear { weight, bias }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let input = *dims.last().unwrap_or(&0);
        let rows: usize = dims[..dims.len().saturating_sub(1)].iter().product();
        let y = crate::ops::linear(&x.reshape((rows, input))?, &self.weight)?;
        let y = match &self.bias {
            Some(b) => crate::ops::affine_rows(&y, None, Some(b))?,
            None => y,
        };
        let mut out = dims;
        if let Some(last) = out.last_mut() {
            *last = self.weight.dim(0)?;
        }
        Ok(y.reshape(out)?)
    }
}

/// Layer normalisation over the last dimension; the normalisation is a fused op with a
/// backward ([`crate::ops`]), and so is the affine part.
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let normed = crate::ops::standardize_rows(x, self.eps)?;
        crate::ops::affine_rows(&normed, Some(&self.weight), Some(&self.bias))
    }
}

/// RMS normalisation (Mamba's): x / rms(x) · weight.
pub struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::affine_rows(
            &crate::ops::rms_rows(x, self.eps)?,
            Some(&self.weight),
            None,
        )
    }
}

/// Inverted dropout: in training, zero each element with probability `p` and scale the rest
/// by 1/(1−p); the identity in evaluation. The mask comes from the caller's seeded generator.
pub fn dropout(x: &Tensor, p: f32, mode: &mut Mode) -> Result<Tensor> {
    let Mode::Train(rng) = mode else {
        return Ok(x.clone());
    };
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 - p;
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.gen::<f32>() < keep {
                1.0 / keep
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    Ok(x.mul(&mask)?)
}

/// Rows scaled to unit L2 norm (ε keeps the gradient finite at zero).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?)
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    // candle-nn's sigmoid is a custom op that does have a backward.
    Ok(candle_nn::ops::sigmoid(x)?)
}

/// log(1 + eˣ), written to stay finite for large |x|.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let neg_abs = x.abs()?.neg()?;
    Ok((x.relu()? + (neg_abs.exp()? + 1.0)?.log()?)?)
}

pub fn gelu(x: &Tensor) -> Result<Tensor> {
    // The erf form, as PyTorch's default nn.GELU.
    Ok(x.gelu_erf()?)
}
