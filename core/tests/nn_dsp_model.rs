//! The Cortex-M4 kernel's requantization (`nn/dsp.rs`) emulated instruction by instruction on the
//! host, against TFLM's `MultiplyByQuantizedMultiplier` + zero point + clamp, for every shift and
//! for accumulators across the whole range the model reader allows (the accumulator bound
//! `|acc| << left_shift < 2^29`), ties included. The real instructions are compared with the
//! portable kernel under QEMU; this test pins the arithmetic identities the kernel relies on.

use picorl_core::nn::quant::requantize;
use picorl_core::nn::KernelRequant;
use picorl_core::rng::{below, seeded};
use rand_core::RngCore;

/// `SMMULR Rd, Rn, Rm`: the top 32 bits of `Rn * Rm + 0x8000_0000`.
fn smmulr(a: i32, b: i32) -> i32 {
    ((a as i64 * b as i64 + 0x8000_0000) >> 32) as i32
}
/// `LSL Rd, Rn, Rm`: shift by the bottom byte; 32 or more gives 0.
fn lsl(a: i32, s: i32) -> i32 {
    let s = (s as u32) & 0xFF;
    if s >= 32 {
        0
    } else {
        ((a as u32) << s) as i32
    }
}
/// `ASR Rd, Rn, Rm`: shift by the bottom byte; 32 or more fills with the sign.
fn asr(a: i32, s: i32) -> i32 {
    let s = (s as u32) & 0xFF;
    a >> s.min(31)
}
fn usat31(a: i32) -> i32 {
    a.max(0)
}
fn ssat8(a: i32) -> i32 {
    a.clamp(-128, 127)
}

/// The kernel's sequence for one channel (see `requant_channel!` in `nn/dsp.rs`).
fn emulated(acc: i32, words: [i32; 4], zp: i32, relu: bool) -> i32 {
    let [m, l1, round, r1] = words;
    let a = lsl(acc, l1);
    let x = smmulr(a, m);
    let t = round
        .wrapping_add(x.wrapping_shl(1))
        .wrapping_sub(((x as u32) >> 31) as i32);
    let mut y = asr(t, r1);
    if relu {
        y = usat31(y);
    }
    ssat8(y.wrapping_add(zp))
}

fn check(acc: i32, multiplier: i32, shift: i32, zp: i32, relu: bool) {
    let words = KernelRequant { multiplier, shift }.to_words();
    assert_eq!(
        emulated(acc, words, zp, relu),
        requantize(acc, multiplier, shift, zp, relu),
        "acc {acc} multiplier {multiplier} shift {shift} zp {zp} relu {relu}"
    );
}

#[test]
fn extremes_of_the_bound_for_every_shift() {
    for shift in -31..=30 {
        let left = shift.max(0);
        if left > 28 {
            continue;
        }
        let max_acc = ((1i64 << 29) >> left) as i32 - 1;
        for acc in [0, 1, -1, max_acc, -max_acc, max_acc / 2, -max_acc / 3] {
            for m in [0, 1 << 30, (1 << 30) + 1, i32::MAX, 1_717_986_918] {
                for zp in [-128, -1, 0, 77, 127] {
                    check(acc, m, shift, zp, false);
                    check(acc, m, shift, zp, true);
                }
            }
        }
    }
}

#[test]
fn ties_of_both_roundings() {
    // Multiplier 2^30 (0.5): SRDHM(acc, 2^30) = floor((acc + 1) / 2), so acc = 2x gives x exactly and
    // acc = 2x - 1 hits SRDHM's own tie. Put x on every tie of RoundingDivideByPOT: (2j + 1) 2^(e-1).
    for e in 1..=30 {
        for j in [-3i64, -2, -1, 0, 1, 2] {
            let x = (2 * j + 1) << (e - 1);
            for acc in [2 * x, 2 * x - 1, 2 * x + 1] {
                if acc.abs() >= 1 << 29 {
                    continue;
                }
                for zp in [-128, 0, 5] {
                    check(acc as i32, 1 << 30, -e, zp, false);
                    check(acc as i32, 1 << 30, -e, zp, true);
                }
            }
        }
    }
}

#[test]
fn random_values_inside_the_bound() {
    let mut rng = seeded(7);
    for _ in 0..1_000_000 {
        let shift = below(&mut rng, 62) as i32 - 31;
        let left = shift.max(0);
        if left > 28 {
            continue;
        }
        let max_acc = ((1u32 << 29) >> left) - 1;
        let acc = (rng.next_u32() % (2 * max_acc + 1)) as i32 - max_acc as i32;
        let m = match below(&mut rng, 8) {
            0 => 0,
            _ => (1 << 30) | (rng.next_u32() >> 2) as i32,
        };
        let zp = below(&mut rng, 256) as i32 - 128;
        check(acc, m, shift, zp, below(&mut rng, 2) == 1);
    }
}
