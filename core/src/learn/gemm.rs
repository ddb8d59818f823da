//! The one matrix kernel the learner runs: `C = init + A · B` over row-major slices, with a
//! register tile of [`MR`] × [`NR`] outputs.
//!
//! Every output is its initial value (a bias, or zero), then `+ a(i, p) · b(p, j)`
//! for `p = 0, 1, 2, …` in that order. How each step rounds is the caller's [`Madd`]:
//!
//! - [`Madd::Separate`]: one f32 multiply and one f32 add, each rounded, as the Cortex-M4F's
//!   scalar FPU does them. A network trained on the desktop and on the controller from the same
//!   seed ends with the same weights (core's on-device DQN).
//! - `Madd::Fused` (with `std`): one fused multiply-add, rounded once (IEEE 754's
//!   fusedMultiplyAdd): the host's learners. On x86-64 with FMA, one instruction where the
//!   separate form takes two (eight independent accumulators keep both FMA units busy); the
//!   learners' updates took 0.8× the time. Elsewhere the compiler's `mul_add` (scalar, or exact
//!   in software on a CPU without FMA), so the bits never depend on the CPU.
//!
//! The tile only chooses which outputs are computed together, never the order of one output's
//! sum, so either way the result has the same bits whatever the vector width the compiler picks
//! (SSE2, AVX2, AVX-512, or the Cortex-M4F's scalar FPU).
//!
//! `A` is read through strides (`a(i, p) = a[i · rs + p · cs]`), so the same kernel computes
//! `X · Wᵀ` (forward), `Xᵀ · dZ` (weight gradients) and `dZ · W` (input gradients).

/// How one step of a sum rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Madd {
    /// Multiply, round, add, round: the Cortex-M4F's scalar arithmetic, bit for bit.
    #[default]
    Separate,
    /// Fused multiply-add, rounded once (with `std`: the host's; the controller's build leaves it
    /// out, and its code with it).
    #[cfg(feature = "std")]
    Fused,
}

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

/// `$name`: [`gemm_body`] with `$fused` steps and the full tiles `$tiles` says, compiled with
/// the target features `$feature`.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
macro_rules! wide {
    ($name:ident, $feature:literal, $fused:literal, $tiles:expr) => {
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
            gemm_body::<$fused, { $tiles }>(m, n, k, a, b, c, init);
        }
    };
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
wide!(gemm_separate_avx512, "avx512f", false, PORTABLE);
#[cfg(all(feature = "std", target_arch = "x86_64"))]
wide!(gemm_separate_avx2, "avx2", false, PORTABLE);
#[cfg(all(feature = "std", target_arch = "x86_64"))]
wide!(gemm_fused_avx512, "avx512f,fma", true, AVX512_FMA);
#[cfg(all(feature = "std", target_arch = "x86_64"))]
wide!(gemm_fused_avx2, "avx2,fma", true, AVX2_FMA);

/// `C[m × n] = init + A[m × k] · B[k × n]`; `B` and `C` row-major with row strides `n`; each
/// step rounded as `madd` says.
///
/// The caller guarantees the lengths: `b.len() >= k · n`, `c.len() >= m · n`, the bias (if any)
/// at least `n` long, and every `a(i, p)` with `i < m`, `p < k` inside `a.data`. Out-of-range
/// reads and writes are skipped rather than panicking (they cannot happen for checked shapes).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Strided<'_>,
    b: &[f32],
    c: &mut [f32],
    init: Init<'_>,
    madd: Madd,
) {
    // The widest vectors the running CPU has (`std` on x86-64, chosen at run time): AVX-512F,
    // where a [`NR`]-wide tile row is one register, or AVX2; with FMA for fused steps. Separate
    // steps never use FMA: a fused multiply-add rounds once where the Cortex-M4F's `vmul` and
    // `vadd` round twice. On a 2.1 GHz Xeon AVX-512 made SAC's 64×64 update 1.8× faster than
    // AVX2.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        let avx512 = std::is_x86_feature_detected!("avx512f");
        let avx2 = std::is_x86_feature_detected!("avx2");
        let fma = std::is_x86_feature_detected!("fma");
        // SAFETY (each call): the function differs from `gemm_body` only in being compiled for
        // the target features named in its `wide!` line, which the running CPU has (checked in
        // the same arm).
        #[allow(unsafe_code)]
        match madd {
            Madd::Separate if avx512 => {
                unsafe { gemm_separate_avx512(m, n, k, a, b, c, init) };
                return;
            }
            Madd::Separate if avx2 => {
                unsafe { gemm_separate_avx2(m, n, k, a, b, c, init) };
                return;
            }
            Madd::Fused if avx512 && fma => {
                unsafe { gemm_fused_avx512(m, n, k, a, b, c, init) };
                return;
            }
            Madd::Fused if avx2 && fma => {
                unsafe { gemm_fused_avx2(m, n, k, a, b, c, init) };
                return;
            }
            _ => {}
        }
    }
    match madd {
        Madd::Separate => gemm_body::<false, { PORTABLE }>(m, n, k, a, b, c, init),
        #[cfg(feature = "std")]
        Madd::Fused => gemm_body::<true, { PORTABLE }>(m, n, k, a, b, c, init),
    }
}

