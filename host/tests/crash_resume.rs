//! Crash safety, divergence and reproducibility, through the built `picorl` binary on the CPU:
//! - a training killed with SIGKILL at random moments after its first checkpoint, and resumed
//!   each time with `--resume`, ends with the same `metrics.csv` and `episodes.csv`, byte for
//!   byte, as the same seed run without interruption (DQN, DDPG, TD3, SAC, PPO, A2C, REINFORCE), and with
//!   one TensorBoard event file holding the same records (wall clocks aside);
//! - a NaN loss stops the run with exit 1 and a message naming the step, and keeps the last
//!   good checkpoint;
//! - the same seed twice gives the same `metrics.csv`, byte for byte (the wall clock lives in
//!   `timing.csv`), for DQN, PPO, A2C and REINFORCE.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_picorl");

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("picorl-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small seeded CPU training into `out` (on CartPole, or the environment `extra` names first).
fn train_cmd(algo: &str, out: &Path, seed: u64, extra: &[&str]) -> Command {
    let (env, extra) = match extra {
        ["--env", env, rest @ ..] => (*env, rest),
        _ => ("CartPole-v1", extra),
    };
    let mut c = Command::new(BIN);
    c.args(["train", "--algo", algo, "--env", env])
        .args(["--device", "cpu", "--threads", "1", "--quiet"])
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

#[track_caller]
fn ok(out: Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{}/{f}: {e}", dir.display()))
}

/// `eval.csv` without its wall-clock column (`train_seconds`, the second).
fn evals(dir: &Path) -> Vec<String> {
    read(dir, "eval.csv")
        .lines()
        .map(|l| {
            let mut c: Vec<&str> = l.split(',').collect();
            c.remove(1);
            c.join(",")
        })
        .collect()
}

/// The step of the run's last checkpoint (from `state.json`), if any.
fn checkpoint_step(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("state.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["steps"].as_u64()
}

/// xorshift64*: the kill moments, from a seed printed for a rerun.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

const DQN: &[&str] = &[
    "--total-steps",
    "8000",
    "--eval-every",
    "512",
    "--eval-episodes",
    "2",
    "--set",
    "learning_starts=300",
    "--set",
    "log_interval=128",
    "--set",
    "buffer_size=5000",
    // Prioritized replay: the sum-tree's priorities are part of what a resume restores too
    // (uniform replay is resumed in cli_errors.rs's full-disk test).
    "--set",
    "prioritized=true",
];

#[test]
fn killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume("dqn", DQN);
}

/// DQN on the torch backend (libtorch's autograd and tensors): the same state, saved in the
/// same layout, resumes as bit-exactly as on the native one.
#[test]
fn dqn_on_torch_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume("dqn", &[DQN, &["--backend", "torch"]].concat());
}

/// DQN with noisy layers and dropout: their generators (noise drawn at every step and update,
/// a dropout mask at every update) are part of the resume state too.
#[test]
fn noisy_dropout_dqn_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    // DQN's run without prioritized replay, shorter: noisy networks act through libtorch.
    let args = [
        &["--total-steps", "5000"][..],
        &DQN[2..12],
        &["--set", "noisy=true", "--set", "dropout=0.1"],
    ]
    .concat();
    kill_and_resume("dqn", &args);
    // On libtorch too: the noisy layers' and dropout's hand-written gradients run there as well.
    kill_and_resume("dqn", &[&args[..], &["--backend", "torch"]].concat());
}

/// DDPG on Pendulum: Adam's moments of actor and critic, the replay memory, the environments, the
/// exploration noise (an Ornstein-Uhlenbeck process here) and generator.
#[test]
fn ddpg_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    let args = [PENDULUM, &["--set", "noise_type=\"ornstein-uhlenbeck\""]].concat();
    kill_and_resume("ddpg", &args);
}

/// PPO on CartPole with observation and reward normalization: Adam's moments, the generator
/// that draws actions and shuffles minibatches, the environments, the `f64` running statistics
/// and the running returns, the learning-rate and clip-range schedules (linear in the config).
#[test]
fn ppo_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume(
        "ppo",
        &[
            "--total-steps",
            "40000",
            "--eval-every",
            "2048",
            "--eval-episodes",
            "2",
            "--set",
            "normalize_obs=true",
            "--set",
            "normalize_reward=true",
        ],
    );
}

