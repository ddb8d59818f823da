//! `MountainCarContinuous-v0`: Gymnasium 1.4.0's `Continuous_MountainCarEnv`
//! (`gymnasium/envs/classic_control/continuous_mountain_car.py`), 999-step time limit.
//!
//! - State and observation: `[position, velocity]`. Action: one force in `[-1, 1]`.
//! - `velocity += force * 0.0015 - 0.0025 * cos(3 * position)`, clipped to `[-0.07, 0.07]`;
//!   `position += velocity`, clipped to `[-1.2, 0.6]`; at the left wall a leftward velocity
//!   becomes 0. Terminates when `position >= 0.45` and `velocity >= goal_velocity` (option,
//!   default 0). Reward: 100 on termination, minus `0.1 * action²` every step.
//! - Reset: position uniform in `[-0.6, -0.4)`, velocity 0.
//!
//! Gymnasium keeps this state as a float32 array after the first step, and NumPy 2 (NEP 50)
//! then computes in float32 wherever a float32 meets a Python float. Core follows its number
//! types exactly ([`Num`]): the first step after a reset computes in float64, every later step
//! in the float32 and float64 mix that Gymnasium's code gives.
//!
//! Bad input: an out-of-bound action is clipped to `[-1, 1]` for the dynamics, as Gymnasium
//! does, while the reward's `0.1 * action²` uses the action as given (Gymnasium's too). A NaN or
//! infinite action is [`EnvError::NonFiniteAction`]; an action of the wrong length
//! [`EnvError::ActionDim`]; a non-finite state [`EnvError::InvalidState`].

use super::{
    continuous_action, obs_buffer, Action, Env, EnvError, EnvOptions, EnvSpec, Episode, Registered,
    Space, StepResult,
};
use crate::rng::{self, Pcg32};

const MIN_ACTION: f64 = -1.0;
const MAX_ACTION: f64 = 1.0;
const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.45;
const POWER: f64 = 0.0015;

const fn bounds(low: bool) -> [f32; 2] {
    let mut b = [0.0f32; 2];
    if low {
        b[0] = MIN_POSITION as f32;
        b[1] = -(MAX_SPEED as f32);
    } else {
        b[0] = MAX_POSITION as f32;
        b[1] = MAX_SPEED as f32;
    }
    b
}

const fn action_bound(value: f32) -> [f32; 1] {
    [value]
}

/// The registration of `MountainCarContinuous-v0`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "MountainCarContinuous-v0",
    observation_space: Space::Box {
        dim: 2,
        low: &bounds(true),
        high: &bounds(false),
    },
    action_space: Space::Box {
        dim: 1,
        low: &action_bound(MIN_ACTION as f32),
        high: &action_bound(MAX_ACTION as f32),
    },
    max_episode_steps: 999,
};

/// A number as NumPy 2 types it (NEP 50): a float32 or float64 scalar, or a Python float, which
/// takes the type of the NumPy scalar it meets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    F32(f32),
    F64(f64),
    Py(f64),
}

/// The precision an operation between two [`Num`]s runs in.
enum Both {
    F32(f32, f32),
    F64(f64, f64),
    Py(f64, f64),
}

impl Num {
    fn both(self, other: Num) -> Both {
        match (self, other) {
            (Num::F32(a), Num::F32(b)) => Both::F32(a, b),
            (Num::F32(a), Num::Py(b)) => Both::F32(a, b as f32),
            (Num::Py(a), Num::F32(b)) => Both::F32(a as f32, b),
            (Num::Py(a), Num::Py(b)) => Both::Py(a, b),
            (a, b) => Both::F64(a.f64(), b.f64()),
        }
    }

    fn f64(self) -> f64 {
        match self {
            Num::F32(v) => f64::from(v),
            Num::F64(v) | Num::Py(v) => v,
        }
    }

    fn add(self, other: Num) -> Num {
        match self.both(other) {
            Both::F32(a, b) => Num::F32(a + b),
            Both::F64(a, b) => Num::F64(a + b),
            Both::Py(a, b) => Num::Py(a + b),
        }
    }

