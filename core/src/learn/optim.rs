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
//! **Subnormal moments are flushed to zero.** A weight whose gradient stays zero (a dead ReLU
//! unit) has its moments decay geometrically through f32's subnormal range, ~150 steps for
//! Adam's `m`, ~16,000 for its `v` and ~1,600 for RMSprop's, and on Intel CPUs every arithmetic
//! operation on a subnormal takes a microcode assist of ~100 cycles (measured: SAC's 64×64 update
//! 26% slower on a Xeon than with the CPU's flush-to-zero mode). So a new moment below
//! `f32::MIN_POSITIVE` (1.2e-38) is stored as 0: the parameter's step it would have made is
//! below 1e-30 of the learning rate. It is code, not a CPU mode, so the desktop and the
//! Cortex-M4F still agree bit for bit.
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

/// `x`, or 0 where it is subnormal (see the module's documentation).
#[inline(always)]
fn flush(x: f32) -> f32 {
    if x.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        x
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
            *m = flush(b1 * *m + c1 * g);
            *v = flush(b2 * *v + c2 * g * g);
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
            *v = flush(a * *v + c * g * g);
            *p -= self.lr * g / (sqrt(*v) + self.eps);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A moment that would turn subnormal is stored as 0; normal ones follow PyTorch's formula.
    #[test]
    fn subnormal_moments_are_flushed() {
        let tiny = f32::MIN_POSITIVE;
        let mut adam = Adam::new(1e-3);
        let (mut p, g) = ([1.0f32, 1.0], [0.0f32, 0.5]);
        let (mut m, mut v) = ([tiny, 0.0], [tiny, 0.0]);
        adam.step(&mut p, &g, &mut m, &mut v).unwrap();
        // 0.9 · tiny and 0.999 · tiny are subnormal: both flushed, the weight unmoved.
        assert_eq!((m[0], v[0], p[0]), (0.0, 0.0, 1.0));
        assert_eq!(
            (m[1], v[1]),
            ((1.0 - 0.9f32) * 0.5, (1.0 - 0.999f32) * 0.5 * 0.5)
        );
        assert!(p[1] < 1.0);

        let rms = RmsProp::new(1e-2);
        let (mut p, mut v) = ([1.0f32], [tiny]);
        rms.step(&mut p, &[0.0], &mut v).unwrap();
        assert_eq!((v[0], p[0]), (0.0, 1.0));
    }
}
