//! The on-policy family: rollouts of the current policy, learned from once and thrown away.
//!
//! - [`rollout`]: `n_steps` of every environment copy with values and log-probabilities, GAE;
//! - [`actor_critic`]: the policy and value networks (categorical or diagonal Gaussian heads,
//!   gSDE), [`running_norm`]: observation and reward normalization;
//! - [`base`]: the one on-policy base: the parts every learner holds ([`base::PgCore`]) and the
//!   learner over vectorized rollouts ([`base::OnPolicy`]) that A2C and PPO are;
//! - [`options`]: the hyper-parameters the three share, flattened into each one's config;
//! - [`reinforce`], [`a2c`], [`ppo`]: each one's own loss and update.

pub mod a2c;
pub mod actor_critic;
pub mod base;
pub mod options;
pub mod ppo;
pub mod reinforce;
pub mod rollout;
pub mod running_norm;
