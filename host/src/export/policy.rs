//! What a trained policy hands to the exporter: dense layers, the hidden activation, the head and
//! the observation normalization. `picorl export` quantizes it (for int8) and writes it with
//! `picorl-core`'s writer, so the format lives in one place.

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// A hidden-layer activation, as exported to `picorl-core`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Hyperbolic tangent.
    Tanh,
    /// Rectified linear unit.
    Relu,
    /// `clamp(x, -1, 1)`: tanh's range with a ReLU's cost, and exact in int8 (TFLite's fused
    /// `RELU_N1_TO_1`).
    Hardtanh,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.relu(),
            Activation::Hardtanh => x.clamp(-1.0, 1.0),
        }
    }

    /// The gain of orthogonal initialisation for this activation (SB3's `sqrt(2)` for both, as in
    /// its `ActorCriticPolicy`; the classic per-activation gains are 5/3 for tanh and sqrt(2) for
    /// ReLU, but SB3's choice is the one its tuned hyper-parameters assume).
    pub fn init_gain(self) -> f64 {
        std::f64::consts::SQRT_2
    }
}

/// One dense layer: `weights` row-major `[outputs][inputs]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseExport {
    /// Weights, `outputs * inputs`, row-major.
    pub weights: Vec<f32>,
    /// Biases, `outputs`.
    pub bias: Vec<f32>,
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
}

/// How the network's outputs become an action.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadExport {
    /// The index of the largest output (logits or Q-values).
    Argmax,
    /// The outputs clipped to `[low, high]` (a Gaussian policy's mean).
    Clip {
        /// Lower bounds.
        low: Vec<f32>,
        /// Upper bounds.
        high: Vec<f32>,
    },
    /// `tanh` of the outputs rescaled from `[-1, 1]` to `[low, high]` (a squashed actor).
    TanhScale {
        /// Lower bounds.
        low: Vec<f32>,
        /// Upper bounds.
        high: Vec<f32>,
    },
    /// A greedy action per discrete state (no network).
    Tabular {
        /// The action of each state.
        actions: Vec<u32>,
        /// The number of actions.
        n_actions: u32,
    },
}

/// Running observation normalization: `clip((obs - mean) / sqrt(var + eps), ±clip)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObsNormExport {
    /// Per-component mean.
    pub mean: Vec<f32>,
    /// Per-component variance.
    pub var: Vec<f32>,
    /// Added to the variance.
    pub eps: f32,
    /// Normalized values are clipped to `[-clip, clip]`.
    pub clip: f32,
}

/// A deterministic policy ready to export.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyExport {
    /// The dense layers, input first (empty for a tabular policy).
    pub layers: Vec<DenseExport>,
    /// The activation after every layer but the last.
    pub activation: Activation,
    /// The head.
    pub head: HeadExport,
    /// Observation normalization, if the policy was trained with it.
    pub obs_norm: Option<ObsNormExport>,
}

use anyhow::{anyhow, bail, Result};
use picorl_core::model::{self, BodySpec, HeadSpec, LayerSpec, ModelSpec, NormSpec};
use picorl_core::nn::{self as core_nn, QuantParams};

/// How `picorl export` stores the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    /// f32 weights, f32 inference.
    F32,
    /// Per-channel symmetric int8 weights, int8 activations, integer-only inference (TFLM's).
    Int8,
}

impl Quant {
    /// `f32` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Quant::F32 => "f32",
            Quant::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for Quant {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Quant::F32),
            "int8" => Ok(Quant::Int8),
            _ => bail!("--quant {s}: expected f32 or int8"),
        }
    }
}

impl PolicyExport {
    /// Normalizes one observation as core does (SB3's `VecNormalize`, computed in f32 by core's
    /// own functions, so host and controller agree bit for bit).
    pub fn normalize(&self, obs: &mut [f32]) {
        if let Some(n) = &self.obs_norm {
            for (i, x) in obs.iter_mut().enumerate() {
                let std = picorl_core::policy::norm_std(n.var[i], n.eps);
                *x = picorl_core::policy::normalize(*x, n.mean[i], std, n.clip);
            }
        }
    }

