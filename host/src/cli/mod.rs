//! The `picorl` command line: argument definitions and the commands behind them. Results go to
//! stdout (one JSON object with `--json`), progress and logs to stderr; errors end with exit 1
//! and one `error: …` line that names the culprit (clap's usage errors exit 2).

//!
//! **The room.** `cli/` is the top room and the only place clap is used: it parses, resolves a
//! run's configuration and calls the rooms below (`train`, `algo`, `envs`, `export`, `viz`,
//! `tune`); nothing below imports it.
//! - [`commands`]: `eval`, `export`, `infer`, `inspect`, `bench` on a run or a file;
//! - [`limits`]: the bounds of every number the command line takes; [`seeds`]: `--seeds`.

pub mod args;
pub mod commands;
pub mod limits;
pub mod run_config;
pub mod seeds;

pub use run_config::resolve;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::train::config::ResolvedConfig;
use crate::{envs, envs::eval, train::device, with_algo};

/// Train reinforcement-learning policies on a desktop or a GPU and run them, bit for bit, on a
/// Cortex-M microcontroller.
#[derive(Parser, Debug)]
#[command(
    name = "picorl",
    disable_version_flag = true,
    after_help = TOP_HELP
)]
pub struct Cli {
    /// Print picorl's version, libtorch's version and the device training would use.
    #[arg(long, short = 'V')]
    pub version: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Option<Command>,
}

const TOP_HELP: &str = "\
Examples:
  picorl train --algo ppo --env CartPole-v1 --stop-at-return 475 --out runs/ppo
  picorl eval runs/ppo --episodes 20
  picorl export runs/ppo --out cartpole.picorl --quant int8
  picorl render runs/ppo --out cartpole.gif
  picorl plot runs/ppo-* runs/dqn-* --out compare.png
  picorl env list

A run directory holds config.toml, metrics.csv, eval.csv, episodes.csv, learning_curve.png, the
checkpoint and summary.json. `picorl COMMAND --help` describes each command.";

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a policy; everything the run writes goes to one run directory.
    #[command(
        after_help = "Examples:\n  picorl train --algo ppo --env CartPole-v1 --seed 1 --stop-at-return 475\n  \
                  picorl train --algo ppo --env Pendulum-v1 --set learning_rate=3e-4 --set 'hidden=[32, 32]'\n  \
                  picorl train --resume runs/ppo-CartPole-v1-0-20261125-120000\n\n\
                  The run directory gets config.toml, metrics.csv, eval.csv, episodes.csv, the checkpoint,\n\
                  summary.json, learning_curve.png (returns and the algorithm's diagnostics) and\n\
                  TensorBoard event files (tensorboard --logdir runs/)."
    )]
    Train(TrainArgs),
    /// Evaluate a run directory (through libtorch) or a .picorl file (through core) deterministically.
    #[command(
        after_help = "Examples:\n  picorl eval runs/ppo --episodes 100 --json\n  picorl eval policy.picorl --env CartPole-v1"
    )]
    Eval(EvalArgs),
    /// Export a run's deterministic policy to a .picorl file (f32 or int8) and report what
    /// quantization cost.
    #[command(
        after_help = "Examples:\n  picorl export runs/ppo --out cartpole.picorl --quant int8\n  \
                  picorl export runs/ppo --out cartpole-f32.picorl --json"
    )]
    Export(ExportArgs),
    /// Describe a .picorl file: architecture, sizes, quantization, checksum.
    #[command(
        after_help = "Examples:\n  picorl inspect cartpole.picorl\n  picorl inspect cartpole.picorl --json"
    )]
    Inspect(InspectArgs),
    /// One inference through core: the action and the head's inputs.
    #[command(
        after_help = "Examples:\n  picorl infer cartpole.picorl --obs 0.01,-0.02,0.03,0.04 --json"
    )]
    Infer(InferArgs),
    /// Single-observation inference speed through core.
    #[command(
        after_help = "Examples:\n  picorl bench cartpole.picorl\n  picorl bench cartpole.picorl --iterations 1000000 --json"
    )]
    Bench(BenchArgs),
    /// Compare runs on one chart: mean and spread over seeds, per algorithm and environment.
    ///
    /// Each algorithm's mean return over its runs (seeds), with a band of ± one standard
    /// deviation across them, a panel per environment.
    #[command(after_help = crate::viz::plot::PLOT_HELP)]
    Plot(args::PlotArgs),
    /// Draw a policy at work: an episode as a GIF, or a grid world's policy and values.
    ///
    /// An episode as a GIF (CartPole, Pendulum, MountainCar, Acrobot), or for grid worlds the
    /// map with the greedy policy as arrows and the state values as a heat map.
    #[command(after_help = crate::viz::render::RENDER_HELP)]
    Render(args::RenderArgs),
    /// Environments: list them, or replay Gymnasium traces against them.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Search hyper-parameters with Optuna: each trial a `picorl train` run, pruned on its
    /// evaluations; the study in a local file or a database that workers on many machines share.
    #[command(after_help = crate::tune::TUNE_HELP)]
    Tune(args::TuneArgs),
    /// Import an MLP policy trained elsewhere (Stable-Baselines3, CleanRL) from ONNX to a
    /// .picorl file, with export's calibration, quantization and report.
    #[command(after_help = crate::export::import::IMPORT_HELP)]
    Import(args::ImportArgs),
}

