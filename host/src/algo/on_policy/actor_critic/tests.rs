//! Tests of [`super`] (`actor_critic`).

use std::path::Path;

use super::acting::CpuSample;
use super::*;
use crate::algo::backend::AdamConfig;
use crate::algo::state::Weights;
use crate::util::tensor::tensor_to_vec;
use picorl_core::rng;
use tch::{Device, Kind, Tensor};

// libtorch's autograd references for the heads' log-probabilities and entropies, checked by
// hand first.

/// Log-probabilities of `actions` (int64, `[B]`) under categorical `logits` (`[B, n]`).
fn categorical_log_prob(logits: &Tensor, actions: &Tensor) -> Tensor {
    logits
        .log_softmax(-1, Kind::Float)
        .gather(-1, &actions.unsqueeze(-1), false)
        .squeeze_dim(-1)
}

/// Entropy of categorical `logits` (`[B, n]`), per row.
fn categorical_entropy(logits: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    -(logp.exp() * logp).sum_dim_intlist(-1, false, Kind::Float)
}

/// Log-density of `x` under a diagonal Gaussian (`mean` `[B, d]`, `log_std` `[d]`), summed over
/// the dimensions: `-½((x-μ)/σ)² - log σ - ½ log 2π` per component.
fn gaussian_log_prob(mean: &Tensor, log_std: &Tensor, x: &Tensor) -> Tensor {
    let z = (x - mean) / log_std.exp();
    let per = z.square() * -0.5 - log_std - 0.5 * (2.0 * std::f64::consts::PI).ln();
    per.sum_dim_intlist(-1, false, Kind::Float)
}

/// Entropy of a diagonal Gaussian with `log_std` (`[d]`): `Σ ½ + ½ log 2π + log σ`.
fn gaussian_entropy(log_std: &Tensor) -> Tensor {
    (log_std + 0.5 + 0.5 * (2.0 * std::f64::consts::PI).ln()).sum(Kind::Float)
}

#[test]
fn categorical_log_prob_by_hand() {
    // logits [0, ln 3]: probabilities 1/4 and 3/4.
    let logits = Tensor::from_slice(&[0.0f32, 3f32.ln()]).view([1, 2]);
    let lp = categorical_log_prob(&logits, &Tensor::from_slice(&[1i64]));
    assert!((lp.double_value(&[0]) - 0.75f64.ln()).abs() < 1e-6);
    let h = categorical_entropy(&logits).double_value(&[0]);
    let expect = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
    assert!((h - expect).abs() < 1e-6);
}

#[test]
fn gaussian_log_prob_by_hand() {
    // N(1, e^2) at x = 3: z = 2/e, log p = -½ z² - 1 - ½ ln 2π.
    let mean = Tensor::from_slice(&[1.0f32]).view([1, 1]);
    let log_std = Tensor::from_slice(&[1.0f32]);
    let x = Tensor::from_slice(&[3.0f32]).view([1, 1]);
    let lp = gaussian_log_prob(&mean, &log_std, &x).double_value(&[0]);
    let z = 2.0 / std::f64::consts::E;
    let expect = -0.5 * z * z - 1.0 - 0.5 * (2.0 * std::f64::consts::PI).ln();
    assert!((lp - expect).abs() < 1e-5, "{lp} vs {expect}");
    let h = gaussian_entropy(&log_std).double_value(&[]);
    assert!((h - (1.5 + 0.5 * (2.0 * std::f64::consts::PI).ln())).abs() < 1e-5);
}

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

fn build(id: &str, o: &NetOptions, vf: Activation, backend: Backend, seed: u64) -> ActorCritic {
    let opt = Optimizer::Adam(AdamConfig::pytorch(1e-3));
    ActorCritic::new(&spec(id), backend, o, vf, opt, &mut rng::seeded(seed)).unwrap()
}

