//! The `.picorl` writer: a [`ModelSpec`] (borrowed f32 weights, as trained) in, a model file out,
//! into a caller-supplied buffer. no_std, no heap: the host's exporter calls it, and so can a test
//! or a device that learns.
//!
//! For int8 the writer does the quantization itself, with [`crate::nn::quant`]: per-output-channel
//! symmetric weights (`max|w| / 127`), int32 biases (`round(b / (s_in * s_w))`), TFLite's
//! `QuantizeMultiplier` of each channel's effective scale, the input zero point folded into the
//! bias. The caller only supplies the activation ranges it calibrated, as [`QuantParams`]
//! ([`QuantParams::from_range`]).

use super::layout::{self, LayerDims, Section, Shape, Span};
use super::{
    check_bytes, header, layer_record, HeadKind, ModelError, ModelKind, FLAG_NORMALIZATION,
    HEADER_LEN, LAYER_RECORD_LEN, MAGIC, MAX_META_LEN, VERSION,
};
use super::{crc32, limits};
use crate::nn::{
    padded_depth, padded_rows, quant, Activation, DenseF32, DenseI8, KernelRequant, QuantError,
    QuantParams, BLOCK, BLOCK_PARAM_WORDS,
};
use core::fmt;

/// One dense layer as trained: `y = act(W x + b)`.
#[derive(Debug, Clone, Copy)]
pub struct LayerSpec<'a> {
    /// Inputs.
    pub in_dim: usize,
    /// Outputs.
    pub out_dim: usize,
    /// `out_dim x in_dim` weights, row-major (PyTorch's `Linear.weight`).
    pub weights: &'a [f32],
    /// `out_dim` biases.
    pub bias: &'a [f32],
    /// The activation after the layer (identity for the last).
    pub activation: Activation,
}

/// Observation normalization statistics (SB3 `VecNormalize`'s `obs_rms`, `epsilon`, `clip_obs`).
#[derive(Debug, Clone, Copy)]
pub struct NormSpec<'a> {
    /// Per-value mean (`obs_dim` values).
    pub mean: &'a [f32],
    /// Per-value variance (`obs_dim` values, >= 0).
    pub var: &'a [f32],
    /// Added to the variance under the square root.
    pub epsilon: f32,
    /// Clip of the normalized values (> 0; +inf for none).
    pub clip: f32,
}

/// The policy head.
#[derive(Debug, Clone, Copy)]
pub enum HeadSpec<'a> {
    /// Argmax over `n` outputs.
    Discrete {
        /// Number of actions.
        n: u32,
    },
    /// `low + (tanh(mean) + 1) / 2 * (high - low)`.
    ContinuousTanh {
        /// Lower bounds.
        low: &'a [f32],
        /// Upper bounds.
        high: &'a [f32],
    },
    /// `clamp(mean, low, high)`.
    ContinuousClip {
        /// Lower bounds.
        low: &'a [f32],
        /// Upper bounds.
        high: &'a [f32],
    },
}

/// What computes the head's inputs.
#[derive(Debug, Clone, Copy)]
pub enum BodySpec<'a> {
    /// An MLP run in f32.
    MlpF32 {
        /// The layers, first to last.
        layers: &'a [LayerSpec<'a>],
    },
    /// An MLP quantized to int8 by the writer.
    MlpInt8 {
        /// The layers (f32, as trained), first to last; activations identity or ReLU.
        layers: &'a [LayerSpec<'a>],
        /// The quantization of the (normalized) observation.
        input: QuantParams,
        /// The quantization of each layer's output (after its activation).
        outputs: &'a [QuantParams],
    },
    /// A greedy action per state (`states` values, each below the head's `n`).
    GreedyTable {
        /// The actions.
        actions: &'a [u32],
    },
    /// A Q-table, `q[state * n + action]`.
    QTable {
        /// The values (`states * n`).
        q: &'a [f32],
    },
}

/// Everything the writer needs to produce a model file.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec<'a> {
    /// Values in one observation (1 for tabular models).
    pub obs_dim: usize,
    /// Observation normalization, if any.
    pub normalization: Option<NormSpec<'a>>,
    /// The head.
    pub head: HeadSpec<'a>,
    /// The body.
    pub body: BodySpec<'a>,
}

