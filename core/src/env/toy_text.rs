//! What the toy-text environments share: Gymnasium's transition table `P` as a heap-free
//! accessor ([`TabularEnv::transitions`]), its `categorical_sample`, and the source of the
//! random draws a step makes ([`Draws`]).
//!
//! Gymnasium builds `P[s][a]` as a list of `(prob, next_state, reward, terminated)` tuples and
//! steps by `categorical_sample` (`gymnasium/envs/toy_text/utils.py`): one uniform draw `u` from
//! `np_random.random()` and the first outcome whose running sum of probabilities exceeds `u`
//! (the first outcome when none does). Core computes `P[s][a]` on the fly from the map, so no
//! table is stored, and samples it the same way.

use super::{discrete_action, obs_buffer, Action, Env, EnvError, Episode, StepResult};
use crate::rng::{self, Pcg32};

/// The most outcomes of one `(state, action)` in any toy-text environment (slippery moves).
pub const MAX_OUTCOMES: usize = 3;

/// One entry of Gymnasium's `P[s][a]`: `(prob, next_state, reward, terminated)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// The probability of this outcome, as Gymnasium computes it (float64).
    pub prob: f64,
    /// The next state.
    pub next: u32,
    /// The reward.
    pub reward: f64,
    /// Whether the next state ends the episode.
    pub terminated: bool,
}

/// Gymnasium's `P[s][a]`: up to [`MAX_OUTCOMES`] outcomes, in Gymnasium's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transitions {
    items: [Transition; MAX_OUTCOMES],
    len: usize,
}

impl Transitions {
    const EMPTY: Transition = Transition {
        prob: 0.0,
        next: 0,
        reward: 0.0,
        terminated: false,
    };

    /// The single certain outcome.
    pub(crate) const fn one(t: Transition) -> Self {
        Self {
            items: [t, Self::EMPTY, Self::EMPTY],
            len: 1,
        }
    }

    /// Three outcomes, in Gymnasium's order.
    pub(crate) const fn three(items: [Transition; 3]) -> Self {
        Self { items, len: 3 }
    }

    /// The outcomes.
    pub fn as_slice(&self) -> &[Transition] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// The outcomes, in Gymnasium's order.
    pub fn iter(&self) -> core::slice::Iter<'_, Transition> {
        self.as_slice().iter()
    }

    /// Number of outcomes (1 or 3).
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Never true for a table entry; here for completeness.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gymnasium's `categorical_sample` with the uniform draw `u` in `[0, 1)`: the first outcome
    /// whose running sum of probabilities (summed left to right, as `np.cumsum`) exceeds `u`, or
    /// the first outcome when none does (`np.argmax` of all-false).
    pub fn sample(&self, u: f64) -> Transition {
        let mut sum = 0.0;
        for t in self.iter() {
            sum += t.prob;
            if sum > u {
                return *t;
            }
        }
        self.items[0]
    }
}

impl<'a> IntoIterator for &'a Transitions {
    type Item = &'a Transition;
    type IntoIter = core::slice::Iter<'a, Transition>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A toy-text environment with Gymnasium's transition table, for planning (value iteration).
pub trait TabularEnv: Env {
    /// Number of states (Gymnasium's `observation_space.n`).
    fn n_states(&self) -> u32;

    /// Number of actions (Gymnasium's `action_space.n`).
    fn n_actions(&self) -> u32;

    /// Gymnasium's `P[state][action]`; an error for a state or an action out of range.
    fn transitions(&self, state: u32, action: u32) -> Result<Transitions, EnvError>;

    /// Gymnasium's `initial_state_distrib[state]`: the probability that a reset starts here
    /// (0 for a state out of range).
    fn initial_probability(&self, state: u32) -> f64;

    /// The state the environment is in: what its last observation holds.
    fn current_state(&self) -> u32;

    /// The episode's step counter ([`Episode`]), which [`TabularEnv::step_with`] checks and
    /// counts.
    fn episode_mut(&mut self) -> &mut Episode;

    /// Moves to the outcome a step drew from state `from` and returns the state entered:
    /// `outcome.next`, unless the environment changes it with draws of its own (Taxi's fickle
    /// passenger).
    fn enter<D: Draws + ?Sized>(&mut self, from: u32, outcome: &Transition, draws: &mut D) -> u32
    where
        Self: Sized;

