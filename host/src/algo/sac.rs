//! Soft Actor-Critic (Haarnoja et al. 2018, with the automatic temperature of "SAC: Algorithms and
//! Applications"): a tanh-squashed Gaussian actor whose log-density carries the change-of-variables
//! correction `log π(a|s) = log N(u; μ, σ) - Σ log(1 - tanh(u)²)` (computed in the stable form
//! `2 (log 2 - u - softplus(-2u))`), twin critics with the soft clipped double-Q target
//! `r + γ^k (1 - terminated) (min_i Q'_i(s', a') - α log π(a'|s'))`, and a temperature α learned
//! on `-log α · (log π + H̄)` with target entropy `H̄ = -target_entropy_scale · dim(A)`.
//! As SB3's `SAC`: the temperature steps first, then the critics, then the actor, with the α of
//! the start of the update throughout; the targets are Polyak-averaged every update.
//!
//! The deterministic policy (evaluation, export) is `tanh(μ(s))` scaled to the action bounds.
//! Checkpoints hold `pi.*`, `q.*`, `q_target.*` and `log_alpha.*` (the temperature), and for
//! `--resume` the rest of the learner ([`Algorithm::resume_state`]): the Adam moments of actor,
//! critics and temperature, the replay memory, the environments, the generators, the counters
//! and the metric sums. Every Gaussian draw of an update comes from the learner's own generator
//! (not libtorch's process-wide one), so a resumed run ends bit for bit as the uninterrupted one
//! on the CPU (`host/tests/crash_resume.rs`).

use std::path::Path;

use anyhow::{ensure, Context, Result};
use picorl_core::rng::{self, Pcg32};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use super::continuous::{
    min_target, normal_tensor, resume_parts, save_stores, scalar, ActorNet, Critics, Driver,
    DriverOptions, DriverResume, LOG_STD_MAX, LOG_STD_MIN,
};
use super::off_policy::{flatten_vars, load_vars, read_checkpoint, Batch, FlatAdam};
use crate::eval::{Actor, OwnedAction};
use crate::export::PolicyExport;
use crate::nets::Activation;
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
    /// Environment steps between `metrics.csv` rows.
    pub log_interval: u64,
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
            log_interval: 1000,
        }
    }
}

/// Sums of the metrics between two `metrics.csv` rows.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Sums {
    critic: f64,
    actor: f64,
    q: f64,
    n: u32,
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
    updates: u64,
    next_log: u64,
    sums: Sums,
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
    /// `a'` sampled from the actor with the standard-normal draws `eps` `[B, a]`.
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
        let (bs, a) = (self.cfg.batch_size, self.driver.act_dim);
        let b = self
            .driver
            .replay
            .sample(self.cfg.batch_size, 1.0, device)?;
        let unit = self.driver.bounds.to_unit(&b.actions);
        let eps = normal_tensor(&mut self.rng, bs, a, device);
        let (pi, logp) = self.actor.sample(&b.obs, &eps);
        let alpha = self.alpha();
        self.temperature_step(&logp);
        let eps_next = normal_tensor(&mut self.rng, bs, a, device);
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
            self.sums.critic += critic_loss.double_value(&[]);
            self.sums.actor += actor_loss.double_value(&[]);
            self.sums.q += scalar(&qs[0]);
            self.sums.n += 1;
        }
        Ok(())
    }

    fn maybe_log(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        if ctx.steps < self.next_log {
            return Ok(());
        }
        while self.next_log <= ctx.steps {
            self.next_log += self.cfg.log_interval;
        }
        let s = std::mem::take(&mut self.sums);
        let avg = |v: f64| {
            if s.n == 0 {
                f64::NAN
            } else {
                v / f64::from(s.n)
            }
        };
        if s.n > 0 {
            ctx.check_finite("the SAC critic loss", s.critic)?;
            ctx.check_finite("the SAC actor loss", s.actor)?;
        }
        ctx.log(&[
            avg(s.critic),
            avg(s.actor),
            avg(s.q),
            self.alpha(),
            self.updates as f64,
            self.driver.replay.len() as f64,
        ])
    }
}

impl Actor for Sac {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        self.driver.act(obs)
    }
}

impl Algorithm for Sac {
    const NAME: &'static str = "sac";
    const CONFIG: &'static str = include_str!("../../configs/sac.toml");
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
        ensure!(c.log_interval > 0, "sac: log_interval must be positive");
        ensure!(
            !c.actor_hidden.contains(&0) && !c.critic_hidden.contains(&0),
            "sac: hidden sizes must be positive"
        );
        let obs_dim = setup.spec.observation_space.flat_dim();
        let act_dim = setup.spec.action_space.flat_dim();
        let actor = ActorNet::new(
            obs_dim,
            act_dim,
            &c.actor_hidden,
            c.activation,
            true,
            false,
            c.learning_rate,
            setup.device,
        )?;
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
        };
        let driver = Driver::new(setup, "sac", &opts, &actor)?;
        let alpha_vs = nn::VarStore::new(setup.device);
        let log_alpha = alpha_vs
            .root()
            .var("log_alpha", &[1], nn::Init::Const(c.ent_coef.ln()));
        let flat = flatten_vars(&alpha_vs);
        let alpha_opt = FlatAdam::new(&alpha_vs, &flat, c.learning_rate, 1e-8);
        Ok(Self {
            target_entropy: -c.target_entropy_scale * act_dim as f64,
            next_log: c.log_interval,
            cfg,
            actor,
            critics,
            driver,
            alpha_vs,
            log_alpha,
            alpha_opt,
            rng: rng::seeded(setup.run.seed.wrapping_add(0x5eed_0003)),
            updates: 0,
            sums: Sums::default(),
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
        let n = self.driver.collect(
            ctx,
            |d| {
                for i in 0..d.collector.envs.len() {
                    let out = d.actor_outputs(i)?;
                    let (mean, log_std): (Vec<f32>, Vec<f32>) =
                        (out[..a].to_vec(), out[a..2 * a].to_vec());
                    for k in 0..a {
                        let ls = f64::from(log_std[k]).clamp(LOG_STD_MIN, LOG_STD_MAX);
                        let u = f64::from(mean[k]) + ls.exp() * rng::normal_f64(&mut d.rng);
                        d.unit[i * a + k] = u.tanh() as f32;
                    }
                }
                Ok(())
            },
            |_| {},
        )?;
        for k in 0..n {
            self.update(ctx.steps >= self.next_log && k + 1 == n)
                .with_context(|| format!("sac update at step {}", ctx.steps))?;
        }
        if n > 0 {
            self.driver.refresh(&self.actor);
        }
        self.maybe_log(ctx)
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
        self.driver.refresh(&self.actor);
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
            next_log: self.next_log,
            sums: self.sums.clone(),
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
        self.next_log = s.next_log;
        self.sums = s.sums;
        Ok(())
    }
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
    next_log: u64,
    sums: Sums,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::continuous::testing;

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

    /// Seeded solve of Pendulum-v1 with the shipped config (mean of 20 deterministic episodes ≥
    /// -200). With the updates' draws from the learner's generator, seeds 0-4 solved at 6k, 8k,
    /// 4k, 4k and 8k steps, 6-16 s of training each (`picorl train --algo sac --env Pendulum-v1
    /// --threads 1 --stop-at-return -200`, the 2-core development machine at load 2-4); seed 0
    /// takes 6,000 steps. Its budget is the config's 20,000 steps (about 60 s there).
    #[test]
    fn solves_pendulum() {
        testing::solves_pendulum::<Sac>(0);
    }
}
