//! Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347) with generalized
//! advantage estimation, in the form stable-baselines3 implements: clipped surrogate, optional
//! value clipping, entropy bonus, per-minibatch advantage normalization, several epochs of
//! minibatches, linear schedules for the learning rate and clip range, and an optional early stop
//! on the approximate KL divergence.
//!
//! Minibatches are shuffled with the learner's own generator (the one that draws its actions),
//! not libtorch's, so that a checkpoint holds every generator the run draws from. Checkpoints
//! hold the networks and, for a bit-exact `--resume`, Adam's moments, that generator, the
//! environments' journal and the normalization statistics ([`pg_state`](super::pg_state)): a
//! resumed run ends with the same metrics as an uninterrupted one (`host/tests/crash_resume.rs`).

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::actor_critic::{ActorCritic, NetOptions};
use super::base::{log_means, log_rollout, OnPolicy, PgCore, RolloutShape, RolloutUpdate};
use super::options::PgOptions;
pub use super::options::Schedule;
use super::pg_state::PgOptimizer;
use super::rollout::{action_tensor, explained_variance, obs_tensor, Rollout};
use crate::train::{Setup, TrainCtx};
use picorl_core::rng::{self, Pcg32};

/// PPO's clipped surrogate as a loss (Schulman et al. 2017, eq. 7, negated):
/// `-mean(min(A·r, A·clip(r, 1-ε, 1+ε)))`.
pub fn clipped_surrogate_loss(advantages: &Tensor, ratio: &Tensor, clip: f64) -> Tensor {
    -(advantages * ratio)
        .min_other(&(advantages * ratio.clamp(1.0 - clip, 1.0 + clip)))
        .mean(Kind::Float)
}

/// One PPO update phase over a collected rollout: `n_epochs` passes in shuffled minibatches of
/// `batch_size`, each a gradient step on the clipped surrogate, the value loss and the entropy
/// bonus (gradients clipped to `max_grad_norm`), stopping early when the approximate KL passes
/// 1.5 × `target_kl`. `adv` and `ret` are [`Rollout::gae`]'s advantages and returns for `r`; the
/// minibatches are drawn from `rng`. Returns the sums over minibatches of
/// `[loss, policy_loss, value_loss, entropy, approx_kl, clip_fraction]` (on the device, read
/// once by the caller) and the number of minibatches.
#[allow(clippy::too_many_arguments)] // the rollout's parts as the trainer already holds them
pub fn update(
    ac: &ActorCritic,
    opt: &mut PgOptimizer,
    c: &PpoConfig,
    clip: f64,
    r: &Rollout,
    adv: &[f32],
    ret: &[f32],
    rng: &mut Pcg32,
) -> (Tensor, usize) {
    let device = ac.vs.device();
    let obs = obs_tensor(r, ac.obs_dim(), device);
    let actions = action_tensor(r, &ac.kind, device);
    let old_logp = Tensor::from_slice(&r.log_probs).to_device(device);
    let old_values = Tensor::from_slice(&r.values).to_device(device);
    let adv_t = Tensor::from_slice(adv).to_device(device);
    let ret_t = Tensor::from_slice(ret).to_device(device);
    let b = r.log_probs.len() as i64;

    // Diagnostics stay on the device and are read once per update: a read per minibatch is
    // a synchronisation (and, on the CPU, a measurable share of a small network's update).
    let mut sums = Tensor::zeros([6], (Kind::Float, device));
    let mut count = 0usize;
    'epochs: for _ in 0..c.n_epochs {
        let perm = Tensor::from_slice(&permutation(b as usize, rng)).to_device(device);
        let mut start = 0i64;
        while start < b {
            let idx = perm.narrow(0, start, (c.batch_size as i64).min(b - start));
            start += c.batch_size as i64;
            let x = obs.index_select(0, &idx);
            let (logp, entropy, values) =
                ac.evaluate_with_value(&x, &actions.index_select(0, &idx));
            let mut a = adv_t.index_select(0, &idx);
            if c.normalize_advantage && idx.size()[0] > 1 {
                a = (&a - a.mean(Kind::Float)) / (a.std(true) + 1e-8);
            }
            let log_ratio = &logp - old_logp.index_select(0, &idx);
            let ratio = log_ratio.exp();
            let pg_loss = clipped_surrogate_loss(&a, &ratio, clip);
            let old_v = old_values.index_select(0, &idx);
            let v_pred = if c.clip_range_vf > 0.0 {
                &old_v + (&values - &old_v).clamp(-c.clip_range_vf, c.clip_range_vf)
            } else {
                values
            };
            let value_loss = (ret_t.index_select(0, &idx) - v_pred)
                .square()
                .mean(Kind::Float);
            let entropy_mean = entropy.mean(Kind::Float);
            let loss = &pg_loss - c.pg.ent_coef * &entropy_mean + c.pg.vf_coef * &value_loss;
            let stats = tch::no_grad(|| {
                // SB3's approximate KL, (r - 1) - log r, and the fraction of clipped ratios.
                let kl = ((&ratio - 1.0) - &log_ratio).mean(Kind::Float);
                let cf = (&ratio - 1.0)
                    .abs()
                    .gt(clip)
                    .to_kind(Kind::Float)
                    .mean(Kind::Float);
                Tensor::stack(&[&loss, &pg_loss, &value_loss, &entropy_mean, &kl, &cf], 0)
            });
            if c.target_kl > 0.0 && stats.double_value(&[4]) > 1.5 * c.target_kl {
                break 'epochs;
            }
            opt.step(&loss, c.pg.max_grad_norm);
            sums += stats;
            count += 1;
        }
    }
    (sums, count)
}

