//! int8 TANH and LOGISTIC (sigmoid) computed exactly as TensorFlow Lite Micro's reference kernels
//! compute them, so that networks with tanh or sigmoid hidden layers run in int8, bit for bit
//! what TFLM computes.
//!
//! The algorithm and constants are TFLM's and gemmlowp's (the code here is written for picorl):
//! - `tensorflow/lite/micro/kernels/tanh.cc` and `logistic_common.cc` (tflite-micro, commit
//!   90b983c2, 2026-08-20): the int8 `Prepare` turns the input scale into
//!   `input_real_multiplier = scale * 2^(31 - 4)`, splits it with `frexp` into a multiplier
//!   `round(q * 2^31)` and a left shift, and computes the input radius
//!   (`quantization_util.cc`'s `CalculateInputRadius(4, left_shift, 31)`:
//!   `floor(15 * 2^27 / 2^left_shift)`);
//! - `tensorflow/lite/kernels/internal/reference/integer_ops/tanh.h` and `logistic.h`: inputs at
//!   or beyond the radius saturate to -128 / 127; the others are rescaled to a Q4.27 fixed-point
//!   number with `MultiplyByQuantizedMultiplier`, passed through gemmlowp's fixed-point `tanh` or
//!   `logistic`, and rounded back to int8: `RoundingDivideByPOT(raw, 24)` for tanh (output scale
//!   1/128, zero point 0), `RoundingDivideByPOT(raw, 23) - 128` for logistic (1/256, -128);
//! - gemmlowp `fixedpoint/fixedpoint.h` (commit 16e8662c): `exp_on_negative_values` (a degree-4
//!   Taylor polynomial on `[-1/4, 0)` and a barrel shifter of `exp(-2^k)` constants),
//!   `one_minus_x_over_one_plus_x_for_x_in_0_1` and `one_over_one_plus_x_for_x_in_0_1` (three
//!   Newton-Raphson steps from `48/17 - 32/17 x`), and the sign handling of `tanh`/`logistic`.
//!
//! A value `FixedPoint<int32, I>` is its raw `i32` here; the integer bits `I` are tracked in the
//! comments and in the rescaling shifts. gemmlowp's additions of `int32` fixed-point values are
//! plain `int32` additions (C++'s, which never overflow for these arguments); they wrap here.
//!
//! Because the int8 input has only 256 values, a layer stores the whole function as a 256-entry
//! table ([`table`]), which the model reader recomputes and compares, and the kernel is one load
//! per value.

use super::quant::{
    multiply_by_quantized_multiplier, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul as mul, QuantError, QuantParams,
};

/// An int8 activation computed by table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableActivation {
    /// TFLM's int8 TANH: output scale 1/128, zero point 0.
    Tanh,
    /// TFLM's int8 LOGISTIC: output scale 1/256, zero point -128.
    Logistic,
}

