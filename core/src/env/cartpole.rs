//! `CartPole-v1`: Gymnasium 1.4.0's `CartPoleEnv` (Barto, Sutton & Anderson 1983), Euler
//! integration, float64 state, float32 observations, 500-step time limit.
//!
//! Constants and equations are Gymnasium's (`gymnasium/envs/classic_control/cartpole.py`).
//! Option `sutton_barto_reward` (Gymnasium's kwarg) gives 0 per step and -1 on failure.

use super::{Action, Env, EnvError, EnvSpec, Space, StepResult};
use crate::rng::{self, Pcg32};

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_POLE + MASS_CART;
const LENGTH: f64 = 0.5; // half the pole's length
const POLEMASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
/// 12 degrees, as Gymnasium writes it: `12 * 2 * math.pi / 360`.
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * core::f64::consts::PI / 360.0;
const X_THRESHOLD: f64 = 2.4;

const fn obs_bounds() -> [f32; 4] {
    let mut b = [0.0f32; 4];
    b[0] = (X_THRESHOLD * 2.0) as f32;
    b[1] = f32::MAX;
    b[2] = (THETA_THRESHOLD * 2.0) as f32;
    b[3] = f32::MAX;
    b
}

const fn neg(mut b: [f32; 4]) -> [f32; 4] {
    let mut i = 0;
    while i < 4 {
        b[i] = -b[i];
        i += 1;
    }
    b
}

/// The registration of `CartPole-v1`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "CartPole-v1",
    observation_space: Space::Box {
        dim: 4,
        low: &neg(obs_bounds()),
        high: &obs_bounds(),
    },
    action_space: Space::Discrete { n: 2 },
    max_episode_steps: 500,
};

/// Gymnasium's `CartPole-v1`.
#[derive(Debug, Clone)]
pub struct CartPole {
    state: [f64; 4],
    rng: Pcg32,
    steps: u32,
    /// `None` before the first reset; `Some(true)` once the episode ended.
    done: Option<bool>,
    sutton_barto_reward: bool,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// A cart-pole with Gymnasium's defaults; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            state: [0.0; 4],
            rng: rng::seeded(0),
            steps: 0,
            done: None,
            sutton_barto_reward: false,
        }
    }

    /// Gymnasium's `sutton_barto_reward` option.
    pub fn with_sutton_barto_reward(mut self, on: bool) -> Self {
        self.sutton_barto_reward = on;
        self
    }

    /// The internal state `[x, x_dot, theta, theta_dot]`.
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    fn write_obs(&self, obs: &mut [f32]) -> Result<(), EnvError> {
        let got = obs.len();
        let obs: &mut [f32; 4] = obs
            .try_into()
            .map_err(|_| EnvError::ObsBuffer { expected: 4, got })?;
        for (o, s) in obs.iter_mut().zip(self.state) {
            *o = s as f32;
        }
        Ok(())
    }
}

