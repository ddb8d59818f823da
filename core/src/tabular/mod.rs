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
//! - [`run_episode`]: one learning episode (reset, act, step, learn, until it ends), the loop the
//!   host's training, the firmware's learning mode and the tests share.
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
//! use core::ops::ControlFlow;
//! use picorl_core::env::{FrozenLake, MapDesc};
//! use picorl_core::rng;
//! use picorl_core::tabular::{self, Hyper, Learner, QTable};
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
//! for episode in 0..100 {
//!     // Reset, act; step, learn, act again, to the end of the episode; then count it.
//!     tabular::run_episode(&mut env, Some(episode), &mut learner, &mut q, &mut rng, |_| {
//!         ControlFlow::Continue(())
//!     })?;
//! }
//! assert!(learner.epsilon() < 1.0);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # Files
//! `error` ([`TabularError`]), `table` ([`QTable`], [`QView`]), `learner` ([`Learner`] and its
//! hyper-parameters), `episode` ([`run_episode`]: the one episode loop of the host, the firmware
//! and the tests) and `planner` ([`plan`], [`evaluate_policy`]).

mod episode;
mod error;
mod learner;
mod planner;
mod table;

pub use episode::{run_episode, EpisodeError, EpisodeStep, EpisodeSummary};
pub use error::TabularError;
pub use learner::{Experience, Hyper, Learned, Learner, Progress, Rule, Schedule, TieBreak};
pub use planner::{evaluate_policy, plan, Plan};
pub use table::{QTable, QView};

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
