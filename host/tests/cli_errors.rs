//! Every bad input the `picorl` binary can be given ends the same way (docs/cli.md): exit status
//! 1 (2 for command-line usage errors), exactly one `error: …` line on stderr that names the
//! culprit, no panic, and no half-written run directory. Each case below drives the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{fails, picorl, BIN};

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    common::scratch("cli-errors", name)
}

/// A small training command line into `out` (DQN on CartPole, a few seconds on one CPU thread).
fn train_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "train",
        "--algo",
        "dqn",
        "--env",
        "CartPole-v1",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--quiet",
        "--out",
        out,
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["train", "--algo"],
        &[
            "train",
            "--algo",
            "dqn",
            "--env",
            "CartPole-v1",
            "--seed",
            "abc",
        ],
        &[
            "train",
            "--algo",
            "dqn",
            "--env",
            "CartPole-v1",
            "--seed",
            "-1",
        ],
        &["train", "--resume", "x", "--seed", "3"],
        &["train", "--env", "CartPole-v1"],
        &["eval"],
        &["infer", "model.picorl"],
        &["export", "runs/x"],
    ] {
        let out = picorl(args);
        fails(&out, 2, &[]);
    }
}

/// `--backend native` for an algorithm that trains on libtorch only names the ones that do not;
/// an unknown backend is a usage error; native on a GPU is refused; nothing is written.
#[test]
fn backend_choices_are_checked() {
    let d = scratch("backend");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    fails(
        &picorl(&train_args(run_s, &["--backend", "numpy"])),
        2,
        &["numpy"],
    );
    let mut a = train_args(run_s, &["--backend", "native"]);
    a[2] = "td3";
    a[4] = "Pendulum-v1";
    a[6] = "cuda";
    let out = picorl(&a);
    // Without a GPU the device is refused first; with one, the backend.
    fails(&out, 1, &["cuda"]);
    assert!(!run.exists());
}

