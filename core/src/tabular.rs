//! Tabular learning and planning, heap-free: Q-learning, SARSA and Expected SARSA over a
//! fixed-size Q-table, and finite-horizon value iteration over a toy-text environment's
//! transition table.
//!
//! # The pieces
//! - [`QTable<S, A>`]: the storage, `[[f32; A]; S]`, zero-initialised by a `const fn`, so it can
//!   live in a `static` or on the stack of a Cortex-M.
//! - [`QView`]: the same table as a checked view over any flat `f32` buffer with a run-time number
//!   of actions (a `&mut [f32]`, a host's `Vec<f32>`); every algorithm is written once, on it.
//! - [`Learner`]: the hyper-parameters ([`Hyper`]) and the exploration schedule's state; it acts
//!   ([`Learner::act`]) and learns ([`Learner::learn`]) on a view, with random draws from the
//!   caller's seeded generator.
//! - [`plan`] and [`evaluate_policy`]: value iteration and exact policy evaluation under a time
//!   limit (the optimum a learner is measured against).
//!
//! # Semantics
//! - **Update rules** ([`Rule`]): the target is `r + γ·Q(s′, ·)` with `max` (Q-learning), the
//!   next action actually taken (SARSA) or the expectation under the ε-greedy policy (Expected
//!   SARSA); then `Q(s, a) += α·(target − Q(s, a))`, in `f32`.
//! - **Terminal vs time limit**: a step with `terminated` does not bootstrap (the target is the
//!   reward); a truncated step (the time limit) bootstraps like any other, as Gymnasium's
//!   `terminated`/`truncated` split intends. A step that is both is terminal.
//! - **Schedules** ([`Schedule`]): ε-greedy exploration, with ε (and the learning rate α) updated
//!   **once per episode** ([`Learner::end_episode`]): constant, the seed's exponential decay
//!   `ε ← max(ε_min, ε·decay)` (1.0, 0.995, 0.01 in [`Schedule::SEED_EPSILON`]), or a linear
//!   change from `start` to `end` over a number of episodes.
//! - **Ties**: the greedy action of a learned policy ([`QView::greedy`]: evaluation, export, the
//!   firmware) is the lowest index among the maxima, as numpy's `argmax`, with no random draw.
//!   Exploration ([`Learner::act`]) breaks ties uniformly at random by default
//!   ([`TieBreak::Random`]), with one draw from the caller's generator: on an untrained all-zero
//!   table, lowest-index greedy always walks the same way (on FrozenLake, left into the corner)
//!   and learns far slower. [`TieBreak::First`] is there for comparison.
//! - **Reward shaping** ([`Hyper::hole_penalty`], off by default): the seed's penalty for an
//!   episode that ends without reward; a terminating step of reward exactly 0 (FrozenLake's
//!   holes) is learned as `−hole_penalty`. It changes what is learned, never the returns an
//!   environment reports.
//! - **Randomness**: every draw comes from the generator the caller passes ([`crate::rng`]), in a
//!   fixed order (documented on each method), so the same seed gives the same table, bit for bit,
//!   on the desktop and on a Cortex-M4F (IEEE `f32`, no fused multiply-add in Rust).
//!
//! # No heap, no panic
//! States, actions, rewards, buffers and hyper-parameters are all checked; anything out of range
//! is a [`TabularError`]. The update is a fixed amount of work per step (`O(A)`).
//!
//! # On a microcontroller
//! ```
//! use picorl_core::env::{Action, Env, FrozenLake, MapDesc};
//! use picorl_core::rng;
//! use picorl_core::tabular::{self, Experience, Hyper, Learner, QTable};
//!
//! static LEARNER: Learner = match Learner::new(Hyper::SEED) {
//!     Ok(l) => l,
//!     Err(_) => panic!("bad hyper-parameters"), // caught at compile time
//! };
//! let mut table = QTable::<16, 4>::new(); // or a `static mut` in cortex-m-rt's #[entry]
//! let mut learner = LEARNER;
//! let mut q = table.view_mut();
//! let mut env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, true);
//! let mut rng = rng::seeded(0);
//! let mut obs = [0.0f32; 1];
//! for episode in 0..100 {
//!     env.reset(Some(episode), &mut obs)?;
//!     let mut s = tabular::discrete_state(&obs)?;
//!     let mut a = learner.act(&q, s, &mut rng)?;
//!     loop {
//!         let r = env.step(Action::Discrete(a), &mut obs)?;
//!         let next = tabular::discrete_state(&obs)?;
//!         let exp = Experience::new(s, a, r.reward as f32, next, r.terminated);
//!         let learned = learner.learn(&mut q, &exp, &mut rng)?;
//!         if r.done() {
//!             break;
//!         }
//!         (s, a) = (next, learned.next_action);
//!     }
//!     learner.end_episode();
//! }
//! assert!(learner.epsilon() < 1.0);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use core::fmt;

use rand_core::RngCore;

use crate::env::{EnvError, TabularEnv};
use crate::rng;

/// Why a tabular operation was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TabularError {
    /// A state outside `0..n_states`.
    StateOutOfRange {
        /// The state given.
        state: u32,
        /// The number of states.
        n_states: u32,
    },
    /// An action outside `0..n_actions`.
    ActionOutOfRange {
        /// The action given.
        action: u32,
        /// The number of actions.
        n_actions: u32,
    },
    /// An observation that is not one finite, non-negative integer (a discrete state).
    BadObservation,
    /// A reward that is NaN or infinite.
    NonFiniteReward,
    /// A table buffer that is empty, has no actions, or whose length is not a multiple of the
    /// number of actions.
    TableShape {
        /// The buffer's length.
        len: usize,
        /// The number of actions asked for.
        n_actions: usize,
    },
    /// A caller's buffer of the wrong length.
    BufferSize {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A hyper-parameter out of its range.
    BadHyper {
        /// The field of [`Hyper`] at fault.
        field: &'static str,
        /// What it takes.
        expected: &'static str,
    },
    /// The environment refused a transition-table query.
    Env(EnvError),
}

