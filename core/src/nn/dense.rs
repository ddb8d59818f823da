//! Dense (fully connected) layers over borrowed weights, in f32 and in TFLM-exact int8.
//!
//! Both kinds compute output rows in blocks of [`BLOCK`] = 4, and their weights are stored
//! pre-arranged for that (the layout is the `.picorl` file's, so inference reads the file's bytes
//! in place):
//!
//! - **f32**: rows padded to a multiple of 4; for each block `b`, for each input `k`, the 4 weights
//!   `w[4b + r][k]`, `r = 0..4`. Each output is `bias`, then `+ w * x` for `k = 0, 1, 2, …` in that
//!   order, one f32 multiply and one f32 add each (never fused), then the activation: the same bits on
//!   every IEEE-754 target, whatever the vector width.
//! - **int8**: rows padded to a multiple of 4, inputs padded to a multiple of 4 with zero weights;
//!   weights widened to i16 and, for each block `b` and input pair `p`, the 4 rows' pairs
//!   `(w[4b + r][2p], w[4b + r][2p + 1])`: one 32-bit word per row, ready for SMLAD (a dual 16x16
//!   multiply-accumulate) against the pair `(x[2p], x[2p + 1])` without unpacking. Per block, one
//!   parameter record of [`BLOCK_PARAM_WORDS`] i32: the 4 biases with the input zero point folded in
//!   (`bias - zp_in * sum_k w`, as CMSIS-NN does; the same int32 sum as TFLM's
//!   `sum_k w * (x - zp_in) + bias`, since the arithmetic is exact), then per row the requantization
//!   in kernel form, see [`KernelRequant`].
//!
//! ## Which f32 kernel won
//! `benches/benches/nn.rs` times this plain loop against nalgebra's `gemv` on the same block layout
//! ([`DenseF32::forward_nalgebra`], a 4 x `in` column-major view per block, which accumulates in the
//! same order and so gives the same bits). See the comment on [`DenseF32::forward`] for the figures;
//! the plain loop is the one inference uses.

use super::activation::Activation;
use core::fmt;

/// Output rows computed together; every layer's rows are padded to a multiple of it.
pub const BLOCK: usize = 4;

/// i32 words in one int8 block's parameter record: 4 biases, then 4 x [`KernelRequant`].
pub const BLOCK_PARAM_WORDS: usize = BLOCK + BLOCK * 4;

/// `n` rounded up to a multiple of [`BLOCK`] (output rows of a layer, as stored).
pub const fn padded_rows(n: usize) -> usize {
    n.div_ceil(BLOCK) * BLOCK
}

/// `n` rounded up to a multiple of 4 (inputs of an int8 layer, as stored).
pub const fn padded_depth(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Why a dense layer refused its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NnError {
    /// A slice does not have the length the layer's shape needs.
    Length {
        /// Which slice: `"weights"`, `"bias"`, `"params"`, `"input"` or `"output"`.
        what: &'static str,
        /// The length needed (at least this many, for `input` and `output`).
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A shape of zero inputs or outputs.
    EmptyShape,
    /// An activation the int8 path does not run (hardtanh: written as an identity layer).
    UnsupportedActivation,
    /// An output zero point outside `-128..=127`.
    ZeroPoint,
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::Length {
                what,
                expected,
                got,
            } => {
                write!(f, "{what} has length {got}, expected {expected}")
            }
            NnError::EmptyShape => {
                write!(f, "a dense layer needs at least one input and one output")
            }
            NnError::UnsupportedActivation => {
                write!(
                    f,
                    "int8 layers support identity, relu, tanh and sigmoid only"
                )
            }
            NnError::ZeroPoint => write!(f, "output zero point is outside -128..=127"),
        }
    }
}

impl core::error::Error for NnError {}

fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), NnError> {
    if got == expected {
        Ok(())
    } else {
        Err(NnError::Length {
            what,
            expected,
            got,
        })
    }
}

fn check_min_len(what: &'static str, got: usize, expected: usize) -> Result<(), NnError> {
    if got >= expected {
        Ok(())
    } else {
        Err(NnError::Length {
            what,
            expected,
            got,
        })
    }
}

