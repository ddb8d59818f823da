//! Optimizers over one flat parameter vector, whose state a checkpoint can hold: Adam and RMSprop
//! as PyTorch computes them, the flattening of a `VarStore`, and gradient clipping by global norm.

use anyhow::{bail, Result};
use tch::{nn, Kind, Tensor};

/// Moves every variable of `vs` into one flat buffer (in the order of their names) and returns
/// it: each variable becomes a view of its slice, so a whole network is updated, averaged or
/// copied with one tensor operation instead of one per variable. Values are kept.
pub fn flatten_vars(vs: &nn::VarStore) -> Tensor {
    flatten(vars_by_name(vs, false), vs.device())
}

/// The variables of `vs` (the trainable ones only, if `trainable`) in the order of their names.
fn vars_by_name(vs: &nn::VarStore, trainable: bool) -> Vec<Tensor> {
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| !trainable || t.requires_grad())
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter().map(|(_, t)| t).collect()
}

/// Moves `vars` into one flat buffer on `device`, each a view of its slice (see
/// [`flatten_vars`]).
fn flatten(mut vars: Vec<Tensor>, device: tch::Device) -> Tensor {
    let total: i64 = vars.iter().map(|t| t.numel() as i64).sum();
    let flat = Tensor::zeros([total], (Kind::Float, device));
    let mut offset = 0i64;
    tch::no_grad(|| {
        for var in &mut vars {
            let n = var.numel() as i64;
            let view = flat.narrow(0, offset, n).view(var.size().as_slice());
            view.shallow_clone().copy_(var);
            var.set_data(&view);
            offset += n;
        }
    });
    flat
}

/// Adam over the variables of one [`flatten_vars`] buffer: the arithmetic of `torch.optim.Adam`
/// (no weight decay, no AMSGrad), with gradient-norm clipping, in a handful of tensor operations
/// per step. libtorch's own Adam runs about ten operations per variable, and on the small
/// networks these learners train, the per-operation overhead is the cost of an update.
#[derive(Debug)]
pub struct FlatAdam {
    params: Vec<Tensor>,
    flat: Tensor,
    m: Tensor,
    v: Tensor,
    t: i32,
    /// The learning rate.
    pub lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl FlatAdam {
    /// Adam (β₁ = 0.9, β₂ = 0.999, ε = `eps`) over the trainable variables of `vs`, whose flat
    /// buffer is `flat`.
    pub fn new(vs: &nn::VarStore, flat: &Tensor, lr: f64, eps: f64) -> Self {
        Self {
            params: vars_by_name(vs, true),
            m: flat.zeros_like(),
            v: flat.zeros_like(),
            flat: flat.shallow_clone(),
            t: 0,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps,
        }
    }

    /// Back-propagates `loss`, clips the gradient's global norm to `max_grad_norm` (0: no
    /// clipping), takes one Adam step and returns the norm before clipping (NaN when not
    /// clipping, which saves reading it).
    pub fn step(&mut self, loss: &Tensor, max_grad_norm: f64) -> f64 {
        let (g, norm) = clipped_flat_grad(loss, &self.params, max_grad_norm);
        tch::no_grad(|| {
            self.t += 1;
            let bc1 = 1.0 - self.beta1.powi(self.t);
            let bc2 = 1.0 - self.beta2.powi(self.t);
            let _ = self.m.lerp_(&g, 1.0 - self.beta1);
            let _ = self
                .v
                .g_mul_scalar_(self.beta2)
                .addcmul_(&g, &(&g * (1.0 - self.beta2)));
            let denom = (self.v.sqrt() / bc2.sqrt()) + self.eps;
            let _ = self.flat.addcdiv_(&(&self.m * (-self.lr / bc1)), &denom);
            norm
        })
    }
}

/// As [`flatten_vars`], for the *trainable* variables of `vs` only (in the order of their
/// names, the order [`FlatAdam`] and [`FlatRmsProp`] walk them), so that a store that also holds
/// statistics (observation normalization) has an optimizer buffer of its parameters alone.
pub fn flatten_trainable_vars(vs: &nn::VarStore) -> Tensor {
    flatten(vars_by_name(vs, true), vs.device())
}

/// Back-propagates `loss` to `params` and returns their gradients as one flat tensor, its global
/// norm clipped to `max_grad_norm` (0: no clipping; PyTorch's `clip_grad_norm_`, coefficient
/// `max / (norm + 1e-6)` when below 1), with the norm before clipping (NaN when not clipping,
/// which saves reading it). A parameter the loss does not reach gets a zero gradient.
fn clipped_flat_grad(loss: &Tensor, params: &[Tensor], max_grad_norm: f64) -> (Tensor, f64) {
    let grads = Tensor::run_backward(&[loss], params, false, false);
    tch::no_grad(|| {
        let flat: Vec<Tensor> = grads
            .iter()
            .zip(params)
            .map(|(g, p)| {
                if g.defined() {
                    g.view([-1])
                } else {
                    p.zeros_like().view([-1])
                }
            })
            .collect();
        let mut g = Tensor::cat(&flat, 0);
        let mut norm = f64::NAN;
        if max_grad_norm > 0.0 {
            norm = g.norm().double_value(&[]);
            let coef = max_grad_norm / (norm + 1e-6);
            if coef < 1.0 {
                g *= coef;
            }
        }
        (g, norm)
    })
}

/// RMSprop over the variables of one [`flatten_trainable_vars`] buffer, with PyTorch's update
/// (`torch.optim.RMSprop` without momentum, centering or weight decay, SB3's A2C settings):
/// `s ← α s + (1 − α) g²`, `θ ← θ − lr · g / (√s + ε)` — ε *outside* the square root, unlike
/// TensorFlow's. Its one moment is saved for a bit-exact `--resume`.
#[derive(Debug)]
pub struct FlatRmsProp {
    params: Vec<Tensor>,
    flat: Tensor,
    square_avg: Tensor,
    /// The learning rate.
    pub lr: f64,
    alpha: f64,
    eps: f64,
}

impl FlatRmsProp {
    /// RMSprop with smoothing constant `alpha` and `eps` over the trainable variables of `vs`,
    /// whose flat buffer is `flat` (from [`flatten_trainable_vars`]).
    pub fn new(vs: &nn::VarStore, flat: &Tensor, lr: f64, alpha: f64, eps: f64) -> Self {
        Self {
            params: vars_by_name(vs, true),
            square_avg: flat.zeros_like(),
            flat: flat.shallow_clone(),
            lr,
            alpha,
            eps,
        }
    }

