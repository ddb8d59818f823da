//! How the process ends when its output goes nowhere or it is interrupted, decided once for every
//! command: a closed stdout pipe (`picorl env list | head -3`) ends the command quietly with exit
//! status 0, as `ls | head` does, and an interrupted training (SIGINT, SIGTERM) exits with
//! 128 + the signal's number after saying how to resume; any other error is one `error:` line
//! and exit status 1.
//!
//! Rust's `println!` panics when stdout is a closed pipe (the runtime ignores SIGPIPE, so the
//! write fails with EPIPE instead of killing the process). Restoring SIGPIPE's default would also
//! kill picorl when a pipe to a child process (a Gymnasium worker) closes, which must stay an
//! error naming that worker; so the panic hook recognizes the failed stdout write instead.

use std::process::ExitCode;

/// An interrupted command: the message already printed, the process exits with `code`.
#[derive(Debug)]
pub struct Interrupted {
    /// The exit status (128 + the signal's number).
    pub code: u8,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted (exit status {})", self.code)
    }
}

impl std::error::Error for Interrupted {}

/// The panic message of `print!`/`println!` on a closed stdout.
const STDOUT_FAILED: &str = "failed printing to stdout";

/// Installs the panic hook that turns a failed print to a closed stdout into a quiet exit 0;
/// every other panic is reported as before (a panic is a bug).
pub fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with(STDOUT_FAILED) && is_broken_pipe_text(message) {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn is_broken_pipe_text(message: &str) -> bool {
    message.contains("Broken pipe") || message.contains("os error 32")
}

/// The exit of a failed command: 128 + signal for an interruption (already reported), else one
/// `error:` line and status 1. (A broken pipe to a child process is an error like any other:
/// only stdout's is quiet.)
pub fn exit_for(e: &anyhow::Error) -> ExitCode {
    if let Some(i) = e.downcast_ref::<Interrupted>() {
        return ExitCode::from(i.code);
    }
    eprintln!("error: {e:#}");
    ExitCode::FAILURE
}
