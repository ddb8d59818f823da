//! A vectorized runner: N copies of an environment stepped in one call.
//!
//! - Seeding as Gymnasium's vector environments: copy `i` first resets with `seed + i`; later
//!   resets continue each copy's own generator.
//! - Autoreset in the *same step* (Stable-Baselines3's convention, Gymnasium's
//!   `AutoresetMode.SAME_STEP`): when a copy's episode ends, [`VecEnv::step`] resets it at once,
//!   returns the first observation of the new episode in [`VecEnv::obs`], and keeps the last
//!   observation of the finished episode in [`VecEnv::final_obs`], so a learner can bootstrap from
//!   the value of a truncated episode's final state.
//! - Stepping is sequential. Core's environments cost tens of nanoseconds a step, so handing 256
//!   of them to worker threads costs more in synchronisation than it saves (measured in
//!   `benches/`); parallelism pays in learning, not here.

use anyhow::{bail, Context, Result};
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
        })
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
        Ok(())
    }

    /// Steps every copy, resetting those whose episode ends (see the module docs).
    pub fn step(&mut self, actions: Actions<'_>) -> Result<()> {
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
        let d = self.obs_dim;
        for i in 0..n {
            let action = match actions {
                Actions::Discrete(a) => Action::Discrete(a[i]),
                Actions::Continuous(a) => {
                    Action::Continuous(&a[i * self.act_dim..(i + 1) * self.act_dim])
                }
            };
            let obs = &mut self.obs[i * d..(i + 1) * d];
            let r = self.envs[i]
                .step(action, obs)
                .with_context(|| format!("stepping {} copy {i}", self.spec.id))?;
            self.rewards[i] = r.reward;
            self.terminated[i] = r.terminated;
            self.truncated[i] = r.truncated;
            self.ep_return[i] += r.reward;
            self.ep_len[i] += 1;
            if r.done() {
                self.final_obs[i * d..(i + 1) * d].copy_from_slice(obs);
                self.finished.push(Finished {
                    env: i,
                    ret: self.ep_return[i],
                    len: self.ep_len[i],
                });
                self.ep_return[i] = 0.0;
                self.ep_len[i] = 0;
                self.envs[i]
                    .reset(None, obs)
                    .with_context(|| format!("resetting {} copy {i}", self.spec.id))?;
            }
        }
        Ok(())
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
