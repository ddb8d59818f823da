//! The trainer scaffolding every algorithm shares, written once: the run directory, the config,
//! the metrics, periodic evaluation (off the training clock), `--stop-at-return`, checkpoints,
//! `summary.json`, the learning curve and the progress bar. An algorithm implements
//! [`Algorithm`]: its hyper-parameters, one training iteration, its deterministic action, and
//! saving/loading its weights (as stable-baselines3's `learn()` owns the loop and an algorithm
//! only `train()`).

pub mod config;
pub mod files;

use std::collections::VecDeque;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;

use crate::eval::{evaluate, Actor, EvalResult};
use crate::export::PolicyExport;
use crate::vec_env::VecEnv;
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
const TMP_CHECKPOINTS: [&str; 2] = [
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
        if crate::gym::is_gym(&self.run.env) {
            // One vectorized Python worker for all the copies.
            let mut v = crate::gym::make_vec(&self.run.env, &self.run.env_kwargs, n)?;
            v.reset(self.run.seed)?;
            return Ok(v);
        }
        let envs = (0..n)
            .map(|_| self.make_env())
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

/// What a training iteration reports to the shared loop.
#[derive(Debug)]
pub struct TrainCtx {
    /// Environment steps so far.
    pub steps: u64,
    /// The step budget.
    pub total_steps: u64,
    episodes: u64,
    recent: VecDeque<(f64, u32)>,
    metrics: CsvLog,
    timing: CsvLog,
    episodes_log: CsvLog,
    metric_names: &'static [&'static str],
    tensorboard: crate::tensorboard::EventWriter,
    tensorboard_tags: Vec<String>,
    /// The step from which the next `metrics.csv` row also goes to TensorBoard: at most about
    /// [`TENSORBOARD_POINTS`] points a run (TensorBoard shows 1,000 a tag; the CSV keeps all).
    tensorboard_next: u64,
    clock: Duration,
    iter_start: Option<Instant>,
    steps_at_last_log: u64,
    clock_at_last_log: Duration,
}

/// About how many points of each training metric a run writes to TensorBoard.
const TENSORBOARD_POINTS: u64 = 1000;

/// Finished training episodes averaged in `metrics.csv` (SB3 averages its last 100).
const RECENT: usize = 20;

impl TrainCtx {
    /// The fraction of the budget still ahead, 1 → 0 (for linear schedules, as SB3's
    /// `progress_remaining`).
    pub fn progress_remaining(&self) -> f64 {
        1.0 - (self.steps as f64 / self.total_steps.max(1) as f64).min(1.0)
    }

    /// Counts the steps of one [`VecEnv::step`] and records its finished episodes.
    pub fn record(&mut self, envs: &VecEnv) -> Result<()> {
        self.steps += envs.len() as u64;
        for f in envs.finished() {
            self.episode(f.ret, f.len)?;
        }
        Ok(())
    }

    /// Counts one environment step.
    pub fn count_step(&mut self) {
        self.steps += 1;
    }

    /// Records a finished training episode.
    pub fn episode(&mut self, ret: f64, len: u32) -> Result<()> {
        self.episodes += 1;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((ret, len));
        self.episodes_log
            .row(&[self.steps.to_string(), cell(ret), len.to_string()])
    }

    /// Mean return of the recent training episodes (NaN before the first).
    pub fn recent_return(&self) -> f64 {
        self.recent.iter().map(|r| r.0).sum::<f64>() / self.recent.len() as f64
    }

