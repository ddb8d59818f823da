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
//! [`off_policy`](super)'s, shared with the other off-policy learners.
//!
//! **Backends.** The Q-network ([`QNet`]) is the backends' [`Net`](crate::algo::backend::Net):
//! `picorl_core::learn` (native, the default on the CPU for networks up to
//! [`NATIVE_MAX_WIDTH`](crate::algo::backend::NATIVE_MAX_WIDTH) wide) or libtorch
//! (`--backend torch`, and on CUDA), with one text of the update: the loss is stated by its
//! gradient with respect to the Q-values (the TD loss's slope at the action taken, times the
//! importance weight, over the batch), the dueling heads, noisy layers and dropout by theirs
//! ([`super::q_net`], [`super::noisy`]); gradient clipping by global norm as PyTorch's
//! `clip_grad_norm_`.
//!
//! Acting: with `cpu_acting` (the default), the greedy action comes from a copy of the
//! Q-network's export run through `picorl-core`'s f32 layers ([`CpuNet`]), refreshed after each
//! round of updates (a libtorch forward pass of one observation costs 18-34 µs on the 2-core
//! development machine, the core copy about 1 µs). Noisy networks act through the network itself,
//! with noise drawn afresh at every step.
//!
//! Checkpoints hold the online and the target network (`q.*`, `target.*`: `l0`, `l1`, …, `q`, a
//! dueling network's last layer as `value` and `q`, a noisy layer's as `.mu` and `.sigma`) and,
//! for a bit-exact `--resume`, the rest of the learner (`dqn.*`: Adam's moments, the replay
//! memory, the environments' journal, the n-step windows, the generators and counters), noisy
//! layers' and dropout's generators included, all declared once in its list of parts
//! ([`crate::algo::state`]). A resumed run ends with the same metrics as an uninterrupted one
//! (`host/tests/crash_resume.rs`), on either backend.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use picorl_core::env::Space;
use picorl_core::replay::ActionShape;
use picorl_core::rng::{self, Pcg32};
use serde::{Deserialize, Serialize};

use super::options::OffPolicyOptions;
use super::q_net::{Mode, QNet, QNetOptions};
use crate::algo::backend::{AdamConfig, Backend};
use crate::algo::cpu_net::CpuNet;
use crate::algo::off_policy::driver::Collection;
use crate::algo::on_policy::actor_critic::argmax;
use crate::algo::schedule::linear_schedule;
use crate::algo::state;
use crate::envs::eval::{Actor, OwnedAction};
use crate::envs::vec_env::Actions;
use crate::export::Activation;
use crate::export::PolicyExport;
use crate::train::{Algorithm, Setup, TrainCtx};

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
#[serde(default)]
pub struct DqnConfig {
    /// Collection, replay and the update's common terms (their keys are top-level keys).
    #[serde(flatten)]
    pub off: OffPolicyOptions,
    /// Environment steps between target-network updates.
    pub target_update_interval: u64,
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
    /// Dropout after each hidden activation while learning (0: none).
    pub dropout: f64,
    /// Act through a `picorl-core` copy of the network's export instead of the network itself
    /// (ignored with `noisy`).
    pub cpu_acting: bool,
}

impl Default for DqnConfig {
    fn default() -> Self {
        Self {
            off: OffPolicyOptions {
                batch_size: 32,
                learning_rate: 1e-4,
                train_freq: 4,
                tau: 1.0,
                ..OffPolicyOptions::default()
            },
            target_update_interval: 10_000,
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
            dropout: 0.0,
            cpu_acting: true,
        }
    }
}

/// A DQN learner.
#[derive(Debug)]
pub struct Dqn {
    cfg: DqnConfig,
    backend: Backend,
    q: QNet,
    target: QNet,
    /// The environments, replay and exploration generator (the off-policy driver's).
    col: Collection,
    n_actions: u32,
    obs_dim: usize,
    cpu: Option<CpuNet>,
    vec_steps: u64,
    updates: u64,
    epsilon: f64,
    beta: f64,
    actions: Vec<u32>,
    // Reused rows of one update.
    batch: Rows,
    y: Vec<f32>,
    d_q: Vec<f32>,
    td: Vec<f32>,
}

/// A minibatch copied out of the replay.
#[derive(Debug, Default)]
struct Rows {
    obs: Vec<f32>,
    actions: Vec<usize>,
    rewards: Vec<f32>,
    next_obs: Vec<f32>,
    discounts: Vec<f32>,
    weights: Vec<f32>,
    indices: Vec<usize>,
}

