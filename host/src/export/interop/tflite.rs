//! `picorl export --out FILE.tflite --quant int8`: an int8 `.picorl` model as a TensorFlow Lite
//! flatbuffer that TFLite Micro runs to the same bits.
//!
//! ```text
//! obs f32 [1, obs_dim]
//!  ─► SUB(mean) ─► DIV(std) ─► MINIMUM(clip) ─► MAXIMUM(-clip)     (if the model normalizes)
//!  ─► QUANTIZE ─► int8
//!  ─► FULLY_CONNECTED (int8 weights per output channel, int32 bias, fused RELU or NONE)
//!      [─► TANH | LOGISTIC (int8, output 1/128, 0 | 1/256, -128)] ...
//!  ─► DEQUANTIZE ─► outputs f32 [1, n]                               (the head's inputs)
//!  ─► ARG_MAX(axis 1) ─► action int32 [1]                            (discrete)
//!   | TANH ─► ADD(1) ─► MUL(0.5) ─► MUL(high-low) ─► ADD(low) ─► action f32 [1, n]
//!   | MAXIMUM(low) ─► MINIMUM(high) ─► action f32 [1, n]
//! ```
//!
//! Every number comes from the `.picorl` file: the input's scale and zero point, each layer's
//! per-channel weight scales (symmetric, zero points 0, `quantized_dimension` 0), the int32 biases
//! as TFLite stores them (core folds the input zero point into its biases; [`LayerView::tflite_bias`]
//! unfolds it), and each layer's output scale and zero point. TFLM derives each channel's
//! multiplier from `input_scale * weight_scale[c] / output_scale` exactly as core's writer did, and
//! core's reader refuses a file whose stored multipliers differ from that derivation; so TFLM's
//! FULLY_CONNECTED computes core's int8 values, and DEQUANTIZE core's f32 outputs, bit for bit. The
//! float edges (normalization, head) are the same IEEE operations in the same order as core's;
//! only TANH goes through the runtime's own `tanh`.
//!
//! A hardtanh hidden layer is, in the `.picorl` int8 file already, an identity layer whose output
//! range lies inside `[-1, 1]` (its int8 saturation is the clamp), and is written as such (fused
//! NONE). A tanh or sigmoid hidden layer (format version 2) is FULLY_CONNECTED (fused NONE) into the
//! layer record's quantization, then TFLite's int8 TANH or LOGISTIC, whose values core's activation
//! table holds exactly as TFLM's reference kernel computes them (`picorl_core::nn::int8_act`).
//!
//! Shapes are fixed at batch 1, the way TFLite Micro runs a model.
//!
//! Tables are built with the `flatbuffers` crate's builder against TFLite's schema
//! (`tensorflow/compiler/mlir/lite/schema/schema.fbs`, schema version 3, file identifier
//! `TFL3`); field ids and enum values below are that file's.

use anyhow::{anyhow, bail, Result};
use flatbuffers::{field_index_to_field_offset as field, FlatBufferBuilder, WIPOffset};
use picorl_core::model::{HeadKind, LayerData, LayerView, Model, ModelKind};
use picorl_core::nn::int8_act::TableActivation;
use picorl_core::nn::{Activation, QuantParams};

/// `Model.version`: the schema version TFLite and TFLM accept.
pub const SCHEMA_VERSION: u32 = 3;

/// `enum TensorType : byte` (schema.fbs).
mod tensor_type {
    pub const FLOAT32: i8 = 0;
    pub const INT32: i8 = 2;
    pub const INT8: i8 = 9;
}

/// `enum BuiltinOperator : int32` (schema.fbs).
mod op {
    pub const ADD: i32 = 0;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MUL: i32 = 18;
    pub const TANH: i32 = 28;
    pub const SUB: i32 = 41;
    pub const DIV: i32 = 42;
    pub const MAXIMUM: i32 = 55;
    pub const ARG_MAX: i32 = 56;
    pub const MINIMUM: i32 = 57;
    pub const QUANTIZE: i32 = 114;
}

/// `union BuiltinOptions` type tags (schema.fbs).
mod options {
    pub const NONE: u8 = 0;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const ADD: u8 = 11;
    pub const MUL: u8 = 21;
    pub const SUB: u8 = 28;
    pub const DIV: u8 = 29;
    pub const DEQUANTIZE: u8 = 38;
    pub const MAXIMUM_MINIMUM: u8 = 39;
    pub const ARG_MAX: u8 = 40;
    pub const QUANTIZE: u8 = 89;
}