/// An f32 dense layer: `y = act(W x + b)` over borrowed block-interleaved weights.
#[derive(Debug, Clone, Copy)]
pub struct DenseF32<'a> {
    in_dim: usize,
    out_dim: usize,
    weights: &'a [f32],
    bias: &'a [f32],
    activation: Activation,
}

impl<'a> DenseF32<'a> {
    /// Index of `w[row][col]` in the stored layout of a layer with `in_dim` inputs.
    pub const fn weight_index(in_dim: usize, row: usize, col: usize) -> usize {
        ((row / BLOCK) * in_dim + col) * BLOCK + row % BLOCK
    }

    /// A layer over `weights` (`padded_rows(out_dim) * in_dim` values, stored layout) and `bias`
    /// (`padded_rows(out_dim)` values).
    pub fn new(
        in_dim: usize,
        out_dim: usize,
        weights: &'a [f32],
        bias: &'a [f32],
        activation: Activation,
    ) -> Result<Self, NnError> {
        if in_dim == 0 || out_dim == 0 {
            return Err(NnError::EmptyShape);
        }
        let rows = padded_rows(out_dim);
        check_len("weights", weights.len(), rows.saturating_mul(in_dim))?;
        check_len("bias", bias.len(), rows)?;
        Ok(Self {
            in_dim,
            out_dim,
            weights,
            bias,
            activation,
        })
    }

    /// Inputs.
    pub const fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Outputs (without padding).
    pub const fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// The activation.
    pub const fn activation(&self) -> Activation {
        self.activation
    }

    /// `w[row][col]`, if inside the shape.
    pub fn weight(&self, row: usize, col: usize) -> Option<f32> {
        if row >= self.out_dim || col >= self.in_dim {
            return None;
        }
        self.weights
            .get(Self::weight_index(self.in_dim, row, col))
            .copied()
    }

    /// The bias of output `row`, if inside the shape.
    pub fn bias(&self, row: usize) -> Option<f32> {
        if row >= self.out_dim {
            return None;
        }
        self.bias.get(row).copied()
    }

    /// Computes the layer: reads `input[..in_dim]`, writes `output[..padded_rows(out_dim)]` (the
    /// padding rows compute `act(0)`).
    ///
    /// The plain loop won the benchmark against nalgebra's `gemv` on the same layout
    /// ([`Self::forward_nalgebra`]); see `benches/benches/nn.rs` and the figures in the comment in
    /// `forward_blocks`.
    pub fn forward(&self, input: &[f32], output: &mut [f32]) -> Result<(), NnError> {
        check_min_len("input", input.len(), self.in_dim)?;
        let rows = padded_rows(self.out_dim);
        check_min_len("output", output.len(), rows)?;
        let x = input.get(..self.in_dim).unwrap_or(&[]);
        let out = output.get_mut(..rows).unwrap_or(&mut []);
        let relu = self.activation == Activation::Relu;
        forward_blocks(self.weights, self.bias, x, out, relu);
        if !relu {
            self.activation.apply_slice(out);
        }
        Ok(())
    }

    /// The same layer through nalgebra: per block, `y4 = 1 * W4 x + 1 * y4` with `W4` a 4 x `in`
    /// column-major view and `y4` the block's biases. nalgebra's `gemv` adds one column at a time
    /// (`y += x[k] * W4[:, k]`), so the result has the same bits as [`Self::forward`]. Kept for the
    /// benchmark that chose between them.
    pub fn forward_nalgebra(&self, input: &[f32], output: &mut [f32]) -> Result<(), NnError> {
        use nalgebra::{Dyn, MatrixView, Vector4, U4};
        check_min_len("input", input.len(), self.in_dim)?;
        let rows = padded_rows(self.out_dim);
        check_min_len("output", output.len(), rows)?;
        let x =
            nalgebra::DVectorView::from_slice(input.get(..self.in_dim).unwrap_or(&[]), self.in_dim);
        let out = output.get_mut(..rows).unwrap_or(&mut []);
        for ((w, b), y) in self
            .weights
            .chunks_exact(BLOCK * self.in_dim)
            .zip(self.bias.chunks_exact(BLOCK))
            .zip(out.chunks_exact_mut(BLOCK))
        {
            let m = MatrixView::<f32, U4, Dyn>::from_slice_generic(w, U4, Dyn(self.in_dim));
            let mut acc = Vector4::new(b[0], b[1], b[2], b[3]);
            acc.gemv(1.0, &m, &x, 1.0);
            y.copy_from_slice(acc.as_slice());
        }
        self.activation.apply_slice(out);
        Ok(())
    }
}

