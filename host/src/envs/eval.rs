//! Deterministic evaluation, the same for a training run's network (through libtorch) and for an
//! exported `.picorl` file (through `picorl-core`, the firmware's code).

use anyhow::{Context, Result};
use picorl_core::env::{Action, Env};

/// An action owned by the caller, turned into core's [`Action`] to step an environment.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedAction {
    /// A discrete action.
    Discrete(u32),
    /// A continuous action.
    Continuous(Vec<f32>),
}

impl OwnedAction {
    /// Borrows it as core's action.
    pub fn as_action(&self) -> Action<'_> {
        match self {
            OwnedAction::Discrete(a) => Action::Discrete(*a),
            OwnedAction::Continuous(v) => Action::Continuous(v),
        }
    }
}

/// Anything that acts deterministically on an observation.
pub trait Actor {
    /// The action for `obs`.
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction>;
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalResult {
    /// Reset seeds, one per episode.
    pub seeds: Vec<u64>,
    /// Undiscounted returns, one per episode.
    pub returns: Vec<f64>,
    /// Episode lengths.
    pub lengths: Vec<u32>,
    /// `Quadrotor-v0` only: whether each episode hovered ([`crate::envs::hover`]).
    pub hovered: Option<Vec<bool>>,
    /// `Quadrotor-v0` only: each episode's final state ([`Env::get_state`]).
    pub final_states: Vec<Vec<f64>>,
}

impl EvalResult {
    /// Mean return (NaN for no episodes).
    pub fn mean(&self) -> f64 {
        mean(&self.returns)
    }

    /// Population standard deviation of the returns (numpy's `std`, as SB3 reports it).
    pub fn std(&self) -> f64 {
        let m = self.mean();
        (self.returns.iter().map(|r| (r - m).powi(2)).sum::<f64>() / self.returns.len() as f64)
            .sqrt()
    }
}

/// The mean of `xs` (NaN when empty).
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The most steps of an evaluation episode in an environment without a time limit
/// (`CliffWalking-v1`), where a deterministic policy can walk in circles forever.
pub const UNLIMITED_EVAL_STEPS: u32 = 10_000;

/// Runs `episodes` episodes, episode `i` reset with `first_seed + i`, acting with `actor`. An
/// episode of an environment without a time limit ends after [`UNLIMITED_EVAL_STEPS`] steps.
pub fn evaluate(
    env: &mut dyn Env,
    actor: &mut dyn Actor,
    first_seed: u64,
    episodes: u32,
) -> Result<EvalResult> {
    let dim = env.spec().observation_space.flat_dim();
    let limit = env.spec().time_limit();
    let cap = limit.map_or(UNLIMITED_EVAL_STEPS, |_| u32::MAX);
    let mut obs = vec![0.0f32; dim];
    let mut res = EvalResult {
        seeds: Vec::new(),
        returns: Vec::new(),
        lengths: Vec::new(),
        hovered: None,
        final_states: Vec::new(),
    };
    let mut judge = crate::envs::hover::Judge::for_env(env.spec().id);
    // Final states are kept where the success figure applies (a robot's state).
    let state_dim = if judge.is_some() { env.state_dim() } else { 0 };
    for i in 0..u64::from(episodes) {
        let seed = first_seed + i;
        env.reset(Some(seed), &mut obs)
            .with_context(|| format!("resetting with seed {seed}"))?;
        let (mut ret, mut len) = (0.0, 0u32);
        if let Some(j) = judge.as_mut() {
            j.reset();
        }
        loop {
            let action = actor.act(&obs)?;
            let r = env.step(action.as_action(), &mut obs).with_context(|| {
                format!("episode with seed {seed}, step {len}: action {action:?}")
            })?;
            ret += r.reward;
            len += 1;
            if let Some(j) = judge.as_mut() {
                j.observe(&obs);
                if r.done() {
                    j.finish(r.terminated);
                }
            }
            if r.done() || len >= cap {
                break;
            }
        }
        res.seeds.push(seed);
        res.returns.push(ret);
        res.lengths.push(len);
        if state_dim > 0 {
            let mut state = vec![0.0; state_dim];
            env.get_state(&mut state)
                .with_context(|| format!("the final state of the episode with seed {seed}"))?;
            res.final_states.push(state);
        }
    }
    res.hovered = judge.map(|j| j.hovered);
    Ok(res)
}
