//! `picorl export --out FILE.onnx`: an f32 `.picorl` model as an ONNX graph, opset 13 (IR
//! version 7), the operators of ONNX 1.8 that every current runtime (onnxruntime, tract) runs.
//!
//! ```text
//! obs [batch, obs_dim]
//!  ─► Sub(mean) ─► Div(std) ─► Clip(-clip, clip)          (if the model normalizes observations)
//!  ─► Gemm(W, b, transB=1) ─► Relu | Tanh | Clip(-1, 1)    (each hidden layer)
//!  ─► Gemm(W, b, transB=1) ─► outputs [batch, n]           (the head's inputs)
//!  ─► ArgMax(axis=1) ─► action [batch] int64               (discrete)
//!   | Tanh ─► Add(1) ─► Mul(0.5) ─► Mul(high-low) ─► Add(low) ─► action [batch, n]   (tanh head)
//!   | Max(low) ─► Min(high) ─► action [batch, n]           (clip head)
//! ```
//!
//! The normalization is core's (`(x - mean) / std` in f32 with core's `std = sqrt(var + eps)`) and
//! the tanh head's arithmetic follows core's order, so only the runtime's summation order and its
//! `tanh` separate its numbers from core's.
//!
//! The protobuf messages are written here as `prost` structs from `onnx/onnx.proto` (proto2), with
//! the field numbers of that file; only the fields picorl writes are declared (a reader skips none:
//! unknown fields are simply absent). Repeated scalars of proto2 are unpacked unless the file says
//! `[packed = true]`, and are declared so.

use anyhow::{bail, Result};
use picorl_core::model::{HeadKind, LayerData, Model, ModelKind};
use picorl_core::nn::Activation;
use prost::Message;

/// The ONNX operator set the graph uses.
pub const OPSET: i64 = 13;
/// The IR version that goes with [`OPSET`] (ONNX 1.8).
pub const IR_VERSION: i64 = 7;

/// `TensorProto.DataType.FLOAT`.
pub const FLOAT: i32 = 1;
/// `TensorProto.DataType.INT64`.
pub const INT64: i32 = 7;
/// `AttributeProto.AttributeType.INT`.
const ATTR_INT: i32 = 2;

/// `ModelProto` (onnx.proto).
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// `ir_version = 1`.
    #[prost(int64, optional, tag = "1")]
    pub ir_version: Option<i64>,
    /// `producer_name = 2`.
    #[prost(string, optional, tag = "2")]
    pub producer_name: Option<String>,
    /// `producer_version = 3`.
    #[prost(string, optional, tag = "3")]
    pub producer_version: Option<String>,
    /// `doc_string = 6`.
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
    /// `graph = 7`.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// `opset_import = 8`.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

/// `OperatorSetIdProto` (onnx.proto).
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    /// `domain = 1` (empty: the ONNX operators).
    #[prost(string, optional, tag = "1")]
    pub domain: Option<String>,
    /// `version = 2`.
    #[prost(int64, optional, tag = "2")]
    pub version: Option<i64>,
}

/// `GraphProto` (onnx.proto).
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// `node = 1`, in topological order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// `name = 2`.
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    /// `initializer = 5`: the constants.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// `input = 11`.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// `output = 12`.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `NodeProto` (onnx.proto).
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// `input = 1`.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// `output = 2`.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// `name = 3`.
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// `op_type = 4`.
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    /// `attribute = 5`.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// `domain = 7` (read by `picorl import`: empty or `ai.onnx` for ONNX's operators).
    #[prost(string, optional, tag = "7")]
    pub domain: Option<String>,
}

/// `AttributeProto` (onnx.proto): the integer attributes picorl writes, and the float, tensor and
/// list attributes `picorl import` reads.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// `name = 1`.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `f = 2`.
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    /// `i = 3`.
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    /// `t = 5` (a `Constant` node's `value`).
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// `floats = 7`.
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    /// `ints = 8`.
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    /// `type = 20` (`AttributeType`).
    #[prost(int32, optional, tag = "20")]
    pub r#type: Option<i32>,
}

