//! Environments of the user's own: what a crate outside picorl implements so that `picorl`'s
//! command line (`picorl_host::cli::run_with`) and the firmware (`firmware-example/run
//! --env-crate`) can build it from its id and options, as they build the built-ins.
//!
//! Contract, besides [`Env`]'s:
//! - The spec is a `const` ([`UserEnv::SPEC`]), so the firmware knows the observation and action
//!   shapes when it compiles and checks the embedded model against them. Its `Box` bounds are
//!   `'static` slices of exactly `dim` values ([`super::Space::is_valid`]).
//! - Options are Gymnasium-style `make` kwargs, given as text: every key is one of
//!   [`UserEnv::OPTIONS`] (the caller refuses others before calling [`UserEnv::make`]), so a bad
//!   value can be reported with the key as the `'static` name it has in `OPTIONS`.
//! - The same no-heap, no-panic rules as core's own environments: a wrong buffer length or a bad
//!   action is an [`EnvError`]. On the host, a panic is caught at the step boundary and ends the
//!   run with its message; on the controller it is a fault.

use super::{Env, EnvError, EnvSpec};

/// An environment of the user's own: [`Env`] plus a compile-time spec and a constructor from
/// options. See the module's contract.
pub trait UserEnv: Env + Sized {
    /// Id, spaces and time limit (what [`Env::spec`] returns).
    const SPEC: EnvSpec;
    /// The option keys [`UserEnv::make`] takes (`--env-kwargs KEY=VALUE`); none by default.
    const OPTIONS: &'static [&'static str] = &[];

    /// Builds the environment with `options` (key, value as text), each key one of
    /// [`UserEnv::OPTIONS`]; an empty list gives the defaults. A value that does not parse or is
    /// out of range is [`EnvError::BadOptionValue`].
    fn make(options: &[(&str, &str)]) -> Result<Self, EnvError>;
}

/// The first of `options`' keys that is not in `E::OPTIONS`, if any: what a caller checks before
/// [`UserEnv::make`].
pub fn unknown_option<'k, E: UserEnv>(options: &[(&'k str, &str)]) -> Option<&'k str> {
    options
        .iter()
        .map(|(k, _)| *k)
        .find(|k| !E::OPTIONS.contains(k))
}
