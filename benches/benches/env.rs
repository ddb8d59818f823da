//! Environment step cost: one `step` of every environment in core (concrete types, as firmware
//! calls them), a reset whenever an episode ends, plus CartPole through `AnyEnv` to show what
//! the enum dispatch a host uses costs, and the host-only Trading-v0 (boxed, as the host makes
//! it); then the host's `VecEnv`: every environment ×8, and CartPole-v1 and Acrobot-v1 at 8, 256
//! and 4096 copies sequentially and spread over 2 threads, in environment steps per second.
use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{black_box, Criterion, Throughput};
use picorl_core::env::{
    make, Acrobot, Action, CartPole, CliffWalking, Env, EnvOptions, FrozenLake, MapDesc,
    MountainCar, MountainCarContinuous, Pendulum, Space, Taxi,
};
use picorl_host::envs::vec_env::{Actions, VecEnv};

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

    step_bench(c, "env/MountainCar-v0/step", &mut MountainCar::new());
    step_bench(
        c,
        "env/MountainCarContinuous-v0/step",
        &mut MountainCarContinuous::new(),
    );
    step_bench(c, "env/Pendulum-v1/step", &mut Pendulum::new());
    step_bench(c, "env/Acrobot-v1/step", &mut Acrobot::new());
    step_bench(
        c,
        "env/FrozenLake-v1/step",
        &mut FrozenLake::new(MapDesc::FOUR_BY_FOUR, true),
    );
    step_bench(
        c,
        "env/FrozenLake8x8-v1/step",
        &mut FrozenLake::eight_by_eight(),
    );
    step_bench(c, "env/CliffWalking-v1/step", &mut CliffWalking::new(false));
    step_bench(
        c,
        "env/CliffWalkingSlippery-v1/step",
        &mut CliffWalking::new(true),
    );
    step_bench(c, "env/Taxi-v4/step", &mut Taxi::new());
    let mut any = make("CartPole-v1", &EnvOptions::new()).unwrap();
    step_bench(c, "env/AnyEnv(CartPole-v1)/step", &mut any);
    let mut trading = picorl_host::envs::make("Trading-v0", &BTreeMap::new()).unwrap();
    step_bench(c, "env/Trading-v0/step", &mut *trading);

    vec_bench(c);
}

/// `VecEnv::step` over `n` copies (host boxes, autoreset), `threads` 1 (sequential) or 2
/// (scoped threads, one chunk each): throughput in environment steps.
fn vec_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("vec_env");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let mut cases: Vec<(&str, usize, usize)> = picorl_host::envs::ids()
        .into_iter()
        .map(|id| (id, 8, 1))
        .collect();
    cases.extend([
        ("CartPole-v1", 8, 2),
        ("CartPole-v1", 256, 1),
        ("CartPole-v1", 256, 2),
        ("Acrobot-v1", 256, 1),
        ("Acrobot-v1", 256, 2),
        ("CartPole-v1", 4096, 1),
        ("CartPole-v1", 4096, 2),
        ("Acrobot-v1", 4096, 1),
        ("Acrobot-v1", 4096, 2),
    ]);
    for (id, n, threads) in cases {
        let envs = (0..n)
            .map(|_| picorl_host::envs::make(id, &BTreeMap::new()))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut v = VecEnv::new(envs).unwrap();
        v.set_threads(threads);
        v.reset(0).unwrap();
        // Two action vectors, alternated: a mix of actions, and episodes that end now and then.
        let (discrete, continuous) = action_cycle(&v.spec().action_space, n);
        let mut t = 0usize;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{id} x{n} threads={threads}"), |b| {
            b.iter(|| {
                let k = t & 1;
                let a = match &discrete {
                    Some(d) => Actions::Discrete(&d[k]),
                    None => Actions::Continuous(&continuous[k]),
                };
                v.step(a).unwrap();
                t = t.wrapping_add(1);
                black_box(v.obs());
            })
        });
    }
    g.finish();
}

/// Two alternating action vectors for `n` copies: discrete indices cycling through the action
/// set, or continuous components spread over [-1, 1].
#[allow(clippy::type_complexity)] // a pair of alternatives, used once
fn action_cycle(space: &Space, n: usize) -> (Option<[Vec<u32>; 2]>, [Vec<f32>; 2]) {
    match *space {
        Space::Discrete { n: k } => (
            Some([
                (0..n as u32).map(|i| i % k).collect(),
                (0..n as u32).map(|i| (i / 2) % k).collect(),
            ]),
            [Vec::new(), Vec::new()],
        ),
        Space::Box { .. } => {
            let dim = space.flat_dim();
            let u = |s: f32| (0..n * dim).map(|i| ((i as f32) * 0.7 + s).sin()).collect();
            (None, [u(0.0), u(1.0)])
        }
    }
}

/// Steps `env` with a fixed cycle of actions, resetting when an episode ends.
fn step_bench<E: Env + ?Sized>(c: &mut Criterion, name: &str, env: &mut E) {
    const TORQUES: [f32; 4] = [1.0, -0.5, 0.25, -1.0];
    let dim = env.spec().observation_space.flat_dim();
    let n = match env.spec().action_space {
        Space::Discrete { n } => Some(n),
        Space::Box { .. } => None,
    };
    let mut obs = vec![0.0f32; dim];
    env.reset(Some(0), &mut obs[..dim]).unwrap();
    let mut t = 0u32;
    c.bench_function(name, |b| {
        b.iter(|| {
            let u = [TORQUES[(t & 3) as usize]];
            let action = match n {
                Some(n) => Action::Discrete(t % n),
                None => Action::Continuous(&u),
            };
            let r = env.step(black_box(action), &mut obs[..dim]).unwrap();
            t = t.wrapping_add(1);
            if r.done() {
                env.reset(None, &mut obs[..dim]).unwrap();
            }
            black_box(&obs);
        })
    });
}