/// Blocks computed together by the f32 kernel: each input load is shared by `4 * F32_GROUP` rows
/// and the CPU gets `F32_GROUP` independent add chains. 8 on hosts with 16 vector registers; 4 on
/// Cortex-M4F, whose 32 single-precision registers hold 16 accumulators plus their operands (the
/// VLDM/VMLA kernel of `dsp.rs`). The group size changes the speed only: each row's sum runs
/// `k = 0, 1, 2, …` whatever it is.
#[cfg(target_arch = "arm")]
const F32_GROUP: usize = 4;
#[cfg(not(target_arch = "arm"))]
const F32_GROUP: usize = 8;

// Which won: the plain loop. Criterion, `cargo bench -p picorl-benches --bench main -- nn/dense_f32`,
// x86-64 (shared 2-core VM, so ±20 %), the same block layout and the same bits:
//   64x64:   loop 0.69 µs, nalgebra `gemv` 1.69 µs (2.5x slower);
//   256x256: loop 9.2 µs,  nalgebra `gemv` 29.3 µs (3.2x slower).
// Before this 8-block grouping the loop was already ahead (1.04 vs 1.46 µs, 17.4 vs 34.2 µs):
// nalgebra's gemv over a 4-row view runs one 4-wide add chain at a time. On Cortex-M4F the loop is
// the VLDM/VMLA kernel of `dsp.rs` (1.55 instructions per MAC for 64x64 under QEMU).
fn forward_blocks(weights: &[f32], bias: &[f32], x: &[f32], out: &mut [f32], relu: bool) {
    let block_len = BLOCK * x.len();
    if block_len == 0 {
        return;
    }
    let mut w_groups = weights.chunks_exact(F32_GROUP * block_len);
    let mut b_groups = bias.chunks_exact(F32_GROUP * BLOCK);
    let mut o_groups = out.chunks_exact_mut(F32_GROUP * BLOCK);
    for ((w, b), o) in (&mut w_groups).zip(&mut b_groups).zip(&mut o_groups) {
        #[cfg(all(target_arch = "arm", target_feature = "dsp", target_abi = "eabihf"))]
        {
            if super::dsp::dense_f32_group(w, b, x, o, relu) {
                continue;
            }
        }
        forward_group::<F32_GROUP>(w, b, x, o, relu);
    }
    let w = w_groups.remainder();
    let b = b_groups.remainder();
    let o = o_groups.into_remainder();
    for ((w, b), o) in w
        .chunks_exact(block_len)
        .zip(b.chunks_exact(BLOCK))
        .zip(o.chunks_exact_mut(BLOCK))
    {
        forward_group::<1>(w, b, x, o, relu);
    }
}

/// `NB` consecutive blocks: `w` holds their `NB * 4 * in` weights, `b` and `o` their `4 * NB` rows.
#[inline(always)]
fn forward_group<const NB: usize>(w: &[f32], b: &[f32], x: &[f32], o: &mut [f32], relu: bool) {
    let block_len = BLOCK * x.len();
    let mut acc = [[0.0f32; BLOCK]; NB];
    for (a, bb) in acc.iter_mut().zip(b.chunks_exact(BLOCK)) {
        a.copy_from_slice(bb);
    }
    let n = x.len();
    // The group's weights as `[f32; 4]` per (block, input): block `j` is `blocks[j]`, `n` long.
    let w4: &[[f32; BLOCK]] = bytemuck::cast_slice(w.get(..NB * block_len).unwrap_or(&[]));
    let blocks: [&[[f32; BLOCK]]; NB] =
        core::array::from_fn(|j| w4.get(j * n..(j + 1) * n).unwrap_or(&[]));
    if blocks.iter().any(|b| b.len() != n) {
        return;
    }
    for k in 0..n {
        let xk = x[k];
        for (a, b) in acc.iter_mut().zip(blocks.iter()) {
            let wk = b[k];
            a[0] += wk[0] * xk;
            a[1] += wk[1] * xk;
            a[2] += wk[2] * xk;
            a[3] += wk[3] * xk;
        }
    }
    for (oo, a) in o.chunks_exact_mut(BLOCK).zip(acc.iter()) {
        for (y, &v) in oo.iter_mut().zip(a) {
            *y = if relu { super::activation::relu(v) } else { v };
        }
    }
}

