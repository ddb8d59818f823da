//! Format version 3: the last int8 layer's output (no activation) may have a zero point beyond
//! int8, so that an output range without 0 (Q-values in `[59, 67]`) keeps its own step; version-2
//! files still read, and a version-2 file with such a zero point is refused by name.

use picorl_core::model::{
    self, crc32, header, BodySpec, HeadSpec, LayerSpec, Model, ModelError, ModelSpec, VERSION,
    VERSION_2,
};
use picorl_core::nn::{Activation, QuantParams};
use picorl_core::policy::Policy;

fn aligned(b: &[u8]) -> Vec<u32> {
    let mut w = vec![0u32; b.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut w)[..b.len()].copy_from_slice(b);
    w
}

fn write(spec: &ModelSpec<'_>) -> Result<Vec<u8>, model::WriteError> {
    let n = model::required_len(spec)?;
    let mut w = vec![0u32; n.div_ceil(4)];
    let len = model::write(spec, bytemuck::cast_slice_mut(&mut w))?;
    Ok(bytemuck::cast_slice::<u32, u8>(&w)[..len].to_vec())
}

fn parse(b: &[u8]) -> Result<(), ModelError> {
    let w = aligned(b);
    Model::parse(&bytemuck::cast_slice::<u32, u8>(&w)[..b.len()]).map(|_| ())
}

// Two layers: 2 -> 2 ReLU -> 2 outputs near 60 (Q-values of two actions).
const W0: [f32; 4] = [1.0, -0.5, 0.25, 0.75];
const B0: [f32; 2] = [0.1, 0.0];
const W1: [f32; 4] = [0.5, -0.25, -0.125, 0.5];
const B1: [f32; 2] = [63.0, 63.1];

fn layers() -> [LayerSpec<'static>; 2] {
    [
        LayerSpec {
            in_dim: 2,
            out_dim: 2,
            weights: &W0,
            bias: &B0,
            activation: Activation::Relu,
        },
        LayerSpec {
            in_dim: 2,
            out_dim: 2,
            weights: &W1,
            bias: &B1,
            activation: Activation::Identity,
        },
    ]
}

fn spec<'a>(layers: &'a [LayerSpec<'a>], outputs: &'a [QuantParams]) -> ModelSpec<'a> {
    ModelSpec {
        obs_dim: 2,
        normalization: None,
        head: HeadSpec::Discrete { n: 2 },
        body: BodySpec::MlpInt8 {
            layers,
            input: QuantParams::from_range(-2.0, 2.0).unwrap(),
            outputs,
        },
    }
}

#[test]
fn an_output_range_without_zero_keeps_its_step() {
    let out = QuantParams::from_output_range(61.0, 65.0).unwrap();
    // (65 - 61) / 255, and a zero point far below int8's.
    assert!((out.scale - 4.0 / 255.0).abs() < 1e-7);
    assert_eq!(
        out.zero_point,
        (-128.0f64 - 61.0 / f64::from(out.scale)).round() as i32
    );
    assert!(out.zero_point < -3000);
    // A range with 0 in it gets TFLite's parameters.
    assert_eq!(
        QuantParams::from_output_range(-1.0, 2.0).unwrap(),
        QuantParams::from_range(-1.0, 2.0).unwrap()
    );
    let ls = layers();
    let outputs = [QuantParams::from_range(0.0, 3.0).unwrap(), out];
    let bytes = write(&spec(&ls, &outputs)).unwrap();
    let w = aligned(&bytes);
    let m = Model::parse(&bytemuck::cast_slice::<u32, u8>(&w)[..bytes.len()]).unwrap();
    assert_eq!(m.version(), VERSION);
    let mut p = Policy::<'_, 4>::new(m).unwrap();
    for obs in [[0.3f32, -1.0], [-1.5, 0.7], [1.5, 1.5], [0.0, 0.0]] {
        p.act(&obs).unwrap();
        let h = [
            (W0[0] * obs[0] + W0[1] * obs[1] + B0[0]).max(0.0),
            (W0[2] * obs[0] + W0[3] * obs[1] + B0[1]).max(0.0),
        ];
        for (r, &got) in p.outputs().iter().enumerate() {
            let want = W1[2 * r] * h[0] + W1[2 * r + 1] * h[1] + B1[r];
            // Within a few output steps (input and hidden steps included), not saturated.
            assert!(
                (got - want).abs() <= 4.0 * out.scale + 0.02,
                "{obs:?}: {got} vs {want}"
            );
        }
    }
    // The same bytes labelled version 2 are refused, naming the field.
    let mut v2 = bytes.clone();
    v2[header::VERSION..header::VERSION + 2].copy_from_slice(&VERSION_2.to_le_bytes());
    let n = v2.len();
    let c = crc32(&v2[..n - 4]);
    v2[n - 4..].copy_from_slice(&c.to_le_bytes());
    let e = parse(&v2).unwrap_err().to_string();
    assert!(e.contains("layer.out_zero_point"), "{e}");
}

#[test]
fn only_the_last_identity_layer_may_have_a_wide_zero_point() {
    let ls = layers();
    let wide = QuantParams::from_output_range(61.0, 65.0).unwrap();
    // On the hidden ReLU layer: refused by the writer.
    assert!(write(&spec(&ls, &[wide, wide])).is_err());
    // Beyond 2^20: refused.
    assert!(QuantParams::from_output_range(1.0e6, 1.0e6 + 1.0).is_err());
    let far = QuantParams {
        scale: 1.0,
        zero_point: (1 << 20) + 1,
    };
    assert!(write(&spec(
        &ls,
        &[QuantParams::from_range(0.0, 3.0).unwrap(), far]
    ))
    .is_err());
}

#[test]
fn version_2_files_still_read_and_act_the_same() {
    let v2 = include_bytes!("model_fixtures/linear_2x2_v2.picorl");
    let v3 = include_bytes!("model_fixtures/linear_2x2.picorl");
    let (w2, w3) = (aligned(v2), aligned(v3));
    let m2 = Model::parse(&bytemuck::cast_slice::<u32, u8>(&w2)[..v2.len()]).unwrap();
    let m3 = Model::parse(&bytemuck::cast_slice::<u32, u8>(&w3)[..v3.len()]).unwrap();
    assert_eq!(m2.version(), VERSION_2);
    assert_eq!(m3.version(), VERSION);
    let differ: Vec<usize> = (0..v2.len()).filter(|&i| v2[i] != v3[i]).collect();
    assert!(
        differ
            .iter()
            .all(|&i| i == header::VERSION || i >= v2.len() - 4),
        "{differ:?}"
    );
    let mut p2 = Policy::<'_, 4>::new(m2).unwrap();
    let mut p3 = Policy::<'_, 4>::new(m3).unwrap();
    for obs in [[0.3f32, -1.0], [-2.0, 0.7], [1.5, 1.5]] {
        assert_eq!(p2.act(&obs).unwrap(), p3.act(&obs).unwrap());
        assert_eq!(p2.outputs(), p3.outputs());
    }
}
