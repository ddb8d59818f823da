//! Factorized Gaussian noisy linear layers (Fortunato et al. 2018, "Noisy Networks for
//! Exploration", arXiv:1706.10295, section 3.2).
//!
//! `y = (μ_w + σ_w ⊙ ε_w) x + μ_b + σ_b ⊙ ε_b` with factorized noise `ε_w = f(ε_out) ⊗ f(ε_in)`,
//! `ε_b = f(ε_out)`, `f(x) = sign(x) √|x|` and `ε_in`, `ε_out` standard normal. Initialisation as
//! the paper's: `μ ~ U(-1/√p, 1/√p)`, `σ = σ₀/√p` for `p` inputs. The noise is a plain tensor,
//! not a variable: it is neither saved nor copied to a target network, and
//! [`NoisyLinear::reset_noise`] draws it afresh. Every draw (initial weights and noise) comes from
//! a seeded [`Pcg32`] the caller owns, not from libtorch's global generator, so a run repeats
//! whatever else uses libtorch in the process. Evaluation and export use the mean weights `μ`.

use picorl_core::rng::{self, Pcg32};
use tch::{nn, Device, Kind, Tensor};

/// A factorized Gaussian noisy linear layer.
#[derive(Debug)]
pub struct NoisyLinear {
    /// Mean weights, `[out, in]`.
    pub w_mu: Tensor,
    /// Weight noise scales, `[out, in]`.
    pub w_sigma: Tensor,
    /// Mean biases, `[out]`.
    pub b_mu: Tensor,
    /// Bias noise scales, `[out]`.
    pub b_sigma: Tensor,
    eps_in: Tensor,
    eps_out: Tensor,
}

/// `sign(x) √|x|`, the paper's `f`.
fn scale_noise(x: f64) -> f32 {
    (x.signum() * x.abs().sqrt()) as f32
}

/// `f(ε)` for `n` standard normal draws, as a tensor on `device`.
fn noise(rng: &mut Pcg32, n: usize, device: Device) -> Tensor {
    let v: Vec<f32> = (0..n).map(|_| scale_noise(rng::normal_f64(rng))).collect();
    Tensor::from_slice(&v).to_device(device)
}

/// A tensor of `shape` drawn uniformly from `[-bound, bound)` with `rng`.
pub fn uniform(rng: &mut Pcg32, shape: &[i64], bound: f64, device: Device) -> Tensor {
    let n: i64 = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| rng::uniform_f64(rng, -bound, bound) as f32)
        .collect();
    Tensor::from_slice(&v).view(shape).to_device(device)
}

impl NoisyLinear {
    /// A layer of `inputs → outputs` under `path`, with noise scale `sigma0` (0.5 in the paper);
    /// `rng` draws the mean weights and the first noise.
    pub fn new(
        path: &nn::Path,
        inputs: usize,
        outputs: usize,
        sigma0: f64,
        rng: &mut Pcg32,
    ) -> Self {
        let (i, o) = (inputs as i64, outputs as i64);
        let bound = 1.0 / (inputs as f64).sqrt();
        let sigma = sigma0 / (inputs as f64).sqrt();
        let device = path.device();
        let w_mu = path.var_copy("w_mu", &uniform(rng, &[o, i], bound, device));
        let w_sigma = path.var("w_sigma", &[o, i], nn::Init::Const(sigma));
        let b_mu = path.var_copy("b_mu", &uniform(rng, &[o], bound, device));
        let b_sigma = path.var("b_sigma", &[o], nn::Init::Const(sigma));
        let mut layer = Self {
            w_mu,
            w_sigma,
            b_mu,
            b_sigma,
            eps_in: Tensor::zeros([i], (Kind::Float, device)),
            eps_out: Tensor::zeros([o], (Kind::Float, device)),
        };
        layer.reset_noise(rng);
        layer
    }

