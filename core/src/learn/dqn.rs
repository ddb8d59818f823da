//! DQN (Mnih et al. 2015, "Human-level control through deep reinforcement learning"), written
//! once in core: the same code trains on the desktop and on the controller, and from the same
//! seed ends with the same weights, bit for bit.
//!
//! One online MLP (ReLU hidden layers), a target copy refreshed every `target_update` steps, a
//! replay ring ([`crate::replay::ReplayBuffer`]), an ε-greedy policy with ε decaying linearly,
//! the Huber loss on `Q(s, a) − (r + γ·max_a' Q_target(s', a'))` (no bootstrap past a terminal
//! state; a time-limit truncation bootstraps), gradients clipped to a global norm, and
//! [`Adam`]. The defaults follow Stable-Baselines3's DQN (Huber loss, `max_grad_norm` 10); the
//! CartPole configuration ([`DqnConfig::CARTPOLE`]) is sized so a Cortex-M4F trains it.
//!
//! Every random draw comes from one [`Pcg32`]: ε-greedy coin and action, then the batch's
//! replay slots. Memory is one caller slice of [`workspace_len`] values (the networks, Adam's
//! moments, the batch and its activations) plus the replay storage.

use super::{Adam, LearnError, Mlp};
use crate::env::{Action, Env, EnvError};

/// The most observation values this learner's stack buffers hold (core's environments are
/// unbounded; an on-device DQN learns small ones).
pub const MAX_OBS_DIM: usize = 64;
use crate::nn::Activation;
use crate::replay::{ActionShape, ReplayBuffer, ReplayError, Transition};
use crate::rng::{self, Pcg32};
use core::fmt;

/// Actions a [`Dqn`] handles at most.
pub const MAX_ACTIONS: usize = 16;

/// DQN's hyper-parameters and run length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DqnConfig {
    /// Widths of the two hidden layers.
    pub hidden: [usize; 2],
    /// Transitions per gradient step.
    pub batch: usize,
    /// Discount γ.
    pub gamma: f32,
    /// Adam's learning rate.
    pub lr: f32,
    /// Steps of uniformly random actions before learning starts.
    pub learning_starts: u32,
    /// A round of gradient steps every this many environment steps.
    pub train_freq: u32,
    /// Gradient steps per round.
    pub gradient_steps: u32,
    /// The target network is refreshed every this many environment steps.
    pub target_update: u32,
    /// ε at the start.
    pub eps_start: f32,
    /// ε after `eps_steps` steps, and from then on.
    pub eps_end: f32,
    /// Steps over which ε decays linearly.
    pub eps_steps: u32,
    /// Transitions the replay memory holds (the caller sizes its storage with it:
    /// [`crate::replay::buffer_storage_len`]).
    pub replay: usize,
    /// Gradients are scaled down to this global L2 norm when longer.
    pub max_grad_norm: f32,
    /// Environment steps at most.
    pub total_steps: u32,
    /// The greedy policy is evaluated every this many steps.
    pub eval_every: u32,
    /// Episodes per evaluation (seeds `eval_seed`, `eval_seed + 1`, …).
    pub eval_episodes: u32,
    /// First evaluation seed.
    pub eval_seed: u64,
    /// Training stops once an evaluation's mean return reaches this.
    pub solved_at: f64,
}

impl DqnConfig {
    /// CartPole-v1: a 4-64-64-2 network, batches of 64, 16 updates every 64 steps after 1,000
    /// random ones, the target refreshed every 256 steps, a replay of 20,000 transitions,
    /// rl-baselines3-zoo's learning rate (2.3e-3), γ 0.99 and final ε 0.04 (reached 5,000 steps
    /// after learning starts). Solved at a greedy mean of 475 over 10 episodes (Gymnasium's
    /// reward threshold), evaluated every 2,000 steps. Measured on seeds 0-7: all solved, at
    /// 22,000-34,000 steps (seed 0 at 34,000). A 4-32-32-2 network solved 3 of 8 and a replay
    /// of 10,000 transitions 7 of 8 (seed 0 did not).
    pub const CARTPOLE: DqnConfig = DqnConfig {
        hidden: [64, 64],
        batch: 64,
        gamma: 0.99,
        lr: 2.3e-3,
        learning_starts: 1000,
        train_freq: 64,
        gradient_steps: 16,
        target_update: 256,
        eps_start: 1.0,
        eps_end: 0.04,
        eps_steps: 5000,
        replay: 20_000,
        max_grad_norm: 10.0,
        total_steps: 50_000,
        eval_every: 2000,
        eval_episodes: 10,
        eval_seed: 1_000_000,
        solved_at: 475.0,
    };

