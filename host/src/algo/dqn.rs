//! Deep Q-Networks (Mnih et al. 2015) and the extensions Rainbow combines, each an option:
//! double Q-learning (van Hasselt et al. 2016, on by default), the dueling architecture, proportional
//! prioritized replay, noisy networks and n-step returns; plus hard or Polyak target updates, Huber
//! or squared loss, gradient clipping, SB3's linear ε schedule and optional dropout.
//!
//! The loop follows stable-baselines3's `DQN` (`off_policy_algorithm.py` + `dqn.py`): a round is
//! `train_freq` steps of every environment copy, then, once `learning_starts` steps are collected,
//! `gradient_steps` updates on minibatches of `batch_size`. Actions are uniformly random before
//! `learning_starts`, ε-greedy after; the target network is updated every `target_update_interval`
//! environment steps *during collection* (as SB3 does in `_on_step`). With `double = false`,
//! `n_step = 1` and the other options off this is SB3's DQN.
//!
//! Replay, truncation bootstrapping, n-step returns, prioritization and target updates are
//! [`off_policy`](super::off_policy)'s, shared with the other off-policy learners.
//!
//! Acting: with `cpu_acting` (the default), the greedy action comes from a copy of the
//! Q-network's export run through `picorl-core`'s f32 layers ([`CpuNet`]), refreshed after each
//! round of updates. Measured on the 2-core development machine (one thread, 4-64-64-2 network;
//! the criterion benches `nn/` and `learn/dqn` measure the same today): a libtorch forward pass of one observation costs 18-34 µs, the core copy
//! 1.1 µs, and a refresh 27-37 µs, paid once per round (every 128 steps on CartPole). Noisy
//! networks act through libtorch, with noise drawn afresh at every step.
//!
//! Checkpoints hold the online and the target network (`q.*`, `target.*`) and, for a bit-exact
//! `--resume`, the rest of the learner (`dqn.*`: Adam's moments, the replay memory, the
//! environments' journal, the n-step windows, the generators and counters; see
//! [`Algorithm::resume_state`]), noisy layers' and dropout's generators included. A resumed run
//! ends with the same metrics as an uninterrupted one (`host/tests/crash_resume.rs`).

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use picorl_core::env::Space;
use picorl_core::replay::ActionShape;
use picorl_core::rng::{self, Pcg32};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Reduction, Tensor};

use super::actor_critic::argmax;
use super::off_policy::{
    flatten_vars, linear_schedule, load_vars, read_checkpoint, Batch, Collector, CpuNet, FlatAdam,
    Replay, ReplayOptions, TargetSync,
};
use super::q_net::{Mode, QNet, QNetOptions};
use crate::eval::{Actor, OwnedAction};
use crate::export::PolicyExport;
use crate::nets::{tensor_to_vec, Activation};
use crate::train::{Algorithm, Setup, TrainCtx};
use crate::vec_env::Actions;

/// The TD loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Huber (smooth L1 with δ = 1), SB3's choice.
    Huber,
    /// Squared error.
    Mse,
}

/// DQN's hyper-parameters (defaults: SB3's `DQN`, with double Q-learning on).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DqnConfig {
    /// Parallel environments.
    pub n_envs: usize,
    /// Replay capacity (transitions).
    pub buffer_size: usize,
    /// Environment steps of uniformly random actions before learning starts.
    pub learning_starts: u64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Discount factor.
    pub gamma: f64,
    /// Steps of every environment copy between rounds of updates.
    pub train_freq: usize,
    /// Updates per round (-1: as many as environment steps collected in the round).
    pub gradient_steps: i64,
    /// Environment steps between target-network updates.
    pub target_update_interval: u64,
    /// Polyak coefficient of a target update (1: hard copy).
    pub tau: f64,
    /// Fraction of the budget over which ε falls from its initial to its final value.
    pub exploration_fraction: f64,
    /// ε at the start.
    pub exploration_initial_eps: f64,
    /// ε after `exploration_fraction` of the budget.
    pub exploration_final_eps: f64,
    /// Gradient norm clip (0: none).
    pub max_grad_norm: f64,
    /// TD loss: `huber` or `mse`.
    pub loss: Loss,
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Hidden activation: `relu` or `tanh`.
    pub activation: Activation,
    /// Double Q-learning: the online network picks the next action, the target network values it.
    pub double: bool,
    /// Dueling heads: `Q = V + A - mean A` (exported folded into one layer).
    pub dueling: bool,
    /// Proportional prioritized replay.
    pub prioritized: bool,
    /// Prioritization exponent α.
    pub alpha: f64,
    /// Importance-sampling exponent β at the start, annealed linearly to 1 at the end of the budget.
    pub beta: f64,
    /// Added to |TD error| for a priority.
    pub prioritized_eps: f64,
    /// Factorized Gaussian noisy layers (usually with ε = 0).
    pub noisy: bool,
    /// Initial noise scale σ₀ of noisy layers.
    pub noisy_sigma0: f64,
    /// Rewards summed per stored transition (n-step returns).
    pub n_step: usize,
    /// Dropout after each hidden activation while learning (0: none).
    pub dropout: f64,
    /// Act through a `picorl-core` copy of the network instead of libtorch (ignored with `noisy`).
    pub cpu_acting: bool,
    /// Environment steps between `metrics.csv` rows.
    pub log_interval: u64,
}

