//! Replay storage for off-policy learners, over memory the caller supplies: a `static` array on a
//! controller, a `Vec<f32>` on the desktop. Nothing here allocates.
//!
//! - [`ReplayBuffer`]: a ring of transitions `(obs, action, reward, next_obs, terminated,
//!   horizon)`; when full, the oldest transition is overwritten. Discrete actions are stored as
//!   one `f32` holding the index (exact below 2²⁴), continuous ones as their components.
//! - [`SumTree`]: proportional prioritization (Schaul et al. 2016, arXiv:1511.05952): set a
//!   priority per slot, read the total, find the slot where a prefix sum falls, and the smallest
//!   priority set (for the importance weights' normalization, [`importance_weight`]).
//!
//! `horizon` is the number of rewards summed into `reward` (1 for a one-step transition, up to
//! `n` for n-step returns); a learner bootstraps with `γ^horizon · Q(next_obs)` unless
//! `terminated`. A truncated episode (the time limit) is stored with `terminated == false` and its
//! final observation as `next_obs`, so the learner bootstraps from it, as Gymnasium's docs say.
//!
//! Contract: no heap, no panic. Wrong lengths, out-of-range indices, NaN or negative priorities
//! are a [`ReplayError`]; every operation takes a time bounded by the sizes fixed at construction
//! (the sum-tree's descent has exactly `log2` of its leaf count steps).

use core::fmt;

use rand_core::RngCore;

use crate::env::Action;
use crate::rng;

/// The largest integer an `f32` holds exactly (2²⁴): the bound on stored discrete actions and
/// horizons.
pub const MAX_EXACT_INDEX: u32 = 1 << 24;

/// Why a replay operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// The supplied storage cannot hold one record (or one leaf).
    StorageTooSmall {
        /// Values needed.
        needed: usize,
        /// Values supplied.
        got: usize,
    },
    /// An observation dimension or a continuous action dimension of zero.
    ZeroDim,
    /// A capacity of zero was asked for.
    ZeroCapacity,
    /// An observation of the wrong length.
    ObsDim {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A continuous action of the wrong length.
    ActionDim {
        /// Length expected.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A discrete action for a continuous buffer, or the reverse.
    WrongActionKind,
    /// A discrete action or a horizon of [`MAX_EXACT_INDEX`] or more (not exact in an `f32`), or
    /// a horizon of zero.
    NotRepresentable,
    /// An index at or beyond the number of stored transitions (or the tree's capacity).
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// The number of valid indices.
        len: usize,
    },
    /// A priority that is NaN, infinite or negative.
    BadPriority,
    /// Sampling from an empty buffer, or from a tree whose total priority is zero.
    Empty,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::StorageTooSmall { needed, got } => {
                write!(
                    f,
                    "replay storage of {got} values is too small: at least {needed} needed"
                )
            }
            ReplayError::ZeroDim => write!(f, "observation and action dimensions must be positive"),
            ReplayError::ZeroCapacity => write!(f, "a capacity of zero"),
            ReplayError::ObsDim { expected, got } => {
                write!(f, "observation of length {got}, expected {expected}")
            }
            ReplayError::ActionDim { expected, got } => {
                write!(f, "continuous action of length {got}, expected {expected}")
            }
            ReplayError::WrongActionKind => write!(f, "action of the wrong kind for this buffer"),
            ReplayError::NotRepresentable => {
                write!(f, "discrete action or horizon not exactly representable (0 < horizon, both < 2^24)")
            }
            ReplayError::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range (length {len})")
            }
            ReplayError::BadPriority => write!(f, "priority must be finite and non-negative"),
            ReplayError::Empty => write!(f, "nothing to sample"),
        }
    }
}

impl core::error::Error for ReplayError {}

/// The kind of action a [`ReplayBuffer`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionShape {
    /// One discrete index per transition.
    Discrete,
    /// A vector of this many components per transition.
    Continuous(usize),
}

impl ActionShape {
    /// Values one action takes in storage.
    pub const fn dim(self) -> usize {
        match self {
            ActionShape::Discrete => 1,
            ActionShape::Continuous(d) => d,
        }
    }
}

/// A transition to store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition<'a> {
    /// The observation the action was taken in.
    pub obs: &'a [f32],
    /// The action.
    pub action: Action<'a>,
    /// The reward (or the discounted sum of `horizon` rewards).
    pub reward: f32,
    /// The observation `horizon` steps later: the final observation when the episode ended.
    pub next_obs: &'a [f32],
    /// `next_obs` is a terminal state: do not bootstrap from it.
    pub terminated: bool,
    /// Rewards summed into `reward` (at least 1).
    pub horizon: u32,
}

