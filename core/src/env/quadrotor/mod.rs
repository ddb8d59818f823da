//! `Quadrotor-v0`: a Crazyflie 2.x flying to and holding a point, the simulator of *Learning to Fly
//! in Seconds* (Eschmann, Albani, Loianno, IEEE RA-L 2024) as its Python package `l2f` 2.0.18
//! builds it (`l2f/environment.h` on top of RLtools' `rl/environments/l2f`). Parameters and
//! equations are that package's, cited at each constant; the code is picorl's.
//!
//! - State (float32, as L2F computes in `float`): position `p` (m, world frame, z up), attitude
//!   quaternion `q = (w, x, y, z)` (body to world), linear velocity `v` (m/s, world), angular
//!   velocity `ω` (rad/s, body), and the four motors' speeds `rpm` as a fraction of the full
//!   range `[0, 1]`; besides, the last 16 actions (a ring) and the last action.
//! - Action: four motor commands in `[-1, 1]`; a command is clipped to `[-1, 1]` and mapped to the
//!   motor set point `(a + 1) / 2`. The action history keeps the command as given, clipped or not,
//!   as L2F's does. NaN or infinite commands are [`EnvError::NonFiniteAction`].
//! - Motors: a first-order lag `d rpm / dt = (set point - rpm) / τ`, with `τ` the rising time
//!   constant when the set point is at or above the current speed and the falling one otherwise;
//!   thrust `f = c0 + c1 rpm + c2 rpm²` along body z, yaw torque `k_m f` with alternating sign.
//! - Rigid body: `ṗ = v`, `q̇ = ½ q ⊗ (0, ω)`, `v̇ = R(q) Σf / m + g`, `ω̇ = J⁻¹ (τ - ω × J ω)`.
//!   All seventeen values (motor speeds included) are integrated together with one classical RK4
//!   step of `dt = 0.01` s (L2F's 100 Hz), then `q` is renormalized, `p`, `v`, `ω` clamped to
//!   ±100000 and `rpm` to `[0, 1]`.
//! - Observation (82 float32): position error `p - target` (target the origin), the rotation
//!   matrix `R(q)` row by row, `v`, `ω`, then the last 16 actions, most recent first (L2F's
//!   `DefaultActionHistoryObservation` with `ACTION_HISTORY_LENGTH = 16`).
//! - Reward: L2F's `Squared` reward of the state before the step, the action, and the state after
//!   it (see [`RewardWeights`]); a step that terminates is rewarded `termination_penalty` (0).
//!   One difference: the action cost takes the clipped command (L2F's the command as given), so
//!   that no finite command makes the reward NaN; at L2F's weights the action cost is unused.
//! - Terminated: after the step, any `|p_i| > 1` m, `|v_i| > 2` m/s or `|ω_i| > 35` rad/s (L2F's
//!   termination thresholds); also, a safe fallback L2F does not need, any non-finite value.
//!   Truncated after 500 steps (5 s).
//! - Reset: with probability `init_guidance` (0.1) the quadrotor starts at rest at the target,
//!   level; otherwise `p` is uniform in `±init_max_position` (0.5 m) per axis, `q` a rotation by
//!   an angle uniform in `[0, init_max_angle)` (1 rad) about an axis uniform on the sphere, `v`
//!   and `ω` uniform in `±init_max_linear_velocity` (1 m/s) and `±init_max_angular_velocity`
//!   (1 rad/s). The motor speeds are uniform in `[0, 0.5]` either way, and every entry of the
//!   action history is the command that holds the initial speed (`2 rpm - 1`).
//!
//! The draws follow L2F's distributions through picorl's generator, not L2F's random stream.
//! [`Env::set_state`] takes the seventeen physical values `[p, q, v, ω, rpm]` (what `l2f`'s
//! `State` exposes) and rebuilds the history as a reset does; [`Env::get_state`] gives them back.
//!
//! Options: `mass` (kg, default 0.0306; only the mass changes, not the inertia or the motors:
//! a payload), and the initial-state ranges above. A non-finite or negative value, a zero mass,
//! an angle above π or a probability outside `[0, 1]` is [`EnvError::BadOptionValue`].

mod dynamics;
mod params;

use super::{
    continuous_action, obs_buffer, Action, Env, EnvError, EnvOptions, EnvSpec, Episode, Registered,
    Space, StepResult,
};
use crate::rng::{self, Pcg32};

