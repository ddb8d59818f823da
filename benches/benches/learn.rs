//! Learning steps: generalized advantage estimation over a rollout, PPO's update and DQN's
//! gradient step on CartPole-sized batches, one libtorch thread (the protocol of the side-by-side
//! runs).
//!
//! - `learn/gae/…`: [`gae`] over rl-baselines3-zoo's CartPole-v1 rollout (8 envs × 32 steps)
//!   and a larger one (16 envs × 256 steps, Acrobot-v1's config).
//! - `learn/ppo/…`: [`ppo::update`] with `host/configs/ppo.toml`'s CartPole-v1 settings (a
//!   4-64-64 hardtanh actor-critic, 256 samples, minibatch 256): one minibatch gradient step
//!   (`n_epochs` 1), and the whole update phase of one rollout (20 epochs, what a training
//!   iteration costs besides collecting).
//! - `learn/dqn/…`: one DQN gradient step ([`Dqn::gradient_step`]) with `host/configs/dqn.toml`'s
//!   CartPole-v1 settings (dueling 4-64-64, Double DQN, 3-step returns, batch 128, from a replay
//!   memory of 10,000 transitions), and the same with prioritized replay (sampling from the
//!   sum-tree, importance weights, priority updates) and with noisy layers, on the native
//!   backend; `batch128_torch` is the first on libtorch (`--backend torch`).
//!
//! `cargo bench -p picorl-benches --bench main -- learn/`
use std::time::Duration;

use criterion::{black_box, Criterion, Throughput};
use picorl_core::env::Action;
use picorl_core::replay::Transition;
use picorl_host::algo::backend::{AdamConfig, Backend, Optimizer};
use picorl_host::algo::off_policy::dqn::{Dqn, DqnConfig};
use picorl_host::algo::on_policy::actor_critic::ActorCritic;
use picorl_host::algo::on_policy::options::PgOptions;
use picorl_host::algo::on_policy::ppo::{self, PpoConfig, Schedule};
use picorl_host::algo::on_policy::rollout::{gae, Rollout};
use picorl_host::export::Activation;
use picorl_host::train::config::{self, BackendChoice, RunOptions, Source};
use picorl_host::train::{Algorithm, Setup};

/// A synthetic rollout of `n_envs` × `steps` CartPole transitions: varied observations, reward
/// 1 per step, an episode end every 97 steps, values and log-probabilities of a fresh policy's
/// magnitude.
fn rollout(n_envs: usize, steps: usize) -> Rollout {
    let n = n_envs * steps;
    Rollout {
        obs: (0..n * 4).map(|i| (i as f32 * 0.37).sin() * 0.2).collect(),
        actions_discrete: (0..n as i64).map(|i| (i * 7 / 3) % 2).collect(),
        actions_continuous: Vec::new(),
        log_probs: (0..n).map(|i| -0.69 + 0.01 * (i % 5) as f32).collect(),
        values: (0..n).map(|i| (i as f32 * 0.11).cos()).collect(),
        rewards: vec![1.0; n],
        dones: (0..n).map(|i| i % 97 == 96).collect(),
        last_values: vec![0.5; n_envs],
        n_envs,
    }
}

