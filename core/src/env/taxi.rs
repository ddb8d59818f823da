//! `Taxi-v4`: Gymnasium 1.4.0's `TaxiEnv` (`gymnasium/envs/toy_text/taxi.py`, Dietterich 2000),
//! with its `is_rainy` and `fickle_passenger` kwargs.
//!
//! - 500 states `((row * 5 + col) * 5 + passenger) * 4 + destination`; passenger 0-3 is a
//!   stand (R, G, Y, B at (0,0), (0,4), (4,0), (4,3)) and 4 is "in the taxi".
//! - Actions: 0 south, 1 north, 2 east, 3 west, 4 pickup, 5 drop-off. A move costs -1; a pickup
//!   or drop-off in the wrong place -10; a drop-off at the destination gives 20 and terminates.
//!   Walls in the map stop east and west moves.
//! - Reset: uniformly one of the 300 states with the passenger at a stand other than the
//!   destination. Time limit: 200 steps.
//! - `is_rainy` (default false): a move goes where intended with `rainy_probability` (0.8) and to
//!   either side with `(1 - rainy_probability) / 2`, built exactly as Gymnasium's
//!   `_build_rainy_transitions` (including its wall checks on the sideways moves).
//! - `fickle_passenger` (default false): at reset, with `fickle_probability` (0.3), the passenger
//!   is fickle; the first move that changes the taxi's cell with the passenger aboard then
//!   changes the destination, uniformly to one of the three others. Whether the passenger is
//!   still fickle is part of the state: with this option the state is `[s, fickle]`
//!   (`fickle` 0 or 1). [`Env::set_state`] also takes `[s]` alone, and then draws `fickle` as a
//!   reset does.
//!
//! Bad input: an action outside `0..6` is [`EnvError::ActionOutOfRange`]; a state outside
//! `0..500` (or `fickle` not 0 or 1) is [`EnvError::InvalidState`].

use super::toy_text::{self, Draws, TabularEnv, Transition, Transitions};
use super::{
    discrete_action, Action, Env, EnvError, EnvOptions, EnvSpec, Episode, Registered, Space,
    StepResult,
};
use crate::rng::{self, Pcg32};

const N_STATES: u32 = 500;
const N_ACTIONS: u32 = 6;
const MAX_ROW: i32 = 4;
const MAX_COL: i32 = 4;
/// The passenger index that means "in the taxi".
const IN_TAXI: u32 = 4;
/// taxi.py's `locs`: R, G, Y, B.
const LOCS: [(i32, i32); 4] = [(0, 0), (0, 4), (4, 0), (4, 3)];
/// taxi.py's `MAP`; `:` between two cells means no wall.
const MAP: [&[u8; 11]; 7] = [
    b"+---------+",
    b"|R: | : :G|",
    b"| : | : : |",
    b"| : : : : |",
    b"| | : | : |",
    b"|Y| : |B: |",
    b"+---------+",
];

/// The registration of `Taxi-v4`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "Taxi-v4",
    observation_space: Space::Discrete { n: N_STATES },
    action_space: Space::Discrete { n: N_ACTIONS },
    max_episode_steps: 200,
};

/// `self.desc[1 + row, col] == b":"` (false outside the map, never reached).
fn open(row: i32, col: i32) -> bool {
    let (Ok(r), Ok(c)) = (usize::try_from(1 + row), usize::try_from(col)) else {
        return false;
    };
    MAP.get(r).and_then(|line| line.get(c)) == Some(&b':')
}

/// taxi.py's `encode`.
const fn encode(row: i32, col: i32, pass: u32, dest: u32) -> u32 {
    (((row as u32 * 5 + col as u32) * 5 + pass) * 4) + dest
}

/// taxi.py's `decode`: `(row, col, passenger, destination)`.
const fn decode(s: u32) -> (i32, i32, u32, u32) {
    let dest = s % 4;
    let s = s / 4;
    let pass = s % 5;
    let s = s / 5;
    ((s / 5) as i32, (s % 5) as i32, pass, dest)
}

/// The stand at the taxi's cell, if any (`locs.index(taxi_loc)`).
fn stand_at(loc: (i32, i32)) -> Option<u32> {
    LOCS.iter().position(|&l| l == loc).map(|i| i as u32)
}

fn loc(i: u32) -> Option<(i32, i32)> {
    LOCS.get(i as usize).copied()
}

/// taxi.py's `_pickup`: `(passenger, reward)`.
fn pickup(taxi: (i32, i32), pass: u32, reward: f64) -> (u32, f64) {
    if pass < 4 && loc(pass) == Some(taxi) {
        (IN_TAXI, reward)
    } else {
        (pass, -10.0)
    }
}

