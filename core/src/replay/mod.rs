//! Replay storage for off-policy learners, over memory the caller supplies: a `static` array on a
//! controller, a `Vec<f32>` on the desktop. Nothing here allocates.
//!
//! - [`ReplayBuffer`]: a ring of transitions `(obs, action, reward, next_obs, terminated,
//!   horizon)`; when full, the oldest transition is overwritten. Discrete actions are stored as
//!   one `f32` holding the index (exact below 2²⁴), continuous ones as their components.
//! - [`SumTree`]: proportional prioritization (Schaul et al. 2016, arXiv:1511.05952): set a
//!   priority per slot, read the total, find the slot where a prefix sum falls, and the smallest
//!   priority set (for the importance weights' normalization, [`importance_weight`]).
//!
//! `horizon` is the number of rewards summed into `reward` (1 for a one-step transition, up to
//! `n` for n-step returns); a learner bootstraps with `γ^horizon · Q(next_obs)` unless
//! `terminated`. A truncated episode (the time limit) is stored with `terminated == false` and its
//! final observation as `next_obs`, so the learner bootstraps from it, as Gymnasium's docs say.
//!
//! Contract: no heap, no panic. Wrong lengths, out-of-range indices, NaN or negative priorities
//! are a [`ReplayError`]; every operation takes a time bounded by the sizes fixed at construction
//! (the sum-tree's descent has exactly `log2` of its leaf count steps).
//!
//! Files: `buffer` ([`ReplayBuffer`] and its record layout), `sum_tree` ([`SumTree`] and the
//! importance weights); this one, the error type.

mod buffer;
mod sum_tree;

pub use buffer::{buffer_storage_len, stride, ActionShape, ReplayBuffer, Stored, Transition};
pub use sum_tree::{importance_weight, tree_storage_len, SumTree};

use core::fmt;

/// The largest integer an `f32` holds exactly (2²⁴): the bound on stored discrete actions and
/// horizons.
pub const MAX_EXACT_INDEX: u32 = 1 << 24;

/// Why a replay operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// The supplied storage cannot hold one record (or one leaf).
    StorageTooSmall {
        /// Values needed.
        needed: usize,
        /// Values supplied.
        got: usize,
    },
    /// An observation dimension or a continuous action dimension of zero.
    ZeroDim,
    /// A capacity of zero was asked for.
    ZeroCapacity,
    /// An observation of the wrong length.
    ObsDim {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A continuous action of the wrong length.
    ActionDim {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A discrete action for a continuous buffer, or the reverse.
    WrongActionKind,
    /// A discrete action or a horizon of [`MAX_EXACT_INDEX`] or more (not exact in an `f32`), or
    /// a horizon of zero.
    NotRepresentable,
    /// An index at or beyond the number of stored transitions (or the tree's capacity).
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// The number of valid indices.
        len: usize,
    },
    /// A priority that is NaN, infinite or negative.
    BadPriority,
    /// Sampling from an empty buffer, or from a tree whose total priority is zero.
    Empty,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::StorageTooSmall { needed, got } => {
                write!(
                    f,
                    "replay storage of {got} values is too small: at least {needed} needed"
                )
            }
            ReplayError::ZeroDim => write!(f, "observation and action dimensions must be positive"),
            ReplayError::ZeroCapacity => write!(f, "a capacity of zero"),
            ReplayError::ObsDim { expected, got } => {
                write!(f, "observation of length {got}, expected {expected}")
            }
            ReplayError::ActionDim { expected, got } => {
                write!(f, "continuous action of length {got}, expected {expected}")
            }
            ReplayError::WrongActionKind => write!(f, "action of the wrong kind for this buffer"),
            ReplayError::NotRepresentable => {
                write!(f, "discrete action or horizon not exactly representable (0 < horizon, both < 2^24)")
            }
            ReplayError::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range (length {len})")
            }
            ReplayError::BadPriority => write!(f, "priority must be finite and non-negative"),
            ReplayError::Empty => write!(f, "nothing to sample"),
        }
    }
}

impl core::error::Error for ReplayError {}
