//! A new run's configuration from the command line: the built-in or `--config` section of the
//! environment, `--set`, the flags, and the checks that name the culprit before anything is
//! written.

use anyhow::{bail, Context, Result};

use super::TrainArgs;
use crate::envs;
use crate::train::config::{self, ResolvedConfig, RunOptions, Source};
use crate::train::device;
use crate::train::Algorithm;

/// Resolves the config of a new run from the built-in or `--config` file, `--set` and the flags.
pub fn resolve<A: Algorithm>(a: &TrainArgs, algo: &str, env: &str) -> Result<ResolvedConfig> {
    if !crate::envs::gym::is_gym(env) {
        envs::spec(env)?;
    }
    let (text, source) = match &a.config {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("--config {}", p.display()))?,
            Source::File(p.clone()),
        ),
        None => match crate::envs::user_env::find(env) {
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
        Err(_) if crate::envs::gym::is_gym(env) && !has_section(&text, env) => {
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
    // The config's environment options, each overridden by the same key on the command line.
    let mut env_kwargs = config::env_kwargs(&run, &source)?;
    env_kwargs.extend(envs::parse_kwargs(&a.env_kwargs)?);
    envs::make(env, &env_kwargs)?;
    let total_steps = match a.total_steps {
        Some(n) => n,
        None => config::run_key(&run, "total_steps", &source)?.ok_or_else(|| {
            anyhow::anyhow!("{source}: [{env}] sets no total_steps; pass --total-steps")
        })?,
    };
    if total_steps == 0 || total_steps > crate::cli::limits::MAX_STEPS {
        bail!(
            "{source}: `total_steps` = {total_steps}: must be from 1 to {}",
            crate::train::progress::count(crate::cli::limits::MAX_STEPS)
        );
    }
    let eval_episodes = a
        .eval_episodes
        .or(config::run_key(&run, "eval_episodes", &source)?)
        .unwrap_or(10);
    if eval_episodes == 0 || u64::from(eval_episodes) > crate::cli::limits::MAX_EPISODES {
        bail!(
            "`eval_episodes` = {eval_episodes}: must be from 1 to {}",
            crate::train::progress::count(crate::cli::limits::MAX_EPISODES)
        );
    }
    let stop_at_return: Option<f64> = match a.stop_at_return {
        Some(r) => Some(r),
        None => config::run_key(&run, "stop_at_return", &source)?,
    };
    let stop_at_hover: Option<f64> = match a.stop_at_hover {
        Some(h) => Some(h),
        None => config::run_key(&run, "stop_at_hover", &source)?,
    };
    if let Some(h) = stop_at_hover {
        if !(0.0..=1.0).contains(&h) {
            bail!(
                "{source} (or --stop-at-hover): `stop_at_hover` = {h}: must be a share in [0, 1]"
            );
        }
        if crate::envs::hover::Judge::for_env(env).is_none() {
            bail!("--stop-at-hover: {env} has no hover success figure (Quadrotor-v0 has)");
        }
    }
    if let Some(r) = stop_at_return.filter(|r| !r.is_finite()) {
        bail!("{source} (or --set): `stop_at_return` = {r}: must be a finite number");
    }
    let log_interval: u64 =
        config::run_key(&run, "log_interval", &source)?.unwrap_or(config::LOG_INTERVAL);
    if log_interval == 0 {
        bail!("{source} (or --set): `log_interval` = 0: must be positive (a metrics row every N steps)");
    }
    // The networks and replay memory against this machine's memory, and the rollout against
    // the budget, before libtorch allocates anything.
    let spec = envs::spec(env)?;
    let act_dim = match spec.action_space {
        picorl_core::env::Space::Discrete { n } => n as usize,
        picorl_core::env::Space::Box { dim, .. } => dim,
    };
    crate::cli::limits::check_hyper(&table, spec.observation_space.flat_dim(), act_dim)
        .map_err(|e| anyhow::anyhow!("{source} (or --set): {e}"))?;
    let budget = match a.total_steps {
        Some(_) => "--total-steps".to_string(),
        None => format!("{source}: total_steps"),
    };
    // A built-in budget runs whatever its last round adds, said only when the user chose the
    // budget or the round.
    let chosen = a.total_steps.is_some() || !a.set.is_empty();
    let chosen = chosen || !matches!(source, crate::train::config::Source::BuiltIn(_));
    if let Some(warning) = crate::cli::limits::check_budget(&table, total_steps, &budget)? {
        if chosen {
            eprintln!("{warning}");
        }
    }
    device::resolve(&a.device)?;
    let backend: crate::train::config::BackendChoice = a.backend.parse()?;
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
            log_interval,
            stop_at_hover,
            gym_packages: a.gym_packages.clone(),
            backend,
        },
        hyper: table,
    })
}

/// Whether a config text (valid TOML) has a section `env`.
fn has_section(text: &str, env: &str) -> bool {
    toml::from_str::<toml::Table>(text).map_or(true, |d| d.contains_key(env))
}
