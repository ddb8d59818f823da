//! Where a learner's networks compute: `picorl-core`'s native learner or libtorch, behind one
//! trainable network type, [`Net`], so an algorithm's update is written once for both.
//!
//! **The interface.** A [`Net`] is an MLP with its parameters, their gradients and (for an online
//! network) Adam's moments. The algorithm hands it host rows and reads host rows back:
//! [`Net::forward`] keeps what [`Net::backward`] needs; `backward` takes the loss's gradient with
//! respect to the outputs (`d_out`, written by the algorithm from the loss's closed form) and
//! stores the parameters' gradient, returning the input's gradient when asked (the actor of TD3
//! and SAC climbs the critic through it); [`Net::step`] applies the stored gradient (Adam or RMSprop);
//! [`Net::polyak_from`] moves a target copy. No loss is ever differentiated by the backend, only
//! networks, so the same algorithm text runs on both.
//!
//! - **native** ([`native`]): `picorl_core::learn`'s MLP and Adam over preallocated buffers, no
//!   per-operation dispatch; the same bits on every machine and on the controller.
//! - **torch** ([`torch`]): `Linear` stacks as libtorch tensors on any device (CUDA included),
//!   differentiated by autograd with `d_out` as the outputs' gradient; for GPUs and large
//!   networks.
//!
//! **Same start.** Both draw the initial weights from the learner's [`Pcg32`], PyTorch's
//! `nn.Linear` default (uniform in `±1/√fan_in`, weights and biases), in the same order: a seeded
//! run starts from the same networks on either backend, and its updates agree to float rounding.
//!
//! **Layout at the boundary.** Parameters, gradients and Adam's moments are exchanged in
//! PyTorch's layout (per layer `weight[out][in]`, then `bias[out]`), whatever the backend stores:
//! checkpoints and exports read the same tensors from both.
//!
//! **Choosing.** [`Backend::choose`]: `native` on the CPU when every layer is at most
//! [`NATIVE_MAX_WIDTH`] wide (the measured crossover, `docs/performance.md`), `torch` otherwise;
//! `--backend native|torch` forces one.

use anyhow::{bail, Result};
use picorl_core::rng::Pcg32;
use tch::Device;

use crate::export::Activation;
use crate::train::config::BackendChoice;

pub mod native;
pub mod param;
pub mod saved;
pub mod torch;

pub use param::{FlatOpt, ParamVec};

/// Layers wider than this run on libtorch under `--backend auto`: below it the native learner's
/// update is faster on one core (no per-operation dispatch), above it libtorch's blocked GEMMs
/// win.
pub const NATIVE_MAX_WIDTH: usize = 256;

/// Where a learner's networks compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
    /// `picorl_core::learn` on the CPU.
    Native,
    /// libtorch on a device.
    Torch(Device),
}

impl Backend {
    /// The backend for networks of layer widths `widths` (every network's, inputs and outputs
    /// included) under the run's `choice` and `device`, for `algo` (named in errors).
    pub fn choose(
        choice: BackendChoice,
        device: Device,
        widths: &[usize],
        algo: &str,
    ) -> Result<Self> {
        let small = widths.iter().all(|&w| w <= NATIVE_MAX_WIDTH);
        match choice {
            BackendChoice::Torch => Ok(Backend::Torch(device)),
            BackendChoice::Native => {
                if device != Device::Cpu {
                    bail!(
                        "{algo}: --backend native runs on the CPU; drop --device or use --backend torch for {device:?}"
                    );
                }
                Ok(Backend::Native)
            }
            BackendChoice::Auto => Ok(if device == Device::Cpu && small {
                Backend::Native
            } else {
                Backend::Torch(device)
            }),
        }
    }

    /// `native` or `torch`, as `--backend` names it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Torch(_) => "torch",
        }
    }
}

/// Adam's hyper-parameters (PyTorch's formula, `picorl_core::learn::optim`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// ε added to the corrected `√v`.
    pub eps: f32,
}

impl AdamConfig {
    /// PyTorch's defaults (ε 1e-8) at learning rate `lr`.
    pub fn pytorch(lr: f64) -> Self {
        Self {
            lr: lr as f32,
            eps: 1e-8,
        }
    }
}

/// RMSprop's hyper-parameters (PyTorch's formula, ε outside the square root;
/// `picorl_core::learn::optim`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate.
    pub lr: f32,
    /// Smoothing constant α.
    pub alpha: f32,
    /// ε added to `√v`.
    pub eps: f32,
}