/// TFLite's per-channel `(multiplier, shift)` in the form the int8 kernels consume, four i32 words:
/// `[multiplier, left_shift + 1, round, right_shift + 1]` with `left_shift = max(shift, 0)`,
/// `right_shift = max(-shift, 0)` and `round = 1 << min(right_shift, 30)`.
///
/// With the accumulator bound the model reader enforces (`|acc << left_shift| < 2^29` for every
/// input), `SaturatingRoundingDoublingHighMul(acc << left_shift, m)` is one SMMULR of
/// `acc << (left_shift + 1)` by `m` and `RoundingDivideByPOT(x, right_shift)` is
/// `(2x + round - (x < 0)) >> (right_shift + 1)`: both exact, so the Cortex-M4 kernel gives TFLM's
/// bits with 6 instructions per channel (`dsp.rs`). The portable kernel uses TFLM's formula itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelRequant {
    /// TFLite's quantized multiplier, `0..=i32::MAX`.
    pub multiplier: i32,
    /// TFLite's shift, `-31..=30` (positive: left).
    pub shift: i32,
}

impl KernelRequant {
    /// The four stored words.
    pub const fn to_words(self) -> [i32; 4] {
        let left = if self.shift > 0 { self.shift } else { 0 };
        let right = if self.shift < 0 { -self.shift } else { 0 };
        let round_shift = if right > 30 { 30 } else { right };
        [self.multiplier, left + 1, 1 << round_shift, right + 1]
    }

    /// The requantization stored as `words`, if they are consistent (a non-negative multiplier, a
    /// shift in `-31..=30`, and `round` as derived).
    pub const fn from_words(words: [i32; 4]) -> Option<Self> {
        let [multiplier, left1, round, right1] = words;
        if multiplier < 0 || left1 < 1 || left1 > 31 || right1 < 1 || right1 > 32 {
            return None;
        }
        if left1 != 1 && right1 != 1 {
            return None;
        }
        let shift = left1 - right1;
        let k = Self { multiplier, shift };
        let w = k.to_words();
        if w[2] != round {
            return None;
        }
        Some(k)
    }
}

/// An int8 dense layer exactly as TFLM's per-channel FULLY_CONNECTED, over borrowed weights in the
/// SMLAD layout (module docs).
///
/// Activations travel between layers as i16 holding int8 values (the SMLAD operand width); inputs
/// past `in_dim` up to `padded_depth(in_dim)` meet zero weights.
#[derive(Debug, Clone, Copy)]
pub struct DenseI8<'a> {
    in_dim: usize,
    out_dim: usize,
    weights: &'a [i16],
    params: &'a [[i32; BLOCK_PARAM_WORDS]],
    output_zero_point: i32,
    relu: bool,
}

impl<'a> DenseI8<'a> {
    /// Index of `w[row][col]` in the stored layout of a layer with `in_dim` inputs.
    pub const fn weight_index(in_dim: usize, row: usize, col: usize) -> usize {
        let pairs = padded_depth(in_dim) / 2;
        (((row / BLOCK) * pairs + col / 2) * BLOCK + row % BLOCK) * 2 + col % 2
    }

