//! The actor-critic networks shared by REINFORCE, A2C and PPO: separate policy and value MLPs
//! (SB3's `MlpPolicy` default for these algorithms), a categorical head for discrete actions or
//! a diagonal Gaussian with a learned, state-independent log-std for continuous ones, and
//! optional running observation normalization saved with the weights.
//!
//! **Speed.** The two networks have the same hidden sizes, so they are stored *stacked*: each
//! layer is one `[2, in, out]` weight and one `[2, 1, out]` bias (index 0 the policy, 1 the value;
//! the value's output layer is padded to the policy's width with zero columns that never train),
//! and one batched matmul (`baddbmm`) computes a layer of both. A minibatch update of a small
//! network is dominated by libtorch's per-operation overhead, not arithmetic, so halving the
//! operations and the parameter tensors (which the optimizer and gradient clipping walk one by
//! one) nearly halves its cost. Rollouts act on the CPU through `picorl-core`'s f32 dense layers
//! (the firmware's code, `off_policy::CpuNet`, shared with the off-policy learners) on a copy of
//! the policy and value weights refreshed before every rollout
//! ([`ActorCritic::sync_cpu`]): a tch forward costs tens of microseconds of dispatch per call,
//! core's a few.
//!
//! Continuous actions are sampled unbounded and *clipped* to the action bounds when stepping the
//! environment (SB3's convention); the log-probability is that of the unclipped sample. The
//! deterministic action, and what is exported, is the mean clipped to the bounds.
//!
//! **Generalized state-dependent exploration** (gSDE, Raffin et al. 2022, arXiv:2005.05719, as
//! SB3's `use_sde`): instead of fresh noise at every step, each environment copy draws a matrix
//! `E` (`[h, d]`, entries `N(0, σ_jk²)` with `σ = exp(log_std)` now a `[h, d]` parameter) and
//! acts `a = μ(s) + φ(s)·E`, where `φ(s)` is the policy's last hidden layer. `E` is redrawn at the
//! start of every rollout and every `sde_sample_freq` steps within it, so between draws the
//! exploration is a fixed function of the state: smooth, consistent pushes that can pump energy
//! into MountainCar or a pendulum where white noise averages out. Over the draws of `E` the action
//! is Gaussian with variance `σ_k(s)² = Σ_j φ_j(s)² σ_jk²` per component (`+ 1e-6`, as SB3), and
//! that density is what the log-probabilities and the entropy use; `φ` enters them detached (SB3's
//! `learn_features = false`). The deterministic action and the export are unchanged: the mean.

use std::path::Path;

use anyhow::{bail, Result};
use picorl_core::env::{EnvSpec, Space};
use picorl_core::rng::{self, Pcg32};
use tch::{nn, Device, Kind, Tensor};

use super::running_norm::ObsNorm;
use crate::algo::cpu_net::CpuNet;
use crate::algo::nets::{self, Activation};
use crate::algo::optim::flatten_trainable_vars;
use crate::envs::eval::OwnedAction;
use crate::export::{DenseExport, HeadExport, PolicyExport};

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
    /// State-dependent exploration (gSDE) for continuous actions instead of a state-independent
    /// log-std.
    pub use_sde: bool,
    /// With gSDE: redraw the exploration matrices every this many steps of a rollout (they are
    /// always redrawn at its start; 0 or less: only then).
    pub sde_sample_freq: i64,
}

/// gSDE's per-copy exploration matrices and scratch space (PPO's rollouts, SAC's collection).
#[derive(Debug, Default)]
pub struct SdeNoise {
    /// Redraw period within a rollout (≤ 0: once per rollout).
    sample_freq: i64,
    /// `E` per copy, `[n_envs, h, d]` row-major.
    pub matrices: Vec<f32>,
    /// The last hidden layer of the current observation (the caller's acting copy writes it).
    pub features: Vec<f32>,
}

