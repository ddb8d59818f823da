//! What the continuous-control learners (DDPG, TD3, SAC) share, on top of
//! [`off_policy`](super::off_policy)'s replay, collector, target sync and flat Adam:
//!
//! - **Actions in `[-1, 1]`.** The actor's output goes through `tanh`; [`Bounds`] rescales it to
//!   the environment's box, `low + (a + 1) / 2 · (high - low)` (what `picorl-core`'s
//!   `HeadSpec::ContinuousTanh` computes on the controller). The replay stores actions in the
//!   environment's units (the collector stores what the environment was given); critics read them
//!   mapped back to `[-1, 1]`, so one set of hyper-parameters fits any bounds.
//! - **Critics** ([`Critics`]) read `[state, action]` concatenated; there are `n` of them (2 for
//!   TD3 and SAC, 1 for DDPG) with Polyak-averaged targets, and the bootstrapped target uses the
//!   minimum over the target critics ([`min_target`], the clipped double-Q target of Fujimoto et
//!   al. 2018).
//! - **The actor** ([`ActorNet`]) is an [`Mlp`] with `a` outputs (deterministic: the pre-tanh
//!   action) or `2a` (Gaussian: pre-tanh mean, then log σ). The deterministic policy is `tanh` of
//!   the first `a` outputs, exported with [`HeadExport::TanhScale`]; a ReLU actor exports to int8.
//!   SAC's gSDE actor ([`ActorNet::new_sde`]) has `a` outputs and a `[h, a]` log σ parameter over
//!   its last hidden layer's features (the exploration matrices are PPO's,
//!   [`super::actor_critic::SdeNoise`]).
//! - **The loop** ([`Driver`]): `train_freq` steps of every copy per round, uniformly random actions
//!   before `learning_starts`, then the algorithm's exploratory action; `gradient_steps` updates
//!   per round (-1: one per environment step collected). Acting goes through a `picorl-core` copy
//!   of the actor ([`CpuNet`]), refreshed whenever the actor changes.
//! - **Truncation**: Pendulum-v1 only truncates (200 steps) and is bootstrapped from its final
//!   observation there; the collector stores `terminated` only for terminal states.

use anyhow::{bail, Result};
use picorl_core::env::{EnvSpec, Space};
use picorl_core::replay::ActionShape;
use picorl_core::rng::{self, Pcg32};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::actor_critic::sde_marginal_log_std;
use super::off_policy::{
    flatten_vars, Batch, Collector, CpuNet, FlatAdam, Replay, ReplayOptions, TargetSync,
};
use crate::eval::OwnedAction;
use crate::export::{DenseExport, HeadExport, PolicyExport};
use crate::nets::{tensor_to_vec, Activation, Mlp, MlpInit};
use crate::train::{Setup, TrainCtx};
use crate::vec_env::Actions;

/// SB3's clamp of a Gaussian actor's log σ.
pub const LOG_STD_MIN: f64 = -20.0;
/// SB3's clamp of a Gaussian actor's log σ.
pub const LOG_STD_MAX: f64 = 2.0;

/// The environment's action box.
#[derive(Debug)]
pub struct Bounds {
    /// Lower bounds.
    pub low: Vec<f32>,
    /// Upper bounds.
    pub high: Vec<f32>,
    low_t: Tensor,
    half_range_t: Tensor,
}

impl Bounds {
    /// The action box of `spec`; fails for a discrete or unbounded action space.
    pub fn new(spec: &EnvSpec, algo: &str, device: Device) -> Result<Self> {
        let Space::Box { dim, low, high } = spec.action_space else {
            bail!(
                "{algo} needs a continuous action space; {} has a discrete one (use dqn or ppo)",
                spec.id
            );
        };
        let (low, high) = (low[..dim].to_vec(), high[..dim].to_vec());
        if low.iter().chain(&high).any(|v| !v.is_finite())
            || low.iter().zip(&high).any(|(l, h)| l >= h)
        {
            bail!(
                "{algo} needs a bounded action box; {} has [{low:?}, {high:?}]",
                spec.id
            );
        }
        let half: Vec<f32> = low.iter().zip(&high).map(|(l, h)| (h - l) / 2.0).collect();
        Ok(Self {
            low_t: Tensor::from_slice(&low).to_device(device),
            half_range_t: Tensor::from_slice(&half).to_device(device),
            low,
            high,
        })
    }

    /// Components of an action.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    /// `unit ∈ [-1, 1]` rescaled to the box (component `i` of a row uses bound `i % dim`).
    pub fn to_env(&self, unit: &[f32], out: &mut [f32]) {
        let d = self.dim();
        for (i, (u, o)) in unit.iter().zip(out.iter_mut()).enumerate() {
            let (l, h) = (self.low[i % d], self.high[i % d]);
            *o = l + (u + 1.0) / 2.0 * (h - l);
        }
    }

    /// Environment actions `[B, dim]` mapped to `[-1, 1]`.
    pub fn to_unit(&self, actions: &Tensor) -> Tensor {
        (actions - &self.low_t) / &self.half_range_t - 1.0
    }
}

