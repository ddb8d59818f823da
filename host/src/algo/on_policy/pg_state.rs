//! What the policy-gradient learners (REINFORCE, A2C, PPO) keep between iterations besides their
//! networks, in a form a checkpoint can hold: their optimizer ([`PgOptimizer`], Adam or RMSprop
//! over [`ActorCritic::params_flat`], whose moments libtorch's own optimizers do not expose) and
//! the rest of a bit-exact `--resume` ([`PgResume`]).
//!
//! A checkpoint of one of them holds, besides the weights (`w*`, `b*`, `log_std`,
//! `obs_norm.*`), under the algorithm's name as prefix:
//!
//! - `<algo>.resume`: [`PgResume`] as JSON — the action generator (which also shuffles PPO's
//!   minibatches: no draw comes from libtorch's process-wide generator, which a checkpoint
//!   cannot save), the environments' journal (their seeded resets and every action since,
//!   replayed on resume: observations, episode returns and generators come back exactly), the
//!   observation statistics in `f64` (the weights hold them as `f32`), the reward scaling's
//!   statistics and running returns, and Adam's step count;
//! - `<algo>.adam_m`, `<algo>.adam_v` (Adam) or `<algo>.rmsprop_square_avg` (RMSprop).
//!
//! Everything else a next iteration reads is either in the training loop's state (steps, hence
//! the learning-rate and clip-range schedules' progress, and the metrics' running episodes) or
//! rebuilt at the start of every iteration (gSDE's exploration matrices are redrawn at the start
//! of every rollout, from the saved generator).

use anyhow::{bail, Context, Result};
use picorl_core::rng::Pcg32;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::actor_critic::ActorCritic;
use super::running_norm::{RewardNorm, RunningMeanStd};
use crate::algo::optim::{FlatAdam, FlatRmsProp};
use crate::envs::vec_env::Journal;

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

/// The non-tensor part of a policy-gradient learner's resume state (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgResume {
    /// The learner's generator.
    pub rng: Pcg32,
    /// The environments' seeded resets and actions since.
    pub journal: Journal,
    /// The running observation statistics, in full precision.
    pub obs_norm: Option<RunningMeanStd>,
    /// The reward scaling's statistics and running returns.
    pub reward_norm: Option<RewardNorm>,
    /// Adam's step count (0 for RMSprop).
    pub adam_t: i32,
}

impl PgResume {
    /// The state of a learner over vectorized environments (A2C, PPO): its generator,
    /// environments and reward scaling (`obs_norm` and `adam_t` are [`resume_tensors`]'s).
    pub fn of_vec_learner(
        rng: &Pcg32,
        envs: &crate::envs::vec_env::VecEnv,
        reward_norm: &Option<RewardNorm>,
    ) -> Self {
        Self {
            rng: rng.clone(),
            journal: envs.journal().clone(),
            obs_norm: None,
            reward_norm: reward_norm.clone(),
            adam_t: 0,
        }
    }

    /// Puts [`PgResume::of_vec_learner`]'s parts back.
    pub fn restore_vec_learner(
        self,
        rng: &mut Pcg32,
        envs: &mut crate::envs::vec_env::VecEnv,
        reward_norm: &mut Option<RewardNorm>,
    ) -> Result<()> {
        match (&*reward_norm, &self.reward_norm) {
            (Some(now), Some(saved)) if now.same_shape(saved) => {}
            (None, None) => {}
            _ => bail!(
                "the checkpoint's reward scaling does not fit this run's (normalize_reward, n_envs)"
            ),
        }
        envs.restore(&self.journal)?;
        *reward_norm = self.reward_norm;
        *rng = self.rng;
        Ok(())
    }
}

/// The tensors [`crate::train::Algorithm::resume_state`] returns for learner `algo`: `state`
/// (whose `obs_norm` and `adam_t` are filled in here from `ac` and `opt`) and the optimizer's
/// moments.
pub fn resume_tensors(
    algo: &str,
    ac: &ActorCritic,
    opt: &PgOptimizer,
    mut state: PgResume,
) -> Result<Vec<(String, Tensor)>> {
    state.obs_norm = ac.obs_norm.as_ref().map(|n| n.stats.clone());
    let mut out = Vec::new();
    match opt {
        PgOptimizer::Adam(o) => {
            let (m, v, t) = o.snapshot();
            state.adam_t = t;
            out.push((format!("{algo}.adam_m"), m));
            out.push((format!("{algo}.adam_v"), v));
        }
        PgOptimizer::RmsProp(o) => {
            out.push((format!("{algo}.rmsprop_square_avg"), o.snapshot()));
        }
    }
    let json = serde_json::to_vec(&state)?;
    out.push((format!("{algo}.resume"), Tensor::from_slice(&json)));
    Ok(out)
}

/// Restores what [`resume_tensors`] saved into `ac` (its observation statistics) and `opt`, and
/// returns the rest for the learner to take (its generator, environments, reward scaling).
pub fn restore_tensors(
    algo: &str,
    saved: &[(String, Tensor)],
    ac: &mut ActorCritic,
    opt: &mut PgOptimizer,
) -> Result<PgResume> {
    let get = |name: &str| {
        let full = format!("{algo}.{name}");
        saved.iter().find(|(n, _)| *n == full).map(|(_, t)| t)
    };
    let missing = |name: &str| anyhow::anyhow!("the checkpoint has no `{algo}.{name}`");
    let json = get("resume").ok_or_else(|| missing("resume"))?;
    let bytes =
        Vec::<u8>::try_from(json).with_context(|| format!("the checkpoint's `{algo}.resume`"))?;
    let state: PgResume = serde_json::from_slice(&bytes)
        .with_context(|| format!("the checkpoint's `{algo}.resume`"))?;
    match opt {
        PgOptimizer::Adam(o) => {
            let m = get("adam_m").ok_or_else(|| missing("adam_m"))?;
            let v = get("adam_v").ok_or_else(|| missing("adam_v"))?;
            o.restore(m, v, state.adam_t)?;
        }
        PgOptimizer::RmsProp(o) => {
            let s = get("rmsprop_square_avg").ok_or_else(|| missing("rmsprop_square_avg"))?;
            o.restore(s)?;
        }
    }
    match (&mut ac.obs_norm, &state.obs_norm) {
        (Some(n), Some(stats)) if n.stats.same_shape(stats) => {
            n.stats = stats.clone();
        }
        (None, None) => {}
        _ => bail!("the checkpoint's observation statistics do not fit this run's"),
    }
    Ok(state)
}
