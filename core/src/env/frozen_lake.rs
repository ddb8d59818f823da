//! `FrozenLake-v1` and `FrozenLake8x8-v1`: Gymnasium 1.4.0's `FrozenLakeEnv`
//! (`gymnasium/envs/toy_text/frozen_lake.py`), with its built-in maps and custom maps of up to
//! [`MAX_MAP_CELLS`] cells held in a fixed array.
//!
//! - Actions: 0 left, 1 down, 2 right, 3 up. Observation: the cell index `row * ncol + col`.
//! - Slippery moves (`is_slippery`, default true) go to `a - 1`, `a`, `a + 1` (mod 4) with
//!   probabilities `fail`, `success_rate`, `fail`, where `fail = (1 - success_rate) / 2` and
//!   `success_rate` defaults to `1/3`. Moves stop at the edges.
//! - Entering `G` or `H` terminates; the rewards are `reward_schedule` (goal, hole, frozen),
//!   default `(1, 0, 0)`. From `G` or `H` every action stays put with reward 0 and terminates.
//! - A reset starts on an `S` cell, uniformly among them when a custom map has several.
//! - Time limits: 100 steps for `FrozenLake-v1`, 200 for `FrozenLake8x8-v1`, whatever the map.
//!
//! Bad input: an action outside `0..4` is [`EnvError::ActionOutOfRange`]; a state that is not a
//! cell index is [`EnvError::InvalidState`]. Custom maps are checked ([`MapError`]): rows of one
//! length, only `S`, `F`, `H`, `G`, and at least one `S` (Gymnasium treats other letters as
//! frozen and divides by zero without an `S`; core refuses both).

use core::fmt;

use super::toy_text::{self, Draws, TabularEnv, Transition, Transitions};
use super::{
    discrete_action, Action, Env, EnvError, EnvOptions, EnvSpec, Episode, Registered, Space,
    StepResult,
};
use crate::rng::{self, Pcg32};

/// The most cells of a FrozenLake map (16x16, or any other shape of at most this many cells).
pub const MAX_MAP_CELLS: usize = 256;

const LEFT: u32 = 0;
const DOWN: u32 = 1;
const RIGHT: u32 = 2;
const UP: u32 = 3;

/// The registration of `FrozenLake-v1` (with its default 4x4 map).
pub const SPEC: EnvSpec = EnvSpec {
    id: "FrozenLake-v1",
    observation_space: Space::Discrete { n: 16 },
    action_space: Space::Discrete { n: 4 },
    max_episode_steps: 100,
};

/// The registration of `FrozenLake8x8-v1` (with its default 8x8 map).
pub const SPEC_8X8: EnvSpec = EnvSpec {
    id: "FrozenLake8x8-v1",
    observation_space: Space::Discrete { n: 64 },
    action_space: Space::Discrete { n: 4 },
    max_episode_steps: 200,
};

/// Why a FrozenLake map was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No rows, or a row of no cells.
    Empty,
    /// More than [`MAX_MAP_CELLS`] cells.
    TooLarge,
    /// A row whose length differs from the first row's.
    Ragged {
        /// The row (from 0).
        row: usize,
        /// Its number of cells.
        len: usize,
        /// The first row's number of cells.
        expected: usize,
    },
    /// A cell that is not `S`, `F`, `H` or `G`.
    BadCell {
        /// The row (from 0).
        row: usize,
        /// The column (from 0).
        col: usize,
        /// The byte found.
        byte: u8,
    },
    /// A character in the map text that is neither a cell nor a separator.
    BadCharacter {
        /// The byte found.
        byte: u8,
    },
    /// No start cell `S`.
    NoStart,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MapError::Empty => write!(f, "the map is empty"),
            MapError::TooLarge => write!(f, "the map has more than {MAX_MAP_CELLS} cells"),
            MapError::Ragged { row, len, expected } => {
                write!(
                    f,
                    "row {row} has {len} cells, expected {expected} as in row 0"
                )
            }
            MapError::BadCell { row, col, byte } => write!(
                f,
                "cell (row {row}, column {col}) is {:?}, expected one of S, F, H, G",
                char::from(byte)
            ),
            MapError::BadCharacter { byte } => {
                write!(
                    f,
                    "unexpected character {:?} in the map text",
                    char::from(byte)
                )
            }
            MapError::NoStart => write!(f, "the map has no start cell S"),
        }
    }
}