/// `picorl export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The file to write: .picorl, .onnx (f32) or .tflite (int8); the extension picks the format.
    #[arg(long)]
    pub out: PathBuf,
    /// Weights and arithmetic: f32, or int8 (integer-only, TFLite Micro's arithmetic).
    #[arg(long, default_value = "f32")]
    pub quant: String,
    /// Episodes of the run's own policy whose observations calibrate int8 activation ranges
    /// (reset seeds 20000, 20001, …).
    #[arg(long, default_value_t = 20, allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count_u32(1, crate::cli::limits::MAX_EPISODES as u32))]
    pub calib_episodes: u32,
    /// Episodes compared in the report (seeds 0, 1, …), run's policy against the exported file.
    #[arg(long, default_value_t = 100, allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count_u32(1, crate::cli::limits::MAX_EPISODES as u32))]
    pub eval_episodes: u32,
    /// Which checkpoint: `last` (the end of training) or `best` (the best evaluation's).
    #[arg(long, default_value = "last", value_parser = ["last", "best"])]
    pub which: String,
    /// int8: steps of quantization-aware fine-tuning of a copy of the layers on the calibration
    /// rollouts (0: none); the file keeps whichever of the two keeps more decisions.
    #[arg(long, default_value_t = 0, value_name = "STEPS", allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count_u32(0, 1_000_000))]
    pub qat: u32,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `picorl inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The .picorl file.
    pub file: PathBuf,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `picorl infer`.
#[derive(Args, Debug)]
pub struct InferArgs {
    /// The .picorl file.
    pub file: PathBuf,
    /// One observation, comma-separated.
    #[arg(
        long,
        allow_hyphen_values = true,
        required_unless_present = "obs_file",
        conflicts_with = "obs_file"
    )]
    pub obs: Option<String>,
    /// A file of observations, comma-separated, one a line (one JSON line each).
    #[arg(long)]
    pub obs_file: Option<PathBuf>,
    /// JSON output (the default for --obs-file).
    #[arg(long)]
    pub json: bool,
}

/// `picorl bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The .picorl file.
    pub file: PathBuf,
    /// Inferences to time (1 to 10^9).
    #[arg(long, default_value_t = 100_000, allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count(1, crate::cli::limits::MAX_ITERATIONS))]
    pub iterations: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `picorl train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The algorithm (the list is the registry's: `crate::algo::HELP`).
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    pub algo: Option<String>,
    /// The environment id, as Gymnasium names it (`picorl env list` lists them).
    #[arg(long, required_unless_present = "resume", conflicts_with = "resume")]
    pub env: Option<String>,
    /// A TOML hyper-parameter file (a section per environment id) instead of the built-in one.
    #[arg(long, conflicts_with = "resume")]
    pub config: Option<PathBuf>,
    /// Override one hyper-parameter (repeatable); an unknown key lists the known ones.
    #[arg(long = "set", value_name = "KEY=VALUE", conflicts_with = "resume")]
    pub set: Vec<String>,
    /// An environment option, as Gymnasium names it (repeatable). With --resume and a larger
    /// --total-steps: changed from here on (a curriculum stage, e.g. a heavier reward weight).
    #[arg(long = "env-kwargs", value_name = "KEY=VALUE")]
    pub env_kwargs: Vec<String>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0, conflicts_with = "resume")]
    pub seed: u64,
    /// Several seeds, `A..B` (B excluded) or a list `0,3,7`: each its own run under --out, run
    /// side by side up to the machine's cores, then `picorl plot` of them.
    #[arg(long, value_name = "A..B", conflicts_with_all = ["resume", "seed"])]
    pub seeds: Option<String>,
    /// Where libtorch learns: auto (CUDA when there is one), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", conflicts_with = "resume")]
    pub device: String,
    /// CPU threads for libtorch (0: its default; at most the machine's cores).
    #[arg(long, default_value_t = 0, conflicts_with = "resume", allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count(0, crate::cli::limits::MAX_FORCED_THREADS as u64))]
    pub threads: u64,
    /// Allow --threads beyond the machine's cores.
    #[arg(long, requires = "threads")]
    pub force_threads: bool,
    /// Where the learner's networks compute: auto (native on the CPU for networks up to 256
    /// wide, torch otherwise), native (picorl's own learner, CPU) or torch (libtorch, any
    /// device). DDPG and TD3 run on both; the others on torch.
    #[arg(long, default_value = "auto", conflicts_with = "resume",
          value_parser = ["auto", "native", "torch"])]
    pub backend: String,
    /// Environment steps (overrides the config's budget; with --resume, a larger budget extends
    /// the run, a finished one too).
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count(1, crate::cli::limits::MAX_STEPS))]
    pub total_steps: Option<u64>,
    /// Evaluate every N environment steps (0: only at the end).
    #[arg(long, value_name = "N", conflicts_with = "resume", allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count(0, crate::cli::limits::MAX_STEPS))]
    pub eval_every: Option<u64>,
    /// Episodes per evaluation (reset seeds 10000, 10001, …).
    #[arg(long, value_name = "K", conflicts_with = "resume", allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count_u32(1, crate::cli::limits::MAX_EPISODES as u32))]
    pub eval_episodes: Option<u32>,
    /// Stop once an evaluation's mean return is at least R.
    #[arg(
        long,
        value_name = "R",
        conflicts_with = "resume",
        allow_hyphen_values = true,
        value_parser = crate::cli::limits::parse_finite
    )]
    pub stop_at_return: Option<f64>,
    /// Quadrotor-v0: stop at the first evaluation where this share of the episodes hover (0.1 m
    /// for the last second); with --resume, for the steps a larger --total-steps adds.
    #[arg(long, value_name = "SHARE", value_parser = crate::cli::limits::parse_finite)]
    pub stop_at_hover: Option<f64>,
    /// Also checkpoint every N environment steps (besides after each evaluation).
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count(1, crate::cli::limits::MAX_STEPS))]
    pub save_every: Option<u64>,
    /// The run directory (default `runs/<algo>-<env>-<seed>-<time>`); it must not exist yet.
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint (its config.toml holds the options).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Python modules the Gymnasium workers import before `gymnasium.make`, so that they can
    /// register environments (`--env gym:ID`; rl-baselines3-zoo's flag).
    #[arg(long = "gym-packages", value_name = "MODULE", num_args = 1.., conflicts_with = "resume")]
    pub gym_packages: Vec<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `picorl eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory or a .picorl file.
    pub path: PathBuf,
    /// The environment id (default: the run's, or the one the .picorl file names).
    #[arg(long)]
    pub env: Option<String>,
    /// An environment option (repeatable; default: the run's).
    #[arg(long = "env-kwargs", value_name = "KEY=VALUE")]
    pub env_kwargs: Vec<String>,
    /// Episodes; episode i resets with seed S+i.
    #[arg(long, default_value_t = 10, allow_hyphen_values = true,
          value_parser = crate::cli::limits::parse_count_u32(1, crate::cli::limits::MAX_EPISODES as u32))]
    pub episodes: u32,
    /// The first reset seed S.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Python modules the Gymnasium workers import before `gymnasium.make` (default: the run's).
    #[arg(long = "gym-packages", value_name = "MODULE", num_args = 1..)]
    pub gym_packages: Vec<String>,
}

