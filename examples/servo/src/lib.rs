//! `Servo-v0`: a DC-motor position servo, an environment of the user's own for picorl (no_std,
//! no heap: the same code runs in `picorl train` on the desktop and in the firmware).
//!
//! # Plant
//! A permanent-magnet DC motor driving an inertia, with the armature's electrical and mechanical
//! equations (the textbook model, e.g. Franklin, Powell & Emami-Naeini, *Feedback Control of
//! Dynamic Systems*, §2.3):
//!
//! ```text
//! L di/dt = V − R i − K ω            (armature circuit, back-EMF constant K)
//! J dω/dt = K i − b ω − τc sgn(ω)    (rotor: torque constant K, viscous b, Coulomb τc)
//!   dθ/dt = ω
//! ```
//!
//! Parameters: J, b, K, R, L are those of the University of Michigan / Carnegie Mellon *Control
//! Tutorials for MATLAB and Simulink*, "DC Motor Position: System Modeling" (measured on a motor
//! of CMU's undergraduate controls lab): J = 3.2284e-6 kg·m², b = 3.5077e-6 N·m·s,
//! K = 0.0274 N·m/A = V·s/rad, R = 4 Ω, L = 2.75e-6 H. Added for a real drive: a 12 V supply
//! (the action is the PWM duty in [−1, 1], so the voltage saturates at ±12 V), Coulomb friction
//! τc = 2 mN·m (a few percent of the 82 mN·m stall torque; option `coulomb`), a 1,024-line
//! quadrature encoder (4,096 counts a revolution) and a 1 kHz control period.
//!
//! # Integration
//! 20 substeps of 50 µs per 1 ms control period. The electrical pole −R/L ≈ −1.45e6 rad/s is far
//! faster than a substep, so the current is advanced exactly for the substep's voltage and speed
//! (`i ← i_ss + (i − i_ss)·e^{−R h/L}`, `i_ss = (V − K ω)/R`), then the speed by semi-implicit
//! Euler, with stiction: a rotor at rest stays at rest while |K i| ≤ τc, and a speed that would
//! cross zero within a substep stops at zero (Karnopp's friction model).
//!
//! # Task
//! Each episode starts at rest at θ = 0 with a target angle drawn uniformly in [−π, π]; 300
//! control periods (0.3 s), then truncated (no terminal state).
//!
//! - Observation (3 values): the position error `(θ_ref − θ_enc)/π` from the quantized encoder,
//!   the speed estimated from two encoder readings one period apart, `(θ_enc,k − θ_enc,k−1)/Ts`,
//!   divided by 500 rad/s, and the previous duty.
//! - Action: the duty `u` in [−1, 1] (`Box(1)`); the supply applies `V = 12 u` volts for the
//!   whole period (zero-order hold).
//! - Reward per period: `−|θ_ref − θ|/π − 0.01 u²` (the true angle, not the encoder's).
//!
//! The state for `get_state`/`set_state` is `[θ, ω, i, θ_ref, θ_enc_prev, u_prev]`.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::f64::consts::PI;

use picorl_core::env::{Action, Env, EnvError, EnvSpec, Space, StepResult, UserEnv};
use picorl_core::rng::{self, Pcg32};

/// Rotor inertia, kg·m² (CTMS).
pub const J: f64 = 3.2284e-6;
/// Viscous friction, N·m·s (CTMS).
pub const B: f64 = 3.5077e-6;
/// Torque and back-EMF constant, N·m/A = V·s/rad (CTMS).
pub const K: f64 = 0.0274;
/// Armature resistance, Ω (CTMS).
pub const R: f64 = 4.0;
/// Armature inductance, H (CTMS).
pub const L: f64 = 2.75e-6;
/// Supply voltage, V: the duty's ±1.
pub const V_MAX: f64 = 12.0;
/// Coulomb friction by default, N·m.
pub const COULOMB: f64 = 2e-3;
/// Encoder counts a revolution (1,024 lines, quadrature).
pub const COUNTS: f64 = 4096.0;
/// Control period, s.
pub const TS: f64 = 1e-3;
/// Integration substeps per control period.
pub const SUBSTEPS: u32 = 20;
/// Speed scale of the observation, rad/s.
pub const SPEED_SCALE: f64 = 500.0;
/// Control periods per episode.
pub const EPISODE_STEPS: u32 = 300;
/// Weight of the duty's square in the reward.
pub const EFFORT_WEIGHT: f64 = 0.01;