/// taxi.py's `_dropoff`: `(passenger, reward, terminated)`.
fn dropoff(taxi: (i32, i32), pass: u32, dest: u32, default_reward: f64) -> (u32, f64, bool) {
    if loc(dest) == Some(taxi) && pass == IN_TAXI {
        (dest, 20.0, true)
    } else if let (Some(stand), IN_TAXI) = (stand_at(taxi), pass) {
        (stand, default_reward, false)
    } else {
        (pass, -10.0, false)
    }
}

/// taxi.py's `_calc_new_position`, the sideways move of a rainy step.
fn sideways(row: i32, col: i32, (dr, dc): (i32, i32)) -> (i32, i32) {
    let new_row = (row + dr).clamp(0, MAX_ROW);
    let new_col = (col + dc).clamp(0, MAX_COL);
    if dc == 1 && !open(new_row, 2 * new_col) {
        return (row, col);
    }
    if dc == -1 && !open(new_row, 2 * new_col + 2) {
        return (row, col);
    }
    (new_row, new_col)
}

/// Gymnasium's `TaxiEnv`.
#[derive(Debug, Clone)]
pub struct Taxi {
    is_rainy: bool,
    fickle_passenger: bool,
    rainy_probability: f64,
    lateral_probability: f64,
    fickle_probability: f64,
    s: u32,
    fickle_step: bool,
    rng: Pcg32,
    episode: Episode,
}

impl Default for Taxi {
    fn default() -> Self {
        Self::new()
    }
}