impl core::error::Error for MapError {}

/// A FrozenLake map (Gymnasium's `desc`): `nrow` rows of `ncol` cells, each `S` (start), `F`
/// (frozen), `H` (hole) or `G` (goal), held in a fixed array.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MapDesc {
    cells: [u8; MAX_MAP_CELLS],
    nrow: usize,
    ncol: usize,
}

impl fmt::Debug for MapDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for row in 0..self.nrow {
            let start = row * self.ncol;
            let cells = self.cells.get(start..start + self.ncol).unwrap_or(&[]);
            list.entry(&core::str::from_utf8(cells).unwrap_or("?"));
        }
        list.finish()
    }
}

impl MapDesc {
    /// Gymnasium's `MAPS["4x4"]`.
    pub const FOUR_BY_FOUR: MapDesc = Self::built_in(&["SFFF", "FHFH", "FFFH", "HFFG"]);

    /// Gymnasium's `MAPS["8x8"]`.
    pub const EIGHT_BY_EIGHT: MapDesc = Self::built_in(&[
        "SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF", "FFFHFFFF", "FHHFFFHF", "FHFFHFHF",
        "FFFHFFFG",
    ]);

    const fn built_in(rows: &[&str]) -> MapDesc {
        match Self::from_rows(rows) {
            Ok(map) => map,
            Err(_) => panic!("a built-in map is invalid"),
        }
    }

    /// A map from its rows, checked (Gymnasium's `desc=[...]`).
    pub const fn from_rows(rows: &[&str]) -> Result<MapDesc, MapError> {
        let mut map = MapDesc {
            cells: [0; MAX_MAP_CELLS],
            nrow: 0,
            ncol: 0,
        };
        let mut r = 0;
        while r < rows.len() {
            let bytes = rows[r].as_bytes();
            if let Err(e) = map.push_row(bytes) {
                return Err(e);
            }
            r += 1;
        }
        map.check()
    }

    /// A map from text: rows of letters separated by commas, semicolons, slashes or white space,
    /// with optional brackets and quotes (`["SFFF", "FHFH"]`, `SFFF,FHFH`, `SFFF/FHFH`).
    pub fn parse(text: &str) -> Result<MapDesc, MapError> {
        let mut map = MapDesc {
            cells: [0; MAX_MAP_CELLS],
            nrow: 0,
            ncol: 0,
        };
        for word in text.split(|c: char| ",;/[]()\"'".contains(c) || c.is_whitespace()) {
            if word.is_empty() {
                continue;
            }
            if let Some(&byte) = word.as_bytes().iter().find(|b| !b.is_ascii_alphabetic()) {
                return Err(MapError::BadCharacter { byte });
            }
            map.push_row(word.as_bytes())?;
        }
        map.check()
    }

    const fn push_row(&mut self, bytes: &[u8]) -> Result<(), MapError> {
        if bytes.is_empty() {
            return Err(MapError::Empty);
        }
        if self.nrow == 0 {
            self.ncol = bytes.len();
        } else if bytes.len() != self.ncol {
            return Err(MapError::Ragged {
                row: self.nrow,
                len: bytes.len(),
                expected: self.ncol,
            });
        }
        let start = self.nrow * self.ncol;
        if start + self.ncol > MAX_MAP_CELLS {
            return Err(MapError::TooLarge);
        }
        let mut c = 0;
        while c < bytes.len() {
            let byte = bytes[c];
            if !matches!(byte, b'S' | b'F' | b'H' | b'G') {
                return Err(MapError::BadCell {
                    row: self.nrow,
                    col: c,
                    byte,
                });
            }
            self.cells[start + c] = byte;
            c += 1;
        }
        self.nrow += 1;
        Ok(())
    }

    const fn check(self) -> Result<MapDesc, MapError> {
        if self.nrow == 0 {
            return Err(MapError::Empty);
        }
        let mut i = 0;
        while i < self.nrow * self.ncol {
            if self.cells[i] == b'S' {
                return Ok(self);
            }
            i += 1;
        }
        Err(MapError::NoStart)
    }

    /// Number of rows.
    pub const fn nrow(&self) -> usize {
        self.nrow
    }

    /// Number of columns.
    pub const fn ncol(&self) -> usize {
        self.ncol
    }

    /// Number of cells (the number of states).
    pub const fn n_cells(&self) -> usize {
        self.nrow * self.ncol
    }

