//! The `.picorl` format: round trips, golden bytes, and every way a file can be damaged.
//!
//! `PICORL_BLESS=1 cargo test -p picorl-core --test model_format` rewrites the golden fixture
//! (`tests/model_fixtures/linear_2x2.picorl`) after an intended format change.

use picorl_core::model::{
    self, crc32, header, layer_record, ActionSpec, BodySpec, HeadKind, HeadSpec, LayerData,
    LayerSpec, Model, ModelError, ModelKind, ModelSpec, ModelView, NormSpec, QuantKind, Table,
    WriteError, HEADER_LEN, MAGIC, VERSION,
};
use picorl_core::nn::{Activation, QuantParams};

/// Word-aligned storage for model bytes.
struct Buf {
    words: Vec<u32>,
    len: usize,
}

impl Buf {
    fn write(spec: &ModelSpec<'_>) -> Self {
        let need = model::required_len(spec).unwrap();
        let mut words = vec![0u32; need.div_ceil(4) + 4];
        let len = model::write(spec, bytemuck::cast_slice_mut(&mut words)).unwrap();
        assert_eq!(len, need);
        Self { words, len }
    }
    fn from_bytes(b: &[u8]) -> Self {
        let mut words = vec![0u32; b.len().div_ceil(4) + 1];
        bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..b.len()].copy_from_slice(b);
        Self {
            words,
            len: b.len(),
        }
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

/// Recomputes the CRC after an edit, so that the structural checks are what is tested.
fn fix_crc(b: &mut [u8]) {
    let n = b.len();
    let c = crc32(&b[..n - 4]);
    b[n - 4..].copy_from_slice(&c.to_le_bytes());
}

const W2: [f32; 4] = [1.0, -2.0, 0.5, 0.25];
const B2: [f32; 2] = [0.125, -0.5];

fn linear_2x2() -> ModelSpec<'static> {
    static LAYERS: [LayerSpec<'static>; 1] = [LayerSpec {
        in_dim: 2,
        out_dim: 2,
        weights: &W2,
        bias: &B2,
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
fn golden_fixture() {
    let m = Buf::write(&linear_2x2());
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/model_fixtures/linear_2x2.picorl"
    );
    if std::env::var_os("PICORL_BLESS").is_some() {
        std::fs::write(path, m.bytes()).unwrap();
    }
    let golden = std::fs::read(path).expect("fixture missing: run with PICORL_BLESS=1");
    assert_eq!(
        m.bytes(),
        &golden[..],
        "the writer's bytes changed: a format change needs a version bump"
    );
    // The layout worked out by hand (docs/model-format.md): header 64 B, one layer record at 64..96,
    // weights at 96 (4 padded rows x 2 inputs x f32 = 32 B), bias at 128 (4 x f32 = 16 B),
    // CRC at 144; 148 bytes in all.
    assert_eq!(golden.len(), 148);
    assert_eq!(&golden[..8], &MAGIC);
    assert_eq!(u32::from_le_bytes(golden[28..32].try_into().unwrap()), 148);
    // w[0][0] = 1.0 at the first weight slot, w[1][0] = 0.5 at the second (block layout: for each
    // input, the 4 rows of the block).
    assert_eq!(f32::from_le_bytes(golden[96..100].try_into().unwrap()), 1.0);
    assert_eq!(
        f32::from_le_bytes(golden[100..104].try_into().unwrap()),
        0.5
    );
    assert_eq!(
        f32::from_le_bytes(golden[112..116].try_into().unwrap()),
        -2.0
    );
    assert_eq!(
        f32::from_le_bytes(golden[128..132].try_into().unwrap()),
        0.125
    );
}

#[test]
fn embedded_fixture_through_the_macro() {
    static MODEL: &[u8] =
        picorl_core::include_model!("model_fixtures/linear_2x2.picorl", obs = 2, actions = 2);
    let m = Model::parse(MODEL).unwrap();
    assert_eq!(m.action(), ActionSpec::Discrete { n: 2 });
    assert_eq!(
        model::check_embedded(MODEL, 2, 3),
        Err("embedded .picorl model: action size differs from the environment's")
    );
    assert!(model::check_embedded(MODEL, 3, 2).is_err());
    assert_eq!(model::check_embedded(MODEL, 2, 2), Ok(()));
}

#[test]
fn f32_round_trip_and_accessors() {
    let m = Buf::write(&linear_2x2());
    let v = Model::parse(m.bytes()).unwrap();
    assert_eq!(v.version(), VERSION);
    assert_eq!(v.kind(), ModelKind::MlpF32);
    assert_eq!(v.quant(), QuantKind::F32);
    assert_eq!(v.head(), HeadKind::Discrete);
    assert_eq!(
        (v.obs_dim(), v.action_dim(), v.n_layers(), v.macs()),
        (2, 2, 1, 4)
    );
    assert_eq!(v.crc(), crc32(&m.bytes()[..m.len - 4]));
    assert!(v.normalization().is_none() && v.action_bounds().is_none() && v.table().is_none());
    let l = v.layer(0).unwrap();
    let LayerData::F32(d) = l.data else {
        panic!("f32 layer expected")
    };
    for r in 0..2 {
        for c in 0..2 {
            assert_eq!(d.weight(r, c), Some(W2[r * 2 + c]));
        }
        assert_eq!(d.bias(r), Some(B2[r]));
    }
    assert!(v.layer(1).is_none());
}

fn int8_spec<'a>(
    layers: &'a [LayerSpec<'a>],
    outputs: &'a [QuantParams],
    norm: Option<NormSpec<'a>>,
    head: HeadSpec<'a>,
) -> ModelSpec<'a> {
    ModelSpec {
        obs_dim: layers[0].in_dim,
        normalization: norm,
        head,
        body: BodySpec::MlpInt8 {
            layers,
            input: QuantParams {
                scale: 0.05,
                zero_point: -3,
            },
            outputs,
        },
    }
}

