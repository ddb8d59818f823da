//! Conformance of `Quadrotor-v0` with L2F, the simulator of *Learning to Fly in Seconds*: replays
//! the episodes `scripts/l2f_traces.py` recorded from the `l2f` package (2.0.18).
//!
//! L2F computes in float32 built with `-Ofast -march=native`; core computes the same equations
//! in float32 without fused multiply-adds or reassociation, so the two differ in the last bits of
//! each step and drift apart along an episode. Two checks, as `tests/gymnasium.rs` does for the
//! chaotic classic-control systems:
//!
//! - every step alone, from L2F's exact state before it: the physical state after the step
//!   (position, quaternion, velocities, motor speeds) to `STEP_TOLERANCE`, the reward to
//!   `STEP_REWARD_TOLERANCE`, the termination flag exactly. The reward is looser because its
//!   angular-acceleration cost, `0.1 · 2 · |ω' - ω| / 0.01`, multiplies the rounding of `ω'`
//!   (a float32 of up to 35 rad/s) by 20;
//! - every episode from its initial state with the recorded actions, as `picorl env replay`
//!   does: observations and rewards to `EPISODE_TOLERANCE`, both flags exactly.
//!
//! Errors are absolute, relative above 1. The worst ones are printed (the README quotes them).

use picorl_core::env::{make, Action, Env, EnvOptions};
use serde_json::Value;

const TRACES: &str = include_str!("fixtures/l2f_traces.jsonl");
const STEP_TOLERANCE: f64 = 1e-5;
const STEP_REWARD_TOLERANCE: f64 = 1e-4;
const EPISODE_TOLERANCE: f64 = 1e-3;

fn error(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1.0)
}

fn list(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn every_step_from_l2fs_own_state() {
    let mut env = make("Quadrotor-v0", &EnvOptions::new()).unwrap();
    let mut obs = vec![0.0f32; env.spec().obs_dim()];
    let mut state = vec![0.0f64; env.state_dim()];
    let (mut steps, mut worst_state, mut worst_reward) = (0, 0.0f64, 0.0f64);
    for (line, record) in TRACES.lines().enumerate() {
        let record: Value = serde_json::from_str(record).unwrap();
        let mut before = list(&record["initial_state"]);
        for (t, step) in record["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("line {} step {}", line + 1, t + 1);
            env.set_state(&before, &mut obs).unwrap();
            let action: Vec<f32> = list(&step["action"]).iter().map(|&x| x as f32).collect();
            let r = env.step(Action::Continuous(&action), &mut obs).unwrap();
            env.get_state(&mut state).unwrap();
            let want = list(&step["state"]);
            for (i, (&g, &w)) in state.iter().zip(&want).enumerate() {
                let e = error(g, w);
                assert!(e <= STEP_TOLERANCE, "{at}: state[{i}] {g:?} != {w:?}");
                worst_state = worst_state.max(e);
            }
            let e = error(r.reward, step["reward"].as_f64().unwrap());
            assert!(
                e <= STEP_REWARD_TOLERANCE,
                "{at}: reward {} != {}",
                r.reward,
                step["reward"]
            );
            worst_reward = worst_reward.max(e);
            assert_eq!(Value::Bool(r.terminated), step["terminated"], "{at}");
            before = want;
            steps += 1;
        }
    }
    eprintln!(
        "l2f one-step: {steps} steps; worst state error {worst_state:e}, reward {worst_reward:e}"
    );
}

#[test]
fn every_episode_from_its_initial_state() {
    let mut env = make("Quadrotor-v0", &EnvOptions::new()).unwrap();
    let mut obs = vec![0.0f32; env.spec().obs_dim()];
    let (mut steps, mut worst_obs, mut worst_reward) = (0, 0.0f64, 0.0f64);
    for (line, record) in TRACES.lines().enumerate() {
        let record: Value = serde_json::from_str(record).unwrap();
        env.set_state(&list(&record["initial_state"]), &mut obs)
            .unwrap();
        let recorded = record["steps"].as_array().unwrap();
        for (t, step) in recorded.iter().enumerate() {
            let at = format!("line {} step {}", line + 1, t + 1);
            let action: Vec<f32> = list(&step["action"]).iter().map(|&x| x as f32).collect();
            let r = env.step(Action::Continuous(&action), &mut obs).unwrap();
            for (i, (&g, w)) in obs.iter().zip(list(&step["obs"])).enumerate() {
                let e = error(f64::from(g), w);
                assert!(e <= EPISODE_TOLERANCE, "{at}: obs[{i}] {g:?} != {w:?}");
                worst_obs = worst_obs.max(e);
            }
            let e = error(r.reward, step["reward"].as_f64().unwrap());
            assert!(
                e <= EPISODE_TOLERANCE,
                "{at}: reward {} != {}",
                r.reward,
                step["reward"]
            );
            worst_reward = worst_reward.max(e);
            assert_eq!(Value::Bool(r.terminated), step["terminated"], "{at}");
            assert_eq!(Value::Bool(r.truncated), step["truncated"], "{at}");
            assert_eq!(
                r.done(),
                t + 1 == recorded.len(),
                "{at}: the episode ends here"
            );
            steps += 1;
        }
    }
    eprintln!(
        "l2f episodes: {steps} steps; worst observation error {worst_obs:e}, reward {worst_reward:e}"
    );
}
