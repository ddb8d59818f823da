//! gSDE's exploration matrices ([`SdeNoise`]), shared by PPO's rollouts and SAC's collection.

use anyhow::{bail, Result};
use picorl_core::rng::{self, Pcg32};

/// gSDE's per-copy exploration matrices and scratch space (PPO's rollouts, SAC's collection).
#[derive(Debug, Default)]
pub struct SdeNoise {
    /// Redraw period within a rollout (≤ 0: once per rollout).
    pub(super) sample_freq: i64,
    /// `E` per copy, `[n_envs, h, d]` row-major.
    pub matrices: Vec<f32>,
    /// The last hidden layer of the current observation (the caller's acting copy writes it).
    pub features: Vec<f32>,
}

impl SdeNoise {
    /// No matrices yet; redrawn every `sample_freq` steps (≤ 0: only at a rollout's start).
    pub fn new(sample_freq: i64) -> Self {
        Self {
            sample_freq,
            ..Self::default()
        }
    }

    /// Redraws the matrices of `n_envs` copies from `rng`: `E_jk = σ_jk z` with `σ = exp(log_std)`
    /// (`log_std` the `[h, d]` parameter, row-major).
    pub fn draw(&mut self, n_envs: usize, log_std: &[f32], rng: &mut Pcg32) {
        self.matrices.clear();
        for _ in 0..n_envs {
            for ls in log_std {
                self.matrices.push(ls.exp() * rng::normal_f64(rng) as f32);
            }
        }
    }

    /// Whether step `t` of a rollout (0-based) redraws the matrices.
    pub fn redraw_due(&self, t: usize) -> bool {
        t == 0 || (self.sample_freq > 0 && t as i64 % self.sample_freq == 0)
    }

    /// Copy `env`'s matrix for `d` action components.
    pub fn matrix(&self, env: usize, d: usize) -> Result<&[f32]> {
        let h = self.features.len();
        match self.matrices.get(env * h * d..(env + 1) * h * d) {
            Some(e) => Ok(e),
            None => bail!("internal: gSDE matrices not drawn for copy {env}"),
        }
    }

    /// Component `k` of the exploration noise `φ·E` at the current features, `e` being a copy's
    /// [`SdeNoise::matrix`] for `d` components.
    pub fn noise(&self, e: &[f32], d: usize, k: usize) -> f32 {
        let mut noise = 0.0f32;
        for (j, phi) in self.features.iter().enumerate() {
            noise += phi * e[j * d + k];
        }
        noise
    }
}