impl SdeNoise {
    /// No matrices yet; redrawn every `sample_freq` steps (≤ 0: only at a rollout's start).
    pub fn new(sample_freq: i64) -> Self {
        Self {
            sample_freq,
            ..Self::default()
        }
    }

    /// Redraws the matrices of `n_envs` copies from `rng`: `E_jk = σ_jk z` with `σ = exp(log_std)`
    /// (`log_std` the `[h, d]` parameter, row-major).
    pub fn draw(&mut self, n_envs: usize, log_std: &[f32], rng: &mut Pcg32) {
        self.matrices.clear();
        for _ in 0..n_envs {
            for ls in log_std {
                self.matrices.push(ls.exp() * rng::normal_f64(rng) as f32);
            }
        }
    }

    /// Whether step `t` of a rollout (0-based) redraws the matrices.
    pub fn redraw_due(&self, t: usize) -> bool {
        t == 0 || (self.sample_freq > 0 && t as i64 % self.sample_freq == 0)
    }

    /// Copy `env`'s matrix for `d` action components.
    pub fn matrix(&self, env: usize, d: usize) -> Result<&[f32]> {
        let h = self.features.len();
        match self.matrices.get(env * h * d..(env + 1) * h * d) {
            Some(e) => Ok(e),
            None => bail!("internal: gSDE matrices not drawn for copy {env}"),
        }
    }

    /// Component `k` of the exploration noise `φ·E` at the current features, `e` being a copy's
    /// [`SdeNoise::matrix`] for `d` components.
    pub fn noise(&self, e: &[f32], d: usize, k: usize) -> f32 {
        let mut noise = 0.0f32;
        for (j, phi) in self.features.iter().enumerate() {
            noise += phi * e[j * d + k];
        }
        noise
    }
}

/// gSDE's per-sample log-std (`[B, d]`) at features `latent` (`[B, h]`) with the `[h, d]`
/// parameter `log_std`: over the draws of `E` the noise `φ·E` is Gaussian with variance
/// `φ² · exp(log_std)²` per component, `½ log(φ² · exp(log_std)² + ε)`. Gradients reach `φ`
/// unless the caller detaches it (PPO does, SB3's `learn_features = false`; SAC does not).
pub fn sde_marginal_log_std(latent: &Tensor, log_std: &Tensor) -> Tensor {
    let var = latent.square().matmul(&log_std.exp().square()) + SDE_EPS;
    var.log() * 0.5
}

/// Policy and value networks with their distribution.
#[derive(Debug)]
pub struct ActorCritic {
    /// All weights (both networks, log-std, normalization statistics).
    pub vs: nn::VarStore,
    ws: Vec<Tensor>,
    bs: Vec<Tensor>,
    activation: Activation,
    vf_activation: Activation,
    log_std: Option<Tensor>,
    /// The action kind.
    pub kind: ActionKind,
    /// Running observation normalization.
    pub obs_norm: Option<ObsNorm>,
    norm_vars: Option<(Tensor, Tensor, Tensor)>,
    obs_dim: usize,
    cpu: [CpuNet; 2],
    pi_layers: Vec<DenseExport>,
    cpu_log_std: Vec<f32>,
    sde: Option<SdeNoise>,
    /// The trainable variables, moved into one buffer (each a view of its slice) for the flat
    /// optimizers.
    flat: Tensor,
}

/// Added to gSDE's variance (SB3's `epsilon`), so a zero feature vector has a defined density.
pub const SDE_EPS: f64 = 1e-6;

impl ActorCritic {
    /// Builds the networks for `spec` on `device`.
    pub fn new(spec: &EnvSpec, device: Device, opts: &NetOptions) -> Self {
        Self::with_value_activation(spec, device, opts, opts.activation)
    }

