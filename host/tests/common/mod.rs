//! What the tests that drive the built `picorl` binary share: running it (with arguments, or
//! with a standard input), scratch directories, and the failure contract of docs/cli.md (the
//! exit status, exactly one `error:` line naming the culprit, no panic).
#![allow(dead_code)] // each test crate uses its own part

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_picorl");

/// A fresh scratch directory `picorl-SUITE-PID-NAME` for one test.
pub fn scratch(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("picorl-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `picorl args…` to completion.
pub fn picorl(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running picorl")
}

/// Runs `picorl args…` with `stdin`; returns (exit code, stdout, stderr). The input is written
/// from another thread, so a large one cannot deadlock against a full stdout.
pub fn picorl_with_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run picorl");
    let mut input = child.stdin.take().unwrap();
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Its stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The failure contract: the exit status, exactly one `error:` line containing every needle and
/// none of `not`, no panic. Returns that line.
#[track_caller]
pub fn fails_but(out: &Output, code: i32, needles: &[&str], not: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "exit status; stderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line; stderr:\n{err}");
    for n in needles {
        assert!(errors[0].contains(n), "`{n}` not in: {}", errors[0]);
    }
    for n in not {
        assert!(!errors[0].contains(n), "`{n}` in: {}", errors[0]);
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "a panic: {err}"
    );
    errors[0].to_string()
}

/// [`fails_but`] with nothing that must be absent.
#[track_caller]
pub fn fails(out: &Output, code: i32, needles: &[&str]) -> String {
    fails_but(out, code, needles, &[])
}

/// `|got - want|`, relative above 1.
pub fn error(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1.0)
}

/// A JSON list of numbers.
pub fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
