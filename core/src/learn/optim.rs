//! Optimizers over flat parameter slices: [`Adam`] and [`RmsProp`], PyTorch's formulas
//! (`torch.optim.Adam`, `torch.optim.RMSprop` with their defaults: no weight decay, no AMSGrad,
//! not centered, no momentum), their state in caller-supplied slices.
//!
//! Adam (Kingma & Ba 2015, arXiv:1412.6980, as PyTorch writes it): at step `t`,
//! `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
//! `p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)`: ε is added after the bias correction
//! of `√v`, not inside the square root. The bias corrections are computed in f64 and rounded once.
//!
//! RMSprop (Hinton's lecture 6e, as PyTorch writes it): `v ← αv + (1 − α)g²`,
//! `p ← p − lr · g / (√v + ε)`.
//!
//! Square roots are correctly rounded on every target (IEEE 754 requires it): `f32::sqrt` with
//! `std` (the compiler's intrinsic, which vectorizes), `libm::sqrtf` without, so x86 and
//! Cortex-M4F give the same bits.

use super::LearnError;

#[inline(always)]
fn sqrt(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

/// Adam's hyper-parameters and step count; the moments live in the caller's slices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay β₁ (PyTorch: 0.9).
    pub beta1: f32,
    /// Second-moment decay β₂ (PyTorch: 0.999).
    pub beta2: f32,
    /// ε added to the corrected `√v` (PyTorch: 1e-8).
    pub eps: f32,
    /// Steps taken.
    pub t: u32,
}

impl Adam {
    /// PyTorch's defaults at learning rate `lr`.
    pub const fn new(lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
        }
    }

    /// One step: updates `params` from `grads`, with the moments `m` and `v` (zero before the
    /// first step), all the same length.
    pub fn step(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) -> Result<(), LearnError> {
        let n = params.len();
        for (what, len) in [("grads", grads.len()), ("m", m.len()), ("v", v.len())] {
            if len != n {
                return Err(LearnError::Length {
                    what,
                    expected: n,
                    got: len,
                });
            }
        }
        self.t = self.t.saturating_add(1);
        let t = self.t as i32;
        let bc1 = 1.0 - libm::pow(f64::from(self.beta1), f64::from(t));
        let bc2 = 1.0 - libm::pow(f64::from(self.beta2), f64::from(t));
        let step_size = (f64::from(self.lr) / bc1) as f32;
        let bc2_sqrt = libm::sqrt(bc2) as f32;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let (c1, c2) = (1.0 - b1, 1.0 - b2);
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            *m = b1 * *m + c1 * g;
            *v = b2 * *v + c2 * g * g;
            let denom = sqrt(*v) / bc2_sqrt + eps;
            *p -= step_size * *m / denom;
        }
        Ok(())
    }
}

/// RMSprop's hyper-parameters; the square average lives in the caller's slice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsProp {
    /// Learning rate.
    pub lr: f32,
    /// Smoothing constant α (PyTorch: 0.99).
    pub alpha: f32,
    /// ε added to `√v` (PyTorch: 1e-8).
    pub eps: f32,
}

impl RmsProp {
    /// PyTorch's defaults at learning rate `lr`.
    pub const fn new(lr: f32) -> Self {
        Self {
            lr,
            alpha: 0.99,
            eps: 1e-8,
        }
    }

    /// One step: updates `params` from `grads` with the square average `v` (zero before the
    /// first step), all the same length.
    pub fn step(&self, params: &mut [f32], grads: &[f32], v: &mut [f32]) -> Result<(), LearnError> {
        let n = params.len();
        for (what, len) in [("grads", grads.len()), ("v", v.len())] {
            if len != n {
                return Err(LearnError::Length {
                    what,
                    expected: n,
                    got: len,
                });
            }
        }
        let (a, c) = (self.alpha, 1.0 - self.alpha);
        for ((p, &g), v) in params.iter_mut().zip(grads).zip(v.iter_mut()) {
            *v = a * *v + c * g * g;
            *p -= self.lr * g / (sqrt(*v) + self.eps);
        }
        Ok(())
    }
}
