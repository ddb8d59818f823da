//! One learning episode, written once: reset, act, then step, learn and act again until the
//! episode ends. The host's `qlearning`/`sarsa` training, the firmware's learning mode and core's
//! tests all run their episodes through [`run_episode`], so the order of the generator's draws
//! (and with it the table's bits) cannot drift between them.

use core::fmt;
use core::ops::ControlFlow;

use rand_core::RngCore;

use super::{discrete_state, Experience, Learned, Learner, QView, TabularError};
use crate::env::{Action, Env, EnvError, StepResult};

/// One step of a learning episode, as [`run_episode`] hands it to the caller after learning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeStep {
    /// What was learned from (the reward rounded to `f32`).
    pub experience: Experience,
    /// What the environment returned (the reward as it gave it).
    pub result: StepResult,
    /// What the learner did: its TD error and the next action.
    pub learned: Learned,
}

/// How a learning episode ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeSummary {
    /// Steps taken.
    pub length: u32,
    /// The sum of the rewards, in `f64`, in step order.
    pub reward_sum: f64,
    /// Whether the episode ended (terminated or truncated) and was counted
    /// ([`Learner::end_episode`]); `false` when the caller stopped it first.
    pub finished: bool,
}

/// Where a learning episode failed. The updates made before the fault stay in the table; the
/// episode is not counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EpisodeError {
    /// The environment refused to reset.
    Reset(EnvError),
    /// The environment refused a step.
    Step {
        /// The steps taken before it.
        step: u32,
        /// Why.
        error: EnvError,
    },
    /// An observation is not a discrete state.
    Observation(TabularError),
    /// The first action could not be chosen (the reset state is outside the table).
    Act(TabularError),
    /// The learner refused a step (a state outside the table, a non-finite reward).
    Learn(TabularError),
}

impl fmt::Display for EpisodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EpisodeError::Reset(e) => write!(f, "reset: {e}"),
            EpisodeError::Step { step, error } => write!(f, "step {step}: {error}"),
            EpisodeError::Observation(e) | EpisodeError::Act(e) | EpisodeError::Learn(e) => {
                write!(f, "{e}")
            }
        }
    }
}

impl core::error::Error for EpisodeError {}

