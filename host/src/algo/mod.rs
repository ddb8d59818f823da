//! The training algorithms, one file each, registered in [`with_algo!`](crate::with_algo).

pub mod actor_critic;
pub mod dqn;
pub mod noisy;
pub mod off_policy;
pub mod ppo;
pub mod q_net;
pub mod rollout;
pub mod running_norm;
pub mod tabular;

/// The `--algo` names picorl trains, in the order `--help` lists them.
pub const NAMES: &[&str] = &["qlearning", "sarsa", "dqn", "ppo"];

/// Runs `$body` with `$A` bound to the algorithm type named `$name`, or fails listing the names.
#[macro_export]
macro_rules! with_algo {
    ($name:expr, $A:ident => $body:expr) => {
        match $name {
            "qlearning" => {
                type $A = $crate::algo::tabular::QLearning;
                $body
            }
            "sarsa" => {
                type $A = $crate::algo::tabular::Sarsa;
                $body
            }
            "dqn" => {
                type $A = $crate::algo::dqn::Dqn;
                $body
            }
            "ppo" => {
                type $A = $crate::algo::ppo::Ppo;
                $body
            }
            other => Err(::anyhow::anyhow!(
                "unknown algorithm `{other}`; choose one of: {}",
                $crate::algo::NAMES.join(", ")
            )),
        }
    };
}
