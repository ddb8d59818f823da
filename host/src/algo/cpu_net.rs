//! Acting on the CPU through `picorl-core`: a copy of a network's export run through core's f32
//! dense layers, refreshed after each round of updates, which costs a few microseconds per step
//! where a libtorch forward pass costs tens.

use anyhow::{anyhow, bail, Result};
use picorl_core::nn::{padded_rows, DenseF32};

use crate::export::Activation;
use crate::export::PolicyExport;

/// A network's export run on the CPU through `picorl-core`'s f32 dense layers (the firmware's
/// code), for acting one observation at a time.
#[derive(Debug, Clone, Default)]
pub struct CpuNet {
    layers: Vec<CpuLayer>,
    a: Vec<f32>,
    b: Vec<f32>,
}

#[derive(Debug, Clone)]
struct CpuLayer {
    inputs: usize,
    outputs: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    activation: picorl_core::nn::Activation,
}

impl CpuNet {
    /// Copies the layers of `export` (its head and normalization are the caller's).
    pub fn new(export: &PolicyExport) -> Self {
        let mut net = Self::default();
        net.refresh(export);
        net
    }

    /// Replaces the weights with those of `export`.
    pub fn refresh(&mut self, export: &PolicyExport) {
        let hidden = match export.activation {
            Activation::Relu => picorl_core::nn::Activation::Relu,
            Activation::Tanh => picorl_core::nn::Activation::Tanh,
            Activation::Hardtanh => picorl_core::nn::Activation::HardTanh,
        };
        let n = export.layers.len();
        self.layers.resize_with(n, || CpuLayer {
            inputs: 0,
            outputs: 0,
            weights: Vec::new(),
            bias: Vec::new(),
            activation: hidden,
        });
        let mut widest = 0;
        for (i, (l, c)) in export.layers.iter().zip(self.layers.iter_mut()).enumerate() {
            let rows = padded_rows(l.outputs);
            c.inputs = l.inputs;
            c.outputs = l.outputs;
            c.activation = if i + 1 == n {
                picorl_core::nn::Activation::Identity
            } else {
                hidden
            };
            c.weights.clear();
            c.weights.resize(rows * l.inputs, 0.0);
            for r in 0..l.outputs {
                for k in 0..l.inputs {
                    c.weights[DenseF32::weight_index(l.inputs, r, k)] = l.weights[r * l.inputs + k];
                }
            }
            c.bias.clear();
            c.bias.extend_from_slice(&l.bias);
            c.bias.resize(rows, 0.0);
            widest = widest.max(rows).max(l.inputs);
        }
        self.a.resize(widest, 0.0);
        self.b.resize(widest, 0.0);
    }

    /// The network's outputs for one observation.
    pub fn forward(&mut self, obs: &[f32]) -> Result<&[f32]> {
        self.forward_impl(obs, None)
    }

    /// As [`CpuNet::forward`], copying the last layer's input (the last hidden layer, or the
    /// observation for a single layer) into `features` (gSDE's features).
    pub fn forward_with_features(
        &mut self,
        obs: &[f32],
        features: &mut Vec<f32>,
    ) -> Result<&[f32]> {
        self.forward_impl(obs, Some(features))
    }

    fn forward_impl(&mut self, obs: &[f32], mut features: Option<&mut Vec<f32>>) -> Result<&[f32]> {
        let Some(first) = self.layers.first() else {
            bail!("internal: an empty network")
        };
        if obs.len() != first.inputs {
            bail!(
                "observation of length {}, expected {}",
                obs.len(),
                first.inputs
            );
        }
        self.a[..obs.len()].copy_from_slice(obs);
        let mut outputs = 0;
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            if i + 1 == n {
                if let Some(f) = features.as_deref_mut() {
                    f.clear();
                    f.extend_from_slice(&self.a[..l.inputs]);
                }
            }
            let dense = DenseF32::new(l.inputs, l.outputs, &l.weights, &l.bias, l.activation)
                .map_err(|e| anyhow!("internal: acting copy: {e}"))?;
            dense
                .forward(&self.a, &mut self.b)
                .map_err(|e| anyhow!("internal: acting copy: {e}"))?;
            std::mem::swap(&mut self.a, &mut self.b);
            outputs = l.outputs;
        }
        Ok(&self.a[..outputs])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_net_matches_the_export() {
        use crate::export::{DenseExport, HeadExport};
        // 3 → 5 (relu) → 2: rows padded to 8 and 4 in core's layout.
        let l0 = DenseExport {
            weights: (0..15).map(|i| (i as f32 - 7.0) * 0.1).collect(),
            bias: vec![0.1, -0.2, 0.3, 0.0, -0.5],
            inputs: 3,
            outputs: 5,
        };
        let l1 = DenseExport {
            weights: (0..10).map(|i| (i as f32) * 0.05 - 0.2).collect(),
            bias: vec![0.5, -0.5],
            inputs: 5,
            outputs: 2,
        };
        let p = PolicyExport {
            layers: vec![l0.clone(), l1.clone()],
            activation: Activation::Relu,
            head: HeadExport::Argmax,
            obs_norm: None,
        };
        let x = [0.5f32, -1.0, 2.0];
        let h: Vec<f32> = (0..5)
            .map(|j| {
                (l0.bias[j] + (0..3).map(|k| l0.weights[j * 3 + k] * x[k]).sum::<f32>()).max(0.0)
            })
            .collect();
        let y: Vec<f32> = (0..2)
            .map(|j| l1.bias[j] + (0..5).map(|k| l1.weights[j * 5 + k] * h[k]).sum::<f32>())
            .collect();
        let mut net = CpuNet::new(&p);
        let got = net.forward(&x).unwrap().to_vec();
        for k in 0..2 {
            assert!((got[k] - y[k]).abs() < 1e-6, "{got:?} vs {y:?}");
        }
        assert!(net.forward(&[1.0]).is_err());
    }
}