    /// Back-propagates `loss`, clips the gradient's global norm to `max_grad_norm` (0: no
    /// clipping), takes one step and returns the norm before clipping (NaN when not clipping).
    pub fn step(&mut self, loss: &Tensor, max_grad_norm: f64) -> f64 {
        let (g, norm) = clipped_flat_grad(loss, &self.params, max_grad_norm);
        tch::no_grad(|| {
            let _ = self
                .square_avg
                .g_mul_scalar_(self.alpha)
                .addcmul_(&g, &(&g * (1.0 - self.alpha)));
            let avg = self.square_avg.sqrt().g_add_scalar_(self.eps);
            let _ = self.flat.addcdiv_(&(&g * -self.lr), &avg);
        });
        norm
    }

    /// The running mean square, for a bit-exact `--resume`.
    pub fn snapshot(&self) -> Tensor {
        self.square_avg.copy()
    }

    /// Restores a [`FlatRmsProp::snapshot`].
    pub fn restore(&mut self, square_avg: &Tensor) -> Result<()> {
        if square_avg.size() != self.square_avg.size() {
            bail!(
                "an RMSprop state of shape {:?}, the network has {:?}",
                square_avg.size(),
                self.square_avg.size()
            );
        }
        tch::no_grad(|| {
            self.square_avg
                .copy_(&square_avg.to_device(self.square_avg.device()))
        });
        Ok(())
    }
}

impl FlatAdam {
    /// The moments and the step count, for a bit-exact `--resume`.
    pub fn snapshot(&self) -> (Tensor, Tensor, i32) {
        (self.m.copy(), self.v.copy(), self.t)
    }

    /// Restores a [`FlatAdam::snapshot`].
    pub fn restore(&mut self, m: &Tensor, v: &Tensor, t: i32) -> Result<()> {
        if m.size() != self.m.size() || v.size() != self.v.size() {
            bail!(
                "Adam moments of shape {:?}, the network has {:?}",
                m.size(),
                self.m.size()
            );
        }
        tch::no_grad(|| {
            self.m.copy_(&m.to_device(self.m.device()));
            self.v.copy_(&v.to_device(self.v.device()));
        });
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Twenty steps of libtorch's `opt` (gradient norm clipped to 0.5) on `loss_a` over `vs.0`,
    /// and of a flat optimizer (`step_b`: computes its loss, steps, returns the loss) over
    /// `vs.1`: the losses and the variables must stay within 1e-5.
    fn lockstep(
        opt: &mut nn::Optimizer,
        vs: (&nn::VarStore, &nn::VarStore),
        loss_a: impl Fn() -> Tensor,
        mut step_b: impl FnMut() -> Tensor,
    ) {
        for _ in 0..20 {
            let la = loss_a();
            opt.zero_grad();
            la.backward();
            opt.clip_grad_norm(0.5);
            opt.step();
            let lb = step_b();
            assert!((la.double_value(&[]) - lb.double_value(&[])).abs() < 1e-5);
        }
        for (name, t) in vs.0.variables() {
            let other = &vs.1.variables()[&name];
            let d = (t - other).abs().max().double_value(&[]);
            assert!(d < 1e-5, "{name}: {d}");
        }
    }

    #[test]
    fn flat_adam_matches_libtorch_adam() {
        let _turn = crate::train::torch_generator();
        use tch::nn::OptimizerConfig;
        // The same two-layer network and data through libtorch's Adam and through FlatAdam.
        let build = || {
            tch::manual_seed(9);
            let vs = nn::VarStore::new(Device::Cpu);
            let l1 = nn::linear(vs.root() / "a", 3, 5, Default::default());
            let l2 = nn::linear(vs.root() / "b", 5, 2, Default::default());
            (vs, l1, l2)
        };
        let x = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 1.5, 0.0, -0.5]).view([2, 3]);
        let y = Tensor::from_slice(&[1.0f32, -1.0, 0.5, 2.0]).view([2, 2]);
        let loss_of = |l1: &nn::Linear, l2: &nn::Linear| {
            (x.apply(l1).relu().apply(l2) - &y)
                .square()
                .mean(Kind::Float)
        };
        let (vs_a, a1, a2) = build();
        let mut opt = nn::Adam::default().build(&vs_a, 0.01).unwrap();
        let (vs_b, b1, b2) = build();
        let flat = flatten_vars(&vs_b);
        let mut flat_opt = FlatAdam::new(&vs_b, &flat, 0.01, 1e-8);
        lockstep(
            &mut opt,
            (&vs_a, &vs_b),
            || loss_of(&a1, &a2),
            || {
                let lb = loss_of(&b1, &b2);
                flat_opt.step(&lb, 0.5);
                lb
            },
        );
        // The variables are views of the flat buffer.
        let before = flat.sum(Kind::Float).double_value(&[]);
        let _ = flat.shallow_clone().g_add_scalar_(1.0);
        let total: f64 = vs_b
            .variables()
            .values()
            .map(|t| t.sum(Kind::Float).double_value(&[]))
            .sum();
        assert!((total - before - flat.numel() as f64).abs() < 1e-3);
    }

