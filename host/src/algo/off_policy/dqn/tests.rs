//! Tests of [`super`] (`dqn`).

use super::*;
use crate::algo::off_policy::options::OffPolicyOptions;
use crate::train::config::{self, BackendChoice, ResolvedConfig, RunOptions, Source};
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

/// A learner of `cfg` on CartPole-v1 on `backend`.
fn learner(cfg: DqnConfig, backend: BackendChoice, seed: u64) -> Dqn {
    let mut s = setup("CartPole-v1", seed);
    s.run.backend = backend;
    Dqn::new(&s, cfg).unwrap()
}

#[test]
fn td_targets_by_hand_double_and_vanilla() {
    for backend in [BackendChoice::Native, BackendChoice::Torch] {
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
            let mut d = learner(cfg, backend, 0);
            // Online and target differ, so the double and vanilla targets differ.
            d.q.perturb(&mut rng::seeded(2), 0.5);
            let s2 = [0.1f32, -0.2, 0.03, 0.4];
            let s3 = [-0.5f32, 0.7, 0.2, -0.1];
            // A 2-step transition (bootstrapped with γ² = 0.81), a terminal one, a truncated one
            // (bootstrapped from its final observation with γ = 0.9).
            push(&mut d, [0.0; 4], 1, 1.9, s2, false, 2);
            push(&mut d, [0.0; 4], 0, 1.0, s3, true, 1);
            push(&mut d, [0.0; 4], 0, 1.0, s3, false, 1);
            d.take_batch(Some(vec![0, 1, 2])).unwrap();
            d.td_targets().unwrap();
            let y = d.y.clone();
            let mut value = |next: &[f32]| {
                let qt = d.target.forward(next, 1, Mode::Eval).unwrap().to_vec();
                let qo = d.q.forward(next, 1, Mode::Eval).unwrap().to_vec();
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
                    "{backend:?} double {double}: {y:?} vs {expect:?}"
                );
            }
        }
    }
}

/// The TD loss's hand-written gradient (Huber and squared, importance-weighted, at the action
/// taken) is libtorch's autograd of the same loss: `huber_loss` (δ = 1) or the squared error,
/// times the weights, mean over the batch.
#[test]
fn loss_gradient_matches_autograd() {
    use tch::{Kind, Reduction, Tensor};
    let (rows, n) = (33, 3);
    let mut r = rng::seeded(7);
    let mut draw = |scale: f32| scale * (2.0 * rng::unit_f32(&mut r) - 1.0);
    let q_all: Vec<f32> = (0..rows * n).map(|_| draw(3.0)).collect();
    let y: Vec<f32> = (0..rows).map(|_| draw(3.0)).collect();
    let weights: Vec<f32> = (0..rows).map(|_| 0.5 + draw(0.5)).collect();
    let actions: Vec<usize> = (0..rows).map(|k| (k * 7) % n).collect();
    for loss in [Loss::Huber, Loss::Mse] {
        let (mut d_q, mut td) = (Vec::new(), Vec::new());
        let (l, q_mean) = loss_grad(loss, &q_all, n, &actions, &y, &weights, &mut d_q, &mut td);
        let qt = Tensor::from_slice(&q_all)
            .view([rows as i64, n as i64])
            .set_requires_grad(true);
        let a = Tensor::from_slice(&actions.iter().map(|&a| a as i64).collect::<Vec<_>>());
        let q = qt.gather(1, &a.unsqueeze(1), false).squeeze_dim(1);
        let yt = Tensor::from_slice(&y);
        let elem = match loss {
            Loss::Huber => q.huber_loss(&yt, Reduction::None, 1.0),
            Loss::Mse => (&q - &yt).square(),
        };
        let lt = (elem * Tensor::from_slice(&weights)).mean(Kind::Float);
        let g = Tensor::run_backward(&[&lt], &[&qt], false, false);
        let auto = crate::util::tensor::tensor_to_vec(&g[0]);
        for (k, (h, t)) in d_q.iter().zip(&auto).enumerate() {
            assert!((h - t).abs() < 1e-6, "{loss:?} dQ[{k}]: {h} vs {t}");
        }
        let lv = lt.double_value(&[]);
        assert!(
            (l - lv).abs() < 1e-5 * (1.0 + lv.abs()),
            "{loss:?}: {l} vs {lv}"
        );
        let qm = q.mean(Kind::Float).double_value(&[]);
        assert!((q_mean - qm).abs() < 1e-5, "{q_mean} vs {qm}");
        assert_eq!(td.len(), rows);
    }
}