/// `n` Q-networks over `[state, action ∈ [-1, 1]]` with Polyak-averaged targets and one Adam.
#[derive(Debug)]
pub struct Critics {
    /// The online critics' variables (`q0.*`, `q1.*`, …).
    pub vs: nn::VarStore,
    /// The target critics' variables.
    pub target_vs: nn::VarStore,
    nets: Vec<Mlp>,
    targets: Vec<Mlp>,
    sync: TargetSync,
    opt: FlatAdam,
}

impl Critics {
    /// The critics' optimizer (its moments go into a `--resume` checkpoint).
    pub fn adam(&self) -> &FlatAdam {
        &self.opt
    }

    /// The critics' optimizer, to restore it.
    pub fn adam_mut(&mut self) -> &mut FlatAdam {
        &mut self.opt
    }

    /// `n` critics with hidden layers `hidden` (ReLU), learning rate `lr`, on `device`.
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        n: usize,
        lr: f64,
        device: Device,
    ) -> Result<Self> {
        let mut sizes = vec![obs_dim + act_dim];
        sizes.extend_from_slice(hidden);
        sizes.push(1);
        let vs = nn::VarStore::new(device);
        let mut target_vs = nn::VarStore::new(device);
        let build = |vs: &nn::VarStore| -> Vec<Mlp> {
            (0..n)
                .map(|i| {
                    Mlp::new(
                        &(vs.root() / format!("q{i}")),
                        &sizes,
                        Activation::Relu,
                        MlpInit::Default,
                    )
                })
                .collect()
        };
        let nets = build(&vs);
        let targets = build(&target_vs);
        target_vs.freeze();
        let flat = flatten_vars(&vs);
        let sync = TargetSync::flat(&flat, &flatten_vars(&target_vs))?;
        sync.update(1.0);
        let opt = FlatAdam::new(&vs, &flat, lr, 1e-8);
        Ok(Self {
            vs,
            target_vs,
            nets,
            targets,
            sync,
            opt,
        })
    }

    /// Each online critic's `Q(s, a)`, `[B]`.
    pub fn q(&self, obs: &Tensor, unit_actions: &Tensor) -> Vec<Tensor> {
        let x = Tensor::cat(&[obs, unit_actions], 1);
        self.nets
            .iter()
            .map(|m| m.forward(&x).squeeze_dim(1))
            .collect()
    }

    /// The first online critic's `Q(s, a)`, `[B]` (what TD3's and DDPG's actors climb).
    pub fn q0(&self, obs: &Tensor, unit_actions: &Tensor) -> Tensor {
        self.nets[0]
            .forward(&Tensor::cat(&[obs, unit_actions], 1))
            .squeeze_dim(1)
    }

    /// Each target critic's `Q'(s, a)`, `[B]`, outside the graph.
    pub fn q_target(&self, obs: &Tensor, unit_actions: &Tensor) -> Vec<Tensor> {
        tch::no_grad(|| {
            let x = Tensor::cat(&[obs, unit_actions], 1);
            self.targets
                .iter()
                .map(|m| m.forward(&x).squeeze_dim(1))
                .collect()
        })
    }

    /// One Adam step on `loss` (no gradient clipping).
    pub fn step(&mut self, loss: &Tensor) {
        self.opt.step(loss, 0.0);
    }

    /// Polyak update of the targets with `tau`.
    pub fn update_targets(&self, tau: f64) {
        self.sync.update(tau);
    }
}

/// The clipped double-Q target `r + γ^k (1 - terminated) (min_i Q'_i(s', a') - entropy)` from the
/// target critics' values `next_q` (`[B]` each), `entropy` being SAC's `α log π(a'|s')` (`None`
/// for TD3 and DDPG).
pub fn min_target(b: &Batch, next_q: &[Tensor], entropy: Option<&Tensor>) -> Tensor {
    tch::no_grad(|| {
        let mut v = next_q[0].shallow_clone();
        for q in &next_q[1..] {
            v = v.minimum(q);
        }
        if let Some(e) = entropy {
            v -= e;
        }
        &b.rewards + &b.discounts * v
    })
}

/// TD3's target policy smoothing: `clip(a' + clip(σ ε, -c, c), -1, 1)` for the target actor's
/// action `next_unit` (in `[-1, 1]`), standard-normal draws `eps`, noise scale `sigma` and clip `c`.
pub fn smoothed_target_action(next_unit: &Tensor, eps: &Tensor, sigma: f64, clip: f64) -> Tensor {
    (next_unit + (eps * sigma).clamp(-clip, clip)).clamp(-1.0, 1.0)
}

/// `rows × cols` standard-normal draws from `rng`, as a `[rows, cols]` tensor on `device`.
///
/// The learners' sampling noise (TD3's target smoothing, SAC's reparameterized actions) comes
/// from their own generator, saved in a `--resume` checkpoint, and not from libtorch's
/// process-wide one, whose state tch cannot save: a resumed run draws what the uninterrupted run
/// drew. The cost is a few hundred Box–Muller draws and one small copy per update (`batch_size ×
/// dim(A)` values), next to a forward and backward pass of three networks over the batch.
pub fn normal_tensor(rng: &mut Pcg32, rows: usize, cols: usize, device: Device) -> Tensor {
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| rng::normal_f64(rng) as f32)
        .collect();
    Tensor::from_slice(&v)
        .view([rows as i64, cols as i64])
        .to_device(device)
}

