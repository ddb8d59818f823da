//! The on-policy family: rollouts of the current policy, learned from once and thrown away.
//!
//! - [`rollout`]: `n_steps` of every environment copy with values and log-probabilities, GAE;
//! - [`actor_critic`]: the policy and value networks (categorical or diagonal Gaussian heads,
//!   gSDE), [`running_norm`]: observation and reward normalization;
//! - [`pg_state`]: the optimizer and the rest of a bit-exact `--resume`;
//! - [`reinforce`], [`a2c`], [`ppo`]: each one's own loss and update.

pub mod a2c;
pub mod actor_critic;
pub mod pg_state;
pub mod ppo;
pub mod reinforce;
pub mod rollout;
pub mod running_norm;