#[test]
#[allow(clippy::needless_range_loop)] // `r` and `c` index rows, scales and the layer together
fn int8_round_trip_keeps_tflite_quantities() {
    let w1: Vec<f32> = (0..5 * 3)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1)
        .collect();
    let b1 = [0.1f32, -0.2, 0.3, 0.0, 0.05];
    let w2: Vec<f32> = (0..2 * 5)
        .map(|i| ((i * 5 % 7) as f32 - 3.0) * 0.2)
        .collect();
    let b2 = [0.5f32, -0.5];
    let layers = [
        LayerSpec {
            in_dim: 3,
            out_dim: 5,
            weights: &w1,
            bias: &b1,
            activation: Activation::Relu,
        },
        LayerSpec {
            in_dim: 5,
            out_dim: 2,
            weights: &w2,
            bias: &b2,
            activation: Activation::Identity,
        },
    ];
    let outputs = [
        QuantParams {
            scale: 0.02,
            zero_point: -128,
        },
        QuantParams {
            scale: 0.03,
            zero_point: 5,
        },
    ];
    let mean = [0.0f32, 1.0, -1.0];
    let var = [1.0f32, 4.0, 0.25];
    let low = [-2.0f32, -1.0];
    let high = [2.0f32, 3.0];
    let spec = int8_spec(
        &layers,
        &outputs,
        Some(NormSpec {
            mean: &mean,
            var: &var,
            epsilon: 1e-8,
            clip: 10.0,
        }),
        HeadSpec::ContinuousTanh {
            low: &low,
            high: &high,
        },
    );
    let m = Buf::write(&spec);
    let v = Model::parse(m.bytes()).unwrap();
    assert_eq!(v.quant(), QuantKind::Int8);
    assert_eq!(v.action(), ActionSpec::Continuous { dim: 2 });
    assert_eq!(v.macs(), 3 * 5 + 5 * 2);
    assert_eq!(
        v.input_quant(),
        Some(QuantParams {
            scale: 0.05,
            zero_point: -3
        })
    );
    let n = v.normalization().unwrap();
    assert_eq!(
        (n.mean, n.var, n.epsilon, n.clip),
        (&mean[..], &var[..], 1e-8, 10.0)
    );
    assert_eq!(v.action_bounds(), Some((&low[..], &high[..])));
    let l0 = v.layer(0).unwrap();
    let LayerData::Int8 {
        dense,
        input,
        output,
        weight_scales,
        ..
    } = l0.data
    else {
        panic!()
    };
    assert_eq!(
        input,
        QuantParams {
            scale: 0.05,
            zero_point: -3
        }
    );
    assert_eq!(output, outputs[0]);
    for r in 0..5 {
        let row = &w1[r * 3..r * 3 + 3];
        let max = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        assert_eq!(weight_scales[r], max / 127.0);
        let mut sum = 0;
        for (c, &wc) in row.iter().enumerate() {
            let q = dense.weight(r, c).unwrap();
            assert_eq!(
                q as f32,
                (wc / weight_scales[r]).round().clamp(-127.0, 127.0)
            );
            sum += q as i32;
        }
        // TFLite's bias, and the stored one with the input zero point folded in.
        let tfl = (b1[r] as f64 / (0.05f32 as f64 * weight_scales[r] as f64)).round() as i32;
        assert_eq!(l0.tflite_bias(r), Some(tfl));
        assert_eq!(dense.folded_bias(r), Some(tfl - (-3) * sum));
        let rq = dense.requant(r).unwrap();
        let (m_, s_) = picorl_core::nn::quant::quantize_multiplier(
            0.05f32 as f64 * weight_scales[r] as f64 / 0.02f32 as f64,
        )
        .unwrap();
        assert_eq!((rq.multiplier, rq.shift), (m_, s_));
    }
    let l1 = v.layer(1).unwrap();
    let LayerData::Int8 { input, .. } = l1.data else {
        panic!()
    };
    assert_eq!(input, outputs[0]);
}

