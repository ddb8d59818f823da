//! The actor-critic networks shared by REINFORCE, A2C and PPO: separate policy and value MLPs
//! (SB3's `MlpPolicy` default for these algorithms), a categorical head for discrete actions or
//! a diagonal Gaussian with a learned, state-independent log-std for continuous ones, and
//! optional running observation normalization saved with the weights.
//!
//! Continuous actions are sampled unbounded and *clipped* to the action bounds when stepping the
//! environment (SB3's convention); the log-probability is that of the unclipped sample. The
//! deterministic action, and what is exported, is the mean clipped to the bounds.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::{EnvSpec, Space};
use tch::{nn, Device, Kind, Tensor};

use super::running_norm::ObsNorm;
use crate::eval::OwnedAction;
use crate::export::{DenseExport, HeadExport, PolicyExport};
use crate::nets::{self, Activation, Mlp, MlpInit};

/// Discrete or continuous actions, from the environment's action space.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// `n` choices.
    Discrete {
        /// Number of actions.
        n: usize,
    },
    /// A box.
    Continuous {
        /// Components.
        dim: usize,
        /// Lower bounds.
        low: Vec<f32>,
        /// Upper bounds.
        high: Vec<f32>,
    },
}

impl ActionKind {
    /// From an action space.
    pub fn from_space(space: &Space) -> Self {
        match *space {
            Space::Discrete { n } => ActionKind::Discrete { n: n as usize },
            Space::Box { dim, low, high } => ActionKind::Continuous {
                dim,
                low: low[..dim].to_vec(),
                high: high[..dim].to_vec(),
            },
        }
    }

    /// Outputs of the policy network (logits or means).
    pub fn outputs(&self) -> usize {
        match self {
            ActionKind::Discrete { n } => *n,
            ActionKind::Continuous { dim, .. } => *dim,
        }
    }
}

/// Network shape options every actor-critic algorithm exposes.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Orthogonal initialisation (SB3's default for these algorithms).
    pub ortho_init: bool,
    /// Initial log-std of a Gaussian policy.
    pub log_std_init: f64,
    /// Running observation normalization.
    pub normalize_obs: bool,
}

/// Policy and value networks with their distribution.
#[derive(Debug)]
pub struct ActorCritic {
    /// All weights (policy, value, log-std, normalization statistics).
    pub vs: nn::VarStore,
    pi: Mlp,
    vf: Mlp,
    log_std: Option<Tensor>,
    /// The action kind.
    pub kind: ActionKind,
    /// Running observation normalization.
    pub obs_norm: Option<ObsNorm>,
    norm_vars: Option<(Tensor, Tensor, Tensor)>,
    obs_dim: usize,
}