const OBS_LOW: [f32; 3] = [-2.0, f32::NEG_INFINITY, -1.0];
const OBS_HIGH: [f32; 3] = [2.0, f32::INFINITY, 1.0];
const ACT_LOW: [f32; 1] = [-1.0];
const ACT_HIGH: [f32; 1] = [1.0];

/// The registration of `Servo-v0`.
pub const SPEC: EnvSpec = EnvSpec {
    id: "Servo-v0",
    observation_space: Space::Box {
        dim: 3,
        low: &OBS_LOW,
        high: &OBS_HIGH,
    },
    action_space: Space::Box {
        dim: 1,
        low: &ACT_LOW,
        high: &ACT_HIGH,
    },
    max_episode_steps: EPISODE_STEPS,
};

/// The DC-motor position servo (see the crate's documentation).
#[derive(Debug, Clone)]
pub struct Servo {
    /// `[θ, ω, i, θ_ref, θ_enc_prev, u_prev]`.
    state: [f64; 6],
    coulomb: f64,
    /// `e^{−R h / L}` for the substep `h`.
    decay: f64,
    rng: Pcg32,
    steps: u32,
    running: bool,
}

/// The encoder's reading of `theta`: whole counts, rounded toward −∞.
pub fn encoder(theta: f64) -> f64 {
    let q = 2.0 * PI / COUNTS;
    libm::floor(theta / q) * q
}

impl Servo {
    /// A servo with Coulomb friction `coulomb` (N·m, finite, ≥ 0).
    pub fn new(coulomb: f64) -> Self {
        Self {
            state: [0.0; 6],
            coulomb,
            decay: libm::exp(-R * (TS / f64::from(SUBSTEPS)) / L),
            rng: rng::seeded(0),
            steps: 0,
            running: false,
        }
    }

    /// The internal state `[θ, ω, i, θ_ref, θ_enc_prev, u_prev]`.
    pub fn state(&self) -> [f64; 6] {
        self.state
    }

    fn observe(&self, obs: &mut [f32]) -> Result<(), EnvError> {
        let got = obs.len();
        let obs: &mut [f32; 3] = obs
            .try_into()
            .map_err(|_| EnvError::ObsBuffer { expected: 3, got })?;
        let [theta, _, _, target, enc_prev, u_prev] = self.state;
        let enc = encoder(theta);
        obs[0] = ((target - enc) / PI) as f32;
        obs[1] = ((enc - enc_prev) / TS / SPEED_SCALE) as f32;
        obs[2] = u_prev as f32;
        Ok(())
    }

    /// One control period at duty `u` (already within [−1, 1]).
    fn advance(&mut self, u: f64) {
        let h = TS / f64::from(SUBSTEPS);
        let v = V_MAX * u;
        let [mut theta, mut omega, mut i, ..] = self.state;
        for _ in 0..SUBSTEPS {
            let i_ss = (v - K * omega) / R;
            i = i_ss + (i - i_ss) * self.decay;
            let drive = K * i;
            if omega == 0.0 {
                if libm::fabs(drive) > self.coulomb {
                    omega = h / J * (drive - self.coulomb * drive.signum());
                }
            } else {
                let next = omega + h / J * (drive - B * omega - self.coulomb * omega.signum());
                omega = if next * omega < 0.0 { 0.0 } else { next };
            }
            theta += h * omega;
        }
        self.state[0] = theta;
        self.state[1] = omega;
        self.state[2] = i;
    }
}

impl Default for Servo {
    fn default() -> Self {
        Self::new(COULOMB)
    }
}

