//! picorl's criterion suite: one entry point, one module per subject.
//!
//! - `env`: a step of every environment, single and vectorized (`env/…`, `vec_env/…`);
//! - `nn`: inference, f32 and int8, 4-64-64-2 and 17-256-256-6, against libtorch's forward;
//! - `tabular`: the tabular Q-update and training episodes;
//! - `replay`: replay insert and sample, uniform and prioritized;
//! - `learn`: GAE over a rollout and PPO's update on a CartPole-sized batch;
//! - `native`: core's native learner against libtorch on one SAC-sized update, and the
//!   single-core flop rate.
//!
//! `cargo bench` runs them all; `cargo bench -p picorl-benches -- 'replay/'` one subject.
use criterion::{criterion_group, criterion_main};

mod env;
mod learn;
mod native;
mod nn;
mod replay;
mod tabular;

criterion_group!(
    benches,
    env::bench,
    nn::bench,
    tabular::bench,
    replay::bench,
    learn::bench,
    native::bench
);
criterion_main!(benches);
