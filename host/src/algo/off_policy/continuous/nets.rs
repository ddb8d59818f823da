//! The continuous learners' networks on either backend ([`crate::algo::backend`]): the critics
//! with their targets ([`QSet`]) and the actor with its optional target ([`Policy`]). Every loss
//! is stated by its gradient with respect to the networks' outputs, so the update is the same
//! text on the native learner and on libtorch.
//!
//! Checkpoint names are those of the libtorch-only learners before the backends
//! (`pi.pi.l0.weight`, `q.q1.l2.bias`, `q_target.…`, `pi_target.…`), so run directories trained
//! before them still load for `eval` and `export`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Result};
use picorl_core::rng::Pcg32;
use serde::{Deserialize, Serialize};

pub use crate::algo::backend::saved::{
    floats_under, layer_tensors, load_adam, load_layers, load_layers_from, name_layers,
    name_layers_from, save_adam,
};
use crate::algo::backend::{AdamConfig, AdamState, Backend, Layer, Net};
use crate::export::Activation;
use crate::export::{DenseExport, HeadExport, PolicyExport};
use crate::train::Setup;

/// The network shapes DDPG, TD3 and SAC share, flattened into their configs (the keys are
/// top-level keys of their sections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetShape {
    /// The actor's hidden layer sizes.
    pub actor_hidden: Vec<usize>,
    /// The actor's hidden activation: `relu` (exports to int8) or `tanh`.
    pub activation: Activation,
    /// The critics' hidden layer sizes (ReLU).
    pub critic_hidden: Vec<usize>,
}

impl Default for NetShape {
    fn default() -> Self {
        Self {
            actor_hidden: vec![64, 64],
            activation: Activation::Relu,
            critic_hidden: vec![64, 64],
        }
    }
}

impl NetShape {
    /// Checks the sizes and chooses the backend for the actor (`gaussian`: mean and log-std
    /// outputs) on `setup`'s spaces and the critics on `critic_obs` state values and the action,
    /// naming the learner `name` in errors; returns it with the generator the initial weights are
    /// drawn from (PyTorch's `Linear` default from the run's seed, actor first).
    pub fn prepare(
        &self,
        setup: &Setup,
        name: &str,
        gaussian: bool,
        critic_obs: usize,
    ) -> Result<(Backend, Pcg32)> {
        ensure!(
            !self.actor_hidden.contains(&0) && !self.critic_hidden.contains(&0),
            "{name}: hidden sizes must be positive"
        );
        let obs_dim = setup.spec.observation_space.flat_dim();
        let act_dim = setup.spec.action_space.flat_dim();
        let widths: Vec<usize> = actor_dims(obs_dim, act_dim, &self.actor_hidden, gaussian)
            .into_iter()
            .chain(critic_dims(critic_obs, act_dim, &self.critic_hidden))
            .collect();
        let backend = Backend::choose(setup.run.backend, setup.device, &widths, name)?;
        Ok((
            backend,
            picorl_core::rng::seeded(setup.run.seed.wrapping_add(0x5eed_0004)),
        ))
    }

    /// `n` critics of this shape on `backend`, Adam at `lr`, initialized from `rng` (after the
    /// actor).
    pub fn critics(
        &self,
        backend: Backend,
        (obs_dim, act_dim): (usize, usize),
        n: usize,
        lr: f64,
        rng: &mut Pcg32,
    ) -> Result<QSet> {
        QSet::new(backend, obs_dim, act_dim, &self.critic_hidden, n, lr, rng)
    }
}

/// What the critics read of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CriticInput {
    /// The observation, as the actor.
    #[default]
    Observation,
    /// The environment's privileged observation ([`picorl_core::env::Env::write_privileged`]):
    /// an asymmetric actor-critic (Pinto et al. 2018). The actor, and so the exported policy,
    /// still reads only the observation.
    Privileged,
}

/// The exports of an actor: every output row for the acting copy, or the deterministic policy.
pub trait ActorExport {
    /// The actor's layers as a policy, with only the mean rows when `mean_only`, the action bounds
    /// `low`/`high` (empty: none).
    fn export_rows(&self, mean_only: bool, low: Vec<f32>, high: Vec<f32>) -> PolicyExport;

    /// Every output layer (for the acting copy, which reads log σ too).
    fn export_all(&self) -> PolicyExport {
        self.export_rows(false, Vec::new(), Vec::new())
    }

    /// The deterministic policy: `tanh` of the mean scaled to `[low, high]`.
    fn export(&self, low: &[f32], high: &[f32]) -> PolicyExport {
        self.export_rows(true, low.to_vec(), high.to_vec())
    }
}

