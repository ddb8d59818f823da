//! [`SumTree`]: proportional prioritization over a sum-tree and a min-tree in caller storage,
//! with stratified sampling and the importance weights ([`importance_weight`]).

use rand_core::RngCore;

use super::ReplayError;
use crate::rng;

/// Values of storage a [`SumTree`] of `capacity` priorities needs:
/// `4 · capacity.next_power_of_two()` (a sum-tree and a min-tree, 1-indexed). `None` on overflow.
pub const fn tree_storage_len(capacity: usize) -> Option<usize> {
    match capacity.checked_next_power_of_two() {
        Some(p) => p.checked_mul(4),
        None => None,
    }
}

/// A sum-tree (and a min-tree beside it) over `capacity` priorities, in caller-supplied storage
/// of [`tree_storage_len`] values (`S` must give slices of one length throughout). Leaves are padded to a power of two; padding leaves hold
/// zero and are never found.
///
/// Parents are recomputed from their children on every [`SumTree::set`] (not adjusted by the
/// difference), so rounding errors do not accumulate over millions of updates.
#[derive(Debug, Clone)]
pub struct SumTree<S> {
    storage: S,
    capacity: usize,
    leaves: usize,
}

impl<S: AsRef<[f32]> + AsMut<[f32]>> SumTree<S> {
    /// A tree of `capacity` priorities, all zero (unset), over `storage` (overwritten).
    pub fn new(mut storage: S, capacity: usize) -> Result<Self, ReplayError> {
        if capacity == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        let needed = tree_storage_len(capacity).ok_or(ReplayError::StorageTooSmall {
            needed: usize::MAX,
            got: 0,
        })?;
        let got = storage.as_ref().len();
        if got < needed {
            return Err(ReplayError::StorageTooSmall { needed, got });
        }
        let leaves = needed / 4;
        let s = &mut storage.as_mut()[..needed];
        let (sum, min) = s.split_at_mut(2 * leaves);
        sum.fill(0.0);
        min.fill(f32::INFINITY);
        Ok(Self {
            storage,
            capacity,
            leaves,
        })
    }

    /// Priorities the tree holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }

    fn halves(&self) -> (&[f32], &[f32]) {
        let s = self.storage.as_ref();
        let (sum, rest) = s.split_at(2 * self.leaves);
        (sum, &rest[..2 * self.leaves])
    }

    /// Sets slot `i`'s priority (already raised to α by the caller): finite and non-negative.
    pub fn set(&mut self, i: usize, priority: f32) -> Result<(), ReplayError> {
        if i >= self.capacity {
            return Err(ReplayError::IndexOutOfRange {
                index: i,
                len: self.capacity,
            });
        }
        if !priority.is_finite() || priority < 0.0 {
            return Err(ReplayError::BadPriority);
        }
        let leaves = self.leaves;
        let s = self.storage.as_mut();
        let (sum, rest) = s.split_at_mut(2 * leaves);
        let min = &mut rest[..2 * leaves];
        let mut node = leaves + i;
        sum[node] = priority;
        min[node] = priority;
        while node > 1 {
            node /= 2;
            sum[node] = sum[2 * node] + sum[2 * node + 1];
            min[node] = min[2 * node].min(min[2 * node + 1]);
        }
        Ok(())
    }

    /// Slot `i`'s priority (zero when never set).
    pub fn get(&self, i: usize) -> Result<f32, ReplayError> {
        if i >= self.capacity {
            return Err(ReplayError::IndexOutOfRange {
                index: i,
                len: self.capacity,
            });
        }
        Ok(self.halves().0[self.leaves + i])
    }

    /// The sum of every priority.
    pub fn total(&self) -> f32 {
        self.halves().0[1]
    }

    /// The smallest priority set so far (`None` before the first [`SumTree::set`]).
    pub fn min(&self) -> Option<f32> {
        let m = self.halves().1[1];
        if m.is_finite() {
            Some(m)
        } else {
            None
        }
    }

