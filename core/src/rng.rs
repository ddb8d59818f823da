//! Seeded random draws: every random number in picorl comes from a [`Pcg32`] seeded here.
//!
//! The helpers draw from the same distributions Gymnasium and the learners use (uniform, integer
//! below `n`, normal), not numpy's bit stream: the same seed gives the same run in picorl, on the
//! desktop and on the controller.

use rand_core::{RngCore, SeedableRng};
pub use rand_pcg::Pcg32;

/// A generator seeded from a `u64`, as every seeded draw in picorl starts.
pub fn seeded(seed: u64) -> Pcg32 {
    Pcg32::seed_from_u64(seed)
}

/// A uniform `f64` in `[0, 1)` from the top 53 bits of a 64-bit draw.
pub fn unit_f64<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform `f64` in `[low, high)`.
pub fn uniform_f64<R: RngCore + ?Sized>(rng: &mut R, low: f64, high: f64) -> f64 {
    low + (high - low) * unit_f64(rng)
}

/// A uniform `f32` in `[0, 1)` from the top 24 bits of a 32-bit draw.
pub fn unit_f32<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// A uniform integer in `0..n` without modulo bias (Lemire's widening multiply with rejection).
/// Returns 0 when `n` is 0.
pub fn below<R: RngCore + ?Sized>(rng: &mut R, n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u64::from(rng.next_u32()) * u64::from(n);
        if (m as u32) >= threshold {
            return (m >> 32) as u32;
        }
    }
}

/// A standard normal `f64` (Box–Muller, using one pair of uniforms per draw).
pub fn normal_f64<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - unit_f64(rng);
    let u2 = unit_f64(rng);
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let (mut a, mut b) = (seeded(7), seeded(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = seeded(1);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            let v = below(&mut rng, 5);
            assert!(v < 5);
            seen[v as usize] += 1;
        }
        // Each bucket expects 1000; 5 sigma is about 140.
        assert!(seen.iter().all(|&c| (860..1140).contains(&c)), "{seen:?}");
        assert_eq!(below(&mut rng, 0), 0);
    }

    #[test]
    fn uniform_bounds() {
        let mut rng = seeded(2);
        for _ in 0..1000 {
            let v = uniform_f64(&mut rng, -0.05, 0.05);
            assert!((-0.05..0.05).contains(&v));
            let u = unit_f32(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
    }
}
