//! `picorl tune`: hyper-parameter search on Optuna. Optuna is the engine (its TPE sampler, its
//! median or successive-halving pruner, its storages); picorl supplies the trials. Each trial is a
//! `picorl train` run in `OUT/trial-K`, on one seed, with sampled `--set` values; its evaluations
//! are reported to the pruner as they are written, and a pruned run is stopped.
//!
//! The driver is Python (`host/python/tune.py`, with the search spaces in
//! `host/python/tune_spaces.py`), embedded in the binary and run with the project venv's
//! interpreter; this module checks the options, runs it, and turns its `tune.json` into
//! `best.toml` (a config `picorl train --config` takes), the summary table and a plot of the best
//! trials. The study lives in `OUT/study.db` (SQLite) unless `--storage` names another database:
//! with `postgresql://…` workers on many machines share one study.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::json;

use crate::train::config::ResolvedConfig;
use crate::train::files::write_atomic;

/// The driver and the search spaces, written to `OUT/.picorl-tune/` for the interpreter.
const DRIVER: &str = include_str!("../python/tune.py");
const SPACES: &str = include_str!("../python/tune_spaces.py");

/// The `after_help` of `picorl tune`.
pub const TUNE_HELP: &str = "\
Objective (maximized): the mean return of the run's last evaluation; with --stop-at-return R, a
run that reached R scores R + 1 - solved_at_step / total_steps (every solved run above every
unsolved one, the fewer steps the better). Every trial trains on the same --seed.

Storage: by default OUT/study.db (SQLite, nothing to install). With --storage postgresql://USER@HOST/DB
every worker, on any machine, that names the same storage and --study adds its trials to one
study; --trials counts this worker's trials. A worker stopped with Ctrl-C or SIGTERM marks its
running trials failed; one killed outright is marked failed by the next worker to start a trial,
once its heartbeat is --heartbeat x 3 seconds old.

