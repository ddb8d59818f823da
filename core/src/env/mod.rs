//! Environments that reproduce Gymnasium 1.4.0's dynamics, with no heap and no panics.
//!
//! Contract (see `docs/design.md`):
//! - [`Env::reset`] and [`Env::step`] follow Gymnasium's semantics: `terminated` marks a terminal
//!   state (learners do not bootstrap from it), `truncated` marks the time limit (learners do).
//! - The time limit (`max_episode_steps` of the Gymnasium registration) is part of every
//!   environment here: the step counter starts at zero on [`Env::reset`] and on [`Env::set_state`].
//!   As Gymnasium's `TimeLimit` wrapper does, the step that reaches the limit is `truncated` even
//!   when it also terminates. Ids that Gymnasium registers without a limit (`CliffWalking-v1`) say
//!   so with [`NO_TIME_LIMIT`].
//! - Internal state is `f64` wherever Gymnasium computes in float64; observations are `f32`, as
//!   Gymnasium returns its `Box(float32)` observations. Discrete observations are written as one
//!   `f32` holding the integer.
//! - Randomness comes from a seeded PCG generator ([`rand_pcg::Pcg32`]); the same seed gives the
//!   same episode. The draws follow the same distributions as Gymnasium's, not numpy's bit stream.
//!   The toy-text environments can also take their draws from the caller ([`Draws`],
//!   [`AnyEnv::step_with`]), which replays a recorded Gymnasium trace of a stochastic environment.
//! - Bad input (an action out of range, NaN, a state of the wrong length, a buffer of the wrong
//!   size, an unknown id or option) is a typed [`EnvError`], never a panic. Each environment's
//!   module says what it does with out-of-bound continuous actions (Gymnasium clips them).
//!
//! Ids, options and defaults are Gymnasium 1.4.0's; [`make`] builds any of them from an id and
//! [`EnvOptions`] (Gymnasium's `make` kwargs), and [`REGISTRY`] lists them.
//!
//! A new environment is one file and one line in the `registry!` list at the end of this module.

mod acrobot;
mod cartpole;
mod cliff_walking;
mod frozen_lake;
mod mountain_car;
mod mountain_car_continuous;
mod options;
mod pendulum;
mod quadrotor;
mod taxi;
mod toy_text;
mod user;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use cliff_walking::CliffWalking;
pub use frozen_lake::{FrozenLake, MapDesc, MapError, MAX_MAP_CELLS};
pub use mountain_car::MountainCar;
pub use mountain_car_continuous::MountainCarContinuous;
pub use options::{EnvOptions, MapName};
pub use pendulum::Pendulum;
pub use quadrotor::{InitRanges, Quadrotor, RewardWeights, L2F_INIT, L2F_REWARD};
pub use taxi::Taxi;
pub use toy_text::{Draws, TabularEnv, Transition, Transitions, MAX_OUTCOMES};
pub use user::{unknown_option, UserEnv};

use core::fmt;

