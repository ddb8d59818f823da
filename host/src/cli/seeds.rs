//! `picorl train --seeds 0..5`: one run per seed, each its own `picorl train` process in its own
//! run directory under `--out` (`seed-0`, `seed-1`, …, each with its log `seed-N.log` beside it),
//! as many side by side as the machine has cores (each with its share of the threads), then
//! `picorl plot` of them (`seeds.png`). Stdout gets one summary JSON line per seed, in seed
//! order. SIGINT or SIGTERM is passed on to every running seed, which checkpoints; the `--resume`
//! line of each unfinished seed is printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::TrainArgs;
use crate::train::progress::count;
use crate::with_algo;

/// The most seeds one command runs.
pub const MAX_SEEDS: usize = 1000;

/// Parses `A..B` (B excluded), `A..=B`, or a list `0,3,7`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>> {
    let bad =
        || anyhow!("--seeds {text}: expected A..B (B excluded), A..=B or a list such as 0,3,7");
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let seeds: Vec<u64> = if let Some((a, b)) = text.split_once("..=") {
        let (a, b) = (num(a)?, num(b)?);
        if b < a {
            return Err(bad());
        }
        (a..=b).take(MAX_SEEDS + 1).collect()
    } else if let Some((a, b)) = text.split_once("..") {
        let (a, b) = (num(a)?, num(b)?);
        if b <= a {
            bail!("--seeds {text}: an empty range (B is excluded: 0..5 is seeds 0 to 4)");
        }
        (a..b).take(MAX_SEEDS + 1).collect()
    } else {
        text.split(',').map(num).collect::<Result<_>>()?
    };
    if seeds.len() > MAX_SEEDS {
        bail!("--seeds {text}: at most {MAX_SEEDS} seeds in one command");
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(s) = seeds.iter().find(|s| !seen.insert(**s)) {
        bail!("--seeds {text}: seed {s} is given twice");
    }
    Ok(seeds)
}

