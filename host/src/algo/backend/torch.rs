//! [`Net`](super::Net) on libtorch: `Linear` layers as tensors on a device, differentiated by
//! autograd with the algorithm's `d_out` as the outputs' gradient (the gradient of
//! `Σ out ⊙ d_out`), and Adam written as tensor expressions with `picorl_core::learn`'s formula
//! (PyTorch's). Rows cross to and from the device at each call; for small networks on the CPU the
//! native backend is faster.

use anyhow::{anyhow, Result};
use picorl_core::rng::Pcg32;
use tch::{Device, Kind, Tensor};

use super::{init_layers, AdamState, Layer, Optimizer};
use crate::export::Activation;
use crate::util::tensor::tensor_to_vec;

/// A trainable MLP on libtorch.
#[derive(Debug)]
pub struct TorchNet {
    dims: Vec<usize>,
    hidden: Activation,
    /// `hidden` after the last layer too.
    activated_output: bool,
    device: Device,
    /// Per layer `weight [out, in]` then `bias [out]`, requiring gradients.
    params: Vec<Tensor>,
    grads: Vec<Tensor>,
    opt: Option<TorchOpt>,
    /// The last forward pass: the input (requiring its gradient) and the outputs.
    last: Option<(Tensor, Tensor)>,
    out: Vec<f32>,
    d_in: Vec<f32>,
}

#[derive(Debug)]
struct TorchOpt {
    cfg: Optimizer,
    /// Adam's first moments (empty for RMSprop).
    m: Vec<Tensor>,
    /// Adam's second moments, RMSprop's square average.
    v: Vec<Tensor>,
    t: u32,
}

fn host(t: &Tensor) -> Vec<f32> {
    tensor_to_vec(t)
}

/// `[weight, bias, …]` tensors as host layers.
fn host_layers(ts: &[Tensor]) -> Vec<Layer> {
    ts.chunks(2)
        .map(|p| Layer {
            weight: host(&p[0]),
            bias: host(&p[1]),
        })
        .collect()
}

impl TorchNet {
    /// See [`super::Net::new`].
    pub fn new(
        dims: &[usize],
        hidden: Activation,
        activated_output: bool,
        opt: Option<Optimizer>,
        rng: &mut Pcg32,
        device: Device,
    ) -> Result<Self> {
        if dims.len() < 2 || dims.contains(&0) {
            return Err(anyhow!(
                "a network of widths {dims:?}: needs two non-zero widths"
            ));
        }
        let mut net = Self {
            dims: dims.to_vec(),
            hidden,
            activated_output,
            device,
            params: Vec::new(),
            grads: Vec::new(),
            opt: None,
            last: None,
            out: Vec::new(),
            d_in: Vec::new(),
        };
        net.params = net.tensors(&init_layers(dims, rng), true);
        net.opt = opt.map(|cfg| TorchOpt {
            cfg,
            m: match cfg {
                Optimizer::Adam(_) => net.params.iter().map(Tensor::zeros_like).collect(),
                Optimizer::RmsProp(_) => Vec::new(),
            },
            v: net.params.iter().map(Tensor::zeros_like).collect(),
            t: 0,
        });
        Ok(net)
    }

    /// PyTorch-layout layers as `[weight, bias, …]` tensors on the device.
    fn tensors(&self, layers: &[Layer], grad: bool) -> Vec<Tensor> {
        self.dims
            .windows(2)
            .zip(layers)
            .flat_map(|(w, l)| {
                let (i, o) = (w[0] as i64, w[1] as i64);
                [
                    Tensor::from_slice(&l.weight).view([o, i]),
                    Tensor::from_slice(&l.bias),
                ]
            })
            .map(|t| t.to_device(self.device).set_requires_grad(grad))
            .collect()
    }

    /// See [`super::Net::target_copy`].
    pub fn target_copy(&self) -> Result<Self> {
        let params = tch::no_grad(|| self.params.iter().map(|p| p.detach().copy()).collect());
        Ok(Self {
            dims: self.dims.clone(),
            hidden: self.hidden,
            activated_output: self.activated_output,
            device: self.device,
            params,
            grads: Vec::new(),
            opt: None,
            last: None,
            out: Vec::new(),
            d_in: Vec::new(),
        })
    }