    /// ε after `step` steps.
    pub fn epsilon(&self, step: u32) -> f32 {
        if step >= self.eps_steps || self.eps_steps == 0 {
            return self.eps_end;
        }
        let frac = step as f32 / self.eps_steps as f32;
        self.eps_start + (self.eps_end - self.eps_start) * frac
    }
}

/// The network's widths for `obs_dim` inputs and `n_actions` outputs.
pub const fn dims(cfg: &DqnConfig, obs_dim: usize, n_actions: usize) -> [usize; 4] {
    [obs_dim, cfg.hidden[0], cfg.hidden[1], n_actions]
}

/// Values of the workspace a [`Dqn`] needs: five parameter-sized regions (online, target,
/// gradient, Adam's two moments), two observation batches, two forward buffers, the output
/// gradient, the batch's actions, rewards and discounts, and the backward scratch.
pub const fn workspace_len(cfg: &DqnConfig, obs_dim: usize, n_actions: usize) -> usize {
    let d = dims(cfg, obs_dim, n_actions);
    let b = cfg.batch;
    5 * super::mlp::param_len(&d)
        + 2 * b * obs_dim
        + 2 * super::mlp::acts_len(&d, b)
        + b * n_actions
        + 3 * b
        + super::mlp::scratch_len(&d, b)
}

/// Why DQN stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DqnError {
    /// The network refused its buffers.
    Learn(LearnError),
    /// The environment refused a call.
    Env(EnvError),
    /// The replay buffer refused a transition or a read.
    Replay(ReplayError),
    /// The environment's actions are not discrete, or there are more than [`MAX_ACTIONS`], or
    /// its observations are longer than [`MAX_OBS_DIM`].
    Unsupported,
    /// The workspace is shorter than [`workspace_len`].
    Workspace {
        /// Values needed.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// A batch size of zero.
    EmptyBatch,
}

impl fmt::Display for DqnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DqnError::Learn(e) => write!(f, "network: {e}"),
            DqnError::Env(e) => write!(f, "environment: {e}"),
            DqnError::Replay(e) => write!(f, "replay: {e}"),
            DqnError::Unsupported => write!(
                f,
                "DQN needs discrete actions (at most {MAX_ACTIONS}) and at most {MAX_OBS_DIM} observations"
            ),
            DqnError::Workspace { expected, got } => {
                write!(f, "workspace has {got} values, expected {expected}")
            }
            DqnError::EmptyBatch => write!(f, "the batch size is zero"),
        }
    }
}

impl core::error::Error for DqnError {}

impl From<LearnError> for DqnError {
    fn from(e: LearnError) -> Self {
        DqnError::Learn(e)
    }
}
impl From<EnvError> for DqnError {
    fn from(e: EnvError) -> Self {
        DqnError::Env(e)
    }
}
impl From<ReplayError> for DqnError {
    fn from(e: ReplayError) -> Self {
        DqnError::Replay(e)
    }
}

/// The workspace carved into its regions.
struct Regions<'w> {
    params: &'w mut [f32],
    target: &'w mut [f32],
    grads: &'w mut [f32],
    m: &'w mut [f32],
    v: &'w mut [f32],
    obs: &'w mut [f32],
    next_obs: &'w mut [f32],
    acts: &'w mut [f32],
    acts_next: &'w mut [f32],
    d_out: &'w mut [f32],
    /// Per sampled transition: the action (exact as f32), the reward, the discount `γ^h` or 0.
    meta: &'w mut [f32],
    scratch: &'w mut [f32],
}

/// A DQN learner over a caller's workspace.
#[derive(Debug)]
pub struct Dqn<'w> {
    cfg: DqnConfig,
    net: Mlp,
    obs_dim: usize,
    n_actions: usize,
    mem: &'w mut [f32],
    adam: Adam,
    rng: Pcg32,
}

