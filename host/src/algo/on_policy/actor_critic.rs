//! The actor-critic networks shared by REINFORCE, A2C and PPO: separate policy and value MLPs
//! (SB3's `MlpPolicy` default for these algorithms), a categorical head for discrete actions or
//! a diagonal Gaussian with a learned, state-independent log-std for continuous ones, and
//! optional running observation normalization saved with the weights.
//!
//! **On either backend** ([`crate::algo::backend`]). The policy is a body (its hidden layers, a
//! [`Net`] whose outputs are activated) and a linear head; the value network is a [`Net`] of its
//! own; the log-std is a [`ParamVec`]. [`ActorCritic::evaluate`] scores a batch of actions (their
//! log-probabilities, the entropies and the values) and [`ActorCritic::backward`] takes the
//! loss's gradient with respect to *those* per-row quantities, which each algorithm writes from
//! its loss's closed form: the distribution's derivatives are written once, here, and no loss is
//! ever differentiated by a backend. [`ActorCritic::step`] clips the gradient's global norm over
//! every parameter (PyTorch's `clip_grad_norm_`) and steps each network's optimizer (Adam or
//! RMSprop, the same rule for all), which is one optimizer over all the parameters, since both
//! rules are elementwise.
//!
//! The derivatives (`p = softmax(z)`, `H` the entropy):
//! - categorical: `∂ log p_a/∂z_k = 1[k = a] − p_k`, `∂H/∂z_k = −p_k (log p_k + H)`;
//! - Gaussian with log-std `s`, `u = (a − μ)/σ`: `∂ log p/∂μ_k = u_k/σ_k`,
//!   `∂ log p/∂s_k = u_k² − 1`, `∂H/∂s_k = 1`.
//!
//! Rollouts act through native copies of the networks ([`Acting`]), batched over the
//! environment copies, whatever backend trains (a libtorch call per step costs tens of
//! microseconds of dispatch; on a GPU, a round trip), refreshed after every update. The
//! deterministic action is `picorl-core`'s f32 dense layers (the firmware's code, [`CpuNet`]), so
//! what the learner evaluates is what the exported policy computes.
//!
//! **Initialization** (SB3's, drawn from the learner's generator so both backends start from
//! the same networks): orthogonal weights ([`orthogonal`]) with gain √2 (ReLU) or 5/3 (tanh) in
//! the hidden layers, 0.01 for the policy's output and 1 for the value's, zero biases; or
//! PyTorch's `Linear` default without `ortho_init`.
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
//! `learn_features = false`), so with `ℓ_k = ½ log σ_k²` the log-std's gradient is
//! `∂ℓ_k/∂log_std_jk = φ_j² σ_jk² / σ_k²`. The deterministic action and the export are
//! unchanged: the mean.
//!
//! **Checkpoint names**: `pi.l{i}` (the body's layers, then the head), `vf.l{i}`, `log_std`,
//! `obs_norm.{mean,var,count}`. Run directories from before the backends, whose two networks
//! were stacked (`w{i}` of shape `[2, in, out]`, `b{i}`), still load for `eval` and `export`.

use anyhow::{bail, Result};
use picorl_core::env::{EnvSpec, Space};
use picorl_core::rng::Pcg32;

use super::running_norm::ObsNorm;
use crate::algo::backend::{
    clip_and_step, init_layers, orthogonal, Backend, Layer, Net, Optimizer, ParamVec, Trainable,
};
use crate::algo::cpu_net::CpuNet;
use crate::export::Activation;
use crate::export::{DenseExport, HeadExport, PolicyExport};
use acting::Acting;

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

/// Added to gSDE's variance (SB3's `epsilon`), so a zero feature vector has a defined density.
pub const SDE_EPS: f32 = 1e-6;

/// `½ log 2π`, a Gaussian's log-density constant per component.
const HALF_LOG_2PI: f32 = 0.918_938_5;

