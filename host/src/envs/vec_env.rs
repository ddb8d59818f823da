//! A vectorized runner: N copies of an environment stepped in one call.
//!
//! - Seeding as Gymnasium's vector environments: copy `i` first resets with `seed + i`; later
//!   resets continue each copy's own generator.
//! - Autoreset in the *same step* (Stable-Baselines3's convention, Gymnasium's
//!   `AutoresetMode.SAME_STEP`): when a copy's episode ends, [`VecEnv::step`] resets it at once,
//!   returns the first observation of the new episode in [`VecEnv::obs`], and keeps the last
//!   observation of the finished episode in [`VecEnv::final_obs`], so a learner can bootstrap from
//!   the value of a truncated episode's final state.
//! - Stepping is sequential unless [`VecEnv::set_threads`] asks for more: then the copies are cut
//!   into that many chunks, each stepped on a scoped thread spawned for the call (the results are
//!   the sequential ones, in the same order: tested). A spawn and a join cost about 33 µs on the
//!   machine below, against about 25 ns a CartPole step, so threads pay only where one call's
//!   stepping is long against that, and only when a second core is free.
//!
//!   Measured on a 2-core x86-64 Debian 12 machine shared with other builds (load average 7-9):
//!   the fastest of many short batches, best of 3 runs (`cargo run --release -p picorl-benches
//!   --example best_of`; criterion's means, `cargo bench -p picorl-benches -- vec_env`, swing 2-3x
//!   with the load and agree on the ranking up to 256 copies):
//!
//!   | copies | sequential | 2 threads |
//!   |---|---|---|
//!   | CartPole-v1 x8 | 0.22 µs a call, 36 M env-steps/s | 33 µs, 0.24 M/s |
//!   | CartPole-v1 x256 | 6.3 µs, 41 M/s | 40 µs, 6.4 M/s |
//!   | Acrobot-v1 x256 | 34 µs, 7.5 M/s | 70 µs, 3.7 M/s |
//!   | CartPole-v1 x4096 | 90 µs, 45 M/s | 135 µs, 30 M/s |
//!   | Acrobot-v1 x4096 | 548 µs, 7.5 M/s | 597 µs, 6.9 M/s (400 µs, 10 M/s, once) |
//!
//!   So sequential is the default, and the right choice for 256 copies of any environment in
//!   core; threads start to pay around half a millisecond of stepping per call on an idle core
//!   (Acrobot x4096 ran 1.4x faster once; under load criterion's means favour 2 threads there,
//!   1.22 against 1.45 ms, by taking two shares of a contended machine).

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::{Action, Env, EnvSpec, Space};

/// Actions for every copy at once.
#[derive(Debug, Clone, Copy)]
pub enum Actions<'a> {
    /// One discrete action per copy.
    Discrete(&'a [u32]),
    /// `n * action_dim` components, copy after copy.
    Continuous(&'a [f32]),
}

/// An episode that ended during the last [`VecEnv::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finished {
    /// Which copy.
    pub env: usize,
    /// The undiscounted return.
    pub ret: f64,
    /// The number of steps.
    pub len: u32,
}

/// N copies of one environment, stepped together.
pub struct VecEnv {
    envs: Vec<Box<dyn Env + Send>>,
    spec: EnvSpec,
    obs_dim: usize,
    act_dim: usize,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    ep_return: Vec<f64>,
    ep_len: Vec<u32>,
    finished: Vec<Finished>,
    threads: usize,
    journal: Journal,
    /// Steps every copy at once instead of one by one (the Gymnasium bridge's vectorized worker).
    batch: Option<Box<dyn BatchStep>>,
}

/// Copies that step all at once, behind [`VecEnv::with_batch`]: one call steps every copy and
/// resets those whose episode ended (the same-step autoreset of the module docs), so a
/// vectorized worker in another process costs one round trip a step. [`VecEnv::reset`] still
/// resets copy by copy through the [`Env`]s, which share the stepper's worker.
pub trait BatchStep: Send {
    /// Steps every copy with `actions` (checked for their count), writing rewards, flags, the
    /// observations after any autoreset, and the final observation of each copy that ended.
    fn step_all(&mut self, actions: Actions<'_>, out: BatchOut<'_>) -> Result<()>;

