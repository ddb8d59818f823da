//! Tests of [`super`] (`picorl import`).

use super::*;
use crate::export::interop::onnx;
use crate::export::interop::onnx::ModelProto;
use crate::export::AlignedBytes;
use picorl_core::model::{self, BodySpec, HeadSpec, LayerSpec, Model, ModelSpec};
use picorl_core::nn::Activation as CoreActivation;
use prost::Message;

const W0: [f32; 6] = [0.5, -1.0, 2.0, 0.25, 0.75, -0.5];
const W1: [f32; 4] = [1.0, 2.0, -3.0, 4.0];

/// picorl's own ONNX export of a 3 → 2 (hardtanh) → 2 network with `head`.
fn exported(head: HeadSpec<'_>) -> Vec<u8> {
    let layers = [
        LayerSpec {
            in_dim: 3,
            out_dim: 2,
            weights: &W0,
            bias: &[0.1, -0.2],
            activation: CoreActivation::HardTanh,
        },
        LayerSpec {
            in_dim: 2,
            out_dim: 2,
            weights: &W1,
            bias: &[0.0, 1.0],
            activation: CoreActivation::Identity,
        },
    ];
    let spec = ModelSpec {
        obs_dim: 3,
        normalization: None,
        head,
        body: BodySpec::MlpF32 { layers: &layers },
    };
    let mut buf = AlignedBytes::zeroed(model::required_len(&spec).unwrap());
    let n = model::write(&spec, buf.as_mut_bytes()).unwrap();
    buf.truncate(n);
    onnx::encode(&Model::parse(buf.as_bytes()).unwrap()).unwrap()
}

#[test]
fn picorls_own_onnx_export_reads_back_layer_for_layer() {
    let bytes = exported(HeadSpec::Discrete { n: 2 });
    for output in [None, Some("action")] {
        let m = read_onnx(&bytes, output).unwrap();
        assert_eq!(m.obs_dim, 3);
        assert_eq!(m.activation, Some(Activation::Hardtanh));
        assert_eq!(m.layers.len(), 2);
        assert_eq!(m.layers[0].weights, W0);
        assert_eq!(m.layers[0].bias, [0.1, -0.2]);
        assert_eq!(m.layers[1].weights, W1);
        // `outputs` (the first output) is raw; `action` is its ArgMax.
        let want = if output.is_none() {
            Tail::Raw
        } else {
            Tail::Argmax
        };
        assert_eq!(m.tail, want);
    }
}

#[test]
fn a_tanh_head_with_its_rescaling_gives_the_bounds_back() {
    let (low, high) = ([-2.0, -1.0], [2.0, 3.0]);
    let bytes = exported(HeadSpec::ContinuousTanh {
        low: &low,
        high: &high,
    });
    let m = read_onnx(&bytes, Some("action")).unwrap();
    const LOW: [f32; 3] = [-10.0; 3];
    const HIGH: [f32; 3] = [10.0; 3];
    let space = |dim: usize| Space::Box {
        dim,
        low: &LOW[..dim],
        high: &HIGH[..dim],
    };
    let p = policy_for(m, &space(3), &space(2), None).unwrap();
    // picorl writes low + 0.5 * (tanh + 1) * (high - low) = tanh * (high - low) / 2 + (low + high) / 2.
    assert_eq!(
        p.head,
        HeadExport::TanhScale {
            low: low.to_vec(),
            high: high.to_vec()
        }
    );
    // The clip head (Min(Max(x, low), high)).
    let bytes = exported(HeadSpec::ContinuousClip {
        low: &low,
        high: &high,
    });
    let m = read_onnx(&bytes, Some("action")).unwrap();
    assert_eq!(
        m.tail,
        Tail::Clip {
            low: low.to_vec(),
            high: high.to_vec()
        }
    );
}

#[test]
fn an_unknown_operator_is_named_and_sizes_are_checked() {
    let bytes = exported(HeadSpec::Discrete { n: 2 });
    let mut m = ModelProto::decode(bytes.as_slice()).unwrap();
    let g = m.graph.as_mut().unwrap();
    // The hidden activation (Clip) becomes a convolution.
    let clip = g
        .node
        .iter_mut()
        .find(|n| n.op_type.as_deref() == Some("Clip"))
        .unwrap();
    clip.op_type = Some("Conv".into());
    clip.name = Some("conv1".into());
    let err = read_onnx(&m.encode_to_vec(), None).unwrap_err().to_string();
    assert!(
        err.starts_with("node conv1 (Conv): convolutional layers are not supported"),
        "{err}"
    );
    let err = read_onnx(b"\xff\xff", None).unwrap_err().to_string();
    assert!(err.starts_with("not an ONNX model"), "{err}");
    let ok = read_onnx(&bytes, None).unwrap();
    let err = policy_for(
        ok,
        &Space::Discrete { n: 1 },
        &Space::Discrete { n: 2 },
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("takes 3 observation values"), "{err}");
}