    /// Gymnasium's toy-text step with the random draws taken from `draws` (the environment's
    /// generator for [`Env::step`], recorded draws for a replay: see
    /// [`super::AnyEnv::step_with`]).
    ///
    /// Checks the action, then that an episode is running, then the observation buffer; samples
    /// `P[s][a]` with one uniform draw when it has more than one outcome (`categorical_sample`),
    /// enters the outcome ([`TabularEnv::enter`]), counts the step against the time limit and
    /// writes the new state to `obs`.
    fn step_with<D: Draws + ?Sized>(
        &mut self,
        action: Action<'_>,
        draws: &mut D,
        obs: &mut [f32],
    ) -> Result<StepResult, EnvError>
    where
        Self: Sized,
    {
        let a = discrete_action(action, self.n_actions())?;
        self.episode_mut().check()?;
        obs_buffer::<1>(obs)?;
        let from = self.current_state();
        let p = self.transitions(from, a)?;
        let t = if p.len() > 1 {
            p.sample(draws.unit())
        } else {
            p.sample(0.0)
        };
        let next = self.enter(from, &t, draws);
        let limit = self.spec().max_episode_steps;
        let truncated = self.episode_mut().count(limit, t.terminated);
        write_discrete(obs, next)?;
        Ok(StepResult {
            reward: t.reward,
            terminated: t.terminated,
            truncated,
        })
    }
}

/// The random draws a stochastic step makes, in the order Gymnasium makes them.
///
/// The environments' own generator is one; a replay of a recorded Gymnasium trace supplies the
/// recorded draws instead (see [`super::AnyEnv::step_with`]).
pub trait Draws {
    /// A uniform `f64` in `[0, 1)`: Gymnasium's `np_random.random()`.
    fn unit(&mut self) -> f64;

    /// A uniform index in `0..n`: Gymnasium's `np_random.choice` over `n` items (`n > 0`).
    fn index(&mut self, n: u32) -> u32;
}

impl Draws for Pcg32 {
    fn unit(&mut self) -> f64 {
        rng::unit_f64(self)
    }

    fn index(&mut self, n: u32) -> u32 {
        rng::below(self, n)
    }
}

/// The checks every toy-text `set_state` makes: one finite integer value in `0..n`.
pub(crate) fn discrete_state(value: f64, index: usize, n: u32) -> Result<u32, EnvError> {
    if value.is_finite() && value >= 0.0 && value < f64::from(n) && value == libm::trunc(value) {
        Ok(value as u32)
    } else {
        Err(EnvError::InvalidState { index })
    }
}

/// Writes a discrete observation (one `f32` holding the integer).
pub(crate) fn write_discrete(obs: &mut [f32], s: u32) -> Result<(), EnvError> {
    let obs: &mut [f32; 1] = super::obs_buffer(obs)?;
    obs[0] = s as f32;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(prob: f64, next: u32) -> Transition {
        Transition {
            prob,
            next,
            reward: 0.0,
            terminated: false,
        }
    }

    #[test]
    fn sample_follows_the_running_sum() {
        // FrozenLake's slippery thirds: fail = (1 - 1/3) / 2 = 0.33333333333333337, so the
        // running sums are 0.33333333333333337, 0.6666666666666667, 1.0 (as np.cumsum gives).
        let fail = (1.0 - 1.0 / 3.0) / 2.0;
        let p = Transitions::three([t(fail, 0), t(1.0 / 3.0, 1), t(fail, 2)]);
        assert_eq!(p.sample(0.0).next, 0);
        assert_eq!(p.sample(0.33333333333333337).next, 1);
        assert_eq!(p.sample(0.6666666666666666).next, 1);
        assert_eq!(p.sample(0.6666666666666667).next, 2);
        assert_eq!(p.sample(0.9999999999999999).next, 2);
        // Probabilities that sum below u: argmax of all-false is the first outcome.
        let short = Transitions::three([t(0.1, 5), t(0.1, 6), t(0.1, 7)]);
        assert_eq!(short.sample(0.5).next, 5);
        assert_eq!(Transitions::one(t(1.0, 9)).sample(0.99).next, 9);
    }

    #[test]
    fn discrete_state_checks() {
        assert_eq!(discrete_state(3.0, 0, 16), Ok(3));
        for bad in [-1.0, 16.0, 2.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                discrete_state(bad, 0, 16),
                Err(EnvError::InvalidState { index: 0 })
            );
        }
    }
}