impl fmt::Display for TabularError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TabularError::StateOutOfRange { state, n_states } => {
                write!(f, "state {state} is out of range 0..{n_states}")
            }
            TabularError::ActionOutOfRange { action, n_actions } => {
                write!(f, "action {action} is out of range 0..{n_actions}")
            }
            TabularError::BadObservation => {
                write!(f, "observation is not one non-negative integer state")
            }
            TabularError::NonFiniteReward => write!(f, "reward is NaN or infinite"),
            TabularError::TableShape { len, n_actions } => write!(
                f,
                "a table of {len} values cannot hold rows of {n_actions} actions"
            ),
            TabularError::BufferSize { expected, got } => {
                write!(f, "buffer has length {got}, expected {expected}")
            }
            TabularError::BadHyper { field, expected } => {
                write!(f, "hyper-parameter {field}: expected {expected}")
            }
            TabularError::Env(e) => write!(f, "environment: {e}"),
        }
    }
}

impl core::error::Error for TabularError {}

impl From<EnvError> for TabularError {
    fn from(e: EnvError) -> Self {
        TabularError::Env(e)
    }
}

/// The state in a discrete observation (one `f32` holding the integer, as core's toy-text
/// environments write it); an error for anything else (NaN, negative, fractional, too large,
/// or not exactly one value).
pub fn discrete_state(obs: &[f32]) -> Result<u32, TabularError> {
    match *obs {
        // 2^24: every integer below it is exact in f32, and no table is that tall.
        [v] if (0.0..16_777_216.0).contains(&v) && v == libm::truncf(v) => Ok(v as u32),
        _ => Err(TabularError::BadObservation),
    }
}

/// A Q-table of `S` states and `A` actions, `[[f32; A]; S]`, that can live in a `static`.
#[derive(Debug, Clone, PartialEq)]
pub struct QTable<const S: usize, const A: usize> {
    q: [[f32; A]; S],
}

impl<const S: usize, const A: usize> Default for QTable<S, A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const S: usize, const A: usize> QTable<S, A> {
    /// A table of zeros (the seed's `np.zeros((S, A))`).
    pub const fn new() -> Self {
        Self::filled(0.0)
    }

    /// A table with every entry `value` (optimistic initialisation).
    pub const fn filled(value: f32) -> Self {
        const { assert!(S > 0 && A > 0, "a Q-table needs states and actions") };
        const { assert!(S <= u32::MAX as usize && A <= u32::MAX as usize) };
        Self { q: [[value; A]; S] }
    }

    /// The rows, one per state.
    pub const fn rows(&self) -> &[[f32; A]; S] {
        &self.q
    }

    /// The table as a read-only view.
    pub fn view(&self) -> QView<&[f32]> {
        QView {
            data: self.q.as_flattened(),
            n_actions: A,
        }
    }

    /// The table as a view that learns.
    pub fn view_mut(&mut self) -> QView<&mut [f32]> {
        QView {
            data: self.q.as_flattened_mut(),
            n_actions: A,
        }
    }
}

/// A Q-table as a checked view over a flat row-major buffer (`n_states * n_actions` values,
/// state-major), the type the algorithms take: it holds a `&[f32]`, a `&mut [f32]`, a host's
/// `Vec<f32>`, whatever is `AsRef<[f32]>`. Built by [`QView::new`], which checks the shape once.
#[derive(Debug, Clone, PartialEq)]
pub struct QView<T> {
    data: T,
    n_actions: usize,
}

impl<T: AsRef<[f32]>> QView<T> {
    /// A view of `data` as rows of `n_actions`; an error unless `data` is non-empty and a whole
    /// number of rows, and the sizes fit a `u32`.
    pub fn new(data: T, n_actions: usize) -> Result<Self, TabularError> {
        let len = data.as_ref().len();
        if n_actions == 0
            || len == 0
            || len % n_actions != 0
            || len / n_actions > u32::MAX as usize
            || n_actions > u32::MAX as usize
        {
            return Err(TabularError::TableShape { len, n_actions });
        }
        Ok(Self { data, n_actions })
    }

    /// Number of states.
    pub fn n_states(&self) -> u32 {
        (self.data.as_ref().len() / self.n_actions) as u32
    }

    /// Number of actions.
    pub fn n_actions(&self) -> u32 {
        self.n_actions as u32
    }

    /// Every value, row-major.
    pub fn values(&self) -> &[f32] {
        self.data.as_ref()
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.data
    }

    fn span(&self, state: u32) -> Result<core::ops::Range<usize>, TabularError> {
        if state >= self.n_states() {
            return Err(TabularError::StateOutOfRange {
                state,
                n_states: self.n_states(),
            });
        }
        let start = state as usize * self.n_actions;
        Ok(start..start + self.n_actions)
    }

    fn check_action(&self, action: u32) -> Result<(), TabularError> {
        if action < self.n_actions() {
            Ok(())
        } else {
            Err(TabularError::ActionOutOfRange {
                action,
                n_actions: self.n_actions(),
            })
        }
    }

    /// The action values of `state`.
    pub fn row(&self, state: u32) -> Result<&[f32], TabularError> {
        let span = self.span(state)?;
        Ok(self.data.as_ref().get(span).unwrap_or(&[]))
    }

    /// `Q(state, action)`.
    pub fn get(&self, state: u32, action: u32) -> Result<f32, TabularError> {
        self.check_action(action)?;
        let row = self.row(state)?;
        Ok(row.get(action as usize).copied().unwrap_or(0.0))
    }

    /// The greedy action of `state`: the lowest index among the largest values (numpy's
    /// `argmax`). NaN entries are never chosen unless the whole row is NaN (then 0).
    pub fn greedy(&self, state: u32) -> Result<u32, TabularError> {
        Ok(first_max(self.row(state)?).0)
    }

