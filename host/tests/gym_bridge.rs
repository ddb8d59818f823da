//! The Gymnasium bridge (`--env gym:ID`, `--gym-packages`): Gymnasium's semantics through the
//! workers, the vectorized worker against single copies, an exact journal restore, every bad
//! input as one `error:` line, no orphaned workers after a SIGKILL, a failed run that stays
//! resumable, and a user's environment from a module outside the repository trained with SAC and
//! PPO, exported to int8 and evaluated through core.
//!
//! Needs the project venv's Python with gymnasium (scripts/setup.sh); the user's environments
//! are `tests/fixtures/gym_user/picorl_user_envs.py`, copied to a temporary folder outside the
//! repository and put on PYTHONPATH.
//!
//! `cargo test --release -p picorl-host --test gym_bridge`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;
use std::time::{Duration, Instant};

use picorl_core::env::Action;
use picorl_host::envs::vec_env::{Actions, VecEnv};

const BIN: &str = env!("CARGO_BIN_EXE_picorl");
const USER_MODULE: &str = "picorl_user_envs";

/// The folder outside the repository that holds the user's module (on PYTHONPATH for every
/// worker this process starts).
fn user_dir() -> PathBuf {
    static INIT: Once = Once::new();
    let dir = std::env::temp_dir().join(format!("picorl-gym-user-{}", std::process::id()));
    INIT.call_once(|| {
        std::fs::create_dir_all(&dir).unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gym_user");
        for f in ["picorl_user_envs.py", "picorl_broken_module.py"] {
            std::fs::copy(fixtures.join(f), dir.join(f)).unwrap();
        }
        std::env::set_var("PYTHONPATH", &dir);
        picorl_host::envs::gym::set_packages(&[USER_MODULE.to_string()]);
    });
    dir
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("picorl-gym-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn picorl(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("PYTHONPATH", user_dir())
        .output()
        .expect("running picorl")
}

/// One `error:` line containing every needle, exit status 1, no panic; returns stderr.
#[track_caller]
fn fails(out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "exit status; stderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line; stderr:\n{err}");
    for n in needles {
        assert!(errors[0].contains(n), "`{n}` not in: {}", errors[0]);
    }
    assert!(!err.contains("panicked"), "a panic: {err}");
    err
}

#[track_caller]
fn succeeds(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{err}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn no_kwargs() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// The error of making `id`, with its context.
fn make_err(id: &str) -> String {
    match picorl_host::envs::make(id, &no_kwargs()) {
        Ok(_) => panic!("{id}: made without an error"),
        Err(e) => format!("{e:#}"),
    }
}

/// `terminated` and `truncated` come apart as Gymnasium gives them: CartPole pushed one way
/// falls (terminated, not truncated); PointMass3d never terminates and is truncated at its
/// registered 50 steps. Seeds go to `reset(seed=…)`: the same seed, the same start.
#[test]
fn flags_seeds_and_spaces_are_gymnasiums() {
    user_dir();
    let mut cp = picorl_host::envs::make("gym:CartPole-v1", &no_kwargs()).unwrap();
    assert_eq!(cp.spec().max_episode_steps, 500);
    assert_eq!(cp.spec().observation_space.flat_dim(), 4);
    let mut a = [0.0f32; 4];
    let mut b = [0.0f32; 4];
    cp.reset(Some(5), &mut a).unwrap();
    cp.reset(Some(5), &mut b).unwrap();
    assert_eq!(a, b);
    cp.reset(Some(6), &mut b).unwrap();
    assert_ne!(a, b);
    let mut steps = 0;
    loop {
        let r = cp.step(Action::Discrete(1), &mut a).unwrap();
        steps += 1;
        if r.done() {
            assert!(r.terminated && !r.truncated, "{r:?}");
            break;
        }
    }
    assert!(
        steps < 100,
        "pushed right, the pole falls within 100 steps ({steps})"
    );

    let mut pm = picorl_host::envs::make("gym:PointMass3d-v0", &no_kwargs()).unwrap();
    assert_eq!(pm.spec().observation_space.flat_dim(), 12);
    let mut obs = vec![0.0f32; 12];
    pm.reset(Some(0), &mut obs).unwrap();
    for t in 1..=50 {
        let r = pm
            .step(Action::Continuous(&[0.5, -0.5, 0.0]), &mut obs)
            .unwrap();
        assert!(!r.terminated);
        assert_eq!(r.truncated, t == 50, "step {t}");
    }
    // Out of the declared bounds [-1, 1] is an error that says so; a float's width is clipped.
    pm.reset(Some(0), &mut obs).unwrap();
    let e = pm
        .step(Action::Continuous(&[1.5, 0.0, 0.0]), &mut obs)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gym:PointMass3d-v0")
            && e.contains("component 0 is 1.5")
            && e.contains("bounds"),
        "{e}"
    );
}