/// The tensors `names` of a checkpoint's resume state (`saved`), in that order, or an error that
/// names `algo` when one is missing.
pub fn resume_parts<'a, const N: usize>(
    saved: &'a [(String, Tensor)],
    names: [&str; N],
    algo: &str,
) -> Result<[&'a Tensor; N]> {
    let mut out = Vec::with_capacity(N);
    for n in names {
        match saved.iter().find(|(k, _)| k == n) {
            Some((_, t)) => out.push(t),
            None => bail!("the checkpoint's {algo} state is incomplete (no `{n}`)"),
        }
    }
    out.try_into()
        .map_err(|_| anyhow::anyhow!("{algo}: {N} resume tensors expected"))
}

/// `log(1 - tanh(u)²)` in the stable form `2 (log 2 - u - softplus(-2u))`.
pub fn log_one_minus_tanh_sq(u: &Tensor) -> Tensor {
    ((u * -2.0).softplus() + u - std::f64::consts::LN_2) * -2.0
}

/// The log-density of `a = tanh(u)`, `u ~ N(mean, σ²)`: `log N(u) - Σ log(1 - tanh(u)²)`, `[B]`.
pub fn squashed_log_prob(u: &Tensor, mean: &Tensor, log_std: &Tensor) -> Tensor {
    let z = (u - mean) / log_std.exp();
    let per = z.square() * -0.5 - log_std - 0.5 * (2.0 * std::f64::consts::PI).ln();
    (per - log_one_minus_tanh_sq(u)).sum_dim_intlist(-1, false, Kind::Float)
}

/// The actor network: `a` outputs (deterministic) or `2a` (Gaussian mean and log σ), pre-tanh;
/// or, with gSDE ([`ActorNet::new_sde`]), `a` means and a `[h, a]` log-std parameter over the
/// last hidden layer's `h` features.
#[derive(Debug)]
pub struct ActorNet {
    /// Its variables (`pi.*`, and `log_std` with gSDE).
    pub vs: nn::VarStore,
    net: Mlp,
    opt: FlatAdam,
    act_dim: usize,
    gaussian: bool,
    /// gSDE's `[h, a]` log σ of the exploration matrices' entries.
    sde_log_std: Option<Tensor>,
    /// A Polyak-averaged copy (TD3 and DDPG).
    target: Option<(nn::VarStore, Mlp, TargetSync)>,
}

impl ActorNet {
    /// The actor's optimizer (its moments go into a `--resume` checkpoint).
    pub fn adam(&self) -> &FlatAdam {
        &self.opt
    }

    /// The actor's optimizer, to restore it.
    pub fn adam_mut(&mut self) -> &mut FlatAdam {
        &mut self.opt
    }

