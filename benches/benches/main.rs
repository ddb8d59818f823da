//! picorl's criterion suite: one entry point, one module per subject.
use criterion::{criterion_group, criterion_main};

mod env;
mod nn;
mod tabular;

criterion_group!(benches, env::bench, nn::bench, tabular::bench);
criterion_main!(benches);
