//! The bounds of every number picorl takes, checked before anything is allocated or written, each
//! error naming the option or key and its bound: command-line numbers ([`parse_count`],
//! [`threads`]), hyper-parameters ([`check_hyper`]: integer keys within [`INT_BOUNDS`], layer
//! widths, the networks' and the replay memory's size against the machine's memory) and the budget
//! against a rollout ([`check_budget`]).

use anyhow::{bail, Result};

use crate::train::progress::count;

/// The largest `--total-steps` (and step interval) picorl takes: 10^11, days of training at
/// the fastest rate picorl steps an environment.
pub const MAX_STEPS: u64 = 100_000_000_000;
/// The most episodes an evaluation, a calibration or an export report takes.
pub const MAX_EPISODES: u64 = 1_000_000;
/// The most inferences `picorl bench` times: 10^9 (minutes at a few microseconds each).
pub const MAX_ITERATIONS: u64 = 1_000_000_000;
/// The most threads `--force-threads` allows.
pub const MAX_FORCED_THREADS: usize = 1024;
/// The widest hidden layer.
pub const MAX_WIDTH: i64 = 65_536;
/// The most hidden layers in one network.
pub const MAX_DEPTH: usize = 64;

/// A clap value parser for a whole number in `min..=max`, whose error states the bound (and
/// takes `-5` as a value to refuse rather than as an unknown option).
pub fn parse_count(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> std::result::Result<u64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let bound = || {
            format!(
                "expected a whole number from {} to {}",
                count(min),
                count(max)
            )
        };
        let t = s.trim().replace('_', "");
        let v: u64 = match t.parse::<u64>() {
            Ok(v) => v,
            // 1e6 and 2.5e5 are whole numbers too.
            Err(_) => match t.parse::<f64>() {
                Ok(x) if x.fract() == 0.0 && x >= 0.0 && x <= max as f64 => x as u64,
                _ => return Err(bound()),
            },
        };
        if v < min || v > max {
            return Err(bound());
        }
        Ok(v)
    }
}

/// [`parse_count`] for `u32` options.
pub fn parse_count_u32(
    min: u32,
    max: u32,
) -> impl Fn(&str) -> std::result::Result<u32, String> + Clone + Send + Sync + 'static {
    let p = parse_count(u64::from(min), u64::from(max));
    move |s: &str| p(s).map(|v| v as u32)
}

/// A clap value parser for a finite number (`nan` and `inf` are refused).
pub fn parse_finite(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(x) => Err(format!("{x} is not a finite number")),
        Err(_) => Err("expected a number".to_string()),
    }
}

/// The CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Checks `--threads`: at most the machine's cores unless `forced` (then at most
/// [`MAX_FORCED_THREADS`]).
pub fn threads(n: usize, forced: bool) -> Result<()> {
    let cores = cores();
    if forced {
        if n > MAX_FORCED_THREADS {
            bail!("--threads {n}: at most {MAX_FORCED_THREADS}, even with --force-threads");
        }
    } else if n > cores {
        bail!(
            "--threads {n}: this machine has {cores} cores (at most {cores}; --force-threads to use more)"
        );
    }
    Ok(())
}

/// Integer hyper-parameters and their bounds, inclusive. A key not listed takes any value
/// within ±[`MAX_STEPS`].
pub const INT_BOUNDS: &[(&str, i64, i64)] = &[
    ("n_envs", 1, 4096),
    ("n_steps", 1, 1_000_000),
    ("batch_size", 1, 1_000_000),
    ("buffer_size", 1, 100_000_000),
    ("n_epochs", 1, 1000),
    ("n_step", 1, 1000),
    ("n_critics", 1, 100),
    ("policy_delay", 1, 1_000_000),
    ("train_freq", 1, 1_000_000),
    ("gradient_steps", -1, 100_000),
    ("sde_sample_freq", -1, 1_000_000),
    ("learning_starts", 0, MAX_STEPS as i64),
    ("log_interval", 1, MAX_STEPS as i64),
    ("target_update_interval", 1, MAX_STEPS as i64),
    ("epsilon_episodes", 0, 1_000_000_000),
    ("learning_rate_episodes", 0, 1_000_000_000),
];

/// The keys whose values are hidden-layer widths.
const WIDTH_KEYS: &[&str] = &["hidden", "actor_hidden", "critic_hidden"];

/// How many times its weights a network costs in memory while learning: the weights, their
/// gradients, Adam's two moments, a target copy, and as much again for activations and
/// libtorch's workspace (a generous estimate: the check is there to stop what cannot fit).
const BYTES_PER_PARAMETER: u64 = 4 * 8;

