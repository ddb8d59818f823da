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
//!   [`crate::algo::on_policy::actor_critic::SdeNoise`]).
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
use tch::{nn, Device, Kind, Tensor};

use crate::algo::cpu_net::CpuNet;
use crate::algo::nets::{tensor_to_vec, Activation, Mlp, MlpInit};
use crate::algo::off_policy::driver::{Collection, CollectionOptions, CollectionResume};
use crate::algo::off_policy::replay::Batch;
use crate::algo::on_policy::actor_critic::sde_marginal_log_std;
use crate::algo::optim::{flatten_vars, FlatAdam};
use crate::algo::target::TargetSync;
use crate::envs::eval::OwnedAction;
use crate::envs::vec_env::Actions;
use crate::export::{DenseExport, HeadExport, PolicyExport};
use crate::train::{Setup, TrainCtx};

pub mod nets;
mod noise;

pub use noise::{Noise, NoiseKind};

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

    /// Environment action rows mapped to `[-1, 1]` into `out`.
    pub fn to_unit_rows(&self, actions: &[f32], out: &mut Vec<f32>) {
        let d = self.dim();
        out.clear();
        out.extend(actions.iter().enumerate().map(|(i, &x)| {
            let (l, h) = (self.low[i % d], self.high[i % d]);
            (x - l) / ((h - l) / 2.0) - 1.0
        }));
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
    /// ([`crate::algo::on_policy::actor_critic::SdeNoise::draw`]).
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

/// The part of a [`Driver`]'s resume state that is not a tensor.
pub type DriverResume = CollectionResume;

/// The loop's options.
pub type DriverOptions = CollectionOptions;

/// The continuous learners' side of the off-policy driver ([`Collection`]): actions in `[-1, 1]`
/// mapped to the box, and the acting copy of the actor. Shared by DDPG, TD3 and SAC.
#[derive(Debug)]
pub struct Driver {
    /// The environments, replay and exploration generator, as every off-policy learner's.
    pub col: Collection,
    /// The action box.
    pub bounds: Bounds,
    /// The acting copy of the actor (all outputs).
    pub cpu: CpuNet,
    /// Observation components.
    pub obs_dim: usize,
    /// Action components.
    pub act_dim: usize,
    /// The actions of the current step in `[-1, 1]`, one row per copy.
    pub unit: Vec<f32>,
    env_actions: Vec<f32>,
}

impl Driver {
    /// Environments, replay and the acting copy of `actor` for `setup`.
    pub fn new(
        setup: &Setup,
        algo: &str,
        opts: &DriverOptions,
        actor: &PolicyExport,
    ) -> Result<Self> {
        let bounds = Bounds::new(&setup.spec, algo, setup.device)?;
        let obs_dim = setup.spec.observation_space.flat_dim();
        let act_dim = bounds.dim();
        let col = Collection::new(setup, algo, opts, ActionShape::Continuous(act_dim))?;
        Ok(Self {
            col,
            cpu: CpuNet::new(actor),
            obs_dim,
            act_dim,
            unit: vec![0.0; opts.n_envs * act_dim],
            env_actions: vec![0.0; opts.n_envs * act_dim],
            bounds,
        })
    }

    /// The collection side's state for a bit-exact `--resume`: the replay memory's transitions
    /// (a tensor) and the rest (generators, environment journal, n-step windows).
    pub fn snapshot(&self) -> Result<(Tensor, DriverResume)> {
        let (rows, _, s) = self.col.snapshot()?;
        Ok((rows, s))
    }

    /// Restores a [`Driver::snapshot`].
    pub fn restore(&mut self, rows: &Tensor, s: &DriverResume) -> Result<()> {
        self.col.restore(rows, None, s)
    }

    /// The acting copy's raw outputs for copy `i`'s current observation.
    pub fn actor_outputs(&mut self, i: usize) -> Result<&[f32]> {
        let d = self.obs_dim;
        let obs = &self.col.collector.obs()[i * d..(i + 1) * d];
        self.cpu.forward(obs)
    }

    /// As [`Driver::actor_outputs`], copying the last hidden layer into `features` (gSDE's).
    pub fn actor_outputs_with_features(
        &mut self,
        i: usize,
        features: &mut Vec<f32>,
    ) -> Result<&[f32]> {
        let d = self.obs_dim;
        let obs = &self.col.collector.obs()[i * d..(i + 1) * d];
        self.cpu.forward_with_features(obs, features)
    }

    /// Collects one round ([`Collection::round`]). Before `learning_starts` actions are uniform
    /// in `[-1, 1]`; after, `explore(self)` fills [`Driver::unit`]. `on_done(i)` is called for
    /// every copy whose episode ended. Returns the updates due for the round.
    pub fn collect(
        &mut self,
        ctx: &mut TrainCtx,
        mut explore: impl FnMut(&mut Self) -> Result<()>,
        mut on_done: impl FnMut(usize),
    ) -> Result<u64> {
        Collection::round(
            self,
            ctx,
            |d| &mut d.col,
            |d, ctx| {
                if d.col.learning(ctx.steps) {
                    explore(d)?;
                } else {
                    for u in d.unit.iter_mut() {
                        *u = rng::uniform_f64(&mut d.col.rng, -1.0, 1.0) as f32;
                    }
                }
                d.bounds.to_env(&d.unit, &mut d.env_actions);
                d.col.step(Actions::Continuous(&d.env_actions), ctx)?;
                let envs = &d.col.collector.envs;
                for i in 0..envs.len() {
                    if envs.terminated()[i] || envs.truncated()[i] {
                        on_done(i);
                    }
                }
                Ok(())
            },
        )
    }

    /// Refreshes the acting copy from the actor's export (every output layer).
    pub fn refresh(&mut self, actor: &PolicyExport) {
        self.cpu.refresh(actor);
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
pub(crate) mod testing;

#[cfg(test)]
mod tests;