/// `x + a · b`: rounded once (`FUSED`: `mul_add`, the CPU's instruction where the caller is
/// compiled with FMA, exact in software otherwise) or after the multiply and after the add.
/// Without `std` there are no fused steps (`Madd::Fused` does not exist), so `FUSED` is unused.
#[inline(always)]
fn step<const FUSED: bool>(x: f32, a: f32, b: f32) -> f32 {
    #[cfg(feature = "std")]
    if FUSED {
        return a.mul_add(b, x);
    }
    x + a * b
}

/// Which code computes the full tiles (a const parameter of [`gemm_body`]): [`tile`],
/// vectorized by the compiler, ...
const PORTABLE: u8 = 0;
/// ... or, for fused steps, `4 × 32` tiles in AVX-512F and FMA intrinsics (eight accumulators of
/// 16 lanes keep both FMA units busy through each chain's four-cycle latency) ...
#[cfg(all(feature = "std", target_arch = "x86_64"))]
const AVX512_FMA: u8 = 1;
/// ... or `4 × 16` tiles in AVX2 and FMA intrinsics (eight accumulators of 8 lanes). The compiler
/// leaves a fused tile's steps scalar, so these are written out.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
const AVX2_FMA: u8 = 2;

/// The portable kernel (every target; the x86-64 paths are this code compiled wider, fused ones
/// with their full tiles written in the CPU's intrinsics).
#[inline(always)]
pub(crate) fn gemm_body<const FUSED: bool, const TILES: u8>(
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
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if TILES == AVX512_FMA && n < NR {
        // Narrow products (an output layer of 1 or 4, its weight gradient): 16 rows a vector,
        // so that each column's chain of steps carries 16 outputs, not one.
        let mut tall = [[0.0f32; 16]; KC];
        while i + 16 <= m {
            let mut p0 = 0;
            loop {
                let kc = (k - p0).min(KC);
                pack::<16, 16>(a, i, p0, &mut tall[..kc]);
                let bc = b.get(p0 * n..(p0 + kc) * n).unwrap_or(&[]);
                let from = if p0 == 0 { Some(init) } else { None };
                // SAFETY: `TILES` is `AVX512_FMA` only in `gemm_fused_avx512`, called where the
                // CPU has AVX-512F and FMA.
                #[allow(unsafe_code)]
                unsafe {
                    x86::narrow_avx512(i, n, &tall[..kc], bc, c, from)
                };
                p0 += kc;
                if p0 >= k {
                    break;
                }
            }
            i += 16;
        }
    }
    while i + MR <= m {
        rows::<MR, FUSED, TILES>(i, n, k, a, b, c, init, &mut panel);
        i += MR;
    }
    while i < m {
        rows::<1, FUSED, TILES>(i, n, k, a, b, c, init, &mut panel);
        i += 1;
    }
}

