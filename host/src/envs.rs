//! Environments on the host: every id of `picorl-core`'s registry (and the host-only ones), made
//! from Gymnasium's id and `make` kwargs, with errors that name the culprit.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use picorl_core::env::{make as core_make, AnyEnv, EnvError, EnvOptions, EnvSpec, Space, REGISTRY};

/// Every environment id picorl knows, in registration order.
pub fn ids() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.id).collect()
}

/// The spec registered under `id`.
pub fn spec(id: &str) -> Result<EnvSpec> {
    REGISTRY
        .iter()
        .find(|s| s.id == id)
        .copied()
        .ok_or_else(|| anyhow!("unknown environment `{id}`; known: {}", ids().join(", ")))
}

/// Gymnasium's `make(id, **kwargs)`, with kwargs as text (`--env-kwargs key=value`).
pub fn make(
    id: &str,
    kwargs: &BTreeMap<String, String>,
) -> Result<Box<dyn picorl_core::env::Env + Send>> {
    Ok(Box::new(make_any(id, kwargs)?))
}

/// [`make`] as core's [`AnyEnv`], whose toy-text environments expose their transition table.
pub fn make_any(id: &str, kwargs: &BTreeMap<String, String>) -> Result<AnyEnv> {
    spec(id)?;
    let mut options = EnvOptions::default();
    for (k, v) in kwargs {
        options
            .set(k, v)
            .map_err(|e| anyhow!("{id}: option {k}={v}: {e}"))?;
    }
    match core_make(id, &options) {
        Ok(env) => Ok(env),
        Err(EnvError::UnknownId) => Err(anyhow!(
            "unknown environment `{id}`; known: {}",
            ids().join(", ")
        )),
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
