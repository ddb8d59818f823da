//! Target-specific int8 kernels, the only module of picorl-core allowed `unsafe` code:
//!
//! - **Cortex-M4** (`target_arch = "arm"`, `target_feature = "dsp"`: ARMv7E-M, Cortex-M4/M7): the
//!   whole layer in `core::arch::asm!`, with SMLAD (two 16x16 multiply-accumulates in one
//!   instruction) for the dot products and SMMULR/SSAT for TFLM's requantization.
//! - **x86-64**: the dot products of one block with SSE2's PMADDWD, x86's SMLAD
//!   ([`mac_block_sse2`]).
//!
//! Everywhere else, and whenever a buffer is not word-aligned on Cortex-M4, [`super::DenseI8`] runs
//! its portable code, which gives the same bits: integer sums are exact, and the portable
//! requantization ([`super::dense::requantize_kernel`]) is the Cortex-M4 instruction sequence.
//!
//! ## What it computes
//! The whole layer, block after block of 4 output rows (`dense.rs` documents the layout):
//! 1. `acc[r] = folded_bias[r]`, then for each 4-input group: load `x01`, `x23` (LDM), load the
//!    4 rows' weight words for pair 0 (LDM) and SMLAD each into its accumulator, the same for pair 1.
//!    A 4-group loop entered part-way when the group count is not a multiple of 4 (Duff's device,
//!    through a TBB jump table indexed by a value computed once per layer): 11 instructions per 16 MACs plus 2 per
//!    64 for the loop.
//! 2. Per row, with `[m, l1, round, r1]` the [`super::KernelRequant`] words:
//!    `a = acc << l1` (`acc << left_shift`, doubled), `x = SMMULR(a, m)` (= gemmlowp's
//!    `SaturatingRoundingDoublingHighMul(acc << left_shift, m)`: `floor((2am' + 2^31) / 2^32)` with
//!    `m' = m` is `floor((a'm + 2^30) / 2^31)`, and no saturation case since `m >= 0`), then
//!    `y = (2x + round - (x < 0)) >> r1` (= `RoundingDivideByPOT(x, right_shift)`, ties away from
//!    zero: `floor(x / 2^e + 1/2)` for `x >= 0`, `floor(x / 2^e + 1/2 - 2^-(e+1))` below), for ReLU
//!    `y = USAT(y, 31)` (`max(y, 0)`: with `zp >= -128` TFLite's ReLU range is `[zp, 127]`), then
//!    `SSAT(y + zp, 8)` and two PKHBT + one STRD store the four i16 outputs.
//!
//! These identities need no overflow anywhere, which is what the model reader's accumulator bound
//! guarantees (`|acc| * 2^left_shift < 2^29` for every possible input, so `|2a| < 2^30`,
//! `|x| < 2^29`, `|2x + round| < 2^31`). Portable and DSP kernels are compared bit for bit on random
//! layers under QEMU (see the issue-5 report); the arithmetic identities themselves are tested on
//! the host by `tests/nn_dsp_model.rs`, which emulates these instructions.
//!
//! ## Why it is sound
//! - Every pointer comes from a slice whose length [`dense_i8`] checks against the counts the loop
//!   uses: `weights.len() == blocks * 4 * depth`, `params.len() == blocks`,
//!   `x.len() == depth` (a multiple of 4, at least 4), `out.len() == blocks * 4`; the loop reads and
//!   writes exactly those elements, in order, and nothing else (no data-dependent addressing).
//! - LDM/LDRD/STRD need word alignment: all four pointers are checked to be 4-byte aligned, else the
//!   portable kernel runs.
//! - The block saves every callee-saved register it touches (`r4-r11`, `lr`, including the frame
//!   pointer `r7` and LLVM's base pointer `r6`) with one PUSH and restores them with one POP; no
//!   Rust code runs in between, and exceptions stack their own context. The caller-saved `r0-r3`,
//!   `r12` and the flags are declared clobbered. The stack is used (PUSH/POP of 15 words, balanced),
//!   so `nostack` is not given.
//! - Only `out` is written, through a `&mut` the caller holds exclusively.
#![allow(unsafe_code)]

use super::dense::BLOCK;
#[cfg(target_arch = "arm")]
use super::dense::BLOCK_PARAM_WORDS;