    /// Copy `copy` was reset (a seeded reset through its [`Env`]).
    fn reset_copy(&mut self, _copy: usize) {}

    /// Replays a journal's record of copy `copy` (its seeded reset, then `actions` with the
    /// autoresets) in one call, writing the observation reached; `Ok(None)` when it cannot, and
    /// [`VecEnv::restore`] steps the copy one action at a time instead. Returns the autoresets,
    /// the running episode's return and length.
    fn replay(
        &mut self,
        _copy: usize,
        _seed: Option<u64>,
        _actions: &[f32],
        _obs: &mut [f32],
    ) -> Result<Option<(u64, f64, u32)>> {
        Ok(None)
    }
}

/// Where [`BatchStep::step_all`] writes, one entry (or `obs_dim` values) per copy.
#[derive(Debug)]
pub struct BatchOut<'a> {
    /// Observations after the autoresets.
    pub obs: &'a mut [f32],
    /// The last observation of each copy whose episode ended (others untouched).
    pub final_obs: &'a mut [f32],
    /// Rewards.
    pub rewards: &'a mut [f64],
    /// Terminal states reached.
    pub terminated: &'a mut [bool],
    /// Time limits reached.
    pub truncated: &'a mut [bool],
}

/// What rebuilds every copy exactly, for a bit-exact `--resume`: an environment's state is its
/// generator's and its episode's, and core's environments are deterministic given the seed of
/// their last seeded reset and the actions since (a slippery FrozenLake draws while stepping, so
/// every step since the seed counts, not only the running episode's). Replaying those, with the
/// autoresets where episodes ended ([`VecEnv::restore`]), reproduces the copy, its step counter
/// and its generator included, whatever the environment. A step costs tens of nanoseconds, so
/// replaying a long run costs milliseconds; the journal holds one value per step and action
/// component.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Journal {
    /// Per copy, the seed of its last seeded reset (`None` before any).
    pub seeds: Vec<Option<u64>>,
    /// Per copy, the autoresets since (a check on the replay).
    pub resets: Vec<u64>,
    /// Per copy, every action since the seeded reset, `act_dim` components each (a discrete
    /// action as one value).
    pub actions: Vec<Vec<f32>>,
}

impl std::fmt::Debug for VecEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VecEnv")
            .field("env", &self.spec.id)
            .field("n", &self.envs.len())
            .finish()
    }
}

impl VecEnv {
    /// Wraps `envs` (at least one, all of the same id).
    pub fn new(envs: Vec<Box<dyn Env + Send>>) -> Result<Self> {
        let Some(first) = envs.first() else {
            bail!("a vectorized env needs at least one copy")
        };
        let spec = *first.spec();
        if let Some(other) = envs.iter().find(|e| e.spec().id != spec.id) {
            bail!(
                "mixed environments in one VecEnv: {} and {}",
                spec.id,
                other.spec().id
            );
        }
        let n = envs.len();
        let obs_dim = spec.observation_space.flat_dim();
        let act_dim = match spec.action_space {
            Space::Discrete { .. } => 0,
            Space::Box { dim, .. } => dim,
        };
        Ok(Self {
            envs,
            spec,
            obs_dim,
            act_dim,
            obs: vec![0.0; n * obs_dim],
            final_obs: vec![0.0; n * obs_dim],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            ep_return: vec![0.0; n],
            ep_len: vec![0; n],
            finished: Vec::new(),
            threads: 1,
            journal: Journal {
                seeds: vec![None; n],
                resets: vec![0; n],
                actions: vec![Vec::new(); n],
            },
            batch: None,
        })
    }

    /// Wraps `envs` whose steps go through `batch` (see [`BatchStep`]).
    pub fn with_batch(envs: Vec<Box<dyn Env + Send>>, batch: Box<dyn BatchStep>) -> Result<Self> {
        let mut v = Self::new(envs)?;
        v.batch = Some(batch);
        Ok(v)
    }