    fn sub(self, other: Num) -> Num {
        match self.both(other) {
            Both::F32(a, b) => Num::F32(a - b),
            Both::F64(a, b) => Num::F64(a - b),
            Both::Py(a, b) => Num::Py(a - b),
        }
    }

    fn mul(self, other: Num) -> Num {
        match self.both(other) {
            Both::F32(a, b) => Num::F32(a * b),
            Both::F64(a, b) => Num::F64(a * b),
            Both::Py(a, b) => Num::Py(a * b),
        }
    }

    fn lt(self, other: Num) -> bool {
        match self.both(other) {
            Both::F32(a, b) => a < b,
            Both::F64(a, b) | Both::Py(a, b) => a < b,
        }
    }

    fn eq(self, other: Num) -> bool {
        match self.both(other) {
            Both::F32(a, b) => a == b,
            Both::F64(a, b) | Both::Py(a, b) => a == b,
        }
    }

    fn ge(self, other: Num) -> bool {
        other.lt(self) || other.eq(self)
    }
}

/// Gymnasium's `MountainCarContinuous-v0`.
#[derive(Debug, Clone)]
pub struct MountainCarContinuous {
    state: [f64; 2],
    /// Gymnasium's `self.state` is a float32 array (after a step), not float64 (after a reset).
    state_is_f32: bool,
    goal_velocity: f64,
    rng: Pcg32,
    episode: Episode,
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCarContinuous {
    /// A continuous mountain car with Gymnasium's defaults; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
            state_is_f32: false,
            goal_velocity: 0.0,
            rng: rng::seeded(0),
            episode: Episode::new(),
        }
    }

    /// Gymnasium's `goal_velocity` option.
    pub fn with_goal_velocity(mut self, goal_velocity: f64) -> Self {
        self.goal_velocity = goal_velocity;
        self
    }

    /// The internal state `[position, velocity]`.
    pub fn state(&self) -> [f64; 2] {
        self.state
    }

    fn write_obs(&self, obs: &mut [f32; 2]) {
        *obs = [self.state[0] as f32, self.state[1] as f32];
    }
}

impl Env for MountainCarContinuous {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        let obs = obs_buffer::<2>(obs)?;
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.state = [rng::uniform_f64(&mut self.rng, -0.6, -0.4), 0.0];
        self.state_is_f32 = false;
        self.episode.start();
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let [a] = continuous_action::<1>(action)?;
        self.episode.check()?;
        let obs = obs_buffer::<2>(obs)?;
        // continuous_mountain_car.py, line by line, in NumPy's number types.
        let [p, v] = self.state;
        let (mut position, mut velocity) = if self.state_is_f32 {
            (Num::F32(p as f32), Num::F32(v as f32))
        } else {
            (Num::F64(p), Num::F64(v))
        };
        // `force = min(max(action[0], self.min_action), self.max_action)`: Python's max and min
        // keep the action (float32) unless a bound (a Python float) is strictly beyond it.
        let mut force = Num::F32(a);
        if force.lt(Num::Py(MIN_ACTION)) {
            force = Num::Py(MIN_ACTION);
        }
        if Num::Py(MAX_ACTION).lt(force) {
            force = Num::Py(MAX_ACTION);
        }
        // `velocity += force * self.power - 0.0025 * math.cos(3 * position)`.
        let cos = Num::Py(0.0025 * libm::cos(Num::Py(3.0).mul(position).f64()));
        velocity = velocity.add(force.mul(Num::Py(POWER)).sub(cos));
        if Num::Py(MAX_SPEED).lt(velocity) {
            velocity = Num::Py(MAX_SPEED);
        }
        if velocity.lt(Num::Py(-MAX_SPEED)) {
            velocity = Num::Py(-MAX_SPEED);
        }
        position = position.add(velocity);
        if Num::Py(MAX_POSITION).lt(position) {
            position = Num::Py(MAX_POSITION);
        }
        if position.lt(Num::Py(MIN_POSITION)) {
            position = Num::Py(MIN_POSITION);
        }
        if position.eq(Num::Py(MIN_POSITION)) && velocity.lt(Num::Py(0.0)) {
            velocity = Num::Py(0.0);
        }
        let terminated =
            position.ge(Num::Py(GOAL_POSITION)) && velocity.ge(Num::Py(self.goal_velocity));
        // `reward -= math.pow(action[0], 2) * 0.1`: the action as given, squared exactly.
        let a = f64::from(a);
        let reward = if terminated { 100.0 } else { 0.0 } - a * a * 0.1;
        // `self.state = np.array([position, velocity], dtype=np.float32)`.
        self.state = [
            f64::from(position.f64() as f32),
            f64::from(velocity.f64() as f32),
        ];
        self.state_is_f32 = true;
        let truncated = self.episode.count(SPEC.max_episode_steps, terminated);
        self.write_obs(obs);
        Ok(StepResult {
            reward,
            terminated,
            truncated,
        })
    }

    fn state_dim(&self) -> usize {
        2
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        super::copy_state(self.state, out)
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let s = super::finite_state::<2>(state)?;
        let obs = obs_buffer::<2>(obs)?;
        self.state = s;
        self.state_is_f32 = false;
        self.episode.start();
        self.write_obs(obs);
        Ok(())
    }
}

