//! [`TabularError`]: why a tabular operation was refused.

use core::fmt;

use crate::env::EnvError;

/// Why a tabular operation was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TabularError {
    /// A state outside `0..n_states`.
    StateOutOfRange {
        /// The state given.
        state: u32,
        /// The number of states.
        n_states: u32,
    },
    /// An action outside `0..n_actions`.
    ActionOutOfRange {
        /// The action given.
        action: u32,
        /// The number of actions.
        n_actions: u32,
    },
    /// An observation that is not one finite, non-negative integer (a discrete state).
    BadObservation,
    /// A reward that is NaN or infinite.
    NonFiniteReward,
    /// A table buffer that is empty, has no actions, or whose length is not a multiple of the
    /// number of actions.
    TableShape {
        /// The buffer's length.
        len: usize,
        /// The number of actions asked for.
        n_actions: usize,
    },
    /// A caller's buffer of the wrong length.
    BufferSize {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A hyper-parameter out of its range.
    BadHyper {
        /// The field of [`Hyper`](super::Hyper) at fault.
        field: &'static str,
        /// What it takes.
        expected: &'static str,
    },
    /// The environment refused a transition-table query.
    Env(EnvError),
}

impl fmt::Display for TabularError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TabularError::StateOutOfRange { state, n_states } => {
                write!(f, "state {state} is out of range 0..{n_states}")
            }
            TabularError::ActionOutOfRange { action, n_actions } => {
                write!(f, "action {action} is out of range 0..{n_actions}")
            }
            TabularError::BadObservation => {
                write!(f, "observation is not one non-negative integer state")
            }
            TabularError::NonFiniteReward => write!(f, "reward is NaN or infinite"),
            TabularError::TableShape { len, n_actions } => write!(
                f,
                "a table of {len} values cannot hold rows of {n_actions} actions"
            ),
            TabularError::BufferSize { expected, got } => {
                write!(f, "buffer has length {got}, expected {expected}")
            }
            TabularError::BadHyper { field, expected } => {
                write!(f, "hyper-parameter {field}: expected {expected}")
            }
            TabularError::Env(e) => write!(f, "environment: {e}"),
        }
    }
}

impl core::error::Error for TabularError {}

impl From<EnvError> for TabularError {
    fn from(e: EnvError) -> Self {
        TabularError::Env(e)
    }
}
