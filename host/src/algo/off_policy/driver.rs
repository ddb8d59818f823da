//! The off-policy driver, written once for discrete and continuous actions (as
//! stable-baselines3's `OffPolicyAlgorithm.collect_rollouts`): the environments and their n-step
//! windows, the replay memory, the exploration generator, and a round of collection — `train_freq`
//! steps of every copy, each transition into replay, the steps and finished episodes counted —
//! after which the learner runs the updates the round is due. DQN ([`super::dqn`]) and the
//! continuous learners' [`super::continuous::Driver`] (DDPG, TD3, SAC) both collect through it; each
//! brings only how it chooses its actions (ε-greedy over Q-values, or a noisy or sampled actor)
//! and what it does between steps (DQN's target-network sync).
//!
//! Draws: the exploration generator is seeded `seed + 0x5eed_0001` and the replay's sampling
//! `seed + 0x5eed_0002`, for every learner, so a checkpoint holds both and `--resume` is bit-exact.

use anyhow::{bail, Result};
use picorl_core::replay::ActionShape;
use picorl_core::rng::{self, Pcg32};
use tch::Tensor;

use super::replay::{Collector, Replay, ReplayOptions, ReplayScalars, Windows};
use crate::algo::state::{Loading, Part, Saving};
use crate::envs::vec_env::{Actions, Journal};
use crate::train::{Setup, TrainCtx};

/// What the driver needs to know of a learner's hyper-parameters.
#[derive(Debug, Clone)]
pub struct CollectionOptions {
    /// Parallel environments.
    pub n_envs: usize,
    /// Replay capacity.
    pub buffer_size: usize,
    /// Discount factor.
    pub gamma: f64,
    /// Steps per stored return.
    pub n_step: usize,
    /// Random steps before learning.
    pub learning_starts: u64,
    /// Steps of every copy per round.
    pub train_freq: usize,
    /// Updates per round (-1: one per step collected).
    pub gradient_steps: i64,
    /// Updates also wait for this many transitions in the replay (DQN: a minibatch's worth, and
    /// `learning_starts` of them; 0: only for `learning_starts` steps).
    pub min_replay: usize,
    /// Proportional prioritized replay: `(α, ε)` (DQN's option; `None`: uniform).
    pub prioritized: Option<(f64, f64)>,
    /// Each stored observation is followed by the environment's privileged observation
    /// ([`crate::envs::privileged`]), for an asymmetric critic.
    pub privileged: bool,
}

/// The part of the driver's resume state that is not a tensor.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CollectionResume {
    rng: Pcg32,
    replay: ReplayScalars,
    journal: Journal,
    windows: Windows,
}

/// The collection side of every off-policy learner.
#[derive(Debug)]
pub struct Collection {
    /// The environments and their n-step windows.
    pub collector: Collector,
    /// The replay memory.
    pub replay: Replay,
    /// Exploration draws (random actions before `learning_starts`, ε-greedy, noise).
    pub rng: Pcg32,
    learning_starts: u64,
    train_freq: usize,
    gradient_steps: i64,
    min_replay: usize,
}

impl Collection {
    /// Environments and replay for `setup`, with actions of `shape`; errors name `algo` and the
    /// option.
    pub fn new(
        setup: &Setup,
        algo: &str,
        opts: &CollectionOptions,
        shape: ActionShape,
    ) -> Result<Self> {
        if opts.n_envs == 0 || opts.buffer_size == 0 || opts.train_freq == 0 || opts.n_step == 0 {
            bail!("{algo}: n_envs, buffer_size, train_freq and n_step must be positive");
        }
        if !(opts.gradient_steps > 0 || opts.gradient_steps == -1) {
            bail!("{algo}: gradient_steps must be positive or -1");
        }
        if !(0.0..=1.0).contains(&opts.gamma) {
            bail!("{algo}: gamma must be in [0, 1]");
        }
        let seed = setup.run.seed;
        let envs = setup.make_training_envs(opts.n_envs, opts.privileged)?;
        let obs_dim = envs.obs_dim();
        let (prioritized_alpha, prioritized_eps) = match opts.prioritized {
            Some((alpha, eps)) => (Some(alpha), eps),
            None => (None, 1e-6),
        };
        let replay = Replay::new(
            obs_dim,
            shape,
            &ReplayOptions {
                capacity: opts.buffer_size,
                gamma: opts.gamma,
                n_step: opts.n_step,
                prioritized_alpha,
                prioritized_eps,
            },
            seed.wrapping_add(0x5eed_0002),
        )?;
        Ok(Self {
            collector: Collector::new(envs, opts.n_step, opts.gamma, shape),
            replay,
            rng: rng::seeded(seed.wrapping_add(0x5eed_0001)),
            learning_starts: opts.learning_starts,
            train_freq: opts.train_freq,
            gradient_steps: opts.gradient_steps,
            min_replay: opts.min_replay,
        })
    }