#[test]
fn tables_round_trip() {
    let actions = [0u32, 3, 1, 2, 2];
    let spec = ModelSpec {
        obs_dim: 1,
        normalization: None,
        head: HeadSpec::Discrete { n: 4 },
        body: BodySpec::GreedyTable { actions: &actions },
    };
    let m = Buf::write(&spec);
    let v = Model::parse(m.bytes()).unwrap();
    assert_eq!(
        (v.kind(), v.n_states(), v.n_layers(), v.macs()),
        (ModelKind::GreedyTable, 5, 0, 0)
    );
    assert!(matches!(v.table(), Some(Table::Greedy(t)) if t == actions));

    let q: Vec<f32> = (0..6 * 3).map(|i| i as f32 * 0.5 - 3.0).collect();
    let spec = ModelSpec {
        obs_dim: 1,
        normalization: None,
        head: HeadSpec::Discrete { n: 3 },
        body: BodySpec::QTable { q: &q },
    };
    let m = Buf::write(&spec);
    let v = Model::parse(m.bytes()).unwrap();
    assert_eq!((v.kind(), v.n_states()), (ModelKind::QTable, 6));
    assert!(matches!(v.table(), Some(Table::Q { q: t, n_actions: 3 }) if t == &q[..]));
}

/// A model with every optional section, for the damage tests.
fn full_model() -> Buf {
    let w1: Vec<f32> = (0..6 * 4).map(|i| (i as f32 * 0.37).sin()).collect();
    let b1: Vec<f32> = (0..6).map(|i| i as f32 * 0.01).collect();
    let w2: Vec<f32> = (0..3 * 6).map(|i| (i as f32 * 0.71).cos()).collect();
    let b2 = [0.0f32; 3];
    let layers = [
        LayerSpec {
            in_dim: 4,
            out_dim: 6,
            weights: &w1,
            bias: &b1,
            activation: Activation::Relu,
        },
        LayerSpec {
            in_dim: 6,
            out_dim: 3,
            weights: &w2,
            bias: &b2,
            activation: Activation::Identity,
        },
    ];
    let outputs = [
        QuantParams {
            scale: 0.01,
            zero_point: -128,
        },
        QuantParams {
            scale: 0.02,
            zero_point: 0,
        },
    ];
    let mean = [0.5f32; 4];
    let var = [2.0f32; 4];
    let low = [-1.0f32; 3];
    let high = [1.0f32; 3];
    Buf::write(&int8_spec(
        &layers,
        &outputs,
        Some(NormSpec {
            mean: &mean,
            var: &var,
            epsilon: 1e-8,
            clip: 5.0,
        }),
        HeadSpec::ContinuousClip {
            low: &low,
            high: &high,
        },
    ))
}

#[test]
fn every_truncation_is_rejected() {
    let m = full_model();
    let full = m.bytes();
    for n in 0..full.len() {
        let t = Buf::from_bytes(&full[..n]);
        let e = Model::parse(t.bytes()).unwrap_err();
        assert!(
            matches!(e, ModelError::Truncated { .. } | ModelError::BadMagic if n < 8)
                || matches!(e, ModelError::Truncated { .. }),
            "length {n}: {e}"
        );
    }
    // One byte too many is refused too.
    let mut long = full.to_vec();
    long.push(0);
    let t = Buf::from_bytes(&long);
    assert_eq!(
        Model::parse(t.bytes()).unwrap_err(),
        ModelError::TrailingBytes {
            declared: full.len(),
            len: full.len() + 1
        }
    );
}

#[test]
fn every_bit_flip_is_rejected() {
    let mut m = full_model();
    let len = m.len;
    for i in 0..len {
        for bit in 0..8 {
            m.bytes_mut()[i] ^= 1 << bit;
            assert!(
                Model::parse(m.bytes()).is_err(),
                "flip of bit {bit} of byte {i} accepted"
            );
            m.bytes_mut()[i] ^= 1 << bit;
        }
    }
    assert!(Model::parse(m.bytes()).is_ok());
}