    /// Draws new factorized noise from `rng`.
    pub fn reset_noise(&mut self, rng: &mut Pcg32) {
        let device = self.w_mu.device();
        let (o, i) = (self.w_mu.size()[0], self.w_mu.size()[1]);
        self.eps_in = noise(rng, i as usize, device);
        self.eps_out = noise(rng, o as usize, device);
    }

    /// The weight and bias noise of the current draw: `(f(ε_out) ⊗ f(ε_in), f(ε_out))`.
    pub fn noise(&self) -> (Tensor, Tensor) {
        (
            self.eps_out.outer(&self.eps_in),
            self.eps_out.shallow_clone(),
        )
    }

    /// `x W^T + b` with noisy weights (`noisy`) or the mean weights.
    pub fn forward(&self, x: &Tensor, noisy: bool) -> Tensor {
        if noisy {
            let (ew, eb) = self.noise();
            let w = &self.w_mu + &self.w_sigma * ew;
            let b = &self.b_mu + &self.b_sigma * eb;
            x.linear(&w, Some(&b))
        } else {
            x.linear(&self.w_mu, Some(&self.b_mu))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::nets::tensor_to_vec;

    #[test]
    fn initialisation_follows_the_paper() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let l = NoisyLinear::new(&vs.root(), 16, 8, 0.5, &mut rng::seeded(0));
        // σ = 0.5 / √16 = 0.125 everywhere; μ within ±1/√16 = ±0.25.
        assert!(tensor_to_vec(&l.w_sigma).iter().all(|&s| s == 0.125));
        assert!(tensor_to_vec(&l.b_sigma).iter().all(|&s| s == 0.125));
        assert!(tensor_to_vec(&l.w_mu).iter().all(|w| w.abs() <= 0.25));
    }

    #[test]
    fn noise_is_factorized_and_has_the_right_statistics() {
        let mut r = rng::seeded(5);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mut l = NoisyLinear::new(&vs.root(), 3, 2, 0.5, &mut r);
        let (ew, eb) = l.noise();
        // Rank one: ε_w[j][k] = f(ε_out[j]) f(ε_in[k]), so ε_w[j][k] ε_w[j'][k'] = ε_w[j][k'] ε_w[j'][k].
        let w = tensor_to_vec(&ew);
        assert!((w[0] * w[4] - w[1] * w[3]).abs() < 1e-6);
        assert_eq!(tensor_to_vec(&eb).len(), 2);

        // f(ε) = sign(ε)√|ε| with ε ~ N(0,1): mean 0, E f² = E|ε| = √(2/π) ≈ 0.798, so the weight
        // noise f(a) f(b) has mean 0 and variance (2/π) ≈ 0.637, and the bias noise variance 0.798.
        let n = 20_000;
        let (mut sw, mut sw2, mut sb2) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..n {
            l.reset_noise(&mut r);
            let (ew, eb) = l.noise();
            let v = f64::from(tensor_to_vec(&ew)[0]);
            sw += v;
            sw2 += v * v;
            sb2 += f64::from(tensor_to_vec(&eb)[0]).powi(2);
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

    #[test]
    fn forward_with_and_without_noise() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let l = NoisyLinear::new(&vs.root(), 3, 2, 0.5, &mut rng::seeded(1));
        let x = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).view([1, 3]);
        let mean = tensor_to_vec(&l.forward(&x, false));
        let expect = tensor_to_vec(&(x.linear(&l.w_mu, Some(&l.b_mu))));
        assert_eq!(mean, expect);
        // Noisy output = mean output + (σ_w ⊙ ε_w) x + σ_b ⊙ ε_b.
        let (ew, eb) = l.noise();
        let delta = x.linear(&(&l.w_sigma * ew), Some(&(&l.b_sigma * eb)));
        let noisy = tensor_to_vec(&l.forward(&x, true));
        let d = tensor_to_vec(&delta);
        for k in 0..2 {
            assert!((noisy[k] - mean[k] - d[k]).abs() < 1e-5);
        }
        assert!(noisy != mean);
    }
}
