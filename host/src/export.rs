//! What a trained policy hands to the exporter: dense layers, the hidden activation, the head and
//! the observation normalization. `picorl export` quantizes it (for int8) and writes it with
//! `picorl-core`'s writer, so the format lives in one place.

use crate::nets::Activation;

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
