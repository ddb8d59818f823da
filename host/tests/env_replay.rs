//! `picorl env replay`, driven as users drive it: the binary, JSON lines in and out.
//!
//! Replays the Gymnasium 1.4.0 traces that `scripts/gym_traces.py` recorded (core's fixtures)
//! and holds the answers to them: observations to 1e-5 (absolute, relative above 1), rewards
//! exactly (Pendulum-v1's to 1e-5, as core's `tests/gymnasium.rs` explains), both flags exactly.
//! Then bad input: exit status 1 and one `error:` line naming the file, the line and the field.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;

use common::{error, numbers};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/fixtures");
const TOLERANCE: f64 = 1e-5;

/// Runs `picorl args…` with `stdin`; returns (exit code, stdout, stderr).
fn picorl(args: &[&str], stdin: &str) -> (i32, String, String) {
    common::picorl_with_stdin(args, stdin)
}

/// Checks every answered record against the recorded one; returns the steps compared.
fn check(file: &str, input: &str, output: &str) -> usize {
    let inputs: Vec<Value> = input
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outputs: Vec<Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(outputs.len(), inputs.len(), "{file}: one answer per record");
    let mut compared = 0;
    for (line, (want, got)) in inputs.iter().zip(&outputs).enumerate() {
        let id = want["env"].as_str().unwrap();
        let at = format!("{file} line {}", line + 1);
        assert_eq!(got["env"], want["env"], "{at}");
        assert_eq!(
            got.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["env", "steps"],
            "{at}"
        );
        let want_steps = want["steps"].as_array().unwrap();
        let got_steps = got["steps"].as_array().unwrap();
        // The recorded trace ends where Gymnasium's episode ended; so must the replay.
        assert_eq!(got_steps.len(), want_steps.len(), "{at}: steps");
        for (t, (w, g)) in want_steps.iter().zip(got_steps).enumerate() {
            let at = format!("{at} {id} step {}", t + 1);
            let (wo, go) = (numbers(&w["obs"]), numbers(&g["obs"]));
            assert_eq!(go.len(), wo.len(), "{at}: obs length");
            for (i, (&g, &w)) in go.iter().zip(&wo).enumerate() {
                // Gymnasium's float32 against picorl's, both read back from shortest text.
                let w32 = f64::from(w as f32);
                assert!(
                    error(g, w32) <= TOLERANCE,
                    "{at}: obs[{i}] {g:?} != {w32:?}"
                );
            }
            let (wr, gr) = (w["reward"].as_f64().unwrap(), g["reward"].as_f64().unwrap());
            if id == "Pendulum-v1" {
                assert!(error(gr, wr) <= TOLERANCE, "{at}: reward {gr:?} != {wr:?}");
            } else {
                assert_eq!(gr.to_bits(), wr.to_bits(), "{at}: reward {gr:?} != {wr:?}");
            }
            assert_eq!(g["terminated"], w["terminated"], "{at}: terminated");
            assert_eq!(g["truncated"], w["truncated"], "{at}: truncated");
            compared += 1;
        }
    }
    compared
}

#[test]
fn replays_the_deterministic_gymnasium_traces() {
    let path = format!("{FIXTURES}/gym_traces.jsonl");
    let (code, out, err) = picorl(&["env", "replay", &path], "");
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
    let input = std::fs::read_to_string(&path).unwrap();
    let steps = check("gym_traces.jsonl", &input, &out);
    eprintln!("gym_traces.jsonl: {steps} steps agree");
}

#[test]
fn replays_the_stochastic_gymnasium_traces_from_stdin_with_their_draws() {
    let input = std::fs::read_to_string(format!("{FIXTURES}/gym_traces_stochastic.jsonl")).unwrap();
    let (code, out, err) = picorl(&["env", "replay", "-"], &input);
    assert_eq!(code, 0, "{err}");
    let steps = check("gym_traces_stochastic.jsonl", &input, &out);
    eprintln!("gym_traces_stochastic.jsonl: {steps} steps agree");
}