/// `picorl env …`.
#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    /// A table of every environment: id, observation space, action space, max episode steps.
    #[command(after_help = "Example:\n  picorl env list")]
    List,
    /// Replay Gymnasium traces (JSON lines) against picorl's environments: one JSON line out
    /// per record, in order.
    #[command(
        long_about = "Replay Gymnasium traces (JSON lines) against picorl's environments: one JSON line \
                      out per record, in order: the conformance tool with which to check a Gymnasium \
                      trace against picorl.",
        after_help = REPLAY_HELP
    )]
    Replay(ReplayArgs),
}

const REPLAY_HELP: &str = "\
Input, one record a line (other keys are ignored):
  {\"env\": \"CartPole-v1\", \"kwargs\": {...}, \"initial_state\": [f64...] | int, \"steps\": [{\"action\": int | [f64...]}, ...]}
  initial_state is Gymnasium's env.unwrapped.state (classic control) or env.unwrapped.s (toy text)
  right after a reset; the time limit counts from it as step 0. kwargs are Gymnasium's make options.
Output, one line per record:
  {\"env\": \"CartPole-v1\", \"steps\": [{\"obs\": [f32...], \"reward\": f64, \"terminated\": bool, \"truncated\": bool}, ...]}
  obs is always a list ([5] for a discrete observation). Stepping stops after the first step that
  terminates or truncates, whatever actions follow.
Stochastic environments (picorl's extension): a step may carry Gymnasium's random draws,
  \"u\" (the uniform of categorical_sample, in [0, 1)) and \"choice\" (the index Taxi's fickle
  passenger picked), each a number or a list; the step then uses exactly those draws, so a recorded
  trace of a slippery FrozenLake or CliffWalking, or a fickle Taxi, reproduces exactly
  (scripts/gym_traces.py records them). A step without them draws from picorl's own generator.
Errors: the first bad record (malformed JSON, unknown env, bad kwargs, wrong state length, bad
  action or draw) ends the replay with exit status 1 and one line `error: FILE line N: ...`;
  the records before it have been answered.

Examples:
  picorl env replay core/tests/fixtures/gym_traces.jsonl
  echo '{\"env\": \"FrozenLake-v1\", \"kwargs\": {\"is_slippery\": false}, \"initial_state\": 0, \"steps\": [{\"action\": 2}]}' | picorl env replay -";

/// `picorl env replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The JSON-lines file of records, or - for stdin.
    pub file: PathBuf,
}

/// The command line's definition, with `--algo`'s help generated from the algorithm registry
/// ([`crate::algo::HELP`]).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let help = crate::algo::algo_arg_help();
    Cli::command()
        .mut_subcommand("train", |c| c.mut_arg("algo", |a| a.help(help.clone())))
        .mut_subcommand("tune", |c| c.mut_arg("algo", |a| a.help(help.clone())))
}