    /// Number of copies.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Always false: a `VecEnv` has at least one copy.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The environment's spec.
    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    /// Values per observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Resets copy `i` with `seed + i`.
    pub fn reset(&mut self, seed: u64) -> Result<()> {
        for (i, (env, obs)) in self
            .envs
            .iter_mut()
            .zip(self.obs.chunks_mut(self.obs_dim))
            .enumerate()
        {
            env.reset(Some(seed.wrapping_add(i as u64)), obs)
                .with_context(|| format!("resetting {} copy {i}", self.spec.id))?;
        }
        self.ep_return.fill(0.0);
        self.ep_len.fill(0);
        for i in 0..self.envs.len() {
            if let Some(b) = self.batch.as_mut() {
                b.reset_copy(i);
            }
            self.journal.seeds[i] = Some(seed.wrapping_add(i as u64));
            self.journal.resets[i] = 0;
            self.journal.actions[i].clear();
        }
        Ok(())
    }

    /// The record from which [`VecEnv::restore`] rebuilds every copy.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Rebuilds every copy from `journal` (a [`VecEnv::journal`] of copies of the same
    /// environment): the seeded reset, then every action since with the autoresets, so that
    /// observations, episode returns and lengths, step counters and generators are those of the
    /// copies the journal was taken from.
    pub fn restore(&mut self, journal: &Journal) -> Result<()> {
        let n = self.envs.len();
        if journal.seeds.len() != n || journal.resets.len() != n || journal.actions.len() != n {
            bail!("an environment journal of another number of copies (this run has {n})");
        }
        let per = self.act_dim.max(1);
        for i in 0..n {
            let env = &mut self.envs[i];
            let obs = &mut self.obs[i * self.obs_dim..(i + 1) * self.obs_dim];
            let ctx = || format!("restoring {} copy {i}", self.spec.id);
            if let Some(seed) = journal.seeds[i] {
                env.reset(Some(seed), obs).with_context(ctx)?;
            }
            let acts = &journal.actions[i];
            if !acts.len().is_multiple_of(per) {
                bail!("{}: a journal of {} action values", ctx(), acts.len());
            }
            if let Some(b) = self.batch.as_mut() {
                if let Some((resets, ret, len)) =
                    b.replay(i, journal.seeds[i], acts, obs).with_context(ctx)?
                {
                    if resets != journal.resets[i] {
                        bail!(
                            "{}: the replay ended {resets} episodes, the journal {}",
                            ctx(),
                            journal.resets[i]
                        );
                    }
                    self.ep_return[i] = ret;
                    self.ep_len[i] = len;
                    continue;
                }
            }
            let (mut ret, mut len, mut resets) = (0.0, 0u32, 0u64);
            for a in acts.chunks(per) {
                let action = if self.act_dim == 0 {
                    Action::Discrete(a[0] as u32)
                } else {
                    Action::Continuous(a)
                };
                let r = env.step(action, obs).with_context(ctx)?;
                ret += r.reward;
                len += 1;
                if r.done() {
                    // As `step` does: the autoreset continues the copy's generator.
                    env.reset(None, obs).with_context(ctx)?;
                    (ret, len) = (0.0, 0);
                    resets += 1;
                }
            }
            if resets != journal.resets[i] {
                bail!(
                    "{}: the replay ended {resets} episodes, the journal {}",
                    ctx(),
                    journal.resets[i]
                );
            }
            self.ep_return[i] = ret;
            self.ep_len[i] = len;
        }
        self.journal = journal.clone();
        Ok(())
    }