    /// As [`ActorCritic::new`], with the value network's hidden activation chosen apart from
    /// the policy's. Only the policy is exported, so a policy in ReLU or hardtanh (which int8
    /// export quantizes exactly) can learn beside a tanh critic, whose bounded features keep its
    /// bootstrapped targets from running away.
    pub fn with_value_activation(
        spec: &EnvSpec,
        device: Device,
        opts: &NetOptions,
        vf_activation: Activation,
    ) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let obs_dim = spec.observation_space.flat_dim();
        let kind = ActionKind::from_space(&spec.action_space);
        let n_out = kind.outputs();
        let mut sizes = vec![obs_dim];
        sizes.extend(&opts.hidden);
        sizes.push(n_out);
        let n_layers = sizes.len() - 1;
        let (mut ws, mut bs) = (Vec::new(), Vec::new());
        for k in 0..n_layers {
            let (i, o) = (sizes[k] as i64, sizes[k + 1] as i64);
            let w = root.zeros(&format!("w{k}"), &[2, i, o]);
            let b = root.zeros(&format!("b{k}"), &[2, 1, o]);
            tch::no_grad(|| {
                for net in 0..2i64 {
                    // The value network's output layer has one real column; the rest stay zero.
                    let cols = if k + 1 == n_layers && net == 1 { 1 } else { o };
                    let init = if opts.ortho_init {
                        let hidden = if net == 0 {
                            opts.activation
                        } else {
                            vf_activation
                        };
                        let gain = match (k + 1 == n_layers, net) {
                            (false, _) => hidden.init_gain(),
                            (true, 0) => 0.01,
                            (true, _) => 1.0,
                        };
                        nn::Init::Orthogonal { gain }
                    } else {
                        // PyTorch's nn.Linear default: U(-1/sqrt(in), 1/sqrt(in)).
                        let bound = 1.0 / (i as f64).sqrt();
                        nn::Init::Uniform {
                            lo: -bound,
                            up: bound,
                        }
                    };
                    // Orthogonal init works on [out, in] as nn.Linear stores it.
                    let wt = nn::init(init, &[cols, i], device).transpose(0, 1);
                    w.get(net).narrow(1, 0, cols).copy_(&wt);
                    if !opts.ortho_init {
                        let bound = 1.0 / (i as f64).sqrt();
                        let bt = nn::init(
                            nn::Init::Uniform {
                                lo: -bound,
                                up: bound,
                            },
                            &[1, cols],
                            device,
                        );
                        b.get(net).narrow(1, 0, cols).copy_(&bt);
                    }
                }
            });
            ws.push(w);
            bs.push(b);
        }
        let sde_on = opts.use_sde && matches!(kind, ActionKind::Continuous { .. });
        let log_std = match kind {
            ActionKind::Continuous { dim, .. } => {
                // gSDE: one log-std per (feature, action component); the features are the last
                // hidden layer, so a network without hidden layers explores from the observation.
                let shape = if sde_on {
                    vec![sizes[n_layers - 1] as i64, dim as i64]
                } else {
                    vec![dim as i64]
                };
                Some(root.var("log_std", &shape, nn::Init::Const(opts.log_std_init)))
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
        let flat = flatten_trainable_vars(&vs);
        let mut ac = Self {
            flat,
            vs,
            ws,
            bs,
            activation: opts.activation,
            vf_activation,
            log_std,
            kind,
            obs_norm,
            norm_vars,
            obs_dim,
            cpu: Default::default(),
            cpu_log_std: Vec::new(),
            pi_layers: Vec::new(),
            sde: sde_on.then(|| SdeNoise::new(opts.sde_sample_freq)),
        };
        ac.sync_cpu();
        ac
    }

    /// The trainable variables as one flat buffer (the policy's and value's layers and the
    /// log-std, in the order of their names), for [`crate::algo::optim::FlatAdam`] and
    /// [`crate::algo::optim::FlatRmsProp`]. The normalization statistics are not in it.
    pub fn params_flat(&self) -> &Tensor {
        &self.flat
    }

    /// Values per observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Normalizes raw observations (a copy) and makes them a `[B, obs_dim]` tensor.
    pub fn obs_tensor(&self, raw: &[f32]) -> (Vec<f32>, Tensor) {
        let x = self.normalized(raw);
        let t = Tensor::from_slice(&x)
            .view([-1, self.obs_dim as i64])
            .to_device(self.vs.device());
        (x, t)
    }

    /// Raw observations normalized (a copy).
    pub fn normalized(&self, raw: &[f32]) -> Vec<f32> {
        let mut x = raw.to_vec();
        if let Some(n) = &self.obs_norm {
            n.apply(&mut x);
        }
        x
    }

    /// Both networks on `x` (`[B, obs_dim]`): (logits or means `[B, outputs]`, values `[B]`).
    pub fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let (out, v, _) = self.forward_latent(x);
        (out, v)
    }

