//! The int8 path against an independent implementation of TFLM's reference FULLY_CONNECTED
//! arithmetic, written here with i128 and a different structure (floor-based rounding with an
//! explicit clamp instead of gemmlowp's nudge, truncation and overflow flag; a loop-based frexp),
//! on random layers, random networks and random inputs: every output must be bit-identical.

use picorl_core::model::{
    self, BodySpec, HeadSpec, LayerData, LayerSpec, Model, ModelSpec, NormSpec,
};
use picorl_core::nn::{
    self, Activation, DenseI8, KernelRequant, QuantParams, BLOCK, BLOCK_PARAM_WORDS,
};
use picorl_core::policy::{ActionOut, Policy};
use picorl_core::rng::{seeded, unit_f32};
use rand_core::RngCore;

// ---------------------------------------------------------------------------------------------
// The reference (TFLM semantics, independent code).

/// `SaturatingRoundingDoublingHighMul`: round(2ab / 2^32) with gemmlowp's ties (a negative tie
/// goes up), i.e. floor((ab + 2^30) / 2^31), clamped to i32 (the MIN * MIN case).
fn ref_srdhm(a: i32, b: i32) -> i32 {
    let ab = a as i128 * b as i128;
    (ab + (1 << 30))
        .div_euclid(1 << 31)
        .clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// `RoundingDivideByPOT`: x / 2^e rounded half away from zero.
fn ref_rdbpot(x: i32, e: u32) -> i32 {
    if e == 0 {
        return x;
    }
    let d = 1i128 << e;
    let mag = ((x as i128).abs() * 2 + d) / (2 * d);
    (if x < 0 { -mag } else { mag }) as i32
}

fn ref_mbqm(x: i32, m: i32, shift: i32) -> i32 {
    let left = shift.max(0) as u32;
    let right = (-shift).max(0) as u32;
    let shifted = ((x as i64) << left) as i32; // wraps, as the hardware does
    ref_rdbpot(ref_srdhm(shifted, m), right)
}

/// `QuantizeMultiplier` with a loop instead of frexp.
fn ref_quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (mut q, mut e) = (real, 0i32);
    while q >= 1.0 {
        q /= 2.0;
        e += 1;
    }
    while q < 0.5 {
        q *= 2.0;
        e -= 1;
    }
    let mut fixed = (q * 2147483648.0 + 0.5).floor() as i64;
    if fixed == 1 << 31 {
        fixed /= 2;
        e += 1;
    }
    if e < -31 {
        return (0, 0);
    }
    (fixed as i32, e)
}

/// One TFLite per-channel quantized layer, in TFLite's own terms.
struct RefLayer {
    in_dim: usize,
    out_dim: usize,
    w: Vec<i8>,     // row-major out x in
    bias: Vec<i32>, // TFLite's bias (zero point not folded)
    mult: Vec<(i32, i32)>,
    in_zp: i32,
    out_zp: i32,
    relu: bool,
}

impl RefLayer {
    fn run(&self, x: &[i8]) -> Vec<i8> {
        (0..self.out_dim)
            .map(|r| {
                let mut acc: i64 = 0;
                let row = &self.w[r * self.in_dim..(r + 1) * self.in_dim];
                for (&w, &xc) in row.iter().zip(x) {
                    acc += w as i64 * (xc as i64 - self.in_zp as i64);
                }
                acc += self.bias[r] as i64;
                let (m, s) = self.mult[r];
                let v = ref_mbqm(acc as i32, m, s) as i64 + self.out_zp as i64;
                let lo = if self.relu {
                    self.out_zp.max(-128)
                } else {
                    -128
                } as i64;
                v.clamp(lo, 127) as i8
            })
            .collect()
    }
}

fn ref_quantize(x: f32, q: QuantParams) -> i8 {
    let v = (x / q.scale).round(); // f32 division, round half away from zero
    (v as i64 + q.zero_point as i64).clamp(-128, 127) as i8
}