use dynamics::{integrate, out_of_bounds, reward, rotation_matrix, Body};
use params::INIT_RPM_MAX;
pub use params::{InitRanges, RewardWeights, DEFAULT_MASS, L2F_INIT, L2F_REWARD};

/// Actions of L2F's observation history (`ACTION_HISTORY_LENGTH` in `l2f/environment.h`).
pub const HISTORY: usize = 16;
/// Observation values: position error 3, rotation matrix 9, velocities 3 + 3, history 16 × 4.
pub const OBS_DIM: usize = 18 + 4 * HISTORY;
/// Internal-state values of [`Env::get_state`] / [`Env::set_state`]: `[p, q, v, ω, rpm]`.
pub const STATE_DIM: usize = 17;
/// Privileged-observation values ([`Env::write_privileged`]): position error 3, rotation matrix 9,
/// velocities 3 + 3, and the four motor speeds as the commands that hold them (`2 rpm - 1`):
/// the true state that *Learning to Fly in Seconds*' asymmetric critic reads (its Sec. III-C)
/// in place of the action history.
pub const PRIVILEGED_DIM: usize = 22;
/// Integration step, s: `1 / SIMULATION_FREQUENCY` with `SIMULATION_FREQUENCY = 100`.
pub const DT: f32 = 1.0 / 100.0;
/// Steps to truncation: `EPISODE_STEP_LIMIT = 5 * SIMULATION_FREQUENCY`.
pub const MAX_EPISODE_STEPS: u32 = 500;

const fn obs_bound(sign: f32) -> [f32; OBS_DIM] {
    let mut b = [sign * f32::INFINITY; OBS_DIM];
    let mut i = 3;
    while i < 12 {
        b[i] = sign;
        i += 1;
    }
    b
}
const OBS_LOW: [f32; OBS_DIM] = obs_bound(-1.0);
const OBS_HIGH: [f32; OBS_DIM] = obs_bound(1.0);
const ACTION_LOW: [f32; 4] = [-1.0; 4];
const ACTION_HIGH: [f32; 4] = [1.0; 4];

/// The registration of `Quadrotor-v0`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "Quadrotor-v0",
    observation_space: Space::Box {
        dim: OBS_DIM,
        low: &OBS_LOW,
        high: &OBS_HIGH,
    },
    action_space: Space::Box {
        dim: 4,
        low: &ACTION_LOW,
        high: &ACTION_HIGH,
    },
    max_episode_steps: MAX_EPISODE_STEPS,
};

/// Draws a uniform `f32` in `[low, high)`.
fn uniform(rng: &mut Pcg32, low: f32, high: f32) -> f32 {
    low + (high - low) * rng::unit_f32(rng)
}

/// `Quadrotor-v0`: L2F's Crazyflie hover task.
#[derive(Debug, Clone)]
pub struct Quadrotor {
    body: Body,
    /// The last 16 actions as given; `history[next]` is overwritten by the next step.
    history: [[f32; 4]; HISTORY],
    next: usize,
    mass: f32,
    init: InitRanges,
    weights: RewardWeights,
    rng: Pcg32,
    episode: Episode,
}

impl Default for Quadrotor {
    fn default() -> Self {
        Self::new()
    }
}

impl Quadrotor {
    /// L2F's Crazyflie with L2F's defaults; call [`Env::reset`] before stepping.
    pub fn new() -> Self {
        Self {
            body: Body::AT_REST,
            history: [[0.0; 4]; HISTORY],
            next: 0,
            mass: DEFAULT_MASS,
            init: L2F_INIT,
            weights: L2F_REWARD,
            rng: rng::seeded(0),
            episode: Episode::new(),
        }
    }

    /// The `mass` option (kg): finite and positive.
    pub fn with_mass(mut self, mass: f64) -> Result<Self, EnvError> {
        let m = mass as f32;
        if !(m.is_finite() && m > 0.0) {
            return Err(EnvError::BadOptionValue {
                option: "mass",
                expected: "a finite mass above 0 (kg)",
            });
        }
        self.mass = m;
        Ok(self)
    }

