//! The trainer scaffolding every algorithm shares, written once: the run directory, the config,
//! the metrics, periodic evaluation (off the training clock), `--stop-at-return`, checkpoints,
//! `summary.json`, the learning curve and the progress bar. An algorithm implements
//! [`Algorithm`]: its hyper-parameters, one training iteration, its deterministic action, and
//! saving/loading its weights (as stable-baselines3's `learn()` owns the loop and an algorithm
//! only `train()`).

//!
//! **The room.** `train/` owns the loop and what surrounds it: [`config`], the run directory and
//! its files ([`files`], `load_run`), checkpoints, [`tensorboard`], [`progress`], the device
//! ([`device`]) and SIGINT/SIGTERM ([`signal`]). It may use `envs` and `export` (the policy
//! description a run hands over), never `algo`, `cli` or `viz`: pictures are drawn by a hook the
//! caller passes ([`Control::pictures`]).

pub mod device;
pub mod progress;
pub mod signal;
pub mod tensorboard;

pub mod checkpoint;
pub mod config;
pub mod ctx;
pub mod files;
pub mod load;

pub use checkpoint::{learner_tensors, TRAIN_STATE};
pub use ctx::TrainCtx;
pub use load::{load_run, load_run_from};

use checkpoint::{read_train_state, save_checkpoint, TrainState, LOGS};

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;

use crate::envs::eval::{evaluate, Actor, EvalResult};
use crate::envs::vec_env::VecEnv;
use crate::export::PolicyExport;
use config::{ResolvedConfig, RunOptions};
use files::{cell, write_atomic, CsvLog};

/// The checkpoint's file name in a run directory (safetensors).
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// The training state saved beside the checkpoint (step counters, clocks).
pub const STATE: &str = "state.json";
/// The checkpoint of the best evaluation so far (the highest mean return; the earliest of
/// equals), beside [`CHECKPOINT`], the last: `picorl export --which best`.
pub const BEST: &str = "checkpoint-best.safetensors";
/// The temporary names of the two checkpoints while they are written (removed by `--resume`
/// when a kill left one behind).
pub(crate) const TMP_CHECKPOINTS: [&str; 2] = [
    "checkpoint.tmp.safetensors",
    "checkpoint-best.tmp.safetensors",
];

/// What an algorithm needs to build itself.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The resolved run options.
    pub run: RunOptions,
    /// Where libtorch learns.
    pub device: tch::Device,
    /// The environment's spec.
    pub spec: picorl_core::env::EnvSpec,
}

impl Setup {
    /// Makes one copy of the run's environment.
    pub fn make_env(&self) -> Result<Box<dyn picorl_core::env::Env + Send>> {
        crate::envs::make(&self.run.env, &self.run.env_kwargs)
    }

    /// Makes `n` copies, reset with `seed + i` (the run's seed).
    pub fn make_vec_env(&self, n: usize) -> Result<VecEnv> {
        self.make_training_envs(n, false)
    }

