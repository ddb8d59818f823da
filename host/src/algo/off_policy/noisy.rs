//! Factorized Gaussian noisy linear layers (Fortunato et al. 2018, "Noisy Networks for
//! Exploration", arXiv:1706.10295, section 3.2), on either backend ([`crate::algo::backend`]).
//!
//! `y = (μ_w + σ_w ⊙ ε_w) x + μ_b + σ_b ⊙ ε_b` with factorized noise `ε_w = f(ε_out) ⊗ f(ε_in)`,
//! `ε_b = f(ε_out)`, `f(x) = sign(x) √|x|` and `ε_in`, `ε_out` standard normal. Initialisation as
//! the paper's: `μ ~ U(-1/√p, 1/√p)`, `σ = σ₀/√p` for `p` inputs.
//!
//! **Two plain layers.** Because the noise is factorized, the noisy part is itself a linear layer:
//! `(σ_w ⊙ (ε_out ⊗ ε_in)) x + σ_b ⊙ ε_out = ε_out ⊙ (σ_w (ε_in ⊙ x) + σ_b)`. So a noisy layer is
//! two trainable linear [`Net`]s, `μ` over `x` and `σ` over `ε_in ⊙ x`, and
//! `y = μ(x) + ε_out ⊙ σ(ε_in ⊙ x)`. Its gradient follows by the chain rule: `μ`'s outputs get
//! `dy`, `σ`'s get `dy ⊙ ε_out` (which gives `dσ_w = dW ⊙ ε_w`, `dσ_b = db ⊙ ε_b`, the effective
//! weights' gradient times the noise), and the input gets `dx_μ + ε_in ⊙ dx_σ`. Adam on `μ` and on
//! `σ` separately is Adam on all the parameters (it is elementwise, and both step together).
//!
//! The noise is neither saved nor copied to a target network: [`NoisyLinear::reset_noise`] draws
//! it afresh from a [`Pcg32`] the caller owns (and checkpoints), before every use. Evaluation and
//! export use the mean weights `μ`.

use anyhow::{bail, Result};
use picorl_core::rng::{self, Pcg32};

use crate::algo::backend::{AdamConfig, Backend, Layer, Net};
use crate::export::Activation;

/// A factorized Gaussian noisy linear layer.
#[derive(Debug)]
pub struct NoisyLinear {
    /// The mean weights and biases, over `x`.
    pub mu: Net,
    /// The noise scales, over `ε_in ⊙ x`.
    pub sigma: Net,
    eps_in: Vec<f32>,
    eps_out: Vec<f32>,
    /// The last forward pass: whether it was noisy, and its rows.
    noisy: bool,
    rows: usize,
    xs: Vec<f32>,
    y: Vec<f32>,
    ds: Vec<f32>,
    dx: Vec<f32>,
}

/// `sign(x) √|x|`, the paper's `f`.
fn scale_noise(x: f64) -> f32 {
    (x.signum() * x.abs().sqrt()) as f32
}

impl NoisyLinear {
    /// A layer of `inputs → outputs` with noise scale `sigma0` (0.5 in the paper) and Adam when
    /// `adam` is given; `rng` draws the mean weights (PyTorch's `Linear` default, as a plain
    /// layer's). The noise is zero until [`NoisyLinear::reset_noise`].
    pub fn new(
        backend: Backend,
        inputs: usize,
        outputs: usize,
        sigma0: f64,
        adam: Option<AdamConfig>,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        let dims = [inputs, outputs];
        let mu = Net::new(backend, &dims, Activation::Relu, adam, rng)?;
        // σ is a constant: its network's own draws are thrown away.
        let mut sigma = Net::new(backend, &dims, Activation::Relu, adam, &mut rng::seeded(0))?;
        let s = (sigma0 / (inputs as f64).sqrt()) as f32;
        sigma.set_layers(&[Layer {
            weight: vec![s; inputs * outputs],
            bias: vec![s; outputs],
        }])?;
        Ok(Self::of(mu, sigma))
    }

    /// The layer of the mean and noise-scale networks `mu` and `sigma`, with zero noise.
    fn of(mu: Net, sigma: Net) -> Self {
        let (inputs, outputs) = (mu.dims()[0], mu.dims()[1]);
        Self {
            mu,
            sigma,
            eps_in: vec![0.0; inputs],
            eps_out: vec![0.0; outputs],
            noisy: false,
            rows: 0,
            xs: Vec::new(),
            y: Vec::new(),
            ds: Vec::new(),
            dx: Vec::new(),
        }
    }

    /// A copy without optimizers (a target network), with zero noise.
    pub fn target_copy(&self) -> Result<Self> {
        Ok(Self::of(self.mu.target_copy()?, self.sigma.target_copy()?))
    }

    /// Draws new factorized noise from `rng`: `f(ε_in)`, then `f(ε_out)`.
    pub fn reset_noise(&mut self, rng: &mut Pcg32) {
        for e in self.eps_in.iter_mut().chain(self.eps_out.iter_mut()) {
            *e = scale_noise(rng::normal_f64(rng));
        }
    }

    /// The current draw: `(f(ε_in), f(ε_out))`.
    pub fn noise(&self) -> (&[f32], &[f32]) {
        (&self.eps_in, &self.eps_out)
    }