/// Checks the resolved hyper-parameters of a run on an environment with `obs_dim` observation
/// values and `act_dim` action values (the number of actions for a discrete space): every
/// integer within its bound, every layer width and depth within [`MAX_WIDTH`] and
/// [`MAX_DEPTH`], and the networks and the replay memory within the memory this machine has
/// available, before libtorch allocates any of it.
pub fn check_hyper(table: &toml::Table, obs_dim: usize, act_dim: usize) -> Result<()> {
    for (key, value) in table {
        if let Some(v) = value.as_integer() {
            let (lo, hi) = INT_BOUNDS
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, lo, hi)| (*lo, *hi))
                .unwrap_or((-(MAX_STEPS as i64), MAX_STEPS as i64));
            if v < lo || v > hi {
                bail!("`{key}` = {v}: must be from {lo} to {}", count(hi as u64));
            }
        }
    }
    let mut parameters: u128 = 0;
    let mut culprit = None;
    for key in WIDTH_KEYS {
        let Some(toml::Value::Array(a)) = table.get(*key) else {
            continue;
        };
        if a.len() > MAX_DEPTH {
            bail!("`{key}`: {} hidden layers, at most {MAX_DEPTH}", a.len());
        }
        let widths: Vec<i64> = a.iter().filter_map(toml::Value::as_integer).collect();
        if let Some(w) = widths.iter().find(|w| **w > MAX_WIDTH) {
            bail!(
                "`{key}` = {}: a layer of {} units; at most {} a layer",
                toml::Value::Array(a.clone()),
                count(*w as u64),
                count(MAX_WIDTH as u64)
            );
        }
        // in → widths… → out; a critic also takes the action (an upper bound either way).
        let mut fan_in = (obs_dim + act_dim) as u128;
        let mut n: u128 = 0;
        for w in widths.iter().map(|w| (*w).max(0) as u128) {
            n += (fan_in + 1) * w;
            fan_in = w;
        }
        n += (fan_in + 1) * (act_dim.max(1) as u128);
        // Twin critics and their targets are the largest case (TD3, SAC): four networks.
        let copies = if *key == "critic_hidden" { 2 } else { 1 };
        parameters += n * copies;
        if culprit.as_ref().is_none_or(|(_, _, m)| n * copies > *m) {
            culprit = Some((*key, toml::Value::Array(a.clone()), n * copies));
        }
    }
    let replay = table
        .get("buffer_size")
        .and_then(toml::Value::as_integer)
        .map(|b| b.max(0) as u128 * (2 * obs_dim as u128 + act_dim as u128 + 4) * 4)
        .unwrap_or(0);
    let needed = parameters * u128::from(BYTES_PER_PARAMETER) + replay;
    if let Some(available) = available_memory() {
        if needed > u128::from(available) {
            let what = match &culprit {
                Some((key, value, _)) if parameters * u128::from(BYTES_PER_PARAMETER) > replay => {
                    format!(
                        "`{key}` = {value}: the networks would hold about {} parameters, about {} with gradients and optimizer state",
                        count(parameters.min(u128::from(u64::MAX)) as u64),
                        bytes(needed)
                    )
                }
                _ => format!(
                    "`buffer_size` = {}: the replay memory would take about {}",
                    table
                        .get("buffer_size")
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    bytes(needed)
                ),
            };
            bail!(
                "{what}; this machine has {} available",
                bytes(u128::from(available))
            );
        }
    }
    Ok(())
}

