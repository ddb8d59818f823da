//! The arguments of the commands whose work lives in another room (`render` and `plot` in
//! `viz`, `import` in `export`, `tune`): clap's definitions here, converted to the plain option
//! structs those rooms take, so that clap stays in `cli`.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};

use crate::export::import::ImportOptions;
use crate::tune::TuneOptions;
use crate::viz::plot::{PlotOptions, Source, XAxis};
use crate::viz::RenderOptions;

/// `picorl render`.
#[derive(Args, Debug)]
pub struct RenderArgs {
    /// A run directory (its checkpoint) or a .picorl file.
    pub source: PathBuf,
    /// The environment id (default: the run's, or the one the .picorl file records).
    #[arg(long)]
    pub env: Option<String>,
    /// An environment option (repeatable; default: the run's).
    #[arg(long = "env-kwargs", value_name = "KEY=VALUE")]
    pub env_kwargs: Vec<String>,
    /// The file to write: .gif (an episode) or .png (one picture).
    #[arg(long)]
    pub out: PathBuf,
    /// The episode's reset seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The most steps drawn (default: the environment's time limit, or 500 without one).
    #[arg(long)]
    pub max_steps: Option<u32>,
    /// Draw every K-th step (the last step is always drawn).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub every: u32,
    /// Frames per second of the GIF (default: Gymnasium's `render_fps` for the environment).
    #[arg(long)]
    pub fps: Option<f64>,
    /// The picture's size in pixels, WIDTHxHEIGHT (default: the environment's own).
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// Python modules the Gymnasium workers import before `gymnasium.make` (`--env gym:ID`;
    /// default: the run's).
    #[arg(long = "gym-packages", value_name = "MODULE", num_args = 1..)]
    pub gym_packages: Vec<String>,
}

impl From<RenderArgs> for RenderOptions {
    fn from(a: RenderArgs) -> Self {
        Self {
            source: a.source,
            env: a.env,
            env_kwargs: a.env_kwargs,
            out: a.out,
            seed: a.seed,
            max_steps: a.max_steps,
            every: a.every,
            fps: a.fps,
            size: a.size,
            gym_packages: a.gym_packages,
        }
    }
}

/// `picorl plot`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Run directories (seeds and algorithms); runs of one algorithm on one environment are one
    /// group, drawn as its mean and spread.
    #[arg(required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// The picture to write (.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Which returns: eval (evaluation means), train (training episodes) or auto.
    #[arg(long, value_enum, default_value = "auto")]
    pub source: Source,
    /// The x axis: environment steps or training seconds.
    #[arg(long, value_enum, default_value = "steps")]
    pub x: XAxis,
    /// The chart's title (default: the environments' ids).
    #[arg(long)]
    pub title: Option<String>,
    /// The picture's size in pixels, WIDTHxHEIGHT (default: 900x560 per environment).
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// One line per run, named by its directory, instead of a group per algorithm (how
    /// `picorl tune` draws its best trials).
    #[arg(long)]
    pub by_run: bool,
}

impl From<PlotArgs> for PlotOptions {
    fn from(a: PlotArgs) -> Self {
        Self {
            runs: a.runs,
            out: a.out,
            source: a.source,
            x: a.x,
            title: a.title,
            size: a.size,
            by_run: a.by_run,
        }
    }
}

/// `picorl import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The ONNX model.
    pub file: PathBuf,
    /// The environment the policy acts in (its spaces and bounds, and the calibration rollouts).
    #[arg(long)]
    pub env: String,
    /// An environment option, as Gymnasium names it (repeatable).
    #[arg(long = "env-kwargs", value_name = "KEY=VALUE")]
    pub env_kwargs: Vec<String>,
    /// The file to write: .picorl (or .onnx / .tflite, as export writes them).
    #[arg(long)]
    pub out: PathBuf,
    /// Weights and arithmetic: f32, or int8 (integer-only, TFLite Micro's arithmetic).
    #[arg(long, default_value = "f32")]
    pub quant: String,
    /// The graph output that is the action or the head's inputs (default: the first output).
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// The head, when the graph ends in raw outputs: auto (argmax for discrete actions, clip to
    /// the bounds for continuous ones), or tanh (a squash to the bounds: an actor exported
    /// without its tanh, as older SB3 docs show for SAC).
    #[arg(long, default_value = "auto", value_parser = ["auto", "tanh"])]
    pub head: String,
    /// SB3 VecNormalize statistics, JSON: {"mean", "var", "epsilon", "clip_obs"}.
    #[arg(long, value_name = "FILE")]
    pub obs_norm: Option<PathBuf>,
    /// Episodes of the imported policy whose observations calibrate int8 activation ranges
    /// (reset seeds 20000, 20001, …).
    #[arg(long, default_value_t = 20)]
    pub calib_episodes: u32,
    /// Episodes compared in the report (seeds 0, 1, …), the ONNX function against the file.
    #[arg(long, default_value_t = 20)]
    pub eval_episodes: u32,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