impl Default for DqnConfig {
    fn default() -> Self {
        Self {
            n_envs: 1,
            buffer_size: 1_000_000,
            learning_starts: 100,
            batch_size: 32,
            learning_rate: 1e-4,
            gamma: 0.99,
            train_freq: 4,
            gradient_steps: 1,
            target_update_interval: 10_000,
            tau: 1.0,
            exploration_fraction: 0.1,
            exploration_initial_eps: 1.0,
            exploration_final_eps: 0.05,
            max_grad_norm: 10.0,
            loss: Loss::Huber,
            hidden: vec![64, 64],
            activation: Activation::Relu,
            double: true,
            dueling: false,
            prioritized: false,
            alpha: 0.6,
            beta: 0.4,
            prioritized_eps: 1e-6,
            noisy: false,
            noisy_sigma0: 0.5,
            n_step: 1,
            dropout: 0.0,
            cpu_acting: true,
            log_interval: 1000,
        }
    }
}

/// Sums of the metrics between two `metrics.csv` rows.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct MetricSums {
    loss: f64,
    q: f64,
    n: u32,
}

/// A DQN learner.
#[derive(Debug)]
pub struct Dqn {
    cfg: DqnConfig,
    online_vs: nn::VarStore,
    target_vs: nn::VarStore,
    q: QNet,
    target: QNet,
    sync: TargetSync,
    opt: FlatAdam,
    replay: Replay,
    collector: Collector,
    n_actions: u32,
    obs_dim: usize,
    rng: Pcg32,
    cpu: Option<CpuNet>,
    vec_steps: u64,
    updates: u64,
    next_log: u64,
    sums: MetricSums,
    epsilon: f64,
    beta: f64,
    actions: Vec<u32>,
}

/// Fails unless `ok`, naming the key.
fn check(ok: bool, what: &str) -> Result<()> {
    ensure!(ok, "dqn: {what}");
    Ok(())
}

impl Dqn {
    fn validate(c: &DqnConfig) -> Result<()> {
        check(c.n_envs > 0, "n_envs must be positive")?;
        check(c.buffer_size > 0, "buffer_size must be positive")?;
        check(c.batch_size > 0, "batch_size must be positive")?;
        check(c.train_freq > 0, "train_freq must be positive")?;
        check(
            c.gradient_steps > 0 || c.gradient_steps == -1,
            "gradient_steps must be positive or -1",
        )?;
        check(c.learning_rate > 0.0, "learning_rate must be positive")?;
        check((0.0..=1.0).contains(&c.gamma), "gamma must be in [0, 1]")?;
        check(c.tau > 0.0 && c.tau <= 1.0, "tau must be in (0, 1]")?;
        check(
            c.target_update_interval > 0,
            "target_update_interval must be positive",
        )?;
        check(
            (0.0..=1.0).contains(&c.exploration_fraction),
            "exploration_fraction must be in [0, 1]",
        )?;
        for (v, k) in [
            (c.exploration_initial_eps, "exploration_initial_eps"),
            (c.exploration_final_eps, "exploration_final_eps"),
        ] {
            check((0.0..=1.0).contains(&v), &format!("{k} must be in [0, 1]"))?;
        }
        check(c.max_grad_norm >= 0.0, "max_grad_norm must be non-negative")?;
        check(!c.hidden.contains(&0), "hidden sizes must be positive")?;
        check(
            c.alpha >= 0.0 && c.alpha.is_finite(),
            "alpha must be non-negative",
        )?;
        check((0.0..=1.0).contains(&c.beta), "beta must be in [0, 1]")?;
        check(c.prioritized_eps > 0.0, "prioritized_eps must be positive")?;
        check(c.noisy_sigma0 >= 0.0, "noisy_sigma0 must be non-negative")?;
        check(c.n_step >= 1, "n_step must be at least 1")?;
        check((0.0..1.0).contains(&c.dropout), "dropout must be in [0, 1)")?;
        check(c.log_interval > 0, "log_interval must be positive")?;
        Ok(())
    }

    fn refresh_cpu_copy(&mut self) {
        if let Some(cpu) = &mut self.cpu {
            cpu.refresh(&self.q.export());
        }
    }