    /// Spreads [`VecEnv::step`] over `threads` scoped threads (0 or 1: sequential, the
    /// default). See the module's docs for when that pays.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Steps every copy, resetting those whose episode ends (see the module docs).
    pub fn step(&mut self, actions: Actions<'_>) -> Result<()> {
        self.step_copies(actions)?;
        let per = self.act_dim.max(1);
        for (i, log) in self.journal.actions.iter_mut().enumerate() {
            match actions {
                Actions::Discrete(a) => log.push(a[i] as f32),
                Actions::Continuous(a) => log.extend_from_slice(&a[i * per..(i + 1) * per]),
            }
        }
        for f in &self.finished {
            self.journal.resets[f.env] += 1;
        }
        Ok(())
    }

    fn step_copies(&mut self, actions: Actions<'_>) -> Result<()> {
        let n = self.envs.len();
        match actions {
            Actions::Discrete(a) if a.len() != n => {
                bail!("{} discrete actions for {n} envs", a.len())
            }
            Actions::Continuous(a) if a.len() != n * self.act_dim => {
                bail!(
                    "{} action components for {n} envs of dimension {}",
                    a.len(),
                    self.act_dim
                )
            }
            _ => {}
        }
        self.finished.clear();
        if let Some(b) = self.batch.as_mut() {
            b.step_all(
                actions,
                BatchOut {
                    obs: &mut self.obs,
                    final_obs: &mut self.final_obs,
                    rewards: &mut self.rewards,
                    terminated: &mut self.terminated,
                    truncated: &mut self.truncated,
                },
            )
            .with_context(|| format!("stepping {}", self.spec.id))?;
            for i in 0..n {
                self.ep_return[i] += self.rewards[i];
                self.ep_len[i] += 1;
                if self.terminated[i] || self.truncated[i] {
                    self.finished.push(Finished {
                        env: i,
                        ret: self.ep_return[i],
                        len: self.ep_len[i],
                    });
                    self.ep_return[i] = 0.0;
                    self.ep_len[i] = 0;
                }
            }
            return Ok(());
        }
        let ctx = StepCtx {
            actions,
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
            id: self.spec.id,
        };
        let mut lanes = Lanes {
            first: 0,
            envs: &mut self.envs,
            obs: &mut self.obs,
            final_obs: &mut self.final_obs,
            rewards: &mut self.rewards,
            terminated: &mut self.terminated,
            truncated: &mut self.truncated,
            ep_return: &mut self.ep_return,
            ep_len: &mut self.ep_len,
        };
        let threads = self.threads.min(n);
        if threads <= 1 {
            return lanes.step(&ctx, &mut self.finished);
        }
        // Chunks of `per` copies (the last may be shorter); this thread steps the first.
        let per = n.div_ceil(threads);
        let mut chunks = Vec::with_capacity(threads);
        while lanes.envs.len() > per {
            let (head, tail) = lanes.split_at(per, ctx.obs_dim);
            chunks.push(head);
            lanes = tail;
        }
        chunks.push(lanes);
        let mut chunks = chunks.into_iter();
        let first = chunks.next();
        let ctx = &ctx;
        let finished = &mut self.finished;
        std::thread::scope(|s| -> Result<()> {
            let others: Vec<_> = chunks
                .map(|c| {
                    s.spawn(move || {
                        let mut f = Vec::new();
                        c.step(ctx, &mut f).map(|()| f)
                    })
                })
                .collect();
            let mut result = match first {
                Some(c) => c.step(ctx, finished),
                None => Ok(()),
            };
            for h in others {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("a {} stepping thread panicked", ctx.id)));
                match (&result, r) {
                    (Ok(()), Ok(f)) => finished.extend(f),
                    (Ok(()), Err(e)) => result = Err(e),
                    (Err(_), _) => {}
                }
            }
            result
        })
    }

    /// The current observations (`n * obs_dim`), after any autoreset.
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }

    /// The last observation of each copy whose episode ended in the last step (others: stale).
    pub fn final_obs(&self) -> &[f32] {
        &self.final_obs
    }

    /// Rewards of the last step.
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }

    /// `terminated` flags of the last step.
    pub fn terminated(&self) -> &[bool] {
        &self.terminated
    }

    /// `truncated` flags of the last step.
    pub fn truncated(&self) -> &[bool] {
        &self.truncated
    }

    /// Episodes that ended in the last step.
    pub fn finished(&self) -> &[Finished] {
        &self.finished
    }
}

