//! The `.picorl` model format, version 2 (version 1 still read): a checked, zero-copy view of a model's bytes, and a
//! writer that produces them. The byte-by-byte specification is `docs/model-format.md`.
//!
//! Contract:
//! - **Checked once, then infallible.** [`ModelView::new_checked`] (or [`Model::parse`]) verifies
//!   every length, offset, count, enum, padding byte, value range and the CRC-32 before it returns;
//!   afterwards no accessor can fail or panic, and inference never re-checks.
//! - **Zero copy.** Weights are read in place from the caller's buffer: it must start on a 4-byte
//!   boundary ([`ModelError::Misaligned`] otherwise; sections inside the file are 16-byte aligned).
//!   Use [`Aligned`] (or [`include_model!`](crate::include_model)) for a model in flash, and a
//!   `Vec<u32>`/`Vec<u128>`-backed buffer on the host.
//! - **One place for the format.** [`write()`] builds a file from a [`ModelSpec`] (the host fills it
//!   from trained weights), quantizing with [`crate::nn::quant`] for int8; the reader and the writer
//!   share the layout code, and the writer checks its output with the reader.
//! - **A typed error that names the fault.** [`ModelError`] says which field or section, at which
//!   byte, and why.
//!
//! ```
//! use picorl_core::model::{self, Model, ModelSpec, HeadSpec, BodySpec, LayerSpec};
//! use picorl_core::nn::Activation;
//! // A 2-input, 2-action linear policy.
//! let w = [1.0f32, 0.0, 0.0, 1.0];
//! let b = [0.0f32, 0.5];
//! let layers = [LayerSpec { in_dim: 2, out_dim: 2, weights: &w, bias: &b, activation: Activation::Identity }];
//! let spec = ModelSpec {
//!     obs_dim: 2,
//!     normalization: None,
//!     head: HeadSpec::Discrete { n: 2 },
//!     body: BodySpec::MlpF32 { layers: &layers },
//! };
//! let mut buf = [0u32; 64]; // word-aligned storage
//! let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut buf);
//! let n = model::write(&spec, bytes).unwrap();
//! let m = Model::parse(&bytes[..n]).unwrap();
//! assert_eq!((m.obs_dim(), m.macs()), (2, 4));
//! ```

mod crc32;
mod layout;
mod write;

pub use crc32::{crc32, crc32_const, Crc32};
pub use layout::{Section, Span, ACT_TABLE_LEN};
pub use write::{
    required_len, required_len_with_meta, write, write_with_meta, BodySpec, HeadSpec, LayerSpec,
    MetaSpec, ModelSpec, NormSpec, WriteError,
};

use crate::nn::{
    padded_depth, padded_rows, quant, Activation, DenseF32, DenseI8, KernelRequant, QuantParams,
};
use crate::nn::{BLOCK, BLOCK_PARAM_WORDS};
use core::fmt;
use layout::{Cursor, LayerDims, Shape};

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
const _: () = assert!(HEADER_LEN % ALIGN == 0 && LAYER_RECORD_LEN % ALIGN == 0);

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

/// Why bytes are not a valid model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelError {
    /// The buffer ends before byte `needed`.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        len: usize,
    },
    /// The first 8 bytes are not [`MAGIC`].
    BadMagic,
    /// A format version this reader does not read.
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// The buffer holds bytes past the file length the header declares.
    TrailingBytes {
        /// The declared length.
        declared: usize,
        /// Bytes given.
        len: usize,
    },
    /// The CRC-32 stored at the end does not match the bytes.
    Checksum {
        /// The CRC stored.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The buffer does not start on a [`BUFFER_ALIGN`]-byte boundary (weights are read in place).
    Misaligned {
        /// The buffer's address modulo [`BUFFER_ALIGN`].
        misalignment: usize,
    },
    /// A header or layer-record field holds a value the format does not allow.
    Field {
        /// The field, as `docs/model-format.md` names it (`"header.kind"`, `"layer.out_dim"`, …).
        field: &'static str,
        /// Its byte offset in the file.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The sections the header describes end at `expected`, not at the declared length.
    Layout {
        /// The length the sections imply (CRC included).
        expected: usize,
        /// The declared length.
        declared: usize,
    },
    /// A value inside a section is not allowed.
    Value {
        /// The section.
        section: Section,
        /// Index of the value inside the section (in elements).
        index: usize,
        /// Its byte offset in the file.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ModelError::Truncated { needed, len } => {
                write!(f, "truncated: {len} bytes, need at least {needed}")
            }
            ModelError::BadMagic => write!(f, "not a .picorl file (bad magic)"),
            ModelError::UnsupportedVersion { version } => {
                write!(f, "unsupported .picorl version {version} (this reader reads {VERSION_1}, {VERSION_2} and {VERSION})")
            }
            ModelError::TrailingBytes { declared, len } => {
                write!(f, "{len} bytes given but header.file_len says {declared}")
            }
            ModelError::Checksum { stored, computed } => {
                write!(f, "checksum mismatch: stored CRC-32 {stored:#010x}, computed {computed:#010x}")
            }
            ModelError::Misaligned { misalignment } => write!(
                f,
                "model buffer is not {BUFFER_ALIGN}-byte aligned (address % {BUFFER_ALIGN} = {misalignment})"
            ),
            ModelError::Field { field, offset, reason } => {
                write!(f, "{field} at byte {offset}: {reason}")
            }
            ModelError::Layout { expected, declared } => write!(
                f,
                "header.file_len is {declared} but the sections it describes need {expected} bytes"
            ),
            ModelError::Value { section, index, offset, reason } => {
                match section.layer() {
                    Some(l) => write!(f, "layer {l} {}[{index}]", section.name())?,
                    None => write!(f, "{}[{index}]", section.name())?,
                }
                write!(f, " at byte {offset}: {reason}")
            }
        }
    }
}

impl core::error::Error for ModelError {}

/// Bytes aligned for in-place reading: wrap a model embedded in flash in it.
///
/// ```
/// use picorl_core::model::Aligned;
/// static MODEL: Aligned<[u8; 4]> = Aligned(*b"\x89PIC");
/// assert_eq!(MODEL.0.as_ptr() as usize % 16, 0);
/// ```
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Aligned<T: ?Sized>(pub T);

fn read_array<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}
fn rd_u8(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}
fn rd_u16(b: &[u8], off: usize) -> Option<u16> {
    read_array(b, off).map(u16::from_le_bytes)
}
fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    read_array(b, off).map(u32::from_le_bytes)
}
fn rd_i32(b: &[u8], off: usize) -> Option<i32> {
    read_array(b, off).map(i32::from_le_bytes)
}
fn rd_f32(b: &[u8], off: usize) -> Option<f32> {
    read_array(b, off).map(f32::from_le_bytes)
}

/// `x` is finite and > 0.
fn positive_finite(x: f32) -> bool {
    x.is_finite() && x > 0.0
}

fn field_err(field: &'static str, offset: usize, reason: &'static str) -> ModelError {
    ModelError::Field {
        field,
        offset,
        reason,
    }
}