/// One update from the same state (the same start, replay, batch, noise and dropout masks) gives
/// the same loss and weights on the native backend and on libtorch, for every option that
/// changes the update.
#[test]
fn one_update_is_the_same_on_both_backends() {
    let variants: &[(&str, DqnConfig)] = &[
        ("plain", DqnConfig::default()),
        (
            "vanilla, mse, clipped hard",
            DqnConfig {
                double: false,
                loss: Loss::Mse,
                max_grad_norm: 0.05,
                ..Default::default()
            },
        ),
        (
            "dueling, prioritized",
            DqnConfig {
                dueling: true,
                prioritized: true,
                ..Default::default()
            },
        ),
        (
            "noisy, dropout, dueling",
            DqnConfig {
                noisy: true,
                dropout: 0.2,
                dueling: true,
                ..Default::default()
            },
        ),
    ];
    for (name, cfg) in variants {
        let cfg = DqnConfig {
            hidden: vec![16, 16],
            off: OffPolicyOptions {
                learning_rate: 1e-2,
                ..cfg.off.clone()
            },
            ..cfg.clone()
        };
        let mut ds = [
            learner(cfg.clone(), BackendChoice::Native, 1),
            learner(cfg, BackendChoice::Torch, 1),
        ];
        assert_eq!(ds[0].backend(), Backend::Native);
        assert!(matches!(ds[1].backend(), Backend::Torch(_)));
        let mut reads = Vec::new();
        for d in &mut ds {
            for k in 0..40u32 {
                let f = k as f32;
                let o = [(f * 0.3).sin(), (f * 0.7).cos(), 0.1 * f.sin(), -0.2];
                let next = o.map(|v| 0.9 * v + 0.05);
                push(d, o, k % 2, 1.0, next, k % 9 == 8, 1 + k % 3);
            }
            if d.cfg.prioritized {
                // Unequal priorities, so the importance weights differ from 1.
                let td: Vec<f32> = (0..40).map(|k| 0.1 + k as f32 * 0.05).collect();
                d.col
                    .replay
                    .update_priorities(&(0..40).collect::<Vec<_>>(), &td)
                    .unwrap();
            }
            let mut read = Vec::new();
            for step in 0..3 {
                // The same draws on both: the replay's generator and the networks' are seeded alike.
                read.push(d.update(true).unwrap().unwrap());
                if step == 1 {
                    d.target.polyak_from(&d.q, 1.0).unwrap();
                }
            }
            reads.push(read);
        }
        for (a, b) in reads[0].iter().zip(&reads[1]) {
            assert!(
                (a.0 - b.0).abs() <= 1e-4 * (1.0 + a.0.abs()),
                "{name}: loss {a:?} vs {b:?}"
            );
            assert!(
                (a.1 - b.1).abs() <= 1e-4 * (1.0 + a.1.abs()),
                "{name}: Q {a:?} vs {b:?}"
            );
        }
        let flat = |d: &Dqn| -> Vec<f32> {
            d.q.nets()
                .iter()
                .flat_map(|n| n.layers())
                .flat_map(|l| l.weight.into_iter().chain(l.bias))
                .collect()
        };
        let (wa, wb) = (flat(&ds[0]), flat(&ds[1]));
        assert_eq!(wa.len(), wb.len());
        for (k, (x, y)) in wa.iter().zip(&wb).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + x.abs()),
                "{name}: parameter {k}: native {x} vs torch {y}"
            );
        }
        assert!(ds[0].updates == 3 && ds[1].updates == 3);
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
    let b = d.col.replay.gather_discrete_rows(vec![199], 1.0).unwrap();
    assert_eq!(b.discounts, &[0.99]);

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
    let b = d.col.replay.gather_discrete_rows(vec![t], 1.0).unwrap();
    assert_eq!(b.discounts, &[0.0]);
}

#[test]
fn export_and_cpu_copy_match_the_q_network() {
    let cfg = DqnConfig {
        dueling: true,
        hidden: vec![16, 16],
        ..Default::default()
    };
    let mut d = Dqn::new(&setup("Acrobot-v1", 0), cfg).unwrap();
    d.q.perturb(&mut rng::seeded(6), 0.5);
    d.refresh_cpu_copy();
    assert!(d.acts_on_cpu_copy());
    let obs = [0.9f32, 0.1, -0.3, 0.95, 1.5, -2.0];
    let q = d.q_values(&obs).unwrap();
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
/// over 20 evaluation episodes) within its 50,000-step budget, on the native backend (the
/// default on the CPU). Seeds 0-9 solved at 20k-40k steps (median 20k, 4.8k updates; 0.6-1.7 s
/// of training on the 2-core development machine at load 3; seed 1, this test's, at 35k); the
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
        let (mut a, _) = crate::train::load_run::<Dqn>(
            &dir,
            &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
        )
        .unwrap();
        let (mut b, _) = crate::train::load_run::<Dqn>(
            &dir,
            &ResolvedConfig::load(&dir.join("config.toml")).unwrap(),
        )
        .unwrap();
        let obs = [0.01f32, 0.1, -0.02, 0.3];
        assert_eq!(a.q_values(&obs).unwrap(), b.q_values(&obs).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