    /// Greedy actions for every environment copy into `self.actions`.
    fn greedy_into_actions(&mut self) -> Result<()> {
        let d = self.obs_dim;
        let obs = self.collector.obs();
        if let Some(cpu) = &mut self.cpu {
            for (i, a) in self.actions.iter_mut().enumerate() {
                *a = argmax(cpu.forward(&obs[i * d..(i + 1) * d])?);
            }
        } else {
            if self.cfg.noisy {
                self.q.reset_noise();
            }
            let x = Tensor::from_slice(obs)
                .view([-1, d as i64])
                .to_device(self.online_vs.device());
            let q = tch::no_grad(|| self.q.forward(&x, Mode::Act));
            let v = tensor_to_vec(&q);
            let n = self.n_actions as usize;
            for (i, a) in self.actions.iter_mut().enumerate() {
                *a = argmax(&v[i * n..(i + 1) * n]);
            }
        }
        Ok(())
    }

    /// Chooses the actions of one step: random before `learning_starts`, ε-greedy after.
    fn choose_actions(&mut self, steps: u64) -> Result<()> {
        let random_all = steps < self.cfg.learning_starts;
        if !random_all {
            self.greedy_into_actions()?;
        }
        for a in self.actions.iter_mut() {
            if random_all || rng::unit_f64(&mut self.rng) < self.epsilon {
                *a = rng::below(&mut self.rng, self.n_actions);
            }
        }
        Ok(())
    }

    /// The TD targets of a batch: `r + γ^k (1 - terminated) Q_target(s', a*)` with
    /// `a* = argmax_a Q_online(s', a)` (double; `next_online` are those Q-values when already
    /// computed) or `argmax_a Q_target(s', a)` (vanilla). `r`, `γ^k` and `terminated` come from
    /// the replay's n-step transitions ([`Batch::discounts`]).
    fn td_targets(&self, b: &Batch, next_online: Option<Tensor>) -> Tensor {
        tch::no_grad(|| {
            let next_t = self.target.forward(&b.next_obs, Mode::Act);
            let next_v = if self.cfg.double {
                let online = next_online.unwrap_or_else(|| self.q.forward(&b.next_obs, Mode::Act));
                next_t
                    .gather(1, &online.argmax(1, true), false)
                    .squeeze_dim(1)
            } else {
                next_t.max_dim(1, false).0
            };
            &b.rewards + &b.discounts * next_v
        })
    }

    /// One gradient step; returns `(loss, mean Q)` when `read` (reading values costs a sync).
    fn update(&mut self, read: bool) -> Result<Option<(f64, f64)>> {
        let c = &self.cfg;
        let device = self.online_vs.device();
        if c.noisy {
            self.q.reset_noise();
            self.target.reset_noise();
        }
        let b = self.replay.sample(c.batch_size, self.beta, device)?;
        // Double Q-learning without dropout: one online pass over observations and next
        // observations together (the next half only picks actions, outside the graph).
        let joint = c.double && c.dropout == 0.0;
        let (q_all, next_online) = if joint {
            let bs = c.batch_size as i64;
            let both = self
                .q
                .forward(&Tensor::cat(&[&b.obs, &b.next_obs], 0), Mode::Train);
            (both.narrow(0, 0, bs), Some(both.narrow(0, bs, bs).detach()))
        } else {
            (self.q.forward(&b.obs, Mode::Train), None)
        };
        let q = q_all
            .gather(1, &b.actions.unsqueeze(1), false)
            .squeeze_dim(1);
        let y = self.td_targets(&b, next_online);
        let elem = match c.loss {
            Loss::Huber => q.huber_loss(&y, Reduction::None, 1.0),
            Loss::Mse => (&q - &y).square(),
        };
        let loss = if self.replay.prioritized() {
            (elem * &b.weights).mean(Kind::Float)
        } else {
            elem.mean(Kind::Float)
        };
        self.opt.step(&loss, c.max_grad_norm);
        self.updates += 1;
        if self.replay.prioritized() {
            let td = tensor_to_vec(&tch::no_grad(|| (&q - &y).abs()));
            self.replay.update_priorities(&b.indices, &td)?;
        }
        if read {
            let l = loss.double_value(&[]);
            Ok(Some((
                l,
                tch::no_grad(|| q.mean(Kind::Float).double_value(&[])),
            )))
        } else {
            Ok(None)
        }
    }

    fn maybe_log(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        if ctx.steps < self.next_log {
            return Ok(());
        }
        while self.next_log <= ctx.steps {
            self.next_log += self.cfg.log_interval;
        }
        let s = std::mem::take(&mut self.sums);
        let n = f64::from(s.n);
        let (loss, q) = if s.n == 0 {
            (f64::NAN, f64::NAN)
        } else {
            (s.loss / n, s.q / n)
        };
        let beta = if self.cfg.prioritized {
            self.beta
        } else {
            f64::NAN
        };
        ctx.log(&[
            loss,
            q,
            self.epsilon,
            beta,
            self.updates as f64,
            self.replay.len() as f64,
        ])
    }
}

