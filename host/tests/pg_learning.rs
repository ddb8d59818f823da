//! Policy-gradient learning tests: REINFORCE, A2C and PPO reach 475 on CartPole-v1 with their
//! built-in configs, within the budgets those configs document, from a fixed seed; A2C and PPO
//! solve Acrobot-v1 and PPO solves Pendulum-v1 and MountainCarContinuous-v0; the
//! same seed gives the same run; the continuous-action paths train without error.
//!
//! Runs go through `picorl_host::train::run`, as `picorl train` does, on the CPU with one thread,
//! side by side: `run` takes its turn at libtorch's process-wide generator only while it seeds it
//! and builds its networks (`train::torch_generator`); every later draw is the learner's own.

use std::path::PathBuf;

use picorl_host::algo::on_policy::{a2c::A2c, ppo::Ppo, reinforce::Reinforce};
use picorl_host::train::config::{self, ResolvedConfig, RunOptions, Source};
use picorl_host::train::{run, Algorithm};

/// Knobs of a test run; `None` keeps the config's value.
#[derive(Default)]
struct Opts<'a> {
    config: Option<&'a str>,
    total_steps: Option<u64>,
    stop_at_return: Option<f64>,
    eval_every: Option<u64>,
    eval_episodes: Option<u32>,
}