    /// Writes a `metrics.csv` row: the shared columns, then `values` in the order of
    /// [`Algorithm::metric_names`]. The wall clock goes to a `timing.csv` row of its own (step,
    /// train_seconds, steps_per_second), so that `metrics.csv` is a function of the seed alone: the
    /// same seed gives the same file, byte for byte, on the CPU.
    pub fn log(&mut self, values: &[f64]) -> Result<()> {
        if values.len() != self.metric_names.len() {
            bail!(
                "internal: {} metric values for columns {:?}",
                values.len(),
                self.metric_names
            );
        }
        let now = self.train_clock();
        let dt = (now - self.clock_at_last_log).as_secs_f64();
        let sps = if dt > 0.0 {
            (self.steps - self.steps_at_last_log) as f64 / dt
        } else {
            f64::NAN
        };
        self.steps_at_last_log = self.steps;
        self.clock_at_last_log = now;
        let len =
            self.recent.iter().map(|r| f64::from(r.1)).sum::<f64>() / self.recent.len() as f64;
        let mut row = vec![
            self.steps.to_string(),
            self.episodes.to_string(),
            cell(self.recent_return()),
            cell(len),
        ];
        row.extend(values.iter().map(|v| cell(*v)));
        self.metrics.row(&row)?;
        self.timing
            .row(&[self.steps.to_string(), cell(now.as_secs_f64()), cell(sps)])?;
        if self.steps < self.tensorboard_next {
            return Ok(());
        }
        self.tensorboard_next = self.steps + self.total_steps / TENSORBOARD_POINTS;
        let mut numbers = vec![self.episodes as f64, self.recent_return(), len];
        numbers.extend_from_slice(values);
        numbers.push(sps);
        self.tensorboard
            .scalars(self.steps, &self.tensorboard_tags, &numbers)
    }

    fn flush(&mut self) -> Result<()> {
        self.metrics.flush()?;
        self.timing.flush()?;
        self.tensorboard.flush()?;
        self.episodes_log.flush()
    }

    /// Fails with a message naming the step when `loss` is NaN or infinite.
    pub fn check_finite(&self, what: &str, loss: f64) -> Result<()> {
        if loss.is_finite() {
            Ok(())
        } else {
            bail!("training diverged: {what} is {loss} at step {}", self.steps)
        }
    }

    fn train_clock(&self) -> Duration {
        self.clock + self.iter_start.map(|t| t.elapsed()).unwrap_or_default()
    }
}

/// The shared loop's state at a checkpoint: stored inside the checkpoint file (the tensor
/// [`TRAIN_STATE`], so that the weights and the state are committed by one rename) and, for
/// people, in `state.json` beside it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct TrainState {
    steps: u64,
    episodes: u64,
    train_seconds: f64,
    eval_seconds: f64,
    next_eval: u64,
    solved_at_step: Option<u64>,
    solved_train_seconds: Option<f64>,
    last_eval: Option<(f64, f64)>,
    /// The recent training episodes (return, length) behind `metrics.csv`'s averages.
    #[serde(default)]
    recent: Vec<(f64, u32)>,
    /// The byte lengths of the logs when the checkpoint was taken: `--resume` cuts the rows a
    /// killed run wrote after it, so that they are not written twice.
    #[serde(default)]
    logs: std::collections::BTreeMap<String, u64>,
    /// The TensorBoard event file (its name) and its length when the checkpoint was taken:
    /// `--resume` cuts it back and continues it.
    #[serde(default)]
    tensorboard: Option<(String, u64)>,
    /// The step from which the next `metrics.csv` row also goes to TensorBoard.
    #[serde(default)]
    tensorboard_next: u64,
    /// Whether this step was evaluated: `false` for the checkpoints of `--save-every` and of an
    /// interruption (a checkpoint of an older picorl always was).
    #[serde(default = "evaluated_by_default")]
    evaluated: bool,
    /// Whether the run stopped here because an evaluation reached `--stop-at-return` (`None` in
    /// checkpoints of an older picorl, which tell it from `solved_at_step`).
    #[serde(default)]
    stopped: Option<bool>,
    /// The best evaluation so far, (mean return, step): the one [`BEST`] holds.
    #[serde(default)]
    best: Option<(f64, u64)>,
    /// `--save-every`: a checkpoint every this many steps besides the evaluations' (0: none).
    #[serde(default)]
    save_every: u64,
    /// The step at or after which the next `--save-every` checkpoint is written.
    #[serde(default)]
    next_save: u64,
}

fn evaluated_by_default() -> bool {
    true
}

/// The name of the tensor holding the training loop's state (JSON bytes, as in `state.json`) in
/// the checkpoint file.
pub const TRAIN_STATE: &str = "picorl.train_state";

