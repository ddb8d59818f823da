//! Activations between dense layers.
//!
//! f32: identity, ReLU and tanh. ReLU is written with comparisons (`x > 0 ? x : 0`), not
//! `f32::max`, so that `-0.0` and NaN give the same bits on every target; tanh is `libm::tanhf`,
//! the same software routine on x86 and Cortex-M.
//!
//! int8: identity and ReLU are fused into the layer's output clamp as TFLite does
//! (`activation_range`). Tanh and sigmoid are TFLite's separate int8 TANH and LOGISTIC ops after an
//! identity layer, computed bit for bit as TFLM's reference kernels do (`int8_act`), from a
//! 256-entry table the model file carries (format version 2). A tanh-squashed continuous head
//! applies its tanh in f32 to the dequantized output of the last (identity) int8 layer.

use core::fmt;

/// An activation applied to each output of a dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x`.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `tanh(x)` (f32: `libm::tanhf`; int8: TFLM's TANH, format version 2).
    Tanh,
    /// `1 / (1 + exp(-x))` (f32: `libm::expf`; int8: TFLM's LOGISTIC; format version 2).
    Sigmoid,
    /// `clamp(x, -1, 1)` (f32 layers only; TFLite's `RELU_N1_TO_1`). It trains like tanh but is
    /// exact in int8: an int8 layer whose output range is `[-1, 1]` saturates exactly where
    /// `RELU_N1_TO_1` clamps (its activation range is then the whole int8 range), so the exporter
    /// writes such a layer as an identity int8 layer with that output range.
    HardTanh,
}

impl Activation {
    /// The code stored in a `.picorl` layer record.
    pub const fn code(self) -> u8 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Tanh => 2,
            Activation::HardTanh => 3,
            Activation::Sigmoid => 4,
        }
    }

    /// The activation stored under `code`, if any.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Activation::Identity),
            1 => Some(Activation::Relu),
            2 => Some(Activation::Tanh),
            3 => Some(Activation::HardTanh),
            4 => Some(Activation::Sigmoid),
            _ => None,
        }
    }

    /// Whether the int8 path can run this activation (fused into the output clamp).
    pub const fn int8_supported(self) -> bool {
        matches!(self, Activation::Identity | Activation::Relu)
    }

    /// The int8 activation computed by table after an identity layer (TFLM's TANH, LOGISTIC).
    pub const fn int8_table(self) -> Option<crate::nn::int8_act::TableActivation> {
        match self {
            Activation::Tanh => Some(crate::nn::int8_act::TableActivation::Tanh),
            Activation::Sigmoid => Some(crate::nn::int8_act::TableActivation::Logistic),
            _ => None,
        }
    }

    /// Applies the activation to one f32 value.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => relu(x),
            Activation::Tanh => libm::tanhf(x),
            Activation::HardTanh => hard_tanh(x),
            Activation::Sigmoid => sigmoid(x),
        }
    }

    /// Applies the activation to every value of `xs`.
    pub fn apply_slice(self, xs: &mut [f32]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => xs.iter_mut().for_each(|x| *x = relu(*x)),
            Activation::Tanh => xs.iter_mut().for_each(|x| *x = libm::tanhf(*x)),
            Activation::HardTanh => xs.iter_mut().for_each(|x| *x = hard_tanh(*x)),
            Activation::Sigmoid => xs.iter_mut().for_each(|x| *x = sigmoid(*x)),
        }
    }
}

/// `clamp(x, -1, 1)` with comparisons (NaN gives `-1.0`, the same bits on every target).
#[inline(always)]
pub fn hard_tanh(x: f32) -> f32 {
    if x > 1.0 {
        1.0
    } else if x > -1.0 {
        x
    } else {
        -1.0
    }
}

/// `1 / (1 + exp(-x))` in f32 with `libm::expf` (the same bits on every target).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

/// ReLU with a fixed answer for `-0.0` (`+0.0`) and NaN (`+0.0`) on every target.
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::HardTanh => "hardtanh",
            Activation::Sigmoid => "sigmoid",
        })
    }
}