    /// The initial-state distribution; see [`InitRanges`] for what is accepted.
    pub fn with_init(mut self, init: InitRanges) -> Result<Self, EnvError> {
        let ranges: [(&'static str, f32); 4] = [
            ("init_max_position", init.max_position),
            ("init_max_linear_velocity", init.max_linear_velocity),
            ("init_max_angular_velocity", init.max_angular_velocity),
            ("init_max_angle", init.max_angle),
        ];
        for (option, v) in ranges {
            if !(v.is_finite() && v >= 0.0) {
                return Err(EnvError::BadOptionValue {
                    option,
                    expected: "a finite number at least 0 (the half-width of the range)",
                });
            }
        }
        if init.max_angle > core::f32::consts::PI {
            return Err(EnvError::BadOptionValue {
                option: "init_max_angle",
                expected: "an angle in [0, pi] (rad)",
            });
        }
        if !(0.0..=1.0).contains(&init.guidance) {
            return Err(EnvError::BadOptionValue {
                option: "init_guidance",
                expected: "a probability in [0, 1]",
            });
        }
        self.init = init;
        Ok(self)
    }

    /// The reward's weights. The six a user may set (`reward_position`, `reward_linear_velocity`,
    /// `reward_angular_velocity`, `reward_angular_acceleration`, `reward_action`, `reward_attitude`) and
    /// the distance clip (`reward_position_clip`) must be finite and at least 0, so that the reward
    /// stays a cost below `constant`; the rest must be finite.
    pub fn with_reward(mut self, weights: RewardWeights) -> Result<Self, EnvError> {
        let set: [(&'static str, f32); 7] = [
            ("reward_position", weights.position),
            ("reward_linear_velocity", weights.linear_velocity),
            ("reward_angular_velocity", weights.angular_velocity),
            ("reward_angular_acceleration", weights.angular_acceleration),
            ("reward_action", weights.action),
            ("reward_attitude", weights.attitude),
            ("reward_position_clip", weights.position_clip),
        ];
        for (option, v) in set {
            if !(v.is_finite() && v >= 0.0) {
                return Err(EnvError::BadOptionValue {
                    option,
                    expected: "a finite weight at least 0",
                });
            }
        }
        let rest = [
            weights.scale,
            weights.constant,
            weights.termination_penalty,
            weights.orientation,
            weights.linear_acceleration,
        ];
        if rest.iter().any(|v| !v.is_finite()) {
            return Err(EnvError::BadOptionValue {
                option: "reward",
                expected: "finite reward parameters",
            });
        }
        self.weights = weights;
        Ok(self)
    }

    /// The mass in use, kg.
    pub fn mass(&self) -> f32 {
        self.mass
    }

    /// The physical state `[p, q (w, x, y, z), v, ω, rpm]`.
    pub fn state(&self) -> [f32; STATE_DIM] {
        self.body.to_array()
    }

    fn start(&mut self, body: Body) {
        self.body = body;
        for entry in &mut self.history {
            for (h, r) in entry.iter_mut().zip(body.rpm) {
                *h = r * 2.0 - 1.0;
            }
        }
        self.next = 0;
        self.episode.start();
    }

    /// Position error, rotation matrix, linear and angular velocity: the first 18 values of both
    /// the observation and the privileged observation.
    fn write_kinematics(&self, out: &mut [f32]) {
        let b = &self.body;
        out[0..3].copy_from_slice(&b.p);
        out[3..12].copy_from_slice(&rotation_matrix(b.q));
        out[12..15].copy_from_slice(&b.v);
        out[15..18].copy_from_slice(&b.w);
    }

    fn write_obs(&self, obs: &mut [f32; OBS_DIM]) {
        self.write_kinematics(obs);
        for k in 0..HISTORY {
            // Most recent first: the entry before `next`, going back.
            let slot = (self.next + HISTORY - 1 - k) % HISTORY;
            obs[18 + 4 * k..22 + 4 * k].copy_from_slice(&self.history[slot]);
        }
    }

    fn sample(&mut self) -> Body {
        let init = self.init;
        let rng = &mut self.rng;
        let mut body = Body::AT_REST;
        let guidance = rng::unit_f32(rng) < init.guidance;
        if !guidance {
            for x in &mut body.p {
                *x = uniform(rng, -init.max_position, init.max_position);
            }
            if init.max_angle > 0.0 {
                // An axis uniform on the sphere, an angle uniform in [0, max_angle).
                let phi = 2.0 * core::f32::consts::PI * rng::unit_f32(rng);
                let cos_theta = 1.0 - 2.0 * rng::unit_f32(rng);
                let sin_theta = libm::sqrtf((1.0 - cos_theta * cos_theta).max(0.0));
                let axis = [
                    sin_theta * libm::cosf(phi),
                    sin_theta * libm::sinf(phi),
                    cos_theta,
                ];
                let half = 0.5 * uniform(rng, 0.0, init.max_angle);
                let s = libm::sinf(half);
                body.q = [libm::cosf(half), axis[0] * s, axis[1] * s, axis[2] * s];
            }
            for x in &mut body.v {
                *x = uniform(rng, -init.max_linear_velocity, init.max_linear_velocity);
            }
            for x in &mut body.w {
                *x = uniform(rng, -init.max_angular_velocity, init.max_angular_velocity);
            }
        }
        for r in &mut body.rpm {
            *r = uniform(rng, 0.0, INIT_RPM_MAX);
        }
        body
    }
}

impl Env for Quadrotor {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        let obs = obs_buffer::<OBS_DIM>(obs)?;
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        let body = self.sample();
        self.start(body);
        self.write_obs(obs);
        Ok(())
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let a = continuous_action::<4>(action)?;
        self.episode.check()?;
        let obs = obs_buffer::<OBS_DIM>(obs)?;
        let mut setpoint = [0.0f32; 4];
        for (s, x) in setpoint.iter_mut().zip(a) {
            // `action_limit = {0, 1}`: half range 0.5, offset 0 + 0.5.
            *s = x.clamp(-1.0, 1.0) * 0.5 + 0.5;
        }
        let before = self.body;
        let after = integrate(&before, &setpoint, self.mass);
        let terminated = out_of_bounds(&after);
        let r = reward(&self.weights, &before, &a, &after, terminated);
        self.body = after;
        self.history[self.next] = a;
        self.next = (self.next + 1) % HISTORY;
        let truncated = self.episode.count(SPEC.max_episode_steps, terminated);
        self.write_obs(obs);
        Ok(StepResult {
            reward: f64::from(r),
            terminated,
            truncated,
        })
    }

    fn state_dim(&self) -> usize {
        STATE_DIM
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        let s = self.body.to_array();
        super::copy_state(s.map(f64::from), out)
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let s = super::finite_state::<STATE_DIM>(state)?;
        let obs = obs_buffer::<OBS_DIM>(obs)?;
        let s32 = s.map(|x| x as f32);
        if let Some(index) = s32.iter().position(|x| !x.is_finite()) {
            return Err(EnvError::InvalidState { index });
        }
        if s32[3..7].iter().all(|&x| x == 0.0) {
            return Err(EnvError::InvalidState { index: 3 });
        }
        if let Some(i) = s32[13..17].iter().position(|r| !(0.0..=1.0).contains(r)) {
            return Err(EnvError::InvalidState { index: 13 + i });
        }
        self.start(Body::from_array(&s32));
        self.write_obs(obs);
        Ok(())
    }

    fn privileged_dim(&self) -> usize {
        PRIVILEGED_DIM
    }

    fn write_privileged(&self, out: &mut [f32]) -> Result<(), EnvError> {
        let out = obs_buffer::<PRIVILEGED_DIM>(out)?;
        self.write_kinematics(out);
        for (o, r) in out[18..].iter_mut().zip(self.body.rpm) {
            *o = r * 2.0 - 1.0;
        }
        Ok(())
    }
}

impl Registered for Quadrotor {
    fn from_options(spec: &'static EnvSpec, options: &EnvOptions) -> Result<Self, EnvError> {
        options.only(
            spec.id,
            &[
                "mass",
                "init_guidance",
                "init_max_position",
                "init_max_angle",
                "init_max_linear_velocity",
                "init_max_angular_velocity",
                "reward_position",
                "reward_linear_velocity",
                "reward_angular_velocity",
                "reward_angular_acceleration",
                "reward_action",
                "reward_attitude",
                "reward_position_clip",
                "reward_constant",
            ],
        )?;
        let d = L2F_INIT;
        let pick = |v: Option<f64>, default: f32| v.map_or(default, |x| x as f32);
        let init = InitRanges {
            guidance: pick(options.init_guidance, d.guidance),
            max_position: pick(options.init_max_position, d.max_position),
            max_angle: pick(options.init_max_angle, d.max_angle),
            max_linear_velocity: pick(options.init_max_linear_velocity, d.max_linear_velocity),
            max_angular_velocity: pick(options.init_max_angular_velocity, d.max_angular_velocity),
        };
        let w = L2F_REWARD;
        let weights = RewardWeights {
            position: pick(options.reward_position, w.position),
            linear_velocity: pick(options.reward_linear_velocity, w.linear_velocity),
            angular_velocity: pick(options.reward_angular_velocity, w.angular_velocity),
            angular_acceleration: pick(options.reward_angular_acceleration, w.angular_acceleration),
            action: pick(options.reward_action, w.action),
            attitude: pick(options.reward_attitude, w.attitude),
            position_clip: pick(options.reward_position_clip, w.position_clip),
            constant: pick(options.reward_constant, w.constant),
            ..w
        };
        Self::new()
            .with_mass(options.mass.unwrap_or(f64::from(DEFAULT_MASS)))?
            .with_init(init)?
            .with_reward(weights)
    }
}

#[cfg(test)]
mod tests {
    use super::dynamics::*;
    use super::params::*;
    use super::*;