/// A zero-copy view of a `.picorl` model in any byte container.
///
/// Build it with [`ModelView::new_checked`]; every accessor is then infallible. (A view made with
/// [`ModelView::new_unchecked`] never panics either, but reads zeros and empty slices where the
/// bytes are not what the format says.)
#[derive(Debug, Clone, Copy)]
pub struct ModelView<T: AsRef<[u8]>> {
    buffer: T,
}

/// A checked model borrowed from a byte slice: what [`crate::policy::Policy`] runs.
pub type Model<'a> = ModelView<&'a [u8]>;

impl<'a> ModelView<&'a [u8]> {
    /// Checks `bytes` and returns the model they hold.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ModelError> {
        Self::new_checked(bytes)
    }

    /// The file's bytes, with the lifetime of the buffer.
    pub fn bytes(&self) -> &'a [u8] {
        self.buffer
    }
}

impl<T: AsRef<[u8]>> ModelView<T> {
    /// A view without checks (see the type's documentation).
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Checks the bytes once, completely; see [`ModelError`] for what is checked.
    pub fn new_checked(buffer: T) -> Result<Self, ModelError> {
        let v = Self::new_unchecked(buffer);
        v.check()?;
        Ok(v)
    }

    /// Runs the checks of [`Self::new_checked`] on this view.
    pub fn check(&self) -> Result<(), ModelError> {
        let b = self.buffer.as_ref();
        check_bytes(b)?;
        let misalignment = b.as_ptr() as usize % BUFFER_ALIGN;
        if misalignment != 0 {
            return Err(ModelError::Misaligned { misalignment });
        }
        Ok(())
    }

    /// The container.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The file's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The format version.
    pub fn version(&self) -> u16 {
        rd_u16(self.b(), header::VERSION).unwrap_or(0)
    }

    /// What computes the head's inputs.
    pub fn kind(&self) -> ModelKind {
        rd_u8(self.b(), header::KIND)
            .and_then(ModelKind::from_code)
            .unwrap_or(ModelKind::MlpF32)
    }

    /// How outputs become an action.
    pub fn head(&self) -> HeadKind {
        rd_u8(self.b(), header::HEAD)
            .and_then(HeadKind::from_code)
            .unwrap_or(HeadKind::Discrete)
    }

    /// The number type of inference ([`QuantKind::F32`] for tabular models).
    pub fn quant(&self) -> QuantKind {
        match self.kind() {
            ModelKind::MlpInt8 => QuantKind::Int8,
            _ => QuantKind::F32,
        }
    }

    /// Values in one observation (1 for a tabular model: the state index).
    pub fn obs_dim(&self) -> usize {
        rd_u32(self.b(), header::OBS_DIM).unwrap_or(0) as usize
    }

    /// Number of discrete actions, or of continuous action components.
    pub fn action_dim(&self) -> usize {
        rd_u32(self.b(), header::ACTION_DIM).unwrap_or(0) as usize
    }

    /// The action the model produces.
    pub fn action(&self) -> ActionSpec {
        match self.head() {
            HeadKind::Discrete => ActionSpec::Discrete {
                n: self.action_dim() as u32,
            },
            _ => ActionSpec::Continuous {
                dim: self.action_dim(),
            },
        }
    }

    /// Layers of an MLP (0 for a tabular model).
    pub fn n_layers(&self) -> usize {
        match self.kind() {
            ModelKind::MlpF32 | ModelKind::MlpInt8 => {
                (rd_u32(self.b(), header::COUNT).unwrap_or(0) as usize).min(limits::MAX_LAYERS)
            }
            _ => 0,
        }
    }

    /// States of a tabular model (0 for an MLP).
    pub fn n_states(&self) -> usize {
        match self.kind() {
            ModelKind::GreedyTable | ModelKind::QTable => {
                rd_u32(self.b(), header::COUNT).unwrap_or(0) as usize
            }
            _ => 0,
        }
    }

    /// The declared file length (CRC included).
    pub fn file_len(&self) -> usize {
        rd_u32(self.b(), header::FILE_LEN).unwrap_or(0) as usize
    }

    /// The stored CRC-32.
    pub fn crc(&self) -> u32 {
        rd_u32(self.b(), self.file_len().saturating_sub(4)).unwrap_or(0)
    }

    /// Multiply-accumulates per inference (`sum in_dim * out_dim` over layers; 0 for tables).
    pub fn macs(&self) -> u64 {
        self.layers()
            .map(|l| l.in_dim as u64 * l.out_dim as u64)
            .sum()
    }

    fn shape(&self) -> Shape {
        let b = self.b();
        Shape {
            kind: self.kind(),
            head: self.head(),
            normalization: rd_u32(b, header::FLAGS).unwrap_or(0) & FLAG_NORMALIZATION != 0,
            obs_dim: self.obs_dim(),
            action_dim: self.action_dim(),
            // Bounded, so that an unchecked view of bad bytes cannot loop for long.
            count: (rd_u32(b, header::COUNT).unwrap_or(0) as usize).min(limits::MAX_STATES),
            meta_len: meta_len_of(b),
        }
    }

    fn prefix_spans(&self) -> [Span; 5] {
        let mut out = [Span::default(); 5];
        let mut cursor = Cursor { pos: HEADER_LEN };
        if let Ok(secs) = layout::prefix_sections(&self.shape()) {
            for ((_, len), o) in secs.iter().zip(out.iter_mut()) {
                if let Some(len) = len {
                    *o = cursor.section(*len).unwrap_or_default();
                }
            }
        }
        out
    }

    /// Observation normalization, if the model has it.
    pub fn normalization(&self) -> Option<Normalization<'_>> {
        normalization_of(self.b())
    }

    /// `(low, high)` of a continuous action.
    pub fn action_bounds(&self) -> Option<(&[f32], &[f32])> {
        action_bounds_of(self.b())
    }

    /// The quantization of the observation fed to an int8 model.
    pub fn input_quant(&self) -> Option<QuantParams> {
        match self.kind() {
            ModelKind::MlpInt8 => Some(QuantParams {
                scale: rd_f32(self.b(), header::INPUT_SCALE).unwrap_or(1.0),
                zero_point: rd_i32(self.b(), header::INPUT_ZERO_POINT).unwrap_or(0),
            }),
            _ => None,
        }
    }

    /// The layers of an MLP, in order (empty for a tabular model).
    pub fn layers(&self) -> Layers<'_> {
        layers_of(self.b())
    }

    /// Layer `i` of an MLP.
    pub fn layer(&self, i: usize) -> Option<LayerView<'_>> {
        self.layers().nth(i)
    }

    /// The table of a tabular model.
    pub fn table(&self) -> Option<Table<'_>> {
        table_of(self.b())
    }

    /// The metadata (format version 2): the environment, its options and the algorithm the
    /// policy was trained with; `None` for a version-1 file or a file written without it.
    pub fn meta(&self) -> Option<Meta<'_>> {
        meta_of(self.b())
    }

    fn table_span(&self) -> Option<Span> {
        let shape = self.shape();
        let mut found = None;
        layout::walk(&shape, HEADER_LEN, &|_| LayerDims::ONE, &mut |s, span| {
            if s == Section::Table {
                found = Some(span);
            }
            Ok(())
        })
        .ok()?;
        found
    }
}