impl Taxi {
    /// `Taxi-v4` with Gymnasium's defaults; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        let mut env = Self {
            is_rainy: false,
            fickle_passenger: false,
            rainy_probability: 0.0,
            lateral_probability: 0.0,
            fickle_probability: 0.3,
            s: 0,
            fickle_step: false,
            rng: rng::seeded(0),
            episode: Episode::new(),
        };
        env.set_rainy_probability(0.8);
        env
    }

    fn set_rainy_probability(&mut self, p: f64) {
        self.rainy_probability = p;
        // taxi.py: `_rainy_lateral_probability = (1.0 - rainy_probability) / 2.0`.
        self.lateral_probability = (1.0 - p) / 2.0;
    }

    /// Gymnasium's `is_rainy` with its `rainy_probability`; an error outside `[0, 1]`.
    pub fn with_rain(mut self, is_rainy: bool, rainy_probability: f64) -> Result<Self, EnvError> {
        if !(0.0..=1.0).contains(&rainy_probability) {
            return Err(EnvError::BadOptionValue {
                option: "rainy_probability",
                expected: "a number in [0, 1]",
            });
        }
        self.is_rainy = is_rainy;
        self.set_rainy_probability(rainy_probability);
        Ok(self)
    }

    /// Gymnasium's `fickle_passenger` with its `fickle_probability`; an error outside `[0, 1]`.
    pub fn with_fickle_passenger(
        mut self,
        fickle_passenger: bool,
        fickle_probability: f64,
    ) -> Result<Self, EnvError> {
        if !(0.0..=1.0).contains(&fickle_probability) {
            return Err(EnvError::BadOptionValue {
                option: "fickle_probability",
                expected: "a number in [0, 1]",
            });
        }
        self.fickle_passenger = fickle_passenger;
        self.fickle_probability = fickle_probability;
        Ok(self)
    }

    /// The current state.
    pub fn state(&self) -> u32 {
        self.s
    }

    /// `_build_dry_transitions` for one state and action.
    fn dry(row: i32, col: i32, pass: u32, dest: u32, action: u32) -> Transition {
        let (mut new_row, mut new_col, mut new_pass) = (row, col, pass);
        let (mut reward, mut terminated) = (-1.0, false);
        if action == 0 {
            new_row = (row + 1).min(MAX_ROW);
        } else if action == 1 {
            new_row = (row - 1).max(0);
        }
        if action == 2 && open(row, 2 * col + 2) {
            new_col = (col + 1).min(MAX_COL);
        } else if action == 3 && open(row, 2 * col) {
            new_col = (col - 1).max(0);
        } else if action == 4 {
            (new_pass, reward) = pickup((row, col), new_pass, reward);
        } else if action == 5 {
            (new_pass, reward, terminated) = dropoff((row, col), new_pass, dest, reward);
        }
        let next = encode(new_row, new_col, new_pass, dest);
        Transition {
            prob: 1.0,
            next,
            reward,
            terminated,
        }
    }

    /// `_build_rainy_transitions` for one state and action.
    fn rainy(&self, row: i32, col: i32, pass: u32, dest: u32, action: u32) -> Transitions {
        // (intended, left of it, right of it) for south, north, east, west.
        const MOVES: [[(i32, i32); 3]; 4] = [
            [(1, 0), (0, 1), (0, -1)],
            [(-1, 0), (0, -1), (0, 1)],
            [(0, 1), (-1, 0), (1, 0)],
            [(0, -1), (1, 0), (-1, 0)],
        ];
        let (mut new_row, mut new_col, mut new_pass) = (row, col, pass);
        let (mut left, mut right) = ((row, col), (row, col));
        let (mut reward, mut terminated) = (-1.0, false);
        let can_move = (action == 0 && row < MAX_ROW)
            || (action == 1 && row > 0)
            || (action == 2 && open(row, 2 * col + 2))
            || (action == 3 && open(row, 2 * col));
        if let (true, Some(moves)) = (can_move, MOVES.get(action as usize)) {
            let (dr, dc) = moves[0];
            new_row = (row + dr).clamp(0, MAX_ROW);
            new_col = (col + dc).clamp(0, MAX_COL);
            left = sideways(row, col, moves[1]);
            right = sideways(row, col, moves[2]);
        } else if action == 4 {
            (new_pass, reward) = pickup((row, col), new_pass, reward);
        } else if action == 5 {
            (new_pass, reward, terminated) = dropoff((row, col), new_pass, dest, reward);
        }
        let intended = encode(new_row, new_col, new_pass, dest);
        if action <= 3 {
            let (p, q) = (self.rainy_probability, self.lateral_probability);
            Transitions::three([
                Transition {
                    prob: p,
                    next: intended,
                    reward: -1.0,
                    terminated,
                },
                Transition {
                    prob: q,
                    next: encode(left.0, left.1, new_pass, dest),
                    reward: -1.0,
                    terminated,
                },
                Transition {
                    prob: q,
                    next: encode(right.0, right.1, new_pass, dest),
                    reward: -1.0,
                    terminated,
                },
            ])
        } else {
            Transitions::one(Transition {
                prob: 1.0,
                next: intended,
                reward,
                terminated,
            })
        }
    }

    /// `P[s][a]` for a state and an action already checked to be in range.
    fn table(&self, s: u32, a: u32) -> Transitions {
        let (row, col, pass, dest) = decode(s);
        if self.is_rainy {
            self.rainy(row, col, pass, dest, a)
        } else {
            Transitions::one(Self::dry(row, col, pass, dest, a))
        }
    }

    /// The k-th (from 0) of the 300 start states, in state order: passenger at a stand, not at
    /// the destination.
    fn start_state(k: u32) -> u32 {
        let (cell, j) = (k / 12, k % 12);
        let pass = j / 3;
        let rank = j % 3;
        let dest = if rank >= pass { rank + 1 } else { rank };
        encode((cell / 5) as i32, (cell % 5) as i32, pass, dest)
    }

    fn draw_fickle(&mut self) {
        // taxi.py: `fickle_passenger and np_random.random() < fickle_probability`.
        self.fickle_step = self.fickle_passenger && self.rng.unit() < self.fickle_probability;
    }
}

impl Env for Taxi {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        super::obs_buffer::<1>(obs)?;
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.s = Self::start_state(rng::below(&mut self.rng, 300));
        self.draw_fickle();
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
        if self.fickle_passenger {
            2
        } else {
            1
        }
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        if self.fickle_passenger {
            super::copy_state(
                [f64::from(self.s), f64::from(u8::from(self.fickle_step))],
                out,
            )
        } else {
            super::copy_state([f64::from(self.s)], out)
        }
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let (s, fickle) = match (state, self.fickle_passenger) {
            (&[s], _) => (toy_text::discrete_state(s, 0, N_STATES)?, None),
            (&[s, f], true) => (
                toy_text::discrete_state(s, 0, N_STATES)?,
                Some(toy_text::discrete_state(f, 1, 2)? == 1),
            ),
            _ => {
                return Err(EnvError::StateDim {
                    expected: self.state_dim(),
                    got: state.len(),
                })
            }
        };
        super::obs_buffer::<1>(obs)?;
        self.s = s;
        match fickle {
            Some(f) => self.fickle_step = f,
            None => self.draw_fickle(),
        }
        self.episode.start();
        toy_text::write_discrete(obs, s)
    }
}

impl TabularEnv for Taxi {
    fn n_states(&self) -> u32 {
        N_STATES
    }

    fn n_actions(&self) -> u32 {
        N_ACTIONS
    }

