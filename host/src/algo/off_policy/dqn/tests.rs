//! Tests of [`super`] (`dqn`).

use super::*;
use crate::algo::off_policy::options::OffPolicyOptions;
use crate::train::config::{self, ResolvedConfig, RunOptions, Source};
use picorl_core::env::Action;
use picorl_core::replay::Transition;

pub(crate) fn setup(env: &str, seed: u64) -> Setup {
    let run = RunOptions {
        seed,
        eval_episodes: 1,
        ..RunOptions::for_tests("dqn", env, 10_000)
    };
    let spec = *crate::envs::make(env, &run.env_kwargs).unwrap().spec();
    Setup {
        run,
        device: tch::Device::Cpu,
        spec,
    }
}

fn push(
    d: &mut Dqn,
    obs: [f32; 4],
    a: u32,
    r: f32,
    next: [f32; 4],
    terminated: bool,
    horizon: u32,
) {
    let t = Transition {
        obs: &obs,
        action: Action::Discrete(a),
        reward: r,
        next_obs: &next,
        terminated,
        horizon,
    };
    d.col.replay.push(&t).unwrap();
}

fn perturb(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let noise = v.randn_like() * 0.5;
            let _ = v.g_add_(&noise);
        }
    });
}

#[test]
fn td_targets_by_hand_double_and_vanilla() {
    let _turn = crate::train::torch_generator();
    tch::manual_seed(2);
    for double in [true, false] {
        let cfg = DqnConfig {
            double,
            off: OffPolicyOptions {
                gamma: 0.9,
                ..DqnConfig::default().off
            },
            hidden: vec![16],
            ..Default::default()
        };
        let mut d = Dqn::new(&setup("CartPole-v1", 0), cfg).unwrap();
        // Online and target differ, so the double and vanilla targets differ.
        perturb(&d.online_vs);
        let s2 = [0.1f32, -0.2, 0.03, 0.4];
        let s3 = [-0.5f32, 0.7, 0.2, -0.1];
        // A 2-step transition (bootstrapped with γ² = 0.81), a terminal one, a truncated one
        // (bootstrapped from its final observation with γ = 0.9).
        push(&mut d, [0.0; 4], 1, 1.9, s2, false, 2);
        push(&mut d, [0.0; 4], 0, 1.0, s3, true, 1);
        push(&mut d, [0.0; 4], 0, 1.0, s3, false, 1);
        let b = d
            .col
            .replay
            .gather(vec![0, 1, 2], 1.0, tch::Device::Cpu)
            .unwrap();
        let y = tensor_to_vec(&d.td_targets(&b, None));
        let value = |next: &[f32]| {
            let x = Tensor::from_slice(next).view([1, 4]);
            let qt = tensor_to_vec(&d.target.forward(&x, Mode::Eval));
            let qo = tensor_to_vec(&d.q.forward(&x, Mode::Eval));
            if double {
                qt[argmax(&qo) as usize]
            } else {
                qt[0].max(qt[1])
            }
        };
        let expect = [1.9 + 0.81 * value(&s2), 1.0, 1.0 + 0.9 * value(&s3)];
        for k in 0..3 {
            assert!(
                (y[k] - expect[k]).abs() < 1e-5,
                "double {double}: {y:?} vs {expect:?}"
            );
        }
    }
}

