//! Reading an MLP policy out of an ONNX graph, backwards from the chosen output to the
//! observation input (the path the parent module's docs draw): dense layers, their activations
//! and the head.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use prost::Message;

use crate::export::interop::onnx::{
    AttributeProto, DimensionValue, GraphProto, ModelProto, NodeProto, TensorProto, FLOAT, INT64,
};
use crate::export::{Activation, DenseExport};

/// The head an ONNX graph ends with, after its last dense layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Tail {
    /// No head: the outputs as they are (logits, Q-values, means).
    Raw,
    /// `ArgMax` over the outputs (possibly after argmax-preserving operators).
    Argmax,
    /// `tanh`, then `scale * t + shift` per component (`scale` 1 and `shift` 0 when the graph
    /// does not rescale).
    Tanh {
        /// Multipliers, one per component, or one for all.
        scale: Vec<f32>,
        /// Offsets, one per component, or one for all.
        shift: Vec<f32>,
        /// Whether the graph rescales at all (else the environment's bounds apply).
        rescaled: bool,
    },
    /// A clip to `[low, high]` (one value for all components, or one per component).
    Clip {
        /// Lower bounds.
        low: Vec<f32>,
        /// Upper bounds.
        high: Vec<f32>,
    },
}

/// The dense layers of an ONNX MLP and its head.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxMlp {
    /// The observation size (the input's fixed last dimension).
    pub obs_dim: usize,
    /// Dense layers, input first.
    pub layers: Vec<DenseExport>,
    /// The hidden activation (`None` for a single layer).
    pub activation: Option<Activation>,
    /// The head.
    pub tail: Tail,
}

/// A constant tensor: dimensions and values as f32 (float tensors) or i64 (integer ones).
#[derive(Debug, Clone)]
struct Const {
    dims: Vec<i64>,
    f: Vec<f32>,
    i: Vec<i64>,
}

/// The graph, indexed: producers of values, constants.
struct Graph<'a> {
    g: &'a GraphProto,
    producer: HashMap<&'a str, usize>,
    inits: HashMap<&'a str, &'a TensorProto>,
}

fn node_name(n: &NodeProto, idx: usize) -> String {
    let op = n.op_type.as_deref().unwrap_or("?");
    match n.name.as_deref().filter(|s| !s.is_empty()) {
        Some(name) => format!("node {name} ({op})"),
        None => format!("node #{idx} ({op})"),
    }
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).and_then(|a| a.i).unwrap_or(default)
}

fn attr_f(n: &NodeProto, name: &str, default: f32) -> f32 {
    attr(n, name).and_then(|a| a.f).unwrap_or(default)
}