    /// An actor for `obs_dim` → `act_dim` with hidden `hidden` and `activation`; `gaussian` adds
    /// the log σ outputs, `with_target` a target copy.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        activation: Activation,
        gaussian: bool,
        with_target: bool,
        lr: f64,
        device: Device,
    ) -> Result<Self> {
        let head = if gaussian {
            ActorHead::Gaussian
        } else {
            ActorHead::Deterministic
        };
        Self::build(
            obs_dim,
            act_dim,
            hidden,
            activation,
            head,
            with_target,
            lr,
            device,
        )
    }

    /// A gSDE actor (SAC's `use_sde`): `a` pre-tanh means, and exploration `φ(s)·E` with `φ` the
    /// last hidden layer (the observation without hidden layers) and `E` a `[h, a]` matrix of
    /// `N(0, σ_jk²)` entries, `log σ` a parameter starting at `log_std_init` (SB3's `full_std`).
    pub fn new_sde(
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        activation: Activation,
        log_std_init: f64,
        lr: f64,
        device: Device,
    ) -> Result<Self> {
        let head = ActorHead::Sde { log_std_init };
        Self::build(
            obs_dim, act_dim, hidden, activation, head, false, lr, device,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        activation: Activation,
        head: ActorHead,
        with_target: bool,
        lr: f64,
        device: Device,
    ) -> Result<Self> {
        let gaussian = head == ActorHead::Gaussian;
        let mut sizes = vec![obs_dim];
        sizes.extend_from_slice(hidden);
        sizes.push(if gaussian { 2 * act_dim } else { act_dim });
        let vs = nn::VarStore::new(device);
        let net = Mlp::new(&(vs.root() / "pi"), &sizes, activation, MlpInit::Default);
        let sde_log_std = match head {
            ActorHead::Sde { log_std_init } => {
                let h = sizes[sizes.len() - 2] as i64;
                let shape = [h, act_dim as i64];
                Some(
                    vs.root()
                        .var("log_std", &shape, nn::Init::Const(log_std_init)),
                )
            }
            _ => None,
        };
        if with_target && sde_log_std.is_some() {
            bail!("internal: a gSDE actor has no target copy");
        }
        let flat = flatten_vars(&vs);
        let target = if with_target {
            let mut tvs = nn::VarStore::new(device);
            let tnet = Mlp::new(&(tvs.root() / "pi"), &sizes, activation, MlpInit::Default);
            tvs.freeze();
            let sync = TargetSync::flat(&flat, &flatten_vars(&tvs))?;
            sync.update(1.0);
            Some((tvs, tnet, sync))
        } else {
            None
        };
        let opt = FlatAdam::new(&vs, &flat, lr, 1e-8);
        Ok(Self {
            vs,
            net,
            opt,
            act_dim,
            gaussian,
            sde_log_std,
            target,
        })
    }

    /// The raw outputs `[B, a]` or `[B, 2a]`.
    pub fn forward(&self, obs: &Tensor) -> Tensor {
        self.net.forward(obs)
    }

    /// The raw outputs and the last hidden layer (gSDE's features `φ(s)`), `([B, ·], [B, h])`.
    pub fn mean_and_features(&self, obs: &Tensor) -> (Tensor, Tensor) {
        self.net.forward_features(obs)
    }

    /// Whether the actor explores with gSDE.
    pub fn uses_sde(&self) -> bool {
        self.sde_log_std.is_some()
    }

    /// gSDE's `[h, a]` log σ as row-major values (empty without gSDE): what the exploration
    /// matrices are drawn with
    /// ([`super::actor_critic::SdeNoise::draw`]).
    pub fn sde_log_std_values(&self) -> Vec<f32> {
        self.sde_log_std
            .as_ref()
            .map(tensor_to_vec)
            .unwrap_or_default()
    }

    /// The shape of the standard-normal draws [`ActorNet::sample`] takes for a batch of `rows`:
    /// `[rows, a]`, or gSDE's one `[h, a]` matrix for the whole batch.
    pub fn noise_shape(&self, rows: usize) -> (usize, usize) {
        match &self.sde_log_std {
            Some(ls) => (ls.size()[0] as usize, self.act_dim),
            None => (rows, self.act_dim),
        }
    }

    /// The deterministic action `tanh(μ(s))` in `[-1, 1]`.
    pub fn deterministic(&self, obs: &Tensor) -> Tensor {
        self.forward(obs).narrow(1, 0, self.act_dim as i64).tanh()
    }

    /// The target copy's deterministic action, outside the graph.
    ///
    /// # Panics
    /// If the actor was built without a target.
    pub fn target_deterministic(&self, obs: &Tensor) -> Tensor {
        let (_, t, _) = self.target.as_ref().expect("an actor built with a target");
        tch::no_grad(|| t.forward(obs).narrow(1, 0, self.act_dim as i64).tanh())
    }

    /// A reparameterized sample of the squashed Gaussian: `(tanh(u), log π(tanh u | s))`, with
    /// `u = μ + σ ε` and `eps` standard-normal `[B, a]`.
    ///
    /// With gSDE, `eps` is one standard-normal `[h, a]` matrix `Z` for the whole batch (SB3's
    /// `reset_noise()` before every gradient step): `E = σ ⊙ Z` and `u = μ + φ(s)·E`, whose
    /// density over the draws of `E` is `N(μ, φ² · σ² + ε)` per component
    /// ([`sde_marginal_log_std`]). Gradients flow through `φ` in both (SB3's SAC:
    /// `learn_features = True`) and through `σ` in `E`.
    pub fn sample(&self, obs: &Tensor, eps: &Tensor) -> (Tensor, Tensor) {
        if let Some(sde_ls) = &self.sde_log_std {
            let (mean, latent) = self.mean_and_features(obs);
            let u = &mean + latent.matmul(&(sde_ls.exp() * eps));
            let log_std = sde_marginal_log_std(&latent, sde_ls);
            let logp = squashed_log_prob(&u, &mean, &log_std);
            return (u.tanh(), logp);
        }
        let out = self.forward(obs);
        let a = self.act_dim as i64;
        let mean = out.narrow(1, 0, a);
        let log_std = out.narrow(1, a, a).clamp(LOG_STD_MIN, LOG_STD_MAX);
        let u = &mean + log_std.exp() * eps;
        let logp = squashed_log_prob(&u, &mean, &log_std);
        (u.tanh(), logp)
    }

    /// One Adam step on `loss`.
    pub fn step(&mut self, loss: &Tensor) {
        self.opt.step(loss, 0.0);
    }

    /// Polyak update of the target copy, if any.
    pub fn update_target(&self, tau: f64) {
        if let Some((_, _, sync)) = &self.target {
            sync.update(tau);
        }
    }

    /// The target copy's variables, if any.
    pub fn target_vs(&self) -> Option<&nn::VarStore> {
        self.target.as_ref().map(|t| &t.0)
    }

    /// Every output layer (for the acting copy, which reads log σ too).
    pub fn export_all(&self) -> PolicyExport {
        self.export_rows(false, Vec::new(), Vec::new())
    }

    /// The deterministic policy: the mean rows only, `tanh` scaled to `bounds`.
    pub fn export(&self, bounds: &Bounds) -> PolicyExport {
        self.export_rows(true, bounds.low.clone(), bounds.high.clone())
    }

    fn export_rows(&self, mean_only: bool, low: Vec<f32>, high: Vec<f32>) -> PolicyExport {
        let mut layers: Vec<DenseExport> = self
            .net
            .export_layers()
            .into_iter()
            .map(|(weights, bias, inputs, outputs)| DenseExport {
                weights,
                bias,
                inputs,
                outputs,
            })
            .collect();
        if mean_only && self.gaussian {
            if let Some(last) = layers.last_mut() {
                last.weights.truncate(self.act_dim * last.inputs);
                last.bias.truncate(self.act_dim);
                last.outputs = self.act_dim;
            }
        }
        PolicyExport {
            layers,
            activation: self.net.activation(),
            head: HeadExport::TanhScale { low, high },
            obs_norm: None,
        }
    }
}