/// A network's optimizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Adam.
    Adam(AdamConfig),
    /// RMSprop.
    RmsProp(RmsPropConfig),
}

/// An optimizer's state in PyTorch's layout: Adam's moments and step count; for RMSprop `m` is
/// empty, `v` is the square average and `t` the steps taken.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamState {
    /// First moments (empty for RMSprop).
    pub m: Vec<f32>,
    /// Second moments.
    pub v: Vec<f32>,
    /// Steps taken.
    pub t: u32,
}

/// One layer's parameters in PyTorch's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// `weight[out][in]`, row-major.
    pub weight: Vec<f32>,
    /// `bias[out]`.
    pub bias: Vec<f32>,
}

/// A trainable MLP on a [`Backend`]: `dims` widths (input first), `hidden` after every layer
/// but the last, a linear output.
#[derive(Debug)]
pub enum Net {
    /// On `picorl_core::learn`.
    Native(native::NativeNet),
    /// On libtorch.
    Torch(torch::TorchNet),
}

/// Forwards a method to whichever backend holds the network.
macro_rules! both {
    ($self:expr, $n:ident => $e:expr) => {
        match $self {
            Net::Native($n) => $e,
            Net::Torch($n) => $e,
        }
    };
}

impl Net {
    /// A network with widths `dims`, initialized from `rng` (PyTorch's `Linear` default), with
    /// Adam when `adam` is given (a target copy has none).
    pub fn new(
        backend: Backend,
        dims: &[usize],
        hidden: Activation,
        adam: Option<AdamConfig>,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        Self::with_optimizer(backend, dims, hidden, false, adam.map(Optimizer::Adam), rng)
    }

    /// As [`Net::new`] with `hidden` after the last layer too: a body whose outputs are
    /// features (SAC's gSDE actor splits into such a body and a linear head).
    pub fn new_body(
        backend: Backend,
        dims: &[usize],
        hidden: Activation,
        adam: Option<AdamConfig>,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        Self::with_optimizer(backend, dims, hidden, true, adam.map(Optimizer::Adam), rng)
    }

    /// A network with widths `dims`, `hidden` after every layer but the last (and after the last
    /// too when `activated_output`), initialized from `rng` (PyTorch's `Linear` default; replace
    /// with [`Net::set_layers`] for another), optimized by `opt` (a target copy has none).
    pub fn with_optimizer(
        backend: Backend,
        dims: &[usize],
        hidden: Activation,
        activated_output: bool,
        opt: Option<Optimizer>,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        Ok(match backend {
            Backend::Native => Net::Native(native::NativeNet::new(
                dims,
                hidden,
                activated_output,
                opt,
                rng,
            )?),
            Backend::Torch(device) => Net::Torch(torch::TorchNet::new(
                dims,
                hidden,
                activated_output,
                opt,
                rng,
                device,
            )?),
        })
    }

    /// A copy of `self`'s parameters without an optimizer (a target network).
    pub fn target_copy(&self) -> Result<Self> {
        Ok(match self {
            Net::Native(n) => Net::Native(n.target_copy()?),
            Net::Torch(n) => Net::Torch(n.target_copy()?),
        })
    }

    /// Layer widths, input first.
    pub fn dims(&self) -> &[usize] {
        both!(self, n => n.dims())
    }

    /// The hidden activation.
    pub fn activation(&self) -> Activation {
        both!(self, n => n.activation())
    }

    /// The outputs (`rows × out`) for `rows` inputs `x`, keeping what [`Net::backward`] needs.
    pub fn forward(&mut self, x: &[f32], rows: usize) -> Result<&[f32]> {
        self.check_rows("input", x.len(), rows, self.dims()[0])?;
        both!(self, n => n.forward(x, rows))
    }

    /// After [`Net::forward`]: stores the parameters' gradient for the outputs' gradient `d_out`
    /// (`rows × out`) when `params`, and returns the input's gradient (`rows × in`) when `input`
    /// (empty otherwise).
    pub fn backward(&mut self, d_out: &[f32], params: bool, input: bool) -> Result<&[f32]> {
        both!(self, n => n.backward(d_out, params, input))
    }

    /// One step of the network's optimizer with the stored gradient.
    pub fn step(&mut self) -> Result<()> {
        both!(self, n => n.step())
    }

    /// Sets the optimizer's learning rate for the next steps (a schedule's).
    pub fn set_lr(&mut self, lr: f64) {
        both!(self, n => n.set_lr(lr as f32))
    }