/// Parses the process's arguments with [`command`]; a usage error (or `--help`) ends the process
/// as clap does (exit status 2, or 0 for help).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if cli.version {
        println!("{}", version());
        return Ok(());
    }
    match cli.command {
        None => {
            println!("{}", command().render_help());
            Ok(())
        }
        Some(Command::Train(a)) => train(a),
        Some(Command::Eval(a)) => eval_cmd(a),
        Some(Command::Export(a)) => crate::cli::commands::export(a),
        Some(Command::Inspect(a)) => crate::cli::commands::inspect(a),
        Some(Command::Infer(a)) => crate::cli::commands::infer(a),
        Some(Command::Bench(a)) => crate::cli::commands::bench(a),
        Some(Command::Plot(a)) => crate::viz::plot::compare(&a.into()).map(|_| ()),
        Some(Command::Render(a)) => crate::viz::render::render(a.into()),
        Some(Command::Env(EnvCommand::List)) => {
            env_list();
            Ok(())
        }
        Some(Command::Env(EnvCommand::Replay(a))) => crate::envs::replay::replay_path(&a.file),
        Some(Command::Tune(a)) => crate::tune::tune(a.into()),
        Some(Command::Import(a)) => crate::export::import::import(a.into()),
    }
}

/// The whole `picorl` command line with the environments of `registry` beside the built-ins:
/// what a user's `main` calls (see [`crate::envs::user_env`]). Parses the arguments, runs the command,
/// and returns the exit status (`error: …` on stderr and 1 on failure; clap's usage errors 2).
pub fn run_with(registry: crate::envs::user_env::Registry) -> std::process::ExitCode {
    let result = crate::envs::user_env::install(registry).and_then(|()| run(parse()));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `picorl --version`: picorl's version, libtorch's and the device training would use.
pub fn version() -> String {
    format!(
        "picorl {} (libtorch {}, device {})",
        env!("CARGO_PKG_VERSION"),
        device::libtorch_version(),
        device::name(tch::Device::cuda_if_available())
    )
}

fn train(a: TrainArgs) -> Result<()> {
    if a.seeds.is_some() {
        return crate::cli::seeds::train_seeds(&a);
    }
    if a.threads > 0 {
        crate::cli::limits::threads(a.threads as usize, a.force_threads)?;
    }
    crate::train::signal::install()?;
    let control = |resume: bool, extend: bool| crate::train::Control {
        resume,
        quiet: a.quiet,
        save_every: a.save_every,
        extend,
        interruptible: true,
        pictures: Some(|dir| crate::viz::plot::learning_curve(dir).map(|_| ())),
    };
    if let Some(dir) = &a.resume {
        let path = dir.join("config.toml");
        let mut cfg =
            ResolvedConfig::load(&path).with_context(|| format!("--resume {}", dir.display()))?;
        // A larger budget extends the run (a finished one too).
        let mut extend = false;
        if let Some(n) = a.total_steps {
            if n <= cfg.run.total_steps {
                bail!(
                    "--resume {} --total-steps {n}: the run's budget is already {} steps; to extend it, give more",
                    dir.display(),
                    cfg.run.total_steps
                );
            }
            cfg.run.total_steps = n;
            extend = true;
            // A curriculum stage: the environment's options change for the steps added.
            cfg.run
                .env_kwargs
                .extend(envs::parse_kwargs(&a.env_kwargs)?);
            if let Some(h) = a.stop_at_hover {
                cfg.run.stop_at_hover = Some(h);
            }
            envs::make(&cfg.run.env, &cfg.run.env_kwargs)?;
            crate::train::files::write_atomic(&path, cfg.to_toml()?.as_bytes())?;
        } else if !a.env_kwargs.is_empty() || a.stop_at_hover.is_some() {
            bail!(
                "--resume {} --env-kwargs/--stop-at-hover: a new stage of the run; give a larger --total-steps too",
                dir.display()
            );
        }
        crate::envs::gym::set_packages(&cfg.run.gym_packages);
        // Without a checkpoint yet (killed before the first), the run starts over in `dir`.
        let algo = cfg.run.algo.clone();
        return with_algo!(algo.as_str(), A => finish(crate::train::run_with::<A>(&cfg, dir, &control(true, extend))?));
    }
    let (Some(algo), Some(env)) = (a.algo.clone(), a.env.clone()) else {
        bail!("--algo and --env are required");
    };
    crate::envs::gym::set_packages(&a.gym_packages);
    with_algo!(algo.as_str(), A => {
        let cfg = resolve::<A>(&a, &algo, &env)?;
        let dir = a.out.clone().unwrap_or_else(|| crate::train::files::default_run_dir(&algo, &env, a.seed));
        check_new_run_dir(&dir)?;
        finish(crate::train::run_with::<A>(&cfg, &dir, &control(false, false))?)
    })
}

/// A new run's directory: absent, or an empty directory.
pub fn check_new_run_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!(
            "--out {}: a file, not a directory (choose another name)",
            dir.display()
        );
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "--out {}: the directory exists and is not empty (choose another, or --resume it)",
            dir.display()
        );
    }
    Ok(())
}