    /// `max_a Q(state, a)`.
    pub fn max(&self, state: u32) -> Result<f32, TabularError> {
        Ok(first_max(self.row(state)?).1)
    }

    /// The greedy action of every state into `out` (length [`QView::n_states`]).
    pub fn greedy_policy(&self, out: &mut [u32]) -> Result<(), TabularError> {
        let n = self.n_states() as usize;
        if out.len() != n {
            return Err(TabularError::BufferSize {
                expected: n,
                got: out.len(),
            });
        }
        for (row, a) in self.data.as_ref().chunks_exact(self.n_actions).zip(out) {
            *a = first_max(row).0;
        }
        Ok(())
    }
}

impl<T: AsRef<[f32]> + AsMut<[f32]>> QView<T> {
    /// Every value, row-major, to write (a checkpoint being loaded).
    pub fn values_mut(&mut self) -> &mut [f32] {
        self.data.as_mut()
    }

    /// The action values of `state`, to write.
    pub fn row_mut(&mut self, state: u32) -> Result<&mut [f32], TabularError> {
        let span = self.span(state)?;
        Ok(self.data.as_mut().get_mut(span).unwrap_or(&mut []))
    }

    /// Sets `Q(state, action)`.
    pub fn set(&mut self, state: u32, action: u32, value: f32) -> Result<(), TabularError> {
        self.check_action(action)?;
        if let Some(q) = self.row_mut(state)?.get_mut(action as usize) {
            *q = value;
        }
        Ok(())
    }
}

/// The first index of the largest value, and the value (`(0, NaN)` for an all-NaN row, `(0, 0)`
/// for an empty one).
fn first_max(row: &[f32]) -> (u32, f32) {
    let mut best = (0u32, row.first().copied().unwrap_or(0.0));
    for (i, &v) in row.iter().enumerate().skip(1) {
        if v > best.1 || (best.1.is_nan() && !v.is_nan()) {
            best = (i as u32, v);
        }
    }
    best
}

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Q-learning (Watkins 1989): bootstrap from `max_a Q(s′, a)`.
    QLearning,
    /// SARSA (Rummery & Niranjan 1994): bootstrap from `Q(s′, a′)`, `a′` the next action taken.
    Sarsa,
    /// Expected SARSA (van Seijen et al. 2009): bootstrap from the expectation of `Q(s′, ·)`
    /// under the ε-greedy policy, `ε·mean + (1 − ε)·max`.
    ExpectedSarsa,
}

/// How a rate (the exploration rate ε, the learning rate α) changes, once per episode
/// ([`Learner::end_episode`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The same value in every episode.
    Constant(f32),
    /// The seed's schedule: `v ← max(min, v·decay)` after each episode, from `start`.
    Exponential {
        /// The value in the first episode.
        start: f32,
        /// The factor applied after each episode, in `(0, 1]`.
        decay: f32,
        /// The floor.
        min: f32,
    },
    /// `v = start + (end − start)·min(1, k / episodes)` in episode `k` (from 0).
    Linear {
        /// The value in the first episode.
        start: f32,
        /// The value from episode `episodes` on.
        end: f32,
        /// Episodes of the change (0: `end` from the second episode).
        episodes: u32,
    },
}

impl Schedule {
    /// The seed's exploration: ε 1.0, decayed by 0.995 per episode to a floor of 0.01.
    pub const SEED_EPSILON: Schedule = Schedule::Exponential {
        start: 1.0,
        decay: 0.995,
        min: 0.01,
    };

    /// The value in the first episode.
    pub const fn start(&self) -> f32 {
        match *self {
            Schedule::Constant(start)
            | Schedule::Exponential { start, .. }
            | Schedule::Linear { start, .. } => start,
        }
    }

    /// The value after `episodes` episodes, given the value `current` of the last one.
    fn next(&self, current: f32, episodes: u32) -> f32 {
        match *self {
            Schedule::Constant(v) => v,
            Schedule::Exponential { decay, min, .. } => (current * decay).max(min),
            Schedule::Linear {
                start,
                end,
                episodes: span,
            } => {
                if episodes >= span {
                    end
                } else {
                    start + (end - start) * (episodes as f32 / span as f32)
                }
            }
        }
    }

    /// Checks that every value the schedule takes lies in `[0, 1]` (`(0, 1]` with `positive`)
    /// and that a decay lies in `(0, 1]`.
    const fn validate(&self, field: Field, positive: bool) -> Result<(), TabularError> {
        const fn rate(v: f32, positive: bool) -> bool {
            (v > 0.0 || (!positive && v == 0.0)) && v <= 1.0
        }
        let (values_ok, decay_ok) = match *self {
            Schedule::Constant(v) => (rate(v, positive), true),
            Schedule::Exponential { start, decay, min } => (
                rate(start, positive) && rate(min, positive),
                decay > 0.0 && decay <= 1.0,
            ),
            Schedule::Linear { start, end, .. } => {
                (rate(start, positive) && rate(end, positive), true)
            }
        };
        if !values_ok {
            return Err(TabularError::BadHyper {
                field: field.name,
                expected: if positive {
                    "values in (0, 1]"
                } else {
                    "values in [0, 1]"
                },
            });
        }
        if !decay_ok {
            return Err(TabularError::BadHyper {
                field: field.decay,
                expected: "a decay in (0, 1]",
            });
        }
        Ok(())
    }
}

/// Field names for the errors of [`Schedule::validate`].
#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    decay: &'static str,
}

/// How exploration chooses among equal greedy values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    /// Uniformly at random among the maxima (one draw when there is more than one).
    Random,
    /// The lowest index, as the learned policy acts.
    First,
}