    /// The slot `i` where the prefix sum crosses `mass`: `Σ_{j<i} p_j ≤ mass < Σ_{j≤i} p_j`.
    /// `mass` is clamped into `[0, total)`; NaN counts as 0. The slot found always has a positive
    /// priority, whatever the rounding. [`ReplayError::Empty`] when the total is zero.
    pub fn find(&self, mass: f32) -> Result<usize, ReplayError> {
        let (sum, _) = self.halves();
        if sum[1] <= 0.0 {
            return Err(ReplayError::Empty);
        }
        let mut mass = if mass.is_nan() { 0.0 } else { mass.max(0.0) };
        let mut node = 1;
        while node < self.leaves {
            let (left, right) = (2 * node, 2 * node + 1);
            // Go left while the mass falls in the left subtree; a zero-sum side is never taken
            // (rounding can push `mass` just past a subtree's sum).
            if (mass < sum[left] && sum[left] > 0.0) || sum[right] <= 0.0 {
                node = left;
            } else {
                mass -= sum[left];
                node = right;
            }
        }
        Ok(node - self.leaves)
    }

    /// Fills `out` with slots drawn in proportion to their priorities, one from each of
    /// `out.len()` equal strata of the total mass (the stratified sampling of Schaul et al.).
    pub fn sample_stratified<R: RngCore + ?Sized>(
        &self,
        rng: &mut R,
        out: &mut [usize],
    ) -> Result<(), ReplayError> {
        let total = self.total();
        if total <= 0.0 {
            return Err(ReplayError::Empty);
        }
        let segment = total / out.len().max(1) as f32;
        for (j, o) in out.iter_mut().enumerate() {
            let u = (j as f32 + rng::unit_f32(rng)) * segment;
            *o = self.find(u)?;
        }
        Ok(())
    }
}

