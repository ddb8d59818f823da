//! Replay for every off-policy learner (DQN, DDPG, TD3, SAC): collecting transitions from a
//! [`VecEnv`] into replay, n-step returns, uniform or prioritized sampling into tensors.
//!
//! - **Storage** is `picorl-core`'s [`ReplayBuffer`] and [`SumTree`] over `Vec<f32>`: the same code
//!   a controller runs over a `static` array.
//! - **Truncation** (Gymnasium's docs, SB3's `handle_timeout_termination`): when an episode ends,
//!   the stored `next_obs` is its *final* observation ([`VecEnv::final_obs`], not the first
//!   observation of the next episode), and `terminated` is set only for a terminal state. A
//!   truncated episode is therefore bootstrapped from its final observation; a terminated one
//!   never is. A step that both terminates and reaches the time limit counts as terminated.
//! - **n-step returns** ([`NStep`]): `R = Σ_{i<k} γ^i r_{t+i}`, stored with `horizon = k` and the
//!   observation `k` steps later, `k = n` or fewer when the episode ends first; the learner's
//!   target is `R + γ^k (1 - terminated) max Q(s_{t+k})`, which [`Batch::discounts`] carries.
//! - **Prioritized replay** (Schaul et al. 2016): new transitions get the largest priority seen
//!   so far; sampling is proportional to `p^α` (stratified over the total); importance weights
//!   `(p_i / p_min)^-β` (normalized by the largest weight); priorities `|δ| + ε` from TD errors.
//! - **Target networks** ([`Net::polyak_from`](crate::algo::backend::Net::polyak_from)): Polyak
//!   averaging `θ' ← τ θ + (1 - τ) θ'`; `τ = 1` is a hard copy.
//! - **Acting** ([`CpuNet`](crate::algo::cpu_net::CpuNet)): a copy of a network's export run
//!   through `picorl-core`'s f32 dense layers, refreshed after each round of updates, which costs
//!   a few microseconds per step where a libtorch forward pass costs tens (measured in
//!   `dqn.rs`'s notes).

use std::collections::VecDeque;

use anyhow::{anyhow, bail, Result};
use picorl_core::env::Action;
use picorl_core::replay::{importance_weight, ActionShape, ReplayBuffer, SumTree, Transition};
use picorl_core::rng::{self, Pcg32};
use tch::{Device, Tensor};

use crate::envs::vec_env::{Actions, VecEnv};

/// Replay options shared by the off-policy learners.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    /// Transitions kept.
    pub capacity: usize,
    /// Discount factor (for the n-step returns and [`Batch::discounts`]).
    pub gamma: f64,
    /// Steps summed into each stored return (1: one-step).
    pub n_step: usize,
    /// Prioritized replay with this α (`None`: uniform).
    pub prioritized_alpha: Option<f64>,
    /// Added to `|δ|` so no transition's priority is zero.
    pub prioritized_eps: f64,
}

/// A sampled minibatch as tensors on the learner's device.
#[derive(Debug)]
pub struct Batch {
    /// Observations `[B, obs_dim]`.
    pub obs: Tensor,
    /// Actions: int64 `[B]` (discrete) or float `[B, action_dim]`.
    pub actions: Tensor,
    /// (n-step) returns `[B]`.
    pub rewards: Tensor,
    /// Observations `horizon` steps later `[B, obs_dim]`.
    pub next_obs: Tensor,
    /// `γ^horizon · (1 - terminated)` `[B]`: the factor of the bootstrapped value.
    pub discounts: Tensor,
    /// Importance weights `[B]` (all 1 for uniform replay).
    pub weights: Tensor,
    /// The slots sampled, for [`Replay::update_priorities`].
    pub indices: Vec<usize>,
}

/// A sampled batch as host rows (continuous actions), borrowed from the replay's buffers.
#[derive(Debug)]
pub struct HostBatch<'a> {
    /// Observations, `B × obs_dim`.
    pub obs: &'a [f32],
    /// Actions in the environment's units, `B × act_dim`.
    pub actions: &'a [f32],
    /// Summed rewards.
    pub rewards: &'a [f32],
    /// Next observations.
    pub next_obs: &'a [f32],
    /// `γ^k`, or 0 for terminal transitions.
    pub discounts: &'a [f32],
}

