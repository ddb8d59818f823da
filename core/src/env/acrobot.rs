//! `Acrobot-v1`: Gymnasium 1.4.0's `AcrobotEnv` (`gymnasium/envs/classic_control/acrobot.py`,
//! Sutton & Barto's "book" dynamics), one RK4 step of `dt = 0.2` a step, 500-step time limit.
//!
//! - State `[theta1, theta2, dtheta1, dtheta2]`; observation
//!   `[cos theta1, sin theta1, cos theta2, sin theta2, dtheta1, dtheta2]`.
//! - Actions: torque -1, 0, +1 on the joint between the links.
//! - After the RK4 step, the angles are wrapped into `[-pi, pi]` and the velocities bounded to
//!   `[-4 pi, 4 pi]` and `[-9 pi, 9 pi]`, exactly as Gymnasium's `wrap` and `bound` do.
//! - Reward -1 a step, 0 on the step that terminates: `-cos(theta1) - cos(theta2 + theta1) > 1`.
//! - Reset: four values uniform in `[-0.1, 0.1)`, rounded to float32 as Gymnasium's `astype`.
//!
//! Bad input: an action outside `0..3` is [`EnvError::ActionOutOfRange`]; a non-finite state is
//! [`EnvError::InvalidState`]. Gymnasium's `wrap` loops once per `2 pi` and never ends on an
//! infinite angle; core wraps a far-off angle (more than 64 turns, reachable only through
//! [`Env::set_state`]) with one floored remainder instead, so a step always takes bounded time.

use core::f64::consts::PI;

use super::{
    discrete_action, obs_buffer, Action, Env, EnvError, EnvOptions, EnvSpec, Episode, Registered,
    Space, StepResult,
};
use crate::rng::{self, Pcg32};

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
/// acrobot.py's `AVAIL_TORQUE`.
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];
const GRAVITY: f64 = 9.8;

const fn obs_bound(sign: f32) -> [f32; 6] {
    let mut b = [0.0f32; 6];
    b[0] = sign;
    b[1] = sign;
    b[2] = sign;
    b[3] = sign;
    b[4] = sign * MAX_VEL_1 as f32;
    b[5] = sign * MAX_VEL_2 as f32;
    b
}

/// The registration of `Acrobot-v1`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "Acrobot-v1",
    observation_space: Space::Box {
        dim: 6,
        low: &obs_bound(-1.0),
        high: &obs_bound(1.0),
    },
    action_space: Space::Discrete { n: 3 },
    max_episode_steps: 500,
};

