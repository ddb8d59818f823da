//! picorl's criterion suite: one entry point, one module per subject.
use criterion::{criterion_group, criterion_main};

mod env;

criterion_group!(benches, env::bench);
criterion_main!(benches);
