//! # picorl-host
//!
//! picorl's desktop half: trains with `tch` (libtorch) on a GPU when there is one and on the CPU
//! otherwise, evaluates, plots and exports `.picorl` models that `picorl-core` runs. Environment
//! steps and the inference of exported models always go through `picorl-core`: what is measured
//! here is what runs on the controller.
#![deny(missing_docs)]

pub mod device;
