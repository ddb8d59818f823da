//! Where an int8 export's error comes from: the int8 network modelled in f64 (fake quantization)
//! with each source of error switched on alone — the input's quantization, the int8 weights, each
//! hidden layer's activation quantization, the output's — and the figure the report judges
//! (p99 action error for continuous heads, decisive agreement for discrete heads) measured
//! against the f32 policy for each. The model is not the file's arithmetic (core's is, bit for
//! bit); it only tells which step to spend effort on. Two last lines model TFLite's 16x8 mode
//! (int16 activations, symmetric, zero point 0; int8 weights) over the same calibrated ranges: an
//! int16 input to the first layer only, and int16 activations throughout.

use anyhow::{anyhow, Result};
use picorl_core::nn::int8_act::TableActivation;
use picorl_core::nn::{quant, QuantParams};

use crate::export::calib::{head_action, top_two_gap, DECISIVE_GAP};
use crate::export::fit::{fake_quant, fake_quant16};
use crate::export::report::percentile;
use crate::export::Activation;
use crate::export::{int8_quant_params, Calibration, HeadExport, PolicyExport};

/// Which quantization steps the model applies.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sources {
    /// The normalized observation, quantized with the input parameters.
    pub input: bool,
    /// Only this input dimension is quantized (with `input`).
    pub input_dim: Option<usize>,
    /// The fitted int8 weights and corrected biases (else the f32 ones).
    pub weights: bool,
    /// Only this layer's weights are the fitted int8 ones (with `weights`).
    pub weights_layer: Option<usize>,
    /// Hidden layers whose outputs are quantized (tanh: its input and TFLM's 1/128 output).
    pub hidden: Vec<bool>,
    /// The last layer's output, quantized.
    pub output: bool,
    /// Whether the input is quantized as TFLite's 16x8 mode quantizes it (int16, symmetric, zero
    /// point 0, over the same calibrated range) instead of int8.
    pub input16: bool,
    /// Whether hidden layers and the output are quantized as int16 (16x8 mode throughout).
    pub act16: bool,
    /// Whether the first layer stays f32 (its input and weights exact; its output quantized as a
    /// hidden layer's).
    pub first_f32: bool,
}

/// One quantization step of the model: int8 (`lo`: the lowest int8 value) or int16.
fn fq(z: f64, p: QuantParams, lo: i32, wide: bool, relu: bool) -> f64 {
    if wide {
        fake_quant16(z, p, relu)
    } else {
        fake_quant(z, p, lo)
    }
}

/// The modelled network outputs of one raw observation.
fn forward(
    f32p: &PolicyExport,
    fit: &PolicyExport,
    input: QuantParams,
    outputs: &[QuantParams],
    s: &Sources,
    raw: &[f32],
) -> Vec<f64> {
    let mut x = raw.to_vec();
    f32p.normalize(&mut x);
    let mut v: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            if s.input && !s.first_f32 && s.input_dim.is_none_or(|d| d == i) {
                fq(f64::from(a), input, -128, s.input16, false)
            } else {
                f64::from(a)
            }
        })
        .collect();
    let n = f32p.layers.len();
    for (k, &p) in outputs.iter().enumerate().take(n) {
        let fitted = s.weights_layer.is_none_or(|w| w == k) && !(s.first_f32 && k == 0);
        let l = if s.weights && fitted {
            &fit.layers[k]
        } else {
            &f32p.layers[k]
        };
        let z: Vec<f64> = (0..l.outputs)
            .map(|o| {
                f64::from(l.bias[o])
                    + l.weights[o * l.inputs..(o + 1) * l.inputs]
                        .iter()
                        .zip(&v)
                        .map(|(&w, &a)| f64::from(w) * a)
                        .sum::<f64>()
            })
            .collect();
        v = if k + 1 == n {
            z.into_iter()
                .map(|a| {
                    if s.output {
                        fq(a, p, -128, s.act16, false)
                    } else {
                        a
                    }
                })
                .collect()
        } else {
            let q = s.hidden.get(k).copied().unwrap_or(false);
            z.into_iter()
                .map(|a| match (f32p.activation, q) {
                    (Activation::Relu, false) => a.max(0.0),
                    (Activation::Tanh, false) => a.tanh(),
                    (Activation::Hardtanh, false) => a.clamp(-1.0, 1.0),
                    (Activation::Relu, true) => fq(
                        a.max(0.0),
                        p,
                        quant::activation_range(true, p.zero_point).0,
                        s.act16,
                        true,
                    ),
                    (Activation::Tanh, true) => fq(
                        fq(a, p, -128, s.act16, false).tanh(),
                        TableActivation::Tanh.output(),
                        -128,
                        s.act16,
                        false,
                    ),
                    (Activation::Hardtanh, true) => fq(a.clamp(-1.0, 1.0), p, -128, s.act16, false),
                })
                .collect()
        };
    }
    v
}

/// The int8 weights fitted (`fit::fitted_on`) for TFLite's 16x8 mode instead of the file's int8
/// activations: for an int16 first-layer input, and for int16 activations throughout.
#[derive(Debug, Clone)]
pub struct Refits {
    /// Fitted with the input on the int16 grid.
    pub input16: PolicyExport,
    /// Fitted with every activation on the int16 grid.
    pub act16: PolicyExport,
}

/// One line of an error budget: which sources, and the figure.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetLine {
    /// The sources switched on, in words.
    pub sources: String,
    /// Continuous heads: p99 action error as a share of the action range; discrete heads:
    /// agreement on decisive states.
    pub figure: f64,
}