/// The normalized importance-sampling weight of a transition of priority `priority` (as stored
/// in the tree, after α) when the smallest stored priority is `min_priority`:
/// `w = (N·P(i))^-β / max_j (N·P(j))^-β = (priority / min_priority)^-β`, in `(0, 1]`.
/// Non-finite or non-positive inputs give 1 (no correction), a documented safe fallback.
pub fn importance_weight(priority: f32, min_priority: f32, beta: f32) -> f32 {
    if !(priority > 0.0
        && min_priority > 0.0
        && priority.is_finite()
        && min_priority.is_finite()
        && beta.is_finite())
    {
        return 1.0;
    }
    let w = libm::powf(priority / min_priority, -beta);
    if w.is_finite() {
        w.min(1.0)
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_tree_by_hand() {
        // Capacity 5 pads to 8 leaves: storage 4·8 = 32.
        assert_eq!(tree_storage_len(5), Some(32));
        assert_eq!(tree_storage_len(usize::MAX), None);
        assert_eq!(
            SumTree::new([0.0f32; 31], 5).unwrap_err(),
            ReplayError::StorageTooSmall {
                needed: 32,
                got: 31
            }
        );
        let mut tree = SumTree::new([0.0f32; 32], 5).unwrap();
        assert_eq!(tree.min(), None);
        assert_eq!(tree.find(0.0), Err(ReplayError::Empty));
        for (i, p) in [1.0, 2.0, 3.0, 4.0, 0.5].into_iter().enumerate() {
            tree.set(i, p).unwrap();
        }
        // Prefix sums: [0,1) → 0, [1,3) → 1, [3,6) → 2, [6,10) → 3, [10,10.5) → 4.
        assert_eq!(tree.total(), 10.5);
        assert_eq!(tree.min(), Some(0.5));
        for (mass, slot) in [
            (0.0, 0),
            (0.99, 0),
            (1.0, 1),
            (2.99, 1),
            (3.0, 2),
            (5.5, 2),
            (6.0, 3),
            (9.99, 3),
            (10.0, 4),
            (10.49, 4),
        ] {
            assert_eq!(tree.find(mass), Ok(slot), "mass {mass}");
        }
        // Out-of-range masses are clamped; padding leaves are never found.
        assert_eq!(tree.find(-3.0), Ok(0));
        assert_eq!(tree.find(f32::NAN), Ok(0));
        assert_eq!(tree.find(1e9), Ok(4));
        tree.set(3, 0.0).unwrap();
        assert_eq!(tree.total(), 6.5);
        assert_eq!(tree.find(6.0), Ok(4));
        assert_eq!(tree.min(), Some(0.0));
        tree.set(3, 4.0).unwrap();
        assert_eq!(tree.get(3), Ok(4.0));
        assert_eq!(
            tree.set(5, 1.0),
            Err(ReplayError::IndexOutOfRange { index: 5, len: 5 })
        );
        assert_eq!(tree.set(0, -1.0), Err(ReplayError::BadPriority));
        assert_eq!(tree.set(0, f32::NAN), Err(ReplayError::BadPriority));
        assert_eq!(tree.set(0, f32::INFINITY), Err(ReplayError::BadPriority));
        assert_eq!(
            SumTree::new([0.0f32; 4], 0).unwrap_err(),
            ReplayError::ZeroCapacity
        );
    }

    #[test]
    fn a_mass_past_the_last_positive_leaf_finds_it() {
        // Only slot 2 of 4 is positive; any mass finds it, even rounding past the total.
        let mut tree = SumTree::new([0.0f32; 16], 4).unwrap();
        tree.set(2, 0.1).unwrap();
        for m in [0.0, 0.05, 0.1, 0.1000001, 5.0] {
            assert_eq!(tree.find(m), Ok(2));
        }
    }

    #[test]
    fn stratified_sampling_is_proportional() {
        let priorities = [1.0f32, 2.0, 3.0, 4.0, 0.0, 10.0];
        let mut tree = SumTree::new(filled::<32>(), 6).unwrap();
        for (i, p) in priorities.iter().enumerate() {
            tree.set(i, *p).unwrap();
        }
        let mut rng = crate::rng::seeded(11);
        let mut counts = [0u32; 6];
        let mut out = [0usize; 32];
        let rounds = 1000;
        for _ in 0..rounds {
            tree.sample_stratified(&mut rng, &mut out).unwrap();
            for &i in &out {
                counts[i] += 1;
            }
        }
        let n = (rounds * out.len()) as f64;
        for (i, p) in priorities.iter().enumerate() {
            let expect = n * f64::from(*p) / 20.0;
            // Binomial sd sqrt(n p (1-p)) ≤ 90 here (stratification only narrows it): 5 sd.
            assert!(
                (f64::from(counts[i]) - expect).abs() < 450.0,
                "slot {i}: {} vs {expect}",
                counts[i]
            );
        }
        assert_eq!(counts[4], 0);
    }

    fn filled<const N: usize>() -> [f32; N] {
        [123.0; N]
    }

    #[test]
    fn importance_weights_by_hand() {
        // Priorities 1, 2, 4 (total 7, N = 3), β = 0.5:
        // w_i = (N p_i / 7)^-β / (N · 1 / 7)^-β = (p_i / 1)^-0.5 → 1, 1/√2, 1/2.
        assert_eq!(importance_weight(1.0, 1.0, 0.5), 1.0);
        assert!((importance_weight(2.0, 1.0, 0.5) - core::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((importance_weight(4.0, 1.0, 0.5) - 0.5).abs() < 1e-6);
        // The same from the unnormalized formula.
        let full = |p: f32| libm::powf(3.0 * p / 7.0, -0.5) / libm::powf(3.0 / 7.0, -0.5);
        assert!((importance_weight(4.0, 1.0, 0.5) - full(4.0)).abs() < 1e-6);
        // β = 0: no correction; β = 1: full correction.
        assert_eq!(importance_weight(4.0, 1.0, 0.0), 1.0);
        assert!((importance_weight(4.0, 1.0, 1.0) - 0.25).abs() < 1e-7);
        for (p, m, b) in [
            (0.0, 1.0, 0.5),
            (1.0, 0.0, 0.5),
            (f32::NAN, 1.0, 0.5),
            (1.0, 1.0, f32::NAN),
            (f32::INFINITY, 1.0, 0.5),
        ] {
            assert_eq!(importance_weight(p, m, b), 1.0);
        }
    }
}
