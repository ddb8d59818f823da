//! `CliffWalking-v1` and `CliffWalkingSlippery-v1`: Gymnasium 1.4.0's `CliffWalkingEnv`
//! (`gymnasium/envs/toy_text/cliffwalking.py`, Sutton & Barto example 6.6).
//!
//! - A 4x12 grid; state `row * 12 + col`; start 36 (row 3, column 0), goal 47 (row 3, column 11);
//!   the cliff is row 3, columns 1 to 10.
//! - Actions: 0 up, 1 right, 2 down, 3 left. Moves stop at the edges. Entering the cliff sends
//!   the agent back to the start with reward -100 and does not end the episode; any other move
//!   costs -1; entering the goal terminates.
//! - `is_slippery` (false for `CliffWalking-v1`, true for `CliffWalkingSlippery-v1`, which is the
//!   same class with that kwarg): a move goes to `a - 1`, `a`, `a + 1` (mod 4), each with
//!   probability `1/3`.
//! - Gymnasium registers both ids without a time limit ([`super::NO_TIME_LIMIT`]): an episode
//!   ends only at the goal.
//!
//! Bad input: an action outside `0..4` is [`EnvError::ActionOutOfRange`]; a state outside
//! `0..48` is [`EnvError::InvalidState`].

use super::toy_text::{self, Draws, TabularEnv, Transition, Transitions};
use super::{
    discrete_action, Action, Env, EnvError, EnvOptions, EnvSpec, Episode, Registered, Space,
    StepResult, NO_TIME_LIMIT,
};
use crate::rng::{self, Pcg32};

const ROWS: i32 = 4;
const COLS: i32 = 12;
const N_STATES: u32 = 48;
/// `np.ravel_multi_index((3, 0), (4, 12))`.
const START: u32 = 36;
/// cliffwalking.py's `POSITION_MAPPING`: up, right, down, left as (row, col) deltas.
const DELTAS: [(i32, i32); 4] = [(-1, 0), (0, 1), (1, 0), (0, -1)];

/// The registration of `CliffWalking-v1`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "CliffWalking-v1",
    observation_space: Space::Discrete { n: N_STATES },
    action_space: Space::Discrete { n: 4 },
    max_episode_steps: NO_TIME_LIMIT,
};

/// The registration of `CliffWalkingSlippery-v1` (`is_slippery=True`).
pub const SPEC_SLIPPERY: EnvSpec = EnvSpec {
    id: "CliffWalkingSlippery-v1",
    ..SPEC
};

/// Gymnasium's `CliffWalkingEnv`.
#[derive(Debug, Clone)]
pub struct CliffWalking {
    spec: EnvSpec,
    is_slippery: bool,
    s: u32,
    rng: Pcg32,
    episode: Episode,
}

impl CliffWalking {
    /// `CliffWalking-v1` (`is_slippery = false`) or `CliffWalkingSlippery-v1` (`true`); call
    /// [`Env::reset`] before stepping.
    pub fn new(is_slippery: bool) -> Self {
        let spec = if is_slippery { SPEC_SLIPPERY } else { SPEC };
        Self {
            spec,
            is_slippery,
            s: START,
            rng: rng::seeded(0),
            episode: Episode::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> u32 {
        self.s
    }

    /// `_calculate_transition_prob` for one delta: clamp to the grid, then the cliff or not.
    fn outcome(prob: f64, s: u32, move_: u32) -> Transition {
        let (dr, dc) = DELTAS[(move_ % 4) as usize];
        let (row, col) = ((s / COLS as u32) as i32, (s % COLS as u32) as i32);
        let (row, col) = ((row + dr).clamp(0, ROWS - 1), (col + dc).clamp(0, COLS - 1));
        if row == ROWS - 1 && (1..COLS - 1).contains(&col) {
            Transition {
                prob,
                next: START,
                reward: -100.0,
                terminated: false,
            }
        } else {
            let terminated = (row, col) == (ROWS - 1, COLS - 1);
            Transition {
                prob,
                next: (row * COLS + col) as u32,
                reward: -1.0,
                terminated,
            }
        }
    }

    fn table(&self, s: u32, a: u32) -> Transitions {
        if self.is_slippery {
            // `1 / len(deltas)` in Python.
            let p = 1.0 / 3.0;
            Transitions::three([
                Self::outcome(p, s, (a + 3) % 4),
                Self::outcome(p, s, a),
                Self::outcome(p, s, (a + 1) % 4),
            ])
        } else {
            Transitions::one(Self::outcome(1.0, s, a))
        }
    }
}

impl Env for CliffWalking {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        super::obs_buffer::<1>(obs)?;
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        // The start is certain; Gymnasium still makes one draw, and so does core.
        let _ = self.rng.unit();
        self.s = START;
        self.episode.start();
        toy_text::write_discrete(obs, self.s)
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let mut rng = self.rng.clone();
        let result = TabularEnv::step_with(self, action, &mut rng, obs);
        self.rng = rng;
        result
    }

    fn state_dim(&self) -> usize {
        1
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        super::copy_state([f64::from(self.s)], out)
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let &[value] = state else {
            return Err(EnvError::StateDim {
                expected: 1,
                got: state.len(),
            });
        };
        let s = toy_text::discrete_state(value, 0, N_STATES)?;
        super::obs_buffer::<1>(obs)?;
        self.s = s;
        self.episode.start();
        toy_text::write_discrete(obs, s)
    }
}

impl TabularEnv for CliffWalking {
    fn n_states(&self) -> u32 {
        N_STATES
    }