/// The actions a batch of rows took, as [`ActorCritic::evaluate`] scores them.
#[derive(Debug, Clone, Copy)]
pub enum Acts<'a> {
    /// One index per row.
    Discrete(&'a [i64]),
    /// `dim` components per row, as sampled (unclipped).
    Continuous(&'a [f32]),
}

/// What [`ActorCritic::evaluate`] computes, one value per row.
#[derive(Debug, Default)]
pub struct Eval {
    /// Log-probabilities of the actions.
    pub log_probs: Vec<f32>,
    /// Entropies of the policy's distributions.
    pub entropies: Vec<f32>,
    /// State values (empty unless asked for).
    pub values: Vec<f32>,
}

/// Policy and value networks with their distribution.
#[derive(Debug)]
pub struct ActorCritic {
    /// The policy's hidden layers, activated outputs (none without hidden layers).
    body: Option<Net>,
    /// The policy's output layer: logits or Gaussian means.
    head: Net,
    /// The value network.
    vf: Net,
    /// The Gaussian's log-std: `[d]`, or gSDE's `[h, d]`; none for discrete actions.
    log_std: Option<ParamVec>,
    /// The action kind.
    pub kind: ActionKind,
    /// Running observation normalization.
    pub obs_norm: Option<ObsNorm>,
    activation: Activation,
    obs_dim: usize,
    acting: Acting,
    /// The policy as the firmware computes it, for the deterministic action.
    cpu: CpuNet,
    /// The copies are behind the networks (an update since the last refresh).
    stale: bool,
    cpu_stale: bool,
    sde: Option<SdeNoise>,
    /// The last evaluation, and what its backward pass needs.
    eval: Eval,
    rows: usize,
    outs: Vec<f32>,
    feats: Vec<f32>,
    acts_d: Vec<i64>,
    acts_c: Vec<f32>,
    /// Categorical: per row the log-probabilities of every action. gSDE: the variances.
    per_out: Vec<f32>,
    /// gSDE: `exp(2 log_std)`, the `[h, d]` variances of the matrices' entries.
    sigma2: Vec<f32>,
    d_out: Vec<f32>,
    /// The value network has a gradient to step with.
    vf_grad: bool,
}

impl ActorCritic {
    /// Builds the networks for `spec` on `backend`, the value network with its own hidden
    /// activation `vf_activation` (only the policy is exported, so a policy in ReLU or hardtanh,
    /// which int8 export quantizes exactly, can learn beside a tanh critic, whose bounded
    /// features keep its bootstrapped targets from running away), every parameter optimized by
    /// `opt`, the initial weights drawn from `rng`.
    pub fn new(
        spec: &EnvSpec,
        backend: Backend,
        opts: &NetOptions,
        vf_activation: Activation,
        opt: Optimizer,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        let obs_dim = spec.observation_space.flat_dim();
        let kind = ActionKind::from_space(&spec.action_space);
        if opts.hidden.contains(&0) {
            bail!("hidden sizes must be positive (got {:?})", opts.hidden);
        }
        let pi_dims = Self::dims(obs_dim, &opts.hidden, kind.outputs());
        let vf_dims = Self::dims(obs_dim, &opts.hidden, 1);
        let init = |dims: &[usize], hidden: Activation, out_gain: f64, rng: &mut Pcg32| {
            if !opts.ortho_init {
                return init_layers(dims, rng);
            }
            let n = dims.len() - 1;
            dims.windows(2)
                .enumerate()
                .map(|(l, w)| {
                    let gain = if l + 1 == n {
                        out_gain
                    } else {
                        hidden.init_gain()
                    };
                    Layer {
                        weight: orthogonal(w[1], w[0], gain, rng),
                        bias: vec![0.0; w[1]],
                    }
                })
                .collect()
        };
        let pi_init = init(&pi_dims, opts.activation, 0.01, rng);
        let vf_init = init(&vf_dims, vf_activation, 1.0, rng);
        let n_hidden = opts.hidden.len();
        let make = |dims: &[usize], hidden, body, layers: &[Layer], rng: &mut Pcg32| {
            let mut net = Net::with_optimizer(backend, dims, hidden, body, Some(opt), rng)?;
            net.set_layers(layers)?;
            Ok::<_, anyhow::Error>(net)
        };
        let body = if n_hidden > 0 {
            Some(make(
                &pi_dims[..=n_hidden],
                opts.activation,
                true,
                &pi_init[..n_hidden],
                rng,
            )?)
        } else {
            None
        };
        let head = make(
            &pi_dims[n_hidden..],
            opts.activation,
            false,
            &pi_init[n_hidden..],
            rng,
        )?;
        let vf = make(&vf_dims, vf_activation, false, &vf_init, rng)?;
        let acting = Acting::new(body.as_ref(), &head, &vf)?;
        let sde_on = opts.use_sde && matches!(kind, ActionKind::Continuous { .. });
        let log_std = match kind {
            ActionKind::Continuous { dim, .. } => {
                // gSDE: one log-std per (feature, action component); the features are the last
                // hidden layer, so a network without hidden layers explores from the observation.
                let n = if sde_on { pi_dims[n_hidden] * dim } else { dim };
                Some(ParamVec::new(vec![opts.log_std_init as f32; n], opt))
            }
            ActionKind::Discrete { .. } => None,
        };
        let mut ac = Self {
            body,
            head,
            vf,
            log_std,
            kind,
            obs_norm: opts.normalize_obs.then(|| ObsNorm::new(obs_dim)),
            activation: opts.activation,
            obs_dim,
            acting,
            cpu: CpuNet::default(),
            stale: true,
            cpu_stale: true,
            sde: sde_on.then(|| SdeNoise::new(opts.sde_sample_freq)),
            eval: Eval::default(),
            rows: 0,
            outs: Vec::new(),
            feats: Vec::new(),
            acts_d: Vec::new(),
            acts_c: Vec::new(),
            per_out: Vec::new(),
            sigma2: Vec::new(),
            d_out: Vec::new(),
            vf_grad: false,
        };
        ac.sync_cpu()?;
        Ok(ac)
    }

    /// Layer widths: the observation, `hidden`, `out`.
    pub fn dims(obs_dim: usize, hidden: &[usize], out: usize) -> Vec<usize> {
        let mut dims = vec![obs_dim];
        dims.extend_from_slice(hidden);
        dims.push(out);
        dims
    }

    /// Values per observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Raw observations normalized (a copy).
    pub fn normalized(&self, raw: &[f32]) -> Vec<f32> {
        let mut x = raw.to_vec();
        if let Some(n) = &self.obs_norm {
            n.apply(&mut x);
        }
        x
    }

    /// Whether the policy explores with gSDE.
    pub fn uses_sde(&self) -> bool {
        self.sde.is_some()
    }

    fn log_std_values(&self) -> &[f32] {
        self.log_std.as_ref().map_or(&[], |p| &p.values)
    }

    /// Redraws every copy's gSDE exploration matrix from `rng` (`E_jk = σ_jk z`); no-op without
    /// gSDE. [`super::rollout::collect`] calls it at the start of a rollout and every
    /// `sde_sample_freq` steps.
    pub fn reset_sde_noise(&mut self, n_envs: usize, rng: &mut Pcg32) {
        if let (Some(sde), Some(ls)) = (&mut self.sde, &self.log_std) {
            sde.draw(n_envs, &ls.values, rng);
        }
    }

    /// Whether step `t` of a rollout (0-based) redraws the gSDE matrices.
    pub fn sde_redraw_due(&self, t: usize) -> bool {
        self.sde.as_ref().is_some_and(|s| s.redraw_due(t))
    }

    /// Scores `acts` at `rows` normalized observations `x` under the current networks: the
    /// log-probabilities, entropies and (with `value`) the values, keeping what
    /// [`ActorCritic::backward`] needs.
    pub fn evaluate(&mut self, x: &[f32], rows: usize, acts: Acts, value: bool) -> Result<&Eval> {
        self.rows = rows;
        self.feats.clear();
        match &mut self.body {
            Some(body) => self.feats.extend_from_slice(body.forward(x, rows)?),
            None => self.feats.extend_from_slice(x),
        }
        self.outs.clear();
        self.outs
            .extend_from_slice(self.head.forward(&self.feats, rows)?);
        let e = &mut self.eval;
        e.log_probs.clear();
        e.entropies.clear();
        e.values.clear();
        self.per_out.clear();
        match (&self.kind, acts) {
            (ActionKind::Discrete { n }, Acts::Discrete(a)) => {
                if a.len() != rows {
                    bail!("internal: {} actions for {rows} rows", a.len());
                }
                self.acts_d.clear();
                self.acts_d.extend_from_slice(a);
                for (z, &a) in self.outs.chunks_exact(*n).zip(a) {
                    let Some(pick) = usize::try_from(a).ok().filter(|&a| a < *n) else {
                        bail!("internal: action {a} of {n}");
                    };
                    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let lse = m + z.iter().map(|l| (l - m).exp()).sum::<f32>().ln();
                    let mut h = 0.0f32;
                    for l in z {
                        let lp = l - lse;
                        h -= lp.exp() * lp;
                        self.per_out.push(lp);
                    }
                    e.log_probs.push(z[pick] - lse);
                    e.entropies.push(h);
                }
            }
            (ActionKind::Continuous { dim, .. }, Acts::Continuous(a)) => {
                let d = *dim;
                if a.len() != rows * d {
                    bail!("internal: {} action values for {rows} rows of {d}", a.len());
                }
                self.acts_c.clear();
                self.acts_c.extend_from_slice(a);
                let ls = self.log_std.as_ref().map_or(&[][..], |p| &p.values);
                let h_feats = self.feats.len() / rows;
                self.sigma2.clear();
                if self.sde.is_some() {
                    self.sigma2.extend(ls.iter().map(|l| (2.0 * l).exp()));
                }
                for r in 0..rows {
                    let (mut lp, mut h) = (0.0f32, 0.0f32);
                    for k in 0..d {
                        let (mean, act) = (self.outs[r * d + k], a[r * d + k]);
                        // The component's log-std: the parameter, or gSDE's ½ log σ_k(s)².
                        let l = if self.sde.is_some() {
                            let phi = &self.feats[r * h_feats..(r + 1) * h_feats];
                            let mut var = SDE_EPS;
                            for (j, f) in phi.iter().enumerate() {
                                var += f * f * self.sigma2[j * d + k];
                            }
                            self.per_out.push(var);
                            0.5 * var.ln()
                        } else {
                            ls[k]
                        };
                        let u = (act - mean) / l.exp();
                        lp += -0.5 * u * u - l - HALF_LOG_2PI;
                        h += l + 0.5 + HALF_LOG_2PI;
                    }
                    e.log_probs.push(lp);
                    e.entropies.push(h);
                }
            }
            _ => bail!("internal: actions of another kind than the policy's"),
        }
        self.vf_grad = false;
        if value {
            e.values.extend_from_slice(self.vf.forward(x, rows)?);
        }
        Ok(&self.eval)
    }

    /// After [`ActorCritic::evaluate`]: stores the parameters' gradient of the loss whose
    /// derivatives with respect to each row's log-probability, entropy and value are `d_logp`,
    /// `d_entropy` and `d_value` (none: the value network is not trained by this loss).
    pub fn backward(
        &mut self,
        d_logp: &[f32],
        d_entropy: &[f32],
        d_value: Option<&[f32]>,
    ) -> Result<()> {
        let rows = self.rows;
        if d_logp.len() != rows || d_entropy.len() != rows {
            bail!("internal: loss derivatives for another batch");
        }
        let n_out = self.kind.outputs();
        self.d_out.clear();
        self.d_out.resize(rows * n_out, 0.0);
        match &self.kind {
            ActionKind::Discrete { n } => {
                for r in 0..rows {
                    let lps = &self.per_out[r * n..(r + 1) * n];
                    let h = self.eval.entropies[r];
                    let a = self.acts_d[r] as usize;
                    for (k, &lp) in lps.iter().enumerate() {
                        let p = lp.exp();
                        let onehot = if k == a { 1.0 } else { 0.0 };
                        self.d_out[r * n + k] =
                            d_logp[r] * (onehot - p) - d_entropy[r] * p * (lp + h);
                    }
                }
            }
            ActionKind::Continuous { dim, .. } => {
                let d = *dim;
                let Some(ls) = &mut self.log_std else {
                    bail!("internal: a Gaussian policy without its log-std");
                };
                ls.zero_grad();
                let h_feats = self.feats.len() / rows.max(1);
                for r in 0..rows {
                    for k in 0..d {
                        let i = r * d + k;
                        let diff = self.acts_c[i] - self.outs[i];
                        if self.sde.is_some() {
                            let var = self.per_out[i];
                            self.d_out[i] = d_logp[r] * diff / var;
                            let d_l = d_logp[r] * (diff * diff / var - 1.0) + d_entropy[r];
                            let phi = &self.feats[r * h_feats..(r + 1) * h_feats];
                            for (j, f) in phi.iter().enumerate() {
                                let at = j * d + k;
                                ls.grads[at] += d_l * f * f * self.sigma2[at] / var;
                            }
                        } else {
                            let sigma = ls.values[k].exp();
                            let u = diff / sigma;
                            self.d_out[i] = d_logp[r] * u / sigma;
                            ls.grads[k] += d_logp[r] * (u * u - 1.0) + d_entropy[r];
                        }
                    }
                }
            }
        }
        let d_feats = self.head.backward(&self.d_out, true, self.body.is_some())?;
        if let Some(body) = &mut self.body {
            body.backward(d_feats, true, false)?;
        }
        self.vf_grad = false;
        if let Some(dv) = d_value {
            if dv.len() != rows {
                bail!("internal: value derivatives for another batch");
            }
            self.vf.backward(dv, true, false)?;
            self.vf_grad = true;
        }
        Ok(())
    }
    /// Clips the stored gradient's global norm to `max_grad_norm` (0: no clipping; PyTorch's
    /// `clip_grad_norm_`, coefficient `max / (norm + 1e-6)` when below 1) and steps every
    /// parameter; returns the norm before clipping.
    pub fn step(&mut self, max_grad_norm: f64) -> Result<f64> {
        let vf = self.vf_grad.then_some(&mut self.vf);
        let mut parts: Vec<&mut dyn Trainable> = self.body.iter_mut().map(|n| n as _).collect();
        parts.push(&mut self.head);
        parts.extend(vf.map(|n| n as _));
        parts.extend(self.log_std.iter_mut().map(|p| p as _));
        let norm = clip_and_step(&mut parts, max_grad_norm)?;
        self.vf_grad = false;
        self.stale = true;
        self.cpu_stale = true;
        Ok(norm)
    }

    /// Sets every optimizer's learning rate for the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        for n in self.body.iter_mut().chain([&mut self.head, &mut self.vf]) {
            n.set_lr(lr);
        }
        if let Some(ls) = &mut self.log_std {
            ls.set_lr(lr);
        }
    }

    /// The policy's layers, body then head.
    fn pi_net_layers(&self) -> Vec<Layer> {
        let mut layers = self.body.as_ref().map(Net::layers).unwrap_or_default();
        layers.extend(self.head.layers());
        layers
    }

    /// The deterministic policy for export.
    pub fn export(&self) -> PolicyExport {
        let layers = self
            .pi_net_layers()
            .into_iter()
            .map(|l| DenseExport {
                inputs: l.weight.len() / l.bias.len(),
                outputs: l.bias.len(),
                weights: l.weight,
                bias: l.bias,
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
            activation: self.activation,
            head,
            obs_norm: self.obs_norm.as_ref().map(ObsNorm::export),
        }
    }

    /// The parameters' stored gradients in PyTorch's layout: the policy's layers (body, then
    /// head), the value network's (empty when the last backward did not train it), and the
    /// log-std's (for the tests against autograd).
    pub fn grads(&self) -> (Vec<Layer>, Vec<Layer>, Vec<f32>) {
        let mut pi = self.body.as_ref().map(Net::grad_layers).unwrap_or_default();
        pi.extend(self.head.grad_layers());
        let vf = if self.vf_grad {
            self.vf.grad_layers()
        } else {
            Vec::new()
        };
        let ls = self
            .log_std
            .as_ref()
            .map(|p| p.grads.clone())
            .unwrap_or_default();
        (pi, vf, ls)
    }

    /// The parameters in PyTorch's layout: the policy's layers, the value network's, the log-std.
    pub fn params(&self) -> (Vec<Layer>, Vec<Layer>, Vec<f32>) {
        (
            self.pi_net_layers(),
            self.vf.layers(),
            self.log_std_values().to_vec(),
        )
    }

    fn nets(&self) -> impl Iterator<Item = &Net> {
        self.body
            .iter()
            .chain(std::iter::once(&self.head))
            .chain(std::iter::once(&self.vf))
    }
}

/// The index of the largest value; the lowest index wins a tie (core's rule).
pub fn argmax(v: &[f32]) -> u32 {
    picorl_core::policy::argmax(v) as u32
}

mod acting;
mod saved;
mod sde;

pub use acting::CpuSample;
pub use sde::SdeNoise;

#[cfg(test)]
mod tests;
