//! [`ModelView`], the zero-copy view of a model's bytes, and what its accessors hand out:
//! [`Normalization`], [`Table`], [`LayerView`] and the [`Layers`] iterator. Every accessor reads
//! with defaults, so it cannot panic; after [`ModelView::new_checked`] the defaults never apply.
use super::check::check_bytes;
use super::error::ModelError;
use super::format::{
    header, layer_record, limits, ActionSpec, HeadKind, ModelKind, QuantKind, BUFFER_ALIGN,
    FLAG_NORMALIZATION, HEADER_LEN, LAYER_RECORD_LEN,
};
use super::layout::{self, Cursor, LayerDims, Section, Shape, Span};
use super::meta::{meta_len_of, meta_of, Meta};
use super::read::{rd_f32, rd_i32, rd_u16, rd_u32, rd_u8};
use crate::nn::{Activation, DenseF32, DenseI8, QuantParams, BLOCK_PARAM_WORDS};

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

    pub(super) fn shape(&self) -> Shape {
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

    pub(super) fn prefix_spans(&self) -> [Span; 5] {
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

/// Layer `l`'s sizes as its record states them (placeholder values past the bytes).
pub(super) fn layer_dims_of(b: &[u8], kind: ModelKind, table: Span, l: usize) -> LayerDims {
    let rec = table.start + l * LAYER_RECORD_LEN;
    let act = rd_u8(b, rec + layer_record::ACTIVATION).and_then(Activation::from_code);
    LayerDims {
        in_dim: rd_u32(b, rec + layer_record::IN_DIM).unwrap_or(1) as usize,
        out_dim: rd_u32(b, rec + layer_record::OUT_DIM).unwrap_or(1) as usize,
        table: kind == ModelKind::MlpInt8 && act.and_then(Activation::int8_table).is_some(),
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