/// The logs a run appends to, cut back to the checkpoint on `--resume`.
const LOGS: [&str; 4] = ["metrics.csv", "timing.csv", "episodes.csv", "eval.csv"];

/// How a training run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The run directory.
    pub dir: PathBuf,
    /// The summary written to `summary.json`.
    pub summary: serde_json::Value,
    /// The signal that stopped the run before its budget (it is checkpointed and resumable).
    pub interrupted: Option<crate::signal::Signal>,
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
    /// Stop between iterations once SIGINT or SIGTERM arrived ([`crate::signal`]), with a
    /// checkpoint, the summary and the curve.
    pub interruptible: bool,
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

/// A checkpoint's tensors but the loop's state (which holds wall-clock times): what two runs of
/// the same seed save identically, for tests that compare checkpoints.
pub fn learner_tensors(ckpt: &Path) -> Result<Vec<(String, tch::Tensor)>> {
    let mut saved = tch::Tensor::read_safetensors(ckpt)
        .with_context(|| format!("reading {}", ckpt.display()))?;
    saved.retain(|(n, _)| n != TRAIN_STATE);
    saved.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(saved)
}

/// The [`TrainState`] stored in a checkpoint file (`None` for a checkpoint without one).
fn read_train_state(ckpt: &Path) -> Result<Option<TrainState>> {
    let saved = tch::Tensor::read_safetensors(ckpt)
        .with_context(|| format!("reading {}", ckpt.display()))?;
    let Some((_, t)) = saved.iter().find(|(n, _)| n == TRAIN_STATE) else {
        return Ok(None);
    };
    let bytes: Vec<u8> = Vec::<u8>::try_from(t.flatten(0, -1))
        .with_context(|| format!("{}: `{TRAIN_STATE}`", ckpt.display()))?;
    let state = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: `{TRAIN_STATE}` is not a training state",
            ckpt.display()
        )
    })?;
    Ok(Some(state))
}