#[test]
fn joint_and_separate_online_passes_agree() {
    let _turn = crate::train::torch_generator();
    // The joint pass over (obs, next_obs) is only a speed-up: the same targets either way.
    tch::manual_seed(3);
    let mut d = Dqn::new(
        &setup("CartPole-v1", 0),
        DqnConfig {
            hidden: vec![8],
            ..Default::default()
        },
    )
    .unwrap();
    perturb(&d.online_vs);
    for k in 0..8 {
        let o = [k as f32 * 0.1, 0.0, -0.1, 0.2];
        push(
            &mut d,
            o,
            k % 2,
            1.0,
            [0.2, k as f32 * -0.1, 0.0, 0.1],
            false,
            1,
        );
    }
    let b = d
        .col
        .replay
        .gather((0..8).collect(), 1.0, tch::Device::Cpu)
        .unwrap();
    let both =
        d.q.forward(&Tensor::cat(&[&b.obs, &b.next_obs], 0), Mode::Act);
    let joint = tensor_to_vec(&d.td_targets(&b, Some(both.narrow(0, 8, 8))));
    let separate = tensor_to_vec(&d.td_targets(&b, None));
    for (a, b) in joint.iter().zip(&separate) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn collector_bootstraps_truncation_and_not_termination() {
    // MountainCar-v0 never reaches the goal pushing nowhere (action 1): truncated at 200.
    let s = setup("MountainCar-v0", 4);
    let mut d = Dqn::new(
        &s,
        DqnConfig {
            hidden: vec![8],
            off: OffPolicyOptions {
                buffer_size: 1000,
                ..DqnConfig::default().off
            },
            ..Default::default()
        },
    )
    .unwrap();
    let mut last_obs = vec![];
    for t in 0..201 {
        if t == 199 {
            last_obs = d.col.collector.obs().to_vec();
        }
        d.col
            .collector
            .step(Actions::Discrete(&[1]), &mut d.col.replay)
            .unwrap();
        if t == 199 {
            assert!(d.col.collector.envs.truncated()[0] && !d.col.collector.envs.terminated()[0]);
        }
    }
    let end = d.col.replay.buffer().get(199).unwrap();
    let next_start = d.col.replay.buffer().get(200).unwrap();
    assert_eq!(end.obs, &last_obs[..]);
    assert!(!end.terminated, "a truncated step bootstraps");
    // Its next observation is the final one, not the reset observation of the next episode.
    assert_eq!(end.next_obs, d.col.collector.envs.final_obs());
    assert_ne!(end.next_obs, next_start.obs);
    assert!(
        (end.next_obs[0] - end.obs[0]).abs() < 0.01,
        "the final observation follows the last one"
    );
    let b = d
        .col
        .replay
        .gather(vec![199], 1.0, tch::Device::Cpu)
        .unwrap();
    assert_eq!(tensor_to_vec(&b.discounts), vec![0.99]);

    // CartPole-v1 pushed left falls within a few dozen steps: terminated, no bootstrap.
    let mut d = Dqn::new(
        &setup("CartPole-v1", 4),
        DqnConfig {
            hidden: vec![8],
            ..Default::default()
        },
    )
    .unwrap();
    let mut t = 0;
    loop {
        d.col
            .collector
            .step(Actions::Discrete(&[0]), &mut d.col.replay)
            .unwrap();
        if d.col.collector.envs.terminated()[0] {
            break;
        }
        t += 1;
        assert!(t < 100);
    }
    let end = d.col.replay.buffer().get(t).unwrap();
    assert!(end.terminated);
    assert_eq!(end.next_obs, d.col.collector.envs.final_obs());
    let b = d.col.replay.gather(vec![t], 1.0, tch::Device::Cpu).unwrap();
    assert_eq!(tensor_to_vec(&b.discounts), vec![0.0]);
}

#[test]
fn export_and_cpu_copy_match_the_q_network() {
    let _turn = crate::train::torch_generator();
    tch::manual_seed(6);
    let cfg = DqnConfig {
        dueling: true,
        hidden: vec![16, 16],
        ..Default::default()
    };
    let mut d = Dqn::new(&setup("Acrobot-v1", 0), cfg).unwrap();
    perturb(&d.online_vs);
    d.refresh_cpu_copy();
    assert!(d.acts_on_cpu_copy());
    let obs = [0.9f32, 0.1, -0.3, 0.95, 1.5, -2.0];
    let q = d.q_values(&obs);
    let mut cpu = CpuNet::new(&d.export().unwrap());
    let c = cpu.forward(&obs).unwrap().to_vec();
    for k in 0..3 {
        assert!((q[k] - c[k]).abs() < 1e-5, "{q:?} vs {c:?}");
    }
    assert_eq!(d.act(&obs).unwrap(), OwnedAction::Discrete(argmax(&q)));
    assert!(d.act(&obs[..5]).is_err());
}

#[test]
fn continuous_action_spaces_are_refused() {
    let e = Dqn::new(&setup("Pendulum-v1", 0), DqnConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("discrete"), "{e}");
    let e = Dqn::new(
        &setup("CartPole-v1", 0),
        DqnConfig {
            off: OffPolicyOptions {
                n_step: 0,
                ..DqnConfig::default().off
            },
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("n_step"), "{e}");
}

/// A fresh directory under the system's temporary folder.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("picorl-dqn-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The resolved config of the built-in `[env]` section with `sets` applied, as the CLI does.
fn resolved(env: &str, seed: u64, sets: &[&str], total: u64, stop: Option<f64>) -> ResolvedConfig {
    let src = Source::BuiltIn("dqn.toml".into());
    let mut section = config::section::<DqnConfig>(Dqn::CONFIG, &src, env).unwrap();
    for s in sets {
        config::apply_set::<DqnConfig>(&mut section, s).unwrap();
    }
    let (_, hyper, run_keys) = config::resolve::<DqnConfig>(section, &src).unwrap();
    let mut run = setup(env, seed).run;
    if let Some(n) = config::run_key(&run_keys, "log_interval", &src).unwrap() {
        run.log_interval = n;
    }
    run.total_steps = total;
    run.eval_every = 5000;
    run.eval_episodes = 20;
    run.stop_at_return = stop;
    ResolvedConfig { run, hyper }
}

/// The seeded end-to-end check: the shipped CartPole-v1 config solves it (mean return ≥ 475
/// over 20 evaluation episodes) within its 50,000-step budget. Seeds 0-9 solved within
/// 15k-30k steps (3.5k-7.3k updates, 2-5 s of CPU on the 2-core development machine); the
/// test's budget allows the whole 50k. `picorl eval` of the run directory then reproduces the
/// final evaluation.
#[test]
fn solves_cartpole() {
    crate::algo::off_policy::continuous::testing::solves::<Dqn>(
        "CartPole-v1",
        1,
        475.0,
        50_000,
        5000,
    );
}

/// Same seed, same run: metrics.csv (the wall clock is in timing.csv) and the episodes repeat
/// byte for byte.
#[test]
fn same_seed_same_run() {
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).unwrap();
    let mut outs = vec![];
    for k in 0..2 {
        let dir = temp_dir(&format!("same{k}"));
        let cfg = resolved(
            "CartPole-v1",
            3,
            &["prioritized=true", "dueling=true", "log_interval=500"],
            6000,
            None,
        );
        crate::train::run::<Dqn>(&cfg, &dir, false, true).unwrap();
        outs.push((
            read(dir.join("metrics.csv")),
            std::fs::read_to_string(dir.join("episodes.csv")).unwrap(),
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(outs[0].0.lines().count() > 10);
    assert_eq!(outs[0], outs[1]);
}

/// Every option trains (finite losses, a checkpoint that loads back into the same Q-values).
#[test]
fn every_option_trains_and_round_trips() {
    let variants: &[&[&str]] = &[
        &[
            "double=false",
            "loss=\"mse\"",
            "tau=0.05",
            "target_update_interval=1",
        ],
        &["dueling=true", "prioritized=true", "n_step=4"],
        &[
            "noisy=true",
            "exploration_initial_eps=0.0",
            "exploration_final_eps=0.0",
            "dropout=0.1",
        ],
        &[
            "n_envs=3",
            "gradient_steps=-1",
            "train_freq=4",
            "cpu_acting=false",
        ],
    ];
    for (k, sets) in variants.iter().enumerate() {
        let dir = temp_dir(&format!("opt{k}"));
        let cfg = resolved("CartPole-v1", 5, sets, 3000, None);
        crate::train::run::<Dqn>(&cfg, &dir, false, true).unwrap();
        let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        let last = metrics
            .lines()
            .last()
            .unwrap()
            .split(',')
            .collect::<Vec<_>>();
        let loss: f64 = last[4].parse().unwrap();
        assert!(loss.is_finite(), "{sets:?}: {metrics}");
        let (a, _) = crate::train::load_run::<Dqn>(
            &dir,
            &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
        )
        .unwrap();
        let (b, _) = crate::train::load_run::<Dqn>(
            &dir,
            &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
        )
        .unwrap();
        let obs = [0.01f32, 0.1, -0.02, 0.3];
        assert_eq!(a.q_values(&obs), b.q_values(&obs));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
