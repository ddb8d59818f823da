//! The on-policy base, written once (as stable-baselines3's `OnPolicyAlgorithm`): what REINFORCE,
//! A2C and PPO hold besides their hyper-parameters ([`PgCore`]: the actor-critic, its optimizer
//! and the learner's generator), and the learner over vectorized rollouts that A2C and PPO are
//! ([`OnPolicy`]): it builds the environments, collects a rollout of `n_steps` per copy, saves,
//! loads, exports and resumes; the algorithm brings only its networks' shape, its optimizer and
//! its update ([`RolloutUpdate`]).
//!
//! Their state is declared once as a list of parts ([`crate::algo::state`]): [`PgCore`] is one
//! part (its weights, optimizer, generator and observation statistics) of every learner's list.
//! A checkpoint of one of them holds, besides the weights ([`ActorCritic`]'s names), under the
//! algorithm's name as prefix: the optimizers' moments (`adam{i}_m`, `adam{i}_v`: the policy's
//! body, its head, the value network, the log-std; RMSprop's `m` is empty), and as JSON `rng`,
//! the action generator (which also shuffles PPO's minibatches), `adam_t`, the step counts,
//! `obs_norm`, the observation statistics in `f64`, `journal`, the environments' journal (their
//! seeded resets and every action since, replayed on resume), and for A2C and PPO
//! `reward_norm`. Everything else a next iteration reads is either in the training loop's state
//! (steps, hence the schedules' progress) or rebuilt at the start of every iteration (gSDE's
//! exploration matrices are redrawn at the start of every rollout, from the saved generator).

use std::fmt::Debug;
use std::path::Path;

use anyhow::{bail, Result};
use picorl_core::rng::Pcg32;
use serde::{de::DeserializeOwned, Serialize};
use tch::Tensor;

use super::actor_critic::{ActorCritic, NetOptions};
use super::options::PgOptions;
use super::rollout::{collect, Rollout};
use super::running_norm::RewardNorm;
use crate::algo::backend::{Backend, Optimizer};
use crate::algo::state::{Loading, Part, Saving, Weights};
use crate::envs::eval::{Actor, OwnedAction};
use crate::envs::vec_env::VecEnv;
use crate::export::Activation;
use crate::export::PolicyExport;
use crate::train::{Algorithm, Setup, TrainCtx};

/// The parts every policy-gradient learner holds.
#[derive(Debug)]
pub struct PgCore {
    /// The policy and value networks with their optimizers.
    pub ac: ActorCritic,
    /// The learner's own generator: action draws and minibatch shuffles.
    pub rng: Pcg32,
}

impl PgCore {
    /// The networks `opts` describe for `setup`'s environment, on the backend the run chooses
    /// for them, optimized by `opt`, with the generator seeded from the run's seed and `salt`.
    /// The initial weights come from a stream of their own, so that both backends start alike.
    pub fn new(
        setup: &Setup,
        algo: &str,
        opts: &NetOptions,
        vf_activation: Activation,
        opt: Optimizer,
        salt: u64,
    ) -> Result<Self> {
        let obs_dim = setup.spec.observation_space.flat_dim();
        let outputs =
            super::actor_critic::ActionKind::from_space(&setup.spec.action_space).outputs();
        let widths = ActorCritic::dims(obs_dim, &opts.hidden, outputs);
        let backend = Backend::choose(setup.run.backend, setup.device, &widths, algo)?;
        let mut init = picorl_core::rng::seeded(setup.run.seed.wrapping_add(0x5eed_0005));
        let ac = ActorCritic::new(&setup.spec, backend, opts, vf_activation, opt, &mut init)?;
        Ok(Self {
            ac,
            rng: picorl_core::rng::seeded(setup.run.seed ^ salt),
        })
    }

    /// The deterministic action.
    pub fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        self.ac.act_deterministic(obs)
    }

    /// The deterministic policy for `picorl export`.
    pub fn export(&self) -> PolicyExport {
        self.ac.export()
    }
}

/// The weights file: the actor-critic's.
impl Weights for PgCore {
    fn save(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) -> Result<()> {
        Weights::save(&self.ac, prefix, out)
    }

    fn load(&mut self, prefix: &str, saved: &[(String, Tensor)], path: &Path) -> Result<()> {
        Weights::load(&mut self.ac, prefix, saved, path)
    }
}

/// The rest: the optimizers' moments, the generator (`rng`) and the observation statistics.
impl Part for PgCore {
    fn save(&self, name: &str, out: &mut Saving) -> Result<()> {
        out.json(&format!("{name}rng"), &self.rng)?;
        Part::save(&self.ac, name, out)
    }

    fn load(&mut self, name: &str, from: &Loading) -> Result<()> {
        self.rng = from.json(&format!("{name}rng"))?;
        Part::load(&mut self.ac, name, from)
    }
}

/// The [`Algorithm`] methods every policy-gradient learner answers from its declared parts and
/// its [`PgCore`] (`self.core`): saving and loading the weights, the export and the resume
/// state.
macro_rules! pg_learner_methods {
    () => {
        fn save(&self, path: &std::path::Path) -> anyhow::Result<()> {
            crate::algo::state::save_weights(self, path)
        }

        fn load(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
            crate::algo::state::load_weights(self, path)
        }

        fn export(&self) -> anyhow::Result<crate::export::PolicyExport> {
            Ok(self.core.export())
        }

        crate::resume_in_parts!();
    };
}
pub(crate) use pg_learner_methods;

