//! REINFORCE (Williams 1992, "Simple statistical gradient-following algorithms for
//! connectionist reinforcement learning"): Monte-Carlo policy gradient on whole episodes.
//!
//! One update is one batch of `n_envs` episodes, one per copy of the environment, all played to
//! their end by the current policy (strictly on-policy: no episode straddles an update, and no
//! step is collected and thrown away). The copies that are still running act together in one
//! batched forward pass; a copy whose episode has ended waits for the others. Then:
//!
//! - the discounted return `G_t = Σ_k γ^k r_{t+k}` of every step ([`discounted_returns`]);
//! - `Ĝ = (G − mean)/(std + 1e-8)` over the whole batch (`normalize_returns`);
//! - without a baseline, `policy_loss = −mean_t(log π(a_t|s_t) · Ĝ_t)`; with one
//!   (`baseline = true`), a value network `V` regresses `Ĝ` (mean squared error, weighted by
//!   `vf_coef`) and the weight of `log π` is the advantage `Ĝ − V(s)`;
//! - an entropy bonus, one Adam step on the whole batch, the gradient norm clipped.
//!
//! Actions are sampled on the CPU copy of the policy (core's dense layers, as A2C and PPO act)
//! with draws from the learner's own generator, not libtorch's, so that a checkpoint holds every
//! generator the run draws from.
//!
//! The loss is a mean over the batch's steps rather than the textbook sum: with Adam the two
//! differ only through ε and the gradient clip, and the mean keeps `max_grad_norm` meaningful
//! whatever the episodes' lengths.
//!
//! A truncated episode is *not* bootstrapped: REINFORCE's return is the Monte-Carlo sum of the
//! rewards the episode saw, so a time limit acts as part of the environment. (A2C and PPO
//! bootstrap it from the value of the final observation.) An episode still running when the
//! step budget is spent is cut there the same way.
//!
//! Checkpoints hold the networks and, for a bit-exact `--resume`, Adam's moments, the generator,
//! the normalization statistics and the environments' journal (its parts are declared once, at
//! the end of this file; the layout is in [`pg_state`](super::pg_state)).
//! Checkpoints fall between batches, where every copy's episode has ended; the journal holds each
//! copy's seeded reset and every action since, and a resume replays them, resetting a copy
//! between its episodes as the batches did, so that its generator continues where it stood. A
//! resumed run ends with the same metrics as an uninterrupted one (`host/tests/crash_resume.rs`).

use anyhow::{bail, Context, Result};
use picorl_core::env::{Action, Env};
use serde::{Deserialize, Serialize};

use super::actor_critic::{ActionKind, Acts, CpuSample};
use super::base::{log_means, pg_learner_methods, PgCore};
use super::options::PgOptions;
use super::rollout::normalize;
use crate::algo::backend::{AdamConfig, Optimizer};
use crate::envs::eval::{Actor, OwnedAction};
use crate::envs::vec_env::Journal;
use crate::export::Activation;
use crate::train::{Algorithm, Setup, TrainCtx};

/// REINFORCE's hyper-parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ReinforceConfig {
    /// The options the policy-gradient learners share (their keys are this section's own).
    #[serde(flatten)]
    pub pg: PgOptions,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Normalize the returns of each batch to zero mean and unit standard deviation.
    pub normalize_returns: bool,
    /// Learn a value network and weight `log π` by `Ĝ − V(s)` instead of `Ĝ`.
    pub baseline: bool,
    /// The value network's hidden activation (with `baseline`; it is not exported).
    pub vf_activation: Activation,
}

impl Default for ReinforceConfig {
    fn default() -> Self {
        Self {
            pg: PgOptions::default(),
            learning_rate: 1e-3,
            normalize_returns: true,
            baseline: false,
            vf_activation: Activation::Tanh,
        }
    }
}

/// The discounted returns of one episode's rewards, `G_t = r_t + γ G_{t+1}`, from
/// `G_T = bootstrap` after the last reward (0 for a Monte-Carlo return).
pub fn discounted_returns(rewards: &[f32], gamma: f32, bootstrap: f32) -> Vec<f32> {
    let mut g = bootstrap;
    let mut out = vec![0.0; rewards.len()];
    for (o, r) in out.iter_mut().zip(rewards).rev() {
        g = r + gamma * g;
        *o = g;
    }
    out
}

