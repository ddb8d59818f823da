//! int8 export that keeps the policy's decisions: a function-preserving fold, an error-compensating
//! choice of the int8 weights and, for argmax heads, a searched output range, all measured on the
//! calibration observations.
//!
//! Plain per-channel rounding (`round(w / s)`, TFLite's converter) is what core's writer does to
//! any f32 weight it is given. On a Q-network that is not good enough: the Q-values of CartPole's
//! actions differ by a small fraction of their range in most states, and the int8 weights'
//! rounding errors, summed over a layer, move that difference across zero. The three steps below
//! change neither the file format nor the integer arithmetic (the `.picorl` file and a `.tflite`
//! of it stay TFLM's plain per-channel int8):
//!
//! - [`equalized`]: every ReLU hidden channel is scaled so that its calibrated range equals the
//!   widest channel's (`W_k[j,:] *= a_j`, `b_k[j] *= a_j`, `W_{k+1}[:,j] /= a_j`; ReLU is positively
//!   homogeneous, so the function is unchanged). One int8 activation scale per layer then resolves
//!   every channel as finely as the widest one, and the next layer's weight rows, whose scale is
//!   their largest entry, lose nothing. (The cross-layer equalization of Nagel et al., "Data-Free
//!   Quantization Through Weight Equalization and Bias Correction", ICCV 2019, balanced for
//!   per-tensor activations and per-channel weights.)
//! - [`fitted`]: each layer's int8 weights are chosen, row by row and input by input, to minimize
//!   the squared error of the layer's output over the calibration inputs *as the int8 network sees
//!   them* (the quantized outputs of the layers before): the rounding error of each weight is
//!   pushed onto the weights not yet rounded, through the inverse of the inputs' second-moment
//!   matrix (the optimal-brain-quantization update as GPTQ organizes it: Frantar et al., "GPTQ",
//!   ICLR 2023, Algorithm 1, without blocking). The mean error left over is then folded into the
//!   bias (Nagel et al.'s bias correction). The result is a policy whose weights are exactly
//!   `q * s` for the chosen int8 `q`, so core's writer, which rounds `w / s`, stores exactly `q`.
//! - The ranges themselves are chosen in `export::calib` (per-dimension inputs, quantile ranges
//!   searched layer by layer; the output range is never narrowed, so that `outputs` stay the f32
//!   outputs, unsaturated).
//!
//! What it reaches per policy, and where the error left comes from (`export::budget`), is in
//! `docs/performance.md`, "Export" (measured by `tests/export_quality.rs`).
//!
//! The computation here is a model of the int8 network in f64 (fake quantization); exactness is
//! not needed, because it only chooses the weights: the file's arithmetic is core's, bit for bit.

use anyhow::{bail, Result};
use picorl_core::nn::int8_act::TableActivation;
use picorl_core::nn::{quant, QuantParams};

use super::Activation;
use crate::export::PolicyExport;

/// Calibration observations used by [`fitted`] at most (evenly spaced over those given).
pub const MAX_FIT_SAMPLES: usize = 20_000;

/// Widest layer input whose weights get error-compensating rounding: the update costs one
/// factorization of a `d x d` matrix per distinct largest-weight column, `O(d^4)` for a layer;
/// wider layers are rounded plainly (their biases are still corrected).
pub const MAX_FIT_INPUTS: usize = 256;

/// Ridge added to the inputs' second-moment matrix, relative to its mean diagonal (GPTQ's
/// "percdamp"): keeps the inverse well conditioned when inputs are dead or collinear.
const DAMPING: f64 = 0.01;

/// Scales each ReLU hidden channel so that its largest calibrated output equals the largest of
/// its layer (channels that never fire keep scale 1), folding the inverse scale into the next
/// layer's inputs. The network computes the same function; see the module documentation.
/// Policies with other hidden activations are returned unchanged (tanh and hardtanh are not
/// positively homogeneous).
pub fn equalized(policy: &PolicyExport, obs: &[f32], obs_dim: usize) -> PolicyExport {
    let mut out = policy.clone();
    let n = policy.layers.len();
    if policy.activation != Activation::Relu || n < 2 || obs_dim == 0 {
        return out;
    }
    let mut max: Vec<Vec<f32>> = policy.layers[..n - 1]
        .iter()
        .map(|l| vec![0.0; l.outputs])
        .collect();
    for raw in obs.chunks_exact(obs_dim) {
        let mut x = raw.to_vec();
        policy.normalize(&mut x);
        for (m, y) in max.iter_mut().zip(policy.forward_all(&x)) {
            for (m, v) in m.iter_mut().zip(y) {
                *m = m.max(v);
            }
        }
    }
    // Scaling layer k's channels leaves the outputs of every other layer unchanged, so the
    // ranges measured once on the original policy give every layer's factors.
    for (k, m) in max.iter().enumerate() {
        let widest = m.iter().copied().fold(0.0f32, f32::max);
        if widest <= 0.0 {
            continue;
        }
        for (j, &mj) in m.iter().enumerate() {
            if mj <= widest * 1e-6 {
                continue;
            }
            let a = f64::from(widest) / f64::from(mj);
            let l = &mut out.layers[k];
            for w in &mut l.weights[j * l.inputs..(j + 1) * l.inputs] {
                *w = (f64::from(*w) * a) as f32;
            }
            l.bias[j] = (f64::from(l.bias[j]) * a) as f32;
            let next = &mut out.layers[k + 1];
            for o in 0..next.outputs {
                let w = &mut next.weights[o * next.inputs + j];
                *w = (f64::from(*w) / a) as f32;
            }
        }
    }
    out
}

