//! Test helpers of [`super`] (`continuous`).

use std::path::PathBuf;

use crate::train::config::{self, ResolvedConfig, RunOptions, Source};
use crate::train::{Algorithm, Setup};

/// A CPU setup of `env` for algorithm `algo`, one thread.
pub fn setup(algo: &str, env: &str, seed: u64) -> Setup {
    let run = RunOptions {
        algo: algo.into(),
        env: env.into(),
        env_kwargs: Default::default(),
        seed,
        device: "cpu".into(),
        threads: 1,
        total_steps: 20_000,
        eval_every: 2000,
        eval_episodes: 20,
        stop_at_return: None,
        log_interval: crate::train::config::LOG_INTERVAL,
        stop_at_hover: None,
        gym_packages: Vec::new(),
        backend: Default::default(),
    };
    let spec = *crate::envs::make(env, &run.env_kwargs).unwrap().spec();
    Setup {
        run,
        device: tch::Device::Cpu,
        spec,
    }
}

/// The built-in `[env]` section of `A` with `sets` applied, resolved as the CLI does.
pub fn resolved<A: Algorithm>(
    env: &str,
    seed: u64,
    sets: &[&str],
    stop: Option<f64>,
) -> ResolvedConfig {
    let src = Source::BuiltIn("test".into());
    let mut section = config::section::<A::Hyper>(A::CONFIG, &src, env).unwrap();
    for s in sets {
        config::apply_set::<A::Hyper>(&mut section, s).unwrap();
    }
    let (_, hyper, run_keys) = config::resolve::<A::Hyper>(section, &src).unwrap();
    let mut run = setup(A::NAME, env, seed).run;
    run.stop_at_return = stop;
    if let Some(n) = config::run_key(&run_keys, "log_interval", &src).unwrap() {
        run.log_interval = n;
    }
    ResolvedConfig { run, hyper }
}

/// A fresh temporary run directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("picorl-cc-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Trains `A` on Pendulum-v1 with its built-in config and seed `seed` until the mean return of
/// 20 deterministic episodes (every 2,000 steps) reaches -200, within 20,000 steps; see
/// [`solves`].
pub fn solves_pendulum<A: Algorithm>(seed: u64) {
    solves::<A>("Pendulum-v1", seed, -200.0, 20_000, 2000);
}

/// Trains `A` on `env` with its built-in config and seed `seed` for at most `total_steps`,
/// evaluating 20 deterministic episodes every `eval_every` steps, until the mean return
/// reaches `threshold`; checks it does, that a reload of the run directory reproduces the
/// last evaluation (the checkpoint holds the policy that solved).
pub fn solves<A: Algorithm>(
    env: &str,
    seed: u64,
    threshold: f64,
    total_steps: u64,
    eval_every: u64,
) {
    let dir = temp_dir(&format!("{}-{env}-{seed}", A::NAME));
    let mut cfg = resolved::<A>(env, seed, &[], Some(threshold));
    cfg.run.total_steps = total_steps;
    cfg.run.eval_every = eval_every;
    let out = crate::train::run::<A>(&cfg, &dir, false, true).unwrap();
    let s = &out.summary;
    assert!(s["solved_at_step"].as_u64().is_some(), "not solved: {s}");
    let (mut agent, setup) = crate::train::load_run::<A>(
        &dir,
        &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
    )
    .unwrap();
    let mut env = setup.make_env().unwrap();
    let res = crate::envs::eval::evaluate(env.as_mut(), &mut agent, 10_000, 20).unwrap();
    assert_eq!(res.mean(), s["final_eval_mean"].as_f64().unwrap());
    assert!(res.mean() >= threshold, "{s}");
    eprintln!(
        "{} solved {} at step {} in {:.1} s of training",
        A::NAME,
        setup.run.env,
        s["solved_at_step"],
        s["solved_train_seconds"].as_f64().unwrap_or(f64::NAN)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