    fn hover_rpm() -> f32 {
        // c2 r² + c1 r + c0 = m g / 4.
        let (c0, c1, c2) = (THRUST[0] as f64, THRUST[1] as f64, THRUST[2] as f64);
        let f = DEFAULT_MASS as f64 * 9.81 / 4.0;
        ((-c1 + (c1 * c1 - 4.0 * c2 * (c0 - f)).sqrt()) / (2.0 * c2)) as f32
    }

    #[test]
    fn hovers_at_the_thrust_that_balances_gravity() {
        // At the hover speed, level and at rest, every derivative is zero but for rounding.
        let r = hover_rpm();
        let body = Body {
            rpm: [r; 4],
            ..Body::AT_REST
        };
        let d = derivative(&body, &[r; 4], DEFAULT_MASS);
        assert!(d.v.iter().all(|a| a.abs() < 1e-5), "{:?}", d.v);
        // The rotors' torques cancel (symmetric arms, alternating yaw).
        assert!(d.w.iter().all(|a| a.abs() < 1e-3), "{:?}", d.w);
        assert_eq!(d.rpm, [0.0; 4]);
        // Hover speed by hand: 0.0922 r² + 0.0144 r + 0.0035 = 0.0306 · 9.81 / 4 gives r = 0.806.
        assert!((r - 0.806).abs() < 1e-3, "{r}");
    }

