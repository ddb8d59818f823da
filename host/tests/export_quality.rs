//! int8 export keeps the policy's decisions (issue 21): for committed trained runs
//! (`fixtures/export/README.md` says how each was trained), the int8 `.picorl` file's mean return
//! over 100 seeded episodes is within 2% of the f32 file's; a discrete head agrees with the f32
//! file on at least 99% of the decisive states (top-two gap above 1% of the calibrated output
//! range); a continuous head's 99th-percentile action error is at most 2% of the action range; and
//! the int8 file's `outputs` are the f32 file's within a few output steps (not saturated).
//!
//! Both files are exported as `picorl export` does (`commands::export_file`, calibrated on 20
//! episodes of the run's own policy) and evaluated through core, the firmware's code, on reset
//! seeds 0..100; the figures are `export_report::compare`'s, on the f32 file's observations.

use std::path::{Path, PathBuf};

use anyhow::Result;
use picorl_host::cli::load_run;
use picorl_host::commands::export_file;
use picorl_host::eval::{self, Actor, OwnedAction};
use picorl_host::export::Quant;
use picorl_host::export_report::{compare, goals, Comparison};
use picorl_host::picorl_file::{CoreActor, PicorlFile};
use picorl_host::train::config::ResolvedConfig;
use picorl_host::with_algo;

const EPISODES: u32 = 100;
const CALIB_EPISODES: u32 = 20;

/// What one run's export measured.
#[derive(Debug)]
struct Quality {
    return_f32: f64,
    return_int8: f64,
    cmp: Comparison,
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
    let (f32_file, int8_file, calib, setup) = with_algo!(algo.as_str(), A => {
        let (mut agent, setup) = load_run::<A>(&dir, &cfg)?;
        let (f, _) = export_file(&mut agent, &setup, Quant::F32, CALIB_EPISODES)?;
        let (q, c) = export_file(&mut agent, &setup, Quant::Int8, CALIB_EPISODES)?;
        Ok((f, q, c, setup))
    })?;
    let mut env = setup.make_env()?;
    let (obs, return_f32) = rollout(env.as_mut(), &f32_file)?;
    let mut q = int8_file.policy()?;
    let return_int8 = eval::evaluate(env.as_mut(), &mut CoreActor(&mut q), 0, EPISODES)?.mean();
    let range = calib
        .as_ref()
        .and_then(|c| c.layers.last())
        .map(|&(lo, hi)| f64::from(hi) - f64::from(lo));
    let cmp = compare(
        &f32_file,
        &int8_file,
        &obs,
        setup.spec.observation_space.flat_dim(),
        &setup.spec.action_space,
        range,
    )?;
    let qual = Quality {
        return_f32,
        return_int8,
        cmp,
    };
    eprintln!("{name}: {qual:?}");
    Ok(qual)
}

/// The goals, and unsaturated outputs (within 4 output steps of the f32 file's for 99% of
/// the values).
fn assert_kept(name: &str) {
    let q = quality(name).unwrap();
    assert!(
        (q.return_int8 - q.return_f32).abs() <= goals::RETURN_SHARE * q.return_f32.abs(),
        "{name}: int8 return {} vs f32 {} ({q:?})",
        q.return_int8,
        q.return_f32
    );
    if let Some(d) = q.cmp.decisive_agreement {
        assert!(d >= goals::DECISIVE_AGREEMENT, "{name}: {q:?}");
    }
    if let Some(p) = q.cmp.action_error_p99 {
        assert!(p <= goals::ACTION_ERROR_P99, "{name}: {q:?}");
    }
    let steps = q.cmp.output_error_p99_steps.unwrap();
    assert!(
        steps <= 4.0,
        "{name}: outputs {steps} steps from f32 ({q:?})"
    );
}

#[test]
fn ppo_cartpole_int8_keeps_decisions() {
    assert_kept("ppo-cartpole");
}

#[test]
fn dqn_cartpole_int8_keeps_decisions() {
    assert_kept("dqn-cartpole");
}

#[test]
fn dqn_acrobot_int8_keeps_decisions() {
    assert_kept("dqn-acrobot");
}

#[test]
fn td3_pendulum_int8_keeps_actions() {
    assert_kept("td3-pendulum");
}

#[test]
fn ppo_acrobot_tanh_int8_keeps_decisions() {
    assert_kept("ppo-acrobot");
}

#[test]
fn a2c_cartpole_int8_keeps_decisions() {
    assert_kept("a2c-cartpole");
}

#[test]
fn sac_pendulum_int8_keeps_actions() {
    assert_kept("sac-pendulum");
}
