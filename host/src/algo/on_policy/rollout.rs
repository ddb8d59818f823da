//! On-policy rollouts, shared by A2C and PPO: `n_steps` steps of every copy of a [`VecEnv`], with
//! the values and log-probabilities of the acting policy, and generalized advantage estimation.
//!
//! Truncation: when a copy's episode hits the time limit, the value of its final observation is
//! added to the last reward, discounted (`r + γ V(s_final)`), and the step is then treated as the
//! end of the episode: the learner bootstraps on truncation, never on termination (as SB3's
//! `OnPolicyAlgorithm.collect_rollouts`).

use anyhow::Result;
use picorl_core::rng::Pcg32;

use super::actor_critic::{ActionKind, ActorCritic, CpuSample};
use super::running_norm::RewardNorm;
use crate::envs::vec_env::{Actions, VecEnv};
use crate::train::TrainCtx;

/// One rollout, time-major: index `t * n_envs + i`.
#[derive(Debug, Default)]
pub struct Rollout {
    /// Observations as the networks saw them (normalized), `T * N * obs_dim`.
    pub obs: Vec<f32>,
    /// Discrete actions, `T * N` (empty for continuous).
    pub actions_discrete: Vec<i64>,
    /// Continuous actions as sampled (unclipped), `T * N * dim` (empty for discrete).
    pub actions_continuous: Vec<f32>,
    /// Log-probabilities of the actions under the acting policy.
    pub log_probs: Vec<f32>,
    /// Values of the observations under the acting critic.
    pub values: Vec<f32>,
    /// Rewards (scaled when reward normalization is on; truncation bootstrap added).
    pub rewards: Vec<f32>,
    /// The episode ended at this step (terminated or truncated).
    pub dones: Vec<bool>,
    /// Values of the observations after the last step.
    pub last_values: Vec<f32>,
    /// Parallel copies.
    pub n_envs: usize,
}

impl Rollout {
    /// [`gae`]'s advantages and returns for this rollout, with discount `gamma` and `lambda`.
    pub fn gae(&self, gamma: f64, lambda: f64) -> (Vec<f32>, Vec<f32>) {
        gae(
            &self.rewards,
            &self.values,
            &self.dones,
            &self.last_values,
            self.n_envs,
            gamma as f32,
            lambda as f32,
        )
    }

    /// The critic's mean estimate over the rollout (the learning curve's value panel); 0 when
    /// empty.
    pub fn mean_value(&self) -> f64 {
        self.values.iter().map(|&v| f64::from(v)).sum::<f64>() / self.values.len().max(1) as f64
    }
}

/// Collects `n_steps` steps from every copy, acting with `ac`'s sampled policy on the CPU copy
/// of its weights (core's dense layers), with draws from `rng`.
pub fn collect(
    ac: &mut ActorCritic,
    envs: &mut VecEnv,
    ctx: &mut TrainCtx,
    n_steps: usize,
    gamma: f64,
    mut reward_norm: Option<&mut RewardNorm>,
    rng: &mut Pcg32,
) -> Result<Rollout> {
    let n = envs.len();
    let d = envs.obs_dim();
    let mut r = Rollout {
        n_envs: n,
        ..Default::default()
    };
    let mut step_rewards = vec![0.0f32; n];
    let mut done = vec![false; n];
    let mut sample = CpuSample::default();
    let mut clipped = Vec::new();
    for t in 0..n_steps {
        if ac.sde_redraw_due(t) {
            ac.reset_sde_noise(n, rng);
        }
        if let Some(norm) = &mut ac.obs_norm {
            norm.stats.update(envs.obs());
        }
        let x = ac.normalized(envs.obs());
        ac.sample_cpu(&x, rng, &mut sample)?;
        r.obs.extend_from_slice(&x);
        r.log_probs.extend_from_slice(&sample.log_probs);
        r.values.extend_from_slice(&sample.values);
        match &ac.kind {
            ActionKind::Discrete { .. } => {
                r.actions_discrete
                    .extend(sample.discrete.iter().map(|&a| i64::from(a)));
                envs.step(Actions::Discrete(&sample.discrete))?;
            }
            ActionKind::Continuous { dim, low, high } => {
                r.actions_continuous.extend_from_slice(&sample.continuous);
                clipped.clear();
                clipped.extend(
                    sample
                        .continuous
                        .iter()
                        .enumerate()
                        .map(|(k, v)| v.clamp(low[k % dim], high[k % dim])),
                );
                envs.step(Actions::Continuous(&clipped))?;
            }
        }
        ctx.record(envs)?;
        for i in 0..n {
            step_rewards[i] = envs.rewards()[i] as f32;
            done[i] = envs.terminated()[i] || envs.truncated()[i];
        }
        if let Some(norm) = reward_norm.as_deref_mut() {
            norm.apply(&mut step_rewards, &done);
        }
        // A step can both terminate and hit the time limit (Gymnasium's TimeLimit sets both):
        // only a state that is not terminal is bootstrapped.
        let truncated: Vec<usize> = (0..n)
            .filter(|&i| envs.truncated()[i] && !envs.terminated()[i])
            .collect();
        if !truncated.is_empty() {
            let finals: Vec<f32> = truncated
                .iter()
                .flat_map(|&i| envs.final_obs()[i * d..(i + 1) * d].iter().copied())
                .collect();
            let vf = ac.values_cpu(&ac.normalized(&finals))?;
            for (k, &i) in truncated.iter().enumerate() {
                step_rewards[i] += (gamma as f32) * vf[k];
            }
        }
        r.rewards.extend_from_slice(&step_rewards);
        r.dones.extend_from_slice(&done);
    }
    r.last_values = ac.values_cpu(&ac.normalized(envs.obs()))?;
    Ok(r)
}

