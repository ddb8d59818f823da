//! Environments of the user's own: registration checks, the command line's use of them, and the
//! host's guard around them (NaN or infinite observations and rewards naming the step, actions
//! out of bounds, a panic ending a training run with its message and the run directory kept).

use std::collections::BTreeMap;
use std::sync::Once;

use clap::Parser;
use picorl_core::env::{Action, Env, EnvError, EnvSpec, Space, StepResult, UserEnv};
use picorl_host::cli::{run, Cli};
use picorl_host::envs;
use picorl_host::envs::user_env::{install, EnvRegistration, Registry};

const OBS_LOW: [f32; 2] = [-10.0, -10.0];
const OBS_HIGH: [f32; 2] = [10.0, 10.0];
const ACT_LOW: [f32; 1] = [-1.0];
const ACT_HIGH: [f32; 1] = [1.0];

/// A point on a line pushed toward 0; misbehaves on request: options `nan_at`, `inf_at` (the
/// reward) and `panic_at`, each a count of steps over the environment's life.
struct Faulty {
    x: f32,
    steps: u64,
    life: u64,
    nan_at: u64,
    inf_at: u64,
    panic_at: u64,
}

const FAULTY: EnvSpec = EnvSpec {
    id: "Faulty-v0",
    observation_space: Space::Box {
        dim: 2,
        low: &OBS_LOW,
        high: &OBS_HIGH,
    },
    action_space: Space::Box {
        dim: 1,
        low: &ACT_LOW,
        high: &ACT_HIGH,
    },
    max_episode_steps: 50,
};

impl Env for Faulty {
    fn spec(&self) -> &EnvSpec {
        &FAULTY
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        self.x = (seed.unwrap_or(0) % 7) as f32 - 3.0;
        self.steps = 0;
        obs.copy_from_slice(&[self.x, 0.0]);
        Ok(())
    }
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let Action::Continuous(&[u]) = action else {
            return Err(EnvError::WrongActionKind);
        };
        self.life += 1;
        self.steps += 1;
        assert!(
            self.life != self.panic_at,
            "boom at life step {}",
            self.life
        );
        self.x = (self.x + 0.5 * u).clamp(-10.0, 10.0);
        let v = if self.life == self.nan_at {
            f32::NAN
        } else {
            self.x
        };
        obs.copy_from_slice(&[v, u]);
        let reward = if self.life == self.inf_at {
            f64::INFINITY
        } else {
            -f64::from(self.x.abs())
        };
        Ok(StepResult {
            reward,
            terminated: false,
            truncated: self.steps >= 50,
        })
    }
    fn state_dim(&self) -> usize {
        1
    }
    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        out[0] = f64::from(self.x);
        Ok(())
    }
    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        self.x = state[0] as f32;
        self.steps = 0;
        obs.copy_from_slice(&[self.x, 0.0]);
        Ok(())
    }
}

impl UserEnv for Faulty {
    const SPEC: EnvSpec = FAULTY;
    const OPTIONS: &'static [&'static str] = &["nan_at", "inf_at", "panic_at"];
    fn make(options: &[(&str, &str)]) -> Result<Self, EnvError> {
        let mut e = Faulty {
            x: 0.0,
            steps: 0,
            life: 0,
            nan_at: 0,
            inf_at: 0,
            panic_at: 0,
        };
        for (k, v) in options {
            let n = v.parse().map_err(|_| EnvError::BadOptionValue {
                option: "a step option",
                expected: "a whole number",
            })?;
            match *k {
                "nan_at" => e.nan_at = n,
                "inf_at" => e.inf_at = n,
                _ => e.panic_at = n,
            }
        }
        Ok(e)
    }
}

/// Declares three observation values and writes two: refused at registration.
struct Short;

