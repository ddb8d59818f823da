//! Tests of [`super`] (`replay`).

use super::*;

fn replay(n_step: usize, alpha: Option<f64>) -> Replay {
    let opts = ReplayOptions {
        capacity: 16,
        gamma: 0.5,
        n_step,
        prioritized_alpha: alpha,
        prioritized_eps: 1e-6,
    };
    Replay::new(1, ActionShape::Discrete, &opts, 0).unwrap()
}

fn all(r: &Replay) -> Vec<(f32, u32, f32, f32, bool, u32)> {
    (0..r.len())
        .map(|i| {
            let s = r.buffer().get(i).unwrap();
            let Action::Discrete(a) = s.action else {
                panic!("discrete")
            };
            (
                s.obs[0],
                a,
                s.reward,
                s.next_obs[0],
                s.terminated,
                s.horizon,
            )
        })
        .collect()
}

/// A snapshot restored into a fresh memory is the same memory: every slot, the write
/// position of a ring that has wrapped, the priorities and the generator, so that the next
/// pushes land where they would have and the next samples draw the same slots.
#[test]
fn replay_snapshot_restores_a_wrapped_ring_exactly() {
    for alpha in [None, Some(0.6)] {
        for pushed in [5usize, 16, 37] {
            let mut a = replay(1, alpha);
            let push = |r: &mut Replay, k: usize| {
                let o = [k as f32];
                let n = [k as f32 + 0.5];
                r.push(&Transition {
                    obs: &o,
                    action: Action::Discrete((k % 3) as u32),
                    reward: k as f32 * 0.25,
                    next_obs: &n,
                    terminated: k.is_multiple_of(7),
                    horizon: 1,
                })
                .unwrap();
            };
            for k in 0..pushed {
                push(&mut a, k);
            }
            if alpha.is_some() {
                let ix = a.sample(4, 0.4, Device::Cpu).unwrap().indices;
                a.update_priorities(&ix, &[0.5, 2.0, 0.1, 3.0]).unwrap();
            }
            let (rows, prios, scalars) = a.snapshot().unwrap();
            let mut b = replay(1, alpha);
            b.restore(&rows, prios.as_ref(), &scalars).unwrap();
            assert_eq!(all(&a), all(&b), "{alpha:?} {pushed}");
            assert_eq!(a.buffer().next_index(), b.buffer().next_index());
            for k in 100..103 {
                push(&mut a, k);
                push(&mut b, k);
            }
            assert_eq!(all(&a), all(&b), "{alpha:?} {pushed}: after pushes");
            let (sa, sb) = (
                a.sample(8, 0.4, Device::Cpu).unwrap(),
                b.sample(8, 0.4, Device::Cpu).unwrap(),
            );
            assert_eq!(sa.indices, sb.indices, "{alpha:?} {pushed}");
            assert!(sa.weights.equal(&sb.weights));
        }
    }
}

#[test]
fn n_step_returns_by_hand() {
    // γ = 0.5, n = 3; an episode of 4 steps s0..s3 with rewards 1, 2, 4, 8, terminated at s4.
    let mut r = replay(3, None);
    let mut ns = NStep::new(1, 3, 0.5, ActionShape::Discrete);
    for k in 0..4 {
        let done = k == 3;
        ns.push(
            0,
            &[k as f32],
            Action::Discrete(k),
            f64::from(1u32 << k),
            &[k as f32 + 1.0],
            done,
            done,
            &mut r,
        )
        .unwrap();
    }
    // s0: 1 + 0.5·2 + 0.25·4 = 3, bootstrap from s3 with γ³ (horizon 3, not terminal);
    // s1: 2 + 0.5·4 + 0.25·8 = 6 → s4, terminal; s2: 4 + 0.5·8 = 8 → s4 (horizon 2);
    // s3: 8 → s4 (horizon 1).
    assert_eq!(
        all(&r),
        vec![
            (0.0, 0, 3.0, 3.0, false, 3),
            (1.0, 1, 6.0, 4.0, true, 3),
            (2.0, 2, 8.0, 4.0, true, 2),
            (3.0, 3, 8.0, 4.0, true, 1),
        ]
    );
    // The discounts the learner sees: γ³ = 0.125 for the first, 0 for the terminal ones.
    let b = r.gather(vec![0, 1, 2, 3], 1.0, Device::Cpu).unwrap();
    assert_eq!(
        crate::util::tensor::tensor_to_vec(&b.discounts),
        vec![0.125, 0.0, 0.0, 0.0]
    );
    assert_eq!(
        crate::util::tensor::tensor_to_vec(&b.rewards),
        vec![3.0, 6.0, 8.0, 8.0]
    );
}