/// PPO (Adam) and A2C (RMSprop) on the torch backend: the same state, saved in the same layout,
/// resumes bit for bit too.
#[test]
fn ppo_and_a2c_on_torch_killed_and_resumed_end_with_the_uninterrupted_metrics() {
    let short = [
        "--total-steps",
        "12000",
        "--eval-every",
        "2048",
        "--eval-episodes",
        "2",
        "--backend",
        "torch",
    ];
    kill_and_resume("ppo", &short);
    kill_and_resume("a2c", &short);
}

/// A2C on CartPole with its default RMSprop (the mean square is saved) and observation
/// normalization.
#[test]
fn a2c_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume(
        "a2c",
        &[
            "--total-steps",
            "40000",
            "--eval-every",
            "2000",
            "--eval-episodes",
            "2",
            "--set",
            "normalize_obs=true",
        ],
    );
}

/// PPO on Pendulum with gSDE (exploration matrices redrawn every 4 steps from the saved
/// generator) and A2C with Adam on Acrobot: the continuous-action path and the other optimizer.
#[test]
fn ppo_sde_and_a2c_adam_killed_and_resumed_end_with_the_uninterrupted_metrics() {
    kill_and_resume(
        "ppo",
        &[
            "--env",
            "Pendulum-v1",
            "--total-steps",
            "20000",
            "--eval-every",
            "2000",
            "--eval-episodes",
            "1",
            "--set",
            "use_sde=true",
            "--set",
            "sde_sample_freq=4",
        ],
    );
    kill_and_resume(
        "a2c",
        &[
            "--env",
            "Acrobot-v1",
            "--total-steps",
            "30000",
            "--eval-every",
            "2000",
            "--eval-episodes",
            "1",
            "--set",
            "optimizer=\"adam\"",
        ],
    );
}

/// REINFORCE on CartPole: whole-episode batches, whose copies are rebuilt by replaying their
/// episodes, with observation normalization.
#[test]
fn reinforce_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume(
        "reinforce",
        &[
            "--total-steps",
            "30000",
            "--eval-every",
            "1500",
            "--eval-episodes",
            "2",
            "--set",
            "normalize_obs=true",
        ],
    );
}

/// The records of the run's one TensorBoard event file (checked against their CRCs) as
/// `(step, [(tag, value bits)])`, without their wall clocks and the `time/fps` values (the wall
/// clock again); the file's version record as `(0, [("file_version", 0)])`.
fn tensorboard_records(dir: &Path) -> Vec<(u64, Vec<(String, u32)>)> {
    use picorl_host::train::tensorboard::masked_crc;
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .collect();
    assert_eq!(files.len(), 1, "one event file a run: {files:?}");
    let bytes = std::fs::read(&files[0]).unwrap();
    let varint = |b: &[u8], at: &mut usize| -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        v
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        assert!(at + 12 <= bytes.len(), "a cut record header at byte {at}");
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        assert_eq!(
            bytes[at + 8..at + 12],
            masked_crc(&bytes[at..at + 8]).to_le_bytes(),
            "length CRC at byte {at}"
        );
        let data = &bytes[at + 12..at + 12 + len];
        assert_eq!(
            bytes[at + 12 + len..at + 16 + len],
            masked_crc(data).to_le_bytes(),
            "data CRC at byte {at}"
        );
        at += len + 16;
        // Event: wall_time (field 1, fixed64), step (field 2, varint), then a file version
        // (field 3) or a summary (field 5) of values { tag (1), simple_value (2, fixed32) }.
        assert_eq!(data[0], 0x09);
        let mut i = 9;
        assert_eq!(data[i], 0x10);
        i += 1;
        let step = varint(data, &mut i);
        let key = data[i];
        i += 1;
        let n = varint(data, &mut i) as usize;
        let body = &data[i..i + n];
        let mut values = Vec::new();
        if key == 0x1a {
            values.push(("file_version".to_string(), 0));
        } else {
            assert_eq!(key, 0x2a, "a summary");
            let mut j = 0;
            while j < body.len() {
                assert_eq!(body[j], 0x0a);
                j += 1;
                let vlen = varint(body, &mut j) as usize;
                let v = &body[j..j + vlen];
                j += vlen;
                assert_eq!(v[0], 0x0a);
                let mut k = 1;
                let tlen = varint(v, &mut k) as usize;
                let tag = String::from_utf8(v[k..k + tlen].to_vec()).unwrap();
                k += tlen;
                assert_eq!(v[k], 0x15);
                let bits = u32::from_le_bytes(v[k + 1..k + 5].try_into().unwrap());
                if tag != "time/fps" {
                    values.push((tag, bits));
                }
            }
        }
        out.push((step, values));
    }
    out
}