    /// A layer over `weights` (`padded_rows(out_dim) * padded_depth(in_dim)` values, stored
    /// layout) and `params` (one record per block of 4 rows).
    ///
    /// Bit-exactness with TFLM (and between the portable and the Cortex-M4 kernels) holds when the
    /// records satisfy the accumulator bound the model reader checks; this constructor checks shapes
    /// only, and any content gives a result without panicking.
    pub fn new(
        in_dim: usize,
        out_dim: usize,
        weights: &'a [i16],
        params: &'a [[i32; BLOCK_PARAM_WORDS]],
        activation: Activation,
        output_zero_point: i32,
    ) -> Result<Self, NnError> {
        if in_dim == 0 || out_dim == 0 {
            return Err(NnError::EmptyShape);
        }
        if !activation.int8_supported() && activation.int8_table().is_none() {
            return Err(NnError::UnsupportedActivation);
        }
        // Without an activation, the zero point is only added before the clamp: a network's last
        // layer may offset its output range beyond int8's (`QuantParams::from_output_range`).
        let zp_ok = if activation == Activation::Identity {
            let m = super::quant::MAX_OUTPUT_ZERO_POINT;
            (-m..=m).contains(&output_zero_point)
        } else {
            (-128..=127).contains(&output_zero_point)
        };
        if !zp_ok {
            return Err(NnError::ZeroPoint);
        }
        let rows = padded_rows(out_dim);
        check_len(
            "weights",
            weights.len(),
            rows.saturating_mul(padded_depth(in_dim)),
        )?;
        check_len("params", params.len(), rows / BLOCK)?;
        Ok(Self {
            in_dim,
            out_dim,
            weights,
            params,
            output_zero_point,
            relu: activation == Activation::Relu,
        })
    }

    /// Inputs.
    pub const fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Outputs (without padding).
    pub const fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// The output zero point.
    pub const fn output_zero_point(&self) -> i32 {
        self.output_zero_point
    }

    /// Whether ReLU is fused into the output clamp.
    pub const fn relu(&self) -> bool {
        self.relu
    }

    /// `w[row][col]`, if inside the shape.
    pub fn weight(&self, row: usize, col: usize) -> Option<i16> {
        if row >= self.out_dim || col >= self.in_dim {
            return None;
        }
        self.weights
            .get(Self::weight_index(self.in_dim, row, col))
            .copied()
    }

    /// The stored (zero-point folded) bias of output `row`.
    pub fn folded_bias(&self, row: usize) -> Option<i32> {
        if row >= self.out_dim {
            return None;
        }
        self.params.get(row / BLOCK).map(|p| p[row % BLOCK])
    }

    /// The requantization of output `row`, if its stored words are consistent.
    pub fn requant(&self, row: usize) -> Option<KernelRequant> {
        if row >= self.out_dim {
            return None;
        }
        let p = self.params.get(row / BLOCK)?;
        let i = BLOCK + 4 * (row % BLOCK);
        KernelRequant::from_words([p[i], p[i + 1], p[i + 2], p[i + 3]])
    }

    /// Computes the layer: reads `input[..padded_depth(in_dim)]` (int8 values as i16), writes
    /// `output[..padded_rows(out_dim)]`.
    ///
    /// On Cortex-M4 (`target_feature = "dsp"`) with word-aligned buffers this runs the SMLAD kernel
    /// of `dsp.rs`; elsewhere the portable kernel. Both give TFLM's bits for any model the reader
    /// accepts.
    #[inline]
    pub fn forward(&self, input: &[i16], output: &mut [i16]) -> Result<(), NnError> {
        let depth = padded_depth(self.in_dim);
        let rows = padded_rows(self.out_dim);
        check_min_len("input", input.len(), depth)?;
        check_min_len("output", output.len(), rows)?;
        let x = input.get(..depth).unwrap_or(&[]);
        let out = output.get_mut(..rows).unwrap_or(&mut []);
        #[cfg(all(target_arch = "arm", target_feature = "dsp"))]
        {
            if super::dsp::dense_i8(
                self.weights,
                self.params,
                x,
                out,
                self.output_zero_point,
                self.relu,
            ) {
                return Ok(());
            }
        }
        self.forward_portable(x, out);
        Ok(())
    }

