//! `picorl bench` as docs/cli.md specifies it: `picorl bench FILE [--iterations N] [--json]`
//! prints `{"ns_per_inference": x, "macs": m, "iterations": n}` and nothing else on stdout; bad
//! input is exit 1 (2 for usage errors) with one `error:` line naming the culprit.
use std::process::Command;

use serde_json::Value;

const PICORL: &str = env!("CARGO_BIN_EXE_picorl");
/// The PPO CartPole-v1 policy the firmware embeds: 4-64-64-2, int8.
const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../firmware-example/policies/cartpole-ppo-int8.picorl"
);

fn picorl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(PICORL)
        .args(args)
        .output()
        .expect("run picorl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn json_is_the_contract_object() {
    let (code, stdout, stderr) = picorl(&["bench", POLICY, "--iterations", "2000", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one line on stdout: {stdout}");
    let v: Value = serde_json::from_str(&stdout).expect("JSON");
    let o = v.as_object().expect("an object");
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    assert_eq!(keys, ["ns_per_inference", "macs", "iterations"]);
    // 4·64 + 64·64 + 64·2 multiply-accumulates.
    assert_eq!(o["macs"].as_u64(), Some(4480));
    assert_eq!(o["iterations"].as_u64(), Some(2000));
    let ns = o["ns_per_inference"].as_f64().expect("a number");
    assert!(ns > 0.0 && ns.is_finite(), "{ns}");
}

#[test]
fn text_output_names_the_figures() {
    let (code, stdout, stderr) = picorl(&["bench", POLICY, "--iterations", "100"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("ns per inference") && stdout.contains("4480 MACs"),
        "{stdout}"
    );
}

#[test]
fn bad_input_is_one_error_line() {
    let dir = std::env::temp_dir().join(format!("picorl-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.picorl");
    let damaged = dir.join("damaged.picorl");
    let mut bytes = std::fs::read(POLICY).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&damaged, &bytes).unwrap();
    for (path, expect_code) in [(&missing, 1), (&damaged, 1)] {
        let p = path.to_str().unwrap();
        let (code, stdout, stderr) = picorl(&["bench", p, "--json"]);
        assert_eq!(code, expect_code, "{p}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].starts_with("error:") && lines[0].contains(p),
            "{stderr}"
        );
    }
    // A usage error: exit 2, naming the option.
    let (code, _, stderr) = picorl(&["bench", POLICY, "--iterations", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--iterations"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
