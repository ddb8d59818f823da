//! The training algorithms, one file each, registered once in [`algo_registry!`](crate::algo_registry).
//!
//! **The room.** `algo/` holds what is each algorithm's own and what a family shares:
//! - [`off_policy`]: replay and collection, DQN (with its Q-networks and noisy layers), and the
//!   continuous-control learners DDPG, TD3 and SAC over one driver;
//! - [`on_policy`]: rollouts with GAE, the actor-critic networks, REINFORCE, A2C and PPO;
//! - [`tabular`]: Q-learning and SARSA on core's tables;
//! - shared by all: [`backend`] (the trainable network `Net` on native or libtorch, its Adam
//!   and RMSprop, one global-norm clip), [`schedule`], [`cpu_net`] (acting through core),
//!   [`checkpoint`] (reading a checkpoint's tensors), [`state`] (a learner's state declared once
//!   as a list of parts: save, load and `--resume` derived from it).
//!
//! It may use `train` (the loop's interface), `envs`, `export` and `util`; never `cli` or `viz`.

pub mod backend;
pub mod checkpoint;
pub mod cpu_net;
pub mod off_policy;
pub mod on_policy;
pub mod schedule;
pub mod state;
pub mod tabular;

/// The registry: every algorithm picorl trains, once, in the order `--help` lists them, as
/// `"name" => type, "what it is";`. [`NAMES`], [`HELP`], `--algo`'s help and the dispatch of
/// [`with_algo!`](crate::with_algo) are all generated from it: an algorithm added here is
/// trainable, listed and dispatched everywhere.
#[macro_export]
#[doc(hidden)]
macro_rules! algo_registry {
    ($then:ident { $($pre:tt)* }) => {
        $crate::$then! { $($pre)* ;
            "qlearning" => $crate::algo::tabular::QLearning, "tabular Q-learning (Watkins 1989)";
            "sarsa" => $crate::algo::tabular::Sarsa, "tabular SARSA (Rummery and Niranjan 1994)";
            "dqn" => $crate::algo::off_policy::dqn::Dqn, "Deep Q-Networks with Double, dueling, prioritized, noisy, n-step";
            "reinforce" => $crate::algo::on_policy::reinforce::Reinforce, "REINFORCE with a value baseline";
            "a2c" => $crate::algo::on_policy::a2c::A2c, "Advantage Actor-Critic";
            "ppo" => $crate::algo::on_policy::ppo::Ppo, "Proximal Policy Optimization with GAE";
            "ddpg" => $crate::algo::off_policy::ddpg::Ddpg, "Deep Deterministic Policy Gradient";
            "td3" => $crate::algo::off_policy::td3::Td3, "Twin Delayed DDPG";
            "sac" => $crate::algo::off_policy::sac::Sac, "Soft Actor-Critic";
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __algo_names {
    ( ; $($name:literal => $ty:ty, $what:literal;)*) => {
        &[$($name),*]
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __algo_help {
    ( ; $($name:literal => $ty:ty, $what:literal;)*) => {
        &[$(($name, $what)),*]
    };
}

/// The `--algo` names picorl trains, in the order `--help` lists them.
pub const NAMES: &[&str] = algo_registry!(__algo_names {});

/// Each `--algo` name with a line saying what it is, in [`NAMES`]' order.
pub const HELP: &[(&str, &str)] = algo_registry!(__algo_help {});

/// `--algo`'s help: the names with what each is.
pub fn algo_arg_help() -> String {
    let list: Vec<String> = HELP
        .iter()
        .map(|(name, what)| format!("{name}: {what}"))
        .collect();
    format!("The algorithm. {}.", list.join("; "))
}

/// Runs `$body` with `$A` bound to the algorithm type named `$name`, or fails listing the names.
#[macro_export]
macro_rules! with_algo {
    ($name:expr, $A:ident => $body:expr) => {
        $crate::algo_registry!(__with_algo_arms { $name, $A, $body })
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __with_algo_arms {
    ($n:expr, $A:ident, $body:expr ; $($name:literal => $ty:ty, $what:literal;)*) => {
        match $n {
            $(
                $name => {
                    type $A = $ty;
                    $body
                }
            )*
            other => Err(::anyhow::anyhow!(
                "unknown algorithm `{other}`{}; choose one of: {}",
                $crate::util::suggest::hint(other, $crate::algo::NAMES),
                $crate::algo::NAMES.join(", ")
            )),
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::train::Algorithm;

    /// Every registered name dispatches to the algorithm that calls itself by it, is listed in
    /// `--algo`'s help, and an unknown name is an error that lists them.
    #[test]
    fn the_registry_names_dispatch_to_their_algorithm() {
        assert_eq!(super::NAMES.len(), super::HELP.len());
        let help = super::algo_arg_help();
        for (name, (listed, _)) in super::NAMES.iter().zip(super::HELP) {
            assert_eq!(name, listed);
            let got: anyhow::Result<&str> = crate::with_algo!(*name, A => Ok(A::NAME));
            assert_eq!(got.unwrap(), *name);
            assert!(help.contains(&format!("{name}: ")), "{help}");
        }
        let err: anyhow::Result<&str> = crate::with_algo!("ppo2", A => Ok(A::NAME));
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("choose one of") && err.contains("ppo"),
            "{err}"
        );
    }
}