/// acrobot.py's `_dsdt` ("book" dynamics) for the state `s` and the torque `a`; the torque's own
/// derivative is 0 and is left out.
fn dsdt(s: [f64; 4], a: f64) -> [f64; 4] {
    let (m1, m2) = (LINK_MASS_1, LINK_MASS_2);
    let (l1, lc1, lc2) = (LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2);
    let (i1, i2) = (LINK_MOI, LINK_MOI);
    let g = GRAVITY;
    let [theta1, theta2, dtheta1, dtheta2] = s;
    // One range reduction for both; bit-identical to libm's sin and cos.
    let (sin2, cos2) = libm::sincos(theta2);
    let d1 = m1 * (lc1 * lc1) + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * cos2) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * cos2) + i2;
    let phi2 = m2 * lc2 * g * libm::cos(theta1 + theta2 - PI / 2.0);
    let phi1 = -m2 * l1 * lc2 * (dtheta2 * dtheta2) * sin2
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
        + (m1 * lc1 + m2 * l1) * g * libm::cos(theta1 - PI / 2.0)
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1) * sin2 - phi2)
        / (m2 * (lc2 * lc2) + i2 - (d2 * d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

/// acrobot.py's `rk4` over `[0, dt]`, one step, in its order of operations.
fn rk4(y0: [f64; 4], a: f64) -> [f64; 4] {
    let dt2 = DT / 2.0;
    let along = |k: [f64; 4], h: f64| -> [f64; 4] { core::array::from_fn(|i| y0[i] + h * k[i]) };
    let k1 = dsdt(y0, a);
    let k2 = dsdt(along(k1, dt2), a);
    let k3 = dsdt(along(k2, dt2), a);
    let k4 = dsdt(along(k3, DT), a);
    core::array::from_fn(|i| y0[i] + DT / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// acrobot.py's `wrap(x, -pi, pi)`: add or subtract `2 pi` until `x` is within. Far-off angles
/// (more than 64 turns) take one floored remainder instead of the loop.
fn wrap(mut x: f64) -> f64 {
    let (m, big_m) = (-PI, PI);
    let diff = big_m - m;
    if !x.is_finite() {
        return x;
    }
    if x > big_m + 64.0 * diff || x < m - 64.0 * diff {
        x = m + (x - m - diff * libm::floor((x - m) / diff));
    }
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// acrobot.py's `bound(x, m, M)`: `min(max(x, m), M)` with Python's `max` and `min`.
fn bound(x: f64, m: f64, big_m: f64) -> f64 {
    let x = if m > x { m } else { x };
    if big_m < x {
        big_m
    } else {
        x
    }
}

/// Gymnasium's `Acrobot-v1`.
#[derive(Debug, Clone)]
pub struct Acrobot {
    state: [f64; 4],
    rng: Pcg32,
    episode: Episode,
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

impl Acrobot {
    /// An acrobot with Gymnasium's defaults; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 4],
            rng: rng::seeded(0),
            episode: Episode::new(),
        }
    }

    /// The internal state `[theta1, theta2, dtheta1, dtheta2]`.
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    fn write_obs(&self, obs: &mut [f32; 6]) {
        let [t1, t2, d1, d2] = self.state;
        let ((sin1, cos1), (sin2, cos2)) = (libm::sincos(t1), libm::sincos(t2));
        *obs = [
            cos1 as f32,
            sin1 as f32,
            cos2 as f32,
            sin2 as f32,
            d1 as f32,
            d2 as f32,
        ];
    }
}

impl Env for Acrobot {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        let obs = obs_buffer::<6>(obs)?;
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        for s in &mut self.state {
            *s = f64::from(rng::uniform_f64(&mut self.rng, -0.1, 0.1) as f32);
        }
        self.episode.start();
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let a = discrete_action(action, 3)?;
        self.episode.check()?;
        let obs = obs_buffer::<6>(obs)?;
        let torque = AVAIL_TORQUE.get(a as usize).copied().unwrap_or(0.0);
        let [t1, t2, d1, d2] = rk4(self.state, torque);
        self.state = [
            wrap(t1),
            wrap(t2),
            bound(d1, -MAX_VEL_1, MAX_VEL_1),
            bound(d2, -MAX_VEL_2, MAX_VEL_2),
        ];
        let [t1, t2, _, _] = self.state;
        let terminated = -libm::cos(t1) - libm::cos(t2 + t1) > 1.0;
        let reward = if terminated { 0.0 } else { -1.0 };
        let truncated = self.episode.count(SPEC.max_episode_steps, terminated);
        self.write_obs(obs);
        Ok(StepResult {
            reward,
            terminated,
            truncated,
        })
    }

    fn state_dim(&self) -> usize {
        4
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        super::copy_state(self.state, out)
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let s = super::finite_state::<4>(state)?;
        let obs = obs_buffer::<6>(obs)?;
        self.state = s;
        self.episode.start();
        self.write_obs(obs);
        Ok(())
    }
}

impl Registered for Acrobot {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(spec.id, &[])?;
        Ok(Self::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sincos_is_sin_and_cos_bit_for_bit() {
        // The environments take sin and cos of one angle from `libm::sincos`; it must agree
        // with `libm::sin` and `libm::cos` to the bit (same reduction and kernels).
        let mut rng = crate::rng::seeded(9);
        for i in 0..200_000 {
            let scale = [1e-9, 1.0, 10.0, 1e3, 1e9][i % 5];
            let x = crate::rng::uniform_f64(&mut rng, -scale, scale);
            let (s, c) = libm::sincos(x);
            assert_eq!(
                (s.to_bits(), c.to_bits()),
                (libm::sin(x).to_bits(), libm::cos(x).to_bits()),
                "{x}"
            );
        }
    }

    #[test]
    fn hanging_still_stays_still() {
        // At rest hanging down with no torque every derivative is 0 but for the gravity terms,
        // which cancel: phi2 = 0.5 * 9.8 * cos(-pi/2) ~ 3e-16, phi1 ~ (0.5 + 1) * 9.8 * cos(-pi/2).
        let mut env = Acrobot::new();
        let mut obs = [0.0f32; 6];
        env.set_state(&[0.0; 4], &mut obs).unwrap();
        assert_eq!(obs, [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        let r = env.step(Action::Discrete(1), &mut obs).unwrap();
        assert!(
            env.state().iter().all(|v| v.abs() < 1e-12),
            "{:?}",
            env.state()
        );
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
    fn wrap_and_bound_as_gymnasium() {
        assert_eq!(wrap(PI), PI);
        assert_eq!(wrap(PI + 0.5), PI + 0.5 - 2.0 * PI);
        assert_eq!(wrap(-PI - 0.5), -PI - 0.5 + 2.0 * PI);
        let far = wrap(1e12);
        assert!((-PI..=PI).contains(&far));
        assert_eq!(bound(20.0, -MAX_VEL_1, MAX_VEL_1), MAX_VEL_1);
        assert_eq!(bound(-20.0, -MAX_VEL_1, MAX_VEL_1), -MAX_VEL_1);
        assert!(bound(f64::NAN, -1.0, 1.0).is_nan());
    }

    #[test]
    fn swinging_up_terminates_with_reward_0() {
        // Upright (theta1 = pi): -cos(pi) - cos(pi) = 2 > 1.
        let mut env = Acrobot::new();
        let mut obs = [0.0f32; 6];
        env.set_state(&[PI, 0.0, 0.0, 0.0], &mut obs).unwrap();
        let r = env.step(Action::Discrete(0), &mut obs).unwrap();
        assert_eq!((r.reward, r.terminated, r.truncated), (0.0, true, false));
        assert_eq!(
            env.step(Action::Discrete(0), &mut obs),
            Err(EnvError::NeedsReset)
        );
    }

    #[test]
    fn reset_is_float32_and_small() {
        let mut env = Acrobot::new();
        let mut obs = [0.0f32; 6];
        env.reset(Some(3), &mut obs).unwrap();
        for v in env.state() {
            assert!((-0.1..=0.1).contains(&v));
            assert_eq!(f64::from(v as f32), v);
        }
    }
}
