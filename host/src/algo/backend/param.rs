//! Optimizers over flat host vectors ([`FlatOpt`]: `picorl_core::learn`'s Adam or RMSprop with
//! their moments), and a parameter vector that is not a network ([`ParamVec`]: a Gaussian
//! policy's log-std, gSDE's exploration scales), trained beside the networks with the same rule.
//! Both run on the host whatever the backend: a vector of a few values costs nothing there, and
//! the arithmetic is core's, so the two backends step it identically.

use anyhow::{anyhow, bail, Result};
use picorl_core::learn::{Adam, RmsProp};

use super::{AdamState, Optimizer};

/// An optimizer's rule and moments over a flat vector (any layout: the rules are elementwise).
#[derive(Debug, Clone)]
pub struct FlatOpt {
    rule: Rule,
    m: Vec<f32>,
    v: Vec<f32>,
}

#[derive(Debug, Clone)]
enum Rule {
    Adam(Adam),
    /// RMSprop has no step count of its own; the steps taken are kept for the state.
    RmsProp(RmsProp, u32),
}

fn learn_err(e: picorl_core::learn::LearnError) -> anyhow::Error {
    anyhow!("internal: optimizer: {e}")
}

impl FlatOpt {
    /// `opt` over `n` values, moments at zero.
    pub fn new(opt: Optimizer, n: usize) -> Self {
        let rule = match opt {
            Optimizer::Adam(c) => {
                let mut a = Adam::new(c.lr);
                a.eps = c.eps;
                Rule::Adam(a)
            }
            Optimizer::RmsProp(c) => Rule::RmsProp(
                RmsProp {
                    lr: c.lr,
                    alpha: c.alpha,
                    eps: c.eps,
                },
                0,
            ),
        };
        let m = if matches!(rule, Rule::Adam(_)) {
            vec![0.0; n]
        } else {
            Vec::new()
        };
        Self {
            rule,
            m,
            v: vec![0.0; n],
        }
    }

    /// One step of `params` along `grads`.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) -> Result<()> {
        match &mut self.rule {
            Rule::Adam(a) => a
                .step(params, grads, &mut self.m, &mut self.v)
                .map_err(learn_err),
            Rule::RmsProp(r, t) => {
                *t = t.saturating_add(1);
                r.step(params, grads, &mut self.v).map_err(learn_err)
            }
        }
    }

    /// Sets the learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f32) {
        match &mut self.rule {
            Rule::Adam(a) => a.lr = lr,
            Rule::RmsProp(r, _) => r.lr = lr,
        }
    }

    /// The state, its moments put in another layout by `layout`.
    pub fn state(&self, layout: impl Fn(&[f32]) -> Vec<f32>) -> AdamState {
        let t = match &self.rule {
            Rule::Adam(a) => a.t,
            Rule::RmsProp(_, t) => *t,
        };
        AdamState {
            m: if self.m.is_empty() {
                Vec::new()
            } else {
                layout(&self.m)
            },
            v: layout(&self.v),
            t,
        }
    }

    /// Restores [`FlatOpt::state`], its moments brought back into this layout by `layout`.
    pub fn set_state(&mut self, s: &AdamState, layout: impl Fn(&[f32]) -> Vec<f32>) -> Result<()> {
        let n = self.v.len();
        let adam = matches!(self.rule, Rule::Adam(_));
        if s.v.len() != n || s.m.len() != if adam { n } else { 0 } {
            bail!(
                "an optimizer state of {} and {} moments for {n} {} parameters",
                s.m.len(),
                s.v.len(),
                if adam { "Adam" } else { "RMSprop" }
            );
        }
        if adam {
            self.m = layout(&s.m);
        }
        self.v = layout(&s.v);
        match &mut self.rule {
            Rule::Adam(a) => a.t = s.t,
            Rule::RmsProp(_, t) => *t = s.t,
        }
        Ok(())
    }
}

/// A trainable vector that is not a network, with its gradient and optimizer.
#[derive(Debug, Clone)]
pub struct ParamVec {
    /// The values.
    pub values: Vec<f32>,
    /// The gradient the next step follows (the caller accumulates into it).
    pub grads: Vec<f32>,
    opt: FlatOpt,
}

impl ParamVec {
    /// `values`, optimized by `opt`, gradient at zero.
    pub fn new(values: Vec<f32>, opt: Optimizer) -> Self {
        let n = values.len();
        Self {
            grads: vec![0.0; n],
            opt: FlatOpt::new(opt, n),
            values,
        }
    }

    /// Sets the gradient to zero.
    pub fn zero_grad(&mut self) {
        self.grads.fill(0.0);
    }

    /// The gradient's squared L2 norm.
    pub fn grad_sq_norm(&self) -> f64 {
        super::sq_norm(&self.grads)
    }

    /// Multiplies the gradient by `s`.
    pub fn scale_grads(&mut self, s: f32) {
        self.grads.iter_mut().for_each(|g| *g *= s);
    }

    /// One optimizer step along the gradient.
    pub fn step(&mut self) -> Result<()> {
        self.opt.step(&mut self.values, &self.grads)
    }

    /// Sets the learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.opt.set_lr(lr as f32);
    }

    /// The optimizer's state.
    pub fn opt_state(&self) -> AdamState {
        self.opt.state(<[f32]>::to_vec)
    }

    /// Restores [`ParamVec::opt_state`].
    pub fn set_opt_state(&mut self, s: &AdamState) -> Result<()> {
        self.opt.set_state(s, <[f32]>::to_vec)
    }
}