/// Reports the end of a training: the summary JSON on stdout and one line for people on
/// stderr; an interrupted run says how to resume it and ends the process with 128 + the signal.
fn finish(outcome: crate::train::Outcome) -> Result<()> {
    let dir = crate::train::shell_word(&outcome.dir.display().to_string());
    eprintln!("{}", summary_line(&outcome.summary, &outcome.dir));
    if let Some(sig) = outcome.interrupted {
        eprintln!(
            "{} at step {}: the checkpoint, summary.json and learning_curve.png are saved; resume with:",
            sig.name(),
            crate::train::progress::count(outcome.summary["total_steps"].as_u64().unwrap_or(0))
        );
        eprintln!("picorl train --resume {dir}");
        return Err(crate::util::pipe::Interrupted {
            code: sig.exit_code(),
        }
        .into());
    }
    println!("{}", outcome.summary);
    Ok(())
}

/// The one human line that ends a training: what ran, how long, how well, where.
pub fn summary_line(summary: &serde_json::Value, dir: &Path) -> String {
    use crate::train::progress::{count, num};
    let f = |k: &str| summary[k].as_f64().unwrap_or(f64::NAN);
    let mut line = format!(
        "{} on {} (seed {}): {} steps, {:.1} s training + {:.1} s evaluating",
        summary["algo"].as_str().unwrap_or("?"),
        summary["env"].as_str().unwrap_or("?"),
        summary["seed"],
        count(summary["total_steps"].as_u64().unwrap_or(0)),
        f("train_seconds"),
        f("eval_seconds"),
    );
    if summary["final_eval_mean"].is_number() {
        line.push_str(&format!(
            "; last evaluation {} ± {}",
            num(f("final_eval_mean")),
            num(f("final_eval_std"))
        ));
    }
    if let Some(step) = summary["solved_at_step"].as_u64() {
        line.push_str(&format!(
            "; solved at step {} ({:.1} s)",
            count(step),
            f("solved_train_seconds")
        ));
    }
    line.push_str(&format!(" — {}", dir.display()));
    line
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    if a.episodes == 0 {
        bail!("--episodes must be positive");
    }
    crate::envs::gym::set_packages(&a.gym_packages);
    let (res, env_id, kwargs) = if a.path.is_dir() {
        eval_run_dir(&a)?
    } else if a.path.exists() {
        crate::cli::commands::eval_file(&a)?
    } else {
        bail!("{}: no such run directory or file", a.path.display());
    };
    // A trading agent is judged against buy-and-hold on the same markets.
    let benchmark = if env_id == crate::envs::trading::ID {
        let mut env = envs::make(&env_id, &kwargs)?;
        Some(crate::envs::trading::buy_and_hold(
            env.as_mut(),
            a.seed,
            a.episodes,
        )?)
    } else {
        None
    };
    if a.json {
        let mut out = json!({
            "episodes": res.returns.len(),
            "seeds": res.seeds,
            "returns": res.returns,
            "mean_return": res.mean(),
            "std_return": res.std(),
        });
        if let Some(h) = &res.hovered {
            out["hovered"] = json!(h);
            out["hover_success"] = json!(crate::envs::hover::share(h));
            out["final_states"] = json!(res.final_states);
        }
        if let Some(b) = &benchmark {
            out["buy_and_hold_returns"] = json!(b.returns);
            out["buy_and_hold_mean_return"] = json!(b.mean());
        }
        println!("{out}");
    } else if let Some(b) = &benchmark {
        println!(
            "{:>8} {:>12} {:>8} {:>14}",
            "seed", "return", "steps", "buy_and_hold"
        );
        for i in 0..res.returns.len() {
            println!(
                "{:>8} {:>12} {:>8} {:>14}",
                res.seeds[i],
                crate::train::progress::num(res.returns[i]),
                res.lengths[i],
                crate::train::progress::num(b.returns[i])
            );
        }
        println!(
            "mean_return={:?} std_return={:?} episodes={} buy_and_hold_mean_return={:?}",
            res.mean(),
            res.std(),
            res.returns.len(),
            b.mean()
        );
    } else {
        println!("{:>8} {:>12} {:>8}", "seed", "return", "steps");
        for i in 0..res.returns.len() {
            println!(
                "{:>8} {:>12} {:>8}",
                res.seeds[i],
                crate::train::progress::num(res.returns[i]),
                res.lengths[i]
            );
        }
        println!(
            "mean_return={:?} std_return={:?} episodes={}",
            res.mean(),
            res.std(),
            res.returns.len()
        );
        if let Some(h) = &res.hovered {
            println!(
                "hover_success={:?} hovered={} episodes={}",
                crate::envs::hover::share(h),
                h.iter().filter(|x| **x).count(),
                h.len()
            );
        }
    }
    Ok(())
}

