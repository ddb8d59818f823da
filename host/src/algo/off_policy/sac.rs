//! Soft Actor-Critic (Haarnoja et al. 2018, with the automatic temperature of "SAC: Algorithms and
//! Applications"): a tanh-squashed Gaussian actor whose log-density carries the change-of-variables
//! correction `log π(a|s) = log N(u; μ, σ) - Σ log(1 - tanh(u)²)` (computed in the stable form
//! `2 (log 2 - u - softplus(-2u))`), twin critics with the soft clipped double-Q target
//! `r + γ^k (1 - terminated) (min_i Q'_i(s', a') - α log π(a'|s'))`, and a temperature α learned
//! on `-log α · (log π + H̄)` with target entropy `H̄ = -target_entropy_scale · dim(A)`.
//! As SB3's `SAC`: the temperature steps first, then the critics, then the actor, with the α of
//! the start of the update throughout; the targets are Polyak-averaged every update.
//!
//! **gSDE** (`use_sde`; Raffin et al. 2021, "Smooth Exploration for Robotic Reinforcement
//! Learning", arXiv:2005.05719; SB3's SAC with `use_sde=True`): the actor outputs only the mean
//! `μ(s)`, and explores with `u = μ(s) + φ(s)·E`, `φ(s)` its last hidden layer and `E` a `[h, a]`
//! matrix of `N(0, σ_jk²)` entries (`log σ` a learned `[h, a]` parameter starting at
//! `log_std_init`, SB3's `full_std`; `exp`, not SB3's optional `expln`). Collection draws one `E`
//! per environment copy at the start of every round of `train_freq` steps and every
//! `sde_sample_freq` steps within it, so between draws the noise is a fixed, smooth function of
//! the state rather than white noise: a push that lasts, which is what MountainCar's hill needs.
//! Over the draws of `E` the pre-tanh action is Gaussian with variance `φ² · σ² + 1e-6` per
//! component, and the updates use that density with the tanh correction above; each update
//! draws its own matrix for the batch (SB3's `reset_noise()` per gradient step), and gradients
//! reach the features through both noise and variance (SB3's `learn_features = True` for SAC).
//! SB3 also clips the gSDE mean to `[-2, 2]` (`clip_mean`); picorl does not, so the exported
//! head stays `tanh` scaled to the bounds. The matrices' pieces are PPO's
//! ([`crate::algo::on_policy::actor_critic::SdeNoise`]).
//!
//! The deterministic policy (evaluation, export) is `tanh(μ(s))` scaled to the action bounds.
//! Checkpoints hold `pi.*`, `q.*`, `q_target.*` and `log_alpha.*` (the temperature), and for
//! `--resume` the rest of the learner ([`Algorithm::resume_state`]): the Adam moments of actor,
//! critics and temperature, the replay memory, the environments, the generators, the counters
//! and the metric sums. Every Gaussian draw of an update comes from the learner's own generator
//! (not libtorch's process-wide one), so a resumed run ends bit for bit as the uninterrupted one
//! on the CPU (`host/tests/crash_resume.rs`). gSDE's collection matrices come from the driver's
//! generator and are redrawn at the start of every round; a checkpoint falls between rounds, so
//! the saved generator reproduces them.

use anyhow::{ensure, Context, Result};
use picorl_core::learn::Adam;
use picorl_core::rng::{self, Pcg32};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::continuous::nets::{ActorExport, NetShape, QSet};
use super::continuous::squashed::SquashedActor;
use super::continuous::{
    continuous_actor, continuous_learner_methods, Driver, Rows, LOG_STD_MAX, LOG_STD_MIN,
};
use super::options::OffPolicyOptions;
use crate::algo::backend::Backend;
use crate::algo::on_policy::actor_critic::SdeNoise;
use crate::train::{Algorithm, Setup, TrainCtx};

/// SAC's hyper-parameters (defaults: SB3's `SAC`, with smaller networks).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SacConfig {
    /// Collection, replay and the update's common terms (their keys are top-level keys).
    #[serde(flatten)]
    pub off: OffPolicyOptions,
    /// The temperature α at the start (learned when `auto_entropy`, fixed otherwise).
    pub ent_coef: f64,
    /// Learn α towards the target entropy.
    pub auto_entropy: bool,
    /// The target entropy is `-target_entropy_scale · dim(A)`.
    pub target_entropy_scale: f64,
    /// The networks' shapes (their keys are top-level keys).
    #[serde(flatten)]
    pub nets: NetShape,
    /// Generalized state-dependent exploration (SB3's `use_sde`): explore with `φ(s)·E`, `φ` the
    /// actor's last hidden layer and `E` a matrix of Gaussian weights redrawn at the start of
    /// every round of `train_freq` steps (and every `sde_sample_freq` steps), instead of fresh
    /// noise every step. The actor then outputs only the mean.
    pub use_sde: bool,
    /// With `use_sde`: redraw the exploration matrices every this many steps within a round of
    /// `train_freq` steps (0 or less: only at the round's start; SB3's `sde_sample_freq`).
    pub sde_sample_freq: i64,
    /// With `use_sde`: the initial log σ of every entry of the exploration matrices (SB3's
    /// `log_std_init`); without gSDE σ is an output of the actor and this is unused.
    pub log_std_init: f64,
}

