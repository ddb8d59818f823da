//! Golden values for TFLite's integer arithmetic, worked out by hand from gemmlowp's and TFLite's
//! definitions (the working is in the comments).

use picorl_core::nn::quant::{
    activation_range, dequantize_i8, effective_scale, multiply_by_quantized_multiplier as mbqm,
    quantize_bias, quantize_f32, quantize_multiplier, quantize_weights_per_channel, requantize,
    rounding_divide_by_pot as rdbpot, saturating_rounding_doubling_high_mul as srdhm,
};
use picorl_core::nn::{QuantError, QuantParams};

const MIN: i32 = i32::MIN;
const MAX: i32 = i32::MAX;

#[test]
fn srdhm_saturation_and_extremes() {
    // The one overflow: (-2^31)^2 * 2 / 2^32 = 2^31 does not fit: saturates.
    assert_eq!(srdhm(MIN, MIN), MAX);
    // (-2^31)(2^31 - 1) = -2^62 + 2^31; + nudge (1 - 2^30); / 2^31 truncated: -2^31 + 1 - 0.49… → -2^31 + 1.
    assert_eq!(srdhm(MIN, MAX), MIN + 1);
    assert_eq!(srdhm(MAX, MIN), MIN + 1);
    // (2^31 - 1)^2 = 2^62 - 2^32 + 1; + 2^30; / 2^31 = 2^31 - 2 + 0.500…0005 → 2^31 - 2.
    assert_eq!(srdhm(MAX, MAX), MAX - 1);
    assert_eq!(srdhm(0, MIN), 0);
    assert_eq!(srdhm(MIN, 0), 0);
    // Multiplier 0 gives 0 whatever x.
    for x in [MIN, -1, 0, 1, MAX] {
        assert_eq!(srdhm(x, 0), 0);
    }
}

#[test]
fn srdhm_ties() {
    // a*b = 2^30: 2ab / 2^32 = 0.5 → (2^30 + 2^30) / 2^31 = 1.
    assert_eq!(srdhm(1 << 15, 1 << 15), 1);
    // a*b = -2^30: -0.5 → (-2^30 + 1 - 2^30) / 2^31 = -0.99… → truncated 0 (gemmlowp rounds a
    // negative tie up, toward zero).
    assert_eq!(srdhm(-(1 << 15), 1 << 15), 0);
    // a*b = 3 * 2^30: 1.5 → 4 * 2^30 / 2^31 = 2.
    assert_eq!(srdhm(3 << 15, 1 << 15), 2);
    // a*b = -3 * 2^30: -1.5 → (-3 * 2^30 + 1 - 2^30) / 2^31 = -1.99… → -1.
    assert_eq!(srdhm(-(3 << 15), 1 << 15), -1);
    // Just off the ties: a*b = 2^30 - 1 → 0.499… → 0; a*b = -(2^30 + 1) → -1.
    assert_eq!(srdhm((1 << 30) - 1, 1), 0);
    assert_eq!(srdhm(-((1 << 30) + 1), 1), -1);
}

#[test]
fn rdbpot_ties_away_from_zero() {
    // x / 2: 2.5 → 3, -2.5 → -3, 1.5 → 2, -1.5 → -2, 2 → 2, -2 → -2.
    assert_eq!(rdbpot(5, 1), 3);
    assert_eq!(rdbpot(-5, 1), -3);
    assert_eq!(rdbpot(3, 1), 2);
    assert_eq!(rdbpot(-3, 1), -2);
    assert_eq!(rdbpot(4, 1), 2);
    assert_eq!(rdbpot(-4, 1), -2);
    // x / 8: 12 → 1.5 → 2; -12 → -2; 11 → 1.375 → 1; -13 → -1.625 → -2.
    assert_eq!(rdbpot(12, 3), 2);
    assert_eq!(rdbpot(-12, 3), -2);
    assert_eq!(rdbpot(11, 3), 1);
    assert_eq!(rdbpot(-13, 3), -2);
    // Exponent 0 is the identity, even at the extremes.
    for x in [MIN, -1, 0, 1, MAX] {
        assert_eq!(rdbpot(x, 0), x);
    }
}

#[test]
fn rdbpot_large_shifts() {
    // x / 2^31: MIN → -1 exactly; MAX → 0.99… → 1; ±2^30 → ±0.5 → ±1 (away from zero);
    // 2^30 - 1 → 0.49… → 0.
    assert_eq!(rdbpot(MIN, 31), -1);
    assert_eq!(rdbpot(MAX, 31), 1);
    assert_eq!(rdbpot(1 << 30, 31), 1);
    assert_eq!(rdbpot(-(1 << 30), 31), -1);
    assert_eq!(rdbpot((1 << 30) - 1, 31), 0);
    assert_eq!(rdbpot(-(1 << 30) + 1, 31), 0);
    // Exponents past 31 (gemmlowp asserts) are clamped to 31.
    assert_eq!(rdbpot(MIN, 40), -1);
    assert_eq!(rdbpot(MAX, u32::MAX), 1);
}