impl TableActivation {
    /// The quantization of the activation's output, fixed by TFLM.
    pub const fn output(self) -> QuantParams {
        match self {
            TableActivation::Tanh => QuantParams {
                scale: 1.0 / 128.0,
                zero_point: 0,
            },
            TableActivation::Logistic => QuantParams {
                scale: 1.0 / 256.0,
                zero_point: -128,
            },
        }
    }
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT<exponent>` on an `int32`.
const fn mul_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    } else if exponent < 0 {
        rounding_divide_by_pot(x, (-exponent) as u32)
    } else {
        x
    }
}

/// gemmlowp's `RoundingHalfSum` on `int32`: `(a + b + sign) / 2` in 64 bits, truncating.
const fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `FixedPoint<int32, 0>::One()`.
const ONE_Q0: i32 = i32::MAX;
/// `FixedPoint<int32, 2>::One()`.
const ONE_Q2: i32 = 1 << 29;

/// `exp_on_interval_between_negative_one_quarter_and_0_excl`, Q0 in, Q0 out.
const fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1895147668; // exp(-1/8)
    const CONSTANT_1_OVER_3: i32 = 715827883;
    let x = a.wrapping_add(1 << 28); // + 1/8
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = mul_by_pot(x4, -2);
    let poly = mul_by_pot(
        mul(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3).wrapping_add(x2),
        -1,
    );
    CONSTANT_TERM.wrapping_add(mul(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// `exp_on_negative_values` for an input with `int_bits` integer bits (4 or 5 here), Q0 out.
const fn exp_on_negative_values(a: i32, int_bits: i32) -> i32 {
    let frac_bits = 31 - int_bits;
    let one_quarter = 1i32 << (frac_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    // Rescale<0> from `int_bits` integer bits.
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(mul_by_pot(
        a_mod_quarter_minus_one_quarter,
        int_bits,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // The barrel shifter: (exponent, exp(-2^exponent) in Q0).
    const BARREL: [(i32, i32); 7] = [
        (-2, 1672461947),
        (-1, 1302514674),
        (0, 790015084),
        (1, 290630308),
        (2, 39332535),
        (3, 720401),
        (4, 242),
    ];
    let mut i = 0;
    while i < BARREL.len() {
        let (exponent, multiplier) = BARREL[i];
        if int_bits > exponent {
            let shift = frac_bits + exponent;
            if remainder & (1i32 << shift) != 0 {
                result = mul(result, multiplier);
            }
        }
        i += 1;
    }
    if int_bits > 5 {
        let clamp = -(1i32 << (36 - int_bits)); // -32
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = ONE_Q0;
    }
    result
}

/// The Newton-Raphson reciprocal of `one_over_one_plus_x_for_x_in_0_1` and
/// `one_minus_x_over_one_plus_x_for_x_in_0_1`: returns `x ≈ 1 / half_denominator` in Q2.
const fn reciprocal_q2(half_denominator: i32) -> i32 {
    const C_48_OVER_17: i32 = 1515870810;
    const C_NEG_32_OVER_17: i32 = -1010580540;
    let mut x = C_48_OVER_17.wrapping_add(mul(half_denominator, C_NEG_32_OVER_17));
    let mut i = 0;
    while i < 3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        // Q2 * Q2 = Q4, rescaled to Q2.
        x = x.wrapping_add(mul_by_pot(mul(x, one_minus), 2));
        i += 1;
    }
    x
}

/// gemmlowp's `tanh` of a Q4.27 value, Q0.31 out.
pub const fn tanh_q4(a: i32) -> i32 {
    let negative = a < 0;
    // n = -|a| (gemmlowp negates with plain int32 negation).
    let n = if negative { a } else { a.wrapping_neg() };
    // neg_tanh_on_negative_values: exp of 2n (ExactMulByPot<1>: the same raw value as Q5).
    let e = exp_on_negative_values(n, 5);
    let half_denominator = rounding_half_sum(e, ONE_Q0);
    let x = reciprocal_q2(half_denominator);
    // Rescale<0>(x - 1) from Q2.
    let t = mul_by_pot(x.wrapping_sub(ONE_Q2), 2);
    if a == 0 {
        0
    } else if negative {
        t.wrapping_neg()
    } else {
        t
    }
}

/// gemmlowp's `logistic` of a Q4.27 value, Q0.31 out.
pub const fn logistic_q4(a: i32) -> i32 {
    let positive = a > 0;
    let abs = if positive { a } else { a.wrapping_neg() };
    // logistic_on_positive_values: 1 / (1 + exp(-|a|)).
    let e = exp_on_negative_values(abs.wrapping_neg(), 4);
    let half_denominator = rounding_half_sum(e, ONE_Q0);
    let x = reciprocal_q2(half_denominator);
    // Rescale<0>(ExactMulByPot<-1>(x)): the raw value as Q1, rescaled to Q0.
    let if_positive = mul_by_pot(x, 1);
    if a == 0 {
        1 << 30
    } else if positive {
        if_positive
    } else {
        ONE_Q0.wrapping_sub(if_positive)
    }
}

/// What TFLM's int8 `Prepare` derives from the input quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TablePrepare {
    /// The input's zero point.
    pub zero_point: i32,
    /// `round(q * 2^31)` of `frexp(scale * 2^27) = q * 2^left_shift`.
    pub multiplier: i32,
    /// The exponent of that `frexp`.
    pub left_shift: i32,
    /// `floor(15 * 2^27 / 2^left_shift)`.
    pub radius: i32,
}

impl TablePrepare {
    /// TFLM's `CalculateArithmeticOpData` (tanh) / `CalculateArithmeticOpDataLogistic` for an int8
    /// input quantized with `input`. Refuses scales outside what TFLM handles without undefined
    /// behaviour (a `frexp` exponent outside `0..=62`, or a multiplier that rounds to `2^31`).
    pub fn new(input: QuantParams) -> Result<Self, QuantError> {
        if !input.is_valid() {
            return Err(QuantError::BadScale);
        }
        let real = input.scale as f64 * (1u64 << 27) as f64;
        let (q, left_shift) = libm::frexp(real);
        // TfLiteRound: half away from zero.
        let m = libm::round(q * (1u64 << 31) as f64);
        if !(0..=62).contains(&left_shift) || m >= (1u64 << 31) as f64 {
            return Err(QuantError::BadScale);
        }
        let radius = libm::floor(15.0 * (1u64 << 27) as f64 / (1u64 << left_shift) as f64);
        Ok(Self {
            zero_point: input.zero_point,
            multiplier: m as i32,
            left_shift,
            radius: radius as i32,
        })
    }

    /// The int8 output of `act` for the int8 input `q`, as TFLM's reference kernel computes it.
    pub fn eval(&self, act: TableActivation, q: i8) -> i8 {
        let input = q as i32 - self.zero_point;
        if input <= -self.radius {
            return -128;
        }
        if input >= self.radius {
            return 127;
        }
        let in_q4 = multiply_by_quantized_multiplier(input, self.multiplier, self.left_shift);
        let out = match act {
            TableActivation::Tanh => rounding_divide_by_pot(tanh_q4(in_q4), 24),
            TableActivation::Logistic => rounding_divide_by_pot(logistic_q4(in_q4), 23) - 128,
        };
        out.clamp(-128, 127) as i8
    }
}

/// The table of `act` over every int8 input quantized with `input`: entry `q + 128` is the output
/// for `q`.
pub fn table(act: TableActivation, input: QuantParams) -> Result<[i8; 256], QuantError> {
    let p = TablePrepare::new(input)?;
    let mut t = [0i8; 256];
    for (i, v) in t.iter_mut().enumerate() {
        *v = p.eval(act, (i as i32 - 128) as i8);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_f(raw: i32, frac: i32) -> f64 {
        raw as f64 / (1u64 << frac) as f64
    }

    #[test]
    fn fixed_point_tanh_and_logistic_track_the_functions() {
        // Q4.27 inputs across [-8, 8].
        let mut x = -8.0f64;
        while x <= 8.0 {
            let raw = (x * (1u64 << 27) as f64) as i32;
            let xr = to_f(raw, 27);
            let t = to_f(tanh_q4(raw), 31);
            let s = to_f(logistic_q4(raw), 31);
            assert!((t - libm::tanh(xr)).abs() < 1e-6, "tanh({xr}) = {t}");
            assert!(
                (s - 1.0 / (1.0 + libm::exp(-xr))).abs() < 1e-6,
                "logistic({xr}) = {s}"
            );
            x += 0.0137;
        }
        assert_eq!(tanh_q4(0), 0);
        assert_eq!(logistic_q4(0), 1 << 30);
    }

    #[test]
    fn prepare_matches_tflm_arithmetic_by_hand() {
        // scale 3/64 (exact in f32): 3/64 * 2^27 = 6291456 = 0.75 * 2^23, so left_shift 23 and
        // multiplier round(0.75 * 2^31) = 1610612736; radius floor(15 * 2^27 / 2^23) = 240.
        let p = TablePrepare::new(QuantParams {
            scale: 0.046875,
            zero_point: 3,
        })
        .unwrap();
        assert_eq!(p.left_shift, 23);
        assert_eq!(p.multiplier, 1610612736);
        assert_eq!(p.radius, 240);
    }

    #[test]
    fn tables_are_monotone_and_centred() {
        let input = QuantParams {
            scale: 0.03,
            zero_point: -5,
        };
        let t = table(TableActivation::Tanh, input).unwrap();
        let s = table(TableActivation::Logistic, input).unwrap();
        for i in 1..256 {
            assert!(t[i] >= t[i - 1] && s[i] >= s[i - 1]);
        }
        // The zero point is real 0: tanh 0 -> 0, logistic 0 -> 0.5 = -128 + 128 -> 0.
        assert_eq!(t[(-5 + 128) as usize], 0);
        assert_eq!(s[(-5 + 128) as usize], 0);
        // Each entry is within one output step of the real function.
        for (i, (&a, &b)) in t.iter().zip(&s).enumerate() {
            let x = 0.03 * (i as f64 - 128.0 + 5.0);
            assert!((a as f64 / 128.0 - libm::tanh(x)).abs() <= 1.0 / 128.0);
            assert!((b as f64 + 128.0) / 256.0 - 1.0 / (1.0 + libm::exp(-x)) <= 1.0 / 256.0);
        }
    }
}