impl Env for Servo {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        if obs.len() != 3 {
            return Err(EnvError::ObsBuffer {
                expected: 3,
                got: obs.len(),
            });
        }
        if let Some(seed) = seed {
            self.rng = rng::seeded(seed);
        }
        let target = rng::uniform_f64(&mut self.rng, -PI, PI);
        self.state = [0.0, 0.0, 0.0, target, 0.0, 0.0];
        self.steps = 0;
        self.running = true;
        self.observe(obs)
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let u = match action {
            Action::Continuous([u]) if u.is_finite() => f64::from(*u).clamp(-1.0, 1.0),
            Action::Continuous([_]) => return Err(EnvError::NonFiniteAction { index: 0 }),
            Action::Continuous(v) => {
                return Err(EnvError::ActionDim {
                    expected: 1,
                    got: v.len(),
                })
            }
            Action::Discrete(_) => return Err(EnvError::WrongActionKind),
        };
        if !self.running {
            return Err(EnvError::NeedsReset);
        }
        if obs.len() != 3 {
            return Err(EnvError::ObsBuffer {
                expected: 3,
                got: obs.len(),
            });
        }
        self.state[4] = encoder(self.state[0]);
        self.advance(u);
        self.state[5] = u;
        let error = self.state[3] - self.state[0];
        let reward = -libm::fabs(error) / PI - EFFORT_WEIGHT * u * u;
        self.steps += 1;
        let truncated = self.steps >= EPISODE_STEPS;
        self.running = !truncated;
        self.observe(obs)?;
        Ok(StepResult {
            reward,
            terminated: false,
            truncated,
        })
    }

    fn state_dim(&self) -> usize {
        6
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        let got = out.len();
        let out: &mut [f64; 6] = out
            .try_into()
            .map_err(|_| EnvError::StateDim { expected: 6, got })?;
        *out = self.state;
        Ok(())
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let s: [f64; 6] = state.try_into().map_err(|_| EnvError::StateDim {
            expected: 6,
            got: state.len(),
        })?;
        if let Some(index) = s.iter().position(|v| !v.is_finite()) {
            return Err(EnvError::InvalidState { index });
        }
        if !(-1.0..=1.0).contains(&s[5]) {
            return Err(EnvError::InvalidState { index: 5 });
        }
        if obs.len() != 3 {
            return Err(EnvError::ObsBuffer {
                expected: 3,
                got: obs.len(),
            });
        }
        self.state = s;
        self.steps = 0;
        self.running = true;
        self.observe(obs)
    }
}

impl UserEnv for Servo {
    const SPEC: EnvSpec = SPEC;
    const OPTIONS: &'static [&'static str] = &["coulomb"];

    fn make(options: &[(&str, &str)]) -> Result<Self, EnvError> {
        let mut coulomb = COULOMB;
        for (k, v) in options {
            if *k == "coulomb" {
                coulomb = v
                    .parse::<f64>()
                    .ok()
                    .filter(|c| c.is_finite() && *c >= 0.0)
                    .ok_or(EnvError::BadOptionValue {
                        option: "coulomb",
                        expected: "a finite number of N·m, at least 0",
                    })?;
            } else {
                return Err(EnvError::BadOption);
            }
        }
        Ok(Self::new(coulomb))
    }
}

/// The classical controller to beat: a PD position loop on the encoder with the speed estimate
/// as the derivative, saturated to the duty's range (a proportional-derivative servo as drives
/// ship them; an integral term buys nothing here, there is no load torque to hold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pd {
    /// Duty per radian of error.
    pub kp: f64,
    /// Duty per rad/s of estimated speed.
    pub kd: f64,
}

impl Pd {
    /// The best gains of a grid search over `kp` (0.5–64) and `kd` (0–0.16) by mean return on
    /// reset seeds 1000..1100, disjoint from evaluation's and training's (`servo-pd --tune`).
    pub const TUNED: Pd = Pd { kp: 14.0, kd: 0.05 };

    /// The duty for an observation of `Servo-v0`.
    pub fn act(&self, obs: &[f32]) -> f32 {
        let (Some(&e), Some(&w)) = (obs.first(), obs.get(1)) else {
            return 0.0;
        };
        let error = f64::from(e) * PI;
        let speed = f64::from(w) * SPEED_SCALE;
        (self.kp * error - self.kd * speed).clamp(-1.0, 1.0) as f32
    }
}

/// The return of one episode of `Servo-v0` (default options) under `pd`, reset with `seed`.
pub fn pd_episode(pd: &Pd, seed: u64) -> Result<f64, EnvError> {
    let mut env = Servo::default();
    let mut obs = [0.0f32; 3];
    env.reset(Some(seed), &mut obs)?;
    let mut ret = 0.0;
    loop {
        let u = [pd.act(&obs)];
        let r = env.step(Action::Continuous(&u), &mut obs)?;
        ret += r.reward;
        if r.done() {
            return Ok(ret);
        }
    }
}