/// A learner's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// The update rule.
    pub rule: Rule,
    /// Step size α, every value in `(0, 1]`.
    pub learning_rate: Schedule,
    /// Discount γ, in `[0, 1]`.
    pub gamma: f32,
    /// The exploration rate ε, every value in `[0, 1]`.
    pub epsilon: Schedule,
    /// Tie-breaking while exploring.
    pub tie_break: TieBreak,
    /// The seed's reward shaping: a step that terminates with reward exactly 0 (FrozenLake's
    /// holes) is learned as reward `−hole_penalty`. 0 turns it off; non-negative and finite.
    pub hole_penalty: f32,
}

impl Hyper {
    /// The seed's Q-learning on FrozenLake: α 0.8, γ 0.95, ε 1.0 decayed by 0.995 per episode to
    /// 0.01, no shaping.
    pub const SEED: Hyper = Hyper {
        rule: Rule::QLearning,
        learning_rate: Schedule::Constant(0.8),
        gamma: 0.95,
        epsilon: Schedule::SEED_EPSILON,
        tie_break: TieBreak::Random,
        hole_penalty: 0.0,
    };

    /// Checks every field's range.
    pub const fn validate(&self) -> Result<(), TabularError> {
        let lr = Field {
            name: "learning_rate",
            decay: "learning_rate.decay",
        };
        if let Err(e) = self.learning_rate.validate(lr, true) {
            return Err(e);
        }
        let eps = Field {
            name: "epsilon",
            decay: "epsilon.decay",
        };
        if let Err(e) = self.epsilon.validate(eps, false) {
            return Err(e);
        }
        if !(self.gamma >= 0.0 && self.gamma <= 1.0) {
            return Err(TabularError::BadHyper {
                field: "gamma",
                expected: "a number in [0, 1]",
            });
        }
        if !(self.hole_penalty >= 0.0 && self.hole_penalty < f32::INFINITY) {
            return Err(TabularError::BadHyper {
                field: "hole_penalty",
                expected: "a finite number >= 0",
            });
        }
        Ok(())
    }
}

/// One step of experience: `(s, a, r, s′, terminated)`.
///
/// A truncated step (the time limit) is not terminal: learning bootstraps from `s′`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Experience {
    /// The state acted in.
    pub state: u32,
    /// The action taken.
    pub action: u32,
    /// The reward (the environment's `f64` rounded to `f32`).
    pub reward: f32,
    /// The next state.
    pub next_state: u32,
    /// Whether `next_state` is terminal (Gymnasium's `terminated`).
    pub terminated: bool,
}

impl Experience {
    /// A step of experience.
    pub const fn new(
        state: u32,
        action: u32,
        reward: f32,
        next_state: u32,
        terminated: bool,
    ) -> Self {
        Self {
            state,
            action,
            reward,
            next_state,
            terminated,
        }
    }
}

/// What [`Learner::learn`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learned {
    /// The temporal-difference error `target − Q(s, a)` before the update.
    pub td_error: f32,
    /// The ε-greedy action for `next_state`, to take next if the episode goes on (for SARSA it
    /// is the action the update bootstrapped from). 0, with no draw, after a terminal step.
    pub next_action: u32,
}

/// Where a learner stands in its schedules (what a checkpoint saves besides the table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Episodes finished.
    pub episodes: u32,
    /// The exploration rate ε of the current episode.
    pub epsilon: f32,
    /// The learning rate α of the current episode.
    pub learning_rate: f32,
}

/// An ε-greedy tabular learner: the hyper-parameters and the schedules' state. It holds no
/// table and no generator: it acts and learns on the caller's [`QView`] with the caller's seeded
/// generator, so all three can live in `static`s or on a small stack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learner {
    hyper: Hyper,
    progress: Progress,
}

impl Learner {
    /// A learner at its first episode; an error names a hyper-parameter out of range.
    pub const fn new(hyper: Hyper) -> Result<Self, TabularError> {
        if let Err(e) = hyper.validate() {
            return Err(e);
        }
        Ok(Self {
            hyper,
            progress: Progress {
                episodes: 0,
                epsilon: hyper.epsilon.start(),
                learning_rate: hyper.learning_rate.start(),
            },
        })
    }

    /// The hyper-parameters.
    pub const fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// The exploration rate ε of the current episode.
    pub const fn epsilon(&self) -> f32 {
        self.progress.epsilon
    }

    /// The learning rate α of the current episode.
    pub const fn learning_rate(&self) -> f32 {
        self.progress.learning_rate
    }

    /// Episodes finished, and the current ε and α.
    pub const fn progress(&self) -> Progress {
        self.progress
    }

    /// Continues from a saved [`Progress`]; an error for an ε outside `[0, 1]` or an α outside
    /// `(0, 1]`.
    pub fn set_progress(&mut self, progress: Progress) -> Result<(), TabularError> {
        if !(0.0..=1.0).contains(&progress.epsilon) {
            return Err(TabularError::BadHyper {
                field: "epsilon",
                expected: "a number in [0, 1]",
            });
        }
        if !(progress.learning_rate > 0.0 && progress.learning_rate <= 1.0) {
            return Err(TabularError::BadHyper {
                field: "learning_rate",
                expected: "a number in (0, 1]",
            });
        }
        self.progress = progress;
        Ok(())
    }

    /// Ends an episode: counts it and moves ε and α along their schedules.
    pub fn end_episode(&mut self) {
        let p = &mut self.progress;
        p.episodes = p.episodes.saturating_add(1);
        p.epsilon = self.hyper.epsilon.next(p.epsilon, p.episodes);
        p.learning_rate = self.hyper.learning_rate.next(p.learning_rate, p.episodes);
    }