/// A sampled batch of discrete-action transitions as host rows, borrowed from the replay's
/// buffers, with the importance weights and the slots (DQN's batch on either backend).
#[derive(Debug)]
pub struct DiscreteRows<'a> {
    /// Observations, `B × obs_dim`.
    pub obs: &'a [f32],
    /// The actions taken.
    pub actions: &'a [i64],
    /// (n-step) returns.
    pub rewards: &'a [f32],
    /// Observations `horizon` steps later.
    pub next_obs: &'a [f32],
    /// `γ^horizon · (1 - terminated)`.
    pub discounts: &'a [f32],
    /// Importance weights (all 1 for uniform replay).
    pub weights: &'a [f32],
    /// The slots sampled, for [`Replay::update_priorities`].
    pub indices: Vec<usize>,
}

/// A replay memory on `picorl-core`'s storage: uniform or prioritized.
#[derive(Debug)]
pub struct Replay {
    buf: ReplayBuffer<Vec<f32>>,
    tree: Option<SumTree<Vec<f32>>>,
    alpha: f64,
    eps: f64,
    max_priority: f64,
    gamma: f64,
    rng: Pcg32,
    // Reused gather buffers.
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    act_f: Vec<f32>,
    act_i: Vec<i64>,
    rewards: Vec<f32>,
    discounts: Vec<f32>,
    weights: Vec<f32>,
}

impl Replay {
    /// An empty memory for observations of `obs_dim` values and actions of `shape`; sampling draws
    /// from a generator seeded with `seed`.
    pub fn new(
        obs_dim: usize,
        shape: ActionShape,
        opts: &ReplayOptions,
        seed: u64,
    ) -> Result<Self> {
        if opts.capacity == 0 {
            bail!("buffer_size must be positive");
        }
        let len = picorl_core::replay::buffer_storage_len(opts.capacity, obs_dim, shape)
            .ok_or_else(|| anyhow!("buffer_size {} is too large", opts.capacity))?;
        let buf = ReplayBuffer::new(vec![0.0; len], obs_dim, shape)
            .map_err(|e| anyhow!("replay buffer: {e}"))?;
        let tree = match opts.prioritized_alpha {
            None => None,
            Some(_) => {
                let n = picorl_core::replay::tree_storage_len(opts.capacity)
                    .ok_or_else(|| anyhow!("buffer_size {} is too large", opts.capacity))?;
                Some(
                    SumTree::new(vec![0.0; n], opts.capacity)
                        .map_err(|e| anyhow!("sum-tree: {e}"))?,
                )
            }
        };
        Ok(Self {
            buf,
            tree,
            alpha: opts.prioritized_alpha.unwrap_or(0.0),
            eps: opts.prioritized_eps,
            max_priority: 1.0,
            gamma: opts.gamma,
            rng: rng::seeded(seed),
            obs: Vec::new(),
            next_obs: Vec::new(),
            act_f: Vec::new(),
            act_i: Vec::new(),
            rewards: Vec::new(),
            discounts: Vec::new(),
            weights: Vec::new(),
        })
    }

    /// Transitions stored.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Nothing stored yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Whether sampling is prioritized.
    pub fn prioritized(&self) -> bool {
        self.tree.is_some()
    }

    /// The underlying storage (for tests and inspection).
    pub fn buffer(&self) -> &ReplayBuffer<Vec<f32>> {
        &self.buf
    }

    /// Stores a transition (with the largest priority so far, when prioritized).
    pub fn push(&mut self, t: &Transition<'_>) -> Result<()> {
        let slot = self.buf.push(t).map_err(|e| anyhow!("replay: {e}"))?;
        if let Some(tree) = &mut self.tree {
            tree.set(slot, self.max_priority.powf(self.alpha) as f32)
                .map_err(|e| anyhow!("sum-tree: {e}"))?;
        }
        Ok(())
    }