/// What an [`ActorNet`]'s outputs are.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ActorHead {
    /// `a` pre-tanh actions.
    Deterministic,
    /// `a` pre-tanh means and `a` log σ.
    Gaussian,
    /// `a` pre-tanh means; gSDE's log σ is a parameter.
    Sde { log_std_init: f64 },
}

/// Exploration noise added to a deterministic actor's action (in `[-1, 1]` units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseKind {
    /// Independent Gaussian draws with standard deviation `noise_std`.
    Normal,
    /// An Ornstein-Uhlenbeck process (θ = 0.15, dt = 0.01, σ = `noise_std`, as SB3's), reset at
    /// the end of every episode.
    OrnsteinUhlenbeck,
}

/// Per-copy exploration noise.
#[derive(Debug)]
pub struct Noise {
    kind: NoiseKind,
    std: f32,
    state: Vec<f32>,
}

impl Noise {
    /// Noise for `n` values (copies × action components).
    pub fn new(kind: NoiseKind, std: f64, n: usize) -> Self {
        Self {
            kind,
            std: std as f32,
            state: vec![0.0; n],
        }
    }

    /// Adds noise to `unit` (one row per copy) and clips to `[-1, 1]`.
    pub fn apply(&mut self, rng: &mut Pcg32, unit: &mut [f32]) {
        for (u, x) in unit.iter_mut().zip(self.state.iter_mut()) {
            let e = rng::normal_f64(rng) as f32;
            let n = match self.kind {
                NoiseKind::Normal => self.std * e,
                NoiseKind::OrnsteinUhlenbeck => {
                    const THETA: f32 = 0.15;
                    const DT: f32 = 0.01;
                    *x += THETA * -*x * DT + self.std * DT.sqrt() * e;
                    *x
                }
            };
            *u = (*u + n).clamp(-1.0, 1.0);
        }
    }

    /// The processes' state (Ornstein-Uhlenbeck; zeros for Gaussian noise), for `--resume`.
    pub fn state(&self) -> &[f32] {
        &self.state
    }

    /// Restores [`Noise::state`].
    pub fn set_state(&mut self, state: &[f32]) -> Result<()> {
        if state.len() != self.state.len() {
            bail!(
                "exploration noise of {} values for {}",
                state.len(),
                self.state.len()
            );
        }
        self.state.copy_from_slice(state);
        Ok(())
    }

    /// Resets copy `env`'s process (at the end of its episode).
    pub fn reset(&mut self, env: usize, act_dim: usize) {
        if let Some(s) = self.state.get_mut(env * act_dim..(env + 1) * act_dim) {
            s.fill(0.0);
        }
    }
}

/// The part of a [`Driver`]'s resume state that is not a tensor.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DriverResume {
    rng: Pcg32,
    replay: super::off_policy::ReplayScalars,
    journal: crate::vec_env::Journal,
    windows: super::off_policy::Windows,
}

/// The collection side of the loop, shared by DDPG, TD3 and SAC.
#[derive(Debug)]
pub struct Driver {
    /// The environments and their n-step windows.
    pub collector: Collector,
    /// The replay memory.
    pub replay: Replay,
    /// The action box.
    pub bounds: Bounds,
    /// Exploration draws.
    pub rng: Pcg32,
    /// The acting copy of the actor (all outputs).
    pub cpu: CpuNet,
    /// Observation components.
    pub obs_dim: usize,
    /// Action components.
    pub act_dim: usize,
    /// The actions of the current step in `[-1, 1]`, one row per copy.
    pub unit: Vec<f32>,
    env_actions: Vec<f32>,
    learning_starts: u64,
    train_freq: usize,
    gradient_steps: i64,
}

/// The loop's options.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// Parallel environments.
    pub n_envs: usize,
    /// Replay capacity.
    pub buffer_size: usize,
    /// Discount factor.
    pub gamma: f64,
    /// Steps per stored return.
    pub n_step: usize,
    /// Random steps before learning.
    pub learning_starts: u64,
    /// Steps of every copy per round.
    pub train_freq: usize,
    /// Updates per round (-1: one per step collected).
    pub gradient_steps: i64,
}