impl Registered for MountainCarContinuous {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(spec.id, &["goal_velocity"])?;
        Ok(Self::new().with_goal_velocity(options.goal_velocity.unwrap_or(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_in_f64_then_f32() {
        // From (-0.5, 0) with force 0.5: force * power is float32 (0.5f32 * 0.0015f32), the
        // cosine term a Python float rounded to float32 where it meets it; the sum is added to
        // the float64 velocity.
        let mut env = MountainCarContinuous::new();
        let mut obs = [0.0f32; 2];
        env.set_state(&[-0.5, 0.0], &mut obs).unwrap();
        let r = env.step(Action::Continuous(&[0.5]), &mut obs).unwrap();
        let dv = 0.5f32 * 0.0015f32 - (0.0025 * libm::cos(-1.5)) as f32;
        let v = f64::from(dv);
        assert_eq!(
            env.state(),
            [f64::from((-0.5 + v) as f32), f64::from(v as f32)]
        );
        assert_eq!(r.reward, -(0.5 * 0.5 * 0.1));
        // The next step computes in float32.
        let [p, v] = env.state();
        let (p, v) = (p as f32, v as f32);
        env.step(Action::Continuous(&[0.5]), &mut obs).unwrap();
        let c = (0.0025 * libm::cos(f64::from(3.0f32 * p))) as f32;
        let v2 = v + (0.5f32 * 0.0015f32 - c);
        assert_eq!(env.state(), [f64::from(p + v2), f64::from(v2)]);
    }

    #[test]
    fn out_of_bound_actions_clip_but_cost_in_full() {
        let mut a = MountainCarContinuous::new();
        let mut b = MountainCarContinuous::new();
        let (mut oa, mut ob) = ([0.0f32; 2], [0.0f32; 2]);
        a.set_state(&[-0.5, 0.0], &mut oa).unwrap();
        b.set_state(&[-0.5, 0.0], &mut ob).unwrap();
        let ra = a.step(Action::Continuous(&[5.0]), &mut oa).unwrap();
        b.step(Action::Continuous(&[1.0]), &mut ob).unwrap();
        assert_eq!(oa, ob);
        assert_eq!(ra.reward, -2.5);
        assert_eq!(
            a.step(Action::Continuous(&[f32::NAN]), &mut oa),
            Err(EnvError::NonFiniteAction { index: 0 })
        );
        assert_eq!(
            a.step(Action::Continuous(&[0.0, 0.0]), &mut oa),
            Err(EnvError::ActionDim {
                expected: 1,
                got: 2
            })
        );
        assert_eq!(
            a.step(Action::Discrete(0), &mut oa),
            Err(EnvError::WrongActionKind)
        );
    }

    #[test]
    fn goal_pays_100() {
        let mut env = MountainCarContinuous::new();
        let mut obs = [0.0f32; 2];
        env.set_state(&[0.44, 0.05], &mut obs).unwrap();
        let r = env.step(Action::Continuous(&[1.0]), &mut obs).unwrap();
        assert!(r.terminated);
        assert_eq!(r.reward, 100.0 - 0.1);
    }
}