impl Default for SacConfig {
    fn default() -> Self {
        Self {
            off: OffPolicyOptions {
                learning_rate: 3e-4,
                ..OffPolicyOptions::default()
            },
            ent_coef: 1.0,
            auto_entropy: true,
            target_entropy_scale: 1.0,
            nets: NetShape::default(),
            use_sde: false,
            sde_sample_freq: -1,
            log_std_init: -3.0,
        }
    }
}

/// A SAC learner.
#[derive(Debug)]
pub struct Sac {
    cfg: SacConfig,
    backend: Backend,
    actor: SquashedActor,
    critics: QSet,
    driver: Driver,
    /// The temperature's logarithm and its Adam (moments `[m, v]`).
    log_alpha: f32,
    alpha_opt: Adam,
    alpha_moments: [f32; 2],
    target_entropy: f64,
    /// The updates' Gaussian draws (fresh actions and next actions).
    rng: Pcg32,
    /// gSDE's collection matrices (with `use_sde`).
    sde: Option<SdeNoise>,
    updates: u64,
    /// What this round's updates read for `metrics.csv`, handed to the loop at its end.
    logged: Vec<(&'static str, f64)>,
    batch: Rows,
    y: Vec<f32>,
}

impl Sac {
    /// The temperature α.
    pub fn alpha(&self) -> f64 {
        f64::from(self.log_alpha.exp())
    }

    /// Where the networks compute.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// One temperature step on the loss `-log α · mean(log π + H̄)` for the log-probabilities
    /// `logp` of fresh actions: α rises when the policy's entropy `-log π` is below the target
    /// `H̄` and falls when above. Does nothing unless `auto_entropy`.
    pub fn temperature_step(&mut self, logp: &[f32]) -> Result<()> {
        if !self.cfg.auto_entropy {
            return Ok(());
        }
        let mean = logp.iter().map(|&l| f64::from(l)).sum::<f64>() / logp.len().max(1) as f64;
        let grad = [-(mean + self.target_entropy) as f32];
        let [m, v] = &mut self.alpha_moments;
        let mut p = [self.log_alpha];
        self.alpha_opt
            .step(
                &mut p,
                &grad,
                std::slice::from_mut(m),
                std::slice::from_mut(v),
            )
            .map_err(|e| anyhow::anyhow!("internal: temperature step: {e}"))?;
        self.log_alpha = p[0];
        Ok(())
    }

    /// The soft targets `r + γ^k (1 - terminated) (min_i Q'_i(s', a') - α log π(a'|s'))` into
    /// `self.y`, with `a'` sampled from the actor with the standard-normal draws `eps`.
    fn targets(
        &mut self,
        next_obs: &[f32],
        rewards: &[f32],
        discounts: &[f32],
        eps: &[f32],
        alpha: f32,
    ) -> Result<()> {
        let rows = rewards.len();
        self.actor.sample(next_obs, rows, eps)?;
        let min_q = self.critics.target_min(next_obs, &self.actor.a, rows)?;
        self.y.clear();
        for (((&r, &d), &q), &lp) in rewards
            .iter()
            .zip(discounts)
            .zip(&min_q)
            .zip(&self.actor.logp)
        {
            self.y.push(r + d * (q - alpha * lp));
        }
        Ok(())
    }

    /// A learner whose replay holds `steps` transitions of uniformly random actions, ready for
    /// [`Sac::update_once`]: the criterion benchmark of one update (`benches/benches/native.rs`).
    pub fn with_random_replay(setup: &Setup, cfg: SacConfig, steps: usize) -> Result<Self> {
        let mut s = Self::new(setup, cfg)?;
        let a = s.driver.act_dim;
        let mut r = rng::seeded(setup.run.seed);
        let d = &mut s.driver;
        for _ in 0..steps {
            let unit: Vec<f32> = (0..a)
                .map(|_| rng::uniform_f64(&mut r, -1.0, 1.0) as f32)
                .collect();
            let mut act = vec![0.0; a];
            d.bounds.to_env(&unit, &mut act);
            d.col.collector.step(
                crate::envs::vec_env::Actions::Continuous(&act),
                &mut d.col.replay,
            )?;
        }
        Ok(s)
    }