    /// Whether the actions come from the policy yet (else uniformly at random).
    pub fn learning(&self, steps: u64) -> bool {
        steps >= self.learning_starts
    }

    /// One step of every copy with `actions`: the transitions into replay, the steps and
    /// finished episodes counted in `ctx`.
    pub fn step(&mut self, actions: Actions<'_>, ctx: &mut TrainCtx) -> Result<()> {
        self.collector.step(actions, &mut self.replay)?;
        ctx.record(&self.collector.envs)
    }

    /// One round of the learner `owner`, whose collection `col` gives: `step(owner, ctx)`
    /// `train_freq` times (it chooses the actions and calls [`Collection::step`]), fewer when the
    /// budget ends. Returns the updates the round is due: none before `learning_starts` steps
    /// (and `min_replay` transitions), else `gradient_steps` or, with -1, one per step collected.
    pub fn round<T>(
        owner: &mut T,
        ctx: &mut TrainCtx,
        col: impl Fn(&mut T) -> &mut Collection,
        mut step: impl FnMut(&mut T, &mut TrainCtx) -> Result<()>,
    ) -> Result<u64> {
        let start = ctx.steps;
        for _ in 0..col(owner).train_freq {
            step(owner, ctx)?;
            if ctx.steps >= ctx.total_steps {
                break;
            }
        }
        let c = col(owner);
        if ctx.steps <= c.learning_starts || c.replay.len() < c.min_replay {
            return Ok(0);
        }
        Ok(if c.gradient_steps < 0 {
            ctx.steps - start
        } else {
            c.gradient_steps as u64
        })
    }

    /// The state for a bit-exact `--resume`: the replay's transitions and priorities (tensors)
    /// and the rest (the generator, the environments' journal, the n-step windows).
    pub fn snapshot(&self) -> Result<(Tensor, Option<Tensor>, CollectionResume)> {
        let (rows, prios, replay) = self.replay.snapshot()?;
        let (journal, windows) = self.collector.snapshot();
        Ok((
            rows,
            prios,
            CollectionResume {
                rng: self.rng.clone(),
                replay,
                journal,
                windows,
            },
        ))
    }

    /// Restores a [`Collection::snapshot`].
    pub fn restore(
        &mut self,
        rows: &Tensor,
        prios: Option<&Tensor>,
        s: &CollectionResume,
    ) -> Result<()> {
        self.replay.restore(rows, prios, &s.replay)?;
        self.collector.restore(&s.journal, &s.windows)?;
        self.rng = s.rng.clone();
        Ok(())
    }
}

/// A learner's part ([`crate::algo::state`]): the replay's transitions and priorities as the
/// tensors `replay` and (prioritized) `replay_priorities`, and the generator, the replay's
/// scalars, the environments' journal and the n-step windows as the JSON keys `rng`, `replay`,
/// `journal` and `windows`.
impl Part for Collection {
    fn save(&self, name: &str, out: &mut Saving) -> Result<()> {
        let (rows, prios, s) = self.snapshot()?;
        out.tensor(&format!("{name}replay"), rows)?;
        if let Some(p) = prios {
            out.tensor(&format!("{name}replay_priorities"), p)?;
        }
        out.json(&format!("{name}rng"), &s.rng)?;
        out.json(&format!("{name}replay"), &s.replay)?;
        out.json(&format!("{name}journal"), &s.journal)?;
        out.json(&format!("{name}windows"), &s.windows)
    }

    fn load(&mut self, name: &str, from: &Loading) -> Result<()> {
        let s = CollectionResume {
            rng: from.json(&format!("{name}rng"))?,
            replay: from.json(&format!("{name}replay"))?,
            journal: from.json(&format!("{name}journal"))?,
            windows: from.json(&format!("{name}windows"))?,
        };
        // The replay checks that the priorities are there exactly when it is prioritized.
        let prios = from.optional_tensor(&format!("{name}replay_priorities"));
        self.restore(from.tensor(&format!("{name}replay"))?, prios, &s)
    }
}