    /// The ε-greedy action in `state`.
    ///
    /// Draws, in order: one uniform `f32` ([`rng::unit_f32`]); below ε, one uniform action
    /// ([`rng::below`]); otherwise, with [`TieBreak::Random`] and more than one maximum, one
    /// index among the maxima.
    pub fn act<T: AsRef<[f32]>, R: RngCore + ?Sized>(
        &self,
        q: &QView<T>,
        state: u32,
        rng: &mut R,
    ) -> Result<u32, TabularError> {
        let row = q.row(state)?;
        if rng::unit_f32(rng) < self.progress.epsilon {
            return Ok(rng::below(rng, q.n_actions()));
        }
        let (first, best) = first_max(row);
        if self.hyper.tie_break == TieBreak::First {
            return Ok(first);
        }
        let ties = row.iter().filter(|&&v| v == best).count() as u32;
        if ties <= 1 {
            return Ok(first);
        }
        let mut k = rng::below(rng, ties);
        for (i, &v) in row.iter().enumerate() {
            if v == best {
                if k == 0 {
                    return Ok(i as u32);
                }
                k -= 1;
            }
        }
        Ok(first)
    }

    /// Learns from one step and picks the next action.
    ///
    /// Checks the step first (states and action in range, a finite reward) and changes nothing
    /// when it is refused. Then, by [`Rule`]: Q-learning and Expected SARSA update `Q(s, a)` and
    /// draw the next action with [`Learner::act`]; SARSA draws the next action first and
    /// bootstraps from it. After a terminal step nothing is drawn.
    pub fn learn<T, R>(
        &self,
        q: &mut QView<T>,
        exp: &Experience,
        rng: &mut R,
    ) -> Result<Learned, TabularError>
    where
        T: AsRef<[f32]> + AsMut<[f32]>,
        R: RngCore + ?Sized,
    {
        let current = q.get(exp.state, exp.action)?;
        let next_row = q.row(exp.next_state)?;
        if !exp.reward.is_finite() {
            return Err(TabularError::NonFiniteReward);
        }
        let h = &self.hyper;
        let reward = if exp.terminated && exp.reward == 0.0 && h.hole_penalty > 0.0 {
            -h.hole_penalty
        } else {
            exp.reward
        };
        let (bootstrap, sarsa_next) = if exp.terminated {
            (0.0, None)
        } else {
            match h.rule {
                Rule::QLearning => (first_max(next_row).1, None),
                Rule::ExpectedSarsa => {
                    let eps = self.progress.epsilon;
                    let mean = next_row.iter().sum::<f32>() / next_row.len() as f32;
                    (eps * mean + (1.0 - eps) * first_max(next_row).1, None)
                }
                Rule::Sarsa => {
                    let a = self.act(q, exp.next_state, rng)?;
                    (q.get(exp.next_state, a)?, Some(a))
                }
            }
        };
        let td_error = reward + h.gamma * bootstrap - current;
        q.set(
            exp.state,
            exp.action,
            current + self.progress.learning_rate * td_error,
        )?;
        let next_action = match sarsa_next {
            Some(a) => a,
            None if exp.terminated => 0,
            None => self.act(q, exp.next_state, rng)?,
        };
        Ok(Learned {
            td_error,
            next_action,
        })
    }
}

/// The optimum that [`plan`] finds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The optimal expected undiscounted return within the horizon, from the reset distribution.
    /// On FrozenLake (reward 1 at the goal, 0 elsewhere) it is the probability of reaching the
    /// goal within the time limit.
    pub expected_return: f64,
    /// Sweeps done (at most the horizon; fewer when the values reached a fixed point).
    pub sweeps: u32,
}

/// Finite-horizon value iteration over `env`'s transition table: the largest expected
/// undiscounted return any policy collects within `horizon` steps (the environment's time limit),
/// `V_k(s) = max_a Σ p·(r + [not terminated]·V_{k−1}(s′))` with `V_0 = 0`, for `k` up to
/// `horizon`.
///
/// Writes `V_horizon` to `value` and to `policy` the action that attains it (the optimal first
/// action with the whole budget ahead; ties within `1e-12` go to the lowest index). The optimal
/// policy under a time limit may depend on the steps left; a stationary policy (a Q-table's greedy
/// policy) can at best equal the optimum, and [`evaluate_policy`] measures how close it comes.
/// `scratch`, `value` and `policy` hold one entry per state. Sweeps stop early at an exact fixed
/// point. An environment without a time limit needs a finite `horizon` chosen by the caller.
///
/// Taxi's fickle passenger is not in Gymnasium's table, so not in this plan either.
pub fn plan(
    env: &dyn TabularEnv,
    horizon: u32,
    value: &mut [f64],
    scratch: &mut [f64],
    policy: &mut [u32],
) -> Result<Plan, TabularError> {
    let n = check_buffers(env, value, scratch)?;
    if policy.len() != n {
        return Err(TabularError::BufferSize {
            expected: n,
            got: policy.len(),
        });
    }
    value.fill(0.0);
    policy.fill(0);
    let mut sweeps = 0;
    while sweeps < horizon {
        let mut changed = false;
        for s in 0..n {
            let mut best = (0u32, f64::NEG_INFINITY);
            for a in 0..env.n_actions() {
                let v = backup(env, s as u32, a, value)?;
                if v > best.1 + 1e-12 {
                    best = (a, v);
                }
            }
            if let (Some(out), Some(p)) = (scratch.get_mut(s), policy.get_mut(s)) {
                *out = best.1;
                *p = best.0;
            }
        }
        for (v, &new) in value.iter_mut().zip(scratch.iter()) {
            changed |= *v != new;
            *v = new;
        }
        sweeps += 1;
        if !changed {
            break;
        }
    }
    Ok(Plan {
        expected_return: from_start(env, value),
        sweeps,
    })
}

