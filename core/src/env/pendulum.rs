//! `Pendulum-v1`: Gymnasium 1.4.0's `PendulumEnv` (`gymnasium/envs/classic_control/pendulum.py`),
//! float64 state, float32 observations, 200-step time limit, no terminal state.
//!
//! - State `[theta, theta_dot]`; observation `[cos theta, sin theta, theta_dot]`.
//! - Action: one torque, clipped to `[-2, 2]` as Gymnasium clips it (`np.clip`).
//! - Cost `angle_normalize(theta)² + 0.1 theta_dot² + 0.001 u²` from the state before the step;
//!   reward is minus the cost.
//! - `theta_dot += (3 g / (2 l) sin theta + 3 / (m l²) u) dt`, clipped to `[-8, 8]`;
//!   `theta += theta_dot dt`, with `m = l = 1`, `dt = 0.05` and `g` an option (default 10).
//! - Reset: theta uniform in `[-pi, pi)`, theta_dot uniform in `[-1, 1)`.
//!
//! The torque is float32 in Gymnasium, and NumPy 2 keeps `3.0 * u` and `0.001 * u**2` in
//! float32; core does the same.
//!
//! Bad input: an out-of-bound torque is clipped to `[-2, 2]` (dynamics and cost alike, as in
//! Gymnasium); a NaN or infinite torque is [`EnvError::NonFiniteAction`]; an action of the wrong
//! length [`EnvError::ActionDim`]; a non-finite state [`EnvError::InvalidState`].

use core::f64::consts::PI;

use super::{
    continuous_action, obs_buffer, Action, Env, EnvError, EnvOptions, EnvSpec, Episode, Registered,
    Space, StepResult,
};
use crate::rng::{self, Pcg32};

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const MASS: f64 = 1.0;
const LENGTH: f64 = 1.0;
/// Gymnasium's default gravity.
pub const DEFAULT_G: f64 = 10.0;

const fn obs_bound(sign: f32) -> [f32; 3] {
    let mut b = [0.0f32; 3];
    b[0] = sign;
    b[1] = sign;
    b[2] = sign * MAX_SPEED as f32;
    b
}

const fn action_bound(value: f32) -> [f32; 1] {
    [value]
}

/// The registration of `Pendulum-v1`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "Pendulum-v1",
    observation_space: Space::Box {
        dim: 3,
        low: &obs_bound(-1.0),
        high: &obs_bound(1.0),
    },
    action_space: Space::Box {
        dim: 1,
        low: &action_bound(-MAX_TORQUE),
        high: &action_bound(MAX_TORQUE),
    },
    max_episode_steps: 200,
};

/// pendulum.py's `angle_normalize`: `((x + pi) % (2 pi)) - pi`, with Python's (and NumPy's)
/// floored remainder.
fn angle_normalize(x: f64) -> f64 {
    python_mod(x + PI, 2.0 * PI) - PI
}

/// `a % b` for floats as Python and NumPy compute it (`npy_divmod`): `fmod`, moved into the
/// sign of `b`; a zero takes the sign of `b`.
fn python_mod(a: f64, b: f64) -> f64 {
    let m = libm::fmod(a, b);
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) {
            m + b
        } else {
            m
        }
    } else {
        libm::copysign(0.0, b)
    }
}

/// Gymnasium's `Pendulum-v1`.
#[derive(Debug, Clone)]
pub struct Pendulum {
    state: [f64; 2],
    g: f64,
    rng: Pcg32,
    episode: Episode,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

impl Pendulum {
    /// A pendulum with Gymnasium's defaults; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 2],
            g: DEFAULT_G,
            rng: rng::seeded(0),
            episode: Episode::new(),
        }
    }

    /// Gymnasium's `g` option (gravity); an error when not finite.
    pub fn with_g(mut self, g: f64) -> Result<Self, EnvError> {
        if !g.is_finite() {
            return Err(EnvError::BadOptionValue {
                option: "g",
                expected: "a finite number",
            });
        }
        self.g = g;
        Ok(self)
    }

    /// The internal state `[theta, theta_dot]`.
    pub fn state(&self) -> [f64; 2] {
        self.state
    }

    fn write_obs(&self, obs: &mut [f32; 3]) {
        let [theta, theta_dot] = self.state;
        // One range reduction for both; bit-identical to libm's sin and cos.
        let (sin, cos) = libm::sincos(theta);
        *obs = [cos as f32, sin as f32, theta_dot as f32];
    }
}