impl ActorCritic {
    /// Builds the networks for `spec` on `device`.
    pub fn new(spec: &EnvSpec, device: Device, opts: &NetOptions) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let obs_dim = spec.observation_space.flat_dim();
        let kind = ActionKind::from_space(&spec.action_space);
        let sizes = |out: usize| {
            let mut s = vec![obs_dim];
            s.extend(&opts.hidden);
            s.push(out);
            s
        };
        let (pi_init, vf_init) = if opts.ortho_init {
            (
                MlpInit::Orthogonal { out_gain: 0.01 },
                MlpInit::Orthogonal { out_gain: 1.0 },
            )
        } else {
            (MlpInit::Default, MlpInit::Default)
        };
        let pi = Mlp::new(
            &(&root / "pi"),
            &sizes(kind.outputs()),
            opts.activation,
            pi_init,
        );
        let vf = Mlp::new(&(&root / "vf"), &sizes(1), opts.activation, vf_init);
        let log_std = match kind {
            ActionKind::Continuous { dim, .. } => {
                Some(root.var("log_std", &[dim as i64], nn::Init::Const(opts.log_std_init)))
            }
            ActionKind::Discrete { .. } => None,
        };
        let (obs_norm, norm_vars) = if opts.normalize_obs {
            let n = &root / "obs_norm";
            let vars = (
                n.zeros_no_train("mean", &[obs_dim as i64]),
                n.ones_no_train("var", &[obs_dim as i64]),
                n.zeros_no_train("count", &[1]),
            );
            (Some(ObsNorm::new(obs_dim)), Some(vars))
        } else {
            (None, None)
        };
        Self {
            vs,
            pi,
            vf,
            log_std,
            kind,
            obs_norm,
            norm_vars,
            obs_dim,
        }
    }

    /// Values per observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Normalizes raw observations (a copy) and makes them a `[B, obs_dim]` tensor.
    pub fn obs_tensor(&self, raw: &[f32]) -> (Vec<f32>, Tensor) {
        let mut x = raw.to_vec();
        if let Some(n) = &self.obs_norm {
            n.apply(&mut x);
        }
        let t = Tensor::from_slice(&x)
            .view([-1, self.obs_dim as i64])
            .to_device(self.vs.device());
        (x, t)
    }

    /// Logits or Gaussian means, `[B, outputs]`.
    pub fn policy_out(&self, x: &Tensor) -> Tensor {
        self.pi.forward(x)
    }

    /// State values, `[B]`.
    pub fn value(&self, x: &Tensor) -> Tensor {
        self.vf.forward(x).squeeze_dim(-1)
    }

    /// Samples actions: (actions — int64 `[B]` or float `[B, d]` —, log-probabilities `[B]`).
    pub fn sample(&self, x: &Tensor) -> (Tensor, Tensor) {
        let out = self.policy_out(x);
        match &self.log_std {
            None => {
                let a = out
                    .softmax(-1, Kind::Float)
                    .multinomial(1, true)
                    .squeeze_dim(-1);
                let lp = nets::categorical_log_prob(&out, &a);
                (a, lp)
            }
            Some(log_std) => {
                let a = &out + out.randn_like() * log_std.exp();
                let lp = nets::gaussian_log_prob(&out, log_std, &a);
                (a, lp)
            }
        }
    }

    /// Log-probabilities and entropies (`[B]`) of `actions` under the current policy.
    pub fn evaluate(&self, x: &Tensor, actions: &Tensor) -> (Tensor, Tensor) {
        let out = self.policy_out(x);
        match &self.log_std {
            None => (
                nets::categorical_log_prob(&out, actions),
                nets::categorical_entropy(&out),
            ),
            Some(log_std) => {
                let lp = nets::gaussian_log_prob(&out, log_std, actions);
                let h = nets::gaussian_entropy(log_std).expand([out.size()[0]], false);
                (lp, h)
            }
        }
    }

    /// The deterministic action: argmax of the logits, or the mean clipped to the bounds.
    pub fn act_deterministic(&self, raw_obs: &[f32]) -> Result<OwnedAction> {
        if raw_obs.len() != self.obs_dim {
            bail!(
                "observation of length {}, expected {}",
                raw_obs.len(),
                self.obs_dim
            );
        }
        let (_, x) = self.obs_tensor(raw_obs);
        let out = tch::no_grad(|| self.policy_out(&x));
        let v = nets::tensor_to_vec(&out);
        Ok(match &self.kind {
            ActionKind::Discrete { .. } => OwnedAction::Discrete(argmax(&v)),
            ActionKind::Continuous { low, high, .. } => OwnedAction::Continuous(
                v.iter()
                    .enumerate()
                    .map(|(i, a)| a.clamp(low[i], high[i]))
                    .collect(),
            ),
        })
    }

    /// Saves the weights and the normalization statistics (safetensors).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let (Some(n), Some((m, v, c))) = (&self.obs_norm, &self.norm_vars) {
            tch::no_grad(|| {
                let f = |x: &[f64]| {
                    Tensor::from_slice(x)
                        .to_kind(Kind::Float)
                        .to_device(self.vs.device())
                };
                m.shallow_clone().copy_(&f(&n.stats.mean));
                v.shallow_clone().copy_(&f(&n.stats.var));
                c.shallow_clone().copy_(&f(&[n.stats.count]));
            });
        }
        self.vs
            .save(path)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Loads what [`ActorCritic::save`] wrote.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        self.vs
            .load(path)
            .map_err(|e| anyhow!("loading {}: {e}", path.display()))?;
        if let (Some(n), Some((m, v, c))) = (&mut self.obs_norm, &self.norm_vars) {
            let f = |t: &Tensor| {
                nets::tensor_to_vec(t)
                    .into_iter()
                    .map(f64::from)
                    .collect::<Vec<_>>()
            };
            n.stats.mean = f(m);
            n.stats.var = f(v);
            n.stats.count = f(c)[0];
        }
        Ok(())
    }

    /// The deterministic policy for export.
    pub fn export(&self) -> PolicyExport {
        let layers = self
            .pi
            .export_layers()
            .into_iter()
            .map(|(weights, bias, inputs, outputs)| DenseExport {
                weights,
                bias,
                inputs,
                outputs,
            })
            .collect();
        let head = match &self.kind {
            ActionKind::Discrete { .. } => HeadExport::Argmax,
            ActionKind::Continuous { low, high, .. } => HeadExport::Clip {
                low: low.clone(),
                high: high.clone(),
            },
        };
        PolicyExport {
            layers,
            activation: self.pi.activation(),
            head,
            obs_norm: self.obs_norm.as_ref().map(ObsNorm::export),
        }
    }
}

/// The index of the largest value; the lowest index wins a tie (core's rule).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}