/// The evaluation of a run directory, with the environment it was run on.
type Evaluated = (
    eval::EvalResult,
    String,
    std::collections::BTreeMap<String, String>,
);

fn eval_run_dir(a: &EvalArgs) -> Result<Evaluated> {
    let dir = &a.path;
    let cfg = ResolvedConfig::load(&dir.join("config.toml"))
        .with_context(|| format!("{} is no run directory", dir.display()))?;
    let algo = cfg.run.algo.clone();
    with_algo!(algo.as_str(), A => {
        let (mut agent, setup) = crate::train::load_run::<A>(dir, &cfg)?;
        let env_id = a.env.clone().unwrap_or(setup.run.env.clone());
        let kwargs = if a.env_kwargs.is_empty() { setup.run.env_kwargs.clone() } else { envs::parse_kwargs(&a.env_kwargs)? };
        let mut env = envs::make(&env_id, &kwargs)?;
        let res = eval::evaluate(env.as_mut(), &mut agent, a.seed, a.episodes)?;
        Ok((res, env_id, kwargs))
    })
}

fn env_list() {
    println!(
        "{:<28} {:<14} {:<14} {:>17}",
        "id", "observation", "action", "max_episode_steps"
    );
    for s in envs::specs() {
        println!(
            "{:<28} {:<14} {:<14} {:>17}",
            s.id,
            envs::space_text(&s.observation_space),
            envs::space_text(&s.action_space),
            if s.max_episode_steps == u32::MAX {
                "none".to_string()
            } else {
                s.max_episode_steps.to_string()
            }
        );
    }
}