/// Runs `picorl train` once per seed of `a.seeds`.
pub fn train_seeds(a: &TrainArgs) -> Result<()> {
    let text = a.seeds.as_deref().unwrap_or_default();
    let seeds = parse_seeds(text)?;
    let (Some(algo), Some(env)) = (a.algo.clone(), a.env.clone()) else {
        bail!("--algo and --env are required");
    };
    // Every option is checked here once, before any seed starts.
    with_algo!(algo.as_str(), A => crate::cli::resolve::<A>(a, &algo, &env).map(|_| ()))?;
    let cores = crate::cli::limits::cores();
    let threads_each = if a.threads > 0 {
        crate::cli::limits::threads(a.threads as usize, a.force_threads)?;
        a.threads as usize
    } else {
        1
    };
    let parallel = (cores / threads_each).clamp(1, seeds.len());
    let parent = a.out.clone().unwrap_or_else(|| {
        let stamp = crate::train::files::default_run_dir(&algo, &env, 0);
        let name = stamp
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let time = name
            .strip_prefix(&format!("{algo}-{env}-0-"))
            .unwrap_or(&name)
            .to_string();
        PathBuf::from("runs").join(format!("{algo}-{env}-seeds-{time}"))
    });
    crate::cli::check_new_run_dir(&parent)?;
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("--out {}: creating it", parent.display()))?;
    crate::train::signal::install()?;
    eprintln!(
        "{} seeds of {algo} on {env}, {parallel} at a time ({threads_each} thread{} each) under {}",
        seeds.len(),
        if threads_each == 1 { "" } else { "s" },
        parent.display()
    );

    let exe = std::env::current_exe().context("finding the picorl binary")?;
    let mut waiting: Vec<u64> = seeds.iter().rev().copied().collect();
    let mut running: Vec<(u64, Child)> = Vec::new();
    let mut summaries: BTreeMap<u64, serde_json::Value> = BTreeMap::new();
    let mut failed: Vec<(u64, String)> = Vec::new();
    let mut interrupted: Vec<u64> = Vec::new();
    let mut signal: Option<crate::train::signal::Signal> = None;
    while !waiting.is_empty() || !running.is_empty() {
        if signal.is_none() {
            if let Some(sig) = crate::train::signal::received() {
                signal = Some(sig);
                // Each seed runs in its own process group (a terminal's Ctrl-C reaches only
                // this process): each gets the signal once, from here.
                for (_, child) in &running {
                    let _ = Command::new("kill")
                        .arg(format!("-{}", sig.0))
                        .arg(child.id().to_string())
                        .status();
                }
                waiting.clear();
            }
        }
        while running.len() < parallel && signal.is_none() {
            let Some(seed) = waiting.pop() else { break };
            running.push((seed, spawn(&exe, a, &parent, seed, threads_each)?));
        }
        let mut i = 0;
        while i < running.len() {
            let Some(status) = running[i].1.try_wait()? else {
                i += 1;
                continue;
            };
            let (seed, mut child) = running.remove(i);
            let mut out = String::new();
            if let Some(mut o) = child.stdout.take() {
                use std::io::Read;
                let _ = o.read_to_string(&mut out);
            }
            let dir = run_dir(&parent, seed);
            if status.success() {
                let summary: serde_json::Value = serde_json::from_str(out.trim())
                    .with_context(|| format!("seed {seed}: its summary"))?;
                eprintln!("seed {seed}: {}", crate::cli::summary_line(&summary, &dir));
                summaries.insert(seed, summary);
            } else if signal.is_some() && status.code().is_some_and(|c| c > 128) {
                interrupted.push(seed);
            } else {
                let log = log_path(&parent, seed);
                let last = std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .lines()
                    .rfind(|l| l.starts_with("error:"))
                    .map(|l| l.trim_start_matches("error: ").to_string())
                    .unwrap_or_else(|| format!("exit status {status}"));
                eprintln!("seed {seed} failed: {last} (log: {})", log.display());
                failed.push((seed, last));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for s in summaries.values() {
        println!("{s}");
    }
    if let Some(sig) = signal {
        interrupted.sort_unstable();
        eprintln!(
            "{}: {} of {} seeds finished; resume the others with:",
            sig.name(),
            summaries.len(),
            seeds.len()
        );
        for seed in &interrupted {
            eprintln!(
                "picorl train --resume {}",
                crate::train::shell_word(&run_dir(&parent, *seed).display().to_string())
            );
        }
        return Err(crate::util::pipe::Interrupted {
            code: sig.exit_code(),
        }
        .into());
    }
    if !summaries.is_empty() {
        // `picorl plot` of the seeds, its report on stderr: stdout holds the summaries only.
        let out = parent.join("seeds.png");
        let plotted = Command::new(&exe)
            .arg("plot")
            .args(summaries.keys().map(|s| run_dir(&parent, *s)))
            .arg("--out")
            .arg(&out)
            .stdout(std::io::stderr())
            .status();
        match plotted {
            Ok(s) if s.success() => eprintln!("plot of the seeds: {}", out.display()),
            Ok(s) => eprintln!("warning: {} not drawn (picorl plot: {s})", out.display()),
            Err(e) => eprintln!("warning: {} not drawn: {e}", out.display()),
        }
    }
    if let Some((seed, e)) = failed.first() {
        bail!(
            "{} of {} seeds failed (first: seed {seed}: {e})",
            failed.len(),
            seeds.len()
        );
    }
    eprintln!(
        "{} seeds done: mean of the last evaluations {} — {}",
        count(summaries.len() as u64),
        mean_of_last(&summaries),
        parent.display()
    );
    Ok(())
}

fn mean_of_last(summaries: &BTreeMap<u64, serde_json::Value>) -> String {
    let v: Vec<f64> = summaries
        .values()
        .filter_map(|s| s["final_eval_mean"].as_f64())
        .collect();
    if v.is_empty() {
        return "-".into();
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    format!(
        "{} ± {} over seeds",
        crate::train::progress::num(m),
        crate::train::progress::num(sd)
    )
}

fn run_dir(parent: &Path, seed: u64) -> PathBuf {
    parent.join(format!("seed-{seed}"))
}

fn log_path(parent: &Path, seed: u64) -> PathBuf {
    parent.join(format!("seed-{seed}.log"))
}

/// Starts `picorl train` for one seed, with the same options, in its own process group.
fn spawn(exe: &Path, a: &TrainArgs, parent: &Path, seed: u64, threads: usize) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(exe);
    c.arg("train");
    c.args(["--algo", a.algo.as_deref().unwrap_or_default()]);
    c.args(["--env", a.env.as_deref().unwrap_or_default()]);
    if let Some(p) = &a.config {
        c.arg("--config").arg(p);
    }
    for s in &a.set {
        c.arg(format!("--set={s}"));
    }
    for k in &a.env_kwargs {
        c.arg(format!("--env-kwargs={k}"));
    }
    c.args(["--seed", &seed.to_string(), "--device", &a.device]);
    c.args(["--threads", &threads.to_string()]);
    if a.force_threads {
        c.arg("--force-threads");
    }
    let opt = |c: &mut Command, name: &str, v: Option<String>| {
        if let Some(v) = v {
            c.arg(format!("{name}={v}"));
        }
    };
    opt(
        &mut c,
        "--total-steps",
        a.total_steps.map(|v| v.to_string()),
    );
    opt(&mut c, "--eval-every", a.eval_every.map(|v| v.to_string()));
    opt(
        &mut c,
        "--eval-episodes",
        a.eval_episodes.map(|v| v.to_string()),
    );
    opt(
        &mut c,
        "--stop-at-return",
        a.stop_at_return.map(|v| format!("{v:?}")),
    );
    opt(&mut c, "--save-every", a.save_every.map(|v| v.to_string()));
    c.arg("--out").arg(run_dir(parent, seed));
    let log = std::fs::File::create(log_path(parent, seed))
        .with_context(|| format!("creating {}", log_path(parent, seed).display()))?;
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0);
    c.spawn()
        .with_context(|| format!("starting seed {seed} ({})", exe.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists() {
        assert_eq!(parse_seeds("0..5").unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(parse_seeds("2..=4").unwrap(), vec![2, 3, 4]);
        assert_eq!(parse_seeds("0,3,7").unwrap(), vec![0, 3, 7]);
        for bad in ["5..5", "5..2", "a..b", "1,,2", "0..100000", "1,1"] {
            assert!(parse_seeds(bad).is_err(), "{bad}");
        }
    }
}