/// The shape of an observation or an action.
///
/// No size is fixed here: a caller sizes its buffers from [`Space::flat_dim`] (or
/// [`EnvSpec::obs_dim`]), so an environment may have as many observation values and action
/// components as it needs. The bounds are `'static` slices so that an [`EnvSpec`] stays `Copy`
/// and can live in a `const`.
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
        /// Lower bounds, `dim` of them.
        low: &'static [f32],
        /// Upper bounds, `dim` of them.
        high: &'static [f32],
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

    /// Whether the space is well formed: a [`Space::Discrete`] with `n > 0`, or a [`Space::Box`]
    /// with `dim > 0`, `dim` bounds on each side, no NaN bound and `low[i] <= high[i]`.
    pub fn is_valid(&self) -> bool {
        match self {
            Space::Discrete { n } => *n > 0,
            Space::Box { dim, low, high } => {
                *dim > 0
                    && low.len() == *dim
                    && high.len() == *dim
                    && low.iter().zip(high.iter()).all(|(l, h)| l <= h)
            }
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
    /// Gymnasium's `max_episode_steps` for this id; [`NO_TIME_LIMIT`] where it registers none.
    pub max_episode_steps: u32,
}

/// `max_episode_steps` of an id that Gymnasium registers without a time limit (its `None`).
pub const NO_TIME_LIMIT: u32 = u32::MAX;

impl EnvSpec {
    /// Values in one observation: the length of the buffer [`Env::reset`] and [`Env::step`] write.
    pub const fn obs_dim(&self) -> usize {
        self.observation_space.flat_dim()
    }

    /// The time limit, or `None` where Gymnasium registers none.
    pub const fn time_limit(&self) -> Option<u32> {
        if self.max_episode_steps == NO_TIME_LIMIT {
            None
        } else {
            Some(self.max_episode_steps)
        }
    }
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
    /// The time limit was reached. As with Gymnasium's `TimeLimit` wrapper, this is also set on
    /// the last step of the limit when that step terminates; learners bootstrap only when
    /// `truncated && !terminated`.
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
    /// No environment is registered under this id (see [`REGISTRY`]).
    UnknownId,
    /// An option (Gymnasium `make` kwarg) that this environment does not know, or a bad value.
    /// Core itself reports the more precise variants below.
    BadOption,
    /// An option key that no environment here takes (see [`EnvOptions::KEYS`]).
    UnknownOption,
    /// An option value that does not parse, or is out of its range.
    BadOptionValue {
        /// The option (Gymnasium's kwarg name).
        option: &'static str,
        /// What the option takes.
        expected: &'static str,
    },
    /// An option that is known, but not taken by the environment being made.
    OptionNotAccepted {
        /// The environment's id.
        id: &'static str,
        /// The option (Gymnasium's kwarg name).
        option: &'static str,
    },
    /// A FrozenLake map (`desc`) that is not valid.
    BadMap(MapError),
    /// A failure the environment describes itself: an environment of the user's own refusing
    /// to go on (a motor over temperature, say), or what the host found when it checked one
    /// (a panic, a NaN observation at some step).
    Failed {
        /// What happened.
        reason: &'static str,
    },
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
                write!(
                    f,
                    "observation buffer has length {got}, expected {expected}"
                )
            }
            EnvError::StateDim { expected, got } => {
                write!(f, "state has length {got}, expected {expected}")
            }
            EnvError::InvalidState { index } => write!(f, "state value {index} is invalid"),
            EnvError::NeedsReset => {
                write!(f, "step called before reset or after the episode ended")
            }
            EnvError::UnknownId => {
                write!(f, "unknown environment id (known:")?;
                for spec in REGISTRY {
                    write!(f, " {}", spec.id)?;
                }
                write!(f, ")")
            }
            EnvError::BadOption => write!(f, "unknown environment option or bad option value"),
            EnvError::UnknownOption => {
                write!(f, "unknown environment option (known:")?;
                for key in EnvOptions::KEYS {
                    write!(f, " {key}")?;
                }
                write!(f, ")")
            }
            EnvError::BadOptionValue { option, expected } => {
                write!(f, "bad value for option {option}: expected {expected}")
            }
            EnvError::OptionNotAccepted { id, option } => {
                write!(f, "{id} does not take option {option}")
            }
            EnvError::BadMap(e) => write!(f, "bad FrozenLake map: {e}"),
            EnvError::Failed { reason } => write!(f, "{reason}"),
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

    /// Values in the *privileged observation*: what a learner's critic may read during training
    /// besides (or instead of) the observation, which the deployed policy never sees: the true
    /// state a simulator knows (an asymmetric actor-critic, Pinto et al. 2018). `0` (the default):
    /// the environment offers none.
    fn privileged_dim(&self) -> usize {
        0
    }

    /// Writes the privileged observation of the current state to `out` (length
    /// [`Env::privileged_dim`]); a wrong length is [`EnvError::ObsBuffer`].
    fn write_privileged(&self, out: &mut [f32]) -> Result<(), EnvError> {
        match out.len() {
            0 => Ok(()),
            got => Err(EnvError::ObsBuffer { expected: 0, got }),
        }
    }
}

/// Gymnasium's `TimeLimit` and `OrderEnforcing` wrappers for one environment: counts the steps of
/// the episode and refuses to step outside one. Each environment holds one; a toy-text one hands
/// it to [`TabularEnv::step_with`] through [`TabularEnv::episode_mut`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    steps: u32,
    running: bool,
}

impl Episode {
    /// Before the first reset: stepping is refused.
    pub const fn new() -> Self {
        Self {
            steps: 0,
            running: false,
        }
    }

    /// A reset or a set state: step 0 of a new episode.
    pub fn start(&mut self) {
        *self = Self {
            steps: 0,
            running: true,
        };
    }