/// What every copy's step needs besides its own buffers.
struct StepCtx<'a> {
    actions: Actions<'a>,
    obs_dim: usize,
    act_dim: usize,
    id: &'static str,
}

/// The buffers of copies `first ..` borrowed together, so that they can be split among threads.
struct Lanes<'a> {
    first: usize,
    envs: &'a mut [Box<dyn Env + Send>],
    obs: &'a mut [f32],
    final_obs: &'a mut [f32],
    rewards: &'a mut [f64],
    terminated: &'a mut [bool],
    truncated: &'a mut [bool],
    ep_return: &'a mut [f64],
    ep_len: &'a mut [u32],
}

impl<'a> Lanes<'a> {
    /// The first `k` copies and the rest.
    fn split_at(self, k: usize, d: usize) -> (Self, Self) {
        let (envs, envs2) = self.envs.split_at_mut(k);
        let (obs, obs2) = self.obs.split_at_mut(k * d);
        let (final_obs, final_obs2) = self.final_obs.split_at_mut(k * d);
        let (rewards, rewards2) = self.rewards.split_at_mut(k);
        let (terminated, terminated2) = self.terminated.split_at_mut(k);
        let (truncated, truncated2) = self.truncated.split_at_mut(k);
        let (ep_return, ep_return2) = self.ep_return.split_at_mut(k);
        let (ep_len, ep_len2) = self.ep_len.split_at_mut(k);
        (
            Lanes {
                first: self.first,
                envs,
                obs,
                final_obs,
                rewards,
                terminated,
                truncated,
                ep_return,
                ep_len,
            },
            Lanes {
                first: self.first + k,
                envs: envs2,
                obs: obs2,
                final_obs: final_obs2,
                rewards: rewards2,
                terminated: terminated2,
                truncated: truncated2,
                ep_return: ep_return2,
                ep_len: ep_len2,
            },
        )
    }