pub fn bench(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut g = c.benchmark_group("learn");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    for (n_envs, steps) in [(8usize, 32usize), (16, 256)] {
        let r = rollout(n_envs, steps);
        g.throughput(Throughput::Elements((n_envs * steps) as u64));
        g.bench_function(format!("gae/{n_envs}x{steps}"), |b| {
            b.iter(|| {
                black_box(gae(
                    black_box(&r.rewards),
                    &r.values,
                    &r.dones,
                    &r.last_values,
                    r.n_envs,
                    0.98,
                    0.8,
                ))
            })
        });
    }

    // host/configs/ppo.toml, [CartPole-v1].
    let spec = picorl_host::envs::spec("CartPole-v1").expect("CartPole-v1 exists");
    let base = PpoConfig {
        pg: PgOptions {
            n_envs: 8,
            gamma: 0.98,
            lr_schedule: Schedule::Linear,
            activation: Activation::Hardtanh,
            ..PgOptions::default()
        },
        n_steps: 32,
        batch_size: 128,
        n_epochs: 5,
        gae_lambda: 0.8,
        learning_rate: 3e-3,
        clip_range: 0.2,
        clip_schedule: Schedule::Linear,
        ..PpoConfig::default()
    };
    let r = rollout(base.pg.n_envs, base.n_steps);
    let (adv, ret) = r.gae(base.pg.gamma, base.gae_lambda);
    g.throughput(Throughput::Elements(1));
    // picorl's config (one epoch: two minibatches of 128; the whole update: 5 epochs) and
    // rl-baselines3-zoo's (one minibatch of 256, 20 epochs), on the same 256-step rollout.
    // On both backends: the native learner and libtorch on the CPU.
    for (name, batch, epochs) in [
        ("epoch_2x128", 128, 1usize),
        ("update_2x128x5_epochs", 128, 5),
        ("zoo_minibatch_256", 256, 1),
        ("zoo_update_256x20_epochs", 256, 20),
    ] {
        let cfg = PpoConfig {
            batch_size: batch,
            n_epochs: epochs,
            ..base.clone()
        };
        for backend in [Backend::Native, Backend::Torch(tch::Device::Cpu)] {
            let opts = cfg.net_options();
            let opt = Optimizer::Adam(AdamConfig {
                lr: cfg.learning_rate as f32,
                eps: 1e-5,
            });
            let mut init = picorl_core::rng::seeded(1);
            let mut ac = ActorCritic::new(&spec, backend, &opts, opts.activation, opt, &mut init)
                .expect("the networks build");
            let mut rng = picorl_core::rng::seeded(0);
            let mut mb = ppo::Minibatch::default();
            g.bench_function(format!("ppo/CartPole-v1/{name}/{}", backend.name()), |b| {
                b.iter(|| {
                    let stats = ppo::update(&mut ac, &cfg, 0.2, &r, &adv, &ret, &mut rng, &mut mb)
                        .expect("the update runs");
                    black_box(stats)
                })
            });
        }
    }
    dqn(&mut g);
    g.finish();
}

/// DQN's gradient step on CartPole-v1 (the built-in config), plain, prioritized and noisy.
fn dqn(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let source = Source::BuiltIn("dqn".into());
    let section = config::section::<DqnConfig>(Dqn::CONFIG, &source, "CartPole-v1")
        .expect("dqn.toml has CartPole-v1");
    let (base, _, _) =
        config::resolve::<DqnConfig>(section, &source).expect("dqn.toml's CartPole-v1 resolves");
    let spec = picorl_host::envs::spec("CartPole-v1").expect("CartPole-v1 exists");
    let mut setup = Setup {
        run: RunOptions {
            algo: "dqn".into(),
            env: "CartPole-v1".into(),
            env_kwargs: Default::default(),
            seed: 0,
            device: "cpu".into(),
            threads: 1,
            total_steps: 50_000,
            eval_every: 0,
            eval_episodes: 1,
            stop_at_return: None,
            log_interval: picorl_host::train::config::LOG_INTERVAL,
            stop_at_hover: None,
            gym_packages: Vec::new(),
            backend: Default::default(),
        },
        device: tch::Device::Cpu,
        spec,
    };
    g.throughput(Throughput::Elements(1));
    for (name, prioritized, noisy, backend) in [
        ("batch128", false, false, BackendChoice::Native),
        ("batch128_prioritized", true, false, BackendChoice::Native),
        ("batch128_noisy", false, true, BackendChoice::Native),
        ("batch128_torch", false, false, BackendChoice::Torch),
    ] {
        setup.run.backend = backend;
        let cfg = DqnConfig {
            prioritized,
            noisy,
            ..base.clone()
        };
        let mut dqn = Dqn::new(&setup, cfg).expect("a DQN learner");
        // 10,000 varied CartPole-like transitions, an episode end every 97.
        for i in 0..10_000u32 {
            let f = i as f32;
            let obs = [
                (f * 0.37).sin() * 0.5,
                (f * 0.11).cos(),
                (f * 0.23).sin() * 0.1,
                (f * 0.05).cos() * 0.8,
            ];
            let next = obs.map(|v| v * 0.99 + 0.01);
            let t = Transition {
                obs: &obs,
                action: Action::Discrete(i % 2),
                reward: 1.0,
                next_obs: &next,
                terminated: i % 97 == 96,
                horizon: 3,
            };
            dqn.remember(&t).expect("a transition fits");
        }
        g.bench_function(format!("dqn/CartPole-v1/{name}"), |b| {
            b.iter(|| black_box(dqn.gradient_step(false).expect("a step")))
        });
    }
}