impl<'w> Dqn<'w> {
    /// A learner for `obs_dim` observations and `n_actions` actions, its network initialized
    /// (PyTorch's default) from `seed`, which also seeds every later draw.
    pub fn new(
        cfg: DqnConfig,
        obs_dim: usize,
        n_actions: usize,
        mem: &'w mut [f32],
        seed: u64,
    ) -> Result<Self, DqnError> {
        if n_actions == 0 || n_actions > MAX_ACTIONS || obs_dim == 0 || obs_dim > MAX_OBS_DIM {
            return Err(DqnError::Unsupported);
        }
        if cfg.batch == 0 {
            return Err(DqnError::EmptyBatch);
        }
        let net = Mlp::new(
            &dims(&cfg, obs_dim, n_actions),
            Activation::Relu,
            Activation::Identity,
        )?;
        let need = workspace_len(&cfg, obs_dim, n_actions);
        if mem.len() < need {
            return Err(DqnError::Workspace {
                expected: need,
                got: mem.len(),
            });
        }
        let mut rng = rng::seeded(seed);
        let mut dqn = Self {
            cfg,
            net,
            obs_dim,
            n_actions,
            mem,
            adam: Adam::new(cfg.lr),
            rng: Pcg32::new(0, 0),
        };
        let r = dqn.regions();
        r.m.fill(0.0);
        r.v.fill(0.0);
        net.init(r.params, &mut rng)?;
        r.target.copy_from_slice(r.params);
        dqn.rng = rng;
        Ok(dqn)
    }

    fn regions(&mut self) -> Regions<'_> {
        carve(
            self.mem,
            &self.net,
            self.cfg.batch,
            self.obs_dim,
            self.n_actions,
        )
    }
}

/// The workspace's regions (its length was checked against [`workspace_len`] in [`Dqn::new`]).
fn carve<'m>(
    mem: &'m mut [f32],
    net: &Mlp,
    b: usize,
    obs_dim: usize,
    n_actions: usize,
) -> Regions<'m> {
    let p = net.param_len();
    let a = net.acts_len(b);
    let (params, rest) = mem.split_at_mut(p);
    let (target, rest) = rest.split_at_mut(p);
    let (grads, rest) = rest.split_at_mut(p);
    let (m, rest) = rest.split_at_mut(p);
    let (v, rest) = rest.split_at_mut(p);
    let (obs, rest) = rest.split_at_mut(b * obs_dim);
    let (next_obs, rest) = rest.split_at_mut(b * obs_dim);
    let (acts, rest) = rest.split_at_mut(a);
    let (acts_next, rest) = rest.split_at_mut(a);
    let (d_out, rest) = rest.split_at_mut(b * n_actions);
    let (meta, scratch) = rest.split_at_mut(3 * b);
    Regions {
        params,
        target,
        grads,
        m,
        v,
        obs,
        next_obs,
        acts,
        acts_next,
        d_out,
        meta,
        scratch,
    }
}

impl<'w> Dqn<'w> {
    /// The online network's shape.
    pub fn net(&self) -> &Mlp {
        &self.net
    }

    /// The online network's parameters ([`Mlp`]'s layout).
    pub fn params(&self) -> &[f32] {
        self.mem.get(..self.net.param_len()).unwrap_or(&[])
    }

    /// The CRC-32 of the online parameters' little-endian bytes: equal on every target when
    /// the weights are equal bit for bit.
    pub fn params_crc(&self) -> u32 {
        let mut c = crate::model::Crc32::new();
        for p in self.params() {
            c.update(&p.to_bits().to_le_bytes());
        }
        c.finish()
    }

    /// Gradient steps taken.
    pub fn updates(&self) -> u32 {
        self.adam.t
    }

    /// The greedy action for `obs` (the lowest index wins ties).
    pub fn greedy(&mut self, obs: &[f32]) -> Result<u32, DqnError> {
        let net = self.net;
        let r = self.regions();
        let x = obs.get(..net.in_dim()).ok_or(DqnError::Unsupported)?;
        net.forward(r.params, x, 1, r.acts_next)?;
        Ok(argmax(net.output(r.acts_next, 1)) as u32)
    }

    /// ε-greedy: with probability `epsilon` a uniformly random action, else the greedy one.
    pub fn act(&mut self, obs: &[f32], epsilon: f32) -> Result<u32, DqnError> {
        if rng::unit_f32(&mut self.rng) < epsilon {
            return Ok(rng::below(&mut self.rng, self.n_actions as u32));
        }
        self.greedy(obs)
    }

