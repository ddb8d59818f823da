//! Tabular learning: the cost of one Q-update (with the next action's ε-greedy draw), and
//! FrozenLake training episodes per second, all through `picorl_core::tabular` as the firmware
//! runs it.
use std::ops::ControlFlow;

use criterion::{black_box, Criterion, Throughput};
use picorl_core::env::{FrozenLake, MapDesc};
use picorl_core::rng::{self, Pcg32};
use picorl_core::tabular::{self, Experience, Hyper, Learner, QTable, QView, Rule, Schedule};

/// The built-in FrozenLake-v1 configuration's learner, mid-training (ε 0.1, α 0.1).
fn learner(rule: Rule) -> Learner {
    Learner::new(Hyper {
        rule,
        learning_rate: Schedule::Constant(0.1),
        gamma: 0.99,
        epsilon: Schedule::Constant(0.1),
        ..Hyper::SEED
    })
    .expect("valid hyper-parameters")
}

/// One training episode through core's loop (the one the host and the firmware run): its length.
fn episode(
    env: &mut FrozenLake,
    learner: &mut Learner,
    q: &mut QView<&mut [f32]>,
    rng: &mut Pcg32,
    seed: u64,
) -> u32 {
    tabular::run_episode(env, Some(seed), learner, q, rng, |_| {
        ControlFlow::Continue(())
    })
    .expect("episode")
    .length
}

pub fn bench(c: &mut Criterion) {
    for (name, rule) in [("qlearning", Rule::QLearning), ("sarsa", Rule::Sarsa)] {
        let l = learner(rule);
        let mut table = QTable::<16, 4>::new();
        let mut q = table.view_mut();
        let mut r = rng::seeded(0);
        let mut k = 0u32;
        c.bench_function(&format!("tabular/{name}/update"), |b| {
            b.iter(|| {
                k = k.wrapping_add(1);
                let exp = Experience::new(k % 16, k % 4, 0.0, (k + 1) % 16, false);
                black_box(l.learn(&mut q, black_box(&exp), &mut r).expect("learn"))
            })
        });
    }

    // Training episodes per second (criterion's throughput: 1 element = 1 episode).
    let mut group = c.benchmark_group("tabular/episode");
    group.throughput(Throughput::Elements(1));
    let envs = [
        (
            "FrozenLake-v1",
            FrozenLake::new(MapDesc::FOUR_BY_FOUR, true),
        ),
        ("FrozenLake8x8-v1", FrozenLake::eight_by_eight()),
    ];
    for (id, mut env) in envs {
        // A table trained for a while first, so that the episodes have their typical length.
        let mut table = [0.0f32; 64 * 4];
        let cells = env.map().n_cells() * 4;
        let mut q = QView::new(&mut table[..cells], 4).expect("table");
        let mut l = learner(Rule::QLearning);
        let mut r = rng::seeded(1);
        for seed in 0..2000 {
            episode(&mut env, &mut l, &mut q, &mut r, seed);
        }
        let mut seed = 2000u64;
        group.bench_function(id, |b| {
            b.iter(|| {
                seed += 1;
                black_box(episode(&mut env, &mut l, &mut q, &mut r, seed))
            })
        });
    }
    group.finish();
}
