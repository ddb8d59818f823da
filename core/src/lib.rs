//! # picorl-core
//!
//! The half of picorl that runs on a microcontroller as well as on the desktop: `#![no_std]`, no
//! heap, no panics on any input reachable from the public API.
//!
//! - [`env`](mod@env): Gymnasium-exact environments (one file each) behind the [`env::Env`] trait.
//! - [`nn`]: dense layers over borrowed weights: f32, and int8 exactly as TensorFlow Lite Micro's
//!   reference FULLY_CONNECTED (TFLite's arithmetic in [`nn::quant`]); SMLAD and VLDM/VMLA kernels
//!   on Cortex-M4(F), PMADDWD on x86-64, portable code elsewhere, all giving the same bits.
//! - [`learn`]: a native learner for small networks: MLP forward/backward (with the input
//!   gradient), Adam and RMSprop over caller buffers, the same bits on x86-64 and Cortex-M4F, and
//!   DQN written once on it ([`learn::dqn`]), which trains in the firmware too.
//! - [`model`]: the `.picorl` format (`docs/model-format.md`): a checked zero-copy
//!   [`model::ModelView`] / [`model::Model`], the writer [`model::write`] fed by a
//!   [`model::ModelSpec`], and [`include_model!`] that embeds a model and checks its shape at
//!   compile time.
//! - [`policy`]: [`policy::Policy`] turns observations into actions (normalization, the network or
//!   table, the head: argmax with the lowest index winning ties, tanh-squash or clip).
//! - [`replay`]: replay storage for off-policy learners (a ring of transitions and a sum-tree)
//!   over memory the caller supplies.
//! - [`rng`]: the seeded PCG draws every random number comes from.
//! - [`tabular`]: Q-learning, SARSA and Expected SARSA on a fixed-size Q-table (it learns on the
//!   device too), with the one episode loop the host and the firmware share
//!   ([`tabular::run_episode`]), and value iteration under a time limit.
//!
//! ```
//! use picorl_core::model::{self, BodySpec, HeadSpec, LayerSpec, Model, ModelSpec};
//! use picorl_core::nn::{Activation, QuantParams};
//! use picorl_core::policy::{ActionOut, Policy};
//! // A trained 2-4-2 network (PyTorch layout: weights row-major `out x in`).
//! let (w1, b1) = ([0.5f32, -0.5, 1.0, 0.0, 0.0, 1.0, -1.0, 0.25], [0.0f32; 4]);
//! let (w2, b2) = ([1.0f32, 0.0, 0.5, 0.0, 0.0, 1.0, 0.0, -0.5], [0.1f32, 0.0]);
//! let layers = [
//!     LayerSpec { in_dim: 2, out_dim: 4, weights: &w1, bias: &b1, activation: Activation::Relu },
//!     LayerSpec { in_dim: 4, out_dim: 2, weights: &w2, bias: &b2, activation: Activation::Identity },
//! ];
//! // int8: the host calibrates activation ranges; core quantizes, derives TFLite's multipliers.
//! let outputs = [QuantParams::from_range(0.0, 2.0).unwrap(), QuantParams::from_range(-2.0, 2.0).unwrap()];
//! let spec = ModelSpec {
//!     obs_dim: 2,
//!     normalization: None,
//!     head: HeadSpec::Discrete { n: 2 },
//!     body: BodySpec::MlpInt8 { layers: &layers, input: QuantParams::from_range(-1.0, 1.0).unwrap(), outputs: &outputs },
//! };
//! let mut storage = model::Aligned([0u8; 1024]);
//! let len = model::write(&spec, &mut storage.0).unwrap();
//! let m = Model::parse(&storage.0[..len]).unwrap();
//! let mut policy = Policy::<'_, 8>::new(m).unwrap();
//! let action = policy.act(&[0.5, -0.5]).unwrap();
//! assert!(matches!(action, ActionOut::Discrete(0 | 1)));
//! assert_eq!(policy.outputs().len(), 2); // the dequantized logits
//! ```
//!
//! Contracts (see `docs/design.md`):
//! - **No heap, no panic.** Every buffer has a size known at compile time or is supplied by the
//!   caller; bad input gives a typed error or a documented safe fallback.
//! - **Bit-exact int8.** Integer-only inference that matches TensorFlow Lite Micro's reference
//!   kernels, bit for bit, on x86 and on Cortex-M.
//! - **Bounded time.** Inference does the same work for every input.
#![cfg_attr(not(any(feature = "std", test)), no_std)]
// `deny`, not `forbid`: one module, `nn/dsp.rs` (the Cortex-M4 `asm!` kernels and x86-64's SSE2
// intrinsics), allows it locally and documents why each use is sound. Nothing else may use `unsafe`.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod env;
pub mod learn;
pub mod model;
pub mod nn;
pub mod policy;
pub mod replay;
pub mod rng;
pub mod tabular;
