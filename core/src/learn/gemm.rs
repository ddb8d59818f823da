//! The one matrix kernel the learner runs: `C = init + A · B` over row-major slices, with a
//! register tile of [`MR`] × [`NR`] outputs.
//!
//! Every output is its initial value (a bias, or zero), then `+ a(i, p) · b(p, j)`
//! for `p = 0, 1, 2, …` in that order, one f32 multiply and one f32 add each (never fused). The
//! tile only chooses which outputs are computed together, never the order of one output's sum, so
//! the result has the same bits whatever the vector width the compiler picks (SSE2, AVX2,
//! AVX-512, or the Cortex-M4F's scalar FPU): a network trained on the desktop and on the
//! controller from the same seed ends with the same weights.
//!
//! `A` is read through strides (`a(i, p) = a[i · rs + p · cs]`), so the same kernel computes
//! `X · Wᵀ` (forward), `Xᵀ · dZ` (weight gradients) and `dZ · W` (input gradients).

/// Rows of `C` computed together.
pub const MR: usize = 4;
/// Columns of `C` computed together (one AVX-512 vector, two AVX ones, four SSE ones).
pub const NR: usize = 16;

/// What `C` starts from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Init<'a> {
    /// Row vector added to every row (a layer's bias).
    Bias(&'a [f32]),
    /// Zero.
    Zero,
}

/// A strided view of the left operand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// Reduction steps packed at a time (a `KC × MR` panel of `A` on the stack, 4 KiB).
const KC: usize = 256;

/// `$name`: [`gemm_body`] compiled with the target feature `$feature`.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
macro_rules! wide {
    ($name:ident, $feature:literal) => {
        #[target_feature(enable = $feature)]
        #[allow(unsafe_code)]
        unsafe fn $name(
            m: usize,
            n: usize,
            k: usize,
            a: Strided<'_>,
            b: &[f32],
            c: &mut [f32],
            init: Init<'_>,
        ) {
            gemm_body(m, n, k, a, b, c, init);
        }
    };
}

/// `C[m × n] = init + A[m × k] · B[k × n]`; `B` and `C` row-major with row strides `n`.
///
/// The caller guarantees the lengths: `b.len() >= k · n`, `c.len() >= m · n`, the bias (if any)
/// at least `n` long, and every `a(i, p)` with `i < m`, `p < k` inside `a.data`. Out-of-range
/// reads and writes are skipped rather than panicking (they cannot happen for checked shapes).
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: &[f32],
    c: &mut [f32],
    init: Init<'_>,
) {
    // The widest vectors the running CPU has (`std` on x86-64, chosen at run time): AVX-512F,
    // where a [`NR`]-wide tile row is one register, or AVX2. Never FMA: a fused multiply-add
    // would round once where the Cortex-M4F rounds twice, so the desktop would stop matching the
    // controller bit for bit. On a 2.1 GHz Xeon AVX-512 made SAC's 64×64 update 1.8× faster
    // than AVX2.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        wide!(gemm_avx512, "avx512f");
        wide!(gemm_avx2, "avx2");
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: `gemm_avx512` only differs from `gemm_body` in being compiled for
            // AVX-512F, which the running CPU has (checked just above).
            #[allow(unsafe_code)]
            unsafe {
                gemm_avx512(m, n, k, a, b, c, init)
            };
            return;
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, for AVX2.
            #[allow(unsafe_code)]
            unsafe {
                gemm_avx2(m, n, k, a, b, c, init)
            };
            return;
        }
    }
    gemm_body(m, n, k, a, b, c, init);
}

/// The portable kernel (every target; the x86-64 AVX-512 and AVX2 paths are this code compiled
/// wider).
#[inline(always)]
pub(crate) fn gemm_body(
    m: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: &[f32],
    c: &mut [f32],
    init: Init<'_>,
) {
    // One packing panel for the whole product (zeroing it per row block cost more than the
    // block's arithmetic at the learner's sizes).
    let mut panel = [[0.0f32; MR]; KC];
    let mut i = 0;
    while i + MR <= m {
        rows::<MR>(i, n, k, a, b, c, init, &mut panel);
        i += MR;
    }
    while i < m {
        rows::<1>(i, n, k, a, b, c, init, &mut panel);
        i += 1;
    }
}

