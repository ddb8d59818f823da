//! TensorFlow Lite's integer arithmetic, bit for bit, and the helpers that quantize a trained f32
//! network the way TFLite's converter does.
//!
//! Every function here is a transcription of the semantics of TFLite / TFLite Micro (TFLM) source,
//! cited per item; the code is written from the semantics, not copied:
//!
//! - `tensorflow/lite/kernels/internal/common.cc`: `MultiplyByQuantizedMultiplier`, the
//!   double-rounding form that TFLM uses by default (`TFLITE_SINGLE_ROUNDING` unset):
//!   `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * (1 << left_shift), m), right_shift)`.
//! - gemmlowp `fixedpoint/fixedpoint.h`: `SaturatingRoundingDoublingHighMul`, `RoundingDivideByPOT`.
//! - `tensorflow/lite/kernels/internal/quantization_util.cc`: `QuantizeMultiplier` (frexp, round
//!   half away from zero, the `q_fixed == 1 << 31` edge case, flush of shifts below -31 to zero).
//! - `tensorflow/lite/micro/kernels/fully_connected_common.cc`: the per-channel effective scale
//!   `double(input_scale) * double(filter_scale[c]) / double(output_scale)`.
//! - `tensorflow/lite/kernels/kernel_util.cc`: `CalculateActivationRangeQuantized` (ReLU's lower
//!   bound is `max(qmin, zero_point + round(0 / scale))`, i.e. the zero point).
//! - `tensorflow/lite/kernels/internal/reference/quantize.h` and `dequantize.h`: `AffineQuantize`
//!   (`round(x / scale) + zero_point`, clamped, with `TfLiteRound` = `std::round`) and
//!   `Dequantize` (`scale * (q - zero_point)` in f32).
//!
//! Where C++ leaves behaviour undefined (signed overflow of `x * (1 << left_shift)`, a float too
//! large for `int32_t`), these functions wrap or saturate as two's-complement hardware does, and
//! say so; they never panic.

use core::fmt;

/// The quantization of one int8 tensor: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    /// The real value of one quantization step; finite and > 0.
    pub scale: f32,
    /// The int8 value that represents real 0, in `-128..=127`.
    pub zero_point: i32,
}

/// Why a quantization helper refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantError {
    /// A scale or real multiplier is NaN, infinite, zero where it must not be, or negative.
    BadScale,
    /// A calibrated range is NaN or infinite, or `min > max`.
    BadRange,
    /// A weight or bias is NaN or infinite.
    NonFinite {
        /// Index of the offending value in the slice given.
        index: usize,
    },
    /// A slice has the wrong length for the shape given.
    Length {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::BadScale => write!(f, "scale is not a finite positive number"),
            QuantError::BadRange => write!(f, "calibrated range is not finite or has min > max"),
            QuantError::NonFinite { index } => write!(f, "value {index} is NaN or infinite"),
            QuantError::Length { expected, got } => {
                write!(f, "slice has length {got}, expected {expected}")
            }
        }
    }
}

impl core::error::Error for QuantError {}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of `2 * a * b`, rounded to
/// nearest with the nudge `2^30` (or `1 - 2^30` for a negative product) and C++'s truncating
/// division by `2^31`; the one overflowing case, `a == b == i32::MIN`, saturates to `i32::MAX`.
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Rust's `/` on integers truncates toward zero, as C++'s does.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
///
/// gemmlowp asserts `0 <= exponent <= 31`; a larger exponent is treated as 31 here.
pub const fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let e = if exponent > 31 { 31 } else { exponent };
    let mask = ((1i64 << e) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> e) + (remainder > threshold) as i32
}

/// TFLM's `MultiplyByQuantizedMultiplier(int32_t x, int32_t quantized_multiplier, int shift)` in
/// its default double-rounding form: a left shift for `shift > 0`, the doubling high multiply, then
/// a rounding right shift for `shift < 0`.
///
/// `shift` is clamped to TFLite's documented range `-31..=30`. C++'s `x * (1 << left_shift)`
/// overflows (undefined) for large `x`; here it wraps, as the hardware TFLM runs on does.
pub const fn multiply_by_quantized_multiplier(
    x: i32,
    quantized_multiplier: i32,
    shift: i32,
) -> i32 {
    let shift = if shift < -31 {
        -31
    } else if shift > 30 {
        30
    } else {
        shift
    };
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    let scaled = x.wrapping_mul(1i32 << left_shift);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(scaled, quantized_multiplier),
        right_shift as u32,
    )
}

