//! What the continuous-control learners (DDPG, TD3, SAC) share, on top of
//! [`off_policy`](super)'s replay and collector:
//!
//! - **Actions in `[-1, 1]`.** The actor's output goes through `tanh`; [`Bounds`] rescales it to
//!   the environment's box, `low + (a + 1) / 2 · (high - low)` (what `picorl-core`'s
//!   `HeadSpec::ContinuousTanh` computes on the controller). The replay stores actions in the
//!   environment's units (the collector stores what the environment was given); critics read them
//!   mapped back to `[-1, 1]`, so one set of hyper-parameters fits any bounds.
//! - **Networks on either backend** ([`nets`]): the critics read `[state, action]` concatenated;
//!   there are `n` of them (2 for TD3 and SAC, 1 for DDPG) with Polyak-averaged targets
//!   ([`nets::QSet`]); the deterministic actor ([`nets::Policy`]) has `a` pre-tanh outputs and
//!   exports with `HeadExport::TanhScale`; SAC's squashed Gaussian, gSDE included, is
//!   [`squashed::SquashedActor`]. Every loss is stated by its gradient with respect to the
//!   networks' outputs, so one text trains on `picorl_core::learn` and on libtorch
//!   ([`crate::algo::backend`]).
//! - **The loop** ([`Driver`]): `train_freq` steps of every copy per round, uniformly random actions
//!   before `learning_starts`, then the algorithm's exploratory action; `gradient_steps` updates
//!   per round (-1: one per environment step collected). Acting goes through a `picorl-core` copy
//!   of the actor ([`CpuNet`]), refreshed whenever the actor changes.
//! - **Truncation**: Pendulum-v1 only truncates (200 steps) and is bootstrapped from its final
//!   observation there; the collector stores `terminated` only for terminal states.

use anyhow::{bail, Result};
use picorl_core::env::{EnvSpec, Space};
use picorl_core::replay::ActionShape;
use picorl_core::rng;

use crate::algo::cpu_net::CpuNet;
use crate::algo::off_policy::driver::{Collection, CollectionOptions};
use crate::envs::eval::OwnedAction;
use crate::envs::vec_env::Actions;
use crate::export::PolicyExport;
use crate::train::{Setup, TrainCtx};

pub mod nets;
mod noise;
pub mod squashed;

pub use noise::{Noise, NoiseKind};

/// `Actor` for continuous learners (DDPG/TD3, SAC): the driver's deterministic action.
macro_rules! continuous_actor {
    ($($t:ty),*) => {$(
        impl crate::envs::eval::Actor for $t {
            fn act(&mut self, obs: &[f32]) -> anyhow::Result<crate::envs::eval::OwnedAction> {
                self.driver.act(obs)
            }
        }
    )*};
}
pub(crate) use continuous_actor;

/// The [`Algorithm`](crate::train::Algorithm) methods every continuous learner answers from its
/// declared parts (`learner_state!`), its `actor` and its `driver`: the weights file (the
/// driver's acting copy refreshed on load), the export of the deterministic actor within the
/// action bounds, and the resume state.
macro_rules! continuous_learner_methods {
    () => {
        fn save(&self, path: &std::path::Path) -> anyhow::Result<()> {
            crate::algo::state::save_weights(self, path)
        }

        fn load(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
            crate::algo::state::load_weights(self, path)?;
            self.driver.refresh(&self.actor.export_all());
            Ok(())
        }

        fn export(&self) -> anyhow::Result<crate::export::PolicyExport> {
            let bounds = &self.driver.bounds;
            Ok(self.actor.export(&bounds.low, &bounds.high))
        }

        crate::resume_in_parts!();
    };
}
pub(crate) use continuous_learner_methods;

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
}

impl Bounds {
    /// The action box of `spec`; fails for a discrete or unbounded action space.
    pub fn new(spec: &EnvSpec, algo: &str) -> Result<Self> {
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
        Ok(Self { low, high })
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
}

/// One minibatch as owned host rows, actions mapped to `[-1, 1]` (reused from update to update).
#[derive(Debug, Default)]
pub struct Rows {
    /// Observations, `B × obs_dim`.
    pub obs: Vec<f32>,
    /// Actions in `[-1, 1]`, `B × act_dim`.
    pub unit: Vec<f32>,
    /// Next observations.
    pub next_obs: Vec<f32>,
    /// Summed rewards.
    pub rewards: Vec<f32>,
    /// `γ^k`, or 0 for terminal transitions.
    pub discounts: Vec<f32>,
    /// With an asymmetric critic, the privileged observations, `B × privileged_dim` (else empty:
    /// the critics read `obs`).
    pub privileged: Vec<f32>,
    /// The next privileged observations.
    pub next_privileged: Vec<f32>,
}

impl Rows {
    /// What the critics read of the states: the privileged observations, or the observations.
    pub fn critic_obs(&self) -> &[f32] {
        if self.privileged.is_empty() {
            &self.obs
        } else {
            &self.privileged
        }
    }

