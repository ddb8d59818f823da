//! A multilayer perceptron that trains: batched forward, backward (weights, biases and the
//! gradient with respect to the input) over one flat parameter slice and caller-supplied buffers.
//!
//! Parameter layout, per layer in order: the weights transposed from PyTorch's `Linear.weight`,
//! `wt[k][o]` (`in × out`, row-major, so the forward pass streams rows of it), then the `out`
//! biases. [`param_len`] gives the total; gradients use the same layout. Batches are row-major:
//! sample `b`'s feature `k` at `b · dim + k`.
//!
//! Activations are core's [`Activation`]; their derivatives are taken from the layer's output
//! (ReLU `y > 0`, tanh `1 − y²`, hardtanh `−1 < y < 1`), as PyTorch's backward formulas do.
//! Training computes tanh with [`fast_tanh`], a rational approximation within 4e-7 of it that
//! vectorizes (libm's `tanhf` was half of a tanh network's update); inference
//! ([`crate::nn`]) keeps `libm::tanhf`, so an exported policy is unaffected.

use super::gemm::{gemm, Init, Madd, Strided};
use super::LearnError;
use crate::nn::Activation;
use crate::rng;
use rand_core::RngCore;

/// `tanh(x)` as a rational function of odd degree 13 over even degree 6 in `x`, clamped to
/// `|x| ≤ 7.905` (where it reaches ±1) and `x` itself below `|x| < 4e-4`: at most 4e-7 from the
/// true value (6.6 ulps, measured over [−10, 10] in steps of 1e-5), `|tanh| ≤ 1` exactly, no
/// branch but selects, so a slice of them vectorizes. Only `+`, `×`, `÷` and comparisons, so
/// every target (x86, Cortex-M4F) gives the same bits. The coefficients are Eigen's
/// `generic_fast_tanh_float` (`Eigen/src/Core/MathFunctionsImpl.h`).
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_5e-4,
        1.485_722_35e-5,
        5.122_297_3e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_4e-16,
    ];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_7e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let c = x.clamp(-CLAMP, CLAMP);
    let x2 = c * c;
    let mut p = A[6];
    for a in A[..6].iter().rev() {
        p = p * x2 + a;
    }
    let mut q = B[3];
    for b in B[..3].iter().rev() {
        q = q * x2 + b;
    }
    let y = c * p / q;
    let small = x < 4e-4 && x > -4e-4;
    if small {
        x
    } else {
        y
    }
}

/// Layers an [`Mlp`] holds at most.
pub const MAX_LAYERS: usize = 8;

/// Parameters of a network with layer widths `dims` (input first): `Σ (in · out + out)`.
pub const fn param_len(dims: &[usize]) -> usize {
    let mut total = 0;
    let mut l = 0;
    while l + 1 < dims.len() {
        total += dims[l] * dims[l + 1] + dims[l + 1];
        l += 1;
    }
    total
}

/// Values of the forward buffer for `batch` samples: `batch · Σ out`.
pub const fn acts_len(dims: &[usize], batch: usize) -> usize {
    let mut total = 0;
    let mut l = 1;
    while l < dims.len() {
        total += dims[l];
        l += 1;
    }
    total * batch
}

/// Values of the backward scratch for `batch` samples: `2 · batch · max(dims) + max(in · out)`.
pub const fn scratch_len(dims: &[usize], batch: usize) -> usize {
    let (mut widest, mut biggest) = (0, 0);
    let mut l = 0;
    while l < dims.len() {
        if dims[l] > widest {
            widest = dims[l];
        }
        if l + 1 < dims.len() && dims[l] * dims[l + 1] > biggest {
            biggest = dims[l] * dims[l + 1];
        }
        l += 1;
    }
    2 * batch * widest + biggest
}

/// The shape of a trainable MLP: widths, activations, and where each layer's parameters lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mlp {
    dims: [usize; MAX_LAYERS + 1],
    acts: [Activation; MAX_LAYERS],
    layers: usize,
    madd: Madd,
}

fn check(what: &'static str, got: usize, expected: usize) -> Result<(), LearnError> {
    if got < expected {
        return Err(LearnError::Length {
            what,
            expected,
            got,
        });
    }
    Ok(())
}

