//! The hyper-parameters REINFORCE, A2C and PPO share ([`PgOptions`]): the networks and the
//! loss's common terms, written once and flattened into each one's config (its TOML keys stay
//! top-level keys of the algorithm's section, as before).
//!
//! A flattened struct cannot refuse unknown keys itself (serde's `deny_unknown_fields` does not
//! combine with `flatten`): the keys of a section, of `--set` and of a run's `config.toml` are
//! checked where hyper-parameters are resolved ([`crate::train::config`]), with an error that
//! names the key.

use serde::{Deserialize, Serialize};

use super::actor_critic::NetOptions;
use crate::export::Activation;

/// How a value changes over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Stays at its initial value.
    Constant,
    /// Falls linearly from its initial value to zero at the end of the budget.
    Linear,
}

impl Schedule {
    /// The value at `progress_remaining` (1 at the start, 0 at the end).
    pub fn at(self, initial: f64, progress_remaining: f64) -> f64 {
        match self {
            Schedule::Constant => initial,
            Schedule::Linear => initial * progress_remaining,
        }
    }
}

/// What every policy-gradient learner's config holds (defaults: stable-baselines3's, the same for
/// the three).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PgOptions {
    /// Parallel environments (REINFORCE: episodes per update, played side by side).
    pub n_envs: usize,
    /// Learning-rate schedule: `constant` or `linear` (to zero at the end of the budget).
    pub lr_schedule: Schedule,
    /// Discount factor.
    pub gamma: f64,
    /// Entropy bonus coefficient.
    pub ent_coef: f64,
    /// Value loss coefficient (REINFORCE: with `baseline`).
    pub vf_coef: f64,
    /// Gradient norm clip (0: none).
    pub max_grad_norm: f64,
    /// Hidden layer sizes of the policy and of the value network.
    pub hidden: Vec<usize>,
    /// The policy's hidden activation: `tanh` or `relu` (`relu` for an exact int8 export).
    pub activation: Activation,
    /// Orthogonal initialisation.
    pub ortho_init: bool,
    /// Initial log-std of a Gaussian policy (PPO with gSDE: of every feature's weight noise).
    pub log_std_init: f64,
    /// Running observation normalization (exported with the policy).
    pub normalize_obs: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            n_envs: 1,
            lr_schedule: Schedule::Constant,
            gamma: 0.99,
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            ortho_init: true,
            log_std_init: 0.0,
            normalize_obs: false,
        }
    }
}

impl PgOptions {
    /// The actor-critic these options describe, with a state-independent log-std (no gSDE).
    pub fn net_options(&self) -> NetOptions {
        NetOptions {
            hidden: self.hidden.clone(),
            activation: self.activation,
            ortho_init: self.ortho_init,
            log_std_init: self.log_std_init,
            normalize_obs: self.normalize_obs,
            use_sde: false,
            sde_sample_freq: -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(Schedule::Constant.at(3e-4, 0.25), 3e-4);
        assert_eq!(Schedule::Linear.at(1e-3, 0.25), 2.5e-4);
    }
}