/// `rows` observations, sampled actions and random loss derivatives.
fn batch(ac: &mut ActorCritic, rows: usize, seed: u64) -> (Vec<f32>, CpuSample, [Vec<f32>; 3]) {
    let d = ac.obs_dim();
    let mut r = rng::seeded(seed);
    let x: Vec<f32> = (0..rows * d)
        .map(|_| rng::normal_f64(&mut r) as f32)
        .collect();
    let mut s = CpuSample::default();
    // With gSDE the rows are copies, each with its own matrix.
    ac.reset_sde_noise(rows, &mut r);
    ac.sample_cpu(&x, &mut r, &mut s).unwrap();
    let mut coef = || -> Vec<f32> { (0..rows).map(|_| rng::normal_f64(&mut r) as f32).collect() };
    let d_all = [coef(), coef(), coef()];
    (x, s, d_all)
}

fn acts(s: &CpuSample) -> (Vec<i64>, Vec<f32>) {
    (
        s.discrete.iter().map(|&a| i64::from(a)).collect(),
        s.continuous.clone(),
    )
}

fn tensor_layers(layers: &[Layer]) -> Vec<(Tensor, Tensor)> {
    layers
        .iter()
        .map(|l| {
            let (o, i) = (l.bias.len() as i64, (l.weight.len() / l.bias.len()) as i64);
            (
                Tensor::from_slice(&l.weight)
                    .view([o, i])
                    .set_requires_grad(true),
                Tensor::from_slice(&l.bias).set_requires_grad(true),
            )
        })
        .collect()
}

/// An MLP in libtorch: the outputs and the last layer's input.
fn mlp(layers: &[(Tensor, Tensor)], x: &Tensor, hidden: Activation) -> (Tensor, Tensor) {
    let mut h = x.shallow_clone();
    let mut features = x.shallow_clone();
    for (l, (w, b)) in layers.iter().enumerate() {
        if l + 1 == layers.len() {
            features = h.shallow_clone();
        }
        h = h.linear(w, Some(b));
        if l + 1 < layers.len() {
            h = hidden.apply(&h);
        }
    }
    (h, features)
}

fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// The log-probabilities, entropies and values of [`ActorCritic::evaluate`], and the gradients
/// of [`ActorCritic::backward`], against libtorch's autograd of the same quantities written with
/// the distributions' tensor formulas, for every head: categorical, Gaussian, gSDE, with and
/// without hidden layers, the value network in another activation.
#[test]
fn hand_gradients_match_autograd() {
    let cases = [
        ("CartPole-v1", opts(), Activation::Tanh),
        (
            "Acrobot-v1",
            NetOptions {
                activation: Activation::Relu,
                ..opts()
            },
            Activation::Tanh,
        ),
        ("Pendulum-v1", opts(), Activation::Relu),
        (
            "Pendulum-v1",
            NetOptions {
                use_sde: true,
                ..opts()
            },
            Activation::Tanh,
        ),
        (
            "MountainCarContinuous-v0",
            NetOptions {
                hidden: vec![],
                use_sde: true,
                ..opts()
            },
            Activation::Tanh,
        ),
        (
            "CartPole-v1",
            NetOptions {
                hidden: vec![],
                ortho_init: false,
                ..opts()
            },
            Activation::Tanh,
        ),
    ];
    for (k, (id, o, vf_act)) in cases.iter().enumerate() {
        let what = format!("{id} case {k}");
        let mut ac = build(id, o, *vf_act, Backend::Native, k as u64);
        let rows = 7;
        let (x, s, [d_logp, d_ent, d_v]) = batch(&mut ac, rows, 40 + k as u64);
        let (ad, ac_) = acts(&s);
        let a = if ad.is_empty() {
            Acts::Continuous(&ac_)
        } else {
            Acts::Discrete(&ad)
        };
        let e = ac.evaluate(&x, rows, a, true).unwrap();
        let (lp, ent, val) = (e.log_probs.clone(), e.entropies.clone(), e.values.clone());
        close(
            &format!("{what}: sampled log-probs"),
            &s.log_probs,
            &lp,
            1e-4,
        );
        ac.backward(&d_logp, &d_ent, Some(&d_v)).unwrap();
        let (g_pi, g_vf, g_ls) = ac.grads();

        // The same in libtorch.
        let (pi_l, vf_l, ls) = ac.params();
        let (pi_t, vf_t) = (tensor_layers(&pi_l), tensor_layers(&vf_l));
        let xt = Tensor::from_slice(&x).view([rows as i64, ac.obs_dim() as i64]);
        let (out, feats) = mlp(&pi_t, &xt, ac.activation);
        let (v, _) = mlp(&vf_t, &xt, ac.vf.activation());
        let v = v.squeeze_dim(1);
        let ls_t = Tensor::from_slice(&ls).set_requires_grad(true);
        let (lp_t, ent_t) = match &ac.kind {
            ActionKind::Discrete { .. } => {
                let at = Tensor::from_slice(&ad);
                (categorical_log_prob(&out, &at), categorical_entropy(&out))
            }
            ActionKind::Continuous { dim, .. } => {
                let at = Tensor::from_slice(&ac_).view([rows as i64, *dim as i64]);
                let l = if ac.uses_sde() {
                    let h = feats.size()[1];
                    let var = feats
                        .detach()
                        .square()
                        .matmul(&ls_t.view([h, *dim as i64]).exp().square())
                        + f64::from(SDE_EPS);
                    var.log() * 0.5
                } else {
                    ls_t.view([1, *dim as i64])
                        .expand([rows as i64, *dim as i64], false)
                };
                let h =
                    (&l + 0.5 + f64::from(HALF_LOG_2PI)).sum_dim_intlist(-1, false, Kind::Float);
                (gaussian_log_prob(&out, &l, &at), h)
            }
        };
        close(
            &format!("{what}: log-probs"),
            &lp,
            &tensor_to_vec(&lp_t),
            1e-5,
        );
        close(
            &format!("{what}: entropies"),
            &ent,
            &tensor_to_vec(&ent_t),
            1e-5,
        );
        close(&format!("{what}: values"), &val, &tensor_to_vec(&v), 1e-5);
        let loss = (&lp_t * Tensor::from_slice(&d_logp)).sum(Kind::Float)
            + (&ent_t * Tensor::from_slice(&d_ent)).sum(Kind::Float)
            + (&v * Tensor::from_slice(&d_v)).sum(Kind::Float);
        loss.backward();
        for (net, ts, gs) in [("policy", &pi_t, &g_pi), ("value", &vf_t, &g_vf)] {
            for (l, ((w, b), g)) in ts.iter().zip(gs).enumerate() {
                for (part, hand, auto) in [("weight", &g.weight, w), ("bias", &g.bias, b)] {
                    close(
                        &format!("{what}: {net} layer {l} {part}"),
                        hand,
                        &tensor_to_vec(&auto.grad()),
                        1e-4,
                    );
                }
            }
        }
        if !ls.is_empty() {
            close(
                &format!("{what}: log-std"),
                &g_ls,
                &tensor_to_vec(&ls_t.grad()),
                1e-4,
            );
        }
    }
}

