//! The Q-network of the DQN family: an MLP trunk and a Q head, plain or dueling, with optional
//! noisy layers and dropout.
//!
//! - **Dueling** (Wang et al. 2016, arXiv:1511.06581): two linear heads on the shared trunk, a
//!   state value `V(s)` and advantages `A(s, a)`, aggregated as `Q = V + A - mean_a A`.
//!   The aggregation is linear in the last hidden layer, so [`QNet::export`] folds both heads into
//!   one dense layer whose outputs are the Q-values:
//!   `W_q[j] = W_a[j] - mean_j' W_a[j'] + w_v`, `b_q[j] = b_a[j] - mean_j' b_a[j'] + b_v`.
//! - **Noisy** ([`NoisyLinear`]): every layer noisy (Rainbow's choice for its fully connected
//!   part). Acting and targets use the current noise; evaluation and export the mean weights.
//! - **Dropout**: after every hidden activation, in the training forward pass only (inverted
//!   dropout, as `torch.nn.Dropout`: kept units scaled by `1 / (1 - p)`).
//!
//! Weights start as PyTorch's `nn.Linear` default (SB3's `QNetwork` does not re-initialise):
//! weights and biases uniform in `±1/√inputs`, drawn from a seeded [`Pcg32`] rather than
//! libtorch's global generator, as the noise and the dropout masks are: a run repeats exactly,
//! and [`QNet::generators`] are what a checkpoint saves for a bit-exact resume.

use std::cell::RefCell;

use picorl_core::rng::{self, Pcg32};
use tch::{nn, Tensor};

use super::noisy::{uniform, NoisyLinear};
use crate::algo::nets::{tensor_to_vec, Activation};
use crate::export::{DenseExport, HeadExport, PolicyExport};

/// How a forward pass treats noise and dropout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The learner's pass: noise and dropout.
    Train,
    /// Acting while training, and target values: noise, no dropout.
    Act,
    /// Evaluation and export: mean weights, no dropout.
    Eval,
}

/// Shape and options of a [`QNet`].
#[derive(Debug, Clone, PartialEq)]
pub struct QNetOptions {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// Value and advantage heads.
    pub dueling: bool,
    /// Noisy layers with this σ₀ (`None`: plain layers).
    pub noisy_sigma0: Option<f64>,
    /// Dropout probability after each hidden activation (0: none).
    pub dropout: f64,
}

/// A plain or noisy linear layer.
#[derive(Debug)]
enum Layer {
    Plain(nn::Linear),
    Noisy(NoisyLinear),
}

impl Layer {
    fn new(
        path: nn::Path,
        inputs: usize,
        outputs: usize,
        sigma0: Option<f64>,
        rng: &mut Pcg32,
    ) -> Self {
        match sigma0 {
            Some(s) => Layer::Noisy(NoisyLinear::new(&path, inputs, outputs, s, rng)),
            None => {
                // PyTorch's default: kaiming_uniform(a = √5) gives the bound 1/√inputs, as the bias.
                let (i, o) = (inputs as i64, outputs as i64);
                let bound = 1.0 / (inputs as f64).sqrt();
                let device = path.device();
                let ws = path.var_copy("weight", &uniform(rng, &[o, i], bound, device));
                let bs = path.var_copy("bias", &uniform(rng, &[o], bound, device));
                Layer::Plain(nn::Linear { ws, bs: Some(bs) })
            }
        }
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        match self {
            Layer::Plain(l) => x.linear(&l.ws, l.bs.as_ref()),
            Layer::Noisy(l) => l.forward(x, mode != Mode::Eval),
        }
    }

    fn reset_noise(&mut self, rng: &mut Pcg32) {
        if let Layer::Noisy(l) = self {
            l.reset_noise(rng);
        }
    }

    /// Mean weights `[out][in]` row-major and biases, on the CPU.
    fn mean_weights(&self) -> (Vec<f32>, Vec<f32>, usize, usize) {
        let (w, b) = match self {
            Layer::Plain(l) => (&l.ws, l.bs.as_ref()),
            Layer::Noisy(l) => (&l.w_mu, Some(&l.b_mu)),
        };
        let (out, inp) = (w.size()[0] as usize, w.size()[1] as usize);
        let b = b.map(tensor_to_vec).unwrap_or_else(|| vec![0.0; out]);
        (tensor_to_vec(w), b, inp, out)
    }
}

/// A Q-network: `obs → Q(obs, ·)`.
#[derive(Debug)]
pub struct QNet {
    trunk: Vec<Layer>,
    value: Option<Layer>,
    head: Layer,
    activation: Activation,
    dropout: f64,
    n_actions: usize,
    noise_rng: Pcg32,
    /// Draws the dropout masks inside [`QNet::forward`], which takes `&self`.
    dropout_rng: RefCell<Pcg32>,
}

