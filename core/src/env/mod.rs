//! Environments that reproduce Gymnasium 1.4.0's dynamics, with no heap and no panics.
//!
//! Contract (see `DESIGN.md`):
//! - [`Env::reset`] and [`Env::step`] follow Gymnasium's semantics: `terminated` marks a terminal
//!   state (learners do not bootstrap from it), `truncated` marks the time limit (learners do).
//! - The time limit (`max_episode_steps` of the Gymnasium registration) is part of every
//!   environment here: the step counter starts at zero on [`Env::reset`] and on [`Env::set_state`].
//! - Internal state is `f64` wherever Gymnasium computes in float64; observations are `f32`, as
//!   Gymnasium returns its `Box(float32)` observations. Discrete observations are written as one
//!   `f32` holding the integer.
//! - Randomness comes from a seeded PCG generator ([`rand_pcg::Pcg32`]); the same seed gives the
//!   same episode. The draws follow the same distributions as Gymnasium's, not numpy's bit stream.
//! - Bad input (an action out of range, NaN, a state of the wrong length, a buffer of the wrong
//!   size) is a typed [`EnvError`], never a panic.

mod cartpole;

pub use cartpole::CartPole;

use core::fmt;

/// The most observation values any environment in core writes.
pub const MAX_OBS_DIM: usize = 8;
/// The most action components any continuous environment in core takes.
pub const MAX_ACTION_DIM: usize = 4;
/// The most internal-state values any environment in core exposes.
pub const MAX_STATE_DIM: usize = 8;

/// The shape of an observation or an action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Space {
    /// `n` choices, `0..n`.
    Discrete {
        /// Number of choices.
        n: u32,
    },
    /// A box of `dim` values, each within `[low[i], high[i]]` (infinite bounds allowed).
    Box {
        /// Number of components.
        dim: usize,
        /// Lower bounds; only the first `dim` entries are meaningful.
        low: [f32; MAX_OBS_DIM],
        /// Upper bounds; only the first `dim` entries are meaningful.
        high: [f32; MAX_OBS_DIM],
    },
}

impl Space {
    /// Values in one sample of this space as picorl writes it (`1` for [`Space::Discrete`]).
    pub const fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { dim, .. } => *dim,
        }
    }
}

/// What describes an environment: Gymnasium's id, spaces and time limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvSpec {
    /// Gymnasium's id, e.g. `"CartPole-v1"`.
    pub id: &'static str,
    /// The observation space.
    pub observation_space: Space,
    /// The action space.
    pub action_space: Space,
    /// Gymnasium's `max_episode_steps` for this id.
    pub max_episode_steps: u32,
}

/// An action handed to [`Env::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    /// The index of a discrete action.
    Discrete(u32),
    /// The components of a continuous action.
    Continuous(&'a [f32]),
}

/// The outcome of one [`Env::step`]; the observation is written to the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepResult {
    /// The reward, as Gymnasium computes it (float64).
    pub reward: f64,
    /// A terminal state was reached: do not bootstrap.
    pub terminated: bool,
    /// The time limit was reached (and the state is not terminal): bootstrap.
    pub truncated: bool,
}

impl StepResult {
    /// The episode is over, one way or the other.
    pub const fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// Why an environment refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvError {
    /// A discrete action outside `0..n`.
    ActionOutOfRange {
        /// The action given.
        action: u32,
        /// The number of actions.
        n: u32,
    },
    /// An action of the wrong kind (discrete for a continuous env, or the reverse).
    WrongActionKind,
    /// A continuous action with the wrong number of components.
    ActionDim {
        /// Components expected.
        expected: usize,
        /// Components given.
        got: usize,
    },
    /// A continuous action component is NaN or infinite.
    NonFiniteAction {
        /// The index of the offending component.
        index: usize,
    },
    /// The observation buffer has the wrong length.
    ObsBuffer {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A state of the wrong length was given to [`Env::set_state`] or read into a short buffer.
    StateDim {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A state value is invalid (NaN, or not a valid discrete state).
    InvalidState {
        /// The index of the offending value.
        index: usize,
    },
    /// `step` was called before the first `reset`/`set_state`, or after the episode ended.
    NeedsReset,
    /// No environment is registered under this id.
    UnknownId,
    /// An option (Gymnasium `make` kwarg) that this environment does not know, or a bad value.
    BadOption,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::ActionOutOfRange { action, n } => {
                write!(f, "action {action} is out of range 0..{n}")
            }
            EnvError::WrongActionKind => write!(f, "action of the wrong kind for this environment"),
            EnvError::ActionDim { expected, got } => {
                write!(f, "action has {got} components, expected {expected}")
            }
            EnvError::NonFiniteAction { index } => {
                write!(f, "action component {index} is NaN or infinite")
            }
            EnvError::ObsBuffer { expected, got } => {
                write!(f, "observation buffer has length {got}, expected {expected}")
            }
            EnvError::StateDim { expected, got } => {
                write!(f, "state has length {got}, expected {expected}")
            }
            EnvError::InvalidState { index } => write!(f, "state value {index} is invalid"),
            EnvError::NeedsReset => write!(f, "step called before reset or after the episode ended"),
            EnvError::UnknownId => write!(f, "unknown environment id"),
            EnvError::BadOption => write!(f, "unknown environment option or bad option value"),
        }
    }
}

impl core::error::Error for EnvError {}

/// A Gymnasium-exact environment with its time limit.
///
/// Object safe, so a host can hold `&mut dyn Env`; the firmware uses the concrete types.
pub trait Env {
    /// Id, spaces and time limit.
    fn spec(&self) -> &EnvSpec;

    /// Starts an episode from a state drawn with a generator seeded by `seed` (Gymnasium's
    /// `reset(seed=...)`), or, with `None`, continues the generator of the last reset.
    /// Writes the first observation to `obs`.
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError>;

    /// Applies `action`, writes the next observation to `obs` and returns reward and flags.
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError>;

    /// Number of values in the internal state (Gymnasium's `env.unwrapped.state` / `.s`).
    fn state_dim(&self) -> usize;

    /// Copies the internal state into `out` (length [`Env::state_dim`]).
    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError>;

    /// Sets the internal state, as right after a reset (the step counter restarts at zero), and
    /// writes the observation of that state to `obs`.
    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError>;
}
