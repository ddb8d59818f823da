//! Format version 2: the metadata section (environment id, options, algorithm), int8 tanh and
//! sigmoid layers with their TFLM activation tables, and version-1 files still read.

use picorl_core::model::{
    self, crc32, header, BodySpec, HeadSpec, LayerData, LayerSpec, MetaSpec, Model, ModelError,
    ModelSpec, Section, VERSION, VERSION_1,
};
use picorl_core::nn::int8_act::{self, TableActivation};
use picorl_core::nn::{Activation, QuantParams};
use picorl_core::policy::Policy;

fn aligned(b: &[u8]) -> Vec<u32> {
    let mut w = vec![0u32; b.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut w)[..b.len()].copy_from_slice(b);
    w
}

fn write(spec: &ModelSpec<'_>, meta: Option<&MetaSpec<'_>>) -> Vec<u8> {
    let n = model::required_len_with_meta(spec, meta).unwrap();
    let mut w = vec![0u32; n.div_ceil(4)];
    let len = model::write_with_meta(spec, meta, bytemuck::cast_slice_mut(&mut w)).unwrap();
    bytemuck::cast_slice::<u32, u8>(&w)[..len].to_vec()
}

fn parse(b: &[u8]) -> Result<(), ModelError> {
    let w = aligned(b);
    Model::parse(&bytemuck::cast_slice::<u32, u8>(&w)[..b.len()]).map(|_| ())
}

fn fix_crc(b: &mut [u8]) {
    let n = b.len();
    let c = crc32(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&c.to_le_bytes());
}

const W: [f32; 4] = [1.0, -2.0, 0.5, 0.25];
const B: [f32; 2] = [0.125, -0.5];

fn linear() -> ModelSpec<'static> {
    static LAYERS: [LayerSpec<'static>; 1] = [LayerSpec {
        in_dim: 2,
        out_dim: 2,
        weights: &W,
        bias: &B,
        activation: Activation::Identity,
    }];
    ModelSpec {
        obs_dim: 2,
        normalization: None,
        head: HeadSpec::Discrete { n: 2 },
        body: BodySpec::MlpF32 { layers: &LAYERS },
    }
}

#[test]
fn version_1_files_still_read_and_act_the_same() {
    let v1 = include_bytes!("model_fixtures/linear_2x2_v1.picorl");
    let w1 = aligned(v1);
    let m1 = Model::parse(&bytemuck::cast_slice::<u32, u8>(&w1)[..v1.len()]).unwrap();
    assert_eq!(m1.version(), VERSION_1);
    assert!(m1.meta().is_none());
    let v2 = write(&linear(), None);
    let w2 = aligned(&v2);
    let m2 = Model::parse(&bytemuck::cast_slice::<u32, u8>(&w2)[..v2.len()]).unwrap();
    assert_eq!(m2.version(), VERSION);
    // The same layout: only the version and the CRC differ.
    assert_eq!(v1.len(), v2.len());
    let differ: Vec<usize> = (0..v1.len()).filter(|&i| v1[i] != v2[i]).collect();
    assert!(
        differ
            .iter()
            .all(|&i| i == header::VERSION || i >= v1.len() - 4),
        "{differ:?}"
    );
    let mut p1 = Policy::<'_, 4>::new(m1).unwrap();
    let mut p2 = Policy::<'_, 4>::new(m2).unwrap();
    for obs in [[0.3f32, -1.0], [-2.0, 0.7], [1.5, 1.5]] {
        assert_eq!(p1.act(&obs).unwrap(), p2.act(&obs).unwrap());
        assert_eq!(p1.outputs(), p2.outputs());
    }
    // A version-1 header with a metadata length is damaged (reserved bytes).
    let mut bad = v1.to_vec();
    bad[header::META_LEN] = 1;
    fix_crc(&mut bad);
    let e = parse(&bad).unwrap_err().to_string();
    assert!(e.contains("header.reserved"), "{e}");
}