/// The `meta_len` header field (0 before version 2).
fn meta_len_of(b: &[u8]) -> usize {
    if rd_u16(b, header::VERSION).unwrap_or(0) >= 2 {
        (rd_u32(b, header::META_LEN).unwrap_or(0) as usize).min(MAX_META_LEN)
    } else {
        0
    }
}

/// Layer `l`'s sizes as its record states them (placeholder values past the bytes).
fn layer_dims_of(b: &[u8], kind: ModelKind, table: Span, l: usize) -> LayerDims {
    let rec = table.start + l * LAYER_RECORD_LEN;
    let act = rd_u8(b, rec + layer_record::ACTIVATION).and_then(Activation::from_code);
    LayerDims {
        in_dim: rd_u32(b, rec + layer_record::IN_DIM).unwrap_or(1) as usize,
        out_dim: rd_u32(b, rec + layer_record::OUT_DIM).unwrap_or(1) as usize,
        table: kind == ModelKind::MlpInt8 && act.and_then(Activation::int8_table).is_some(),
    }
}

/// The metadata of a checked model.
pub(crate) fn meta_of(b: &[u8]) -> Option<Meta<'_>> {
    let v = ModelView::new_unchecked(b);
    let shape = v.shape();
    if shape.meta_len == 0 {
        return None;
    }
    let spans = v.prefix_spans();
    let n = v.n_layers();
    let dims = |l: usize| {
        if l < n {
            layer_dims_of(b, shape.kind, spans[0], l)
        } else {
            LayerDims::ONE
        }
    };
    let mut found = None;
    layout::walk(&shape, HEADER_LEN, &dims, &mut |s, span| {
        if s == Section::Meta {
            found = Some(span);
        }
        Ok(())
    })
    .ok()?;
    let span = found?;
    Meta::parse(b.get(span.start..span.end())?).ok()
}

/// The metadata section (format version 2): the environment id, its options as `key=value`
/// strings (Gymnasium's `make` keywords, as `--env-kwargs` takes them) and the algorithm.
///
/// Layout: `u8` length and the UTF-8 bytes of the environment id (at least 1); `u8` length and the
/// bytes of the algorithm; `u8` count of options, then each as a `u8` length and the bytes of
/// `key=value` (a non-empty key before the first `=`). No control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    env: &'a str,
    algo: &'a str,
    kwargs: &'a [u8],
    n_kwargs: usize,
}

/// One length-prefixed UTF-8 string of the metadata: the string and the bytes after it.
fn meta_str(b: &[u8]) -> Result<(&str, &[u8]), (usize, &'static str)> {
    let (&len, rest) = b.split_first().ok_or((0, "ends inside a length"))?;
    let len = len as usize;
    let bytes = rest.get(..len).ok_or((1, "ends inside a string"))?;
    let text = core::str::from_utf8(bytes).map_err(|_| (1, "string is not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err((1, "string holds a control character"));
    }
    Ok((text, rest.get(len..).unwrap_or(&[])))
}

impl<'a> Meta<'a> {
    /// Reads and checks a metadata section; on error, the byte offset in it and the reason.
    pub fn parse(b: &'a [u8]) -> Result<Self, (usize, &'static str)> {
        let at = |rest: &[u8], (off, why): (usize, &'static str)| (b.len() - rest.len() + off, why);
        let (env, rest) = meta_str(b).map_err(|e| at(b, e))?;
        if env.is_empty() {
            return Err((0, "environment id is empty"));
        }
        let (algo, rest2) = meta_str(rest).map_err(|e| at(rest, e))?;
        let (&n, kwargs) = rest2
            .split_first()
            .ok_or(at(rest2, (0, "ends before the option count")))?;
        let mut cur = kwargs;
        for _ in 0..n {
            let (kv, next) = meta_str(cur).map_err(|e| at(cur, e))?;
            match kv.split_once('=') {
                Some((k, _)) if !k.is_empty() => {}
                _ => return Err(at(cur, (1, "option is not key=value"))),
            }
            cur = next;
        }
        if !cur.is_empty() {
            return Err(at(cur, (0, "bytes after the last option")));
        }
        Ok(Self {
            env,
            algo,
            kwargs,
            n_kwargs: n as usize,
        })
    }

    /// The environment id (`CartPole-v1`).
    pub fn env_id(&self) -> &'a str {
        self.env
    }

    /// The algorithm that trained the policy (`ppo`; may be empty).
    pub fn algo(&self) -> &'a str {
        self.algo
    }

    /// The environment options, `(key, value)`, in file order.
    pub fn kwargs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut cur = self.kwargs;
        (0..self.n_kwargs).filter_map(move |_| {
            let (kv, next) = meta_str(cur).ok()?;
            cur = next;
            kv.split_once('=')
        })
    }
}

fn f32s_of(b: &[u8], span: Span) -> &[f32] {
    b.get(span.start..span.end())
        .and_then(|s| bytemuck::try_cast_slice(s).ok())
        .unwrap_or(&[])
}

/// [`ModelView::normalization`] with the lifetime of the bytes.
pub(crate) fn normalization_of(b: &[u8]) -> Option<Normalization<'_>> {
    if rd_u32(b, header::FLAGS).unwrap_or(0) & FLAG_NORMALIZATION == 0 {
        return None;
    }
    let spans = ModelView::new_unchecked(b).prefix_spans();
    Some(Normalization {
        mean: f32s_of(b, spans[1]),
        var: f32s_of(b, spans[2]),
        epsilon: rd_f32(b, header::NORM_EPS).unwrap_or(0.0),
        clip: rd_f32(b, header::NORM_CLIP).unwrap_or(0.0),
    })
}

/// [`ModelView::action_bounds`] with the lifetime of the bytes.
pub(crate) fn action_bounds_of(b: &[u8]) -> Option<(&[f32], &[f32])> {
    let v = ModelView::new_unchecked(b);
    match v.head() {
        HeadKind::Discrete => None,
        _ => {
            let spans = v.prefix_spans();
            Some((f32s_of(b, spans[3]), f32s_of(b, spans[4])))
        }
    }
}

/// [`ModelView::layers`] with the lifetime of the bytes.
pub(crate) fn layers_of(b: &[u8]) -> Layers<'_> {
    let v = ModelView::new_unchecked(b);
    let spans = v.prefix_spans();
    let end = spans
        .iter()
        .map(Span::end)
        .max()
        .unwrap_or(HEADER_LEN)
        .max(HEADER_LEN);
    Layers {
        bytes: b,
        kind: v.kind(),
        table: spans[0],
        n: v.n_layers(),
        index: 0,
        cursor: Cursor { pos: end },
        input: v.input_quant().unwrap_or(QuantParams {
            scale: 1.0,
            zero_point: 0,
        }),
    }
}