/// A value quantized and dequantized with `p` as the int8 network does (`requantize`'s rounding
/// is modelled as round-half-away-from-zero of `z / s`; the clamp is the activation's range).
pub fn fake_quant(z: f64, p: QuantParams, lo: i32) -> f64 {
    let s = f64::from(p.scale);
    let q = ((z / s).round() as i64 + i64::from(p.zero_point)).clamp(i64::from(lo), 127);
    s * (q - i64::from(p.zero_point)) as f64
}

/// `z` rounded to the int16 grid TFLite's 16x8 mode gives the real range `p` represents in int8:
/// symmetric, zero point 0, `scale = max(|min|, |max|) / 32767` (TFLite's quantization spec:
/// int16 activations are symmetric with zero point 0), clamped to `[-32768, 32767]`, or below at
/// 0 for ReLU (`relu`).
pub fn fake_quant16(z: f64, p: QuantParams, relu: bool) -> f64 {
    let s8 = f64::from(p.scale);
    let (min, max) = (
        s8 * f64::from(-128 - p.zero_point),
        s8 * f64::from(127 - p.zero_point),
    );
    let s = min.abs().max(max.abs()) / 32767.0;
    let lo = if relu { 0 } else { -32768 };
    s * ((z / s).round() as i64).clamp(lo, 32767) as f64
}

/// Which activations a model of the file rounds to int16 (TFLite's 16x8 mode, [`fake_quant16`])
/// instead of int8; the weights stay int8 either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grid {
    /// The first layer's input.
    pub input16: bool,
    /// Hidden layers' outputs (and, in [`crate::export::budget`], the last layer's).
    pub act16: bool,
}

/// Lower Cholesky factor of the symmetric positive definite `n x n` matrix `a` (row-major), or
/// `None` if it is not positive definite.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// The inverse of a symmetric positive definite matrix from its lower Cholesky factor.
fn inverse_from_cholesky(l: &[f64], n: usize) -> Vec<f64> {
    // L^-1 by forward substitution, then A^-1 = L^-T L^-1.
    let mut li = vec![0.0; n * n];
    for c in 0..n {
        for i in c..n {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in c..i {
                s -= l[i * n + k] * li[k * n + c];
            }
            li[i * n + c] = s / l[i * n + i];
        }
    }
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (i.max(j)..n).map(|k| li[k * n + i] * li[k * n + j]).sum();
            inv[i * n + j] = s;
            inv[j * n + i] = s;
        }
    }
    inv
}

/// GPTQ's factor: the upper Cholesky factor `U` of `H^-1` (`H^-1 = U^T U`), row-major, for the
/// damped second-moment matrix `h` restricted to the columns `keep`.
fn gptq_factor(h: &[f64], d: usize, keep: &[usize]) -> Result<Vec<f64>> {
    let m = keep.len();
    let mean_diag = (0..d).map(|i| h[i * d + i]).sum::<f64>() / d.max(1) as f64;
    let damp = DAMPING * mean_diag + 1e-12;
    let mut sub = vec![0.0; m * m];
    for (a, &i) in keep.iter().enumerate() {
        for (b, &j) in keep.iter().enumerate() {
            sub[a * m + b] = h[i * d + j] + if a == b { damp } else { 0.0 };
        }
    }
    let Some(l) = cholesky(&sub, m) else {
        bail!("calibration inputs give a singular second-moment matrix");
    };
    let inv = inverse_from_cholesky(&l, m);
    let Some(l2) = cholesky(&inv, m) else {
        bail!("calibration inputs give a singular second-moment matrix");
    };
    // U = L2^T.
    let mut u = vec![0.0; m * m];
    for i in 0..m {
        for j in i..m {
            u[i * m + j] = l2[j * m + i];
        }
    }
    Ok(u)
}