    fn n_actions(&self) -> u32 {
        4
    }

    fn transitions(&self, state: u32, action: u32) -> Result<Transitions, EnvError> {
        let a = discrete_action(Action::Discrete(action), 4)?;
        if state >= N_STATES {
            return Err(EnvError::InvalidState { index: 0 });
        }
        Ok(self.table(state, a))
    }

    fn initial_probability(&self, state: u32) -> f64 {
        if state == START {
            1.0
        } else {
            0.0
        }
    }

    fn current_state(&self) -> u32 {
        self.s
    }

    fn episode_mut(&mut self) -> &mut Episode {
        &mut self.episode
    }

    fn enter<D: Draws + ?Sized>(
        &mut self,
        _from: u32,
        outcome: &Transition,
        _draws: &mut D,
    ) -> u32 {
        self.s = outcome.next;
        self.s
    }
}

impl Registered for CliffWalking {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(spec.id, &["is_slippery"])?;
        let default = spec.id == SPEC_SLIPPERY.id;
        let mut env = Self::new(options.is_slippery.unwrap_or(default));
        env.spec = *spec;
        Ok(env)
    }

    fn step_with(
        &mut self,
        action: Action<'_>,
        draws: &mut dyn Draws,
        obs: &mut [f32],
    ) -> Result<StepResult, EnvError> {
        TabularEnv::step_with(self, action, draws, obs)
    }

    fn as_tabular(&self) -> Option<&dyn TabularEnv> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cliff_by_hand() {
        let mut env = CliffWalking::new(false);
        let mut obs = [0.0f32];
        env.reset(Some(0), &mut obs).unwrap();
        assert_eq!(obs, [36.0]);
        // Right from the start falls off the cliff: back to 36, -100, not terminal.
        let r = env.step(Action::Discrete(1), &mut obs).unwrap();
        assert_eq!(
            (obs[0], r.reward, r.terminated, r.truncated),
            (36.0, -100.0, false, false)
        );
        // Up to 24, eleven times right to 35, down into the goal 47.
        env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(obs, [24.0]);
        for _ in 0..11 {
            let r = env.step(Action::Discrete(1), &mut obs).unwrap();
            assert_eq!(r.reward, -1.0);
        }
        assert_eq!(obs, [35.0]);
        let r = env.step(Action::Discrete(2), &mut obs).unwrap();
        assert_eq!(
            (obs[0], r.reward, r.terminated, r.truncated),
            (47.0, -1.0, true, false)
        );
    }

    #[test]
    fn no_time_limit() {
        let mut env = CliffWalking::new(false);
        let mut obs = [0.0f32];
        env.reset(Some(0), &mut obs).unwrap();
        for _ in 0..10_000 {
            let r = env.step(Action::Discrete(3), &mut obs).unwrap();
            assert!(!r.done());
        }
        assert_eq!(env.spec().time_limit(), None);
    }

    #[test]
    fn slippery_table_by_hand() {
        // From 24 (row 2, col 0), down slips to right (25), down (36), left (stays 24).
        let env = CliffWalking::new(true);
        let p = env.transitions(24, 2).unwrap();
        let next: [u32; 3] = [
            p.as_slice()[0].next,
            p.as_slice()[1].next,
            p.as_slice()[2].next,
        ];
        assert_eq!(next, [25, 36, 24]);
        assert!(p.iter().all(|t| t.prob == 1.0 / 3.0));
    }
}
