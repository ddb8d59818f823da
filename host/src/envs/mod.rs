//! Environments on the host: every id of `picorl-core`'s registry and the host-only ones
//! ([`HOST_SPECS`]: `Trading-v0`), made from Gymnasium's id and `make` kwargs, with errors that
//! name the culprit.

//!
//! **The room.** `envs/` is the lowest room of the host: what an environment is and how it steps.
//! It may use `picorl-core` and [`crate::util`], nothing else of the host.
//! - this file: the registry (`make`, `spec`, kwargs); [`vec_env`]: N copies stepped together;
//!   [`eval`]: deterministic evaluation of any [`eval::Actor`];
//! - [`trading`]: the host-only `Trading-v0`; [`gym`]: any Gymnasium environment through Python
//!   workers; [`user_env`]: environments of the user's own; [`privileged`]: training copies
//!   that carry the privileged observation for an asymmetric critic;
//! - [`replay`]: `picorl env replay`, the conformance check against recorded traces.

pub mod eval;
pub mod gym;
pub mod hover;
pub mod privileged;
pub mod replay;
pub mod trading;
pub mod user_env;
pub mod vec_env;

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use picorl_core::env::{make as core_make, AnyEnv, EnvError, EnvOptions, EnvSpec, Space, REGISTRY};

/// The host-only environments (std: they read files or allocate), after core's registry.
pub const HOST_SPECS: &[EnvSpec] = &[crate::envs::trading::SPEC];

/// Every environment picorl knows: core's registry, the host-only ones, then the user's own
/// ([`crate::envs::user_env`]).
pub fn specs() -> impl Iterator<Item = &'static EnvSpec> {
    REGISTRY
        .iter()
        .chain(HOST_SPECS)
        .chain(crate::envs::user_env::specs())
}

/// Every environment id picorl knows, in registration order.
pub fn ids() -> Vec<&'static str> {
    specs().map(|s| s.id).collect()
}

/// The spec registered under `id` (for `Trading-v0`, with its default window).
pub fn spec(id: &str) -> Result<EnvSpec> {
    if crate::envs::gym::is_gym(id) {
        return crate::envs::gym::spec(id, &BTreeMap::new());
    }
    specs()
        .find(|s| s.id == id)
        .copied()
        .ok_or_else(|| unknown(id))
}

/// The error for an id picorl does not know: a suggestion, and every id.
fn unknown(id: &str) -> anyhow::Error {
    anyhow!(
        "unknown environment `{id}`{}; known: {}",
        crate::util::suggest::hint(id, &ids()),
        ids().join(", ")
    )
}

/// The options (Gymnasium `make` kwargs) environment `id` takes, found by offering each of
/// core's keys alone with a valid value.
pub fn options_of(id: &str) -> Vec<&'static str> {
    let sample = |key: &str| match key {
        "map_name" => "4x4",
        "desc" => "[\"SF\", \"HG\"]",
        "reward_schedule" => "(1, 0, 0)",
        "success_rate" | "rainy_probability" | "fickle_probability" => "0.5",
        "goal_velocity" => "0",
        "g" => "10",
        _ => "false",
    };
    EnvOptions::KEYS
        .iter()
        .copied()
        .filter(|key| {
            let mut o = EnvOptions::default();
            o.set(key, sample(key)).is_ok()
                && !matches!(core_make(id, &o), Err(EnvError::OptionNotAccepted { .. }))
        })
        .collect()
}

/// Gymnasium's `make(id, **kwargs)`, with kwargs as text (`--env-kwargs key=value`).
pub fn make(
    id: &str,
    kwargs: &BTreeMap<String, String>,
) -> Result<Box<dyn picorl_core::env::Env + Send>> {
    if crate::envs::gym::is_gym(id) {
        return Ok(Box::new(crate::envs::gym::make(id, kwargs)?));
    }
    if let Some(user) = crate::envs::user_env::find(id) {
        return user.make(kwargs);
    }
    if id == crate::envs::trading::ID {
        let env =
            crate::envs::trading::Trading::from_kwargs(kwargs).map_err(|e| anyhow!("{id}: {e}"))?;
        return Ok(Box::new(env));
    }
    Ok(Box::new(make_any(id, kwargs)?))
}

/// [`make`] as core's [`AnyEnv`], whose toy-text environments expose their transition table
/// (core's environments only: a host-only one is an error).
pub fn make_any(id: &str, kwargs: &BTreeMap<String, String>) -> Result<AnyEnv> {
    if crate::envs::gym::is_gym(id) {
        return Err(anyhow!(
            "{id} is a Gymnasium environment stepped in Python, not one of picorl-core's (no transition table, not for firmware)"
        ));
    }
    spec(id)?;
    if crate::envs::user_env::find(id).is_some() {
        return Err(anyhow!(
            "{id} is an environment of the user's own, not one of picorl-core's (no transition table)"
        ));
    }
    if HOST_SPECS.iter().any(|s| s.id == id) {
        return Err(anyhow!(
            "{id} is a host-only environment, not one of picorl-core's (no transition table, not for firmware)"
        ));
    }
    let mut options = EnvOptions::default();
    for (k, v) in kwargs {
        options.set(k, v).map_err(|e| match e {
            EnvError::UnknownOption => {
                let known = options_of(id);
                anyhow!(
                    "{id}: unknown option `{k}` ({k}={v}){}; {id} takes {}",
                    crate::util::suggest::hint(k, &known),
                    if known.is_empty() {
                        "no options".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            }
            e => anyhow!("{id}: option {k}={v}: {e}"),
        })?;
    }
    match core_make(id, &options) {
        Ok(env) => Ok(env),
        Err(EnvError::UnknownId) => Err(unknown(id)),
        Err(EnvError::OptionNotAccepted { option, .. }) => {
            let known = options_of(id);
            Err(anyhow!(
                "{id} does not take option `{option}`; {id} takes {}",
                if known.is_empty() {
                    "no options".to_string()
                } else {
                    known.join(", ")
                }
            ))
        }
        Err(e) => Err(anyhow!("{id}: {e}")),
    }
}

/// A space as `picorl env list` prints it: `Discrete(2)`, `Box(4)`.
pub fn space_text(space: &Space) -> String {
    match space {
        Space::Discrete { n } => format!("Discrete({n})"),
        Space::Box { dim, .. } => format!("Box({dim})"),
    }
}

/// Parses `key=value` pairs (`--env-kwargs`).
pub fn parse_kwargs(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| anyhow!("--env-kwargs {p}: expected key=value"))
        })
        .collect()
}