/// `R` rows of `C` starting at row `i0`, the reduction in chunks of [`KC`] steps: pack the rows'
/// chunk of `A` (`panel[p][r]`), then run every column tile over it: the intrinsics' tiles
/// (`TILES`) where they apply, full [`NR`]-wide tiles, then the remaining columns one at a time.
/// Chunks after the first continue from `C`, so each output still sums `p = 0, 1, 2, …` in order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows<const R: usize, const FUSED: bool, const TILES: u8>(
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
        let b = b.get(p0 * n..(p0 + kc) * n).unwrap_or(&[]);
        let init = if p0 == 0 { Some(init) } else { None };
        let mut j = 0;
        // Set by the x86-64 fused tiles only.
        #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), allow(unused_mut))]
        let mut packed = false;
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if R == MR && (TILES == AVX512_FMA || TILES == AVX2_FMA) {
            let width = if TILES == AVX512_FMA { 32 } else { 16 };
            if width <= n {
                // The intrinsics' tiles read `A` where it lies when the whole block is in range
                // (no packing: a broadcast load costs the same from either place), else from
                // the panel.
                let (from, step) = match direct::<R>(a, i0, p0, kc) {
                    Some(from) => (from, a.cs),
                    None => {
                        pack::<R, MR>(a, i0, p0, &mut panel[..kc]);
                        packed = true;
                        let base = panel.as_ptr().cast::<f32>();
                        (core::array::from_fn(|r| base.wrapping_add(r)), MR)
                    }
                };
                while j + width <= n {
                    // SAFETY: `TILES` is `AVX512_FMA` only in `gemm_fused_avx512` (`AVX2_FMA`
                    // only in `gemm_fused_avx2`), called where the CPU has AVX-512F (AVX2) and
                    // FMA; `from[r] + p · step` for `p < kc` lies in `A` (checked by `direct`)
                    // or in the panel packed just above.
                    #[allow(unsafe_code)]
                    unsafe {
                        if TILES == AVX512_FMA {
                            x86::fused_avx512(i0, j, n, from, step, kc, b, c, init)
                        } else {
                            x86::fused_avx2(i0, j, n, from, step, kc, b, c, init)
                        }
                    };
                    j += width;
                }
            }
        }
        if j < n {
            if !packed {
                pack::<R, MR>(a, i0, p0, &mut panel[..kc]);
            }
            let packed = &panel[..kc];
            while j + NR <= n {
                tile::<R, NR, FUSED>(i0, j, n, packed, b, c, init);
                j += NR;
            }
            while j < n {
                tile::<R, 1, FUSED>(i0, j, n, packed, b, c, init);
                j += 1;
            }
        }
        p0 += kc;
        if p0 >= k {
            break;
        }
    }
}

/// Where each of `A`'s rows `i0 .. i0 + R` starts at column `p0`, when every value the block
/// reads (`kc` columns) lies inside `A`; `None` otherwise.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline(always)]
fn direct<const R: usize>(
    a: Strided<'_>,
    i0: usize,
    p0: usize,
    kc: usize,
) -> Option<[*const f32; MR]> {
    if R == 0 || R > MR || kc == 0 {
        return None;
    }
    let last = (i0 + R - 1)
        .checked_mul(a.rs)?
        .checked_add((p0 + kc - 1).checked_mul(a.cs)?)?;
    if last >= a.data.len() {
        return None;
    }
    let base = a.data.as_ptr();
    Some(core::array::from_fn(|r| {
        base.wrapping_add((i0 + r) * a.rs + p0 * a.cs)
    }))
}

/// Packs `A`'s rows `i0 .. i0 + R`, columns `p0 ..` into `panel[p][r]` (`panel.len()` columns).
/// A's two layouts copy whole runs (one bounds check a row of `A`, or a column); any other stride,
/// or a run out of range, goes value by value (out of range reads 0, as the kernel promises).
#[inline(always)]
fn pack<const R: usize, const W: usize>(
    a: Strided<'_>,
    i0: usize,
    p0: usize,
    panel: &mut [[f32; W]],
) {
    let kc = panel.len();
    if a.cs == 1 {
        // `X · Wᵀ`, `dZ · W`: each row of A is contiguous.
        let mut r = 0;
        while r < R {
            let Some(run) = a.data.get((i0 + r) * a.rs + p0..).and_then(|s| s.get(..kc)) else {
                break;
            };
            for (col, &v) in panel.iter_mut().zip(run) {
                col[r] = v;
            }
            r += 1;
        }
        if r == R {
            return;
        }
    } else if a.rs == 1 && R <= W {
        // `Xᵀ · dZ`: the rows of one column of A are contiguous.
        let mut p = 0;
        while p < kc {
            let Some(run) = a.data.get((p0 + p) * a.cs + i0..).and_then(|s| s.get(..R)) else {
                break;
            };
            panel[p][..R].copy_from_slice(run);
            p += 1;
        }
        if p == kc {
            return;
        }
    }
    for (p, col) in panel.iter_mut().enumerate() {
        for (r, v) in col.iter_mut().take(R).enumerate() {
            *v = a
                .data
                .get((i0 + r) * a.rs + (p0 + p) * a.cs)
                .copied()
                .unwrap_or(0.0);
        }
    }
}