/// One copy's episode in the making.
#[derive(Debug, Default)]
struct Trajectory {
    /// Observations as the networks saw them.
    obs: Vec<f32>,
    /// Rewards, one a step.
    rewards: Vec<f32>,
    /// Undiscounted return.
    ret: f64,
}

/// A batch of whole episodes, step-major within each episode, episode after episode.
#[derive(Debug, Default)]
struct Batch {
    obs: Vec<f32>,
    actions_discrete: Vec<i64>,
    actions_continuous: Vec<f32>,
    returns: Vec<f32>,
    episodes: usize,
}

/// A REINFORCE learner.
pub struct Reinforce {
    cfg: ReinforceConfig,
    /// The networks, their optimizer and the action draws' generator.
    core: PgCore,
    envs: Vec<Box<dyn Env + Send>>,
    /// Seed of the first reset of each copy; later resets continue each copy's generator.
    first_seed: Option<u64>,
    /// What rebuilds the copies on `--resume`: per copy its seeded reset, the resets between its
    /// episodes since, and every action since (as [`Journal`] records a [`crate::envs::vec_env::VecEnv`]).
    journal: Journal,
}

impl std::fmt::Debug for Reinforce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reinforce")
            .field("cfg", &self.cfg)
            .field("core", &self.core)
            .field("envs", &self.envs.len())
            .finish()
    }
}

impl Reinforce {
    /// Plays one episode on every copy with the current (sampled) policy.
    fn collect(&mut self, ctx: &mut TrainCtx) -> Result<Batch> {
        let n = self.envs.len();
        let d = self.core.ac.obs_dim();
        let mut raw = vec![0.0f32; n * d];
        for (i, (env, obs)) in self.envs.iter_mut().zip(raw.chunks_mut(d)).enumerate() {
            let seed = self.first_seed.map(|s| s.wrapping_add(i as u64));
            env.reset(seed, obs)
                .with_context(|| format!("resetting {} copy {i}", env.spec().id))?;
            if seed.is_some() {
                self.journal.seeds[i] = seed;
                self.journal.actions[i].clear();
                self.journal.resets[i] = 0;
            } else {
                self.journal.resets[i] += 1;
            }
        }
        self.first_seed = None;
        let mut sample = CpuSample::default();
        let mut trajs: Vec<Trajectory> = (0..n).map(|_| Trajectory::default()).collect();
        // Actions are stored per copy, in the layout of `Batch`.
        let mut acts_d: Vec<Vec<i64>> = vec![Vec::new(); n];
        let mut acts_c: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut active: Vec<usize> = (0..n).collect();
        let mut batch_raw = Vec::with_capacity(n * d);
        while !active.is_empty() && ctx.steps < ctx.total_steps {
            batch_raw.clear();
            for &i in &active {
                batch_raw.extend_from_slice(&raw[i * d..(i + 1) * d]);
            }
            if let Some(norm) = &mut self.core.ac.obs_norm {
                norm.stats.update(&batch_raw);
            }
            let x_vec = self.core.ac.normalized(&batch_raw);
            self.core
                .ac
                .sample_cpu(&x_vec, &mut self.core.rng, &mut sample)?;
            let mut still = Vec::with_capacity(active.len());
            for (k, &i) in active.iter().enumerate() {
                let t = &mut trajs[i];
                t.obs.extend_from_slice(&x_vec[k * d..(k + 1) * d]);
                let obs = &mut raw[i * d..(i + 1) * d];
                let env = &mut self.envs[i];
                let log = &mut self.journal.actions[i];
                let step = match &self.core.ac.kind {
                    ActionKind::Discrete { .. } => {
                        let a = sample.discrete[k];
                        acts_d[i].push(i64::from(a));
                        log.push(a as f32);
                        env.step(Action::Discrete(a), obs)
                    }
                    ActionKind::Continuous { dim, low, high } => {
                        let a = &sample.continuous[k * dim..(k + 1) * dim];
                        acts_c[i].extend_from_slice(a);
                        let clipped: Vec<f32> = a
                            .iter()
                            .enumerate()
                            .map(|(j, v)| v.clamp(low[j], high[j]))
                            .collect();
                        log.extend_from_slice(&clipped);
                        env.step(Action::Continuous(&clipped), obs)
                    }
                }
                .with_context(|| format!("stepping {} copy {i}", env.spec().id))?;
                ctx.count_step();
                t.rewards.push(step.reward as f32);
                t.ret += step.reward;
                if step.terminated || step.truncated {
                    ctx.episode(t.ret, t.rewards.len() as u32)?;
                } else {
                    still.push(i);
                }
            }
            active = still;
        }

        let mut b = Batch::default();
        for (i, t) in trajs.into_iter().enumerate() {
            if t.rewards.is_empty() {
                continue;
            }
            b.episodes += 1;
            b.obs.extend(t.obs);
            b.returns.extend(discounted_returns(
                &t.rewards,
                self.cfg.pg.gamma as f32,
                0.0,
            ));
            b.actions_discrete.append(&mut acts_d[i]);
            b.actions_continuous.append(&mut acts_c[i]);
        }
        Ok(b)
    }