    fn transitions(&self, state: u32, action: u32) -> Result<Transitions, EnvError> {
        let a = discrete_action(Action::Discrete(action), N_ACTIONS)?;
        if state >= N_STATES {
            return Err(EnvError::InvalidState { index: 0 });
        }
        Ok(self.table(state, a))
    }

    fn initial_probability(&self, state: u32) -> f64 {
        let (_, _, pass, dest) = decode(state);
        if state < N_STATES && pass < 4 && pass != dest {
            // `initial_state_distrib /= initial_state_distrib.sum()`: 1 / 300 each.
            1.0 / 300.0
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

    /// A fickle passenger, on the step the reset drew, changes destination with one index in
    /// `0..3` from `draws` once the taxi has moved with them aboard.
    fn enter<D: Draws + ?Sized>(&mut self, from: u32, outcome: &Transition, draws: &mut D) -> u32 {
        let mut next = outcome.next;
        let (shadow_row, shadow_col, shadow_pass, shadow_dest) = decode(from);
        let (row, col, pass, _) = decode(next);
        if self.fickle_passenger
            && self.fickle_step
            && shadow_pass == IN_TAXI
            && (row != shadow_row || col != shadow_col)
        {
            self.fickle_step = false;
            // `np_random.choice([i for i in range(4) if i != shadow_dest_idx])`.
            let k = draws.index(3).min(2);
            let dest = if k >= shadow_dest { k + 1 } else { k };
            next = encode(row, col, pass, dest);
        }
        self.s = next;
        next
    }
}

impl Registered for Taxi {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(
            spec.id,
            &[
                "is_rainy",
                "fickle_passenger",
                "rainy_probability",
                "fickle_probability",
            ],
        )?;
        Self::new()
            .with_rain(
                options.is_rainy.unwrap_or(false),
                options.rainy_probability.unwrap_or(0.8),
            )?
            .with_fickle_passenger(
                options.fickle_passenger.unwrap_or(false),
                options.fickle_probability.unwrap_or(0.3),
            )
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
    fn encode_decode_round_trip() {
        for s in 0..N_STATES {
            let (r, c, p, d) = decode(s);
            assert_eq!(encode(r, c, p, d), s);
        }
        // (row 3, col 1, passenger 2, destination 0) = ((3 * 5 + 1) * 5 + 2) * 4 + 0 = 328.
        assert_eq!(encode(3, 1, 2, 0), 328);
    }

    #[test]
    fn start_states_are_the_300() {
        let env = Taxi::new();
        let mut seen = [false; 500];
        for k in 0..300 {
            let s = Taxi::start_state(k);
            assert!(
                env.initial_probability(s) > 0.0 && !seen[s as usize],
                "k={k} s={s}"
            );
            seen[s as usize] = true;
        }
        assert_eq!(
            (0..500)
                .filter(|&s| env.initial_probability(s) > 0.0)
                .count(),
            300
        );
    }

    #[test]
    fn a_delivery_by_hand() {
        // Taxi at (0,1), passenger at R (0,0), destination G (0,4) = 4 * ((0*5+1)*5+0) + 1 = 21.
        let mut env = Taxi::new();
        let mut obs = [0.0f32];
        env.set_state(&[f64::from(encode(0, 1, 0, 1))], &mut obs)
            .unwrap();
        let mut act = |a: u32| {
            env.step(Action::Discrete(a), &mut obs)
                .map(|r| (obs[0] as u32, r))
        };
        // Drop-off with nobody aboard: -10.
        assert_eq!(act(5).unwrap().1.reward, -10.0);
        // West to R, pick up (-1), east is open from (0,0) to (0,1) (":" between them), but
        // from (0,1) a wall ("|") blocks going east: the taxi stays.
        assert_eq!(act(3).unwrap().0, encode(0, 0, 0, 1));
        assert_eq!(
            act(4).unwrap(),
            (
                encode(0, 0, 4, 1),
                StepResult {
                    reward: -1.0,
                    terminated: false,
                    truncated: false
                }
            )
        );
        assert_eq!(act(2).unwrap().0, encode(0, 1, 4, 1));
        assert_eq!(act(2).unwrap().0, encode(0, 1, 4, 1));
        // Around the wall: south twice, east three times, north twice to G (0,4), drop off: +20.
        let mut at = 0;
        for a in [0, 0, 2, 2, 2, 1, 1] {
            at = act(a).unwrap().0;
        }
        assert_eq!(at, encode(0, 4, 4, 1));
        let (s, r) = act(5).unwrap();
        assert_eq!(
            (s, r.reward, r.terminated),
            (encode(0, 4, 1, 1), 20.0, true)
        );
    }
}