/// `n` Q-networks over `[state, action ∈ [-1, 1]]`, their Polyak targets, and the concatenation
/// buffer their input is built in.
#[derive(Debug)]
pub struct QSet {
    /// The online critics.
    pub nets: Vec<Net>,
    /// Their targets.
    pub targets: Vec<Net>,
    obs_dim: usize,
    act_dim: usize,
    x: Vec<f32>,
    q: Vec<Vec<f32>>,
    d_out: Vec<f32>,
}

impl QSet {
    /// `n` critics with hidden layers `hidden` (ReLU) and Adam at `lr`, initialized from `rng`;
    /// the targets start as copies.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        backend: Backend,
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        n: usize,
        lr: f64,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        let dims = critic_dims(obs_dim, act_dim, hidden);
        let adam = AdamConfig::pytorch(lr);
        let nets = (0..n)
            .map(|_| Net::new(backend, &dims, Activation::Relu, Some(adam), rng))
            .collect::<Result<Vec<_>>>()?;
        let targets = nets
            .iter()
            .map(Net::target_copy)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            nets,
            targets,
            obs_dim,
            act_dim,
            x: Vec::new(),
            q: vec![Vec::new(); n],
            d_out: Vec::new(),
        })
    }

    /// `[obs, unit]` row by row into the input buffer.
    fn join(&mut self, obs: &[f32], unit: &[f32], rows: usize) {
        let (d, a) = (self.obs_dim, self.act_dim);
        self.x.clear();
        for r in 0..rows {
            self.x.extend_from_slice(&obs[r * d..(r + 1) * d]);
            self.x.extend_from_slice(&unit[r * a..(r + 1) * a]);
        }
    }

    /// `min_i Q'_i(s, a)` over the target critics, one value per row.
    pub fn target_min(&mut self, obs: &[f32], unit: &[f32], rows: usize) -> Result<Vec<f32>> {
        self.join(obs, unit, rows);
        let mut out: Vec<f32> = Vec::new();
        for t in &mut self.targets {
            let q = t.forward(&self.x, rows)?;
            if out.is_empty() {
                out.extend_from_slice(q);
            } else {
                for (o, &v) in out.iter_mut().zip(q) {
                    *o = o.min(v);
                }
            }
        }
        Ok(out)
    }

    /// One Adam step of every critic on `Σ_i mean_b (Q_i(s, a) − y)²`; returns the loss and the
    /// first critic's mean `Q`.
    pub fn train(&mut self, obs: &[f32], unit: &[f32], y: &[f32]) -> Result<(f64, f64)> {
        let rows = y.len();
        self.join(obs, unit, rows);
        let scale = 2.0 / rows as f32;
        let (mut loss, mut q0) = (0.0f64, 0.0f64);
        for (i, net) in self.nets.iter_mut().enumerate() {
            let q = net.forward(&self.x, rows)?;
            self.d_out.clear();
            let mut sq = 0.0f64;
            for (&q, &y) in q.iter().zip(y) {
                let e = q - y;
                sq += f64::from(e * e);
                self.d_out.push(scale * e);
            }
            if i == 0 {
                q0 = q.iter().map(|&v| f64::from(v)).sum::<f64>() / rows as f64;
            }
            loss += sq / rows as f64;
            net.backward(&self.d_out, true, false)?;
            net.step()?;
        }
        Ok((loss, q0))
    }

    /// The first `count` online critics' `Q(s, a)` for `rows` rows, kept for
    /// [`QSet::action_grad`].
    pub fn values(
        &mut self,
        obs: &[f32],
        unit: &[f32],
        rows: usize,
        count: usize,
    ) -> Result<&[Vec<f32>]> {
        self.join(obs, unit, rows);
        let count = count.min(self.nets.len());
        for (net, q) in self.nets.iter_mut().zip(self.q.iter_mut()).take(count) {
            q.clear();
            q.extend_from_slice(net.forward(&self.x, rows)?);
        }
        Ok(&self.q[..count])
    }

    /// After [`QSet::values`]: `Σ_i ∂(d_q[i] · Q_i)/∂a` per row (`rows × act_dim`), the critics'
    /// parameters untouched; critics whose `d_q` is `None` are skipped.
    pub fn action_grad(&mut self, d_q: &[Option<Vec<f32>>]) -> Result<Vec<f32>> {
        let (d, a) = (self.obs_dim, self.act_dim);
        let mut grad: Vec<f32> = Vec::new();
        for (net, dq) in self.nets.iter_mut().zip(d_q) {
            let Some(dq) = dq else { continue };
            let d_in = net.backward(dq, false, true)?;
            let rows = dq.len();
            if grad.is_empty() {
                grad = vec![0.0; rows * a];
            }
            for r in 0..rows {
                for k in 0..a {
                    grad[r * a + k] += d_in[r * (d + a) + d + k];
                }
            }
        }
        Ok(grad)
    }

    /// Polyak update of every target with `tau`.
    pub fn update_targets(&mut self, tau: f64) -> Result<()> {
        for (t, o) in self.targets.iter_mut().zip(&self.nets) {
            t.polyak_from(o, tau as f32)?;
        }
        Ok(())
    }
}

