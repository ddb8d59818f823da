//! SIGINT and SIGTERM during `picorl train`: the first one sets a flag that the training loop
//! reads between iterations (it then checkpoints, writes its summary and curve, prints the
//! `picorl train --resume DIR` line and exits with 128 + the signal's number); a second SIGINT
//! ends the process at once, as an impatient Ctrl-C expects (the last checkpoint is whole: it is
//! written atomically). Only `train` installs the handlers: every other command keeps the default
//! of dying on Ctrl-C.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

/// The signal received (its number), 0 while none has been.
static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// Installs the handlers (once; later calls do nothing).
pub fn install() -> Result<()> {
    if RECEIVED.get().is_some() {
        return Ok(());
    }
    let flag = Arc::new(AtomicUsize::new(0));
    for sig in [SIGINT, SIGTERM] {
        // A second signal while the first is being handled: exit now (status 128 + signal).
        let second = Arc::new(std::sync::atomic::AtomicBool::new(false));
        signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, Arc::clone(&second))
            .context("installing the SIGINT/SIGTERM handlers")?;
        signal_hook::flag::register(sig, second).context("installing the signal handlers")?;
        signal_hook::flag::register_usize(sig, Arc::clone(&flag), sig as usize)
            .context("installing the signal handlers")?;
    }
    let _ = RECEIVED.set(flag);
    Ok(())
}

/// The signal received since [`install`], if any.
pub fn received() -> Option<Signal> {
    let n = RECEIVED.get()?.load(Ordering::Relaxed);
    (n != 0).then_some(Signal(n as i32))
}

/// A signal that interrupted the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(pub i32);

impl Signal {
    /// `SIGINT`, `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self.0 {
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            _ => "a signal",
        }
    }

    /// The conventional exit status: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
    pub fn exit_code(self) -> u8 {
        (128 + self.0).clamp(0, 255) as u8
    }
}