    #[test]
    fn free_fall_by_hand() {
        // Motors off (rpm 0, commands -1): thrust c0 per rotor = 0.0141 N in all, so
        // a_z = 0.0141 / 0.0306 - 9.81 = -9.349 m/s²; after one step v_z = a_z dt (RK4 is exact
        // for a constant acceleration) and z = a_z dt² / 2.
        let mut env = Quadrotor::new();
        let mut obs = [0.0f32; OBS_DIM];
        let mut s = [0.0f64; STATE_DIM];
        s[3] = 1.0;
        env.set_state(&s, &mut obs).unwrap();
        env.step(Action::Continuous(&[-1.0; 4]), &mut obs).unwrap();
        let a_z = 4.0 * THRUST[0] / DEFAULT_MASS + GRAVITY;
        assert!((a_z + 9.349).abs() < 1e-3);
        let st = env.state();
        assert!((st[9] - a_z * DT).abs() < 1e-6, "{}", st[9]);
        assert!((st[2] - a_z * DT * DT / 2.0).abs() < 1e-7, "{}", st[2]);
        assert_eq!(obs[14], st[9]);
    }

    #[test]
    fn motor_lag_is_first_order_with_rising_and_falling_constants() {
        // A lone motor lag integrated by RK4 over dt: r' = r + (1 - e^{-dt/τ}) (s - r) up to
        // O(dt⁵/τ⁵); at dt/τ = 0.18 (rising) RK4's error is below 1e-5.
        let body = Body::AT_REST;
        let next = integrate(&body, &[1.0, 1.0, 1.0, 1.0], DEFAULT_MASS);
        let want = 1.0 - libm::expf(-DT / TAU_RISING);
        assert!((next.rpm[0] - want).abs() < 1e-5, "{} {want}", next.rpm[0]);
        let body = Body {
            rpm: [1.0; 4],
            ..Body::AT_REST
        };
        let next = integrate(&body, &[0.0; 4], DEFAULT_MASS);
        let want = libm::expf(-DT / TAU_FALLING);
        assert!((next.rpm[0] - want).abs() < 1e-6, "{} {want}", next.rpm[0]);
    }

    #[test]
    fn rotor_torques_follow_the_layout() {
        // Only rotor 0 (at x = +0.028, y = -0.028, yaw -1) on: roll torque r_y f < 0, pitch
        // torque -r_x f < 0, yaw -k_m f.
        let body = Body {
            rpm: [1.0, 0.0, 0.0, 0.0],
            ..Body::AT_REST
        };
        let d = derivative(&body, &body.rpm, DEFAULT_MASS);
        let f1 = THRUST[0] + THRUST[1] + THRUST[2];
        let f0 = THRUST[0];
        let roll = -0.028 * f1 - 0.028 * f0 + 0.028 * f0 + 0.028 * f0;
        assert!((d.w[0] - J_INV[0] * roll).abs() < 1e-2 * (J_INV[0] * roll).abs());
        assert!(d.w[0] < 0.0 && d.w[1] < 0.0 && d.w[2] < 0.0, "{:?}", d.w);
    }