impl Driver {
    /// Environments, replay and the acting copy of `actor` for `setup`.
    pub fn new(setup: &Setup, algo: &str, opts: &DriverOptions, actor: &ActorNet) -> Result<Self> {
        if opts.n_envs == 0 || opts.buffer_size == 0 || opts.train_freq == 0 || opts.n_step == 0 {
            bail!("{algo}: n_envs, buffer_size, train_freq and n_step must be positive");
        }
        if !(opts.gradient_steps > 0 || opts.gradient_steps == -1) {
            bail!("{algo}: gradient_steps must be positive or -1");
        }
        if !(0.0..=1.0).contains(&opts.gamma) {
            bail!("{algo}: gamma must be in [0, 1]");
        }
        let bounds = Bounds::new(&setup.spec, algo, setup.device)?;
        let obs_dim = setup.spec.observation_space.flat_dim();
        let act_dim = bounds.dim();
        let shape = ActionShape::Continuous(act_dim);
        let seed = setup.run.seed;
        let replay = Replay::new(
            obs_dim,
            shape,
            &ReplayOptions {
                capacity: opts.buffer_size,
                gamma: opts.gamma,
                n_step: opts.n_step,
                prioritized_alpha: None,
                prioritized_eps: 1e-6,
            },
            seed.wrapping_add(0x5eed_0002),
        )?;
        let envs = setup.make_vec_env(opts.n_envs)?;
        let collector = Collector::new(envs, opts.n_step, opts.gamma, shape);
        Ok(Self {
            collector,
            replay,
            rng: rng::seeded(seed.wrapping_add(0x5eed_0001)),
            cpu: CpuNet::new(&actor.export_all()),
            obs_dim,
            act_dim,
            unit: vec![0.0; opts.n_envs * act_dim],
            env_actions: vec![0.0; opts.n_envs * act_dim],
            bounds,
            learning_starts: opts.learning_starts,
            train_freq: opts.train_freq,
            gradient_steps: opts.gradient_steps,
        })
    }

    /// The collection side's state for a bit-exact `--resume`: the replay memory's transitions
    /// (a tensor) and the rest (generators, environment journal, n-step windows).
    pub fn snapshot(&self) -> Result<(Tensor, DriverResume)> {
        let (rows, _, replay) = self.replay.snapshot()?;
        let (journal, windows) = self.collector.snapshot();
        Ok((
            rows,
            DriverResume {
                rng: self.rng.clone(),
                replay,
                journal,
                windows,
            },
        ))
    }

    /// Restores a [`Driver::snapshot`].
    pub fn restore(&mut self, rows: &Tensor, s: &DriverResume) -> Result<()> {
        self.replay.restore(rows, None, &s.replay)?;
        self.collector.restore(&s.journal, &s.windows)?;
        self.rng = s.rng.clone();
        Ok(())
    }

    /// The acting copy's raw outputs for copy `i`'s current observation.
    pub fn actor_outputs(&mut self, i: usize) -> Result<&[f32]> {
        let d = self.obs_dim;
        let obs = &self.collector.obs()[i * d..(i + 1) * d];
        self.cpu.forward(obs)
    }

    /// As [`Driver::actor_outputs`], copying the last hidden layer into `features` (gSDE's).
    pub fn actor_outputs_with_features(
        &mut self,
        i: usize,
        features: &mut Vec<f32>,
    ) -> Result<&[f32]> {
        let d = self.obs_dim;
        let obs = &self.collector.obs()[i * d..(i + 1) * d];
        self.cpu.forward_with_features(obs, features)
    }

    /// Collects one round: `train_freq` steps of every copy. Before `learning_starts` actions are
    /// uniform in `[-1, 1]`; after, `explore(self)` fills [`Driver::unit`]. `on_done(self, i)` is
    /// called for every copy whose episode ended. Returns the updates due for the round.
    pub fn collect(
        &mut self,
        ctx: &mut TrainCtx,
        mut explore: impl FnMut(&mut Self) -> Result<()>,
        mut on_done: impl FnMut(usize),
    ) -> Result<u64> {
        let start = ctx.steps;
        for _ in 0..self.train_freq {
            if ctx.steps < self.learning_starts {
                for u in self.unit.iter_mut() {
                    *u = rng::uniform_f64(&mut self.rng, -1.0, 1.0) as f32;
                }
            } else {
                explore(self)?;
            }
            self.bounds.to_env(&self.unit, &mut self.env_actions);
            self.collector
                .step(Actions::Continuous(&self.env_actions), &mut self.replay)?;
            ctx.record(&self.collector.envs)?;
            for i in 0..self.collector.envs.len() {
                if self.collector.envs.terminated()[i] || self.collector.envs.truncated()[i] {
                    on_done(i);
                }
            }
            if ctx.steps >= ctx.total_steps {
                break;
            }
        }
        if ctx.steps <= self.learning_starts {
            return Ok(0);
        }
        Ok(if self.gradient_steps < 0 {
            ctx.steps - start
        } else {
            self.gradient_steps as u64
        })
    }

    /// Refreshes the acting copy from `actor`.
    pub fn refresh(&mut self, actor: &ActorNet) {
        self.cpu.refresh(&actor.export_all());
    }

    /// The deterministic action for `obs`: `tanh` of the copy's first outputs, scaled to the box.
    pub fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        let a = self.act_dim;
        let out = self.cpu.forward(obs)?;
        let unit: Vec<f32> = out[..a].iter().map(|x| x.tanh()).collect();
        let mut v = vec![0.0; a];
        self.bounds.to_env(&unit, &mut v);
        Ok(OwnedAction::Continuous(v))
    }
}