// ---------------------------------------------------------------------------------------------

fn uniform(rng: &mut impl RngCore, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * unit_f32(rng)
}

fn below(rng: &mut impl RngCore, n: u32) -> u32 {
    picorl_core::rng::below(rng, n)
}

#[test]
fn reference_arithmetic_agrees_with_core_on_random_values() {
    let mut rng = seeded(1);
    for i in 0..200_000u32 {
        let pick = |rng: &mut rand_pcg::Pcg32| match below(rng, 4) {
            0 => [i32::MIN, i32::MAX, 0, 1, -1, 1 << 30, -(1 << 30)][below(rng, 7) as usize],
            1 => (rng.next_u32() as i32) >> below(rng, 31),
            _ => rng.next_u32() as i32,
        };
        let a = pick(&mut rng);
        let b = pick(&mut rng);
        assert_eq!(
            nn::quant::saturating_rounding_doubling_high_mul(a, b),
            ref_srdhm(a, b),
            "srdhm({a}, {b})"
        );
        let e = below(&mut rng, 32);
        assert_eq!(
            nn::quant::rounding_divide_by_pot(a, e),
            ref_rdbpot(a, e),
            "rdbpot({a}, {e})"
        );
        let m = (rng.next_u32() >> 1) as i32;
        let s = below(&mut rng, 62) as i32 - 31;
        assert_eq!(
            nn::quant::multiply_by_quantized_multiplier(a, m, s),
            ref_mbqm(a, m, s),
            "mbqm({a}, {m}, {s}) #{i}"
        );
        let real = (unit_f32(&mut rng) as f64 + 1e-3) * 2f64.powi(below(&mut rng, 80) as i32 - 60);
        assert_eq!(
            nn::quant::quantize_multiplier(real),
            Ok(ref_quantize_multiplier(real)),
            "QuantizeMultiplier({real})"
        );
    }
}