/// The int8 values of one weight row with scale `s`, chosen by GPTQ's update with factor `u`
/// over the columns `keep` (in that order); `fixed` is the column whose value is exactly
/// `±127 s` (the row's largest, which defines `s`) and is stored as such.
fn gptq_row(row: &[f32], s: f64, u: &[f64], keep: &[usize], fixed: usize) -> Vec<i8> {
    let m = keep.len();
    let mut q = vec![0i8; row.len()];
    q[fixed] = quant::quantize_weight(row[fixed], s as f32);
    let mut w: Vec<f64> = keep.iter().map(|&c| f64::from(row[c])).collect();
    for j in 0..m {
        let v = (w[j] / s).round().clamp(-127.0, 127.0);
        q[keep[j]] = v as i8;
        let err = (w[j] - v * s) / u[j * m + j];
        for k in j + 1..m {
            w[k] -= err * u[j * m + k];
        }
    }
    q
}

/// Chooses every layer's int8 weights by error-compensating rounding and corrects the biases, on
/// the calibration observations `obs` (raw, `obs_dim` each), for the int8 file whose input and
/// layer-output quantizations are `input` and `outputs` (one per layer, as core's writer gets
/// them; a hardtanh hidden layer is written as identity with its range inside `[-1, 1]`; a tanh
/// layer's is the range of its dense output, before TFLM's TANH). Returns the policy
/// to hand to core's writer: its weights are `q * s` per row, which the writer stores as `q`
/// exactly (checked here), and its function approximates the original's as the int8 network
/// computes it.
pub fn fitted(
    policy: &PolicyExport,
    obs: &[f32],
    obs_dim: usize,
    input: QuantParams,
    outputs: &[QuantParams],
) -> Result<PolicyExport> {
    fitted_on(policy, obs, obs_dim, input, outputs, Grid::default())
}