/// `enum ActivationFunctionType : byte` (schema.fbs).
mod activation {
    pub const NONE: i8 = 0;
    pub const RELU: i8 = 1;
}

/// A tensor's quantization: `real = scale[c] * (q - zero_point[c])` along `dim`.
#[derive(Debug, Clone, PartialEq)]
struct Quantization {
    scale: Vec<f32>,
    zero_point: Vec<i64>,
    dim: i32,
}

impl Quantization {
    fn per_tensor(q: QuantParams) -> Self {
        Self {
            scale: vec![q.scale],
            zero_point: vec![i64::from(q.zero_point)],
            dim: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Tensor {
    name: String,
    shape: Vec<i32>,
    ty: i8,
    /// Index into the buffers; 0 (the empty buffer) for a computed tensor.
    buffer: u32,
    quant: Option<Quantization>,
}

/// An operator's builtin options: the union tag and, for tables with fields, their content.
#[derive(Debug, Clone, Copy)]
enum Options {
    /// `FullyConnectedOptions { fused_activation_function }`.
    FullyConnected(i8),
    /// `AddOptions`, `MulOptions`, `SubOptions`, `DivOptions` (`fused_activation_function`
    /// NONE), by union tag.
    Arithmetic(u8),
    /// `ArgMaxOptions { output_type }`.
    ArgMax(i8),
    /// A table without fields, by union tag.
    Empty(u8),
}

#[derive(Debug, Clone)]
struct Operator {
    code: i32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Options,
}

/// The graph being built: tensors, constant buffers (buffer 0 is the empty one), operators.
#[derive(Debug)]
struct Graph {
    tensors: Vec<Tensor>,
    buffers: Vec<Vec<u8>>,
    ops: Vec<Operator>,
}

impl Graph {
    fn new() -> Self {
        Self {
            tensors: Vec::new(),
            buffers: vec![Vec::new()],
            ops: Vec::new(),
        }
    }

    fn tensor(&mut self, name: &str, shape: &[i32], ty: i8, quant: Option<Quantization>) -> i32 {
        self.tensors.push(Tensor {
            name: name.to_string(),
            shape: shape.to_vec(),
            ty,
            buffer: 0,
            quant,
        });
        (self.tensors.len() - 1) as i32
    }

    fn constant(
        &mut self,
        name: &str,
        shape: &[i32],
        ty: i8,
        data: Vec<u8>,
        quant: Option<Quantization>,
    ) -> i32 {
        self.buffers.push(data);
        let t = self.tensor(name, shape, ty, quant);
        self.tensors[t as usize].buffer = (self.buffers.len() - 1) as u32;
        t
    }

    fn f32_constant(&mut self, name: &str, values: &[f32]) -> i32 {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(
            name,
            &[1, values.len() as i32],
            tensor_type::FLOAT32,
            data,
            None,
        )
    }

    fn op(&mut self, code: i32, inputs: &[i32], outputs: &[i32], options: Options) {
        self.ops.push(Operator {
            code,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            options,
        });
    }

    /// `out = a (op) b` on f32 `[1, n]` tensors, a new tensor named `name`.
    fn binary(&mut self, code: i32, tag: u8, a: i32, b: i32, name: &str, n: i32) -> i32 {
        let out = self.tensor(name, &[1, n], tensor_type::FLOAT32, None);
        let options = if tag == options::MAXIMUM_MINIMUM {
            Options::Empty(tag)
        } else {
            Options::Arithmetic(tag)
        };
        self.op(code, &[a, b], &[out], options);
        out
    }
}

/// One int8 layer's weights `[out][in]`, TFLite biases and quantizations.
/// Returns the layer's output tensor and whether the layer has an activation.
fn layer_tensors(g: &mut Graph, layer: &LayerView<'_>, input: i32) -> Result<(i32, bool)> {
    let k = layer.index;
    let LayerData::Int8 {
        dense,
        input: in_q,
        fc_output,
        weight_scales,
        ..
    } = layer.data
    else {
        bail!("layer {k}: not an int8 layer");
    };
    let (rows, cols) = (layer.out_dim, layer.in_dim);
    let mut w = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let v = dense
                .weight(r, c)
                .ok_or_else(|| anyhow!("layer {k}: weight [{r}][{c}] missing"))?;
            w.push(
                i8::try_from(v).map_err(|_| anyhow!("layer {k}: weight {v} is not int8"))? as u8,
            );
        }
    }
    let mut bias = Vec::with_capacity(rows * 4);
    for r in 0..rows {
        let b = layer
            .tflite_bias(r)
            .ok_or_else(|| anyhow!("layer {k}: bias {r} missing"))?;
        bias.extend_from_slice(&b.to_le_bytes());
    }
    let scales = weight_scales
        .get(..rows)
        .ok_or_else(|| anyhow!("layer {k}: {} weight scales", weight_scales.len()))?
        .to_vec();
    let wt = g.constant(
        &format!("layer{k}/weights"),
        &[rows as i32, cols as i32],
        tensor_type::INT8,
        w,
        Some(Quantization {
            scale: scales.clone(),
            zero_point: vec![0; rows],
            dim: 0,
        }),
    );
    // The bias scale TFLite expects, input_scale * weight_scale[c] (informative: TFLM computes
    // with the input and weight scales themselves).
    let bias_scales = scales
        .iter()
        .map(|&s| (f64::from(in_q.scale) * f64::from(s)) as f32)
        .collect();
    let bt = g.constant(
        &format!("layer{k}/bias"),
        &[rows as i32],
        tensor_type::INT32,
        bias,
        Some(Quantization {
            scale: bias_scales,
            zero_point: vec![0; rows],
            dim: 0,
        }),
    );
    let out = g.tensor(
        &format!("layer{k}/output"),
        &[1, rows as i32],
        tensor_type::INT8,
        Some(Quantization::per_tensor(fc_output)),
    );
    let (fused, table) = match layer.activation {
        Activation::Relu => (activation::RELU, None),
        Activation::Identity => (activation::NONE, None),
        a => match a.int8_table() {
            Some(t) => (activation::NONE, Some(t)),
            None => bail!("layer {k}: activation {a} has no int8 form"),
        },
    };
    g.op(
        op::FULLY_CONNECTED,
        &[input, wt, bt],
        &[out],
        Options::FullyConnected(fused),
    );
    // Tanh and sigmoid: TFLite's separate int8 TANH / LOGISTIC op, whose output quantization is
    // fixed (1/128, 0 and 1/256, -128); core's table holds what TFLM's kernel computes.
    let Some(t) = table else {
        return Ok((out, fused != activation::NONE));
    };
    let (code, name) = match t {
        TableActivation::Tanh => (op::TANH, "tanh"),
        TableActivation::Logistic => (op::LOGISTIC, "logistic"),
    };
    let act = g.tensor(
        &format!("layer{k}/{name}"),
        &[1, rows as i32],
        tensor_type::INT8,
        Some(Quantization::per_tensor(t.output())),
    );
    g.op(code, &[out], &[act], Options::Empty(options::NONE));
    Ok((act, true))
}

/// The graph of an int8 `.picorl` MLP (module documentation).
fn graph(model: &Model<'_>) -> Result<(Graph, i32, Vec<i32>)> {
    if model.kind() != ModelKind::MlpInt8 {
        bail!("TFLite export needs an int8 network model");
    }
    let in_q = model
        .input_quant()
        .ok_or_else(|| anyhow!("the int8 model has no input quantization"))?;
    let obs_dim = model.obs_dim() as i32;
    let mut g = Graph::new();
    let obs = g.tensor("obs", &[1, obs_dim], tensor_type::FLOAT32, None);
    let mut x = obs;
    if let Some(n) = model.normalization() {
        let std: Vec<f32> = n
            .var
            .iter()
            .map(|&v| picorl_core::policy::norm_std(v, n.epsilon))
            .collect();
        let mean = g.f32_constant("norm/mean", n.mean);
        let std = g.f32_constant("norm/std", &std);
        x = g.binary(op::SUB, options::SUB, x, mean, "norm/centered", obs_dim);
        x = g.binary(op::DIV, options::DIV, x, std, "norm/scaled", obs_dim);
        if n.clip.is_finite() {
            let hi = g.f32_constant("norm/clip_high", &vec![n.clip; obs_dim as usize]);
            let lo = g.f32_constant("norm/clip_low", &vec![-n.clip; obs_dim as usize]);
            let mm = options::MAXIMUM_MINIMUM;
            x = g.binary(op::MINIMUM, mm, x, hi, "norm/clipped_high", obs_dim);
            x = g.binary(op::MAXIMUM, mm, x, lo, "norm/clipped", obs_dim);
        }
    }
    let q = g.tensor(
        "obs_quantized",
        &[1, obs_dim],
        tensor_type::INT8,
        Some(Quantization::per_tensor(in_q)),
    );
    g.op(op::QUANTIZE, &[x], &[q], Options::Empty(options::QUANTIZE));
    x = q;
    let n_layers = model.n_layers();
    if n_layers == 0 {
        bail!("the model has no layers");
    }
    let mut n_out = 0;
    for layer in model.layers() {
        let (out, activated) = layer_tensors(&mut g, &layer, x)?;
        if layer.index + 1 == n_layers && activated {
            bail!("layer {}: the last layer has an activation", layer.index);
        }
        x = out;
        n_out = layer.out_dim as i32;
    }
    let outputs = g.tensor("outputs", &[1, n_out], tensor_type::FLOAT32, None);
    g.op(
        op::DEQUANTIZE,
        &[x],
        &[outputs],
        Options::Empty(options::DEQUANTIZE),
    );
    let action = match model.head() {
        HeadKind::Discrete => {
            let axis = g.constant(
                "head/axis",
                &[1],
                tensor_type::INT32,
                1i32.to_le_bytes().to_vec(),
                None,
            );
            let a = g.tensor("action", &[1], tensor_type::INT32, None);
            g.op(
                op::ARG_MAX,
                &[outputs, axis],
                &[a],
                Options::ArgMax(tensor_type::INT32),
            );
            a
        }
        head => {
            let (low, high) = model
                .action_bounds()
                .ok_or_else(|| anyhow!("a continuous head without action bounds"))?;
            let n = n_out as usize;
            if head == HeadKind::ContinuousTanh {
                // core: low + (0.5 * (tanh(mean) + 1)) * (high - low), in this order, in f32.
                let range: Vec<f32> = low.iter().zip(high).map(|(l, h)| h - l).collect();
                let one = g.f32_constant("head/one", &vec![1.0; n]);
                let half = g.f32_constant("head/half", &vec![0.5; n]);
                let range = g.f32_constant("head/range", &range);
                let low = g.f32_constant("head/low", low);
                let t = g.tensor("head/tanh", &[1, n_out], tensor_type::FLOAT32, None);
                g.op(op::TANH, &[outputs], &[t], Options::Empty(options::NONE));
                let t = g.binary(op::ADD, options::ADD, t, one, "head/plus_one", n_out);
                let t = g.binary(op::MUL, options::MUL, half, t, "head/unit", n_out);
                let t = g.binary(op::MUL, options::MUL, t, range, "head/scaled", n_out);
                g.binary(op::ADD, options::ADD, low, t, "action", n_out)
            } else {
                // core: mean < low ? low : mean > high ? high : mean.
                let lo = g.f32_constant("head/low", low);
                let hi = g.f32_constant("head/high", high);
                let mm = options::MAXIMUM_MINIMUM;
                let t = g.binary(op::MAXIMUM, mm, outputs, lo, "head/above_low", n_out);
                g.binary(op::MINIMUM, mm, t, hi, "action", n_out)
            }
        }
    };
    Ok((g, obs, vec![outputs, action]))
}

/// Serializes the graph as a `Model` table (schema.fbs field ids in the comments).
fn serialize(g: &Graph, input: i32, outputs: &[i32]) -> Vec<u8> {
    let mut b =
        FlatBufferBuilder::with_capacity(1024 + g.buffers.iter().map(Vec::len).sum::<usize>());

    // table Buffer { data:[ubyte] (0); }
    let buffers: Vec<WIPOffset<_>> = g
        .buffers
        .iter()
        .map(|data| {
            let v = (!data.is_empty()).then(|| b.create_vector(data));
            let t = b.start_table();
            if let Some(v) = v {
                b.push_slot_always(field(0), v);
            }
            b.end_table(t)
        })
        .collect();

    // table QuantizationParameters { min (0), max (1), scale:[float] (2), zero_point:[long] (3),
    //   details (4, 5), quantized_dimension:int (6); }
    // table Tensor { shape:[int] (0), type:TensorType (1), buffer:uint (2), name:string (3),
    //   quantization (4), ... }
    let tensors: Vec<WIPOffset<_>> = g
        .tensors
        .iter()
        .map(|t| {
            let quant = t.quant.as_ref().map(|q| {
                let scale = b.create_vector(&q.scale);
                let zp = b.create_vector(&q.zero_point);
                let s = b.start_table();
                b.push_slot_always(field(2), scale);
                b.push_slot_always(field(3), zp);
                b.push_slot(field(6), q.dim, 0);
                b.end_table(s)
            });
            let shape = b.create_vector(&t.shape);
            let name = b.create_string(&t.name);
            let s = b.start_table();
            b.push_slot_always(field(0), shape);
            b.push_slot(field(1), t.ty, 0);
            b.push_slot(field(2), t.buffer, 0);
            b.push_slot_always(field(3), name);
            if let Some(q) = quant {
                b.push_slot_always(field(4), q);
            }
            b.end_table(s)
        })
        .collect();

    // The operator codes used, in order of first use.
    let mut codes: Vec<i32> = Vec::new();
    for o in &g.ops {
        if !codes.contains(&o.code) {
            codes.push(o.code);
        }
    }
    // table Operator { opcode_index:uint (0), inputs:[int] (1), outputs:[int] (2),
    //   builtin_options_type (3), builtin_options (4), ... }
    // Options tables: FullyConnectedOptions { fused_activation_function (0), ... };
    // Add/Mul/Sub/DivOptions { fused_activation_function (0), ... }; ArgMaxOptions { output_type (0) }.
    let ops: Vec<WIPOffset<_>> = g
        .ops
        .iter()
        .map(|o| {
            let (tag, opts) = match o.options {
                Options::FullyConnected(act) => {
                    let s = b.start_table();
                    b.push_slot(field(0), act, 0);
                    (options::FULLY_CONNECTED, Some(b.end_table(s)))
                }
                Options::Arithmetic(tag) => {
                    let s = b.start_table();
                    b.push_slot(field(0), activation::NONE, 0);
                    (tag, Some(b.end_table(s)))
                }
                Options::ArgMax(ty) => {
                    let s = b.start_table();
                    b.push_slot_always(field(0), ty);
                    (options::ARG_MAX, Some(b.end_table(s)))
                }
                Options::Empty(tag) if tag != options::NONE => {
                    let s = b.start_table();
                    (tag, Some(b.end_table(s)))
                }
                Options::Empty(_) => (options::NONE, None),
            };
            let inputs = b.create_vector(&o.inputs);
            let outputs = b.create_vector(&o.outputs);
            let index = codes.iter().position(|&c| c == o.code).unwrap_or(0) as u32;
            let s = b.start_table();
            b.push_slot(field(0), index, 0);
            b.push_slot_always(field(1), inputs);
            b.push_slot_always(field(2), outputs);
            if let Some(opts) = opts {
                b.push_slot(field(3), tag, options::NONE);
                b.push_slot_always(field(4), opts.as_union_value());
            }
            b.end_table(s)
        })
        .collect();

    // table OperatorCode { deprecated_builtin_code:byte (0), custom_code (1), version:int = 1 (2),
    //   builtin_code:BuiltinOperator (3); } — codes above 126 keep 127
    //   (PLACEHOLDER_FOR_GREATER_OP_CODES) in the deprecated field.
    let opcodes: Vec<WIPOffset<_>> = codes
        .iter()
        .map(|&c| {
            let s = b.start_table();
            b.push_slot(field(0), c.min(127) as i8, 0);
            b.push_slot(field(2), 1i32, 1);
            b.push_slot(field(3), c, 0);
            b.end_table(s)
        })
        .collect();

    // table SubGraph { tensors (0), inputs:[int] (1), outputs:[int] (2), operators (3), name (4); }
    let tensors = b.create_vector(&tensors);
    let inputs = b.create_vector(&[input]);
    let outs = b.create_vector(outputs);
    let ops = b.create_vector(&ops);
    let name = b.create_string("picorl_policy");
    let s = b.start_table();
    b.push_slot_always(field(0), tensors);
    b.push_slot_always(field(1), inputs);
    b.push_slot_always(field(2), outs);
    b.push_slot_always(field(3), ops);
    b.push_slot_always(field(4), name);
    let subgraph = b.end_table(s);

    // table Model { version:uint (0), operator_codes (1), subgraphs (2), description:string (3),
    //   buffers (4), ... }
    let opcodes = b.create_vector(&opcodes);
    let subgraphs = b.create_vector(&[subgraph]);
    let description = b.create_string(concat!("picorl ", env!("CARGO_PKG_VERSION")));
    let buffers = b.create_vector(&buffers);
    let s = b.start_table();
    b.push_slot(field(0), SCHEMA_VERSION, 0);
    b.push_slot_always(field(1), opcodes);
    b.push_slot_always(field(2), subgraphs);
    b.push_slot_always(field(3), description);
    b.push_slot_always(field(4), buffers);
    let root = b.end_table(s);
    b.finish(root, Some("TFL3"));
    b.finished_data().to_vec()
}

/// The `.tflite` bytes of an int8 `.picorl` MLP.
pub fn encode(model: &Model<'_>) -> Result<Vec<u8>> {
    let (g, input, outputs) = graph(model)?;
    Ok(serialize(&g, input, &outputs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::AlignedBytes;
    use picorl_core::model::{self, BodySpec, HeadSpec, LayerSpec, ModelSpec};

    fn int8_model(head: HeadSpec<'_>) -> AlignedBytes {
        let w0 = [0.5, -1.0, 2.0, 0.25, 0.75, -0.5];
        let w1 = [1.0, 2.0, -3.0, 4.0];
        let layers = [
            LayerSpec {
                in_dim: 3,
                out_dim: 2,
                weights: &w0,
                bias: &[0.1, -0.2],
                activation: Activation::Relu,
            },
            LayerSpec {
                in_dim: 2,
                out_dim: 2,
                weights: &w1,
                bias: &[0.0, 1.0],
                activation: Activation::Identity,
            },
        ];
        let q = |lo, hi| QuantParams::from_range(lo, hi).unwrap();
        let outputs = [q(0.0, 3.0), q(-10.0, 12.0)];
        let spec = ModelSpec {
            obs_dim: 3,
            normalization: None,
            head,
            body: BodySpec::MlpInt8 {
                layers: &layers,
                input: q(-2.0, 2.0),
                outputs: &outputs,
            },
        };
        let mut buf = AlignedBytes::zeroed(model::required_len(&spec).unwrap());
        let n = model::write(&spec, buf.as_mut_bytes()).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn discrete_graph_and_numbers() {
        let bytes = int8_model(HeadSpec::Discrete { n: 2 });
        let m = Model::parse(bytes.as_bytes()).unwrap();
        let (g, input, outputs) = graph(&m).unwrap();
        let codes: Vec<i32> = g.ops.iter().map(|o| o.code).collect();
        assert_eq!(
            codes,
            [
                op::QUANTIZE,
                op::FULLY_CONNECTED,
                op::FULLY_CONNECTED,
                op::DEQUANTIZE,
                op::ARG_MAX
            ]
        );
        assert_eq!(g.tensors[input as usize].name, "obs");
        let names: Vec<&str> = outputs
            .iter()
            .map(|&o| g.tensors[o as usize].name.as_str())
            .collect();
        assert_eq!(names, ["outputs", "action"]);
        // Layer 0's weights: row 0 is [0.5, -1, 2] with scale 2/127, so 2 -> 127, -1 -> -63.5
        // rounded away from zero -> -64, 0.5 -> 31.75 -> 32.
        let w0 = g
            .tensors
            .iter()
            .find(|t| t.name == "layer0/weights")
            .unwrap();
        let data = &g.buffers[w0.buffer as usize];
        assert_eq!(&data[..3], &[32u8, (-64i8) as u8, 127]);
        assert_eq!(w0.quant.as_ref().unwrap().scale[0], 2.0f32 / 127.0);
        // TFLite's biases are core's with the input zero point unfolded.
        let layer0 = m.layer(0).unwrap();
        let b0 = g.tensors.iter().find(|t| t.name == "layer0/bias").unwrap();
        let stored = &g.buffers[b0.buffer as usize];
        assert_eq!(&stored[..4], &layer0.tflite_bias(0).unwrap().to_le_bytes());
        // The serialized file carries TFLite's identifier.
        let file = serialize(&g, input, &outputs);
        assert_eq!(&file[4..8], b"TFL3");
    }

    #[test]
    fn tanh_head() {
        let (low, high) = ([-2.0, -1.0], [2.0, 3.0]);
        let bytes = int8_model(HeadSpec::ContinuousTanh {
            low: &low,
            high: &high,
        });
        let m = Model::parse(bytes.as_bytes()).unwrap();
        let (g, _, _) = graph(&m).unwrap();
        let codes: Vec<i32> = g.ops.iter().skip(4).map(|o| o.code).collect();
        assert_eq!(codes, [op::TANH, op::ADD, op::MUL, op::MUL, op::ADD]);
        let range = g.tensors.iter().find(|t| t.name == "head/range").unwrap();
        let want: Vec<u8> = [4.0f32, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(g.buffers[range.buffer as usize], want);
        assert!(encode(&m).is_ok());
    }
}