#[test]
fn multiply_by_quantized_multiplier_cases() {
    // Multiplier 0.5 (2^30), shift +1: 3 * 0.5 * 2 = 3. SRDHM(6, 2^30) = (6 * 2^30 + 2^30) / 2^31 = 3.5 → 3.
    assert_eq!(mbqm(3, 1 << 30, 1), 3);
    // Shift -3: 100 * 0.5 / 8 = 6.25. SRDHM(100, 2^30) = 101 * 2^30 / 2^31 = 50.5 → 50; RDBPOT(50, 3) = 6.25 → 6.
    assert_eq!(mbqm(100, 1 << 30, -3), 6);
    assert_eq!(mbqm(-100, 1 << 30, -3), -6);
    // The double rounding differs from a single rounding: 13 * 0.5 / 2 = 3.25, but SRDHM(13, 2^30) =
    // 6.5 → 7 and RDBPOT(7, 1) = 3.5 → 4 (TFLite's single-rounding mode would give 3).
    assert_eq!(mbqm(13, 1 << 30, -1), 4);
    // Largest right shift with the largest multiplier: SRDHM(MAX, MAX) = 2^31 - 2, / 2^31 → 1.
    assert_eq!(mbqm(MAX, MAX, -31), 1);
    assert_eq!(mbqm(MIN, MAX, -31), -1);
    // Multiplier 0 → 0.
    assert_eq!(mbqm(12345, 0, 0), 0);
    // Left shifts wrap as 32-bit hardware does (C++ leaves it undefined): 2^30 * 4 = 2^32 → 0.
    assert_eq!(mbqm(1 << 30, 1 << 30, 2), 0);
    // Shifts outside -31..=30 are clamped.
    assert_eq!(mbqm(MAX, MAX, -100), mbqm(MAX, MAX, -31));
    assert_eq!(mbqm(1, 1 << 30, 100), mbqm(1, 1 << 30, 30));
}

#[test]
fn quantize_multiplier_cases() {
    // frexp(0.5) = (0.5, 0): 0.5 * 2^31 = 2^30.
    assert_eq!(quantize_multiplier(0.5), Ok((1 << 30, 0)));
    assert_eq!(quantize_multiplier(1.0), Ok((1 << 30, 1)));
    assert_eq!(quantize_multiplier(0.25), Ok((1 << 30, -1)));
    // 0.75 * 2^31 = 1610612736.
    assert_eq!(quantize_multiplier(0.75), Ok((1_610_612_736, 0)));
    // 0.1 = 0.8 * 2^-3; 0.8 * 2^31 = 1717986918.4 → 1717986918.
    assert_eq!(quantize_multiplier(0.1), Ok((1_717_986_918, -3)));
    // The rounding edge: 1 - 2^-40 = q * 2^0 with q * 2^31 = 2^31 - 2^-9 → rounds to 2^31, which is
    // halved with the shift incremented.
    assert_eq!(quantize_multiplier(1.0 - 2f64.powi(-40)), Ok((1 << 30, 1)));
    // Small multipliers: 2^-32 = 0.5 * 2^-31 is the last one kept; 2^-33 flushes to (0, 0).
    assert_eq!(quantize_multiplier(2f64.powi(-32)), Ok((1 << 30, -31)));
    assert_eq!(quantize_multiplier(2f64.powi(-33)), Ok((0, 0)));
    assert_eq!(quantize_multiplier(1e-310), Ok((0, 0)));
    assert_eq!(quantize_multiplier(0.0), Ok((0, 0)));
    // Large: 3.0 = 0.75 * 2^2.
    assert_eq!(quantize_multiplier(3.0), Ok((1_610_612_736, 2)));
    for bad in [-0.5, f64::NAN, f64::INFINITY] {
        assert_eq!(quantize_multiplier(bad), Err(QuantError::BadScale));
    }
}

#[test]
fn effective_scale_is_evaluated_in_f64_left_to_right() {
    let (i, w, o) = (0.1f32, 0.2f32, 0.3f32);
    assert_eq!(
        effective_scale(i, w, o).to_bits(),
        ((i as f64 * w as f64) / o as f64).to_bits()
    );
    // Not the f32 product of TFLite's per-tensor path.
    assert_ne!(
        effective_scale(i, w, o).to_bits(),
        ((i * w) as f64 / o as f64).to_bits()
    );
}

