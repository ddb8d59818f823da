//! The `picorl` command line: argument definitions and the commands behind them. Results go to
//! stdout (one JSON object with `--json`), progress and logs to stderr; errors end with exit 1
//! and one `error: …` line that names the culprit (clap's usage errors exit 2).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::train::config::{self, ResolvedConfig, RunOptions, Source};
use crate::train::{Algorithm, Setup, CHECKPOINT};
use crate::{device, envs, eval, with_algo};

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
    #[command(after_help = crate::plot::PLOT_HELP)]
    Plot(crate::plot::PlotArgs),
    /// Draw a policy at work: an episode as a GIF, or a grid world's policy and values.
    ///
    /// An episode as a GIF (CartPole, Pendulum, MountainCar, Acrobot), or for grid worlds the
    /// map with the greedy policy as arrows and the state values as a heat map.
    #[command(after_help = crate::render::RENDER_HELP)]
    Render(crate::render::RenderArgs),
    /// Environments: list them, or replay Gymnasium traces against them.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Search hyper-parameters with Optuna: each trial a `picorl train` run, pruned on its
    /// evaluations; the study in a local file or a database that workers on many machines share.
    #[command(after_help = crate::tune::TUNE_HELP)]
    Tune(crate::tune::TuneArgs),
    /// Import an MLP policy trained elsewhere (Stable-Baselines3, CleanRL) from ONNX to a
    /// .picorl file, with export's calibration, quantization and report.
    #[command(after_help = crate::import::IMPORT_HELP)]
    Import(crate::import::ImportArgs),
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
          value_parser = crate::limits::parse_count_u32(1, crate::limits::MAX_EPISODES as u32))]
    pub calib_episodes: u32,
    /// Episodes compared in the report (seeds 0, 1, …), run's policy against the exported file.
    #[arg(long, default_value_t = 100, allow_hyphen_values = true,
          value_parser = crate::limits::parse_count_u32(1, crate::limits::MAX_EPISODES as u32))]
    pub eval_episodes: u32,
    /// Which checkpoint: `last` (the end of training) or `best` (the best evaluation's).
    #[arg(long, default_value = "last", value_parser = ["last", "best"])]
    pub which: String,
    /// int8: steps of quantization-aware fine-tuning of a copy of the layers on the calibration
    /// rollouts (0: none); the file keeps whichever of the two keeps more decisions.
    #[arg(long, default_value_t = 0, value_name = "STEPS", allow_hyphen_values = true,
          value_parser = crate::limits::parse_count_u32(0, 1_000_000))]
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
          value_parser = crate::limits::parse_count(1, crate::limits::MAX_ITERATIONS))]
    pub iterations: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `picorl train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The algorithm: qlearning, sarsa, dqn, reinforce, a2c, ppo, ddpg, td3 or sac.
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
    /// An environment option, as Gymnasium names it (repeatable).
    #[arg(
        long = "env-kwargs",
        value_name = "KEY=VALUE",
        conflicts_with = "resume"
    )]
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
          value_parser = crate::limits::parse_count(0, crate::limits::MAX_FORCED_THREADS as u64))]
    pub threads: u64,
    /// Allow --threads beyond the machine's cores.
    #[arg(long, requires = "threads")]
    pub force_threads: bool,
    /// Environment steps (overrides the config's budget; with --resume, a larger budget extends
    /// the run, a finished one too).
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = crate::limits::parse_count(1, crate::limits::MAX_STEPS))]
    pub total_steps: Option<u64>,
    /// Evaluate every N environment steps (0: only at the end).
    #[arg(long, value_name = "N", conflicts_with = "resume", allow_hyphen_values = true,
          value_parser = crate::limits::parse_count(0, crate::limits::MAX_STEPS))]
    pub eval_every: Option<u64>,
    /// Episodes per evaluation (reset seeds 10000, 10001, …).
    #[arg(long, value_name = "K", conflicts_with = "resume", allow_hyphen_values = true,
          value_parser = crate::limits::parse_count_u32(1, crate::limits::MAX_EPISODES as u32))]
    pub eval_episodes: Option<u32>,
    /// Stop once an evaluation's mean return is at least R.
    #[arg(
        long,
        value_name = "R",
        conflicts_with = "resume",
        allow_hyphen_values = true,
        value_parser = crate::limits::parse_finite
    )]
    pub stop_at_return: Option<f64>,
    /// Also checkpoint every N environment steps (besides after each evaluation).
    #[arg(long, value_name = "N", allow_hyphen_values = true,
          value_parser = crate::limits::parse_count(1, crate::limits::MAX_STEPS))]
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
          value_parser = crate::limits::parse_count_u32(1, crate::limits::MAX_EPISODES as u32))]
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

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    if cli.version {
        println!("{}", version());
        return Ok(());
    }
    match cli.command {
        None => {
            use clap::CommandFactory;
            println!("{}", Cli::command().render_help());
            Ok(())
        }
        Some(Command::Train(a)) => train(a),
        Some(Command::Eval(a)) => eval_cmd(a),
        Some(Command::Export(a)) => crate::commands::export(a),
        Some(Command::Inspect(a)) => crate::commands::inspect(a),
        Some(Command::Infer(a)) => crate::commands::infer(a),
        Some(Command::Bench(a)) => crate::commands::bench(a),
        Some(Command::Plot(a)) => crate::plot::compare(&a).map(|_| ()),
        Some(Command::Render(a)) => crate::render::render(a),
        Some(Command::Env(EnvCommand::List)) => {
            env_list();
            Ok(())
        }
        Some(Command::Env(EnvCommand::Replay(a))) => crate::replay::replay_path(&a.file),
        Some(Command::Tune(a)) => crate::tune::tune(a),
        Some(Command::Import(a)) => crate::import::import(a),
    }
}

/// The whole `picorl` command line with the environments of `registry` beside the built-ins:
/// what a user's `main` calls (see [`crate::user_env`]). Parses the arguments, runs the command,
/// and returns the exit status (`error: …` on stderr and 1 on failure; clap's usage errors 2).
pub fn run_with(registry: crate::user_env::Registry) -> std::process::ExitCode {
    let result = crate::user_env::install(registry).and_then(|()| run(Cli::parse()));
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
        return crate::seeds::train_seeds(&a);
    }
    if a.threads > 0 {
        crate::limits::threads(a.threads as usize, a.force_threads)?;
    }
    crate::signal::install()?;
    let control = |resume: bool, extend: bool| crate::train::Control {
        resume,
        quiet: a.quiet,
        save_every: a.save_every,
        extend,
        interruptible: true,
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
            crate::train::files::write_atomic(&path, cfg.to_toml()?.as_bytes())?;
        }
        crate::gym::set_packages(&cfg.run.gym_packages);
        // Without a checkpoint yet (killed before the first), the run starts over in `dir`.
        let algo = cfg.run.algo.clone();
        return with_algo!(algo.as_str(), A => finish(crate::train::run_with::<A>(&cfg, dir, &control(true, extend))?));
    }
    let (Some(algo), Some(env)) = (a.algo.clone(), a.env.clone()) else {
        bail!("--algo and --env are required");
    };
    crate::gym::set_packages(&a.gym_packages);
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
            crate::progress::count(outcome.summary["total_steps"].as_u64().unwrap_or(0))
        );
        eprintln!("picorl train --resume {dir}");
        return Err(crate::pipe::Interrupted {
            code: sig.exit_code(),
        }
        .into());
    }
    println!("{}", outcome.summary);
    Ok(())
}

/// The one human line that ends a training: what ran, how long, how well, where.
pub fn summary_line(summary: &serde_json::Value, dir: &Path) -> String {
    use crate::progress::{count, num};
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

/// Resolves the config of a new run from the built-in or `--config` file, `--set` and the flags.
pub fn resolve<A: Algorithm>(a: &TrainArgs, algo: &str, env: &str) -> Result<ResolvedConfig> {
    if !crate::gym::is_gym(env) {
        envs::spec(env)?;
    }
    let (text, source) = match &a.config {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("--config {}", p.display()))?,
            Source::File(p.clone()),
        ),
        None => match crate::user_env::find(env) {
            // An environment of the user's own: the hyper-parameters it registered for `algo`.
            Some(user) => (
                user.config_for(algo)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{env} registers no {algo} hyper-parameters: pass --config FILE with an [{env}] section"
                        )
                    })?
                    .to_string(),
                Source::BuiltIn(format!("{env}'s registered {algo} config")),
            ),
            None => (
                A::CONFIG.to_string(),
                Source::BuiltIn(format!("configs/{algo}.toml")),
            ),
        },
    };
    let mut section = match config::section::<A::Hyper>(&text, &source, env) {
        // A Gymnasium id without a section of its own trains with the algorithm's defaults.
        Err(_) if crate::gym::is_gym(env) && !has_section(&text, env) => {
            eprintln!(
                "note: {source} has no [\"{env}\"] section: {algo}'s default hyper-parameters"
            );
            toml::Table::new()
        }
        r => r?,
    };
    for s in &a.set {
        config::apply_set::<A::Hyper>(&mut section, s)?;
    }
    let (_hyper, table, run) = config::resolve::<A::Hyper>(section, &source)?;
    let env_kwargs = envs::parse_kwargs(&a.env_kwargs)?;
    envs::make(env, &env_kwargs)?;
    let total_steps = match a.total_steps {
        Some(n) => n,
        None => config::run_key(&run, "total_steps", &source)?.ok_or_else(|| {
            anyhow::anyhow!("{source}: [{env}] sets no total_steps; pass --total-steps")
        })?,
    };
    if total_steps == 0 || total_steps > crate::limits::MAX_STEPS {
        bail!(
            "{source}: `total_steps` = {total_steps}: must be from 1 to {}",
            crate::progress::count(crate::limits::MAX_STEPS)
        );
    }
    let eval_episodes = a
        .eval_episodes
        .or(config::run_key(&run, "eval_episodes", &source)?)
        .unwrap_or(10);
    if eval_episodes == 0 || u64::from(eval_episodes) > crate::limits::MAX_EPISODES {
        bail!(
            "`eval_episodes` = {eval_episodes}: must be from 1 to {}",
            crate::progress::count(crate::limits::MAX_EPISODES)
        );
    }
    let stop_at_return: Option<f64> = match a.stop_at_return {
        Some(r) => Some(r),
        None => config::run_key(&run, "stop_at_return", &source)?,
    };
    if let Some(r) = stop_at_return.filter(|r| !r.is_finite()) {
        bail!("{source} (or --set): `stop_at_return` = {r}: must be a finite number");
    }
    // The networks and replay memory against this machine's memory, and the rollout against
    // the budget, before libtorch allocates anything.
    let spec = envs::spec(env)?;
    let act_dim = match spec.action_space {
        picorl_core::env::Space::Discrete { n } => n as usize,
        picorl_core::env::Space::Box { dim, .. } => dim,
    };
    crate::limits::check_hyper(&table, spec.observation_space.flat_dim(), act_dim)
        .map_err(|e| anyhow::anyhow!("{source} (or --set): {e}"))?;
    if let Some(warning) = crate::limits::check_budget(&table, total_steps)? {
        eprintln!("{warning}");
    }
    device::resolve(&a.device)?;
    Ok(ResolvedConfig {
        run: RunOptions {
            algo: algo.to_string(),
            env: env.to_string(),
            env_kwargs,
            seed: a.seed,
            device: a.device.clone(),
            threads: a.threads as usize,
            total_steps,
            eval_every: a
                .eval_every
                .or(config::run_key(&run, "eval_every", &source)?)
                .unwrap_or(0),
            eval_episodes,
            stop_at_return,
            gym_packages: a.gym_packages.clone(),
        },
        hyper: table,
    })
}

/// Whether a config text (valid TOML) has a section `env`.
fn has_section(text: &str, env: &str) -> bool {
    toml::from_str::<toml::Table>(text).map_or(true, |d| d.contains_key(env))
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    if a.episodes == 0 {
        bail!("--episodes must be positive");
    }
    crate::gym::set_packages(&a.gym_packages);
    let (res, env_id, kwargs) = if a.path.is_dir() {
        eval_run_dir(&a)?
    } else if a.path.exists() {
        crate::commands::eval_file(&a)?
    } else {
        bail!("{}: no such run directory or file", a.path.display());
    };
    // A trading agent is judged against buy-and-hold on the same markets.
    let benchmark = if env_id == crate::trading::ID {
        let mut env = envs::make(&env_id, &kwargs)?;
        Some(crate::trading::buy_and_hold(
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
                crate::progress::num(res.returns[i]),
                res.lengths[i],
                crate::progress::num(b.returns[i])
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
                crate::progress::num(res.returns[i]),
                res.lengths[i]
            );
        }
        println!(
            "mean_return={:?} std_return={:?} episodes={}",
            res.mean(),
            res.std(),
            res.returns.len()
        );
    }
    Ok(())
}

/// Loads a run directory's algorithm with its checkpoint, ready to act or export.
pub fn load_run<A: Algorithm>(dir: &Path, cfg: &ResolvedConfig) -> Result<(A, Setup)> {
    load_run_from(dir, cfg, CHECKPOINT)
}

/// [`load_run`] from a checkpoint of the run by name: [`CHECKPOINT`] (the last) or
/// [`crate::train::BEST`] (the best evaluation's).
pub fn load_run_from<A: Algorithm>(
    dir: &Path,
    cfg: &ResolvedConfig,
    checkpoint: &str,
) -> Result<(A, Setup)> {
    let mut run = cfg.run.clone();
    run.device = "cpu".into();
    if crate::gym::packages().is_empty() {
        crate::gym::set_packages(&run.gym_packages);
    }
    let spec = *envs::make(&run.env, &run.env_kwargs)?.spec();
    let setup = Setup {
        run,
        device: tch::Device::Cpu,
        spec,
    };
    // Its initial weights, drawn from libtorch's generator, are replaced by the checkpoint's.
    let mut algo = {
        let _turn = crate::train::torch_generator();
        A::new(&setup, cfg.hyper()?)?
    };
    let ckpt = dir.join(checkpoint);
    if !ckpt.exists() {
        bail!(
            "{}: no {checkpoint} (the run has not saved {} yet)",
            dir.display(),
            if checkpoint == CHECKPOINT {
                "a checkpoint"
            } else {
                "an evaluated checkpoint"
            }
        );
    }
    algo.load(&ckpt)?;
    Ok((algo, setup))
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
        let (mut agent, setup) = load_run::<A>(dir, &cfg)?;
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