    /// The portable kernel, whatever the target. It computes what the Cortex-M4 kernel's
    /// instructions compute ([`requantize_kernel`]), so the two agree bit for bit on any
    /// parameters, and both agree with TFLM wherever the accumulator bound holds (every model the
    /// reader accepts). `x` and `out` must have the padded lengths; shorter slices compute fewer rows.
    pub fn forward_portable(&self, x: &[i16], out: &mut [i16]) {
        let depth = padded_depth(self.in_dim);
        let block_len = BLOCK * depth;
        let zp = self.output_zero_point;
        let x_pairs: &[[i16; 2]] = bytemuck::cast_slice(x.get(..depth).unwrap_or(&[]));
        for ((w, p), o) in self
            .weights
            .chunks_exact(block_len)
            .zip(self.params)
            .zip(out.chunks_exact_mut(BLOCK))
        {
            let w_pairs: &[[i16; 2 * BLOCK]] = bytemuck::cast_slice(w);
            let acc = mac_block(w_pairs, x_pairs, [p[0], p[1], p[2], p[3]]);
            let rq: &[[i32; 4]] = bytemuck::cast_slice(p.get(BLOCK..).unwrap_or(&[]));
            for ((o, a), words) in o.iter_mut().zip(acc).zip(rq) {
                *o = requantize_kernel(a, *words, zp, self.relu);
            }
        }
    }
}

/// One block's accumulators: `acc[r] = bias[r] + sum_p (w[p][2r] * x[p][0] + w[p][2r+1] * x[p][1])`,
/// wrapping at 32 bits as SMLAD does. Integer sums are exact in any order, so every variant gives
/// the same bits.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn mac_block(
    w_pairs: &[[i16; 2 * BLOCK]],
    x_pairs: &[[i16; 2]],
    bias: [i32; BLOCK],
) -> [i32; BLOCK] {
    let mut acc = bias;
    for (wv, xp) in w_pairs.iter().zip(x_pairs) {
        let (x0, x1) = (xp[0] as i32, xp[1] as i32);
        for (a, wr) in acc.iter_mut().zip(wv.chunks_exact(2)) {
            *a = a.wrapping_add((wr[0] as i32 * x0).wrapping_add(wr[1] as i32 * x1));
        }
    }
    acc
}

/// [`mac_block`] on x86-64: SSE2's PMADDWD (`dsp.rs`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mac_block(
    w_pairs: &[[i16; 2 * BLOCK]],
    x_pairs: &[[i16; 2]],
    bias: [i32; BLOCK],
) -> [i32; BLOCK] {
    super::dsp::mac_block_sse2(w_pairs, x_pairs, bias)
}

/// One channel's requantization exactly as the Cortex-M4 kernel's instructions compute it
/// (`nn/dsp.rs`), from the [`KernelRequant`] words `[m, l1, round, r1]`:
/// `x = SMMULR(acc LSL l1, m)`, `y = (round + 2x - (x < 0)) ASR r1`, ReLU as `max(y, 0)`, then
/// `SSAT(y + zp, 8)`. Register-specified shifts use the bottom byte of the amount, as ARM's do.
/// Equal to TFLM's `MultiplyByQuantizedMultiplier` + zero point + clamp whenever
/// `|acc| << left_shift < 2^29` (the model reader's accumulator bound; `tests/nn_dsp_model.rs`).
#[inline(always)]
pub fn requantize_kernel(acc: i32, words: [i32; 4], output_zero_point: i32, relu: bool) -> i16 {
    let [m, l1, round, r1] = words;
    let l1 = (l1 as u32) & 0xFF;
    let a = if l1 >= 32 {
        0
    } else {
        ((acc as u32) << l1) as i32
    };
    let x = ((a as i64 * m as i64 + 0x8000_0000) >> 32) as i32;
    let t = round
        .wrapping_add(x.wrapping_shl(1))
        .wrapping_sub(((x as u32) >> 31) as i32);
    let y = t >> ((r1 as u32) & 0xFF).min(31);
    let y = if relu && y < 0 { 0 } else { y };
    y.wrapping_add(output_zero_point).clamp(-128, 127) as i16
}
