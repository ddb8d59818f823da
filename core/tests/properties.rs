//! Property tests of core's public functions on hostile input: for arbitrary bytes, dimensions,
//! NaN and infinite observations and actions, every call returns an error of its documented kind
//! or a documented value, and none panics. The inputs come from seeded generators (picorl's own
//! `Pcg32`, so the cases are the same on every machine and a failure names its seed and case);
//! the model reader's own fuzzing is `model_fuzz.rs` and `core/fuzz/`.

use picorl_core::env::{self, Action, Env, EnvError, EnvOptions, Space, REGISTRY};
use picorl_core::model::{crc32, header, Model, ModelError};
use picorl_core::policy::{ActionOut, Policy, PolicyError};
use picorl_core::replay::{
    buffer_storage_len, tree_storage_len, ActionShape, ReplayBuffer, ReplayError, SumTree,
    Transition, MAX_EXACT_INDEX,
};
use picorl_core::rng::{self, below, seeded, Pcg32};
use picorl_core::tabular::{discrete_state, Experience, Hyper, Learner, QView, TabularError};
use rand_core::RngCore;

/// A hostile `f32`: NaN, ±inf, huge, tiny, negative zero, or an ordinary value.
fn hostile(rng: &mut Pcg32) -> f32 {
    match below(rng, 10) {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => f32::MAX,
        4 => -f32::MAX,
        5 => f32::MIN_POSITIVE / 4.0, // subnormal
        6 => -0.0,
        7 => f32::from_bits(rng.next_u32()), // any bit pattern
        _ => rng::uniform_f64(rng, -10.0, 10.0) as f32,
    }
}

fn hostile_vec(rng: &mut Pcg32, len: usize) -> Vec<f32> {
    (0..len).map(|_| hostile(rng)).collect()
}