impl Env for CartPole {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        if obs.len() != 4 {
            return Err(EnvError::ObsBuffer {
                expected: 4,
                got: obs.len(),
            });
        }
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        for s in &mut self.state {
            *s = rng::uniform_f64(&mut self.rng, -0.05, 0.05);
        }
        self.steps = 0;
        self.done = Some(false);
        self.write_obs(obs)
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let push_right = match action {
            Action::Discrete(a @ (0 | 1)) => a == 1,
            Action::Discrete(a) => return Err(EnvError::ActionOutOfRange { action: a, n: 2 }),
            Action::Continuous(_) => return Err(EnvError::WrongActionKind),
        };
        if self.done != Some(false) {
            return Err(EnvError::NeedsReset);
        }
        if obs.len() != 4 {
            return Err(EnvError::ObsBuffer {
                expected: 4,
                got: obs.len(),
            });
        }
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if push_right { FORCE_MAG } else { -FORCE_MAG };
        // One range reduction for both; bit-identical to libm's sin and cos.
        let (sintheta, costheta) = libm::sincos(theta);
        let temp = (force + POLEMASS_LENGTH * theta_dot * theta_dot * sintheta) / TOTAL_MASS;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * costheta * costheta / TOTAL_MASS));
        let xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;
        // Euler, in Gymnasium's order: position from the old velocity.
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * xacc,
            theta + TAU * theta_dot,
            theta_dot + TAU * thetaacc,
        ];
        self.steps += 1;
        let [x, _, theta, _] = self.state;
        // Gymnasium's four comparisons, kept as written: a NaN state does not terminate.
        #[allow(clippy::manual_range_contains)]
        let terminated = x < -X_THRESHOLD
            || x > X_THRESHOLD
            || theta < -THETA_THRESHOLD
            || theta > THETA_THRESHOLD;
        let reward = match (terminated, self.sutton_barto_reward) {
            (false, false) | (true, false) => 1.0,
            (false, true) => 0.0,
            (true, true) => -1.0,
        };
        // Gymnasium's TimeLimit truncates the step that reaches the limit even when it also
        // terminates (wrappers/common.py); learners bootstrap only when `truncated && !terminated`.
        let truncated = self.steps >= SPEC.max_episode_steps;
        self.done = Some(terminated || truncated);
        self.write_obs(obs)?;
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
        let got = out.len();
        let out: &mut [f64; 4] = out
            .try_into()
            .map_err(|_| EnvError::StateDim { expected: 4, got })?;
        *out = self.state;
        Ok(())
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let s: [f64; 4] = state.try_into().map_err(|_| EnvError::StateDim {
            expected: 4,
            got: state.len(),
        })?;
        if let Some(index) = s.iter().position(|v| !v.is_finite()) {
            return Err(EnvError::InvalidState { index });
        }
        if obs.len() != 4 {
            return Err(EnvError::ObsBuffer {
                expected: 4,
                got: obs.len(),
            });
        }
        self.state = s;
        self.steps = 0;
        self.done = Some(false);
        self.write_obs(obs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_by_hand() {
        // From the upright rest state, pushing right (+10 N):
        // temp = 10 / 1.1 = 9.0909..., thetaacc = (0 - 9.0909) / (0.5 * (4/3 - 0.1/1.1))
        //      = -9.0909 / 0.62121 = -14.634..., xacc = 9.0909 - 0.05 * -14.634 / 1.1 = 9.7561...
        // Euler: x and theta stay 0 (old velocities are 0); x_dot = 0.02 * xacc, theta_dot = 0.02 * thetaacc.
        let mut env = CartPole::new();
        let mut obs = [0.0f32; 4];
        env.set_state(&[0.0; 4], &mut obs).unwrap();
        let r = env.step(Action::Discrete(1), &mut obs).unwrap();
        let temp = 10.0 / 1.1;
        let thetaacc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
        let xacc = temp - 0.05 * thetaacc / 1.1;
        assert_eq!(env.state(), [0.0, 0.02 * xacc, 0.0, 0.02 * thetaacc]);
        assert_eq!(
            r,
            StepResult {
                reward: 1.0,
                terminated: false,
                truncated: false
            }
        );
        assert!((thetaacc + 14.634146341463415).abs() < 1e-12);
    }

    #[test]
    fn terminates_and_then_needs_reset() {
        let mut env = CartPole::new();
        let mut obs = [0.0f32; 4];
        env.set_state(&[2.39, 1.0, 0.0, 0.0], &mut obs).unwrap();
        let r = env.step(Action::Discrete(1), &mut obs).unwrap();
        assert!(r.terminated && !r.truncated && r.reward == 1.0);
        assert_eq!(
            env.step(Action::Discrete(1), &mut obs),
            Err(EnvError::NeedsReset)
        );
    }

    #[test]
    fn truncates_at_500() {
        let mut env = CartPole::new();
        let mut obs = [0.0f32; 4];
        env.reset(Some(0), &mut obs).unwrap();
        // A bang-bang controller on the pole angle and velocity keeps it up for 500 steps.
        for t in 1..=500 {
            let a = u32::from(obs[2] + 0.5 * obs[3] > 0.0);
            let r = env.step(Action::Discrete(a), &mut obs).unwrap();
            assert!(!r.terminated, "fell at step {t}");
            assert_eq!(r.truncated, t == 500);
        }
    }

    #[test]
    fn failing_on_step_500_sets_both_flags() {
        // Balance with the bang-bang controller until step k, then push right until the pole
        // falls; some k makes the fall land on step 500, where Gymnasium's TimeLimit reports
        // terminated and truncated together.
        let mut found = false;
        for k in 440..500 {
            let mut env = CartPole::new();
            let mut obs = [0.0f32; 4];
            env.reset(Some(0), &mut obs).unwrap();
            let mut last = None;
            for t in 1..=500u32 {
                let a = if t <= k {
                    u32::from(obs[2] + 0.5 * obs[3] > 0.0)
                } else {
                    1
                };
                let r = env.step(Action::Discrete(a), &mut obs).unwrap();
                if r.done() {
                    last = Some((t, r));
                    break;
                }
            }
            if let Some((500, r)) = last {
                assert!(r.terminated && r.truncated, "{r:?}");
                found = true;
                break;
            }
        }
        assert!(
            found,
            "no controller switch-off point made the pole fall on step 500"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut env = CartPole::new();
        let mut obs = [0.0f32; 4];
        assert_eq!(
            env.step(Action::Discrete(0), &mut obs),
            Err(EnvError::NeedsReset)
        );
        env.reset(Some(3), &mut obs).unwrap();
        assert_eq!(
            env.step(Action::Discrete(2), &mut obs),
            Err(EnvError::ActionOutOfRange { action: 2, n: 2 })
        );
        assert_eq!(
            env.step(Action::Continuous(&[0.0]), &mut obs),
            Err(EnvError::WrongActionKind)
        );
        assert!(env.reset(None, &mut [0.0; 3]).is_err());
        assert_eq!(
            env.set_state(&[0.0, f64::NAN, 0.0, 0.0], &mut obs),
            Err(EnvError::InvalidState { index: 1 })
        );
    }

    #[test]
    fn reset_is_seeded_and_in_bounds() {
        let (mut a, mut b) = (CartPole::new(), CartPole::new());
        let (mut oa, mut ob) = ([0.0f32; 4], [0.0f32; 4]);
        a.reset(Some(42), &mut oa).unwrap();
        b.reset(Some(42), &mut ob).unwrap();
        assert_eq!(oa, ob);
        assert!(a.state().iter().all(|s| (-0.05..0.05).contains(s)));
    }
}