    #[test]
    fn flat_rmsprop_matches_libtorch_rmsprop() {
        use tch::nn::OptimizerConfig;
        // libtorch's RMSprop (PyTorch's update, as tch builds it) and FlatRmsProp on the same
        // network and data, with a statistic variable in the store that neither may touch. The
        // weights are set from a formula, not drawn: libtorch's process-wide generator belongs to
        // the seeded training runs that other tests make side by side.
        let build = || {
            let vs = nn::VarStore::new(Device::Cpu);
            let zero = nn::LinearConfig {
                ws_init: nn::Init::Const(0.0),
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            };
            let l1 = nn::linear(vs.root() / "a", 3, 5, zero);
            let l2 = nn::linear(vs.root() / "b", 5, 2, zero);
            let stat = vs.root().ones_no_train("stat", &[3]);
            let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            tch::no_grad(|| {
                for (k, (_, v)) in vars.iter_mut().enumerate() {
                    if v.requires_grad() {
                        let n = v.numel() as i64;
                        let values =
                            (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.7 + k as f64).sin()
                                * 0.5;
                        v.copy_(&values.view(v.size().as_slice()));
                    }
                }
            });
            (vs, l1, l2, stat)
        };
        let x = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 1.5, 0.0, -0.5]).view([2, 3]);
        let y = Tensor::from_slice(&[1.0f32, -1.0, 0.5, 2.0]).view([2, 2]);
        let loss_of = |l1: &nn::Linear, l2: &nn::Linear| {
            (x.apply(l1).tanh().apply(l2) - &y)
                .square()
                .mean(Kind::Float)
        };
        let (vs_a, a1, a2, _) = build();
        let mut opt = nn::RmsProp {
            alpha: 0.99,
            eps: 1e-5,
            ..Default::default()
        }
        .build(&vs_a, 0.01)
        .unwrap();
        let (vs_b, b1, b2, stat) = build();
        let flat = flatten_trainable_vars(&vs_b);
        assert_eq!(
            flat.numel(),
            3 * 5 + 5 + 5 * 2 + 2,
            "the statistic stays out"
        );
        let mut flat_opt = FlatRmsProp::new(&vs_b, &flat, 0.01, 0.99, 1e-5);
        lockstep(
            &mut opt,
            (&vs_a, &vs_b),
            || loss_of(&a1, &a2),
            || {
                let lb = loss_of(&b1, &b2);
                flat_opt.step(&lb, 0.5);
                lb
            },
        );
        assert_eq!(crate::algo::nets::tensor_to_vec(&stat), vec![1.0; 3]);
        // The moment round-trips: a restored twin takes the same next step.
        let (vs_c, c1, c2, _) = build();
        let flat_c = flatten_trainable_vars(&vs_c);
        flat_c.shallow_clone().copy_(&flat);
        let mut twin = FlatRmsProp::new(&vs_c, &flat_c, 0.01, 0.99, 1e-5);
        twin.restore(&flat_opt.snapshot()).unwrap();
        flat_opt.step(&loss_of(&b1, &b2), 0.5);
        twin.step(&loss_of(&c1, &c2), 0.5);
        assert!(flat.equal(&flat_c));
        assert!(twin
            .restore(&Tensor::zeros([3], (Kind::Float, Device::Cpu)))
            .is_err());
    }
}
