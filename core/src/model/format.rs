//! The fixed facts of the format: magic, versions, sizes and limits, the byte offsets of the
//! header and layer-record fields (checked against the sizes at compile time), the header flags,
//! and the enums the header codes (model kind, head kind) with the types derived from them.

/// The first 8 bytes of every `.picorl` file (a PNG-style magic: a high byte, the name, a newline).
pub const MAGIC: [u8; 8] = *b"\x89PICORL\n";
/// The format version this writer writes; the reader reads it, [`VERSION_2`] and [`VERSION_1`].
/// Version 3 lets the last int8 layer's output (identity activation) have a zero point beyond
/// int8, up to `quant::MAX_OUTPUT_ZERO_POINT` in size (an output range without 0).
pub const VERSION: u16 = 3;
/// The second format version: metadata, int8 TANH and LOGISTIC; every zero point int8. Still read.
pub const VERSION_2: u16 = 2;
/// The first format version: no metadata, int8 layers identity or ReLU only. Still read.
pub const VERSION_1: u16 = 1;
/// Longest metadata section a reader accepts.
pub const MAX_META_LEN: usize = 4096;
/// Bytes in the header.
pub const HEADER_LEN: usize = 64;
/// Bytes in one layer record of the layer table.
pub const LAYER_RECORD_LEN: usize = 32;
/// Alignment of every section (and of the CRC) inside the file.
pub const ALIGN: usize = 16;
/// Alignment the reader needs of the caller's buffer (f32/i32 sections are read in place).
pub const BUFFER_ALIGN: usize = 4;

/// Limits the reader enforces (bigger models are rejected, not truncated).
pub mod limits {
    /// Most layers in an MLP.
    pub const MAX_LAYERS: usize = 16;
    /// Most inputs or outputs of one layer (and most observation values).
    pub const MAX_WIDTH: usize = 4096;
    /// Most components of a continuous action.
    pub const MAX_CONTINUOUS_ACTION_DIM: usize = 32;
    /// Most discrete actions.
    pub const MAX_DISCRETE_ACTIONS: usize = 4096;
    /// Most states of a tabular model.
    pub const MAX_STATES: usize = 1 << 20;
    /// Most entries of a Q-table (states x actions).
    pub const MAX_TABLE_ENTRIES: usize = 1 << 24;
    /// Most bytes in a file.
    pub const MAX_FILE_LEN: usize = 1 << 30;
}

/// Byte offsets of the header fields (all little-endian).
pub mod header {
    /// `[u8; 8]`: [`super::MAGIC`].
    pub const MAGIC: usize = 0;
    /// `u16`: [`super::VERSION`].
    pub const VERSION: usize = 8;
    /// `u8`: [`super::ModelKind`] code.
    pub const KIND: usize = 10;
    /// `u8`: [`super::HeadKind`] code.
    pub const HEAD: usize = 11;
    /// `u32`: bit 0 = observation normalization present; other bits zero.
    pub const FLAGS: usize = 12;
    /// `u32`: values in one observation (1 for tabular models).
    pub const OBS_DIM: usize = 16;
    /// `u32`: discrete: number of actions; continuous: action components.
    pub const ACTION_DIM: usize = 20;
    /// `u32`: layers (MLP) or states (tabular).
    pub const COUNT: usize = 24;
    /// `u32`: bytes in the whole file, CRC included.
    pub const FILE_LEN: usize = 28;
    /// `f32`: normalization clip (SB3 `clip_obs`), > 0, may be +inf; 0 without normalization.
    pub const NORM_CLIP: usize = 32;
    /// `f32`: normalization epsilon (SB3 `epsilon`), finite, >= 0; 0 without normalization.
    pub const NORM_EPS: usize = 36;
    /// `f32`: int8 models: the scale of the quantized observation; else 0.
    pub const INPUT_SCALE: usize = 40;
    /// `i32`: int8 models: the zero point of the quantized observation; else 0.
    pub const INPUT_ZERO_POINT: usize = 44;
    /// `u32` (version 2): bytes of the `meta` section, `0..=MAX_META_LEN` (0: none). Version 1:
    /// reserved, zero.
    pub const META_LEN: usize = 48;
    /// `[u8; 12]`: reserved, zero.
    pub const RESERVED: usize = 52;
}

/// Byte offsets inside one layer record.
pub mod layer_record {
    /// `u32`: inputs.
    pub const IN_DIM: usize = 0;
    /// `u32`: outputs.
    pub const OUT_DIM: usize = 4;
    /// `u8`: [`crate::nn::Activation`] code (0 identity, 1 ReLU, 2 tanh).
    pub const ACTIVATION: usize = 8;
    /// `[u8; 3]`: reserved, zero.
    pub const RESERVED0: usize = 9;
    /// `f32`: int8: output scale; f32 layers: 0.
    pub const OUT_SCALE: usize = 12;
    /// `i32`: int8: output zero point; f32 layers: 0.
    pub const OUT_ZERO_POINT: usize = 16;
    /// `[u8; 12]`: reserved, zero.
    pub const RESERVED1: usize = 20;
}

const _: () = assert!(header::RESERVED + 12 == HEADER_LEN);
const _: () = assert!(layer_record::RESERVED1 + 12 == LAYER_RECORD_LEN);
const _: () = assert!(HEADER_LEN.is_multiple_of(ALIGN) && LAYER_RECORD_LEN.is_multiple_of(ALIGN));

/// Flag bit: observation normalization present.
pub const FLAG_NORMALIZATION: u32 = 1;

/// What computes the head's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// An MLP in f32.
    MlpF32,
    /// An MLP in TFLM-exact int8.
    MlpInt8,
    /// A table of greedy actions, one per state.
    GreedyTable,
    /// A Q-table, `states x actions` f32 values, acted on by argmax.
    QTable,
}

impl ModelKind {
    /// The code stored in the header.
    pub const fn code(self) -> u8 {
        match self {
            ModelKind::MlpF32 => 1,
            ModelKind::MlpInt8 => 2,
            ModelKind::GreedyTable => 3,
            ModelKind::QTable => 4,
        }
    }

    /// The kind stored under `code`.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ModelKind::MlpF32),
            2 => Some(ModelKind::MlpInt8),
            3 => Some(ModelKind::GreedyTable),
            4 => Some(ModelKind::QTable),
            _ => None,
        }
    }
}

/// How the model's outputs become an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// Argmax over logits or Q-values (lowest index wins a tie).
    Discrete,
    /// `low + (tanh(mean) + 1) / 2 * (high - low)`.
    ContinuousTanh,
    /// `clamp(mean, low, high)`.
    ContinuousClip,
}

impl HeadKind {
    /// The code stored in the header.
    pub const fn code(self) -> u8 {
        match self {
            HeadKind::Discrete => 1,
            HeadKind::ContinuousTanh => 2,
            HeadKind::ContinuousClip => 3,
        }
    }

    /// The head stored under `code`.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(HeadKind::Discrete),
            2 => Some(HeadKind::ContinuousTanh),
            3 => Some(HeadKind::ContinuousClip),
            _ => None,
        }
    }
}

/// The number type inference runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantKind {
    /// f32 (MLPs in f32 and tabular models).
    F32,
    /// int8 with int32 accumulators (TFLM's arithmetic).
    Int8,
}

/// The action a model produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionSpec {
    /// One of `n` actions.
    Discrete {
        /// Number of actions.
        n: u32,
    },
    /// `dim` bounded components.
    Continuous {
        /// Components.
        dim: usize,
    },
}