/// A short Pendulum run for the continuous learners: 3,000 steps, a checkpoint every 400.
const PENDULUM: &[&str] = &[
    "--env",
    "Pendulum-v1",
    "--total-steps",
    "3000",
    "--eval-every",
    "400",
    "--eval-episodes",
    "1",
    "--set",
    "learning_starts=300",
    "--set",
    "batch_size=32",
    "--set",
    "log_interval=100",
];

/// TD3 on Pendulum: DDPG's state, plus the generator of the target policy smoothing noise.
#[test]
fn td3_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume("td3", PENDULUM);
}

/// TD3 on the torch backend (libtorch's autograd and tensors): the same state, saved in the
/// same layout, resumes bit for bit too.
#[test]
fn td3_on_torch_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume("td3", &[PENDULUM, &["--backend", "torch"]].concat());
}

/// SAC on the torch backend.
#[test]
fn sac_on_torch_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume("sac", &[PENDULUM, &["--backend", "torch"]].concat());
}

/// SAC on Pendulum: Adam's moments of actor, critics and temperature, the replay memory, the
/// environments, the generator of the updates' Gaussian draws, the learned temperature.
#[test]
fn sac_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    kill_and_resume("sac", PENDULUM);
}

/// SAC with gSDE on Pendulum: SAC's state, the exploration matrices drawn from the driver's
/// generator (redrawn every 4 steps and at every round's start).
#[test]
fn sac_sde_killed_and_resumed_ends_with_the_uninterrupted_metrics() {
    let args = [
        PENDULUM,
        &[
            "--set",
            "use_sde=true",
            "--set",
            "sde_sample_freq=4",
            "--set",
            "train_freq=8",
            "--set",
            "gradient_steps=8",
        ],
    ]
    .concat();
    kill_and_resume("sac", &args);
}

