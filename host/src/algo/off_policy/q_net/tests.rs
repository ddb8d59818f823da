//! Tests of [`super`] (`q_net`): the hand-written gradients of the dueling heads, noisy layers and
//! dropout against libtorch's autograd of the same network and loss, the export, dropout's modes.

use super::*;
use crate::util::tensor::tensor_to_vec;
use tch::{Kind, Tensor};

fn opts(dueling: bool, noisy: bool, dropout: f64) -> QNetOptions {
    QNetOptions {
        hidden: vec![8, 8],
        activation: Activation::Relu,
        dueling,
        noisy_sigma0: noisy.then_some(0.5),
        dropout,
    }
}

fn net(backend: Backend, o: &QNetOptions, obs: usize, n: usize, seed: u64) -> QNet {
    QNet::new(
        backend,
        obs,
        n,
        o,
        Some(AdamConfig::pytorch(1e-3)),
        &mut rng::seeded(seed),
        seed,
    )
    .unwrap()
}

fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{what}[{i}]: hand {x} vs autograd {y}"
        );
    }
}

/// Runs an export on the CPU in plain f32, layer by layer (ReLU between layers).
pub(crate) fn run_export(p: &PolicyExport, obs: &[f32]) -> Vec<f32> {
    let mut x = obs.to_vec();
    for (i, l) in p.layers.iter().enumerate() {
        let mut y: Vec<f32> = (0..l.outputs)
            .map(|j| {
                l.bias[j]
                    + (0..l.inputs)
                        .map(|k| l.weights[j * l.inputs + k] * x[k])
                        .sum::<f32>()
            })
            .collect();
        if i + 1 < p.layers.len() {
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        x = y;
    }
    x
}

/// A tensor of `values` shaped `shape`, requiring its gradient.
fn leaf(values: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(values)
        .view(shape)
        .set_requires_grad(true)
}

/// The network's Q-values as a libtorch graph over leaf parameters built from its layers, with
/// its current noise and the dropout masks of its last pass; returns `(Q, parameters in
/// [`QNet::nets`]' order, each net's weight and bias per layer)`.
fn autograd_q(q: &QNet, x: &[f32], rows: usize) -> (Tensor, Vec<Tensor>) {
    let mut params = Vec::new();
    let mut h = Tensor::from_slice(x).view([rows as i64, q.dims[0] as i64]);
    let last = q.blocks.len() - 1;
    let mut k = 0;
    for (l, b) in q.blocks.iter().enumerate() {
        match b {
            Block::Dense(n) => {
                let count = n.dims().len() - 1;
                for (j, layer) in n.layers().iter().enumerate() {
                    let (i, o) = (q.dims[k] as i64, q.dims[k + 1] as i64);
                    let w = leaf(&layer.weight, &[o, i]);
                    let bias = leaf(&layer.bias, &[o]);
                    h = h.linear(&w, Some(&bias));
                    if j + 1 < count {
                        h = q.activation.apply(&h);
                    }
                    params.push(w);
                    params.push(bias);
                    k += 1;
                }
            }
            Block::Noisy(n) => {
                let (i, o) = (q.dims[k] as i64, q.dims[k + 1] as i64);
                let (mu, sg) = (&n.mu.layers()[0], &n.sigma.layers()[0]);
                let (wm, bm) = (leaf(&mu.weight, &[o, i]), leaf(&mu.bias, &[o]));
                let (ws, bs) = (leaf(&sg.weight, &[o, i]), leaf(&sg.bias, &[o]));
                let (ei, eo) = n.noise();
                let (ei, eo) = (Tensor::from_slice(ei), Tensor::from_slice(eo));
                // The paper's effective weights: W = μ_w + σ_w ⊙ (ε_out ⊗ ε_in), b = μ_b + σ_b ⊙ ε_out.
                let w = &wm + &ws * eo.outer(&ei);
                let bias = &bm + &bs * &eo;
                h = h.linear(&w, Some(&bias));
                params.extend([wm, bm, ws, bs]);
                k += 1;
            }
        }
        if l < last {
            h = q.activation.apply(&h);
            if q.dropout > 0.0 {
                let m = &q.masks[l];
                let shape = h.size();
                // Not in place: autograd keeps the activation's output.
                let masked = &h * Tensor::from_slice(m).view(shape.as_slice());
                h = masked;
            }
        }
    }
    let q_values = if q.dueling {
        let n = q.n_actions as i64;
        let v = h.narrow(1, 0, 1);
        let a = h.narrow(1, 1, n);
        &v + &a - a.mean_dim(-1, true, Kind::Float)
    } else {
        h
    };
    (q_values, params)
}

/// The hand-written backward of every variant (plain, dueling, noisy, dropout, and their mix)
/// gives libtorch's autograd gradient of the same loss `Σ Q ⊙ dQ`, on random networks, batches
/// and `dQ`; the Q-values agree too.
#[test]
fn hand_gradients_match_autograd() {
    let variants = [
        (false, false, 0.0),
        (true, false, 0.0),
        (false, true, 0.0),
        (false, false, 0.3),
        (true, true, 0.2),
    ];
    for (case, &(dueling, noisy, dropout)) in variants.iter().enumerate() {
        let (obs, n, rows) = (5, 3, 7);
        let mut q = net(
            Backend::Native,
            &opts(dueling, noisy, dropout),
            obs,
            n,
            case as u64,
        );
        let mut r = rng::seeded(100 + case as u64);
        q.perturb(&mut r, 0.3);
        q.reset_noise();
        let x: Vec<f32> = (0..rows * obs)
            .map(|_| 4.0 * rng::unit_f32(&mut r) - 2.0)
            .collect();
        let d_q: Vec<f32> = (0..rows * n).map(|_| rng::unit_f32(&mut r) - 0.5).collect();
        let hand_q = q.forward(&x, rows, Mode::Train).unwrap().to_vec();
        q.backward(&d_q).unwrap();
        let (tq, params) = autograd_q(&q, &x, rows);
        let what = format!("dueling {dueling} noisy {noisy} dropout {dropout}");
        close(&format!("{what}: Q"), &hand_q, &tensor_to_vec(&tq), 1e-5);
        let s = (&tq * Tensor::from_slice(&d_q).view([rows as i64, n as i64])).sum(Kind::Float);
        let grads = Tensor::run_backward(&[s], &params, false, false);
        let auto: Vec<f32> = grads.iter().flat_map(tensor_to_vec).collect();
        let hand: Vec<f32> = q.nets().iter().flat_map(|n| n.param_grads()).collect();
        close(&format!("{what}: gradient"), &hand, &auto, 1e-5);
        assert!(hand.iter().any(|&g| g != 0.0), "{what}: a gradient at all");
    }
}

/// The same network on both backends gives the same Q-values and gradients.
#[test]
fn native_and_torch_agree() {
    for (dueling, noisy, dropout) in [(true, false, 0.0), (true, true, 0.25)] {
        let o = opts(dueling, noisy, dropout);
        let mut a = net(Backend::Native, &o, 4, 2, 9);
        let mut b = net(Backend::Torch(tch::Device::Cpu), &o, 4, 2, 9);
        let x: Vec<f32> = (0..6 * 4).map(|k| (k as f32 * 0.7).sin()).collect();
        let d_q: Vec<f32> = (0..6 * 2).map(|k| (k as f32 * 0.3).cos()).collect();
        let qa = a.forward(&x, 6, Mode::Train).unwrap().to_vec();
        let qb = b.forward(&x, 6, Mode::Train).unwrap().to_vec();
        close("Q", &qa, &qb, 1e-5);
        a.backward(&d_q).unwrap();
        b.backward(&d_q).unwrap();
        let g = |q: &QNet| -> Vec<f32> { q.nets().iter().flat_map(|n| n.param_grads()).collect() };
        close("gradient", &g(&a), &g(&b), 1e-5);
        let sq = |q: &QNet| -> f64 { q.nets().iter().map(|n| n.grad_sq_norm()).sum() };
        let norm = (sq(&a), sq(&b));
        assert!((norm.0 - norm.1).abs() <= 1e-5 * norm.0, "{norm:?}");
    }
}

#[test]
fn folded_dueling_layer_by_hand() {
    // Two inputs; V = [1, -1]·h + 0.5; A rows [1, 0], [3, 2] with biases 0, 2.
    let value = DenseExport {
        weights: vec![1.0, -1.0],
        bias: vec![0.5],
        inputs: 2,
        outputs: 1,
    };
    let adv = DenseExport {
        weights: vec![1.0, 0.0, 3.0, 2.0],
        bias: vec![0.0, 2.0],
        inputs: 2,
        outputs: 2,
    };
    let q = fold_dueling(&value, &adv);
    // Column means of A: [2, 1]; bias mean 1. W_q = A - mean + w_v = [[0, -2], [2, 0]];
    // b_q = [0 - 1 + 0.5, 2 - 1 + 0.5] = [-0.5, 1.5].
    assert_eq!(q.weights, vec![0.0, -2.0, 2.0, 0.0]);
    assert_eq!(q.bias, vec![-0.5, 1.5]);
}

#[test]
fn dueling_aggregation_by_hand() {
    // One input of 1, a zero hidden layer skipped: the last layer's outputs are its biases.
    // V = 2, A = [1, 2, 6] (mean 3): Q = 2 + A - 3 = [0, 1, 5].
    let mut o = opts(true, false, 0.0);
    o.hidden = vec![];
    let mut q = net(Backend::Native, &o, 1, 3, 0);
    let layers = [Layer {
        weight: vec![0.0; 4],
        bias: vec![2.0, 1.0, 2.0, 6.0],
    }];
    q.nets_mut()[0].set_layers(&layers).unwrap();
    assert_eq!(q.forward(&[1.0], 1, Mode::Eval).unwrap(), &[0.0, 1.0, 5.0]);
}

#[test]
fn export_computes_the_network_for_every_variant() {
    let obs = [0.3f32, -1.2, 0.7, 2.0];
    for (dueling, noisy) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut q = net(Backend::Native, &opts(dueling, noisy, 0.0), 4, 3, 3);
        q.perturb(&mut rng::seeded(1), 0.2);
        let expect = q.forward(&obs, 1, Mode::Eval).unwrap().to_vec();
        let got = run_export(&q.export(), &obs);
        close(
            &format!("dueling {dueling} noisy {noisy}"),
            &got,
            &expect,
            1e-5,
        );
        if noisy {
            // Acting uses the noise; evaluation the mean weights.
            let acting = q.forward(&obs, 1, Mode::Act).unwrap().to_vec();
            assert!(acting != expect);
        }
    }
}

