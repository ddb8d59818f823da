//! The hyper-parameters DQN, DDPG, TD3 and SAC share ([`OffPolicyOptions`]): collection, replay
//! and the update's common terms, written once and flattened into each one's config (their TOML
//! keys stay top-level keys of the algorithm's section). Each algorithm keeps its own defaults
//! (SAC's learning rate is 3e-4, TD3's 1e-3, DQN's 1e-4): a section is resolved over the
//! algorithm's whole default table (`crate::train::config::resolve`), so a key it leaves out takes
//! that algorithm's value. Unknown keys are refused by name where configs are resolved, as for
//! the on-policy learners' flattened options.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use super::driver::CollectionOptions;

/// What every off-policy learner's config holds (these defaults: SB3's TD3; each algorithm's
/// `Default` sets its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OffPolicyOptions {
    /// Parallel environments.
    pub n_envs: usize,
    /// Replay capacity (transitions).
    pub buffer_size: usize,
    /// Environment steps before learning starts (random actions for the continuous learners).
    pub learning_starts: u64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Discount factor.
    pub gamma: f64,
    /// Polyak coefficient of the target updates (DQN: 1 is a hard copy).
    pub tau: f64,
    /// Steps of every environment copy between rounds of updates.
    pub train_freq: usize,
    /// Updates per round (-1: as many as environment steps collected in the round).
    pub gradient_steps: i64,
    /// Rewards summed per stored transition (n-step returns).
    pub n_step: usize,
}

impl Default for OffPolicyOptions {
    fn default() -> Self {
        Self {
            n_envs: 1,
            buffer_size: 1_000_000,
            learning_starts: 100,
            batch_size: 256,
            learning_rate: 1e-3,
            gamma: 0.99,
            tau: 0.005,
            train_freq: 1,
            gradient_steps: 1,
            n_step: 1,
        }
    }
}

impl OffPolicyOptions {
    /// The checks every off-policy learner makes, naming `algo` in the error.
    pub fn check(&self, algo: &str) -> Result<()> {
        let c = self;
        for (ok, what) in [
            (c.n_envs > 0, "n_envs must be positive"),
            (c.buffer_size > 0, "buffer_size must be positive"),
            (c.batch_size > 0, "batch_size must be positive"),
            (c.train_freq > 0, "train_freq must be positive"),
            (
                c.gradient_steps > 0 || c.gradient_steps == -1,
                "gradient_steps must be positive or -1",
            ),
            (c.learning_rate > 0.0, "learning_rate must be positive"),
            ((0.0..=1.0).contains(&c.gamma), "gamma must be in [0, 1]"),
            (c.tau > 0.0 && c.tau <= 1.0, "tau must be in (0, 1]"),
            (c.n_step >= 1, "n_step must be at least 1"),
        ] {
            ensure!(ok, "{algo}: {what}");
        }
        Ok(())
    }

    /// The driver's options: these, with `min_replay` transitions waited for and proportional
    /// prioritized replay `(α, ε)` (DQN's option).
    pub fn collection(
        &self,
        min_replay: usize,
        prioritized: Option<(f64, f64)>,
    ) -> CollectionOptions {
        CollectionOptions {
            n_envs: self.n_envs,
            buffer_size: self.buffer_size,
            gamma: self.gamma,
            n_step: self.n_step,
            learning_starts: self.learning_starts,
            train_freq: self.train_freq,
            gradient_steps: self.gradient_steps,
            min_replay,
            prioritized,
            privileged: false,
        }
    }
}