    /// Rebuilds every copy from `journal` (a checkpoint's, taken between batches): the seeded
    /// reset, then every action, with a reset between episodes as [`Reinforce::collect`] does at
    /// the start of a batch, but none after the last (the next batch's comes first).
    fn restore_envs(&mut self, journal: &Journal) -> Result<()> {
        let n = self.envs.len();
        if journal.seeds.len() != n || journal.resets.len() != n || journal.actions.len() != n {
            bail!("an environment journal of another number of copies (this run has {n})");
        }
        let per = match &self.core.ac.kind {
            ActionKind::Discrete { .. } => 1,
            ActionKind::Continuous { dim, .. } => *dim,
        };
        let mut obs = vec![0.0f32; self.core.ac.obs_dim()];
        for (i, env) in self.envs.iter_mut().enumerate() {
            let id = env.spec().id;
            let ctx = || format!("restoring {id} copy {i}");
            let Some(seed) = journal.seeds[i] else {
                bail!("{}: the journal has no seeded reset", ctx());
            };
            env.reset(Some(seed), &mut obs).with_context(ctx)?;
            let acts = &journal.actions[i];
            if !acts.len().is_multiple_of(per) {
                bail!("{}: a journal of {} action values", ctx(), acts.len());
            }
            let (mut done, mut resets) = (false, 0u64);
            for a in acts.chunks(per) {
                if done {
                    env.reset(None, &mut obs).with_context(ctx)?;
                    resets += 1;
                }
                let action = match &self.core.ac.kind {
                    ActionKind::Discrete { .. } => Action::Discrete(a[0] as u32),
                    ActionKind::Continuous { .. } => Action::Continuous(a),
                };
                done = env.step(action, &mut obs).with_context(ctx)?.done();
            }
            if resets != journal.resets[i] {
                bail!(
                    "{}: the replay ended {resets} episodes, the journal {}",
                    ctx(),
                    journal.resets[i]
                );
            }
        }
        self.journal = journal.clone();
        self.first_seed = None;
        Ok(())
    }
}

impl Actor for Reinforce {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        self.core.act(obs)
    }
}

impl Algorithm for Reinforce {
    const NAME: &'static str = "reinforce";
    const CONFIG: &'static str = include_str!("../../../configs/reinforce.toml");
    type Hyper = ReinforceConfig;