impl Actor for Dqn {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        if obs.len() != self.obs_dim {
            bail!(
                "observation of length {}, expected {}",
                obs.len(),
                self.obs_dim
            );
        }
        if let Some(cpu) = &mut self.cpu {
            return Ok(OwnedAction::Discrete(argmax(cpu.forward(obs)?)));
        }
        let x = Tensor::from_slice(obs)
            .view([1, -1])
            .to_device(self.online_vs.device());
        let q = tch::no_grad(|| self.q.forward(&x, Mode::Eval));
        Ok(OwnedAction::Discrete(argmax(&tensor_to_vec(&q))))
    }
}

impl Algorithm for Dqn {
    const NAME: &'static str = "dqn";
    const CONFIG: &'static str = include_str!("../../configs/dqn.toml");
    type Hyper = DqnConfig;

    fn new(setup: &Setup, cfg: DqnConfig) -> Result<Self> {
        Self::validate(&cfg)?;
        let spec = &setup.spec;
        let Space::Discrete { n: n_actions } = spec.action_space else {
            bail!("dqn needs a discrete action space; {} has a continuous one (use ppo, or ddpg/td3/sac)", spec.id);
        };
        let obs_dim = spec.observation_space.flat_dim();
        let opts = QNetOptions {
            hidden: cfg.hidden.clone(),
            activation: cfg.activation,
            dueling: cfg.dueling,
            noisy_sigma0: cfg.noisy.then_some(cfg.noisy_sigma0),
            dropout: cfg.dropout,
        };
        let seed = setup.run.seed;
        let online_vs = nn::VarStore::new(setup.device);
        let q = QNet::new(
            &online_vs.root(),
            obs_dim,
            n_actions as usize,
            &opts,
            seed.wrapping_add(0x5eed_0003),
        );
        let mut target_vs = nn::VarStore::new(setup.device);
        // Its weights are copied from the online network below; its noise is its own.
        let target = QNet::new(
            &target_vs.root(),
            obs_dim,
            n_actions as usize,
            &opts,
            seed.wrapping_add(0x5eed_0005),
        );
        target_vs.freeze();
        let online_flat = flatten_vars(&online_vs);
        let sync = TargetSync::flat(&online_flat, &flatten_vars(&target_vs))?;
        sync.update(1.0);
        let opt = FlatAdam::new(&online_vs, &online_flat, cfg.learning_rate, 1e-8);
        let replay = Replay::new(
            obs_dim,
            ActionShape::Discrete,
            &ReplayOptions {
                capacity: cfg.buffer_size,
                gamma: cfg.gamma,
                n_step: cfg.n_step,
                prioritized_alpha: cfg.prioritized.then_some(cfg.alpha),
                prioritized_eps: cfg.prioritized_eps,
            },
            seed.wrapping_add(0x5eed_0002),
        )?;
        let envs = setup.make_vec_env(cfg.n_envs)?;
        let collector = Collector::new(envs, cfg.n_step, cfg.gamma, ActionShape::Discrete);
        let cpu = (cfg.cpu_acting && !cfg.noisy).then(|| CpuNet::new(&q.export()));
        Ok(Self {
            actions: vec![0; cfg.n_envs],
            epsilon: cfg.exploration_initial_eps,
            beta: cfg.beta,
            next_log: cfg.log_interval,
            cfg,
            online_vs,
            target_vs,
            q,
            target,
            sync,
            opt,
            replay,
            collector,
            n_actions,
            obs_dim,
            rng: rng::seeded(seed.wrapping_add(0x5eed_0001)),
            cpu,
            vec_steps: 0,
            updates: 0,
            sums: MetricSums::default(),
        })
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &[
            "loss",
            "q_mean",
            "epsilon",
            "beta",
            "updates",
            "replay_size",
        ]
    }

    fn train_iter(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        let n_envs = self.cfg.n_envs as u64;
        let target_every = (self.cfg.target_update_interval / n_envs).max(1);
        let start = ctx.steps;
        for _ in 0..self.cfg.train_freq {
            let c = &self.cfg;
            self.epsilon = linear_schedule(
                c.exploration_initial_eps,
                c.exploration_final_eps,
                c.exploration_fraction,
                ctx.progress_remaining(),
            );
            self.choose_actions(ctx.steps)?;
            self.collector
                .step(Actions::Discrete(&self.actions), &mut self.replay)?;
            ctx.record(&self.collector.envs)?;
            self.vec_steps += 1;
            if self.vec_steps % target_every == 0 {
                self.sync.update(self.cfg.tau);
            }
            if ctx.steps >= ctx.total_steps {
                break;
            }
        }
        let c = &self.cfg;
        // A checkpoint of an older picorl resumes with an empty memory: learning waits for
        // `learning_starts` transitions again (otherwise the two conditions coincide).
        let refilled = c
            .batch_size
            .max(c.learning_starts.min(c.buffer_size as u64) as usize);
        if ctx.steps > c.learning_starts && self.replay.len() >= refilled {
            self.beta = c.beta + (1.0 - c.beta) * (1.0 - ctx.progress_remaining());
            let n = if c.gradient_steps < 0 {
                ctx.steps - start
            } else {
                c.gradient_steps as u64
            };
            for k in 0..n {
                let read = self
                    .update(k + 1 == n)
                    .with_context(|| format!("training diverged at step {}", ctx.steps))?;
                if let Some((l, q)) = read {
                    ctx.check_finite("the DQN loss", l)?;
                    self.sums.loss += l;
                    self.sums.q += q;
                    self.sums.n += 1;
                }
            }
            if n > 0 {
                self.refresh_cpu_copy();
            }
        }
        self.maybe_log(ctx)
    }

    fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (prefix, vs) in [("q.", &self.online_vs), ("target.", &self.target_vs)] {
            let mut vars: Vec<_> = vs.variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            named.extend(vars.into_iter().map(|(n, t)| (format!("{prefix}{n}"), t)));
        }
        Tensor::write_safetensors(&named, path)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        let saved = read_checkpoint(path)?;
        load_vars(&self.online_vs, &saved, "q.", path)?;
        if saved.iter().any(|(n, _)| n.starts_with("target.")) {
            load_vars(&self.target_vs, &saved, "target.", path)?;
        } else {
            self.sync.update(1.0);
        }
        self.refresh_cpu_copy();
        Ok(())
    }

    fn export(&self) -> Result<PolicyExport> {
        Ok(self.q.export())
    }

    /// Adam's moments, the replay memory, the environments' journal and n-step windows, the
    /// generators (exploration, replay sampling, the networks' noise and dropout masks) and the
    /// counters: with the weights, the whole learner.
    fn resume_state(&self) -> Result<Vec<(String, Tensor)>> {
        let (m, v, t) = self.opt.snapshot();
        let (rows, prios, replay) = self.replay.snapshot()?;
        let (journal, windows) = self.collector.snapshot();
        let s = DqnResume {
            rng: self.rng.clone(),
            vec_steps: self.vec_steps,
            updates: self.updates,
            next_log: self.next_log,
            sums: self.sums.clone(),
            epsilon: self.epsilon,
            beta: self.beta,
            adam_t: t,
            replay,
            journal,
            windows,
            net_generators: Some([self.q.generators(), self.target.generators()]),
        };
        let json = serde_json::to_vec(&s)?;
        let mut out = vec![
            ("dqn.resume".to_string(), Tensor::from_slice(&json)),
            ("dqn.adam_m".to_string(), m),
            ("dqn.adam_v".to_string(), v),
            ("dqn.replay".to_string(), rows),
        ];
        if let Some(p) = prios {
            out.push(("dqn.replay_priorities".to_string(), p));
        }
        Ok(out)
    }

    fn restore_state(&mut self, saved: &[(String, Tensor)]) -> Result<()> {
        let get = |name: &str| saved.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        let Some(json) = get("dqn.resume") else {
            // A checkpoint of an older picorl: the weights only.
            return Ok(());
        };
        let (Some(m), Some(v), Some(rows)) =
            (get("dqn.adam_m"), get("dqn.adam_v"), get("dqn.replay"))
        else {
            bail!("the checkpoint's DQN state is incomplete");
        };
        let bytes = Vec::<u8>::try_from(json)?;
        let s: DqnResume = serde_json::from_slice(&bytes).context("the checkpoint's DQN state")?;
        self.opt.restore(m, v, s.adam_t)?;
        self.replay
            .restore(rows, get("dqn.replay_priorities"), &s.replay)?;
        self.collector.restore(&s.journal, &s.windows)?;
        self.rng = s.rng;
        self.vec_steps = s.vec_steps;
        self.updates = s.updates;
        self.next_log = s.next_log;
        self.sums = s.sums;
        self.epsilon = s.epsilon;
        self.beta = s.beta;
        if let Some([online, target]) = s.net_generators {
            self.q.set_generators(online);
            self.target.set_generators(target);
        }
        Ok(())
    }
}

/// The part of [`Dqn`]'s resume state that is not a tensor.
#[derive(Debug, Serialize, Deserialize)]
struct DqnResume {
    rng: Pcg32,
    vec_steps: u64,
    updates: u64,
    next_log: u64,
    sums: MetricSums,
    epsilon: f64,
    beta: f64,
    adam_t: i32,
    replay: super::off_policy::ReplayScalars,
    journal: crate::vec_env::Journal,
    windows: super::off_policy::Windows,
    /// The online and target networks' noise and dropout generators (absent from checkpoints
    /// of older picorl versions, which resume with fresh ones).
    #[serde(default)]
    net_generators: Option<[[Pcg32; 2]; 2]>,
}