/// `TensorProto` (onnx.proto), with the data in `raw_data` (little-endian, as the file requires).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// `dims = 1` (proto2, unpacked).
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// `data_type = 2` (`DataType`).
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    /// `float_data = 4` (read by `picorl import` when there is no `raw_data`).
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// `int64_data = 7` (read by `picorl import`).
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// `name = 8`.
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    /// `raw_data = 9`.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
    /// `data_location = 14` (1: `EXTERNAL`, weights in another file, which `picorl import`
    /// refuses).
    #[prost(int32, optional, tag = "14")]
    pub data_location: Option<i32>,
}

/// `ValueInfoProto` (onnx.proto).
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    /// `name = 1`.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `type = 2`.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `TypeProto` (onnx.proto): its `oneof value` holds only `tensor_type = 1` here.
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    /// `tensor_type = 1`.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeTensor>,
}

/// `TypeProto.Tensor` (onnx.proto).
#[derive(Clone, PartialEq, Message)]
pub struct TypeTensor {
    /// `elem_type = 1` (`DataType`).
    #[prost(int32, optional, tag = "1")]
    pub elem_type: Option<i32>,
    /// `shape = 2`.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto` (onnx.proto).
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    /// `dim = 1`.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `TensorShapeProto.Dimension` (onnx.proto).
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    /// `oneof value { int64 dim_value = 1; string dim_param = 2; }`.
    #[prost(oneof = "DimensionValue", tags = "1, 2")]
    pub value: Option<DimensionValue>,
}

/// The `oneof value` of `TensorShapeProto.Dimension`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum DimensionValue {
    /// `dim_value = 1`: a fixed size.
    #[prost(int64, tag = "1")]
    DimValue(i64),
    /// `dim_param = 2`: a named, free size.
    #[prost(string, tag = "2")]
    DimParam(String),
}

/// Builds the graph: nodes, constants, fresh value names.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
}

impl Graph {
    /// A float constant of shape `dims`.
    fn constant(&mut self, name: &str, dims: &[i64], values: &[f32]) -> String {
        self.inits.push(TensorProto {
            dims: dims.to_vec(),
            data_type: Some(FLOAT),
            name: Some(name.to_string()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        });
        name.to_string()
    }

    /// A node `op(inputs) -> output` with integer attributes.
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attrs: &[(&str, i64)]) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(format!("{op}_{}", self.nodes.len())),
            op_type: Some(op.to_string()),
            attribute: attrs
                .iter()
                .map(|(n, i)| AttributeProto {
                    name: Some(n.to_string()),
                    i: Some(*i),
                    r#type: Some(ATTR_INT),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
        output.to_string()
    }
}

/// A tensor's type: `elem` with dimensions fixed (`Some`) or named `batch` (`None`).
fn value_info(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeTensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(n) => DimensionValue::DimValue(*n),
                                None => DimensionValue::DimParam("batch".to_string()),
                            }),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// The ONNX model of an f32 `.picorl` MLP (see the module documentation).