/// The exact expected undiscounted return of the stationary policy `policy` (one action per
/// state) within `horizon` steps, from the reset distribution: finite-horizon policy evaluation
/// over `env`'s transition table. On FrozenLake it is the policy's probability of reaching the
/// goal within the time limit, with no sampling error. Writes the values per state to `value`;
/// `scratch` is a second buffer of the same length.
pub fn evaluate_policy(
    env: &dyn TabularEnv,
    policy: &[u32],
    horizon: u32,
    value: &mut [f64],
    scratch: &mut [f64],
) -> Result<f64, TabularError> {
    let n = check_buffers(env, value, scratch)?;
    if policy.len() != n {
        return Err(TabularError::BufferSize {
            expected: n,
            got: policy.len(),
        });
    }
    value.fill(0.0);
    let mut sweeps = 0;
    while sweeps < horizon {
        for (s, (out, &a)) in scratch.iter_mut().zip(policy).enumerate() {
            *out = backup(env, s as u32, a, value)?;
        }
        let mut changed = false;
        for (v, &new) in value.iter_mut().zip(scratch.iter()) {
            changed |= *v != new;
            *v = new;
        }
        sweeps += 1;
        if !changed {
            break;
        }
    }
    Ok(from_start(env, value))
}

fn check_buffers(
    env: &dyn TabularEnv,
    value: &[f64],
    scratch: &[f64],
) -> Result<usize, TabularError> {
    let n = env.n_states() as usize;
    for got in [value.len(), scratch.len()] {
        if got != n {
            return Err(TabularError::BufferSize { expected: n, got });
        }
    }
    Ok(n)
}

/// `Σ p·(r + [not terminated]·V(s′))` over `P[s][a]`.
fn backup(env: &dyn TabularEnv, s: u32, a: u32, value: &[f64]) -> Result<f64, TabularError> {
    let mut sum = 0.0;
    for t in &env.transitions(s, a)? {
        let next = if t.terminated {
            0.0
        } else {
            value.get(t.next as usize).copied().unwrap_or(0.0)
        };
        sum += t.prob * (t.reward + next);
    }
    Ok(sum)
}