    /// Samples `batch_size` transitions (uniformly, or in proportion to their priority with
    /// importance-weight exponent `beta`) as tensors on `device`.
    pub fn sample(&mut self, batch_size: usize, beta: f64, device: Device) -> Result<Batch> {
        let mut indices = vec![0usize; batch_size];
        match &self.tree {
            None => self.buf.sample_uniform(&mut self.rng, &mut indices),
            Some(tree) => tree.sample_stratified(&mut self.rng, &mut indices),
        }
        .map_err(|e| anyhow!("sampling replay: {e}"))?;
        self.gather(indices, beta, device)
    }

    /// Samples `batch_size` transitions uniformly into host rows (the native backend's batch;
    /// prioritized replay goes through [`Replay::sample`]).
    pub fn sample_rows(&mut self, batch_size: usize) -> Result<HostBatch<'_>> {
        let mut indices = vec![0usize; batch_size];
        self.buf
            .sample_uniform(&mut self.rng, &mut indices)
            .map_err(|e| anyhow!("sampling replay: {e}"))?;
        self.fill(&indices, 1.0)?;
        Ok(HostBatch {
            obs: &self.obs,
            actions: &self.act_f,
            rewards: &self.rewards,
            next_obs: &self.next_obs,
            discounts: &self.discounts,
        })
    }

    /// Samples as [`Replay::sample`] does (the same draws), into host rows of discrete actions.
    pub fn sample_discrete_rows(
        &mut self,
        batch_size: usize,
        beta: f64,
    ) -> Result<DiscreteRows<'_>> {
        let mut indices = vec![0usize; batch_size];
        match &self.tree {
            None => self.buf.sample_uniform(&mut self.rng, &mut indices),
            Some(tree) => tree.sample_stratified(&mut self.rng, &mut indices),
        }
        .map_err(|e| anyhow!("sampling replay: {e}"))?;
        self.gather_discrete_rows(indices, beta)
    }

    /// The transitions in `indices` as host rows of discrete actions (their importance weights
    /// with `beta` when prioritized).
    pub fn gather_discrete_rows(
        &mut self,
        indices: Vec<usize>,
        beta: f64,
    ) -> Result<DiscreteRows<'_>> {
        if self.buf.action_shape() != ActionShape::Discrete {
            bail!("internal: discrete rows of a continuous-action replay");
        }
        self.fill(&indices, beta)?;
        Ok(DiscreteRows {
            obs: &self.obs,
            actions: &self.act_i,
            rewards: &self.rewards,
            next_obs: &self.next_obs,
            discounts: &self.discounts,
            weights: &self.weights,
            indices,
        })
    }

    /// The batch of the transitions in `indices` (their importance weights with `beta` when
    /// prioritized).
    pub fn gather(&mut self, indices: Vec<usize>, beta: f64, device: Device) -> Result<Batch> {
        let b = indices.len();
        let d = self.buf.obs_dim();
        let shape = self.buf.action_shape();
        self.fill(&indices, beta)?;
        let t = |v: &[f32]| Tensor::from_slice(v).to_device(device);
        let actions = match shape {
            ActionShape::Discrete => Tensor::from_slice(&self.act_i).to_device(device),
            ActionShape::Continuous(a) => t(&self.act_f).view([b as i64, a as i64]),
        };
        Ok(Batch {
            obs: t(&self.obs).view([b as i64, d as i64]),
            actions,
            rewards: t(&self.rewards),
            next_obs: t(&self.next_obs).view([b as i64, d as i64]),
            discounts: t(&self.discounts),
            weights: t(&self.weights),
            indices,
        })
    }

    /// Gathers the transitions in `indices` into the reused row buffers.
    fn fill(&mut self, indices: &[usize], beta: f64) -> Result<()> {
        self.obs.clear();
        self.next_obs.clear();
        self.act_f.clear();
        self.act_i.clear();
        self.rewards.clear();
        self.discounts.clear();
        self.weights.clear();
        let min_p = self.tree.as_ref().and_then(SumTree::min).unwrap_or(0.0);
        for &i in indices {
            let s = self.buf.get(i).map_err(|e| anyhow!("replay: {e}"))?;
            self.obs.extend_from_slice(s.obs);
            self.next_obs.extend_from_slice(s.next_obs);
            match s.action {
                Action::Discrete(a) => self.act_i.push(i64::from(a)),
                Action::Continuous(a) => self.act_f.extend_from_slice(a),
            }
            self.rewards.push(s.reward);
            let disc = if s.terminated {
                0.0
            } else {
                self.gamma.powi(s.horizon as i32)
            };
            self.discounts.push(disc as f32);
            let w = match &self.tree {
                None => 1.0,
                Some(tree) => importance_weight(
                    tree.get(i).map_err(|e| anyhow!("sum-tree: {e}"))?,
                    min_p,
                    beta as f32,
                ),
            };
            self.weights.push(w);
        }
        Ok(())
    }

    /// Sets the priorities of `indices` from their absolute TD errors: `(|δ| + ε)^α`.
    /// Does nothing for uniform replay.
    pub fn update_priorities(&mut self, indices: &[usize], td_abs: &[f32]) -> Result<()> {
        let Some(tree) = &mut self.tree else {
            return Ok(());
        };
        if indices.len() != td_abs.len() {
            bail!(
                "internal: {} priorities for {} indices",
                td_abs.len(),
                indices.len()
            );
        }
        for (&i, &d) in indices.iter().zip(td_abs) {
            let p = f64::from(d).abs() + self.eps;
            if !p.is_finite() {
                bail!("a TD error of {d} (the loss diverged)");
            }
            self.max_priority = self.max_priority.max(p);
            tree.set(i, p.powf(self.alpha) as f32)
                .map_err(|e| anyhow!("sum-tree: {e}"))?;
        }
        Ok(())
    }
}