/// Trains `algo` with `args` whole, then again killed with SIGKILL at random moments after a
/// checkpoint (up to 4 times) and resumed each time; the two must end identical.
fn kill_and_resume(algo: &str, args: &[&str]) {
    // One directory per algorithm and arguments: cases of one algorithm run side by side.
    let tag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        args.hash(&mut h);
        h.finish() as u32
    };
    let d = scratch(&format!("kill-{algo}-{tag:08x}"));
    let whole = d.join("whole");
    ok(train_cmd(algo, &whole, 7, args).output().unwrap());

    let run = d.join("killed");
    let mut seed = std::env::var("PICORL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|t| t.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("kill moments from PICORL_KILL_SEED={seed}");
    let mut child = train_cmd(algo, &run, 7, args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut kills = Vec::new();
    let mut last = None;
    while kills.len() < 4 {
        // Wait for a checkpoint newer than the one the last kill left.
        let t0 = Instant::now();
        let fresh = loop {
            if let Some(s) = checkpoint_step(&run) {
                if Some(s) != last {
                    break true;
                }
            }
            if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(120) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if !fresh {
            break;
        }
        // Within 150 ms of a checkpoint: the shortest runs here last about a second, and a kill
        // that comes after the run ended would leave nothing to resume.
        std::thread::sleep(Duration::from_millis(next(&mut seed) % 150));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        last = checkpoint_step(&run);
        kills.push(last.unwrap());
        child = Command::new(BIN)
            .args(["train", "--quiet", "--resume"])
            .arg(&run)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the last resume failed");
    eprintln!("killed after the checkpoints of steps {kills:?}");
    assert!(
        !kills.is_empty(),
        "the run ended before a kill (machine too fast for the budget?)"
    );
    for f in ["metrics.csv", "episodes.csv"] {
        assert_eq!(
            read(&run, f),
            read(&whole, f),
            "{f} (kills after {kills:?})"
        );
    }
    assert_eq!(evals(&run), evals(&whole));
    let summary = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&read(dir, "summary.json")).unwrap()
    };
    let (a, b) = (summary(&whole), summary(&run));
    for k in ["total_steps", "final_eval_mean", "final_eval_std"] {
        assert_eq!(a[k], b[k], "{k}");
    }
    assert!(!run.join("checkpoint.tmp.safetensors").exists());
    // One event file, its records those of the uninterrupted run, each once and whole.
    let tb = tensorboard_records(&run);
    assert!(tb.len() > 2, "{tb:?}");
    assert_eq!(tb, tensorboard_records(&whole), "TensorBoard records");
    // Every file was written whole (atomically: no temporary is left, the picture included).
    assert!(run.join("learning_curve.png").exists());
    for e in std::fs::read_dir(&run).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "{name} left behind");
    }
    // Resuming a finished run changes nothing.
    let logs = |dir: &Path| ["metrics.csv", "eval.csv", "episodes.csv"].map(|f| read(dir, f));
    let before = logs(&run);
    ok(Command::new(BIN)
        .args(["train", "--quiet", "--resume"])
        .arg(&run)
        .output()
        .unwrap());
    assert_eq!(logs(&run), before);
    let _ = std::fs::remove_dir_all(&d);
}