/// A random int8 layer built directly in the kernel layout, with parameters inside the accumulator
/// bound, against the reference.
#[test]
fn dense_i8_kernel_matches_reference_on_random_layers() {
    let mut rng = seeded(2);
    for case in 0..3000 {
        let in_dim = 1 + below(&mut rng, 40) as usize;
        let out_dim = 1 + below(&mut rng, 24) as usize;
        let relu = below(&mut rng, 2) == 1;
        let in_zp = below(&mut rng, 256) as i32 - 128;
        let out_zp = below(&mut rng, 256) as i32 - 128;
        let w: Vec<i8> = (0..in_dim * out_dim)
            .map(|_| {
                if below(&mut rng, 8) == 0 {
                    [-128i8, 127, -127, 0][below(&mut rng, 4) as usize]
                } else {
                    rng.next_u32() as i8
                }
            })
            .collect();
        let rows = nn::padded_rows(out_dim);
        let depth = nn::padded_depth(in_dim);
        let mut weights = vec![0i16; rows * depth];
        let mut params = vec![[0i32; BLOCK_PARAM_WORDS]; rows / BLOCK];
        let mut refl = RefLayer {
            in_dim,
            out_dim,
            w: w.clone(),
            bias: vec![],
            mult: vec![],
            in_zp,
            out_zp,
            relu,
        };
        for r in 0..rows {
            let (bias, rq) = if r < out_dim {
                let abs_sum: i64 = (0..in_dim).map(|c| (w[r * in_dim + c] as i64).abs()).sum();
                // Any shift in TFLite's range whose left part keeps the bound; a multiplier in
                // [2^30, 2^31) or 0.
                let mut shift = below(&mut rng, 62) as i32 - 31;
                while ((128 * abs_sum + 1) << shift.max(0)) >= 1 << 29 {
                    shift -= 1;
                }
                let headroom = ((1i64 << 29) >> shift.max(0)) - 128 * abs_sum - 1;
                let bias = if headroom > 0 {
                    (rng.next_u64() % (2 * headroom as u64 + 1)) as i64 - headroom
                } else {
                    0
                } as i32;
                let m = if below(&mut rng, 16) == 0 {
                    0
                } else {
                    (1 << 30) + (rng.next_u32() >> 2) as i32
                };
                (
                    bias,
                    KernelRequant {
                        multiplier: m,
                        shift,
                    },
                )
            } else {
                (
                    0,
                    KernelRequant {
                        multiplier: 0,
                        shift: 0,
                    },
                )
            };
            let sum: i32 = if r < out_dim {
                (0..in_dim).map(|c| w[r * in_dim + c] as i32).sum()
            } else {
                0
            };
            params[r / BLOCK][r % BLOCK] = bias.wrapping_sub(in_zp.wrapping_mul(sum));
            params[r / BLOCK][BLOCK + 4 * (r % BLOCK)..BLOCK + 4 * (r % BLOCK) + 4]
                .copy_from_slice(&rq.to_words());
            for c in 0..in_dim {
                if r < out_dim {
                    weights[DenseI8::weight_index(in_dim, r, c)] = w[r * in_dim + c] as i16;
                }
            }
            if r < out_dim {
                refl.bias.push(bias);
                refl.mult.push((rq.multiplier, rq.shift));
            }
        }
        let act = if relu {
            Activation::Relu
        } else {
            Activation::Identity
        };
        let layer = DenseI8::new(in_dim, out_dim, &weights, &params, act, out_zp).unwrap();
        for _ in 0..8 {
            let x: Vec<i8> = (0..in_dim).map(|_| rng.next_u32() as i8).collect();
            let mut xi = vec![0i16; depth];
            for (d, s) in xi.iter_mut().zip(&x) {
                *d = *s as i16;
            }
            let mut y = vec![0i16; rows];
            layer.forward(&xi, &mut y).unwrap();
            let mut yp = vec![0i16; rows];
            layer.forward_portable(&xi, &mut yp);
            let expect = refl.run(&x);
            for r in 0..out_dim {
                assert_eq!(y[r], expect[r] as i16, "case {case} row {r}");
                assert_eq!(yp[r], expect[r] as i16, "case {case} row {r} (portable)");
            }
        }
    }
}