    /// As [`Setup::make_vec_env`]; with `privileged`, each copy's observation is followed by
    /// its privileged observation ([`crate::envs::privileged`]), an error where the environment
    /// has none.
    pub fn make_training_envs(&self, n: usize, privileged: bool) -> Result<VecEnv> {
        if privileged && crate::envs::gym::is_gym(&self.run.env) {
            anyhow::bail!(
                "{}: a Gymnasium environment has no privileged observation for an asymmetric \
                 critic (critic_input = \"privileged\"): use critic_input = \"observation\"",
                self.run.env
            );
        }
        if crate::envs::gym::is_gym(&self.run.env) {
            // One vectorized Python worker for all the copies.
            let mut v = crate::envs::gym::make_vec(&self.run.env, &self.run.env_kwargs, n)?;
            v.reset(self.run.seed)?;
            return Ok(v);
        }
        let envs = (0..n)
            .map(|_| {
                let env = self.make_env()?;
                Ok(if privileged {
                    Box::new(crate::envs::privileged::WithPrivileged::new(env)?)
                } else {
                    env
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut v = VecEnv::new(envs)?;
        v.reset(self.run.seed)?;
        Ok(v)
    }
}

/// A training algorithm on the shared loop.
pub trait Algorithm: Actor + Sized {
    /// The name `--algo` takes.
    const NAME: &'static str;
    /// The built-in hyper-parameter file (TOML, a section per environment id).
    const CONFIG: &'static str;
    /// The hyper-parameters, with their documentation on each field.
    type Hyper: Serialize + DeserializeOwned + Default + Clone + Debug;

    /// Builds the networks, optimizers and environments.
    fn new(setup: &Setup, hyper: Self::Hyper) -> Result<Self>;

    /// The columns this algorithm logs to `metrics.csv` through [`TrainCtx::log`].
    fn metric_names(&self) -> &'static [&'static str];

    /// Trains for a while (at least one environment step), reporting steps and episodes through
    /// `ctx`. A NaN or infinite loss is an error that names the step.
    fn train_iter(&mut self, ctx: &mut TrainCtx) -> Result<()>;

    /// Saves everything needed to evaluate, export and resume to the safetensors file `path`.
    fn save(&self, path: &Path) -> Result<()>;

    /// Loads what [`Algorithm::save`] wrote.
    fn load(&mut self, path: &Path) -> Result<()>;

    /// The deterministic policy as layers and a head, for `picorl export`.
    fn export(&self) -> Result<PolicyExport>;

    /// Everything besides the weights that a bit-exact `--resume` needs (generator states,
    /// optimizer moments, the replay memory, the environments, counters), as named tensors that
    /// the shared loop stores in the same checkpoint file as the weights, so one rename commits
    /// both. Empty by default: such an algorithm resumes from its weights (and its own
    /// [`Algorithm::save`]), the same run but not bit for bit the same numbers.
    fn resume_state(&self) -> Result<Vec<(String, tch::Tensor)>> {
        Ok(Vec::new())
    }

    /// Restores what [`Algorithm::resume_state`] saved, from the checkpoint's tensors (after
    /// [`Algorithm::load`]).
    fn restore_state(&mut self, _saved: &[(String, tch::Tensor)]) -> Result<()> {
        Ok(())
    }

    /// Called once when training ends, after the final evaluation: a report on stderr (tabular
    /// learners compare their policy with the optimum). Nothing by default.
    fn finish(&mut self, _setup: &Setup) -> Result<()> {
        Ok(())
    }
}

/// How a training run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The run directory.
    pub dir: PathBuf,
    /// The summary written to `summary.json`.
    pub summary: serde_json::Value,
    /// The signal that stopped the run before its budget (it is checkpointed and resumable).
    pub interrupted: Option<crate::train::signal::Signal>,
}

/// How [`run_with`] runs, beyond the run's config.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Continue the run in `dir` from its checkpoint.
    pub resume: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// A checkpoint every this many environment steps besides the evaluations' (`None`: the
    /// run's own setting, none for a new run).
    pub save_every: Option<u64>,
    /// The config's budget is larger than the one the run was started (or last resumed) with: a
    /// finished run continues, even one that stopped at `--stop-at-return`.
    pub extend: bool,
    /// Stop between iterations once SIGINT or SIGTERM arrived ([`crate::train::signal`]), with a
    /// checkpoint, the summary and the curve.
    pub interruptible: bool,
    /// Draws the run's pictures once its summary is written (the command line passes the
    /// learning curve, [`crate::viz`] being above this room); `None` draws nothing.
    pub pictures: Option<fn(&Path) -> Result<()>>,
}

/// Evaluates `algo` deterministically as the training protocol does (seeds 10000, 10001, …).
pub fn eval_protocol(setup: &Setup, actor: &mut dyn Actor, episodes: u32) -> Result<EvalResult> {
    let mut env = setup.make_env()?;
    evaluate(env.as_mut(), actor, 10_000, episodes)
}

/// Trains `A` into `dir` with `cfg`, from scratch or (`resume`) from the run's checkpoint.
///
/// A fresh run creates `dir` only once the algorithm is built (bad hyper-parameters leave
/// nothing behind), and removes it again if the run fails before its first checkpoint: what is
/// left of a failed run is always a run directory that `--resume` continues. A run that fails
/// later (a full disk, a diverged loss) keeps its last good checkpoint and says so.
pub fn run<A: Algorithm>(
    cfg: &ResolvedConfig,
    dir: &Path,
    resume: bool,
    quiet: bool,
) -> Result<Outcome> {
    run_with::<A>(
        cfg,
        dir,
        &Control {
            resume,
            quiet,
            ..Control::default()
        },
    )
}

/// [`run`], with the command line's controls: `--save-every`, an extended budget, and stopping
/// cleanly on SIGINT/SIGTERM.
pub fn run_with<A: Algorithm>(
    cfg: &ResolvedConfig,
    dir: &Path,
    control: &Control,
) -> Result<Outcome> {
    let resume = control.resume;
    let created = !resume && !dir.exists();
    let result = run_inner::<A>(cfg, dir, control);
    match result {
        Ok(o) => Ok(o),
        Err(e) => {
            let ckpt = dir.join(CHECKPOINT);
            if !resume && !ckpt.exists() && dir.exists() {
                // Nothing to resume: leave no half-written run directory behind.
                let removed = if created {
                    std::fs::remove_dir_all(dir).is_ok()
                } else {
                    remove_run_files(dir)
                };
                if removed {
                    bail!(
                        "{e:#} (no checkpoint had been saved: {} is removed)",
                        dir.display()
                    );
                }
                return Err(e);
            }
            match read_train_state(&ckpt) {
                Ok(Some(st)) => bail!(
                    "{e:#} (the last good checkpoint, step {}, is kept: picorl train --resume {})",
                    st.steps,
                    dir.display()
                ),
                _ => Err(e),
            }
        }
    }
}

/// Removes the TensorBoard event files in `dir`.
fn remove_event_files(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents.")
        {
            std::fs::remove_file(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Removes the files a run writes from a directory that existed (empty) before it.
fn remove_run_files(dir: &Path) -> bool {
    let mut names: Vec<&str> = LOGS.to_vec();
    names.extend(["config.toml", STATE, CHECKPOINT, BEST]);
    names.extend(TMP_CHECKPOINTS);
    for n in names {
        let p = dir.join(n);
        if p.exists() && std::fs::remove_file(&p).is_err() {
            return false;
        }
    }
    remove_event_files(dir).is_ok()
}

/// The turn to use libtorch's process-wide generator: held while seeding it and drawing initial
/// weights from it (`train::run`, `train::load_run`, tests), so that two of these in one process
/// (tests run side by side) cannot draw from each other's stream. A training draws from it only
/// while building its networks; every later draw comes from a learner's own saved generator.
pub fn torch_generator() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn run_inner<A: Algorithm>(cfg: &ResolvedConfig, dir: &Path, control: &Control) -> Result<Outcome> {
    let (resume, quiet) = (control.resume, control.quiet);
    let run = &cfg.run;
    let hyper: A::Hyper = cfg.hyper()?;
    let device = crate::train::device::resolve(&run.device)?;
    if run.threads > 0 {
        tch::set_num_threads(run.threads as i32);
    }
    let spec = *crate::envs::make(&run.env, &run.env_kwargs)?.spec();
    let setup = Setup {
        run: run.clone(),
        device,
        spec,
    };
    // The initial weights come from libtorch's generator, seeded here; everything drawn after
    // comes from the learners' own generators.
    let mut algo = {
        let _turn = torch_generator();
        tch::manual_seed(run.seed as i64);
        A::new(&setup, hyper)?
    };
    if !resume {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating run directory {}", dir.display()))?;
        write_atomic(&dir.join("config.toml"), cfg.to_toml()?.as_bytes())?;
    }
    let mut state = TrainState {
        format: checkpoint::FORMAT,
        steps: 0,
        episodes: 0,
        train_seconds: 0.0,
        eval_seconds: 0.0,
        next_eval: if run.eval_every > 0 {
            run.eval_every
        } else {
            u64::MAX
        },
        solved_at_step: None,
        solved_train_seconds: None,
        last_eval: None,
        recent: Vec::new(),
        logs: Default::default(),
        tensorboard: None,
        tensorboard_next: 0,
        next_log: None,
        pending: None,
        evaluated: true,
        stopped: Some(false),
        best: None,
        save_every: 0,
        next_save: 0,
    };
    let ckpt = dir.join(CHECKPOINT);
    if resume {
        // A kill while a checkpoint was being written leaves its temporary file.
        for name in TMP_CHECKPOINTS {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
    if resume && !ckpt.exists() {
        // Killed before its first checkpoint: the run starts over in its directory.
        for name in LOGS {
            let path = dir.join(name);
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("--resume: removing {}", path.display()))?;
            }
        }
        remove_event_files(dir).context("--resume")?;
    } else if resume {
        state = read_train_state(&ckpt)?.unwrap_or_default();
        if state.format != checkpoint::FORMAT {
            bail!(
                "--resume {}: {} is checkpoint format {} (written by {}); this picorl resumes format {}: train the run again, or resume it with the picorl that wrote it",
                dir.display(),
                ckpt.display(),
                state.format,
                if state.format < checkpoint::FORMAT { "an older picorl" } else { "a newer picorl" },
                checkpoint::FORMAT
            );
        }
        let summary_path = dir.join("summary.json");
        // A finished run: nothing to continue; its summary again. (A summary of an earlier
        // interruption, or one never written, is written anew below.)
        let finished = (state.steps >= run.total_steps && state.evaluated)
            .then(|| std::fs::read_to_string(&summary_path).ok())
            .flatten()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .filter(|s| s["total_steps"].as_u64() == Some(state.steps));
        if let Some(summary) = finished {
            eprintln!(
                "the run is finished ({} steps): nothing to resume (to train on: picorl train --resume {} --total-steps N, N above {})",
                crate::train::progress::count(state.steps),
                shell_word(&dir.display().to_string()),
                state.steps
            );
            // Killed between the summary and the picture: the picture is drawn now.
            if !dir.join("learning_curve.png").exists() {
                draw_pictures(control.pictures, dir);
            }
            return Ok(Outcome {
                dir: dir.to_path_buf(),
                summary,
                interrupted: None,
            });
        }
        if !quiet {
            eprintln!(
                "resuming {} from step {} of {}",
                dir.display(),
                crate::train::progress::count(state.steps),
                crate::train::progress::count(run.total_steps)
            );
        }
        algo.load(&ckpt)?;
        let saved = tch::Tensor::read_safetensors(&ckpt)
            .with_context(|| format!("reading {}", ckpt.display()))?;
        algo.restore_state(&saved)
            .with_context(|| format!("--resume {}: restoring {CHECKPOINT}", dir.display()))?;
        // Rows written after the checkpoint by the interrupted run are written again below.
        for (name, len) in &state.logs {
            // Names read from the checkpoint: only the run's own logs, never a path elsewhere.
            if !LOGS.contains(&name.as_str()) {
                bail!(
                    "--resume {}: the checkpoint names an unknown log `{name}`",
                    dir.display()
                );
            }
            let path = dir.join(name);
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                if f.metadata().map(|m| m.len() > *len).unwrap_or(false) {
                    f.set_len(*len)
                        .with_context(|| format!("--resume: truncating {}", path.display()))?;
                }
            }
        }
    }

    // A resumed run continues its event file from the checkpoint (a checkpoint of an older
    // picorl, without one, starts a new file).
    let tensorboard = match &state.tensorboard {
        Some((name, len)) if resume => {
            let plain = std::path::Path::new(name).file_name() == Some(std::ffi::OsStr::new(name));
            if !plain || !name.starts_with("events.out.tfevents.") {
                bail!(
                    "--resume {}: the checkpoint names `{name}` as its event file",
                    dir.display()
                );
            }
            crate::train::tensorboard::EventWriter::resume(dir, name, *len)?
        }
        _ => None,
    };
    let tensorboard = match tensorboard {
        Some(w) => w,
        None => crate::train::tensorboard::EventWriter::create(dir)?,
    };
    let metric_names = algo.metric_names();
    let mut header = vec!["step", "episodes", "ep_return", "ep_length"];
    header.extend_from_slice(metric_names);
    let mut ctx = TrainCtx {
        steps: state.steps,
        total_steps: run.total_steps,
        episodes: state.episodes,
        recent: state.recent.iter().copied().collect(),
        metrics: CsvLog::open(&dir.join("metrics.csv"), &header)?,
        timing: CsvLog::open(
            &dir.join("timing.csv"),
            &["step", "train_seconds", "steps_per_second"],
        )?,
        episodes_log: CsvLog::open(&dir.join("episodes.csv"), &["step", "return", "length"])?,
        metric_names,
        tensorboard,
        tensorboard_tags: header[1..]
            .iter()
            .chain(&["steps_per_second"])
            .map(|c| crate::train::tensorboard::tag(c))
            .collect(),
        tensorboard_next: state.tensorboard_next,
        clock: Duration::from_secs_f64(state.train_seconds),
        iter_start: None,
        steps_at_last_log: state.steps,
        clock_at_last_log: Duration::from_secs_f64(state.train_seconds),
        algo: A::NAME,
        log_interval: run.log_interval,
        next_log: state.next_log.unwrap_or(run.log_interval),
        pending: state
            .pending
            .clone()
            .filter(|p| p.columns() == metric_names.len())
            .unwrap_or_else(|| ctx::Pending::new(metric_names.len())),
    };
    let mut eval_log = CsvLog::open(
        &dir.join("eval.csv"),
        &[
            "step",
            "train_seconds",
            "mean_return",
            "std_return",
            "min_return",
            "max_return",
            "episodes",
        ],
    )?;
    let mut progress =
        crate::train::progress::Progress::new(run.total_steps, ctx.steps, ctx.clock, quiet);
    if let Some((mean, std)) = state.last_eval.filter(|_| resume) {
        progress.remember_eval(state.steps, mean, std);
    }

    // A checkpoint is written right after an evaluation (or by `--save-every`, or on an
    // interruption, which `evaluated` tells): a run resumed from one has evaluated at its step
    // (and stopped there, if that evaluation reached `--stop-at-return`), even when it was
    // killed before its summary.
    let from_checkpoint = resume && ckpt.exists();
    let stopped_there = state.stopped.unwrap_or(
        (run.stop_at_return.is_some() || run.stop_at_hover.is_some())
            && state.solved_at_step.is_some(),
    );
    let mut stopped = from_checkpoint && stopped_there && !control.extend;
    let mut last_eval_step = (from_checkpoint && state.evaluated).then_some(state.steps);
    let mut last_save_step = from_checkpoint.then_some(state.steps);
    if let Some(n) = control.save_every {
        state.save_every = n;
    }
    if state.save_every > 0 && state.next_save <= ctx.steps {
        state.next_save = (ctx.steps / state.save_every + 1).saturating_mul(state.save_every);
    }
    let mut interrupted = None;
    while ctx.steps < run.total_steps && !stopped {
        if control.interruptible {
            interrupted = crate::train::signal::received();
            if interrupted.is_some() {
                break;
            }
        }
        ctx.iter_start = Some(Instant::now());
        let result = algo.train_iter(&mut ctx);
        ctx.clock = ctx.train_clock();
        ctx.iter_start = None;
        if let Err(e) = result.and_then(|()| ctx.dump_if_due()) {
            progress.finish();
            // The rows up to the failure help to see why; the checkpoint is not touched.
            let _ = ctx.flush();
            return Err(e);
        }
        progress.update(ctx.steps, ctx.clock, ctx.recent_return());
        if ctx.steps >= state.next_eval {
            while state.next_eval <= ctx.steps {
                state.next_eval = state.next_eval.saturating_add(run.eval_every);
            }
            stopped = evaluate_and_save(
                &mut algo,
                &setup,
                &mut ctx,
                &mut state,
                &mut eval_log,
                dir,
                &mut progress,
            )?;
            last_eval_step = Some(ctx.steps);
            last_save_step = Some(ctx.steps);
        }
        if state.save_every > 0 && ctx.steps >= state.next_save {
            while state.next_save <= ctx.steps {
                state.next_save = state.next_save.saturating_add(state.save_every);
            }
            if last_save_step != Some(ctx.steps) && !stopped {
                save_checkpoint(&algo, &mut ctx, &mut state, &mut eval_log, dir, false)?;
                last_save_step = Some(ctx.steps);
            }
        }
    }
    if let Some(sig) = interrupted {
        // A normal checkpoint (not evaluated: the resumed run evaluates on its schedule), then
        // the summary and the curve of the run so far.
        if last_save_step != Some(ctx.steps) {
            save_checkpoint(&algo, &mut ctx, &mut state, &mut eval_log, dir, false)?;
        }
        progress.finish();
        ctx.flush()?;
        let summary = write_summary(run, &ctx, &state, dir, control.pictures)?;
        return Ok(Outcome {
            dir: dir.to_path_buf(),
            summary,
            interrupted: Some(sig),
        });
    }
    if last_eval_step != Some(ctx.steps) {
        evaluate_and_save(
            &mut algo,
            &setup,
            &mut ctx,
            &mut state,
            &mut eval_log,
            dir,
            &mut progress,
        )?;
    }
    progress.finish();
    algo.finish(&setup)?;
    ctx.flush()?;
    let summary = write_summary(run, &ctx, &state, dir, control.pictures)?;
    Ok(Outcome {
        dir: dir.to_path_buf(),
        summary,
        interrupted: None,
    })
}

/// A word as a shell reads it back: quoted when it holds anything but plain path characters.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:=@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs the [`Control::pictures`] hook; a picture that cannot be drawn is a warning, not a
/// failed run.
fn draw_pictures(pictures: Option<fn(&Path) -> Result<()>>, dir: &Path) {
    if let Some(draw) = pictures {
        if let Err(e) = draw(dir) {
            eprintln!("warning: learning_curve.png not drawn: {e:#}");
        }
    }
}

/// Writes `summary.json` (atomically) and draws the run's pictures; returns the summary.
fn write_summary(
    run: &RunOptions,
    ctx: &TrainCtx,
    state: &TrainState,
    dir: &Path,
    pictures: Option<fn(&Path) -> Result<()>>,
) -> Result<serde_json::Value> {
    let (mean, std) = state.last_eval.unwrap_or((f64::NAN, f64::NAN));
    let summary = json!({
        "algo": run.algo,
        "env": run.env,
        "seed": run.seed,
        "total_steps": ctx.steps,
        "train_seconds": state.train_seconds,
        "eval_seconds": state.eval_seconds,
        "solved_at_step": state.solved_at_step,
        "solved_train_seconds": state.solved_train_seconds,
        "final_eval_mean": mean,
        "final_eval_std": std,
    });
    write_atomic(&dir.join("summary.json"), format!("{summary}\n").as_bytes())?;
    draw_pictures(pictures, dir);
    Ok(summary)
}

/// Evaluates, logs, checkpoints; returns whether `--stop-at-return` is reached.
fn evaluate_and_save<A: Algorithm>(
    algo: &mut A,
    setup: &Setup,
    ctx: &mut TrainCtx,
    state: &mut TrainState,
    eval_log: &mut CsvLog,
    dir: &Path,
    progress: &mut crate::train::progress::Progress,
) -> Result<bool> {
    let t = Instant::now();
    let res = eval_protocol(setup, algo, setup.run.eval_episodes)?;
    state.eval_seconds += t.elapsed().as_secs_f64();
    state.train_seconds = ctx.clock.as_secs_f64();
    state.steps = ctx.steps;
    state.episodes = ctx.episodes;
    state.recent = ctx.recent.iter().copied().collect();
    let (mean, std) = (res.mean(), res.std());
    state.last_eval = Some((mean, std));
    let min = res.returns.iter().copied().fold(f64::INFINITY, f64::min);
    let max = res
        .returns
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    eval_log.row(&[
        ctx.steps.to_string(),
        cell(state.train_seconds),
        cell(mean),
        cell(std),
        cell(min),
        cell(max),
        res.returns.len().to_string(),
    ])?;
    eval_log.flush()?;
    crate::envs::hover::log_eval(dir, ctx.steps, state.train_seconds, res.hovered.as_deref())?;
    let tags =
        ["mean_reward", "std_reward", "min_reward", "max_reward"].map(|t| format!("eval/{t}"));
    ctx.tensorboard
        .scalars(ctx.steps, &tags, &[mean, std, min, max])?;
    progress.eval(ctx.steps, mean, std, res.returns.len());
    // The run stops at the first evaluation that reaches `--stop-at-return` (an extended run
    // that had reached it goes on to its new budget).
    let hovers = match (setup.run.stop_at_hover, &res.hovered) {
        (Some(share), Some(h)) => crate::envs::hover::share(h) >= share,
        _ => false,
    };
    let solved = (setup.run.stop_at_return.is_some_and(|r| mean >= r) || hovers)
        && state.solved_at_step.is_none();
    if solved {
        state.solved_at_step = Some(ctx.steps);
        state.solved_train_seconds = Some(state.train_seconds);
    }
    state.stopped = Some(solved);
    let best = state.best.is_none_or(|(b, _)| mean > b || b.is_nan());
    if best {
        state.best = Some((mean, ctx.steps));
    }
    save_checkpoint(algo, ctx, state, eval_log, dir, true)?;
    Ok(solved)
}
