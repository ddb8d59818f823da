//! DQN (placeholder while in progress)