/// A stored transition, borrowed from the buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stored<'a> {
    /// The observation the action was taken in.
    pub obs: &'a [f32],
    /// The action (a discrete index, or the components of a continuous action).
    pub action: Action<'a>,
    /// The reward (or the discounted sum of `horizon` rewards).
    pub reward: f32,
    /// The observation `horizon` steps later.
    pub next_obs: &'a [f32],
    /// `next_obs` is terminal.
    pub terminated: bool,
    /// Rewards summed into `reward`.
    pub horizon: u32,
}

/// Values after the observations and the action in a record: reward, terminated, horizon.
const TAIL: usize = 3;

/// Values one transition takes in a [`ReplayBuffer`]: `2 · obs_dim + action dim + 3`
/// (`None` on overflow).
pub const fn stride(obs_dim: usize, shape: ActionShape) -> Option<usize> {
    match obs_dim.checked_mul(2) {
        Some(o) => match o.checked_add(shape.dim()) {
            Some(v) => v.checked_add(TAIL),
            None => None,
        },
        None => None,
    }
}

/// Values of storage a [`ReplayBuffer`] of `capacity` transitions needs (`None` on overflow):
/// `static mut BUF: [f32; buffer_storage_len(1000, 4, ActionShape::Discrete).unwrap()]`.
pub const fn buffer_storage_len(
    capacity: usize,
    obs_dim: usize,
    shape: ActionShape,
) -> Option<usize> {
    match stride(obs_dim, shape) {
        Some(s) => s.checked_mul(capacity),
        None => None,
    }
}

/// Values of storage a [`SumTree`] of `capacity` priorities needs:
/// `4 · capacity.next_power_of_two()` (a sum-tree and a min-tree, 1-indexed). `None` on overflow.
pub const fn tree_storage_len(capacity: usize) -> Option<usize> {
    match capacity.checked_next_power_of_two() {
        Some(p) => p.checked_mul(4),
        None => None,
    }
}

/// A ring buffer of transitions in caller-supplied storage `S` (`Vec<f32>`, `[f32; N]`,
/// `&'static mut [f32]`, …). Its capacity is the storage length divided by [`stride`]; leftover
/// values are unused. `S` must give slices of one length throughout (every std type does).
#[derive(Debug, Clone)]
pub struct ReplayBuffer<S> {
    storage: S,
    obs_dim: usize,
    shape: ActionShape,
    capacity: usize,
    len: usize,
    next: usize,
}

impl<S: AsRef<[f32]> + AsMut<[f32]>> ReplayBuffer<S> {
    /// An empty buffer over `storage`, for observations of `obs_dim` values and actions of
    /// `shape`. The storage's contents are ignored (and overwritten as transitions arrive).
    pub fn new(storage: S, obs_dim: usize, shape: ActionShape) -> Result<Self, ReplayError> {
        if obs_dim == 0 || shape.dim() == 0 {
            return Err(ReplayError::ZeroDim);
        }
        let stride = stride(obs_dim, shape).ok_or(ReplayError::StorageTooSmall {
            needed: usize::MAX,
            got: 0,
        })?;
        let got = storage.as_ref().len();
        let capacity = got / stride;
        if capacity == 0 {
            return Err(ReplayError::StorageTooSmall {
                needed: stride,
                got,
            });
        }
        Ok(Self {
            storage,
            obs_dim,
            shape,
            capacity,
            len: 0,
            next: 0,
        })
    }

    /// Transitions the buffer holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Transitions stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing stored yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot the next [`ReplayBuffer::push`] writes.
    pub fn next_index(&self) -> usize {
        self.next
    }

    /// Values per observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// The kind of action stored.
    pub fn action_shape(&self) -> ActionShape {
        self.shape
    }

