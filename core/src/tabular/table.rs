//! The Q-table: [`QTable<S, A>`], fixed-size storage that can live in a `static`, and [`QView`],
//! the checked view over any flat `f32` buffer that every algorithm is written on.

use super::TabularError;

/// A Q-table of `S` states and `A` actions, `[[f32; A]; S]`, that can live in a `static`.
#[derive(Debug, Clone, PartialEq)]
pub struct QTable<const S: usize, const A: usize> {
    q: [[f32; A]; S],
}

impl<const S: usize, const A: usize> Default for QTable<S, A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const S: usize, const A: usize> QTable<S, A> {
    /// A table of zeros (the seed's `np.zeros((S, A))`).
    pub const fn new() -> Self {
        Self::filled(0.0)
    }

    /// A table with every entry `value` (optimistic initialisation).
    pub const fn filled(value: f32) -> Self {
        const { assert!(S > 0 && A > 0, "a Q-table needs states and actions") };
        const { assert!(S <= u32::MAX as usize && A <= u32::MAX as usize) };
        Self { q: [[value; A]; S] }
    }

    /// The rows, one per state.
    pub const fn rows(&self) -> &[[f32; A]; S] {
        &self.q
    }

    /// The table as a read-only view.
    pub fn view(&self) -> QView<&[f32]> {
        QView {
            data: self.q.as_flattened(),
            n_actions: A,
        }
    }

    /// The table as a view that learns.
    pub fn view_mut(&mut self) -> QView<&mut [f32]> {
        QView {
            data: self.q.as_flattened_mut(),
            n_actions: A,
        }
    }
}

/// A Q-table as a checked view over a flat row-major buffer (`n_states * n_actions` values,
/// state-major), the type the algorithms take: it holds a `&[f32]`, a `&mut [f32]`, a host's
/// `Vec<f32>`, whatever is `AsRef<[f32]>`. Built by [`QView::new`], which checks the shape once.
#[derive(Debug, Clone, PartialEq)]
pub struct QView<T> {
    data: T,
    n_actions: usize,
}

impl<T: AsRef<[f32]>> QView<T> {
    /// A view of `data` as rows of `n_actions`; an error unless `data` is non-empty and a whole
    /// number of rows, and the sizes fit a `u32`.
    pub fn new(data: T, n_actions: usize) -> Result<Self, TabularError> {
        let len = data.as_ref().len();
        if n_actions == 0
            || len == 0
            || len % n_actions != 0
            || len / n_actions > u32::MAX as usize
            || n_actions > u32::MAX as usize
        {
            return Err(TabularError::TableShape { len, n_actions });
        }
        Ok(Self { data, n_actions })
    }

    /// Number of states.
    pub fn n_states(&self) -> u32 {
        (self.data.as_ref().len() / self.n_actions) as u32
    }

    /// Number of actions.
    pub fn n_actions(&self) -> u32 {
        self.n_actions as u32
    }

    /// Every value, row-major.
    pub fn values(&self) -> &[f32] {
        self.data.as_ref()
    }

    /// FNV-1a (32-bit) over the little-endian bytes of every value's bits, row-major: equal
    /// tables, bit for bit, have equal checksums. The firmware's learning mode prints it, to be
    /// checked against the desktop's.
    pub fn checksum(&self) -> u32 {
        self.values()
            .iter()
            .flat_map(|v| v.to_bits().to_le_bytes())
            .fold(0x811c_9dc5, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            })
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.data
    }

    fn span(&self, state: u32) -> Result<core::ops::Range<usize>, TabularError> {
        if state >= self.n_states() {
            return Err(TabularError::StateOutOfRange {
                state,
                n_states: self.n_states(),
            });
        }
        let start = state as usize * self.n_actions;
        Ok(start..start + self.n_actions)
    }

    fn check_action(&self, action: u32) -> Result<(), TabularError> {
        if action < self.n_actions() {
            Ok(())
        } else {
            Err(TabularError::ActionOutOfRange {
                action,
                n_actions: self.n_actions(),
            })
        }
    }

    /// The action values of `state`.
    pub fn row(&self, state: u32) -> Result<&[f32], TabularError> {
        let span = self.span(state)?;
        Ok(self.data.as_ref().get(span).unwrap_or(&[]))
    }

    /// `Q(state, action)`.
    pub fn get(&self, state: u32, action: u32) -> Result<f32, TabularError> {
        self.check_action(action)?;
        let row = self.row(state)?;
        Ok(row.get(action as usize).copied().unwrap_or(0.0))
    }

    /// The greedy action of `state`: the lowest index among the largest values (numpy's
    /// `argmax`). NaN entries are never chosen unless the whole row is NaN (then 0).
    pub fn greedy(&self, state: u32) -> Result<u32, TabularError> {
        Ok(first_max(self.row(state)?).0)
    }

    /// `max_a Q(state, a)`.
    pub fn max(&self, state: u32) -> Result<f32, TabularError> {
        Ok(first_max(self.row(state)?).1)
    }

    /// The greedy action of every state into `out` (length [`QView::n_states`]).
    pub fn greedy_policy(&self, out: &mut [u32]) -> Result<(), TabularError> {
        let n = self.n_states() as usize;
        if out.len() != n {
            return Err(TabularError::BufferSize {
                expected: n,
                got: out.len(),
            });
        }
        for (row, a) in self.data.as_ref().chunks_exact(self.n_actions).zip(out) {
            *a = first_max(row).0;
        }
        Ok(())
    }
}

impl<T: AsRef<[f32]> + AsMut<[f32]>> QView<T> {
    /// Every value, row-major, to write (a checkpoint being loaded).
    pub fn values_mut(&mut self) -> &mut [f32] {
        self.data.as_mut()
    }

    /// The action values of `state`, to write.
    pub fn row_mut(&mut self, state: u32) -> Result<&mut [f32], TabularError> {
        let span = self.span(state)?;
        Ok(self.data.as_mut().get_mut(span).unwrap_or(&mut []))
    }

    /// Sets `Q(state, action)`.
    pub fn set(&mut self, state: u32, action: u32, value: f32) -> Result<(), TabularError> {
        self.check_action(action)?;
        if let Some(q) = self.row_mut(state)?.get_mut(action as usize) {
            *q = value;
        }
        Ok(())
    }
}

/// The first index of the largest value, and the value (`(0, NaN)` for an all-NaN row, `(0, 0)`
/// for an empty one).
pub(super) fn first_max(row: &[f32]) -> (u32, f32) {
    let mut best = (0u32, row.first().copied().unwrap_or(0.0));
    for (i, &v) in row.iter().enumerate().skip(1) {
        if v > best.1 || (best.1.is_nan() && !v.is_nan()) {
            best = (i as u32, v);
        }
    }
    best
}