    /// The letter of a cell, `None` outside the map.
    pub fn cell(&self, row: usize, col: usize) -> Option<u8> {
        if row < self.nrow && col < self.ncol {
            self.cells.get(row * self.ncol + col).copied()
        } else {
            None
        }
    }

    /// The letter of the cell of state `s` (`b'H'` outside the map, never reached).
    fn letter(&self, s: usize) -> u8 {
        if s < self.n_cells() {
            self.cells.get(s).copied().unwrap_or(b'H')
        } else {
            b'H'
        }
    }
}

/// Gymnasium's `FrozenLakeEnv`.
#[derive(Debug, Clone)]
pub struct FrozenLake {
    spec: EnvSpec,
    map: MapDesc,
    is_slippery: bool,
    success_rate: f64,
    fail_rate: f64,
    reward_schedule: [f64; 3],
    starts: u32,
    s: u32,
    rng: Pcg32,
    episode: Episode,
}

impl FrozenLake {
    /// `FrozenLake-v1` on `map` (Gymnasium's defaults otherwise); call [`Env::reset`] before
    /// stepping.
    pub fn new(map: MapDesc, is_slippery: bool) -> Self {
        Self::registered(&SPEC, map, is_slippery)
    }

    /// `FrozenLake8x8-v1` as Gymnasium makes it by default.
    pub fn eight_by_eight() -> Self {
        Self::registered(&SPEC_8X8, MapDesc::EIGHT_BY_EIGHT, true)
    }

    fn registered(base: &EnvSpec, map: MapDesc, is_slippery: bool) -> Self {
        let n = map.n_cells() as u32;
        let starts = (0..map.n_cells())
            .filter(|&i| map.letter(i) == b'S')
            .count() as u32;
        let mut env = Self {
            spec: EnvSpec {
                observation_space: Space::Discrete { n },
                ..*base
            },
            map,
            is_slippery,
            success_rate: 0.0,
            fail_rate: 0.0,
            reward_schedule: [1.0, 0.0, 0.0],
            starts,
            s: 0,
            rng: rng::seeded(0),
            episode: Episode::new(),
        };
        env.set_success_rate(1.0 / 3.0);
        env
    }

    fn set_success_rate(&mut self, rate: f64) {
        self.success_rate = rate;
        // frozen_lake.py: `fail_rate = (1.0 - success_rate) / 2.0`.
        self.fail_rate = (1.0 - rate) / 2.0;
    }

    /// Gymnasium's `success_rate` (the probability that a slippery move goes where intended);
    /// an error outside `[0, 1]`.
    pub fn with_success_rate(mut self, rate: f64) -> Result<Self, EnvError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(EnvError::BadOptionValue {
                option: "success_rate",
                expected: "a number in [0, 1]",
            });
        }
        self.set_success_rate(rate);
        Ok(self)
    }

    /// Gymnasium's `reward_schedule`: rewards for entering the goal, a hole, a frozen cell.
    pub fn with_reward_schedule(mut self, schedule: [f64; 3]) -> Self {
        self.reward_schedule = schedule;
        self
    }

    /// The map.
    pub fn map(&self) -> &MapDesc {
        &self.map
    }

    /// The current state (the cell index).
    pub fn state(&self) -> u32 {
        self.s
    }

    fn n(&self) -> u32 {
        self.map.n_cells() as u32
    }

    /// frozen_lake.py's `update_probability_matrix`: where move `a` from `(row, col)` lands.
    fn outcome(&self, prob: f64, row: usize, col: usize, a: u32) -> Transition {
        let (nrow, ncol) = (self.map.nrow, self.map.ncol);
        let (row, col) = match a {
            LEFT => (row, col.saturating_sub(1)),
            DOWN => (core::cmp::min(row + 1, nrow.saturating_sub(1)), col),
            RIGHT => (row, core::cmp::min(col + 1, ncol.saturating_sub(1))),
            UP => (row.saturating_sub(1), col),
            _ => (row, col),
        };
        let next = row * ncol + col;
        let letter = self.map.letter(next);
        let reward = match letter {
            b'G' => self.reward_schedule[0],
            b'H' => self.reward_schedule[1],
            _ => self.reward_schedule[2],
        };
        Transition {
            prob,
            next: next as u32,
            reward,
            terminated: matches!(letter, b'G' | b'H'),
        }
    }

    /// `P[s][a]` for a state and an action already checked to be in range.
    fn table(&self, s: u32, a: u32) -> Transitions {
        let s_us = s as usize;
        if matches!(self.map.letter(s_us), b'G' | b'H') {
            return Transitions::one(Transition {
                prob: 1.0,
                next: s,
                reward: 0.0,
                terminated: true,
            });
        }
        let ncol = self.map.ncol.max(1);
        let (row, col) = (s_us / ncol, s_us % ncol);
        if self.is_slippery {
            let (fail, success) = (self.fail_rate, self.success_rate);
            Transitions::three([
                self.outcome(fail, row, col, (a + 3) % 4),
                self.outcome(success, row, col, a),
                self.outcome(fail, row, col, (a + 1) % 4),
            ])
        } else {
            Transitions::one(self.outcome(1.0, row, col, a))
        }
    }

    /// One `categorical_sample` over `initial_state_distrib` (`1/k` on each of the `k` starts).
    fn draw_start(&self, u: f64) -> u32 {
        let p = 1.0 / f64::from(self.starts);
        let mut sum = 0.0;
        for s in 0..self.n() {
            if self.map.letter(s as usize) == b'S' {
                sum += p;
                if sum > u {
                    return s;
                }
            }
        }
        0
    }
}

