//! int8 export keeps the policy (issue 9): for committed trained runs (CartPole-v1 PPO and DQN,
//! Acrobot-v1 DQN, the Pendulum-v1 TD3 actor; `fixtures/export/README.md` says how each was
//! trained), the int8 `.picorl` file's mean return over 100 seeded episodes is within 2% of the
//! f32 file's, and a discrete head picks the f32 file's action on at least 99% of the
//! observations the f32 file meets (DQN CartPole: see its test).
//!
//! Both files are exported as `picorl export` does (`commands::export_file`, calibrated on 20
//! episodes of the run's own policy) and evaluated through core, the firmware's code, on reset
//! seeds 0..100; the f32 file is the run's policy (`picorl export --quant f32` reports an action
//! agreement of 1.0 against libtorch for each of these runs).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use picorl_host::cli::load_run;
use picorl_host::commands::export_file;
use picorl_host::eval::{self, Actor, OwnedAction};
use picorl_host::export::Quant;
use picorl_host::picorl_file::{owned, CoreActor, PicorlFile};
use picorl_host::train::config::ResolvedConfig;
use picorl_host::with_algo;

const EPISODES: u32 = 100;
const CALIB_EPISODES: u32 = 20;

/// What one run's export measured.
#[derive(Debug)]
struct Quality {
    return_f32: f64,
    return_int8: f64,
    /// Fraction of the f32 file's observations on which the int8 file acts the same (discrete
    /// heads: the same index; continuous: every component within 1% of its range).
    agreement: f64,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/export")
        .join(name)
}

/// The f32 file's observations on seeds `0..EPISODES`, and its mean return.
fn rollout(env: &mut dyn picorl_core::env::Env, file: &PicorlFile) -> Result<(Vec<f32>, f64)> {
    struct Recorder<'a, 'b, 'c> {
        inner: CoreActor<'a, 'b>,
        seen: &'c mut Vec<f32>,
    }
    impl Actor for Recorder<'_, '_, '_> {
        fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
            self.seen.extend_from_slice(obs);
            self.inner.act(obs)
        }
    }
    let mut policy = file.policy()?;
    let mut seen = Vec::new();
    let res = eval::evaluate(
        env,
        &mut Recorder {
            inner: CoreActor(&mut policy),
            seen: &mut seen,
        },
        0,
        EPISODES,
    )?;
    Ok((seen, res.mean()))
}

fn quality(name: &str) -> Result<Quality> {
    let dir = fixture(name);
    let cfg = ResolvedConfig::load(&dir.join("config.toml"))?;
    let algo = cfg.run.algo.clone();
    let (f32_file, int8_file, setup) = with_algo!(algo.as_str(), A => {
        let (mut agent, setup) = load_run::<A>(&dir, &cfg)?;
        let (f, _) = export_file(&mut agent, &setup, Quant::F32, CALIB_EPISODES)?;
        let (q, _) = export_file(&mut agent, &setup, Quant::Int8, CALIB_EPISODES)?;
        Ok((f, q, setup))
    })?;
    let mut env = setup.make_env()?;
    let (obs, return_f32) = rollout(env.as_mut(), &f32_file)?;
    let mut q = int8_file.policy()?;
    let return_int8 = eval::evaluate(env.as_mut(), &mut CoreActor(&mut q), 0, EPISODES)?.mean();
    let mut f = f32_file.policy()?;
    let obs_dim = setup.spec.observation_space.flat_dim();
    let space = &setup.spec.action_space;
    let mut same = 0usize;
    for o in obs.chunks_exact(obs_dim) {
        let a = owned(&f.act(o).map_err(|e| anyhow!("{e}"))?);
        let b = owned(&q.act(o).map_err(|e| anyhow!("{e}"))?);
        same += usize::from(match (a, b, space) {
            (OwnedAction::Discrete(x), OwnedAction::Discrete(y), _) => x == y,
            (
                OwnedAction::Continuous(x),
                OwnedAction::Continuous(y),
                picorl_core::env::Space::Box { low, high, .. },
            ) => x
                .iter()
                .zip(&y)
                .enumerate()
                .all(|(i, (p, q))| (p - q).abs() <= 0.01 * (high[i] - low[i])),
            _ => false,
        });
    }
    let agreement = same as f64 / (obs.len() / obs_dim) as f64;
    let qual = Quality {
        return_f32,
        return_int8,
        agreement,
    };
    eprintln!("{name}: {qual:?}");
    Ok(qual)
}

/// `|int8 - f32| <= 2% of |f32|`.
fn assert_return_kept(name: &str, q: &Quality) {
    assert!(
        (q.return_int8 - q.return_f32).abs() <= 0.02 * q.return_f32.abs(),
        "{name}: int8 return {} vs f32 {} ({q:?})",
        q.return_int8,
        q.return_f32
    );
}

#[test]
fn ppo_cartpole_int8_keeps_return_and_actions() {
    let q = quality("ppo-cartpole").unwrap();
    assert_return_kept("ppo-cartpole", &q);
    assert!(q.agreement >= 0.99, "ppo-cartpole: {q:?}");
}

#[test]
fn dqn_acrobot_int8_keeps_return_and_actions() {
    let q = quality("dqn-acrobot").unwrap();
    assert_return_kept("dqn-acrobot", &q);
    assert!(q.agreement >= 0.99, "dqn-acrobot: {q:?}");
}

#[test]
fn td3_pendulum_int8_keeps_return() {
    let q = quality("td3-pendulum").unwrap();
    assert_return_kept("td3-pendulum", &q);
}

/// The issue asks for 99% agreement here too, and int8 does not reach it: this Q-network's two
/// Q-values differ by less than 0.06% of their range in 1% of the states it visits (0.3% in
/// 5%), finer than int8 activations and weights resolve (plain TFLite-style export: 70.6%;
/// with `quant_fit`: 94.8%). `scripts/quant_floor.py` quantizes one stage at a time: the
/// weights alone (GPTQ-rounded) stop at 97.8%, the last hidden layer alone at 96.8%. The return
/// is kept. The bound below is the measured agreement less a margin, so that a regression fails;
/// the 99% is out of int8's reach for this policy (README, "Export").
#[test]
fn dqn_cartpole_int8_keeps_return() {
    let q = quality("dqn-cartpole").unwrap();
    assert_return_kept("dqn-cartpole", &q);
    assert!(q.agreement >= 0.93, "dqn-cartpole: {q:?}");
}