    /// `Err(NeedsReset)` unless an episode is running.
    pub fn check(&self) -> Result<(), EnvError> {
        if self.running {
            Ok(())
        } else {
            Err(EnvError::NeedsReset)
        }
    }

    /// Counts one step and returns `truncated`, as `TimeLimit` does: the step that reaches
    /// `limit` truncates whether or not it also terminated. [`NO_TIME_LIMIT`] never truncates.
    pub fn count(&mut self, limit: u32, terminated: bool) -> bool {
        self.steps = self.steps.saturating_add(1);
        let truncated = limit != NO_TIME_LIMIT && self.steps >= limit;
        self.running = !(terminated || truncated);
        truncated
    }
}

impl Default for Episode {
    fn default() -> Self {
        Self::new()
    }
}

/// The index of a discrete action in `0..n`.
pub(crate) fn discrete_action(action: Action<'_>, n: u32) -> Result<u32, EnvError> {
    match action {
        Action::Discrete(a) if a < n => Ok(a),
        Action::Discrete(a) => Err(EnvError::ActionOutOfRange { action: a, n }),
        Action::Continuous(_) => Err(EnvError::WrongActionKind),
    }
}

/// The components of a continuous action of `N` finite values.
pub(crate) fn continuous_action<const N: usize>(action: Action<'_>) -> Result<[f32; N], EnvError> {
    let Action::Continuous(values) = action else {
        return Err(EnvError::WrongActionKind);
    };
    let a: [f32; N] = values.try_into().map_err(|_| EnvError::ActionDim {
        expected: N,
        got: values.len(),
    })?;
    match a.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(EnvError::NonFiniteAction { index }),
        None => Ok(a),
    }
}

/// The caller's observation buffer, checked to hold exactly `N` values.
pub(crate) fn obs_buffer<const N: usize>(obs: &mut [f32]) -> Result<&mut [f32; N], EnvError> {
    let got = obs.len();
    obs.try_into()
        .map_err(|_| EnvError::ObsBuffer { expected: N, got })
}

/// A state of exactly `N` finite values.
pub(crate) fn finite_state<const N: usize>(state: &[f64]) -> Result<[f64; N], EnvError> {
    let s: [f64; N] = state.try_into().map_err(|_| EnvError::StateDim {
        expected: N,
        got: state.len(),
    })?;
    match s.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(EnvError::InvalidState { index }),
        None => Ok(s),
    }
}

/// Copies a state of `N` values into the caller's buffer.
pub(crate) fn copy_state<const N: usize>(state: [f64; N], out: &mut [f64]) -> Result<(), EnvError> {
    let got = out.len();
    let out: &mut [f64; N] = out
        .try_into()
        .map_err(|_| EnvError::StateDim { expected: N, got })?;
    *out = state;
    Ok(())
}

/// What the registry needs from each environment type besides [`Env`]; public so that firmware
/// can build one concrete environment (and link only its code) instead of [`AnyEnv`].
pub trait Registered: Env + Sized {
    /// Builds the environment registered as `spec` with Gymnasium's kwargs in `options`,
    /// refusing options it does not take.
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError>;

    /// Steps with the random draws taken from `draws` (deterministic environments ignore it).
    fn step_with(
        &mut self,
        action: Action<'_>,
        _draws: &mut dyn Draws,
        obs: &mut [f32],
    ) -> Result<StepResult, EnvError> {
        self.step(action, obs)
    }

    /// The transition table, for the toy-text environments.
    fn as_tabular(&self) -> Option<&dyn TabularEnv> {
        None
    }
}

impl Registered for CartPole {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(spec.id, &["sutton_barto_reward"])?;
        Ok(CartPole::new().with_sutton_barto_reward(options.sutton_barto_reward.unwrap_or(false)))
    }
}