/// The rollout every copy of the environment plays before an update.
#[derive(Debug, Clone, Copy)]
pub struct RolloutShape {
    /// Environment copies stepped together.
    pub n_envs: usize,
    /// Steps per copy per rollout.
    pub n_steps: usize,
    /// Discount factor (for the truncation bootstrap and the reward scaling).
    pub gamma: f64,
    /// Scale rewards by the running standard deviation of the discounted return.
    pub normalize_reward: bool,
}

impl RolloutShape {
    /// `n_steps` per copy of the `n_envs` copies of the shared options, discounted by their
    /// `gamma`.
    pub fn new(pg: &PgOptions, n_steps: usize, normalize_reward: bool) -> Self {
        Self {
            n_envs: pg.n_envs,
            n_steps,
            gamma: pg.gamma,
            normalize_reward,
        }
    }
}

/// What an algorithm over vectorized rollouts brings to [`OnPolicy`]: only what is its own.
pub trait RolloutUpdate {
    /// The name `--algo` takes.
    const NAME: &'static str;
    /// The built-in hyper-parameter file.
    const CONFIG: &'static str;
    /// The columns its update logs, in order.
    const METRICS: &'static [&'static str];
    /// Mixed into the run's seed for the learner's generator (a stream of its own, apart from the
    /// environments' and libtorch's).
    const RNG_SALT: u64;
    /// The hyper-parameters.
    type Hyper: Serialize + DeserializeOwned + Default + Clone + Debug;

    /// The rollout these hyper-parameters ask for.
    fn shape(cfg: &Self::Hyper) -> RolloutShape;

    /// Checks the hyper-parameters and builds the networks with their optimizer and the
    /// learner's generator ([`PgCore::new`] with [`RolloutUpdate::RNG_SALT`]).
    fn build(setup: &Setup, cfg: &Self::Hyper) -> Result<PgCore>;

    /// Learns from one rollout. `progress` is the budget's remaining fraction when the rollout
    /// started (what schedules read); the update logs its [`RolloutUpdate::METRICS`].
    fn update(
        core: &mut PgCore,
        cfg: &Self::Hyper,
        r: &Rollout,
        progress: f64,
        ctx: &mut TrainCtx,
    ) -> Result<()>;
}

/// A learner over vectorized rollouts: A2C is `OnPolicy<A2cUpdate>`, PPO `OnPolicy<PpoUpdate>`.
pub struct OnPolicy<U: RolloutUpdate> {
    cfg: U::Hyper,
    core: PgCore,
    envs: VecEnv,
    reward_norm: Option<RewardNorm>,
}

impl<U: RolloutUpdate> Debug for OnPolicy<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(U::NAME)
            .field("cfg", &self.cfg)
            .field("core", &self.core)
            .field("envs", &self.envs)
            .finish_non_exhaustive()
    }
}

impl<U: RolloutUpdate> Actor for OnPolicy<U> {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        self.core.act(obs)
    }
}

impl<U: RolloutUpdate> Algorithm for OnPolicy<U> {
    const NAME: &'static str = U::NAME;
    const CONFIG: &'static str = U::CONFIG;
    type Hyper = U::Hyper;

    fn new(setup: &Setup, cfg: U::Hyper) -> Result<Self> {
        let shape = U::shape(&cfg);
        anyhow::ensure!(
            shape.n_envs > 0 && shape.n_steps > 0,
            "n_envs and n_steps must be positive"
        );
        let core = U::build(setup, &cfg)?;
        let envs = setup.make_vec_env(shape.n_envs)?;
        let reward_norm = shape
            .normalize_reward
            .then(|| RewardNorm::new(shape.n_envs, shape.gamma));
        Ok(Self {
            cfg,
            core,
            envs,
            reward_norm,
        })
    }

    fn metric_names(&self) -> &'static [&'static str] {
        U::METRICS
    }

    fn train_iter(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        let shape = U::shape(&self.cfg);
        let progress = ctx.progress_remaining();
        let r = collect(
            &mut self.core.ac,
            &mut self.envs,
            ctx,
            shape.n_steps,
            shape.gamma,
            self.reward_norm.as_mut(),
            &mut self.core.rng,
        )?;
        U::update(&mut self.core, &self.cfg, &r, progress, ctx)
    }

    pg_learner_methods!();
}

crate::learner_state! {
    impl[U: RolloutUpdate] for OnPolicy<U>, named U::NAME;
    weights "" => core,
    part "" => core,
    with "journal" => |l| l.envs.journal(), |l, journal: crate::envs::vec_env::Journal| {
        l.envs.restore(&journal)
    },
    with "reward_norm" => |l| l.reward_norm, |l, saved: Option<RewardNorm>| {
        match (&l.reward_norm, &saved) {
            (Some(now), Some(saved)) if now.same_shape(saved) => {}
            (None, None) => {}
            _ => bail!(
                "the checkpoint's reward scaling does not fit this run's (normalize_reward, n_envs)"
            ),
        }
        l.reward_norm = saved;
        Ok(())
    },
}

/// Logs one update's statistics: `stats[i]` adds to the mean of column `names[i]` (a NaN or
/// infinite one stops the run, naming it).
pub fn log_means(ctx: &mut TrainCtx, names: &[&str], stats: &[f64]) -> Result<()> {
    for (name, &v) in names.iter().zip(stats) {
        ctx.log_mean(name, v)?;
    }
    Ok(())
}

/// Logs what A2C and PPO report of each rollout besides their losses: how much of the returns'
/// variance the values explain, the learning rate and the mean value.
pub fn log_rollout(
    ctx: &mut TrainCtx,
    r: &Rollout,
    explained_variance: f64,
    lr: f64,
) -> Result<()> {
    ctx.log_value("explained_variance", explained_variance)?;
    ctx.log_value("learning_rate", lr)?;
    ctx.log_value("value_mean", r.mean_value())
}