/// Writes `(prefix, vs)` pairs to a safetensors checkpoint.
pub fn save_stores(stores: &[(&str, &nn::VarStore)], path: &std::path::Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = Vec::new();
    for (prefix, vs) in stores {
        let mut vars: Vec<_> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        named.extend(vars.into_iter().map(|(n, t)| (format!("{prefix}{n}"), t)));
    }
    Tensor::write_safetensors(&named, path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

/// The mean of a `[B]` tensor as `f64` (a device sync).
pub fn scalar(t: &Tensor) -> f64 {
    tch::no_grad(|| t.mean(Kind::Float).double_value(&[]))
}

/// A tensor's values on the CPU (for tests).
pub fn values(t: &Tensor) -> Vec<f32> {
    tensor_to_vec(t)
}

/// Helpers the continuous learners' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;

    use crate::train::config::{self, ResolvedConfig, RunOptions, Source};
    use crate::train::{Algorithm, Setup};

    /// A CPU setup of `env` for algorithm `algo`, one thread.
    pub fn setup(algo: &str, env: &str, seed: u64) -> Setup {
        let run = RunOptions {
            algo: algo.into(),
            env: env.into(),
            env_kwargs: Default::default(),
            seed,
            device: "cpu".into(),
            threads: 1,
            total_steps: 20_000,
            eval_every: 2000,
            eval_episodes: 20,
            stop_at_return: None,
            stop_at_hover: None,
            gym_packages: Vec::new(),
        };
        let spec = *crate::envs::make(env, &run.env_kwargs).unwrap().spec();
        Setup {
            run,
            device: tch::Device::Cpu,
            spec,
        }
    }

    /// The built-in `[env]` section of `A` with `sets` applied, resolved as the CLI does.
    pub fn resolved<A: Algorithm>(
        env: &str,
        seed: u64,
        sets: &[&str],
        stop: Option<f64>,
    ) -> ResolvedConfig {
        let src = Source::BuiltIn("test".into());
        let mut section = config::section::<A::Hyper>(A::CONFIG, &src, env).unwrap();
        for s in sets {
            config::apply_set::<A::Hyper>(&mut section, s).unwrap();
        }
        let (_, hyper, _) = config::resolve::<A::Hyper>(section, &src).unwrap();
        let mut run = setup(A::NAME, env, seed).run;
        run.stop_at_return = stop;
        ResolvedConfig { run, hyper }
    }

    /// A fresh temporary run directory.
    pub fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("picorl-cc-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// Trains `A` on Pendulum-v1 with its built-in config and seed `seed` until the mean return of
    /// 20 deterministic episodes (every 2,000 steps) reaches -200, within 20,000 steps; see
    /// [`solves`].
    pub fn solves_pendulum<A: Algorithm>(seed: u64) {
        solves::<A>("Pendulum-v1", seed, -200.0, 20_000, 2000);
    }

    /// Trains `A` on `env` with its built-in config and seed `seed` for at most `total_steps`,
    /// evaluating 20 deterministic episodes every `eval_every` steps, until the mean return
    /// reaches `threshold`; checks it does, that a reload of the run directory reproduces the
    /// last evaluation (the checkpoint holds the policy that solved).
    pub fn solves<A: Algorithm>(
        env: &str,
        seed: u64,
        threshold: f64,
        total_steps: u64,
        eval_every: u64,
    ) {
        let dir = temp_dir(&format!("{}-{env}-{seed}", A::NAME));
        let mut cfg = resolved::<A>(env, seed, &[], Some(threshold));
        cfg.run.total_steps = total_steps;
        cfg.run.eval_every = eval_every;
        let out = crate::train::run::<A>(&cfg, &dir, false, true).unwrap();
        let s = &out.summary;
        assert!(s["solved_at_step"].as_u64().is_some(), "not solved: {s}");
        let (mut agent, setup) = crate::cli::load_run::<A>(
            &dir,
            &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
        )
        .unwrap();
        let mut env = setup.make_env().unwrap();
        let res = crate::eval::evaluate(env.as_mut(), &mut agent, 10_000, 20).unwrap();
        assert_eq!(res.mean(), s["final_eval_mean"].as_f64().unwrap());
        assert!(res.mean() >= threshold, "{s}");
        eprintln!(
            "{} solved {} at step {} in {:.1} s of training",
            A::NAME,
            setup.run.env,
            s["solved_at_step"],
            s["solved_train_seconds"].as_f64().unwrap_or(f64::NAN)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(rewards: &[f32], discounts: &[f32]) -> Batch {
        let b = rewards.len() as i64;
        Batch {
            obs: Tensor::zeros([b, 1], (Kind::Float, Device::Cpu)),
            actions: Tensor::zeros([b, 1], (Kind::Float, Device::Cpu)),
            rewards: Tensor::from_slice(rewards),
            next_obs: Tensor::zeros([b, 1], (Kind::Float, Device::Cpu)),
            discounts: Tensor::from_slice(discounts),
            weights: Tensor::ones([b], (Kind::Float, Device::Cpu)),
            indices: (0..rewards.len()).collect(),
        }
    }

    #[test]
    fn twin_critic_target_by_hand() {
        // Three transitions: bootstrapped with γ = 0.9 (a mid-episode or truncated step), terminal
        // (discount 0), and a 2-step one (γ² = 0.81). Q'_1 = [3, 5, -2], Q'_2 = [4, 1, -1]:
        // min = [3, 1, -2]; y = [1 + 0.9·3, 2 + 0, 0.5 + 0.81·(-2)] = [3.7, 2, -1.12].
        let b = batch(&[1.0, 2.0, 0.5], &[0.9, 0.0, 0.81]);
        let q1 = Tensor::from_slice(&[3.0f32, 5.0, -2.0]);
        let q2 = Tensor::from_slice(&[4.0f32, 1.0, -1.0]);
        let y = values(&min_target(
            &b,
            &[q1.shallow_clone(), q2.shallow_clone()],
            None,
        ));
        for (g, w) in y.iter().zip([3.7f32, 2.0, -1.12]) {
            assert!((g - w).abs() < 1e-6, "{y:?}");
        }
        // SAC's soft target subtracts α log π(a'|s') = [0.5, 0.5, -1] from the minimum:
        // [1 + 0.9·2.5, 2, 0.5 + 0.81·(-1)] = [3.25, 2, -0.31].
        let ent = Tensor::from_slice(&[0.5f32, 0.5, -1.0]);
        let y = values(&min_target(&b, &[q1, q2], Some(&ent)));
        for (g, w) in y.iter().zip([3.25f32, 2.0, -0.31]) {
            assert!((g - w).abs() < 1e-6, "{y:?}");
        }
    }

    #[test]
    fn target_smoothing_noise_is_clipped() {
        // σ = 0.2, c = 0.5: ε = 10 → noise 2 clipped to 0.5, 0.9 + 0.5 = 1.4 → action clip 1;
        // ε = -10 → -0.5; ε = 0.1 → 0.02 (within the clip); ε = -4 → -0.8 → -0.5, -0.8 - 0.5 → -1.
        let a = Tensor::from_slice(&[0.9f32, 0.0, -0.5, -0.8]).view([4, 1]);
        let eps = Tensor::from_slice(&[10.0f32, -10.0, 0.1, -4.0]).view([4, 1]);
        let got = values(&smoothed_target_action(&a, &eps, 0.2, 0.5));
        for (g, w) in got.iter().zip([1.0f32, -0.5, -0.48, -1.0]) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn tanh_gaussian_log_prob_matches_the_direct_formula() {
        // log π(tanh u) = Σ_i [log N(u_i; μ_i, σ_i) - log(1 - tanh(u_i)²)], computed directly in f64.
        let u = [-3.0f64, -0.5, 0.0, 1.2, 2.5, 0.7];
        let mean = [-2.0f64, 0.0, 0.3, 1.0, 1.5, -0.2];
        let log_std = [0.1f64, -0.5, 0.0, 0.4, -1.0, 0.2];
        let direct: Vec<f64> = (0..3)
            .map(|r| {
                (0..2)
                    .map(|c| {
                        let k = r * 2 + c;
                        let s = log_std[k].exp();
                        let z = (u[k] - mean[k]) / s;
                        let log_n =
                            -0.5 * z * z - log_std[k] - 0.5 * (2.0 * std::f64::consts::PI).ln();
                        log_n - (1.0 - u[k].tanh().powi(2)).ln()
                    })
                    .sum()
            })
            .collect();
        let t = |v: &[f64]| {
            Tensor::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<_>>()).view([3, 2])
        };
        let got = values(&squashed_log_prob(&t(&u), &t(&mean), &t(&log_std)));
        for (g, w) in got.iter().zip(&direct) {
            assert!((f64::from(*g) - w).abs() < 1e-4, "{got:?} vs {direct:?}");
        }
        // Far in the tail the direct form overflows (1 - tanh(20)² rounds to 0 in f32), the
        // stable one gives log(1 - tanh²u) ≈ 2 log 2 - 2|u| = -38.61.
        let far = values(&log_one_minus_tanh_sq(&Tensor::from_slice(&[
            20.0f32, -20.0,
        ])));
        for g in far {
            assert!(
                (f64::from(g) - (2.0 * std::f64::consts::LN_2 - 40.0)).abs() < 1e-3,
                "{g}"
            );
        }
    }

    #[test]
    fn bounds_scale_both_ways() {
        let spec = *crate::envs::make("Pendulum-v1", &Default::default())
            .unwrap()
            .spec();
        let b = Bounds::new(&spec, "test", Device::Cpu).unwrap();
        let mut out = [0.0f32; 3];
        b.to_env(&[-1.0, 0.0, 0.5], &mut out);
        assert_eq!(out, [-2.0, 0.0, 1.0]);
        let back = values(&b.to_unit(&Tensor::from_slice(&out).view([3, 1])));
        assert_eq!(back, vec![-1.0, 0.0, 0.5]);
        let cartpole = *crate::envs::make("CartPole-v1", &Default::default())
            .unwrap()
            .spec();
        assert!(Bounds::new(&cartpole, "td3", Device::Cpu).is_err());
    }

    #[test]
    fn ornstein_uhlenbeck_noise_persists_and_resets() {
        let mut rng = rng::seeded(1);
        let mut n = Noise::new(NoiseKind::OrnsteinUhlenbeck, 0.5, 2);
        let mut u = [0.0f32; 2];
        n.apply(&mut rng, &mut u);
        assert!(n.state.iter().all(|&x| x != 0.0));
        n.reset(1, 1);
        assert!(n.state[0] != 0.0 && n.state[1] == 0.0);
    }
}