impl Env for Pendulum {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        let obs = obs_buffer::<3>(obs)?;
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        let theta = rng::uniform_f64(&mut self.rng, -PI, PI);
        let theta_dot = rng::uniform_f64(&mut self.rng, -1.0, 1.0);
        self.state = [theta, theta_dot];
        self.episode.start();
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let [u] = continuous_action::<1>(action)?;
        self.episode.check()?;
        let obs = obs_buffer::<3>(obs)?;
        let [th, thdot] = self.state;
        // pendulum.py, in its order; `u` stays float32 as NumPy keeps it.
        let u = u.clamp(-MAX_TORQUE, MAX_TORQUE);
        let an = angle_normalize(th);
        let costs = an * an + 0.1 * (thdot * thdot) + f64::from(0.001f32 * (u * u));
        let torque = f64::from((3.0 / (MASS * LENGTH * LENGTH)) as f32 * u);
        let newthdot = thdot + (3.0 * self.g / (2.0 * LENGTH) * libm::sin(th) + torque) * DT;
        let newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = [newth, newthdot];
        let truncated = self.episode.count(SPEC.max_episode_steps, false);
        self.write_obs(obs);
        Ok(StepResult {
            reward: -costs,
            terminated: false,
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
        let obs = obs_buffer::<3>(obs)?;
        self.state = s;
        self.episode.start();
        self.write_obs(obs);
        Ok(())
    }
}

impl Registered for Pendulum {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(spec.id, &["g"])?;
        Self::new().with_g(options.g.unwrap_or(DEFAULT_G))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_normalize_by_hand() {
        assert_eq!(angle_normalize(0.0), 0.0);
        // 3 pi/2 is -pi/2 after normalizing; -3 pi/2 is pi/2.
        assert!((angle_normalize(1.5 * PI) + 0.5 * PI).abs() < 1e-15);
        assert!((angle_normalize(-1.5 * PI) - 0.5 * PI).abs() < 1e-15);
        // Python: (-1.0) % 3.0 == 2.0; 1.0 % -3.0 == -2.0; (-3.0) % 3.0 == 0.0 (positive zero).
        assert_eq!(python_mod(-1.0, 3.0), 2.0);
        assert_eq!(python_mod(1.0, -3.0), -2.0);
        assert!(python_mod(-3.0, 3.0).is_sign_positive());
    }

    #[test]
    fn one_step_by_hand() {
        // Hanging at rest (theta = pi) with torque 1: cost = 0 + 0 + 0.001; theta_dot =
        // (15 sin(pi) + 3) * 0.05 = 0.15 (sin(pi) is 1.2e-16); theta = pi + 0.0075.
        let mut env = Pendulum::new();
        let mut obs = [0.0f32; 3];
        env.set_state(&[PI, 0.0], &mut obs).unwrap();
        assert_eq!(obs, [-1.0, libm::sin(PI) as f32, 0.0]);
        let r = env.step(Action::Continuous(&[1.0]), &mut obs).unwrap();
        let an = angle_normalize(PI);
        assert_eq!(r.reward, -(an * an + f64::from(0.001f32)));
        let thdot = (15.0 * libm::sin(PI) + 3.0) * 0.05;
        assert_eq!(env.state(), [PI + thdot * 0.05, thdot]);
        assert!((thdot - 0.15).abs() < 1e-12);
    }

    #[test]
    fn torque_is_clipped_and_nan_refused() {
        let (mut a, mut b) = (Pendulum::new(), Pendulum::new());
        let (mut oa, mut ob) = ([0.0f32; 3], [0.0f32; 3]);
        a.set_state(&[0.3, -0.2], &mut oa).unwrap();
        b.set_state(&[0.3, -0.2], &mut ob).unwrap();
        let ra = a.step(Action::Continuous(&[-50.0]), &mut oa).unwrap();
        let rb = b.step(Action::Continuous(&[-2.0]), &mut ob).unwrap();
        assert_eq!((oa, ra), (ob, rb));
        assert_eq!(
            a.step(Action::Continuous(&[f32::INFINITY]), &mut oa),
            Err(EnvError::NonFiniteAction { index: 0 })
        );
    }

    #[test]
    fn truncates_at_200_never_terminates() {
        let mut env = Pendulum::new().with_g(9.81).unwrap();
        let mut obs = [0.0f32; 3];
        env.reset(Some(5), &mut obs).unwrap();
        for t in 1..=200 {
            let r = env.step(Action::Continuous(&[0.0]), &mut obs).unwrap();
            assert_eq!((r.terminated, r.truncated), (false, t == 200));
        }
        assert!(Pendulum::new().with_g(f64::NAN).is_err());
    }
}
