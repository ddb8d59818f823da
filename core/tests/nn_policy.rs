//! Policy heads, observation normalization, documented bad-input behaviour, and the f32 layer's
//! fixed summation order.

use picorl_core::env::Action;
use picorl_core::model::{
    self, BodySpec, HeadSpec, LayerData, LayerSpec, Model, ModelSpec, NormSpec,
};
use picorl_core::nn::{Activation, DenseF32, QuantParams};
use picorl_core::policy::{argmax, kinds, norm_std, normalize, ActionOut, Policy, PolicyError};
use picorl_core::rng::{seeded, unit_f32};

struct Buf(Vec<u32>, usize);

impl Buf {
    fn write(spec: &ModelSpec<'_>) -> Self {
        let mut w = vec![0u32; model::required_len(spec).unwrap() / 4 + 4];
        let n = model::write(spec, bytemuck::cast_slice_mut(&mut w)).unwrap();
        Buf(w, n)
    }
    fn model(&self) -> Model<'_> {
        Model::parse(&bytemuck::cast_slice(&self.0)[..self.1]).unwrap()
    }
}

fn identity_spec<'a>(
    layers: &'a [LayerSpec<'a>],
    head: HeadSpec<'a>,
    norm: Option<NormSpec<'a>>,
) -> ModelSpec<'a> {
    ModelSpec {
        obs_dim: layers[0].in_dim,
        normalization: norm,
        head,
        body: BodySpec::MlpF32 { layers },
    }
}

const EYE3: [f32; 9] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
const ZERO3: [f32; 3] = [0.0; 3];

fn eye3() -> [LayerSpec<'static>; 1] {
    [LayerSpec {
        in_dim: 3,
        out_dim: 3,
        weights: &EYE3,
        bias: &ZERO3,
        activation: Activation::Identity,
    }]
}

#[test]
fn discrete_argmax_lowest_index_wins_ties() {
    let layers = eye3();
    let b = Buf::write(&identity_spec(&layers, HeadSpec::Discrete { n: 3 }, None));
    let mut p = Policy::<'_, 8>::new(b.model()).unwrap();
    assert_eq!(p.act(&[0.0, 2.0, 1.0]).unwrap(), ActionOut::Discrete(1));
    assert_eq!(p.outputs(), &[0.0, 2.0, 1.0]);
    assert_eq!(p.act(&[5.0, 5.0, 5.0]).unwrap(), ActionOut::Discrete(0));
    assert_eq!(p.act(&[-1.0, 3.0, 3.0]).unwrap(), ActionOut::Discrete(1));
    assert_eq!(p.act(&[-1.0, -3.0, -1.0]).unwrap(), ActionOut::Discrete(0));
    assert_eq!(argmax(&[]), 0);
    assert_eq!(argmax(&[f32::NAN, 1.0]), 1);
    assert_eq!(argmax(&[1.0, f32::NAN, 1.0]), 0);
    let a = p.act(&[0.0, 0.0, 9.0]).unwrap();
    assert_eq!(Action::from(&a), Action::Discrete(2));
}