    /// The squared L2 norm of the stored gradient (for clipping the global norm over several
    /// networks, PyTorch's `clip_grad_norm_`).
    pub fn grad_sq_norm(&self) -> f64 {
        both!(self, n => n.grad_sq_norm())
    }

    /// Multiplies the stored gradient by `s`.
    pub fn scale_grads(&mut self, s: f32) {
        both!(self, n => n.scale_grads(s))
    }

    /// The stored gradient, layer by layer, in PyTorch's layout (empty before a backward pass).
    pub fn grad_layers(&self) -> Vec<Layer> {
        both!(self, n => n.grad_layers())
    }

    /// `self ← τ · online + (1 − τ) · self`, parameter by parameter (Polyak averaging).
    pub fn polyak_from(&mut self, online: &Net, tau: f32) -> Result<()> {
        match (self, online) {
            (Net::Native(t), Net::Native(o)) => t.polyak_from(o, tau),
            (Net::Torch(t), Net::Torch(o)) => t.polyak_from(o, tau),
            _ => bail!("internal: a target and its network on different backends"),
        }
    }

    /// The parameters, layer by layer, in PyTorch's layout.
    pub fn layers(&self) -> Vec<Layer> {
        both!(self, n => n.layers())
    }

    /// Replaces the parameters (PyTorch's layout, the same shapes).
    pub fn set_layers(&mut self, layers: &[Layer]) -> Result<()> {
        let dims = self.dims().to_vec();
        if layers.len() + 1 != dims.len() {
            bail!(
                "{} layers given for a network of {}",
                layers.len(),
                dims.len() - 1
            );
        }
        for (l, layer) in layers.iter().enumerate() {
            let (i, o) = (dims[l], dims[l + 1]);
            if layer.weight.len() != i * o || layer.bias.len() != o {
                bail!(
                    "layer {l} has {} weights and {} biases, the network expects {}×{} and {o}",
                    layer.weight.len(),
                    layer.bias.len(),
                    o,
                    i
                );
            }
        }
        both!(self, n => n.set_layers(layers))
    }

    /// The optimizer's state (PyTorch's layout), if the network has one.
    pub fn adam_state(&self) -> Option<AdamState> {
        both!(self, n => n.adam_state())
    }

    /// Restores [`Net::adam_state`].
    pub fn set_adam_state(&mut self, s: &AdamState) -> Result<()> {
        let n = self.param_count();
        if (s.m.len() != n && !s.m.is_empty()) || s.v.len() != n {
            bail!(
                "the optimizer's moments have {} and {} values, the network {n} parameters",
                s.m.len(),
                s.v.len()
            );
        }
        both!(self, net => net.set_adam_state(s))
    }

