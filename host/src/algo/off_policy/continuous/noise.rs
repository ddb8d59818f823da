//! Exploration noise for the deterministic actors (DDPG, TD3): Gaussian or Ornstein-Uhlenbeck,
//! per environment copy, in the actor's `[-1, 1]` units.

use anyhow::{bail, Result};
use picorl_core::rng::{self, Pcg32};
use serde::{Deserialize, Serialize};

/// Exploration noise added to a deterministic actor's action (in `[-1, 1]` units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseKind {
    /// Independent Gaussian draws with standard deviation `noise_std`.
    Normal,
    /// An Ornstein-Uhlenbeck process (θ = 0.15, dt = 0.01, σ = `noise_std`, as SB3's), reset at
    /// the end of every episode.
    OrnsteinUhlenbeck,
}

/// Per-copy exploration noise.
#[derive(Debug)]
pub struct Noise {
    kind: NoiseKind,
    std: f32,
    pub(super) state: Vec<f32>,
}

impl Noise {
    /// Noise for `n` values (copies × action components).
    pub fn new(kind: NoiseKind, std: f64, n: usize) -> Self {
        Self {
            kind,
            std: std as f32,
            state: vec![0.0; n],
        }
    }

    /// Adds noise to `unit` (one row per copy) and clips to `[-1, 1]`.
    pub fn apply(&mut self, rng: &mut Pcg32, unit: &mut [f32]) {
        for (u, x) in unit.iter_mut().zip(self.state.iter_mut()) {
            let e = rng::normal_f64(rng) as f32;
            let n = match self.kind {
                NoiseKind::Normal => self.std * e,
                NoiseKind::OrnsteinUhlenbeck => {
                    const THETA: f32 = 0.15;
                    const DT: f32 = 0.01;
                    *x += THETA * -*x * DT + self.std * DT.sqrt() * e;
                    *x
                }
            };
            *u = (*u + n).clamp(-1.0, 1.0);
        }
    }

    /// The processes' state (Ornstein-Uhlenbeck; zeros for Gaussian noise), for `--resume`.
    pub fn state(&self) -> &[f32] {
        &self.state
    }

    /// Restores [`Noise::state`].
    pub fn set_state(&mut self, state: &[f32]) -> Result<()> {
        if state.len() != self.state.len() {
            bail!(
                "exploration noise of {} values for {}",
                state.len(),
                self.state.len()
            );
        }
        self.state.copy_from_slice(state);
        Ok(())
    }

    /// Resets copy `env`'s process (at the end of its episode).
    pub fn reset(&mut self, env: usize, act_dim: usize) {
        if let Some(s) = self.state.get_mut(env * act_dim..(env + 1) * act_dim) {
            s.fill(0.0);
        }
    }
}
