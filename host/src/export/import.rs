//! `picorl import FILE.onnx`: an MLP policy trained elsewhere (Stable-Baselines3, CleanRL),
//! exported to ONNX as their documentation shows, read into the exporter's [`PolicyExport`] and
//! written by `picorl export`'s own path: the same calibration on rollouts, quantization and
//! report ([`crate::export::pipeline::export_policy`], [`crate::export::pipeline::report`]).
//!
//! The graph is read backwards from the chosen output (the first, or `--output NAME`) to the
//! observation input, through the ONNX messages of [`crate::export::interop::onnx`]:
//!
//! ```text
//! obs ─► [Flatten | Identity | Cast to float]
//!     ─► (Gemm | MatMul [+ Add]) ─► Relu | Tanh | Clip(-1, 1) ─► … ─► (Gemm | MatMul [+ Add])
//!     ─► the head:
//!        ArgMax (after Softmax, LogSoftmax or x - ReduceLogSumExp(x), which keep the argmax)
//!      | Tanh [─► Mul/Add by constants]: a tanh squash, rescaled to the bounds those constants
//!        give, or without them to the environment's action bounds (SB3's `unscale_action`)
//!      | Clip(lo, hi) or Min(Max(x, lo), hi): a clip to those bounds
//!      | nothing (raw logits, Q-values or means): argmax for a discrete action space, a clip to
//!        the environment's bounds for a continuous one (what SB3's `predict` does)
//! ```
//!
//! Anything else on that path (convolutions, recurrent layers, other operators), weights held
//! outside the file, or an observation dimension that is not fixed, is a one-line error naming the
//! node or tensor. Observation normalization that a `VecNormalize` applied outside the network is
//! supplied with `--obs-norm FILE` (its running mean and variance); it is never guessed.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::Space;
use serde::Deserialize;

use crate::envs::eval::{Actor, OwnedAction};
use crate::export::interop::Format;
use crate::export::pipeline::{export_with_f32, report, ReportOptions};
use crate::export::{Activation, FileMeta, HeadExport, ObsNormExport, PolicyExport, Quant};

mod onnx_graph;

pub use onnx_graph::{read_onnx, OnnxMlp, Tail};

/// The `after_help` of `picorl import`.
pub const IMPORT_HELP: &str = "\
The graph: Gemm or MatMul(+Add) layers with Relu, Tanh or Clip(-1, 1) between them; the head an
ArgMax (Softmax / log-softmax before it are fine), a Tanh (with Mul/Add rescaling, or rescaled to
the environment's bounds), a Clip, or raw outputs (argmax for discrete actions, clipped to the
bounds for continuous ones). A dynamic batch axis is fine; the observation axis must be fixed.