/// Trains `A` on `env` with seed `seed` into a fresh temporary directory; returns the summary and
/// the run directory (removed by the caller).
fn train<A: Algorithm>(env: &str, seed: u64, o: Opts<'_>) -> (serde_json::Value, PathBuf) {
    let source = Source::BuiltIn("test".into());
    let text = o.config.unwrap_or(A::CONFIG);
    let section = config::section::<A::Hyper>(text, &source, env).unwrap();
    let (_, hyper, run_keys) = config::resolve::<A::Hyper>(section, &source).unwrap();
    let key = |k: &str| config::run_key::<u64>(&run_keys, k, &source).unwrap();
    let cfg = ResolvedConfig {
        run: RunOptions {
            algo: A::NAME.to_string(),
            env: env.to_string(),
            env_kwargs: Default::default(),
            seed,
            device: "cpu".to_string(),
            threads: 1,
            total_steps: o.total_steps.or(key("total_steps")).expect("a budget"),
            eval_every: o.eval_every.or(key("eval_every")).unwrap_or(0),
            eval_episodes: o
                .eval_episodes
                .or(config::run_key::<u32>(&run_keys, "eval_episodes", &source).unwrap())
                .unwrap_or(10),
            stop_at_return: o.stop_at_return,
            log_interval: key("log_interval").unwrap_or(config::LOG_INTERVAL),
            stop_at_hover: None,
            gym_packages: Vec::new(),
            backend: Default::default(),
        },
        hyper,
    };
    let dir = std::env::temp_dir().join(format!(
        "picorl-pg-test-{}-{}-{env}-{seed}-{}",
        std::process::id(),
        A::NAME,
        cfg.run.total_steps
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = run::<A>(&cfg, &dir, false, true).unwrap();
    (outcome.summary, dir)
}

/// Trains `A` with its built-in config for `env` (the config's budget), evaluating 20
/// deterministic episodes every `eval_every` steps and stopping at a mean of `threshold`, as
/// `picorl train --eval-every N --eval-episodes 20 --stop-at-return R` does; checks that it solves
/// within the budget.
fn solves<A: Algorithm>(env: &str, seed: u64, threshold: f64, eval_every: u64) {
    let (s, dir) = train::<A>(
        env,
        seed,
        Opts {
            stop_at_return: Some(threshold),
            eval_every: Some(eval_every),
            eval_episodes: Some(20),
            ..Default::default()
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        s["solved_at_step"].is_u64(),
        "{} did not reach {threshold} on {env} within its budget: {s}",
        A::NAME
    );
    assert!(s["final_eval_mean"].as_f64().unwrap() >= threshold, "{s}");
    eprintln!(
        "{} solved {env} at step {} in {:.2} s of training",
        A::NAME,
        s["solved_at_step"],
        s["solved_train_seconds"].as_f64().unwrap()
    );
}

/// Trains with the built-in CartPole-v1 config, as the report's command does
/// (`--eval-every 5000 --eval-episodes 20 --stop-at-return 475`), and checks that it solves
/// within the config's budget.
fn solves_cartpole<A: Algorithm>(seed: u64) {
    solves::<A>("CartPole-v1", seed, 475.0, 5000);
}

#[test]
fn reinforce_solves_cartpole() {
    solves_cartpole::<Reinforce>(0);
}

#[test]
fn a2c_solves_cartpole() {
    solves_cartpole::<A2c>(0);
}

#[test]
fn ppo_solves_cartpole() {
    solves_cartpole::<Ppo>(0);
}

/// Acrobot-v1, solved at a deterministic mean of at least -100 over 20 episodes. A2C's config:
/// seeds 0-2 solved at 80k, 140k and 10k steps (7.6, 13.7 and 1.1 s of training on the loaded
/// 2-core machine); seed 2 keeps the test short.
#[test]
fn a2c_solves_acrobot() {
    solves::<A2c>("Acrobot-v1", 2, -100.0, 10_000);
}

/// PPO's Acrobot-v1 config (the zoo's): seeds 0-2 solved at 164k, 152k and 82k steps (92, 55
/// and 32 s of training on the loaded 2-core machine); seed 2 is the test (102k steps since the
/// minibatches are shuffled by the learner's own generator).
#[test]
fn ppo_solves_acrobot() {
    solves::<Ppo>("Acrobot-v1", 2, -100.0, 10_000);
}

/// PPO with gSDE on Pendulum-v1 (the built-in config, the zoo's tuned for time): a deterministic
/// mean of at least -200 over 20 episodes. Seeds 0-9 solve at 20k-52k steps on the native
/// backend, a fraction of a second of training.
#[test]
fn ppo_solves_pendulum() {
    solves::<Ppo>("Pendulum-v1", 0, -200.0, 10_000);
}

/// PPO with gSDE on MountainCarContinuous-v0: a deterministic mean of at least 90 over 20
/// episodes. Seeds 0-4 solved at 2k-18k steps; seed 3 at the first evaluation (2,000 steps,
/// 16 s of training on the loaded machine).
#[test]
fn ppo_solves_mountain_car_continuous() {
    solves::<Ppo>("MountainCarContinuous-v0", 3, 90.0, 2000);
}

/// The episodes a run recorded (step, return, length), which depend on every random draw.
fn episodes(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("episodes.csv")).unwrap()
}

fn same_seed_same_run<A: Algorithm>() {
    let opts = || Opts {
        total_steps: Some(3000),
        eval_every: Some(0),
        eval_episodes: Some(2),
        ..Default::default()
    };
    let (s1, d1) = train::<A>("CartPole-v1", 7, opts());
    let e1 = episodes(&d1);
    let _ = std::fs::remove_dir_all(&d1);
    let (s2, d2) = train::<A>("CartPole-v1", 7, opts());
    let e2 = episodes(&d2);
    let _ = std::fs::remove_dir_all(&d2);
    assert!(e1.lines().count() > 10, "{e1}");
    assert_eq!(e1, e2);
    assert_eq!(s1["final_eval_mean"], s2["final_eval_mean"]);
    assert_eq!(s1["total_steps"], s2["total_steps"]);
}

#[test]
fn reinforce_same_seed_same_run() {
    same_seed_same_run::<Reinforce>();
}

#[test]
fn ppo_same_seed_same_run() {
    same_seed_same_run::<Ppo>();
}

#[test]
fn a2c_same_seed_same_run() {
    same_seed_same_run::<A2c>();
}

/// A short continuous-action run (diagonal Gaussian, clipped actions) that must finish with a
/// finite evaluation.
fn trains_continuous<A: Algorithm>(config: &str) {
    let (s, dir) = train::<A>(
        "Pendulum-v1",
        3,
        Opts {
            config: Some(config),
            eval_episodes: Some(1),
            ..Default::default()
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    let mean = s["final_eval_mean"].as_f64().unwrap();
    assert!(mean.is_finite() && mean <= 0.0, "{s}");
    assert!(s["total_steps"].as_u64().unwrap() >= 2000, "{s}");
}

#[test]
fn reinforce_trains_on_continuous_actions() {
    trains_continuous::<Reinforce>(
        "[Pendulum-v1]\ntotal_steps = 2000\nn_envs = 4\nbaseline = true\nnormalize_obs = true\n",
    );
}

#[test]
fn a2c_trains_on_continuous_actions() {
    trains_continuous::<A2c>(
        "[Pendulum-v1]\ntotal_steps = 2000\nn_envs = 4\nn_steps = 8\nnormalize_obs = true\n",
    );
}