    /// As [`ActorCritic::forward`], with the policy's last hidden layer (`[B, h]`, gSDE's
    /// features; `x` itself for a network without hidden layers).
    pub fn forward_latent(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let b = x.size()[0];
        let mut h = x.unsqueeze(0).expand([2, b, self.obs_dim as i64], false);
        let last = self.ws.len() - 1;
        let mut latent = x.shallow_clone();
        for (k, (w, bias)) in self.ws.iter().zip(&self.bs).enumerate() {
            if k == last {
                latent = h.get(0);
            }
            h = bias.baddbmm(&h, w, 1.0, 1.0);
            if k < last {
                h = if self.activation == self.vf_activation {
                    self.activation.apply(&h)
                } else {
                    Tensor::stack(
                        &[
                            self.activation.apply(&h.get(0)),
                            self.vf_activation.apply(&h.get(1)),
                        ],
                        0,
                    )
                };
            }
        }
        (h.get(0), h.get(1).select(1, 0), latent)
    }

    /// Whether the policy explores with gSDE.
    pub fn uses_sde(&self) -> bool {
        self.sde.is_some()
    }

    /// The per-sample log-std (`[B, d]`) of the policy at features `latent` (`[B, h]`): gSDE's
    /// `½ log(φ² · exp(log_std)² + ε)`, with `φ` detached; `None` without gSDE.
    fn sde_log_std(&self, latent: &Tensor) -> Option<Tensor> {
        self.sde.as_ref()?;
        Some(sde_marginal_log_std(
            &latent.detach(),
            self.log_std.as_ref()?,
        ))
    }

    /// Redraws every copy's gSDE exploration matrix from `rng` (`E_jk = σ_jk z`); no-op without
    /// gSDE. [`super::rollout::collect`] calls it at the start of a rollout and every
    /// `sde_sample_freq` steps.
    pub fn reset_sde_noise(&mut self, n_envs: usize, rng: &mut Pcg32) {
        if let Some(sde) = &mut self.sde {
            sde.draw(n_envs, &self.cpu_log_std, rng);
        }
    }

    /// Whether step `t` of a rollout (0-based) redraws the gSDE matrices.
    pub fn sde_redraw_due(&self, t: usize) -> bool {
        self.sde.as_ref().is_some_and(|s| s.redraw_due(t))
    }

    /// Logits or Gaussian means, `[B, outputs]`.
    pub fn policy_out(&self, x: &Tensor) -> Tensor {
        self.forward(x).0
    }

    /// State values, `[B]`.
    pub fn value(&self, x: &Tensor) -> Tensor {
        self.forward(x).1
    }

    /// Log-probabilities, entropies and values (`[B]`) of `actions` under the current networks.
    pub fn evaluate_with_value(&self, x: &Tensor, actions: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (out, v, latent) = self.forward_latent(x);
        let sde_ls = self.sde_log_std(&latent);
        match (&self.log_std, sde_ls) {
            (None, _) => (
                nets::categorical_log_prob(&out, actions),
                nets::categorical_entropy(&out),
                v,
            ),
            (Some(_), Some(ls)) => {
                let lp = nets::gaussian_log_prob(&out, &ls, actions);
                let h = (&ls + 0.5 + 0.5 * (2.0 * std::f64::consts::PI).ln()).sum_dim_intlist(
                    -1,
                    false,
                    Kind::Float,
                );
                (lp, h, v)
            }
            (Some(log_std), None) => {
                let lp = nets::gaussian_log_prob(&out, log_std, actions);
                let h = nets::gaussian_entropy(log_std).expand([out.size()[0]], false);
                (lp, h, v)
            }
        }
    }