/// Killed after its last checkpoint but before its summary (the last checkpoint follows the
/// last evaluation): `--resume` writes the summary without evaluating again, and a run stopped
/// by `--stop-at-return` stays stopped.
#[test]
fn killed_between_the_last_checkpoint_and_the_summary() {
    let d = scratch("late");
    for (name, extra) in [
        (
            "budget",
            &["--total-steps", "2048", "--eval-every", "1024"][..],
        ),
        (
            "solved",
            &[
                "--total-steps",
                "40000",
                "--eval-every",
                "5000",
                "--stop-at-return",
                "150",
            ][..],
        ),
    ] {
        let run = d.join(name);
        ok(train_cmd("ppo", &run, 3, extra).output().unwrap());
        let logs = |dir: &Path| ["metrics.csv", "eval.csv", "episodes.csv"].map(|f| read(dir, f));
        let before = logs(&run);
        let summary = read(&run, "summary.json");
        // What a kill in that window leaves: everything but the summary.
        std::fs::remove_file(run.join("summary.json")).unwrap();
        ok(Command::new(BIN)
            .args(["train", "--quiet", "--resume"])
            .arg(&run)
            .output()
            .unwrap());
        assert_eq!(logs(&run), before, "{name}");
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(&summary).unwrap(),
            serde_json::from_str(&read(&run, "summary.json")).unwrap(),
        );
        for k in [
            "total_steps",
            "solved_at_step",
            "final_eval_mean",
            "final_eval_std",
        ] {
            assert_eq!(a[k], b[k], "{name}: {k}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn killed_before_the_first_checkpoint_starts_over() {
    let d = scratch("early");
    let whole = d.join("whole");
    let extra = ["--total-steps", "1500", "--eval-every", "1000"];
    ok(train_cmd("dqn", &whole, 2, &extra).output().unwrap());
    let run = d.join("killed");
    let mut child = train_cmd("dqn", &run, 2, &extra).spawn().unwrap();
    // As soon as the run directory has its config (well before the first checkpoint).
    while !run.join("config.toml").exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    ok(Command::new(BIN)
        .args(["train", "--quiet", "--resume"])
        .arg(&run)
        .output()
        .unwrap());
    for f in ["metrics.csv", "episodes.csv"] {
        assert_eq!(read(&run, f), read(&whole, f), "{f}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A checkpoint of another format (here one rewritten as format 1, the unversioned one before
/// the loop owned `metrics.csv`'s rows) is refused by `--resume` with a message naming both
/// formats, and the run directory is left as it was; `eval` still reads its weights.
#[test]
fn a_checkpoint_of_another_format_is_refused_by_resume() {
    let d = scratch("format");
    let run = d.join("run");
    ok(train_cmd(
        "ppo",
        &run,
        0,
        &["--total-steps", "512", "--eval-every", "256"],
    )
    .output()
    .unwrap());
    let ckpt = run.join("checkpoint.safetensors");
    let mut named = tch::Tensor::read_safetensors(&ckpt).unwrap();
    for (name, t) in named.iter_mut() {
        if name == picorl_host::train::TRAIN_STATE {
            let bytes = Vec::<u8>::try_from(t.flatten(0, -1)).unwrap();
            let mut state: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(state["format"], 3, "this picorl writes format 3");
            state["format"] = 1.into();
            *t = tch::Tensor::from_slice(&serde_json::to_vec(&state).unwrap());
        }
    }
    tch::Tensor::write_safetensors(&named, &ckpt).unwrap();
    let before = std::fs::read(&ckpt).unwrap();
    let out = Command::new(BIN)
        .args(["train", "--quiet", "--total-steps", "1024", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("checkpoint format 1") && err.contains("resumes format 3"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&ckpt).unwrap(),
        before,
        "the checkpoint is untouched"
    );
    ok(Command::new(BIN)
        .args(["eval", "--episodes", "2"])
        .arg(&run)
        .output()
        .unwrap());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_diverged_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let d = scratch("nan");
    let run = d.join("run");
    // An absurd learning rate: the first updates (after step 500) blow the Q-values up.
    let out = train_cmd(
        "dqn",
        &run,
        0,
        &[
            "--total-steps",
            "3000",
            "--eval-every",
            "256",
            "--eval-episodes",
            "1",
            "--set",
            "learning_starts=500",
            "--set",
            "learning_rate=1e30",
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    let e = errors[0];
    assert!(e.contains("diverged") && e.contains("at step "), "{e}");
    assert!(
        e.contains("the last good checkpoint, step 256, is kept"),
        "{e}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The checkpoint is the one of step 256, whole: it evaluates, with finite returns.
    assert_eq!(checkpoint_step(&run), Some(256));
    let out = Command::new(BIN)
        .args(["eval", "--episodes", "2", "--json"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["mean_return"].as_f64().unwrap().is_finite());
    assert!(!run.join("summary.json").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn same_seed_same_metrics_byte_for_byte() {
    let d = scratch("same");
    for (algo, extra) in [
        (
            "dqn",
            &["--total-steps", "3000", "--set", "learning_starts=300"][..],
        ),
        (
            "ppo",
            &["--total-steps", "4096", "--eval-episodes", "2"][..],
        ),
        (
            "a2c",
            &["--total-steps", "4000", "--eval-episodes", "2"][..],
        ),
        (
            "reinforce",
            &["--total-steps", "4000", "--eval-episodes", "2"][..],
        ),
    ] {
        let runs: Vec<PathBuf> = (0..3).map(|k| d.join(format!("{algo}{k}"))).collect();
        ok(train_cmd(algo, &runs[0], 11, extra).output().unwrap());
        ok(train_cmd(algo, &runs[1], 11, extra).output().unwrap());
        ok(train_cmd(algo, &runs[2], 12, extra).output().unwrap());
        let m: Vec<String> = runs.iter().map(|r| read(r, "metrics.csv")).collect();
        assert!(m[0].lines().count() > 3, "{algo}: {}", m[0]);
        assert_eq!(m[0], m[1], "{algo}: same seed");
        assert_eq!(
            read(&runs[0], "episodes.csv"),
            read(&runs[1], "episodes.csv")
        );
        assert_ne!(m[0], m[2], "{algo}: another seed, another run");
        // The wall clock is kept apart.
        assert!(read(&runs[0], "timing.csv").starts_with("step,train_seconds,steps_per_second\n"));
    }
    let _ = std::fs::remove_dir_all(&d);
}
