//! `.picorl` files on the host: read into aligned memory, checked by core, and run by core's
//! `Policy` — the same code the firmware runs.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::model::{HeadKind, Model, ModelKind, QuantKind};
use picorl_core::policy::{ActionOut, Policy};

use crate::envs::eval::{Actor, OwnedAction};
use crate::export::AlignedBytes;

/// Scratch capacity of host-side policies: core's largest layer width.
pub const HOST_CAPACITY: usize = picorl_core::model::limits::MAX_WIDTH;

/// A `.picorl` file read into aligned memory and checked.
#[derive(Debug, Clone)]
pub struct PicorlFile {
    bytes: AlignedBytes,
}

impl PicorlFile {
    /// Reads and checks `path`; the error names the file and what is wrong in it.
    pub fn load(path: &Path) -> Result<Self> {
        let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let bytes = AlignedBytes::new(&raw);
        Model::parse(bytes.as_bytes()).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok(Self { bytes })
    }

    /// From bytes already in memory (checked).
    pub fn from_bytes(bytes: AlignedBytes) -> Result<Self> {
        Model::parse(bytes.as_bytes()).map_err(|e| anyhow!("model: {e}"))?;
        Ok(Self { bytes })
    }

    /// The checked model.
    pub fn model(&self) -> Model<'_> {
        Model::parse(self.bytes.as_bytes()).expect("checked when loaded")
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_bytes()
    }

    /// A policy running this model (boxed: its scratch is sized for core's widest layer).
    pub fn policy(&self) -> Result<Box<Policy<'_, HOST_CAPACITY>>> {
        Ok(Box::new(
            Policy::new(self.model()).map_err(|e| anyhow!("{e}"))?,
        ))
    }

    /// The environment to run this file in: the one it records (format version 2) unless `--env`
    /// names one; `--env-kwargs` replace the recorded options. A `--env` or `--env-kwargs` that
    /// differs from what the file records is an error naming both; a file that records nothing
    /// (version 1) needs `--env`.
    pub fn environment(
        &self,
        path: &Path,
        env: Option<&str>,
        env_kwargs: &[String],
    ) -> Result<(String, BTreeMap<String, String>)> {
        let given = crate::envs::parse_kwargs(env_kwargs)?;
        let m = self.model();
        let Some(meta) = m.meta() else {
            let id = env.ok_or_else(|| {
                anyhow!(
                    "{}: the file names no environment (a version-1 .picorl file): pass --env ENV_ID",
                    path.display()
                )
            })?;
            return Ok((id.to_string(), given));
        };
        let recorded: BTreeMap<String, String> = meta
            .kwargs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(id) = env.filter(|&id| id != meta.env_id()) {
            bail!(
                "--env {id}: {} was trained on {} (leave --env out to use it)",
                path.display(),
                meta.env_id()
            );
        }
        if !env_kwargs.is_empty() && given != recorded {
            let show = |m: &BTreeMap<String, String>| {
                m.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            bail!(
                "--env-kwargs {}: {} was trained with {} options [{}]",
                show(&given),
                path.display(),
                meta.env_id(),
                show(&recorded)
            );
        }
        Ok((meta.env_id().to_string(), recorded))
    }

    /// Bytes of RAM core's inference needs for this model on a controller: the policy's scratch
    /// at the smallest capacity that fits it (4 buffers of the widest padded layer, f32).
    pub fn inference_ram_bytes(&self) -> usize {
        let m = self.model();
        let widest = m
            .layers()
            .map(|l| {
                picorl_core::nn::padded_depth(l.in_dim).max(picorl_core::nn::padded_rows(l.out_dim))
            })
            .chain([picorl_core::nn::padded_depth(m.obs_dim())])
            .max()
            .unwrap_or(4);
        4 * widest.div_ceil(4) * 4 * std::mem::size_of::<f32>()
    }
}

/// `f32`, `int8`.
pub fn quant_name(q: QuantKind) -> &'static str {
    match q {
        QuantKind::F32 => "f32",
        QuantKind::Int8 => "int8",
    }
}

/// A short name for the model's kind and head.
pub fn kind_name(m: &Model<'_>) -> String {
    let head = match m.head() {
        HeadKind::Discrete => "discrete (argmax)",
        HeadKind::ContinuousTanh => "continuous (tanh to bounds)",
        HeadKind::ContinuousClip => "continuous (clip to bounds)",
    };
    let kind = match m.kind() {
        ModelKind::GreedyTable => "greedy table",
        ModelKind::QTable => "Q-table",
        _ => "MLP",
    };
    format!("{kind}, {head}")
}

/// Core's action as the host's owned action.
pub fn owned(a: &ActionOut) -> OwnedAction {
    match a.continuous() {
        Some(v) => OwnedAction::Continuous(v.to_vec()),
        None => OwnedAction::Discrete(a.discrete().unwrap_or(0)),
    }
}

/// Core's policy as an evaluation actor.
pub struct CoreActor<'a, 'b>(pub &'b mut Policy<'a, HOST_CAPACITY>);

impl std::fmt::Debug for CoreActor<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CoreActor")
    }
}

impl Actor for CoreActor<'_, '_> {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        let a = self.0.act(obs).map_err(|e| anyhow!("policy: {e}"))?;
        Ok(owned(&a))
    }
}