pub fn build(model: &Model<'_>) -> Result<ModelProto> {
    if model.kind() != ModelKind::MlpF32 {
        bail!("ONNX export needs an f32 network model");
    }
    let obs_dim = model.obs_dim() as i64;
    let mut g = Graph::default();
    let mut x = "obs".to_string();
    if let Some(n) = model.normalization() {
        let std: Vec<f32> = n
            .var
            .iter()
            .map(|&v| picorl_core::policy::norm_std(v, n.epsilon))
            .collect();
        let mean = g.constant("norm_mean", &[obs_dim], n.mean);
        let std = g.constant("norm_std", &[obs_dim], &std);
        x = g.node("Sub", &[&x, &mean], "norm_centered", &[]);
        x = g.node("Div", &[&x, &std], "norm_scaled", &[]);
        if n.clip.is_finite() {
            let lo = g.constant("norm_clip_low", &[], &[-n.clip]);
            let hi = g.constant("norm_clip_high", &[], &[n.clip]);
            x = g.node("Clip", &[&x, &lo, &hi], "norm_obs", &[]);
        }
    }
    let n_layers = model.n_layers();
    let mut n_out = 0i64;
    for (k, layer) in model.layers().enumerate() {
        let LayerData::F32(d) = layer.data else {
            bail!("layer {k}: not an f32 layer");
        };
        let (rows, cols) = (layer.out_dim, layer.in_dim);
        let mut w = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                w.push(d.weight(r, c).unwrap_or(0.0));
            }
        }
        let b: Vec<f32> = (0..rows).map(|r| d.bias(r).unwrap_or(0.0)).collect();
        let wn = g.constant(&format!("layer{k}_weight"), &[rows as i64, cols as i64], &w);
        let bn = g.constant(&format!("layer{k}_bias"), &[rows as i64], &b);
        let last = k + 1 == n_layers;
        let out = if last {
            "outputs".to_string()
        } else {
            format!("layer{k}_linear")
        };
        x = g.node("Gemm", &[&x, &wn, &bn], &out, &[("transB", 1)]);
        let act = format!("layer{k}_out");
        x = match layer.activation {
            Activation::Identity => x,
            Activation::Relu => g.node("Relu", &[&x], &act, &[]),
            Activation::Tanh => g.node("Tanh", &[&x], &act, &[]),
            Activation::Sigmoid => g.node("Sigmoid", &[&x], &act, &[]),
            Activation::HardTanh => {
                let lo = g.constant(&format!("layer{k}_hardtanh_low"), &[], &[-1.0]);
                let hi = g.constant(&format!("layer{k}_hardtanh_high"), &[], &[1.0]);
                g.node("Clip", &[&x, &lo, &hi], &act, &[])
            }
        };
        if last && x != "outputs" {
            bail!(
                "layer {k}: the last layer has an activation ({})",
                layer.activation
            );
        }
        n_out = rows as i64;
    }
    if n_layers == 0 {
        bail!("the model has no layers");
    }
    let action_info = match model.head() {
        HeadKind::Discrete => {
            g.node(
                "ArgMax",
                &["outputs"],
                "action",
                &[("axis", 1), ("keepdims", 0), ("select_last_index", 0)],
            );
            value_info("action", INT64, &[None])
        }
        head => {
            let Some((low, high)) = model.action_bounds() else {
                bail!("a continuous head without action bounds");
            };
            let (low, high) = (low.to_vec(), high.to_vec());
            if head == HeadKind::ContinuousTanh {
                // core: low + (0.5 * (tanh(mean) + 1)) * (high - low), in this order, in f32.
                let range: Vec<f32> = low.iter().zip(&high).map(|(l, h)| h - l).collect();
                let one = g.constant("head_one", &[], &[1.0]);
                let half = g.constant("head_half", &[], &[0.5]);
                let range = g.constant("head_range", &[n_out], &range);
                let low = g.constant("head_low", &[n_out], &low);
                let t = g.node("Tanh", &["outputs"], "head_tanh", &[]);
                let t = g.node("Add", &[&t, &one], "head_tanh_plus_one", &[]);
                let t = g.node("Mul", &[&half, &t], "head_unit", &[]);
                let t = g.node("Mul", &[&t, &range], "head_scaled", &[]);
                g.node("Add", &[&low, &t], "action", &[]);
            } else {
                // core: mean < low ? low : mean > high ? high : mean.
                let low = g.constant("head_low", &[n_out], &low);
                let high = g.constant("head_high", &[n_out], &high);
                let t = g.node("Max", &["outputs", &low], "head_above_low", &[]);
                g.node("Min", &[&t, &high], "action", &[]);
            }
            value_info("action", FLOAT, &[None, Some(n_out)])
        }
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        producer_name: Some("picorl".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        doc_string: Some(
            "A picorl policy: input obs; outputs `outputs` (the head's inputs) and `action`."
                .to_string(),
        ),
        graph: Some(GraphProto {
            node: g.nodes,
            name: Some("picorl_policy".to_string()),
            initializer: g.inits,
            input: vec![value_info("obs", FLOAT, &[None, Some(obs_dim)])],
            output: vec![
                value_info("outputs", FLOAT, &[None, Some(n_out)]),
                action_info,
            ],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
    })
}

/// The `.onnx` bytes of an f32 `.picorl` MLP.
pub fn encode(model: &Model<'_>) -> Result<Vec<u8>> {
    Ok(build(model)?.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::AlignedBytes;
    use picorl_core::model::{self, BodySpec, HeadSpec, LayerSpec, ModelSpec, NormSpec};

    fn f32_model(head: HeadSpec<'_>, norm: Option<NormSpec<'_>>) -> AlignedBytes {
        // 3 -> 2 (hardtanh) -> 2.
        let w0 = [0.5, -1.0, 2.0, 0.25, 0.75, -0.5];
        let w1 = [1.0, 2.0, -3.0, 4.0];
        let layers = [
            LayerSpec {
                in_dim: 3,
                out_dim: 2,
                weights: &w0,
                bias: &[0.1, -0.2],
                activation: Activation::HardTanh,
            },
            LayerSpec {
                in_dim: 2,
                out_dim: 2,
                weights: &w1,
                bias: &[0.0, 1.0],
                activation: Activation::Identity,
            },
        ];
        let spec = ModelSpec {
            obs_dim: 3,
            normalization: norm,
            head,
            body: BodySpec::MlpF32 { layers: &layers },
        };
        let mut buf = AlignedBytes::zeroed(model::required_len(&spec).unwrap());
        let n = model::write(&spec, buf.as_mut_bytes()).unwrap();
        buf.truncate(n);
        buf
    }

    fn ops(m: &ModelProto) -> Vec<String> {
        let g = m.graph.as_ref().unwrap();
        g.node.iter().map(|n| n.op_type.clone().unwrap()).collect()
    }

    #[test]
    fn discrete_graph_round_trips_through_protobuf() {
        let bytes = f32_model(HeadSpec::Discrete { n: 2 }, None);
        let m = Model::parse(bytes.as_bytes()).unwrap();
        let encoded = encode(&m).unwrap();
        let back = ModelProto::decode(encoded.as_slice()).unwrap();
        assert_eq!(back, build(&m).unwrap());
        assert_eq!(back.ir_version, Some(7));
        assert_eq!(back.opset_import[0].version, Some(13));
        assert_eq!(ops(&back), ["Gemm", "Clip", "Gemm", "ArgMax"]);
        let g = back.graph.unwrap();
        // The first layer's weights, row-major [out][in], as written above.
        let w0 = g
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some("layer0_weight"));
        let w0 = w0.unwrap();
        assert_eq!(w0.dims, [2, 3]);
        let vals: Vec<f32> = w0
            .raw_data
            .as_ref()
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(vals, [0.5, -1.0, 2.0, 0.25, 0.75, -0.5]);
        let names: Vec<_> = g.output.iter().map(|o| o.name.clone().unwrap()).collect();
        assert_eq!(names, ["outputs", "action"]);
    }

    #[test]
    fn normalization_and_tanh_head() {
        let (mean, var) = ([1.0, 2.0, 3.0], [4.0, 1.0, 0.25]);
        let norm = NormSpec {
            mean: &mean,
            var: &var,
            epsilon: 0.0,
            clip: 10.0,
        };
        let (low, high) = ([-2.0, -1.0], [2.0, 3.0]);
        let bytes = f32_model(
            HeadSpec::ContinuousTanh {
                low: &low,
                high: &high,
            },
            Some(norm),
        );
        let m = Model::parse(bytes.as_bytes()).unwrap();
        let p = build(&m).unwrap();
        assert_eq!(
            ops(&p),
            ["Sub", "Div", "Clip", "Gemm", "Clip", "Gemm", "Tanh", "Add", "Mul", "Mul", "Add"]
        );
        let g = p.graph.unwrap();
        let std = g
            .initializer
            .iter()
            .find(|t| t.name.as_deref() == Some("norm_std"));
        // sqrt(4) = 2, sqrt(1) = 1, sqrt(0.25) = 0.5.
        let want: Vec<u8> = [2.0f32, 1.0, 0.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(std.unwrap().raw_data.as_deref(), Some(want.as_slice()));
    }

    #[test]
    fn tabular_models_are_refused() {
        let spec = ModelSpec {
            obs_dim: 1,
            normalization: None,
            head: HeadSpec::Discrete { n: 2 },
            body: BodySpec::GreedyTable { actions: &[0, 1] },
        };
        let mut buf = AlignedBytes::zeroed(model::required_len(&spec).unwrap());
        let n = model::write(&spec, buf.as_mut_bytes()).unwrap();
        buf.truncate(n);
        let t = Model::parse(buf.as_bytes()).unwrap();
        assert!(build(&t).is_err());
    }
}
