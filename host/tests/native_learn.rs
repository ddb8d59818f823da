//! core's native learner (`picorl_core::learn`) against libtorch: on random networks and batches
//! of several shapes and activations, the forward outputs, the gradients of the weights, biases
//! and input (autograd of a random linear functional of the outputs), and Adam and RMSprop steps
//! (libtorch's own `torch::optim` through tch) agree to float tolerance.
use picorl_core::learn::{Adam, Mlp, RmsProp};
use picorl_core::nn::Activation;
use picorl_core::rng::{self, Pcg32};
use tch::{nn, nn::OptimizerConfig, Kind, Tensor};

fn randn(rng: &mut Pcg32, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng::normal_f64(rng) as f32).collect()
}

fn t(v: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).reshape(shape)
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    let t = t.contiguous().view(-1).to_kind(Kind::Float);
    let mut out = vec![0f32; t.numel()];
    let n = out.len();
    t.copy_data(&mut out, n);
    out
}

fn apply(act: Activation, x: Tensor) -> Tensor {
    match act {
        Activation::Identity => x,
        Activation::Relu => x.relu(),
        Activation::Tanh => x.tanh(),
        Activation::HardTanh => x.hardtanh(),
        Activation::Sigmoid => x.sigmoid(),
    }
}

/// Asserts `|a − b| ≤ atol + rtol·|b|` element-wise.
fn close(what: &str, a: &[f32], b: &[f32], atol: f32, rtol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= atol + rtol * y.abs(),
            "{what}[{i}]: native {x} vs libtorch {y}"
        );
    }
}

/// The parameters of layer `l` as libtorch's `(weight [out, in], bias [out])` leaves.
fn torch_params(net: &Mlp, params: &[f32]) -> Vec<(Tensor, Tensor)> {
    let d = net.dims();
    (0..net.layers())
        .map(|l| {
            let (i, o) = (d[l], d[l + 1]);
            let p = net.layer_offset(l);
            let wt = t(&params[p..p + i * o], &[i as i64, o as i64]);
            let w = wt.transpose(0, 1).contiguous().set_requires_grad(true);
            let b = t(&params[p + i * o..p + i * o + o], &[o as i64]).set_requires_grad(true);
            (w, b)
        })
        .collect()
}

fn check_shape(dims: &[usize], hidden: Activation, output: Activation, batch: usize, seed: u64) {
    let net = Mlp::new(dims, hidden, output).unwrap();
    let mut r = rng::seeded(seed);
    let mut params = vec![0f32; net.param_len()];
    net.init(&mut params, &mut r).unwrap();
    // Biases are drawn too, so no pre-activation sits at exactly 0 by construction.
    let x = randn(&mut r, batch * net.in_dim());
    let d_out = randn(&mut r, batch * net.out_dim());

    let mut acts = vec![0f32; net.acts_len(batch)];
    net.forward(&params, &x, batch, &mut acts).unwrap();
    let mut grads = vec![0f32; net.param_len()];
    let mut d_in = vec![0f32; batch * net.in_dim()];
    let mut scratch = vec![0f32; net.scratch_len(batch)];
    net.backward(
        &params,
        &x,
        batch,
        &acts,
        &d_out,
        Some(&mut grads),
        Some(&mut d_in),
        &mut scratch,
    )
    .unwrap();

    let tp = torch_params(&net, &params);
    let xt = t(&x, &[batch as i64, net.in_dim() as i64]).set_requires_grad(true);
    let mut h = xt.shallow_clone();
    for (l, (w, b)) in tp.iter().enumerate() {
        h = apply(net.activation(l), h.matmul(&w.transpose(0, 1)) + b);
    }
    let what = format!("{dims:?} {hidden}/{output} batch {batch}");
    close(
        &format!("{what} output"),
        net.output(&acts, batch),
        &to_vec(&h),
        1e-5,
        1e-4,
    );
    let loss = (&h * t(&d_out, &[batch as i64, net.out_dim() as i64])).sum(Kind::Float);
    loss.backward();
    close(
        &format!("{what} d_in"),
        &d_in,
        &to_vec(&xt.grad()),
        1e-5,
        1e-4,
    );
    for (l, (w, b)) in tp.iter().enumerate() {
        let d = net.dims();
        let (i, o) = (d[l], d[l + 1]);
        let p = net.layer_offset(l);
        let gw_t = to_vec(&w.grad().transpose(0, 1));
        close(
            &format!("{what} layer {l} weights"),
            &grads[p..p + i * o],
            &gw_t,
            1e-4,
            1e-4,
        );
        close(
            &format!("{what} layer {l} bias"),
            &grads[p + i * o..p + i * o + o],
            &to_vec(&b.grad()),
            1e-4,
            1e-4,
        );
    }

    // Gradients alone (no input gradient) and the input gradient alone give the same values.
    let mut g2 = vec![0f32; net.param_len()];
    net.backward(
        &params,
        &x,
        batch,
        &acts,
        &d_out,
        Some(&mut g2),
        None,
        &mut scratch,
    )
    .unwrap();
    assert_eq!(g2, grads);
    let mut d2 = vec![0f32; batch * net.in_dim()];
    net.backward(
        &params,
        &x,
        batch,
        &acts,
        &d_out,
        None,
        Some(&mut d2),
        &mut scratch,
    )
    .unwrap();
    assert_eq!(d2, d_in);
}