    /// `x (μ_w + σ_w ⊙ ε_w)ᵀ + μ_b + σ_b ⊙ ε_b` for `rows` inputs (`noisy`), or with the mean
    /// weights alone.
    pub fn forward(&mut self, x: &[f32], rows: usize, noisy: bool) -> Result<&[f32]> {
        let (i, o) = (self.eps_in.len(), self.eps_out.len());
        self.noisy = noisy;
        self.rows = rows;
        self.y.clear();
        self.y.extend_from_slice(self.mu.forward(x, rows)?);
        if noisy {
            self.xs.clear();
            self.xs.extend(
                x.chunks_exact(i)
                    .flat_map(|row| row.iter().zip(&self.eps_in).map(|(&v, &e)| v * e)),
            );
            let s = self.sigma.forward(&self.xs, rows)?;
            for (yr, sr) in self.y.chunks_exact_mut(o).zip(s.chunks_exact(o)) {
                for ((y, &s), &e) in yr.iter_mut().zip(sr).zip(&self.eps_out) {
                    *y += e * s;
                }
            }
        }
        Ok(&self.y)
    }

    /// After a noisy [`NoisyLinear::forward`]: stores both networks' parameter gradients for the
    /// outputs' gradient `d_y`, and returns the input's gradient when `input` (empty otherwise).
    pub fn backward(&mut self, d_y: &[f32], input: bool) -> Result<&[f32]> {
        if !self.noisy || self.rows == 0 {
            bail!("internal: a noisy layer's backward without a noisy forward pass");
        }
        let (i, o) = (self.eps_in.len(), self.eps_out.len());
        self.dx.clear();
        self.dx
            .extend_from_slice(self.mu.backward(d_y, true, input)?);
        self.ds.clear();
        self.ds.extend(
            d_y.chunks_exact(o)
                .flat_map(|row| row.iter().zip(&self.eps_out).map(|(&d, &e)| d * e)),
        );
        let dxs = self.sigma.backward(&self.ds, true, input)?;
        if input {
            for (dr, sr) in self.dx.chunks_exact_mut(i).zip(dxs.chunks_exact(i)) {
                for ((d, &s), &e) in dr.iter_mut().zip(sr).zip(&self.eps_in) {
                    *d += e * s;
                }
            }
        }
        Ok(&self.dx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(sigma0: f64, seed: u64) -> NoisyLinear {
        NoisyLinear::new(
            Backend::Native,
            16,
            8,
            sigma0,
            Some(AdamConfig::pytorch(1e-3)),
            &mut rng::seeded(seed),
        )
        .unwrap()
    }

    #[test]
    fn initialisation_follows_the_paper() {
        let l = layer(0.5, 0);
        // σ = 0.5 / √16 = 0.125 everywhere; μ within ±1/√16 = ±0.25.
        let s = &l.sigma.layers()[0];
        assert!(s.weight.iter().chain(&s.bias).all(|&v| v == 0.125));
        let m = &l.mu.layers()[0];
        assert!(m.weight.iter().chain(&m.bias).all(|w| w.abs() <= 0.25));
    }

    #[test]
    fn noise_has_the_right_statistics() {
        let mut r = rng::seeded(5);
        let mut l = layer(0.5, 1);
        // f(ε) = sign(ε)√|ε| with ε ~ N(0,1): mean 0, E f² = E|ε| = √(2/π) ≈ 0.798, so the weight
        // noise f(a) f(b) has mean 0 and variance (2/π) ≈ 0.637, and the bias noise variance 0.798.
        let n = 20_000;
        let (mut sw, mut sw2, mut sb2) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..n {
            l.reset_noise(&mut r);
            let (ei, eo) = l.noise();
            let v = f64::from(eo[0] * ei[0]);
            sw += v;
            sw2 += v * v;
            sb2 += f64::from(eo[0]).powi(2);
        }
        let mean = sw / n as f64;
        let var = sw2 / n as f64 - mean * mean;
        let two_over_pi = 2.0 / std::f64::consts::PI;
        // sd of the mean ≈ √(0.637/20000) ≈ 0.0056; of the variance estimate ≈ 0.01.
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - two_over_pi).abs() < 0.05, "var {var}");
        assert!(
            (sb2 / n as f64 - two_over_pi.sqrt()).abs() < 0.05,
            "bias E f² {}",
            sb2 / n as f64
        );
    }

    /// The two-layer form computes the effective weights' layer: `y = (μ_w + σ_w ⊙ ε_out ⊗ ε_in) x
    /// + μ_b + σ_b ⊙ ε_out`, written out element by element.
    #[test]
    fn forward_is_the_effective_layer() {
        let mut r = rng::seeded(2);
        let mut l = layer(0.5, 2);
        // Non-constant σ, so that a mix-up of its rows and columns would show.
        let mut s = l.sigma.layers();
        for (k, w) in s[0].weight.iter_mut().enumerate() {
            *w = 0.01 * k as f32;
        }
        l.sigma.set_layers(&s).unwrap();
        l.reset_noise(&mut r);
        let x: Vec<f32> = (0..2 * 16).map(|k| (k as f32 * 0.37).sin()).collect();
        let y = l.forward(&x, 2, true).unwrap().to_vec();
        let (m, s) = (&l.mu.layers()[0], &l.sigma.layers()[0]);
        let (ei, eo) = l.noise();
        for row in 0..2 {
            for j in 0..8 {
                let mut v = m.bias[j] + s.bias[j] * eo[j];
                for k in 0..16 {
                    let w = m.weight[j * 16 + k] + s.weight[j * 16 + k] * eo[j] * ei[k];
                    v += w * x[row * 16 + k];
                }
                assert!(
                    (v - y[row * 8 + j]).abs() < 1e-5,
                    "{v} vs {}",
                    y[row * 8 + j]
                );
            }
        }
        let mean = l.forward(&x, 2, false).unwrap().to_vec();
        assert!(mean != y);
        assert!(
            l.backward(&[0.0; 16], true).is_err(),
            "backward needs a noisy pass"
        );
    }
}