/// One pending step of an [`NStep`] window.
#[derive(Debug, Clone)]
struct Pending {
    obs: Vec<f32>,
    action: Vec<f32>,
    reward: f64,
}

/// n-step return accumulators, one window per environment copy.
#[derive(Debug)]
pub struct NStep {
    n: usize,
    gamma: f64,
    shape: ActionShape,
    windows: Vec<VecDeque<Pending>>,
}

impl NStep {
    /// Windows of `n` steps (at least 1) for `n_envs` copies.
    pub fn new(n_envs: usize, n: usize, gamma: f64, shape: ActionShape) -> Self {
        Self {
            n: n.max(1),
            gamma,
            shape,
            windows: (0..n_envs).map(|_| VecDeque::new()).collect(),
        }
    }

    /// Adds copy `env`'s step `(obs, action, reward) → next_obs` and stores every transition it
    /// completes into `replay`. `next_obs` is the final observation when the episode ended
    /// (`done`); `terminated` marks a terminal state.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        env: usize,
        obs: &[f32],
        action: Action<'_>,
        reward: f64,
        next_obs: &[f32],
        terminated: bool,
        done: bool,
        replay: &mut Replay,
    ) -> Result<()> {
        if self.n == 1 {
            let t = Transition {
                obs,
                action,
                reward: reward as f32,
                next_obs,
                terminated,
                horizon: 1,
            };
            return replay.push(&t);
        }
        let Some(window) = self.windows.get_mut(env) else {
            bail!("internal: n-step window {env} of {}", self.windows.len())
        };
        let action = match action {
            Action::Discrete(a) => vec![a as f32],
            Action::Continuous(a) => a.to_vec(),
        };
        window.push_back(Pending {
            obs: obs.to_vec(),
            action,
            reward,
        });
        // A full window completes its oldest step; an ended episode completes all of them.
        if window.len() == self.n {
            emit(window, self.gamma, self.shape, next_obs, terminated, replay)?;
            window.pop_front();
        }
        if done {
            while !window.is_empty() {
                emit(window, self.gamma, self.shape, next_obs, terminated, replay)?;
                window.pop_front();
            }
        }
        Ok(())
    }
}

/// Stores the transition that starts at the window's oldest step and ends at `next_obs`.
fn emit(
    window: &VecDeque<Pending>,
    gamma: f64,
    shape: ActionShape,
    next_obs: &[f32],
    terminated: bool,
    replay: &mut Replay,
) -> Result<()> {
    let Some(first) = window.front() else {
        return Ok(());
    };
    let ret = window
        .iter()
        .rev()
        .fold(0.0, |acc, p| p.reward + gamma * acc);
    let action = match shape {
        ActionShape::Discrete => Action::Discrete(first.action[0] as u32),
        ActionShape::Continuous(_) => Action::Continuous(&first.action),
    };
    let t = Transition {
        obs: &first.obs,
        action,
        reward: ret as f32,
        next_obs,
        terminated,
        horizon: window.len() as u32,
    };
    replay.push(&t)
}

