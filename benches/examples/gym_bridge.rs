//! The Gymnasium bridge's own cost: `gym:CartPole-v1` x8 stepped by picorl through one
//! vectorized Python worker, against the same 8 environments stepped in-process by Gymnasium's
//! `SyncVectorEnv` (same-step autoreset, as picorl's), both with the same action pattern.
//! Each side: the best of 7 rounds of 2,000 vector steps (a shared machine's load only slows a
//! round down). The goal: picorl at least half of Gymnasium's steps per second.
//!
//! `cargo run --release -p picorl-benches --example gym_bridge` (needs the venv's gymnasium;
//! prints one JSON line).
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use picorl_host::envs::vec_env::Actions;

const COPIES: usize = 8;
const STEPS: usize = 2000;
const ROUNDS: usize = 7;

/// Gymnasium's own figure: env-steps per second of `SyncVectorEnv`, best of the rounds.
const PYTHON: &str = r#"
import sys, time
import numpy as np
import gymnasium as gym
n, steps, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
env = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(n)],
                               autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
env.reset(seed=0)
acts = [np.array([(t * 7 + i * 3) % 2 for i in range(n)]) for t in range(steps)]
best = 0.0
for _ in range(rounds):
    t0 = time.perf_counter()
    for a in acts:
        env.step(a)
    best = max(best, n * steps / (time.perf_counter() - t0))
print(best)
"#;

fn main() -> anyhow::Result<()> {
    let python = picorl_host::envs::gym::python();
    let out = Command::new(&python)
        .args(["-c", PYTHON])
        .args([COPIES.to_string(), STEPS.to_string(), ROUNDS.to_string()])
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "{}: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let gymnasium: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;

    let mut v = picorl_host::envs::gym::make_vec("gym:CartPole-v1", &BTreeMap::new(), COPIES)?;
    v.reset(0)?;
    let acts: Vec<Vec<u32>> = (0..STEPS as u32)
        .map(|t| (0..COPIES as u32).map(|i| (t * 7 + i * 3) % 2).collect())
        .collect();
    let mut picorl: f64 = 0.0;
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        for a in &acts {
            v.step(Actions::Discrete(a))?;
        }
        picorl = picorl.max((COPIES * STEPS) as f64 / t0.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "env": "CartPole-v1",
            "copies": COPIES,
            "gymnasium_sync_vector_steps_per_s": gymnasium.round(),
            "picorl_bridge_steps_per_s": picorl.round(),
            "ratio": (picorl / gymnasium * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}