/// The memory available to a new allocation (`MemAvailable` in `/proc/meminfo`), when known.
pub fn available_memory() -> Option<u64> {
    if let Ok(v) = std::env::var("PICORL_AVAILABLE_MEMORY") {
        return v.parse().ok();
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn bytes(n: u128) -> String {
    let gb = n as f64 / 1e9;
    if gb >= 1.0 {
        format!("{gb:.1} GB")
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}

/// The environment steps one training iteration takes, for the algorithms that step in fixed
/// rounds: a rollout of `n_envs × n_steps` (A2C, PPO), or `train_freq` steps of each of the
/// `n_envs` copies (DQN, DDPG, TD3, SAC). `None` for the others (episodes, or single steps).
pub fn round_steps(table: &toml::Table) -> Option<(u64, String)> {
    let int = |k: &str| {
        table
            .get(k)
            .and_then(toml::Value::as_integer)
            .map(|v| v.max(1) as u64)
    };
    let n_envs = int("n_envs").unwrap_or(1);
    if let Some(n_steps) = int("n_steps") {
        return Some((
            n_envs.saturating_mul(n_steps),
            format!("a rollout of n_envs {n_envs} × n_steps {n_steps}"),
        ));
    }
    int("train_freq").map(|f| {
        (
            n_envs.saturating_mul(f),
            format!("a round of n_envs {n_envs} × train_freq {f}"),
        )
    })
}

/// Checks the budget against the algorithm's round ([`round_steps`]): a round larger than the
/// budget is an error; a budget that is not a whole number of rounds is a warning that says the
/// total the run will take. Returns that warning. `budget` names where the budget came from.
pub fn check_budget(table: &toml::Table, total_steps: u64, budget: &str) -> Result<Option<String>> {
    let Some((round, what)) = round_steps(table) else {
        return Ok(None);
    };
    if round > total_steps {
        bail!(
            "{budget} {}: less than one training round, {what} = {} steps (lower them with --set, or train for at least {} steps)",
            count(total_steps),
            count(round),
            count(round)
        );
    }
    if !total_steps.is_multiple_of(round) {
        let taken = total_steps.div_ceil(round).saturating_mul(round);
        return Ok(Some(format!(
            "warning: {budget} {} is not a whole number of rounds ({what} = {} steps): the run takes {} steps",
            count(total_steps),
            count(round),
            count(taken)
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn counts_name_their_bound() {
        let p = parse_count(1, 1000);
        assert_eq!(p("5"), Ok(5));
        assert_eq!(p("1e3"), Ok(1000));
        for bad in ["-5", "0", "1001", "abc", "nan", "1.5"] {
            let e = p(bad).unwrap_err();
            assert!(e.contains("from 1 to 1,000"), "{bad}: {e}");
        }
        assert!(parse_finite("nan").is_err());
        assert!(parse_finite("-inf").is_err());
        assert_eq!(parse_finite("-475"), Ok(-475.0));
    }

    #[test]
    fn threads_beyond_the_cores_need_force() {
        let n = cores();
        assert!(threads(n, false).is_ok());
        let e = threads(n + 1, false).unwrap_err().to_string();
        assert!(
            e.contains("--force-threads") && e.contains(&n.to_string()),
            "{e}"
        );
        assert!(threads(n + 1, true).is_ok());
        assert!(threads(100_000, true).is_err());
    }

    #[test]
    fn hyper_parameters_within_bounds_and_memory() {
        assert!(check_hyper(&table("n_envs = 8\nhidden = [64, 64]"), 4, 2).is_ok());
        let e = check_hyper(&table("n_envs = 100000"), 4, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`n_envs`") && e.contains("4,096"), "{e}");
        let e = check_hyper(&table("hidden = [100000, 100000]"), 4, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`hidden`") && e.contains("65,536"), "{e}");
        // 2 × 65,536² ≈ 8.6 G parameters, about 275 GB: beyond the memory of the machines
        // this runs on.
        let e = check_hyper(&table("hidden = [65536, 65536, 65536]"), 4, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`hidden`") && e.contains("available"), "{e}");
    }

    /// The bounds refuse nothing picorl ships: every section of every built-in config.
    #[test]
    fn every_built_in_config_is_within_bounds() -> Result<()> {
        use crate::train::config::{resolve, section, Source};
        use crate::train::Algorithm;
        for name in crate::algo::NAMES {
            let r: Result<()> = crate::with_algo!(*name, A => (|| -> Result<()> {
                let doc: toml::Table = toml::from_str(<A as Algorithm>::CONFIG).unwrap();
                for env in doc.keys() {
                    let src = Source::BuiltIn("test".into());
                    let s = section::<<A as Algorithm>::Hyper>(<A as Algorithm>::CONFIG, &src, env)?;
                    let (_, table, _) = resolve::<<A as Algorithm>::Hyper>(s, &src)?;
                    let spec = crate::envs::spec(env)?;
                    let act = match spec.action_space {
                        picorl_core::env::Space::Discrete { n } => n as usize,
                        picorl_core::env::Space::Box { dim, .. } => dim,
                    };
                    check_hyper(&table, spec.observation_space.flat_dim(), act)
                        .map_err(|e| anyhow::anyhow!("{name} [{env}]: {e}"))?;
                }
                Ok(())
            })());
            r?;
        }
        Ok(())
    }

    #[test]
    fn a_round_beyond_the_budget() {
        let t = table("n_envs = 100000\nn_steps = 32");
        let e = check_budget(&t, 600, "--total-steps")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("3,200,000") && e.contains("--total-steps 600"),
            "{e}"
        );
        let t = table("n_envs = 8\nn_steps = 32");
        let w = check_budget(&t, 600, "--total-steps").unwrap().unwrap();
        assert!(w.contains("768"), "{w}");
        assert_eq!(check_budget(&t, 512, "--total-steps").unwrap(), None);
        assert_eq!(
            check_budget(&table("gamma = 0.9"), 7, "--total-steps").unwrap(),
            None
        );
    }
}