#[test]
fn affine_quantize_rounds_half_away_and_saturates() {
    let p = QuantParams {
        scale: 0.5,
        zero_point: 0,
    };
    // x / 0.5: 1.25 → 2.5 → 3; -1.25 → -3; 0.75 → 1.5 → 2; 0.2499999 → 0.4999998 → 0.
    assert_eq!(quantize_f32(1.25, p), 3);
    assert_eq!(quantize_f32(-1.25, p), -3);
    assert_eq!(quantize_f32(0.75, p), 2);
    assert_eq!(quantize_f32(0.249_999_99, p), 0);
    assert_eq!(quantize_f32(1e30, p), 127);
    assert_eq!(quantize_f32(-1e30, p), -128);
    let p = QuantParams {
        scale: 0.5,
        zero_point: -10,
    };
    assert_eq!(quantize_f32(0.0, p), -10);
    assert_eq!(quantize_f32(f32::NAN, p), -10);
    assert_eq!(quantize_f32(-60.0, p), -128);
    // Dequantize: scale * (q - zp).
    assert_eq!(dequantize_i8(-8, p), 1.0);
    assert_eq!(dequantize_i8(-128, p), -59.0);
}

#[test]
fn activation_ranges_and_requantize() {
    assert_eq!(activation_range(true, -5), (-5, 127));
    assert_eq!(activation_range(true, -128), (-128, 127));
    assert_eq!(activation_range(false, 17), (-128, 127));
    // acc 1000 * 0.5 / 8 = 62.5 → SRDHM = 500.5 → 500, RDBPOT(500, 3) = 62.5 → 63; + zp 70 = 133 → 127.
    assert_eq!(requantize(1000, 1 << 30, -3, 70, false), 127);
    // -1000 → -63 + 0 = -63; with ReLU (zp 0) → 0.
    assert_eq!(requantize(-1000, 1 << 30, -3, 0, false), -63);
    assert_eq!(requantize(-1000, 1 << 30, -3, 0, true), 0);
    assert_eq!(requantize(-1000, 1 << 30, -3, -100, true), -100);
}

#[test]
fn converter_style_helpers() {
    // from_range(-1, 1): scale 2/255, zp = round(-128 + 1 / (2/255)) = round(-0.5) = -1.
    let p = QuantParams::from_range(-1.0, 1.0).unwrap();
    assert_eq!(
        p,
        QuantParams {
            scale: (2.0f64 / 255.0) as f32,
            zero_point: -1
        }
    );
    // A range of non-negative values is widened to include 0: zp = -128.
    assert_eq!(QuantParams::from_range(0.5, 6.0).unwrap().zero_point, -128);
    assert_eq!(
        QuantParams::from_range(0.0, 0.0).unwrap(),
        QuantParams {
            scale: 1.0,
            zero_point: 0
        }
    );
    assert_eq!(
        QuantParams::from_range(1.0, -1.0),
        Err(QuantError::BadRange)
    );
    // Per-channel weights: row max 2.54 → scale 0.02; 1.0 / 0.02 = 50.
    let w = [2.54f32, -1.0, 0.0, 0.0, 0.0, 0.0];
    let mut q = [0i8; 6];
    let mut s = [0f32; 2];
    quantize_weights_per_channel(&w, 2, 3, &mut q, &mut s).unwrap();
    assert_eq!(s, [2.54 / 127.0, 1.0]);
    assert_eq!(q, [127, -50, 0, 0, 0, 0]);
    let bad = [0.0, f32::INFINITY, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(
        quantize_weights_per_channel(&bad, 2, 3, &mut q, &mut s),
        Err(QuantError::NonFinite { index: 1 })
    );
    // Bias: 0.3 / (0.1 * 0.2) = 15 (to f64 rounding of the f32 inputs).
    assert_eq!(quantize_bias(0.3, 0.1, 0.2), Ok(15));
    assert_eq!(quantize_bias(1e30, 1e-10, 1e-10), Ok(i32::MAX));
}

#[test]
fn affine_quantize_equals_roundf_everywhere() {
    // The library-free rounding against libm's roundf on ties, near-ties, large and odd values.
    let mut rng = picorl_core::rng::seeded(3);
    let specials = [
        0.5f32,
        -0.5,
        1.5,
        -1.5,
        2.5,
        0.499_999_97,
        -0.499_999_97,
        8_388_607.5,
        16_777_216.0,
        3e9,
        -3e9,
        1e-40,
    ];
    for i in 0..2_000_000u32 {
        let v = if (i as usize) < specials.len() {
            specials[i as usize]
        } else {
            f32::from_bits(rand_core::RngCore::next_u32(&mut rng))
        };
        for zp in [-128, -3, 0, 127] {
            let p = QuantParams {
                scale: 1.0,
                zero_point: zp,
            };
            let expect = if v.is_nan() {
                zp.clamp(-128, 127)
            } else {
                (libm::roundf(v) as i32).saturating_add(zp).clamp(-128, 127)
            };
            assert_eq!(quantize_f32(v, p) as i32, expect, "{v:e} zp {zp}");
        }
    }
}