const SHORT_OBS: [f32; 3] = [0.0; 3];
impl Env for Short {
    fn spec(&self) -> &EnvSpec {
        &<Short as UserEnv>::SPEC
    }
    fn reset(&mut self, _: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        if obs.len() != 2 {
            return Err(EnvError::ObsBuffer {
                expected: 2,
                got: obs.len(),
            });
        }
        Ok(())
    }
    fn step(&mut self, _: Action<'_>, _: &mut [f32]) -> Result<StepResult, EnvError> {
        Err(EnvError::NeedsReset)
    }
    fn state_dim(&self) -> usize {
        0
    }
    fn get_state(&self, _: &mut [f64]) -> Result<(), EnvError> {
        Ok(())
    }
    fn set_state(&mut self, _: &[f64], _: &mut [f32]) -> Result<(), EnvError> {
        Ok(())
    }
}

impl UserEnv for Short {
    const SPEC: EnvSpec = EnvSpec {
        id: "Short-v0",
        observation_space: Space::Box {
            dim: 3,
            low: &SHORT_OBS,
            high: &SHORT_OBS,
        },
        action_space: Space::Discrete { n: 2 },
        max_episode_steps: 10,
    };
    fn make(_: &[(&str, &str)]) -> Result<Self, EnvError> {
        Ok(Short)
    }
}

const PPO: &str = "[Faulty-v0]
total_steps = 3000
eval_every = 1000
eval_episodes = 2
n_envs = 2
n_steps = 250
batch_size = 100
n_epochs = 2
activation = \"relu\"
";

static INSTALL: Once = Once::new();

/// Registers Faulty-v0 (once per test process).
fn registered() {
    INSTALL.call_once(|| {
        install(Registry::new().register(EnvRegistration::of::<Faulty>().config("ppo", PPO)))
            .unwrap();
    });
}

fn kwargs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cli(args: &[&str]) -> anyhow::Result<()> {
    run(Cli::try_parse_from(
        std::iter::once("picorl").chain(args.iter().copied()),
    )?)
}

#[test]
fn bad_registrations_are_refused_with_the_reason() {
    // A spec of three observations whose reset wants two.
    let e = install(Registry::new().register(EnvRegistration::of::<Short>())).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("Short-v0")
            && msg.contains("3 observation values")
            && msg.contains("length 3, expected 2"),
        "{msg}"
    );
    // None of it was installed.
    assert!(envs::spec("Short-v0").is_err());
}

