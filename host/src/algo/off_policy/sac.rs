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

use std::path::Path;

use anyhow::{ensure, Context, Result};
use picorl_core::rng::{self, Pcg32};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use super::continuous::{
    min_target, normal_tensor, resume_parts, save_stores, scalar, ActorNet, Critics, Driver,
    DriverOptions, DriverResume, LOG_STD_MAX, LOG_STD_MIN,
};
use crate::algo::checkpoint::{load_vars, read_checkpoint};
use crate::algo::nets::Activation;
use crate::algo::off_policy::replay::Batch;
use crate::algo::on_policy::actor_critic::SdeNoise;
use crate::algo::optim::{flatten_vars, FlatAdam};
use crate::envs::eval::{Actor, OwnedAction};
use crate::export::PolicyExport;
use crate::train::{Algorithm, Setup, TrainCtx};

// The keys this shares with `Td3Config` stay written out in both: as one `#[serde(flatten)]`
// struct, the error for a wrong-typed value would no longer name its key (serde buffers the
// flattened values, and toml's "in `batch_size`" is lost), and a key missing from a table would
// take the shared struct's default instead of SAC's (SAC's learning rate is 3e-4, TD3's 1e-3).
/// SAC's hyper-parameters (defaults: SB3's `SAC`, with smaller networks).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SacConfig {
    /// Parallel environments.
    pub n_envs: usize,
    /// Replay capacity (transitions).
    pub buffer_size: usize,
    /// Environment steps of uniformly random actions before learning starts.
    pub learning_starts: u64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Adam's learning rate (actor, critics and temperature).
    pub learning_rate: f64,
    /// Discount factor.
    pub gamma: f64,
    /// Polyak coefficient of the target updates.
    pub tau: f64,
    /// Steps of every environment copy between rounds of updates.
    pub train_freq: usize,
    /// Updates per round (-1: as many as environment steps collected in the round).
    pub gradient_steps: i64,
    /// Rewards summed per stored transition (n-step returns).
    pub n_step: usize,
    /// The temperature α at the start (learned when `auto_entropy`, fixed otherwise).
    pub ent_coef: f64,
    /// Learn α towards the target entropy.
    pub auto_entropy: bool,
    /// The target entropy is `-target_entropy_scale · dim(A)`.
    pub target_entropy_scale: f64,
    /// The actor's hidden layer sizes.
    pub actor_hidden: Vec<usize>,
    /// The actor's hidden activation: `relu` (exports to int8) or `tanh`.
    pub activation: Activation,
    /// The critics' hidden layer sizes (ReLU).
    pub critic_hidden: Vec<usize>,
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
            n_envs: 1,
            buffer_size: 1_000_000,
            learning_starts: 100,
            batch_size: 256,
            learning_rate: 3e-4,
            gamma: 0.99,
            tau: 0.005,
            train_freq: 1,
            gradient_steps: 1,
            n_step: 1,
            ent_coef: 1.0,
            auto_entropy: true,
            target_entropy_scale: 1.0,
            actor_hidden: vec![64, 64],
            activation: Activation::Relu,
            critic_hidden: vec![64, 64],
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
    actor: ActorNet,
    critics: Critics,
    driver: Driver,
    alpha_vs: nn::VarStore,
    log_alpha: Tensor,
    alpha_opt: FlatAdam,
    target_entropy: f64,
    /// The updates' Gaussian draws (fresh actions and next actions).
    rng: Pcg32,
    /// gSDE's collection matrices (with `use_sde`).
    sde: Option<SdeNoise>,
    updates: u64,
    /// What this round's updates read for `metrics.csv`, handed to the loop at its end.
    logged: Vec<(&'static str, f64)>,
}

impl Sac {
    /// The temperature α.
    pub fn alpha(&self) -> f64 {
        tch::no_grad(|| self.log_alpha.exp().double_value(&[0]))
    }