    /// Parameters in all.
    pub fn param_count(&self) -> usize {
        self.dims().windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    fn check_rows(&self, what: &str, len: usize, rows: usize, width: usize) -> Result<()> {
        if rows == 0 || len != rows * width {
            bail!("internal: {what} of {len} values for {rows} rows of {width}");
        }
        Ok(())
    }

    /// The stored parameter gradient, flat in PyTorch's layout (per layer `weight[out][in]`,
    /// then `bias[out]`): for tests against autograd.
    pub fn param_grads(&self) -> Vec<f32> {
        both!(self, n => n.param_grads())
    }
}

/// PyTorch's `Linear` default initialization drawn from `rng`, layer by layer, weights (`[out][in]`
/// order) then biases, uniform in `±1/√in`: what both backends start from.
pub fn init_layers(dims: &[usize], rng: &mut Pcg32) -> Vec<Layer> {
    dims.windows(2)
        .map(|w| {
            let (i, o) = (w[0], w[1]);
            let bound = 1.0 / (i as f32).sqrt();
            let mut draw = || (2.0 * picorl_core::rng::unit_f32(rng) - 1.0) * bound;
            let weight = (0..i * o).map(|_| draw()).collect();
            let bias = (0..o).map(|_| draw()).collect();
            Layer { weight, bias }
        })
        .collect()
}

/// An orthogonal `out × in` weight (`[out][in]`, row-major) scaled by `gain`, drawn from `rng`:
/// PyTorch's `nn.init.orthogonal_` (Saxe et al. 2014, arXiv:1312.6120) — a standard normal
/// matrix, made tall by transposing when it is wide, factored `QR` with `R`'s diagonal positive,
/// `Q` (transposed back) times `gain`. The factorization is modified Gram-Schmidt in f64, whose
/// `R` has a positive diagonal by construction (PyTorch's sign correction).
pub fn orthogonal(out: usize, inp: usize, gain: f64, rng: &mut Pcg32) -> Vec<f32> {
    let a: Vec<f64> = (0..out * inp)
        .map(|_| picorl_core::rng::normal_f64(rng))
        .collect();
    // Columns of the tall matrix: rows × cols with rows ≥ cols.
    let wide = out < inp;
    let (rows, cols) = if wide { (inp, out) } else { (out, inp) };
    let at = |r: usize, c: usize| if wide { a[c * inp + r] } else { a[r * inp + c] };
    let mut q: Vec<Vec<f64>> = (0..cols)
        .map(|c| (0..rows).map(|r| at(r, c)).collect())
        .collect();
    for c in 0..cols {
        for p in 0..c {
            let (done, rest) = q.split_at_mut(c);
            let dot: f64 = done[p].iter().zip(&rest[0]).map(|(x, y)| x * y).sum();
            for (x, y) in rest[0].iter_mut().zip(&done[p]) {
                *x -= dot * y;
            }
        }
        let norm = q[c].iter().map(|x| x * x).sum::<f64>().sqrt();
        let norm = if norm > 0.0 { norm } else { 1.0 };
        q[c].iter_mut().for_each(|x| *x /= norm);
    }
    let mut w = vec![0.0f32; out * inp];
    for (c, col) in q.iter().enumerate() {
        for (r, v) in col.iter().enumerate() {
            // Tall: w[r][c] = Q[r][c]; wide: w = Qᵀ, so w[c][r] = Q[r][c].
            let (i, j) = if wide { (c, r) } else { (r, c) };
            w[i * inp + j] = (v * gain) as f32;
        }
    }
    w
}

/// A group of parameters with a stored gradient and its own optimizer ([`Net`], [`ParamVec`]):
/// what one global-norm clip and step cover together.
pub trait Trainable {
    /// `Σ g²` of the stored gradient, in f64.
    fn grad_sq_norm(&self) -> f64;
    /// Multiplies the stored gradient by `s`.
    fn scale_grads(&mut self, s: f32);
    /// One optimizer step along the stored gradient.
    fn step(&mut self) -> Result<()>;
}

impl Trainable for Net {
    fn grad_sq_norm(&self) -> f64 {
        Net::grad_sq_norm(self)
    }
    fn scale_grads(&mut self, s: f32) {
        Net::scale_grads(self, s)
    }
    fn step(&mut self) -> Result<()> {
        Net::step(self)
    }
}

impl Trainable for ParamVec {
    fn grad_sq_norm(&self) -> f64 {
        ParamVec::grad_sq_norm(self)
    }
    fn scale_grads(&mut self, s: f32) {
        ParamVec::scale_grads(self, s)
    }
    fn step(&mut self) -> Result<()> {
        ParamVec::step(self)
    }
}

/// Clips the global norm of every part's stored gradient to `max_grad_norm` (0: no clipping;
/// PyTorch's `clip_grad_norm_`, coefficient `max / (norm + 1e-6)` when below 1), then steps
/// every part; returns the norm before clipping.
pub fn clip_and_step(parts: &mut [&mut dyn Trainable], max_grad_norm: f64) -> Result<f64> {
    let norm = parts.iter().map(|p| p.grad_sq_norm()).sum::<f64>().sqrt();
    if max_grad_norm > 0.0 {
        let coef = max_grad_norm / (norm + 1e-6);
        if coef < 1.0 {
            parts.iter_mut().for_each(|p| p.scale_grads(coef as f32));
        }
    }
    for p in parts {
        p.step()?;
    }
    Ok(norm)
}

/// `Σ x²` in f64, over eight interleaved partial sums (a fixed order, so the same bits on every
/// run, and one that vectorizes, where a single running sum is a chain of dependent additions).
pub fn sq_norm(xs: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += f64::from(x) * f64::from(x);
        }
    }
    for (l, &x) in lanes.iter_mut().zip(rest) {
        *l += f64::from(x) * f64::from(x);
    }
    lanes.iter().sum()
}

/// `picorl_core`'s activation for a host one.
pub fn core_activation(a: Activation) -> picorl_core::nn::Activation {
    match a {
        Activation::Relu => picorl_core::nn::Activation::Relu,
        Activation::Tanh => picorl_core::nn::Activation::Tanh,
        Activation::Hardtanh => picorl_core::nn::Activation::HardTanh,
    }
}

#[cfg(test)]
mod tests;