    fn new(setup: &Setup, cfg: ReinforceConfig) -> Result<Self> {
        anyhow::ensure!(cfg.pg.n_envs > 0, "n_envs must be positive");
        // Without a baseline the value network is never trained (it stays in the checkpoint,
        // unused, so that every actor-critic run has the same layout).
        let opt = Optimizer::Adam(AdamConfig::pytorch(cfg.learning_rate));
        // Action draws have their own stream, apart from the environments'.
        let core = PgCore::new(
            setup,
            Self::NAME,
            &cfg.pg.net_options(),
            cfg.vf_activation,
            opt,
            0x5245_494e_5f61_6374,
        )?;
        let n = cfg.pg.n_envs;
        let envs = (0..n)
            .map(|_| setup.make_env())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            first_seed: Some(setup.run.seed),
            cfg,
            core,
            envs,
            journal: Journal {
                seeds: vec![None; n],
                resets: vec![0; n],
                actions: vec![Vec::new(); n],
            },
        })
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &[
            "loss",
            "policy_loss",
            "value_loss",
            "entropy",
            "batch_episodes",
            "learning_rate",
        ]
    }

    fn train_iter(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        let lr = self
            .cfg
            .pg
            .lr_schedule
            .at(self.cfg.learning_rate, ctx.progress_remaining());
        self.core.ac.set_lr(lr);
        let mut b = self.collect(ctx)?;
        if b.returns.is_empty() {
            return Ok(());
        }
        let c = &self.cfg;
        if c.normalize_returns {
            normalize(&mut b.returns, 1e-8);
        }
        let acts = if b.actions_discrete.is_empty() {
            Acts::Continuous(&b.actions_continuous)
        } else {
            Acts::Discrete(&b.actions_discrete)
        };
        let rows = b.returns.len();
        let e = self.core.ac.evaluate(&b.obs, rows, acts, c.baseline)?;
        // policy_loss = −mean(w · log π) with w = Ĝ (or Ĝ − V, V detached, with a baseline);
        // value_loss = mean((Ĝ − V)²); loss = policy_loss − ent_coef·mean(H) + vf_coef·value_loss.
        let bn = rows as f32;
        let (mut pg, mut vl, mut h) = (0.0f64, 0.0f64, 0.0f64);
        let mut d_logp = Vec::with_capacity(rows);
        let mut d_value = Vec::with_capacity(rows);
        for (i, &g) in b.returns.iter().enumerate() {
            let w = if c.baseline {
                let err = g - e.values[i];
                vl += f64::from(err * err);
                d_value.push(c.pg.vf_coef as f32 * -2.0 * err / bn);
                err
            } else {
                g
            };
            pg -= f64::from(w * e.log_probs[i]);
            h += f64::from(e.entropies[i]);
            d_logp.push(-w / bn);
        }
        let d_ent = vec![-(c.pg.ent_coef as f32) / bn; rows];
        let nf = rows as f64;
        let (pg, vl, h) = (pg / nf, vl / nf, h / nf);
        let loss = pg - c.pg.ent_coef * h + c.pg.vf_coef * vl;
        let d_value = c.baseline.then_some(&d_value[..]);
        self.core.ac.backward(&d_logp, &d_ent, d_value)?;
        self.core.ac.step(c.pg.max_grad_norm)?;
        log_means(
            ctx,
            &["loss", "policy_loss", "value_loss", "entropy"],
            &[loss, pg, vl, h],
        )?;
        ctx.log_value("batch_episodes", b.episodes as f64)?;
        ctx.log_value("learning_rate", lr)
    }

    pg_learner_methods!();
}

crate::learner_state! {
    for Reinforce, named "reinforce";
    weights "" => core,
    part "" => core,
    with "journal" => |r| r.journal, |r, journal: Journal| r.restore_envs(&journal),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounted_returns_by_hand() {
        // γ = 0.5, rewards 1, 0, 2, 4:
        // G3 = 4
        // G2 = 2 + 0.5·4   = 4
        // G1 = 0 + 0.5·4   = 2
        // G0 = 1 + 0.5·2   = 2
        assert_eq!(
            discounted_returns(&[1.0, 0.0, 2.0, 4.0], 0.5, 0.0),
            vec![2.0, 2.0, 4.0, 4.0]
        );
        // A bootstrap of 8 after the last reward: G3 = 4 + 0.5·8 = 8, G2 = 6, G1 = 3, G0 = 2.5.
        assert_eq!(
            discounted_returns(&[1.0, 0.0, 2.0, 4.0], 0.5, 8.0),
            vec![2.5, 3.0, 6.0, 8.0]
        );
        // γ = 1: the undiscounted reward-to-go.
        assert_eq!(discounted_returns(&[1.0; 3], 1.0, 0.0), vec![3.0, 2.0, 1.0]);
        assert!(discounted_returns(&[], 0.9, 0.0).is_empty());
    }

    #[test]
    fn normalized_returns_by_hand() {
        // CartPole-like rewards 1, 1, 1 with γ = 0.5: G = 1.75, 1.5, 1.
        // mean 1.41667, sample std sqrt(((1/3)² + (1/12)² + (5/12)²)/2) = sqrt(7/48) = 0.381881
        let mut g = discounted_returns(&[1.0; 3], 0.5, 0.0);
        assert_eq!(g, vec![1.75, 1.5, 1.0]);
        normalize(&mut g, 1e-8);
        let s = (7.0f32 / 48.0).sqrt();
        let expect = [(1.0 / 3.0) / s, (1.0 / 12.0) / s, (-5.0 / 12.0) / s];
        for (a, b) in g.iter().zip(expect) {
            assert!((a - b).abs() < 1e-5, "{g:?} vs {expect:?}");
        }
    }
}