    /// What the critics read of the next states.
    pub fn next_critic_obs(&self) -> &[f32] {
        if self.next_privileged.is_empty() {
            &self.next_obs
        } else {
            &self.next_privileged
        }
    }
}

/// Rows of `row` values split after their first `d` into `first` and `rest` (both cleared).
fn split_rows(src: &[f32], row: usize, d: usize, first: &mut Vec<f32>, rest: &mut Vec<f32>) {
    first.clear();
    rest.clear();
    for r in src.chunks_exact(row) {
        first.extend_from_slice(&r[..d]);
        rest.extend_from_slice(&r[d..]);
    }
}

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
    /// Observation components (what the actor reads).
    pub obs_dim: usize,
    /// Privileged-observation components after them in every stored row (0: none).
    pub privileged_dim: usize,
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
        let bounds = Bounds::new(&setup.spec, algo)?;
        let obs_dim = setup.spec.observation_space.flat_dim();
        let act_dim = bounds.dim();
        let col = Collection::new(setup, algo, opts, ActionShape::Continuous(act_dim))?;
        let privileged_dim = col.collector.envs.obs_dim() - obs_dim;
        Ok(Self {
            col,
            cpu: CpuNet::new(actor),
            obs_dim,
            privileged_dim,
            act_dim,
            unit: vec![0.0; opts.n_envs * act_dim],
            env_actions: vec![0.0; opts.n_envs * act_dim],
            bounds,
        })
    }

    /// Draws `n` transitions uniformly from the replay into `out`.
    pub fn sample(&mut self, n: usize, out: &mut Rows) -> Result<()> {
        let b = self.col.replay.sample_rows(n)?;
        for (dst, src) in [
            (&mut out.rewards, b.rewards),
            (&mut out.discounts, b.discounts),
        ] {
            dst.clear();
            dst.extend_from_slice(src);
        }
        // Without a privileged observation the second parts stay empty.
        let (d, row) = (self.obs_dim, self.obs_dim + self.privileged_dim);
        split_rows(b.obs, row, d, &mut out.obs, &mut out.privileged);
        split_rows(
            b.next_obs,
            row,
            d,
            &mut out.next_obs,
            &mut out.next_privileged,
        );
        self.bounds.to_unit_rows(b.actions, &mut out.unit);
        Ok(())
    }

    /// The acting copy's raw outputs for copy `i`'s current observation.
    pub fn actor_outputs(&mut self, i: usize) -> Result<&[f32]> {
        let (d, row) = (self.obs_dim, self.obs_dim + self.privileged_dim);
        let obs = &self.col.collector.obs()[i * row..i * row + d];
        self.cpu.forward(obs)
    }

    /// As [`Driver::actor_outputs`], copying the last hidden layer into `features` (gSDE's).
    pub fn actor_outputs_with_features(
        &mut self,
        i: usize,
        features: &mut Vec<f32>,
    ) -> Result<&[f32]> {
        let (d, row) = (self.obs_dim, self.obs_dim + self.privileged_dim);
        let obs = &self.col.collector.obs()[i * row..i * row + d];
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

    /// The end of a round of collection and updates: the acting copy refreshed from `actor` when
    /// an update changed it, then the round's metrics: the updates' losses (`logged`, drained)
    /// into their means, `values` (name, value) and the counters `updates` and `replay_size`.
    pub fn end_round(
        &mut self,
        ctx: &mut TrainCtx,
        actor: Option<PolicyExport>,
        logged: &mut Vec<(&'static str, f64)>,
        values: &[(&str, f64)],
        updates: u64,
    ) -> Result<()> {
        if let Some(actor) = actor {
            self.refresh(&actor);
        }
        for (column, value) in logged.drain(..) {
            ctx.log_mean(column, value)?;
        }
        for &(column, value) in values {
            ctx.log_value(column, value)?;
        }
        ctx.log_value("updates", updates as f64)?;
        ctx.log_value("replay_size", self.col.replay.len() as f64)
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

/// Helpers the continuous learners' tests share.
#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
