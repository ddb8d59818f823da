//! A native learner for small networks: MLP forward and backward over flat parameter slices,
//! Adam and RMSprop, on buffers the caller supplies, with no per-operation dispatch and no
//! allocation, so the same code trains on the desktop and on the controller.
//!
//! Contract:
//! - **No heap, no panic.** Every buffer is a caller's slice whose length is checked once per
//!   call ([`LearnError`]); sizes are `const fn`s ([`mlp::param_len`], [`mlp::acts_len`],
//!   [`mlp::scratch_len`]) so a controller's buffers can be `static` arrays.
//! - **Bit-exact across targets.** One matrix kernel sums every output in a fixed order with
//!   separate multiplies and adds; activations and square roots are `libm`'s. A seeded run gives
//!   the same weights on x86-64 (whatever vector width) and on a Cortex-M4F.
//!
//! - [`mlp`]: [`Mlp`], the network's shape, [`Mlp::forward`] and [`Mlp::backward`] (weights,
//!   biases, and the gradient with respect to the input, which an actor takes through a critic).
//! - [`optim`]: [`Adam`] and [`RmsProp`] as PyTorch computes them.
//! - [`dqn`]: DQN (Mnih et al. 2015) written once, over core's environments and replay.

pub mod dqn;
mod gemm;
pub mod mlp;
pub mod optim;

pub use gemm::Madd;
pub use mlp::{Mlp, MAX_LAYERS};
pub use optim::{Adam, RmsProp};

use core::fmt;

/// Why the learner refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnError {
    /// A slice is shorter (or, for optimizer state, of another length) than the shape needs.
    Length {
        /// Which slice.
        what: &'static str,
        /// The length needed.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// Fewer than two widths, a zero width, or sizes that overflow `usize`.
    Shape,
    /// More than [`MAX_LAYERS`] layers.
    TooManyLayers,
}

impl fmt::Display for LearnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LearnError::Length {
                what,
                expected,
                got,
            } => write!(f, "{what} has length {got}, expected {expected}"),
            LearnError::Shape => write!(f, "a network needs at least two non-zero widths"),
            LearnError::TooManyLayers => write!(f, "a network has at most {MAX_LAYERS} layers"),
        }
    }
}

impl core::error::Error for LearnError {}