impl Dqn {
    /// The online Q-values of one observation (mean weights, no dropout), for tests and tools.
    pub fn q_values(&self, obs: &[f32]) -> Vec<f32> {
        let x = Tensor::from_slice(obs)
            .view([1, -1])
            .to_device(self.online_vs.device());
        tensor_to_vec(&tch::no_grad(|| self.q.forward(&x, Mode::Eval)))
    }

    /// Whether greedy actions come from the `picorl-core` copy.
    pub fn acts_on_cpu_copy(&self) -> bool {
        self.cpu.is_some()
    }

    /// Stores one transition in the replay memory (training fills it through its collector;
    /// this is for benchmarks and tools).
    pub fn remember(&mut self, t: &picorl_core::replay::Transition<'_>) -> Result<()> {
        self.replay.push(t)
    }

    /// One gradient step on a minibatch sampled from the replay memory, as a training round
    /// runs `gradient_steps` of them (noise resampling, the Double-DQN target, the loss,
    /// clipping, Adam, the priorities): for benchmarks. Returns `(loss, mean Q)` when `read`.
    pub fn gradient_step(&mut self, read: bool) -> Result<Option<(f64, f64)>> {
        self.update(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::{self, ResolvedConfig, RunOptions, Source};
    use picorl_core::env::Action;
    use picorl_core::replay::Transition;

    pub(crate) fn setup(env: &str, seed: u64) -> Setup {
        let run = RunOptions {
            algo: "dqn".into(),
            env: env.into(),
            env_kwargs: Default::default(),
            seed,
            device: "cpu".into(),
            threads: 1,
            total_steps: 10_000,
            eval_every: 0,
            eval_episodes: 1,
            stop_at_return: None,
            stop_at_hover: None,
            gym_packages: Vec::new(),
        };
        let spec = *crate::envs::make(env, &run.env_kwargs).unwrap().spec();
        Setup {
            run,
            device: tch::Device::Cpu,
            spec,
        }
    }

    fn push(
        d: &mut Dqn,
        obs: [f32; 4],
        a: u32,
        r: f32,
        next: [f32; 4],
        terminated: bool,
        horizon: u32,
    ) {
        let t = Transition {
            obs: &obs,
            action: Action::Discrete(a),
            reward: r,
            next_obs: &next,
            terminated,
            horizon,
        };
        d.replay.push(&t).unwrap();
    }

    fn perturb(vs: &nn::VarStore) {
        tch::no_grad(|| {
            for (_, mut v) in vs.variables() {
                let noise = v.randn_like() * 0.5;
                let _ = v.g_add_(&noise);
            }
        });
    }

    #[test]
    fn td_targets_by_hand_double_and_vanilla() {
        let _turn = crate::train::torch_generator();
        tch::manual_seed(2);
        for double in [true, false] {
            let cfg = DqnConfig {
                double,
                gamma: 0.9,
                hidden: vec![16],
                ..Default::default()
            };
            let mut d = Dqn::new(&setup("CartPole-v1", 0), cfg).unwrap();
            // Online and target differ, so the double and vanilla targets differ.
            perturb(&d.online_vs);
            let s2 = [0.1f32, -0.2, 0.03, 0.4];
            let s3 = [-0.5f32, 0.7, 0.2, -0.1];
            // A 2-step transition (bootstrapped with γ² = 0.81), a terminal one, a truncated one
            // (bootstrapped from its final observation with γ = 0.9).
            push(&mut d, [0.0; 4], 1, 1.9, s2, false, 2);
            push(&mut d, [0.0; 4], 0, 1.0, s3, true, 1);
            push(&mut d, [0.0; 4], 0, 1.0, s3, false, 1);
            let b = d
                .replay
                .gather(vec![0, 1, 2], 1.0, tch::Device::Cpu)
                .unwrap();
            let y = tensor_to_vec(&d.td_targets(&b, None));
            let value = |next: &[f32]| {
                let x = Tensor::from_slice(next).view([1, 4]);
                let qt = tensor_to_vec(&d.target.forward(&x, Mode::Eval));
                let qo = tensor_to_vec(&d.q.forward(&x, Mode::Eval));
                if double {
                    qt[argmax(&qo) as usize]
                } else {
                    qt[0].max(qt[1])
                }
            };
            let expect = [1.9 + 0.81 * value(&s2), 1.0, 1.0 + 0.9 * value(&s3)];
            for k in 0..3 {
                assert!(
                    (y[k] - expect[k]).abs() < 1e-5,
                    "double {double}: {y:?} vs {expect:?}"
                );
            }
        }
    }

    #[test]
    fn joint_and_separate_online_passes_agree() {
        let _turn = crate::train::torch_generator();
        // The joint pass over (obs, next_obs) is only a speed-up: the same targets either way.
        tch::manual_seed(3);
        let mut d = Dqn::new(
            &setup("CartPole-v1", 0),
            DqnConfig {
                hidden: vec![8],
                ..Default::default()
            },
        )
        .unwrap();
        perturb(&d.online_vs);
        for k in 0..8 {
            let o = [k as f32 * 0.1, 0.0, -0.1, 0.2];
            push(
                &mut d,
                o,
                k % 2,
                1.0,
                [0.2, k as f32 * -0.1, 0.0, 0.1],
                false,
                1,
            );
        }
        let b = d
            .replay
            .gather((0..8).collect(), 1.0, tch::Device::Cpu)
            .unwrap();
        let both =
            d.q.forward(&Tensor::cat(&[&b.obs, &b.next_obs], 0), Mode::Act);
        let joint = tensor_to_vec(&d.td_targets(&b, Some(both.narrow(0, 8, 8))));
        let separate = tensor_to_vec(&d.td_targets(&b, None));
        for (a, b) in joint.iter().zip(&separate) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn collector_bootstraps_truncation_and_not_termination() {
        // MountainCar-v0 never reaches the goal pushing nowhere (action 1): truncated at 200.
        let s = setup("MountainCar-v0", 4);
        let mut d = Dqn::new(
            &s,
            DqnConfig {
                hidden: vec![8],
                buffer_size: 1000,
                ..Default::default()
            },
        )
        .unwrap();
        let mut last_obs = vec![];
        for t in 0..201 {
            if t == 199 {
                last_obs = d.collector.obs().to_vec();
            }
            d.collector
                .step(Actions::Discrete(&[1]), &mut d.replay)
                .unwrap();
            if t == 199 {
                assert!(d.collector.envs.truncated()[0] && !d.collector.envs.terminated()[0]);
            }
        }
        let end = d.replay.buffer().get(199).unwrap();
        let next_start = d.replay.buffer().get(200).unwrap();
        assert_eq!(end.obs, &last_obs[..]);
        assert!(!end.terminated, "a truncated step bootstraps");
        // Its next observation is the final one, not the reset observation of the next episode.
        assert_eq!(end.next_obs, d.collector.envs.final_obs());
        assert_ne!(end.next_obs, next_start.obs);
        assert!(
            (end.next_obs[0] - end.obs[0]).abs() < 0.01,
            "the final observation follows the last one"
        );
        let b = d.replay.gather(vec![199], 1.0, tch::Device::Cpu).unwrap();
        assert_eq!(tensor_to_vec(&b.discounts), vec![0.99]);

        // CartPole-v1 pushed left falls within a few dozen steps: terminated, no bootstrap.
        let mut d = Dqn::new(
            &setup("CartPole-v1", 4),
            DqnConfig {
                hidden: vec![8],
                ..Default::default()
            },
        )
        .unwrap();
        let mut t = 0;
        loop {
            d.collector
                .step(Actions::Discrete(&[0]), &mut d.replay)
                .unwrap();
            if d.collector.envs.terminated()[0] {
                break;
            }
            t += 1;
            assert!(t < 100);
        }
        let end = d.replay.buffer().get(t).unwrap();
        assert!(end.terminated);
        assert_eq!(end.next_obs, d.collector.envs.final_obs());
        let b = d.replay.gather(vec![t], 1.0, tch::Device::Cpu).unwrap();
        assert_eq!(tensor_to_vec(&b.discounts), vec![0.0]);
    }

    #[test]
    fn export_and_cpu_copy_match_the_q_network() {
        let _turn = crate::train::torch_generator();
        tch::manual_seed(6);
        let cfg = DqnConfig {
            dueling: true,
            hidden: vec![16, 16],
            ..Default::default()
        };
        let mut d = Dqn::new(&setup("Acrobot-v1", 0), cfg).unwrap();
        perturb(&d.online_vs);
        d.refresh_cpu_copy();
        assert!(d.acts_on_cpu_copy());
        let obs = [0.9f32, 0.1, -0.3, 0.95, 1.5, -2.0];
        let q = d.q_values(&obs);
        let mut cpu = CpuNet::new(&d.export().unwrap());
        let c = cpu.forward(&obs).unwrap().to_vec();
        for k in 0..3 {
            assert!((q[k] - c[k]).abs() < 1e-5, "{q:?} vs {c:?}");
        }
        assert_eq!(d.act(&obs).unwrap(), OwnedAction::Discrete(argmax(&q)));
        assert!(d.act(&obs[..5]).is_err());
    }

    #[test]
    fn continuous_action_spaces_are_refused() {
        let e = Dqn::new(&setup("Pendulum-v1", 0), DqnConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("discrete"), "{e}");
        let e = Dqn::new(
            &setup("CartPole-v1", 0),
            DqnConfig {
                n_step: 0,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("n_step"), "{e}");
    }

    /// A fresh directory under the system's temporary folder.
    fn temp_dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("picorl-dqn-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// The resolved config of the built-in `[env]` section with `sets` applied, as the CLI does.
    fn resolved(
        env: &str,
        seed: u64,
        sets: &[&str],
        total: u64,
        stop: Option<f64>,
    ) -> ResolvedConfig {
        let src = Source::BuiltIn("dqn.toml".into());
        let mut section = config::section::<DqnConfig>(Dqn::CONFIG, &src, env).unwrap();
        for s in sets {
            config::apply_set::<DqnConfig>(&mut section, s).unwrap();
        }
        let (_, hyper, _) = config::resolve::<DqnConfig>(section, &src).unwrap();
        let mut run = setup(env, seed).run;
        run.total_steps = total;
        run.eval_every = 5000;
        run.eval_episodes = 20;
        run.stop_at_return = stop;
        ResolvedConfig { run, hyper }
    }

    /// The seeded end-to-end check: the shipped CartPole-v1 config solves it (mean return ≥ 475
    /// over 20 evaluation episodes) within its 50,000-step budget. Seeds 0-9 solved within
    /// 15k-30k steps (3.5k-7.3k updates, 2-5 s of CPU on the 2-core development machine); the
    /// test's budget allows the whole 50k. `picorl eval` of the run directory then reproduces the
    /// final evaluation.
    #[test]
    fn solves_cartpole() {
        let dir = temp_dir("solve");
        let cfg = resolved("CartPole-v1", 1, &[], 50_000, Some(475.0));
        let out = crate::train::run::<Dqn>(&cfg, &dir, false, true).unwrap();
        let s = &out.summary;
        assert!(s["solved_at_step"].as_u64().is_some(), "not solved: {s}");
        assert!(s["final_eval_mean"].as_f64().unwrap() >= 475.0, "{s}");
        // `picorl eval RUN_DIR` on the same seeds gives the same returns.
        let (mut agent, setup) = crate::cli::load_run::<Dqn>(
            &dir,
            &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
        )
        .unwrap();
        let mut env = setup.make_env().unwrap();
        let res = crate::eval::evaluate(env.as_mut(), &mut agent, 10_000, 20).unwrap();
        assert_eq!(res.mean(), s["final_eval_mean"].as_f64().unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Same seed, same run: metrics.csv (the wall clock is in timing.csv) and the episodes repeat
    /// byte for byte.
    #[test]
    fn same_seed_same_run() {
        let read = |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap();
        let mut outs = vec![];
        for k in 0..2 {
            let dir = temp_dir(&format!("same{k}"));
            let cfg = resolved(
                "CartPole-v1",
                3,
                &["prioritized=true", "dueling=true", "log_interval=500"],
                6000,
                None,
            );
            crate::train::run::<Dqn>(&cfg, &dir, false, true).unwrap();
            outs.push((
                read(dir.join("metrics.csv")),
                std::fs::read_to_string(dir.join("episodes.csv")).unwrap(),
            ));
            let _ = std::fs::remove_dir_all(&dir);
        }
        assert!(outs[0].0.lines().count() > 10);
        assert_eq!(outs[0], outs[1]);
    }

    /// Every option trains (finite losses, a checkpoint that loads back into the same Q-values).
    #[test]
    fn every_option_trains_and_round_trips() {
        let variants: &[&[&str]] = &[
            &[
                "double=false",
                "loss=\"mse\"",
                "tau=0.05",
                "target_update_interval=1",
            ],
            &["dueling=true", "prioritized=true", "n_step=4"],
            &[
                "noisy=true",
                "exploration_initial_eps=0.0",
                "exploration_final_eps=0.0",
                "dropout=0.1",
            ],
            &[
                "n_envs=3",
                "gradient_steps=-1",
                "train_freq=4",
                "cpu_acting=false",
            ],
        ];
        for (k, sets) in variants.iter().enumerate() {
            let dir = temp_dir(&format!("opt{k}"));
            let cfg = resolved("CartPole-v1", 5, sets, 3000, None);
            crate::train::run::<Dqn>(&cfg, &dir, false, true).unwrap();
            let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
            let last = metrics
                .lines()
                .last()
                .unwrap()
                .split(',')
                .collect::<Vec<_>>();
            let loss: f64 = last[4].parse().unwrap();
            assert!(loss.is_finite(), "{sets:?}: {metrics}");
            let (a, _) = crate::cli::load_run::<Dqn>(
                &dir,
                &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
            )
            .unwrap();
            let (b, _) = crate::cli::load_run::<Dqn>(
                &dir,
                &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
            )
            .unwrap();
            let obs = [0.01f32, 0.1, -0.02, 0.3];
            assert_eq!(a.q_values(&obs), b.q_values(&obs));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