/// The vectorized worker (one message a step for every copy, autoreset in the worker) gives
/// what copy-by-copy stepping gives, final observations and finished episodes included.
#[test]
fn the_vectorized_worker_steps_as_single_copies() {
    user_dir();
    let n = 3;
    let mut batched = picorl_host::envs::gym::make_vec("gym:CartPole-v1", &no_kwargs(), n).unwrap();
    let singles = (0..n)
        .map(|_| picorl_host::envs::make("gym:CartPole-v1", &no_kwargs()))
        .collect::<anyhow::Result<Vec<_>>>()
        .unwrap();
    let mut single = VecEnv::new(singles).unwrap();
    batched.reset(11).unwrap();
    single.reset(11).unwrap();
    let mut episodes = 0;
    for t in 0..400u32 {
        let acts: Vec<u32> = (0..n as u32).map(|i| (t * 7 + i * 3) % 3 % 2).collect();
        batched.step(Actions::Discrete(&acts)).unwrap();
        single.step(Actions::Discrete(&acts)).unwrap();
        assert_eq!(batched.obs(), single.obs(), "step {t}");
        assert_eq!(batched.rewards(), single.rewards());
        assert_eq!(batched.terminated(), single.terminated());
        assert_eq!(batched.truncated(), single.truncated());
        assert_eq!(batched.finished(), single.finished());
        for f in batched.finished() {
            let d = 4;
            assert_eq!(
                batched.final_obs()[f.env * d..(f.env + 1) * d],
                single.final_obs()[f.env * d..(f.env + 1) * d]
            );
        }
        episodes += batched.finished().len();
    }
    assert!(episodes > 5, "episodes ended and were reset ({episodes})");
}

/// A journal replayed into fresh workers rebuilds every copy exactly (bit-exact `--resume`):
/// the same observations now and the same future.
#[test]
fn a_journal_restores_gym_copies_exactly() {
    user_dir();
    for (id, discrete) in [("gym:CartPole-v1", true), ("gym:PointMass3d-v0", false)] {
        let n = 2;
        let mut a = picorl_host::envs::gym::make_vec(id, &no_kwargs(), n).unwrap();
        a.reset(3).unwrap();
        let step = |v: &mut VecEnv, t: u32| {
            if discrete {
                let acts: Vec<u32> = (0..n as u32).map(|i| (t * 5 + i) % 3 % 2).collect();
                v.step(Actions::Discrete(&acts)).unwrap();
            } else {
                let acts: Vec<f32> = (0..3 * n)
                    .map(|i| ((t as usize * 3 + i) as f32 * 0.37).sin())
                    .collect();
                v.step(Actions::Continuous(&acts)).unwrap();
            }
        };
        for t in 0..180 {
            step(&mut a, t);
        }
        assert!(a.journal().resets.iter().any(|&r| r > 0), "{id}");
        let mut b = picorl_host::envs::gym::make_vec(id, &no_kwargs(), n).unwrap();
        b.restore(a.journal()).unwrap();
        assert_eq!(a.obs(), b.obs(), "{id}");
        for t in 180..300 {
            step(&mut a, t);
            step(&mut b, t);
            assert_eq!(a.obs(), b.obs(), "{id} step {t}");
            assert_eq!(a.rewards(), b.rewards(), "{id} step {t}");
            assert_eq!(a.finished(), b.finished(), "{id} step {t}");
        }
    }
}

/// Every failure of a user's environment is one message naming the environment and the cause.
#[test]
fn a_users_failures_are_named() {
    user_dir();
    let step_until_error = |id: &str| -> String {
        let mut env = picorl_host::envs::make(id, &no_kwargs()).unwrap();
        let mut obs = vec![0.0f32; 4];
        env.reset(Some(0), &mut obs).unwrap();
        for _ in 0..10 {
            if let Err(e) = env.step(Action::Discrete(0), &mut obs) {
                return e.to_string();
            }
        }
        panic!("{id}: no error in 10 steps");
    };
    let e = step_until_error("gym:Raises-v0");
    assert!(
        e.contains("gym:Raises-v0") && e.contains("ValueError: the user's step failed at t=3"),
        "{e}"
    );
    let e = step_until_error("gym:Crashes-v0");
    assert!(
        e.contains("gym:Crashes-v0")
            && e.contains("exited with status 3")
            && e.contains("about to crash hard"),
        "{e}"
    );
    let e = step_until_error("gym:NanReward-v0");
    assert!(
        e.contains("step 4 of the episode") && e.contains("reward NaN"),
        "{e}"
    );
    let e = step_until_error("gym:ShortObs-v0");
    assert!(
        e.contains("observation of 3 values") && e.contains("declares 4"),
        "{e}"
    );
    let e = make_err("gym:DictObs-v0");
    assert!(
        e.contains("Dict") && e.contains("picorl supports Box"),
        "{e}"
    );
    let e = make_err("gym:Image-v0");
    assert!(e.contains("image observations are not supported"), "{e}");
    let e = make_err("gym:NoSuchEnv-v0");
    assert!(
        e.contains("gym:NoSuchEnv-v0") && e.contains("gymnasium.make failed"),
        "{e}"
    );
}

