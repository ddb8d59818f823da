//! The Crazyflie 2.x and task parameters of `Quadrotor-v0` as `l2f` 2.0.18 resolves them: rotor
//! layout, thrust curve, motor time constants, mass, inertia, state limits, termination
//! thresholds, reward weights and the initial-state distribution. Each is cited to its L2F source.

// Crazyflie 2.x, from `parameters/dynamics/crazyflie.h` of the RLtools copy that `l2f` 2.0.18
// vendors. Rotor i sits at ROTOR_POS[i] (m, body frame), thrusts along body +z and turns the
// body about z in direction ROTOR_YAW[i].
pub(super) const ROTOR_POS: [[f32; 2]; 4] = [
    [0.028, -0.028],
    [-0.028, -0.028],
    [-0.028, 0.028],
    [0.028, 0.028],
];
pub(super) const ROTOR_YAW: [f32; 4] = [-1.0, 1.0, -1.0, 1.0];
/// Thrust curve `f = c0 + c1 rpm + c2 rpm²` (N), the same for the four rotors.
pub(super) const THRUST: [f32; 3] = [0.00352526, 0.01437313, 0.09223048];
/// Yaw torque per newton of thrust (m).
pub(super) const TORQUE_CONSTANT: f32 = 4.665e-3;
/// Motor time constants, s: rising and falling. (L2F's literals, written as f64 and rounded to
/// f32 as L2F's `float` parameters round them.)
pub(super) const TAU_RISING: f32 = 0.05545454545454546_f64 as f32;
pub(super) const TAU_FALLING: f32 = 0.24939393939393945_f64 as f32;
/// Take-off weight plus SD-card deck, SD card and flow deck: `0.027 + 0.0017 + 0.0003 + 0.0016`.
pub const DEFAULT_MASS: f32 = 0.027 + 0.0017 + 0.0003 + 0.0016;
pub(super) const GRAVITY: f32 = -9.81;
/// Diagonal inertia (kg m²) and its inverse, both as L2F lists them (the inverse is not
/// recomputed, so that the products are L2F's).
pub(super) const J: [f32; 3] = [
    9.416556729130406e-06_f64 as f32,
    9.644051701582312e-06_f64 as f32,
    1.745951732253285e-05_f64 as f32,
];
pub(super) const J_INV: [f32; 3] = [
    106195.93007988465_f64 as f32,
    103690.85846314249_f64 as f32,
    57275.35197719487_f64 as f32,
];
/// `hovering_throttle_relative`, the action cost's reference.
pub(super) const HOVER_THROTTLE: f32 = 0.7261389721508553_f64 as f32;
/// `STATE_LIMIT_POSITION`, `_VELOCITY`, `_ANGULAR_VELOCITY` of `l2f/environment.h`.
pub(super) const STATE_LIMIT: f32 = 100000.0;

/// Termination thresholds of `l2f/environment.h` (`mdp.termination`): per axis.
pub(super) const TERMINATION_POSITION: f32 = 1.0;
pub(super) const TERMINATION_LINEAR_VELOCITY: f32 = 2.0;
pub(super) const TERMINATION_ANGULAR_VELOCITY: f32 = 35.0;

/// L2F's `Squared` reward parameters as the package resolves them.
///
/// `l2f/environment.h` initializes `reward_functions::Squared<T>` with eleven values whose
/// comments read "position 10, orientation 2.5, linear_velocity 1, …, action 2"; the struct has a
/// `position_clip` field after `position`, so by C++ aggregate initialization the values land one
/// field later than the comments say. These are the values the package uses (its
/// `parameters_to_json` prints them), and the ones picorl uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewardWeights {
    /// Cost multiplier.
    pub scale: f32,
    /// Added after scaling.
    pub constant: f32,
    /// Reward of a step that terminates.
    pub termination_penalty: f32,
    /// Weight of `|p - target|`.
    pub position: f32,
    /// `|p - target|` is clipped to this when positive.
    pub position_clip: f32,
    /// Weight of `2 acos(1 - |q_z|)` (L2F's orientation cost, as written there).
    pub orientation: f32,
    /// Weight of `|v|`.
    pub linear_velocity: f32,
    /// Weight of `|ω|`.
    pub angular_velocity: f32,
    /// Weight of `|v' - v| / dt`.
    pub linear_acceleration: f32,
    /// Weight of `|ω' - ω| / dt`.
    pub angular_acceleration: f32,
    /// Weight of `|(a + 1) / 2 - hover throttle|²`.
    pub action: f32,
    /// Weight of the tilt cost `1 - q_w²` of the state before the step. Not in L2F's package
    /// (0 there): it is the orientation cost of the reward *Learning to Fly in Seconds* trains
    /// with (Eschmann, Albani, Loianno, RA-L 2024, Sec. IV), an option for training.
    pub attitude: f32,
}

/// The reward parameters of `l2f` 2.0.18 (see [`RewardWeights`]).
pub const L2F_REWARD: RewardWeights = RewardWeights {
    scale: 0.1,
    constant: 1.1,
    termination_penalty: 0.0,
    position: 10.0,
    position_clip: 2.5,
    orientation: 1.0,
    linear_velocity: 0.0,
    angular_velocity: 0.0,
    linear_acceleration: 0.0,
    angular_acceleration: 2.0,
    action: 0.0,
    attitude: 0.0,
};

/// The initial-state distribution (L2F's `init_90_deg` as its sampler uses it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InitRanges {
    /// Probability of starting at rest at the target (`guidance`).
    pub guidance: f32,
    /// Position per axis, m: uniform in `±max_position`.
    pub max_position: f32,
    /// Rotation angle, rad: uniform in `[0, max_angle)`. L2F's `init_90_deg` names π/2, but its
    /// `sample_orientation` ignores the limit and draws the angle in `[0, 1)`: 1 is what it does.
    pub max_angle: f32,
    /// Linear velocity per axis, m/s.
    pub max_linear_velocity: f32,
    /// Angular velocity per axis, rad/s.
    pub max_angular_velocity: f32,
}

/// L2F's defaults.
pub const L2F_INIT: InitRanges = InitRanges {
    guidance: 0.1,
    max_position: 0.5,
    max_angle: 1.0,
    max_linear_velocity: 1.0,
    max_angular_velocity: 1.0,
};
/// Motor speeds at reset: `relative_rpm` with `min_rpm = -1`, `max_rpm = 0` maps to `[0, 0.5]`.
pub(super) const INIT_RPM_MAX: f32 = 0.5;