/// [`ModelView::table`] with the lifetime of the bytes.
pub(crate) fn table_of(b: &[u8]) -> Option<Table<'_>> {
    let v = ModelView::new_unchecked(b);
    if !matches!(v.kind(), ModelKind::GreedyTable | ModelKind::QTable) {
        return None;
    }
    let span = v.table_span()?;
    let s = b.get(span.start..span.end())?;
    match v.kind() {
        ModelKind::GreedyTable => bytemuck::try_cast_slice(s).ok().map(Table::Greedy),
        ModelKind::QTable => bytemuck::try_cast_slice(s).ok().map(|q| Table::Q {
            q,
            n_actions: v.action_dim(),
        }),
        _ => None,
    }
}

/// SB3 `VecNormalize`-style observation statistics stored in a model.
#[derive(Debug, Clone, Copy)]
pub struct Normalization<'a> {
    /// Per-value mean.
    pub mean: &'a [f32],
    /// Per-value variance.
    pub var: &'a [f32],
    /// Added to the variance before the square root.
    pub epsilon: f32,
    /// Normalized values are clipped to `[-clip, clip]`.
    pub clip: f32,
}

/// A tabular model's table.
#[derive(Debug, Clone, Copy)]
pub enum Table<'a> {
    /// The greedy action of each state.
    Greedy(&'a [u32]),
    /// Q-values, `q[state * n_actions + action]`.
    Q {
        /// The values.
        q: &'a [f32],
        /// Actions per state.
        n_actions: usize,
    },
}

/// One layer of an MLP, borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct LayerView<'a> {
    /// Position in the network.
    pub index: usize,
    /// Inputs.
    pub in_dim: usize,
    /// Outputs.
    pub out_dim: usize,
    /// Activation.
    pub activation: Activation,
    /// Weights and parameters.
    pub data: LayerData<'a>,
}

/// The numbers of one layer.
#[derive(Debug, Clone, Copy)]
pub enum LayerData<'a> {
    /// An f32 layer.
    F32(DenseF32<'a>),
    /// An int8 layer.
    Int8 {
        /// The kernel over the stored weights.
        dense: DenseI8<'a>,
        /// The quantization of this layer's input (the previous layer's output, or the
        /// observation's).
        input: QuantParams,
        /// The quantization of this layer's output as the next layer (or the head) reads it:
        /// after a tanh or sigmoid, that activation's fixed quantization; else the record's.
        output: QuantParams,
        /// The quantization of the dense part's output, as the layer record stores it (the
        /// activation table's input for tanh and sigmoid; equal to `output` otherwise).
        fc_output: QuantParams,
        /// Per-output-channel weight scales.
        weight_scales: &'a [f32],
        /// Tanh and sigmoid: the activation of every int8 value `q` at index `q + 128`; empty
        /// otherwise.
        act_table: &'a [i8],
    },
}

impl LayerView<'_> {
    /// TFLite's int32 bias of output `row` of an int8 layer: the stored folded bias plus
    /// `zp_in * sum_k w[row][k]` (what a `.tflite` file stores).
    pub fn tflite_bias(&self, row: usize) -> Option<i32> {
        match self.data {
            LayerData::Int8 { dense, input, .. } => {
                let folded = dense.folded_bias(row)?;
                let mut sum = 0i32;
                for k in 0..self.in_dim {
                    sum = sum.wrapping_add(dense.weight(row, k)? as i32);
                }
                Some(folded.wrapping_add(input.zero_point.wrapping_mul(sum)))
            }
            LayerData::F32(_) => None,
        }
    }
}

/// Iterator over the layers of an MLP (see [`ModelView::layers`]).
#[derive(Debug, Clone)]
pub struct Layers<'a> {
    bytes: &'a [u8],
    kind: ModelKind,
    table: Span,
    n: usize,
    index: usize,
    cursor: Cursor,
    input: QuantParams,
}

impl<'a> Iterator for Layers<'a> {
    type Item = LayerView<'a>;

