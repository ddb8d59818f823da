//! The one matrix kernel the learner runs: `C = init + A · B` over row-major slices, with a
//! register tile of [`MR`] × [`NR`] outputs.
//!
//! Every output is its initial value (a bias, or zero), then `+ a(i, p) · b(p, j)`
//! for `p = 0, 1, 2, …` in that order, one f32 multiply and one f32 add each (never fused). The
//! tile only chooses which outputs are computed together, never the order of one output's sum, so
//! the result has the same bits whatever the vector width the compiler picks (SSE2, AVX2, or the
//! Cortex-M4F's scalar FPU): a network trained on the desktop and on the controller from the same
//! seed ends with the same weights.
//!
//! `A` is read through strides (`a(i, p) = a[i · rs + p · cs]`), so the same kernel computes
//! `X · Wᵀ` (forward), `Xᵀ · dZ` (weight gradients) and `dZ · W` (input gradients).

/// Rows of `C` computed together.
pub const MR: usize = 4;
/// Columns of `C` computed together (two AVX vectors, four SSE ones).
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

/// `C[m × n] = init + A[m × k] · B[k × n]`; `B` and `C` row-major with row strides `n`.
///
/// The caller guarantees the lengths: `b.len() >= k · n`, `c.len() >= m · n`, the bias (if any)
/// at least `n` long, and every `a(i, p)` with `i < m`, `p < k` inside `a.data`. Out-of-range
/// reads are skipped rather than panicking (they cannot happen for checked shapes).
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: &[f32],
    c: &mut [f32],
    init: Init<'_>,
) {
    let mut i = 0;
    while i + MR <= m {
        rows::<MR>(i, n, k, a, b, c, init);
        i += MR;
    }
    while i < m {
        rows::<1>(i, n, k, a, b, c, init);
        i += 1;
    }
}

/// `R` rows of `C` starting at row `i0`: full [`NR`]-wide tiles, then the remaining columns one at
/// a time.
#[inline(always)]
fn rows<const R: usize>(
    i0: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: &[f32],
    c: &mut [f32],
    init: Init<'_>,
) {
    let mut j = 0;
    while j + NR <= n {
        tile::<R, NR>(i0, j, n, k, a, b, c, init);
        j += NR;
    }
    while j < n {
        tile::<R, 1>(i0, j, n, k, a, b, c, init);
        j += 1;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const R: usize, const C: usize>(
    i0: usize,
    j0: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: &[f32],
    c: &mut [f32],
    init: Init<'_>,
) {
    let mut acc = [[0.0f32; C]; R];
    match init {
        Init::Bias(bias) => {
            if let Some(bs) = bias.get(j0..j0 + C) {
                for row in acc.iter_mut() {
                    row.copy_from_slice(bs);
                }
            }
        }
        Init::Zero => {}
    }
    let Some(b) = b.get(..k * n) else { return };
    // The left operand's rows for this tile, each read at `base + p · cs`.
    let mut base = [0usize; R];
    for (r, o) in base.iter_mut().enumerate() {
        *o = (i0 + r) * a.rs;
    }
    let last = base[R - 1] + k.saturating_sub(1) * a.cs;
    if k > 0 && last >= a.data.len() {
        return;
    }
    for (p, brow) in b.chunks_exact(n).enumerate() {
        let Some(bv) = brow.get(j0..j0 + C) else {
            return;
        };
        let mut bt = [0.0f32; C];
        bt.copy_from_slice(bv);
        for r in 0..R {
            let av = a.data.get(base[r] + p * a.cs).copied().unwrap_or(0.0);
            for (x, &w) in acc[r].iter_mut().zip(bt.iter()) {
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