/// Runs one learning episode of `learner` on `env`, reset with `seed`, learning into `q` with
/// random draws from `rng`.
///
/// The loop: reset, read the state ([`discrete_state`]), choose the first action
/// ([`Learner::act`]); then, until the episode ends: step, read the next state, learn
/// ([`Learner::learn`], which also chooses the next action), and hand the step to `on_step`. When
/// a step ends the episode (terminated or truncated), the episode is counted
/// ([`Learner::end_episode`]) and the summary returned with `finished`. When `on_step` returns
/// [`ControlFlow::Break`] on a step that does not end the episode, the loop stops there and the
/// episode is not counted (the host's step budget ending inside an episode with no time limit).
///
/// ```
/// use core::ops::ControlFlow;
/// use picorl_core::env::{FrozenLake, MapDesc};
/// use picorl_core::rng;
/// use picorl_core::tabular::{run_episode, Hyper, Learner, QTable};
///
/// let mut env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, true);
/// let mut table = QTable::<16, 4>::new();
/// let mut q = table.view_mut();
/// let mut learner = Learner::new(Hyper::SEED)?;
/// let mut rng = rng::seeded(0);
/// for episode in 0..100 {
///     let end = run_episode(&mut env, Some(episode), &mut learner, &mut q, &mut rng, |_| {
///         ControlFlow::Continue(())
///     })?;
///     assert!(end.finished && end.length > 0);
/// }
/// assert!(learner.epsilon() < 1.0);
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
pub fn run_episode<E, T, R, F>(
    env: &mut E,
    seed: Option<u64>,
    learner: &mut Learner,
    q: &mut QView<T>,
    rng: &mut R,
    mut on_step: F,
) -> Result<EpisodeSummary, EpisodeError>
where
    E: Env + ?Sized,
    T: AsRef<[f32]> + AsMut<[f32]>,
    R: RngCore + ?Sized,
    F: FnMut(&EpisodeStep) -> ControlFlow<()>,
{
    let mut obs = [0.0f32; 1];
    env.reset(seed, &mut obs).map_err(EpisodeError::Reset)?;
    let mut s = discrete_state(&obs).map_err(EpisodeError::Observation)?;
    let mut a = learner.act(q, s, rng).map_err(EpisodeError::Act)?;
    let mut summary = EpisodeSummary {
        length: 0,
        reward_sum: 0.0,
        finished: false,
    };
    loop {
        let result =
            env.step(Action::Discrete(a), &mut obs)
                .map_err(|error| EpisodeError::Step {
                    step: summary.length,
                    error,
                })?;
        let next = discrete_state(&obs).map_err(EpisodeError::Observation)?;
        let experience = Experience::new(s, a, result.reward as f32, next, result.terminated);
        let learned = learner
            .learn(q, &experience, rng)
            .map_err(EpisodeError::Learn)?;
        summary.length = summary.length.saturating_add(1);
        summary.reward_sum += result.reward;
        let flow = on_step(&EpisodeStep {
            experience,
            result,
            learned,
        });
        if result.done() {
            learner.end_episode();
            summary.finished = true;
            return Ok(summary);
        }
        if flow.is_break() {
            return Ok(summary);
        }
        (s, a) = (next, learned.next_action);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{FrozenLake, MapDesc};
    use crate::rng;
    use crate::tabular::{Hyper, QTable};

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
        for e in 0..episodes {
            let reset = Some(seed.wrapping_mul(1 << 32) + e);
            run_episode(env, reset, &mut learner, &mut q, &mut r, |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
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

    /// A golden vector for the firmware's learning mode: [`Hyper::SEED`] on the slippery 4x4
    /// map, episode `e` reset with seed `e`, the learner's draws from `rng::seeded(0)`, 200
    /// episodes of [`run_episode`]. The same loop on a Cortex-M4F must give these bits.
    #[test]
    fn golden_table_bits() {
        let mut env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, true);
        let mut table = QTable::<16, 4>::new();
        let mut learner = Learner::new(Hyper::SEED).unwrap();
        let mut q = table.view_mut();
        let mut r = rng::seeded(0);
        let (mut steps, mut returns) = (0u32, 0.0f64);
        for e in 0..200 {
            let end = run_episode(&mut env, Some(e), &mut learner, &mut q, &mut r, |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
            assert!(end.finished);
            steps += end.length;
            returns += end.reward_sum;
        }
        assert_eq!(learner.progress().episodes, 200);
        assert_eq!(learner.epsilon(), 0.366958);
        assert_eq!(q.checksum(), 2431936500);
        assert!(
            steps > 200 && returns > 0.0,
            "{steps} steps, return {returns}"
        );
    }

    #[test]
    fn a_break_stops_without_counting_and_errors_say_where() {
        let mut env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, false);
        let mut table = QTable::<16, 4>::new();
        let mut learner = Learner::new(Hyper::SEED).unwrap();
        let mut q = table.view_mut();
        let mut r = rng::seeded(3);
        let mut seen = 0;
        let end = run_episode(&mut env, Some(0), &mut learner, &mut q, &mut r, |step| {
            seen += 1;
            assert_eq!(step.experience.reward, step.result.reward as f32);
            ControlFlow::Break(())
        })
        .unwrap();
        // One step at most: the walk from the start either ends at once (never on this map) or
        // stops at the break.
        assert_eq!((seen, end.length, end.finished), (1, 1, false));
        assert_eq!(learner.progress().episodes, 0);

        // A table too small for the map: the reset state 0 fits, a later state does not.
        let mut small = QTable::<1, 4>::new();
        let mut q = small.view_mut();
        let err = loop {
            match run_episode(&mut env, Some(0), &mut learner, &mut q, &mut r, |_| {
                ControlFlow::Continue(())
            }) {
                Err(e) => break e,
                Ok(end) => assert!(end.finished),
            }
        };
        assert!(
            matches!(
                err,
                EpisodeError::Learn(TabularError::StateOutOfRange { n_states: 1, .. })
            ),
            "{err:?}"
        );
    }
}
