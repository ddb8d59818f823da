//! Where each section of a `.picorl` file lies: the one place that computes it, for the reader and
//! for the writer alike. Sections follow one another in a fixed order, each starting at the next
//! multiple of [`super::ALIGN`] (16) bytes; the gaps are zero bytes. See `docs/model-format.md`.

use super::{HeadKind, ModelError, ModelKind, ALIGN, LAYER_RECORD_LEN};
use crate::nn::{padded_depth, padded_rows, BLOCK, BLOCK_PARAM_WORDS};

/// One section of a model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The layer records (MLP models).
    LayerTable,
    /// Observation normalization means.
    NormMean,
    /// Observation normalization variances.
    NormVar,
    /// Continuous action lower bounds.
    ActionLow,
    /// Continuous action upper bounds.
    ActionHigh,
    /// A layer's weights (f32, or int8 widened to i16), in the kernel layout.
    Weights(usize),
    /// An f32 layer's biases.
    Bias(usize),
    /// An int8 layer's per-block records (folded biases and requantization).
    Params(usize),
    /// An int8 layer's per-channel weight scales.
    WeightScales(usize),
    /// An int8 tanh or sigmoid layer's activation table (256 × i8; format version 2).
    ActTable(usize),
    /// A tabular model's table (greedy actions or Q-values).
    Table,
    /// The metadata: environment id, its options, the algorithm (format version 2).
    Meta,
}

impl Section {
    /// The section's name as the format documentation writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Section::LayerTable => "layer_table",
            Section::NormMean => "norm_mean",
            Section::NormVar => "norm_var",
            Section::ActionLow => "action_low",
            Section::ActionHigh => "action_high",
            Section::Weights(_) => "weights",
            Section::Bias(_) => "bias",
            Section::Params(_) => "params",
            Section::WeightScales(_) => "weight_scales",
            Section::ActTable(_) => "act_table",
            Section::Table => "table",
            Section::Meta => "meta",
        }
    }

    /// The layer a per-layer section belongs to.
    pub const fn layer(self) -> Option<usize> {
        match self {
            Section::Weights(l)
            | Section::Bias(l)
            | Section::Params(l)
            | Section::WeightScales(l)
            | Section::ActTable(l) => Some(l),
            _ => None,
        }
    }
}

/// A byte range of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

impl Span {
    /// One past the last byte.
    pub const fn end(&self) -> usize {
        self.start + self.len
    }
}

/// The header facts that decide the layout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub kind: ModelKind,
    pub head: HeadKind,
    pub normalization: bool,
    pub obs_dim: usize,
    pub action_dim: usize,
    /// Layers (MLP) or states (tabular).
    pub count: usize,
    /// Bytes of the metadata section (0: none; always 0 in version 1).
    pub meta_len: usize,
}

/// One layer as the layout sees it: its sizes, and whether it carries an activation table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LayerDims {
    pub in_dim: usize,
    pub out_dim: usize,
    pub table: bool,
}

impl LayerDims {
    /// A placeholder for layers a walk does not need to size.
    pub const ONE: Self = Self {
        in_dim: 1,
        out_dim: 1,
        table: false,
    };
}

fn overflow() -> ModelError {
    ModelError::Field {
        field: "header",
        offset: 0,
        reason: "sizes overflow the address space",
    }
}

/// Places sections one after another, 16-byte aligned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor {
    pub pos: usize,
}

impl Cursor {
    pub(crate) fn section(&mut self, len: usize) -> Result<Span, ModelError> {
        let start = self
            .pos
            .checked_next_multiple_of(ALIGN)
            .ok_or_else(overflow)?;
        let end = start.checked_add(len).ok_or_else(overflow)?;
        self.pos = end;
        Ok(Span { start, len })
    }
}

fn mul(a: usize, b: usize) -> Result<usize, ModelError> {
    a.checked_mul(b).ok_or_else(overflow)
}