/// Steps a [`VecEnv`] and stores its transitions, with truncation bootstrapping and n-step
/// returns (see the module docs).
#[derive(Debug)]
pub struct Collector {
    /// The environments.
    pub envs: VecEnv,
    nstep: NStep,
    prev_obs: Vec<f32>,
    shape: ActionShape,
}

impl Collector {
    /// Collects from `envs` (already reset) with n-step windows of `n_step` and discount `gamma`.
    pub fn new(envs: VecEnv, n_step: usize, gamma: f64, shape: ActionShape) -> Self {
        let nstep = NStep::new(envs.len(), n_step, gamma, shape);
        Self {
            prev_obs: Vec::new(),
            envs,
            nstep,
            shape,
        }
    }

    /// The current observations, `n_envs * obs_dim`.
    pub fn obs(&self) -> &[f32] {
        self.envs.obs()
    }

    /// Steps every copy with `actions` and stores the transitions in `replay`; the caller counts
    /// the steps (`ctx.record(&collector.envs)`).
    pub fn step(&mut self, actions: Actions<'_>, replay: &mut Replay) -> Result<()> {
        self.prev_obs.clear();
        self.prev_obs.extend_from_slice(self.envs.obs());
        self.envs.step(actions)?;
        let d = self.envs.obs_dim();
        let a_dim = self.shape.dim();
        for i in 0..self.envs.len() {
            let terminated = self.envs.terminated()[i];
            let done = terminated || self.envs.truncated()[i];
            let next = if done {
                &self.envs.final_obs()[i * d..(i + 1) * d]
            } else {
                &self.envs.obs()[i * d..(i + 1) * d]
            };
            let action = match actions {
                Actions::Discrete(a) => Action::Discrete(a[i]),
                Actions::Continuous(a) => Action::Continuous(&a[i * a_dim..(i + 1) * a_dim]),
            };
            let obs = &self.prev_obs[i * d..(i + 1) * d];
            let reward = self.envs.rewards()[i];
            self.nstep
                .push(i, obs, action, reward, next, terminated, done, replay)?;
        }
        Ok(())
    }
}

/// The scalars of a [`Replay`] that a bit-exact `--resume` restores besides its transitions.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReplayScalars {
    rng: Pcg32,
    max_priority: f64,
    len: usize,
    next: usize,
}

impl Replay {
    /// The memory for a bit-exact `--resume`: every stored transition slot by slot as a
    /// `[len, 2·obs_dim + action_dim + 3]` tensor (obs, next_obs, action, reward, terminated,
    /// horizon), the slots' priorities when prioritized, and the scalars.
    pub fn snapshot(&self) -> Result<(Tensor, Option<Tensor>, ReplayScalars)> {
        let b = &self.buf;
        let d = b.obs_dim();
        let stride = 2 * d + b.action_shape().dim() + 3;
        let mut rows = Vec::with_capacity(b.len() * stride);
        for i in 0..b.len() {
            let s = b.get(i).map_err(|e| anyhow!("replay: {e}"))?;
            rows.extend_from_slice(s.obs);
            rows.extend_from_slice(s.next_obs);
            match s.action {
                Action::Discrete(a) => rows.push(a as f32),
                Action::Continuous(a) => rows.extend_from_slice(a),
            }
            rows.extend([
                s.reward,
                f32::from(u8::from(s.terminated)),
                s.horizon as f32,
            ]);
        }
        let rows = Tensor::from_slice(&rows).view([b.len() as i64, stride as i64]);
        let prios = match &self.tree {
            None => None,
            Some(t) => {
                let p = (0..b.len())
                    .map(|i| t.get(i).map_err(|e| anyhow!("sum-tree: {e}")))
                    .collect::<Result<Vec<f32>>>()?;
                Some(Tensor::from_slice(&p))
            }
        };
        let scalars = ReplayScalars {
            rng: self.rng.clone(),
            max_priority: self.max_priority,
            len: b.len(),
            next: b.next_index(),
        };
        Ok((rows, prios, scalars))
    }