OUT gets trial-K/ (a run directory per trial), logs/trial-K.log (its stderr), tune.json (every
trial of the study), best.toml (the best trial's config: picorl train --config OUT/best.toml) and
best_trials.png (the best five trials run here, picorl plot --by-run).

Search spaces (host/python/tune_spaces.py, after rl-baselines3-zoo's hyperparams_opt.py) are
overridden with --space FILE.toml, a table per key:
  [learning_rate]
  float = [1e-4, 1e-2]
  log = true
  [hidden]
  choices = [[32, 32], [64, 64]]
  [ent_coef]
  value = 0.0

Examples:
  picorl tune --algo ppo --env CartPole-v1 --trials 50 --jobs 2 --stop-at-return 475 --out tune/ppo
  picorl tune --algo dqn --env CartPole-v1 --trials 20 --storage postgresql://tune@db/optuna --study dqn-cp";

/// What `picorl tune` does, from its arguments (`picorl tune --help` says what each
/// means and defaults to).
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// `--algo`.
    pub algo: String,
    /// `--env`.
    pub env: String,
    /// `--trials`.
    pub trials: u32,
    /// `--jobs`.
    pub jobs: u32,
    /// `--storage`.
    pub storage: Option<String>,
    /// `--study`.
    pub study: Option<String>,
    /// `--out`.
    pub out: Option<PathBuf>,
    /// `--seed`.
    pub seed: u64,
    /// `--sampler-seed`.
    pub sampler_seed: Option<u64>,
    /// `--pruner`.
    pub pruner: String,
    /// `--space`.
    pub space: Option<PathBuf>,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--total-steps`.
    pub total_steps: Option<u64>,
    /// `--eval-every`.
    pub eval_every: Option<u64>,
    /// `--eval-episodes`.
    pub eval_episodes: Option<u32>,
    /// `--stop-at-return`.
    pub stop_at_return: Option<f64>,
    /// `--threads`.
    pub threads: usize,
    /// `--device`.
    pub device: String,
    /// `--heartbeat`.
    pub heartbeat: u32,
    /// `--json`.
    pub json: bool,
    /// `--finish`.
    pub finish: bool,
}

/// One trial of `tune.json`.
#[derive(Debug, Deserialize)]
struct Trial {
    number: u64,
    state: String,
    value: Option<f64>,
    params: serde_json::Map<String, serde_json::Value>,
    dir: Option<String>,
    train_seconds: Option<f64>,
    eval_seconds: Option<f64>,
    duration_seconds: Option<f64>,
    solved_at_step: Option<u64>,
}

/// The best trial, with its run's `config.toml`.
#[derive(Debug, Deserialize)]
struct Best {
    #[serde(flatten)]
    trial: Trial,
    config_toml: Option<String>,
}

/// `tune.json`, as the driver writes it.
#[derive(Debug, Deserialize)]
struct Report {
    study: String,
    storage: String,
    wall_seconds: f64,
    trials: Vec<Trial>,
    best: Option<Best>,
}

/// `picorl tune`.
pub fn tune(a: TuneOptions) -> Result<()> {
    if !crate::algo::NAMES.contains(&a.algo.as_str()) {
        bail!(
            "--algo {}: expected one of {}",
            a.algo,
            crate::algo::NAMES.join(", ")
        );
    }
    if !a.env.starts_with("gym:") {
        crate::envs::spec(&a.env).with_context(|| format!("--env {}", a.env))?;
    }
    for (flag, p) in [("--space", &a.space), ("--config", &a.config)] {
        if let Some(p) = p {
            if !p.is_file() {
                bail!("{flag} {}: no such file", p.display());
            }
        }
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("tune/{}-{}", a.algo, a.env)));
    if a.finish {
        return finish(&a, &out);
    }
    let driver_dir = out.join(".picorl-tune");
    std::fs::create_dir_all(&driver_dir)
        .with_context(|| format!("--out {}: creating it", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("--out {}", out.display()))?;
    let driver_dir = out.join(".picorl-tune");
    write_atomic(&driver_dir.join("tune.py"), DRIVER.as_bytes())?;
    write_atomic(&driver_dir.join("tune_spaces.py"), SPACES.as_bytes())?;
    let storage = a
        .storage
        .clone()
        .unwrap_or_else(|| format!("sqlite:///{}", out.join("study.db").display()));
    let study = a
        .study
        .clone()
        .unwrap_or_else(|| format!("{}-{}", a.algo, a.env));
    let exe = std::env::current_exe().context("finding the picorl binary for the trials")?;

    let mut train_args: Vec<String> = vec![
        "--threads".into(),
        a.threads.to_string(),
        "--device".into(),
        a.device.clone(),
    ];
    let abs = |p: &Path| -> Result<String> {
        Ok(p.canonicalize()
            .with_context(|| p.display().to_string())?
            .display()
            .to_string())
    };
    if let Some(c) = &a.config {
        train_args.extend(["--config".into(), abs(c)?]);
    }
    if let Some(n) = a.total_steps {
        train_args.extend(["--total-steps".into(), n.to_string()]);
    }
    if let Some(n) = a.eval_every {
        train_args.extend(["--eval-every".into(), n.to_string()]);
    }
    if let Some(n) = a.eval_episodes {
        train_args.extend(["--eval-episodes".into(), n.to_string()]);
    }
    if let Some(r) = a.stop_at_return {
        train_args.extend(["--stop-at-return".into(), format!("{r:?}")]);
    }
    let python = crate::envs::gym::python();
    let mut cmd = Command::new(&python);
    cmd.arg(driver_dir.join("tune.py"))
        .args(["--picorl", &exe.display().to_string()])
        .args(["--algo", &a.algo, "--env", &a.env])
        .args([
            "--trials",
            &a.trials.to_string(),
            "--jobs",
            &a.jobs.to_string(),
        ])
        .args(["--storage", &storage, "--study", &study])
        .args(["--out", &out.display().to_string()])
        .args(["--seed", &a.seed.to_string(), "--pruner", &a.pruner])
        .args(["--heartbeat", &a.heartbeat.to_string()]);
    if let Some(s) = a.sampler_seed {
        cmd.args(["--sampler-seed", &s.to_string()]);
    }
    if let Some(s) = &a.space {
        cmd.args(["--space", &abs(s)?]);
    }
    if let Some(r) = a.stop_at_return {
        cmd.args(["--stop-at-return", &format!("{r:?}")]);
    }
    for t in &train_args {
        cmd.arg(format!("--train-arg={t}"));
    }
    // What the driver runs when its trials are done: this command's summary.
    let mut finish_argv = vec![
        "tune".to_string(),
        "--finish".into(),
        "--algo".into(),
        a.algo.clone(),
        "--env".into(),
        a.env.clone(),
        "--trials".into(),
        a.trials.to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    if a.json {
        finish_argv.push("--json".into());
    }
    cmd.arg(format!("--finish={}", serde_json::to_string(&finish_argv)?));
    let _ = std::fs::remove_file(out.join("tune.json"));
    // The driver takes this process's place, so that a signal to this worker (Ctrl-C, a
    // scheduler's SIGTERM) reaches the process that marks the running trials failed; it prints
    // its own `error:` line and exits 1 on failure, and runs `picorl tune --finish` at the end.
    let err = std::os::unix::process::CommandExt::exec(&mut cmd);
    Err(anyhow!(
        "tune: running the driver with {}: {err} (set PICORL_PYTHON to the project venv's python)",
        python.display()
    ))
}

/// `best.toml`, the table (or JSON) and the plot, from the driver's `tune.json`.
fn finish(a: &TuneOptions, out: &Path) -> Result<()> {
    let path = out.join("tune.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let r: Report = serde_json::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let count = |s: &str| r.trials.iter().filter(|t| t.state == s).count();
    let best_toml = out.join("best.toml");
    if let Some(b) = &r.best {
        let cfg_text = b
            .config_toml
            .as_deref()
            .ok_or_else(|| anyhow!("{}: the best trial has no config", path.display()))?;
        write_atomic(&best_toml, best_config(cfg_text, b, &r)?.as_bytes())?;
    }
    // The best five trials that ran here (their run directories are on this machine).
    let mut done: Vec<&Trial> = r
        .trials
        .iter()
        .filter(|t| t.state == "complete" && t.value.is_some())
        .collect();
    done.sort_by(|x, y| {
        y.value
            .partial_cmp(&x.value)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let local: Vec<&str> = done
        .iter()
        .filter_map(|t| t.dir.as_deref())
        .filter(|d| Path::new(d).join("eval.csv").exists())
        .take(5)
        .collect();
    let png = out.join("best_trials.png");
    if !local.is_empty() {
        // `picorl plot` itself, its own lines kept off this command's stdout.
        let exe = std::env::current_exe().context("finding the picorl binary for the plot")?;
        let plot = Command::new(exe)
            .args(["plot", "--by-run", "--out"])
            .arg(&png)
            .args([
                "--title",
                &format!("picorl tune: best trials of {}", r.study),
            ])
            .args(&local)
            .output()
            .context("running picorl plot")?;
        if !plot.status.success() {
            bail!(
                "plotting the best trials: {}",
                String::from_utf8_lossy(&plot.stderr).trim()
            );
        }
    }
    let overhead: Vec<f64> = r
        .trials
        .iter()
        .filter(|t| t.state == "complete")
        .filter_map(|t| Some(t.duration_seconds? - t.train_seconds? - t.eval_seconds?))
        .collect();
    let mean_overhead =
        (!overhead.is_empty()).then(|| overhead.iter().sum::<f64>() / overhead.len() as f64);
    if a.json {
        println!(
            "{}",
            json!({
                "study": r.study,
                "storage": r.storage,
                "trials": r.trials.len(),
                "complete": count("complete"),
                "pruned": count("pruned"),
                "failed": count("fail"),
                "running": count("running"),
                "wall_seconds": r.wall_seconds,
                "overhead_seconds_mean": mean_overhead,
                "best": r.best.as_ref().map(|b| json!({
                    "number": b.trial.number,
                    "value": b.trial.value,
                    "params": b.trial.params,
                    "dir": b.trial.dir,
                })),
                "best_toml": r.best.as_ref().map(|_| best_toml.display().to_string()),
                "plot": (!local.is_empty()).then(|| png.display().to_string()),
            })
        );
        return Ok(());
    }
    println!(
        "study {} ({}): {} trials, {} complete, {} pruned, {} failed, {} running; this worker {:.1} s",
        r.study,
        r.storage,
        r.trials.len(),
        count("complete"),
        count("pruned"),
        count("fail"),
        count("running"),
        r.wall_seconds
    );
    println!(
        "{:>6} {:>9} {:>12} {:>9} {:>9}  params",
        "trial", "state", "value", "solved@", "train_s"
    );
    let mut shown: Vec<&Trial> = done.clone();
    shown.extend(r.trials.iter().filter(|t| t.state != "complete"));
    for t in shown.iter().take(15) {
        let params: Vec<String> = t.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:>6} {:>9} {:>12} {:>9} {:>9}  {}",
            t.number,
            t.state,
            t.value.map_or("-".into(), |v| format!("{v:.3}")),
            t.solved_at_step.map_or("-".into(), |s| s.to_string()),
            t.train_seconds.map_or("-".into(), |s| format!("{s:.2}")),
            params.join(" ")
        );
    }
    if shown.len() > 15 {
        println!("… {} more in {}", shown.len() - 15, path.display());
    }
    if let Some(m) = mean_overhead {
        println!("tuning overhead per complete trial (wall - training - evaluation): {m:.2} s");
    }
    match &r.best {
        Some(b) => {
            println!(
                "best: trial {} (value {}) → {}",
                b.trial.number,
                b.trial.value.map_or("-".into(), |v| format!("{v:?}")),
                best_toml.display()
            );
            println!(
                "train it: picorl train --algo {} --env {} --config {}",
                a.algo,
                a.env,
                best_toml.display()
            );
        }
        None => println!("no trial has completed yet: no best.toml"),
    }
    if !local.is_empty() {
        println!("plot of the best trials run here: {}", png.display());
    }
    Ok(())
}

/// The best trial's resolved config as a `picorl train --config` file: a section for its
/// environment with every hyper-parameter and the run keys.
fn best_config(config_toml: &str, b: &Best, r: &Report) -> Result<String> {
    let cfg: ResolvedConfig =
        toml::from_str(config_toml).map_err(|e| anyhow!("the best trial's config.toml: {e}"))?;
    let mut section = cfg.hyper.clone();
    section.insert("total_steps".into(), toml_int(cfg.run.total_steps)?);
    section.insert("eval_every".into(), toml_int(cfg.run.eval_every)?);
    section.insert(
        "eval_episodes".into(),
        toml::Value::Integer(i64::from(cfg.run.eval_episodes)),
    );
    if let Some(s) = cfg.run.stop_at_return {
        section.insert("stop_at_return".into(), toml::Value::Float(s));
    }
    let mut doc = toml::Table::new();
    doc.insert(cfg.run.env.clone(), toml::Value::Table(section));
    Ok(format!(
        "# picorl tune: the best trial ({}, value {}) of study {} ({}), trained with seed {}.\n\
         # picorl train --algo {} --env {} --config best.toml\n{}",
        b.trial.number,
        b.trial.value.map_or("-".into(), |v| format!("{v:?}")),
        r.study,
        r.storage,
        cfg.run.seed,
        cfg.run.algo,
        cfg.run.env,
        toml::to_string(&doc)?
    ))
}

fn toml_int(n: u64) -> Result<toml::Value> {
    Ok(toml::Value::Integer(
        i64::try_from(n).map_err(|_| anyhow!("{n} does not fit a TOML integer"))?,
    ))
}