impl Mlp {
    /// A network with widths `dims` (input first, at least two entries, none zero), `hidden`
    /// after every layer but the last, `output` after the last.
    pub fn new(dims: &[usize], hidden: Activation, output: Activation) -> Result<Self, LearnError> {
        if dims.len() < 2 || dims.contains(&0) {
            return Err(LearnError::Shape);
        }
        if dims.len() > MAX_LAYERS + 1 {
            return Err(LearnError::TooManyLayers);
        }
        // Every buffer size must be representable (a `usize` product on a 32-bit controller).
        let mut total: usize = 0;
        for w in dims.windows(2) {
            let n = w[0]
                .checked_mul(w[1])
                .and_then(|x| x.checked_add(w[1]))
                .ok_or(LearnError::Shape)?;
            total = total.checked_add(n).ok_or(LearnError::Shape)?;
        }
        let mut d = [0usize; MAX_LAYERS + 1];
        d[..dims.len()].copy_from_slice(dims);
        let layers = dims.len() - 1;
        let mut acts = [hidden; MAX_LAYERS];
        acts[layers - 1] = output;
        Ok(Self {
            dims: d,
            acts,
            layers,
            madd: Madd::Separate,
        })
    }

    /// The same network, its sums' steps rounded as `madd` says ([`Madd::Separate`] unless set:
    /// the Cortex-M4F's arithmetic, so that desktop and controller train to the same bits;
    /// `Madd::Fused`, with `std`, is the host's: faster where the CPU has FMA).
    pub fn with_madd(mut self, madd: Madd) -> Self {
        self.madd = madd;
        self
    }

