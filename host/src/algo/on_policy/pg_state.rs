//! The policy-gradient learners' (REINFORCE, A2C, PPO) optimizer ([`PgOptimizer`], Adam or
//! RMSprop over [`ActorCritic::params_flat`], whose moments libtorch's own optimizers do not
//! expose), and what their checkpoints hold.
//!
//! Their state is declared as a list of parts ([`crate::algo::state`]; the lists are in
//! [`base`](super::base) and [`reinforce`](super::reinforce)). A checkpoint of one of them
//! holds, besides the weights (`w*`, `b*`, `log_std`, `obs_norm.*`), under the algorithm's name
//! as prefix:
//!
//! - `<algo>.resume`, JSON: `rng`, the action generator (which also shuffles PPO's
//!   minibatches: no draw comes from libtorch's process-wide generator, which a checkpoint
//!   cannot save); `journal`, the environments' journal (their seeded resets and every action
//!   since, replayed on resume: observations, episode returns and generators come back
//!   exactly); `obs_norm`, the observation statistics in `f64` (the weights hold them as
//!   `f32`); for A2C and PPO `reward_norm`, the reward scaling's statistics and running
//!   returns; with Adam, `adam_t`, its step count;
//! - `<algo>.adam_m`, `<algo>.adam_v` (Adam) or `<algo>.rmsprop_square_avg` (RMSprop).
//!
//! Everything else a next iteration reads is either in the training loop's state (steps, hence
//! the learning-rate and clip-range schedules' progress, and the metrics' running episodes) or
//! rebuilt at the start of every iteration (gSDE's exploration matrices are redrawn at the start
//! of every rollout, from the saved generator).

use anyhow::Result;
use tch::Tensor;

use super::actor_critic::ActorCritic;
use crate::algo::optim::{FlatAdam, FlatRmsProp};
use crate::algo::state::{Loading, Part, Saving};

/// A policy-gradient learner's optimizer over its actor-critic's flat parameter buffer.
#[derive(Debug)]
pub enum PgOptimizer {
    /// Adam (`torch.optim.Adam`'s arithmetic).
    Adam(FlatAdam),
    /// PyTorch's RMSprop (ε outside the square root).
    RmsProp(FlatRmsProp),
}

impl PgOptimizer {
    /// Adam (β₁ 0.9, β₂ 0.999) with `eps` over `ac`'s trainable variables.
    pub fn adam(ac: &ActorCritic, lr: f64, eps: f64) -> Self {
        Self::Adam(FlatAdam::new(&ac.vs, ac.params_flat(), lr, eps))
    }

    /// RMSprop with smoothing constant `alpha` and `eps` over `ac`'s trainable variables.
    pub fn rmsprop(ac: &ActorCritic, lr: f64, alpha: f64, eps: f64) -> Self {
        Self::RmsProp(FlatRmsProp::new(&ac.vs, ac.params_flat(), lr, alpha, eps))
    }

    /// Sets the learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        match self {
            Self::Adam(o) => o.lr = lr,
            Self::RmsProp(o) => o.lr = lr,
        }
    }

    /// Back-propagates `loss`, clips the gradient's global norm to `max_grad_norm` (0: no
    /// clipping) and takes one step; returns the norm before clipping (NaN when not clipping).
    pub fn step(&mut self, loss: &Tensor, max_grad_norm: f64) -> f64 {
        match self {
            Self::Adam(o) => o.step(loss, max_grad_norm),
            Self::RmsProp(o) => o.step(loss, max_grad_norm),
        }
    }
}

/// The optimizer's state for a bit-exact `--resume`: Adam's moments (`adam_m`, `adam_v`, and
/// `adam_t` in the JSON) or RMSprop's mean square (`rmsprop_square_avg`).
impl Part for PgOptimizer {
    fn save(&self, name: &str, out: &mut Saving) -> Result<()> {
        match self {
            Self::Adam(o) => o.save(name, out),
            Self::RmsProp(o) => o.save(name, out),
        }
    }

    fn load(&mut self, name: &str, from: &Loading) -> Result<()> {
        match self {
            Self::Adam(o) => o.load(name, from),
            Self::RmsProp(o) => o.load(name, from),
        }
    }
}
