//! The command line as people use it (issue 23): a closed stdout pipe, Ctrl-C (SIGINT, SIGTERM)
//! during a real run and its resume, extending a finished run, `--save-every`, the best
//! checkpoint, progress without a terminal, the limits on every number, errors that blame the
//! right option, `--seeds`, and `firmware-example/run`'s usage. Each case drives the built binary.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{fails_but, picorl, stderr, BIN};

fn scratch(name: &str) -> PathBuf {
    common::scratch("cli-use", name)
}

#[track_caller]
fn ok(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{}/{f}: {e}", dir.display()))
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(dir, "summary.json")).unwrap()
}

/// A seeded PPO run on CartPole on one CPU thread (fast: 8 envs × 32 steps a rollout).
fn ppo(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["train", "--algo", "ppo", "--env", "CartPole-v1"])
        .args(["--device", "cpu", "--threads", "1", "--seed", "3"])
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

/// `eval.csv` without its wall-clock column.
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

fn wait_for(path: &Path, limit: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn kill(pid: u32, signal: &str) {
    let s = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(s.success());
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let d = scratch("pipe");
    let model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-example/policies/cartpole-ppo-int8.picorl");
    let model = model.to_str().unwrap();
    let obs_file = d.join("obs.txt");
    std::fs::write(&obs_file, "0.01,0.02,0.03,0.04\n".repeat(20_000)).unwrap();
    for args in [
        vec!["env", "list"],
        vec!["inspect", model],
        vec!["infer", model, "--obs-file", obs_file.to_str().unwrap()],
        vec!["--help"],
    ] {
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reading end closes before picorl has written (libtorch alone takes longer to
        // load), so its first print meets a closed pipe (`picorl env list | head -0`).
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn numbers_beyond_their_bounds_name_the_bound() {
    let d = scratch("limits");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let base = |extra: &[&'static str]| {
        let mut v = vec![
            "train",
            "--algo",
            "ppo",
            "--env",
            "CartPole-v1",
            "--device",
            "cpu",
            "--out",
        ];
        v.push(run_s);
        v.extend_from_slice(extra);
        v
    };
    // Usage errors (exit 2) with the bound: negative, absurd, NaN.
    fails_but(
        &picorl(&base(&["--total-steps", "-5"])),
        2,
        &["-5", "from 1 to"],
        &[],
    );
    fails_but(
        &picorl(&base(&["--threads", "100000"])),
        2,
        &["100000", "1,024"],
        &[],
    );
    fails_but(
        &picorl(&base(&["--stop-at-return", "nan"])),
        2,
        &["finite"],
        &[],
    );
    fails_but(
        &picorl(&base(&["--eval-episodes", "0"])),
        2,
        &["from 1 to"],
        &[],
    );
    fails_but(
        &picorl(&["bench", "x.picorl", "--iterations", "99999999999999"]),
        2,
        &["1,000,000,000"],
        &[],
    );
    fails_but(
        &picorl(&["eval", "x.picorl", "--episodes", "-1"]),
        2,
        &["from 1 to"],
        &[],
    );
    // Threads beyond the machine's cores, unless forced.
    let cores = std::thread::available_parallelism().unwrap().get();
    let too_many: &'static str = Box::leak((cores + 1).to_string().into_boxed_str());
    fails_but(
        &picorl(&base(&["--threads", too_many])),
        1,
        &["--threads", "--force-threads", &format!("{cores} cores")],
        &[],
    );
    // Hyper-parameters: a rollout far beyond the budget, a network beyond memory (before
    // libtorch allocates: no panic), NaN from --set.
    fails_but(
        &picorl(&base(&["--set", "n_envs=100000", "--total-steps", "600"])),
        1,
        &["`n_envs` = 100000", "4,096"],
        &[],
    );
    fails_but(
        &picorl(&base(&["--set", "n_envs=1000", "--total-steps", "600"])),
        1,
        &["--total-steps 600", "32,000"],
        &[],
    );
    fails_but(
        &picorl(&base(&["--set", "hidden=[100000, 100000]"])),
        1,
        &["`hidden`", "65,536"],
        &[],
    );
    fails_but(
        &picorl(&base(&["--set", "hidden=[60000, 60000, 60000, 60000]"])),
        1,
        &["`hidden`", "parameters", "available"],
        &[],
    );
    fails_but(
        &picorl(&base(&["--set", "stop_at_return=nan"])),
        1,
        &["stop_at_return", "finite"],
        &[],
    );
    assert!(!run.exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_budget_that_is_not_whole_rounds_says_the_new_total() {
    let d = scratch("rounds");
    let run = d.join("run");
    // PPO on CartPole: rollouts of 8 × 32 = 256 steps; 600 becomes 768, and says so.
    let out = ppo(&run, &["--total-steps", "600", "--quiet"])
        .output()
        .unwrap();
    ok(&out);
    let err = stderr(&out);
    assert!(err.contains("warning:") && err.contains("768"), "{err}");
    assert_eq!(summary(&run)["total_steps"], 768);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn errors_blame_the_right_thing() {
    let d = scratch("blame");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut v = vec![
            "train",
            "--algo",
            "ppo",
            "--env",
            "CartPole-v1",
            "--out",
            run_s,
        ];
        v.extend_from_slice(extra);
        picorl(&v)
    };
    fails_but(
        &train(&["--set", "learning_rate=abc"]),
        1,
        &["--set learning_rate=abc"],
        &["built-in"],
    );
    fails_but(
        &train(&["--env-kwargs", "foo=1"]),
        1,
        &["`foo`", "CartPole-v1 takes sutton_barto_reward"],
        &["map_name", "is_slippery"],
    );
    // Names a person types loosely get a suggestion.
    let mut v = vec![
        "train",
        "--algo",
        "PPO",
        "--env",
        "CartPole-v1",
        "--out",
        run_s,
    ];
    fails_but(&picorl(&v), 1, &["`PPO`", "did you mean `ppo`"], &[]);
    v[2] = "ppo";
    v[4] = "cartpole";
    fails_but(
        &picorl(&v),
        1,
        &["`cartpole`", "did you mean `CartPole-v1`"],
        &[],
    );
    // A regular file as --out.
    let file = d.join("afile");
    std::fs::write(&file, "x").unwrap();
    let out = picorl(&[
        "train",
        "--algo",
        "ppo",
        "--env",
        "CartPole-v1",
        "--out",
        file.to_str().unwrap(),
    ]);
    fails_but(
        &out,
        1,
        &["afile", "a file, not a directory"],
        &["not empty"],
    );
    // --resume takes no --algo or --env (they are the run's).
    fails_but(
        &picorl(&["train", "--resume", run_s, "--algo", "ppo"]),
        2,
        &["--algo"],
        &[],
    );
    fails_but(
        &picorl(&["train", "--resume", run_s, "--env", "CartPole-v1"]),
        2,
        &["--env"],
        &[],
    );
    // A damaged run config.toml: the file and the line.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/export/ppo-cartpole");
    let damaged = d.join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    let text = std::fs::read_to_string(fixture.join("config.toml")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let at = lines.iter().position(|l| l.starts_with("seed")).unwrap();
    lines[at] = "seed = \"zero\"".into();
    std::fs::write(damaged.join("config.toml"), lines.join("\n")).unwrap();
    let e = fails_but(
        &picorl(&["eval", damaged.to_str().unwrap()]),
        1,
        &["config.toml", &format!("line {}", at + 1), "seed"],
        &[],
    );
    assert!(!e.contains(" | "), "a flattened snippet: {e}");
    lines[at] = "seed = [".into();
    std::fs::write(damaged.join("config.toml"), lines.join("\n")).unwrap();
    fails_but(
        &picorl(&["eval", damaged.to_str().unwrap()]),
        1,
        &["config.toml", "line "],
        &["line 1:"],
    );
    // --qat fine-tunes int8 layers: asked of an f32 export, it is named.
    let qat_out = d.join("qat.picorl");
    fails_but(
        &picorl(&[
            "export",
            fixture.to_str().unwrap(),
            "--out",
            qat_out.to_str().unwrap(),
            "--qat",
            "10",
        ]),
        1,
        &["--qat 10 needs --quant int8"],
        &[],
    );
    // A .picorl file on the wrong environment names both.
    let model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-example/policies/cartpole-ppo-int8.picorl");
    fails_but(
        &picorl(&["eval", model.to_str().unwrap(), "--env", "Acrobot-v1"]),
        1,
        &["cartpole-ppo-int8.picorl takes 4", "Acrobot-v1 gives 6"],
        &[],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn output_for_people_is_rounded_and_aligned() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-example/policies/cartpole-ppo-int8.picorl");
    let out = picorl(&[
        "eval",
        model.to_str().unwrap(),
        "--env",
        "CartPole-v1",
        "--episodes",
        "3",
    ]);
    ok(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rows: Vec<&str> = text.lines().take(4).collect();
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{text}");
    // The key=value line keeps every digit (scripts read it); the table is for people.
    assert!(
        text.lines().last().unwrap().starts_with("mean_return="),
        "{text}"
    );
}

/// SIGINT to a real run: a checkpoint, summary.json and the curve, the exact resume line, exit
/// 130; the resumed run ends with the uninterrupted run's metrics, byte for byte (the
/// interruption's checkpoint is an ordinary one); then `--total-steps` extends the finished run,
/// and `export --which best|last` chooses a checkpoint.
#[test]
fn sigint_checkpoints_and_the_run_resumes_exactly() {
    let d = scratch("sigint");
    let args = [
        "--total-steps",
        "30720",
        "--eval-every",
        "2048",
        "--eval-episodes",
        "3",
    ];
    let whole = d.join("whole");
    ok(&ppo(&whole, &[&args[..], &["--quiet"]].concat())
        .output()
        .unwrap());

    let run = d.join("run");
    let child = ppo(&run, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PICORL_PROGRESS_SECONDS", "0")
        .spawn()
        .unwrap();
    assert!(wait_for(&run.join("state.json"), Duration::from_secs(120)));
    kill(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let resume_line = format!("picorl train --resume {}", run.display());
    assert!(err.lines().any(|l| l == resume_line), "{err}");
    assert!(err.contains("SIGINT"), "{err}");
    // Without a terminal: a line per evaluation, progress lines, no absurd rate.
    assert!(err.contains("eval at step 2,048: return "), "{err}");
    assert!(err.lines().any(|l| l.starts_with("step ")), "{err}");
    let stopped_at = summary(&run)["total_steps"].as_u64().unwrap();
    assert!(stopped_at < 30720, "the run ended before the signal");
    assert!(run.join("learning_curve.png").exists());
    assert!(run.join("checkpoint.safetensors").exists());
    assert!(!err.contains("panicked"), "{err}");

    let out = Command::new(BIN)
        .args(["train", "--resume"])
        .arg(&run)
        .env("PICORL_PROGRESS_SECONDS", "0")
        .output()
        .unwrap();
    ok(&out);
    let err = stderr(&out);
    assert!(err.contains("from step"), "{err}");
    for rate in err
        .lines()
        .filter(|l| l.starts_with("step "))
        .filter_map(|l| l.split(", ").nth(1))
        .filter_map(|r| r.strip_suffix(" steps/s"))
    {
        let r: f64 = rate.replace(',', "").parse().unwrap();
        assert!(r < 1e8, "a rate of {r} steps/s after resuming: {err}");
    }
    assert!(
        err.lines()
            .any(|l| l.starts_with("ppo on CartPole-v1 (seed 3): 30,720 steps")),
        "{err}"
    );
    for f in ["metrics.csv", "episodes.csv"] {
        assert_eq!(read(&run, f), read(&whole, f), "{f}");
    }
    assert_eq!(evals(&run), evals(&whole));
    assert_eq!(
        summary(&run)["final_eval_mean"],
        summary(&whole)["final_eval_mean"]
    );

    // A finished run extends with a larger budget; a smaller one is refused.
    fails_but(
        &picorl(&[
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--total-steps",
            "1000",
        ]),
        1,
        &["--total-steps 1000", "30720"],
        &[],
    );
    let out = Command::new(BIN)
        .args(["train", "--quiet", "--resume"])
        .arg(&run)
        .args(["--total-steps", "34816"])
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(summary(&run)["total_steps"], 34816);
    assert_eq!(evals(&run).len(), evals(&whole).len() + 2);

    // The best evaluation's checkpoint beside the last; export chooses.
    assert!(run.join("checkpoint-best.safetensors").exists());
    for which in ["best", "last"] {
        let f = d.join(format!("{which}.picorl"));
        ok(&picorl(&[
            "export",
            run.to_str().unwrap(),
            "--out",
            f.to_str().unwrap(),
            "--which",
            which,
            "--eval-episodes",
            "2",
        ]));
        assert!(f.exists());
    }
    // Export says when it replaces a file.
    let f = d.join("last.picorl");
    let out = picorl(&[
        "export",
        run.to_str().unwrap(),
        "--out",
        f.to_str().unwrap(),
        "--eval-episodes",
        "2",
    ]);
    ok(&out);
    assert!(stderr(&out).contains("replaced"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&d);
}

/// SIGTERM (a scheduler's stop) does the same, with exit status 143.
#[test]
fn sigterm_checkpoints_too() {
    let d = scratch("sigterm");
    let run = d.join("run");
    let child = ppo(
        &run,
        &["--total-steps", "200000", "--eval-every", "2048", "--quiet"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    assert!(wait_for(&run.join("state.json"), Duration::from_secs(120)));
    kill(child.id(), "-TERM");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(
        err.contains("SIGTERM") && err.contains("picorl train --resume"),
        "{err}"
    );
    assert!(run.join("summary.json").exists() && run.join("learning_curve.png").exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// `--save-every`: checkpoints between evaluations (here the only ones before the end), from
/// which a killed run resumes to the same metrics as an uninterrupted one.
#[test]
fn save_every_checkpoints_resume_exactly() {
    let d = scratch("save-every");
    let args = [
        "--total-steps",
        "20480",
        "--eval-every",
        "0",
        "--quiet",
        "--save-every",
        "1024",
    ];
    let whole = d.join("whole");
    ok(&ppo(&whole, &args).output().unwrap());
    let run = d.join("run");
    let mut child = ppo(&run, &args).stdout(Stdio::null()).spawn().unwrap();
    assert!(wait_for(&run.join("state.json"), Duration::from_secs(120)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let state: serde_json::Value = serde_json::from_str(&read(&run, "state.json")).unwrap();
    assert_eq!(state["evaluated"], false, "{state}");
    assert_eq!(state["steps"].as_u64().unwrap() % 1024, 0, "{state}");
    ok(&Command::new(BIN)
        .args(["train", "--quiet", "--resume"])
        .arg(&run)
        .output()
        .unwrap());
    for f in ["metrics.csv", "episodes.csv"] {
        assert_eq!(read(&run, f), read(&whole, f), "{f}");
    }
    assert_eq!(evals(&run), evals(&whole));
    let _ = std::fs::remove_dir_all(&d);
}

/// `--seeds 0..2`: a run per seed under --out, side by side, then the plot of them.
#[test]
fn seeds_run_side_by_side_and_are_plotted() {
    let d = scratch("seeds");
    let parent = d.join("many");
    let out = Command::new(BIN)
        .args([
            "train",
            "--algo",
            "ppo",
            "--env",
            "CartPole-v1",
            "--device",
            "cpu",
        ])
        .args([
            "--seeds",
            "0..2",
            "--total-steps",
            "2048",
            "--eval-every",
            "1024",
        ])
        .arg("--out")
        .arg(&parent)
        .output()
        .unwrap();
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let seeds: Vec<u64> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seed"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seeds, vec![0, 1]);
    for s in 0..2 {
        assert_eq!(summary(&parent.join(format!("seed-{s}")))["seed"], s);
    }
    assert!(parent.join("seeds.png").exists(), "{}", stderr(&out));
    // The plot counts each run once, however often it is named.
    let run0 = parent.join("seed-0");
    let png = d.join("twice.png");
    let out = picorl(&[
        "plot",
        run0.to_str().unwrap(),
        run0.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": 1 run,"),
        "{:?}",
        out
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn firmware_run_usage() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-example/run");
    let out = Command::new(&script).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--policy"));
    let d = scratch("fw");
    let out = Command::new(&script)
        .arg("--policy")
        .arg(&d)
        .output()
        .unwrap();
    fails_but(&out, 1, &["picorl export"], &["no such file"]);
    let _ = std::fs::remove_dir_all(&d);
}