    fn next(&mut self) -> Option<LayerView<'a>> {
        if self.index >= self.n {
            return None;
        }
        let l = self.index;
        self.index += 1;
        let rec = self.table.start + l * LAYER_RECORD_LEN;
        let b = self.bytes;
        let in_dim = rd_u32(b, rec + layer_record::IN_DIM)? as usize;
        let out_dim = rd_u32(b, rec + layer_record::OUT_DIM)? as usize;
        let activation = Activation::from_code(rd_u8(b, rec + layer_record::ACTIVATION)?)?;
        let d = layer_dims_of(b, self.kind, self.table, l);
        let secs = layout::layer_sections(self.kind, l, d).ok()?;
        let mut spans = [Span::default(); 4];
        for ((_, len), s) in secs.iter().zip(spans.iter_mut()) {
            if let Some(len) = len {
                *s = self.cursor.section(*len).ok()?;
            }
        }
        let bytes_of = |s: Span| b.get(s.start..s.end());
        let data = match self.kind {
            ModelKind::MlpInt8 => {
                let fc_output = QuantParams {
                    scale: rd_f32(b, rec + layer_record::OUT_SCALE)?,
                    zero_point: rd_i32(b, rec + layer_record::OUT_ZERO_POINT)?,
                };
                let (output, act_table): (QuantParams, &[i8]) = match activation.int8_table() {
                    Some(t) => (
                        t.output(),
                        bytemuck::try_cast_slice(bytes_of(spans[3])?).ok()?,
                    ),
                    None => (fc_output, &[]),
                };
                let weights: &[i16] = bytemuck::try_cast_slice(bytes_of(spans[0])?).ok()?;
                let params: &[[i32; BLOCK_PARAM_WORDS]] =
                    bytemuck::try_cast_slice(bytes_of(spans[1])?).ok()?;
                let weight_scales: &[f32] = bytemuck::try_cast_slice(bytes_of(spans[2])?).ok()?;
                let dense = DenseI8::new(
                    in_dim,
                    out_dim,
                    weights,
                    params,
                    activation,
                    fc_output.zero_point,
                )
                .ok()?;
                let input = self.input;
                self.input = output;
                LayerData::Int8 {
                    dense,
                    input,
                    output,
                    fc_output,
                    weight_scales,
                    act_table,
                }
            }
            _ => {
                let weights: &[f32] = bytemuck::try_cast_slice(bytes_of(spans[0])?).ok()?;
                let bias: &[f32] = bytemuck::try_cast_slice(bytes_of(spans[1])?).ok()?;
                LayerData::F32(DenseF32::new(in_dim, out_dim, weights, bias, activation).ok()?)
            }
        };
        Some(LayerView {
            index: l,
            in_dim,
            out_dim,
            activation,
            data,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// Everything [`ModelView::new_checked`] verifies except the buffer's alignment (the writer checks
/// its output with this, whatever the alignment of the caller's buffer).
pub(crate) fn check_bytes(b: &[u8]) -> Result<(), ModelError> {
    // Magic and version first: a wrong file says so before anything else.
    if b.len() < MAGIC.len() {
        return Err(ModelError::Truncated {
            needed: HEADER_LEN,
            len: b.len(),
        });
    }
    if b.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(ModelError::BadMagic);
    }
    let version = rd_u16(b, header::VERSION).ok_or(ModelError::Truncated {
        needed: HEADER_LEN,
        len: b.len(),
    })?;
    match (MAGIC, version) {
        (MAGIC, VERSION | VERSION_2 | VERSION_1) => {}
        (_, version) => return Err(ModelError::UnsupportedVersion { version }),
    }
    if b.len() < HEADER_LEN {
        return Err(ModelError::Truncated {
            needed: HEADER_LEN,
            len: b.len(),
        });
    }
    let declared = rd_u32(b, header::FILE_LEN).unwrap_or(0) as usize;
    if !(HEADER_LEN + 4..=limits::MAX_FILE_LEN).contains(&declared) {
        return Err(field_err(
            "header.file_len",
            header::FILE_LEN,
            "out of range",
        ));
    }
    if b.len() < declared {
        return Err(ModelError::Truncated {
            needed: declared,
            len: b.len(),
        });
    }
    if b.len() > declared {
        return Err(ModelError::TrailingBytes {
            declared,
            len: b.len(),
        });
    }
    let stored = rd_u32(b, declared - 4).unwrap_or(0);
    let computed = crc32(b.get(..declared - 4).unwrap_or(&[]));
    if stored != computed {
        return Err(ModelError::Checksum { stored, computed });
    }
    let shape = check_header(b)?;
    let (layer_dims, n_layers) = check_layer_table(b, &shape)?;
    let dims = |l: usize| layer_dims.get(l).copied().unwrap_or(LayerDims::ONE);
    // Every section inside the file, the gaps between them zero, the CRC right after the last.
    let mut pos = HEADER_LEN;
    let mut spans = SectionSpans::default();
    let crc_at = layout::walk(&shape, HEADER_LEN, &dims, &mut |s, span| {
        if span.end() > declared - 4 {
            return Err(ModelError::Layout {
                expected: span.end().saturating_add(4),
                declared,
            });
        }
        check_zero(b, pos, span.start, s)?;
        pos = span.end();
        spans.record(s, span);
        Ok(())
    })?;
    if crc_at + 4 != declared {
        return Err(ModelError::Layout {
            expected: crc_at + 4,
            declared,
        });
    }
    check_zero(b, pos, crc_at, Section::Meta)?;
    check_sections(b, &shape, &layer_dims[..n_layers], &spans)
}

fn check_zero(b: &[u8], from: usize, to: usize, next: Section) -> Result<(), ModelError> {
    for off in from..to {
        if rd_u8(b, off) != Some(0) {
            return Err(ModelError::Value {
                section: next,
                index: 0,
                offset: off,
                reason: "padding byte before the section is not zero",
            });
        }
    }
    Ok(())
}

fn check_header(b: &[u8]) -> Result<Shape, ModelError> {
    let u32_at = |off| rd_u32(b, off).unwrap_or(0);
    let kind = ModelKind::from_code(rd_u8(b, header::KIND).unwrap_or(0)).ok_or(field_err(
        "header.kind",
        header::KIND,
        "unknown model kind",
    ))?;
    let head = HeadKind::from_code(rd_u8(b, header::HEAD).unwrap_or(0)).ok_or(field_err(
        "header.head",
        header::HEAD,
        "unknown head kind",
    ))?;
    let flags = u32_at(header::FLAGS);
    if flags & !FLAG_NORMALIZATION != 0 {
        return Err(field_err(
            "header.flags",
            header::FLAGS,
            "unknown flag bits set",
        ));
    }
    let normalization = flags & FLAG_NORMALIZATION != 0;
    let obs_dim = u32_at(header::OBS_DIM) as usize;
    let action_dim = u32_at(header::ACTION_DIM) as usize;
    let count = u32_at(header::COUNT) as usize;
    let tabular = matches!(kind, ModelKind::GreedyTable | ModelKind::QTable);
    if obs_dim == 0 || obs_dim > limits::MAX_WIDTH || (tabular && obs_dim != 1) {
        return Err(field_err(
            "header.obs_dim",
            header::OBS_DIM,
            "out of range (tabular models take 1 value)",
        ));
    }
    let max_actions = match head {
        HeadKind::Discrete => limits::MAX_DISCRETE_ACTIONS,
        _ => limits::MAX_CONTINUOUS_ACTION_DIM,
    };
    if action_dim == 0 || action_dim > max_actions {
        return Err(field_err(
            "header.action_dim",
            header::ACTION_DIM,
            "out of range",
        ));
    }
    if tabular && head != HeadKind::Discrete {
        return Err(field_err(
            "header.head",
            header::HEAD,
            "tabular models have a discrete head",
        ));
    }
    let count_ok = match kind {
        ModelKind::MlpF32 | ModelKind::MlpInt8 => (1..=limits::MAX_LAYERS).contains(&count),
        ModelKind::GreedyTable => (1..=limits::MAX_STATES).contains(&count),
        ModelKind::QTable => {
            (1..=limits::MAX_STATES).contains(&count)
                && count.saturating_mul(action_dim) <= limits::MAX_TABLE_ENTRIES
        }
    };
    if !count_ok {
        return Err(field_err(
            "header.count",
            header::COUNT,
            "layer or state count out of range",
        ));
    }
    let clip = rd_f32(b, header::NORM_CLIP).unwrap_or(0.0);
    let eps = rd_f32(b, header::NORM_EPS).unwrap_or(0.0);
    if normalization {
        if clip.is_nan() || clip <= 0.0 {
            return Err(field_err(
                "header.norm_clip",
                header::NORM_CLIP,
                "must be > 0 (may be +inf)",
            ));
        }
        if !eps.is_finite() || eps < 0.0 {
            return Err(field_err(
                "header.norm_eps",
                header::NORM_EPS,
                "must be finite and >= 0",
            ));
        }
    } else {
        if clip.to_bits() != 0 {
            return Err(field_err(
                "header.norm_clip",
                header::NORM_CLIP,
                "must be 0 without normalization",
            ));
        }
        if eps.to_bits() != 0 {
            return Err(field_err(
                "header.norm_eps",
                header::NORM_EPS,
                "must be 0 without normalization",
            ));
        }
    }
    let in_scale = rd_f32(b, header::INPUT_SCALE).unwrap_or(0.0);
    let in_zp = rd_i32(b, header::INPUT_ZERO_POINT).unwrap_or(0);
    if kind == ModelKind::MlpInt8 {
        if !positive_finite(in_scale) {
            return Err(field_err(
                "header.input_scale",
                header::INPUT_SCALE,
                "must be finite and > 0",
            ));
        }
        if !(-128..=127).contains(&in_zp) {
            return Err(field_err(
                "header.input_zero_point",
                header::INPUT_ZERO_POINT,
                "must be in -128..=127",
            ));
        }
    } else {
        if in_scale.to_bits() != 0 {
            return Err(field_err(
                "header.input_scale",
                header::INPUT_SCALE,
                "must be 0 for non-int8 models",
            ));
        }
        if in_zp != 0 {
            return Err(field_err(
                "header.input_zero_point",
                header::INPUT_ZERO_POINT,
                "must be 0 for non-int8 models",
            ));
        }
    }
    let version = rd_u16(b, header::VERSION).unwrap_or(0);
    let meta_len = if version >= 2 {
        let n = u32_at(header::META_LEN) as usize;
        if n > MAX_META_LEN {
            return Err(field_err(
                "header.meta_len",
                header::META_LEN,
                "longer than MAX_META_LEN (4096)",
            ));
        }
        n
    } else {
        0
    };
    let reserved_from = if version >= 2 {
        header::RESERVED
    } else {
        header::META_LEN
    };
    for off in reserved_from..HEADER_LEN {
        if rd_u8(b, off) != Some(0) {
            return Err(field_err(
                "header.reserved",
                off,
                "reserved byte is not zero",
            ));
        }
    }
    Ok(Shape {
        kind,
        head,
        normalization,
        obs_dim,
        action_dim,
        count,
        meta_len,
    })
}

/// Checks the layer records (MLP models) and returns each layer's `(in_dim, out_dim)`.
fn check_layer_table(
    b: &[u8],
    shape: &Shape,
) -> Result<([LayerDims; limits::MAX_LAYERS], usize), ModelError> {
    let mut dims = [LayerDims::ONE; limits::MAX_LAYERS];
    let version = rd_u16(b, header::VERSION).unwrap_or(0);
    if !matches!(shape.kind, ModelKind::MlpF32 | ModelKind::MlpInt8) {
        return Ok((dims, 0));
    }
    let table_len = shape.count * LAYER_RECORD_LEN;
    if HEADER_LEN + table_len > b.len().saturating_sub(4) {
        return Err(ModelError::Layout {
            expected: HEADER_LEN + table_len + 4,
            declared: b.len(),
        });
    }
    let mut prev_out = shape.obs_dim;
    for (l, d) in dims.iter_mut().enumerate().take(shape.count) {
        let rec = HEADER_LEN + l * LAYER_RECORD_LEN;
        let in_dim = rd_u32(b, rec + layer_record::IN_DIM).unwrap_or(0) as usize;
        let out_dim = rd_u32(b, rec + layer_record::OUT_DIM).unwrap_or(0) as usize;
        if in_dim != prev_out {
            return Err(field_err(
                "layer.in_dim",
                rec + layer_record::IN_DIM,
                "does not match the previous layer's out_dim (or header.obs_dim)",
            ));
        }
        if out_dim == 0 || out_dim > limits::MAX_WIDTH {
            return Err(field_err(
                "layer.out_dim",
                rec + layer_record::OUT_DIM,
                "out of range",
            ));
        }
        let act = Activation::from_code(rd_u8(b, rec + layer_record::ACTIVATION).unwrap_or(255))
            .filter(|a| version >= 2 || *a != Activation::Sigmoid)
            .ok_or(field_err(
                "layer.activation",
                rec + layer_record::ACTIVATION,
                "unknown activation",
            ))?;
        let scale = rd_f32(b, rec + layer_record::OUT_SCALE).unwrap_or(0.0);
        let zp = rd_i32(b, rec + layer_record::OUT_ZERO_POINT).unwrap_or(0);
        if shape.kind == ModelKind::MlpInt8 {
            if !act.int8_supported() && (version < 2 || act.int8_table().is_none()) {
                return Err(field_err(
                    "layer.activation",
                    rec + layer_record::ACTIVATION,
                    if version < 2 {
                        "version-1 int8 layers support identity and relu only"
                    } else {
                        "int8 layers support identity, relu, tanh and sigmoid only"
                    },
                ));
            }
            if !positive_finite(scale) {
                return Err(field_err(
                    "layer.out_scale",
                    rec + layer_record::OUT_SCALE,
                    "must be finite and > 0",
                ));
            }
            let wide = version >= 3 && l + 1 == shape.count && act == Activation::Identity;
            if wide && !(-quant::MAX_OUTPUT_ZERO_POINT..=quant::MAX_OUTPUT_ZERO_POINT).contains(&zp)
            {
                return Err(field_err(
                    "layer.out_zero_point",
                    rec + layer_record::OUT_ZERO_POINT,
                    "must be in -2^20..=2^20 (the last layer's, without activation)",
                ));
            }
            if !wide && !(-128..=127).contains(&zp) {
                return Err(field_err(
                    "layer.out_zero_point",
                    rec + layer_record::OUT_ZERO_POINT,
                    "must be in -128..=127",
                ));
            }
        } else {
            if scale.to_bits() != 0 {
                return Err(field_err(
                    "layer.out_scale",
                    rec + layer_record::OUT_SCALE,
                    "must be 0 for f32 layers",
                ));
            }
            if zp != 0 {
                return Err(field_err(
                    "layer.out_zero_point",
                    rec + layer_record::OUT_ZERO_POINT,
                    "must be 0 for f32 layers",
                ));
            }
        }
        for off in (rec + layer_record::RESERVED0..rec + layer_record::OUT_SCALE)
            .chain(rec + layer_record::RESERVED1..rec + LAYER_RECORD_LEN)
        {
            if rd_u8(b, off) != Some(0) {
                return Err(field_err(
                    "layer.reserved",
                    off,
                    "reserved byte is not zero",
                ));
            }
        }
        *d = LayerDims {
            in_dim,
            out_dim,
            table: shape.kind == ModelKind::MlpInt8 && act.int8_table().is_some(),
        };
        prev_out = out_dim;
    }
    if prev_out != shape.action_dim {
        let rec = HEADER_LEN + (shape.count - 1) * LAYER_RECORD_LEN;
        return Err(field_err(
            "layer.out_dim",
            rec + layer_record::OUT_DIM,
            "last layer's out_dim does not match header.action_dim",
        ));
    }
    Ok((dims, shape.count))
}

/// The spans the walk found, for the content checks.
#[derive(Default)]
struct SectionSpans {
    prefix: [Span; 5],
    layers: [[Span; 4]; limits::MAX_LAYERS],
    table: Span,
    meta: Span,
}

impl SectionSpans {
    fn record(&mut self, s: Section, span: Span) {
        let slot = match s {
            Section::LayerTable => self.prefix.get_mut(0),
            Section::NormMean => self.prefix.get_mut(1),
            Section::NormVar => self.prefix.get_mut(2),
            Section::ActionLow => self.prefix.get_mut(3),
            Section::ActionHigh => self.prefix.get_mut(4),
            Section::Weights(l) => self.layers.get_mut(l).and_then(|x| x.get_mut(0)),
            Section::Bias(l) | Section::Params(l) => {
                self.layers.get_mut(l).and_then(|x| x.get_mut(1))
            }
            Section::WeightScales(l) => self.layers.get_mut(l).and_then(|x| x.get_mut(2)),
            Section::ActTable(l) => self.layers.get_mut(l).and_then(|x| x.get_mut(3)),
            Section::Table => Some(&mut self.table),
            Section::Meta => Some(&mut self.meta),
        };
        if let Some(slot) = slot {
            *slot = span;
        }
    }
}

fn value_err(section: Section, index: usize, offset: usize, reason: &'static str) -> ModelError {
    ModelError::Value {
        section,
        index,
        offset,
        reason,
    }
}

fn check_f32s(
    b: &[u8],
    section: Section,
    span: Span,
    ok: impl Fn(usize, f32) -> Result<(), &'static str>,
) -> Result<(), ModelError> {
    for i in 0..span.len / 4 {
        let off = span.start + 4 * i;
        let v = rd_f32(b, off).unwrap_or(f32::NAN);
        ok(i, v).map_err(|reason| value_err(section, i, off, reason))?;
    }
    Ok(())
}

fn check_sections(
    b: &[u8],
    shape: &Shape,
    dims: &[LayerDims],
    spans: &SectionSpans,
) -> Result<(), ModelError> {
    if shape.normalization {
        check_f32s(b, Section::NormMean, spans.prefix[1], |_, v| {
            if v.is_finite() {
                Ok(())
            } else {
                Err("not finite")
            }
        })?;
        check_f32s(b, Section::NormVar, spans.prefix[2], |_, v| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err("not finite and >= 0")
            }
        })?;
    }
    if shape.head != HeadKind::Discrete {
        let (lo, hi) = (spans.prefix[3], spans.prefix[4]);
        check_f32s(b, Section::ActionLow, lo, |_, v| {
            if v.is_finite() {
                Ok(())
            } else {
                Err("not finite")
            }
        })?;
        check_f32s(b, Section::ActionHigh, hi, |i, v| {
            let low = rd_f32(b, lo.start + 4 * i).unwrap_or(f32::NAN);
            if v.is_finite() && v >= low {
                Ok(())
            } else {
                Err("not finite, or below action_low")
            }
        })?;
    }
    let mut input = QuantParams {
        scale: rd_f32(b, header::INPUT_SCALE).unwrap_or(0.0),
        zero_point: rd_i32(b, header::INPUT_ZERO_POINT).unwrap_or(0),
    };
    for (l, (d, sp)) in dims.iter().zip(spans.layers.iter()).enumerate() {
        let (in_dim, out_dim) = (d.in_dim, d.out_dim);
        match shape.kind {
            ModelKind::MlpInt8 => {
                let rec = HEADER_LEN + l * LAYER_RECORD_LEN;
                let output = QuantParams {
                    scale: rd_f32(b, rec + layer_record::OUT_SCALE).unwrap_or(0.0),
                    zero_point: rd_i32(b, rec + layer_record::OUT_ZERO_POINT).unwrap_or(0),
                };
                check_int8_layer(b, l, in_dim, out_dim, sp, input.scale, output.scale)?;
                let act = rd_u8(b, rec + layer_record::ACTIVATION)
                    .and_then(Activation::from_code)
                    .and_then(Activation::int8_table);
                input = match act {
                    Some(t) => {
                        check_act_table(b, l, sp[3], t, output)?;
                        t.output()
                    }
                    None => output,
                };
            }
            _ => check_f32_layer(b, l, in_dim, out_dim, sp)?,
        }
    }
    if shape.meta_len > 0 {
        let span = spans.meta;
        let bytes = b.get(span.start..span.end()).unwrap_or(&[]);
        if let Err((off, reason)) = Meta::parse(bytes) {
            return Err(value_err(Section::Meta, off, span.start + off, reason));
        }
    }
    match shape.kind {
        ModelKind::GreedyTable => {
            let n = shape.action_dim as u32;
            for i in 0..spans.table.len / 4 {
                let off = spans.table.start + 4 * i;
                if rd_u32(b, off).unwrap_or(u32::MAX) >= n {
                    return Err(value_err(
                        Section::Table,
                        i,
                        off,
                        "greedy action out of range",
                    ));
                }
            }
        }
        ModelKind::QTable => {
            check_f32s(b, Section::Table, spans.table, |_, v| {
                if v.is_finite() {
                    Ok(())
                } else {
                    Err("not finite")
                }
            })?;
        }
        _ => {}
    }
    Ok(())
}