    /// The f32 forward pass of a normalized observation, returning every layer's output (after
    /// its activation): what calibration measures.
    pub fn forward_all(&self, x: &[f32]) -> Vec<Vec<f32>> {
        let mut outs: Vec<Vec<f32>> = Vec::with_capacity(self.layers.len());
        for (k, l) in self.layers.iter().enumerate() {
            let input = if k == 0 { x } else { &outs[k - 1] };
            let last = k + 1 == self.layers.len();
            let y: Vec<f32> = (0..l.outputs)
                .map(|o| {
                    let row = &l.weights[o * l.inputs..(o + 1) * l.inputs];
                    let z = l.bias[o] + row.iter().zip(input).map(|(w, v)| w * v).sum::<f32>();
                    match (last, self.activation) {
                        (true, _) => z,
                        (false, Activation::Relu) => z.max(0.0),
                        (false, Activation::Tanh) => z.tanh(),
                        (false, Activation::Hardtanh) => core_nn::activation::hard_tanh(z),
                    }
                })
                .collect();
            outs.push(y);
        }
        outs
    }
}

/// Activation ranges measured on calibration observations: the normalized input and each
/// layer's output. The rule is the plain min/max over every value seen (TFLite's converter's
/// default for activations), widened to contain 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// `(min, max)` of the normalized observation.
    pub input: (f32, f32),
    /// `(min, max)` of each layer's output.
    pub layers: Vec<(f32, f32)>,
    /// Observations measured.
    pub samples: usize,
}

/// Measures activation ranges of `policy` over raw observations `obs` (`obs_dim` each).
pub fn calibrate(policy: &PolicyExport, obs: &[f32], obs_dim: usize) -> Calibration {
    let widen = |r: &mut (f32, f32), v: &[f32]| {
        for &x in v {
            r.0 = r.0.min(x);
            r.1 = r.1.max(x);
        }
    };
    let mut c = Calibration {
        input: (0.0, 0.0),
        layers: vec![(0.0, 0.0); policy.layers.len()],
        samples: 0,
    };
    for raw in obs.chunks_exact(obs_dim) {
        let mut x = raw.to_vec();
        policy.normalize(&mut x);
        widen(&mut c.input, &x);
        for (r, out) in c.layers.iter_mut().zip(policy.forward_all(&x)) {
            widen(r, &out);
        }
        c.samples += 1;
    }
    c
}

/// A byte buffer that starts on a 4-byte boundary, as core's zero-copy reader needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedBytes {
    words: Vec<u32>,
    len: usize,
}

impl AlignedBytes {
    /// Copies `bytes` into aligned storage.
    pub fn new(bytes: &[u8]) -> Self {
        let mut a = Self::zeroed(bytes.len());
        a.as_mut_bytes().copy_from_slice(bytes);
        a
    }

    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(4)],
            len,
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u32, u8>(&self.words)[..self.len]
    }

    /// The bytes, mutably.
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u32, u8>(&mut self.words)[..self.len]
    }

    /// Shortens to `len` bytes.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// What a `.picorl` file records about where its policy comes from (format version 2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMeta {
    /// The environment id.
    pub env: String,
    /// The environment's options, as `--env-kwargs` takes them.
    pub kwargs: std::collections::BTreeMap<String, String>,
    /// The algorithm that trained the policy.
    pub algo: String,
}

/// Builds the `.picorl` bytes of `policy` with core's writer (int8 needs a calibration).
pub fn build_model(
    policy: &PolicyExport,
    obs_dim: usize,
    quant: Quant,
    calib: Option<&Calibration>,
) -> Result<AlignedBytes> {
    build_model_with_meta(policy, obs_dim, quant, calib, None)
}

