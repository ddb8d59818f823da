//! Servo-v0's physics against hand-worked figures, its bad-input errors, and the PD baseline.

use std::f64::consts::PI;

use picorl_core::env::{Action, Env, EnvError, UserEnv};
use picorl_servo::{encoder, pd_episode, Pd, Servo, B, COULOMB, K, R, V_MAX};

/// Holds the duty at `u` for `steps` periods from rest (target irrelevant); returns the state.
fn hold(env: &mut Servo, u: f32, steps: u32) -> [f64; 6] {
    let mut obs = [0.0f32; 3];
    env.set_state(&[0.0; 6], &mut obs).unwrap();
    for _ in 0..steps {
        env.step(Action::Continuous(&[u]), &mut obs).unwrap();
    }
    env.state()
}

#[test]
fn steady_speed_is_the_dc_motor_formula() {
    // At steady state di/dt = dω/dt = 0: i = (V − Kω)/R and K i = b ω + τc, so
    // ω = (K V/R − τc) / (b + K²/R). With V = 12 V: (0.0822 − 0.002) / (3.5077e-6 + 1.8769e-4)
    // = 419.5 rad/s. The mechanical time constant J/(b + K²/R) is 16.9 ms: 0.2 s is 12 of them.
    let mut env = Servo::default();
    let s = hold(&mut env, 1.0, 200);
    let want = (K * V_MAX / R - COULOMB) / (B + K * K / R);
    assert!((s[1] - want).abs() < 1e-3 * want, "{} vs {want}", s[1]);
    // The current then carries just the friction torques.
    assert!((K * s[2] - (B * s[1] + COULOMB)).abs() < 1e-6);
}

#[test]
fn coulomb_friction_holds_a_rotor_at_rest_below_breakaway() {
    // Breakaway duty: K (12 u)/R = τc → u = 4·0.002/(0.0274·12) = 0.0243.
    let mut env = Servo::default();
    assert_eq!(hold(&mut env, 0.02, 50)[1], 0.0);
    assert!(hold(&mut env, 0.03, 50)[1] > 0.0);
    // Without Coulomb friction any duty turns it.
    let mut free = Servo::make(&[("coulomb", "0")]).unwrap();
    assert!(hold(&mut free, 0.02, 50)[1] > 0.0);
}

#[test]
fn the_encoder_quantizes_to_4096_counts() {
    let q = 2.0 * PI / 4096.0;
    assert_eq!(encoder(0.0), 0.0);
    assert_eq!(encoder(0.9 * q), 0.0);
    assert_eq!(encoder(1.1 * q), q);
    assert_eq!(encoder(-0.1 * q), -q);
}

#[test]
fn observations_and_episode_semantics() {
    let mut env = Servo::default();
    let mut obs = [0.0f32; 3];
    assert_eq!(
        env.step(Action::Continuous(&[0.0]), &mut obs),
        Err(EnvError::NeedsReset)
    );
    env.reset(Some(4), &mut obs).unwrap();
    let target = env.state()[3];
    assert!((-PI..=PI).contains(&target));
    assert_eq!(obs, [(target / PI) as f32, 0.0, 0.0]);
    let mut n = 0;
    loop {
        let r = env.step(Action::Continuous(&[0.5]), &mut obs).unwrap();
        n += 1;
        assert!(!r.terminated);
        assert_eq!(obs[2], 0.5);
        if r.truncated {
            break;
        }
    }
    assert_eq!(n, 300);
    // Same seed, same target.
    env.reset(Some(4), &mut obs).unwrap();
    assert_eq!(env.state()[3], target);
    // Bad input is an error, never a panic.
    assert_eq!(
        env.step(Action::Continuous(&[f32::NAN]), &mut obs),
        Err(EnvError::NonFiniteAction { index: 0 })
    );
    assert_eq!(
        env.step(Action::Continuous(&[0.0, 0.0]), &mut obs),
        Err(EnvError::ActionDim {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(
        env.step(Action::Discrete(0), &mut obs),
        Err(EnvError::WrongActionKind)
    );
    assert!(env.reset(None, &mut [0.0; 4]).is_err());
    assert!(Servo::make(&[("coulomb", "-1")]).is_err());
    assert!(Servo::make(&[("coulomb", "x")]).is_err());
}

#[test]
fn the_tuned_pd_settles_every_target() {
    // Each episode's return is −Σ|e|/π − 0.01 Σu²; a controller that never moved would score
    // −300·|θ_ref|/π, on average −150.
    for seed in 0..20 {
        let r = pd_episode(&Pd::TUNED, seed).unwrap();
        assert!(r > -20.0, "seed {seed}: {r}");
    }
}
