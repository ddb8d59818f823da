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

use super::actor_critic::{ActorCritic, Acts, NetOptions};
use super::base::{log_means, log_rollout, OnPolicy, PgCore, RolloutShape, RolloutUpdate};
use super::options::PgOptions;
pub use super::options::Schedule;
use super::rollout::{explained_variance, Rollout};
use crate::algo::backend::{AdamConfig, Optimizer};
use crate::train::{Setup, TrainCtx};
use picorl_core::rng::{self, Pcg32};

/// One row of PPO's clipped surrogate (Schulman et al. 2017, eq. 7): the objective
/// `min(A·r, A·clip(r, 1-ε, 1+ε))` and its derivative with respect to `log r` (so to the new
/// log-probability): `A·r` where the unclipped term is the smaller (PyTorch's `minimum` splits
/// a tie evenly between two equal derivatives, and `clamp` passes the gradient inside its
/// range, which gives the same), 0 where the clipped one is.
pub fn clipped_surrogate(advantage: f32, ratio: f32, clip: f32) -> (f32, f32) {
    let unclipped = advantage * ratio;
    let clipped = advantage * ratio.clamp(1.0 - clip, 1.0 + clip);
    if unclipped <= clipped {
        (unclipped, unclipped)
    } else {
        (clipped, 0.0)
    }
}

/// The statistics of one PPO update: sums over minibatches of
/// `[loss, policy_loss, value_loss, entropy, approx_kl, clip_fraction]`, and their number.
pub type PpoStats = ([f64; 6], usize);

/// One PPO update phase over a collected rollout: `n_epochs` passes in shuffled minibatches of
/// `batch_size`, each a gradient step on the clipped surrogate, the value loss and the entropy
/// bonus (gradients clipped to `max_grad_norm`), stopping early when the approximate KL passes
/// 1.5 × `target_kl`. `adv` and `ret` are [`Rollout::gae`]'s advantages and returns for `r`; the
/// minibatches are drawn from `rng`.
///
/// The loss's derivatives with respect to each row's log-probability, entropy and value, which
/// [`ActorCritic::backward`] takes: `−(∂ surrogate)/B`, `−ent_coef/B`, and
/// `−2·vf_coef·(R − V̂)/B` (`V̂` the clipped value prediction, whose derivative vanishes where
/// the clip is active).
#[allow(clippy::too_many_arguments)] // the rollout's parts as the trainer already holds them
pub fn update(
    ac: &mut ActorCritic,
    c: &PpoConfig,
    clip: f64,
    r: &Rollout,
    adv: &[f32],
    ret: &[f32],
    rng: &mut Pcg32,
    mb: &mut Minibatch,
) -> Result<PpoStats> {
    let b = r.log_probs.len();
    let d = ac.obs_dim();
    let clip32 = clip as f32;
    let mut sums = [0.0f64; 6];
    let mut count = 0usize;
    'epochs: for _ in 0..c.n_epochs {
        let perm = permutation(b, rng);
        for idx in perm.chunks(c.batch_size) {
            mb.gather(r, d, idx);
            let n = idx.len();
            let bn = n as f32;
            if c.normalize_advantage && n > 1 {
                mb.normalize_advantages(adv, idx);
            } else {
                mb.adv.clear();
                mb.adv.extend(idx.iter().map(|&i| adv[i as usize]));
            }
            let acts = if mb.acts_d.is_empty() {
                Acts::Continuous(&mb.acts_c)
            } else {
                Acts::Discrete(&mb.acts_d)
            };
            let e = ac.evaluate(&mb.obs, n, acts, true)?;
            mb.d_logp.clear();
            mb.d_ent.clear();
            mb.d_value.clear();
            let (mut pg, mut vl, mut h, mut kl, mut cf) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for (k, &i) in idx.iter().enumerate() {
                let i = i as usize;
                let log_ratio = e.log_probs[k] - r.log_probs[i];
                let ratio = log_ratio.exp();
                let (obj, d_obj) = clipped_surrogate(mb.adv[k], ratio, clip32);
                pg -= f64::from(obj);
                mb.d_logp.push(-d_obj / bn);
                let (v, old_v) = (e.values[k], r.values[i]);
                let (v_pred, passes) = if c.clip_range_vf > 0.0 {
                    let cv = c.clip_range_vf as f32;
                    let dv = v - old_v;
                    (old_v + dv.clamp(-cv, cv), dv.abs() <= cv)
                } else {
                    (v, true)
                };
                let err = ret[i] - v_pred;
                vl += f64::from(err * err);
                let d_v = if passes { -2.0 * err / bn } else { 0.0 };
                mb.d_value.push(c.pg.vf_coef as f32 * d_v);
                mb.d_ent.push(-(c.pg.ent_coef as f32) / bn);
                h += f64::from(e.entropies[k]);
                // SB3's approximate KL, (r - 1) - log r, and the fraction of clipped ratios.
                kl += f64::from((ratio - 1.0) - log_ratio);
                if (ratio - 1.0).abs() > clip32 {
                    cf += 1.0;
                }
            }
            let nf = n as f64;
            let (pg, vl, h, kl, cf) = (pg / nf, vl / nf, h / nf, kl / nf, cf / nf);
            if c.target_kl > 0.0 && kl > 1.5 * c.target_kl {
                break 'epochs;
            }
            ac.backward(&mb.d_logp, &mb.d_ent, Some(&mb.d_value))?;
            ac.step(c.pg.max_grad_norm)?;
            let loss = pg - c.pg.ent_coef * h + c.pg.vf_coef * vl;
            for (s, v) in sums.iter_mut().zip([loss, pg, vl, h, kl, cf]) {
                *s += v;
            }
            count += 1;
        }
    }
    Ok((sums, count))
}

