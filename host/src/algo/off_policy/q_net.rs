//! The Q-network of the DQN family over the backends' [`Net`] (native or libtorch, written once):
//! an MLP, plain or dueling, with optional noisy layers and dropout, and its gradient stated by
//! hand from the gradient with respect to the Q-values.
//!
//! - **Layout.** Without noise and dropout the whole network is one [`Net`] (one call per pass);
//!   with either, one block per layer, the activations (and dropout) applied between them here.
//! - **Dueling** (Wang et al. 2016, arXiv:1511.06581): the last layer has `n + 1` outputs, a state
//!   value `V(s)` (output 0) and advantages `A(s, a)`, aggregated as `Q = V + A - mean_a A`. Its
//!   gradient: `dV = Σ_a dQ_a`, `dA_a = dQ_a - mean_a' dQ_a'`. The aggregation is linear in the
//!   last hidden layer, so [`QNet::export`] folds it into one dense layer whose outputs are the
//!   Q-values: `W_q[j] = W_a[j] - mean_j' W_a[j'] + w_v`, `b_q[j] = b_a[j] - mean_j' b_a[j'] + b_v`.
//!   Checkpoints name its rows as two layers, `value` and `q`.
//! - **Noisy** ([`NoisyLinear`]): every layer noisy (Rainbow's choice for its fully connected
//!   part). Training, acting and targets use the current noise; evaluation and export the mean
//!   weights.
//! - **Dropout**: after every hidden activation, in the training pass only (inverted dropout, as
//!   `torch.nn.Dropout`: kept units scaled by `1 / (1 - p)`); its gradient is the same mask.
//!
//! Weights start as PyTorch's `nn.Linear` default (SB3's `QNetwork` does not re-initialise), drawn
//! from a seeded [`Pcg32`] as the noise and the dropout masks are: a run repeats exactly, starts
//! from the same network on either backend, and [`QNet::generators`] are what a checkpoint saves
//! for a bit-exact resume.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use picorl_core::rng::{self, Pcg32};

use super::noisy::NoisyLinear;
use crate::algo::backend::saved::saved_floats;
use crate::algo::backend::{clip_and_step, AdamConfig, AdamState, Backend, Layer, Net, Trainable};
use crate::algo::off_policy::continuous::nets::NetGroup;
use crate::export::Activation;
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

impl QNetOptions {
    /// Layer widths, input first: `[obs, hidden…, n]` (`n + 1` with dueling heads).
    pub fn dims(&self, obs_dim: usize, n_actions: usize) -> Vec<usize> {
        let mut dims = vec![obs_dim];
        dims.extend_from_slice(&self.hidden);
        dims.push(n_actions + usize::from(self.dueling));
        dims
    }
}

/// A run of layers computed by one call: a plain network or a noisy layer. (A network holds a
/// handful, made once: their sizes do not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Block {
    Dense(Net),
    Noisy(NoisyLinear),
}

impl Block {
    fn forward(&mut self, x: &[f32], rows: usize, noisy: bool) -> Result<&[f32]> {
        match self {
            Block::Dense(n) => n.forward(x, rows),
            Block::Noisy(n) => n.forward(x, rows, noisy),
        }
    }

    fn backward(&mut self, d: &[f32], input: bool) -> Result<&[f32]> {
        match self {
            Block::Dense(n) => n.backward(d, true, input),
            Block::Noisy(n) => n.backward(d, input),
        }
    }

    fn target_copy(&self) -> Result<Self> {
        Ok(match self {
            Block::Dense(n) => Block::Dense(n.target_copy()?),
            Block::Noisy(n) => Block::Noisy(n.target_copy()?),
        })
    }

    /// The trainable networks: a plain one, or a noisy layer's `μ` then `σ`.
    fn nets(&self) -> Vec<&Net> {
        match self {
            Block::Dense(n) => vec![n],
            Block::Noisy(n) => vec![&n.mu, &n.sigma],
        }
    }

    fn nets_mut(&mut self) -> Vec<&mut Net> {
        match self {
            Block::Dense(n) => vec![n],
            Block::Noisy(n) => vec![&mut n.mu, &mut n.sigma],
        }
    }