    #[test]
    fn observation_layout_and_history() {
        let mut env = Quadrotor::new();
        let mut obs = [0.0f32; OBS_DIM];
        let mut s = [0.0f64; STATE_DIM];
        s[0] = 0.25;
        s[3] = 1.0;
        s[13..17].copy_from_slice(&[0.25, 0.5, 0.0, 1.0]);
        env.set_state(&s, &mut obs).unwrap();
        assert_eq!(obs[0], 0.25);
        assert_eq!(&obs[3..12], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        // The whole history holds the commands of the initial speeds.
        for k in 0..HISTORY {
            assert_eq!(&obs[18 + 4 * k..22 + 4 * k], &[-0.5, 0.0, -1.0, 1.0]);
        }
        env.step(Action::Continuous(&[0.1, 0.2, 0.3, 0.4]), &mut obs)
            .unwrap();
        env.step(Action::Continuous(&[0.5, 0.6, 0.7, 2.0]), &mut obs)
            .unwrap();
        // Most recent first, kept as given (2.0 is not clipped in the history).
        assert_eq!(&obs[18..22], &[0.5, 0.6, 0.7, 2.0]);
        assert_eq!(&obs[22..26], &[0.1, 0.2, 0.3, 0.4]);
        assert_eq!(&obs[26..30], &[-0.5, 0.0, -1.0, 1.0]);
        // 16 more steps push the initial entries out.
        for _ in 0..HISTORY {
            env.step(Action::Continuous(&[0.0; 4]), &mut obs).unwrap();
        }
        assert!(obs[18..].iter().all(|&x| x == 0.0));
    }

    /// The privileged observation: the observation's kinematics, then the motor speeds as the
    /// commands that hold them; a wrong buffer is a typed error, and an environment without one
    /// (Pendulum-v1) has none.
    #[test]
    fn privileged_observation_is_the_true_state() {
        let mut env = Quadrotor::new();
        let mut obs = [0.0f32; OBS_DIM];
        env.reset(Some(3), &mut obs).unwrap();
        env.step(Action::Continuous(&[0.3, -0.2, 0.9, -1.0]), &mut obs)
            .unwrap();
        let mut p = [0.0f32; PRIVILEGED_DIM];
        assert_eq!(env.privileged_dim(), PRIVILEGED_DIM);
        env.write_privileged(&mut p).unwrap();
        assert_eq!(&p[..18], &obs[..18]);
        let rpm = &env.state()[13..17];
        for (x, r) in p[18..].iter().zip(rpm) {
            assert_eq!(*x, r * 2.0 - 1.0);
        }
        // The motors lag: the speeds are not the last command.
        assert_ne!(&p[18..], &obs[18..22]);
        assert_eq!(
            env.write_privileged(&mut [0.0; 3]),
            Err(EnvError::ObsBuffer {
                expected: PRIVILEGED_DIM,
                got: 3
            })
        );
        let pendulum = crate::env::make("Pendulum-v1", &EnvOptions::default()).unwrap();
        assert_eq!(pendulum.privileged_dim(), 0);
        assert!(pendulum.write_privileged(&mut []).is_ok());
        assert!(pendulum.write_privileged(&mut [0.0]).is_err());
    }

    #[test]
    fn reward_by_hand() {
        // At the target, level, at rest, hover-speed motors, hover command: every cost is zero
        // but the angular acceleration's, which is zero too when nothing moves; reward = 1.1.
        let r = hover_rpm();
        let body = Body {
            rpm: [r; 4],
            ..Body::AT_REST
        };
        let a = [2.0 * r - 1.0; 4];
        assert_eq!(reward(&L2F_REWARD, &body, &a, &body, false), 1.1);
        // 0.3 m off: -0.1 · 10 · 0.3 + 1.1 = 0.8.
        let off = Body {
            p: [0.3, 0.0, 0.0],
            ..body
        };
        assert!((reward(&L2F_REWARD, &off, &a, &off, false) - 0.8).abs() < 1e-6);
        // Yawed by 90° (q_z = sin 45°): 0.1 · 1 · 2 acos(1 - 0.7071) = 0.2590.
        let h = core::f32::consts::FRAC_1_SQRT_2;
        let yawed = Body {
            q: [h, 0.0, 0.0, h],
            ..body
        };
        let want = 1.1 - 0.1 * 2.0 * libm::acosf(1.0 - h);
        assert!((reward(&L2F_REWARD, &yawed, &a, &yawed, false) - want).abs() < 1e-6);
        // A change of ω by 1 rad/s in a step costs 0.1 · 2 · 1 / 0.01 = 20.
        let spun = Body {
            w: [1.0, 0.0, 0.0],
            ..body
        };
        assert!((reward(&L2F_REWARD, &body, &a, &spun, false) - (1.1 - 20.0)).abs() < 1e-4);
        assert_eq!(reward(&L2F_REWARD, &body, &a, &spun, true), 0.0);
        // The tilt cost (an option, 0 in L2F): 1 - q_w² of the state before, here a 90° roll,
        // weighted 2 and scaled by 0.1: 1.1 - 0.1 for the rest of the weights at rest.
        let h = core::f32::consts::FRAC_1_SQRT_2;
        let rolled = Body {
            q: [h, h, 0.0, 0.0],
            ..body
        };
        let tilt = RewardWeights {
            attitude: 2.0,
            ..L2F_REWARD
        };
        let want = 1.1 - 0.1 * 2.0 * (1.0 - h * h);
        assert!((reward(&tilt, &rolled, &a, &rolled, false) - want).abs() < 1e-6);
    }

    #[test]
    fn terminates_past_the_thresholds_and_truncates_at_500() {
        let mut env = Quadrotor::new();
        let mut obs = [0.0f32; OBS_DIM];
        let mut s = [0.0f64; STATE_DIM];
        s[3] = 1.0;
        s[7] = 1.999;
        s[13..17].copy_from_slice(&[0.8; 4]);
        env.set_state(&s, &mut obs).unwrap();
        // 2 m/s sideways hits nothing in one step; the position limit follows within 1 s.
        let mut steps = 0;
        loop {
            let r = env.step(Action::Continuous(&[0.6; 4]), &mut obs).unwrap();
            steps += 1;
            if r.done() {
                assert!(r.terminated && !r.truncated);
                break;
            }
        }
        assert!(steps < 100, "{steps}");
        assert_eq!(
            env.step(Action::Continuous(&[0.0; 4]), &mut obs),
            Err(EnvError::NeedsReset)
        );
        // Guided start (at rest at the target) with a hover command: no termination in 500 steps.
        let env = Quadrotor::new();
        let mut env = env
            .with_init(InitRanges {
                guidance: 1.0,
                ..L2F_INIT
            })
            .unwrap();
        env.reset(Some(3), &mut obs).unwrap();
        let mut s = [0.0f64; STATE_DIM];
        s[3] = 1.0;
        let r = hover_rpm();
        s[13..17].copy_from_slice(&[f64::from(r); 4]);
        env.set_state(&s, &mut obs).unwrap();
        for t in 1..=500 {
            let res = env
                .step(Action::Continuous(&[2.0 * r - 1.0; 4]), &mut obs)
                .unwrap();
            assert_eq!((res.terminated, res.truncated), (false, t == 500));
        }
    }

    #[test]
    fn resets_follow_the_ranges_and_the_seed() {
        let mut env = Quadrotor::new();
        let mut obs = [0.0f32; OBS_DIM];
        let mut guided = 0;
        for seed in 0..400 {
            env.reset(Some(seed), &mut obs).unwrap();
            let s = env.state();
            assert!(s[0..3].iter().all(|x| x.abs() <= 0.5));
            assert!(s[7..13].iter().all(|x| x.abs() <= 1.0));
            assert!(s[13..17].iter().all(|x| (0.0..=0.5).contains(x)));
            // The rotation angle 2 acos(w) is below 1 rad.
            assert!(2.0 * libm::acosf(s[3].min(1.0)) < 1.0 + 1e-5);
            let q_norm: f32 = s[3..7].iter().map(|x| x * x).sum();
            assert!((q_norm - 1.0).abs() < 1e-5);
            if s[0..3] == [0.0; 3] {
                guided += 1;
            }
        }
        // 10% guided: 40 expected of 400, sd 6.
        assert!((20..60).contains(&guided), "{guided}");
        let (mut a, mut b) = (Quadrotor::new(), Quadrotor::new());
        let (mut oa, mut ob) = ([0.0f32; OBS_DIM], [0.0f32; OBS_DIM]);
        a.reset(Some(9), &mut oa).unwrap();
        b.reset(Some(9), &mut ob).unwrap();
        assert_eq!(oa, ob);
        for _ in 0..50 {
            let ra = a.step(Action::Continuous(&[0.3, 0.4, 0.3, 0.4]), &mut oa);
            let rb = b.step(Action::Continuous(&[0.3, 0.4, 0.3, 0.4]), &mut ob);
            assert_eq!(ra, rb);
            assert_eq!(oa, ob);
            if ra.unwrap().done() {
                break;
            }
        }
    }

    #[test]
    fn bad_options_and_input_are_typed_errors() {
        assert!(matches!(
            Quadrotor::new().with_mass(-0.03),
            Err(EnvError::BadOptionValue { option: "mass", .. })
        ));
        assert!(Quadrotor::new().with_mass(f64::NAN).is_err());
        assert!(Quadrotor::new().with_mass(0.0).is_err());
        assert!(Quadrotor::new().with_mass(1e300).is_err());
        for bad in [
            InitRanges {
                max_position: -0.1,
                ..L2F_INIT
            },
            InitRanges {
                max_angle: 4.0,
                ..L2F_INIT
            },
            InitRanges {
                max_linear_velocity: f32::NAN,
                ..L2F_INIT
            },
            InitRanges {
                guidance: 1.5,
                ..L2F_INIT
            },
        ] {
            assert!(matches!(
                Quadrotor::new().with_init(bad),
                Err(EnvError::BadOptionValue { .. })
            ));
        }
        for (bad, name) in [
            (
                RewardWeights {
                    position: -1.0,
                    ..L2F_REWARD
                },
                "reward_position",
            ),
            (
                RewardWeights {
                    attitude: f32::NAN,
                    ..L2F_REWARD
                },
                "reward_attitude",
            ),
            (
                RewardWeights {
                    angular_acceleration: f32::INFINITY,
                    ..L2F_REWARD
                },
                "reward_angular_acceleration",
            ),
            (
                RewardWeights {
                    position_clip: -0.5,
                    ..L2F_REWARD
                },
                "reward_position_clip",
            ),
        ] {
            assert!(matches!(
                Quadrotor::new().with_reward(bad),
                Err(EnvError::BadOptionValue { option, .. }) if option == name
            ));
        }
        let mut env = Quadrotor::new();
        let mut obs = [0.0f32; OBS_DIM];
        assert_eq!(
            env.step(Action::Continuous(&[0.0; 4]), &mut obs),
            Err(EnvError::NeedsReset)
        );
        env.reset(Some(0), &mut obs).unwrap();
        assert_eq!(
            env.step(Action::Continuous(&[0.0, f32::NAN, 0.0, 0.0]), &mut obs),
            Err(EnvError::NonFiniteAction { index: 1 })
        );
        assert!(matches!(
            env.step(Action::Continuous(&[0.0; 3]), &mut obs),
            Err(EnvError::ActionDim { .. })
        ));
        assert!(matches!(
            env.step(Action::Continuous(&[0.0; 4]), &mut [0.0f32; 3]),
            Err(EnvError::ObsBuffer { .. })
        ));
        let mut s = [0.0f64; STATE_DIM];
        assert_eq!(
            env.set_state(&s, &mut obs),
            Err(EnvError::InvalidState { index: 3 })
        );
        s[3] = 1.0;
        s[15] = 1.5;
        assert_eq!(
            env.set_state(&s, &mut obs),
            Err(EnvError::InvalidState { index: 15 })
        );
        s[15] = 0.0;
        s[0] = 1e300;
        assert_eq!(
            env.set_state(&s, &mut obs),
            Err(EnvError::InvalidState { index: 0 })
        );
        // Huge but finite commands are clipped: the same as ±1.
        let (mut a, mut b) = (Quadrotor::new(), Quadrotor::new());
        let (mut oa, mut ob) = ([0.0f32; OBS_DIM], [0.0f32; OBS_DIM]);
        a.reset(Some(1), &mut oa).unwrap();
        b.reset(Some(1), &mut ob).unwrap();
        a.step(Action::Continuous(&[1e30, -1e30, 3.0, -3.0]), &mut oa)
            .unwrap();
        b.step(Action::Continuous(&[1.0, -1.0, 1.0, -1.0]), &mut ob)
            .unwrap();
        assert_eq!(a.state(), b.state());
    }
}