#[test]
fn a_registered_env_is_listed_made_and_checked() {
    registered();
    assert!(envs::specs().any(|s| s.id == "Faulty-v0"));
    assert_eq!(envs::spec("Faulty-v0").unwrap(), FAULTY);
    // Registering the same id again is refused.
    let e = install(Registry::new().register(EnvRegistration::of::<Faulty>())).unwrap_err();
    assert!(format!("{e:#}").contains("already"), "{e:#}");
    // An unknown option lists the known ones.
    let e = envs::make("Faulty-v0", &kwargs(&[("speed", "3")]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("unknown option `speed`") && e.contains("nan_at, inf_at, panic_at"),
        "{e}"
    );
    // Tabular learners need core's toy-text environments.
    assert!(envs::make_any("Faulty-v0", &BTreeMap::new()).is_err());

    let mut env = envs::make("Faulty-v0", &BTreeMap::new()).unwrap();
    let mut obs = [0.0f32; 2];
    // The observation buffer is sized from the spec.
    assert_eq!(
        env.reset(Some(1), &mut [0.0; 3]),
        Err(EnvError::ObsBuffer {
            expected: 2,
            got: 3
        })
    );
    env.reset(Some(1), &mut obs).unwrap();
    // Actions out of bounds, of the wrong length or kind, never reach the environment.
    let e = env.step(Action::Continuous(&[1.5]), &mut obs).unwrap_err();
    assert!(
        e.to_string()
            .contains("action component 0 = 1.5 is outside its bounds [-1.0, 1.0] at step 1"),
        "{e}"
    );
    assert_eq!(
        env.step(Action::Continuous(&[0.0, 0.0]), &mut obs),
        Err(EnvError::ActionDim {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(
        env.step(Action::Discrete(0), &mut obs),
        Err(EnvError::WrongActionKind)
    );
    assert_eq!(
        env.step(Action::Continuous(&[f32::NAN]), &mut obs),
        Err(EnvError::NonFiniteAction { index: 0 })
    );
    // Rounding past a bound is brought back inside.
    env.step(Action::Continuous(&[1.0 + 1e-7]), &mut obs)
        .unwrap();
    assert_eq!(obs[1], 1.0);
}

#[test]
fn nan_observations_and_infinite_rewards_name_the_step() {
    registered();
    let mut obs = [0.0f32; 2];
    let mut env = envs::make("Faulty-v0", &kwargs(&[("nan_at", "4")])).unwrap();
    env.reset(Some(5), &mut obs).unwrap();
    for _ in 0..3 {
        env.step(Action::Continuous(&[0.1]), &mut obs).unwrap();
    }
    let e = env.step(Action::Continuous(&[0.1]), &mut obs).unwrap_err();
    assert_eq!(
        e.to_string(),
        "observation value 0 is NaN at step 4 of the episode reset with seed 5"
    );
    let mut env = envs::make("Faulty-v0", &kwargs(&[("inf_at", "2")])).unwrap();
    env.reset(Some(0), &mut obs).unwrap();
    env.step(Action::Continuous(&[0.1]), &mut obs).unwrap();
    let e = env.step(Action::Continuous(&[0.1]), &mut obs).unwrap_err();
    assert_eq!(
        e.to_string(),
        "reward is inf at step 2 of the episode reset with seed 0"
    );
}

#[test]
fn a_panic_ends_training_with_its_message_and_keeps_the_run() {
    registered();
    let tmp = std::env::temp_dir().join(format!("picorl-user-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let out = tmp.join("run");
    let out_s = out.to_str().unwrap();
    // Two copies step in turn: life step 1400 of one copy is past the first checkpoint
    // (1000 steps, after the first evaluation).
    let e = cli(&[
        "train",
        "--algo",
        "ppo",
        "--env",
        "Faulty-v0",
        "--env-kwargs",
        "panic_at=1400",
        "--quiet",
        "--out",
        out_s,
    ])
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("the environment panicked: boom at life step 1400"),
        "{msg}"
    );
    assert!(msg.contains("picorl train --resume"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    for f in ["config.toml", "checkpoint.safetensors", "metrics.csv"] {
        assert!(out.join(f).exists(), "{f} kept");
    }
    // The same environment without the fault trains, evaluates and exports through the CLI.
    let good = tmp.join("good");
    cli(&[
        "train",
        "--algo",
        "ppo",
        "--env",
        "Faulty-v0",
        "--quiet",
        "--out",
        good.to_str().unwrap(),
    ])
    .unwrap();
    let file = tmp.join("f.picorl");
    cli(&[
        "export",
        good.to_str().unwrap(),
        "--out",
        file.to_str().unwrap(),
        "--quant",
        "int8",
        "--calib-episodes",
        "2",
        "--eval-episodes",
        "2",
    ])
    .unwrap();
    cli(&[
        "eval",
        file.to_str().unwrap(),
        "--env",
        "Faulty-v0",
        "--episodes",
        "2",
    ])
    .unwrap();
    // An algorithm without a registered config asks for --config.
    let e = cli(&["train", "--algo", "sac", "--env", "Faulty-v0", "--quiet"]).unwrap_err();
    assert!(
        format!("{e:#}").contains("registers no sac hyper-parameters"),
        "{e:#}"
    );
    // No picture registered: render says so.
    let e = cli(&[
        "render",
        good.to_str().unwrap(),
        "--out",
        tmp.join("x.gif").to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(format!("{e:#}").contains("gives no picture"), "{e:#}");
    let _ = std::fs::remove_dir_all(&tmp);
}