#[test]
fn bit_flips_past_the_magic_are_caught_by_the_crc() {
    let mut m = full_model();
    for i in [10usize, 16, 40, 64, 100, m.len / 2, m.len - 5] {
        m.bytes_mut()[i] ^= 0x10;
        assert!(
            matches!(Model::parse(m.bytes()), Err(ModelError::Checksum { .. })),
            "byte {i}"
        );
        m.bytes_mut()[i] ^= 0x10;
    }
}

#[test]
fn wrong_magic_and_version() {
    let mut m = full_model();
    m.bytes_mut()[0] = b'P';
    assert_eq!(Model::parse(m.bytes()).unwrap_err(), ModelError::BadMagic);
    m.bytes_mut()[0] = MAGIC[0];
    m.bytes_mut()[header::VERSION..header::VERSION + 2].copy_from_slice(&4u16.to_le_bytes());
    fix_crc(m.bytes_mut());
    assert_eq!(
        Model::parse(m.bytes()).unwrap_err(),
        ModelError::UnsupportedVersion { version: 4 }
    );
    let msg = Model::parse(m.bytes()).unwrap_err().to_string();
    assert!(msg.contains("version 4"), "{msg}");
}

#[test]
fn structural_errors_name_the_field() {
    let base = full_model();
    let cases: &[(usize, &[u8], &str)] = &[
        (header::KIND, &[9], "header.kind"),
        (header::HEAD, &[0], "header.head"),
        (header::FLAGS, &[2, 0, 0, 0], "header.flags"),
        (header::OBS_DIM, &[5, 0, 0, 0], "layer.in_dim"),
        (header::ACTION_DIM, &[4, 0, 0, 0], "layer.out_dim"),
        (header::COUNT, &[17, 0, 0, 0], "header.count"),
        (header::NORM_CLIP, &0.0f32.to_le_bytes(), "header.norm_clip"),
        (header::NORM_EPS, &f32::NAN.to_le_bytes(), "header.norm_eps"),
        (
            header::INPUT_SCALE,
            &(-1.0f32).to_le_bytes(),
            "header.input_scale",
        ),
        (
            header::INPUT_ZERO_POINT,
            &200i32.to_le_bytes(),
            "header.input_zero_point",
        ),
        (header::RESERVED + 3, &[1], "header.reserved"),
        (
            HEADER_LEN + layer_record::ACTIVATION,
            &[3],
            "layer.activation",
        ),
        (
            HEADER_LEN + layer_record::OUT_SCALE,
            &f32::INFINITY.to_le_bytes(),
            "layer.out_scale",
        ),
        (
            HEADER_LEN + layer_record::OUT_ZERO_POINT,
            &(-129i32).to_le_bytes(),
            "layer.out_zero_point",
        ),
        (HEADER_LEN + layer_record::RESERVED1, &[7], "layer.reserved"),
    ];
    for &(off, bytes, field) in cases {
        let mut m = Buf::from_bytes(base.bytes());
        m.bytes_mut()[off..off + bytes.len()].copy_from_slice(bytes);
        fix_crc(m.bytes_mut());
        match Model::parse(m.bytes()) {
            Err(ModelError::Field { field: f, .. }) => assert_eq!(f, field, "offset {off}"),
            other => panic!("offset {off}: expected an error in {field}, got {other:?}"),
        }
    }
}

#[test]
fn section_values_are_checked() {
    let base = full_model();
    let v = Model::parse(base.bytes()).unwrap();
    let LayerData::Int8 { dense, .. } = v.layer(0).unwrap().data else {
        panic!()
    };
    let _ = dense;
    // Find the sections by their contents through the public layout: norm_var starts after the
    // layer table (64 + 2 * 32 = 128) and norm_mean (128, 16 bytes): 144.
    let var_off = 144;
    let mut m = Buf::from_bytes(base.bytes());
    m.bytes_mut()[var_off..var_off + 4].copy_from_slice(&(-1.0f32).to_le_bytes());
    fix_crc(m.bytes_mut());
    assert!(matches!(
        Model::parse(m.bytes()),
        Err(ModelError::Value {
            index: 0,
            offset: 144,
            ..
        })
    ));
    // A weight outside int8, in the first weight section (after action_high at 176..188 → 192).
    let mut m = Buf::from_bytes(base.bytes());
    m.bytes_mut()[192..194].copy_from_slice(&300i16.to_le_bytes());
    fix_crc(m.bytes_mut());
    let e = Model::parse(m.bytes()).unwrap_err();
    assert!(matches!(e, ModelError::Value { offset: 192, .. }), "{e}");
    assert!(
        e.to_string().starts_with("layer 0 weights[0] at byte 192"),
        "{e}"
    );
    // A padding byte between sections.
    let mut m = Buf::from_bytes(base.bytes());
    m.bytes_mut()[188] = 1;
    fix_crc(m.bytes_mut());
    assert!(matches!(
        Model::parse(m.bytes()),
        Err(ModelError::Value { offset: 188, .. })
    ));
}