    /// Layer widths, input first.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..=self.layers]
    }

    /// Inputs.
    pub fn in_dim(&self) -> usize {
        self.dims[0]
    }

    /// Outputs.
    pub fn out_dim(&self) -> usize {
        self.dims[self.layers]
    }

    /// Layers.
    pub fn layers(&self) -> usize {
        self.layers
    }

    /// The activation after layer `l` (`Identity` past the last).
    pub fn activation(&self, l: usize) -> Activation {
        self.acts.get(l).copied().unwrap_or(Activation::Identity)
    }

    /// See [`param_len`].
    pub fn param_len(&self) -> usize {
        param_len(self.dims())
    }

    /// See [`acts_len`].
    pub fn acts_len(&self, batch: usize) -> usize {
        acts_len(self.dims(), batch)
    }

    /// See [`scratch_len`].
    pub fn scratch_len(&self, batch: usize) -> usize {
        scratch_len(self.dims(), batch)
    }

    /// Offset of layer `l`'s transposed weights in the parameters; its biases follow them.
    pub fn layer_offset(&self, l: usize) -> usize {
        param_len(&self.dims[..=l.min(self.layers)])
    }

    /// Offset of layer `l`'s outputs in the forward buffer for `batch` samples.
    fn act_offset(&self, l: usize, batch: usize) -> usize {
        acts_len(&self.dims[..=l.min(self.layers)], batch)
    }

    /// PyTorch's default `Linear` initialization: weights and biases uniform in
    /// `[−1/√in, 1/√in)` (Kaiming-uniform with `a = √5` reduces to that bound), drawn in storage
    /// order from `rng`.
    pub fn init<R: RngCore + ?Sized>(
        &self,
        params: &mut [f32],
        rng: &mut R,
    ) -> Result<(), LearnError> {
        check("params", params.len(), self.param_len())?;
        let mut at = 0;
        for l in 0..self.layers {
            let (i, o) = (self.dims[l], self.dims[l + 1]);
            let bound = 1.0 / libm::sqrtf(i as f32);
            for p in params.iter_mut().skip(at).take(i * o + o) {
                *p = (2.0 * rng::unit_f32(rng) - 1.0) * bound;
            }
            at += i * o + o;
        }
        Ok(())
    }

    /// The forward pass of `batch` samples `x` (`batch · in` values): every layer's output goes
    /// to `acts` ([`Self::acts_len`] values); the network's output is [`Self::output`].
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        batch: usize,
        acts: &mut [f32],
    ) -> Result<(), LearnError> {
        check("params", params.len(), self.param_len())?;
        check("input", x.len(), batch * self.in_dim())?;
        check("acts", acts.len(), self.acts_len(batch))?;
        let mut input_at = None;
        for l in 0..self.layers {
            let (i, o) = (self.dims[l], self.dims[l + 1]);
            let p = self.layer_offset(l);
            let (wt, bias) = params[p..p + i * o + o].split_at(i * o);
            let out_at = self.act_offset(l, batch);
            let (before, rest) = acts.split_at_mut(out_at);
            let y = &mut rest[..batch * o];
            let xin = match input_at {
                None => &x[..batch * i],
                Some(at) => &before[at..at + batch * i],
            };
            gemm(
                batch,
                o,
                i,
                Strided {
                    data: xin,
                    rs: i,
                    cs: 1,
                },
                wt,
                y,
                Init::Bias(bias),
                self.madd,
            );
            match self.acts[l] {
                Activation::Tanh => y.iter_mut().for_each(|v| *v = fast_tanh(*v)),
                act => act.apply_slice(y),
            }
            input_at = Some(out_at);
        }
        Ok(())
    }

    /// The network's outputs (`batch · out` values) in a forward buffer.
    pub fn output<'a>(&self, acts: &'a [f32], batch: usize) -> &'a [f32] {
        let at = self.act_offset(self.layers - 1, batch);
        acts.get(at..at + batch * self.out_dim()).unwrap_or(&[])
    }

    /// The backward pass after [`Self::forward`] on the same `params`, `x`, `batch`, `acts`:
    /// given `d_out` (`batch · out` values, the loss's gradient with respect to the outputs),
    /// writes the parameters' gradient to `grads` (overwritten, the parameter layout) and the
    /// input's gradient to `d_in` (`batch · in` values), each if given. `scratch` holds
    /// [`Self::scratch_len`] values.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        params: &[f32],
        x: &[f32],
        batch: usize,
        acts: &[f32],
        d_out: &[f32],
        mut grads: Option<&mut [f32]>,
        mut d_in: Option<&mut [f32]>,
        scratch: &mut [f32],
    ) -> Result<(), LearnError> {
        check("params", params.len(), self.param_len())?;
        check("input", x.len(), batch * self.in_dim())?;
        check("acts", acts.len(), self.acts_len(batch))?;
        check("d_out", d_out.len(), batch * self.out_dim())?;
        check("scratch", scratch.len(), self.scratch_len(batch))?;
        if let Some(g) = grads.as_deref() {
            check("grads", g.len(), self.param_len())?;
        }
        if let Some(d) = d_in.as_deref() {
            check("d_in", d.len(), batch * self.in_dim())?;
        }
        let widest = self.dims().iter().copied().max().unwrap_or(0);
        let (bufs, wbuf) = scratch.split_at_mut(2 * batch * widest);
        let (mut cur, mut next) = bufs.split_at_mut(batch * widest);
        let out = self.out_dim();
        cur[..batch * out].copy_from_slice(&d_out[..batch * out]);
        for l in (0..self.layers).rev() {
            let (i, o) = (self.dims[l], self.dims[l + 1]);
            let y_at = self.act_offset(l, batch);
            let y = &acts[y_at..y_at + batch * o];
            let dz = &mut cur[..batch * o];
            derivative(self.acts[l], y, dz);
            let xin = if l == 0 {
                &x[..batch * i]
            } else {
                let at = self.act_offset(l - 1, batch);
                &acts[at..at + batch * i]
            };
            let p = self.layer_offset(l);
            if let Some(g) = grads.as_deref_mut() {
                let (gw, gb) = g[p..p + i * o + o].split_at_mut(i * o);
                // dWᵀ[k][o] = Σ_b x[b][k] · dz[b][o], b ascending.
                gemm(
                    i,
                    o,
                    batch,
                    Strided {
                        data: xin,
                        rs: 1,
                        cs: i,
                    },
                    dz,
                    gw,
                    Init::Zero,
                    self.madd,
                );
                gb.fill(0.0);
                for row in dz.chunks_exact(o) {
                    for (s, &d) in gb.iter_mut().zip(row) {
                        *s += d;
                    }
                }
            }
            let want_prev = l > 0 || d_in.is_some();
            if want_prev {
                // W (out × in) from the stored Wᵀ, so dX = dZ · W streams rows of it.
                let wt = &params[p..p + i * o];
                let w = &mut wbuf[..i * o];
                for (k, wrow) in wt.chunks_exact(o).enumerate() {
                    for (j, &v) in wrow.iter().enumerate() {
                        w[j * i + k] = v;
                    }
                }
                let target: &mut [f32] = if l == 0 {
                    match d_in.as_deref_mut() {
                        Some(d) => &mut d[..batch * i],
                        None => break,
                    }
                } else {
                    &mut next[..batch * i]
                };
                gemm(
                    batch,
                    i,
                    o,
                    Strided {
                        data: dz,
                        rs: o,
                        cs: 1,
                    },
                    w,
                    target,
                    Init::Zero,
                    self.madd,
                );
            }
            core::mem::swap(&mut cur, &mut next);
        }
        Ok(())
    }
}

