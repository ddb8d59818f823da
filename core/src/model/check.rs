//! Everything [`ModelView::new_checked`] verifies, once: the header, the layer records, the walk
//! over the sections (offsets, alignment, zero padding), each section's values, and the CRC-32.
//! After it passes, no accessor can fail.
use super::crc32::crc32;
use super::error::ModelError;
use super::format::{
    header, layer_record, limits, HeadKind, ModelKind, FLAG_NORMALIZATION, HEADER_LEN,
    LAYER_RECORD_LEN, MAGIC, MAX_META_LEN, VERSION, VERSION_1, VERSION_2,
};
use super::layout::{self, LayerDims, Section, Shape, Span, ACT_TABLE_LEN};
use super::meta::Meta;
use super::read::{rd_f32, rd_i32, rd_u16, rd_u32, rd_u8, read_array};
use crate::nn::{
    padded_depth, padded_rows, quant, Activation, DenseF32, DenseI8, KernelRequant, QuantParams,
    BLOCK, BLOCK_PARAM_WORDS,
};

/// `x` is finite and > 0.
pub(super) fn positive_finite(x: f32) -> bool {
    x.is_finite() && x > 0.0
}

pub(super) fn field_err(field: &'static str, offset: usize, reason: &'static str) -> ModelError {
    ModelError::Field {
        field,
        offset,
        reason,
    }
}

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