/// TFLite's `QuantizeMultiplier`: `real == multiplier * 2^(shift - 31)` with `multiplier` in
/// `[2^30, 2^31)` (or 0).
///
/// `frexp` splits `real` into `q * 2^shift` with `q` in `[0.5, 1)`; `q * 2^31` is rounded half away
/// from zero (`TfLiteRound`); a rounding up to exactly `2^31` is halved and the shift incremented;
/// a shift below -31 flushes the multiplier to zero (with shift 0). Returns `(multiplier, shift)`.
///
/// TFLite accepts negative multipliers; picorl's scales are positive, so a negative, NaN or
/// infinite `real` is a [`QuantError::BadScale`].
pub fn quantize_multiplier(real: f64) -> Result<(i32, i32), QuantError> {
    if !real.is_finite() || real < 0.0 {
        return Err(QuantError::BadScale);
    }
    if real == 0.0 {
        return Ok((0, 0));
    }
    let (q, mut shift) = libm::frexp(real);
    // q in [0.5, 1): q * 2^31 is exact, its rounding is in [2^30, 2^31].
    let mut q_fixed = libm::round(q * (1i64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    Ok((q_fixed as i32, shift))
}

/// The real multiplier TFLM derives for one output channel of a per-channel quantized fully
/// connected layer: `double(input_scale) * double(weight_scale) / double(output_scale)`, evaluated
/// left to right in f64 (`fully_connected_common.cc`).
pub fn effective_scale(input_scale: f32, weight_scale: f32, output_scale: f32) -> f64 {
    input_scale as f64 * weight_scale as f64 / output_scale as f64
}

/// TFLite's `AffineQuantize` of one value: `clamp(round(x / scale) + zero_point, -128, 127)`, with
/// the division in f32 and `round` half away from zero. NaN maps to the zero point (Rust's
/// saturating float-to-int conversion), where C++ is undefined.
pub fn quantize_f32(x: f32, params: QuantParams) -> i8 {
    let v = x / params.scale;
    // `round` half away from zero without a library call: `v as i32` truncates toward zero
    // (saturating; NaN gives 0) and `v - t` is the exact fractional part whenever `|v| < 2^24`;
    // beyond that `v` is already an integer or the result saturates to the clamp below, as
    // `roundf` would.
    let t = v as i32;
    let frac = v - t as f32;
    let r = if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    };
    r.saturating_add(params.zero_point).clamp(-128, 127) as i8
}

/// TFLite's `Dequantize` of one value: `scale * (q - zero_point)` in f32 (exact in the f64 TFLM
/// uses, then rounded once to f32: the same bits).
pub fn dequantize_i8(q: i32, params: QuantParams) -> f32 {
    params.scale * (q - params.zero_point) as f32
}

/// The int8 range `[act_min, act_max]` of a layer's output after its fused activation, as
/// TFLite's `CalculateActivationRangeQuantized` computes it: ReLU's lower bound is
/// `max(-128, zero_point)`; no activation leaves `[-128, 127]`.
pub const fn activation_range(relu: bool, output_zero_point: i32) -> (i32, i32) {
    if relu {
        let lo = if output_zero_point > -128 {
            output_zero_point
        } else {
            -128
        };
        (lo, 127)
    } else {
        (-128, 127)
    }
}

/// One output channel of a fully connected layer after its int32 accumulator: requantize as TFLM
/// does, add the output zero point, clamp to the activation range.
pub const fn requantize(
    acc: i32,
    multiplier: i32,
    shift: i32,
    output_zero_point: i32,
    relu: bool,
) -> i32 {
    let (lo, hi) = activation_range(relu, output_zero_point);
    let v =
        multiply_by_quantized_multiplier(acc, multiplier, shift).saturating_add(output_zero_point);
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}

impl QuantParams {
    /// Asymmetric int8 parameters for a calibrated real range `[min, max]`, as TFLite's converter
    /// chooses them: the range is widened to contain 0, `scale = (max - min) / 255`, and
    /// `zero_point = round(-128 - min / scale)` clamped to int8. A range of zero width gets scale 1.
    pub fn from_range(min: f32, max: f32) -> Result<Self, QuantError> {
        if !min.is_finite() || !max.is_finite() || min > max {
            return Err(QuantError::BadRange);
        }
        let min = if min < 0.0 { min } else { 0.0 };
        let max = if max > 0.0 { max } else { 0.0 };
        let width = max as f64 - min as f64;
        if width <= 0.0 {
            return Ok(Self {
                scale: 1.0,
                zero_point: 0,
            });
        }
        let scale = (width / 255.0) as f32;
        if scale.is_nan() || scale <= 0.0 || scale.is_infinite() {
            return Err(QuantError::BadRange);
        }
        let zp = libm::round(-128.0 - min as f64 / scale as f64);
        let zero_point = if zp < -128.0 {
            -128
        } else if zp > 127.0 {
            127
        } else {
            zp as i32
        };
        Ok(Self { scale, zero_point })
    }

    /// Whether these parameters are usable: a finite scale > 0 and an int8 zero point.
    pub fn is_valid(&self) -> bool {
        self.scale.is_finite() && self.scale > 0.0 && (-128..=127).contains(&self.zero_point)
    }

    /// Parameters for the **output** of a network's last layer (no activation, nothing reads it
    /// but the dequantization) over exactly `[min, max]`, without widening the range to contain
    /// 0: `scale = (max - min) / 255`, `zero_point = round(-128 - min / scale)`, which may lie
    /// outside int8 (at most [`MAX_OUTPUT_ZERO_POINT`] in size). Q-values in `[59, 67]` get a step
    /// of 0.03 instead of the 0.26 that `[0, 67]` gives. A range that contains 0 gets
    /// [`QuantParams::from_range`]'s parameters.
    pub fn from_output_range(min: f32, max: f32) -> Result<Self, QuantError> {
        if !min.is_finite() || !max.is_finite() || min > max {
            return Err(QuantError::BadRange);
        }
        if min <= 0.0 && max >= 0.0 || max == min {
            return Self::from_range(min, max);
        }
        let scale = ((max as f64 - min as f64) / 255.0) as f32;
        if !scale.is_finite() || scale <= 0.0 {
            return Err(QuantError::BadRange);
        }
        let zp = libm::round(-128.0 - min as f64 / scale as f64);
        if !(-(MAX_OUTPUT_ZERO_POINT as f64)..=MAX_OUTPUT_ZERO_POINT as f64).contains(&zp) {
            return Err(QuantError::BadRange);
        }
        Ok(Self {
            scale,
            zero_point: zp as i32,
        })
    }

    /// Whether these parameters are usable for a last layer's output
    /// ([`QuantParams::from_output_range`]): a finite scale > 0 and a zero point of at most
    /// [`MAX_OUTPUT_ZERO_POINT`] in size.
    pub fn is_valid_output(&self) -> bool {
        self.scale.is_finite()
            && self.scale > 0.0
            && (-MAX_OUTPUT_ZERO_POINT..=MAX_OUTPUT_ZERO_POINT).contains(&self.zero_point)
    }
}

/// The largest zero point (in size) of a last layer's output (format version 3): far inside
/// `i32`, so that TFLM's requantization (`acc + zero_point`, unsaturated) cannot overflow for any
/// output within 2^31 - 2^20 steps.
pub const MAX_OUTPUT_ZERO_POINT: i32 = 1 << 20;

/// The symmetric per-channel scale of one row of weights: `max|w| / 127` (1.0 for an all-zero
/// row, so that the scale stays positive), as TFLite's converter computes it.
pub fn weight_scale(row: &[f32]) -> Result<f32, QuantError> {
    let mut max_abs = 0.0f32;
    for (index, &w) in row.iter().enumerate() {
        if !w.is_finite() {
            return Err(QuantError::NonFinite { index });
        }
        let a = libm::fabsf(w);
        if a > max_abs {
            max_abs = a;
        }
    }
    if max_abs == 0.0 {
        return Ok(1.0);
    }
    let s = max_abs / 127.0;
    if s > 0.0 && s.is_finite() {
        Ok(s)
    } else {
        Err(QuantError::BadScale)
    }
}

/// One weight quantized symmetrically: `clamp(round(w / scale), -127, 127)`.
pub fn quantize_weight(w: f32, scale: f32) -> i8 {
    (libm::roundf(w / scale) as i32).clamp(-127, 127) as i8
}

/// Quantizes a row-major `rows x cols` weight matrix (PyTorch's `Linear.weight` layout) per output
/// channel: writes the int8 weights to `out` and each row's scale to `scales`.
pub fn quantize_weights_per_channel(
    weights: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [i8],
    scales: &mut [f32],
) -> Result<(), QuantError> {
    let n = rows.checked_mul(cols).ok_or(QuantError::Length {
        expected: usize::MAX,
        got: weights.len(),
    })?;
    for (len, expected) in [(weights.len(), n), (out.len(), n), (scales.len(), rows)] {
        if len != expected {
            return Err(QuantError::Length { expected, got: len });
        }
    }
    if cols == 0 {
        scales.iter_mut().for_each(|s| *s = 1.0);
        return Ok(());
    }
    for (r, ((row, qrow), scale)) in weights
        .chunks_exact(cols)
        .zip(out.chunks_exact_mut(cols))
        .zip(scales.iter_mut())
        .enumerate()
    {
        *scale = weight_scale(row).map_err(|e| match e {
            QuantError::NonFinite { index } => QuantError::NonFinite {
                index: r * cols + index,
            },
            e => e,
        })?;
        for (q, &w) in qrow.iter_mut().zip(row) {
            *q = quantize_weight(w, *scale);
        }
    }
    Ok(())
}

/// A bias quantized as TFLite's converter does: `round(b / (input_scale * weight_scale))` in f64,
/// saturated to int32.
pub fn quantize_bias(bias: f32, input_scale: f32, weight_scale: f32) -> Result<i32, QuantError> {
    if !bias.is_finite() {
        return Err(QuantError::NonFinite { index: 0 });
    }
    let s = input_scale as f64 * weight_scale as f64;
    if s.is_nan() || s <= 0.0 || s.is_infinite() {
        return Err(QuantError::BadScale);
    }
    let q = libm::round(bias as f64 / s);
    Ok(if q >= i32::MAX as f64 {
        i32::MAX
    } else if q <= i32::MIN as f64 {
        i32::MIN
    } else {
        q as i32
    })
}
