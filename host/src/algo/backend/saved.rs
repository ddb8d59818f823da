//! A learner's networks in its checkpoint ([`crate::algo::state`]): layers under names in the
//! weights file (`{prefix}.l{i}.weight`, `.bias`, PyTorch's layout), and optimizer states as a
//! part of the resume state. Every learner over [`Net`](super::Net) saves through these.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use tch::Tensor;

use super::{AdamState, Layer, Net};
use crate::algo::state::{Loading, Saving};

/// `net`'s layers named `{prefix}.l{i}`.
pub fn name_layers(prefix: &str, net: &Net, out: &mut Vec<(String, Layer)>) {
    name_layers_from(prefix, 0, net, out);
}

/// `net`'s layers named `{prefix}.l{first + i}`.
pub fn name_layers_from(prefix: &str, first: usize, net: &Net, out: &mut Vec<(String, Layer)>) {
    for (l, layer) in net.layers().into_iter().enumerate() {
        out.push((format!("{prefix}.l{}", first + l), layer));
    }
}

/// Loads what [`name_layers`] named.
pub fn load_layers(
    prefix: &str,
    net: &mut Net,
    saved: &BTreeMap<String, Vec<f32>>,
    path: &Path,
) -> Result<()> {
    load_layers_from(prefix, 0, net, saved, path)
}

/// Loads what [`name_layers_from`] named.
pub fn load_layers_from(
    prefix: &str,
    first: usize,
    net: &mut Net,
    saved: &BTreeMap<String, Vec<f32>>,
    path: &Path,
) -> Result<()> {
    let dims = net.dims().to_vec();
    let mut layers = Vec::with_capacity(dims.len() - 1);
    for (l, w) in dims.windows(2).enumerate() {
        let get = |what: &str, want: usize| {
            let key = format!("{prefix}.l{}.{what}", first + l);
            saved_floats(saved, &key, want, path)
        };
        layers.push(Layer {
            weight: get("weight", w[0] * w[1])?,
            bias: get("bias", w[1])?,
        });
    }
    net.set_layers(&layers)
}

/// The values saved under `key`, which must be `want` of them; either failure names the file
/// and the tensor.
pub fn saved_floats(
    saved: &BTreeMap<String, Vec<f32>>,
    key: &str,
    want: usize,
    path: &Path,
) -> Result<Vec<f32>> {
    let Some(v) = saved.get(key) else {
        bail!(
            "{}: no tensor `{key}` (a checkpoint of another network shape?)",
            path.display()
        );
    };
    if v.len() != want {
        bail!(
            "{}: `{key}` has {} values, the network expects {want}",
            path.display(),
            v.len()
        );
    }
    Ok(v.clone())
}

/// Optimizer states as a learner's part ([`crate::algo::state`]): tensors `{name}adam{i}_m` and
/// `{name}adam{i}_v`, the step counts as the JSON key `{name}adam_t`.
pub fn save_adam(states: &[AdamState], name: &str, out: &mut Saving) -> Result<()> {
    for (i, s) in states.iter().enumerate() {
        out.tensor(&format!("{name}adam{i}_m"), Tensor::from_slice(&s.m))?;
        out.tensor(&format!("{name}adam{i}_v"), Tensor::from_slice(&s.v))?;
    }
    let t: Vec<u32> = states.iter().map(|s| s.t).collect();
    out.json(&format!("{name}adam_t"), &t)
}

/// Reads the `n` states [`save_adam`] wrote.
pub fn load_adam(n: usize, name: &str, from: &Loading) -> Result<Vec<AdamState>> {
    let t: Vec<u32> = from.json(&format!("{name}adam_t"))?;
    if t.len() != n {
        bail!(
            "{} optimizer step counts saved as `{name}adam_t`, {n} expected",
            t.len()
        );
    }
    t.into_iter()
        .enumerate()
        .map(|(i, t)| {
            let m = from.tensor(&format!("{name}adam{i}_m"))?;
            let v = from.tensor(&format!("{name}adam{i}_v"))?;
            Ok(AdamState {
                m: crate::util::tensor::tensor_to_vec(m),
                v: crate::util::tensor::tensor_to_vec(v),
                t,
            })
        })
        .collect()
}

/// Named layers as the weights file's tensors (`{prefix}{name}.weight`, `.bias`).
pub fn layer_tensors(prefix: &str, layers: &[(String, Layer)], out: &mut Vec<(String, Tensor)>) {
    for (name, l) in layers {
        let (o, i) = (
            l.bias.len() as i64,
            (l.weight.len() / l.bias.len().max(1)) as i64,
        );
        out.push((
            format!("{prefix}{name}.weight"),
            Tensor::from_slice(&l.weight).view([o, i]),
        ));
        out.push((format!("{prefix}{name}.bias"), Tensor::from_slice(&l.bias)));
    }
}

/// The weights file's float tensors under `prefix`, by their names without it.
pub fn floats_under(prefix: &str, saved: &[(String, Tensor)]) -> BTreeMap<String, Vec<f32>> {
    saved
        .iter()
        .filter(|(n, t)| n.starts_with(prefix) && t.kind() == tch::Kind::Float)
        .map(|(n, t)| {
            (
                n[prefix.len()..].to_string(),
                crate::util::tensor::tensor_to_vec(t),
            )
        })
        .collect()
}
