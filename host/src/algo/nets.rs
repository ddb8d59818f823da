//! Networks and action distributions on tch, shared by every trainer.
//!
//! An [`Mlp`] is a stack of dense layers with one hidden activation and a linear output: the shape
//! that `picorl-core` runs, so every trained network can be exported layer for layer.

use tch::{nn, Kind, Tensor};

pub use crate::export::Activation;

/// How an [`Mlp`]'s weights start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MlpInit {
    /// PyTorch's default for `nn.Linear` (Kaiming-uniform weights, uniform bias).
    Default,
    /// Orthogonal weights with gain per hidden layer and `out_gain` for the output, zero biases
    /// (SB3's `ortho_init`, after Engstrom et al. 2020, "Implementation Matters").
    Orthogonal {
        /// The output layer's gain (0.01 for a policy, 1 for a value head in SB3).
        out_gain: f64,
    },
}

/// A multi-layer perceptron: `sizes[0]` inputs, hidden layers with `activation`, a linear output.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    activation: Activation,
}

impl Mlp {
    /// Builds the network under `path` with layer sizes `sizes` (at least input and output).
    pub fn new(path: &nn::Path, sizes: &[usize], activation: Activation, init: MlpInit) -> Self {
        assert!(
            sizes.len() >= 2,
            "an MLP needs at least an input and an output size"
        );
        let n = sizes.len() - 1;
        let layers = (0..n)
            .map(|i| {
                let cfg = match init {
                    MlpInit::Default => nn::LinearConfig::default(),
                    MlpInit::Orthogonal { out_gain } => {
                        let gain = if i + 1 == n {
                            out_gain
                        } else {
                            activation.init_gain()
                        };
                        nn::LinearConfig {
                            ws_init: nn::Init::Orthogonal { gain },
                            bs_init: Some(nn::Init::Const(0.0)),
                            bias: true,
                        }
                    }
                };
                nn::linear(
                    path / format!("l{i}"),
                    sizes[i] as i64,
                    sizes[i + 1] as i64,
                    cfg,
                )
            })
            .collect();
        Self { layers, activation }
    }

    /// The forward pass.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let last = self.layers.len() - 1;
        let mut h = x.shallow_clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = h.apply(l);
            if i < last {
                h = self.activation.apply(&h);
            }
        }
        h
    }

    /// The forward pass, with the last layer's input: `(outputs, features)`, the features being
    /// the last hidden layer (or `x` for a single layer; gSDE's features).
    pub fn forward_features(&self, x: &Tensor) -> (Tensor, Tensor) {
        let last = self.layers.len() - 1;
        let mut h = x.shallow_clone();
        for l in &self.layers[..last] {
            h = self.activation.apply(&h.apply(l));
        }
        (h.apply(&self.layers[last]), h)
    }

    /// The hidden activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The layers' weights (`[out, in]`) and biases (`[out]`), as `f32` row-major vectors.
    pub fn export_layers(&self) -> Vec<(Vec<f32>, Vec<f32>, usize, usize)> {
        self.layers
            .iter()
            .map(|l| {
                let w =
                    l.ws.to_device(tch::Device::Cpu)
                        .to_kind(Kind::Float)
                        .contiguous();
                let (out, inp) = (w.size()[0] as usize, w.size()[1] as usize);
                let b =
                    l.bs.as_ref()
                        .map(tensor_to_vec)
                        .unwrap_or_else(|| vec![0.0; out]);
                (tensor_to_vec(&w), b, inp, out)
            })
            .collect()
    }
}

pub use crate::util::tensor::tensor_to_vec;

/// Log-probabilities of `actions` (int64, `[B]`) under categorical `logits` (`[B, n]`).
pub fn categorical_log_prob(logits: &Tensor, actions: &Tensor) -> Tensor {
    logits
        .log_softmax(-1, Kind::Float)
        .gather(-1, &actions.unsqueeze(-1), false)
        .squeeze_dim(-1)
}

/// Entropy of categorical `logits` (`[B, n]`), per row.
pub fn categorical_entropy(logits: &Tensor) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    -(logp.exp() * logp).sum_dim_intlist(-1, false, Kind::Float)
}

/// Log-density of `x` under a diagonal Gaussian (`mean` `[B, d]`, `log_std` `[d]`), summed over
/// the dimensions: `-½((x-μ)/σ)² - log σ - ½ log 2π` per component.
pub fn gaussian_log_prob(mean: &Tensor, log_std: &Tensor, x: &Tensor) -> Tensor {
    let z = (x - mean) / log_std.exp();
    let per = z.square() * -0.5 - log_std - 0.5 * (2.0 * std::f64::consts::PI).ln();
    per.sum_dim_intlist(-1, false, Kind::Float)
}

/// Entropy of a diagonal Gaussian with `log_std` (`[d]`): `Σ ½ + ½ log 2π + log σ`.
pub fn gaussian_entropy(log_std: &Tensor) -> Tensor {
    (log_std + 0.5 + 0.5 * (2.0 * std::f64::consts::PI).ln()).sum(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorical_log_prob_by_hand() {
        // logits [0, ln 3]: probabilities 1/4 and 3/4.
        let logits = Tensor::from_slice(&[0.0f32, 3f32.ln()]).view([1, 2]);
        let lp = categorical_log_prob(&logits, &Tensor::from_slice(&[1i64]));
        assert!((lp.double_value(&[0]) - 0.75f64.ln()).abs() < 1e-6);
        let h = categorical_entropy(&logits).double_value(&[0]);
        let expect = -(0.25 * 0.25f64.ln() + 0.75 * 0.75f64.ln());
        assert!((h - expect).abs() < 1e-6);
    }

    #[test]
    fn gaussian_log_prob_by_hand() {
        // N(1, e^2) at x = 3: z = 2/e, log p = -½ z² - 1 - ½ ln 2π.
        let mean = Tensor::from_slice(&[1.0f32]).view([1, 1]);
        let log_std = Tensor::from_slice(&[1.0f32]);
        let x = Tensor::from_slice(&[3.0f32]).view([1, 1]);
        let lp = gaussian_log_prob(&mean, &log_std, &x).double_value(&[0]);
        let z = 2.0 / std::f64::consts::E;
        let expect = -0.5 * z * z - 1.0 - 0.5 * (2.0 * std::f64::consts::PI).ln();
        assert!((lp - expect).abs() < 1e-5, "{lp} vs {expect}");
        let h = gaussian_entropy(&log_std).double_value(&[]);
        assert!((h - (1.5 + 0.5 * (2.0 * std::f64::consts::PI).ln())).abs() < 1e-5);
    }

    #[test]
    fn mlp_shapes_and_export() {
        let _turn = crate::train::torch_generator();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = Mlp::new(
            &vs.root(),
            &[4, 8, 2],
            Activation::Tanh,
            MlpInit::Orthogonal { out_gain: 1.0 },
        );
        let y = m.forward(&Tensor::zeros([3, 4], (Kind::Float, tch::Device::Cpu)));
        assert_eq!(y.size(), vec![3, 2]);
        let layers = m.export_layers();
        assert_eq!(layers.len(), 2);
        assert_eq!((layers[0].2, layers[0].3, layers[0].0.len()), (4, 8, 32));
        assert!(layers[0].1.iter().all(|&b| b == 0.0));
    }
}