    /// One temperature step on the loss `-log α · mean(log π + H̄)` for the log-probabilities
    /// `logp` `[B]` of fresh actions: α rises when the policy's entropy `-log π` is below the
    /// target `H̄` and falls when above. Does nothing unless `auto_entropy`.
    pub fn temperature_step(&mut self, logp: &Tensor) {
        if !self.cfg.auto_entropy {
            return;
        }
        let gap = tch::no_grad(|| (logp + self.target_entropy).detach());
        let loss = -(&self.log_alpha * gap).mean(Kind::Float);
        self.alpha_opt.step(&loss, 0.0);
    }

    /// The soft targets `r + γ^k (1 - terminated) (min_i Q'_i(s', a') - α log π(a'|s'))`, with
    /// `a'` sampled from the actor with the standard-normal draws `eps` (`[B, a]`, or gSDE's
    /// `[h, a]` matrix; [`ActorNet::sample`]).
    pub fn targets(&self, b: &Batch, eps: &Tensor, alpha: f64) -> Tensor {
        tch::no_grad(|| {
            let (next, logp) = self.actor.sample(&b.next_obs, eps);
            min_target(
                b,
                &self.critics.q_target(&b.next_obs, &next),
                Some(&(logp * alpha)),
            )
        })
    }

    fn update(&mut self, read: bool) -> Result<()> {
        let device = self.actor.vs.device();
        let (rows, cols) = self.actor.noise_shape(self.cfg.batch_size);
        let b = self
            .driver
            .col
            .replay
            .sample(self.cfg.batch_size, 1.0, device)?;
        let unit = self.driver.bounds.to_unit(&b.actions);
        let eps = normal_tensor(&mut self.rng, rows, cols, device);
        let (pi, logp) = self.actor.sample(&b.obs, &eps);
        let alpha = self.alpha();
        self.temperature_step(&logp);
        let eps_next = normal_tensor(&mut self.rng, rows, cols, device);
        let y = self.targets(&b, &eps_next, alpha);
        let qs = self.critics.q(&b.obs, &unit);
        let mut critic_loss = (&qs[0] - &y).square().mean(Kind::Float);
        for q in &qs[1..] {
            critic_loss += (q - &y).square().mean(Kind::Float);
        }
        let critic_loss = critic_loss * 0.5;
        self.critics.step(&critic_loss);
        let q_pi = self.critics.q(&b.obs, &pi);
        let mut min_q = q_pi[0].shallow_clone();
        for q in &q_pi[1..] {
            min_q = min_q.minimum(q);
        }
        let actor_loss = (logp * alpha - min_q).mean(Kind::Float);
        self.actor.step(&actor_loss);
        self.critics.update_targets(self.cfg.tau);
        self.updates += 1;
        if read {
            self.logged
                .push(("critic_loss", critic_loss.double_value(&[])));
            self.logged
                .push(("actor_loss", actor_loss.double_value(&[])));
            self.logged.push(("q_mean", scalar(&qs[0])));
        }
        Ok(())
    }
}

impl Actor for Sac {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        self.driver.act(obs)
    }
}

impl Algorithm for Sac {
    const NAME: &'static str = "sac";
    const CONFIG: &'static str = include_str!("../../../configs/sac.toml");
    type Hyper = SacConfig;

