//! Best-of-batches timings of environment steps, for a shared, loaded machine where criterion's
//! means swing with other people's work: each figure is the fastest of many short batches (the
//! cost of a step when the core is ours), the same subjects as `benches/env.rs`.
//!
//! `cargo run --release -p picorl-benches --example best_of`
use std::collections::BTreeMap;
use std::hint::black_box;

use picorl_benches::best;
use picorl_core::env::{
    make, Acrobot, Action, CartPole, CliffWalking, Env, EnvOptions, FrozenLake, MapDesc,
    MountainCar, MountainCarContinuous, Pendulum, Space, Taxi,
};
use picorl_host::envs::vec_env::{Actions, VecEnv};

/// One environment stepped as `benches/env.rs` steps it (best of 300 batches of 2000 steps).
fn single<E: Env>(name: &str, mut env: E) {
    const TORQUES: [f32; 4] = [1.0, -0.5, 0.25, -1.0];
    let dim = env.spec().observation_space.flat_dim();
    let n = match env.spec().action_space {
        Space::Discrete { n } => Some(n),
        Space::Box { .. } => None,
    };
    let mut obs = vec![0.0f32; dim];
    env.reset(Some(0), &mut obs[..dim]).unwrap();
    let mut t = 0u32;
    let s = best(300, 2000, || {
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
    });
    println!("env/{name}/step: {:.1} ns", s * 1e9);
}

fn main() {
    single("CartPole-v1", CartPole::new());
    single("MountainCar-v0", MountainCar::new());
    single("MountainCarContinuous-v0", MountainCarContinuous::new());
    single("Pendulum-v1", Pendulum::new());
    single("Acrobot-v1", Acrobot::new());
    single(
        "FrozenLake-v1",
        FrozenLake::new(MapDesc::FOUR_BY_FOUR, true),
    );
    single("FrozenLake8x8-v1", FrozenLake::eight_by_eight());
    single("CliffWalking-v1", CliffWalking::new(false));
    single("CliffWalkingSlippery-v1", CliffWalking::new(true));
    single("Taxi-v4", Taxi::new());
    let any = make("CartPole-v1", &EnvOptions::new()).unwrap();
    single("AnyEnv(CartPole-v1)", any);

    for (id, n, threads, batches, per) in [
        ("CartPole-v1", 8, 1, 300, 250),
        ("CartPole-v1", 8, 2, 50, 20),
        ("CartPole-v1", 256, 1, 300, 10),
        ("CartPole-v1", 256, 2, 100, 5),
        ("Acrobot-v1", 256, 1, 100, 5),
        ("Acrobot-v1", 256, 2, 100, 5),
        ("CartPole-v1", 4096, 1, 50, 2),
        ("CartPole-v1", 4096, 2, 50, 2),
        ("Acrobot-v1", 4096, 1, 30, 1),
        ("Acrobot-v1", 4096, 2, 30, 1),
    ] {
        let envs = (0..n)
            .map(|_| picorl_host::envs::make(id, &BTreeMap::new()))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut v = VecEnv::new(envs).unwrap();
        v.set_threads(threads);
        v.reset(0).unwrap();
        let actions: [Vec<u32>; 2] = [
            (0..n as u32).map(|i| i % 2).collect(),
            (0..n as u32).map(|i| (i / 2) % 2).collect(),
        ];
        let mut k = 0usize;
        let s = best(batches, per, || {
            v.step(Actions::Discrete(&actions[k & 1])).unwrap();
            k += 1;
            black_box(v.obs());
        });
        println!(
            "vec_env/{id} x{n} threads={threads}: {:.2} µs a call, {:.1} M env-steps/s",
            s * 1e6,
            n as f64 / s / 1e6
        );
    }
}