    /// One gradient step on a batch drawn uniformly from `replay`; returns the batch's Huber
    /// loss before the step.
    pub fn update<S: AsRef<[f32]> + AsMut<[f32]>>(
        &mut self,
        replay: &ReplayBuffer<S>,
    ) -> Result<f32, DqnError> {
        let (net, cfg, d, na) = (self.net, self.cfg, self.obs_dim, self.n_actions);
        let b = cfg.batch;
        let n = u32::try_from(replay.len()).unwrap_or(u32::MAX);
        if n == 0 {
            return Err(ReplayError::Empty.into());
        }
        let r = carve(self.mem, &net, b, d, na);
        for row in 0..b {
            let t = replay.get(rng::below(&mut self.rng, n) as usize)?;
            r.obs[row * d..(row + 1) * d].copy_from_slice(t.obs);
            r.next_obs[row * d..(row + 1) * d].copy_from_slice(t.next_obs);
            let a = match t.action {
                Action::Discrete(a) if (a as usize) < na => a,
                _ => return Err(DqnError::Unsupported),
            };
            let m = &mut r.meta[3 * row..3 * row + 3];
            m[0] = a as f32;
            m[1] = t.reward;
            m[2] = if t.terminated {
                0.0
            } else {
                powi(cfg.gamma, t.horizon)
            };
        }
        net.forward(r.target, r.next_obs, b, r.acts_next)?;
        net.forward(r.params, r.obs, b, r.acts)?;
        let q_next = net.output(r.acts_next, b);
        let q = net.output(r.acts, b);
        let inv_b = 1.0 / b as f32;
        let mut loss = 0.0f32;
        for row in 0..b {
            let m = &r.meta[3 * row..3 * row + 3];
            let a = m[0] as usize;
            let next = &q_next[row * na..(row + 1) * na];
            let y = m[1] + m[2] * next[argmax(next)];
            let diff = q[row * na + a] - y;
            // Huber (δ = 1): ½x² inside, |x| − ½ outside; its gradient is clamp(x, −1, 1).
            let ad = if diff < 0.0 { -diff } else { diff };
            loss += if ad < 1.0 {
                0.5 * diff * diff
            } else {
                ad - 0.5
            };
            let o = &mut r.d_out[row * na..(row + 1) * na];
            o.fill(0.0);
            o[a] = clamp1(diff) * inv_b;
        }
        net.backward(
            r.params,
            r.obs,
            b,
            r.acts,
            r.d_out,
            Some(r.grads),
            None,
            r.scratch,
        )?;
        clip_norm(r.grads, cfg.max_grad_norm);
        self.adam.step(r.params, r.grads, r.m, r.v)?;
        Ok(loss * inv_b)
    }

    /// Copies the online parameters into the target network.
    pub fn sync_target(&mut self) {
        let r = self.regions();
        r.target.copy_from_slice(r.params);
    }

    /// The mean return of the greedy policy over `cfg.eval_episodes` episodes of `env`.
    pub fn evaluate<E: Env>(&mut self, env: &mut E) -> Result<f64, DqnError> {
        let mut buf = [0f32; MAX_OBS_DIM];
        let obs = &mut buf[..self.obs_dim];
        let mut total = 0.0f64;
        let n = self.cfg.eval_episodes.max(1);
        for e in 0..n {
            env.reset(Some(self.cfg.eval_seed + u64::from(e)), obs)?;
            loop {
                let a = self.greedy(obs)?;
                let s = env.step(Action::Discrete(a), obs)?;
                total += s.reward;
                if s.done() {
                    break;
                }
            }
        }
        Ok(total / f64::from(n))
    }
}

/// What [`train`] reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// A training episode ended.
    Episode {
        /// Episodes finished before this one.
        index: u32,
        /// Its undiscounted return.
        ret: f64,
        /// Its length.
        steps: u32,
        /// Environment steps so far.
        total_steps: u32,
    },
    /// The greedy policy was evaluated.
    Eval {
        /// Environment steps so far.
        step: u32,
        /// Mean return over the evaluation episodes.
        mean: f64,
    },
    /// One environment step (and any update it triggered) is done.
    Step,
}

