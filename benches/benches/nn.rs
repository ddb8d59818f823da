//! Inference cost: whole policies (f32 and int8, 4-64-64-2 and 17-256-256-6, one observation, the
//! argmax or the continuous head included) and the f32 dense layer, plain loop against nalgebra.
//!
//! `cargo bench -p picorl-benches --bench main -- nn/`
use criterion::{black_box, Criterion};
use picorl_core::model::{
    self, Aligned, BodySpec, HeadSpec, LayerData, LayerSpec, Model, ModelSpec,
};
use picorl_core::nn::{padded_rows, Activation, QuantParams};
use picorl_core::policy::Policy;
use picorl_core::rng::{seeded, unit_f32};
use std::time::Duration;

struct Net {
    dims: Vec<usize>,
    weights: Vec<Vec<f32>>,
    biases: Vec<Vec<f32>>,
}

fn net(dims: &[usize], seed: u64) -> Net {
    let mut rng = seeded(seed);
    let n = dims.len() - 1;
    Net {
        dims: dims.to_vec(),
        weights: (0..n)
            .map(|l| {
                (0..dims[l] * dims[l + 1])
                    .map(|_| (unit_f32(&mut rng) * 2.0 - 1.0) / (dims[l] as f32).sqrt())
                    .collect()
            })
            .collect(),
        biases: (0..n)
            .map(|l| {
                (0..dims[l + 1])
                    .map(|_| unit_f32(&mut rng) * 0.2 - 0.1)
                    .collect()
            })
            .collect(),
    }
}

/// Aligned storage for a model file (the reader reads weights in place).
type ModelBuf = Box<Aligned<[u8; 1 << 20]>>;

/// Writes `net` as a `.picorl` file (discrete head over the last layer) into aligned storage.
fn write(net: &Net, int8: bool) -> (ModelBuf, usize) {
    let n = net.dims.len() - 1;
    let layers: Vec<LayerSpec<'_>> = (0..n)
        .map(|l| LayerSpec {
            in_dim: net.dims[l],
            out_dim: net.dims[l + 1],
            weights: &net.weights[l],
            bias: &net.biases[l],
            activation: if l + 1 < n {
                Activation::Relu
            } else {
                Activation::Identity
            },
        })
        .collect();
    let outputs: Vec<QuantParams> = (0..n)
        .map(|l| QuantParams::from_range(if l + 1 < n { 0.0 } else { -4.0 }, 4.0).unwrap())
        .collect();
    let body = if int8 {
        BodySpec::MlpInt8 {
            layers: &layers,
            input: QuantParams::from_range(-3.0, 3.0).unwrap(),
            outputs: &outputs,
        }
    } else {
        BodySpec::MlpF32 { layers: &layers }
    };
    let spec = ModelSpec {
        obs_dim: net.dims[0],
        normalization: None,
        head: HeadSpec::Discrete {
            n: net.dims[n] as u32,
        },
        body,
    };
    let mut buf: ModelBuf = Box::new(Aligned([0u8; 1 << 20]));
    let len = model::write(&spec, &mut buf.0).unwrap();
    (buf, len)
}

pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("nn");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for dims in [&[4usize, 64, 64, 2][..], &[17, 256, 256, 6]] {
        let name = dims
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("-");
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