impl QNet {
    /// Builds the network under `path` for `obs_dim` inputs and `n_actions` outputs; the initial
    /// weights and every noise draw come from generators seeded with `seed`.
    pub fn new(
        path: &nn::Path,
        obs_dim: usize,
        n_actions: usize,
        opts: &QNetOptions,
        seed: u64,
    ) -> Self {
        let mut init = rng::seeded(seed);
        let mut sizes = vec![obs_dim];
        sizes.extend(&opts.hidden);
        let sigma = opts.noisy_sigma0;
        let trunk = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| Layer::new(path / format!("l{i}"), w[0], w[1], sigma, &mut init))
            .collect();
        let last = *sizes.last().unwrap_or(&obs_dim);
        let value = opts
            .dueling
            .then(|| Layer::new(path / "value", last, 1, sigma, &mut init));
        let head = Layer::new(path / "q", last, n_actions, sigma, &mut init);
        Self {
            trunk,
            value,
            head,
            activation: opts.activation,
            dropout: opts.dropout,
            n_actions,
            noise_rng: rng::seeded(seed.wrapping_add(1)),
            dropout_rng: RefCell::new(rng::seeded(seed.wrapping_add(2))),
        }
    }

    /// The generators of the noise and of the dropout masks, where they stand.
    pub fn generators(&self) -> [Pcg32; 2] {
        [self.noise_rng.clone(), self.dropout_rng.borrow().clone()]
    }

    /// Puts back what [`QNet::generators`] returned.
    pub fn set_generators(&mut self, [noise, dropout]: [Pcg32; 2]) {
        self.noise_rng = noise;
        self.dropout_rng = RefCell::new(dropout);
    }

    /// Inverted dropout of `h` with a mask from the network's own generator.
    fn dropout(&self, h: &Tensor) -> Tensor {
        let keep = 1.0 - self.dropout;
        let scale = if keep > 0.0 { (1.0 / keep) as f32 } else { 0.0 };
        let rng = &mut *self.dropout_rng.borrow_mut();
        let mask: Vec<f32> = (0..h.numel())
            .map(|_| {
                if rng::uniform_f64(rng, 0.0, 1.0) < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        h * Tensor::from_slice(&mask)
            .view(h.size().as_slice())
            .to_device(h.device())
    }

    /// Actions (outputs).
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// Q-values `[B, n_actions]` of observations `[B, obs_dim]`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let mut h = x.shallow_clone();
        for l in &self.trunk {
            h = self.activation.apply(&l.forward(&h, mode));
            if self.dropout > 0.0 && mode == Mode::Train {
                h = self.dropout(&h);
            }
        }
        let a = self.head.forward(&h, mode);
        match &self.value {
            None => a,
            Some(v) => dueling_aggregate(&v.forward(&h, mode), &a),
        }
    }

    /// Draws new noise in every noisy layer (nothing for plain layers).
    pub fn reset_noise(&mut self) {
        let rng = &mut self.noise_rng;
        for l in self
            .trunk
            .iter_mut()
            .chain(self.value.iter_mut())
            .chain(std::iter::once(&mut self.head))
        {
            l.reset_noise(rng);
        }
    }

    /// The greedy policy with the mean weights as dense layers and an argmax head; a dueling
    /// network's heads are folded into one layer whose outputs are the Q-values.
    pub fn export(&self) -> PolicyExport {
        let dense =
            |(weights, bias, inputs, outputs): (Vec<f32>, Vec<f32>, usize, usize)| DenseExport {
                weights,
                bias,
                inputs,
                outputs,
            };
        let mut layers: Vec<DenseExport> =
            self.trunk.iter().map(|l| dense(l.mean_weights())).collect();
        let head = dense(self.head.mean_weights());
        layers.push(match &self.value {
            None => head,
            Some(v) => fold_dueling(&dense(v.mean_weights()), &head),
        });
        PolicyExport {
            layers,
            activation: self.activation,
            head: HeadExport::Argmax,
            obs_norm: None,
        }
    }
}

/// `Q = V + A - mean_a A` for `V` `[B, 1]` and `A` `[B, n]`.
pub fn dueling_aggregate(value: &Tensor, adv: &Tensor) -> Tensor {
    value + adv - adv.mean_dim(-1, true, tch::Kind::Float)
}

