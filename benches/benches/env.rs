//! Environment step cost: one `step` of every environment in core (concrete types, as firmware
//! calls them), a reset whenever an episode ends, plus CartPole through `AnyEnv` to show what
//! the enum dispatch a host uses costs.
use criterion::{black_box, Criterion};
use picorl_core::env::{
    make, Acrobot, Action, CartPole, CliffWalking, Env, EnvOptions, FrozenLake, MapDesc,
    MountainCar, MountainCarContinuous, Pendulum, Space, Taxi, MAX_OBS_DIM,
};

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

    step_bench(c, "env/MountainCar-v0/step", MountainCar::new());
    step_bench(
        c,
        "env/MountainCarContinuous-v0/step",
        MountainCarContinuous::new(),
    );
    step_bench(c, "env/Pendulum-v1/step", Pendulum::new());
    step_bench(c, "env/Acrobot-v1/step", Acrobot::new());
    step_bench(
        c,
        "env/FrozenLake-v1/step",
        FrozenLake::new(MapDesc::FOUR_BY_FOUR, true),
    );
    step_bench(c, "env/FrozenLake8x8-v1/step", FrozenLake::eight_by_eight());
    step_bench(c, "env/CliffWalking-v1/step", CliffWalking::new(false));
    step_bench(
        c,
        "env/CliffWalkingSlippery-v1/step",
        CliffWalking::new(true),
    );
    step_bench(c, "env/Taxi-v4/step", Taxi::new());
    let any = make("CartPole-v1", &EnvOptions::new()).unwrap();
    step_bench(c, "env/AnyEnv(CartPole-v1)/step", any);
}

/// Steps `env` with a fixed cycle of actions, resetting when an episode ends.
fn step_bench<E: Env>(c: &mut Criterion, name: &str, mut env: E) {
    const TORQUES: [f32; 4] = [1.0, -0.5, 0.25, -1.0];
    let dim = env.spec().observation_space.flat_dim();
    let n = match env.spec().action_space {
        Space::Discrete { n } => Some(n),
        Space::Box { .. } => None,
    };
    let mut obs = [0.0f32; MAX_OBS_DIM];
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
