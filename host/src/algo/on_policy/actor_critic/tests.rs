//! Tests of [`super`] (`actor_critic`).

use super::*;

fn spec(id: &str) -> EnvSpec {
    crate::envs::spec(id).unwrap()
}

fn opts() -> NetOptions {
    NetOptions {
        hidden: vec![8, 8],
        activation: Activation::Tanh,
        ortho_init: true,
        log_std_init: -0.5,
        normalize_obs: false,
        use_sde: false,
        sde_sample_freq: -1,
    }
}

#[test]
fn cpu_copy_matches_libtorch() {
    let _turn = crate::train::torch_generator();
    for id in ["CartPole-v1", "Pendulum-v1"] {
        tch::manual_seed(3);
        let mut ac = ActorCritic::new(
            &spec(id),
            Device::Cpu,
            &NetOptions {
                ortho_init: false,
                ..opts()
            },
        );
        let d = ac.obs_dim();
        let x: Vec<f32> = (0..5 * d).map(|i| (i as f32 * 0.37).sin()).collect();
        let (out, v) = ac.forward(&Tensor::from_slice(&x).view([5, d as i64]));
        let (out, v) = (nets::tensor_to_vec(&out), nets::tensor_to_vec(&v));
        let mut s = CpuSample::default();
        ac.sample_cpu(&x, &mut rng::seeded(0), &mut s).unwrap();
        for (a, b) in s.values.iter().zip(&v) {
            assert!((a - b).abs() < 1e-5, "{id}: value {a} vs {b}");
        }
        let e = ac.export();
        let n = e.layers.last().unwrap().outputs;
        for (k, o) in x.chunks(d).enumerate() {
            let y = e.forward_all(o).pop().unwrap();
            for j in 0..n {
                assert!((y[j] - out[k * n + j]).abs() < 1e-5, "{id}: policy output");
            }
        }
    }
}

#[test]
fn cpu_log_probs_match_libtorch() {
    let _turn = crate::train::torch_generator();
    for (id, use_sde) in [
        ("CartPole-v1", false),
        ("Pendulum-v1", false),
        ("Pendulum-v1", true),
    ] {
        let o = NetOptions { use_sde, ..opts() };
        let mut ac = ActorCritic::new(&spec(id), Device::Cpu, &o);
        let d = ac.obs_dim();
        let x: Vec<f32> = (0..4 * d).map(|i| (i as f32 * 0.71).cos()).collect();
        let mut s = CpuSample::default();
        let mut r = rng::seeded(9);
        // With gSDE the four observations are four copies, each with its own matrix.
        ac.reset_sde_noise(4, &mut r);
        ac.sample_cpu(&x, &mut r, &mut s).unwrap();
        let actions = match ac.kind {
            ActionKind::Discrete { .. } => {
                Tensor::from_slice(&s.discrete.iter().map(|&a| i64::from(a)).collect::<Vec<_>>())
            }
            ActionKind::Continuous { dim, .. } => {
                Tensor::from_slice(&s.continuous).view([-1, dim as i64])
            }
        };
        let (lp, _) = ac.evaluate(&Tensor::from_slice(&x).view([4, d as i64]), &actions);
        for (a, b) in s.log_probs.iter().zip(nets::tensor_to_vec(&lp)) {
            assert!(
                (a - b).abs() < 1e-4,
                "{id} (gSDE {use_sde}): log-prob {a} vs {b}"
            );
        }
    }
}

/// gSDE: between draws the exploration noise is the fixed linear function `φ(s)·E` of the
/// policy's last hidden layer (the same state gives the same action, no fresh randomness);
/// redrawing changes it; over many draws its variance is the `φ²·σ²` that the
/// log-probabilities assume; the redraw schedule is the rollout start and every
/// `sde_sample_freq` steps.
#[test]
fn sde_noise_is_a_fixed_function_of_the_state_until_redrawn() {
    let _turn = crate::train::torch_generator();
    tch::manual_seed(5);
    let o = NetOptions {
        use_sde: true,
        sde_sample_freq: 4,
        log_std_init: -1.0,
        ortho_init: false,
        ..opts()
    };
    let mut ac = ActorCritic::new(&spec("Pendulum-v1"), Device::Cpu, &o);
    assert_eq!(ac.log_std.as_ref().unwrap().size(), vec![8, 1]);
    let obs = [0.3f32, -0.8, 0.5];
    let xt = Tensor::from_slice(&obs).view([1, 3]);
    let (mean, _, latent) = ac.forward_latent(&xt);
    let (mean, phi) = (nets::tensor_to_vec(&mean)[0], nets::tensor_to_vec(&latent));
    let mut r = rng::seeded(2);
    let mut s = CpuSample::default();
    let act = |ac: &mut ActorCritic, r: &mut Pcg32, s: &mut CpuSample| {
        ac.sample_cpu(&obs, r, s).unwrap();
        s.continuous[0]
    };
    ac.reset_sde_noise(1, &mut r);
    let a1 = act(&mut ac, &mut r, &mut s);
    assert_eq!(a1, act(&mut ac, &mut r, &mut s), "same state, same matrix");
    let e = ac.sde.as_ref().unwrap().matrices.clone();
    let by_hand: f32 = phi.iter().zip(&e).map(|(p, w)| p * w).sum();
    assert!(
        (a1 - mean - by_hand).abs() < 1e-5,
        "{a1} vs {mean} + {by_hand}"
    );
    ac.reset_sde_noise(1, &mut r);
    assert_ne!(
        a1,
        act(&mut ac, &mut r, &mut s),
        "a redraw changes the noise"
    );
    // Variance over draws: Σ φ_j² e^{-2} (σ = e^{-1} for every entry).
    let n = 4000;
    let (mut sum, mut sum2) = (0.0f64, 0.0f64);
    for _ in 0..n {
        ac.reset_sde_noise(1, &mut r);
        let z = f64::from(act(&mut ac, &mut r, &mut s) - mean);
        sum += z;
        sum2 += z * z;
    }
    let var = sum2 / n as f64 - (sum / n as f64).powi(2);
    let expect: f64 = phi.iter().map(|p| f64::from(p * p)).sum::<f64>() * (-2.0f64).exp();
    assert!(
        (var / expect - 1.0).abs() < 0.1,
        "variance {var} vs {expect}"
    );
    let torch_var = (ac.sde_log_std(&latent).unwrap() * 2.0)
        .exp()
        .double_value(&[0, 0]);
    assert!((torch_var - expect - SDE_EPS).abs() < 1e-6 * expect.max(1.0));
    let due: Vec<usize> = (0..10).filter(|&t| ac.sde_redraw_due(t)).collect();
    assert_eq!(due, vec![0, 4, 8]);
    ac.sde.as_mut().unwrap().sample_freq = -1;
    assert!(ac.sde_redraw_due(0) && !ac.sde_redraw_due(4));
}

#[test]
fn value_padding_columns_stay_zero_and_untrained() {
    let _turn = crate::train::torch_generator();
    let ac = ActorCritic::new(&spec("CartPole-v1"), Device::Cpu, &opts());
    let last = ac.ws.last().unwrap().get(1);
    assert_eq!(
        last.narrow(1, 1, 1)
            .abs()
            .sum(Kind::Float)
            .double_value(&[]),
        0.0
    );
}
