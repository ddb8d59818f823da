//! The off-policy family: transitions collected into replay and learned from in minibatches.
//!
//! - [`replay`]: collection from a vectorized environment, n-step returns, uniform or prioritized
//!   sampling, with truncation bootstrapped from the final observation;
//! - [`driver`]: the one off-policy driver (environments, replay, exploration generator, a round
//!   of collection and the updates it is due) that DQN and the continuous learners collect with;
//! - [`options`]: the hyper-parameters the four share, flattened into each one's config;
//! - [`dqn`] (with [`q_net`] and [`noisy`]): discrete actions;
//! - [`continuous`]: what DDPG, TD3 and SAC share (bounds, critics, the actor, exploration noise
//!   and the collection driver); [`ddpg`], [`td3`], [`sac`]: each one's own update.

pub mod continuous;
pub mod ddpg;
pub mod dqn;
pub mod driver;
pub mod noisy;
pub mod options;
pub mod q_net;
pub mod replay;
pub mod sac;
pub mod td3;