/// The metadata a file records (format version 2; see [`super::Meta`] for the bytes): the
/// environment id, its options as `(key, value)` strings, and the algorithm that trained it.
#[derive(Debug, Clone, Copy)]
pub struct MetaSpec<'a> {
    /// The environment id, 1 to 255 bytes.
    pub env: &'a str,
    /// The algorithm (may be empty), at most 255 bytes.
    pub algo: &'a str,
    /// The environment options; at most 255, each `key=value` at most 255 bytes, the key
    /// non-empty and without `=`.
    pub kwargs: &'a [(&'a str, &'a str)],
}

impl MetaSpec<'_> {
    /// Bytes of the encoded section, after checking every limit.
    fn encoded_len(&self) -> Result<usize, WriteError> {
        let ok = |t: &str| !t.chars().any(char::is_control);
        if self.env.is_empty() || self.env.len() > 255 || !ok(self.env) {
            return Err(spec_err(
                "meta.env",
                "1 to 255 bytes without control characters",
            ));
        }
        if self.algo.len() > 255 || !ok(self.algo) {
            return Err(spec_err(
                "meta.algo",
                "at most 255 bytes without control characters",
            ));
        }
        if self.kwargs.len() > 255 {
            return Err(spec_err("meta.kwargs", "at most 255 options"));
        }
        let mut n = 3 + self.env.len() + self.algo.len();
        for (k, v) in self.kwargs {
            if k.is_empty() || k.contains('=') || k.len() + v.len() + 1 > 255 || !ok(k) || !ok(v) {
                return Err(spec_err(
                    "meta.kwargs",
                    "each key non-empty without `=`, key=value at most 255 bytes, no control characters",
                ));
            }
            n += 2 + k.len() + v.len();
        }
        if n > MAX_META_LEN {
            return Err(spec_err("meta", "longer than MAX_META_LEN (4096) bytes"));
        }
        Ok(n)
    }

    /// Writes the section into `out` (exactly [`Self::encoded_len`] bytes).
    fn encode(&self, out: &mut [u8]) {
        let mut pos = 0;
        let mut push = |bytes: &[u8]| {
            put(out, pos, bytes);
            pos += bytes.len();
        };
        push(&[self.env.len() as u8]);
        push(self.env.as_bytes());
        push(&[self.algo.len() as u8]);
        push(self.algo.as_bytes());
        push(&[self.kwargs.len() as u8]);
        for (k, v) in self.kwargs {
            push(&[(k.len() + 1 + v.len()) as u8]);
            push(k.as_bytes());
            push(b"=");
            push(v.as_bytes());
        }
    }
}

/// Why the writer refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WriteError {
    /// The spec is inconsistent or outside the format's limits.
    Spec {
        /// The spec field at fault (`"layers[1].weights"`, `"head.low"`, …).
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes needed ([`required_len`]).
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// Quantizing a layer failed.
    Quant {
        /// The layer.
        layer: usize,
        /// The quantizer's error.
        error: QuantError,
    },
    /// The written bytes fail the reader's checks (for example an int8 layer whose biases break
    /// the accumulator bound, or a weight that is NaN).
    Invalid(ModelError),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Spec { field, reason } => write!(f, "model spec {field}: {reason}"),
            WriteError::BufferTooSmall { needed, got } => {
                write!(f, "output buffer has {got} bytes, the model needs {needed}")
            }
            WriteError::Quant { layer, error } => write!(f, "quantizing layer {layer}: {error}"),
            WriteError::Invalid(e) => write!(f, "written model fails the reader's checks: {e}"),
        }
    }
}

impl core::error::Error for WriteError {}

fn spec_err(field: &'static str, reason: &'static str) -> WriteError {
    WriteError::Spec { field, reason }
}