/// A uniformly random permutation of `0..n` (Fisher-Yates, draws from `rng`).
pub fn permutation(n: usize, rng: &mut Pcg32) -> Vec<i64> {
    let mut p: Vec<i64> = (0..n as i64).collect();
    for i in (1..n).rev() {
        let j = rng::below(rng, (i + 1) as u32) as usize;
        p.swap(i, j);
    }
    p
}

/// PPO's hyper-parameters (defaults: SB3's `PPO`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PpoConfig {
    /// The options the policy-gradient learners share (their keys are this section's own).
    #[serde(flatten)]
    pub pg: PgOptions,
    /// Steps per environment per rollout.
    pub n_steps: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Passes over each rollout.
    pub n_epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// GAE's λ.
    pub gae_lambda: f64,
    /// Clip range of the probability ratio.
    pub clip_range: f64,
    /// Clip-range schedule: `constant` or `linear`.
    pub clip_schedule: Schedule,
    /// Clip range of the value change (0: no value clipping).
    pub clip_range_vf: f64,
    /// Stop an update's epochs once the approximate KL exceeds 1.5 × this (0: never).
    pub target_kl: f64,
    /// Normalize advantages per minibatch.
    pub normalize_advantage: bool,
    /// Generalized state-dependent exploration for continuous actions (SB3's `use_sde`): the
    /// exploration noise is the last hidden layer times a random matrix, redrawn every
    /// `sde_sample_freq` steps and at the start of every rollout.
    pub use_sde: bool,
    /// With `use_sde`: redraw the exploration matrices every this many steps (-1: once per
    /// rollout).
    pub sde_sample_freq: i64,
    /// Scale rewards by the running std of the discounted return.
    pub normalize_reward: bool,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            pg: PgOptions::default(),
            n_steps: 2048,
            batch_size: 64,
            n_epochs: 10,
            learning_rate: 3e-4,
            gae_lambda: 0.95,
            clip_range: 0.2,
            clip_schedule: Schedule::Constant,
            clip_range_vf: 0.0,
            target_kl: 0.0,
            normalize_advantage: true,
            use_sde: false,
            sde_sample_freq: -1,
            normalize_reward: false,
        }
    }
}

/// PPO's own part of the on-policy learner: its networks, optimizer and clipped update.
#[derive(Debug)]
pub struct PpoUpdate;

