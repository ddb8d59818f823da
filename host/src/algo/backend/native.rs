//! [`Net`](super::Net) on `picorl_core::learn`: the MLP's forward and backward and Adam over
//! buffers allocated once per batch size, with no per-operation dispatch. Parameters are kept in
//! core's layout (transposed weights, `in × out`) and converted to PyTorch's at the boundary.

use anyhow::{anyhow, Result};
use picorl_core::learn::{Madd, Mlp};
use picorl_core::rng::Pcg32;

use super::{core_activation, init_layers, AdamState, FlatOpt, Layer, Optimizer};
use crate::export::Activation;

/// A trainable MLP on the native learner.
#[derive(Debug, Clone)]
pub struct NativeNet {
    mlp: Mlp,
    dims: Vec<usize>,
    hidden: Activation,
    params: Vec<f32>,
    grads: Vec<f32>,
    opt: Option<FlatOpt>,
    /// The last forward pass: its input, rows, and every layer's outputs.
    x: Vec<f32>,
    rows: usize,
    acts: Vec<f32>,
    scratch: Vec<f32>,
    d_in: Vec<f32>,
}

fn learn_err(e: picorl_core::learn::LearnError) -> anyhow::Error {
    anyhow!("internal: native learner: {e}")
}

impl NativeNet {
    /// See [`super::Net::new`].
    pub fn new(
        dims: &[usize],
        hidden: Activation,
        activated_output: bool,
        opt: Option<Optimizer>,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        let output = if activated_output {
            core_activation(hidden)
        } else {
            picorl_core::nn::Activation::Identity
        };
        // Fused multiply-adds: twice the arithmetic per cycle on a CPU with FMA. Core's on-device
        // learner keeps the separate steps that match the Cortex-M4F bit for bit.
        let mlp = Mlp::new(dims, core_activation(hidden), output)
            .map_err(|e| anyhow!("a network of widths {dims:?}: {e}"))?
            .with_madd(Madd::Fused);
        let n = mlp.param_len();
        let mut net = Self {
            mlp,
            dims: dims.to_vec(),
            hidden,
            params: vec![0.0; n],
            grads: vec![0.0; n],
            opt: opt.map(|o| FlatOpt::new(o, n)),
            x: Vec::new(),
            rows: 0,
            acts: Vec::new(),
            scratch: Vec::new(),
            d_in: Vec::new(),
        };
        net.set_layers(&init_layers(dims, rng))?;
        Ok(net)
    }

    /// See [`super::Net::target_copy`].
    pub fn target_copy(&self) -> Result<Self> {
        let mut t = self.clone();
        t.opt = None;
        t.grads = Vec::new();
        Ok(t)
    }

    /// Layer widths.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The hidden activation.
    pub fn activation(&self) -> Activation {
        self.hidden
    }

    /// See [`super::Net::forward`].
    pub fn forward(&mut self, x: &[f32], rows: usize) -> Result<&[f32]> {
        self.x.clear();
        self.x.extend_from_slice(x);
        self.rows = rows;
        self.acts.resize(self.mlp.acts_len(rows), 0.0);
        self.mlp
            .forward(&self.params, &self.x, rows, &mut self.acts)
            .map_err(learn_err)?;
        Ok(self.mlp.output(&self.acts, rows))
    }

    /// See [`super::Net::backward`].
    pub fn backward(&mut self, d_out: &[f32], params: bool, input: bool) -> Result<&[f32]> {
        let rows = self.rows;
        if rows == 0 {
            return Err(anyhow!("internal: backward before forward"));
        }
        self.scratch.resize(self.mlp.scratch_len(rows), 0.0);
        self.d_in
            .resize(if input { rows * self.dims[0] } else { 0 }, 0.0);
        if params {
            self.grads.resize(self.params.len(), 0.0);
        }
        self.mlp
            .backward(
                &self.params,
                &self.x,
                rows,
                &self.acts,
                d_out,
                params.then_some(&mut self.grads[..]),
                input.then_some(&mut self.d_in[..]),
                &mut self.scratch,
            )
            .map_err(learn_err)?;
        Ok(&self.d_in)
    }

    /// See [`super::Net::step`].
    pub fn step(&mut self) -> Result<()> {
        let Some(opt) = &mut self.opt else {
            return Err(anyhow!("internal: a network without an optimizer stepped"));
        };
        opt.step(&mut self.params, &self.grads)
    }