/// Random networks through the writer, the reader and `Policy::act`, against the reference fed
/// with the TFLite quantities the model file holds.
#[test]
fn int8_policies_match_reference_on_random_networks() {
    let mut rng = seeded(3);
    let mut buf = vec![0u32; 1 << 16];
    for case in 0..400 {
        let n_layers = 1 + below(&mut rng, 4) as usize;
        let mut dims = vec![1 + below(&mut rng, 12) as usize];
        for _ in 0..n_layers {
            dims.push(1 + below(&mut rng, 40) as usize);
        }
        let weights: Vec<Vec<f32>> = (0..n_layers)
            .map(|l| {
                (0..dims[l] * dims[l + 1])
                    .map(|_| uniform(&mut rng, -1.0, 1.0) / (dims[l] as f32).sqrt())
                    .collect()
            })
            .collect();
        let biases: Vec<Vec<f32>> = (0..n_layers)
            .map(|l| {
                (0..dims[l + 1])
                    .map(|_| uniform(&mut rng, -0.3, 0.3))
                    .collect()
            })
            .collect();
        let layers: Vec<LayerSpec<'_>> = (0..n_layers)
            .map(|l| LayerSpec {
                in_dim: dims[l],
                out_dim: dims[l + 1],
                weights: &weights[l],
                bias: &biases[l],
                activation: if l + 1 < n_layers {
                    Activation::Relu
                } else {
                    Activation::Identity
                },
            })
            .collect();
        let input =
            QuantParams::from_range(uniform(&mut rng, -4.0, -0.5), uniform(&mut rng, 0.5, 4.0))
                .unwrap();
        let outputs: Vec<QuantParams> = (0..n_layers)
            .map(|l| {
                let hi = uniform(&mut rng, 0.5, 6.0);
                let lo = if l + 1 < n_layers {
                    0.0
                } else {
                    -uniform(&mut rng, 0.5, 6.0)
                };
                QuantParams::from_range(lo, hi).unwrap()
            })
            .collect();
        let mean: Vec<f32> = (0..dims[0]).map(|_| uniform(&mut rng, -1.0, 1.0)).collect();
        let var: Vec<f32> = (0..dims[0]).map(|_| uniform(&mut rng, 0.01, 4.0)).collect();
        let normalized = below(&mut rng, 2) == 1;
        let norm = normalized.then(|| NormSpec {
            mean: &mean,
            var: &var,
            epsilon: 1e-8,
            clip: 5.0,
        });
        let n_out = dims[n_layers] as u32;
        let spec = ModelSpec {
            obs_dim: dims[0],
            normalization: norm,
            head: HeadSpec::Discrete { n: n_out },
            body: BodySpec::MlpInt8 {
                layers: &layers,
                input,
                outputs: &outputs,
            },
        };
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut buf);
        let len = model::write(&spec, bytes).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let m = Model::parse(&bytes[..len]).unwrap();
        // The reference network, from the TFLite tensors in the file.
        let mut refs = Vec::new();
        let mut prev_zp = input.zero_point;
        let mut prev_scale = input.scale;
        for lv in m.layers() {
            let LayerData::Int8 {
                dense,
                input: lin,
                output,
                weight_scales,
                ..
            } = lv.data
            else {
                panic!()
            };
            assert_eq!((lin.scale, lin.zero_point), (prev_scale, prev_zp));
            let w = (0..lv.out_dim)
                .flat_map(|r| (0..lv.in_dim).map(move |c| (r, c)))
                .map(|(r, c)| dense.weight(r, c).unwrap() as i8)
                .collect();
            let mult = (0..lv.out_dim)
                .map(|r| {
                    let expect = ref_quantize_multiplier(
                        lin.scale as f64 * weight_scales[r] as f64 / output.scale as f64,
                    );
                    let rq = dense.requant(r).unwrap();
                    assert_eq!((rq.multiplier, rq.shift), expect);
                    expect
                })
                .collect();
            refs.push(RefLayer {
                in_dim: lv.in_dim,
                out_dim: lv.out_dim,
                w,
                bias: (0..lv.out_dim)
                    .map(|r| lv.tflite_bias(r).unwrap())
                    .collect(),
                mult,
                in_zp: lin.zero_point,
                out_zp: output.zero_point,
                relu: lv.activation == Activation::Relu,
            });
            prev_zp = output.zero_point;
            prev_scale = output.scale;
        }
        let last_q = outputs[n_layers - 1];
        let mut policy = Policy::<'_, 40>::new(m).unwrap();
        for _ in 0..10 {
            let obs: Vec<f32> = (0..dims[0]).map(|_| uniform(&mut rng, -6.0, 6.0)).collect();
            let action = policy.act(&obs).unwrap();
            let mut x: Vec<i8> = obs
                .iter()
                .enumerate()
                .map(|(i, &o)| {
                    let v = if normalized {
                        ((o - mean[i]) / (var[i] + 1e-8).sqrt()).clamp(-5.0, 5.0)
                    } else {
                        o
                    };
                    ref_quantize(v, input)
                })
                .collect();
            for r in &refs {
                x = r.run(&x);
            }
            let expect: Vec<f32> = x
                .iter()
                .map(|&q| last_q.scale * (q as i32 - last_q.zero_point) as f32)
                .collect();
            let got = policy.outputs();
            assert_eq!(got.len(), expect.len());
            for (g, e) in got.iter().zip(&expect) {
                assert_eq!(g.to_bits(), e.to_bits(), "case {case}");
            }
            // Argmax, lowest index on a tie.
            let best = expect
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > expect[b] { i } else { b });
            assert_eq!(action, ActionOut::Discrete(best as u32), "case {case}");
        }
    }
}
