//! [`ReplayBuffer`]: the ring of transitions, with the record layout ([`stride`],
//! [`buffer_storage_len`]) and uniform sampling.

use rand_core::RngCore;

use super::{ReplayError, MAX_EXACT_INDEX};
use crate::env::Action;
use crate::rng;

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
}
