//! The Cortex-M4 int8 kernel: SMLAD (two 16x16 multiply-accumulates in one instruction) through
//! `core::arch::asm!`. This is the only module of picorl-core allowed `unsafe` code.
//!
//! Built only for `target_arch = "arm"` with `target_feature = "dsp"` (ARMv7E-M: Cortex-M4/M7);
//! everywhere else, and whenever a buffer is not word-aligned, [`super::DenseI8`] runs its portable
//! kernel, which gives the same bits.
//!
//! ## What it computes
//! The whole layer, block after block of 4 output rows (`dense.rs` documents the layout):
//! 1. `acc[r] = folded_bias[r]`, then for each 4-input group: load `x01`, `x23` (LDM), load the
//!    4 rows' weight words for pair 0 (LDM) and SMLAD each into its accumulator, the same for pair 1.
//!    A 2-group loop with an entry at its second half when the group count is odd: 11 instructions
//!    per 16 MACs plus 2 per 32 for the loop.
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
//!   `r12` and the flags are declared clobbered. The stack is used (PUSH/POP of 14 words, balanced),
//!   so `nostack` is not given.
//! - Only `out` is written, through a `&mut` the caller holds exclusively.
#![allow(unsafe_code)]

use super::dense::{BLOCK, BLOCK_PARAM_WORDS};

/// The kernel's arguments, read by the assembly at fixed offsets.
#[repr(C)]
struct Args {
    weights: *const i16, // +0
    params: *const i32,  // +4
    x: *const i16,       // +8
    x_end: *const i16,   // +12
    out: *mut i16,       // +16
    out_end: *mut i16,   // +20
    zero_point: i32,     // +24
}

const _: () = assert!(core::mem::size_of::<Args>() == 28);
const _: () = assert!(BLOCK == 4 && BLOCK_PARAM_WORDS == 20);

/// One output channel's requantization in `$a`, with `r8..r11` = `[m, l1, round, r1]`, `r12` = zp.
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
macro_rules! mac_group {
    () => {
        concat!(
            "ldm r6!, {{r8, r9}}\n",
            "ldm r0!, {{r10, r11, r12, lr}}\n",
            "smlad r2, r10, r8, r2\n",
            "smlad r3, r11, r8, r3\n",
            "smlad r4, r12, r8, r4\n",
            "smlad r5, lr, r8, r5\n",
            "ldm r0!, {{r10, r11, r12, lr}}\n",
            "smlad r2, r10, r9, r2\n",
            "smlad r3, r11, r9, r3\n",
            "smlad r4, r12, r9, r4\n",
            "smlad r5, lr, r9, r5\n",
        )
    };
}

macro_rules! layer_asm {
    ($args:expr, $relu2:literal, $relu3:literal, $relu4:literal, $relu5:literal) => {
        // SAFETY: see the module documentation; `dense_i8` checked every length and alignment.
        unsafe {
            core::arch::asm!(
                "push {{r4-r11, lr}}",
                "ldrd r4, r5, [r0, #16]",
                "ldrd r2, r3, [r0, #8]",
                "ldr r6, [r0, #24]",
                // [sp] = x, [sp+4] = x_end, [sp+8] = out, [sp+12] = out_end, [sp+16] = zp
                "push {{r2-r6}}",
                "ldrd r0, r1, [r0]",
                "2:",
                "ldrd r6, r7, [sp]",
                "ldm r1!, {{r2-r5}}",
                "sub r8, r7, r6",
                "tst r8, #8",
                "bne 4f",
                "3:",
                mac_group!(),
                "4:",
                mac_group!(),
                "cmp r6, r7",
                "bne 3b",
                "ldr r12, [sp, #16]",
                requant_channel!("r2", $relu2),
                requant_channel!("r3", $relu3),
                requant_channel!("r4", $relu4),
                requant_channel!("r5", $relu5),
                "pkhbt r2, r2, r3, lsl #16",
                "pkhbt r4, r4, r5, lsl #16",
                "ldrd lr, r8, [sp, #8]",
                "strd r2, r4, [lr], #8",
                "str lr, [sp, #8]",
                "cmp lr, r8",
                "bne 2b",
                "add sp, sp, #20",
                "pop {{r4-r11, lr}}",
                inout("r0") $args => _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r12") _,
            )
        }
    };
}

/// Runs one int8 layer with the SMLAD kernel; returns `false` (and does nothing) when a length or
/// an alignment does not allow it, so that the caller runs the portable kernel.
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
    let args = Args {
        weights: weights.as_ptr(),
        params: params.as_ptr().cast::<i32>(),
        x: x_range.start,
        x_end: x_range.end,
        out: out_range.start,
        out_end: out_range.end,
        zero_point,
    };
    let p: *const Args = &args;
    if relu {
        layer_asm!(
            p,
            "usat r2, #31, r2\n",
            "usat r3, #31, r3\n",
            "usat r4, #31, r4\n",
            "usat r5, #31, r5\n"
        );
    } else {
        layer_asm!(p, "", "", "", "");
    }
    true
}
