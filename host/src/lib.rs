//! # picorl-host
//!
//! picorl's desktop half: trains with `tch` (libtorch) on a GPU when there is one and on the CPU
//! otherwise, evaluates, plots and exports `.picorl` models that `picorl-core` runs. Environment
//! steps and the inference of exported models always go through `picorl-core`: what is measured
//! here is what runs on the controller.
//!
//! - [`train`]: the scaffolding every algorithm shares (config, run directory, metrics,
//!   evaluation, checkpoints, summary, progress); [`algo`]: one file per algorithm.
//! - [`envs`], [`vec_env`]: environments by id, and N copies stepped together; [`gym`]: any
//!   Gymnasium environment (`gym:ID`) through Python workers; [`trading`]: the
//!   host-only `Trading-v0`; [`replay`]: `picorl env replay`, the Gymnasium conformance tool;
//!   [`user_env`]: environments of the user's own, registered with [`cli::run_with`].
//! - [`eval`]: deterministic evaluation; [`export`]: what a policy hands to the exporter;
//!   [`interop`]: the same policy as ONNX (f32) or TensorFlow Lite (int8) for other runtimes.
//! - [`nets`]: MLPs and distributions on tch; [`plot`]: the learning curve and `picorl plot`;
//!   [`render`]: `picorl render` (episode GIFs, grid-world policy pictures);
//!   [`tensorboard`]: event files beside `metrics.csv`; [`device`]: CPU/GPU.
//! - [`limits`]: the bounds of every number the command line takes; [`signal`]: SIGINT and
//!   SIGTERM during training; [`pipe`]: a closed stdout ends quietly; [`seeds`]: `--seeds`.
//! - [`tune`]: `picorl tune`, hyper-parameter search on Optuna; [`import`]: `picorl import`, an
//!   ONNX policy trained elsewhere to a `.picorl` file.
#![deny(missing_docs)]

pub mod algo;
pub mod cli;
pub mod commands;
pub mod device;
pub mod envs;
pub mod eval;
pub mod export;
pub mod export_report;
pub mod gym;
pub mod import;
pub mod interop;
pub mod limits;
pub mod nets;
pub mod picorl_file;
pub mod pipe;
pub mod plot;
pub mod progress;
pub mod quant_budget;
pub mod quant_calib;
pub mod quant_fit;
pub mod quant_qat;
pub mod render;
pub mod render_gym;
pub mod render_user;
pub mod replay;
pub mod seeds;
pub mod signal;
pub mod suggest;
pub mod tensorboard;
pub mod trading;
pub mod train;
pub mod tune;
pub mod user_env;
pub mod vec_env;