/// An int8 tanh or sigmoid layer's table must be TFLM's function of the layer's output
/// quantization, entry for entry.
fn check_act_table(
    b: &[u8],
    l: usize,
    span: Span,
    act: crate::nn::int8_act::TableActivation,
    input: QuantParams,
) -> Result<(), ModelError> {
    let Ok(prep) = crate::nn::int8_act::TablePrepare::new(input) else {
        return Err(value_err(
            Section::ActTable(l),
            0,
            span.start,
            "the layer's out_scale is outside what TFLM's TANH/LOGISTIC prepare accepts",
        ));
    };
    for i in 0..ACT_TABLE_LEN {
        let off = span.start + i;
        let stored = rd_u8(b, off).unwrap_or(0) as i8;
        if stored != prep.eval(act, (i as i32 - 128) as i8) {
            return Err(value_err(
                Section::ActTable(l),
                i,
                off,
                "differs from TFLM's int8 activation of the layer's output quantization",
            ));
        }
    }
    Ok(())
}

fn check_f32_layer(
    b: &[u8],
    l: usize,
    in_dim: usize,
    out_dim: usize,
    sp: &[Span; 4],
) -> Result<(), ModelError> {
    let rows = padded_rows(out_dim);
    for row in 0..rows {
        for col in 0..in_dim {
            let i = DenseF32::weight_index(in_dim, row, col);
            let off = sp[0].start + 4 * i;
            let v = rd_f32(b, off).unwrap_or(f32::NAN);
            if !v.is_finite() {
                return Err(value_err(Section::Weights(l), i, off, "not finite"));
            }
            if row >= out_dim && v.to_bits() != 0 {
                return Err(value_err(
                    Section::Weights(l),
                    i,
                    off,
                    "padding row is not zero",
                ));
            }
        }
    }
    check_f32s(b, Section::Bias(l), sp[1], |i, v| {
        if !v.is_finite() {
            Err("not finite")
        } else if i >= out_dim && v.to_bits() != 0 {
            Err("padding row is not zero")
        } else {
            Ok(())
        }
    })
}