/// Fails unless `ok`, naming the key.
fn check(ok: bool, what: &str) -> Result<()> {
    ensure!(ok, "dqn: {what}");
    Ok(())
}

/// The TD loss of one error `e = Q − y` and its derivative with respect to `Q`: Huber
/// (δ = 1: `e²/2` within ±1, `|e| − 1/2` outside, slope `clip(e, −1, 1)`) or squared (`e²`,
/// slope `2e`).
fn td_loss(loss: Loss, e: f32) -> (f32, f32) {
    match loss {
        Loss::Huber => {
            if e.abs() < 1.0 {
                (0.5 * e * e, e)
            } else {
                (e.abs() - 0.5, e.signum())
            }
        }
        Loss::Mse => (e * e, 2.0 * e),
    }
}

/// The loss `mean_b w_b ℓ(Q(s_b, a_b) − y_b)` of Q-values `q_all` (`B × n`) at `actions`, and
/// its gradient with respect to `q_all` into `d_q` (`w_b ℓ'(e_b) / B` at the action taken, 0
/// elsewhere), the `|e_b|` into `td`; returns the loss and the mean `Q(s_b, a_b)`.
#[allow(clippy::too_many_arguments)]
fn loss_grad(
    loss: Loss,
    q_all: &[f32],
    n: usize,
    actions: &[usize],
    y: &[f32],
    weights: &[f32],
    d_q: &mut Vec<f32>,
    td: &mut Vec<f32>,
) -> (f64, f64) {
    let rows = y.len();
    d_q.clear();
    d_q.resize(rows * n, 0.0);
    td.clear();
    let (mut total, mut q_sum) = (0.0f64, 0.0f64);
    let inv_b = 1.0 / rows as f32;
    for r in 0..rows {
        let a = actions[r];
        let q = q_all[r * n + a];
        let e = q - y[r];
        let (l, slope) = td_loss(loss, e);
        let w = weights[r];
        total += f64::from(w * l);
        q_sum += f64::from(q);
        d_q[r * n + a] = w * slope * inv_b;
        td.push(e.abs());
    }
    (total / rows as f64, q_sum / rows as f64)
}

impl Dqn {
    fn validate(c: &DqnConfig) -> Result<()> {
        c.off.check("dqn")?;
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
        check((0.0..1.0).contains(&c.dropout), "dropout must be in [0, 1)")?;
        Ok(())
    }

