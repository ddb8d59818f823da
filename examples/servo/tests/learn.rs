//! Seeded learning test: PPO learns Servo-v0 through the `servo` binary (picorl's command line
//! with the environment registered), and its int8 export, evaluated through core, holds the
//! target far better than doing nothing and within reach of the tuned PD controller.

use std::process::Command;

use picorl_servo::{pd_episode, Pd};

fn servo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_servo"))
        .args(args)
        .output()
        .expect("runs the servo binary");
    assert!(
        out.status.success(),
        "servo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn field(json: &str, key: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {json}"))
}

#[test]
fn ppo_learns_the_servo_and_its_int8_export_keeps_it() {
    let tmp = std::env::temp_dir().join(format!("picorl-servo-learn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let run = tmp.join("run");
    let file = tmp.join("servo.picorl");
    // The registered PPO config, seed 0, one thread.
    let list = servo(&["env", "list"]);
    assert!(list.lines().any(|l| l.starts_with("Servo-v0")), "{list}");
    servo(&[
        "train",
        "--algo",
        "ppo",
        "--env",
        "Servo-v0",
        "--seed",
        "0",
        "--threads",
        "1",
        "--quiet",
        "--out",
        run.to_str().unwrap(),
    ]);
    servo(&[
        "export",
        run.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
        "--quant",
        "int8",
        "--json",
    ]);
    let host = servo(&[
        "eval",
        file.to_str().unwrap(),
        "--env",
        "Servo-v0",
        "--episodes",
        "20",
        "--seed",
        "0",
        "--json",
    ]);
    let learned = field(&host, "mean_return");
    let pd = (0..20)
        .map(|s| pd_episode(&Pd::TUNED, s).unwrap())
        .sum::<f64>()
        / 20.0;
    // Doing nothing scores about −150 an episode (the mean |target| is π/2 over 300 periods);
    // the tuned PD about −4.8. Measured for this seed: see examples/servo/README.md.
    assert!(learned > THRESHOLD, "learned {learned}, PD {pd}");
    // The picture of an episode.
    let gif = tmp.join("servo.gif");
    servo(&[
        "render",
        run.to_str().unwrap(),
        "--out",
        gif.to_str().unwrap(),
        "--every",
        "10",
    ]);
    assert!(std::fs::metadata(&gif).unwrap().len() > 1000);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The mean return over seeds 0..20 the int8 export must beat.
const THRESHOLD: f64 = -10.0;