    /// The layers of the mean weights.
    fn mean_layers(&self) -> Vec<Layer> {
        match self {
            Block::Dense(n) => n.layers(),
            Block::Noisy(n) => n.mu.layers(),
        }
    }
}

/// The hidden activation of a pre-activation value.
fn activate(a: Activation, x: f32) -> f32 {
    match a {
        Activation::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        Activation::Tanh => x.tanh(),
        Activation::Hardtanh => x.clamp(-1.0, 1.0),
    }
}

/// The activation's derivative, from its output `y`.
fn activation_slope(a: Activation, y: f32) -> f32 {
    match a {
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Tanh => 1.0 - y * y,
        Activation::Hardtanh => {
            if y > -1.0 && y < 1.0 {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// A Q-network: `obs → Q(obs, ·)`.
#[derive(Debug)]
pub struct QNet {
    blocks: Vec<Block>,
    dims: Vec<usize>,
    activation: Activation,
    dueling: bool,
    dropout: f64,
    n_actions: usize,
    noise_rng: Pcg32,
    dropout_rng: Pcg32,
    // The last forward pass.
    rows: usize,
    mode: Mode,
    /// Per block but the last: its activated outputs (before dropout).
    hs: Vec<Vec<f32>>,
    /// Per block but the last: the next block's input (the dropout mask applied).
    ins: Vec<Vec<f32>>,
    masks: Vec<Vec<f32>>,
    q: Vec<f32>,
    d: Vec<f32>,
}

impl QNet {
    /// A network for `obs_dim` inputs and `n_actions` outputs on `backend`, with Adam when `adam`
    /// is given; `init` draws the weights, and the noise and dropout masks come from generators
    /// seeded `seed + 1` and `seed + 2`.
    pub fn new(
        backend: Backend,
        obs_dim: usize,
        n_actions: usize,
        opts: &QNetOptions,
        adam: Option<AdamConfig>,
        init: &mut Pcg32,
        seed: u64,
    ) -> Result<Self> {
        let dims = opts.dims(obs_dim, n_actions);
        let split = opts.noisy_sigma0.is_some() || opts.dropout > 0.0;
        let blocks = if split {
            dims.windows(2)
                .map(|w| {
                    Ok(match opts.noisy_sigma0 {
                        Some(s) => {
                            Block::Noisy(NoisyLinear::new(backend, w[0], w[1], s, adam, init)?)
                        }
                        None => Block::Dense(Net::new(backend, w, opts.activation, adam, init)?),
                    })
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            vec![Block::Dense(Net::new(
                backend,
                &dims,
                opts.activation,
                adam,
                init,
            )?)]
        };
        let mut q = Self::around(blocks, dims, opts, n_actions, seed);
        q.reset_noise();
        Ok(q)
    }

    fn around(
        blocks: Vec<Block>,
        dims: Vec<usize>,
        opts: &QNetOptions,
        n_actions: usize,
        seed: u64,
    ) -> Self {
        let inner = blocks.len() - 1;
        Self {
            blocks,
            dims,
            activation: opts.activation,
            dueling: opts.dueling,
            dropout: opts.dropout,
            n_actions,
            noise_rng: rng::seeded(seed.wrapping_add(1)),
            dropout_rng: rng::seeded(seed.wrapping_add(2)),
            rows: 0,
            mode: Mode::Eval,
            hs: vec![Vec::new(); inner],
            ins: vec![Vec::new(); inner],
            masks: vec![Vec::new(); inner],
            q: Vec::new(),
            d: Vec::new(),
        }
    }

    /// A copy of the weights without optimizers (a target network), its noise and dropout
    /// generators seeded from `seed` as [`QNet::new`]'s.
    pub fn target_copy(&self, seed: u64) -> Result<Self> {
        let blocks = self
            .blocks
            .iter()
            .map(Block::target_copy)
            .collect::<Result<Vec<_>>>()?;
        let opts = QNetOptions {
            hidden: Vec::new(),
            activation: self.activation,
            dueling: self.dueling,
            noisy_sigma0: None,
            dropout: self.dropout,
        };
        let mut q = Self::around(blocks, self.dims.clone(), &opts, self.n_actions, seed);
        q.reset_noise();
        Ok(q)
    }

    /// The generators of the noise and of the dropout masks, where they stand.
    pub fn generators(&self) -> [Pcg32; 2] {
        [self.noise_rng.clone(), self.dropout_rng.clone()]
    }

    /// Puts back what [`QNet::generators`] returned.
    pub fn set_generators(&mut self, [noise, dropout]: [Pcg32; 2]) {
        self.noise_rng = noise;
        self.dropout_rng = dropout;
    }

    /// Actions (outputs).
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// Layer widths, input first (the last is `n + 1` with dueling heads).
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Every trainable network, in a fixed order (the blocks', a noisy layer's `μ` then `σ`).
    pub fn nets(&self) -> Vec<&Net> {
        self.blocks.iter().flat_map(Block::nets).collect()
    }

    fn nets_mut(&mut self) -> Vec<&mut Net> {
        self.blocks.iter_mut().flat_map(Block::nets_mut).collect()
    }

    /// Q-values (`rows × n_actions`) of `rows` observations `x`, keeping what
    /// [`QNet::backward`] needs after a [`Mode::Train`] pass.
    pub fn forward(&mut self, x: &[f32], rows: usize, mode: Mode) -> Result<&[f32]> {
        let noisy = mode != Mode::Eval;
        let drop = mode == Mode::Train && self.dropout > 0.0;
        let keep = 1.0 - self.dropout;
        let scale = if keep > 0.0 { (1.0 / keep) as f32 } else { 0.0 };
        let last = self.blocks.len() - 1;
        self.rows = rows;
        self.mode = mode;
        for l in 0..last {
            let input: &[f32] = if l == 0 { x } else { &self.ins[l - 1] };
            let out = self.blocks[l].forward(input, rows, noisy)?;
            let h = &mut self.hs[l];
            h.clear();
            h.extend(out.iter().map(|&v| activate(self.activation, v)));
            let (next, mask) = (&mut self.ins[l], &mut self.masks[l]);
            next.clear();
            mask.clear();
            if drop {
                let rng = &mut self.dropout_rng;
                mask.extend(h.iter().map(|_| {
                    if rng::uniform_f64(rng, 0.0, 1.0) < keep {
                        scale
                    } else {
                        0.0
                    }
                }));
                next.extend(h.iter().zip(mask.iter()).map(|(&v, &m)| v * m));
            } else {
                next.extend_from_slice(h);
            }
        }
        let input: &[f32] = if last == 0 { x } else { &self.ins[last - 1] };
        let raw = self.blocks[last].forward(input, rows, noisy)?;
        let n = self.n_actions;
        self.q.clear();
        if self.dueling {
            for r in raw.chunks_exact(n + 1) {
                let mean = r[1..].iter().sum::<f32>() / n as f32;
                self.q.extend(r[1..].iter().map(|&a| r[0] + a - mean));
            }
        } else {
            self.q.extend_from_slice(raw);
        }
        Ok(&self.q)
    }

    /// After a [`Mode::Train`] [`QNet::forward`]: stores every network's parameter gradient for
    /// the Q-values' gradient `d_q` (`rows × n_actions`).
    pub fn backward(&mut self, d_q: &[f32]) -> Result<()> {
        let n = self.n_actions;
        if self.mode != Mode::Train || d_q.len() != self.rows * n {
            bail!("internal: a Q-network's backward without its training pass");
        }
        self.d.clear();
        if self.dueling {
            // Q_a = V + A_a - mean A: dV = Σ dQ, dA_a = dQ_a - mean dQ.
            for r in d_q.chunks_exact(n) {
                let s: f32 = r.iter().sum();
                self.d.push(s);
                self.d.extend(r.iter().map(|&g| g - s / n as f32));
            }
        } else {
            self.d.extend_from_slice(d_q);
        }
        let drop = self.dropout > 0.0;
        for l in (0..self.blocks.len()).rev() {
            let d_in = self.blocks[l].backward(&self.d, l > 0)?;
            if l == 0 {
                break;
            }
            let (h, mask) = (&self.hs[l - 1], &self.masks[l - 1]);
            self.d.clear();
            self.d.extend(
                d_in.iter()
                    .zip(h)
                    .map(|(&g, &y)| g * activation_slope(self.activation, y)),
            );
            if drop {
                self.d.iter_mut().zip(mask).for_each(|(g, &m)| *g *= m);
            }
        }
        Ok(())
    }

    /// Clips the stored gradient's global norm to `max_grad_norm` (0: no clipping) and steps
    /// every network: [`clip_and_step`].
    pub fn step(&mut self, max_grad_norm: f64) -> Result<f64> {
        let mut parts: Vec<&mut dyn Trainable> =
            self.nets_mut().into_iter().map(|n| n as _).collect();
        clip_and_step(&mut parts, max_grad_norm)
    }

    /// `self ← τ · online + (1 − τ) · self` (τ = 1: a copy).
    pub fn polyak_from(&mut self, online: &QNet, tau: f64) -> Result<()> {
        for (t, o) in self.nets_mut().into_iter().zip(online.nets()) {
            t.polyak_from(o, tau as f32)?;
        }
        Ok(())
    }

    /// Draws new noise in every noisy layer (nothing for plain layers), layer by layer.
    pub fn reset_noise(&mut self) {
        let rng = &mut self.noise_rng;
        for b in &mut self.blocks {
            if let Block::Noisy(l) = b {
                l.reset_noise(rng);
            }
        }
    }

    /// The mean weights, layer by layer (PyTorch's layout; the last has `n + 1` rows with dueling
    /// heads, the value first).
    pub fn mean_layers(&self) -> Vec<Layer> {
        self.blocks.iter().flat_map(Block::mean_layers).collect()
    }

    /// The greedy policy with the mean weights as dense layers and an argmax head; a dueling
    /// network's heads are folded into one layer whose outputs are the Q-values.
    pub fn export(&self) -> PolicyExport {
        let mut layers: Vec<DenseExport> = self
            .mean_layers()
            .into_iter()
            .zip(self.dims.windows(2))
            .map(|(l, w)| DenseExport {
                weights: l.weight,
                bias: l.bias,
                inputs: w[0],
                outputs: w[1],
            })
            .collect();
        if self.dueling {
            if let Some(last) = layers.pop() {
                let (value, adv) = split_dueling(&last);
                layers.push(fold_dueling(&value, &adv));
            }
        }
        PolicyExport {
            layers,
            activation: self.activation,
            head: HeadExport::Argmax,
            obs_norm: None,
        }
    }

    /// The checkpoint name of layer `k` of `count`: `l{k}`, the last `q`.
    fn layer_name(k: usize, count: usize) -> String {
        if k + 1 == count {
            "q".into()
        } else {
            format!("l{k}")
        }
    }

    /// Adds `layer` (layer `k`) under its checkpoint name with `suffix`; the dueling last layer as
    /// `value` and `q`.
    fn push_named(&self, k: usize, suffix: &str, layer: Layer, out: &mut Vec<(String, Layer)>) {
        let count = self.dims.len() - 1;
        if self.dueling && k + 1 == count {
            let d = DenseExport {
                weights: layer.weight,
                bias: layer.bias,
                inputs: self.dims[k],
                outputs: self.dims[k + 1],
            };
            let (v, a) = split_dueling(&d);
            for (name, l) in [("value", v), ("q", a)] {
                out.push((
                    format!("{name}{suffix}"),
                    Layer {
                        weight: l.weights,
                        bias: l.bias,
                    },
                ));
            }
        } else {
            out.push((format!("{}{suffix}", Self::layer_name(k, count)), layer));
        }
    }

    /// Layer `k` under its checkpoint name with `suffix` from `saved` (the dueling last layer
    /// joined from `value` and `q`).
    fn fetch(
        &self,
        k: usize,
        suffix: &str,
        saved: &BTreeMap<String, Vec<f32>>,
        path: &Path,
    ) -> Result<Layer> {
        let count = self.dims.len() - 1;
        let i = self.dims[k];
        let get = |name: &str, what: &str, want: usize| {
            saved_floats(saved, &format!("{name}{suffix}.{what}"), want, path)
        };
        if self.dueling && k + 1 == count {
            let n = self.n_actions;
            let mut weight = get("value", "weight", i)?;
            weight.extend(get("q", "weight", i * n)?);
            let mut bias = get("value", "bias", 1)?;
            bias.extend(get("q", "bias", n)?);
            Ok(Layer { weight, bias })
        } else {
            let name = Self::layer_name(k, count);
            let o = self.dims[k + 1];
            Ok(Layer {
                weight: get(&name, "weight", i * o)?,
                bias: get(&name, "bias", o)?,
            })
        }
    }

    /// Adds `scale ×` standard-normal noise to every parameter (tests: networks that differ).
    #[cfg(test)]
    pub fn perturb(&mut self, rng: &mut Pcg32, scale: f32) {
        for n in self.nets_mut() {
            let mut layers = n.layers();
            for l in &mut layers {
                for v in l.weight.iter_mut().chain(l.bias.iter_mut()) {
                    *v += scale * rng::normal_f64(rng) as f32;
                }
            }
            n.set_layers(&layers).unwrap();
        }
    }
}

/// The weights file's layers: `l0`, `l1`, …, `q` (dueling: `value` and `q`), a noisy layer's as
/// `.mu` and `.sigma`; the Adam states of every network, in [`QNet::nets`]' order.
impl NetGroup for QNet {
    fn named_layers(&self, out: &mut Vec<(String, Layer)>) {
        let mut k = 0;
        for b in &self.blocks {
            match b {
                Block::Dense(n) => {
                    for layer in n.layers() {
                        self.push_named(k, "", layer, out);
                        k += 1;
                    }
                }
                Block::Noisy(n) => {
                    for (suffix, net) in [(".mu", &n.mu), (".sigma", &n.sigma)] {
                        for layer in net.layers() {
                            self.push_named(k, suffix, layer, out);
                        }
                    }
                    k += 1;
                }
            }
        }
    }

    fn load_named(&mut self, saved: &BTreeMap<String, Vec<f32>>, path: &Path) -> Result<()> {
        let mut k = 0;
        let mut sets: Vec<Vec<Layer>> = Vec::new();
        for b in &self.blocks {
            match b {
                Block::Dense(n) => {
                    let count = n.dims().len() - 1;
                    sets.push(
                        (k..k + count)
                            .map(|j| self.fetch(j, "", saved, path))
                            .collect::<Result<_>>()?,
                    );
                    k += count;
                }
                Block::Noisy(_) => {
                    sets.push(vec![self.fetch(k, ".mu", saved, path)?]);
                    sets.push(vec![self.fetch(k, ".sigma", saved, path)?]);
                    k += 1;
                }
            }
        }
        for (net, layers) in self.nets_mut().into_iter().zip(&sets) {
            net.set_layers(layers)?;
        }
        Ok(())
    }

    fn adam_states(&self) -> Vec<AdamState> {
        self.nets().iter().filter_map(|n| n.adam_state()).collect()
    }

    fn set_adam_states(&mut self, s: &[AdamState]) -> Result<()> {
        let mut nets = self.nets_mut();
        if s.len() != nets.len() {
            bail!(
                "{} optimizer states saved for a Q-network of {} parameter sets",
                s.len(),
                nets.len()
            );
        }
        for (n, s) in nets.iter_mut().zip(s) {
            n.set_adam_state(s)?;
        }
        Ok(())
    }
}

crate::algo::off_policy::continuous::nets::net_group_state!(QNet);

/// A dueling last layer (`n + 1` outputs, the value first) as its value and advantage layers.
pub fn split_dueling(last: &DenseExport) -> (DenseExport, DenseExport) {
    let i = last.inputs;
    let value = DenseExport {
        weights: last.weights[..i].to_vec(),
        bias: last.bias[..1].to_vec(),
        inputs: i,
        outputs: 1,
    };
    let adv = DenseExport {
        weights: last.weights[i..].to_vec(),
        bias: last.bias[1..].to_vec(),
        inputs: i,
        outputs: last.outputs - 1,
    };
    (value, adv)
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
mod tests;