/// `R` rows of `C` starting at row `i0`, the reduction in chunks of [`KC`] steps: pack the rows'
/// chunk of `A` (`panel[p][r]`), then run every column tile over it, full [`NR`]-wide tiles first,
/// then the remaining columns one at a time. Chunks after the first continue from `C`, so each
/// output still sums `p = 0, 1, 2, …` in order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows<const R: usize>(
    i0: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: &[f32],
    c: &mut [f32],
    init: Init<'_>,
    panel: &mut [[f32; MR]; KC],
) {
    let mut p0 = 0;
    loop {
        let kc = (k - p0).min(KC);
        for (p, col) in panel.iter_mut().take(kc).enumerate() {
            for (r, v) in col.iter_mut().take(R).enumerate() {
                *v = a
                    .data
                    .get((i0 + r) * a.rs + (p0 + p) * a.cs)
                    .copied()
                    .unwrap_or(0.0);
            }
        }
        let packed = &panel[..kc];
        let b = b.get(p0 * n..(p0 + kc) * n).unwrap_or(&[]);
        let init = if p0 == 0 { Some(init) } else { None };
        let mut j = 0;
        while j + NR <= n {
            tile::<R, NR>(i0, j, n, packed, b, c, init);
            j += NR;
        }
        while j < n {
            tile::<R, 1>(i0, j, n, packed, b, c, init);
            j += 1;
        }
        p0 += kc;
        if p0 >= k {
            break;
        }
    }
}

/// One `R × C` tile of `C` at `(i0, j0)` over a packed panel; `init` `None` continues from `C`.
#[inline(always)]
fn tile<const R: usize, const C: usize>(
    i0: usize,
    j0: usize,
    n: usize,
    panel: &[[f32; MR]],
    b: &[f32],
    c: &mut [f32],
    init: Option<Init<'_>>,
) {
    let mut acc = [[0.0f32; C]; R];
    match init {
        Some(Init::Bias(bias)) => {
            if let Some(bs) = bias.get(j0..j0 + C) {
                for row in acc.iter_mut() {
                    row.copy_from_slice(bs);
                }
            }
        }
        Some(Init::Zero) => {}
        None => {
            for (r, row) in acc.iter_mut().enumerate() {
                let at = (i0 + r) * n + j0;
                if let Some(cs) = c.get(at..at + C) {
                    row.copy_from_slice(cs);
                }
            }
        }
    }
    for (ap, brow) in panel.iter().zip(b.chunks_exact(n)) {
        let Some(bv) = brow.get(j0..j0 + C) else {
            return;
        };
        let Ok(bt) = <&[f32; C]>::try_from(bv) else {
            return;
        };
        for (accr, &av) in acc.iter_mut().zip(ap.iter()) {
            for (x, &w) in accr.iter_mut().zip(bt.iter()) {
                *x += av * w;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let at = (i0 + r) * n + j0;
        if let Some(cs) = c.get_mut(at..at + C) {
            cs.copy_from_slice(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched kernel (AVX-512 or AVX2 where the CPU has it) and the portable one give
    /// the same bits, and both sum each output in order, as a scalar loop does; sizes cover full
    /// and partial tiles and a reduction longer than one packed chunk.
    #[test]
    fn same_bits_as_a_scalar_loop() {
        let mut r = crate::rng::seeded(5);
        for &(m, n, k) in &[(100, 64, 64), (7, 19, 300), (1, 1, 1), (5, 33, 17)] {
            let a: std::vec::Vec<f32> = (0..m * k)
                .map(|_| crate::rng::unit_f32(&mut r) - 0.5)
                .collect();
            let b: std::vec::Vec<f32> = (0..k * n)
                .map(|_| crate::rng::unit_f32(&mut r) - 0.5)
                .collect();
            let bias: std::vec::Vec<f32> = (0..n).map(|_| crate::rng::unit_f32(&mut r)).collect();
            let mut want = std::vec![0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    let mut s = bias[j];
                    for p in 0..k {
                        s += a[i * k + p] * b[p * n + j];
                    }
                    want[i * n + j] = s;
                }
            }
            let view = Strided {
                data: &a,
                rs: k,
                cs: 1,
            };
            let mut c1 = std::vec![0f32; m * n];
            gemm(m, n, k, view, &b, &mut c1, Init::Bias(&bias));
            let mut c2 = std::vec![0f32; m * n];
            gemm_body(m, n, k, view, &b, &mut c2, Init::Bias(&bias));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<std::vec::Vec<_>>();
            assert_eq!(bits(&c1), bits(&want), "{m}x{n}x{k}");
            assert_eq!(bits(&c2), bits(&want), "{m}x{n}x{k}");
        }
    }
}
