//! Environment step cost.
use criterion::{black_box, Criterion};
use picorl_core::env::{Action, CartPole, Env};

pub fn bench(c: &mut Criterion) {
    let mut env = CartPole::new();
    let mut obs = [0.0f32; 4];
    env.reset(Some(0), &mut obs).unwrap();
    let mut t = 0u32;
    c.bench_function("env/CartPole-v1/step", |b| {
        b.iter(|| {
            let r = env.step(Action::Discrete(t & 1), &mut obs).unwrap();
            t = t.wrapping_add(1);
            if r.done() {
                env.reset(None, &mut obs).unwrap();
            }
            black_box(&obs);
        })
    });
}