/// A minibatch's rows gathered from a rollout, and the loss's derivatives: buffers kept from
/// one minibatch to the next.
#[derive(Debug, Default)]
pub struct Minibatch {
    obs: Vec<f32>,
    acts_d: Vec<i64>,
    acts_c: Vec<f32>,
    adv: Vec<f32>,
    d_logp: Vec<f32>,
    d_ent: Vec<f32>,
    d_value: Vec<f32>,
}

impl Minibatch {
    fn gather(&mut self, r: &Rollout, d: usize, idx: &[i64]) {
        self.obs.clear();
        self.acts_d.clear();
        self.acts_c.clear();
        let dim = if r.actions_discrete.is_empty() {
            r.actions_continuous.len() / r.log_probs.len().max(1)
        } else {
            0
        };
        for &i in idx {
            let i = i as usize;
            self.obs.extend_from_slice(&r.obs[i * d..(i + 1) * d]);
            if dim == 0 {
                self.acts_d.push(r.actions_discrete[i]);
            } else {
                self.acts_c
                    .extend_from_slice(&r.actions_continuous[i * dim..(i + 1) * dim]);
            }
        }
    }

    /// The minibatch's advantages normalized to zero mean and unit (sample) standard deviation,
    /// `(A − μ)/(σ + 1e-8)`, as SB3 per minibatch.
    fn normalize_advantages(&mut self, adv: &[f32], idx: &[i64]) {
        self.adv.clear();
        self.adv.extend(idx.iter().map(|&i| adv[i as usize]));
        super::rollout::normalize(&mut self.adv, 1e-8);
    }
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

    fn build(setup: &Setup, cfg: &PpoConfig) -> Result<PgCore> {
        anyhow::ensure!(
            cfg.batch_size > 0 && cfg.n_epochs > 0,
            "batch_size and n_epochs must be positive"
        );
        anyhow::ensure!(
            !cfg.use_sde || matches!(setup.spec.action_space, picorl_core::env::Space::Box { .. }),
            "use_sde needs continuous actions ({} has discrete ones)",
            setup.run.env
        );
        let opts = cfg.net_options();
        let opt = Optimizer::Adam(AdamConfig {
            lr: cfg.learning_rate as f32,
            eps: 1e-5,
        });
        PgCore::new(
            setup,
            Self::NAME,
            &opts,
            opts.activation,
            opt,
            Self::RNG_SALT,
        )
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
        core.ac.set_lr(lr);
        let (adv, ret) = r.gae(c.pg.gamma, c.gae_lambda);
        let ev = explained_variance(&r.values, &ret);
        let mut mb = Minibatch::default();
        let (sums, count) = update(&mut core.ac, c, clip, r, &adv, &ret, &mut core.rng, &mut mb)?;
        if count > 0 {
            let means = sums.map(|s| s / count as f64);
            log_means(ctx, &Self::METRICS[..6], &means)?;
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
        let rows = [(1.0f32, 1.5f32), (-1.0, 1.5), (1.0, 0.5), (-1.0, 0.5)];
        let obj: Vec<(f32, f32)> = rows
            .iter()
            .map(|&(a, r)| clipped_surrogate(a, r, 0.2))
            .collect();
        let loss = -obj.iter().map(|o| o.0).sum::<f32>() / 4.0;
        assert!((loss - 0.15).abs() < 1e-6, "{loss}");
        // The derivative with respect to log r is A·r where the unclipped term is the minimum
        // (rows 2 and 3), 0 where the clip holds it (rows 1 and 4).
        let grads: Vec<f32> = obj.iter().map(|o| o.1).collect();
        assert_eq!(grads, vec![0.0, -1.5, 0.5, 0.0]);
        // Inside the clip range both terms are equal and the derivative is A·r.
        assert_eq!(clipped_surrogate(2.0, 1.1, 0.2), (2.2, 2.2));
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