impl ModelSpec<'_> {
    fn kind(&self) -> ModelKind {
        match self.body {
            BodySpec::MlpF32 { .. } => ModelKind::MlpF32,
            BodySpec::MlpInt8 { .. } => ModelKind::MlpInt8,
            BodySpec::GreedyTable { .. } => ModelKind::GreedyTable,
            BodySpec::QTable { .. } => ModelKind::QTable,
        }
    }

    fn head_kind(&self) -> (HeadKind, usize) {
        match self.head {
            HeadSpec::Discrete { n } => (HeadKind::Discrete, n as usize),
            HeadSpec::ContinuousTanh { low, .. } => (HeadKind::ContinuousTanh, low.len()),
            HeadSpec::ContinuousClip { low, .. } => (HeadKind::ContinuousClip, low.len()),
        }
    }

    fn layers(&self) -> &[LayerSpec<'_>] {
        match self.body {
            BodySpec::MlpF32 { layers } | BodySpec::MlpInt8 { layers, .. } => layers,
            _ => &[],
        }
    }

    /// Checks the spec's own consistency and returns the file's shape.
    fn shape(&self) -> Result<Shape, WriteError> {
        let kind = self.kind();
        let (head, action_dim) = self.head_kind();
        if let HeadSpec::ContinuousTanh { low, high } | HeadSpec::ContinuousClip { low, high } =
            self.head
        {
            if high.len() != low.len() {
                return Err(spec_err("head.high", "length differs from head.low"));
            }
        }
        if let Some(n) = self.normalization {
            if n.mean.len() != self.obs_dim || n.var.len() != self.obs_dim {
                return Err(spec_err(
                    "normalization",
                    "mean and var need obs_dim values",
                ));
            }
        }
        let count = match self.body {
            BodySpec::MlpF32 { layers } | BodySpec::MlpInt8 { layers, .. } => {
                if layers.is_empty() || layers.len() > limits::MAX_LAYERS {
                    return Err(spec_err("layers", "between 1 and MAX_LAYERS layers"));
                }
                let mut prev = self.obs_dim;
                for l in layers {
                    if l.in_dim != prev {
                        return Err(spec_err(
                            "layers.in_dim",
                            "does not match obs_dim or the previous out_dim",
                        ));
                    }
                    if l.weights.len() != l.in_dim.saturating_mul(l.out_dim) {
                        return Err(spec_err("layers.weights", "needs out_dim * in_dim values"));
                    }
                    if l.bias.len() != l.out_dim {
                        return Err(spec_err("layers.bias", "needs out_dim values"));
                    }
                    prev = l.out_dim;
                }
                if prev != action_dim {
                    return Err(spec_err(
                        "layers.out_dim",
                        "the last layer's out_dim must equal the head's action count",
                    ));
                }
                if let BodySpec::MlpInt8 { outputs, .. } = self.body {
                    if outputs.len() != layers.len() {
                        return Err(spec_err("outputs", "one QuantParams per layer"));
                    }
                }
                layers.len()
            }
            BodySpec::GreedyTable { actions } => actions.len(),
            BodySpec::QTable { q } => {
                if action_dim == 0 || q.len() % action_dim != 0 {
                    return Err(spec_err(
                        "q",
                        "length must be a multiple of the action count",
                    ));
                }
                q.len() / action_dim
            }
        };
        Ok(Shape {
            kind,
            head,
            normalization: self.normalization.is_some(),
            obs_dim: self.obs_dim,
            action_dim,
            count,
            meta_len: 0,
        })
    }
}

/// Bytes the model file of `spec` takes.
pub fn required_len(spec: &ModelSpec<'_>) -> Result<usize, WriteError> {
    required_len_with_meta(spec, None)
}

/// [`required_len`] of a file that also records `meta`.
pub fn required_len_with_meta(
    spec: &ModelSpec<'_>,
    meta: Option<&MetaSpec<'_>>,
) -> Result<usize, WriteError> {
    let mut shape = spec.shape()?;
    shape.meta_len = meta.map(MetaSpec::encoded_len).transpose()?.unwrap_or(0);
    let layers = spec.layers();
    let int8 = matches!(spec.body, BodySpec::MlpInt8 { .. });
    let dims = |l: usize| {
        layers
            .get(l)
            .map(|s| LayerDims {
                in_dim: s.in_dim,
                out_dim: s.out_dim,
                table: int8 && s.activation.int8_table().is_some(),
            })
            .unwrap_or(LayerDims::ONE)
    };
    let crc_at =
        layout::walk(&shape, HEADER_LEN, &dims, &mut |_, _| Ok(())).map_err(WriteError::Invalid)?;
    Ok(crc_at + 4)
}