#[test]
fn tampered_requantization_is_rejected() {
    let base = full_model();
    let v = Model::parse(base.bytes()).unwrap();
    let l0 = v.layer(0).unwrap();
    let LayerData::Int8 { dense, .. } = l0.data else {
        panic!()
    };
    let m0 = dense.requant(0).unwrap().multiplier;
    // Locate the first multiplier word by value (the params section follows the weights).
    let bytes = base.bytes();
    let off = (0..bytes.len() - 4)
        .step_by(4)
        .find(|&o| i32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) == m0)
        .unwrap();
    let mut m = Buf::from_bytes(bytes);
    m.bytes_mut()[off..off + 4].copy_from_slice(&(m0 + 1).to_le_bytes());
    fix_crc(m.bytes_mut());
    let e = Model::parse(m.bytes()).unwrap_err();
    assert!(e.to_string().contains("QuantizeMultiplier"), "{e}");
}

#[test]
fn misaligned_buffers_are_refused() {
    let m = full_model();
    let mut words = vec![0u32; m.len / 4 + 2];
    let raw: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
    raw[1..1 + m.len].copy_from_slice(m.bytes());
    assert_eq!(
        Model::parse(&raw[1..1 + m.len]).unwrap_err(),
        ModelError::Misaligned { misalignment: 1 }
    );
    // An unchecked view of misaligned bytes reads empty sections instead of panicking.
    let v = ModelView::new_unchecked(&raw[1..1 + m.len]);
    assert_eq!(v.obs_dim(), 4);
    assert!(v.layer(0).is_none());
}

#[test]
fn writer_errors() {
    let spec = linear_2x2();
    let mut small = [0u8; 100];
    assert_eq!(
        model::write(&spec, &mut small),
        Err(WriteError::BufferTooSmall {
            needed: 148,
            got: 100
        })
    );
    let bad_w = [0.0f32; 3];
    let layers = [LayerSpec {
        in_dim: 2,
        out_dim: 2,
        weights: &bad_w,
        bias: &B2,
        activation: Activation::Identity,
    }];
    let bad = ModelSpec {
        body: BodySpec::MlpF32 { layers: &layers },
        ..spec
    };
    assert!(matches!(
        model::write(&bad, &mut [0u8; 512]),
        Err(WriteError::Spec {
            field: "layers.weights",
            ..
        })
    ));
    let nan_w = [f32::NAN, 0.0, 0.0, 0.0];
    let layers = [LayerSpec {
        in_dim: 2,
        out_dim: 2,
        weights: &nan_w,
        bias: &B2,
        activation: Activation::Identity,
    }];
    let bad = ModelSpec {
        body: BodySpec::MlpF32 { layers: &layers },
        ..spec
    };
    assert!(matches!(
        model::write(&bad, &mut [0u8; 512]),
        Err(WriteError::Invalid(ModelError::Value { .. }))
    ));
    let layers = [LayerSpec {
        in_dim: 2,
        out_dim: 2,
        weights: &W2,
        bias: &B2,
        activation: Activation::HardTanh,
    }];
    let outputs = [QuantParams {
        scale: 0.1,
        zero_point: 0,
    }];
    let bad = int8_spec(&layers, &outputs, None, HeadSpec::Discrete { n: 2 });
    assert!(matches!(
        model::write(&bad, &mut [0u8; 512]),
        Err(WriteError::Spec {
            field: "layers.activation",
            ..
        })
    ));
    // A bias so large that the accumulator bound breaks.
    let huge_b = [1.0e6f32, 0.0];
    let layers = [LayerSpec {
        in_dim: 2,
        out_dim: 2,
        weights: &W2,
        bias: &huge_b,
        activation: Activation::Identity,
    }];
    let bad = int8_spec(&layers, &outputs, None, HeadSpec::Discrete { n: 2 });
    let e = model::write(&bad, &mut [0u8; 512]).unwrap_err();
    assert!(e.to_string().contains("accumulator bound"), "{e}");
}