    /// Log-probabilities and entropies (`[B]`) of `actions` under the current policy.
    pub fn evaluate(&self, x: &Tensor, actions: &Tensor) -> (Tensor, Tensor) {
        let (lp, h, _) = self.evaluate_with_value(x, actions);
        (lp, h)
    }

    /// Copies the weights to the CPU acting copy ([`super::rollout::collect`] does, before each
    /// rollout).
    pub fn sync_cpu(&mut self) {
        let n_layers = self.ws.len();
        for net in 0..2 {
            let layers: Vec<DenseExport> = (0..n_layers)
                .map(|k| {
                    let w = self.ws[k].get(net as i64);
                    let (inputs, mut outputs) = (w.size()[0] as usize, w.size()[1] as usize);
                    if net == 1 && k + 1 == n_layers {
                        outputs = 1;
                    }
                    let o = outputs as i64;
                    DenseExport {
                        weights: nets::tensor_to_vec(&w.narrow(1, 0, o).transpose(0, 1)),
                        bias: nets::tensor_to_vec(&self.bs[k].get(net as i64).narrow(1, 0, o)),
                        inputs,
                        outputs,
                    }
                })
                .collect();
            let activation = if net == 0 {
                self.activation
            } else {
                self.vf_activation
            };
            // The head and normalization are applied by the callers; the copy is layers only.
            let export = PolicyExport {
                layers,
                activation,
                head: HeadExport::Argmax,
                obs_norm: None,
            };
            self.cpu[net].refresh(&export);
            if net == 0 {
                self.pi_layers = export.layers;
            }
        }
        self.cpu_log_std = self
            .log_std
            .as_ref()
            .map(nets::tensor_to_vec)
            .unwrap_or_default();
    }

    /// Samples one action per normalized observation on the CPU (core's dense layers, draws from
    /// `rng`), writing actions (discrete as indices in `f32`-free `u32`s, continuous unclipped
    /// components), log-probabilities and values.
    pub fn sample_cpu(&mut self, x: &[f32], rng: &mut Pcg32, out: &mut CpuSample) -> Result<()> {
        out.clear();
        for (env, obs) in x.chunks_exact(self.obs_dim).enumerate() {
            let v = self.cpu[1].forward(obs)?[0];
            out.values.push(v);
            if let Some(sde) = &mut self.sde {
                let p = self.cpu[0].forward_with_features(obs, &mut sde.features)?;
                sde_sample(p, sde, env, &self.cpu_log_std, out)?;
                continue;
            }
            let p = self.cpu[0].forward(obs)?;
            match &self.kind {
                ActionKind::Discrete { .. } => {
                    // log-softmax, then inverse-CDF sampling with one uniform draw.
                    let m = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let lse = m + p.iter().map(|l| (l - m).exp()).sum::<f32>().ln();
                    let u = rng::unit_f32(rng);
                    let mut c = 0.0f32;
                    let mut pick = p.len() - 1;
                    for (i, l) in p.iter().enumerate() {
                        c += (l - lse).exp();
                        if u < c {
                            pick = i;
                            break;
                        }
                    }
                    out.discrete.push(pick as u32);
                    out.log_probs.push(p[pick] - lse);
                }
                ActionKind::Continuous { .. } => {
                    let mut lp = 0.0f32;
                    for (mean, ls) in p.iter().zip(&self.cpu_log_std) {
                        let z = rng::normal_f64(rng) as f32;
                        out.continuous.push(mean + ls.exp() * z);
                        lp += -0.5 * z * z - ls - 0.5 * (2.0 * std::f32::consts::PI).ln();
                    }
                    out.log_probs.push(lp);
                }
            }
        }
        Ok(())
    }

