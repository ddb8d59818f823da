//! The native learner against libtorch's autograd: the same network (both backends draw the same
//! initial weights), the same batch and outputs' gradient give the same outputs, parameter and
//! input gradients, Adam steps and Polyak updates, to float tolerance.

use super::*;
use picorl_core::rng;

fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{what}[{i}]: native {x} vs torch {y}"
        );
    }
}

fn flat(layers: &[Layer]) -> Vec<f32> {
    layers
        .iter()
        .flat_map(|l| l.weight.iter().chain(&l.bias).copied())
        .collect()
}

fn pair(dims: &[usize], act: Activation, seed: u64) -> (Net, Net) {
    let adam = Some(AdamConfig::pytorch(3e-3));
    let n = Net::new(Backend::Native, dims, act, adam, &mut rng::seeded(seed)).unwrap();
    let t = Net::new(
        Backend::Torch(tch::Device::Cpu),
        dims,
        act,
        adam,
        &mut rng::seeded(seed),
    )
    .unwrap();
    (n, t)
}

/// Random networks and batches: forward, backward (parameters through Adam, and the input),
/// several steps in lockstep.
#[test]
fn native_matches_libtorch_autograd() {
    let cases: [(&[usize], Activation, usize); 4] = [
        (&[3, 64, 64, 1], Activation::Relu, 100),
        (&[5, 17, 2], Activation::Tanh, 7),
        (&[4, 32, 32, 32, 6], Activation::Hardtanh, 33),
        (&[1, 1], Activation::Relu, 1),
    ];
    for (case, &(dims, act, rows)) in cases.iter().enumerate() {
        let (mut n, mut t) = pair(dims, act, 11 + case as u64);
        assert_eq!(flat(&n.layers()), flat(&t.layers()), "same initial weights");
        let mut r = rng::seeded(case as u64);
        for step in 0..5 {
            let x: Vec<f32> = (0..rows * dims[0])
                .map(|_| 4.0 * rng::unit_f32(&mut r) - 2.0)
                .collect();
            let out = dims[dims.len() - 1];
            let d: Vec<f32> = (0..rows * out)
                .map(|_| rng::unit_f32(&mut r) - 0.5)
                .collect();
            let yn = n.forward(&x, rows).unwrap().to_vec();
            let yt = t.forward(&x, rows).unwrap().to_vec();
            close(&format!("case {case} step {step} outputs"), &yn, &yt, 1e-5);
            let gn = n.backward(&d, true, true).unwrap().to_vec();
            let gt = t.backward(&d, true, true).unwrap().to_vec();
            close(&format!("case {case} step {step} d_in"), &gn, &gt, 1e-5);
            n.step().unwrap();
            t.step().unwrap();
            close(
                &format!("case {case} step {step} parameters"),
                &flat(&n.layers()),
                &flat(&t.layers()),
                1e-5,
            );
        }
        let (sn, st) = (n.adam_state().unwrap(), t.adam_state().unwrap());
        assert_eq!((sn.t, st.t), (5, 5));
        close("first moments", &sn.m, &st.m, 1e-5);
        close("second moments", &sn.v, &st.v, 1e-4);
        // Input gradient alone leaves the stored parameter gradient alone on both.
        let x = vec![0.5; dims[0]];
        n.forward(&x, 1).unwrap();
        t.forward(&x, 1).unwrap();
        let d = vec![1.0; dims[dims.len() - 1]];
        let gn = n.backward(&d, false, true).unwrap().to_vec();
        let gt = t.backward(&d, false, true).unwrap().to_vec();
        close("input gradient only", &gn, &gt, 1e-5);
        // Polyak averaging of a target copy.
        let (mut tn, mut tt) = (n.target_copy().unwrap(), t.target_copy().unwrap());
        n.forward(&vec![0.1; rows * dims[0]], rows).unwrap();
        t.forward(&vec![0.1; rows * dims[0]], rows).unwrap();
        let ones = vec![1.0; rows * dims[dims.len() - 1]];
        n.backward(&ones, true, false).unwrap();
        t.backward(&ones, true, false).unwrap();
        n.step().unwrap();
        t.step().unwrap();
        tn.polyak_from(&n, 0.25).unwrap();
        tt.polyak_from(&t, 0.25).unwrap();
        close("polyak", &flat(&tn.layers()), &flat(&tt.layers()), 1e-5);
    }
}

/// Adam's state and the parameters round-trip through PyTorch's layout on both backends, and
/// a restored native network continues bit for bit.
#[test]
fn state_round_trips_bit_for_bit() {
    let (mut a, _) = pair(&[3, 8, 2], Activation::Relu, 5);
    let x = [0.1f32, -0.2, 0.3, 0.4, 0.5, -0.6];
    let d = [0.3f32, -0.1, 0.2, 0.05];
    for _ in 0..3 {
        a.forward(&x, 2).unwrap();
        a.backward(&d, true, false).unwrap();
        a.step().unwrap();
    }
    let (_, mut b) = pair(&[3, 8, 2], Activation::Relu, 99);
    let mut c = Net::new(
        Backend::Native,
        &[3, 8, 2],
        Activation::Relu,
        Some(AdamConfig::pytorch(3e-3)),
        &mut rng::seeded(7),
    )
    .unwrap();
    for net in [&mut b, &mut c] {
        net.set_layers(&a.layers()).unwrap();
        net.set_adam_state(&a.adam_state().unwrap()).unwrap();
        assert_eq!(net.layers(), a.layers());
        assert_eq!(net.adam_state(), a.adam_state());
    }
    for net in [&mut a, &mut c] {
        net.forward(&x, 2).unwrap();
        net.backward(&d, true, false).unwrap();
        net.step().unwrap();
    }
    assert_eq!(a.layers(), c.layers());
    // Wrong shapes are errors, not panics.
    assert!(a.set_layers(&a.layers()[..1]).is_err());
    let mut s = a.adam_state().unwrap();
    s.m.pop();
    assert!(a.set_adam_state(&s).is_err());
}

#[test]
fn auto_chooses_native_for_small_networks_on_the_cpu() {
    use crate::train::config::BackendChoice as C;
    let cpu = tch::Device::Cpu;
    let small = [3, 64, 64, 1];
    let big = [3, 512, 512, 1];
    assert_eq!(
        Backend::choose(C::Auto, cpu, &small, "td3").unwrap(),
        Backend::Native
    );
    assert_eq!(
        Backend::choose(C::Auto, cpu, &big, "td3").unwrap(),
        Backend::Torch(cpu)
    );
    assert_eq!(
        Backend::choose(C::Native, cpu, &big, "td3").unwrap(),
        Backend::Native
    );
    assert_eq!(
        Backend::choose(C::Torch, cpu, &small, "td3").unwrap(),
        Backend::Torch(cpu)
    );
    let gpu = tch::Device::Cuda(0);
    assert_eq!(
        Backend::choose(C::Auto, gpu, &small, "td3").unwrap(),
        Backend::Torch(gpu)
    );
    let e = Backend::choose(C::Native, gpu, &small, "td3")
        .unwrap_err()
        .to_string();
    assert!(e.contains("--backend native runs on the CPU"), "{e}");
}