    /// Restores a [`Replay::snapshot`] into this (empty) memory of the same shape: the slots
    /// are written in order, and once more up to the ring's write position when it had wrapped,
    /// so that every slot holds what it held and the next push writes where it would have.
    pub fn restore(
        &mut self,
        rows: &Tensor,
        prios: Option<&Tensor>,
        s: &ReplayScalars,
    ) -> Result<()> {
        let d = self.buf.obs_dim();
        let shape = self.buf.action_shape();
        let a = shape.dim();
        let stride = 2 * d + a + 3;
        let values: Vec<f32> =
            Vec::<f32>::try_from(rows.flatten(0, -1)).map_err(|e| anyhow!("replay rows: {e}"))?;
        let cap = self.buf.capacity();
        if values.len() != s.len * stride || s.len > cap || s.next > cap {
            bail!(
                "a replay memory of {} values for {} transitions of {stride} (capacity {cap}): \
                 a checkpoint of another configuration?",
                values.len(),
                s.len
            );
        }
        self.buf.clear();
        let push = |buf: &mut ReplayBuffer<Vec<f32>>, i: usize| -> Result<()> {
            let r = &values[i * stride..(i + 1) * stride];
            let (obs, rest) = r.split_at(d);
            let (next_obs, rest) = rest.split_at(d);
            let (act, tail) = rest.split_at(a);
            let action = match shape {
                ActionShape::Discrete => Action::Discrete(act[0] as u32),
                ActionShape::Continuous(_) => Action::Continuous(act),
            };
            buf.push(&Transition {
                obs,
                action,
                reward: tail[0],
                next_obs,
                terminated: tail[1] != 0.0,
                horizon: tail[2] as u32,
            })
            .map(|_| ())
            .map_err(|e| anyhow!("replay: {e}"))
        };
        for i in 0..s.len {
            push(&mut self.buf, i)?;
        }
        if s.len == cap && s.next != 0 {
            for i in 0..s.next {
                push(&mut self.buf, i)?;
            }
        }
        if self.buf.next_index() != s.next % cap || self.buf.len() != s.len {
            bail!("internal: the restored replay memory is not where it was");
        }
        match (&mut self.tree, prios) {
            (Some(tree), Some(p)) => {
                let p: Vec<f32> =
                    Vec::<f32>::try_from(p).map_err(|e| anyhow!("replay priorities: {e}"))?;
                if p.len() != s.len {
                    bail!("{} priorities for {} transitions", p.len(), s.len);
                }
                for (i, v) in p.into_iter().enumerate() {
                    tree.set(i, v).map_err(|e| anyhow!("sum-tree: {e}"))?;
                }
            }
            (None, None) => {}
            _ => bail!("a checkpoint of another replay kind (prioritized or not)"),
        }
        self.rng = s.rng.clone();
        self.max_priority = s.max_priority;
        Ok(())
    }
}

/// The pending n-step windows of a [`Collector`], per copy: (obs, action, reward) each.
pub type Windows = Vec<Vec<(Vec<f32>, Vec<f32>, f64)>>;

impl Collector {
    /// The environments' journal and the pending n-step windows, for a bit-exact `--resume`.
    pub fn snapshot(&self) -> (crate::envs::vec_env::Journal, Windows) {
        let w = self
            .nstep
            .windows
            .iter()
            .map(|w| {
                w.iter()
                    .map(|p| (p.obs.clone(), p.action.clone(), p.reward))
                    .collect()
            })
            .collect();
        (self.envs.journal().clone(), w)
    }

    /// Restores a [`Collector::snapshot`].
    pub fn restore(
        &mut self,
        journal: &crate::envs::vec_env::Journal,
        windows: &Windows,
    ) -> Result<()> {
        self.envs.restore(journal)?;
        if windows.len() != self.nstep.windows.len() {
            bail!(
                "{} n-step windows for {} copies",
                windows.len(),
                self.nstep.windows.len()
            );
        }
        for (dst, src) in self.nstep.windows.iter_mut().zip(windows) {
            *dst = src
                .iter()
                .map(|(obs, action, reward)| Pending {
                    obs: obs.clone(),
                    action: action.clone(),
                    reward: *reward,
                })
                .collect();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