fn put(out: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(off..off + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

fn put_f32s(out: &mut [u8], span: Span, values: &[f32]) {
    for (i, v) in values.iter().enumerate().take(span.len / 4) {
        put(out, span.start + 4 * i, &v.to_le_bytes());
    }
}

/// Writes the model file of `spec` into `out` and returns its length.
///
/// The result passes [`super::ModelView::new_checked`] (the writer runs the reader's checks on it,
/// except the buffer alignment, which is the reader's business); otherwise it is an error.
pub fn write(spec: &ModelSpec<'_>, out: &mut [u8]) -> Result<usize, WriteError> {
    write_with_meta(spec, None, out)
}

/// [`write()`], recording `meta` (the environment, its options and the algorithm) in the file.
pub fn write_with_meta(
    spec: &ModelSpec<'_>,
    meta: Option<&MetaSpec<'_>>,
    out: &mut [u8],
) -> Result<usize, WriteError> {
    let len = required_len_with_meta(spec, meta)?;
    if out.len() < len {
        return Err(WriteError::BufferTooSmall {
            needed: len,
            got: out.len(),
        });
    }
    let mut shape = spec.shape()?;
    shape.meta_len = meta.map(MetaSpec::encoded_len).transpose()?.unwrap_or(0);
    let out = out.get_mut(..len).unwrap_or(&mut []);
    out.fill(0);
    put(out, header::MAGIC, &MAGIC);
    put(out, header::VERSION, &VERSION.to_le_bytes());
    put(out, header::KIND, &[shape.kind.code()]);
    put(out, header::HEAD, &[shape.head.code()]);
    let flags = if shape.normalization {
        FLAG_NORMALIZATION
    } else {
        0
    };
    put(out, header::FLAGS, &flags.to_le_bytes());
    for (off, v) in [
        (header::OBS_DIM, shape.obs_dim),
        (header::ACTION_DIM, shape.action_dim),
        (header::COUNT, shape.count),
        (header::FILE_LEN, len),
        (header::META_LEN, shape.meta_len),
    ] {
        let v = u32::try_from(v)
            .map_err(|_| spec_err("shape", "does not fit the format's u32 fields"))?;
        put(out, off, &v.to_le_bytes());
    }
    if let Some(n) = spec.normalization {
        put(out, header::NORM_CLIP, &n.clip.to_le_bytes());
        put(out, header::NORM_EPS, &n.epsilon.to_le_bytes());
    }
    if let BodySpec::MlpInt8 { input, .. } = spec.body {
        put(out, header::INPUT_SCALE, &input.scale.to_le_bytes());
        put(
            out,
            header::INPUT_ZERO_POINT,
            &input.zero_point.to_le_bytes(),
        );
    }
    let layers = spec.layers();
    let int8 = matches!(spec.body, BodySpec::MlpInt8 { .. });
    let dims = |l: usize| {
        layers
            .get(l)
            .map(|s| LayerDims {
                in_dim: s.in_dim,
                out_dim: s.out_dim,
                table: int8 && s.activation.int8_table().is_some(),
            })
            .unwrap_or(LayerDims::ONE)
    };
    let mut failure: Option<WriteError> = None;
    let crc_at = layout::walk(&shape, HEADER_LEN, &dims, &mut |s, span| {
        let result = match (s, meta) {
            (Section::Meta, Some(m)) => {
                m.encode(out.get_mut(span.start..span.end()).unwrap_or(&mut []));
                Ok(())
            }
            _ => write_section(spec, out, s, span),
        };
        if let Err(e) = result {
            failure.get_or_insert(e);
        }
        Ok(())
    })
    .map_err(WriteError::Invalid)?;
    if let Some(e) = failure {
        return Err(e);
    }
    let crc = crc32(out.get(..crc_at).unwrap_or(&[]));
    put(out, crc_at, &crc.to_le_bytes());
    check_bytes(out).map_err(WriteError::Invalid)?;
    Ok(len)
}

fn write_section(
    spec: &ModelSpec<'_>,
    out: &mut [u8],
    s: Section,
    span: Span,
) -> Result<(), WriteError> {
    let layers = spec.layers();
    match s {
        Section::LayerTable => {
            for (l, layer) in layers.iter().enumerate() {
                let rec = span.start + l * LAYER_RECORD_LEN;
                put(
                    out,
                    rec + layer_record::IN_DIM,
                    &(layer.in_dim as u32).to_le_bytes(),
                );
                put(
                    out,
                    rec + layer_record::OUT_DIM,
                    &(layer.out_dim as u32).to_le_bytes(),
                );
                put(
                    out,
                    rec + layer_record::ACTIVATION,
                    &[layer.activation.code()],
                );
                if let BodySpec::MlpInt8 { outputs, .. } = spec.body {
                    let q = outputs.get(l).copied().unwrap_or(QuantParams {
                        scale: 0.0,
                        zero_point: 0,
                    });
                    put(out, rec + layer_record::OUT_SCALE, &q.scale.to_le_bytes());
                    put(
                        out,
                        rec + layer_record::OUT_ZERO_POINT,
                        &q.zero_point.to_le_bytes(),
                    );
                }
            }
        }
        Section::NormMean => put_f32s(out, span, spec.normalization.map(|n| n.mean).unwrap_or(&[])),
        Section::NormVar => put_f32s(out, span, spec.normalization.map(|n| n.var).unwrap_or(&[])),
        Section::ActionLow | Section::ActionHigh => {
            if let HeadSpec::ContinuousTanh { low, high } | HeadSpec::ContinuousClip { low, high } =
                spec.head
            {
                put_f32s(out, span, if s == Section::ActionLow { low } else { high });
            }
        }
        Section::Meta => {}
        Section::Weights(l)
        | Section::Bias(l)
        | Section::Params(l)
        | Section::WeightScales(l)
        | Section::ActTable(l) => {
            let Some(layer) = layers.get(l) else {
                return Ok(());
            };
            match spec.body {
                BodySpec::MlpInt8 { input, outputs, .. } => {
                    // After a tanh or sigmoid, the next layer reads that activation's fixed
                    // quantization.
                    let in_q = match l.checked_sub(1) {
                        None => input,
                        Some(p) => match layers.get(p).and_then(|x| x.activation.int8_table()) {
                            Some(t) => t.output(),
                            None => outputs.get(p).copied().unwrap_or(input),
                        },
                    };
                    let out_q = outputs.get(l).copied().unwrap_or(input);
                    // Only the last layer's output, without an activation, may be offset
                    // beyond int8's zero points (version 3, `QuantParams::from_output_range`).
                    let wide = l + 1 == layers.len() && layer.activation == Activation::Identity;
                    if !(out_q.is_valid() || wide && out_q.is_valid_output()) {
                        return Err(spec_err(
                            "input/outputs",
                            "quantization parameters need a finite scale > 0 and an int8 zero point (the last layer's, without activation: at most 2^20 in size)",
                        ));
                    }
                    write_int8(out, s, span, l, layer, in_q, out_q)?;
                }
                _ => write_f32(out, s, span, layer),
            }
        }
        Section::Table => match spec.body {
            BodySpec::GreedyTable { actions } => {
                for (i, a) in actions.iter().enumerate() {
                    put(out, span.start + 4 * i, &a.to_le_bytes());
                }
            }
            BodySpec::QTable { q } => put_f32s(out, span, q),
            _ => {}
        },
    }
    Ok(())
}

fn write_f32(out: &mut [u8], s: Section, span: Span, layer: &LayerSpec<'_>) {
    match s {
        Section::Weights(_) => {
            if layer.in_dim == 0 {
                return;
            }
            for (row, w) in layer.weights.chunks_exact(layer.in_dim).enumerate() {
                for (col, v) in w.iter().enumerate() {
                    let i = DenseF32::weight_index(layer.in_dim, row, col);
                    put(out, span.start + 4 * i, &v.to_le_bytes());
                }
            }
        }
        Section::Bias(_) => put_f32s(out, span, layer.bias),
        _ => {}
    }
}

fn write_int8(
    out: &mut [u8],
    s: Section,
    span: Span,
    l: usize,
    layer: &LayerSpec<'_>,
    in_q: QuantParams,
    out_q: QuantParams,
) -> Result<(), WriteError> {
    let qerr = |error| WriteError::Quant { layer: l, error };
    let table = layer.activation.int8_table();
    if !layer.activation.int8_supported() && table.is_none() {
        return Err(spec_err(
            "layers.activation",
            "int8 layers support identity, relu, tanh and sigmoid only (hardtanh: identity with range [-1, 1])",
        ));
    }
    // The output's parameters are checked by the caller (the last layer's may have a wide zero
    // point, format version 3).
    if !in_q.is_valid() || !out_q.is_valid_output() {
        return Err(spec_err(
            "input/outputs",
            "quantization parameters need a finite scale > 0 and an int8 zero point",
        ));
    }
    if let (Section::ActTable(_), Some(t)) = (s, table) {
        let values = crate::nn::int8_act::table(t, out_q).map_err(qerr)?;
        for (i, v) in values.iter().enumerate() {
            put(out, span.start + i, &[*v as u8]);
        }
        return Ok(());
    }
    let in_dim = layer.in_dim;
    if in_dim == 0 {
        return Ok(());
    }
    for (row, w) in layer.weights.chunks_exact(in_dim).enumerate() {
        let scale = quant::weight_scale(w).map_err(qerr)?;
        match s {
            Section::Weights(_) => {
                for (col, v) in w.iter().enumerate() {
                    let q = quant::quantize_weight(*v, scale) as i16;
                    let i = DenseI8::weight_index(in_dim, row, col);
                    put(out, span.start + 2 * i, &q.to_le_bytes());
                }
            }
            Section::Params(_) => {
                let b = layer.bias.get(row).copied().unwrap_or(0.0);
                let bias = quant::quantize_bias(b, in_q.scale, scale).map_err(qerr)?;
                let sum = w.iter().fold(0i32, |acc, v| {
                    acc.wrapping_add(quant::quantize_weight(*v, scale) as i32)
                });
                let folded = bias.wrapping_sub(in_q.zero_point.wrapping_mul(sum));
                let (multiplier, shift) = quant::quantize_multiplier(quant::effective_scale(
                    in_q.scale,
                    scale,
                    out_q.scale,
                ))
                .map_err(qerr)?;
                if !(-31..=30).contains(&shift) {
                    return Err(qerr(QuantError::BadScale));
                }
                let block = span.start + (row / BLOCK) * BLOCK_PARAM_WORDS * 4;
                put(out, block + 4 * (row % BLOCK), &folded.to_le_bytes());
                let words = KernelRequant { multiplier, shift }.to_words();
                for (k, word) in words.iter().enumerate() {
                    put(
                        out,
                        block + 4 * (BLOCK + 4 * (row % BLOCK) + k),
                        &word.to_le_bytes(),
                    );
                }
            }
            Section::WeightScales(_) => put(out, span.start + 4 * row, &scale.to_le_bytes()),
            _ => {}
        }
    }
    // Padding channels: zero bias, the requantization of (multiplier 0, shift 0).
    if let Section::Params(_) = s {
        let zero = KernelRequant {
            multiplier: 0,
            shift: 0,
        }
        .to_words();
        for row in layer.out_dim..padded_rows(layer.out_dim) {
            let block = span.start + (row / BLOCK) * BLOCK_PARAM_WORDS * 4;
            for (k, word) in zero.iter().enumerate() {
                put(
                    out,
                    block + 4 * (BLOCK + 4 * (row % BLOCK) + k),
                    &word.to_le_bytes(),
                );
            }
        }
    }
    let _ = padded_depth;
    Ok(())
}