#[test]
fn unknown_algorithm_and_environment_list_the_choices() {
    let d = scratch("unknown");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let mut a = train_args(run_s, &[]);
    a[2] = "dqnn";
    fails(&picorl(&a), 1, &["`dqnn`", "qlearning", "ppo", "sac"]);
    let mut a = train_args(run_s, &[]);
    a[4] = "CartPol-v1";
    fails(
        &picorl(&a),
        1,
        &["`CartPol-v1`", "CartPole-v1", "Pendulum-v1"],
    );
    // An algorithm without settings for this environment names the ones it has.
    let mut a = train_args(run_s, &[]);
    a[2] = "sac";
    fails(&picorl(&a), 1, &["[CartPole-v1]", "Pendulum-v1"]);
    assert!(!run.exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn unknown_keys_are_named_with_their_source() {
    let d = scratch("keys");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    // From --set: the key, and the known keys.
    fails(
        &picorl(&train_args(run_s, &["--set", "lerning_rate=1e-3"])),
        1,
        &["`lerning_rate`", "learning_rate", "gamma"],
    );
    fails(
        &picorl(&train_args(run_s, &["--set", "gamma"])),
        1,
        &["--set gamma", "key=value"],
    );
    // From --config: the key, the file and the line.
    let cfg = d.join("my.toml");
    std::fs::write(
        &cfg,
        "# mine\n[CartPole-v1]\ntotal_steps = 1000\nlearning_rate = 1e-3\nbatch_szie = 64\n",
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    fails(
        &picorl(&train_args(run_s, &["--config", cfg_s])),
        1,
        &["my.toml", "line 5", "`batch_szie`", "batch_size"],
    );
    // Malformed TOML: the file and the line.
    std::fs::write(&cfg, "[CartPole-v1]\ntotal_steps = 1000\ngamma = = 0.9\n").unwrap();
    fails(
        &picorl(&train_args(run_s, &["--config", cfg_s])),
        1,
        &["my.toml", "line 3"],
    );
    // A wrong type: the file and the key.
    std::fs::write(
        &cfg,
        "[CartPole-v1]\ntotal_steps = 1000\ngamma = \"high\"\n",
    )
    .unwrap();
    fails(
        &picorl(&train_args(run_s, &["--config", cfg_s])),
        1,
        &["my.toml", "gamma"],
    );
    // A missing file.
    let missing = d.join("nope.toml");
    fails(
        &picorl(&train_args(run_s, &["--config", missing.to_str().unwrap()])),
        1,
        &["--config", "nope.toml"],
    );
    assert!(!run.exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn out_of_range_values_are_refused_before_anything_is_written() {
    let d = scratch("range");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    for (extra, culprit) in [
        (&["--set", "gamma=1.5"][..], "gamma"),
        (&["--set", "gamma=-3"], "gamma"),
        (&["--set", "learning_rate=-1"], "learning_rate"),
        (&["--set", "learning_rate=0"], "learning_rate"),
        (&["--set", "learning_rate=nan"], "learning_rate"),
        (&["--set", "tau=inf"], "tau"),
        (&["--set", "batch_size=0"], "batch_size"),
        (&["--set", "buffer_size=0"], "buffer_size"),
        (&["--set", "hidden=[64, 0]"], "hidden"),
        (&["--set", "learning_rate=fast"], "learning_rate"),
        (&["--env-kwargs", "gravity=9.8"], "gravity"),
        (
            &["--env-kwargs", "sutton_barto_reward=maybe"],
            "sutton_barto_reward",
        ),
    ] {
        fails(&picorl(&train_args(run_s, extra)), 1, &[culprit]);
        assert!(!run.exists(), "{extra:?} left {}", run.display());
    }
    // A flag's number outside its bounds is a usage error (exit 2) that states the bounds.
    for (extra, culprit) in [
        (&["--total-steps", "0"][..], "--total-steps"),
        (&["--eval-episodes", "0"], "--eval-episodes"),
    ] {
        fails(
            &picorl(&train_args(run_s, extra)),
            2,
            &[culprit, "from 1 to"],
        );
        assert!(!run.exists(), "{extra:?} left {}", run.display());
    }
    let mut a = train_args(run_s, &[]);
    a[6] = "tpu";
    fails(&picorl(&a), 1, &["--device tpu"]);
    // The same checks hold for the on-policy learners.
    let mut a = train_args(run_s, &["--set", "gamma=-3"]);
    a[2] = "ppo";
    fails(&picorl(&a), 1, &["gamma"]);
    let mut a = train_args(run_s, &["--set", "gae_lambda=2"]);
    a[2] = "ppo";
    fails(&picorl(&a), 1, &["gae_lambda"]);
    assert!(!run.exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_run_directories() {
    let d = scratch("dirs");
    // --resume of nothing.
    let missing = d.join("missing");
    fails(
        &picorl(&["train", "--resume", missing.to_str().unwrap()]),
        1,
        &["--resume", "missing", "config.toml"],
    );
    // --resume of a directory whose config.toml cannot be read (a directory: root reads
    // everything whatever its mode, so permissions would prove nothing here).
    let unreadable = d.join("unreadable");
    std::fs::create_dir_all(unreadable.join("config.toml")).unwrap();
    fails(
        &picorl(&["train", "--resume", unreadable.to_str().unwrap()]),
        1,
        &["--resume", "config.toml"],
    );
    // --resume of a directory with a damaged config.toml.
    let garbage = d.join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("config.toml"), "algo = \"dqn\"\nseed = [\n").unwrap();
    fails(
        &picorl(&["train", "--resume", garbage.to_str().unwrap()]),
        1,
        &["config.toml"],
    );
    // eval of nothing.
    fails(
        &picorl(&["eval", missing.to_str().unwrap()]),
        1,
        &["missing"],
    );
    // --out that exists and holds something.
    let full = d.join("taken");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("notes.txt"), "mine").unwrap();
    fails(
        &picorl(&train_args(
            full.to_str().unwrap(),
            &["--total-steps", "300"],
        )),
        1,
        &["--out", "taken", "not empty"],
    );
    assert_eq!(
        std::fs::read_to_string(full.join("notes.txt")).unwrap(),
        "mine"
    );
    // --out that cannot be created: under a regular file (again, root ignores modes).
    let file = d.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under = file.join("run");
    fails(
        &picorl(&train_args(
            under.to_str().unwrap(),
            &["--total-steps", "300"],
        )),
        1,
        &["run directory", "a-file/run"],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_damaged_checkpoint_is_an_error_not_a_panic() {
    let d = scratch("ckpt");
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let out = picorl(&train_args(
        run_s,
        &["--total-steps", "300", "--set", "learning_starts=100"],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ckpt = run.join("checkpoint.safetensors");
    let bytes = std::fs::read(&ckpt).unwrap();
    for (what, damaged) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("empty", Vec::new()),
        (
            "garbage",
            b"not a checkpoint at all, not even close".to_vec(),
        ),
    ] {
        std::fs::write(&ckpt, &damaged).unwrap();
        fails(
            &picorl(&["train", "--resume", run_s]),
            1,
            &["checkpoint.safetensors"],
        );
        fails(&picorl(&["eval", run_s]), 1, &["checkpoint.safetensors"]);
        let _ = what;
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Runs picorl with a file-size limit: a write past it fails with EFBIG ("File too large"), as
/// a write to a full disk fails with ENOSPC; both reach picorl as an I/O error of that write.
/// (A real full disk would need a small mounted tmpfs, which takes privileges a test lacks.)
/// SIGXFSZ, which would kill the process instead, is ignored by the shell before `exec`.
fn picorl_with_file_limit(blocks: u32, args: &[&str]) -> Output {
    let script = format!("trap '' XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\"");
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(args)
        .output()
        .expect("running picorl under sh")
}

#[test]
fn a_full_disk_loses_nothing() {
    let d = scratch("disk");
    // Full before the first checkpoint: the run directory is removed again.
    let run = d.join("early");
    let out = picorl_with_file_limit(
        4,
        &train_args(run.to_str().unwrap(), &["--total-steps", "600"]),
    );
    fails(&out, 1, &["File too large", "removed"]);
    assert!(!run.exists());

    // Full after some checkpoints: the last checkpoint stays whole and resumes. A clean run
    // first, whose final checkpoint (the replay memory full of 3000 transitions) is the largest
    // file; the limit lets every earlier checkpoint (taken every 512 steps, 48 bytes a
    // transition) through and stops that one.
    let args_for = |out: &str| -> Vec<String> {
        train_args(
            out,
            &[
                "--total-steps",
                "3000",
                "--eval-every",
                "500",
                "--eval-episodes",
                "2",
                "--set",
                "learning_starts=200",
                "--set",
                "log_interval=100",
            ],
        )
        .into_iter()
        .map(String::from)
        .collect()
    };
    let clean = d.join("clean");
    let a = args_for(clean.to_str().unwrap());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    assert!(picorl(&a).status.success());
    let largest = std::fs::metadata(clean.join("checkpoint.safetensors"))
        .unwrap()
        .len();
    let blocks = ((largest - 1) / 512) as u32;

    let run = d.join("late");
    let run_s = run.to_str().unwrap();
    let a = args_for(run_s);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = picorl_with_file_limit(blocks, &a);
    let err = fails(
        &out,
        1,
        &["File too large", "the last good checkpoint, step 2"],
    );
    assert!(run.join("checkpoint.safetensors").exists(), "{err}");
    assert!(!run.join("checkpoint.tmp.safetensors").exists(), "{err}");
    let out = picorl(&["train", "--resume", run_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same numbers as the run that never saw a full disk.
    for f in ["metrics.csv", "episodes.csv"] {
        assert_eq!(
            std::fs::read(run.join(f)).unwrap(),
            std::fs::read(clean.join(f)).unwrap(),
            "{f}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn hostile_model_files() {
    let d = scratch("models");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/model_fixtures/linear_2x2.picorl");
    let good = std::fs::read(&fixture).unwrap();
    let f = d.join("m.picorl");
    let f_s = f.to_str().unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    let mut version = good.clone();
    version[4] ^= 0x7f;
    for bytes in [
        Vec::new(),
        good[..good.len() / 2].to_vec(),
        good[..good.len() - 1].to_vec(),
        flipped,
        version,
        b"PICO garbage".to_vec(),
    ] {
        std::fs::write(&f, &bytes).unwrap();
        for args in [
            &["inspect", f_s][..],
            &["inspect", f_s, "--json"],
            &["infer", f_s, "--obs", "0.1,0.2"],
            &["bench", f_s, "--iterations", "10"],
            &["eval", f_s, "--env", "CartPole-v1", "--episodes", "1"],
        ] {
            let out = picorl(args);
            fails(&out, 1, &["m.picorl"]);
            assert!(out.stdout.is_empty(), "{args:?}: stdout on failure");
        }
    }
    // A good file with bad observations.
    std::fs::write(&f, &good).unwrap();
    for obs in ["0.1", "0.1,0.2,0.3", "0.1,abc", ""] {
        fails(&picorl(&["infer", f_s, "--obs", obs]), 1, &["--obs"]);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_replay_records() {
    let d = scratch("replay");
    let f = d.join("t.jsonl");
    for (text, needle) in [
        ("{not json\n", "line 1"),
        ("{\"env\": \"Nope-v0\", \"initial_state\": 0, \"steps\": []}\n", "Nope-v0"),
        (
            "{\"env\": \"CartPole-v1\", \"initial_state\": [0.0], \"steps\": []}\n",
            "line 1",
        ),
        (
            "{\"env\": \"CartPole-v1\", \"initial_state\": [0,0,0,0], \"steps\": [{\"action\": 7}]}\n",
            "line 1",
        ),
    ] {
        std::fs::write(&f, text).unwrap();
        fails(
            &picorl(&["env", "replay", f.to_str().unwrap()]),
            1,
            &[needle],
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}