impl From<ImportArgs> for ImportOptions {
    fn from(a: ImportArgs) -> Self {
        Self {
            file: a.file,
            env: a.env,
            env_kwargs: a.env_kwargs,
            out: a.out,
            quant: a.quant,
            output: a.output,
            head: a.head,
            obs_norm: a.obs_norm,
            calib_episodes: a.calib_episodes,
            eval_episodes: a.eval_episodes,
            json: a.json,
        }
    }
}

/// `picorl tune`.
#[derive(Args, Debug)]
pub struct TuneArgs {
    /// The algorithm (the list is the registry's: `crate::algo::HELP`).
    #[arg(long)]
    pub algo: String,
    /// The environment id.
    #[arg(long)]
    pub env: String,
    /// Trials this worker runs (the study holds every worker's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub trials: u32,
    /// Trials run at once by this worker.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: u32,
    /// The study's database, as SQLAlchemy names it (default: sqlite:///OUT/study.db).
    #[arg(long, value_name = "URL")]
    pub storage: Option<String>,
    /// The study's name (default: ALGO-ENV).
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
    /// The directory of the trials' runs, best.toml and the summary (default: tune/ALGO-ENV).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The seed of every trial's training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seed Optuna's sampler too (reproducible with --jobs 1 and one worker).
    #[arg(long, value_name = "N")]
    pub sampler_seed: Option<u64>,
    /// Optuna's pruner: median, halving (successive halving) or none.
    #[arg(long, default_value = "median", value_parser = ["median", "halving", "none"])]
    pub pruner: String,
    /// A TOML file overriding the built-in search space (a table per key).
    #[arg(long, value_name = "FILE")]
    pub space: Option<PathBuf>,
    /// The trials' base config (default: the built-in one) as `picorl train --config` takes it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Environment steps per trial (default: the config's budget).
    #[arg(long)]
    pub total_steps: Option<u64>,
    /// Evaluate, and report to the pruner, every N steps (default: the config's).
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Episodes per evaluation (default: the config's).
    #[arg(long)]
    pub eval_episodes: Option<u32>,
    /// Stop a trial once an evaluation reaches R; the objective then rewards fewer steps.
    #[arg(long, value_name = "R", allow_hyphen_values = true)]
    pub stop_at_return: Option<f64>,
    /// CPU threads of each trial's libtorch (0: its default).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Where each trial learns: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seconds between a running trial's heartbeats in the storage.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub heartbeat: u32,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Only the summary of OUT's `tune.json` (the driver runs this when its trials are done).
    #[arg(long, hide = true)]
    pub finish: bool,
}

impl From<TuneArgs> for TuneOptions {
    fn from(a: TuneArgs) -> Self {
        Self {
            algo: a.algo,
            env: a.env,
            trials: a.trials,
            jobs: a.jobs,
            storage: a.storage,
            study: a.study,
            out: a.out,
            seed: a.seed,
            sampler_seed: a.sampler_seed,
            pruner: a.pruner,
            space: a.space,
            config: a.config,
            total_steps: a.total_steps,
            eval_every: a.eval_every,
            eval_episodes: a.eval_episodes,
            stop_at_return: a.stop_at_return,
            threads: a.threads,
            device: a.device,
            heartbeat: a.heartbeat,
            json: a.json,
            finish: a.finish,
        }
    }
}

impl ValueEnum for XAxis {
    fn value_variants<'a>() -> &'a [Self] {
        &[XAxis::Steps, XAxis::Seconds]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            XAxis::Steps => PossibleValue::new("steps").help("Environment steps"),
            XAxis::Seconds => PossibleValue::new("seconds")
                .help("Training seconds (evaluation excluded; only with `--source eval`)"),
        })
    }
}

impl ValueEnum for Source {
    fn value_variants<'a>() -> &'a [Self] {
        &[Source::Auto, Source::Eval, Source::Train]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Source::Auto => PossibleValue::new("auto").help(
                "Evaluation means (`eval.csv`) when every run has at least two, else training episodes",
            ),
            Source::Eval => PossibleValue::new("eval")
                .help("The deterministic policy's evaluation means (`eval.csv`)"),
            Source::Train => PossibleValue::new("train").help(
                "Training-episode returns (`episodes.csv`), as a trailing mean of 20 episodes",
            ),
        })
    }
}