impl Env for FrozenLake {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        super::obs_buffer::<1>(obs)?;
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        let u = self.rng.unit();
        self.s = self.draw_start(u);
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
        let s = toy_text::discrete_state(value, 0, self.n())?;
        super::obs_buffer::<1>(obs)?;
        self.s = s;
        self.episode.start();
        toy_text::write_discrete(obs, s)
    }
}

impl TabularEnv for FrozenLake {
    fn n_states(&self) -> u32 {
        self.n()
    }

    fn n_actions(&self) -> u32 {
        4
    }

    fn transitions(&self, state: u32, action: u32) -> Result<Transitions, EnvError> {
        let a = discrete_action(Action::Discrete(action), 4)?;
        if state >= self.n() {
            return Err(EnvError::InvalidState { index: 0 });
        }
        Ok(self.table(state, a))
    }

    fn initial_probability(&self, state: u32) -> f64 {
        if state < self.n() && self.map.letter(state as usize) == b'S' {
            1.0 / f64::from(self.starts)
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

impl Registered for FrozenLake {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(
            spec.id,
            &[
                "map_name",
                "desc",
                "is_slippery",
                "success_rate",
                "reward_schedule",
            ],
        )?;
        let default_map = if spec.id == SPEC_8X8.id {
            MapDesc::EIGHT_BY_EIGHT
        } else {
            MapDesc::FOUR_BY_FOUR
        };
        let map = match (options.desc, options.map_name) {
            (Some(desc), _) => desc,
            (None, Some(name)) => name.map(),
            (None, None) => default_map,
        };
        let env = Self::registered(spec, map, options.is_slippery.unwrap_or(true))
            .with_success_rate(options.success_rate.unwrap_or(1.0 / 3.0))?;
        Ok(match options.reward_schedule {
            Some(schedule) => env.with_reward_schedule(schedule),
            None => env,
        })
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

    fn step(env: &mut FrozenLake, a: u32) -> (u32, StepResult) {
        let mut obs = [0.0f32];
        let r = env.step(Action::Discrete(a), &mut obs).unwrap();
        (obs[0] as u32, r)
    }

    #[test]
    fn walks_the_4x4_map_by_hand() {
        // SFFF / FHFH / FFFH / HFFG, not slippery: down, down, right, right, down, right reaches
        // the goal (state 15) on the sixth step; the cells passed are 4, 8, 9, 10, 14.
        let mut env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, false);
        let mut obs = [0.0f32];
        env.reset(Some(0), &mut obs).unwrap();
        assert_eq!(obs, [0.0]);
        let path = [(DOWN, 4), (DOWN, 8), (RIGHT, 9), (RIGHT, 10), (DOWN, 14)];
        for (a, s) in path {
            let (o, r) = step(&mut env, a);
            assert_eq!((o, r.reward, r.terminated), (s, 0.0, false));
        }
        let (o, r) = step(&mut env, RIGHT);
        assert_eq!(
            (o, r.reward, r.terminated, r.truncated),
            (15, 1.0, true, false)
        );
        assert_eq!(
            env.step(Action::Discrete(0), &mut obs),
            Err(EnvError::NeedsReset)
        );
    }

    #[test]
    fn slippery_table_by_hand() {
        // From state 0, action right (2) slips to up (3) / right (2) / down (1):
        // up stays on 0, right goes to 1, down goes to 4; fail = (1 - 1/3) / 2.
        let env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, true);
        let p = env.transitions(0, RIGHT).unwrap();
        let fail = (1.0 - 1.0 / 3.0) / 2.0;
        let got: [(f64, u32); 3] = [
            (p.as_slice()[0].prob, p.as_slice()[0].next),
            (p.as_slice()[1].prob, p.as_slice()[1].next),
            (p.as_slice()[2].prob, p.as_slice()[2].next),
        ];
        assert_eq!(got, [(fail, 4), (1.0 / 3.0, 1), (fail, 0)]);
        // A hole is absorbing with reward 0.
        let hole = env.transitions(5, LEFT).unwrap();
        assert_eq!(
            hole.as_slice(),
            &[Transition {
                prob: 1.0,
                next: 5,
                reward: 0.0,
                terminated: true
            }]
        );
        assert_eq!(
            env.transitions(16, 0),
            Err(EnvError::InvalidState { index: 0 })
        );
        assert_eq!(
            env.transitions(0, 4),
            Err(EnvError::ActionOutOfRange { action: 4, n: 4 })
        );
    }

    #[test]
    fn truncates_at_100_even_when_terminating() {
        // Map SH / FG: bounce against the left wall for 99 steps, then step right into the
        // hole. Step 100 terminates and, as Gymnasium's TimeLimit does, truncates too.
        let map = MapDesc::from_rows(&["SH", "FG"]).unwrap();
        let mut env = FrozenLake::new(map, false);
        let mut obs = [0.0f32];
        env.reset(Some(1), &mut obs).unwrap();
        for _ in 0..99 {
            let (o, r) = step(&mut env, LEFT);
            assert_eq!((o, r.terminated, r.truncated), (0, false, false));
        }
        let (o, r) = step(&mut env, RIGHT);
        assert_eq!((o, r.terminated, r.truncated), (1, true, true));
    }

    #[test]
    fn custom_maps_are_checked() {
        assert_eq!(MapDesc::from_rows(&[]), Err(MapError::Empty));
        assert_eq!(
            MapDesc::from_rows(&["SF", "FFG"]),
            Err(MapError::Ragged {
                row: 1,
                len: 3,
                expected: 2
            })
        );
        assert_eq!(
            MapDesc::from_rows(&["SX"]),
            Err(MapError::BadCell {
                row: 0,
                col: 1,
                byte: b'X'
            })
        );
        assert_eq!(MapDesc::from_rows(&["FF", "HG"]), Err(MapError::NoStart));
        assert_eq!(
            MapDesc::parse("SF;F?"),
            Err(MapError::BadCharacter { byte: b'?' })
        );
        let big = "SFFFFFFFFFFFFFFFF,"; // 17 columns
        let mut text = [0u8; 18 * 16];
        for chunk in text.chunks_mut(18) {
            chunk.copy_from_slice(big.as_bytes());
        }
        assert_eq!(
            MapDesc::parse(core::str::from_utf8(&text).unwrap()),
            Err(MapError::TooLarge)
        );
        let ok = MapDesc::parse("[\"SFFF\", \"FHFH\", \"FFFH\", \"HFFG\"]").unwrap();
        assert_eq!(ok, MapDesc::FOUR_BY_FOUR);
        let sixteen = ["SFFFFFFFFFFFFFFF"; 16];
        assert_eq!(MapDesc::from_rows(&sixteen).map(|m| m.n_cells()), Ok(256));
    }

    #[test]
    fn several_starts_are_drawn_uniformly() {
        let map = MapDesc::from_rows(&["SFS", "FSG"]).unwrap();
        let mut env = FrozenLake::new(map, true);
        let mut obs = [0.0f32];
        let mut seen = [0u32; 6];
        for seed in 0..600 {
            env.reset(Some(seed), &mut obs).unwrap();
            seen[obs[0] as usize] += 1;
        }
        assert_eq!((seen[1], seen[3], seen[5]), (0, 0, 0));
        assert!(seen[0] > 150 && seen[2] > 150 && seen[4] > 150, "{seen:?}");
        assert_eq!(env.initial_probability(2), 1.0 / 3.0);
        assert_eq!(env.initial_probability(1), 0.0);
    }
}