/// The critics' widths: `[obs + act, hidden…, 1]`.
pub fn critic_dims(obs_dim: usize, act_dim: usize, hidden: &[usize]) -> Vec<usize> {
    let mut dims = vec![obs_dim + act_dim];
    dims.extend_from_slice(hidden);
    dims.push(1);
    dims
}

/// The actor: `a` pre-tanh outputs (deterministic) or `2a` (a Gaussian's pre-tanh mean, then its
/// log σ), with an optional Polyak target (TD3, DDPG).
#[derive(Debug)]
pub struct Policy {
    /// The online network.
    pub net: Net,
    /// Its target copy.
    pub target: Option<Net>,
    /// Action components.
    pub act_dim: usize,
    /// Whether the outputs carry log σ.
    pub gaussian: bool,
}

impl Policy {
    /// An actor `obs_dim → hidden… → act_dim` (or `2 act_dim` when `gaussian`) with Adam at `lr`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        backend: Backend,
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        activation: Activation,
        gaussian: bool,
        with_target: bool,
        lr: f64,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        let dims = actor_dims(obs_dim, act_dim, hidden, gaussian);
        let adam = AdamConfig::pytorch(lr);
        let net = Net::new(backend, &dims, activation, Some(adam), rng)?;
        let target = if with_target {
            Some(net.target_copy()?)
        } else {
            None
        };
        Ok(Self {
            net,
            target,
            act_dim,
            gaussian,
        })
    }

    /// Polyak update of the target, if any.
    pub fn update_target(&mut self, tau: f64) -> Result<()> {
        if let Some(t) = &mut self.target {
            t.polyak_from(&self.net, tau as f32)?;
        }
        Ok(())
    }
}

impl ActorExport for Policy {
    fn export_rows(&self, mean_only: bool, low: Vec<f32>, high: Vec<f32>) -> PolicyExport {
        let keep = (mean_only && self.gaussian).then_some(self.act_dim);
        export_nets(&[&self.net], keep, low, high)
    }
}

/// The layers of `nets` in order (a body, then its head) as a policy with a `tanh` head scaled to
/// `[low, high]`; `keep_outputs` truncates the last layer to its first outputs (a Gaussian's
/// means without their log σ).
pub fn export_nets(
    nets: &[&Net],
    keep_outputs: Option<usize>,
    low: Vec<f32>,
    high: Vec<f32>,
) -> PolicyExport {
    let mut layers: Vec<DenseExport> = nets
        .iter()
        .flat_map(|net| {
            let dims = net.dims().to_vec();
            net.layers()
                .into_iter()
                .enumerate()
                .map(move |(l, layer)| DenseExport {
                    weights: layer.weight,
                    bias: layer.bias,
                    inputs: dims[l],
                    outputs: dims[l + 1],
                })
        })
        .collect();
    if let (Some(keep), Some(last)) = (keep_outputs, layers.last_mut()) {
        last.weights.truncate(keep * last.inputs);
        last.bias.truncate(keep);
        last.outputs = keep;
    }
    PolicyExport {
        layers,
        activation: nets.first().map_or(Activation::Relu, |n| n.activation()),
        head: HeadExport::TanhScale { low, high },
        obs_norm: None,
    }
}

/// The actor's widths: `[obs, hidden…, a or 2a]`.
pub fn actor_dims(obs_dim: usize, act_dim: usize, hidden: &[usize], gaussian: bool) -> Vec<usize> {
    let mut dims = vec![obs_dim];
    dims.extend_from_slice(hidden);
    dims.push(if gaussian { 2 * act_dim } else { act_dim });
    dims
}

/// What the continuous learners' network groups (critics, actors) give the learner's state: their
/// layers under their checkpoint names, any other tensor of the weights file, and their Adam
/// states. [`net_group_state!`] turns it into the [`Weights`] and [`Part`] the declaration uses.
pub trait NetGroup {
    /// The layers under their checkpoint names.
    fn named_layers(&self, out: &mut Vec<(String, Layer)>);
    /// Other tensors of the weights file: name, shape, values.
    fn extra(&self) -> Option<(&'static str, [usize; 2], &[f32])> {
        None
    }
    /// Loads the layers (and extras) from the weights file's tensors by name.
    fn load_named(&mut self, saved: &BTreeMap<String, Vec<f32>>, path: &Path) -> Result<()>;
    /// The Adam states, one per optimized network or parameter.
    fn adam_states(&self) -> Vec<AdamState>;
    /// Restores [`NetGroup::adam_states`].
    fn set_adam_states(&mut self, s: &[AdamState]) -> Result<()>;
}

