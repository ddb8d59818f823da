//! `MountainCar-v0`: Gymnasium 1.4.0's `MountainCarEnv` (Moore 1990;
//! `gymnasium/envs/classic_control/mountain_car.py`), float64 state, float32 observations,
//! 200-step time limit.
//!
//! - State and observation: `[position, velocity]`. Actions: 0 push left, 1 no push, 2 push right.
//! - `velocity += (a - 1) * 0.001 - 0.0025 * cos(3 * position)`, clipped to `[-0.07, 0.07]`;
//!   `position += velocity`, clipped to `[-1.2, 0.6]`; at the left wall a leftward velocity
//!   becomes 0. Reward -1 a step; terminates when `position >= 0.5` and
//!   `velocity >= goal_velocity` (option, default 0).
//! - Reset: position uniform in `[-0.6, -0.4)`, velocity 0.
//!
//! Bad input: an action outside `0..3` is [`EnvError::ActionOutOfRange`]; a non-finite state is
//! [`EnvError::InvalidState`].

use super::{
    discrete_action, obs_buffer, Action, Env, EnvError, EnvOptions, EnvSpec, Episode, Registered,
    Space, StepResult,
};
use crate::rng::{self, Pcg32};

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.5;
const FORCE: f64 = 0.001;
const GRAVITY: f64 = 0.0025;

const fn bounds(sign: f32) -> [f32; 2] {
    let mut b = [0.0f32; 2];
    if sign < 0.0 {
        b[0] = MIN_POSITION as f32;
        b[1] = -(MAX_SPEED as f32);
    } else {
        b[0] = MAX_POSITION as f32;
        b[1] = MAX_SPEED as f32;
    }
    b
}

/// The registration of `MountainCar-v0`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "MountainCar-v0",
    observation_space: Space::Box {
        dim: 2,
        low: &bounds(-1.0),
        high: &bounds(1.0),
    },
    action_space: Space::Discrete { n: 3 },
    max_episode_steps: 200,
};

/// Gymnasium's `MountainCar-v0`.
#[derive(Debug, Clone)]
pub struct MountainCar {
    state: [f64; 2],
    goal_velocity: f64,
    rng: Pcg32,
    episode: Episode,
}

impl Default for MountainCar {
    fn default() -> Self {
        Self::new()
    }
}

impl MountainCar {
    /// A mountain car with Gymnasium's defaults; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
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

impl Env for MountainCar {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        let obs = obs_buffer::<2>(obs)?;
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        self.state = [rng::uniform_f64(&mut self.rng, -0.6, -0.4), 0.0];
        self.episode.start();
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let a = discrete_action(action, 3)?;
        self.episode.check()?;
        let obs = obs_buffer::<2>(obs)?;
        let [mut position, mut velocity] = self.state;
        // mountain_car.py, in its order and float64 throughout.
        velocity += (f64::from(a) - 1.0) * FORCE + libm::cos(3.0 * position) * (-GRAVITY);
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position += velocity;
        position = position.clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= self.goal_velocity;
        self.state = [position, velocity];
        let truncated = self.episode.count(SPEC.max_episode_steps, terminated);
        self.write_obs(obs);
        Ok(StepResult {
            reward: -1.0,
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
        self.episode.start();
        self.write_obs(obs);
        Ok(())
    }
}

impl Registered for MountainCar {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(spec.id, &["goal_velocity"])?;
        Ok(Self::new().with_goal_velocity(options.goal_velocity.unwrap_or(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_by_hand() {
        // From (-0.5, 0) pushing right: velocity = 0.001 - 0.0025 * cos(-1.5)
        // = 0.001 - 0.0025 * 0.0707372 = 0.000823157; position = -0.5 + that.
        let mut env = MountainCar::new();
        let mut obs = [0.0f32; 2];
        env.set_state(&[-0.5, 0.0], &mut obs).unwrap();
        let r = env.step(Action::Discrete(2), &mut obs).unwrap();
        let v = 0.001 + libm::cos(-1.5) * -0.0025;
        assert_eq!(env.state(), [-0.5 + v, v]);
        assert!((v - 0.000823157).abs() < 1e-9);
        assert_eq!(
            r,
            StepResult {
                reward: -1.0,
                terminated: false,
                truncated: false
            }
        );
    }

    #[test]
    fn left_wall_stops_the_car() {
        let mut env = MountainCar::new();
        let mut obs = [0.0f32; 2];
        env.set_state(&[-1.19, -0.05], &mut obs).unwrap();
        env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!(env.state(), [-1.2, 0.0]);
    }

    #[test]
    fn goal_and_time_limit() {
        let mut env = MountainCar::new();
        let mut obs = [0.0f32; 2];
        env.set_state(&[0.49, 0.07], &mut obs).unwrap();
        let r = env.step(Action::Discrete(2), &mut obs).unwrap();
        assert!(r.terminated && !r.truncated);
        env.reset(Some(0), &mut obs).unwrap();
        for t in 1..=200 {
            let r = env.step(Action::Discrete(1), &mut obs).unwrap();
            assert_eq!((r.terminated, r.truncated), (false, t == 200));
        }
        assert_eq!(
            env.step(Action::Discrete(1), &mut obs),
            Err(EnvError::NeedsReset)
        );
        assert_eq!(
            env.step(Action::Discrete(3), &mut obs),
            Err(EnvError::ActionOutOfRange { action: 3, n: 3 })
        );
    }
}