/// [`fitted`] for a network whose activations are rounded as `grid` says: int8 as the file's
/// (`Grid::default()`, what [`fitted`] does), or int16 where TFLite's 16x8 mode would be used (a
/// model only, for `export::budget`: core has no 16x8 kernel).
pub fn fitted_on(
    policy: &PolicyExport,
    obs: &[f32],
    obs_dim: usize,
    input: QuantParams,
    outputs: &[QuantParams],
    grid: Grid,
) -> Result<PolicyExport> {
    let n_layers = policy.layers.len();
    if outputs.len() != n_layers || obs_dim == 0 || obs.len() < obs_dim {
        bail!("fitting int8 weights: calibration does not match the network");
    }
    let total = obs.len() / obs_dim;
    let stride = total.div_ceil(MAX_FIT_SAMPLES);
    // Inputs of the current layer: `xf` as the f32 network computes them, `xq` as the int8
    // network does (dequantized), one row per sample.
    let mut xf: Vec<Vec<f64>> = Vec::new();
    let mut xq: Vec<Vec<f64>> = Vec::new();
    for raw in obs.chunks_exact(obs_dim).step_by(stride) {
        let mut x = raw.to_vec();
        policy.normalize(&mut x);
        xq.push(
            x.iter()
                .map(|&v| {
                    if grid.input16 {
                        fake_quant16(f64::from(v), input, false)
                    } else {
                        f64::from(quant::dequantize_i8(
                            quant::quantize_f32(v, input) as i32,
                            input,
                        ))
                    }
                })
                .collect(),
        );
        xf.push(x.iter().map(|&v| f64::from(v)).collect());
    }
    let n = xf.len() as f64;
    let mut out = policy.clone();
    for (k, layer) in policy.layers.iter().enumerate() {
        let (d, rows) = (layer.inputs, layer.outputs);
        let last = k + 1 == n_layers;
        // Second moments of the int8 network's inputs.
        let mut h = vec![0.0f64; d * d];
        for x in &xq {
            for i in 0..d {
                if x[i] == 0.0 {
                    continue;
                }
                for j in 0..d {
                    h[i * d + j] += x[i] * x[j];
                }
            }
        }
        h.iter_mut().for_each(|v| *v /= n);
        // Rows grouped by their largest weight's column, which is stored exactly and left out of
        // the compensation: one factorization per distinct column.
        let mut factors: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
        let mut new_w = layer.weights.clone();
        for r in 0..rows {
            let row = &layer.weights[r * d..(r + 1) * d];
            let s = f64::from(
                quant::weight_scale(row).map_err(|e| anyhow::anyhow!("layer {k} row {r}: {e}"))?,
            );
            let Some(fixed) = (0..d).max_by(|&a, &b| row[a].abs().total_cmp(&row[b].abs())) else {
                continue;
            };
            if row[fixed] == 0.0 {
                continue;
            }
            if d > MAX_FIT_INPUTS {
                for (v, &w) in new_w[r * d..(r + 1) * d].iter_mut().zip(row) {
                    *v = f32::from(quant::quantize_weight(w, s as f32)) * s as f32;
                }
                continue;
            }
            let keep: Vec<usize> = (0..d).filter(|&c| c != fixed).collect();
            let u = match factors.entry(fixed) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(gptq_factor(&h, d, &keep)?)
                }
            };
            let q = gptq_row(row, s, u, &keep, fixed);
            // What core's writer will store for these values: it must be `q` itself.
            let s32 = s as f32;
            let values: Vec<f32> = q.iter().map(|&v| f32::from(v) * s32).collect();
            let ws = quant::weight_scale(&values)
                .map_err(|e| anyhow::anyhow!("layer {k} row {r}: {e}"))?;
            if values
                .iter()
                .zip(&q)
                .any(|(&v, &qv)| quant::quantize_weight(v, ws) != qv)
            {
                bail!("fitting int8 weights: layer {k} row {r} does not round-trip through the writer");
            }
            new_w[r * d..(r + 1) * d].copy_from_slice(&values);
        }
        // Bias correction: the mean output error over the calibration samples.
        let mut new_b: Vec<f64> = layer.bias.iter().map(|&b| f64::from(b)).collect();
        for r in 0..rows {
            let w = &layer.weights[r * d..(r + 1) * d];
            let wq = &new_w[r * d..(r + 1) * d];
            let err: f64 = xf
                .iter()
                .zip(&xq)
                .map(|(a, b)| {
                    let yf: f64 = w.iter().zip(a).map(|(&w, x)| f64::from(w) * x).sum();
                    let yq: f64 = wq.iter().zip(b).map(|(&w, x)| f64::from(w) * x).sum();
                    yf - yq
                })
                .sum::<f64>()
                / n;
            new_b[r] += err;
        }
        let l = &mut out.layers[k];
        l.weights = new_w;
        l.bias = new_b.iter().map(|&b| b as f32).collect();
        if last {
            break;
        }
        // The next layer's inputs, in both networks.
        let hidden = |z: f64| match policy.activation {
            Activation::Relu => z.max(0.0),
            Activation::Tanh => z.tanh(),
            Activation::Hardtanh => z.clamp(-1.0, 1.0),
        };
        let p = outputs[k];
        let lo = if policy.activation == Activation::Relu {
            quant::activation_range(true, p.zero_point).0
        } else {
            -128
        };
        let forward = |x: &[f64], w: &[f32], b: &[f64], quantize: bool| -> Vec<f64> {
            (0..rows)
                .map(|r| {
                    let z = b[r]
                        + w[r * d..(r + 1) * d]
                            .iter()
                            .zip(x)
                            .map(|(&w, v)| f64::from(w) * v)
                            .sum::<f64>();
                    if !quantize {
                        hidden(z)
                    } else if grid.act16 {
                        let relu = policy.activation == Activation::Relu;
                        if policy.activation == Activation::Tanh {
                            let t = TableActivation::Tanh.output();
                            fake_quant16(fake_quant16(z, p, false).tanh(), t, false)
                        } else {
                            fake_quant16(hidden(z), p, relu)
                        }
                    } else if policy.activation == Activation::Tanh {
                        // int8 TANH: the dense output quantized with `p`, then TFLM's tanh
                        // into its fixed output quantization (1/128, 0).
                        let t = TableActivation::Tanh.output();
                        fake_quant(fake_quant(z, p, -128).tanh(), t, -128)
                    } else {
                        fake_quant(hidden(z), p, lo)
                    }
                })
                .collect()
        };
        let bf: Vec<f64> = layer.bias.iter().map(|&b| f64::from(b)).collect();
        xf = xf
            .iter()
            .map(|x| forward(x, &layer.weights, &bf, false))
            .collect();
        xq = xq
            .iter()
            .map(|x| forward(x, &l.weights, &new_b, true))
            .collect();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{DenseExport, HeadExport};

    /// A small deterministic generator (SplitMix64) for test data.
    fn draws(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn policy(widths: &[usize], act: Activation, seed: u64) -> PolicyExport {
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(k, w)| DenseExport {
                weights: draws(seed + k as u64, w[0] * w[1]),
                bias: draws(seed + 100 + k as u64, w[1]),
                inputs: w[0],
                outputs: w[1],
            })
            .collect();
        PolicyExport {
            layers,
            activation: act,
            head: HeadExport::Argmax,
            obs_norm: None,
        }
    }

    #[test]
    fn equalization_keeps_the_function_and_balances_ranges() {
        let p = policy(&[4, 16, 16, 3], Activation::Relu, 1);
        let obs = draws(7, 4 * 500);
        let e = equalized(&p, &obs, 4);
        let mut widest = [0.0f32; 16];
        for x in obs.chunks_exact(4) {
            let (a, b) = (p.forward_all(x), e.forward_all(x));
            for (u, v) in a[2].iter().zip(&b[2]) {
                assert!((u - v).abs() <= 1e-4 * (1.0 + u.abs()), "{u} vs {v}");
            }
            for (m, v) in widest.iter_mut().zip(&b[0]) {
                *m = m.max(*v);
            }
        }
        let top = widest.iter().copied().fold(0.0, f32::max);
        // Every channel that fires now reaches the layer's widest range (to rounding).
        for m in widest.iter().filter(|&&m| m > 0.0) {
            assert!((m - top).abs() <= 1e-4 * top, "{widest:?}");
        }
    }

    /// The squared output error, over `obs`, of plain rounding and of the fitted weights, for a
    /// single layer whose input is exactly representable (no input quantization error).
    #[test]
    fn fitted_weights_beat_plain_rounding_and_round_trip() {
        let p = policy(&[12, 5], Activation::Relu, 3);
        // Correlated inputs: the case where compensation pays.
        let base = draws(11, 3 * 2000);
        let mut obs = Vec::new();
        for b in base.chunks_exact(3) {
            for i in 0..12 {
                obs.push(b[i % 3] + 0.05 * b[(i + 1) % 3] * i as f32);
            }
        }
        // Inputs lie within ±1.6: a step of 0.02 covers them without saturating.
        let input = QuantParams {
            scale: 0.02,
            zero_point: 0,
        };
        let out_q = QuantParams {
            scale: 0.1,
            zero_point: 0,
        };
        let f = fitted(&p, &obs, 12, input, &[out_q]).unwrap();
        let l0 = &p.layers[0];
        let fl = &f.layers[0];
        let (mut plain, mut fit) = (0.0f64, 0.0f64);
        for x in obs.chunks_exact(12) {
            for r in 0..5 {
                let row = &l0.weights[r * 12..(r + 1) * 12];
                let s = quant::weight_scale(row).unwrap();
                let y: f64 = row.iter().zip(x).map(|(&w, &v)| f64::from(w * v)).sum();
                let yp: f64 = row
                    .iter()
                    .zip(x)
                    .map(|(&w, &v)| f64::from(f32::from(quant::quantize_weight(w, s)) * s * v))
                    .sum();
                let yf: f64 = fl.weights[r * 12..(r + 1) * 12]
                    .iter()
                    .zip(x)
                    .map(|(&w, &v)| f64::from(w * v))
                    .sum::<f64>()
                    + f64::from(fl.bias[r] - l0.bias[r]);
                plain += (y - yp).powi(2);
                fit += (y - yf).powi(2);
            }
        }
        assert!(fit < 0.5 * plain, "fitted {fit} vs plain {plain}");
        // Every fitted row is an int8 row times its scale, with the row's scale unchanged.
        for r in 0..5 {
            let row = &fl.weights[r * 12..(r + 1) * 12];
            let s = quant::weight_scale(row).unwrap();
            let s0 = quant::weight_scale(&l0.weights[r * 12..(r + 1) * 12]).unwrap();
            assert!((s - s0).abs() <= 1e-6 * s0);
            for &w in row {
                let q = quant::quantize_weight(w, s);
                assert_eq!(f32::from(q) * s0, w);
            }
        }
    }

    /// Layers wider than `MAX_FIT_INPUTS` get TFLite's plain rounding, stored as `q * s`.
    #[test]
    fn wide_layers_are_rounded_plainly() {
        let d = MAX_FIT_INPUTS + 4;
        let p = policy(&[d, 2], Activation::Relu, 5);
        let obs = draws(9, d * 50);
        let input = QuantParams {
            scale: 1.0 / 127.0,
            zero_point: 0,
        };
        let f = fitted(&p, &obs, d, input, &[input]).unwrap();
        for r in 0..2 {
            let row = &p.layers[0].weights[r * d..(r + 1) * d];
            let s = quant::weight_scale(row).unwrap();
            for (&w, &v) in row.iter().zip(&f.layers[0].weights[r * d..(r + 1) * d]) {
                assert_eq!(v, f32::from(quant::quantize_weight(w, s)) * s);
            }
        }
    }
}