    fn new(setup: &Setup, cfg: SacConfig) -> Result<Self> {
        let c = &cfg;
        ensure!(c.batch_size > 0, "sac: batch_size must be positive");
        ensure!(c.learning_rate > 0.0, "sac: learning_rate must be positive");
        ensure!(c.tau > 0.0 && c.tau <= 1.0, "sac: tau must be in (0, 1]");
        ensure!(
            c.ent_coef > 0.0 && c.ent_coef.is_finite(),
            "sac: ent_coef must be positive"
        );
        ensure!(
            c.target_entropy_scale.is_finite(),
            "sac: target_entropy_scale must be finite"
        );
        ensure!(
            !c.actor_hidden.contains(&0) && !c.critic_hidden.contains(&0),
            "sac: hidden sizes must be positive"
        );
        let obs_dim = setup.spec.observation_space.flat_dim();
        let act_dim = setup.spec.action_space.flat_dim();
        ensure!(
            c.log_std_init.is_finite(),
            "sac: log_std_init must be finite"
        );
        let actor = if c.use_sde {
            ActorNet::new_sde(
                obs_dim,
                act_dim,
                &c.actor_hidden,
                c.activation,
                c.log_std_init,
                c.learning_rate,
                setup.device,
            )?
        } else {
            ActorNet::new(
                obs_dim,
                act_dim,
                &c.actor_hidden,
                c.activation,
                true,
                false,
                c.learning_rate,
                setup.device,
            )?
        };
        let critics = Critics::new(
            obs_dim,
            act_dim,
            &c.critic_hidden,
            2,
            c.learning_rate,
            setup.device,
        )?;
        let opts = DriverOptions {
            n_envs: c.n_envs,
            buffer_size: c.buffer_size,
            gamma: c.gamma,
            n_step: c.n_step,
            learning_starts: c.learning_starts,
            train_freq: c.train_freq,
            gradient_steps: c.gradient_steps,
            min_replay: 0,
            prioritized: None,
        };
        let driver = Driver::new(setup, "sac", &opts, &actor.export_all())?;
        let alpha_vs = nn::VarStore::new(setup.device);
        let log_alpha = alpha_vs
            .root()
            .var("log_alpha", &[1], nn::Init::Const(c.ent_coef.ln()));
        let flat = flatten_vars(&alpha_vs);
        let alpha_opt = FlatAdam::new(&alpha_vs, &flat, c.learning_rate, 1e-8);
        let sde = c.use_sde.then(|| SdeNoise::new(c.sde_sample_freq));
        Ok(Self {
            target_entropy: -c.target_entropy_scale * act_dim as f64,
            cfg,
            actor,
            critics,
            driver,
            alpha_vs,
            log_alpha,
            alpha_opt,
            rng: rng::seeded(setup.run.seed.wrapping_add(0x5eed_0003)),
            sde,
            updates: 0,
            logged: Vec::new(),
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
        let sde_log_std = self.actor.sde_log_std_values();
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
        if n > 0 {
            self.driver.refresh(&self.actor.export_all());
        }
        for (column, value) in self.logged.drain(..) {
            ctx.log_mean(column, value)?;
        }
        ctx.log_value("ent_coef", self.alpha())?;
        ctx.log_value("updates", self.updates as f64)?;
        ctx.log_value("replay_size", self.driver.col.replay.len() as f64)
    }

    fn save(&self, path: &Path) -> Result<()> {
        save_stores(
            &[
                ("pi.", &self.actor.vs),
                ("q.", &self.critics.vs),
                ("q_target.", &self.critics.target_vs),
                ("log_alpha.", &self.alpha_vs),
            ],
            path,
        )
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        let saved = read_checkpoint(path)?;
        load_vars(&self.actor.vs, &saved, "pi.", path)?;
        load_vars(&self.critics.vs, &saved, "q.", path)?;
        load_vars(&self.critics.target_vs, &saved, "q_target.", path)?;
        load_vars(&self.alpha_vs, &saved, "log_alpha.", path)?;
        self.driver.refresh(&self.actor.export_all());
        Ok(())
    }

    fn export(&self) -> Result<PolicyExport> {
        Ok(self.actor.export(&self.driver.bounds))
    }

    /// Adam's moments (actor, critics, temperature), the replay memory, the environments, the
    /// generators, the counters and the metric sums; the temperature itself is a weight
    /// (`log_alpha.*`).
    fn resume_state(&self) -> Result<Vec<(String, Tensor)>> {
        let (rows, driver) = self.driver.snapshot()?;
        let (am, av, at) = self.actor.adam().snapshot();
        let (cm, cv, ct) = self.critics.adam().snapshot();
        let (tm, tv, tt) = self.alpha_opt.snapshot();
        let s = SacResume {
            driver,
            actor_t: at,
            critic_t: ct,
            alpha_t: tt,
            rng: self.rng.clone(),
            updates: self.updates,
        };
        Ok(vec![
            (
                "sac.resume".into(),
                Tensor::from_slice(&serde_json::to_vec(&s)?),
            ),
            ("sac.replay".into(), rows),
            ("sac.actor_adam_m".into(), am),
            ("sac.actor_adam_v".into(), av),
            ("sac.critic_adam_m".into(), cm),
            ("sac.critic_adam_v".into(), cv),
            ("sac.alpha_adam_m".into(), tm),
            ("sac.alpha_adam_v".into(), tv),
        ])
    }

    /// Restores what [`Algorithm::resume_state`] saved (nothing for a checkpoint without it).
    fn restore_state(&mut self, saved: &[(String, Tensor)]) -> Result<()> {
        let Some((_, json)) = saved.iter().find(|(k, _)| k == "sac.resume") else {
            return Ok(());
        };
        let [rows, am, av, cm, cv, tm, tv] = resume_parts(
            saved,
            [
                "sac.replay",
                "sac.actor_adam_m",
                "sac.actor_adam_v",
                "sac.critic_adam_m",
                "sac.critic_adam_v",
                "sac.alpha_adam_m",
                "sac.alpha_adam_v",
            ],
            "sac",
        )?;
        let s: SacResume = serde_json::from_slice(&Vec::<u8>::try_from(json)?)
            .context("the checkpoint's sac state")?;
        self.driver.restore(rows, &s.driver)?;
        self.actor.adam_mut().restore(am, av, s.actor_t)?;
        self.critics.adam_mut().restore(cm, cv, s.critic_t)?;
        self.alpha_opt.restore(tm, tv, s.alpha_t)?;
        self.rng = s.rng;
        self.updates = s.updates;
        Ok(())
    }
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

/// The part of [`Sac`]'s resume state that is not a tensor.
#[derive(Debug, Serialize, Deserialize)]
struct SacResume {
    driver: DriverResume,
    actor_t: i32,
    critic_t: i32,
    alpha_t: i32,
    rng: Pcg32,
    updates: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::off_policy::continuous::{squashed_log_prob, testing, values};

    /// α rises when the policy's entropy `-log π` is below the target `-dim(A)` and falls when
    /// above (Pendulum: target entropy -1).
    #[test]
    fn temperature_moves_towards_the_target_entropy() {
        let _turn = crate::train::torch_generator();
        for (logp, rises) in [(3.0f32, true), (-3.0, false)] {
            let mut s = Sac::new(
                &testing::setup("sac", "Pendulum-v1", 0),
                SacConfig::default(),
            )
            .unwrap();
            assert!((s.alpha() - 1.0).abs() < 1e-6);
            s.temperature_step(&Tensor::from_slice(&[logp; 8]));
            let a = s.alpha();
            // Adam's first step moves log α by the learning rate (3e-4) in the gradient's sign.
            let expect = if rises {
                3e-4f64.exp()
            } else {
                (-3e-4f64).exp()
            };
            assert!((a - expect).abs() < 1e-6, "log π {logp}: α {a}");
        }
        // At the target (log π = 1, entropy -1) the gradient is zero and α stays.
        let mut s = Sac::new(
            &testing::setup("sac", "Pendulum-v1", 0),
            SacConfig::default(),
        )
        .unwrap();
        s.temperature_step(&Tensor::from_slice(&[1.0f32; 4]));
        assert!((s.alpha() - 1.0).abs() < 1e-7);
    }

    /// gSDE (`use_sde`): between redraws the exploration is the fixed function `φ(s)·E` of the
    /// state (the same state gets the same action, another state another push, both `φ·E` by
    /// hand), the matrices are redrawn at a round's start and every `sde_sample_freq` steps, the
    /// update's sample with the same matrix is the same action, and the log-probability the
    /// updates use is the squashed density: by hand in f64, integrating to 1 over (-1, 1), and
    /// with the variance of the noise over many draws.
    #[test]
    fn sde_exploration_is_a_fixed_function_of_the_state_between_redraws() {
        use crate::envs::vec_env::Actions;
        let _turn = crate::train::torch_generator();
        tch::manual_seed(4);
        let cfg = SacConfig {
            use_sde: true,
            sde_sample_freq: 3,
            log_std_init: -1.0,
            ..SacConfig::default()
        };
        let mut s = Sac::new(&testing::setup("sac", "MountainCarContinuous-v0", 0), cfg).unwrap();
        assert!(s.actor.uses_sde());
        let log_std = s.actor.sde_log_std_values();
        assert_eq!(
            log_std,
            vec![-1.0f32; 64],
            "[h, a] = [64, 1] at log_std_init"
        );
        let mut sde = s.sde.take().unwrap();
        // φ(s)·E and μ(s) by libtorch for an observation.
        let by_hand = |s: &Sac, sde: &SdeNoise, obs: &[f32]| {
            let (mean, phi) = s
                .actor
                .mean_and_features(&Tensor::from_slice(obs).view([1, 2]));
            let phi = crate::algo::nets::tensor_to_vec(&phi);
            let noise: f32 = phi.iter().zip(&sde.matrices).map(|(p, e)| p * e).sum();
            (crate::algo::nets::tensor_to_vec(&mean)[0], noise, phi)
        };
        let d = &mut s.driver;
        sde_explore(d, &mut sde, &log_std, 0).unwrap();
        let (a0, e0, obs0) = (
            d.unit[0],
            sde.matrices.clone(),
            d.col.collector.obs().to_vec(),
        );
        sde_explore(d, &mut sde, &log_std, 1).unwrap();
        assert_eq!(d.unit[0], a0, "same state, same matrix: the same action");
        assert_eq!(sde.matrices, e0, "no redraw at step 1");
        let (mean0, noise0, phi0) = by_hand(&s, &sde, &obs0);
        assert!(
            (a0 - (mean0 + noise0).tanh()).abs() < 1e-5,
            "{a0} vs tanh({mean0} + {noise0})"
        );
        assert!(noise0.abs() > 1e-3, "the noise is not zero: {noise0}");
        // Another state, the same matrix: another push, still φ(s')·E.
        let d = &mut s.driver;
        d.col
            .collector
            .step(Actions::Continuous(&[1.0]), &mut d.col.replay)
            .unwrap();
        let obs1 = d.col.collector.obs().to_vec();
        assert_ne!(obs1, obs0);
        sde_explore(d, &mut sde, &log_std, 2).unwrap();
        let a1 = d.unit[0];
        assert_eq!(sde.matrices, e0, "no redraw at step 2");
        let (mean1, noise1, _) = by_hand(&s, &sde, &obs1);
        assert!((a1 - (mean1 + noise1).tanh()).abs() < 1e-5);
        assert!(
            (noise1 - noise0).abs() > 1e-6,
            "the noise depends on the state"
        );
        // Step 3 (sde_sample_freq) redraws; a new round (step 0) redraws.
        sde_explore(&mut s.driver, &mut sde, &log_std, 3).unwrap();
        assert_ne!(sde.matrices, e0, "redrawn at step 3");
        let e3 = sde.matrices.clone();
        sde_explore(&mut s.driver, &mut sde, &log_std, 4).unwrap();
        assert_eq!(sde.matrices, e3);

        // The update's sample with the matrix E = σ ⊙ Z of the first step is the same action.
        let sigma = (-1.0f32).exp();
        let z: Vec<f32> = e0.iter().map(|e| e / sigma).collect();
        let obs_t = Tensor::from_slice(&obs0).view([1, 2]);
        let (act, logp) = s
            .actor
            .sample(&obs_t, &Tensor::from_slice(&z).view([64, 1]));
        let (act, logp) = (values(&act)[0], f64::from(values(&logp)[0]));
        assert!((act - a0).abs() < 1e-5, "{act} vs {a0}");
        // log π(a|s) = log N(u; μ, v) - log(1 - tanh²u), v = Σ_j φ_j² σ² + 1e-6, u = μ + φ·E.
        let var: f64 =
            phi0.iter().map(|p| f64::from(p * p)).sum::<f64>() * f64::from(sigma * sigma) + 1e-6;
        let (u, mu) = (f64::from(mean0) + f64::from(noise0), f64::from(mean0));
        let expect = -0.5 * (u - mu).powi(2) / var
            - 0.5 * (2.0 * std::f64::consts::PI * var).ln()
            - (1.0 - u.tanh().powi(2)).ln();
        assert!((logp - expect).abs() < 1e-3, "log π {logp} vs {expect}");
        // The density of the squashed action integrates to 1 over (-1, 1) (midpoint rule).
        let (mean_t, phi_t) = s.actor.mean_and_features(&obs_t);
        let ls = crate::algo::on_policy::actor_critic::sde_marginal_log_std(
            &phi_t,
            &Tensor::from_slice(&log_std).view([64, 1]),
        );
        let n = 20_000;
        let grid: Vec<f32> = (0..n)
            .map(|i| (-1.0 + (i as f64 + 0.5) * 2.0 / n as f64).atanh() as f32)
            .collect();
        let u_t = Tensor::from_slice(&grid).view([n as i64, 1]);
        let dens = squashed_log_prob(
            &u_t,
            &mean_t.expand([n as i64, 1], false),
            &ls.expand([n as i64, 1], false),
        )
        .exp();
        let total = dens.sum(Kind::Double).double_value(&[]) * 2.0 / n as f64;
        assert!((total - 1.0).abs() < 2e-3, "∫ π(a|s) da = {total}");
        // Over many draws of E the noise has the variance the log-probability assumes.
        let mut r = rng::seeded(11);
        let (mut sum, mut sum2, draws) = (0.0f64, 0.0f64, 4000);
        sde.features = phi0.clone();
        for _ in 0..draws {
            sde.draw(1, &log_std, &mut r);
            let x = f64::from(sde.noise(sde.matrix(0, 1).unwrap(), 1, 0));
            sum += x;
            sum2 += x * x;
        }
        let v = sum2 / draws as f64 - (sum / draws as f64).powi(2);
        assert!(
            (v / (var - 1e-6) - 1.0).abs() < 0.1,
            "variance {v} vs {var}"
        );
    }

    /// Seeded solve of Pendulum-v1 with the shipped config (mean of 20 deterministic episodes ≥
    /// -200). With the updates' draws from the learner's generator, seeds 0-4 solved at 6k, 8k,
    /// 4k, 4k and 8k steps, 6-16 s of training each (`picorl train --algo sac --env Pendulum-v1
    /// --threads 1 --stop-at-return -200`, the 2-core development machine at load 2-4); seed 0
    /// takes 6,000 steps. Its budget is the config's 20,000 steps (about 60 s there).
    #[test]
    fn solves_pendulum() {
        testing::solves_pendulum::<Sac>(0);
    }

    /// Seeded solve of MountainCarContinuous-v0 with the shipped config (gSDE; mean of 20
    /// deterministic episodes ≥ 90, evaluated every 5,000 steps). Seeds 0-4 solved at 15k, 15k,
    /// 10k, 10k and 10k steps, 34-109 s of training each (`picorl train --algo sac --env
    /// MountainCarContinuous-v0 --seed S --threads 1 --stop-at-return 90 --eval-every 5000
    /// --eval-episodes 20`, the 2-core development machine at load 3-5); seed 2 takes 10,016
    /// steps (35 s there). Its budget is the config's 50,000 steps.
    #[test]
    fn solves_mountain_car_continuous() {
        testing::solves::<Sac>("MountainCarContinuous-v0", 2, 90.0, 50_000, 5000);
    }
}