/// The accumulator bound that makes the Cortex-M4 kernel's requantization exact (`nn/dsp.rs`):
/// `(|bias| + 128 * sum |w|) * 2^left_shift < 2^29`.
const ACC_BOUND: i64 = 1 << 29;

/// Checks an int8 layer: weights in int8 range with zero padding, consistent requantization
/// words equal to what TFLM derives from the stored scales (`QuantizeMultiplier` of
/// `double(in_scale) * double(w_scale[c]) / double(out_scale)`), canonical padding channels, and the
/// accumulator bound.
fn check_int8_layer(
    b: &[u8],
    l: usize,
    in_dim: usize,
    out_dim: usize,
    sp: &[Span; 4],
    in_scale: f32,
    out_scale: f32,
) -> Result<(), ModelError> {
    let depth = padded_depth(in_dim);
    let rows = padded_rows(out_dim);
    for row in 0..rows {
        let mut abs_sum: i64 = 0;
        for col in 0..depth {
            let i = DenseI8::weight_index(in_dim, row, col);
            let off = sp[0].start + 2 * i;
            let w = read_array::<2>(b, off)
                .map(i16::from_le_bytes)
                .unwrap_or(i16::MIN);
            if !(-128..=127).contains(&w) {
                return Err(value_err(
                    Section::Weights(l),
                    i,
                    off,
                    "weight out of int8 range",
                ));
            }
            if (row >= out_dim || col >= in_dim) && w != 0 {
                return Err(value_err(
                    Section::Weights(l),
                    i,
                    off,
                    "padding weight is not zero",
                ));
            }
            abs_sum += (w as i64).abs();
        }
        let block = sp[1].start + (row / BLOCK) * BLOCK_PARAM_WORDS * 4;
        let bias_off = block + 4 * (row % BLOCK);
        let rq_off = block + 4 * (BLOCK + 4 * (row % BLOCK));
        let bias = rd_i32(b, bias_off).unwrap_or(0);
        let words = [0, 1, 2, 3].map(|k| rd_i32(b, rq_off + 4 * k).unwrap_or(-1));
        let pidx = |off: usize| (off - sp[1].start) / 4;
        let Some(rq) = KernelRequant::from_words(words) else {
            return Err(value_err(
                Section::Params(l),
                pidx(rq_off),
                rq_off,
                "inconsistent requantization words",
            ));
        };
        if row >= out_dim {
            if bias != 0 {
                return Err(value_err(
                    Section::Params(l),
                    pidx(bias_off),
                    bias_off,
                    "padding channel bias is not zero",
                ));
            }
            if rq
                != (KernelRequant {
                    multiplier: 0,
                    shift: 0,
                })
            {
                return Err(value_err(
                    Section::Params(l),
                    pidx(rq_off),
                    rq_off,
                    "padding channel requantization is not zero",
                ));
            }
            continue;
        }
        let ws_off = sp[2].start + 4 * row;
        let ws = rd_f32(b, ws_off).unwrap_or(f32::NAN);
        if !positive_finite(ws) {
            return Err(value_err(
                Section::WeightScales(l),
                row,
                ws_off,
                "weight scale must be finite and > 0",
            ));
        }
        let expected = quant::quantize_multiplier(quant::effective_scale(in_scale, ws, out_scale))
            .map(|(multiplier, shift)| KernelRequant { multiplier, shift });
        if expected != Ok(rq) {
            return Err(value_err(
                Section::Params(l),
                pidx(rq_off),
                rq_off,
                "multiplier/shift differ from QuantizeMultiplier(in_scale * w_scale / out_scale)",
            ));
        }
        let left = rq.shift.max(0);
        let bound = ((bias as i64).abs() + 128 * abs_sum) << left;
        if bound >= ACC_BOUND {
            return Err(value_err(
                Section::Params(l),
                pidx(bias_off),
                bias_off,
                "accumulator bound exceeded: (|bias| + 128 * sum|w|) << left_shift must be < 2^29",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Compile-time checks for embedded models.

const fn const_u32(b: &[u8], off: usize) -> u32 {
    if off + 4 > b.len() {
        return 0;
    }
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The compile-time check of an embedded model: magic, version, declared length, CRC-32, and that
/// its observation and action sizes are `obs_dim` and `action_dim` (discrete: number of actions;
/// continuous: components). The full check runs when the firmware parses the bytes.
pub const fn check_embedded(
    bytes: &[u8],
    obs_dim: usize,
    action_dim: usize,
) -> Result<(), &'static str> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err("embedded .picorl model: file too short");
    }
    let mut i = 0;
    while i < MAGIC.len() {
        if bytes[i] != MAGIC[i] {
            return Err("embedded .picorl model: bad magic (not a .picorl file)");
        }
        i += 1;
    }
    let version = u16::from_le_bytes([bytes[header::VERSION], bytes[header::VERSION + 1]]);
    if version != VERSION && version != VERSION_2 && version != VERSION_1 {
        return Err("embedded .picorl model: unsupported format version");
    }
    let len = const_u32(bytes, header::FILE_LEN) as usize;
    if len != bytes.len() {
        return Err("embedded .picorl model: header.file_len differs from the file size");
    }
    if crc32_const(bytes, len - 4) != const_u32(bytes, len - 4) {
        return Err("embedded .picorl model: CRC-32 mismatch (damaged file)");
    }
    if const_u32(bytes, header::OBS_DIM) as usize != obs_dim {
        return Err("embedded .picorl model: observation size differs from the environment's");
    }
    if const_u32(bytes, header::ACTION_DIM) as usize != action_dim {
        return Err("embedded .picorl model: action size differs from the environment's");
    }
    Ok(())
}

/// [`check_embedded`] as a compile-time assertion (used by [`include_model!`](crate::include_model)).
///
/// # Panics
/// When the check fails: in a `const` context, that is a compile error carrying the message.
pub const fn assert_embedded(bytes: &[u8], obs_dim: usize, action_dim: usize) {
    if let Err(msg) = check_embedded(bytes, obs_dim, action_dim) {
        panic!("{}", msg);
    }
}

/// Embeds a `.picorl` file, 16-byte aligned, and fails the build unless it is a valid-looking
/// model (magic, version, length, CRC-32) whose observation and action sizes are the ones given.
/// Evaluates to `&'static [u8]`, ready for [`Model::parse`].
///
/// The path is relative to the file that invokes the macro, as for `include_bytes!`.
///
/// ```
/// static MODEL: &[u8] =
///     picorl_core::include_model!("../../tests/model_fixtures/linear_2x2.picorl", obs = 2, actions = 2);
/// let model = picorl_core::model::Model::parse(MODEL).unwrap();
/// assert_eq!(model.obs_dim(), 2);
/// ```
///
/// A model of the wrong shape does not build (the error is E0080, a failed constant evaluation,
/// whose note says "observation size differs from the environment's"):
///
/// ```compile_fail,E0080
/// static MODEL: &[u8] =
///     picorl_core::include_model!("../../tests/model_fixtures/linear_2x2.picorl", obs = 4, actions = 2);
/// ```
#[macro_export]
macro_rules! include_model {
    ($path:expr, obs = $obs:expr, actions = $actions:expr $(,)?) => {{
        const BYTES: &[u8] = include_bytes!($path);
        const _: () = $crate::model::assert_embedded(BYTES, $obs, $actions);
        static ALIGNED: $crate::model::Aligned<[u8; BYTES.len()]> =
            $crate::model::Aligned(*include_bytes!($path));
        let bytes: &'static [u8] = &ALIGNED.0;
        bytes
    }};
}