/// `dz = dy ⊙ act'(y)` in place, the derivative taken from the output `y`.
fn derivative(act: Activation, y: &[f32], dz: &mut [f32]) {
    match act {
        Activation::Identity => {}
        // Selects rather than conditional stores, so the loops vectorize.
        Activation::Relu => {
            for (d, &v) in dz.iter_mut().zip(y) {
                *d = if v <= 0.0 { 0.0 } else { *d };
            }
        }
        Activation::Tanh => {
            for (d, &v) in dz.iter_mut().zip(y) {
                *d *= 1.0 - v * v;
            }
        }
        Activation::HardTanh => {
            for (d, &v) in dz.iter_mut().zip(y) {
                *d = if v > -1.0 && v < 1.0 { *d } else { 0.0 };
            }
        }
        Activation::Sigmoid => {
            for (d, &v) in dz.iter_mut().zip(y) {
                *d *= v * (1.0 - v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`fast_tanh`] against libm's `tanhf` over [−12, 12]: within 5e-7, never past ±1, odd,
    /// and exact for small arguments and at saturation.
    #[test]
    fn fast_tanh_is_within_5e_7_of_tanh() {
        let mut worst = 0.0f32;
        for i in -1_200_000..=1_200_000 {
            let x = i as f32 * 1e-5;
            let y = fast_tanh(x);
            worst = worst.max((y - libm::tanhf(x)).abs());
            assert!(y.abs() <= 1.0, "{x}");
            assert_eq!(y, -fast_tanh(-x), "odd at {x}");
        }
        assert!(worst < 5e-7, "worst error {worst}");
        assert_eq!(fast_tanh(1e-4), 1e-4);
        assert_eq!(fast_tanh(30.0), 1.0);
        assert!(fast_tanh(f32::NAN).is_nan());
    }

    /// Σ out · d_out for a fixed `d_out`, the functional whose gradient `backward` computes.
    fn loss(net: &Mlp, params: &[f32], x: &[f32], batch: usize, d_out: &[f32]) -> f64 {
        let mut acts = [0f32; 512];
        net.forward(params, x, batch, &mut acts).unwrap();
        net.output(&acts, batch)
            .iter()
            .zip(d_out)
            .map(|(&y, &d)| f64::from(y) * f64::from(d))
            .sum()
    }

    /// Central differences in f32 agree with the analytic gradients to a few parts in a thousand.
    #[test]
    fn gradients_match_finite_differences() {
        for act in [Activation::Tanh, Activation::Relu] {
            let net = Mlp::new(&[3, 20, 17, 2], act, Activation::Identity).unwrap();
            let batch = 5;
            let mut r = rng::seeded(3);
            let mut params = [0f32; 512];
            let params = &mut params[..net.param_len()];
            net.init(params, &mut r).unwrap();
            let x: [f32; 15] = core::array::from_fn(|_| 2.0 * rng::unit_f32(&mut r) - 1.0);
            let d_out: [f32; 10] = core::array::from_fn(|_| 2.0 * rng::unit_f32(&mut r) - 1.0);
            let mut acts = [0f32; 512];
            net.forward(params, &x, batch, &mut acts).unwrap();
            let (mut grads, mut d_in, mut scratch) = ([0f32; 512], [0f32; 15], [0f32; 1024]);
            net.backward(
                params,
                &x,
                batch,
                &acts,
                &d_out,
                Some(&mut grads),
                Some(&mut d_in),
                &mut scratch,
            )
            .unwrap();
            let h = 1e-2f32;
            for i in (0..params.len()).step_by(7) {
                let keep = params[i];
                params[i] = keep + h;
                let up = loss(&net, params, &x, batch, &d_out);
                params[i] = keep - h;
                let down = loss(&net, params, &x, batch, &d_out);
                params[i] = keep;
                let mid = loss(&net, params, &x, batch, &d_out);
                // A ReLU kink inside [p − h, p + h]: the one-sided slopes differ; skip it.
                if act == Activation::Relu
                    && ((up - mid) - (mid - down)).abs() > 1e-3 * f64::from(h) + 1e-5
                {
                    continue;
                }
                let fd = (up - down) / (2.0 * f64::from(h));
                assert!(
                    (fd - f64::from(grads[i])).abs() < 2e-3 + 2e-2 * fd.abs(),
                    "{act} param {i}: {fd} vs {}",
                    grads[i]
                );
            }
            let mut xs = x;
            for i in 0..15 {
                xs[i] = x[i] + h;
                let up = loss(&net, params, &xs, batch, &d_out);
                xs[i] = x[i] - h;
                let down = loss(&net, params, &xs, batch, &d_out);
                xs[i] = x[i];
                let mid = loss(&net, params, &xs, batch, &d_out);
                if act == Activation::Relu
                    && ((up - mid) - (mid - down)).abs() > 1e-3 * f64::from(h) + 1e-5
                {
                    continue;
                }
                let fd = (up - down) / (2.0 * f64::from(h));
                assert!(
                    (fd - f64::from(d_in[i])).abs() < 2e-3 + 2e-2 * fd.abs(),
                    "{act} input {i}: {fd} vs {}",
                    d_in[i]
                );
            }
        }
    }
}
