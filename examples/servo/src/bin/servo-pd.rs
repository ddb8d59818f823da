//! `servo-pd`: the PD baseline on `Servo-v0`, evaluated as `picorl eval` evaluates a policy
//! (episode i resets with seed S+i), or tuned on other seeds.
//!
//! ```text
//! servo-pd [--episodes N] [--seed S] [--json]      # Pd::TUNED
//! servo-pd --tune                                  # the grid search behind Pd::TUNED
//! ```
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use picorl_servo::{pd_episode, Pd};

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn returns(pd: &Pd, seed: u64, episodes: u64) -> Result<Vec<f64>> {
    (0..episodes)
        .map(|i| pd_episode(pd, seed + i).map_err(|e| anyhow::anyhow!("seed {}: {e}", seed + i)))
        .collect()
}

fn run() -> Result<()> {
    let (mut episodes, mut seed, mut json, mut tune) = (10u64, 0u64, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> Result<u64> {
            let v = args
                .next()
                .with_context(|| format!("{name} needs a number"))?;
            v.parse()
                .with_context(|| format!("{name} {v}: expected a non-negative integer"))
        };
        match a.as_str() {
            "--episodes" => episodes = value("--episodes")?,
            "--seed" => seed = value("--seed")?,
            "--json" => json = true,
            "--tune" => tune = true,
            other => {
                bail!("unknown option {other} (options: --episodes N, --seed S, --json, --tune)")
            }
        }
    }
    if episodes == 0 {
        bail!("--episodes must be positive");
    }
    if tune {
        // Tuning seeds 1000..1100: disjoint from evaluation's 0.. and training's 10000..
        let mut best = (f64::NEG_INFINITY, Pd::TUNED);
        for kp in [
            0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 24.0, 32.0, 48.0, 64.0,
        ] {
            for kd in [
                0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.16,
            ] {
                let pd = Pd { kp, kd };
                let m = mean(&returns(&pd, 1000, 100)?);
                if m > best.0 {
                    best = (m, pd);
                }
            }
        }
        println!(
            "best kp={:?} kd={:?} mean_return={:?} (seeds 1000..1100)",
            best.1.kp, best.1.kd, best.0
        );
        return Ok(());
    }
    let pd = Pd::TUNED;
    let r = returns(&pd, seed, episodes)?;
    let m = mean(&r);
    let std = (r.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / r.len() as f64).sqrt();
    let seeds: Vec<u64> = (seed..seed + episodes).collect();
    if json {
        println!(
            "{{\"controller\": \"pd\", \"kp\": {:?}, \"kd\": {:?}, \"episodes\": {episodes}, \"seeds\": {seeds:?}, \"returns\": {r:?}, \"mean_return\": {m:?}, \"std_return\": {std:?}}}",
            pd.kp, pd.kd
        );
    } else {
        println!("{:>8} {:>12}", "seed", "return");
        for (s, x) in seeds.iter().zip(&r) {
            println!("{s:>8} {:>12}", format!("{x:?}"));
        }
        println!(
            "mean_return={m:?} std_return={std:?} episodes={episodes} (PD kp={:?} kd={:?})",
            pd.kp, pd.kd
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
