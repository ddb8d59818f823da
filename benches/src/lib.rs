//! Shared helpers for picorl's benchmarks (the suite is `benches/benches/main.rs`; the
//! comparison with the peers is `benches/compare.py`, whose Rust side is `examples/peers.rs`).
#![deny(missing_docs)]
use picorl_core::model::{self, Aligned, BodySpec, HeadSpec, LayerSpec, ModelSpec};
use picorl_core::nn::{Activation, QuantParams};
use picorl_core::rng::{seeded, unit_f32};

/// The fastest time per call of `f` over `batches` batches of `per` calls, in seconds: other work
/// on the machine only ever adds time, so the best batch is the closest to the code's own cost.
pub fn best<F: FnMut()>(batches: usize, per: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..batches {
        let t = std::time::Instant::now();
        for _ in 0..per {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / per as f64);
    }
    best
}

/// A net's widths as its name: `[4, 64, 64, 2]` → `4-64-64-2`.
pub fn dims_name(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("-")
}

/// An MLP's parameters: `weights[l]` is row-major `dims[l+1] × dims[l]`.
#[derive(Debug, Clone)]
pub struct Net {
    /// Layer widths, input first.
    pub dims: Vec<usize>,
    /// Per layer, row-major (out × in).
    pub weights: Vec<Vec<f32>>,
    /// Per layer.
    pub biases: Vec<Vec<f32>>,
}

/// An MLP of widths `dims` with seeded uniform weights in ±1/√fan_in and small biases.
pub fn random_mlp(dims: &[usize], seed: u64) -> Net {
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
pub type ModelBuf = Box<Aligned<[u8; 1 << 20]>>;

/// Writes `net` as a `.picorl` file (ReLU hidden layers, a discrete head over the last layer)
/// into aligned storage; int8 with fixed ranges (inputs ±3, hidden [0, 4], outputs ±4).
/// Returns the storage and the file's length.
pub fn write_model(net: &Net, int8: bool) -> (ModelBuf, usize) {
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
