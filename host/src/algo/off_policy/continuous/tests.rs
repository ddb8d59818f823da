//! Tests of [`super`] (`continuous`).

use super::*;

fn batch(rewards: &[f32], discounts: &[f32]) -> Batch {
    let b = rewards.len() as i64;
    Batch {
        obs: Tensor::zeros([b, 1], (Kind::Float, Device::Cpu)),
        actions: Tensor::zeros([b, 1], (Kind::Float, Device::Cpu)),
        rewards: Tensor::from_slice(rewards),
        next_obs: Tensor::zeros([b, 1], (Kind::Float, Device::Cpu)),
        discounts: Tensor::from_slice(discounts),
        weights: Tensor::ones([b], (Kind::Float, Device::Cpu)),
        indices: (0..rewards.len()).collect(),
    }
}

#[test]
fn twin_critic_target_by_hand() {
    // Three transitions: bootstrapped with γ = 0.9 (a mid-episode or truncated step), terminal
    // (discount 0), and a 2-step one (γ² = 0.81). Q'_1 = [3, 5, -2], Q'_2 = [4, 1, -1]:
    // min = [3, 1, -2]; y = [1 + 0.9·3, 2 + 0, 0.5 + 0.81·(-2)] = [3.7, 2, -1.12].
    let b = batch(&[1.0, 2.0, 0.5], &[0.9, 0.0, 0.81]);
    let q1 = Tensor::from_slice(&[3.0f32, 5.0, -2.0]);
    let q2 = Tensor::from_slice(&[4.0f32, 1.0, -1.0]);
    let y = values(&min_target(
        &b,
        &[q1.shallow_clone(), q2.shallow_clone()],
        None,
    ));
    for (g, w) in y.iter().zip([3.7f32, 2.0, -1.12]) {
        assert!((g - w).abs() < 1e-6, "{y:?}");
    }
    // SAC's soft target subtracts α log π(a'|s') = [0.5, 0.5, -1] from the minimum:
    // [1 + 0.9·2.5, 2, 0.5 + 0.81·(-1)] = [3.25, 2, -0.31].
    let ent = Tensor::from_slice(&[0.5f32, 0.5, -1.0]);
    let y = values(&min_target(&b, &[q1, q2], Some(&ent)));
    for (g, w) in y.iter().zip([3.25f32, 2.0, -0.31]) {
        assert!((g - w).abs() < 1e-6, "{y:?}");
    }
}

#[test]
fn target_smoothing_noise_is_clipped() {
    // σ = 0.2, c = 0.5: ε = 10 → noise 2 clipped to 0.5, 0.9 + 0.5 = 1.4 → action clip 1;
    // ε = -10 → -0.5; ε = 0.1 → 0.02 (within the clip); ε = -4 → -0.8 → -0.5, -0.8 - 0.5 → -1.
    let a = Tensor::from_slice(&[0.9f32, 0.0, -0.5, -0.8]).view([4, 1]);
    let eps = Tensor::from_slice(&[10.0f32, -10.0, 0.1, -4.0]).view([4, 1]);
    let got = values(&smoothed_target_action(&a, &eps, 0.2, 0.5));
    for (g, w) in got.iter().zip([1.0f32, -0.5, -0.48, -1.0]) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
}

#[test]
fn tanh_gaussian_log_prob_matches_the_direct_formula() {
    // log π(tanh u) = Σ_i [log N(u_i; μ_i, σ_i) - log(1 - tanh(u_i)²)], computed directly in f64.
    let u = [-3.0f64, -0.5, 0.0, 1.2, 2.5, 0.7];
    let mean = [-2.0f64, 0.0, 0.3, 1.0, 1.5, -0.2];
    let log_std = [0.1f64, -0.5, 0.0, 0.4, -1.0, 0.2];
    let direct: Vec<f64> = (0..3)
        .map(|r| {
            (0..2)
                .map(|c| {
                    let k = r * 2 + c;
                    let s = log_std[k].exp();
                    let z = (u[k] - mean[k]) / s;
                    let log_n = -0.5 * z * z - log_std[k] - 0.5 * (2.0 * std::f64::consts::PI).ln();
                    log_n - (1.0 - u[k].tanh().powi(2)).ln()
                })
                .sum()
        })
        .collect();
    let t = |v: &[f64]| {
        Tensor::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<_>>()).view([3, 2])
    };
    let got = values(&squashed_log_prob(&t(&u), &t(&mean), &t(&log_std)));
    for (g, w) in got.iter().zip(&direct) {
        assert!((f64::from(*g) - w).abs() < 1e-4, "{got:?} vs {direct:?}");
    }
    // Far in the tail the direct form overflows (1 - tanh(20)² rounds to 0 in f32), the
    // stable one gives log(1 - tanh²u) ≈ 2 log 2 - 2|u| = -38.61.
    let far = values(&log_one_minus_tanh_sq(&Tensor::from_slice(&[
        20.0f32, -20.0,
    ])));
    for g in far {
        assert!(
            (f64::from(g) - (2.0 * std::f64::consts::LN_2 - 40.0)).abs() < 1e-3,
            "{g}"
        );
    }
}

#[test]
fn bounds_scale_both_ways() {
    let spec = *crate::envs::make("Pendulum-v1", &Default::default())
        .unwrap()
        .spec();
    let b = Bounds::new(&spec, "test", Device::Cpu).unwrap();
    let mut out = [0.0f32; 3];
    b.to_env(&[-1.0, 0.0, 0.5], &mut out);
    assert_eq!(out, [-2.0, 0.0, 1.0]);
    let back = values(&b.to_unit(&Tensor::from_slice(&out).view([3, 1])));
    assert_eq!(back, vec![-1.0, 0.0, 0.5]);
    let cartpole = *crate::envs::make("CartPole-v1", &Default::default())
        .unwrap()
        .spec();
    assert!(Bounds::new(&cartpole, "td3", Device::Cpu).is_err());
}

#[test]
fn ornstein_uhlenbeck_noise_persists_and_resets() {
    let mut rng = rng::seeded(1);
    let mut n = Noise::new(NoiseKind::OrnsteinUhlenbeck, 0.5, 2);
    let mut u = [0.0f32; 2];
    n.apply(&mut rng, &mut u);
    assert!(n.state.iter().all(|&x| x != 0.0));
    n.reset(1, 1);
    assert!(n.state[0] != 0.0 && n.state[1] == 0.0);
}
