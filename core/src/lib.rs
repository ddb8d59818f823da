//! # picorl-core
//!
//! The half of picorl that runs on a microcontroller as well as on the desktop: `#![no_std]`, no
//! heap, no panics on any input reachable from the public API.
//!
//! - [`env`]: Gymnasium-exact environments (one file each) behind the [`env::Env`] trait.
//! - [`replay`]: replay storage for off-policy learners (a ring of transitions and a sum-tree)
//!   over memory the caller supplies.
//! - [`rng`]: the seeded PCG draws every random number comes from.
//!
//! Contracts (see the project's `DESIGN.md`):
//! - **No heap, no panic.** Every buffer has a size known at compile time or is supplied by the
//!   caller; bad input gives a typed error or a documented safe fallback.
//! - **Bit-exact int8.** Integer-only inference that matches TensorFlow Lite Micro's reference
//!   kernels, bit for bit, on x86 and on Cortex-M.
//! - **Bounded time.** Inference does the same work for every input.
#![cfg_attr(not(any(feature = "std", test)), no_std)]
// `deny`, not `forbid`: the one `asm!` kernel (`nn/dsp.rs`, Cortex-M4 SMLAD) allows it locally and
// documents why it is sound. Nothing else in the crate may use `unsafe`.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod env;
pub mod model;
pub mod nn;
pub mod policy;
pub mod replay;
pub mod rng;