#[test]
fn n_step_truncation_bootstraps_from_the_final_observation() {
    // Two steps then the time limit (truncated, not terminated), n = 3, γ = 0.5.
    let mut r = replay(3, None);
    let mut ns = NStep::new(1, 3, 0.5, ActionShape::Discrete);
    ns.push(
        0,
        &[0.0],
        Action::Discrete(1),
        1.0,
        &[1.0],
        false,
        false,
        &mut r,
    )
    .unwrap();
    ns.push(
        0,
        &[1.0],
        Action::Discrete(0),
        1.0,
        &[9.0],
        false,
        true,
        &mut r,
    )
    .unwrap();
    // s0: 1 + 0.5 = 1.5 → final obs 9 with γ² = 0.25; s1: 1 → 9 with γ = 0.5.
    assert_eq!(
        all(&r),
        vec![(0.0, 1, 1.5, 9.0, false, 2), (1.0, 0, 1.0, 9.0, false, 1)]
    );
    let b = r.gather(vec![0, 1], 1.0, Device::Cpu).unwrap();
    assert_eq!(
        crate::util::tensor::tensor_to_vec(&b.discounts),
        vec![0.25, 0.5]
    );
    // A new episode starts with an empty window.
    ns.push(
        0,
        &[5.0],
        Action::Discrete(0),
        1.0,
        &[6.0],
        false,
        false,
        &mut r,
    )
    .unwrap();
    assert_eq!(r.len(), 2);
}

#[test]
fn prioritized_weights_and_priorities() {
    let mut r = replay(1, Some(1.0));
    for k in 0..3 {
        r.push(&Transition {
            obs: &[k as f32],
            action: Action::Discrete(0),
            reward: 0.0,
            next_obs: &[0.0],
            terminated: false,
            horizon: 1,
        })
        .unwrap();
    }
    // |δ| = 1, 3, 7 with α = 1: priorities ≈ 1, 3, 7; β = 1: weights (p / p_min)^-1.
    r.update_priorities(&[0, 1, 2], &[1.0, -3.0, 7.0]).unwrap();
    let b = r.gather(vec![0, 1, 2], 1.0, Device::Cpu).unwrap();
    let w = crate::util::tensor::tensor_to_vec(&b.weights);
    for (got, want) in w.iter().zip([1.0, 1.0 / 3.0, 1.0 / 7.0]) {
        assert!((got - want).abs() < 1e-5, "{w:?}");
    }
    // New transitions get the largest priority seen (7).
    r.push(&Transition {
        obs: &[3.0],
        action: Action::Discrete(0),
        reward: 0.0,
        next_obs: &[0.0],
        terminated: false,
        horizon: 1,
    })
    .unwrap();
    let b = r.gather(vec![3], 0.5, Device::Cpu).unwrap();
    assert!((crate::util::tensor::tensor_to_vec(&b.weights)[0] - 7f32.powf(-0.5)).abs() < 1e-5);
    // Sampling follows the priorities 1 : 3 : 7 : 7.
    let mut counts = [0usize; 4];
    for _ in 0..500 {
        for i in r.sample(18, 1.0, Device::Cpu).unwrap().indices {
            counts[i] += 1;
        }
    }
    let total = 9000.0;
    for (c, p) in counts.iter().zip([1.0, 3.0, 7.0, 7.0]) {
        assert!((*c as f64 - total * p / 18.0).abs() < 150.0, "{counts:?}");
    }
    assert!(r.update_priorities(&[0], &[f32::NAN]).is_err());
}