    /// Layer widths.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The hidden activation.
    pub fn activation(&self) -> Activation {
        self.hidden
    }

    fn run(&self, x: &Tensor) -> Tensor {
        let layers = self.params.len() / 2;
        let mut h = x.shallow_clone();
        for l in 0..layers {
            h = h.linear(&self.params[2 * l], Some(&self.params[2 * l + 1]));
            if l + 1 < layers || self.activated_output {
                h = self.hidden.apply(&h);
            }
        }
        h
    }

    /// See [`super::Net::forward`].
    pub fn forward(&mut self, x: &[f32], rows: usize) -> Result<&[f32]> {
        let x = Tensor::from_slice(x)
            .view([rows as i64, self.dims[0] as i64])
            .to_device(self.device)
            .set_requires_grad(self.opt.is_some());
        let y = if self.opt.is_some() {
            self.run(&x)
        } else {
            tch::no_grad(|| self.run(&x))
        };
        self.out = host(&y);
        self.last = Some((x, y));
        Ok(&self.out)
    }

    /// See [`super::Net::backward`].
    pub fn backward(&mut self, d_out: &[f32], params: bool, input: bool) -> Result<&[f32]> {
        let Some((x, y)) = &self.last else {
            return Err(anyhow!("internal: backward before forward"));
        };
        if !x.requires_grad() {
            return Err(anyhow!("internal: backward through a target network"));
        }
        let d = Tensor::from_slice(d_out)
            .view(y.size().as_slice())
            .to_device(self.device);
        let s = (y * d).sum(Kind::Float);
        let mut wrt: Vec<&Tensor> = Vec::new();
        if params {
            wrt.extend(self.params.iter());
        }
        if input {
            wrt.push(x);
        }
        self.d_in.clear();
        if wrt.is_empty() {
            return Ok(&self.d_in);
        }
        let mut g = Tensor::f_run_backward(&[s], &wrt, false, false)
            .map_err(|e| anyhow!("internal: libtorch backward: {e}"))?;
        if input {
            if let Some(gx) = g.pop() {
                self.d_in = host(&gx);
            }
        }
        if params {
            self.grads = g;
        }
        Ok(&self.d_in)
    }

    /// See [`super::Net::step`]: `picorl_core::learn`'s formulas (PyTorch's), Adam's bias
    /// corrections in f64 rounded once.
    pub fn step(&mut self) -> Result<()> {
        let Some(opt) = &mut self.opt else {
            return Err(anyhow!("internal: a network without an optimizer stepped"));
        };
        if self.grads.len() != self.params.len() {
            return Err(anyhow!("internal: an optimizer step without gradients"));
        }
        opt.t = opt.t.saturating_add(1);
        match opt.cfg {
            Optimizer::Adam(cfg) => {
                let t = f64::from(opt.t);
                let (b1, b2) = (0.9f64, 0.999f64);
                let bc1 = 1.0 - b1.powf(t);
                let bc2 = 1.0 - b2.powf(t);
                let step_size = f64::from((f64::from(cfg.lr) / bc1) as f32);
                let bc2_sqrt = f64::from(bc2.sqrt() as f32);
                let eps = f64::from(cfg.eps);
                tch::no_grad(|| {
                    for ((p, g), (m, v)) in self
                        .params
                        .iter_mut()
                        .zip(&self.grads)
                        .zip(opt.m.iter_mut().zip(opt.v.iter_mut()))
                    {
                        let _ = m.g_mul_scalar_(b1).g_add_(&(g * (1.0 - b1)));
                        let _ = v.g_mul_scalar_(b2).g_add_(&(g * g * (1.0 - b2)));
                        let denom = v.sqrt() / bc2_sqrt + eps;
                        let _ = p.g_sub_(&(&*m * step_size / denom));
                    }
                });
            }
            Optimizer::RmsProp(cfg) => {
                let (a, lr, eps) = (f64::from(cfg.alpha), f64::from(cfg.lr), f64::from(cfg.eps));
                tch::no_grad(|| {
                    for ((p, g), v) in self.params.iter_mut().zip(&self.grads).zip(&mut opt.v) {
                        let _ = v.g_mul_scalar_(a).g_add_(&(g * g * (1.0 - a)));
                        let _ = p.g_sub_(&(g * lr / (v.sqrt() + eps)));
                    }
                });
            }
        }
        Ok(())
    }