Observation normalization (SB3's VecNormalize) is not in the ONNX graph: pass its statistics with
--obs-norm FILE, a JSON object {\"mean\": [...], \"var\": [...], \"epsilon\": 1e-8, \"clip_obs\": 10.0}.
From SB3:
  vn = VecNormalize.load(\"vec_normalize.pkl\", venv)
  json.dump({\"mean\": vn.obs_rms.mean.tolist(), \"var\": vn.obs_rms.var.tolist(),
             \"epsilon\": vn.epsilon, \"clip_obs\": vn.clip_obs}, open(\"norm.json\", \"w\"))

The report is picorl export's: the imported network in f32 on the host (the ONNX function) against
the written file through core, on the same seeds and observations.

Examples:
  picorl import ppo_cartpole.onnx --env CartPole-v1 --out cartpole.picorl
  picorl import sac_pendulum.onnx --env Pendulum-v1 --out pendulum.picorl --quant int8 --json";

/// What `picorl import` does, from its arguments (`picorl import --help` says what each
/// means and defaults to).
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// `FILE`.
    pub file: PathBuf,
    /// `--env`.
    pub env: String,
    /// `--env-kwargs`.
    pub env_kwargs: Vec<String>,
    /// `--out`.
    pub out: PathBuf,
    /// `--quant`.
    pub quant: String,
    /// `--output`.
    pub output: Option<String>,
    /// `--head`.
    pub head: String,
    /// `--obs-norm`.
    pub obs_norm: Option<PathBuf>,
    /// `--calib-episodes`.
    pub calib_episodes: u32,
    /// `--eval-episodes`.
    pub eval_episodes: u32,
    /// `--json`.
    pub json: bool,
}

/// `picorl import`.
pub fn import(a: ImportOptions) -> Result<()> {
    let quant: Quant = a.quant.parse()?;
    let format = Format::for_output(&a.out, quant)?;
    if a.eval_episodes == 0 || (quant == Quant::Int8 && a.calib_episodes == 0) {
        bail!("--eval-episodes and --calib-episodes must be positive");
    }
    let kwargs = crate::envs::parse_kwargs(&a.env_kwargs)?;
    let mut env = crate::envs::make(&a.env, &kwargs).with_context(|| format!("--env {}", a.env))?;
    let spec = *env.spec();
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let policy = (|| {
        let mut mlp = read_onnx(&bytes, a.output.as_deref())?;
        if a.head == "tanh" {
            if mlp.tail != Tail::Raw {
                bail!(
                    "--head tanh: the graph ends in a head of its own ({:?})",
                    mlp.tail
                );
            }
            mlp.tail = Tail::Tanh {
                scale: vec![1.0],
                shift: vec![0.0],
                rescaled: false,
            };
        }
        let norm = a.obs_norm.as_deref().map(read_obs_norm).transpose()?;
        policy_for(mlp, &spec.observation_space, &spec.action_space, norm)
    })()
    .with_context(|| a.file.display().to_string())?;
    let obs_dim = spec.observation_space.flat_dim();
    let mut reference = Reference(policy.clone());
    let meta = FileMeta {
        env: a.env.clone(),
        kwargs: kwargs.clone(),
        algo: "import".to_string(),
    };
    let (file, f32_file, calib) = export_with_f32(
        policy,
        &mut reference,
        env.as_mut(),
        obs_dim,
        quant,
        a.calib_episodes,
        &meta,
        0,
    )?;
    let opts = ReportOptions {
        out: &a.out,
        format,
        quant,
        calib_episodes: a.calib_episodes,
        eval_episodes: a.eval_episodes,
        json: a.json,
    };
    report(
        &mut reference,
        env.as_mut(),
        &spec,
        &file,
        &f32_file,
        calib.as_ref(),
        &opts,
    )
}

/// The imported network in f32 on the host: the ONNX function, the report's reference.
#[derive(Debug)]
pub struct Reference(pub PolicyExport);

impl Actor for Reference {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        let p = &self.0;
        let mut x = obs.to_vec();
        p.normalize(&mut x);
        let outs = p.forward_all(&x);
        let y = outs
            .last()
            .ok_or_else(|| anyhow!("the policy has no layers"))?;
        Ok(match &p.head {
            HeadExport::Argmax => {
                // The first of equal maxima, as ONNX's ArgMax (select_last_index = 0) and core.
                let mut best = 0;
                for (i, v) in y.iter().enumerate() {
                    if *v > y[best] {
                        best = i;
                    }
                }
                OwnedAction::Discrete(best as u32)
            }
            HeadExport::Clip { low, high } => OwnedAction::Continuous(
                y.iter()
                    .zip(low.iter().zip(high))
                    .map(|(v, (l, h))| v.max(*l).min(*h))
                    .collect(),
            ),
            HeadExport::TanhScale { low, high } => OwnedAction::Continuous(
                y.iter()
                    .zip(low.iter().zip(high))
                    .map(|(v, (l, h))| l + (0.5 * (v.tanh() + 1.0)) * (h - l))
                    .collect(),
            ),
            HeadExport::Tabular { .. } => bail!("an imported policy is a network"),
        })
    }
}

/// `--obs-norm FILE`: SB3 VecNormalize's statistics.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObsNormFile {
    mean: Vec<f32>,
    var: Vec<f32>,
    epsilon: f32,
    clip_obs: f32,
}

fn read_obs_norm(path: &Path) -> Result<ObsNormExport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--obs-norm {}", path.display()))?;
    let f: ObsNormFile =
        serde_json::from_str(&text).map_err(|e| anyhow!("--obs-norm {}: {e}", path.display()))?;
    if f.mean.len() != f.var.len() {
        bail!(
            "--obs-norm {}: {} means and {} variances",
            path.display(),
            f.mean.len(),
            f.var.len()
        );
    }
    let bad = |x: f32, min: f32| x.is_nan() || x < min;
    if f.var.iter().any(|&v| bad(v, 0.0))
        || bad(f.epsilon, 0.0)
        || bad(f.clip_obs, f32::MIN_POSITIVE)
    {
        bail!(
            "--obs-norm {}: variances and epsilon must be >= 0 and clip_obs > 0",
            path.display()
        );
    }
    Ok(ObsNormExport {
        mean: f.mean,
        var: f.var,
        eps: f.epsilon,
        clip: f.clip_obs,
    })
}

fn per_component(v: &[f32], n: usize, what: &str) -> Result<Vec<f32>> {
    match v.len() {
        1 => Ok(vec![v[0]; n]),
        m if m == n => Ok(v.to_vec()),
        m => bail!("{what} has {m} values for {n} action components"),
    }
}

/// The exporter's policy for an ONNX MLP acting in an environment with these spaces.
pub fn policy_for(
    mlp: OnnxMlp,
    obs: &Space,
    action: &Space,
    obs_norm: Option<ObsNormExport>,
) -> Result<PolicyExport> {
    if mlp.obs_dim != obs.flat_dim() {
        bail!(
            "the network takes {} observation values; the environment gives {}",
            mlp.obs_dim,
            obs.flat_dim()
        );
    }
    if let Some(n) = &obs_norm {
        if n.mean.len() != mlp.obs_dim {
            bail!(
                "--obs-norm has {} components; the observation has {}",
                n.mean.len(),
                mlp.obs_dim
            );
        }
    }
    let n_out = mlp.layers.last().map_or(0, |l| l.outputs);
    let head = match (action, &mlp.tail) {
        (Space::Discrete { n, .. }, Tail::Argmax | Tail::Raw) => {
            if n_out != *n as usize {
                bail!("the network has {n_out} outputs; the environment has {n} actions");
            }
            HeadExport::Argmax
        }
        (Space::Discrete { .. }, t) => {
            bail!("a discrete action space, but the graph ends in a continuous head ({t:?})")
        }
        (Space::Box { .. }, Tail::Argmax) => {
            bail!("a continuous action space, but the graph ends in an ArgMax")
        }
        (Space::Box { dim, low, high, .. }, tail) => {
            if n_out != *dim {
                bail!("the network has {n_out} outputs; the action has {dim} components");
            }
            let (env_low, env_high): (Vec<f32>, Vec<f32>) =
                (low[..*dim].to_vec(), high[..*dim].to_vec());
            match tail {
                Tail::Raw => HeadExport::Clip {
                    low: env_low,
                    high: env_high,
                },
                Tail::Clip { low, high } => HeadExport::Clip {
                    low: per_component(low, *dim, "the Clip's lower bound")?,
                    high: per_component(high, *dim, "the Clip's upper bound")?,
                },
                Tail::Tanh {
                    rescaled: false, ..
                } => HeadExport::TanhScale {
                    low: env_low,
                    high: env_high,
                },
                Tail::Tanh { scale, shift, .. } => {
                    let scale = per_component(scale, *dim, "the tanh's scale")?;
                    let shift = per_component(shift, *dim, "the tanh's offset")?;
                    if scale.iter().any(|s| s.is_nan() || *s <= 0.0) {
                        bail!("the tanh's scale must be positive, not {scale:?}");
                    }
                    HeadExport::TanhScale {
                        low: shift.iter().zip(&scale).map(|(b, s)| b - s).collect(),
                        high: shift.iter().zip(&scale).map(|(b, s)| b + s).collect(),
                    }
                }
                Tail::Argmax => bail!("a continuous action space, but the graph ends in an ArgMax"),
            }
        }
    };
    Ok(PolicyExport {
        layers: mlp.layers,
        activation: mlp.activation.unwrap_or(Activation::Relu),
        head,
        obs_norm,
    })
}

#[cfg(test)]
mod tests;