    /// One update (temperature, critics, actor, targets) on a batch drawn from the replay.
    pub fn update_once(&mut self) -> Result<()> {
        self.update(false)
    }

    fn update(&mut self, read: bool) -> Result<()> {
        let rows = self.cfg.off.batch_size;
        let mut b = std::mem::take(&mut self.batch);
        self.driver.sample(rows, &mut b)?;
        let draw = |rng: &mut Pcg32, n: usize| -> Vec<f32> {
            (0..n).map(|_| rng::normal_f64(rng) as f32).collect()
        };
        let eps = draw(&mut self.rng, self.actor.noise_len(rows));
        let eps_next = draw(&mut self.rng, self.actor.noise_len(rows));
        let result = self.update_on(&b, &eps, &eps_next, read);
        self.batch = b;
        result
    }

    /// [`Sac::update`] on the batch `b` with the draws `eps` (fresh actions) and `eps_next` (next
    /// actions).
    fn update_on(&mut self, b: &Rows, eps: &[f32], eps_next: &[f32], read: bool) -> Result<()> {
        let (rows, obs) = (b.rewards.len(), &b.obs);
        // As SB3's SAC: the α of the update's start throughout; the temperature, then the
        // critics, then the actor (whose fresh sample is taken before the critics move).
        let alpha = self.log_alpha.exp();
        self.targets(&b.next_obs, &b.rewards, &b.discounts, eps_next, alpha)?;
        let (critic_loss, q_mean) = self.critics.train(obs, &b.unit, &self.y)?;
        let critic_loss = critic_loss * 0.5;
        self.actor.sample(obs, rows, eps)?;
        let logp = self.actor.logp.clone();
        self.temperature_step(&logp)?;
        // −min_i Q_i(s, π(s)): its gradient reaches the smaller critic of each row (half to
        // each on a tie, as PyTorch's `minimum`).
        let qs = self.critics.values(obs, &self.actor.a, rows, 2)?;
        let w = 1.0 / rows as f32;
        let (mut d0, mut d1) = (vec![0.0f32; rows], vec![0.0f32; rows]);
        let mut actor_loss = 0.0f64;
        for r in 0..rows {
            let (q0, q1) = (qs[0][r], qs[1][r]);
            let (g0, g1) = if q0 < q1 {
                (-w, 0.0)
            } else if q1 < q0 {
                (0.0, -w)
            } else {
                (-w / 2.0, -w / 2.0)
            };
            (d0[r], d1[r]) = (g0, g1);
            actor_loss += f64::from(alpha * logp[r] - q0.min(q1));
        }
        let g = self.critics.action_grad(&[Some(d0), Some(d1)])?;
        self.actor.step(&g, alpha)?;
        self.critics.update_targets(self.cfg.off.tau)?;
        self.updates += 1;
        if read {
            self.logged.push(("critic_loss", critic_loss));
            self.logged.push(("actor_loss", actor_loss / rows as f64));
            self.logged.push(("q_mean", q_mean));
        }
        Ok(())
    }
}

impl Algorithm for Sac {
    const NAME: &'static str = "sac";
    const CONFIG: &'static str = include_str!("../../../configs/sac.toml");
    type Hyper = SacConfig;

    fn new(setup: &Setup, cfg: SacConfig) -> Result<Self> {
        let c = &cfg;
        c.off.check("sac")?;
        ensure!(
            c.ent_coef > 0.0 && c.ent_coef.is_finite(),
            "sac: ent_coef must be positive"
        );
        ensure!(
            c.target_entropy_scale.is_finite(),
            "sac: target_entropy_scale must be finite"
        );
        let obs_dim = setup.spec.observation_space.flat_dim();
        let act_dim = setup.spec.action_space.flat_dim();
        ensure!(
            c.log_std_init.is_finite(),
            "sac: log_std_init must be finite"
        );
        let (backend, mut init) = c.nets.prepare(setup, "sac", true, obs_dim)?;
        let actor = SquashedActor::new(
            backend,
            obs_dim,
            act_dim,
            &c.nets.actor_hidden,
            c.nets.activation,
            c.use_sde.then_some(c.log_std_init),
            c.off.learning_rate,
            &mut init,
        )?;
        let critics = c.nets.critics(
            backend,
            (obs_dim, act_dim),
            2,
            c.off.learning_rate,
            &mut init,
        )?;
        let opts = c.off.collection(0, None);
        let driver = Driver::new(setup, "sac", &opts, &actor.export_all())?;
        let mut alpha_opt = Adam::new(c.off.learning_rate as f32);
        alpha_opt.eps = 1e-8;
        let sde = c.use_sde.then(|| SdeNoise::new(c.sde_sample_freq));
        Ok(Self {
            target_entropy: -c.target_entropy_scale * act_dim as f64,
            log_alpha: c.ent_coef.ln() as f32,
            cfg,
            backend,
            actor,
            critics,
            driver,
            alpha_opt,
            alpha_moments: [0.0; 2],
            rng: rng::seeded(setup.run.seed.wrapping_add(0x5eed_0003)),
            sde,
            updates: 0,
            logged: Vec::new(),
            batch: Rows::default(),
            y: Vec::new(),
        })
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &[
            "critic_loss",
            "actor_loss",
            "q_mean",
            "ent_coef",
            "updates",
            "replay_size",
        ]
    }