/// One block's accumulators (see `dense::mac_block`) with one PMADDWD per input pair: each 32-bit
/// lane gets `w[2r] * x0 + w[2r + 1] * x1`, wrapping in its one overflowing case
/// (`2 * (-32768)^2`) as SMLAD does, then PADDD (wrapping) into the accumulators.
///
/// Sound because SSE2 is part of the x86-64 baseline: every x86-64 CPU executes these instructions
/// (the intrinsics are `unsafe` only as `#[target_feature]` functions). They take no pointers:
/// loads and stores are `bytemuck` casts of arrays.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn mac_block_sse2(
    w_pairs: &[[i16; 2 * BLOCK]],
    x_pairs: &[[i16; 2]],
    bias: [i32; BLOCK],
) -> [i32; BLOCK] {
    use core::arch::x86_64::{__m128i, _mm_add_epi32, _mm_madd_epi16, _mm_set1_epi32};
    let mut acc: __m128i = bytemuck::cast(bias);
    for (wv, xp) in w_pairs.iter().zip(x_pairs) {
        let pair: i32 = bytemuck::cast(*xp);
        let w: __m128i = bytemuck::cast(*wv);
        // SAFETY: SSE2 is always available on x86-64 (see above).
        acc = unsafe { _mm_add_epi32(acc, _mm_madd_epi16(w, _mm_set1_epi32(pair))) };
    }
    bytemuck::cast(acc)
}

#[cfg(target_arch = "arm")]
const _: () = assert!(BLOCK == 4 && BLOCK_PARAM_WORDS == 20);

/// One output channel's requantization in `$a`, with `r8..r11` = `[m, l1, round, r1]`, `r12` = zp.
#[cfg(target_arch = "arm")]
macro_rules! requant_channel {
    ($a:literal, $relu:literal) => {
        concat!(
            "ldm r1!, {{r8-r11}}\n",
            "lsl ",
            $a,
            ", ",
            $a,
            ", r9\n",
            "smmulr ",
            $a,
            ", ",
            $a,
            ", r8\n",
            "add r10, r10, ",
            $a,
            ", lsl #1\n",
            "sub r10, r10, ",
            $a,
            ", lsr #31\n",
            "asr ",
            $a,
            ", r10, r11\n",
            $relu,
            "add ",
            $a,
            ", ",
            $a,
            ", r12\n",
            "ssat ",
            $a,
            ", #8, ",
            $a,
            "\n",
        )
    };
}

/// One group of 4 inputs against 4 rows: 8 MACs per row.
#[cfg(target_arch = "arm")]
macro_rules! mac_group {
    () => {
        concat!(
            "ldm.w r6!, {{r8, r9}}\n",
            "ldm.w r0!, {{r10, r11, r12, lr}}\n",
            "smlad r2, r10, r8, r2\n",
            "smlad r3, r11, r8, r3\n",
            "smlad r4, r12, r8, r4\n",
            "smlad r5, lr, r8, r5\n",
            "ldm.w r0!, {{r10, r11, r12, lr}}\n",
            "smlad r2, r10, r9, r2\n",
            "smlad r3, r11, r9, r3\n",
            "smlad r4, r12, r9, r4\n",
            "smlad r5, lr, r9, r5\n",
        )
    };
}

#[cfg(target_arch = "arm")]
macro_rules! layer_asm {
    ($w:expr, $p:expr, $x:expr, $xe:expr, $o:expr, $oe:expr, $zp:expr,
     $relu2:literal, $relu3:literal, $relu4:literal, $relu5:literal) => {
        // SAFETY: see the module documentation; `dense_i8` checked every length and alignment.
        unsafe {
            core::arch::asm!(
                // In: r0 = weights, r1 = params, r2 = x, r3 = x_end, r5 = out, r8 = out_end,
                // r9 = zero point. All of r4-r11 and lr are restored by the final POP.
                "push {{r4-r11, lr}}",
                "mov r6, r8",
                "mov r7, r9",
                // The MAC loop does 4 groups per turn; a block with `g` groups enters it at
                // group `(4 - g % 4) % 4`, through a TBB table (offsets between labels, so the
                // code's placement cannot change them).
                "sub r4, r3, r2",
                "ubfx r4, r4, #3, #2",
                "rsb r4, r4, #0",
                "and r4, r4, #3",
                // [sp] = x, [sp+4] = x_end, [sp+8] = entry group, [sp+12] = out,
                // [sp+16] = out_end, [sp+20] = zero point
                "push {{r2-r7}}",
                "2:",
                "ldm sp, {{r6, r7, r8}}",
                "ldm r1!, {{r2-r5}}",
                "tbb [pc, r8]",
                "5:",
                ".byte (3f - 5b) / 2, (6f - 5b) / 2, (7f - 5b) / 2, (8f - 5b) / 2",
                "3:",
                mac_group!(),
                "6:",
                mac_group!(),
                "7:",
                mac_group!(),
                "8:",
                mac_group!(),
                "cmp r6, r7",
                "bne 3b",
                "ldr r12, [sp, #20]",
                requant_channel!("r2", $relu2),
                requant_channel!("r3", $relu3),
                requant_channel!("r4", $relu4),
                requant_channel!("r5", $relu5),
                "pkhbt r2, r2, r3, lsl #16",
                "pkhbt r4, r4, r5, lsl #16",
                "ldrd lr, r8, [sp, #12]",
                "strd r2, r4, [lr], #8",
                "str lr, [sp, #12]",
                "cmp lr, r8",
                "bne 2b",
                "add sp, sp, #24",
                "pop {{r4-r11, lr}}",
                inout("r0") $w => _,
                inout("r1") $p => _,
                inout("r2") $x => _,
                inout("r3") $xe => _,
                in("r5") $o,
                in("r8") $oe,
                in("r9") $zp,
                out("r12") _,
            )
        }
    };
}

