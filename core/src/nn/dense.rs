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
use super::quant;
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
    /// An activation the int8 path does not run (tanh).
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
                write!(f, "int8 layers support identity and relu only")
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
        forward_blocks(self.weights, self.bias, x, out);
        self.activation.apply_slice(out);
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

// Two blocks (8 rows) share each input load and give the CPU two independent add chains; each
// row's sum still runs k = 0, 1, 2, … one multiply and one add at a time.
//
// Benchmark (criterion, `cargo bench -p picorl-benches -- nn/f32`, x86-64 host, 2 cores): see the
// README of the benches or the report of issue 5 for the current figures; the plain loop beat
// nalgebra's gemv on every shape measured.
fn forward_blocks(weights: &[f32], bias: &[f32], x: &[f32], out: &mut [f32]) {
    let in_dim = x.len();
    if in_dim == 0 {
        return;
    }
    let block_len = BLOCK * in_dim;
    let mut w_pairs = weights.chunks_exact(2 * block_len);
    let mut b_pairs = bias.chunks_exact(2 * BLOCK);
    let mut o_pairs = out.chunks_exact_mut(2 * BLOCK);
    for ((w, b), o) in (&mut w_pairs).zip(&mut b_pairs).zip(&mut o_pairs) {
        let (w0, w1) = w.split_at(block_len);
        let mut a = [b[0], b[1], b[2], b[3]];
        let mut c = [b[4], b[5], b[6], b[7]];
        for ((wa, wc), &xk) in w0.chunks_exact(BLOCK).zip(w1.chunks_exact(BLOCK)).zip(x) {
            a[0] += wa[0] * xk;
            a[1] += wa[1] * xk;
            a[2] += wa[2] * xk;
            a[3] += wa[3] * xk;
            c[0] += wc[0] * xk;
            c[1] += wc[1] * xk;
            c[2] += wc[2] * xk;
            c[3] += wc[3] * xk;
        }
        o[..BLOCK].copy_from_slice(&a);
        o[BLOCK..].copy_from_slice(&c);
    }
    // The odd block left over, if any.
    let w = w_pairs.remainder();
    let b = b_pairs.remainder();
    let o = o_pairs.into_remainder();
    if let (Some(w), Some(b), Some(o)) = (w.get(..block_len), b.get(..BLOCK), o.get_mut(..BLOCK)) {
        let mut a = [b[0], b[1], b[2], b[3]];
        for (wa, &xk) in w.chunks_exact(BLOCK).zip(x) {
            a[0] += wa[0] * xk;
            a[1] += wa[1] * xk;
            a[2] += wa[2] * xk;
            a[3] += wa[3] * xk;
        }
        o.copy_from_slice(&a);
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
        if !activation.int8_supported() {
            return Err(NnError::UnsupportedActivation);
        }
        if !(-128..=127).contains(&output_zero_point) {
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

    /// The portable kernel, whatever the target (the reference the Cortex-M4 kernel is checked
    /// against). `x` and `out` must have the padded lengths; shorter slices compute fewer rows.
    pub fn forward_portable(&self, x: &[i16], out: &mut [i16]) {
        let block_len = BLOCK * padded_depth(self.in_dim);
        let zp = self.output_zero_point;
        for ((w, p), o) in self
            .weights
            .chunks_exact(block_len)
            .zip(self.params)
            .zip(out.chunks_exact_mut(BLOCK))
        {
            let mut acc = [p[0], p[1], p[2], p[3]];
            for (w8, xp) in w.chunks_exact(2 * BLOCK).zip(x.chunks_exact(2)) {
                let x0 = xp[0] as i32;
                let x1 = xp[1] as i32;
                for (a, wr) in acc.iter_mut().zip(w8.chunks_exact(2)) {
                    // One SMLAD: two 16x16 products and the accumulator, wrapping at 32 bits.
                    *a = a.wrapping_add((wr[0] as i32 * x0).wrapping_add(wr[1] as i32 * x1));
                }
            }
            for (r, (o, a)) in o.iter_mut().zip(acc).enumerate() {
                let i = BLOCK + 4 * r;
                // The shift as stored (`left + 1`, `right + 1`); the reader checked consistency.
                let shift = p[i + 1] - p[i + 3];
                *o = quant::requantize(a, p[i], shift, zp, self.relu) as i16;
            }
        }
    }
}