/// The same seed gives the same networks on both backends, and the same evaluation, gradients
/// and step (to float rounding), with the global-norm clip active.
#[test]
fn backends_agree_on_a_step() {
    for id in ["CartPole-v1", "Pendulum-v1"] {
        let mut n = build(id, &opts(), Activation::Tanh, Backend::Native, 5);
        let mut t = build(
            id,
            &opts(),
            Activation::Tanh,
            Backend::Torch(Device::Cpu),
            5,
        );
        assert_eq!(n.params(), t.params(), "{id}: the same start");
        let rows = 9;
        let (x, s, [d_logp, d_ent, d_v]) = batch(&mut n, rows, 3);
        let (ad, acv) = acts(&s);
        for ac in [&mut n, &mut t] {
            let a = if ad.is_empty() {
                Acts::Continuous(&acv)
            } else {
                Acts::Discrete(&ad)
            };
            ac.evaluate(&x, rows, a, true).unwrap();
            ac.backward(&d_logp, &d_ent, Some(&d_v)).unwrap();
            let norm = ac.step(0.1).unwrap();
            assert!(norm > 0.1, "{id}: the clip is active ({norm})");
        }
        let ((np, nv, nl), (tp, tv, tl)) = (n.params(), t.params());
        for (a, b) in np.iter().chain(&nv).zip(tp.iter().chain(&tv)) {
            close(&format!("{id}: weights"), &a.weight, &b.weight, 1e-5);
            close(&format!("{id}: biases"), &a.bias, &b.bias, 1e-5);
        }
        close(&format!("{id}: log-std"), &nl, &tl, 1e-6);
    }
}

#[test]
fn orthogonal_init_is_orthogonal_with_its_gain() {
    let mut r = rng::seeded(1);
    for (out, inp, gain) in [(8usize, 3usize, 2.0f64), (3, 8, 0.5), (6, 6, 1.0)] {
        let w = orthogonal(out, inp, gain, &mut r);
        // The shorter side's Gram matrix is gain² I: over rows when tall, over columns when
        // wide (element `k` of vector `a`).
        let (len, count) = (out.max(inp), out.min(inp));
        let at = |k: usize, a: usize| {
            f64::from(if out >= inp {
                w[k * inp + a]
            } else {
                w[a * inp + k]
            })
        };
        let (rows, cols) = (len, count);
        for a in 0..cols {
            for b in 0..cols {
                let dot: f64 = (0..rows).map(|k| at(k, a) * at(k, b)).sum();
                let want = if a == b { gain * gain } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "{out}×{inp}: {dot} vs {want}");
            }
        }
    }
}

#[test]
fn ortho_init_has_sb3s_gains_and_zero_biases() {
    let ac = build("CartPole-v1", &opts(), Activation::Tanh, Backend::Native, 0);
    let (pi, vf, _) = ac.params();
    let norm = |l: &Layer, row: usize| {
        let i = l.weight.len() / l.bias.len();
        l.weight[row * i..(row + 1) * i]
            .iter()
            .map(|w| w * w)
            .sum::<f32>()
            .sqrt()
    };
    // Output layers: wide (out < in), so each row is a unit vector times the gain.
    assert!((norm(pi.last().unwrap(), 0) - 0.01).abs() < 1e-6);
    assert!((norm(vf.last().unwrap(), 0) - 1.0).abs() < 1e-5);
    assert!(pi
        .iter()
        .chain(&vf)
        .all(|l| l.bias.iter().all(|&b| b == 0.0)));
}

/// gSDE: between draws the exploration noise is the fixed linear function `φ(s)·E` of the
/// policy's last hidden layer (the same state gives the same action, no fresh randomness);
/// redrawing changes it; over many draws its variance is the `φ²·σ²` that the
/// log-probabilities assume; the redraw schedule is the rollout start and every
/// `sde_sample_freq` steps.
#[test]
fn sde_noise_is_a_fixed_function_of_the_state_until_redrawn() {
    let o = NetOptions {
        use_sde: true,
        sde_sample_freq: 4,
        log_std_init: -1.0,
        ortho_init: false,
        ..opts()
    };
    let mut ac = build("Pendulum-v1", &o, Activation::Tanh, Backend::Native, 5);
    assert_eq!(ac.log_std.as_ref().unwrap().values.len(), 8);
    let obs = [0.3f32, -0.8, 0.5];
    // The mean and the features: a deterministic evaluation of any action.
    ac.evaluate(&obs, 1, Acts::Continuous(&[0.0]), false)
        .unwrap();
    let (mean, phi) = (ac.outs[0], ac.feats.clone());
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
    // Variance over draws: Σ φ_j² e^{-2} (σ = e^{-1} for every entry), which is the variance
    // the evaluation's log-std stands for.
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
    let eval_var = f64::from(ac.per_out[0]);
    assert!((eval_var - expect - f64::from(SDE_EPS)).abs() < 1e-5 * expect.max(1.0));
    let due: Vec<usize> = (0..10).filter(|&t| ac.sde_redraw_due(t)).collect();
    assert_eq!(due, vec![0, 4, 8]);
    ac.sde.as_mut().unwrap().sample_freq = -1;
    assert!(ac.sde_redraw_due(0) && !ac.sde_redraw_due(4));
}

