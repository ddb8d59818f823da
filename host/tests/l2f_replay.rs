//! `picorl env replay` against L2F: the `Quadrotor-v0` episodes that `scripts/l2f_traces.py`
//! recorded from the `l2f` package (the simulator of *Learning to Fly in Seconds*).
//!
//! L2F computes in float32 compiled with `-Ofast -march=native` (fused multiply-adds and
//! reassociation), so no one reproduces its bits; picorl computes the same equations in float32
//! without them. The replay must agree on every observation value and reward to `TOLERANCE`
//! (absolute, relative above 1) and on both flags exactly, over every recorded step; the largest
//! error found is printed (the README quotes it).

use serde_json::Value;

mod common;

use common::{error, numbers};

const TRACES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../core/tests/fixtures/l2f_traces.jsonl"
);
const TOLERANCE: f64 = 1e-3;

fn replay(input: &str) -> (i32, String, String) {
    common::picorl_with_stdin(&["env", "replay", "-"], input)
}

#[test]
fn replays_the_l2f_traces_within_float_tolerance() {
    let input = std::fs::read_to_string(TRACES).unwrap();
    let (code, out, err) = replay(&input);
    assert_eq!(code, 0, "{err}");
    let wants: Vec<Value> = input
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let gots: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(gots.len(), wants.len());
    let (mut steps, mut worst_obs, mut worst_reward, mut truncated) = (0, 0.0f64, 0.0f64, 0);
    for (line, (want, got)) in wants.iter().zip(&gots).enumerate() {
        let at = format!("l2f_traces.jsonl line {}", line + 1);
        let (ws, gs) = (
            want["steps"].as_array().unwrap(),
            got["steps"].as_array().unwrap(),
        );
        assert_eq!(gs.len(), ws.len(), "{at}: steps");
        for (t, (w, g)) in ws.iter().zip(gs).enumerate() {
            let at = format!("{at} step {}", t + 1);
            let (wo, go) = (numbers(&w["obs"]), numbers(&g["obs"]));
            assert_eq!(go.len(), 82, "{at}");
            for (i, (&g, &w)) in go.iter().zip(&wo).enumerate() {
                let e = error(g, w);
                assert!(e <= TOLERANCE, "{at}: obs[{i}] {g:?} != {w:?}");
                worst_obs = worst_obs.max(e);
            }
            let e = error(g["reward"].as_f64().unwrap(), w["reward"].as_f64().unwrap());
            assert!(
                e <= TOLERANCE,
                "{at}: reward {} != {}",
                g["reward"],
                w["reward"]
            );
            worst_reward = worst_reward.max(e);
            assert_eq!(g["terminated"], w["terminated"], "{at}: terminated");
            assert_eq!(g["truncated"], w["truncated"], "{at}: truncated");
            truncated += usize::from(w["truncated"] == true);
            steps += 1;
        }
    }
    // The fixture covers long flights, not only crashes.
    assert!(
        steps > 2000 && truncated >= 2,
        "{steps} steps, {truncated} truncated"
    );
    eprintln!(
        "l2f_traces.jsonl: {steps} steps agree; largest observation error {worst_obs:e}, \
         largest reward error {worst_reward:e}"
    );
}