fn from_start(env: &dyn TabularEnv, value: &[f64]) -> f64 {
    value
        .iter()
        .enumerate()
        .map(|(s, v)| env.initial_probability(s as u32) * v)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Action, CliffWalking, Env, FrozenLake, MapDesc, Taxi};

    fn learner(rule: Rule) -> Learner {
        match Learner::new(Hyper {
            rule,
            learning_rate: Schedule::Constant(0.5),
            gamma: 0.9,
            ..Hyper::SEED
        }) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn updates_by_hand() {
        // Q(0, ·) = [0, 0], Q(1, ·) = [2, 4]; step (0, 1, r=1, s'=1); α 0.5, γ 0.9, ε 1.
        let mut data = [0.0f32, 0.0, 2.0, 4.0];
        let exp = Experience::new(0, 1, 1.0, 1, false);
        // Q-learning: target 1 + 0.9·4 = 4.6; TD 4.6; Q(0,1) = 0 + 0.5·4.6 = 2.3.
        let mut q = QView::new(&mut data[..], 2).unwrap();
        let l = learner(Rule::QLearning);
        let out = l.learn(&mut q, &exp, &mut rng::seeded(0)).unwrap();
        assert_eq!(out.td_error, 4.6);
        assert_eq!(q.get(0, 1).unwrap(), 2.3);
        // Expected SARSA with ε = 1: target 1 + 0.9·mean(2, 4) = 3.7; Q(0,1) = 2.3 + 0.5·1.4.
        let l = learner(Rule::ExpectedSarsa);
        let out = l.learn(&mut q, &exp, &mut rng::seeded(0)).unwrap();
        assert!((out.td_error - 1.4).abs() < 1e-6);
        assert!((q.get(0, 1).unwrap() - 3.0).abs() < 1e-6);
        // Terminal: no bootstrap, nothing drawn. target 1; TD 1 − 3 = −2; Q = 3 − 1 = 2.
        let mut r = rng::seeded(5);
        let before = r.clone();
        let out = l
            .learn(&mut q, &Experience::new(0, 1, 1.0, 1, true), &mut r)
            .unwrap();
        assert!((out.td_error + 2.0).abs() < 1e-6);
        assert_eq!(out.next_action, 0);
        assert_eq!(r, before);
    }

    #[test]
    fn sarsa_bootstraps_from_the_action_it_returns() {
        for seed in 0..20 {
            let mut data = [0.0f32, 0.0, 1.0, 3.0];
            let mut q = QView::new(&mut data[..], 2).unwrap();
            let l = learner(Rule::Sarsa);
            let out = l
                .learn(
                    &mut q,
                    &Experience::new(0, 0, 0.0, 1, false),
                    &mut rng::seeded(seed),
                )
                .unwrap();
            let bootstrapped = [1.0f32, 3.0][out.next_action as usize];
            assert_eq!(out.td_error, 0.9 * bootstrapped);
        }
    }

    #[test]
    fn hole_penalty_shapes_only_zero_reward_terminations() {
        let mut l = learner(Rule::QLearning);
        l.hyper.hole_penalty = 1.0;
        let mut table = QTable::<2, 1>::new();
        let mut q = table.view_mut();
        let mut r = rng::seeded(0);
        let hole = l.learn(&mut q, &Experience::new(0, 0, 0.0, 1, true), &mut r);
        assert_eq!(hole.unwrap().td_error, -1.0);
        let goal = l.learn(&mut q, &Experience::new(1, 0, 1.0, 1, true), &mut r);
        assert_eq!(goal.unwrap().td_error, 1.0);
        let going_on = l.learn(&mut q, &Experience::new(1, 0, 0.0, 1, false), &mut r);
        assert_eq!(going_on.unwrap().td_error, 0.9 * 0.5 - 0.5);
    }

    #[test]
    fn bad_input_is_an_error_and_changes_nothing() {
        let mut table = QTable::<3, 2>::filled(1.0);
        let l = learner(Rule::Sarsa);
        let mut r = rng::seeded(0);
        let mut q = table.view_mut();
        let cases = [
            (
                Experience::new(3, 0, 0.0, 0, false),
                TabularError::StateOutOfRange {
                    state: 3,
                    n_states: 3,
                },
            ),
            (
                Experience::new(0, 0, 0.0, 7, false),
                TabularError::StateOutOfRange {
                    state: 7,
                    n_states: 3,
                },
            ),
            (
                Experience::new(0, 2, 0.0, 0, false),
                TabularError::ActionOutOfRange {
                    action: 2,
                    n_actions: 2,
                },
            ),
            (
                Experience::new(0, 0, f32::NAN, 0, false),
                TabularError::NonFiniteReward,
            ),
        ];
        for (exp, err) in cases {
            assert_eq!(l.learn(&mut q, &exp, &mut r), Err(err));
        }
        assert_eq!(
            l.act(&q, 9, &mut r).unwrap_err().to_string(),
            "state 9 is out of range 0..3"
        );
        assert_eq!(table, QTable::<3, 2>::filled(1.0));
        assert!(QView::new(&[0.0f32; 5][..], 2).is_err());
        assert!(QView::new(&[0.0f32; 0][..], 1).is_err());
        assert!(QView::new(&[0.0f32; 4][..], 0).is_err());
        for obs in [
            &[-1.0f32][..],
            &[0.5],
            &[f32::NAN],
            &[f32::INFINITY],
            &[],
            &[1.0, 2.0],
        ] {
            assert_eq!(discrete_state(obs), Err(TabularError::BadObservation));
        }
        assert_eq!(discrete_state(&[15.0]), Ok(15));
    }

    #[test]
    fn bad_hyper_parameters_are_named() {
        let bad = [
            (
                Hyper {
                    learning_rate: Schedule::Constant(0.0),
                    ..Hyper::SEED
                },
                "learning_rate",
            ),
            (
                Hyper {
                    learning_rate: Schedule::Constant(f32::NAN),
                    ..Hyper::SEED
                },
                "learning_rate",
            ),
            (
                Hyper {
                    gamma: 1.5,
                    ..Hyper::SEED
                },
                "gamma",
            ),
            (
                Hyper {
                    hole_penalty: -1.0,
                    ..Hyper::SEED
                },
                "hole_penalty",
            ),
            (
                Hyper {
                    hole_penalty: f32::INFINITY,
                    ..Hyper::SEED
                },
                "hole_penalty",
            ),
            (
                Hyper {
                    epsilon: Schedule::Exponential {
                        start: 1.0,
                        decay: 0.0,
                        min: 0.0,
                    },
                    ..Hyper::SEED
                },
                "epsilon.decay",
            ),
            (
                Hyper {
                    learning_rate: Schedule::Linear {
                        start: 0.5,
                        end: 0.0,
                        episodes: 3,
                    },
                    ..Hyper::SEED
                },
                "learning_rate",
            ),
            (
                Hyper {
                    epsilon: Schedule::Linear {
                        start: 1.0,
                        end: -0.1,
                        episodes: 3,
                    },
                    ..Hyper::SEED
                },
                "epsilon",
            ),
        ];
        for (h, field) in bad {
            match Learner::new(h) {
                Err(TabularError::BadHyper { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn epsilon_schedules_per_episode() {
        let mut l = Learner::new(Hyper::SEED).unwrap();
        assert_eq!(l.epsilon(), 1.0);
        l.end_episode();
        assert_eq!(l.epsilon(), 0.995);
        for _ in 0..2000 {
            l.end_episode();
        }
        // 0.995^919 ≈ 0.01: the floor is reached after about 920 episodes.
        assert_eq!(l.epsilon(), 0.01);
        assert_eq!(l.progress().episodes, 2001);
        let mut l = Learner::new(Hyper {
            epsilon: Schedule::Linear {
                start: 1.0,
                end: 0.2,
                episodes: 4,
            },
            ..Hyper::SEED
        })
        .unwrap();
        let mut seen = [0.0f32; 6];
        for e in &mut seen {
            *e = l.epsilon();
            l.end_episode();
        }
        assert_eq!(seen, [1.0, 0.8, 0.6, 0.39999998, 0.2, 0.2]);
    }

    #[test]
    fn ties_random_while_exploring_lowest_when_greedy() {
        let mut l = Learner::new(Hyper {
            epsilon: Schedule::Linear {
                start: 0.0,
                end: 0.0,
                episodes: 0,
            },
            ..Hyper::SEED
        })
        .unwrap();
        let table = QTable::<1, 4>::filled(0.0);
        let q = table.view();
        let mut r = rng::seeded(3);
        let mut seen = [0u32; 4];
        for _ in 0..400 {
            seen[l.act(&q, 0, &mut r).unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 60), "{seen:?}");
        assert_eq!(q.greedy(0), Ok(0));
        l.hyper.tie_break = TieBreak::First;
        assert_eq!(l.act(&q, 0, &mut r), Ok(0));
        let data = [1.0f32, 3.0, f32::NAN, 3.0];
        let q = QView::new(&data[..], 4).unwrap();
        assert_eq!(q.greedy(0), Ok(1));
        let nan = [f32::NAN, f32::NAN];
        assert_eq!(QView::new(&nan[..], 2).unwrap().greedy(0), Ok(0));
    }

    /// Trains `episodes` episodes on `env` and returns the table.
    fn train<const S: usize, const A: usize>(
        env: &mut dyn Env,
        hyper: Hyper,
        episodes: u64,
        seed: u64,
    ) -> QTable<S, A> {
        let mut table = QTable::<S, A>::new();
        let mut learner = Learner::new(hyper).unwrap();
        let mut q = table.view_mut();
        let mut r = rng::seeded(seed);
        let mut obs = [0.0f32];
        for e in 0..episodes {
            env.reset(Some(seed.wrapping_mul(1 << 32) + e), &mut obs)
                .unwrap();
            let mut s = discrete_state(&obs).unwrap();
            let mut a = learner.act(&q, s, &mut r).unwrap();
            loop {
                let step = env.step(Action::Discrete(a), &mut obs).unwrap();
                let next = discrete_state(&obs).unwrap();
                let exp = Experience::new(s, a, step.reward as f32, next, step.terminated);
                let out = learner.learn(&mut q, &exp, &mut r).unwrap();
                if step.done() {
                    break;
                }
                (s, a) = (next, out.next_action);
            }
            learner.end_episode();
        }
        table
    }

    #[test]
    fn same_seed_same_table_bits() {
        let mut env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, true);
        let a = train::<16, 4>(&mut env, Hyper::SEED, 300, 1);
        let b = train::<16, 4>(&mut env, Hyper::SEED, 300, 1);
        let c = train::<16, 4>(&mut env, Hyper::SEED, 300, 2);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// FNV-1a over the bits of every value, row-major.
    fn checksum(values: &[f32]) -> u32 {
        values
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .fold(0x811c_9dc5, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            })
    }

    /// A golden vector for the firmware's learning mode: [`Hyper::SEED`] on the slippery 4x4
    /// map, episode `e` reset with seed `e`, the learner's draws from `rng::seeded(0)` (the loop of
    /// the module's example), 200 episodes. The same loop on a Cortex-M4F must give these bits.
    #[test]
    fn golden_table_bits() {
        let mut env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, true);
        let mut table = QTable::<16, 4>::new();
        let mut learner = Learner::new(Hyper::SEED).unwrap();
        let mut q = table.view_mut();
        let mut r = rng::seeded(0);
        let mut obs = [0.0f32];
        for e in 0..200 {
            env.reset(Some(e), &mut obs).unwrap();
            let mut s = discrete_state(&obs).unwrap();
            let mut a = learner.act(&q, s, &mut r).unwrap();
            loop {
                let step = env.step(Action::Discrete(a), &mut obs).unwrap();
                let next = discrete_state(&obs).unwrap();
                let exp = Experience::new(s, a, step.reward as f32, next, step.terminated);
                let out = learner.learn(&mut q, &exp, &mut r).unwrap();
                if step.done() {
                    break;
                }
                (s, a) = (next, out.next_action);
            }
            learner.end_episode();
        }
        assert_eq!(learner.epsilon(), 0.366958);
        assert_eq!(checksum(q.values()), 2431936500);
    }

    #[test]
    fn plans_the_deterministic_maps_by_hand() {
        let mut value = [0.0; 16];
        let mut scratch = [0.0; 16];
        let mut policy = [0u32; 16];
        // 4x4 non-slippery: the goal is 6 moves away; reachable within 100 steps with certainty,
        // and within 5 not at all.
        let env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, false);
        let p = plan(&env, 100, &mut value, &mut scratch, &mut policy).unwrap();
        assert_eq!(p.expected_return, 1.0);
        assert!(p.sweeps < 100, "a fixed point stops the sweeps");
        let short = plan(&env, 5, &mut value, &mut scratch, &mut policy).unwrap();
        assert_eq!(short.expected_return, 0.0);
        let exact = plan(&env, 6, &mut value, &mut scratch, &mut policy).unwrap();
        assert_eq!(exact.expected_return, 1.0);
        // CliffWalking: 13 steps of reward −1 along the cliff edge.
        let env = CliffWalking::new(false);
        let (mut v, mut s, mut pi) = ([0.0; 48], [0.0; 48], [0u32; 48]);
        let p = plan(&env, 1000, &mut v, &mut s, &mut pi).unwrap();
        assert_eq!(p.expected_return, -13.0);
        assert_eq!(evaluate_policy(&env, &pi, 1000, &mut v, &mut s), Ok(-13.0));
        // A policy that always goes up never arrives: −1 for each of the horizon's steps.
        assert_eq!(
            evaluate_policy(&env, &[0; 48], 50, &mut v, &mut s),
            Ok(-50.0)
        );
        assert_eq!(
            evaluate_policy(&env, &[0; 47], 50, &mut v, &mut s),
            Err(TabularError::BufferSize {
                expected: 48,
                got: 47
            })
        );
    }

    #[test]
    fn plans_match_gymnasium() {
        // Reference: the same finite-horizon value iteration in numpy over Gymnasium 1.4.0's
        // `env.unwrapped.P` (`V = max_a sum(p * (r + (0 if d else V[ns])))`, `horizon` times,
        // then `initial_state_distrib @ V`): 4x4 slippery within 100 steps 0.7441902878292689
        // (0.8235294117647044 with no limit: the time limit costs 8 points); 8x8 slippery within
        // 200 steps 0.9132201502016288; Taxi-v4 within 200 steps 7.930000000000001 (a fixed
        // point after 19 sweeps).
        let env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, true);
        let (mut v, mut s, mut pi) = ([0.0; 16], [0.0; 16], [0u32; 16]);
        let p = plan(&env, 100, &mut v, &mut s, &mut pi).unwrap();
        assert_eq!(p.expected_return, 0.7441902878292689);
        let own = evaluate_policy(&env, &pi, 100, &mut v, &mut s).unwrap();
        // The first-stage action as a stationary policy: 0.7401648977587045, 99.5% of the optimum.
        assert!(
            own <= p.expected_return && own > 0.99 * p.expected_return,
            "{own}"
        );
        let unlimited = plan(&env, 10_000, &mut v, &mut s, &mut pi).unwrap();
        assert!((unlimited.expected_return - 0.8235294117647044).abs() < 1e-12);

        let env = FrozenLake::eight_by_eight();
        let (mut v, mut s, mut pi) = ([0.0; 64], [0.0; 64], [0u32; 64]);
        let p = plan(&env, 200, &mut v, &mut s, &mut pi).unwrap();
        assert!(
            (p.expected_return - 0.9132201502016288).abs() < 1e-12,
            "{p:?}"
        );

        let taxi = Taxi::new();
        let (mut v, mut s, mut pi) = ([0.0; 500], [0.0; 500], [0u32; 500]);
        let p = plan(&taxi, 200, &mut v, &mut s, &mut pi).unwrap();
        assert!((p.expected_return - 7.93).abs() < 1e-12, "{p:?}");
        assert_eq!(p.sweeps, 19);
    }
}