    /// Values of normalized observations on the CPU.
    pub fn values_cpu(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        x.chunks_exact(self.obs_dim)
            .map(|o| Ok(self.cpu[1].forward(o)?[0]))
            .collect()
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

    /// The deterministic policy for export.
    pub fn export(&self) -> PolicyExport {
        let layers = self.pi_layers.clone();
        let head = match &self.kind {
            ActionKind::Discrete { .. } => HeadExport::Argmax,
            ActionKind::Continuous { low, high, .. } => HeadExport::Clip {
                low: low.clone(),
                high: high.clone(),
            },
        };
        PolicyExport {
            layers,
            activation: self.activation,
            head,
            obs_norm: self.obs_norm.as_ref().map(ObsNorm::export),
        }
    }
}

/// One gSDE action for copy `env` with policy means `means`: `a = μ + φ·E_env`, and its
/// log-density under the marginal `N(μ, φ²·σ² + ε)`.
fn sde_sample(
    means: &[f32],
    sde: &SdeNoise,
    env: usize,
    log_std: &[f32],
    out: &mut CpuSample,
) -> Result<()> {
    let d = means.len();
    let e = sde.matrix(env, d)?;
    let mut lp = 0.0f32;
    for (k, mean) in means.iter().enumerate() {
        let noise = sde.noise(e, d, k);
        let mut var = SDE_EPS as f32;
        for (j, phi) in sde.features.iter().enumerate() {
            var += phi * phi * (2.0 * log_std[j * d + k]).exp();
        }
        out.continuous.push(mean + noise);
        lp += -0.5 * noise * noise / var - 0.5 * var.ln() - 0.5 * (2.0 * std::f32::consts::PI).ln();
    }
    out.log_probs.push(lp);
    Ok(())
}

/// What [`ActorCritic::sample_cpu`] writes.
#[derive(Debug, Default, Clone)]
pub struct CpuSample {
    /// Discrete actions (empty for continuous).
    pub discrete: Vec<u32>,
    /// Continuous actions, unclipped (empty for discrete).
    pub continuous: Vec<f32>,
    /// Log-probabilities.
    pub log_probs: Vec<f32>,
    /// Values.
    pub values: Vec<f32>,
}

impl CpuSample {
    fn clear(&mut self) {
        self.discrete.clear();
        self.continuous.clear();
        self.log_probs.clear();
        self.values.clear();
    }
}

/// The index of the largest value; the lowest index wins a tie (core's rule).
pub fn argmax(v: &[f32]) -> u32 {
    picorl_core::policy::argmax(v) as u32
}

/// The weights file: every variable (both networks, log-std, and the observation statistics,
/// written into their variables first).
impl crate::algo::state::Weights for ActorCritic {
    fn save(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) -> Result<()> {
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
        crate::algo::state::Weights::save(&self.vs, prefix, out)
    }

    fn load(&mut self, prefix: &str, saved: &[(String, Tensor)], path: &Path) -> Result<()> {
        crate::algo::state::Weights::load(&mut self.vs, prefix, saved, path)?;
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
        self.sync_cpu();
        Ok(())
    }
}

/// The resume state beyond the weights: the observation statistics in `f64` (the weights hold
/// them as `f32`), as `obs_norm` (null without normalization).
impl crate::algo::state::Part for ActorCritic {
    fn save(&self, name: &str, out: &mut crate::algo::state::Saving) -> Result<()> {
        let stats = self.obs_norm.as_ref().map(|n| &n.stats);
        out.json(&format!("{name}obs_norm"), &stats)
    }

    fn load(&mut self, name: &str, from: &crate::algo::state::Loading) -> Result<()> {
        let saved: Option<super::running_norm::RunningMeanStd> =
            from.json(&format!("{name}obs_norm"))?;
        match (&mut self.obs_norm, saved) {
            (Some(n), Some(stats)) if n.stats.same_shape(&stats) => n.stats = stats,
            (None, None) => {}
            _ => bail!("the checkpoint's observation statistics do not fit this run's"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