/// Generalized advantage estimation (Schulman et al. 2016, eq. 16), time-major over `n_envs`
/// copies: `δ_t = r_t + γ V(s_{t+1}) (1 - done_t) - V(s_t)`,
/// `A_t = δ_t + γ λ (1 - done_t) A_{t+1}`. Returns (advantages, returns = advantages + values).
#[allow(clippy::needless_range_loop)] // `i` indexes several time-major arrays at once
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    last_values: &[f32],
    n_envs: usize,
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    let t_len = rewards.len() / n_envs;
    let mut adv = vec![0.0f32; rewards.len()];
    for (i, &bootstrap) in last_values.iter().enumerate().take(n_envs) {
        let mut last = 0.0f32;
        for t in (0..t_len).rev() {
            let k = t * n_envs + i;
            let next_value = if t + 1 == t_len {
                bootstrap
            } else {
                values[k + n_envs]
            };
            let not_done = if dones[k] { 0.0 } else { 1.0 };
            let delta = rewards[k] + gamma * next_value * not_done - values[k];
            last = delta + gamma * lambda * not_done * last;
            adv[k] = last;
        }
    }
    let returns = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    (adv, returns)
}

/// The fraction of the returns' variance the values explain (SB3's `explained_variance`).
pub fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let var = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
    };
    let var_y = var(&mut returns.iter().map(|&x| f64::from(x)));
    let var_diff = var(&mut returns.iter().zip(values).map(|(&r, &v)| f64::from(r - v)));
    if var_y == 0.0 {
        f64::NAN
    } else {
        1.0 - var_diff / var_y
    }
}

/// Normalizes `x` in place to zero mean and unit (sample) standard deviation, `(x − μ)/(σ + ε)`;
/// fewer than two values are left as they are.
pub fn normalize(x: &mut [f32], eps: f64) {
    if x.len() < 2 {
        return;
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    let scale = var.sqrt() + eps;
    for v in x {
        *v = ((f64::from(*v) - mean) / scale) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gae_by_hand() {
        // One env, three steps, γ = 0.5, λ = 0.5, episode ends at t = 1.
        // values 1, 2, 3; last value 4; rewards 1, 1, 1.
        // t=2: δ = 1 + 0.5·4 - 3 = 0,     A2 = 0
        // t=1: done, δ = 1 - 2 = -1,      A1 = -1
        // t=0: δ = 1 + 0.5·2 - 1 = 1,     A0 = 1 + 0.25·(-1) = 0.75
        let (adv, ret) = gae(
            &[1.0; 3],
            &[1.0, 2.0, 3.0],
            &[false, true, false],
            &[4.0],
            1,
            0.5,
            0.5,
        );
        assert_eq!(adv, vec![0.75, -1.0, 0.0]);
        assert_eq!(ret, vec![1.75, 1.0, 3.0]);
    }

    #[test]
    fn gae_is_per_env_in_time_major_order() {
        // Two envs interleaved; env 1 has all-zero data and must not leak into env 0.
        let rewards = [1.0, 0.0, 1.0, 0.0];
        let values = [0.0; 4];
        let (adv, _) = gae(&rewards, &values, &[false; 4], &[0.0, 0.0], 2, 1.0, 1.0);
        assert_eq!(adv, vec![2.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn gae_with_lambda_one_is_the_discounted_return_minus_value() {
        let rewards = [1.0f32, 2.0, 3.0];
        let values = [0.5f32, 0.25, 0.125];
        let (adv, ret) = gae(
            &rewards,
            &values,
            &[false, false, false],
            &[10.0],
            1,
            0.9,
            1.0,
        );
        let g0 = 1.0 + 0.9 * 2.0 + 0.81 * 3.0 + 0.729 * 10.0;
        assert!((ret[0] - g0).abs() < 1e-5 && (adv[0] - (g0 - 0.5)).abs() < 1e-5);
    }

    #[test]
    fn normalize_by_hand() {
        // [1, 2, 3]: mean 2, sample std 1.
        let mut x = [1.0f32, 2.0, 3.0];
        normalize(&mut x, 0.0);
        assert_eq!(x, [-1.0, 0.0, 1.0]);
        let mut one = [5.0f32];
        normalize(&mut one, 1e-8);
        assert_eq!(one, [5.0]);
    }
}