#[test]
fn k_compiles_in_only_the_kinds_named() {
    let layers = eye3();
    let b = Buf::write(&identity_spec(&layers, HeadSpec::Discrete { n: 3 }, None));
    assert_eq!(kinds::of(&b.model()), kinds::MLP_F32);
    // The kinds named: the same actions and outputs as the default policy (all kinds).
    let mut all = Policy::<'_, 8>::new(b.model()).unwrap();
    let mut only = Policy::<'_, 8, 8, { kinds::MLP_F32 }>::new(b.model()).unwrap();
    for obs in [[0.0, 2.0, 1.0], [5.0, 5.0, 5.0], [-1.0, -3.0, -1.0]] {
        assert_eq!(only.act(&obs), all.act(&obs));
        assert_eq!(only.outputs(), all.outputs());
    }
    // Another kind, or a continuous head left out: refused when the policy is built.
    assert_eq!(
        Policy::<'_, 8, 8, { kinds::MLP_INT8 | kinds::TABLE }>::new(b.model()).err(),
        Some(PolicyError::KindLeftOut {
            needed: kinds::MLP_F32,
            compiled: kinds::MLP_INT8 | kinds::TABLE,
        })
    );
    let (low, high) = ([-1.0f32; 3], [1.0f32; 3]);
    let c = Buf::write(&identity_spec(
        &layers,
        HeadSpec::ContinuousClip {
            low: &low,
            high: &high,
        },
        None,
    ));
    assert_eq!(kinds::of(&c.model()), kinds::MLP_F32 | kinds::CONTINUOUS);
    assert!(matches!(
        Policy::<'_, 8, 8, { kinds::MLP_F32 }>::new(c.model()),
        Err(PolicyError::KindLeftOut { .. })
    ));
    let mut clip =
        Policy::<'_, 8, 8, { kinds::MLP_F32 | kinds::CONTINUOUS }>::new(c.model()).unwrap();
    let a = clip.act(&[0.5, 2.0, -3.0]).unwrap();
    assert_eq!(a.continuous(), Some(&[0.5f32, 1.0, -1.0][..]));
}