    /// See [`super::Net::set_lr`].
    pub fn set_lr(&mut self, lr: f32) {
        if let Some(opt) = &mut self.opt {
            match &mut opt.cfg {
                Optimizer::Adam(c) => c.lr = lr,
                Optimizer::RmsProp(c) => c.lr = lr,
            }
        }
    }

    /// See [`super::Net::grad_sq_norm`].
    pub fn grad_sq_norm(&self) -> f64 {
        tch::no_grad(|| {
            self.grads
                .iter()
                .map(|g| {
                    g.to_kind(Kind::Double)
                        .square()
                        .sum(Kind::Double)
                        .double_value(&[])
                })
                .sum()
        })
    }

    /// See [`super::Net::grad_layers`].
    pub fn grad_layers(&self) -> Vec<Layer> {
        host_layers(&self.grads)
    }

    /// See [`super::Net::scale_grads`].
    pub fn scale_grads(&mut self, s: f32) {
        tch::no_grad(|| {
            for g in &mut self.grads {
                let _ = g.g_mul_scalar_(f64::from(s));
            }
        });
    }

    /// See [`super::Net::polyak_from`].
    pub fn polyak_from(&mut self, online: &TorchNet, tau: f32) -> Result<()> {
        tch::no_grad(|| {
            for (t, o) in self.params.iter_mut().zip(&online.params) {
                let _ = t
                    .g_mul_scalar_(1.0 - f64::from(tau))
                    .g_add_(&(o * f64::from(tau)));
            }
        });
        Ok(())
    }

    /// See [`super::Net::layers`].
    pub fn layers(&self) -> Vec<Layer> {
        host_layers(&self.params)
    }

    /// See [`super::Net::set_layers`] (shapes checked there).
    pub fn set_layers(&mut self, layers: &[Layer]) -> Result<()> {
        let new = self.tensors(layers, false);
        tch::no_grad(|| {
            for (p, n) in self.params.iter_mut().zip(&new) {
                p.copy_(n);
            }
        });
        Ok(())
    }

    /// See [`super::Net::adam_state`].
    pub fn adam_state(&self) -> Option<AdamState> {
        let opt = self.opt.as_ref()?;
        let flat = |ts: &[Tensor]| ts.iter().flat_map(host).collect();
        Some(AdamState {
            m: flat(&opt.m),
            v: flat(&opt.v),
            t: opt.t,
        })
    }

    /// See [`super::Net::set_adam_state`] (lengths checked there).
    pub fn set_adam_state(&mut self, s: &AdamState) -> Result<()> {
        let device = self.device;
        let Some(opt) = &mut self.opt else {
            return Err(anyhow!("internal: a network without an optimizer"));
        };
        let split = |flat: &[f32], like: &[Tensor]| -> Vec<Tensor> {
            let mut at = 0;
            like.iter()
                .map(|t| {
                    let n = t.numel();
                    let out = Tensor::from_slice(&flat[at..at + n])
                        .view(t.size().as_slice())
                        .to_device(device);
                    at += n;
                    out
                })
                .collect()
        };
        let adam = matches!(opt.cfg, Optimizer::Adam(_));
        if s.m.is_empty() == adam {
            return Err(anyhow!(
                "an optimizer state of another kind (Adam's has first moments, RMSprop's none)"
            ));
        }
        opt.m = if adam {
            split(&s.m, &self.params)
        } else {
            Vec::new()
        };
        opt.v = split(&s.v, &self.params);
        opt.t = s.t;
        Ok(())
    }

    /// See [`super::Net::param_grads`].
    pub fn param_grads(&self) -> Vec<f32> {
        self.grads.iter().flat_map(host).collect()
    }
}