#[test]
fn prints_discrete_obs_as_integers_and_stops_at_the_end() {
    // FrozenLake 4x4, not slippery, from state 14: right (2) reaches the goal (15); the actions
    // after the terminating step are not read, even nonsense.
    let rec = r#"{"env": "FrozenLake-v1", "kwargs": {"is_slippery": false, "render_mode": null}, "initial_state": 14, "steps": [{"action": 2}, {"action": "x"}, {"action": 9}], "seed": 3}"#;
    let (code, out, err) = picorl(&["env", "replay", "-"], &format!("{rec}\n\n{rec}\n"));
    assert_eq!(code, 0, "{err}");
    let want = r#"{"env":"FrozenLake-v1","steps":[{"obs":[15],"reward":1.0,"terminated":true,"truncated":false}]}"#;
    assert_eq!(out, format!("{want}\n{want}\n"), "blank lines are skipped");

    // CartPole: a pole already past 12 degrees falls on the first step.
    let rec = r#"{"env": "CartPole-v1", "initial_state": [0.0, 0.0, 0.25, 0.0], "steps": [{"action": 1}, {"action": 0}]}"#;
    let (code, out, err) = picorl(&["env", "replay", "-"], rec);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(v["steps"][0]["terminated"], true);

    // The time limit counts from the given state as step 0: MountainCar truncates at 200.
    let steps = vec![r#"{"action": 1}"#; 250].join(", ");
    let rec =
        format!(r#"{{"env": "MountainCar-v0", "initial_state": [-0.5, 0.0], "steps": [{steps}]}}"#);
    let (code, out, err) = picorl(&["env", "replay", "-"], &rec);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let s = v["steps"].as_array().unwrap();
    assert_eq!(s.len(), 200);
    assert_eq!(
        (&s[199]["terminated"], &s[199]["truncated"]),
        (&Value::Bool(false), &Value::Bool(true))
    );
}

#[test]
fn observations_print_as_shortest_f32() {
    let rec = r#"{"env": "CartPole-v1", "initial_state": [0.013696168732145436, -0.02302132862361297, -0.045902647606380534, -0.04834723644714709], "steps": [{"action": 0}]}"#;
    let (code, out, err) = picorl(&["env", "replay", "-"], rec);
    assert_eq!(code, 0, "{err}");
    // Gymnasium's own float32s for this step (gym_traces.jsonl, line 1), as numpy prints them.
    assert_eq!(
        out,
        "{\"env\":\"CartPole-v1\",\"steps\":[{\"obs\":[0.013235742,-0.21745604,-0.04686959,0.22950698],\"reward\":1.0,\"terminated\":false,\"truncated\":false}]}\n"
    );
}

#[test]
fn replays_the_host_only_trading_env() {
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/prices.csv");
    // Cash 1 at period 8 (price 99), buy: 1·0.999/99 shares, worth ·108.9 at period 9:
    // 0.999 · 1.1 = 1.0989, a reward of 0.0989 (to rounding); the series ends: terminated.
    let rec = format!(
        r#"{{"env": "Trading-v0", "kwargs": {{"csv": "{csv}", "cost": 0.001}}, "initial_state": [8, 1, 0], "steps": [{{"action": 0}}]}}"#
    );
    let (code, out, err) = picorl(&["env", "replay", "-"], &rec);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let step = &v["steps"][0];
    assert!(
        (step["reward"].as_f64().unwrap() - 0.0989).abs() < 1e-12,
        "{out}"
    );
    assert_eq!(step["terminated"], true);
    assert_eq!(numbers(&step["obs"]).len(), 8);
}

/// Runs the replay on `input` and returns its one error line, checking exit 1, no panic.
fn fails(input: &str) -> String {
    let (code, _, err) = picorl(&["env", "replay", "-"], input);
    assert_eq!(code, 1, "exit status for {input}: stderr {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

#[test]
fn bad_input_is_one_error_line_naming_the_culprit() {
    let good = r#"{"env": "CartPole-v1", "initial_state": [0, 0, 0, 0], "steps": [{"action": 1}]}"#;
    let cases: &[(&str, &str)] = &[
        ("{\"env\": ", "error: <stdin> line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        (
            r#"{"env": "CartPole-v9", "initial_state": [0, 0, 0, 0], "steps": []}"#,
            "line 2: env: unknown environment `CartPole-v9`; known: CartPole-v1",
        ),
        (
            r#"{"initial_state": [0, 0, 0, 0], "steps": []}"#,
            "line 2: env: missing",
        ),
        (
            r#"{"env": "CartPole-v1", "kwargs": {"g": 9.81}, "initial_state": [0, 0, 0, 0], "steps": []}"#,
            "line 2: kwargs: CartPole-v1 does not take option g",
        ),
        (
            r#"{"env": "CartPole-v1", "kwargs": {"gravity": 9.81}, "initial_state": [0, 0, 0, 0], "steps": []}"#,
            "line 2: kwargs.gravity: unknown environment option",
        ),
        (
            r#"{"env": "FrozenLake-v1", "kwargs": {"map_name": null}, "initial_state": 0, "steps": []}"#,
            "line 2: kwargs.map_name: bad value for option map_name",
        ),
        (
            r#"{"env": "FrozenLake-v1", "kwargs": {"is_slippery": "maybe"}, "initial_state": 0, "steps": []}"#,
            "line 2: kwargs.is_slippery: bad value for option is_slippery",
        ),
        (
            r#"{"env": "CartPole-v1", "kwargs": [1], "initial_state": [0, 0, 0, 0], "steps": []}"#,
            "line 2: kwargs: expected an object",
        ),
        (
            r#"{"env": "CartPole-v1", "initial_state": [0.1, 0.2], "steps": []}"#,
            "line 2: initial_state: state has length 2, expected 4",
        ),
        (
            r#"{"env": "CartPole-v1", "initial_state": [0.1, "x", 0, 0], "steps": []}"#,
            "line 2: initial_state[1]: expected a number",
        ),
        (
            r#"{"env": "FrozenLake-v1", "initial_state": 16, "steps": []}"#,
            "line 2: initial_state: state value 0 is invalid",
        ),
        (
            r#"{"env": "CartPole-v1", "steps": []}"#,
            "line 2: initial_state: missing",
        ),
        (
            r#"{"env": "CartPole-v1", "initial_state": [0, 0, 0, 0]}"#,
            "line 2: steps: missing",
        ),
        (
            r#"{"env": "CartPole-v1", "initial_state": [0, 0, 0, 0], "steps": [{"action": 1}, {"action": 5}]}"#,
            "line 2: steps[1].action: action 5 is out of range 0..2",
        ),
        (
            r#"{"env": "CartPole-v1", "initial_state": [0, 0, 0, 0], "steps": [{"action": -1}]}"#,
            "line 2: steps[0].action: expected an integer in 0..2, got -1",
        ),
        (
            r#"{"env": "CartPole-v1", "initial_state": [0, 0, 0, 0], "steps": [{"action": [0.5]}]}"#,
            "line 2: steps[0].action: expected an integer in 0..2, got a list",
        ),
        (
            r#"{"env": "CartPole-v1", "initial_state": [0, 0, 0, 0], "steps": [{}]}"#,
            "line 2: steps[0].action: missing",
        ),
        (
            r#"{"env": "Pendulum-v1", "initial_state": [0, 0], "steps": [{"action": [0.5, 1]}]}"#,
            "line 2: steps[0].action: action has 2 components, expected 1",
        ),
        (
            r#"{"env": "Pendulum-v1", "initial_state": [0, 0], "steps": [{"action": "x"}]}"#,
            "line 2: steps[0].action: expected a list of 1 numbers, got a string",
        ),
        (
            r#"{"env": "FrozenLake-v1", "initial_state": 0, "steps": [{"action": 1, "u": 1.5}]}"#,
            "line 2: steps[0].u: expected numbers in [0, 1), got 1.5",
        ),
        (
            r#"{"env": "FrozenLake-v1", "initial_state": 0, "steps": [{"action": 1, "choice": 0}]}"#,
            "line 2: steps[0]: the environment needed a uniform draw (\"u\") that the step does not carry",
        ),
        (
            r#"{"env": "Trading-v0", "kwargs": {"window": 9}, "initial_state": [6, 1, 0], "steps": []}"#,
            "line 2: Trading-v0: option window=9: expected an integer in 1..=6",
        ),
    ];
    // The messages, through the library (what the binary prints after `error: `): a process a
    // case would spend most of its time loading libtorch.
    for (bad, want) in cases {
        let input = format!("{good}\n{bad}\n{good}\n");
        let mut out = Vec::new();
        let e =
            picorl_host::envs::replay::replay(input.as_bytes(), &mut out, "<stdin>").unwrap_err();
        let line = format!("error: {e:#}");
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(line.contains(want), "{bad}\n  gave: {line}\n  want: {want}");
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            1,
            "{bad}: line 1 answered"
        );
    }
    // And through the binary, a few: exit status 1, one line on stderr.
    for (bad, want) in [cases[0], cases[14], cases[22]] {
        let line = fails(&format!("{good}\n{bad}\n"));
        assert!(line.contains(want), "{bad}\n  gave: {line}\n  want: {want}");
    }
    // Invalid UTF-8.
    let (code, _, err) = {
        let mut child = Command::new(common::BIN)
            .args(["env", "replay", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"\xff\xfe\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            (),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    assert_eq!(
        (code, err.trim()),
        (Some(1), "error: <stdin> line 1: not UTF-8 text")
    );
}

#[test]
fn the_records_before_a_bad_one_are_answered() {
    let good = r#"{"env": "CartPole-v1", "initial_state": [0, 0, 0, 0], "steps": [{"action": 1}]}"#;
    let (code, out, err) = picorl(&["env", "replay", "-"], &format!("{good}\n{good}\nnope\n"));
    assert_eq!(code, 1);
    assert_eq!(out.lines().count(), 2);
    assert!(
        err.starts_with("error: <stdin> line 3: not valid JSON"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-trace.jsonl");
    let path = path.to_str().unwrap();
    let (code, _, err) = picorl(&["env", "replay", path], "");
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!("error: {path}: ")) && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn env_list_lists_trading() {
    let (code, out, err) = picorl(&["env", "list"], "");
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("Trading-v0"))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, ["Trading-v0", "Box(8)", "Discrete(3)", "none"]);
    assert!(out.lines().any(|l| l.starts_with("CartPole-v1")));
}