/// Generates [`AnyEnv`], its [`Env`] impl, [`REGISTRY`] and [`make`] from one list.
macro_rules! registry {
    ($( $(#[$doc:meta])* $variant:ident($ty:ty) => [$($spec:expr),+ $(,)?] ),+ $(,)?) => {
        /// Any registered environment behind one type: what [`make`] returns.
        ///
        /// As large as its largest variant (FrozenLake's fixed 256-cell map): core has no heap to
        /// box it in. Firmware that runs one environment uses its concrete type.
        #[derive(Debug, Clone)]
        #[allow(clippy::large_enum_variant)]
        pub enum AnyEnv {
            $( $(#[$doc])* $variant($ty), )+
        }

        /// Every registered id with its spaces and time limit (for `picorl env list`), in the
        /// order of Gymnasium's registration.
        pub const REGISTRY: &[EnvSpec] = &[$($($spec),+),+];

        /// Makes the environment registered as `id` (Gymnasium's id) with Gymnasium's `make`
        /// kwargs in `options`. An unknown id is [`EnvError::UnknownId`]; an option the
        /// environment does not take is [`EnvError::OptionNotAccepted`].
        pub fn make(id: &str, options: &EnvOptions) -> Result<AnyEnv, EnvError> {
            $($(
                if id == $spec.id {
                    return <$ty as Registered>::from_options(&$spec, options).map(AnyEnv::$variant);
                }
            )+)+
            Err(EnvError::UnknownId)
        }

        impl AnyEnv {
            /// Steps with the random draws of a stochastic step (the toy-text environments'
            /// `categorical_sample` and Taxi's fickle passenger) taken from `draws` instead of
            /// the environment's generator: what replays a recorded Gymnasium trace exactly.
            /// Deterministic environments ignore `draws`.
            pub fn step_with(
                &mut self,
                action: Action<'_>,
                draws: &mut dyn Draws,
                obs: &mut [f32],
            ) -> Result<StepResult, EnvError> {
                match self { $( AnyEnv::$variant(e) => Registered::step_with(e, action, draws, obs), )+ }
            }

            /// The transition table `P` of a toy-text environment, `None` for the others.
            pub fn as_tabular(&self) -> Option<&dyn TabularEnv> {
                match self { $( AnyEnv::$variant(e) => e.as_tabular(), )+ }
            }
        }

        impl Env for AnyEnv {
            fn spec(&self) -> &EnvSpec {
                match self { $( AnyEnv::$variant(e) => e.spec(), )+ }
            }
            fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
                match self { $( AnyEnv::$variant(e) => e.reset(seed, obs), )+ }
            }
            fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
                match self { $( AnyEnv::$variant(e) => e.step(action, obs), )+ }
            }
            fn state_dim(&self) -> usize {
                match self { $( AnyEnv::$variant(e) => e.state_dim(), )+ }
            }
            fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
                match self { $( AnyEnv::$variant(e) => e.get_state(out), )+ }
            }
            fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
                match self { $( AnyEnv::$variant(e) => e.set_state(state, obs), )+ }
            }
            fn privileged_dim(&self) -> usize {
                match self { $( AnyEnv::$variant(e) => e.privileged_dim(), )+ }
            }
            fn write_privileged(&self, out: &mut [f32]) -> Result<(), EnvError> {
                match self { $( AnyEnv::$variant(e) => e.write_privileged(out), )+ }
            }
        }

        $(
            impl From<$ty> for AnyEnv {
                fn from(env: $ty) -> Self {
                    AnyEnv::$variant(env)
                }
            }
        )+
    };
}

// The registry: one line per environment type, with the Gymnasium ids it is registered under.
registry! {
    /// `CartPole-v1`.
    CartPole(CartPole) => [cartpole::SPEC],
    /// `MountainCar-v0`.
    MountainCar(MountainCar) => [mountain_car::SPEC],
    /// `MountainCarContinuous-v0`.
    MountainCarContinuous(MountainCarContinuous) => [mountain_car_continuous::SPEC],
    /// `Pendulum-v1`.
    Pendulum(Pendulum) => [pendulum::SPEC],
    /// `Acrobot-v1`.
    Acrobot(Acrobot) => [acrobot::SPEC],
    /// `FrozenLake-v1` and `FrozenLake8x8-v1`.
    FrozenLake(FrozenLake) => [frozen_lake::SPEC, frozen_lake::SPEC_8X8],
    /// `CliffWalking-v1` and `CliffWalkingSlippery-v1`.
    CliffWalking(CliffWalking) => [cliff_walking::SPEC, cliff_walking::SPEC_SLIPPERY],
    /// `Taxi-v4`.
    Taxi(Taxi) => [taxi::SPEC],
    /// `Quadrotor-v0`: L2F's Crazyflie hover task (*Learning to Fly in Seconds*).
    Quadrotor(Quadrotor) => [quadrotor::SPEC],
}