/// The sections before the layers: layer table, normalization, action bounds.
pub(crate) fn prefix_sections(shape: &Shape) -> Result<[(Section, Option<usize>); 5], ModelError> {
    let mlp = matches!(shape.kind, ModelKind::MlpF32 | ModelKind::MlpInt8);
    let cont = matches!(
        shape.head,
        HeadKind::ContinuousTanh | HeadKind::ContinuousClip
    );
    let norm = if shape.normalization {
        Some(mul(shape.obs_dim, 4)?)
    } else {
        None
    };
    let bounds = if cont {
        Some(mul(shape.action_dim, 4)?)
    } else {
        None
    };
    Ok([
        (
            Section::LayerTable,
            if mlp {
                Some(mul(shape.count, LAYER_RECORD_LEN)?)
            } else {
                None
            },
        ),
        (Section::NormMean, norm),
        (Section::NormVar, norm),
        (Section::ActionLow, bounds),
        (Section::ActionHigh, bounds),
    ])
}

/// Bytes of an int8 activation table: one i8 per int8 input value.
pub const ACT_TABLE_LEN: usize = 256;

/// The sections of layer `l` with `in_dim` inputs and `out_dim` outputs.
pub(crate) fn layer_sections(
    kind: ModelKind,
    l: usize,
    d: LayerDims,
) -> Result<[(Section, Option<usize>); 4], ModelError> {
    let LayerDims {
        in_dim,
        out_dim,
        table,
    } = d;
    let rows = padded_rows(out_dim);
    Ok(match kind {
        ModelKind::MlpInt8 => [
            (
                Section::Weights(l),
                Some(mul(mul(rows, padded_depth(in_dim))?, 2)?),
            ),
            (
                Section::Params(l),
                Some(mul(rows / BLOCK, BLOCK_PARAM_WORDS * 4)?),
            ),
            (Section::WeightScales(l), Some(mul(out_dim, 4)?)),
            (Section::ActTable(l), table.then_some(ACT_TABLE_LEN)),
        ],
        _ => [
            (Section::Weights(l), Some(mul(mul(rows, in_dim)?, 4)?)),
            (Section::Bias(l), Some(mul(rows, 4)?)),
            (Section::WeightScales(l), None),
            (Section::ActTable(l), None),
        ],
    })
}

/// The sections after the layers: the table of a tabular model, then the metadata.
pub(crate) fn suffix_sections(shape: &Shape) -> Result<[(Section, Option<usize>); 2], ModelError> {
    Ok([
        (
            Section::Table,
            match shape.kind {
                ModelKind::GreedyTable => Some(mul(shape.count, 4)?),
                ModelKind::QTable => Some(mul(mul(shape.count, shape.action_dim)?, 4)?),
                _ => None,
            },
        ),
        (
            Section::Meta,
            (shape.meta_len > 0).then_some(shape.meta_len),
        ),
    ])
}

/// Walks every section in file order, calling `visit` with its span, and returns the offset of
/// the CRC (the next multiple of 16 after the last section). `dims(l)` gives layer `l`'s sizes.
pub(crate) fn walk(
    shape: &Shape,
    header_len: usize,
    dims: &dyn Fn(usize) -> LayerDims,
    visit: &mut dyn FnMut(Section, Span) -> Result<(), ModelError>,
) -> Result<usize, ModelError> {
    let mut cursor = Cursor { pos: header_len };
    for (s, len) in prefix_sections(shape)? {
        if let Some(len) = len {
            visit(s, cursor.section(len)?)?;
        }
    }
    if matches!(shape.kind, ModelKind::MlpF32 | ModelKind::MlpInt8) {
        for l in 0..shape.count {
            for (s, len) in layer_sections(shape.kind, l, dims(l))? {
                if let Some(len) = len {
                    visit(s, cursor.section(len)?)?;
                }
            }
        }
    }
    for (s, len) in suffix_sections(shape)? {
        if let Some(len) = len {
            visit(s, cursor.section(len)?)?;
        }
    }
    cursor
        .pos
        .checked_next_multiple_of(ALIGN)
        .ok_or_else(overflow)
}
