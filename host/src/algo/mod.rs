//! The training algorithms, one file each, registered in [`with_algo!`](crate::with_algo).

pub mod a2c;
pub mod actor_critic;
pub mod continuous;
pub mod ddpg;
pub mod dqn;
pub mod nets;
pub mod noisy;
pub mod off_policy;
pub mod pg_state;
pub mod ppo;
pub mod q_net;
pub mod reinforce;
pub mod rollout;
pub mod running_norm;
pub mod sac;
pub mod tabular;
pub mod td3;

/// The `--algo` names picorl trains, in the order `--help` lists them.
pub const NAMES: &[&str] = &[
    "qlearning",
    "sarsa",
    "dqn",
    "reinforce",
    "a2c",
    "ppo",
    "ddpg",
    "td3",
    "sac",
];

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
            "reinforce" => {
                type $A = $crate::algo::reinforce::Reinforce;
                $body
            }
            "a2c" => {
                type $A = $crate::algo::a2c::A2c;
                $body
            }
            "ppo" => {
                type $A = $crate::algo::ppo::Ppo;
                $body
            }
            "ddpg" => {
                type $A = $crate::algo::ddpg::Ddpg;
                $body
            }
            "td3" => {
                type $A = $crate::algo::td3::Td3;
                $body
            }
            "sac" => {
                type $A = $crate::algo::sac::Sac;
                $body
            }
            other => Err(::anyhow::anyhow!(
                "unknown algorithm `{other}`{}; choose one of: {}",
                $crate::util::suggest::hint(other, $crate::algo::NAMES),
                $crate::algo::NAMES.join(", ")
            )),
        }
    };
}