/// The turn to use libtorch's process-wide generator: held while seeding it and drawing initial
/// weights from it (`train::run`, `cli::load_run`, tests), so that two of these in one process
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
    let device = crate::device::resolve(&run.device)?;
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
        state = match read_train_state(&ckpt)? {
            Some(s) => s,
            // A checkpoint of an older picorl: the state beside it.
            None => {
                let state_path = dir.join(STATE);
                let text = std::fs::read_to_string(&state_path).with_context(|| {
                    format!(
                        "--resume {}: reading {}",
                        dir.display(),
                        state_path.display()
                    )
                })?;
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", state_path.display()))?
            }
        };
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
                crate::progress::count(state.steps),
                shell_word(&dir.display().to_string()),
                state.steps
            );
            // Killed between the summary and the picture: the picture is drawn now.
            if !dir.join("learning_curve.png").exists() {
                if let Err(e) = crate::plot::learning_curve(dir) {
                    eprintln!("warning: learning_curve.png not drawn: {e:#}");
                }
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
                crate::progress::count(state.steps),
                crate::progress::count(run.total_steps)
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
            crate::tensorboard::EventWriter::resume(dir, name, *len)?
        }
        _ => None,
    };
    let tensorboard = match tensorboard {
        Some(w) => w,
        None => crate::tensorboard::EventWriter::create(dir)?,
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
            .map(|c| crate::tensorboard::tag(c))
            .collect(),
        tensorboard_next: state.tensorboard_next,
        clock: Duration::from_secs_f64(state.train_seconds),
        iter_start: None,
        steps_at_last_log: state.steps,
        clock_at_last_log: Duration::from_secs_f64(state.train_seconds),
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
    let mut progress = crate::progress::Progress::new(run.total_steps, ctx.steps, ctx.clock, quiet);
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
            interrupted = crate::signal::received();
            if interrupted.is_some() {
                break;
            }
        }
        ctx.iter_start = Some(Instant::now());
        let result = algo.train_iter(&mut ctx);
        ctx.clock = ctx.train_clock();
        ctx.iter_start = None;
        if let Err(e) = result {
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
        let summary = write_summary(run, &ctx, &state, dir)?;
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
    let summary = write_summary(run, &ctx, &state, dir)?;
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

/// Writes `summary.json` (atomically) and draws the learning curve; returns the summary.
fn write_summary(
    run: &RunOptions,
    ctx: &TrainCtx,
    state: &TrainState,
    dir: &Path,
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
    if let Err(e) = crate::plot::learning_curve(dir) {
        eprintln!("warning: learning_curve.png not drawn: {e:#}");
    }
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
    progress: &mut crate::progress::Progress,
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
    crate::hover::log_eval(dir, ctx.steps, state.train_seconds, res.hovered.as_deref())?;
    let tags =
        ["mean_reward", "std_reward", "min_reward", "max_reward"].map(|t| format!("eval/{t}"));
    ctx.tensorboard
        .scalars(ctx.steps, &tags, &[mean, std, min, max])?;
    progress.eval(ctx.steps, mean, std, res.returns.len());
    // The run stops at the first evaluation that reaches `--stop-at-return` (an extended run
    // that had reached it goes on to its new budget).
    let hovers = match (setup.run.stop_at_hover, &res.hovered) {
        (Some(share), Some(h)) => crate::hover::share(h) >= share,
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

/// Writes the checkpoint of the current step: the weights, the algorithm's resume state and the
/// loop's state, in one file committed by one rename, then `state.json`. `evaluated` tells
/// whether this step's evaluation was just logged; when it is the best so far (`state.best`),
/// [`BEST`] gets the same file first.
fn save_checkpoint<A: Algorithm>(
    algo: &A,
    ctx: &mut TrainCtx,
    state: &mut TrainState,
    eval_log: &mut CsvLog,
    dir: &Path,
    evaluated: bool,
) -> Result<()> {
    state.evaluated = evaluated;
    if !evaluated {
        state.train_seconds = ctx.clock.as_secs_f64();
        state.steps = ctx.steps;
        state.episodes = ctx.episodes;
        state.recent = ctx.recent.iter().copied().collect();
        state.stopped = Some(false);
    }
    eval_log.flush()?;
    ctx.flush()?;
    let len_of = |n: &str| std::fs::metadata(dir.join(n)).map(|m| m.len()).unwrap_or(0);
    state.logs = LOGS.iter().map(|n| (n.to_string(), len_of(n))).collect();
    let events = ctx.tensorboard.file_name();
    state.tensorboard = Some((events.clone(), len_of(&events)));
    state.tensorboard_next = ctx.tensorboard_next;
    // The weights, the algorithm's resume state and the loop's state in one file, committed by
    // one rename: a crash leaves the previous checkpoint or this one, whole.
    let ckpt = dir.join(CHECKPOINT);
    // The extension picks the format in tch, so the temporary name keeps `.safetensors`.
    let tmp = dir.join("checkpoint.tmp.safetensors");
    let written = (|| -> Result<()> {
        algo.save(&tmp)?;
        let mut named = tch::Tensor::read_safetensors(&tmp)
            .with_context(|| format!("reading back {}", tmp.display()))?;
        named.extend(algo.resume_state()?);
        let json = serde_json::to_vec(state)?;
        named.push((TRAIN_STATE.to_string(), tch::Tensor::from_slice(&json)));
        tch::Tensor::write_safetensors(&named, &tmp)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        // The best checkpoint first: a crash between the two leaves a best that is no older
        // than the last checkpoint, and the resumed run writes the same one again.
        if evaluated && state.best.is_some_and(|(_, step)| step == ctx.steps) {
            let best = dir.join(BEST);
            let best_tmp = dir.join(TMP_CHECKPOINTS[1]);
            let copied = std::fs::copy(&tmp, &best_tmp)
                .and_then(|_| std::fs::File::open(&best_tmp)?.sync_all())
                .and_then(|_| std::fs::rename(&best_tmp, &best));
            if let Err(e) = copied {
                let _ = std::fs::remove_file(&best_tmp);
                return Err(e).with_context(|| format!("writing {}", best.display()));
            }
        }
        std::fs::rename(&tmp, &ckpt).with_context(|| format!("writing {}", ckpt.display()))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    write_atomic(&dir.join(STATE), serde_json::to_string(state)?.as_bytes())?;
    Ok(())
}