/// How a [`train`] run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Environment steps taken.
    pub steps: u32,
    /// Gradient steps taken.
    pub updates: u32,
    /// Training episodes finished.
    pub episodes: u32,
    /// The last evaluation's mean return.
    pub last_eval: f64,
    /// The step at which an evaluation first reached `solved_at`, if one did.
    pub solved_at_step: Option<u32>,
}

/// Trains `dqn` on `env` (reset first with `seed`, then continuing its own draws), storing
/// transitions in `replay` and evaluating on `eval_env`, until solved or `total_steps`.
pub fn train<E: Env, S: AsRef<[f32]> + AsMut<[f32]>>(
    dqn: &mut Dqn<'_>,
    env: &mut E,
    eval_env: &mut E,
    replay: &mut ReplayBuffer<S>,
    seed: u64,
    mut on: impl FnMut(Event),
) -> Result<Outcome, DqnError> {
    let cfg = dqn.cfg;
    let d = dqn.obs_dim;
    if replay.obs_dim() != d || replay.action_shape() != ActionShape::Discrete {
        return Err(DqnError::Unsupported);
    }
    let mut obs = [0f32; MAX_OBS_DIM];
    let mut next = [0f32; MAX_OBS_DIM];
    env.reset(Some(seed), &mut obs[..d])?;
    let mut out = Outcome {
        steps: 0,
        updates: 0,
        episodes: 0,
        last_eval: f64::NAN,
        solved_at_step: None,
    };
    let (mut ret, mut len) = (0.0f64, 0u32);
    while out.steps < cfg.total_steps {
        let a = if out.steps < cfg.learning_starts {
            rng::below(&mut dqn.rng, dqn.n_actions as u32)
        } else {
            let eps = cfg.epsilon(out.steps - cfg.learning_starts);
            dqn.act(&obs[..d], eps)?
        };
        let s = env.step(Action::Discrete(a), &mut next[..d])?;
        replay.push(&Transition {
            obs: &obs[..d],
            action: Action::Discrete(a),
            reward: s.reward as f32,
            next_obs: &next[..d],
            terminated: s.terminated,
            horizon: 1,
        })?;
        out.steps += 1;
        ret += s.reward;
        len += 1;
        if s.done() {
            on(Event::Episode {
                index: out.episodes,
                ret,
                steps: len,
                total_steps: out.steps,
            });
            out.episodes += 1;
            (ret, len) = (0.0, 0);
            env.reset(None, &mut obs[..d])?;
        } else {
            obs = next;
        }
        if out.steps >= cfg.learning_starts
            && cfg.train_freq > 0
            && out.steps.is_multiple_of(cfg.train_freq)
        {
            for _ in 0..cfg.gradient_steps {
                dqn.update(replay)?;
            }
        }
        if cfg.target_update > 0 && out.steps.is_multiple_of(cfg.target_update) {
            dqn.sync_target();
        }
        on(Event::Step);
        if cfg.eval_every > 0
            && out.steps.is_multiple_of(cfg.eval_every)
            && out.steps >= cfg.learning_starts
        {
            let mean = dqn.evaluate(eval_env)?;
            out.last_eval = mean;
            on(Event::Eval {
                step: out.steps,
                mean,
            });
            if mean >= cfg.solved_at {
                out.solved_at_step = Some(out.steps);
                break;
            }
        }
    }
    out.updates = dqn.updates();
    Ok(out)
}

/// The index of the largest value (the lowest wins ties; NaN never wins).
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn clamp1(x: f32) -> f32 {
    x.clamp(-1.0, 1.0)
}

/// `x^n` by repeated multiplication (the same rounding on every target).
fn powi(x: f32, n: u32) -> f32 {
    let mut p = 1.0;
    for _ in 0..n {
        p *= x;
    }
    p
}

/// Scales `g` to L2 norm `max` when longer (PyTorch's `clip_grad_norm_`: `g · max / (‖g‖ + 1e-6)`).
fn clip_norm(g: &mut [f32], max: f32) {
    let mut sq = 0.0f32;
    for &x in g.iter() {
        sq += x * x;
    }
    let norm = libm::sqrtf(sq);
    let coef = max / (norm + 1e-6);
    if coef < 1.0 {
        for x in g.iter_mut() {
            *x *= coef;
        }
    }
}