/// One `R × C` tile of `C` at `(i0, j0)` over a packed panel; `init` `None` continues from `C`.
#[inline(always)]
fn tile<const R: usize, const C: usize, const FUSED: bool>(
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
                *x = step::<FUSED>(*x, av, w);
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

/// The fused tiles in x86 intrinsics: the same steps as [`tile`] with `FUSED` (one
/// `a · b + c` rounded once per step, `p` ascending), in registers the compiler keeps.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod x86 {
    use super::{Init, MR};
    use core::arch::x86_64::*;

    /// Writes out one `MR × W` fused tile for a vector type of `L` lanes (`W = 2L`: two
    /// accumulators a row, eight in all).
    macro_rules! fused_tile {
        ($name:ident, $feature:literal, $v:ty, $lanes:literal, $zero:ident, $load:ident,
         $store:ident, $set1:ident, $fmadd:ident) => {
            /// One `MR × 2L` tile of `C` at `(i0, j0)`, row `r`'s step `p` of `A` read at
            /// `from[r] + p · step` (`p < kc`: `A` itself, or a packed panel); `init` `None`
            /// continues from `C`. Columns out of range are skipped, as [`super::tile`] skips
            /// them.
            #[target_feature(enable = $feature)]
            #[inline]
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn $name(
                i0: usize,
                j0: usize,
                n: usize,
                from: [*const f32; MR],
                step: usize,
                kc: usize,
                b: &[f32],
                c: &mut [f32],
                init: Option<Init<'_>>,
            ) {
                const W: usize = 2 * $lanes;
                let mut acc: [[$v; 2]; MR] = [[$zero(); 2]; MR];
                match init {
                    Some(Init::Bias(bias)) => {
                        if let Some(bs) = bias.get(j0..j0 + W) {
                            // SAFETY: `bs` holds `W` values, two vectors.
                            let row =
                                unsafe { [$load(bs.as_ptr()), $load(bs.as_ptr().add($lanes))] };
                            acc = [row; MR];
                        }
                    }
                    Some(Init::Zero) => {}
                    None => {
                        for (r, row) in acc.iter_mut().enumerate() {
                            let at = (i0 + r) * n + j0;
                            if let Some(cs) = c.get(at..at + W) {
                                // SAFETY: `cs` holds `W` values.
                                *row =
                                    unsafe { [$load(cs.as_ptr()), $load(cs.as_ptr().add($lanes))] };
                            }
                        }
                    }
                }
                for (p, brow) in b.chunks_exact(n).take(kc).enumerate() {
                    let Some(bv) = brow.get(j0..j0 + W) else {
                        return;
                    };
                    // SAFETY: `bv` holds `W` values.
                    let (b0, b1) = unsafe { ($load(bv.as_ptr()), $load(bv.as_ptr().add($lanes))) };
                    for (row, at) in acc.iter_mut().zip(from) {
                        // SAFETY: the caller's: `at + p · step` is inside `A` or the panel.
                        let av = $set1(unsafe { *at.add(p * step) });
                        row[0] = $fmadd(av, b0, row[0]);
                        row[1] = $fmadd(av, b1, row[1]);
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    let at = (i0 + r) * n + j0;
                    if let Some(cs) = c.get_mut(at..at + W) {
                        // SAFETY: `cs` holds `W` values.
                        unsafe {
                            $store(cs.as_mut_ptr(), row[0]);
                            $store(cs.as_mut_ptr().add($lanes), row[1]);
                        }
                    }
                }
            }
        };
    }

    /// Sixteen rows of a product fewer than 16 columns wide, at row `i0`, over a panel packed
    /// 16 rows wide: each column a vector of the 16 rows' outputs, four columns at a time, the
    /// same steps in the same order as [`super::tile`].
    #[target_feature(enable = "avx512f,fma")]
    #[inline]
    pub(super) unsafe fn narrow_avx512(
        i0: usize,
        n: usize,
        panel: &[[f32; 16]],
        b: &[f32],
        c: &mut [f32],
        init: Option<Init<'_>>,
    ) {
        let mut j = 0;
        while j < n {
            // SAFETY (each): the features are this function's.
            match n - j {
                1 => unsafe { columns::<1>(i0, j, n, panel, b, c, init) },
                2 => unsafe { columns::<2>(i0, j, n, panel, b, c, init) },
                3 => unsafe { columns::<3>(i0, j, n, panel, b, c, init) },
                _ => unsafe { columns::<4>(i0, j, n, panel, b, c, init) },
            }
            j += (n - j).min(4);
        }
    }

    /// `Q` columns from `j0` of [`narrow_avx512`]'s sixteen rows.
    #[target_feature(enable = "avx512f,fma")]
    #[inline]
    unsafe fn columns<const Q: usize>(
        i0: usize,
        j0: usize,
        n: usize,
        panel: &[[f32; 16]],
        b: &[f32],
        c: &mut [f32],
        init: Option<Init<'_>>,
    ) {
        let at = |r: usize, q: usize| (i0 + r) * n + j0 + q;
        let mut acc = [_mm512_setzero_ps(); Q];
        for (q, v) in acc.iter_mut().enumerate() {
            match init {
                Some(Init::Bias(bias)) => {
                    *v = _mm512_set1_ps(bias.get(j0 + q).copied().unwrap_or(0.0));
                }
                Some(Init::Zero) => {}
                None => {
                    let mut t = [0.0f32; 16];
                    for (r, x) in t.iter_mut().enumerate() {
                        *x = c.get(at(r, q)).copied().unwrap_or(0.0);
                    }
                    // SAFETY: `t` holds 16 values.
                    *v = unsafe { _mm512_loadu_ps(t.as_ptr()) };
                }
            }
        }
        for (ap, brow) in panel.iter().zip(b.chunks_exact(n)) {
            // SAFETY: `ap` holds 16 values.
            let av = unsafe { _mm512_loadu_ps(ap.as_ptr()) };
            for (q, v) in acc.iter_mut().enumerate() {
                let w = brow.get(j0 + q).copied().unwrap_or(0.0);
                *v = _mm512_fmadd_ps(av, _mm512_set1_ps(w), *v);
            }
        }
        for (q, v) in acc.iter().enumerate() {
            let mut t = [0.0f32; 16];
            // SAFETY: `t` holds 16 values.
            unsafe { _mm512_storeu_ps(t.as_mut_ptr(), *v) };
            for (r, &x) in t.iter().enumerate() {
                if let Some(y) = c.get_mut(at(r, q)) {
                    *y = x;
                }
            }
        }
    }

    fused_tile!(
        fused_avx512,
        "avx512f,fma",
        __m512,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps
    );
    fused_tile!(
        fused_avx2,
        "avx2,fma",
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps
    );
}

// With `std`, as `cargo test --workspace` builds core (the host asks for it).
#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    /// For each [`Madd`], the dispatched kernel (AVX-512 or AVX2, with FMA for fused steps,
    /// where the CPU has them) and the portable one give the same bits, and both sum each output
    /// in order, as a scalar loop does; sizes cover full and partial tiles 16 and 32 wide
    /// and a reduction longer than one packed chunk. The two roundings differ somewhere.
    #[test]
    fn same_bits_as_a_scalar_loop() {
        let mut r = crate::rng::seeded(5);
        let mut differ = false;
        for &(m, n, k) in &[
            (100, 64, 64),
            (7, 19, 300),
            (1, 1, 1),
            (5, 33, 17),
            (13, 40, 9),
            (6, 70, 5),
            (8, 96, 260),
            (40, 4, 70),
            (33, 1, 300),
            (20, 7, 5),
        ] {
            let a: std::vec::Vec<f32> = (0..m * k)
                .map(|_| crate::rng::unit_f32(&mut r) - 0.5)
                .collect();
            let b: std::vec::Vec<f32> = (0..k * n)
                .map(|_| crate::rng::unit_f32(&mut r) - 0.5)
                .collect();
            let bias: std::vec::Vec<f32> = (0..n).map(|_| crate::rng::unit_f32(&mut r)).collect();
            let view = Strided {
                data: &a,
                rs: k,
                cs: 1,
            };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<std::vec::Vec<_>>();
            let mut got = std::vec::Vec::new();
            for madd in [Madd::Separate, Madd::Fused] {
                let mut want = std::vec![0f32; m * n];
                for i in 0..m {
                    for j in 0..n {
                        let mut s = bias[j];
                        for p in 0..k {
                            s = match madd {
                                Madd::Separate => s + a[i * k + p] * b[p * n + j],
                                Madd::Fused => a[i * k + p].mul_add(b[p * n + j], s),
                            };
                        }
                        want[i * n + j] = s;
                    }
                }
                let mut c1 = std::vec![0f32; m * n];
                gemm(m, n, k, view, &b, &mut c1, Init::Bias(&bias), madd);
                assert_eq!(bits(&c1), bits(&want), "{madd:?} {m}x{n}x{k}");
                // A stored transposed (`Xᵀ · dZ`'s layout), and read one value at a time (a
                // stride that is neither layout).
                let at: std::vec::Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m]).collect();
                let wide: std::vec::Vec<f32> = a.iter().flat_map(|&v| [v, 0.0]).collect();
                for other in [
                    Strided {
                        data: &at,
                        rs: 1,
                        cs: m,
                    },
                    Strided {
                        data: &wide,
                        rs: 2 * k,
                        cs: 2,
                    },
                ] {
                    let mut c4 = std::vec![0f32; m * n];
                    gemm(m, n, k, other, &b, &mut c4, Init::Bias(&bias), madd);
                    assert_eq!(bits(&c4), bits(&want), "{madd:?} strided {m}x{n}x{k}");
                }
                let mut c2 = std::vec![0f32; m * n];
                match madd {
                    Madd::Separate => {
                        gemm_body::<false, PORTABLE>(m, n, k, view, &b, &mut c2, Init::Bias(&bias))
                    }
                    Madd::Fused => {
                        gemm_body::<true, PORTABLE>(m, n, k, view, &b, &mut c2, Init::Bias(&bias))
                    }
                }
                assert_eq!(bits(&c2), bits(&want), "{madd:?} portable {m}x{n}x{k}");
                // Each wide kernel the CPU can run, whichever `gemm` picks.
                #[cfg(target_arch = "x86_64")]
                #[allow(unsafe_code)]
                for (name, wide, cpu) in [
                    (
                        "avx512",
                        Madd::Separate,
                        std::is_x86_feature_detected!("avx512f"),
                    ),
                    (
                        "avx2",
                        Madd::Separate,
                        std::is_x86_feature_detected!("avx2"),
                    ),
                    (
                        "avx512+fma",
                        Madd::Fused,
                        std::is_x86_feature_detected!("avx512f")
                            && std::is_x86_feature_detected!("fma"),
                    ),
                    (
                        "avx2+fma",
                        Madd::Fused,
                        std::is_x86_feature_detected!("avx2")
                            && std::is_x86_feature_detected!("fma"),
                    ),
                ] {
                    if wide != madd || !cpu {
                        continue;
                    }
                    let mut c3 = std::vec![0f32; m * n];
                    let init = Init::Bias(&bias);
                    // SAFETY: the CPU has the kernel's features (checked in its row above).
                    unsafe {
                        match name {
                            "avx512" => gemm_separate_avx512(m, n, k, view, &b, &mut c3, init),
                            "avx2" => gemm_separate_avx2(m, n, k, view, &b, &mut c3, init),
                            "avx512+fma" => gemm_fused_avx512(m, n, k, view, &b, &mut c3, init),
                            _ => gemm_fused_avx2(m, n, k, view, &b, &mut c3, init),
                        }
                    }
                    assert_eq!(bits(&c3), bits(&want), "{name} {m}x{n}x{k}");
                }
                got.push(bits(&c1));
            }
            differ |= got[0] != got[1];
        }
        assert!(differ, "fused and separate steps never rounded differently");
    }
}