#[test]
fn gradients_match_libtorch_autograd() {
    use Activation::*;
    let cases: &[(&[usize], Activation, Activation, usize)] = &[
        (&[4, 64, 64, 2], Relu, Identity, 100),
        (&[3, 64, 64, 1], Relu, Identity, 100),
        (&[4, 64, 64, 2], Tanh, Identity, 37),
        (&[17, 256, 256, 6], Relu, Tanh, 13),
        (&[5, 7, 3], Tanh, Tanh, 1),
        (&[8, 33, 19, 31, 4], HardTanh, Identity, 9),
        (&[2, 1], Identity, Identity, 5),
    ];
    for (k, &(dims, hidden, output, batch)) in cases.iter().enumerate() {
        check_shape(dims, hidden, output, batch, 100 + k as u64);
    }
}

/// A libtorch `VarStore` holding `params` as one flat variable whose gradient is `grads`.
fn torch_step(params: &[f32], grads: &[f32], steps: usize, adam: bool, lr: f64) -> Vec<f32> {
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let p = vs.root().var_copy("p", &Tensor::from_slice(params));
    let mut opt = if adam {
        nn::Adam::default().build(&vs, lr).unwrap()
    } else {
        nn::RmsProp::default().build(&vs, lr).unwrap()
    };
    let g = Tensor::from_slice(grads);
    for s in 0..steps {
        opt.zero_grad();
        // d/dp of Σ p·g·(s + 1) is g·(s + 1): a different gradient each step.
        (&p * &g * (s as f64 + 1.0)).sum(Kind::Float).backward();
        opt.step();
    }
    to_vec(&p)
}

#[test]
fn adam_and_rmsprop_match_libtorch() {
    let mut r = rng::seeded(9);
    let n = 1000;
    let params = randn(&mut r, n);
    // Mixed magnitudes, and some zeros (ε matters there).
    let mut grads = randn(&mut r, n);
    for (i, g) in grads.iter_mut().enumerate() {
        *g *= [1e-6, 1e-3, 1.0, 10.0][i % 4];
        if i % 17 == 0 {
            *g = 0.0;
        }
    }
    for steps in [1, 5] {
        let (mut p, mut m, mut v) = (params.clone(), vec![0f32; n], vec![0f32; n]);
        let mut adam = Adam::new(3e-4);
        for s in 0..steps {
            let g: Vec<f32> = grads.iter().map(|g| g * (s as f32 + 1.0)).collect();
            adam.step(&mut p, &g, &mut m, &mut v).unwrap();
        }
        close(
            "adam",
            &p,
            &torch_step(&params, &grads, steps, true, 3e-4),
            1e-6,
            1e-5,
        );

        let (mut p, mut v) = (params.clone(), vec![0f32; n]);
        let rms = RmsProp::new(1e-3);
        for s in 0..steps {
            let g: Vec<f32> = grads.iter().map(|g| g * (s as f32 + 1.0)).collect();
            rms.step(&mut p, &g, &mut v).unwrap();
        }
        close(
            "rmsprop",
            &p,
            &torch_step(&params, &grads, steps, false, 1e-3),
            1e-6,
            1e-5,
        );
    }
}

#[test]
fn bad_buffers_are_errors() {
    let net = Mlp::new(&[4, 8, 2], Activation::Relu, Activation::Identity).unwrap();
    let params = vec![0f32; net.param_len()];
    let mut acts = vec![0f32; net.acts_len(3)];
    assert!(net.forward(&params[1..], &[0.0; 12], 3, &mut acts).is_err());
    assert!(net.forward(&params, &[0.0; 11], 3, &mut acts).is_err());
    assert!(net.forward(&params, &[0.0; 12], 4, &mut acts).is_err());
    assert!(Mlp::new(&[4], Activation::Relu, Activation::Identity).is_err());
    assert!(Mlp::new(&[4, 0, 2], Activation::Relu, Activation::Identity).is_err());
    assert!(Mlp::new(&[1; 10], Activation::Relu, Activation::Identity).is_err());
    let mut adam = Adam::new(1e-3);
    let mut p = [0f32; 3];
    assert!(adam
        .step(&mut p, &[0.0; 3], &mut [0.0; 2], &mut [0.0; 3])
        .is_err());
}