/// [`build_model`], recording `meta` (environment, options, algorithm) in the file.
pub fn build_model_with_meta(
    policy: &PolicyExport,
    obs_dim: usize,
    quant: Quant,
    calib: Option<&Calibration>,
    meta: Option<&FileMeta>,
) -> Result<AlignedBytes> {
    let to_core = |a: Activation| match a {
        Activation::Relu => core_nn::Activation::Relu,
        Activation::Tanh => core_nn::Activation::Tanh,
        Activation::Hardtanh => core_nn::Activation::HardTanh,
    };
    let n_layers = policy.layers.len();
    let layers: Vec<LayerSpec<'_>> = policy
        .layers
        .iter()
        .enumerate()
        .map(|(k, l)| LayerSpec {
            in_dim: l.inputs,
            out_dim: l.outputs,
            weights: &l.weights,
            bias: &l.bias,
            activation: if k + 1 == n_layers {
                core_nn::Activation::Identity
            } else {
                to_core(policy.activation)
            },
        })
        .collect();
    let norm = policy.obs_norm.as_ref().map(|n| NormSpec {
        mean: &n.mean,
        var: &n.var,
        epsilon: n.eps,
        clip: n.clip,
    });
    let greedy: Vec<u32>;
    let (head, n_actions) = match &policy.head {
        HeadExport::Argmax => (
            HeadSpec::Discrete {
                n: policy.layers.last().map_or(0, |l| l.outputs) as u32,
            },
            0,
        ),
        HeadExport::Clip { low, high } => (HeadSpec::ContinuousClip { low, high }, 0),
        HeadExport::TanhScale { low, high } => (HeadSpec::ContinuousTanh { low, high }, 0),
        HeadExport::Tabular { n_actions, .. } => (HeadSpec::Discrete { n: *n_actions }, *n_actions),
    };
    let _ = n_actions;
    let qparams: Vec<QuantParams>;
    let int8_layers: Vec<LayerSpec<'_>>;
    let body = match (&policy.head, quant) {
        (HeadExport::Tabular { actions, .. }, _) => {
            greedy = actions.clone();
            BodySpec::GreedyTable { actions: &greedy }
        }
        (_, Quant::F32) => BodySpec::MlpF32 { layers: &layers },
        (_, Quant::Int8) => {
            let c = calib.ok_or_else(|| anyhow!("int8 export needs calibration observations"))?;
            let (input, q) = int8_quant_params(policy, c)?;
            qparams = q;
            let hard = |k: usize| policy.activation == Activation::Hardtanh && k + 1 < n_layers;
            int8_layers = layers
                .iter()
                .enumerate()
                .map(|(k, l)| LayerSpec {
                    activation: if hard(k) {
                        core_nn::Activation::Identity
                    } else {
                        l.activation
                    },
                    ..*l
                })
                .collect();
            BodySpec::MlpInt8 {
                layers: &int8_layers,
                input,
                outputs: &qparams,
            }
        }
    };
    let spec = ModelSpec {
        obs_dim,
        normalization: norm,
        head,
        body,
    };
    let kwargs: Vec<(&str, &str)> = meta
        .map(|m| {
            m.kwargs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let meta_spec = meta.map(|m| model::MetaSpec {
        env: &m.env,
        algo: &m.algo,
        kwargs: &kwargs,
    });
    let len = model::required_len_with_meta(&spec, meta_spec.as_ref())
        .map_err(|e| anyhow!("building the model: {e}"))?;
    let mut buf = AlignedBytes::zeroed(len);
    let n = model::write_with_meta(&spec, meta_spec.as_ref(), buf.as_mut_bytes())
        .map_err(|e| anyhow!("building the model: {e}"))?;
    buf.truncate(n);
    Ok(buf)
}

/// The int8 quantization of the input and of each layer's output that [`build_model`] writes for
/// `policy` with calibration `c`: TFLite's asymmetric parameters of the calibrated ranges (the
/// last layer's not widened to contain 0: `QuantParams::from_output_range`); a
/// hardtanh hidden layer's range is its calibrated range intersected with `[-1, 1]`, so that,
/// written as an identity int8 layer, int8 saturation is inside the clamp, and is the clamp
/// where the range reaches 1 (see core's `Activation::HardTanh`).
pub fn int8_quant_params(
    policy: &PolicyExport,
    c: &Calibration,
) -> Result<(QuantParams, Vec<QuantParams>)> {
    let n_layers = policy.layers.len();
    let q = |(lo, hi): (f32, f32), what: &str| {
        QuantParams::from_range(lo, hi)
            .map_err(|e| anyhow!("calibrated range of {what} [{lo}, {hi}]: {e}"))
    };
    let hard = |k: usize| policy.activation == Activation::Hardtanh && k + 1 < n_layers;
    let input = q(c.input, "the input")?;
    let outputs = c
        .layers
        .iter()
        .enumerate()
        .map(|(k, r)| {
            if hard(k) {
                // Calibrated, inside hardtanh's clamp: saturation at a bound of 1 is the clamp.
                q(
                    (r.0.max(-1.0), r.1.min(1.0)),
                    &format!("layer {k} (hardtanh)"),
                )
            } else if k + 1 == n_layers {
                // The output: its own range, 0 included or not (format version 3), so that
                // Q-values in [59, 67] keep a step of 0.03.
                QuantParams::from_output_range(r.0, r.1)
                    .map_err(|e| anyhow!("calibrated range of the output [{}, {}]: {e}", r.0, r.1))
            } else {
                q(*r, &format!("layer {k}"))
            }
        })
        .collect::<Result<_>>()?;
    Ok((input, outputs))
}
