//! Hover success of exported `Quadrotor-v0` policies, through core (the firmware's code).
//!
//! ```sh
//! cargo run --release -p picorl-benches --example hover -- f32.picorl int8.picorl [--episodes 100] [--seed 10000]
//! ```
//!
//! An episode succeeds when the vehicle is still flying at the time limit (500 steps, 5 s: no
//! termination) and stayed within 0.1 m of the target for the whole last second (100 steps).
//! Episode i resets with seed `S + i` (`picorl eval`'s seeds; 10000 by default, the evaluation
//! seeds of training). Prints one JSON line per file:
//! `{"file", "episodes", "success", "mean_return", "median_final_distance"}`; with two files, a
//! last line `{"success_difference_points", "episodes_that_differ"}`.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::{make, Env, EnvOptions};
use picorl_host::eval::{Actor, OwnedAction};
use picorl_host::picorl_file::{CoreActor, PicorlFile};

const LAST_SECOND: usize = 100;
const RADIUS: f32 = 0.1;

struct Outcome {
    success: Vec<bool>,
    returns: Vec<f64>,
    final_distance: Vec<f32>,
}

fn fly(path: &Path, episodes: u64, seed: u64) -> Result<Outcome> {
    let file = PicorlFile::load(path).with_context(|| format!("{}", path.display()))?;
    let mut policy = file.policy()?;
    let mut actor = CoreActor(&mut policy);
    let mut env = make("Quadrotor-v0", &EnvOptions::new()).map_err(|e| anyhow!("{e}"))?;
    let mut obs = vec![0.0f32; env.spec().obs_dim()];
    let mut out = Outcome {
        success: Vec::new(),
        returns: Vec::new(),
        final_distance: Vec::new(),
    };
    for i in 0..episodes {
        env.reset(Some(seed + i), &mut obs)
            .map_err(|e| anyhow!("{e}"))?;
        let (mut ret, mut near, mut crashed) = (0.0, 0usize, false);
        loop {
            let a = match actor.act(&obs)? {
                OwnedAction::Continuous(a) => a,
                OwnedAction::Discrete(_) => bail!("{}: not a continuous policy", path.display()),
            };
            let r = env
                .step(picorl_core::env::Action::Continuous(&a), &mut obs)
                .map_err(|e| anyhow!("{e}"))?;
            ret += r.reward;
            let d = (obs[0] * obs[0] + obs[1] * obs[1] + obs[2] * obs[2]).sqrt();
            near = if d <= RADIUS { near + 1 } else { 0 };
            if r.done() {
                crashed = r.terminated;
                out.final_distance.push(d);
                break;
            }
        }
        out.success.push(!crashed && near >= LAST_SECOND);
        out.returns.push(ret);
    }
    Ok(out)
}

fn main() -> Result<()> {
    let mut files = Vec::new();
    let (mut episodes, mut seed) = (100u64, 10_000u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--episodes" => episodes = args.next().context("--episodes N")?.parse()?,
            "--seed" => seed = args.next().context("--seed S")?.parse()?,
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        bail!("usage: hover FILE.picorl [FILE2.picorl] [--episodes N] [--seed S]");
    }
    let mut outcomes = Vec::new();
    for f in &files {
        let o = fly(Path::new(f), episodes, seed)?;
        let share = o.success.iter().filter(|&&s| s).count() as f64 / episodes as f64;
        let mean = o.returns.iter().sum::<f64>() / episodes as f64;
        let mut d = o.final_distance.clone();
        d.sort_by(f32::total_cmp);
        println!(
            "{{\"file\": {f:?}, \"episodes\": {episodes}, \"success\": {share:?}, \"mean_return\": {mean:?}, \"median_final_distance\": {:?}}}",
            d[d.len() / 2]
        );
        outcomes.push(o);
    }
    if let [a, b] = outcomes.as_slice() {
        let count = |o: &Outcome| o.success.iter().filter(|&&s| s).count() as i64;
        let differ = a
            .success
            .iter()
            .zip(&b.success)
            .filter(|(x, y)| x != y)
            .count();
        println!(
            "{{\"success_difference_points\": {:?}, \"episodes_that_differ\": {differ}}}",
            (count(a) - count(b)).abs() as f64 * 100.0 / episodes as f64
        );
    }
    Ok(())
}