/// Runs one int8 layer with the SMLAD kernel; returns `false` (and does nothing) when a length or
/// an alignment does not allow it, so that the caller runs the portable kernel.
#[cfg(target_arch = "arm")]
#[inline(always)]
pub(crate) fn dense_i8(
    weights: &[i16],
    params: &[[i32; BLOCK_PARAM_WORDS]],
    x: &[i16],
    out: &mut [i16],
    zero_point: i32,
    relu: bool,
) -> bool {
    let blocks = params.len();
    let depth = x.len();
    if blocks == 0 || depth < 4 || depth % 4 != 0 {
        return false;
    }
    let Some(w_len) = blocks.checked_mul(BLOCK).and_then(|r| r.checked_mul(depth)) else {
        return false;
    };
    if weights.len() != w_len || out.len() != blocks * BLOCK {
        return false;
    }
    let addrs = weights.as_ptr() as usize
        | params.as_ptr() as usize
        | x.as_ptr() as usize
        | out.as_ptr() as usize;
    if addrs % 4 != 0 {
        return false;
    }
    let x_range = x.as_ptr_range();
    let out_range = out.as_mut_ptr_range();
    let (w, p) = (weights.as_ptr(), params.as_ptr().cast::<i32>());
    let (xs, xe, os, oe) = (x_range.start, x_range.end, out_range.start, out_range.end);
    if relu {
        layer_asm!(
            w,
            p,
            xs,
            xe,
            os,
            oe,
            zero_point,
            "usat r2, #31, r2\n",
            "usat r3, #31, r3\n",
            "usat r4, #31, r4\n",
            "usat r5, #31, r5\n"
        );
    } else {
        layer_asm!(w, p, xs, xe, os, oe, zero_point, "", "", "", "");
    }
    true
}

/// One f32 MAC block: `acc[s0..s15] += w * x[k]` for the 16 rows of the group, one VLDM per block
/// and one VMLA per weight (VMLA rounds after the multiply and after the add: the same two
/// roundings as Rust's `acc += w * x`, so the same bits as the portable kernel).
#[cfg(all(target_arch = "arm", target_feature = "dsp", target_abi = "eabihf"))]
macro_rules! f32_k {
    () => {
        concat!(
            "vldmia r2!, {{s16}}\n",
            "vldmia r0!, {{s20-s23}}\n",
            "vldmia r5!, {{s24-s27}}\n",
            "vmla.f32 s0, s20, s16\n",
            "vmla.f32 s1, s21, s16\n",
            "vmla.f32 s2, s22, s16\n",
            "vmla.f32 s3, s23, s16\n",
            "vmla.f32 s4, s24, s16\n",
            "vmla.f32 s5, s25, s16\n",
            "vmla.f32 s6, s26, s16\n",
            "vmla.f32 s7, s27, s16\n",
            "vldmia r8!, {{s20-s23}}\n",
            "vldmia r10!, {{s24-s27}}\n",
            "vmla.f32 s8, s20, s16\n",
            "vmla.f32 s9, s21, s16\n",
            "vmla.f32 s10, s22, s16\n",
            "vmla.f32 s11, s23, s16\n",
            "vmla.f32 s12, s24, s16\n",
            "vmla.f32 s13, s25, s16\n",
            "vmla.f32 s14, s26, s16\n",
            "vmla.f32 s15, s27, s16\n",
        )
    };
}

