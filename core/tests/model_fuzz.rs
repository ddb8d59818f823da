//! A stable-Rust stand-in for the cargo-fuzz target (`core/fuzz/fuzz_targets/model_reader.rs`):
//! 150k seeded inputs (random bytes, truncations, bit flips and field edits of valid models, with
//! and without a repaired CRC so that the structural checks are reached) through the reader and,
//! when they parse, through every accessor and `Policy::act`. Nothing may panic.
//!
//! The real fuzzer needs nightly (or `RUSTC_BOOTSTRAP=1`):
//! `cargo install cargo-fuzz && cd core && RUSTC_BOOTSTRAP=1 cargo fuzz run model_reader -- -max_total_time=60`
//! (works with the stable 1.95 toolchain here: 2.7 M inputs in 60 s, no crash).

use picorl_core::model::{
    self, crc32, BodySpec, HeadSpec, LayerSpec, Model, ModelSpec, ModelView, NormSpec,
};
use picorl_core::nn::{Activation, QuantParams};
use picorl_core::policy::Policy;
use picorl_core::rng::{below, seeded};
use rand_core::RngCore;

fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut push = |spec: &ModelSpec<'_>| {
        let mut buf = vec![0u8; model::required_len(spec).unwrap()];
        model::write(spec, &mut buf).unwrap();
        out.push(buf);
    };
    let w1: Vec<f32> = (0..5 * 4).map(|i| (i as f32 * 0.3).sin()).collect();
    let b1 = [0.1f32; 5];
    let w2: Vec<f32> = (0..2 * 5).map(|i| (i as f32 * 0.7).cos()).collect();
    let b2 = [0.0f32; 2];
    let relu = [
        LayerSpec {
            in_dim: 4,
            out_dim: 5,
            weights: &w1,
            bias: &b1,
            activation: Activation::Relu,
        },
        LayerSpec {
            in_dim: 5,
            out_dim: 2,
            weights: &w2,
            bias: &b2,
            activation: Activation::Identity,
        },
    ];
    let mean = [0.0f32; 4];
    let var = [1.0f32; 4];
    let norm = Some(NormSpec {
        mean: &mean,
        var: &var,
        epsilon: 1e-8,
        clip: 10.0,
    });
    let low = [-1.0f32; 2];
    let high = [1.0f32; 2];
    push(&ModelSpec {
        obs_dim: 4,
        normalization: norm,
        head: HeadSpec::Discrete { n: 2 },
        body: BodySpec::MlpF32 { layers: &relu },
    });
    let outputs = [
        QuantParams {
            scale: 0.02,
            zero_point: -128,
        },
        QuantParams {
            scale: 0.05,
            zero_point: 3,
        },
    ];
    push(&ModelSpec {
        obs_dim: 4,
        normalization: norm,
        head: HeadSpec::ContinuousTanh {
            low: &low,
            high: &high,
        },
        body: BodySpec::MlpInt8 {
            layers: &relu,
            input: QuantParams {
                scale: 0.04,
                zero_point: 0,
            },
            outputs: &outputs,
        },
    });
    push(&ModelSpec {
        obs_dim: 1,
        normalization: None,
        head: HeadSpec::Discrete { n: 3 },
        body: BodySpec::GreedyTable {
            actions: &[0, 2, 1, 1],
        },
    });
    push(&ModelSpec {
        obs_dim: 1,
        normalization: None,
        head: HeadSpec::Discrete { n: 2 },
        body: BodySpec::QTable {
            q: &[0.5, 1.0, -1.0, 2.0],
        },
    });
    out
}

/// Parse, then touch everything a user can reach.
fn exercise(bytes: &[u8]) -> bool {
    // Word-aligned copy, as a real caller would hold it.
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    let aligned = &bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()];
    // The unchecked view must not panic either.
    let u = ModelView::new_unchecked(aligned);
    let _ = (
        u.macs(),
        u.layers().count(),
        u.table().is_some(),
        u.normalization().is_some(),
        u.action_bounds(),
    );
    let Ok(m) = Model::parse(aligned) else {
        return false;
    };
    let _ = (
        m.kind(),
        m.head(),
        m.quant(),
        m.obs_dim(),
        m.action(),
        m.macs(),
        m.crc(),
        m.input_quant(),
    );
    for l in m.layers() {
        for r in 0..l.out_dim.min(8) {
            let _ = l.tflite_bias(r);
        }
    }
    if let Ok(mut p) = Policy::<'_, 64>::new(m) {
        let obs: Vec<f32> = (0..m.obs_dim()).map(|i| i as f32 * 0.7 - 1.0).collect();
        let _ = p.act(&obs);
        let _ = p.act(&[f32::NAN]);
        let _ = p.outputs();
    }
    true
}

#[test]
fn no_input_panics_the_reader() {
    let seeds = seeds();
    for s in &seeds {
        assert!(exercise(s));
    }
    let mut rng = seeded(99);
    let mut accepted = 0;
    for case in 0..150_000u32 {
        let base = &seeds[below(&mut rng, seeds.len() as u32) as usize];
        let mut b = base.clone();
        match case % 6 {
            // Random bytes behind a valid magic and version.
            0 => {
                let n = below(&mut rng, 400) as usize;
                b = (0..n).map(|_| rng.next_u32() as u8).collect();
                if n >= 10 && below(&mut rng, 2) == 0 {
                    b[..8].copy_from_slice(&model::MAGIC);
                    b[8..10].copy_from_slice(&1u16.to_le_bytes());
                }
            }
            // Truncation or extension.
            1 => {
                let n = below(&mut rng, b.len() as u32 + 16) as usize;
                b.resize(n, rng.next_u32() as u8);
            }
            // Bit flips, CRC left as is.
            2 => {
                for _ in 0..1 + below(&mut rng, 4) {
                    let i = below(&mut rng, b.len() as u32) as usize;
                    b[i] ^= 1 << below(&mut rng, 8);
                }
            }
            // Bit flips or byte edits, CRC repaired: reaches every structural check.
            _ => {
                for _ in 0..1 + below(&mut rng, 3) {
                    let i = below(&mut rng, b.len() as u32 - 4) as usize;
                    match below(&mut rng, 3) {
                        0 => b[i] ^= 1 << below(&mut rng, 8),
                        1 => b[i] = rng.next_u32() as u8,
                        _ => {
                            // A u32 field edit in the header, with interesting values.
                            let off = (below(&mut rng, 16) * 4) as usize;
                            let v = [
                                0u32,
                                1,
                                2,
                                3,
                                4,
                                5,
                                16,
                                17,
                                255,
                                4096,
                                4097,
                                u32::MAX,
                                1 << 31,
                            ][below(&mut rng, 13) as usize];
                            b[off..off + 4].copy_from_slice(&v.to_le_bytes());
                        }
                    }
                }
                let n = b.len();
                let c = crc32(&b[..n - 4]);
                b[n - 4..].copy_from_slice(&c.to_le_bytes());
            }
        }
        if exercise(&b) {
            accepted += 1;
        }
    }
    // Some repaired edits keep the model valid (for example a weight change); most do not.
    assert!(accepted > 0);
}