    /// Forgets every transition (the storage is kept).
    pub fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }

    fn stride_now(&self) -> usize {
        2 * self.obs_dim + self.shape.dim() + TAIL
    }

    /// Stores `t`, overwriting the oldest transition when full; returns the slot written.
    /// Nothing is written when `t` is refused.
    pub fn push(&mut self, t: &Transition<'_>) -> Result<usize, ReplayError> {
        let d = self.obs_dim;
        for o in [t.obs, t.next_obs] {
            if o.len() != d {
                return Err(ReplayError::ObsDim {
                    expected: d,
                    got: o.len(),
                });
            }
        }
        if t.horizon == 0 || t.horizon >= MAX_EXACT_INDEX {
            return Err(ReplayError::NotRepresentable);
        }
        match (t.action, self.shape) {
            (Action::Discrete(a), ActionShape::Discrete) if a >= MAX_EXACT_INDEX => {
                return Err(ReplayError::NotRepresentable)
            }
            (Action::Discrete(_), ActionShape::Discrete) => {}
            (Action::Continuous(a), ActionShape::Continuous(n)) if a.len() != n => {
                return Err(ReplayError::ActionDim {
                    expected: n,
                    got: a.len(),
                })
            }
            (Action::Continuous(_), ActionShape::Continuous(_)) => {}
            _ => return Err(ReplayError::WrongActionKind),
        }
        let stride = self.stride_now();
        let slot = self.next;
        let start = slot * stride;
        let Some(rec) = self.storage.as_mut().get_mut(start..start + stride) else {
            // Unreachable: the capacity was computed from the storage length.
            return Err(ReplayError::StorageTooSmall {
                needed: start + stride,
                got: 0,
            });
        };
        let (obs, rest) = rec.split_at_mut(d);
        let (next_obs, rest) = rest.split_at_mut(d);
        let (action, tail) = rest.split_at_mut(self.shape.dim());
        obs.copy_from_slice(t.obs);
        next_obs.copy_from_slice(t.next_obs);
        match t.action {
            Action::Discrete(a) => action[0] = a as f32,
            Action::Continuous(a) => action.copy_from_slice(a),
        }
        tail[0] = t.reward;
        tail[1] = if t.terminated { 1.0 } else { 0.0 };
        tail[2] = t.horizon as f32;
        self.next = if slot + 1 == self.capacity {
            0
        } else {
            slot + 1
        };
        if self.len < self.capacity {
            self.len += 1;
        }
        Ok(slot)
    }

    /// The transition in slot `i` (`i < len()`; slots are not in age order once the ring wraps).
    pub fn get(&self, i: usize) -> Result<Stored<'_>, ReplayError> {
        if i >= self.len {
            return Err(ReplayError::IndexOutOfRange {
                index: i,
                len: self.len,
            });
        }
        let (d, stride) = (self.obs_dim, self.stride_now());
        let start = i * stride;
        let Some(rec) = self.storage.as_ref().get(start..start + stride) else {
            return Err(ReplayError::IndexOutOfRange {
                index: i,
                len: self.len,
            });
        };
        let (obs, rest) = rec.split_at(d);
        let (next_obs, rest) = rest.split_at(d);
        let (action, tail) = rest.split_at(self.shape.dim());
        let action = match self.shape {
            ActionShape::Discrete => Action::Discrete(action[0] as u32),
            ActionShape::Continuous(_) => Action::Continuous(action),
        };
        Ok(Stored {
            obs,
            action,
            reward: tail[0],
            next_obs,
            terminated: tail[1] != 0.0,
            horizon: tail[2] as u32,
        })
    }

    /// Fills `out` with slots drawn uniformly, with replacement, from the stored transitions.
    pub fn sample_uniform<R: RngCore + ?Sized>(
        &self,
        rng: &mut R,
        out: &mut [usize],
    ) -> Result<(), ReplayError> {
        if self.len == 0 {
            return Err(ReplayError::Empty);
        }
        // `len` is at most the capacity, which fits the storage length; beyond u32 the draw
        // covers the first 2^32 slots only, which no controller and no sane host buffer reaches.
        let n = u32::try_from(self.len).unwrap_or(u32::MAX);
        for o in out.iter_mut() {
            *o = rng::below(rng, n) as usize;
        }
        Ok(())
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

    fn t<'a>(obs: &'a [f32], a: Action<'a>, r: f32, next: &'a [f32], term: bool) -> Transition<'a> {
        Transition {
            obs,
            action: a,
            reward: r,
            next_obs: next,
            terminated: term,
            horizon: 1,
        }
    }

    #[test]
    fn ring_wraps_and_overwrites_the_oldest() {
        // obs_dim 2, discrete: stride 2·2 + 1 + 3 = 8; 40 values hold 5 transitions.
        assert_eq!(stride(2, ActionShape::Discrete), Some(8));
        assert_eq!(buffer_storage_len(5, 2, ActionShape::Discrete), Some(40));
        let mut b = ReplayBuffer::new([0.0; 40], 2, ActionShape::Discrete).unwrap();
        assert_eq!(b.capacity(), 5);
        for k in 0..7u32 {
            let o = [k as f32, -(k as f32)];
            let n = [k as f32 + 0.5, 0.0];
            let slot = b
                .push(&t(
                    &o,
                    Action::Discrete(k % 3),
                    k as f32 * 10.0,
                    &n,
                    k % 2 == 0,
                ))
                .unwrap();
            assert_eq!(slot, k as usize % 5);
        }
        assert_eq!(b.len(), 5);
        // Slots 0 and 1 hold transitions 5 and 6; slot 2 still holds transition 2.
        let s = b.get(0).unwrap();
        assert_eq!(
            (
                s.obs,
                s.next_obs,
                s.action,
                s.reward,
                s.terminated,
                s.horizon
            ),
            (
                &[5.0, -5.0][..],
                &[5.5, 0.0][..],
                Action::Discrete(2),
                50.0,
                false,
                1
            )
        );
        let s = b.get(1).unwrap();
        assert_eq!(
            (s.obs[0], s.action, s.terminated),
            (6.0, Action::Discrete(0), true)
        );
        assert_eq!(b.get(2).unwrap().obs[0], 2.0);
        assert_eq!(
            b.get(5),
            Err(ReplayError::IndexOutOfRange { index: 5, len: 5 })
        );
        b.clear();
        assert!(b.is_empty());
        assert_eq!(
            b.get(0),
            Err(ReplayError::IndexOutOfRange { index: 0, len: 0 })
        );
    }

    #[test]
    fn continuous_actions_and_horizons() {
        let mut storage = [0.0f32; 64];
        let mut b = ReplayBuffer::new(&mut storage[..], 3, ActionShape::Continuous(2)).unwrap();
        assert_eq!(b.capacity(), 64 / (6 + 2 + 3));
        let tr = Transition {
            obs: &[1.0, 2.0, 3.0],
            action: Action::Continuous(&[0.25, -1.0]),
            reward: 1.5,
            next_obs: &[4.0, 5.0, 6.0],
            terminated: false,
            horizon: 3,
        };
        b.push(&tr).unwrap();
        let s = b.get(0).unwrap();
        assert_eq!(
            (s.action, s.horizon, s.next_obs),
            (Action::Continuous(&[0.25, -1.0]), 3, &[4.0, 5.0, 6.0][..])
        );
    }

    #[test]
    fn bad_input_is_an_error_and_writes_nothing() {
        assert_eq!(
            ReplayBuffer::new([0.0f32; 7], 2, ActionShape::Discrete).unwrap_err(),
            ReplayError::StorageTooSmall { needed: 8, got: 7 }
        );
        assert_eq!(
            ReplayBuffer::new([0.0f32; 7], 0, ActionShape::Discrete).unwrap_err(),
            ReplayError::ZeroDim
        );
        assert_eq!(
            ReplayBuffer::new([0.0f32; 70], 2, ActionShape::Continuous(0)).unwrap_err(),
            ReplayError::ZeroDim
        );
        assert!(ReplayBuffer::new([0.0f32; 8], usize::MAX, ActionShape::Discrete).is_err());
        let mut b = ReplayBuffer::new([0.0f32; 16], 2, ActionShape::Discrete).unwrap();
        let (o, n) = ([0.0; 2], [0.0; 2]);
        assert_eq!(
            b.push(&t(&o[..1], Action::Discrete(0), 0.0, &n, false)),
            Err(ReplayError::ObsDim {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            b.push(&t(&o, Action::Discrete(0), 0.0, &[0.0; 3], false)),
            Err(ReplayError::ObsDim {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(
            b.push(&t(&o, Action::Continuous(&[1.0]), 0.0, &n, false)),
            Err(ReplayError::WrongActionKind)
        );
        assert_eq!(
            b.push(&t(&o, Action::Discrete(MAX_EXACT_INDEX), 0.0, &n, false)),
            Err(ReplayError::NotRepresentable)
        );
        let mut zero_h = t(&o, Action::Discrete(0), 0.0, &n, false);
        zero_h.horizon = 0;
        assert_eq!(b.push(&zero_h), Err(ReplayError::NotRepresentable));
        assert!(b.is_empty());
        let mut rng = crate::rng::seeded(0);
        assert_eq!(
            b.sample_uniform(&mut rng, &mut [0; 4]),
            Err(ReplayError::Empty)
        );
        let mut c = ReplayBuffer::new([0.0f32; 16], 1, ActionShape::Continuous(2)).unwrap();
        assert_eq!(
            c.push(&t(&[0.0], Action::Continuous(&[1.0]), 0.0, &[0.0], false)),
            Err(ReplayError::ActionDim {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            c.push(&t(&[0.0], Action::Discrete(1), 0.0, &[0.0], false)),
            Err(ReplayError::WrongActionKind)
        );
    }

    #[test]
    fn uniform_sampling_covers_the_stored_slots_only() {
        let mut b = ReplayBuffer::new([0.0f32; 80], 1, ActionShape::Discrete).unwrap();
        for k in 0..4 {
            b.push(&t(&[k as f32], Action::Discrete(0), 0.0, &[0.0], false))
                .unwrap();
        }
        let mut rng = crate::rng::seeded(3);
        let mut counts = [0u32; 4];
        let mut out = [0usize; 100];
        for _ in 0..40 {
            b.sample_uniform(&mut rng, &mut out).unwrap();
            for &i in &out {
                counts[i] += 1;
            }
        }
        // 4000 draws, 1000 expected each; 5 sigma ≈ 137.
        assert!(
            counts.iter().all(|&c| (860..1140).contains(&c)),
            "{counts:?}"
        );
    }

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