/// The weights file round-trips, and the stacked layout of the libtorch-only learner (two
/// networks in `[2, in, out]` tensors, the value's output padded) loads into the same networks.
#[test]
fn weights_round_trip_and_the_stacked_layout_loads() {
    let o = NetOptions {
        normalize_obs: true,
        ..opts()
    };
    let mut a = build("Pendulum-v1", &o, Activation::Tanh, Backend::Native, 1);
    a.obs_norm
        .as_mut()
        .unwrap()
        .stats
        .update(&[1.0, 2.0, 3.0, 0.5, 0.25, -1.0]);
    let mut saved = Vec::new();
    Weights::save(&a, "", &mut saved).unwrap();
    let mut b = build("Pendulum-v1", &o, Activation::Tanh, Backend::Native, 2);
    assert_ne!(a.params(), b.params());
    Weights::load(&mut b, "", &saved, Path::new("w")).unwrap();
    assert_eq!(a.params(), b.params());
    let mean = |ac: &ActorCritic| ac.obs_norm.as_ref().unwrap().stats.mean.clone();
    close(
        "obs mean",
        &mean(&b).iter().map(|&m| m as f32).collect::<Vec<_>>(),
        &mean(&a).iter().map(|&m| m as f32).collect::<Vec<_>>(),
        0.0,
    );

    // The stacked layout, built from `a`'s layers.
    let (pi, vf, ls) = a.params();
    let mut stacked = Vec::new();
    for (k, (p, v)) in pi.iter().zip(&vf).enumerate() {
        let (o, i) = (p.bias.len(), p.weight.len() / p.bias.len());
        let mut w = vec![0.0f32; 2 * i * o];
        let mut bias = vec![0.0f32; 2 * o];
        for (net, l) in [(0, p), (1, v)] {
            let cols = l.bias.len();
            for r in 0..i {
                for j in 0..cols {
                    w[net * i * o + r * o + j] = l.weight[j * i + r];
                }
            }
            bias[net * o..net * o + cols].copy_from_slice(&l.bias);
        }
        stacked.push((
            format!("w{k}"),
            Tensor::from_slice(&w).view([2, i as i64, o as i64]),
        ));
        stacked.push((
            format!("b{k}"),
            Tensor::from_slice(&bias).view([2, 1, o as i64]),
        ));
    }
    stacked.push(("log_std".into(), Tensor::from_slice(&ls)));
    for key in ["obs_norm.mean", "obs_norm.var", "obs_norm.count"] {
        let t = saved
            .iter()
            .find(|(n, _)| n == key)
            .unwrap()
            .1
            .shallow_clone();
        stacked.push((key.into(), t));
    }
    let mut c = build("Pendulum-v1", &o, Activation::Tanh, Backend::Native, 3);
    Weights::load(&mut c, "", &stacked, Path::new("old")).unwrap();
    assert_eq!(a.params(), c.params());
    stacked.retain(|(n, _)| n != "w1");
    let err = Weights::load(&mut c, "", &stacked, Path::new("old")).unwrap_err();
    assert!(err.to_string().contains("`w1`"), "{err}");
}