/// The error budget of the int8 export `fit` (calibration `c`) of `f32p` (the same function in
/// f32, with `fit`'s normalization) on raw observations `obs`: each source alone, then all.
/// `refits`, if given, adds the 16x8 lines with weights fitted for the int16 grid.
pub fn error_budget(
    f32p: &PolicyExport,
    fit: &PolicyExport,
    c: &Calibration,
    obs: &[f32],
    obs_dim: usize,
    refits: Option<&Refits>,
) -> Result<Vec<BudgetLine>> {
    let (input, outputs) = int8_quant_params(fit, c)?;
    let hidden = f32p.layers.len().saturating_sub(1);
    let refs: Vec<Vec<f64>> = obs
        .chunks_exact(obs_dim)
        .map(|raw| forward(f32p, fit, input, &outputs, &Sources::default(), raw))
        .collect();
    let (lo, hi) = refs
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    let figure = |s: &Sources, fit: &PolicyExport| -> f64 {
        let mut errs = Vec::new();
        let (mut decisive, mut same) = (0usize, 0usize);
        for (raw, r) in obs.chunks_exact(obs_dim).zip(&refs) {
            let y = forward(f32p, fit, input, &outputs, s, raw);
            let r32: Vec<f32> = r.iter().map(|&v| v as f32).collect();
            let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
            let (ar, ay) = (head_action(&f32p.head, &r32), head_action(&f32p.head, &y32));
            match &f32p.head {
                HeadExport::Clip { low, high } | HeadExport::TanhScale { low, high } => {
                    for (i, (a, b)) in ar.iter().zip(&ay).enumerate() {
                        errs.push(f64::from((a - b).abs() / (high[i] - low[i])));
                    }
                }
                _ => {
                    if top_two_gap(&r32) > DECISIVE_GAP * (hi - lo) {
                        decisive += 1;
                        same += usize::from(ar == ay);
                    }
                }
            }
        }
        if errs.is_empty() {
            same as f64 / decisive.max(1) as f64
        } else {
            percentile(&mut errs, 0.99)
        }
    };
    let none = Sources {
        hidden: vec![false; hidden],
        ..Sources::default()
    };
    let mut lines = vec![BudgetLine {
        sources: format!("f32 outputs over the observations [{lo:.4}, {hi:.4}]"),
        figure: f64::NAN,
    }];
    let mut push = |name: String, s: Sources| {
        lines.push(BudgetLine {
            sources: name,
            figure: figure(&s, fit),
        })
    };
    push(
        "input".into(),
        Sources {
            input: true,
            ..none.clone()
        },
    );
    for i in 0..obs_dim {
        push(
            format!("input dim {i}"),
            Sources {
                input: true,
                input_dim: Some(i),
                ..none.clone()
            },
        );
    }
    push(
        "weights".into(),
        Sources {
            weights: true,
            ..none.clone()
        },
    );
    for k in 0..f32p.layers.len() {
        push(
            format!("weights of layer {k}"),
            Sources {
                weights: true,
                weights_layer: Some(k),
                ..none.clone()
            },
        );
    }
    for k in 0..hidden {
        let mut h = vec![false; hidden];
        h[k] = true;
        push(
            format!("hidden layer {k}"),
            Sources {
                hidden: h,
                ..none.clone()
            },
        );
    }
    push(
        "output".into(),
        Sources {
            output: true,
            ..none.clone()
        },
    );
    let all = Sources {
        input: true,
        input_dim: None,
        weights: true,
        weights_layer: None,
        hidden: vec![true; hidden],
        output: true,
        input16: false,
        act16: false,
        first_f32: false,
    };
    push("all".into(), all.clone());
    // What TFLite's 16x8 mode would give: an int16 input to the first layer (int8 weights), the
    // rest int8; then int16 activations throughout, the weights int8.
    let input16 = Sources {
        input16: true,
        ..all.clone()
    };
    let act16 = Sources {
        input16: true,
        act16: true,
        ..all.clone()
    };
    push(
        "all, first layer f32".into(),
        Sources {
            first_f32: true,
            ..all.clone()
        },
    );
    push(
        "all, first layer f32, int16 activations".into(),
        Sources {
            first_f32: true,
            act16: true,
            ..all
        },
    );
    push("all, int16 input".into(), input16.clone());
    push("all, int16 activations".into(), act16.clone());
    // The same with the int8 weights refitted (GPTQ and bias correction) for the int16 grid.
    if let Some(r) = refits {
        for (name, s, f) in [
            ("all, int16 input, refitted", input16, &r.input16),
            ("all, int16 activations, refitted", act16, &r.act16),
        ] {
            lines.push(BudgetLine {
                sources: name.into(),
                figure: figure(&s, f),
            });
        }
    }
    if lines.is_empty() {
        return Err(anyhow!("no observations"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int16_grid_is_symmetric_over_the_int8_range() {
        // int8 range [-1.28, 2.54] (scale 0.015, zero point -43): int16 scale 2.54 / 32767.
        let p = QuantParams {
            scale: 0.015,
            zero_point: -43,
        };
        let max = f64::from(p.scale) * f64::from(127 + 43);
        let s = max / 32767.0;
        for z in [0.0, 0.3, -0.7, 1.234_567, -1.28, 2.5] {
            let q = fake_quant16(z, p, false);
            assert!((q - z).abs() <= s / 2.0 + 1e-12, "{z} -> {q}");
            assert!((q / s - (q / s).round()).abs() < 1e-6, "{q} off the grid");
        }
        // Saturation at the int16 ends, ReLU's clamp at 0.
        assert!((fake_quant16(10.0, p, false) - max).abs() < 1e-12);
        assert!((fake_quant16(-10.0, p, false) + 32768.0 * s).abs() < 1e-12);
        assert_eq!(fake_quant16(-0.5, p, true), 0.0);
        // More than 128 times finer than the int8 step here (193).
        assert!(s < f64::from(p.scale) / 128.0);
    }
}