#[test]
fn bad_observations_are_errors() {
    let layers = eye3();
    let b = Buf::write(&identity_spec(&layers, HeadSpec::Discrete { n: 3 }, None));
    let mut p = Policy::<'_, 8>::new(b.model()).unwrap();
    assert_eq!(
        p.act(&[0.0, 1.0]),
        Err(PolicyError::ObsLength {
            expected: 3,
            got: 2
        })
    );
    assert_eq!(
        p.act(&[0.0, 1.0, 2.0, 3.0]),
        Err(PolicyError::ObsLength {
            expected: 3,
            got: 4
        })
    );
    assert_eq!(
        p.act(&[0.0, f32::NAN, 2.0]),
        Err(PolicyError::NonFiniteObs { index: 1 })
    );
    assert_eq!(
        p.act(&[f32::INFINITY, 0.0, f32::NAN]),
        Err(PolicyError::NonFiniteObs { index: 0 })
    );
    assert_eq!(
        p.act(&[0.0, 0.0, f32::NEG_INFINITY]),
        Err(PolicyError::NonFiniteObs { index: 2 })
    );
    // Overflow inside the network is reported, not turned into an action.
    let big = [3.0e38f32, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let layers = [LayerSpec {
        in_dim: 3,
        out_dim: 3,
        weights: &big,
        bias: &ZERO3,
        activation: Activation::Identity,
    }];
    let b = Buf::write(&identity_spec(&layers, HeadSpec::Discrete { n: 3 }, None));
    let mut p = Policy::<'_, 8>::new(b.model()).unwrap();
    assert_eq!(
        p.act(&[10.0, 0.0, 0.0]),
        Err(PolicyError::NonFiniteOutput { index: 0 })
    );
}

#[test]
fn capacity_is_checked() {
    let layers = eye3();
    let b = Buf::write(&identity_spec(&layers, HeadSpec::Discrete { n: 3 }, None));
    assert!(Policy::<'_, 4>::new(b.model()).is_ok());
    let w = vec![0.0f32; 3 * 9];
    let bias = [0.0f32; 9];
    let layers = [LayerSpec {
        in_dim: 3,
        out_dim: 9,
        weights: &w,
        bias: &bias,
        activation: Activation::Identity,
    }];
    let b = Buf::write(&identity_spec(&layers, HeadSpec::Discrete { n: 9 }, None));
    assert_eq!(
        Policy::<'_, 8>::new(b.model()).err(),
        Some(PolicyError::Capacity {
            needed: 12,
            capacity: 8
        })
    );
}

#[test]
fn continuous_heads() {
    let layers = eye3();
    let low = [-1.0f32, 0.0, 10.0];
    let high = [1.0f32, 2.0, 20.0];
    let b = Buf::write(&identity_spec(
        &layers,
        HeadSpec::ContinuousTanh {
            low: &low,
            high: &high,
        },
        None,
    ));
    let mut p = Policy::<'_, 4>::new(b.model()).unwrap();
    let a = p.act(&[0.0, 100.0, -0.5]).unwrap();
    let v = a.continuous().unwrap();
    // tanh(0) = 0 → middle; tanh(100) = 1 → high; low + 0.5 * (tanh(-0.5) + 1) * 10.
    assert_eq!(v[0], 0.0);
    assert_eq!(v[1], 2.0);
    assert_eq!(v[2], 10.0 + (0.5 * (libm::tanhf(-0.5) + 1.0)) * 10.0);
    assert_eq!(p.outputs(), &[0.0, 100.0, -0.5]);
    assert_eq!(Action::from(&a), Action::Continuous(v));

    let b = Buf::write(&identity_spec(
        &layers,
        HeadSpec::ContinuousClip {
            low: &low,
            high: &high,
        },
        None,
    ));
    let mut p = Policy::<'_, 4>::new(b.model()).unwrap();
    assert_eq!(
        p.act(&[-3.0, 1.5, 25.0]).unwrap().continuous().unwrap(),
        &[-1.0, 1.5, 20.0]
    );
}

#[test]
fn normalization_is_sb3_vecnormalize_in_f32() {
    let layers = eye3();
    let mean = [1.0f32, -2.0, 0.5];
    let var = [4.0f32, 0.25, 0.0];
    let norm = NormSpec {
        mean: &mean,
        var: &var,
        epsilon: 1e-8,
        clip: 3.0,
    };
    let b = Buf::write(&identity_spec(
        &layers,
        HeadSpec::Discrete { n: 3 },
        Some(norm),
    ));
    let mut p = Policy::<'_, 4>::new(b.model()).unwrap();
    p.act(&[2.0, -1.0, 0.5]).unwrap();
    // (2 - 1) / sqrt(4 + 1e-8) = 0.5; (-1 + 2) / 0.5 = 2; (0.5 - 0.5) / 1e-4 = 0.
    let o = p.outputs();
    assert_eq!(o[0], 1.0 / (4.0f32 + 1e-8).sqrt());
    assert_eq!(o[1], 1.0 / (0.25f32 + 1e-8).sqrt());
    assert_eq!(o[2], 0.0);
    // Clipping at ±clip.
    p.act(&[1000.0, -1000.0, 0.5]).unwrap();
    assert_eq!(p.outputs(), &[3.0, -3.0, 0.0]);
    assert_eq!(normalize(5.0, 1.0, norm_std(4.0, 0.0), 10.0), 2.0);
}

#[test]
fn tabular_policies() {
    let actions = [2u32, 0, 1];
    let spec = ModelSpec {
        obs_dim: 1,
        normalization: None,
        head: HeadSpec::Discrete { n: 3 },
        body: BodySpec::GreedyTable { actions: &actions },
    };
    let b = Buf::write(&spec);
    let mut p = Policy::<'_, 4>::new(b.model()).unwrap();
    assert_eq!(p.act(&[0.0]).unwrap(), ActionOut::Discrete(2));
    assert_eq!(p.act(&[2.0]).unwrap(), ActionOut::Discrete(1));
    assert!(p.outputs().is_empty());
    for bad in [3.0f32, -1.0, 0.5, 1e9] {
        assert_eq!(
            p.act(&[bad]),
            Err(PolicyError::InvalidState { n_states: 3 }),
            "{bad}"
        );
    }
    assert_eq!(
        p.act(&[f32::NAN]),
        Err(PolicyError::NonFiniteObs { index: 0 })
    );
    assert_eq!(
        p.act(&[1.0, 1.0]),
        Err(PolicyError::ObsLength {
            expected: 1,
            got: 2
        })
    );

    let q = [0.0f32, 1.0, 1.0, 5.0, -1.0, 0.0];
    let spec = ModelSpec {
        obs_dim: 1,
        normalization: None,
        head: HeadSpec::Discrete { n: 3 },
        body: BodySpec::QTable { q: &q },
    };
    let b = Buf::write(&spec);
    let mut p = Policy::<'_, 4>::new(b.model()).unwrap();
    assert_eq!(p.act(&[0.0]).unwrap(), ActionOut::Discrete(1)); // tie between 1 and 2: lowest
    assert_eq!(p.outputs(), &[0.0, 1.0, 1.0]);
    assert_eq!(p.act(&[1.0]).unwrap(), ActionOut::Discrete(0));
    assert_eq!(p.outputs(), &[5.0, -1.0, 0.0]);
}

#[test]
fn int8_tanh_head_applies_tanh_in_f32_after_dequantizing() {
    let w = [0.5f32, -0.25];
    let bias = [0.1f32];
    let layers = [LayerSpec {
        in_dim: 2,
        out_dim: 1,
        weights: &w,
        bias: &bias,
        activation: Activation::Identity,
    }];
    let outputs = [QuantParams {
        scale: 0.01,
        zero_point: 3,
    }];
    let low = [-2.0f32];
    let high = [2.0f32];
    let spec = ModelSpec {
        obs_dim: 2,
        normalization: None,
        head: HeadSpec::ContinuousTanh {
            low: &low,
            high: &high,
        },
        body: BodySpec::MlpInt8 {
            layers: &layers,
            input: QuantParams {
                scale: 0.02,
                zero_point: 0,
            },
            outputs: &outputs,
        },
    };
    let b = Buf::write(&spec);
    let mut p = Policy::<'_, 4>::new(b.model()).unwrap();
    let a = p.act(&[1.0, 1.0]).unwrap();
    let mean = p.outputs()[0];
    // 0.5 - 0.25 + 0.1 = 0.35 → 35 steps of 0.01 (+ zp 3) → 0.35 after dequantizing.
    assert!((mean - 0.35).abs() < 0.011, "{mean}");
    assert_eq!(
        a.continuous().unwrap()[0],
        -2.0 + (0.5 * (libm::tanhf(mean) + 1.0)) * 4.0
    );
}

/// The f32 layer adds `w * x` one input at a time from the bias, never fused: a plain sequential
/// reference gives the same bits, and so does the nalgebra variant.
#[test]
fn f32_layers_sum_in_a_fixed_order() {
    let mut rng = seeded(11);
    for _ in 0..300 {
        let in_dim = 1 + picorl_core::rng::below(&mut rng, 70) as usize;
        let out_dim = 1 + picorl_core::rng::below(&mut rng, 30) as usize;
        let w: Vec<f32> = (0..in_dim * out_dim)
            .map(|_| unit_f32(&mut rng) * 2.0 - 1.0)
            .collect();
        let bias: Vec<f32> = (0..out_dim).map(|_| unit_f32(&mut rng) - 0.5).collect();
        let x: Vec<f32> = (0..in_dim)
            .map(|_| (unit_f32(&mut rng) - 0.5) * 10.0)
            .collect();
        let layers = [LayerSpec {
            in_dim,
            out_dim,
            weights: &w,
            bias: &bias,
            activation: Activation::Tanh,
        }];
        let b = Buf::write(&identity_spec(
            &layers,
            HeadSpec::Discrete { n: out_dim as u32 },
            None,
        ));
        let m = b.model();
        let LayerData::F32(d) = m.layer(0).unwrap().data else {
            panic!()
        };
        let rows = picorl_core::nn::padded_rows(out_dim);
        let mut y = vec![0.0f32; rows];
        let mut yn = vec![0.0f32; rows];
        d.forward(&x, &mut y).unwrap();
        d.forward_nalgebra(&x, &mut yn).unwrap();
        for r in 0..out_dim {
            let mut acc = bias[r];
            for c in 0..in_dim {
                acc += w[r * in_dim + c] * x[c];
            }
            let expect = libm::tanhf(acc);
            assert_eq!(y[r].to_bits(), expect.to_bits());
            assert_eq!(yn[r].to_bits(), expect.to_bits());
        }
        let _: Option<DenseF32<'_>> = None;
    }
}
