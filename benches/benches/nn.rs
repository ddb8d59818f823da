//! Inference cost: whole policies (f32 and int8, 4-64-64-2 and 17-256-256-6, one observation, the
//! argmax or the continuous head included), libtorch's forward of the same net (tch, one thread,
//! no autograd: the peer a host program would otherwise call), and the f32 dense layer, plain loop
//! against nalgebra.
//!
//! `cargo bench -p picorl-benches --bench main -- nn/`
use criterion::{black_box, Criterion};
use picorl_benches::{random_mlp as net, write_model as write};
use picorl_core::model::{LayerData, Model};
use picorl_core::nn::padded_rows;
use picorl_core::policy::Policy;
use std::time::Duration;

pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("nn");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for dims in [&[4usize, 64, 64, 2][..], &[17, 256, 256, 6]] {
        let name = picorl_benches::dims_name(dims);
        let n = net(dims, 1);
        let obs: Vec<f32> = (0..dims[0]).map(|i| (i as f32 * 0.37).sin()).collect();
        for int8 in [false, true] {
            let (buf, len) = write(&n, int8);
            let m = Model::parse(&buf.0[..len]).unwrap();
            let mut p = Policy::<'_, 256>::new(m).unwrap();
            let q = if int8 { "int8" } else { "f32" };
            g.bench_function(format!("{q}/{name}/act"), |b| {
                b.iter(|| p.act(black_box(&obs)).unwrap())
            });
        }
        // libtorch's forward of the same weights, one observation, one thread, under no_grad.
        tch::set_num_threads(1);
        let layers: Vec<(tch::Tensor, tch::Tensor)> = (0..dims.len() - 1)
            .map(|l| {
                let w = tch::Tensor::from_slice(&n.weights[l])
                    .reshape([dims[l + 1] as i64, dims[l] as i64]);
                (w, tch::Tensor::from_slice(&n.biases[l]))
            })
            .collect();
        let x = tch::Tensor::from_slice(&obs).reshape([1, dims[0] as i64]);
        g.bench_function(format!("tch/{name}/forward_argmax"), |b| {
            b.iter(|| {
                tch::no_grad(|| {
                    let mut h = black_box(&x).shallow_clone();
                    for (l, (w, bias)) in layers.iter().enumerate() {
                        h = h.linear(w, Some(bias));
                        if l + 2 < dims.len() {
                            h = h.relu();
                        }
                    }
                    h.argmax(-1, false).int64_value(&[0])
                })
            })
        });
        // The f32 dense layer alone (the widest hidden layer of the net): plain loop vs nalgebra.
        let (buf, len) = write(&n, false);
        let m = Model::parse(&buf.0[..len]).unwrap();
        let LayerData::F32(d) = m.layer(1).unwrap().data else {
            unreachable!()
        };
        let x: Vec<f32> = (0..d.in_dim()).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut y = vec![0.0f32; padded_rows(d.out_dim())];
        let shape = format!("{}x{}", d.out_dim(), d.in_dim());
        g.bench_function(format!("dense_f32/{shape}/loop"), |b| {
            b.iter(|| d.forward(black_box(&x), &mut y).unwrap())
        });
        g.bench_function(format!("dense_f32/{shape}/nalgebra"), |b| {
            b.iter(|| d.forward_nalgebra(black_box(&x), &mut y).unwrap())
        });
    }
    g.finish();
}