    /// Where the networks compute.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn refresh_cpu_copy(&mut self) {
        if let Some(cpu) = &mut self.cpu {
            cpu.refresh(&self.q.export());
        }
    }

    /// Greedy actions for every environment copy into `self.actions`.
    fn greedy_into_actions(&mut self) -> Result<()> {
        let d = self.obs_dim;
        let obs = self.col.collector.obs();
        if let Some(cpu) = &mut self.cpu {
            for (i, a) in self.actions.iter_mut().enumerate() {
                *a = argmax(cpu.forward(&obs[i * d..(i + 1) * d])?);
            }
        } else {
            if self.cfg.noisy {
                self.q.reset_noise();
            }
            let n = self.n_actions as usize;
            let v = self.q.forward(obs, self.actions.len(), Mode::Act)?;
            for (i, a) in self.actions.iter_mut().enumerate() {
                *a = argmax(&v[i * n..(i + 1) * n]);
            }
        }
        Ok(())
    }

    /// Chooses the actions of one step: random before `learning_starts`, ε-greedy after.
    fn choose_actions(&mut self, steps: u64) -> Result<()> {
        let random_all = !self.col.learning(steps);
        if !random_all {
            self.greedy_into_actions()?;
        }
        for a in self.actions.iter_mut() {
            if random_all || rng::unit_f64(&mut self.col.rng) < self.epsilon {
                *a = rng::below(&mut self.col.rng, self.n_actions);
            }
        }
        Ok(())
    }

    /// Copies a minibatch out of the replay into `self.batch`: `indices`, or a sample.
    fn take_batch(&mut self, indices: Option<Vec<usize>>) -> Result<()> {
        let c = &self.cfg;
        let b = match indices {
            Some(i) => self.col.replay.gather_discrete_rows(i, self.beta)?,
            None => self
                .col
                .replay
                .sample_discrete_rows(c.off.batch_size, self.beta)?,
        };
        let r = &mut self.batch;
        let n = self.n_actions as usize;
        r.obs.clear();
        r.obs.extend_from_slice(b.obs);
        r.next_obs.clear();
        r.next_obs.extend_from_slice(b.next_obs);
        r.rewards.clear();
        r.rewards.extend_from_slice(b.rewards);
        r.discounts.clear();
        r.discounts.extend_from_slice(b.discounts);
        r.weights.clear();
        r.weights.extend_from_slice(b.weights);
        r.actions.clear();
        for &a in b.actions {
            let a = usize::try_from(a).ok().filter(|&a| a < n);
            r.actions
                .push(a.context("internal: a stored action out of range")?);
        }
        r.indices = b.indices;
        Ok(())
    }

    /// The TD targets of `self.batch` into `self.y`: `r + γ^k (1 - terminated) Q_target(s', a*)`
    /// with `a* = argmax_a Q_online(s', a)` (double) or `argmax_a Q_target(s', a)` (vanilla).
    /// `r`, `γ^k` and `terminated` come from the replay's n-step transitions.
    fn td_targets(&mut self) -> Result<()> {
        let b = &self.batch;
        let rows = b.rewards.len();
        let n = self.n_actions as usize;
        self.y.clear();
        let next_t = self.target.forward(&b.next_obs, rows, Mode::Act)?;
        if self.cfg.double {
            let next_o = self.q.forward(&b.next_obs, rows, Mode::Act)?;
            for r in 0..rows {
                let a = argmax(&next_o[r * n..(r + 1) * n]) as usize;
                self.y
                    .push(b.rewards[r] + b.discounts[r] * next_t[r * n + a]);
            }
        } else {
            for r in 0..rows {
                let best = next_t[r * n..(r + 1) * n]
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                self.y.push(b.rewards[r] + b.discounts[r] * best);
            }
        }
        Ok(())
    }

    /// One gradient step; returns `(loss, mean Q)` when `read`.
    fn update(&mut self, read: bool) -> Result<Option<(f64, f64)>> {
        if self.cfg.noisy {
            self.q.reset_noise();
            self.target.reset_noise();
        }
        self.take_batch(None)?;
        self.update_on_batch(read)
    }

    /// [`Dqn::update`] on `self.batch`: the loss `mean_b w_b ℓ(Q(s_b, a_b) − y_b)` (`w` the
    /// importance weights, 1 for uniform replay) is stated by its gradient with respect to the
    /// Q-values, `w_b ℓ'(e_b) / B` at the action taken and 0 elsewhere; then the clipping, Adam
    /// and the priorities `|e|`.
    fn update_on_batch(&mut self, read: bool) -> Result<Option<(f64, f64)>> {
        self.td_targets()?;
        let c = &self.cfg;
        let rows = self.batch.rewards.len();
        let n = self.n_actions as usize;
        let q_all = self.q.forward(&self.batch.obs, rows, Mode::Train)?;
        let b = &self.batch;
        let (loss, q_mean) = loss_grad(
            c.loss,
            q_all,
            n,
            &b.actions,
            &self.y,
            &b.weights,
            &mut self.d_q,
            &mut self.td,
        );
        ensure!(loss.is_finite(), "the TD loss is {loss}");
        self.q.backward(&self.d_q)?;
        self.q.step(c.max_grad_norm)?;
        self.updates += 1;
        if self.col.replay.prioritized() {
            self.col
                .replay
                .update_priorities(&self.batch.indices, &self.td)?;
        }
        Ok(read.then_some((loss, q_mean)))
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
        let q = self.q.forward(obs, 1, Mode::Eval)?;
        Ok(OwnedAction::Discrete(argmax(q)))
    }
}