/// ReLU of one accumulator as Rust's `if x > 0 { x } else { 0 }`: `le` also holds for NaN
/// (unordered), -0 and 0, which all become +0 (`s31`).
#[cfg(all(target_arch = "arm", target_feature = "dsp", target_abi = "eabihf"))]
macro_rules! f32_relu {
    ($s:literal) => {
        concat!(
            "vcmp.f32 ",
            $s,
            ", #0\n",
            "vmrs APSR_nzcv, fpscr\n",
            "it le\n",
            "vmovle.f32 ",
            $s,
            ", s31\n",
        )
    };
}

#[cfg(all(target_arch = "arm", target_feature = "dsp", target_abi = "eabihf"))]
macro_rules! f32_group_asm {
    ($w:expr, $stride:expr, $x:expr, $xe:expr, $b:expr, $o:expr, $($relu:expr),*) => {
        // SAFETY: see `dense_f32_group`; every length was checked, f32 slices are word-aligned.
        unsafe {
            core::arch::asm!(
                // All 32 single-precision registers are saved and restored.
                "vpush {{d0-d15}}",
                "vldmia r12, {{s0-s15}}",
                "add r5, r0, r1",
                "add r8, r5, r1",
                "add r10, r8, r1",
                "2:",
                f32_k!(),
                "cmp r2, r3",
                "bne 2b",
                "mov r5, #0",
                "vmov s31, r5",
                $($relu,)*
                "vstmia r4, {{s0-s15}}",
                "vpop {{d0-d15}}",
                inout("r0") $w => _,
                in("r1") $stride,
                inout("r2") $x => _,
                in("r3") $xe,
                in("r4") $o,
                in("r12") $b,
                out("r5") _,
                out("r8") _,
                out("r10") _,
            )
        }
    };
}

/// Four f32 blocks (16 rows) with VLDM/VMLA: `w` holds the 4 blocks' `16 * in` weights in the
/// stored layout, `bias` and `out` their 16 rows, `x` the `in >= 1` inputs. Returns `false` (and
/// does nothing) if a length does not match, so that the caller runs the portable code.
///
/// Sound because: the loop reads exactly `x.len()` inputs and, from each block's start
/// (`w + j * 4 * in`), exactly `4 * in` weights, i.e. all of `w` and nothing more (checked:
/// `w.len() == 16 * x.len()`); it reads 16 biases and writes 16 outputs (checked); f32 slices are
/// 4-byte aligned as VLDM/VSTM need; the block saves and restores all of `d0-d15`, declares the
/// integer registers it changes, changes no FPSCR control bit (only the condition flags, via VCMP,
/// and the cumulative exception flags any FP operation sets).
#[cfg(all(target_arch = "arm", target_feature = "dsp", target_abi = "eabihf"))]
#[inline(always)]
pub(crate) fn dense_f32_group(
    w: &[f32],
    bias: &[f32],
    x: &[f32],
    out: &mut [f32],
    relu: bool,
) -> bool {
    let n = x.len();
    if n == 0 || bias.len() != 16 || out.len() != 16 || n.checked_mul(16) != Some(w.len()) {
        return false;
    }
    let stride = 16 * n; // bytes between consecutive blocks: 4 rows * n inputs * 4 bytes
    let xr = x.as_ptr_range();
    let (wp, bp, op) = (w.as_ptr(), bias.as_ptr(), out.as_mut_ptr());
    if relu {
        f32_group_asm!(
            wp,
            stride,
            xr.start,
            xr.end,
            bp,
            op,
            f32_relu!("s0"),
            f32_relu!("s1"),
            f32_relu!("s2"),
            f32_relu!("s3"),
            f32_relu!("s4"),
            f32_relu!("s5"),
            f32_relu!("s6"),
            f32_relu!("s7"),
            f32_relu!("s8"),
            f32_relu!("s9"),
            f32_relu!("s10"),
            f32_relu!("s11"),
            f32_relu!("s12"),
            f32_relu!("s13"),
            f32_relu!("s14"),
            f32_relu!("s15")
        );
    } else {
        f32_group_asm!(wp, stride, xr.start, xr.end, bp, op, "");
    }
    true
}