    /// Steps these copies in order, autoresetting finished episodes (see the module docs).
    fn step(self, ctx: &StepCtx<'_>, finished: &mut Vec<Finished>) -> Result<()> {
        let d = ctx.obs_dim;
        for (j, env) in self.envs.iter_mut().enumerate() {
            let i = self.first + j;
            let action = match ctx.actions {
                Actions::Discrete(a) => Action::Discrete(a[i]),
                Actions::Continuous(a) => {
                    Action::Continuous(&a[i * ctx.act_dim..(i + 1) * ctx.act_dim])
                }
            };
            let obs = &mut self.obs[j * d..(j + 1) * d];
            let r = env
                .step(action, obs)
                .with_context(|| format!("stepping {} copy {i}", ctx.id))?;
            self.rewards[j] = r.reward;
            self.terminated[j] = r.terminated;
            self.truncated[j] = r.truncated;
            self.ep_return[j] += r.reward;
            self.ep_len[j] += 1;
            if r.done() {
                self.final_obs[j * d..(j + 1) * d].copy_from_slice(obs);
                finished.push(Finished {
                    env: i,
                    ret: self.ep_return[j],
                    len: self.ep_len[j],
                });
                self.ep_return[j] = 0.0;
                self.ep_len[j] = 0;
                env.reset(None, obs)
                    .with_context(|| format!("resetting {} copy {i}", ctx.id))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn copies(id: &str, n: usize) -> VecEnv {
        let envs = (0..n)
            .map(|_| crate::envs::make(id, &BTreeMap::new()))
            .collect::<Result<Vec<_>>>()
            .unwrap();
        VecEnv::new(envs).unwrap()
    }

    /// A journal rebuilds the copies exactly, stochastic ones (slippery FrozenLake draws while
    /// stepping) and continuous ones included: the same observations, and the same future.
    #[test]
    fn a_journal_restores_every_copy_exactly() {
        for (id, discrete) in [
            ("FrozenLake-v1", true),
            ("CartPole-v1", true),
            ("Pendulum-v1", false),
        ] {
            let mut a = copies(id, 3);
            a.reset(5).unwrap();
            let mut k = 0u32;
            let step = |v: &mut VecEnv, k: &mut u32| {
                *k += 1;
                if discrete {
                    let acts: Vec<u32> = (0..3).map(|i| (*k * 7 + i * 3) % 2).collect();
                    v.step(Actions::Discrete(&acts)).unwrap();
                } else {
                    let acts: Vec<f32> = (0..3)
                        .map(|i| ((*k + i) as f32 * 0.37).sin() * 2.0)
                        .collect();
                    v.step(Actions::Continuous(&acts)).unwrap();
                }
            };
            for _ in 0..250 {
                step(&mut a, &mut k);
            }
            assert!(
                a.journal().resets.iter().any(|&r| r > 0),
                "{id}: no episode ended"
            );
            let mut b = copies(id, 3);
            b.restore(a.journal()).unwrap();
            assert_eq!(a.obs(), b.obs(), "{id}");
            assert_eq!(a.ep_return, b.ep_return, "{id}");
            assert_eq!(a.ep_len, b.ep_len, "{id}");
            let mut kb = k;
            for _ in 0..250 {
                step(&mut a, &mut k);
                step(&mut b, &mut kb);
                assert_eq!(a.obs(), b.obs(), "{id}");
                assert_eq!(a.rewards(), b.rewards(), "{id}");
                assert_eq!(a.finished(), b.finished(), "{id}");
            }
        }
    }

    /// Threads change nothing but the speed: the same observations, rewards, flags, final
    /// observations and finished episodes, in the same order, for even and uneven chunks.
    #[test]
    fn threads_step_exactly_as_in_sequence() {
        for (id, n, threads) in [
            ("CartPole-v1", 37, 2),
            ("CartPole-v1", 37, 3),
            ("Pendulum-v1", 5, 8),
            ("Trading-v0", 4, 2),
        ] {
            let mut one = copies(id, n);
            let mut many = copies(id, n);
            many.set_threads(threads);
            one.reset(7).unwrap();
            many.reset(7).unwrap();
            let mut episodes = 0;
            for t in 0..1200u32 {
                let discrete: Vec<u32> = (0..n as u32).map(|i| (t * 7 + i * 3) % 3 % 2).collect();
                let trade: Vec<u32> = (0..n as u32).map(|i| (t + i) % 3).collect();
                let torque: Vec<f32> = (0..n)
                    .map(|i| ((t as usize + i) % 5) as f32 - 2.0)
                    .collect();
                let actions = match id {
                    "Pendulum-v1" => Actions::Continuous(&torque),
                    "Trading-v0" => Actions::Discrete(&trade),
                    _ => Actions::Discrete(&discrete),
                };
                one.step(actions).unwrap();
                many.step(actions).unwrap();
                assert_eq!(one.obs(), many.obs(), "{id} step {t}");
                assert_eq!(one.rewards(), many.rewards());
                assert_eq!(one.terminated(), many.terminated());
                assert_eq!(one.truncated(), many.truncated());
                assert_eq!(one.finished(), many.finished());
                for f in one.finished() {
                    let d = one.obs_dim();
                    assert_eq!(
                        one.final_obs()[f.env * d..(f.env + 1) * d],
                        many.final_obs()[f.env * d..(f.env + 1) * d]
                    );
                }
                episodes += one.finished().len();
            }
            assert!(episodes > 0, "{id}: some episodes end");
        }
    }

    #[test]
    fn a_bad_action_in_any_chunk_is_an_error() {
        let mut v = copies("CartPole-v1", 6);
        v.set_threads(2);
        v.reset(0).unwrap();
        let e = v.step(Actions::Discrete(&[0, 1, 0, 1, 0, 5])).unwrap_err();
        assert!(format!("{e:#}").contains("copy 5"), "{e:#}");
        assert!(v.step(Actions::Discrete(&[0, 1])).is_err());
    }
}