#[test]
fn dropout_only_in_training() {
    let mut o = opts(false, false, 0.5);
    o.hidden = vec![256];
    let mut q = net(Backend::Native, &o, 4, 2, 4);
    let x = [1.0f32; 4];
    let a = q.forward(&x, 1, Mode::Eval).unwrap().to_vec();
    assert_eq!(a, q.forward(&x, 1, Mode::Act).unwrap());
    let t = q.forward(&x, 1, Mode::Train).unwrap().to_vec();
    assert!(a != t);
    // Inverted dropout keeps the expectation: the mean over many masks is the evaluation's.
    let rows = 4000;
    let many = q
        .forward(&vec![1.0f32; 4 * rows], rows, Mode::Train)
        .unwrap()
        .to_vec();
    for (k, e) in a.iter().enumerate() {
        let m = (0..rows).map(|r| many[r * 2 + k]).sum::<f32>() / rows as f32;
        assert!((m - e).abs() < 0.05 * e.abs().max(0.1), "{m} vs {e}");
    }
    // The masks come from the network's generator: the same state, the same mask.
    let g = q.generators();
    let first = q.forward(&x, 1, Mode::Train).unwrap().to_vec();
    q.set_generators(g);
    assert_eq!(first, q.forward(&x, 1, Mode::Train).unwrap());
}