#[test]
fn metadata_round_trips_and_is_checked() {
    let kwargs = [("map_name", "8x8"), ("is_slippery", "false")];
    let meta = MetaSpec {
        env: "FrozenLake-v1",
        algo: "dqn",
        kwargs: &kwargs,
    };
    let b = write(&linear(), Some(&meta));
    let w = aligned(&b);
    let m = Model::parse(&bytemuck::cast_slice::<u32, u8>(&w)[..b.len()]).unwrap();
    let got = m.meta().unwrap();
    assert_eq!(got.env_id(), "FrozenLake-v1");
    assert_eq!(got.algo(), "dqn");
    assert_eq!(got.kwargs().collect::<Vec<_>>(), kwargs.to_vec());
    // Layout: the metadata is the last section, 16-aligned after the bias (at 144), then the CRC.
    // env (1 + 13) + algo (1 + 3) + count (1) + "map_name=8x8" (1 + 12) + "is_slippery=false"
    // (1 + 17) = 50 bytes at 144..194, padding to 208, CRC at 208: 212 bytes.
    assert_eq!(b.len(), 212);
    assert_eq!(
        u32::from_le_bytes(
            b[header::META_LEN..header::META_LEN + 4]
                .try_into()
                .unwrap()
        ),
        50
    );
    assert_eq!(&b[145..158], b"FrozenLake-v1");
    // A control character, a broken length, a key without `=`: each named.
    for (at, value, why) in [
        (146usize, 0x07u8, "control character"),
        (158, 200, "ends inside a string"),
        (163, 40, "ends inside a string"),
    ] {
        let mut bad = b.clone();
        bad[at] = value;
        fix_crc(&mut bad);
        let e = parse(&bad).unwrap_err();
        assert!(
            matches!(
                e,
                ModelError::Value {
                    section: Section::Meta,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains(why), "{e}");
    }
    // The writer refuses metadata it could not encode.
    for bad in [
        MetaSpec {
            env: "",
            algo: "",
            kwargs: &[],
        },
        MetaSpec {
            env: "X-v0",
            algo: "",
            kwargs: &[("a=b", "c")],
        },
    ] {
        let n = model::required_len(&linear()).unwrap() + 64;
        let mut out = vec![0u32; n];
        assert!(
            model::write_with_meta(&linear(), Some(&bad), bytemuck::cast_slice_mut(&mut out))
                .is_err()
        );
    }
}

/// A 3-8-8-2 int8 network: tanh, then sigmoid, then identity.
fn int8_net() -> Vec<u8> {
    let w0: Vec<f32> = (0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
    let w1: Vec<f32> = (0..64).map(|i| ((i * 5 % 13) as f32 - 6.0) / 5.0).collect();
    let w2: Vec<f32> = (0..16).map(|i| ((i * 3 % 7) as f32 - 3.0) / 2.0).collect();
    let b0 = [0.1f32, -0.2, 0.3, 0.0, 0.5, -0.5, 0.05, 0.2];
    let b1 = [0.0f32, 0.1, -0.1, 0.2, -0.2, 0.3, -0.3, 0.4];
    let b2 = [0.05f32, -0.05];
    let layers = [
        LayerSpec {
            in_dim: 3,
            out_dim: 8,
            weights: &w0,
            bias: &b0,
            activation: Activation::Tanh,
        },
        LayerSpec {
            in_dim: 8,
            out_dim: 8,
            weights: &w1,
            bias: &b1,
            activation: Activation::Sigmoid,
        },
        LayerSpec {
            in_dim: 8,
            out_dim: 2,
            weights: &w2,
            bias: &b2,
            activation: Activation::Identity,
        },
    ];
    let outputs = [
        QuantParams::from_range(-6.0, 5.0).unwrap(),
        QuantParams::from_range(-4.0, 4.5).unwrap(),
        QuantParams::from_range(-3.0, 3.0).unwrap(),
    ];
    let spec = ModelSpec {
        obs_dim: 3,
        normalization: None,
        head: HeadSpec::Discrete { n: 2 },
        body: BodySpec::MlpInt8 {
            layers: &layers,
            input: QuantParams::from_range(-2.0, 2.0).unwrap(),
            outputs: &outputs,
        },
    };
    write(&spec, None)
}

/// The network's bytes are a committed fixture, which `scripts/interop_check.py` checks against
/// TFLM's own TANH and LOGISTIC (`PICORL_BLESS=1` rewrites it after an intended change).
#[test]
fn tanh_sigmoid_fixture_is_what_the_writer_writes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/model_fixtures/tanh_sigmoid_int8.picorl"
    );
    let b = int8_net();
    if std::env::var_os("PICORL_BLESS").is_some() {
        std::fs::write(path, &b).unwrap();
    }
    let golden = std::fs::read(path).expect("fixture missing: run with PICORL_BLESS=1");
    assert_eq!(b, golden);
}

#[test]
fn int8_tanh_and_sigmoid_layers_use_tflm_tables() {
    let b = int8_net();
    let w = aligned(&b);
    let m = Model::parse(&bytemuck::cast_slice::<u32, u8>(&w)[..b.len()]).unwrap();
    let layers: Vec<_> = m.layers().collect();
    let mut table_at = Vec::new();
    for (lv, act) in layers.iter().zip([
        Some(TableActivation::Tanh),
        Some(TableActivation::Logistic),
        None,
    ]) {
        let LayerData::Int8 {
            output,
            fc_output,
            act_table,
            ..
        } = lv.data
        else {
            panic!()
        };
        match act {
            Some(t) => {
                assert_eq!(output, t.output());
                assert_eq!(act_table, int8_act::table(t, fc_output).unwrap());
                table_at.push(act_table.as_ptr() as usize - w.as_ptr() as usize);
            }
            None => {
                assert!(act_table.is_empty());
                assert_eq!(output, fc_output);
            }
        }
    }
    // The policy: dense layers, then the table, layer by layer (the reference computed here).
    let mut p = Policy::<'_, 8>::new(m).unwrap();
    let obs = [0.4f32, -1.3, 0.9];
    p.act(&obs).unwrap();
    let input = m.input_quant().unwrap();
    let mut x: Vec<i16> = obs
        .iter()
        .map(|&v| picorl_core::nn::quant::quantize_f32(v, input) as i16)
        .collect();
    x.resize(4, 0);
    for lv in &layers {
        let LayerData::Int8 {
            dense, act_table, ..
        } = lv.data
        else {
            panic!()
        };
        let mut y = vec![0i16; 8];
        dense.forward(&x, &mut y).unwrap();
        if !act_table.is_empty() {
            for v in y.iter_mut().take(lv.out_dim) {
                *v = act_table[(*v + 128) as usize] as i16;
            }
        }
        x = y;
    }
    let LayerData::Int8 { output, .. } = layers[2].data else {
        panic!()
    };
    let want: Vec<f32> = x[..2]
        .iter()
        .map(|&q| picorl_core::nn::quant::dequantize_i8(q as i32, output))
        .collect();
    assert_eq!(p.outputs(), &want[..]);
    // A changed table entry is caught, and named.
    let mut bad = b.clone();
    bad[table_at[1] + 40] ^= 1;
    fix_crc(&mut bad);
    let e = parse(&bad).unwrap_err().to_string();
    assert!(e.starts_with("layer 1 act_table[40]"), "{e}");
    // Version 1 has no int8 tanh.
    let mut v1 = b.clone();
    v1[header::VERSION..header::VERSION + 2].copy_from_slice(&1u16.to_le_bytes());
    fix_crc(&mut v1);
    let e = parse(&v1).unwrap_err().to_string();
    assert!(e.contains("version-1 int8 layers"), "{e}");
}
