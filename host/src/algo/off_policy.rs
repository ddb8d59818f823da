//! What every off-policy learner (DQN, DDPG, TD3, SAC) shares: collecting
//! transitions from a [`VecEnv`] into replay, n-step returns, uniform or prioritized sampling into
//! tensors, target-network updates, SB3's linear schedule, and a CPU copy of a network for acting.
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
//! - **Target networks** ([`TargetSync`]): Polyak averaging `θ' ← τ θ + (1 - τ) θ'`; `τ = 1` is
//!   a hard copy.
//! - **Acting** ([`CpuNet`]): a copy of a network's export run through `picorl-core`'s f32 dense
//!   layers, refreshed after each round of updates, which costs a few microseconds per step where
//!   a libtorch forward pass costs tens (measured in `dqn.rs`'s notes).

use std::collections::VecDeque;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::Action;
use picorl_core::nn::{padded_rows, DenseF32};
use picorl_core::replay::{importance_weight, ActionShape, ReplayBuffer, SumTree, Transition};
use picorl_core::rng::{self, Pcg32};
use tch::{nn, Device, Kind, Tensor};

use crate::algo::nets::Activation;
use crate::envs::vec_env::{Actions, VecEnv};
use crate::export::PolicyExport;

/// SB3's `get_linear_fn`: `start` falling linearly to `end` over the first `end_fraction` of the
/// budget, then `end`. `progress_remaining` goes from 1 to 0.
pub fn linear_schedule(start: f64, end: f64, end_fraction: f64, progress_remaining: f64) -> f64 {
    let progress = 1.0 - progress_remaining;
    if end_fraction <= 0.0 || progress > end_fraction {
        end
    } else {
        start + progress * (end - start) / end_fraction
    }
}

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

    /// The batch of the transitions in `indices` (their importance weights with `beta` when
    /// prioritized).
    pub fn gather(&mut self, indices: Vec<usize>, beta: f64, device: Device) -> Result<Batch> {
        let b = indices.len();
        let d = self.buf.obs_dim();
        let shape = self.buf.action_shape();
        self.obs.clear();
        self.next_obs.clear();
        self.act_f.clear();
        self.act_i.clear();
        self.rewards.clear();
        self.discounts.clear();
        self.weights.clear();
        let min_p = self.tree.as_ref().and_then(SumTree::min).unwrap_or(0.0);
        for &i in &indices {
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

impl FlatAdam {
    /// The moments and the step count, for a bit-exact `--resume`.
    pub fn snapshot(&self) -> (Tensor, Tensor, i32) {
        (self.m.copy(), self.v.copy(), self.t)
    }

    /// Restores a [`FlatAdam::snapshot`].
    pub fn restore(&mut self, m: &Tensor, v: &Tensor, t: i32) -> Result<()> {
        if m.size() != self.m.size() || v.size() != self.v.size() {
            bail!(
                "Adam moments of shape {:?}, the network has {:?}",
                m.size(),
                self.m.size()
            );
        }
        tch::no_grad(|| {
            self.m.copy_(&m.to_device(self.m.device()));
            self.v.copy_(&v.to_device(self.v.device()));
        });
        self.t = t;
        Ok(())
    }
}

/// Target-network updates: the online and target variables paired by name once.
#[derive(Debug)]
pub struct TargetSync {
    pairs: Vec<(Tensor, Tensor)>,
}

impl TargetSync {
    /// Pairs two [`flatten_vars`] buffers of networks of the same shape: one operation per update.
    pub fn flat(online: &Tensor, target: &Tensor) -> Result<Self> {
        if online.size() != target.size() {
            bail!(
                "internal: flat buffers of {:?} and {:?} values",
                online.size(),
                target.size()
            );
        }
        Ok(Self {
            pairs: vec![(online.shallow_clone(), target.shallow_clone())],
        })
    }

    /// Pairs every variable of `target` with the one of the same name in `online`.
    pub fn new(online: &nn::VarStore, target: &nn::VarStore) -> Result<Self> {
        let on = online.variables();
        let mut names: Vec<(String, Tensor)> = target.variables().into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let pairs = names
            .into_iter()
            .map(|(name, t)| {
                let o = on.get(&name).ok_or_else(|| {
                    anyhow!("internal: target variable {name} has no online twin")
                })?;
                Ok((o.shallow_clone(), t))
            })
            .collect::<Result<Vec<_>>>()?;
        if pairs.len() != on.len() {
            bail!(
                "internal: {} online variables, {} target variables",
                on.len(),
                pairs.len()
            );
        }
        Ok(Self { pairs })
    }

    /// `θ' ← τ θ + (1 - τ) θ'` (a copy when `tau >= 1`).
    pub fn update(&self, tau: f64) {
        tch::no_grad(|| {
            for (online, target) in &self.pairs {
                let mut t = target.shallow_clone();
                if tau >= 1.0 {
                    t.copy_(online);
                } else {
                    let _ = t.lerp_(online, tau);
                }
            }
        });
    }
}

/// Moves every variable of `vs` into one flat buffer (in the order of their names) and returns
/// it: each variable becomes a view of its slice, so a whole network is updated, averaged or
/// copied with one tensor operation instead of one per variable. Values are kept.
pub fn flatten_vars(vs: &nn::VarStore) -> Tensor {
    flatten(vars_by_name(vs, false), vs.device())
}

/// The variables of `vs` (the trainable ones only, if `trainable`) in the order of their names.
fn vars_by_name(vs: &nn::VarStore, trainable: bool) -> Vec<Tensor> {
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| !trainable || t.requires_grad())
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter().map(|(_, t)| t).collect()
}

/// Moves `vars` into one flat buffer on `device`, each a view of its slice (see
/// [`flatten_vars`]).
fn flatten(mut vars: Vec<Tensor>, device: tch::Device) -> Tensor {
    let total: i64 = vars.iter().map(|t| t.numel() as i64).sum();
    let flat = Tensor::zeros([total], (Kind::Float, device));
    let mut offset = 0i64;
    tch::no_grad(|| {
        for var in &mut vars {
            let n = var.numel() as i64;
            let view = flat.narrow(0, offset, n).view(var.size().as_slice());
            view.shallow_clone().copy_(var);
            var.set_data(&view);
            offset += n;
        }
    });
    flat
}

/// Adam over the variables of one [`flatten_vars`] buffer: the arithmetic of `torch.optim.Adam`
/// (no weight decay, no AMSGrad), with gradient-norm clipping, in a handful of tensor operations
/// per step. libtorch's own Adam runs about ten operations per variable, and on the small
/// networks these learners train, the per-operation overhead is the cost of an update.
#[derive(Debug)]
pub struct FlatAdam {
    params: Vec<Tensor>,
    flat: Tensor,
    m: Tensor,
    v: Tensor,
    t: i32,
    /// The learning rate.
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl FlatAdam {
    /// Adam (β₁ = 0.9, β₂ = 0.999, ε = `eps`) over the trainable variables of `vs`, whose flat
    /// buffer is `flat`.
    pub fn new(vs: &nn::VarStore, flat: &Tensor, lr: f64, eps: f64) -> Self {
        Self {
            params: vars_by_name(vs, true),
            m: flat.zeros_like(),
            v: flat.zeros_like(),
            flat: flat.shallow_clone(),
            t: 0,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps,
        }
    }

    /// Back-propagates `loss`, clips the gradient's global norm to `max_grad_norm` (0: no
    /// clipping), takes one Adam step and returns the norm before clipping (NaN when not
    /// clipping, which saves reading it).
    pub fn step(&mut self, loss: &Tensor, max_grad_norm: f64) -> f64 {
        let (g, norm) = clipped_flat_grad(loss, &self.params, max_grad_norm);
        tch::no_grad(|| {
            self.t += 1;
            let bc1 = 1.0 - self.beta1.powi(self.t);
            let bc2 = 1.0 - self.beta2.powi(self.t);
            let _ = self.m.lerp_(&g, 1.0 - self.beta1);
            let _ = self
                .v
                .g_mul_scalar_(self.beta2)
                .addcmul_(&g, &(&g * (1.0 - self.beta2)));
            let denom = (self.v.sqrt() / bc2.sqrt()) + self.eps;
            let _ = self.flat.addcdiv_(&(&self.m * (-self.lr / bc1)), &denom);
            norm
        })
    }
}

/// As [`flatten_vars`], for the *trainable* variables of `vs` only (in the order of their
/// names, the order [`FlatAdam`] and [`FlatRmsProp`] walk them), so that a store that also holds
/// statistics (observation normalization) has an optimizer buffer of its parameters alone.
pub fn flatten_trainable_vars(vs: &nn::VarStore) -> Tensor {
    flatten(vars_by_name(vs, true), vs.device())
}

/// Back-propagates `loss` to `params` and returns their gradients as one flat tensor, its global
/// norm clipped to `max_grad_norm` (0: no clipping; PyTorch's `clip_grad_norm_`, coefficient
/// `max / (norm + 1e-6)` when below 1), with the norm before clipping (NaN when not clipping,
/// which saves reading it). A parameter the loss does not reach gets a zero gradient.
fn clipped_flat_grad(loss: &Tensor, params: &[Tensor], max_grad_norm: f64) -> (Tensor, f64) {
    let grads = Tensor::run_backward(&[loss], params, false, false);
    tch::no_grad(|| {
        let flat: Vec<Tensor> = grads
            .iter()
            .zip(params)
            .map(|(g, p)| {
                if g.defined() {
                    g.view([-1])
                } else {
                    p.zeros_like().view([-1])
                }
            })
            .collect();
        let mut g = Tensor::cat(&flat, 0);
        let mut norm = f64::NAN;
        if max_grad_norm > 0.0 {
            norm = g.norm().double_value(&[]);
            let coef = max_grad_norm / (norm + 1e-6);
            if coef < 1.0 {
                g *= coef;
            }
        }
        (g, norm)
    })
}

/// RMSprop over the variables of one [`flatten_trainable_vars`] buffer, with PyTorch's update
/// (`torch.optim.RMSprop` without momentum, centering or weight decay, SB3's A2C settings):
/// `s ← α s + (1 − α) g²`, `θ ← θ − lr · g / (√s + ε)` — ε *outside* the square root, unlike
/// TensorFlow's. Its one moment is saved for a bit-exact `--resume`.
#[derive(Debug)]
pub struct FlatRmsProp {
    params: Vec<Tensor>,
    flat: Tensor,
    square_avg: Tensor,
    /// The learning rate.
    pub lr: f64,
    alpha: f64,
    eps: f64,
}

impl FlatRmsProp {
    /// RMSprop with smoothing constant `alpha` and `eps` over the trainable variables of `vs`,
    /// whose flat buffer is `flat` (from [`flatten_trainable_vars`]).
    pub fn new(vs: &nn::VarStore, flat: &Tensor, lr: f64, alpha: f64, eps: f64) -> Self {
        Self {
            params: vars_by_name(vs, true),
            square_avg: flat.zeros_like(),
            flat: flat.shallow_clone(),
            lr,
            alpha,
            eps,
        }
    }

    /// Back-propagates `loss`, clips the gradient's global norm to `max_grad_norm` (0: no
    /// clipping), takes one step and returns the norm before clipping (NaN when not clipping).
    pub fn step(&mut self, loss: &Tensor, max_grad_norm: f64) -> f64 {
        let (g, norm) = clipped_flat_grad(loss, &self.params, max_grad_norm);
        tch::no_grad(|| {
            let _ = self
                .square_avg
                .g_mul_scalar_(self.alpha)
                .addcmul_(&g, &(&g * (1.0 - self.alpha)));
            let avg = self.square_avg.sqrt().g_add_scalar_(self.eps);
            let _ = self.flat.addcdiv_(&(&g * -self.lr), &avg);
        });
        norm
    }

    /// The running mean square, for a bit-exact `--resume`.
    pub fn snapshot(&self) -> Tensor {
        self.square_avg.copy()
    }

    /// Restores a [`FlatRmsProp::snapshot`].
    pub fn restore(&mut self, square_avg: &Tensor) -> Result<()> {
        if square_avg.size() != self.square_avg.size() {
            bail!(
                "an RMSprop state of shape {:?}, the network has {:?}",
                square_avg.size(),
                self.square_avg.size()
            );
        }
        tch::no_grad(|| {
            self.square_avg
                .copy_(&square_avg.to_device(self.square_avg.device()))
        });
        Ok(())
    }
}

/// A network's export run on the CPU through `picorl-core`'s f32 dense layers (the firmware's
/// code), for acting one observation at a time.
#[derive(Debug, Clone, Default)]
pub struct CpuNet {
    layers: Vec<CpuLayer>,
    a: Vec<f32>,
    b: Vec<f32>,
}

#[derive(Debug, Clone)]
struct CpuLayer {
    inputs: usize,
    outputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    activation: picorl_core::nn::Activation,
}

impl CpuNet {
    /// Copies the layers of `export` (its head and normalization are the caller's).
    pub fn new(export: &PolicyExport) -> Self {
        let mut net = Self::default();
        net.refresh(export);
        net
    }

    /// Replaces the weights with those of `export`.
    pub fn refresh(&mut self, export: &PolicyExport) {
        let hidden = match export.activation {
            Activation::Relu => picorl_core::nn::Activation::Relu,
            Activation::Tanh => picorl_core::nn::Activation::Tanh,
            Activation::Hardtanh => picorl_core::nn::Activation::HardTanh,
        };
        let n = export.layers.len();
        self.layers.resize_with(n, || CpuLayer {
            inputs: 0,
            outputs: 0,
            weights: Vec::new(),
            bias: Vec::new(),
            activation: hidden,
        });
        let mut widest = 0;
        for (i, (l, c)) in export.layers.iter().zip(self.layers.iter_mut()).enumerate() {
            let rows = padded_rows(l.outputs);
            c.inputs = l.inputs;
            c.outputs = l.outputs;
            c.activation = if i + 1 == n {
                picorl_core::nn::Activation::Identity
            } else {
                hidden
            };
            c.weights.clear();
            c.weights.resize(rows * l.inputs, 0.0);
            for r in 0..l.outputs {
                for k in 0..l.inputs {
                    c.weights[DenseF32::weight_index(l.inputs, r, k)] = l.weights[r * l.inputs + k];
                }
            }
            c.bias.clear();
            c.bias.extend_from_slice(&l.bias);
            c.bias.resize(rows, 0.0);
            widest = widest.max(rows).max(l.inputs);
        }
        self.a.resize(widest, 0.0);
        self.b.resize(widest, 0.0);
    }

    /// The network's outputs for one observation.
    pub fn forward(&mut self, obs: &[f32]) -> Result<&[f32]> {
        self.forward_impl(obs, None)
    }

    /// As [`CpuNet::forward`], copying the last layer's input (the last hidden layer, or the
    /// observation for a single layer) into `features` (gSDE's features).
    pub fn forward_with_features(
        &mut self,
        obs: &[f32],
        features: &mut Vec<f32>,
    ) -> Result<&[f32]> {
        self.forward_impl(obs, Some(features))
    }

    fn forward_impl(&mut self, obs: &[f32], mut features: Option<&mut Vec<f32>>) -> Result<&[f32]> {
        let Some(first) = self.layers.first() else {
            bail!("internal: an empty network")
        };
        if obs.len() != first.inputs {
            bail!(
                "observation of length {}, expected {}",
                obs.len(),
                first.inputs
            );
        }
        self.a[..obs.len()].copy_from_slice(obs);
        let mut outputs = 0;
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            if i + 1 == n {
                if let Some(f) = features.as_deref_mut() {
                    f.clear();
                    f.extend_from_slice(&self.a[..l.inputs]);
                }
            }
            let dense = DenseF32::new(l.inputs, l.outputs, &l.weights, &l.bias, l.activation)
                .map_err(|e| anyhow!("internal: acting copy: {e}"))?;
            dense
                .forward(&self.a, &mut self.b)
                .map_err(|e| anyhow!("internal: acting copy: {e}"))?;
            std::mem::swap(&mut self.a, &mut self.b);
            outputs = l.outputs;
        }
        Ok(&self.a[..outputs])
    }
}

/// Reads a safetensors checkpoint into `(name, tensor)` pairs, naming the file on failure.
pub fn read_checkpoint(path: &std::path::Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::read_safetensors(path).with_context(|| format!("reading checkpoint {}", path.display()))
}

/// Copies the tensors named `prefix` + a variable's name in `saved` into `vs`; every variable must
/// be present.
pub fn load_vars(
    vs: &nn::VarStore,
    saved: &[(String, Tensor)],
    prefix: &str,
    path: &std::path::Path,
) -> Result<()> {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let key = format!("{prefix}{name}");
            let Some((_, t)) = saved.iter().find(|(n, _)| *n == key) else {
                bail!(
                    "{}: no tensor `{key}` (a checkpoint of another network shape?)",
                    path.display()
                );
            };
            if t.size() != var.size() {
                bail!(
                    "{}: `{key}` has shape {:?}, the network expects {:?}",
                    path.display(),
                    t.size(),
                    var.size()
                );
            }
            var.copy_(&t.to_kind(Kind::Float).to_device(var.device()));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(n_step: usize, alpha: Option<f64>) -> Replay {
        let opts = ReplayOptions {
            capacity: 16,
            gamma: 0.5,
            n_step,
            prioritized_alpha: alpha,
            prioritized_eps: 1e-6,
        };
        Replay::new(1, ActionShape::Discrete, &opts, 0).unwrap()
    }

    fn all(r: &Replay) -> Vec<(f32, u32, f32, f32, bool, u32)> {
        (0..r.len())
            .map(|i| {
                let s = r.buffer().get(i).unwrap();
                let Action::Discrete(a) = s.action else {
                    panic!("discrete")
                };
                (
                    s.obs[0],
                    a,
                    s.reward,
                    s.next_obs[0],
                    s.terminated,
                    s.horizon,
                )
            })
            .collect()
    }

    /// A snapshot restored into a fresh memory is the same memory: every slot, the write
    /// position of a ring that has wrapped, the priorities and the generator, so that the next
    /// pushes land where they would have and the next samples draw the same slots.
    /// Twenty steps of libtorch's `opt` (gradient norm clipped to 0.5) on `loss_a` over `vs.0`,
    /// and of a flat optimizer (`step_b`: computes its loss, steps, returns the loss) over
    /// `vs.1`: the losses and the variables must stay within 1e-5.
    fn lockstep(
        opt: &mut nn::Optimizer,
        vs: (&nn::VarStore, &nn::VarStore),
        loss_a: impl Fn() -> Tensor,
        mut step_b: impl FnMut() -> Tensor,
    ) {
        for _ in 0..20 {
            let la = loss_a();
            opt.zero_grad();
            la.backward();
            opt.clip_grad_norm(0.5);
            opt.step();
            let lb = step_b();
            assert!((la.double_value(&[]) - lb.double_value(&[])).abs() < 1e-5);
        }
        for (name, t) in vs.0.variables() {
            let other = &vs.1.variables()[&name];
            let d = (t - other).abs().max().double_value(&[]);
            assert!(d < 1e-5, "{name}: {d}");
        }
    }

    #[test]
    fn replay_snapshot_restores_a_wrapped_ring_exactly() {
        for alpha in [None, Some(0.6)] {
            for pushed in [5usize, 16, 37] {
                let mut a = replay(1, alpha);
                let push = |r: &mut Replay, k: usize| {
                    let o = [k as f32];
                    let n = [k as f32 + 0.5];
                    r.push(&Transition {
                        obs: &o,
                        action: Action::Discrete((k % 3) as u32),
                        reward: k as f32 * 0.25,
                        next_obs: &n,
                        terminated: k % 7 == 0,
                        horizon: 1,
                    })
                    .unwrap();
                };
                for k in 0..pushed {
                    push(&mut a, k);
                }
                if alpha.is_some() {
                    let ix = a.sample(4, 0.4, Device::Cpu).unwrap().indices;
                    a.update_priorities(&ix, &[0.5, 2.0, 0.1, 3.0]).unwrap();
                }
                let (rows, prios, scalars) = a.snapshot().unwrap();
                let mut b = replay(1, alpha);
                b.restore(&rows, prios.as_ref(), &scalars).unwrap();
                assert_eq!(all(&a), all(&b), "{alpha:?} {pushed}");
                assert_eq!(a.buffer().next_index(), b.buffer().next_index());
                for k in 100..103 {
                    push(&mut a, k);
                    push(&mut b, k);
                }
                assert_eq!(all(&a), all(&b), "{alpha:?} {pushed}: after pushes");
                let (sa, sb) = (
                    a.sample(8, 0.4, Device::Cpu).unwrap(),
                    b.sample(8, 0.4, Device::Cpu).unwrap(),
                );
                assert_eq!(sa.indices, sb.indices, "{alpha:?} {pushed}");
                assert!(sa.weights.equal(&sb.weights));
            }
        }
    }

    #[test]
    fn linear_schedule_as_sb3() {
        // start 1, end 0.05 over the first 10 %: at 5 % progress, 1 - 0.5 · 0.95 = 0.525.
        assert_eq!(linear_schedule(1.0, 0.05, 0.1, 1.0), 1.0);
        assert!((linear_schedule(1.0, 0.05, 0.1, 0.95) - 0.525).abs() < 1e-12);
        assert_eq!(linear_schedule(1.0, 0.05, 0.1, 0.5), 0.05);
        assert_eq!(linear_schedule(1.0, 0.05, 0.0, 1.0), 0.05);
    }

    #[test]
    fn n_step_returns_by_hand() {
        // γ = 0.5, n = 3; an episode of 4 steps s0..s3 with rewards 1, 2, 4, 8, terminated at s4.
        let mut r = replay(3, None);
        let mut ns = NStep::new(1, 3, 0.5, ActionShape::Discrete);
        for k in 0..4 {
            let done = k == 3;
            ns.push(
                0,
                &[k as f32],
                Action::Discrete(k),
                f64::from(1u32 << k),
                &[k as f32 + 1.0],
                done,
                done,
                &mut r,
            )
            .unwrap();
        }
        // s0: 1 + 0.5·2 + 0.25·4 = 3, bootstrap from s3 with γ³ (horizon 3, not terminal);
        // s1: 2 + 0.5·4 + 0.25·8 = 6 → s4, terminal; s2: 4 + 0.5·8 = 8 → s4 (horizon 2);
        // s3: 8 → s4 (horizon 1).
        assert_eq!(
            all(&r),
            vec![
                (0.0, 0, 3.0, 3.0, false, 3),
                (1.0, 1, 6.0, 4.0, true, 3),
                (2.0, 2, 8.0, 4.0, true, 2),
                (3.0, 3, 8.0, 4.0, true, 1),
            ]
        );
        // The discounts the learner sees: γ³ = 0.125 for the first, 0 for the terminal ones.
        let b = r.gather(vec![0, 1, 2, 3], 1.0, Device::Cpu).unwrap();
        assert_eq!(
            crate::algo::nets::tensor_to_vec(&b.discounts),
            vec![0.125, 0.0, 0.0, 0.0]
        );
        assert_eq!(
            crate::algo::nets::tensor_to_vec(&b.rewards),
            vec![3.0, 6.0, 8.0, 8.0]
        );
    }

    #[test]
    fn n_step_truncation_bootstraps_from_the_final_observation() {
        // Two steps then the time limit (truncated, not terminated), n = 3, γ = 0.5.
        let mut r = replay(3, None);
        let mut ns = NStep::new(1, 3, 0.5, ActionShape::Discrete);
        ns.push(
            0,
            &[0.0],
            Action::Discrete(1),
            1.0,
            &[1.0],
            false,
            false,
            &mut r,
        )
        .unwrap();
        ns.push(
            0,
            &[1.0],
            Action::Discrete(0),
            1.0,
            &[9.0],
            false,
            true,
            &mut r,
        )
        .unwrap();
        // s0: 1 + 0.5 = 1.5 → final obs 9 with γ² = 0.25; s1: 1 → 9 with γ = 0.5.
        assert_eq!(
            all(&r),
            vec![(0.0, 1, 1.5, 9.0, false, 2), (1.0, 0, 1.0, 9.0, false, 1)]
        );
        let b = r.gather(vec![0, 1], 1.0, Device::Cpu).unwrap();
        assert_eq!(
            crate::algo::nets::tensor_to_vec(&b.discounts),
            vec![0.25, 0.5]
        );
        // A new episode starts with an empty window.
        ns.push(
            0,
            &[5.0],
            Action::Discrete(0),
            1.0,
            &[6.0],
            false,
            false,
            &mut r,
        )
        .unwrap();
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn prioritized_weights_and_priorities() {
        let mut r = replay(1, Some(1.0));
        for k in 0..3 {
            r.push(&Transition {
                obs: &[k as f32],
                action: Action::Discrete(0),
                reward: 0.0,
                next_obs: &[0.0],
                terminated: false,
                horizon: 1,
            })
            .unwrap();
        }
        // |δ| = 1, 3, 7 with α = 1: priorities ≈ 1, 3, 7; β = 1: weights (p / p_min)^-1.
        r.update_priorities(&[0, 1, 2], &[1.0, -3.0, 7.0]).unwrap();
        let b = r.gather(vec![0, 1, 2], 1.0, Device::Cpu).unwrap();
        let w = crate::algo::nets::tensor_to_vec(&b.weights);
        for (got, want) in w.iter().zip([1.0, 1.0 / 3.0, 1.0 / 7.0]) {
            assert!((got - want).abs() < 1e-5, "{w:?}");
        }
        // New transitions get the largest priority seen (7).
        r.push(&Transition {
            obs: &[3.0],
            action: Action::Discrete(0),
            reward: 0.0,
            next_obs: &[0.0],
            terminated: false,
            horizon: 1,
        })
        .unwrap();
        let b = r.gather(vec![3], 0.5, Device::Cpu).unwrap();
        assert!((crate::algo::nets::tensor_to_vec(&b.weights)[0] - 7f32.powf(-0.5)).abs() < 1e-5);
        // Sampling follows the priorities 1 : 3 : 7 : 7.
        let mut counts = [0usize; 4];
        for _ in 0..500 {
            for i in r.sample(18, 1.0, Device::Cpu).unwrap().indices {
                counts[i] += 1;
            }
        }
        let total = 9000.0;
        for (c, p) in counts.iter().zip([1.0, 3.0, 7.0, 7.0]) {
            assert!((*c as f64 - total * p / 18.0).abs() < 150.0, "{counts:?}");
        }
        assert!(r.update_priorities(&[0], &[f32::NAN]).is_err());
    }

    #[test]
    fn polyak_and_hard_updates() {
        let online = nn::VarStore::new(Device::Cpu);
        let target = nn::VarStore::new(Device::Cpu);
        let a = online.root().var("w", &[2], nn::Init::Const(1.0));
        let b = target.root().var("w", &[2], nn::Init::Const(0.0));
        let sync = TargetSync::new(&online, &target).unwrap();
        sync.update(0.25);
        assert_eq!(crate::algo::nets::tensor_to_vec(&b), vec![0.25, 0.25]);
        sync.update(0.25);
        // 0.25 + 0.25 · (1 - 0.25) = 0.4375.
        assert_eq!(crate::algo::nets::tensor_to_vec(&b), vec![0.4375, 0.4375]);
        sync.update(1.0);
        assert_eq!(
            crate::algo::nets::tensor_to_vec(&b),
            crate::algo::nets::tensor_to_vec(&a)
        );
    }

    #[test]
    fn flat_adam_matches_libtorch_adam() {
        let _turn = crate::train::torch_generator();
        use tch::nn::OptimizerConfig;
        // The same two-layer network and data through libtorch's Adam and through FlatAdam.
        let build = || {
            tch::manual_seed(9);
            let vs = nn::VarStore::new(Device::Cpu);
            let l1 = nn::linear(vs.root() / "a", 3, 5, Default::default());
            let l2 = nn::linear(vs.root() / "b", 5, 2, Default::default());
            (vs, l1, l2)
        };
        let x = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 1.5, 0.0, -0.5]).view([2, 3]);
        let y = Tensor::from_slice(&[1.0f32, -1.0, 0.5, 2.0]).view([2, 2]);
        let loss_of = |l1: &nn::Linear, l2: &nn::Linear| {
            (x.apply(l1).relu().apply(l2) - &y)
                .square()
                .mean(Kind::Float)
        };
        let (vs_a, a1, a2) = build();
        let mut opt = nn::Adam::default().build(&vs_a, 0.01).unwrap();
        let (vs_b, b1, b2) = build();
        let flat = flatten_vars(&vs_b);
        let mut flat_opt = FlatAdam::new(&vs_b, &flat, 0.01, 1e-8);
        lockstep(
            &mut opt,
            (&vs_a, &vs_b),
            || loss_of(&a1, &a2),
            || {
                let lb = loss_of(&b1, &b2);
                flat_opt.step(&lb, 0.5);
                lb
            },
        );
        // The variables are views of the flat buffer.
        let before = flat.sum(Kind::Float).double_value(&[]);
        let _ = flat.shallow_clone().g_add_scalar_(1.0);
        let total: f64 = vs_b
            .variables()
            .values()
            .map(|t| t.sum(Kind::Float).double_value(&[]))
            .sum();
        assert!((total - before - flat.numel() as f64).abs() < 1e-3);
    }

    #[test]
    fn flat_rmsprop_matches_libtorch_rmsprop() {
        use tch::nn::OptimizerConfig;
        // libtorch's RMSprop (PyTorch's update, as tch builds it) and FlatRmsProp on the same
        // network and data, with a statistic variable in the store that neither may touch. The
        // weights are set from a formula, not drawn: libtorch's process-wide generator belongs to
        // the seeded training runs that other tests make side by side.
        let build = || {
            let vs = nn::VarStore::new(Device::Cpu);
            let zero = nn::LinearConfig {
                ws_init: nn::Init::Const(0.0),
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            };
            let l1 = nn::linear(vs.root() / "a", 3, 5, zero);
            let l2 = nn::linear(vs.root() / "b", 5, 2, zero);
            let stat = vs.root().ones_no_train("stat", &[3]);
            let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            tch::no_grad(|| {
                for (k, (_, v)) in vars.iter_mut().enumerate() {
                    if v.requires_grad() {
                        let n = v.numel() as i64;
                        let values =
                            (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.7 + k as f64).sin()
                                * 0.5;
                        v.copy_(&values.view(v.size().as_slice()));
                    }
                }
            });
            (vs, l1, l2, stat)
        };
        let x = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 1.5, 0.0, -0.5]).view([2, 3]);
        let y = Tensor::from_slice(&[1.0f32, -1.0, 0.5, 2.0]).view([2, 2]);
        let loss_of = |l1: &nn::Linear, l2: &nn::Linear| {
            (x.apply(l1).tanh().apply(l2) - &y)
                .square()
                .mean(Kind::Float)
        };
        let (vs_a, a1, a2, _) = build();
        let mut opt = nn::RmsProp {
            alpha: 0.99,
            eps: 1e-5,
            ..Default::default()
        }
        .build(&vs_a, 0.01)
        .unwrap();
        let (vs_b, b1, b2, stat) = build();
        let flat = flatten_trainable_vars(&vs_b);
        assert_eq!(
            flat.numel(),
            3 * 5 + 5 + 5 * 2 + 2,
            "the statistic stays out"
        );
        let mut flat_opt = FlatRmsProp::new(&vs_b, &flat, 0.01, 0.99, 1e-5);
        lockstep(
            &mut opt,
            (&vs_a, &vs_b),
            || loss_of(&a1, &a2),
            || {
                let lb = loss_of(&b1, &b2);
                flat_opt.step(&lb, 0.5);
                lb
            },
        );
        assert_eq!(crate::algo::nets::tensor_to_vec(&stat), vec![1.0; 3]);
        // The moment round-trips: a restored twin takes the same next step.
        let (vs_c, c1, c2, _) = build();
        let flat_c = flatten_trainable_vars(&vs_c);
        flat_c.shallow_clone().copy_(&flat);
        let mut twin = FlatRmsProp::new(&vs_c, &flat_c, 0.01, 0.99, 1e-5);
        twin.restore(&flat_opt.snapshot()).unwrap();
        flat_opt.step(&loss_of(&b1, &b2), 0.5);
        twin.step(&loss_of(&c1, &c2), 0.5);
        assert!(flat.equal(&flat_c));
        assert!(twin
            .restore(&Tensor::zeros([3], (Kind::Float, Device::Cpu)))
            .is_err());
    }

    #[test]
    fn cpu_net_matches_the_export() {
        use crate::export::{DenseExport, HeadExport};
        // 3 → 5 (relu) → 2: rows padded to 8 and 4 in core's layout.
        let l0 = DenseExport {
            weights: (0..15).map(|i| (i as f32 - 7.0) * 0.1).collect(),
            bias: vec![0.1, -0.2, 0.3, 0.0, -0.5],
            inputs: 3,
            outputs: 5,
        };
        let l1 = DenseExport {
            weights: (0..10).map(|i| (i as f32) * 0.05 - 0.2).collect(),
            bias: vec![0.5, -0.5],
            inputs: 5,
            outputs: 2,
        };
        let p = PolicyExport {
            layers: vec![l0.clone(), l1.clone()],
            activation: Activation::Relu,
            head: HeadExport::Argmax,
            obs_norm: None,
        };
        let x = [0.5f32, -1.0, 2.0];
        let h: Vec<f32> = (0..5)
            .map(|j| {
                (l0.bias[j] + (0..3).map(|k| l0.weights[j * 3 + k] * x[k]).sum::<f32>()).max(0.0)
            })
            .collect();
        let y: Vec<f32> = (0..2)
            .map(|j| l1.bias[j] + (0..5).map(|k| l1.weights[j * 5 + k] * h[k]).sum::<f32>())
            .collect();
        let mut net = CpuNet::new(&p);
        let got = net.forward(&x).unwrap().to_vec();
        for k in 0..2 {
            assert!((got[k] - y[k]).abs() < 1e-6, "{got:?} vs {y:?}");
        }
        assert!(net.forward(&[1.0]).is_err());
    }
}