impl Algorithm for Dqn {
    const NAME: &'static str = "dqn";
    const CONFIG: &'static str = include_str!("../../../configs/dqn.toml");
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
        let backend = Backend::choose(
            setup.run.backend,
            setup.device,
            &opts.dims(obs_dim, n_actions as usize),
            "dqn",
        )?;
        let seed = setup.run.seed;
        // Initial weights: PyTorch's `Linear` default drawn from the run's seed.
        let mut init = rng::seeded(seed.wrapping_add(0x5eed_0003));
        let q = QNet::new(
            backend,
            obs_dim,
            n_actions as usize,
            &opts,
            Some(AdamConfig::pytorch(cfg.off.learning_rate)),
            &mut init,
            seed.wrapping_add(0x5eed_0003),
        )?;
        // The target starts as a copy; its noise is its own.
        let target = q.target_copy(seed.wrapping_add(0x5eed_0005))?;
        // Updates wait for a minibatch's worth of transitions, and for `learning_starts` of them.
        let min_replay = cfg
            .off
            .batch_size
            .max(cfg.off.learning_starts.min(cfg.off.buffer_size as u64) as usize);
        let col = Collection::new(
            setup,
            "dqn",
            &cfg.off.collection(
                min_replay,
                cfg.prioritized.then_some((cfg.alpha, cfg.prioritized_eps)),
            ),
            ActionShape::Discrete,
        )?;
        let cpu = (cfg.cpu_acting && !cfg.noisy).then(|| CpuNet::new(&q.export()));
        Ok(Self {
            actions: vec![0; cfg.off.n_envs],
            epsilon: cfg.exploration_initial_eps,
            beta: cfg.beta,
            cfg,
            backend,
            q,
            target,
            col,
            n_actions,
            obs_dim,
            cpu,
            vec_steps: 0,
            updates: 0,
            batch: Rows::default(),
            y: Vec::new(),
            d_q: Vec::new(),
            td: Vec::new(),
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
        let target_every = (self.cfg.target_update_interval / self.cfg.off.n_envs as u64).max(1);
        let n = Collection::round(
            self,
            ctx,
            |q| &mut q.col,
            |q, ctx| {
                let c = &q.cfg;
                q.epsilon = linear_schedule(
                    c.exploration_initial_eps,
                    c.exploration_final_eps,
                    c.exploration_fraction,
                    ctx.progress_remaining(),
                );
                q.choose_actions(ctx.steps)?;
                q.col.step(Actions::Discrete(&q.actions), ctx)?;
                // The target network follows every `target_update_interval` environment steps
                // during collection, as SB3's `_on_step` does.
                q.vec_steps += 1;
                if q.vec_steps % target_every == 0 {
                    q.target.polyak_from(&q.q, q.cfg.off.tau)?;
                }
                Ok(())
            },
        )?;
        if n > 0 {
            let c = &self.cfg;
            self.beta = c.beta + (1.0 - c.beta) * (1.0 - ctx.progress_remaining());
            for k in 0..n {
                let read = self
                    .update(k + 1 == n)
                    .with_context(|| format!("training diverged at step {}", ctx.steps))?;
                if let Some((l, q)) = read {
                    ctx.log_mean("loss", l)?;
                    ctx.log_mean("q_mean", q)?;
                }
            }
            self.refresh_cpu_copy();
        }
        ctx.log_value("epsilon", self.epsilon)?;
        if self.cfg.prioritized {
            ctx.log_value("beta", self.beta)?;
        }
        ctx.log_value("updates", self.updates as f64)?;
        ctx.log_value("replay_size", self.col.replay.len() as f64)
    }

    fn save(&self, path: &Path) -> Result<()> {
        state::save_weights(self, path)
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        state::load_weights(self, path)?;
        self.refresh_cpu_copy();
        Ok(())
    }

    fn export(&self) -> Result<PolicyExport> {
        Ok(self.q.export())
    }

    crate::resume_in_parts!();
}

// The whole learner: the weights file holds both networks (`q.*`, `target.*`); a bit-exact
// `--resume` adds Adam's moments, the replay memory, the environments' journal and n-step
// windows, the generators (exploration, replay sampling, the networks' noise and dropout masks)
// and the counters.
crate::learner_state! {
    for Dqn, named "dqn";
    weights "q." => q,
    weights "target." => target,
    part "" => q,
    part "" => col,
    json "vec_steps" => vec_steps,
    json "updates" => updates,
    json "epsilon" => epsilon,
    json "beta" => beta,
    with "net_generators" => |d| [d.q.generators(), d.target.generators()],
        |d, generators: [[Pcg32; 2]; 2]| {
            let [online, target] = generators;
            d.q.set_generators(online);
            d.target.set_generators(target);
            Ok(())
        },
}

impl Dqn {
    /// The online Q-values of one observation (mean weights, no dropout), for tests and tools.
    pub fn q_values(&mut self, obs: &[f32]) -> Result<Vec<f32>> {
        Ok(self.q.forward(obs, 1, Mode::Eval)?.to_vec())
    }

    /// Whether greedy actions come from the `picorl-core` copy.
    pub fn acts_on_cpu_copy(&self) -> bool {
        self.cpu.is_some()
    }

    /// Stores one transition in the replay memory (training fills it through its collector;
    /// this is for benchmarks and tools).
    pub fn remember(&mut self, t: &picorl_core::replay::Transition<'_>) -> Result<()> {
        self.col.replay.push(t)
    }

    /// One gradient step on a minibatch sampled from the replay memory, as a training round
    /// runs `gradient_steps` of them (noise resampling, the Double-DQN target, the loss,
    /// clipping, Adam, the priorities): for benchmarks. Returns `(loss, mean Q)` when `read`.
    pub fn gradient_step(&mut self, read: bool) -> Result<Option<(f64, f64)>> {
        self.update(read)
    }
}

#[cfg(test)]
mod tests;