/// Bad input on the command line: one `error:` line before any training, no run directory.
#[test]
fn bad_gym_input_is_one_error_before_training() {
    let dir = scratch("bad");
    let out = |name: &str| dir.join(name).to_string_lossy().to_string();
    let train = |env: &str, extra: &[&str], name: &str| {
        let o = out(name);
        let mut args = vec![
            "train",
            "--algo",
            "ppo",
            "--env",
            env,
            "--device",
            "cpu",
            "--threads",
            "1",
            "--quiet",
            "--total-steps",
            "1000",
            "--out",
            &o,
        ];
        args.extend_from_slice(extra);
        let r = picorl(&args);
        assert!(!Path::new(&o).exists(), "{name}: no run directory is left");
        r
    };
    fails(
        &train("gym:NoSuchEnv-v0", &[], "a"),
        &["gym:NoSuchEnv-v0", "NameNotFound"],
    );
    fails(
        &train(
            "gym:PointMass3d-v0",
            &["--gym-packages", "picorl_broken_module"],
            "b",
        ),
        &[
            "--gym-packages",
            "picorl_broken_module",
            "does not import",
            "ImportError: picorl_broken_module needs a library this machine lacks",
        ],
    );
    fails(
        &train("gym:DictObs-v0", &["--gym-packages", USER_MODULE], "c"),
        &["gym:DictObs-v0", "Dict", "picorl supports Box"],
    );
    // No Python at all.
    let o = out("d");
    let r = Command::new(BIN)
        .args([
            "train",
            "--algo",
            "ppo",
            "--env",
            "gym:CartPole-v1",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            &o,
        ])
        .env("PICORL_PYTHON", "/nonexistent/python3")
        .output()
        .unwrap();
    fails(
        &r,
        &[
            "gym:CartPole-v1",
            "cannot start Python",
            "/nonexistent/python3",
        ],
    );
}

/// The child processes of `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: the fields after the last ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        if rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