    fn train_iter(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        let a = self.driver.act_dim;
        let sde_log_std = self.actor.sde_log_std().to_vec();
        let sde = &mut self.sde;
        let mut round_step = 0;
        let n = self.driver.collect(
            ctx,
            |d| {
                if let Some(sde) = sde.as_mut() {
                    sde_explore(d, sde, &sde_log_std, round_step)?;
                    round_step += 1;
                    return Ok(());
                }
                for i in 0..d.col.collector.envs.len() {
                    let out = d.actor_outputs(i)?;
                    let (mean, log_std): (Vec<f32>, Vec<f32>) =
                        (out[..a].to_vec(), out[a..2 * a].to_vec());
                    for k in 0..a {
                        let ls = f64::from(log_std[k]).clamp(LOG_STD_MIN, LOG_STD_MAX);
                        let u = f64::from(mean[k]) + ls.exp() * rng::normal_f64(&mut d.col.rng);
                        d.unit[i * a + k] = u.tanh() as f32;
                    }
                }
                Ok(())
            },
            |_| {},
        )?;
        for k in 0..n {
            self.update(ctx.row_due() && k + 1 == n)
                .with_context(|| format!("sac update at step {}", ctx.steps))?;
        }
        let actor = (n > 0).then(|| self.actor.export_all());
        let alpha = self.alpha();
        self.driver.end_round(
            ctx,
            actor,
            &mut self.logged,
            &[("ent_coef", alpha)],
            self.updates,
        )
    }

    continuous_learner_methods!();
}

/// gSDE's exploratory actions for step `t` of a round (0-based): redraws every copy's matrix
/// from the driver's generator when due (`log_std` the actor's `[h, a]` log σ), then writes
/// `tanh(μ(s) + φ(s)·E)` for every copy into [`Driver::unit`].
fn sde_explore(d: &mut Driver, sde: &mut SdeNoise, log_std: &[f32], t: usize) -> Result<()> {
    let (n_envs, a) = (d.col.collector.envs.len(), d.act_dim);
    if sde.redraw_due(t) {
        sde.draw(n_envs, log_std, &mut d.col.rng);
    }
    for i in 0..n_envs {
        let mean = d.actor_outputs_with_features(i, &mut sde.features)?[..a].to_vec();
        let e = sde.matrix(i, a)?;
        for (k, m) in mean.iter().enumerate() {
            d.unit[i * a + k] = (m + sde.noise(e, a, k)).tanh();
        }
    }
    Ok(())
}

// The learner's state (`crate::algo::state`): the weights file holds the actor (gSDE's log σ
// too), the critics and their targets, and the temperature; a `--resume` checkpoint adds the
// Adam moments of actor, critics and temperature, the replay and environments, the updates'
// generator and the update count.
crate::learner_state! {
    for Sac, named "sac";
    weights "" => actor,
    weights "" => critics,
    tensor "log_alpha.log_alpha" => |s| Tensor::from_slice(&[s.log_alpha]),
        |s, t| match crate::util::tensor::tensor_to_vec(t).as_slice() {
            &[v] => {
                s.log_alpha = v;
                Ok(())
            }
            other => Err(anyhow::anyhow!("`log_alpha.log_alpha` has {} values, 1 expected", other.len())),
        },
    part "actor_" => actor,
    part "critic_" => critics,
    with "alpha_adam" => |s| (s.alpha_moments, s.alpha_opt.t),
        |s, v: ([f32; 2], u32)| {
            (s.alpha_moments, s.alpha_opt.t) = v;
            Ok(())
        },
    part "" => driver.col,
    json "update_rng" => rng,
    json "updates" => updates,
}

// It acts through the driver's copy of the actor.
continuous_actor!(Sac);

#[cfg(test)]
mod tests;