    /// See [`super::Net::set_lr`].
    pub fn set_lr(&mut self, lr: f32) {
        if let Some(opt) = &mut self.opt {
            opt.set_lr(lr);
        }
    }

    /// See [`super::Net::grad_sq_norm`].
    pub fn grad_sq_norm(&self) -> f64 {
        super::sq_norm(&self.grads)
    }

    /// See [`super::Net::grad_layers`].
    pub fn grad_layers(&self) -> Vec<Layer> {
        if self.grads.len() != self.params.len() {
            return Vec::new();
        }
        self.to_torch_layout(&self.grads)
    }

    /// See [`super::Net::scale_grads`].
    pub fn scale_grads(&mut self, s: f32) {
        self.grads.iter_mut().for_each(|g| *g *= s);
    }

    /// See [`super::Net::polyak_from`].
    pub fn polyak_from(&mut self, online: &NativeNet, tau: f32) -> Result<()> {
        if online.params.len() != self.params.len() {
            return Err(anyhow!("internal: a target of another shape"));
        }
        let keep = 1.0 - tau;
        for (t, &o) in self.params.iter_mut().zip(&online.params) {
            *t = keep * *t + tau * o;
        }
        Ok(())
    }

    /// See [`super::Net::layers`].
    pub fn layers(&self) -> Vec<Layer> {
        self.to_torch_layout(&self.params)
    }

    /// See [`super::Net::set_layers`] (shapes checked there).
    pub fn set_layers(&mut self, layers: &[Layer]) -> Result<()> {
        self.params = self.core_layout(layers);
        Ok(())
    }

    /// See [`super::Net::adam_state`].
    pub fn adam_state(&self) -> Option<AdamState> {
        let flat = |x: &[f32]| {
            self.to_torch_layout(x)
                .into_iter()
                .flat_map(|l| l.weight.into_iter().chain(l.bias))
                .collect()
        };
        Some(self.opt.as_ref()?.state(flat))
    }

    /// See [`super::Net::set_adam_state`] (lengths checked there).
    pub fn set_adam_state(&mut self, s: &AdamState) -> Result<()> {
        let Some(mut opt) = self.opt.take() else {
            return Err(anyhow!("internal: a network without an optimizer"));
        };
        let restored = opt.set_state(s, |x| self.core_layout(&self.split_flat(x)));
        self.opt = Some(opt);
        restored
    }

    /// A flat PyTorch-layout vector cut into layers.
    fn split_flat(&self, flat: &[f32]) -> Vec<Layer> {
        let mut at = 0;
        self.dims
            .windows(2)
            .map(|w| {
                let (i, o) = (w[0], w[1]);
                let weight = flat[at..at + i * o].to_vec();
                let bias = flat[at + i * o..at + i * o + o].to_vec();
                at += i * o + o;
                Layer { weight, bias }
            })
            .collect()
    }

    /// Core's layout (per layer `wt[in][out]` then the biases) to PyTorch's layers.
    fn to_torch_layout(&self, flat: &[f32]) -> Vec<Layer> {
        let mut at = 0;
        self.dims
            .windows(2)
            .map(|w| {
                let (i, o) = (w[0], w[1]);
                let wt = &flat[at..at + i * o];
                let mut weight = vec![0.0; i * o];
                for k in 0..i {
                    for j in 0..o {
                        weight[j * i + k] = wt[k * o + j];
                    }
                }
                let bias = flat[at + i * o..at + i * o + o].to_vec();
                at += i * o + o;
                Layer { weight, bias }
            })
            .collect()
    }

    /// PyTorch's layers to core's flat layout.
    fn core_layout(&self, layers: &[Layer]) -> Vec<f32> {
        let mut flat = Vec::with_capacity(self.mlp.param_len());
        for (w, l) in self.dims.windows(2).zip(layers) {
            let (i, o) = (w[0], w[1]);
            for k in 0..i {
                for j in 0..o {
                    flat.push(l.weight[j * i + k]);
                }
            }
            flat.extend_from_slice(&l.bias);
        }
        flat
    }

    /// See [`super::Net::param_grads`].
    pub fn param_grads(&self) -> Vec<f32> {
        if self.grads.len() != self.params.len() {
            return Vec::new();
        }
        self.to_torch_layout(&self.grads)
            .into_iter()
            .flat_map(|l| l.weight.into_iter().chain(l.bias))
            .collect()
    }
}