/// A SIGKILLed trainer takes its workers along (PR_SET_PDEATHSIG, and end of file on stdin).
#[test]
fn workers_die_with_a_sigkilled_trainer() {
    let dir = scratch("kill");
    let o = dir.join("run").to_string_lossy().to_string();
    let mut child = Command::new(BIN)
        .args([
            "train",
            "--algo",
            "ppo",
            "--env",
            "gym:CartPole-v1",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--quiet",
            "--total-steps",
            "10000000",
            "--out",
            &o,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let workers = loop {
        let w = children(child.id());
        if !w.is_empty() {
            // Let it get going (the workers are up once training has started).
            std::thread::sleep(Duration::from_millis(1500));
            break children(child.id());
        }
        assert!(Instant::now() < deadline, "no worker started");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!workers.is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while workers.iter().any(|&w| alive(w)) {
        assert!(
            Instant::now() < deadline,
            "workers {workers:?} outlived the killed trainer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Python exception in the middle of a run ends it with one `error:` line naming the
/// environment and the exception, keeps the last checkpoint, and the run resumes.
#[test]
fn an_exception_mid_run_keeps_the_run_resumable() {
    let dir = scratch("trip");
    let run = dir.join("run");
    let wire = dir.join("tripwire");
    let kw = format!("tripwire={}", wire.display());
    let o = run.to_string_lossy().to_string();
    let child = Command::new(BIN)
        .args([
            "train",
            "--algo",
            "ppo",
            "--env",
            "gym:Tripwire-v0",
            "--gym-packages",
            USER_MODULE,
            "--env-kwargs",
            &kw,
            "--device",
            "cpu",
            "--threads",
            "1",
            "--quiet",
            "--total-steps",
            "8000",
            "--eval-every",
            "256",
            "--eval-episodes",
            "2",
            "--set",
            "n_envs=2",
            "--set",
            "n_steps=64",
            "--set",
            "batch_size=64",
            "--out",
            &o,
        ])
        .env("PYTHONPATH", user_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    while !run.join("checkpoint.safetensors").exists() {
        assert!(Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&wire, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = fails(
        &out,
        &[
            "gym:Tripwire-v0",
            "RuntimeError: tripwire",
            "is set",
            "picorl train --resume",
        ],
    );
    assert!(run.join("config.toml").exists(), "{err}");
    std::fs::remove_file(&wire).unwrap();
    succeeds(&picorl(&["train", "--resume", &o, "--quiet"]));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["total_steps"].as_u64().unwrap() >= 8000,
        "{summary}"
    );
}

/// The "done when": a Gymnasium environment from a module outside the repository, with
/// 12 observations and 3 continuous actions, named with `--gym-packages`, trains with SAC and
/// PPO to well above a zero policy, exports to int8 and evaluates through core
/// (`picorl eval FILE --env gym:ID`), close to the run's own return.
#[test]
fn a_users_module_trains_with_sac_and_ppo_exports_and_evaluates_through_core() {
    let dir = scratch("user");
    // A zero action leaves the mass at the origin: minus the mean distance to a target drawn in
    // [-1, 1]^3 for 50 steps, about -48 (0.96 a step). A trained policy moves to the target.
    let zero_return = -40.0;
    for (algo, steps, extra) in [
        (
            "sac",
            "4000",
            vec![
                "--set",
                "learning_starts=500",
                "--set",
                "learning_rate=1e-3",
            ],
        ),
        (
            "ppo",
            "30000",
            vec![
                "--set",
                "n_envs=4",
                "--set",
                "n_steps=256",
                "--set",
                "batch_size=256",
                // int8 export takes ReLU or hardtanh hidden layers (PPO's default is tanh).
                "--set",
                "activation=hardtanh",
            ],
        ),
    ] {
        let run = dir.join(algo).to_string_lossy().to_string();
        let mut args = vec![
            "train",
            "--algo",
            algo,
            "--env",
            "gym:PointMass3d-v0",
            "--gym-packages",
            USER_MODULE,
            "--device",
            "cpu",
            "--threads",
            "1",
            "--quiet",
            "--seed",
            "1",
            "--total-steps",
            steps,
            "--eval-episodes",
            "10",
            "--out",
            &run,
        ];
        args.extend(extra.iter().copied());
        let summary: serde_json::Value = serde_json::from_str(&succeeds(&picorl(&args))).unwrap();
        let trained = summary["final_eval_mean"].as_f64().unwrap();
        assert!(trained > zero_return + 15.0, "{algo}: {summary}");

        let file = dir.join(format!("{algo}.picorl"));
        let f = file.to_string_lossy().to_string();
        let report: serde_json::Value = serde_json::from_str(&succeeds(&picorl(&[
            "export",
            &run,
            "--out",
            &f,
            "--quant",
            "int8",
            "--eval-episodes",
            "20",
            "--json",
        ])))
        .unwrap();
        let exported = report["return_exported"].as_f64().unwrap();
        assert!(exported > zero_return + 15.0, "{algo}: {report}");

        let reference = report["return_reference"].as_f64().unwrap();
        assert!(
            (exported - reference).abs() < 0.2 * reference.abs(),
            "{algo}: int8 {exported} against the run's own {reference}"
        );
        // `picorl eval FILE` goes through core on the report's seeds (0..20, `--eval-episodes 20`):
        // the same returns.
        let eval: serde_json::Value = serde_json::from_str(&succeeds(&picorl(&[
            "eval",
            &f,
            "--env",
            "gym:PointMass3d-v0",
            "--episodes",
            "20",
            "--json",
            "--gym-packages",
            USER_MODULE,
        ])))
        .unwrap();
        assert_eq!(
            eval["mean_return"].as_f64(),
            Some(exported),
            "{algo}: {eval}"
        );
    }
}

/// `picorl render` draws a Gymnasium environment's own `rgb_array` frames.
#[test]
fn render_uses_gymnasiums_frames() {
    let dir = scratch("render");
    let run = dir.join("run").to_string_lossy().to_string();
    succeeds(&picorl(&[
        "train",
        "--algo",
        "ppo",
        "--env",
        "gym:PointMass3d-v0",
        "--gym-packages",
        USER_MODULE,
        "--device",
        "cpu",
        "--threads",
        "1",
        "--quiet",
        "--total-steps",
        "512",
        "--set",
        "n_envs=2",
        "--set",
        "n_steps=128",
        "--set",
        "batch_size=128",
        "--out",
        &run,
    ]));
    let gif = dir.join("ep.gif").to_string_lossy().to_string();
    succeeds(&picorl(&["render", &run, "--out", &gif, "--every", "5"]));
    let bytes = std::fs::read(&gif).unwrap();
    let mut d = gif::DecodeOptions::new()
        .read_info(bytes.as_slice())
        .unwrap();
    assert_eq!((d.width(), d.height()), (64, 64));
    let mut frames = 0;
    while d.read_next_frame().unwrap().is_some() {
        frames += 1;
    }
    // 50 steps drawn every 5th: the start and 10 more.
    assert_eq!(frames, 11);
}
