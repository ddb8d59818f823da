//! Fixed-capacity MLP inference: dense layers and activations in f32, and an integer-only int8
//! path that computes exactly what TensorFlow Lite Micro's reference FULLY_CONNECTED kernel does.
//!
//! Contract:
//! - **No heap, no panic.** Layers borrow their weights (from a `.picorl` file, in place) and write
//!   into caller-supplied buffers; a buffer of the wrong size is an [`NnError`].
//! - **Bounded time.** A layer does the same work for every input: loops run over the shape only.
//! - **Bit-exact.** f32: one multiply and one add per weight, in a fixed order (never fused), so
//!   x86 and Cortex-M4F give the same bits. int8: TFLM's per-channel arithmetic
//!   ([`quant`]), the same bits from the portable kernel and from the target kernels of `dsp.rs`
//!   (Cortex-M4 SMLAD, x86-64 PMADDWD; the f32 Cortex-M4F VLDM/VMLA kernel too), the crate's only
//!   `unsafe`.
//!
//! Int8 and tanh: hidden int8 layers use ReLU or identity, fused into the output clamp as TFLite
//! does, or tanh and sigmoid, computed after an identity layer exactly as TFLM's int8 TANH and
//! LOGISTIC kernels compute them ([`int8_act`], by table); a tanh-squashed policy head applies tanh
//! in f32 after dequantizing the last (identity) layer (see [`activation`]).
//!
//! - [`activation`]: [`Activation`] (identity, ReLU, tanh, hardtanh, sigmoid).
//! - [`dense`]: [`DenseF32`], [`DenseI8`] and the stored weight layouts.
//! - [`int8_act`]: TFLM's int8 TANH and LOGISTIC, bit for bit, as 256-entry tables.
//! - [`quant`]: TFLite's integer arithmetic (`MultiplyByQuantizedMultiplier`,
//!   `QuantizeMultiplier`, …) and the quantizers the exporter uses.

pub mod activation;
pub mod dense;
#[cfg(any(
    all(target_arch = "arm", target_feature = "dsp"),
    target_arch = "x86_64"
))]
mod dsp;
pub mod int8_act;
pub mod quant;

pub use activation::Activation;
pub use dense::{
    padded_depth, padded_rows, DenseF32, DenseI8, KernelRequant, NnError, BLOCK, BLOCK_PARAM_WORDS,
};
pub use quant::{QuantError, QuantParams};