/// One dense layer computing `V + A - mean A` from a value layer (1 output) and an advantage
/// layer (n outputs) over the same inputs.
pub fn fold_dueling(value: &DenseExport, adv: &DenseExport) -> DenseExport {
    let (inputs, n) = (adv.inputs, adv.outputs);
    let mut weights = adv.weights.clone();
    let mut bias = adv.bias.clone();
    for k in 0..inputs {
        let mean = (0..n).map(|j| adv.weights[j * inputs + k]).sum::<f32>() / n as f32;
        for j in 0..n {
            weights[j * inputs + k] += value.weights[k] - mean;
        }
    }
    let mean_b = adv.bias.iter().sum::<f32>() / n as f32;
    for b in &mut bias {
        *b += value.bias[0] - mean_b;
    }
    DenseExport {
        weights,
        bias,
        inputs,
        outputs: n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn opts(dueling: bool, noisy: bool) -> QNetOptions {
        QNetOptions {
            hidden: vec![8, 8],
            activation: Activation::Relu,
            dueling,
            noisy_sigma0: noisy.then_some(0.5),
            dropout: 0.0,
        }
    }

    /// Runs an export on the CPU in plain f32, layer by layer.
    pub(crate) fn run_export(p: &PolicyExport, obs: &[f32]) -> Vec<f32> {
        let mut x = obs.to_vec();
        for (i, l) in p.layers.iter().enumerate() {
            let mut y: Vec<f32> = (0..l.outputs)
                .map(|j| {
                    l.bias[j]
                        + (0..l.inputs)
                            .map(|k| l.weights[j * l.inputs + k] * x[k])
                            .sum::<f32>()
                })
                .collect();
            if i + 1 < p.layers.len() {
                y.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            x = y;
        }
        x
    }

    #[test]
    fn dueling_aggregation_by_hand() {
        // V = 2, A = [1, 2, 6] (mean 3): Q = 2 + A - 3 = [0, 1, 5].
        let v = Tensor::from_slice(&[2.0f32]).view([1, 1]);
        let a = Tensor::from_slice(&[1.0f32, 2.0, 6.0]).view([1, 3]);
        assert_eq!(
            tensor_to_vec(&dueling_aggregate(&v, &a)),
            vec![0.0, 1.0, 5.0]
        );
        // Adding a constant to every advantage changes nothing (the identifiability fix).
        assert_eq!(
            tensor_to_vec(&dueling_aggregate(&v, &(&a + 10.0))),
            vec![0.0, 1.0, 5.0]
        );
    }

    #[test]
    fn folded_dueling_layer_by_hand() {
        // Two inputs; V = [1, -1]·h + 0.5; A rows [1, 0], [3, 2] with biases 0, 2.
        let value = DenseExport {
            weights: vec![1.0, -1.0],
            bias: vec![0.5],
            inputs: 2,
            outputs: 1,
        };
        let adv = DenseExport {
            weights: vec![1.0, 0.0, 3.0, 2.0],
            bias: vec![0.0, 2.0],
            inputs: 2,
            outputs: 2,
        };
        let q = fold_dueling(&value, &adv);
        // Column means of A: [2, 1]; bias mean 1. W_q = A - mean + w_v = [[0, -2], [2, 0]];
        // b_q = [0 - 1 + 0.5, 2 - 1 + 0.5] = [-0.5, 1.5].
        assert_eq!(q.weights, vec![0.0, -2.0, 2.0, 0.0]);
        assert_eq!(q.bias, vec![-0.5, 1.5]);
    }

    #[test]
    fn export_computes_the_network_for_every_variant() {
        let _turn = crate::train::torch_generator();
        tch::manual_seed(3);
        let obs = [0.3f32, -1.2, 0.7, 2.0];
        for (dueling, noisy) in [(false, false), (true, false), (false, true), (true, true)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let q = QNet::new(&vs.root(), 4, 3, &opts(dueling, noisy), 3);
            let x = Tensor::from_slice(&obs).view([1, 4]);
            let expect = tensor_to_vec(&q.forward(&x, Mode::Eval));
            let got = run_export(&q.export(), &obs);
            assert_eq!(got.len(), 3);
            for k in 0..3 {
                assert!(
                    (got[k] - expect[k]).abs() < 1e-5,
                    "dueling {dueling} noisy {noisy}: {got:?} vs {expect:?}"
                );
            }
            if noisy {
                // Acting uses the noise; evaluation the mean weights.
                let acting = tensor_to_vec(&q.forward(&x, Mode::Act));
                assert!(acting != expect);
            }
        }
    }

    #[test]
    fn dropout_only_in_training() {
        let _turn = crate::train::torch_generator();
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut o = opts(false, false);
        o.dropout = 0.5;
        o.hidden = vec![256];
        let q = QNet::new(&vs.root(), 4, 2, &o, 4);
        let x = Tensor::ones([1, 4], (Kind::Float, Device::Cpu));
        let a = tensor_to_vec(&q.forward(&x, Mode::Eval));
        assert_eq!(a, tensor_to_vec(&q.forward(&x, Mode::Act)));
        let t = tensor_to_vec(&q.forward(&x, Mode::Train));
        assert!(a != t);
        // Inverted dropout: the expectation is kept. The trunk's output feeds the head, so
        // compare the head's input through its mean over many masks.
        let x = Tensor::ones([4000, 4], (Kind::Float, Device::Cpu));
        let mean = q.forward(&x, Mode::Train).mean_dim(0, false, Kind::Float);
        let mean = tensor_to_vec(&mean);
        for (m, e) in mean.iter().zip(&a) {
            assert!((m - e).abs() < 0.05 * e.abs().max(0.1), "{mean:?} vs {a:?}");
        }
        // The masks come from the network's generator: the same state, the same mask.
        let g = q.generators();
        let mut q = q;
        let x1 = Tensor::ones([1, 4], (Kind::Float, Device::Cpu));
        let first = tensor_to_vec(&q.forward(&x1, Mode::Train));
        q.set_generators(g);
        assert_eq!(first, tensor_to_vec(&q.forward(&x1, Mode::Train)));
    }
}