/// [`Weights`] and [`Part`] for a [`NetGroup`].
macro_rules! net_group_state {
    ($($ty:ty),*) => {$(
        impl $crate::algo::state::Weights for $ty {
            fn save(
                &self,
                prefix: &str,
                out: &mut Vec<(String, tch::Tensor)>,
            ) -> anyhow::Result<()> {
                use $crate::algo::off_policy::continuous::nets::{layer_tensors, NetGroup};
                let mut layers = Vec::new();
                NetGroup::named_layers(self, &mut layers);
                layer_tensors(prefix, &layers, out);
                if let Some((name, [h, a], v)) = NetGroup::extra(self) {
                    out.push((
                        format!("{prefix}{name}"),
                        tch::Tensor::from_slice(v).view([h as i64, a as i64]),
                    ));
                }
                Ok(())
            }

            fn load(
                &mut self,
                prefix: &str,
                saved: &[(String, tch::Tensor)],
                path: &std::path::Path,
            ) -> anyhow::Result<()> {
                use $crate::algo::off_policy::continuous::nets::{floats_under, NetGroup};
                NetGroup::load_named(self, &floats_under(prefix, saved), path)
            }
        }

        impl $crate::algo::state::Part for $ty {
            fn save(
                &self,
                name: &str,
                out: &mut $crate::algo::state::Saving,
            ) -> anyhow::Result<()> {
                use $crate::algo::off_policy::continuous::nets::{save_adam, NetGroup};
                save_adam(&NetGroup::adam_states(self), name, out)
            }

            fn load(
                &mut self,
                name: &str,
                from: &$crate::algo::state::Loading,
            ) -> anyhow::Result<()> {
                use $crate::algo::off_policy::continuous::nets::{load_adam, NetGroup};
                let n = NetGroup::adam_states(self).len();
                let s = load_adam(n, name, from)?;
                NetGroup::set_adam_states(self, &s)
            }
        }
    )*};
}
pub(crate) use net_group_state;

impl NetGroup for QSet {
    fn named_layers(&self, out: &mut Vec<(String, Layer)>) {
        for (prefix, set) in [("q.", &self.nets), ("q_target.", &self.targets)] {
            for (i, n) in set.iter().enumerate() {
                name_layers(&format!("{prefix}q{i}"), n, out);
            }
        }
    }

    fn load_named(&mut self, saved: &BTreeMap<String, Vec<f32>>, path: &Path) -> Result<()> {
        for (prefix, set) in [("q.", &mut self.nets), ("q_target.", &mut self.targets)] {
            for (i, n) in set.iter_mut().enumerate() {
                load_layers(&format!("{prefix}q{i}"), n, saved, path)?;
            }
        }
        Ok(())
    }

    fn adam_states(&self) -> Vec<AdamState> {
        self.nets.iter().filter_map(Net::adam_state).collect()
    }

    fn set_adam_states(&mut self, s: &[AdamState]) -> Result<()> {
        if s.len() != self.nets.len() {
            bail!(
                "{} critic optimizers saved for {}",
                s.len(),
                self.nets.len()
            );
        }
        for (n, s) in self.nets.iter_mut().zip(s) {
            n.set_adam_state(s)?;
        }
        Ok(())
    }
}

impl NetGroup for Policy {
    fn named_layers(&self, out: &mut Vec<(String, Layer)>) {
        name_layers("pi.pi", &self.net, out);
        if let Some(t) = &self.target {
            name_layers("pi_target.pi", t, out);
        }
    }

    fn load_named(&mut self, saved: &BTreeMap<String, Vec<f32>>, path: &Path) -> Result<()> {
        load_layers("pi.pi", &mut self.net, saved, path)?;
        if let Some(t) = &mut self.target {
            load_layers("pi_target.pi", t, saved, path)?;
        }
        Ok(())
    }

    fn adam_states(&self) -> Vec<AdamState> {
        self.net.adam_state().into_iter().collect()
    }

    fn set_adam_states(&mut self, s: &[AdamState]) -> Result<()> {
        match s {
            [one] => self.net.set_adam_state(one),
            _ => bail!("{} actor optimizer states for one network", s.len()),
        }
    }
}

net_group_state!(QSet, Policy);