fn tensor(t: &TensorProto, what: &str) -> Result<Const> {
    if t.data_location == Some(1) {
        bail!("{what}: its data is stored outside the file (external data): save the model with the weights inside");
    }
    let dims = t.dims.clone();
    match t.data_type {
        Some(FLOAT) => {
            let f = match &t.raw_data {
                Some(raw) => {
                    if raw.len() % 4 != 0 {
                        bail!("{what}: raw_data of {} bytes is no f32 array", raw.len());
                    }
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect()
                }
                None => t.float_data.clone(),
            };
            Ok(Const {
                dims,
                f,
                i: Vec::new(),
            })
        }
        Some(INT64) => {
            let i: Vec<i64> = match &t.raw_data {
                Some(raw) => {
                    if raw.len() % 8 != 0 {
                        bail!("{what}: raw_data of {} bytes is no i64 array", raw.len());
                    }
                    raw.chunks_exact(8)
                        .map(|c| {
                            i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect()
                }
                None => t.int64_data.clone(),
            };
            let f = i.iter().map(|&v| v as f32).collect();
            Ok(Const { dims, f, i })
        }
        other => bail!(
            "{what}: data type {} is not supported (float32 weights are)",
            other.unwrap_or(0)
        ),
    }
}

impl<'a> Graph<'a> {
    fn new(g: &'a GraphProto) -> Result<Self> {
        let mut producer = HashMap::new();
        for (k, n) in g.node.iter().enumerate() {
            if let Some(d) = n
                .domain
                .as_deref()
                .filter(|d| !d.is_empty() && *d != "ai.onnx")
            {
                bail!("{}: operator domain {d} is not supported", node_name(n, k));
            }
            for o in &n.output {
                producer.insert(o.as_str(), k);
            }
        }
        let inits = g
            .initializer
            .iter()
            .filter_map(|t| Some((t.name.as_deref()?, t)))
            .collect();
        Ok(Self { g, producer, inits })
    }

    fn node(&self, value: &str) -> Option<(usize, &'a NodeProto)> {
        self.producer.get(value).map(|&k| (k, &self.g.node[k]))
    }

    /// The value `name` if it is a constant: an initializer, a `Constant` node, or either through
    /// `Identity`.
    fn constant(&self, name: &str) -> Result<Option<Const>> {
        if let Some(t) = self.inits.get(name) {
            return tensor(t, &format!("initializer {name}")).map(Some);
        }
        let Some((k, n)) = self.node(name) else {
            return Ok(None);
        };
        match n.op_type.as_deref() {
            Some("Constant") => {
                let what = node_name(n, k);
                if let Some(t) = attr(n, "value").and_then(|a| a.t.as_ref()) {
                    return tensor(t, &what).map(Some);
                }
                if let Some(f) = attr(n, "value_float").and_then(|a| a.f) {
                    return Ok(Some(Const {
                        dims: vec![],
                        f: vec![f],
                        i: vec![],
                    }));
                }
                if let Some(a) = attr(n, "value_floats") {
                    let d = a.floats.len() as i64;
                    return Ok(Some(Const {
                        dims: vec![d],
                        f: a.floats.clone(),
                        i: vec![],
                    }));
                }
                if let Some(i) = attr(n, "value_int").and_then(|a| a.i) {
                    return Ok(Some(Const {
                        dims: vec![],
                        f: vec![i as f32],
                        i: vec![i],
                    }));
                }
                if let Some(a) = attr(n, "value_ints") {
                    let d = a.ints.len() as i64;
                    return Ok(Some(Const {
                        dims: vec![d],
                        f: a.ints.iter().map(|&v| v as f32).collect(),
                        i: a.ints.clone(),
                    }));
                }
                bail!("{what}: a constant of a kind picorl does not read");
            }
            Some("Identity") => match n.input.first() {
                Some(i) => self.constant(i),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// The node producing `value`, which must exist (the error names the value).
    fn producer_of(&self, value: &str) -> Result<(usize, &'a NodeProto)> {
        self.node(value).ok_or_else(|| {
            anyhow!("value {value}: produced by no node and neither the input nor a constant")
        })
    }
}

fn op(n: &NodeProto) -> &str {
    n.op_type.as_deref().unwrap_or("")
}

/// Input `i` of node `n` (number `k`); a node without it is malformed.
fn arg(n: &NodeProto, k: usize, i: usize) -> Result<&str> {
    n.input
        .get(i)
        .map(String::as_str)
        .ok_or_else(|| anyhow!("{}: it has no input {i}", node_name(n, k)))
}

/// Skips operators that change nothing on a `[batch, n]` float tensor.
fn skip_noops<'a>(g: &Graph<'a>, mut v: &'a str) -> Result<&'a str> {
    while let Some((k, n)) = g.node(v) {
        let pass = match op(n) {
            "Identity" => true,
            "Flatten" => matches!(attr_i(n, "axis", 1), 1 | -1),
            "Cast" => attr_i(n, "to", 0) == i64::from(FLOAT),
            _ => false,
        };
        if !pass {
            break;
        }
        v = n
            .input
            .first()
            .ok_or_else(|| anyhow!("{}: no input", node_name(n, k)))?;
    }
    Ok(v)
}

fn unsupported(n: &NodeProto, k: usize, whereabouts: &str) -> anyhow::Error {
    let why = match op(n) {
        "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool" => {
            "convolutional layers are not supported: picorl imports MLP policies"
        }
        "LSTM" | "GRU" | "RNN" | "Scan" | "Loop" => {
            "recurrent layers are not supported: picorl imports MLP policies"
        }
        _ => "this operator is not supported",
    };
    anyhow!(
        "{}: {why} ({whereabouts}; picorl reads Gemm, MatMul+Add, Relu, Tanh, Clip, ArgMax)",
        node_name(n, k)
    )
}

/// The reduction axes of a `Reduce*` node (attribute, or input from opset 18).
fn reduce_axes(g: &Graph<'_>, n: &NodeProto) -> Result<Vec<i64>> {
    if let Some(a) = attr(n, "axes") {
        return Ok(a.ints.clone());
    }
    match n.input.get(1) {
        Some(i) if !i.is_empty() => Ok(g.constant(i)?.map(|c| c.i).unwrap_or_default()),
        _ => Ok(Vec::new()),
    }
}

/// Skips, at the head (after the last layer), operators that change no value of a single
/// observation's outputs: reshapes, casts and torch's broadcasting `Expand` to the same shape.
fn skip_head_noops<'a>(g: &Graph<'a>, mut v: &'a str) -> Result<&'a str> {
    loop {
        v = skip_noops(g, v)?;
        match g.node(v) {
            Some((_, n))
                if matches!(
                    op(n),
                    "Reshape" | "Squeeze" | "Unsqueeze" | "Cast" | "Expand"
                ) && !n.input.is_empty() =>
            {
                v = &n.input[0];
            }
            _ => return Ok(v),
        }
    }
}

/// Walks back from an `ArgMax`'s input over operators that keep every row's argmax: `Softmax`,
/// `LogSoftmax` (over the last axis), and `x - r` or `x + r` with `r` a reduction of `x` over the
/// last axis kept as a column (`x - logsumexp(x)`, what torch's `Categorical` does to logits).
fn skip_argmax_preserving<'a>(g: &Graph<'a>, mut v: &'a str) -> Result<&'a str> {
    loop {
        v = skip_noops(g, v)?;
        let Some((k, n)) = g.node(v) else {
            return Ok(v);
        };
        match op(n) {
            "Softmax" | "LogSoftmax" if matches!(attr_i(n, "axis", -1), 1 | -1) => {
                v = arg(n, k, 0)?;
            }
            "Sub" | "Add" if n.input.len() == 2 => {
                let (x, r) = (&n.input[0], &n.input[1]);
                let row_reduction = g.node(r).is_some_and(|(_, rn)| {
                    op(rn).starts_with("Reduce")
                        && rn.input.first().map(|s| skip_noops(g, s).ok()) == Some(Some(x.as_str()))
                        && attr_i(rn, "keepdims", 1) == 1
                        && matches!(reduce_axes(g, rn).ok().as_deref(), Some([1]) | Some([-1]))
                });
                if !row_reduction {
                    return Ok(v);
                }
                v = x;
            }
            _ => return Ok(v),
        }
    }
}

/// The constant operand of a binary node and the other input, if one operand is constant.
fn const_operand<'a>(g: &Graph<'a>, n: &'a NodeProto) -> Result<Option<(Const, &'a str)>> {
    if n.input.len() != 2 {
        return Ok(None);
    }
    if let Some(c) = g.constant(&n.input[1])? {
        return Ok(Some((c, &n.input[0])));
    }
    if let Some(c) = g.constant(&n.input[0])? {
        return Ok(Some((c, &n.input[1])));
    }
    Ok(None)
}

/// Reads the head at the end of the graph; returns it with the value its input is.
fn read_tail<'a>(g: &Graph<'a>, out: &'a str) -> Result<(Tail, &'a str)> {
    let out = skip_head_noops(g, out)?;
    let Some((k, n)) = g.node(out) else {
        return Ok((Tail::Raw, out));
    };
    match op(n) {
        "ArgMax" => {
            let axis = attr_i(n, "axis", 0);
            if !matches!(axis, 1 | -1) {
                bail!(
                    "{}: ArgMax over axis {axis}; a policy's argmax is over its outputs (axis 1)",
                    node_name(n, k)
                );
            }
            if attr_i(n, "select_last_index", 0) != 0 {
                bail!(
                    "{}: select_last_index = 1 is not supported",
                    node_name(n, k)
                );
            }
            let v = skip_head_noops(g, arg(n, k, 0)?)?;
            Ok((Tail::Argmax, skip_argmax_preserving(g, v)?))
        }
        "Tanh" => Ok((
            Tail::Tanh {
                scale: vec![1.0],
                shift: vec![0.0],
                rescaled: false,
            },
            skip_head_noops(g, arg(n, k, 0)?)?,
        )),
        "Clip" => {
            let bound = |idx: usize, name: &str| -> Result<Option<Vec<f32>>> {
                if let Some(i) = n.input.get(idx).filter(|s| !s.is_empty()) {
                    let c = g.constant(i)?.ok_or_else(|| {
                        anyhow!("{}: its bound {i} is not a constant", node_name(n, k))
                    })?;
                    return Ok(Some(c.f));
                }
                Ok(attr(n, name).and_then(|a| a.f).map(|f| vec![f]))
            };
            let low = bound(1, "min")?.unwrap_or(vec![f32::NEG_INFINITY]);
            let high = bound(2, "max")?.unwrap_or(vec![f32::INFINITY]);
            Ok((Tail::Clip { low, high }, arg(n, k, 0)?))
        }
        "Min" if n.input.len() == 2 => {
            // Min(Max(x, low), high), as picorl's own ONNX export writes a clip head.
            let (high, inner) = const_operand(g, n)?
                .ok_or_else(|| unsupported(n, k, "the head: Min of two variables"))?;
            let (k2, n2) = g.producer_of(inner)?;
            if op(n2) != "Max" {
                return Err(unsupported(
                    n,
                    k,
                    "the head: Min without Max(x, low) before it",
                ));
            }
            let (low, x) = const_operand(g, n2)?
                .ok_or_else(|| unsupported(n2, k2, "the head: Max of two variables"))?;
            Ok((
                Tail::Clip {
                    low: low.f,
                    high: high.f,
                },
                x,
            ))
        }
        "Add" | "Mul" | "Sub" | "Div" => {
            // An affine rescaling of a tanh: walk back to the Tanh composing `scale * t + shift`
            // (collected output-first, applied input-first).
            let mut chain: Vec<(&str, Vec<f32>, bool)> = Vec::new();
            let mut v: &str = out;
            loop {
                v = skip_noops(g, v)?;
                let (k2, n2) = g.producer_of(v)?;
                match op(n2) {
                    "Tanh" => break,
                    o @ ("Add" | "Mul" | "Sub" | "Div") => {
                        let Some((c, x)) = const_operand(g, n2)? else {
                            // An Add of two variables (MatMul + bias is caught below): no tail.
                            return Ok((Tail::Raw, out));
                        };
                        let const_first = n2.input.first().map(String::as_str) != Some(x);
                        if c.f.is_empty() {
                            return Err(unsupported(n2, k2, "the head: an empty constant"));
                        }
                        chain.push((o, c.f, const_first));
                        v = x;
                    }
                    "MatMul" if chain.len() == 1 && chain[0].0 == "Add" => {
                        // MatMul + Add: the last dense layer, no head.
                        return Ok((Tail::Raw, out));
                    }
                    _ if chain.len() == 1 && chain[0].0 == "Add" => return Ok((Tail::Raw, out)),
                    _ => {
                        return Err(unsupported(
                            n2,
                            k2,
                            "the head: only Mul/Add/Sub/Div by constants may follow a Tanh",
                        ))
                    }
                }
            }
            let (kt, tanh) = g.producer_of(v)?;
            let tanh_in = skip_head_noops(g, arg(tanh, kt, 0)?)?;
            let (mut scale, mut shift) = (vec![1.0f32], vec![0.0f32]);
            let bcast = |a: &[f32], b: &[f32], f: &dyn Fn(f32, f32) -> f32| -> Result<Vec<f32>> {
                let n = a.len().max(b.len());
                if (a.len() != 1 && a.len() != n) || (b.len() != 1 && b.len() != n) {
                    bail!(
                        "the head's constants have sizes {} and {}",
                        a.len(),
                        b.len()
                    );
                }
                Ok((0..n)
                    .map(|i| {
                        f(
                            a[if a.len() == 1 { 0 } else { i }],
                            b[if b.len() == 1 { 0 } else { i }],
                        )
                    })
                    .collect())
            };
            for (o, c, const_first) in chain.iter().rev() {
                match (*o, *const_first) {
                    ("Add", _) => shift = bcast(&shift, c, &|s, c| s + c)?,
                    ("Sub", false) => shift = bcast(&shift, c, &|s, c| s - c)?,
                    ("Mul", _) => {
                        scale = bcast(&scale, c, &|s, c| s * c)?;
                        shift = bcast(&shift, c, &|s, c| s * c)?;
                    }
                    ("Div", false) => {
                        scale = bcast(&scale, c, &|s, c| s / c)?;
                        shift = bcast(&shift, c, &|s, c| s / c)?;
                    }
                    _ => bail!(
                        "{}: a constant minus or over the tanh is not supported",
                        node_name(n, k)
                    ),
                }
            }
            let n = scale.len().max(shift.len());
            let scale = bcast(&scale, &vec![0.0; n], &|s, _| s)?;
            let shift = bcast(&shift, &vec![0.0; n], &|s, _| s)?;
            Ok((
                Tail::Tanh {
                    scale,
                    shift,
                    rescaled: true,
                },
                tanh_in,
            ))
        }
        _ => Ok((Tail::Raw, out)),
    }
}

/// One dense layer ending at value `v`: `Gemm`, or `MatMul` with an optional `Add` of a constant
/// bias. Returns the layer and its input value.
fn read_dense<'a>(g: &Graph<'a>, v: &'a str) -> Result<(DenseExport, &'a str)> {
    let (k, n) = g.producer_of(v)?;
    let what = node_name(n, k);
    let weights_2d = |c: &Const, name: &str| -> Result<(usize, usize)> {
        match c.dims.as_slice() {
            [r, cc] if *r > 0 && *cc > 0 && c.f.len() == (*r * *cc) as usize => {
                Ok((*r as usize, *cc as usize))
            }
            d => bail!("{what}: weights {name} of shape {d:?} (expected a 2-D constant)"),
        }
    };
    let transpose = |w: &[f32], rows: usize, cols: usize| -> Vec<f32> {
        // [rows][cols] → [cols][rows]
        let mut t = vec![0.0; w.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = w[r * cols + c];
            }
        }
        t
    };
    let bias_of = |c: Option<Const>, outputs: usize, name: &str| -> Result<Vec<f32>> {
        match c {
            None => Ok(vec![0.0; outputs]),
            Some(c) if c.f.len() == outputs => Ok(c.f),
            Some(c) if c.f.len() == 1 => Ok(vec![c.f[0]; outputs]),
            Some(c) => bail!(
                "{what}: bias {name} has {} values for {outputs} outputs",
                c.f.len()
            ),
        }
    };
    match op(n) {
        "Gemm" => {
            if attr_i(n, "transA", 0) != 0 {
                bail!("{what}: transA = 1 is not supported (the observation must be the rows)");
            }
            let wname = n
                .input
                .get(1)
                .ok_or_else(|| anyhow!("{what}: no weights"))?;
            let w = g
                .constant(wname)?
                .ok_or_else(|| anyhow!("{what}: its weights {wname} are not a constant"))?;
            let (r, c) = weights_2d(&w, wname)?;
            let (alpha, beta) = (attr_f(n, "alpha", 1.0), attr_f(n, "beta", 1.0));
            // transB = 1: B is [out][in] (picorl's layout); else [in][out].
            let (outputs, inputs, mut weights) = if attr_i(n, "transB", 0) != 0 {
                (r, c, w.f)
            } else {
                (c, r, transpose(&w.f, r, c))
            };
            if alpha != 1.0 {
                weights.iter_mut().for_each(|x| *x *= alpha);
            }
            let bias = match n.input.get(2).filter(|s| !s.is_empty()) {
                Some(b) => {
                    let c = g
                        .constant(b)?
                        .ok_or_else(|| anyhow!("{what}: its bias {b} is not a constant"))?;
                    bias_of(Some(c), outputs, b)?
                }
                None => vec![0.0; outputs],
            };
            let bias = bias.into_iter().map(|x| x * beta).collect();
            Ok((
                DenseExport {
                    weights,
                    bias,
                    inputs,
                    outputs,
                },
                &n.input[0],
            ))
        }
        "MatMul" => {
            let wname = arg(n, k, 1)?;
            let w = g.constant(wname)?.ok_or_else(|| {
                anyhow!("{what}: its second input {wname} is not a constant weight matrix")
            })?;
            let (inputs, outputs) = weights_2d(&w, wname)?;
            let weights = transpose(&w.f, inputs, outputs);
            Ok((
                DenseExport {
                    weights,
                    bias: vec![0.0; outputs],
                    inputs,
                    outputs,
                },
                &n.input[0],
            ))
        }
        "Add" => {
            let (c, x) =
                const_operand(g, n)?.ok_or_else(|| unsupported(n, k, "an Add of two variables"))?;
            let x = skip_noops(g, x)?;
            let (k2, mm) = g.producer_of(x)?;
            if op(mm) != "MatMul" {
                return Err(unsupported(
                    mm,
                    k2,
                    "before a bias Add picorl expects MatMul",
                ));
            }
            let (mut layer, input) = read_dense(g, x)?;
            layer.bias = bias_of(Some(c), layer.outputs, "of the Add")?;
            Ok((layer, input))
        }
        _ => Err(unsupported(n, k, "where a dense layer was expected")),
    }
}

/// Reads an ONNX MLP policy: the graph from `output` (default: the first output) back to the
/// observation input.
pub fn read_onnx(bytes: &[u8], output: Option<&str>) -> Result<OnnxMlp> {
    let m = ModelProto::decode(bytes).map_err(|e| anyhow!("not an ONNX model: {e}"))?;
    let gp = m
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("not an ONNX model: no graph"))?;
    let g = Graph::new(gp)?;
    let inputs: Vec<_> = gp
        .input
        .iter()
        .filter(|i| i.name.as_deref().is_some_and(|n| !g.inits.contains_key(n)))
        .collect();
    let [input] = inputs.as_slice() else {
        bail!(
            "the graph has {} inputs besides its weights; a policy has one, the observation",
            inputs.len()
        );
    };
    let in_name = input.name.as_deref().unwrap_or("");
    let dims: Vec<Option<&DimensionValue>> = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.iter().map(|d| d.value.as_ref()).collect())
        .ok_or_else(|| {
            anyhow!(
                "input {in_name}: no shape (a dynamic shape); the observation's size must be fixed"
            )
        })?;
    if let Some(t) = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.elem_type)
    {
        if t != FLOAT {
            bail!("input {in_name}: element type {t}; picorl imports float32 observations");
        }
    }
    let obs_dim = match dims.as_slice() {
        [_, Some(DimensionValue::DimValue(n))] | [Some(DimensionValue::DimValue(n))]
            if *n > 0 =>
        {
            *n as usize
        }
        [_, last] | [last] => bail!(
            "input {in_name}: the observation dimension is dynamic ({}); export with a fixed size",
            match last {
                Some(DimensionValue::DimParam(p)) => format!("`{p}`"),
                _ => "no size".to_string(),
            }
        ),
        d => bail!(
            "input {in_name}: rank {} (expected [batch, obs_dim]; images and sequences are not supported)",
            d.len()
        ),
    };
    let out_name: &str = match output {
        Some(o) => gp
            .output
            .iter()
            .find_map(|v| v.name.as_deref().filter(|n| *n == o))
            .ok_or_else(|| {
                let names: Vec<&str> = gp.output.iter().filter_map(|v| v.name.as_deref()).collect();
                anyhow!(
                    "--output {o}: no such graph output (outputs: {})",
                    names.join(", ")
                )
            })?,
        None => gp
            .output
            .first()
            .and_then(|v| v.name.as_deref())
            .ok_or_else(|| anyhow!("the graph has no output"))?,
    };
    let (tail, mut v) = read_tail(&g, out_name)?;
    let mut layers = Vec::new();
    let mut activation: Option<(Activation, String)> = None;
    loop {
        v = skip_noops(&g, v)?;
        let (layer, input) = read_dense(&g, v)?;
        layers.push(layer);
        v = skip_noops(&g, input)?;
        if v == in_name {
            break;
        }
        let (k, n) = g.producer_of(v)?;
        let act = match op(n) {
            "Relu" => Activation::Relu,
            "Tanh" => Activation::Tanh,
            "Clip" => {
                let c = |i: usize| -> Result<Option<f32>> {
                    Ok(match n.input.get(i).filter(|s| !s.is_empty()) {
                        Some(s) => g.constant(s)?.and_then(|c| c.f.first().copied()),
                        None => None,
                    })
                };
                let (lo, hi) = (
                    c(1)?.or(attr(n, "min").and_then(|a| a.f)),
                    c(2)?.or(attr(n, "max").and_then(|a| a.f)),
                );
                if (lo, hi) != (Some(-1.0), Some(1.0)) {
                    return Err(unsupported(
                        n,
                        k,
                        "between layers only Clip(-1, 1) (hardtanh) is supported",
                    ));
                }
                Activation::Hardtanh
            }
            _ => return Err(unsupported(n, k, "between dense layers")),
        };
        match &activation {
            Some((a, first)) if *a != act => bail!(
                "{}: {act:?} after {first} used {a:?}; picorl's networks have one hidden activation",
                node_name(n, k)
            ),
            Some(_) => {}
            None => activation = Some((act, node_name(n, k))),
        }
        v = arg(n, k, 0)?;
    }
    layers.reverse();
    let mut prev = obs_dim;
    for (i, l) in layers.iter().enumerate() {
        if l.inputs != prev {
            bail!(
                "dense layer {i} takes {} inputs, but {} come in",
                l.inputs,
                prev
            );
        }
        prev = l.outputs;
    }
    Ok(OnnxMlp {
        obs_dim,
        layers,
        activation: activation.map(|(a, _)| a),
        tail,
    })
}