/// A PPO learner.
pub type Ppo = OnPolicy<PpoUpdate>;

impl PpoConfig {
    /// The actor-critic these hyper-parameters describe.
    pub fn net_options(&self) -> NetOptions {
        NetOptions {
            use_sde: self.use_sde,
            sde_sample_freq: self.sde_sample_freq,
            ..self.pg.net_options()
        }
    }
}

impl RolloutUpdate for PpoUpdate {
    const NAME: &'static str = "ppo";
    const CONFIG: &'static str = include_str!("../../../configs/ppo.toml");
    const METRICS: &'static [&'static str] = &[
        "loss",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "explained_variance",
        "learning_rate",
        "value_mean",
    ];
    // Action draws and minibatches have their own stream, apart from the environments'.
    const RNG_SALT: u64 = 0x5050_4f5f_6163_7473;
    type Hyper = PpoConfig;

    fn shape(cfg: &PpoConfig) -> RolloutShape {
        RolloutShape::new(&cfg.pg, cfg.n_steps, cfg.normalize_reward)
    }

    fn build(setup: &Setup, cfg: &PpoConfig) -> Result<(ActorCritic, PgOptimizer)> {
        anyhow::ensure!(
            cfg.batch_size > 0 && cfg.n_epochs > 0,
            "batch_size and n_epochs must be positive"
        );
        anyhow::ensure!(
            !cfg.use_sde || matches!(setup.spec.action_space, picorl_core::env::Space::Box { .. }),
            "use_sde needs continuous actions ({} has discrete ones)",
            setup.run.env
        );
        let ac = ActorCritic::new(&setup.spec, setup.device, &cfg.net_options());
        let opt = PgOptimizer::adam(&ac, cfg.learning_rate, 1e-5);
        Ok((ac, opt))
    }

    fn update(
        core: &mut PgCore,
        c: &PpoConfig,
        r: &Rollout,
        progress: f64,
        ctx: &mut TrainCtx,
    ) -> Result<()> {
        let lr = c.pg.lr_schedule.at(c.learning_rate, progress);
        let clip = c.clip_schedule.at(c.clip_range, progress);
        core.opt.set_lr(lr);
        let (adv, ret) = r.gae(c.pg.gamma, c.gae_lambda);
        let ev = explained_variance(&r.values, &ret);
        let (sums, count) = update(
            &core.ac,
            &mut core.opt,
            c,
            clip,
            r,
            &adv,
            &ret,
            &mut core.rng,
        );
        if count > 0 {
            log_means(ctx, &Self::METRICS[..6], &(sums / count as f64))?;
        }
        log_rollout(ctx, r, ev, lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipped_surrogate_by_hand() {
        // ε = 0.2. Per sample, min(A·r, A·clip(r)):
        //   A= 1, r=1.5: min(1.5, 1.2) =  1.2 (a good action is not pushed past 1+ε)
        //   A=-1, r=1.5: min(-1.5, -1.2) = -1.5 (a bad action's growth is not clipped)
        //   A= 1, r=0.5: min(0.5, 0.8) =  0.5
        //   A=-1, r=0.5: min(-0.5, -0.8) = -0.8
        // mean = -0.6 / 4 = -0.15, so the loss is 0.15.
        let a = Tensor::from_slice(&[1.0f32, -1.0, 1.0, -1.0]);
        let r = Tensor::from_slice(&[1.5f32, 1.5, 0.5, 0.5]);
        let loss = clipped_surrogate_loss(&a, &r, 0.2).double_value(&[]);
        assert!((loss - 0.15).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn permutations_are_permutations_and_seeded() {
        let mut a = rng::seeded(3);
        let p = permutation(100, &mut a);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<i64>>());
        assert_ne!(p, sorted, "shuffled");
        assert_eq!(p, permutation(100, &mut rng::seeded(3)), "the seed decides");
        assert_ne!(p, permutation(100, &mut a), "the stream moves on");
        assert!(permutation(0, &mut a).is_empty());
    }
}