/// Word-aligned bytes, as a caller holds a model.
fn aligned(bytes: &[u8]) -> Vec<u32> {
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

const MODELS: [&[u8]; 2] = [
    include_bytes!("model_fixtures/linear_2x2.picorl"),
    include_bytes!("../../firmware-example/policies/cartpole-ppo-int8.picorl"),
];

#[test]
fn policy_inference_on_hostile_observations() {
    for (m, file) in MODELS.iter().enumerate() {
        let words = aligned(file);
        let bytes = &bytemuck::cast_slice::<u32, u8>(&words)[..file.len()];
        let model = Model::parse(bytes).expect("fixture parses");
        let mut policy = Policy::<'_, 256>::new(model).expect("fixture fits");
        let dim = model.obs_dim();
        let mut r = seeded(100 + m as u64);
        for case in 0..20_000 {
            let len = if below(&mut r, 8) == 0 {
                below(&mut r, 2 * dim as u32 + 2) as usize
            } else {
                dim
            };
            let obs = hostile_vec(&mut r, len);
            let got = policy.act(&obs);
            let first_bad = obs.iter().position(|v| !v.is_finite());
            match (&got, len == dim, first_bad) {
                (Err(PolicyError::ObsLength { expected, got }), false, _) => {
                    assert_eq!((*expected, *got), (dim, len), "model {m} case {case}");
                }
                (Err(PolicyError::NonFiniteObs { index }), true, Some(i)) => {
                    assert_eq!(*index, i, "model {m} case {case}: {obs:?}")
                }
                // Finite observations: an action, or (huge inputs through f32 weights) a
                // network output that overflowed, reported as such.
                (Ok(a), true, None) => {
                    if let ActionOut::Discrete(i) = a {
                        assert!(
                            (*i as usize) < policy.outputs().len().max(1),
                            "model {m} case {case}"
                        );
                    }
                    assert!(policy.outputs().iter().all(|v| v.is_finite()));
                }
                (Err(PolicyError::NonFiniteOutput { .. }), true, None) => {}
                other => panic!("model {m} case {case}: {other:?} for {obs:?}"),
            }
        }
    }
}

#[test]
fn model_reader_rejects_with_the_right_error() {
    let file = MODELS[0];
    // Every truncation: Truncated (or, cut inside the header, BadMagic for nothing at all).
    for n in 0..file.len() {
        let words = aligned(&file[..n]);
        let bytes = &bytemuck::cast_slice::<u32, u8>(&words)[..n];
        match Model::parse(bytes) {
            Err(ModelError::Truncated { .. }) | Err(ModelError::BadMagic) => {}
            Err(ModelError::Checksum { .. }) | Err(ModelError::Field { .. }) => {}
            other => panic!("cut at {n}: {other:?}"),
        }
    }
    // Every single bit flip: an error, never a different model.
    for bit in 0..file.len() * 8 {
        let mut b = file.to_vec();
        b[bit / 8] ^= 1 << (bit % 8);
        let words = aligned(&b);
        let bytes = &bytemuck::cast_slice::<u32, u8>(&words)[..b.len()];
        assert!(
            Model::parse(bytes).is_err(),
            "bit {bit} flipped still parses"
        );
    }
    // Another version: UnsupportedVersion, whether or not the CRC was repaired after the edit.
    for (v, repair) in [0u16, 4, 5, 0x100, u16::MAX]
        .into_iter()
        .flat_map(|v| [(v, false), (v, true)])
    {
        let mut b = file.to_vec();
        b[header::VERSION..header::VERSION + 2].copy_from_slice(&v.to_le_bytes());
        if repair {
            let n = b.len();
            let c = crc32(&b[..n - 4]);
            b[n - 4..].copy_from_slice(&c.to_le_bytes());
        }
        let words = aligned(&b);
        let bytes = &bytemuck::cast_slice::<u32, u8>(&words)[..b.len()];
        match Model::parse(bytes) {
            Err(ModelError::UnsupportedVersion { version }) => assert_eq!(version, v),
            other => panic!("version {v} (crc repaired: {repair}): {other:?}"),
        }
    }
}

/// A random action for `space`, often a bad one; returns it and the error it must give.
fn hostile_action(r: &mut Pcg32, space: &Space, buf: &mut Vec<f32>) -> (bool, Option<EnvError>) {
    match *space {
        Space::Discrete { n, .. } => match below(r, 4) {
            0 => {
                let a = n + below(r, 1000);
                buf.clear();
                buf.push(a as f32);
                (true, Some(EnvError::ActionOutOfRange { action: a, n }))
            }
            1 => {
                buf.clear();
                buf.push(u32::MAX as f32);
                (
                    true,
                    Some(EnvError::ActionOutOfRange {
                        action: u32::MAX,
                        n,
                    }),
                )
            }
            2 => {
                *buf = hostile_vec(r, 1);
                (false, Some(EnvError::WrongActionKind))
            }
            _ => {
                buf.clear();
                buf.push(below(r, n) as f32);
                (true, None)
            }
        },
        Space::Box { dim, .. } => match below(r, 4) {
            0 => {
                let len = below(r, 2 * dim as u32 + 2) as usize;
                *buf = hostile_vec(r, len);
                let expect = if len != dim {
                    Some(EnvError::ActionDim {
                        expected: dim,
                        got: len,
                    })
                } else {
                    buf.iter()
                        .position(|v| !v.is_finite())
                        .map(|index| EnvError::NonFiniteAction { index })
                };
                (false, expect)
            }
            1 => {
                buf.clear();
                buf.push(below(r, 3) as f32);
                (true, Some(EnvError::WrongActionKind))
            }
            _ => {
                // Finite, possibly far out of the box: clipped, as Gymnasium clips.
                *buf = (0..dim)
                    .map(|_| rng::uniform_f64(r, -1e30, 1e30) as f32)
                    .collect();
                (false, None)
            }
        },
    }
}

#[test]
fn env_steps_with_hostile_actions() {
    for spec in REGISTRY {
        let mut e = env::make(spec.id, &EnvOptions::new()).expect(spec.id);
        let d = spec.observation_space.flat_dim();
        let mut obs = vec![0.0f32; d];
        let mut state = vec![0.0f64; e.state_dim()];
        let mut r = seeded(7);
        // Stepping before a reset.
        assert_eq!(
            e.step(Action::Discrete(0), &mut obs)
                .err()
                .map(|x| x == EnvError::NeedsReset || x == EnvError::WrongActionKind),
            Some(true),
            "{}",
            spec.id
        );
        e.reset(Some(3), &mut obs).unwrap();
        let mut buf = Vec::new();
        let mut running = true;
        for case in 0..5_000 {
            if !running {
                e.reset(None, &mut obs).unwrap();
                running = true;
            }
            let (discrete, expect) = hostile_action(&mut r, &spec.action_space, &mut buf);
            let action = if discrete {
                Action::Discrete(buf[0] as u32)
            } else {
                Action::Continuous(&buf)
            };
            e.get_state(&mut state).unwrap();
            let before = state.clone();
            let got = e.step(action, &mut obs);
            match (got, expect) {
                (Ok(s), None) => {
                    assert!(
                        s.reward.is_finite() && obs.iter().all(|v| v.is_finite()),
                        "{} case {case}: {s:?} {obs:?}",
                        spec.id
                    );
                    running = !s.done();
                }
                (Err(g), Some(want)) => {
                    assert_eq!(g, want, "{} case {case}: {buf:?}", spec.id);
                    // A refused step changes nothing.
                    e.get_state(&mut state).unwrap();
                    assert_eq!(
                        state.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        before.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "{} case {case}",
                        spec.id
                    );
                }
                (g, w) => panic!("{} case {case}: {g:?}, expected {w:?}", spec.id),
            }
        }
        // A wrong observation buffer, a bad state.
        let mut short = vec![0.0f32; d + 1];
        assert!(matches!(
            e.reset(Some(1), &mut short),
            Err(EnvError::ObsBuffer { .. })
        ));
        let bad_state = vec![f64::NAN; e.state_dim()];
        assert!(matches!(
            e.set_state(&bad_state, &mut obs),
            Err(EnvError::InvalidState { .. })
        ));
        assert!(matches!(
            e.set_state(&[0.0; 9], &mut obs),
            Err(EnvError::StateDim { .. })
        ));
    }
}

#[test]
fn replay_on_hostile_input() {
    let mut r = seeded(11);
    for case in 0..300 {
        let obs_dim = below(&mut r, 5) as usize; // 0 is refused
        let shape = if below(&mut r, 2) == 0 {
            ActionShape::Discrete
        } else {
            ActionShape::Continuous(below(&mut r, 3) as usize)
        };
        let cap = 1 + below(&mut r, 20) as usize;
        let storage = match buffer_storage_len(cap, obs_dim, shape) {
            Some(n) => vec![0.0f32; n.saturating_sub(below(&mut r, 3) as usize)],
            None => vec![0.0f32; below(&mut r, 10) as usize],
        };
        let mut buf = match ReplayBuffer::new(storage, obs_dim, shape) {
            Ok(b) => b,
            Err(ReplayError::ZeroDim) => {
                assert!(obs_dim == 0 || shape.dim() == 0, "case {case}");
                continue;
            }
            Err(ReplayError::StorageTooSmall { .. }) => continue,
            Err(e) => panic!("case {case}: {e:?}"),
        };
        let mut idx = [0usize; 8];
        assert_eq!(
            buf.sample_uniform(&mut r, &mut idx),
            Err(ReplayError::Empty)
        );
        for _ in 0..100 {
            let extra = usize::from(below(&mut r, 6) == 0);
            let o = hostile_vec(&mut r, obs_dim + extra);
            let n = hostile_vec(&mut r, obs_dim);
            let extra = usize::from(below(&mut r, 6) == 0);
            let a = hostile_vec(&mut r, shape.dim() + extra);
            let action = match below(&mut r, 3) {
                0 => Action::Discrete(below(&mut r, 8)),
                1 => Action::Discrete(MAX_EXACT_INDEX + below(&mut r, 8)),
                _ => Action::Continuous(&a),
            };
            let horizon = if below(&mut r, 8) == 0 {
                0
            } else {
                1 + below(&mut r, 5)
            };
            let t = Transition {
                obs: &o,
                action,
                reward: hostile(&mut r),
                next_obs: &n,
                terminated: below(&mut r, 2) == 0,
                horizon,
            };
            let len = buf.len();
            match buf.push(&t) {
                Ok(slot) => {
                    assert!(slot < buf.capacity());
                    assert_eq!(buf.len(), (len + 1).min(buf.capacity()));
                    let s = buf.get(slot).unwrap();
                    assert_eq!(s.obs.len(), obs_dim);
                    assert_eq!(s.reward.to_bits(), t.reward.to_bits());
                }
                Err(
                    ReplayError::ObsDim { .. }
                    | ReplayError::ActionDim { .. }
                    | ReplayError::WrongActionKind
                    | ReplayError::NotRepresentable,
                ) => assert_eq!(buf.len(), len, "a refused push stores nothing"),
                Err(e) => panic!("case {case}: {e:?}"),
            }
            let i = below(&mut r, 2 * cap as u32) as usize;
            assert_eq!(buf.get(i).is_ok(), i < buf.len());
        }
        if !buf.is_empty() {
            buf.sample_uniform(&mut r, &mut idx).unwrap();
            assert!(idx.iter().all(|&i| i < buf.len()));
        }
    }
}

#[test]
fn sum_tree_on_hostile_priorities() {
    let mut r = seeded(12);
    for case in 0..200 {
        let cap = below(&mut r, 40) as usize;
        let n = tree_storage_len(cap).unwrap_or(0);
        let mut tree = match SumTree::new(vec![0.0f32; n], cap) {
            Ok(t) => t,
            Err(ReplayError::ZeroCapacity | ReplayError::StorageTooSmall { .. }) => {
                assert_eq!(cap, 0, "case {case}");
                continue;
            }
            Err(e) => panic!("case {case}: {e:?}"),
        };
        assert_eq!(tree.find(0.5), Err(ReplayError::Empty));
        for _ in 0..200 {
            let i = below(&mut r, 2 * cap as u32) as usize;
            let p = hostile(&mut r);
            match tree.set(i, p) {
                Ok(()) => assert!(i < cap && p.is_finite() && p >= 0.0),
                Err(ReplayError::IndexOutOfRange { .. }) => assert!(i >= cap),
                Err(ReplayError::BadPriority) => assert!(!p.is_finite() || p < 0.0),
                Err(e) => panic!("case {case}: {e:?}"),
            }
            let mass = hostile(&mut r);
            match tree.find(mass) {
                Ok(slot) => {
                    assert!(slot < cap);
                    assert!(tree.get(slot).unwrap() > 0.0, "case {case}: mass {mass}");
                }
                Err(ReplayError::Empty) => assert!(tree.total() <= 0.0 || tree.total().is_nan()),
                Err(e) => panic!("case {case}: {e:?}"),
            }
        }
    }
}

#[test]
fn tabular_on_hostile_input() {
    let mut r = seeded(13);
    // discrete_state: one finite, non-negative integer, or BadObservation.
    for _ in 0..10_000 {
        let len = below(&mut r, 3) as usize;
        let obs = hostile_vec(&mut r, len);
        match discrete_state(&obs) {
            Ok(s) => assert!(len == 1 && obs[0] == s as f32),
            Err(TabularError::BadObservation) => {}
            Err(e) => panic!("{obs:?}: {e:?}"),
        }
    }
    // Tables of any shape: a view, or TableShape.
    for _ in 0..1_000 {
        let len = below(&mut r, 30) as usize;
        let n_actions = below(&mut r, 6) as usize;
        match QView::new(vec![0.0f32; len], n_actions) {
            Ok(q) => assert_eq!(q.n_states() as usize * n_actions, len),
            Err(TabularError::TableShape { .. }) => {
                assert!(len == 0 || n_actions == 0 || !len.is_multiple_of(n_actions))
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    // Learning from arbitrary experience: an error naming what is wrong, or finite values.
    let learner = Learner::new(Hyper::SEED).unwrap();
    let mut q = QView::new(vec![0.0f32; 16 * 4], 4).unwrap();
    for case in 0..20_000 {
        let exp = Experience::new(
            below(&mut r, 20),
            below(&mut r, 6),
            hostile(&mut r).clamp(-1e3, 1e3)
                * if below(&mut r, 10) == 0 {
                    f32::NAN
                } else {
                    1.0
                },
            below(&mut r, 20),
            below(&mut r, 2) == 0,
        );
        match learner.learn(&mut q, &exp, &mut r) {
            Ok(l) => {
                assert!(exp.state < 16 && exp.next_state < 16 && exp.action < 4);
                assert!(l.next_action < 4 && l.td_error.is_finite(), "case {case}");
            }
            Err(TabularError::StateOutOfRange { .. }) => {
                assert!(exp.state >= 16 || exp.next_state >= 16)
            }
            Err(TabularError::ActionOutOfRange { .. }) => assert!(exp.action >= 4),
            Err(TabularError::NonFiniteReward) => assert!(!exp.reward.is_finite()),
            Err(e) => panic!("case {case}: {e:?}"),
        }
        assert!(q.values().iter().all(|v| v.is_finite()), "case {case}");
    }
}
