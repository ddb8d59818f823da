//! Replay memory: storing one transition and sampling a minibatch, uniform and prioritized.
//!
//! - `replay/core/…`: `picorl_core::replay` as a controller uses it (`ReplayBuffer` over a
//!   slice, `SumTree` beside it): push, a uniform draw of 256 slots, a priority update and a
//!   stratified draw of 256 slots, on a full buffer of 100,000 CartPole transitions.
//! - `replay/host/…`: the trainers' `Replay` (host), which also gathers the sampled transitions
//!   into libtorch tensors: push, and `sample` of a DQN-sized (64) and a PPO/SAC-sized (256)
//!   minibatch, uniform and prioritized (α 0.6, β 0.4).
//!
//! `cargo bench -p picorl-benches --bench main -- replay/`
use std::time::Duration;

use criterion::{black_box, Criterion, Throughput};
use picorl_core::env::Action;
use picorl_core::replay::{
    buffer_storage_len, tree_storage_len, ActionShape, ReplayBuffer, SumTree, Transition,
};
use picorl_core::rng::{seeded, unit_f32};
use picorl_host::algo::off_policy::replay::{Replay, ReplayOptions};

const CAPACITY: usize = 100_000;
const OBS: usize = 4;

/// A varied CartPole-sized transition number `k`.
fn transition(k: u32, obs: &mut [f32; OBS], next: &mut [f32; OBS]) -> (u32, f32, bool) {
    for (j, (o, n)) in obs.iter_mut().zip(next.iter_mut()).enumerate() {
        *o = ((k as f32) * 0.013 + j as f32).sin();
        *n = *o + 0.01;
    }
    (k & 1, 1.0, k % 200 == 199)
}

fn push_one(buf: &mut ReplayBuffer<Vec<f32>>, k: u32) -> usize {
    let (mut o, mut n) = ([0.0; OBS], [0.0; OBS]);
    let (a, r, term) = transition(k, &mut o, &mut n);
    buf.push(&Transition {
        obs: &o,
        action: Action::Discrete(a),
        reward: r,
        next_obs: &n,
        terminated: term,
        horizon: 1,
    })
    .expect("a valid transition")
}

pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("replay");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));

    // core: a full ring buffer.
    let len = buffer_storage_len(CAPACITY, OBS, ActionShape::Discrete).expect("fits");
    let mut buf = ReplayBuffer::new(vec![0.0f32; len], OBS, ActionShape::Discrete).expect("buffer");
    for k in 0..CAPACITY as u32 {
        push_one(&mut buf, k);
    }
    let mut k = CAPACITY as u32;
    g.bench_function("core/push", |b| {
        b.iter(|| {
            k = k.wrapping_add(1);
            black_box(push_one(&mut buf, k))
        })
    });
    let mut rng = seeded(3);
    let mut slots = vec![0usize; 256];
    g.throughput(Throughput::Elements(256));
    g.bench_function("core/sample_uniform/256", |b| {
        b.iter(|| {
            buf.sample_uniform(&mut rng, &mut slots).expect("not empty");
            black_box(&slots);
        })
    });
    let mut tree = SumTree::new(
        vec![0.0f32; tree_storage_len(CAPACITY).expect("fits")],
        CAPACITY,
    )
    .expect("tree");
    for i in 0..CAPACITY {
        tree.set(i, 0.1 + unit_f32(&mut rng)).expect("in range");
    }
    g.bench_function("core/sample_prioritized/256", |b| {
        b.iter(|| {
            tree.sample_stratified(&mut rng, &mut slots)
                .expect("not empty");
            black_box(&slots);
        })
    });
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("core/priority_update", |b| {
        b.iter(|| {
            i = (i + 7919) % CAPACITY;
            tree.set(i, black_box(0.5)).expect("in range");
        })
    });

    // host: the trainers' memory, minibatches gathered into tensors.
    for (name, alpha) in [("uniform", None), ("prioritized", Some(0.6))] {
        let opts = ReplayOptions {
            capacity: CAPACITY,
            gamma: 0.99,
            n_step: 1,
            prioritized_alpha: alpha,
            prioritized_eps: 1e-6,
        };
        let mut replay = Replay::new(OBS, ActionShape::Discrete, &opts, 0).expect("replay");
        let (mut o, mut n) = ([0.0; OBS], [0.0; OBS]);
        let mut push = |replay: &mut Replay, k: u32| {
            let (a, r, term) = transition(k, &mut o, &mut n);
            replay
                .push(&Transition {
                    obs: &o,
                    action: Action::Discrete(a),
                    reward: r,
                    next_obs: &n,
                    terminated: term,
                    horizon: 1,
                })
                .expect("a valid transition")
        };
        for k in 0..CAPACITY as u32 {
            push(&mut replay, k);
        }
        let mut k = CAPACITY as u32;
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("host/{name}/push"), |b| {
            b.iter(|| {
                k = k.wrapping_add(1);
                push(&mut replay, k)
            })
        });
        for batch in [64usize, 256] {
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(format!("host/{name}/sample/{batch}"), |b| {
                b.iter(|| black_box(replay.sample(batch, 0.4, tch::Device::Cpu).expect("sample")))
            });
        }
    }
    g.finish();
}
