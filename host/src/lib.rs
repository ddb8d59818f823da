//! # picorl-host
//!
//! picorl's desktop half: trains with `tch` (libtorch) on a GPU when there is one and on the CPU
//! otherwise, evaluates, plots and exports `.picorl` models that `picorl-core` runs. Environment
//! steps and the inference of exported models always go through `picorl-core`: what is measured
//! here is what runs on the controller.
//!
//! The crate is laid out in rooms by concern. Each room's `mod.rs` says what it holds and which
//! rooms it may use; `scripts/module_cycles.py` (a step of `./x test`) fails on any import cycle
//! between rooms or between files. From the top down:
//!
//! - [`cli`]: the command line, the only place clap is used; calls every room below.
//! - [`tune`]: `picorl tune`, hyper-parameter search on Optuna.
//! - [`viz`]: learning curves, comparison plots and `picorl render`.
//! - [`algo`]: one file per algorithm, the networks they share ([`algo::backend`]) and the family
//!   drivers (off-policy collection, on-policy rollouts).
//! - [`train`]: the loop every algorithm shares: config, run directory, checkpoints, evaluation,
//!   TensorBoard, progress, device and signals.
//! - [`export`]: from a trained policy to `.picorl`, ONNX and TFLite files, and back (`import`).
//! - [`envs`]: environments by id (core's, `Trading-v0`, Gymnasium's, the user's own), vectorized
//!   stepping, deterministic evaluation and conformance replay.
//! - [`util`]: helpers that use nothing of the host.
#![deny(missing_docs)]

pub mod algo;
pub mod cli;
pub mod envs;
pub mod export;
pub mod train;
pub mod tune;
pub mod util;
pub mod viz;
