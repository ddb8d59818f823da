//! Policies: a checked [`Model`] plus the scratch memory to run it, turning observations into
//! actions the same way on the desktop and on the controller.
//!
//! ```text
//! obs ─► checks ─► normalization ─► [int8: quantize] ─► layers ─► [int8: dequantize] ─► head ─► action
//!                  (obs - mean) / sqrt(var + eps),             outputs() = the head's inputs
//!                  clipped to ±clip                            (logits, Q-values or means)
//! ```
//!
//! Contract:
//! - **Fixed capacity.** `Policy<'a, W, L = 8>` owns its scratch buffers (`4 W` f32) and the views
//!   of up to `L` layers, resolved once by [`Policy::new`]; a model whose widest layer or
//!   observation needs more than `W` (rounded up to 4), or that has more than `L` layers, is refused
//!   there, never truncated.
//! - **Documented bad input.** A wrong observation length is [`PolicyError::ObsLength`]. A NaN or
//!   infinite observation value is [`PolicyError::NonFiniteObs`] (it is not silently clipped: a
//!   sensor fault should be seen). A tabular state that is not an integer in `0..n_states` is
//!   [`PolicyError::InvalidState`]. If an f32 network overflows to inf/NaN, [`Policy::act`] returns
//!   [`PolicyError::NonFiniteOutput`] (the int8 path cannot overflow).
//! - **Bounded time.** Past the checks, every observation costs the same work: no data-dependent
//!   loop or early exit.
//! - **Heads.** Discrete: argmax over the outputs, the **lowest index wins a tie**. Continuous,
//!   tanh: `low + (0.5 * (tanh(mean) + 1)) * (high - low)` (SB3's squashing); clip:
//!   `clamp(mean, low, high)`. Tabular: the stored greedy action, or the argmax of the state's
//!   Q-values (same tie rule). In int8 models, the tanh head is applied in f32 to the dequantized
//!   output; int8 tanh and sigmoid hidden layers use TFLM's int8 TANH and LOGISTIC (by table).
//! - **Only the code a model needs.** `Policy<'a, W, L, K>`'s `K` is a set of [`kinds`] (default:
//!   all). Firmware that knows its model when it is built names that model's [`kinds::of`], and the
//!   code for the other kinds (f32 or int8 layers, tables, continuous heads) is left out of the
//!   image; [`Policy::new`] refuses a model outside `K` ([`PolicyError::KindLeftOut`]).
//! - **Normalization** is SB3 `VecNormalize`'s, computed in f32 by [`normalize`] with
//!   [`norm_std`]; host code that feeds normalized observations to a network must call these two
//!   functions so training and deployment agree bit for bit.

use crate::env::Action;
use crate::model::{self, HeadKind, LayerData, LayerView, Model, Table};
use crate::nn::QuantParams;
use crate::nn::{padded_depth, padded_rows, quant};
use core::fmt;

/// Most components of a continuous action a policy returns.
pub const MAX_ACTION_DIM: usize = crate::model::limits::MAX_CONTINUOUS_ACTION_DIM;

/// The action a policy chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActionOut {
    /// A discrete action index.
    Discrete(u32),
    /// A continuous action: the first `dim` of `values`.
    Continuous {
        /// The components (only the first `dim` are meaningful; the rest are 0).
        values: [f32; MAX_ACTION_DIM],
        /// Components.
        dim: usize,
    },
}

impl ActionOut {
    /// The action as [`crate::env::Env::step`] takes it.
    pub fn as_action(&self) -> Action<'_> {
        match self {
            ActionOut::Discrete(a) => Action::Discrete(*a),
            ActionOut::Continuous { values, dim } => {
                Action::Continuous(values.get(..*dim).unwrap_or(&[]))
            }
        }
    }

    /// The index of a discrete action.
    pub fn discrete(&self) -> Option<u32> {
        match self {
            ActionOut::Discrete(a) => Some(*a),
            ActionOut::Continuous { .. } => None,
        }
    }

    /// The components of a continuous action.
    pub fn continuous(&self) -> Option<&[f32]> {
        match self {
            ActionOut::Discrete(_) => None,
            ActionOut::Continuous { values, dim } => values.get(..*dim),
        }
    }
}

impl<'a> From<&'a ActionOut> for Action<'a> {
    fn from(a: &'a ActionOut) -> Self {
        a.as_action()
    }
}

/// Why a policy refused to act, or to be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    /// The observation has the wrong number of values.
    ObsLength {
        /// Values expected.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// An observation value is NaN or infinite.
    NonFiniteObs {
        /// The index of the first such value.
        index: usize,
    },
    /// A tabular model's observation is not an integer state in `0..n_states`.
    InvalidState {
        /// The number of states.
        n_states: usize,
    },
    /// The f32 network produced NaN or infinity (overflowing weights).
    NonFiniteOutput {
        /// The index of the first such output.
        index: usize,
    },
    /// The model is of a kind (or has a head) outside the policy's `K` (see [`kinds`]).
    KindLeftOut {
        /// The model's [`kinds::of`].
        needed: u32,
        /// The policy's `K`.
        compiled: u32,
    },
    /// The model needs more scratch than the policy's capacity `W`.
    Capacity {
        /// Width needed (a layer's padded width, or the observation's, or action components).
        needed: usize,
        /// The capacity.
        capacity: usize,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PolicyError::ObsLength { expected, got } => {
                write!(
                    f,
                    "observation has {got} values, the model takes {expected}"
                )
            }
            PolicyError::NonFiniteObs { index } => {
                write!(f, "observation value {index} is NaN or infinite")
            }
            PolicyError::InvalidState { n_states } => {
                write!(f, "observation is not an integer state in 0..{n_states}")
            }
            PolicyError::NonFiniteOutput { index } => {
                write!(f, "network output {index} is NaN or infinite")
            }
            PolicyError::KindLeftOut { needed, compiled } => {
                write!(
                    f,
                    "model needs kinds {needed:#x}, the policy was built for {compiled:#x}"
                )
            }
            PolicyError::Capacity { needed, capacity } => {
                write!(
                    f,
                    "model needs width {needed}, the policy's capacity is {capacity}"
                )
            }
        }
    }
}

impl core::error::Error for PolicyError {}

/// The kinds of model a [`Policy`] runs, as bits of its `K` parameter.
pub mod kinds {
    use crate::model::{HeadKind, Model, ModelKind};

    /// MLPs in f32.
    pub const MLP_F32: u32 = 1;
    /// MLPs in int8.
    pub const MLP_INT8: u32 = 2;
    /// Tables (greedy actions or Q-values).
    pub const TABLE: u32 = 4;
    /// Continuous heads (tanh-squash and clip); discrete heads are always compiled.
    pub const CONTINUOUS: u32 = 8;
    /// Every kind: `Policy`'s default.
    pub const ALL: u32 = MLP_F32 | MLP_INT8 | TABLE | CONTINUOUS;

    /// The kinds `model` needs.
    pub fn of(model: &Model<'_>) -> u32 {
        let body = match model.kind() {
            ModelKind::MlpF32 => MLP_F32,
            ModelKind::MlpInt8 => MLP_INT8,
            ModelKind::GreedyTable | ModelKind::QTable => TABLE,
        };
        match model.head() {
            HeadKind::Discrete => body,
            HeadKind::ContinuousTanh | HeadKind::ContinuousClip => body | CONTINUOUS,
        }
    }
}

/// `sqrt(var + eps)` in f32, the divisor of [`normalize`].
pub fn norm_std(var: f32, eps: f32) -> f32 {
    libm::sqrtf(var + eps)
}

/// One normalized observation value: `clamp((x - mean) / std, -clip, clip)` in f32, with `std`
/// from [`norm_std`].
#[inline]
pub fn normalize(x: f32, mean: f32, std: f32, clip: f32) -> f32 {
    let v = (x - mean) / std;
    if v > clip {
        clip
    } else if v < -clip {
        -clip
    } else {
        v
    }
}

/// The index of the largest value, the lowest index on a tie (0 for an empty slice; NaN never
/// wins).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in values.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best
}

/// A model ready to act: the model's views resolved once at construction, scratch for layers up
/// to `W` wide, room for up to `L` layers, and code for the [`kinds`] of model in `K` (all by
/// default; a constant, so the code for the others is not compiled in).
///
/// Memory: `4 * W` f32 of scratch plus `L` layer views; `Policy<'a, 64>` is about 1.6 KiB.
#[derive(Debug, Clone)]
pub struct Policy<'a, const W: usize, const L: usize = 8, const K: u32 = { kinds::ALL }> {
    model: Model<'a>,
    layers: [Option<LayerView<'a>>; L],
    n_layers: usize,
    head: HeadKind,
    obs_dim: usize,
    action_dim: usize,
    input_q: Option<QuantParams>,
    output_q: Option<QuantParams>,
    norm_mean: &'a [f32],
    norm_clip: f32,
    low: &'a [f32],
    high: &'a [f32],
    table: Option<Table<'a>>,
    bufs: [[f32; W]; 2],
    outputs: [f32; W],
    norm_std: [f32; W],
    n_outputs: usize,
    state: usize,
}

impl<'a, const W: usize, const L: usize, const K: u32> Policy<'a, W, L, K> {
    /// A policy for `model`, if it fits the capacities: widths up to `W` (a positive multiple of 4),
    /// up to `L` layers, and a kind in `K`.
    pub fn new(model: Model<'a>) -> Result<Self, PolicyError> {
        const {
            assert!(
                W > 0 && W.is_multiple_of(4),
                "the capacity W must be a positive multiple of 4"
            )
        };
        let needed = kinds::of(&model);
        if needed & !K != 0 {
            return Err(PolicyError::KindLeftOut {
                needed,
                compiled: K,
            });
        }
        let need = |needed: usize, capacity: usize| {
            if needed <= capacity {
                Ok(())
            } else {
                Err(PolicyError::Capacity { needed, capacity })
            }
        };
        let bytes = model.bytes();
        let table = model::table_of(bytes);
        let mut layers = [None; L];
        let mut output_q = None;
        if table.is_none() {
            need(padded_depth(model.obs_dim()), W)?;
            need(model.n_layers(), L)?;
            for (slot, l) in layers.iter_mut().zip(model::layers_of(bytes)) {
                need(padded_depth(l.in_dim), W)?;
                need(padded_rows(l.out_dim), W)?;
                output_q = match l.data {
                    LayerData::Int8 { output, .. } => Some(output),
                    LayerData::F32(_) => None,
                };
                *slot = Some(l);
            }
        }
        if model.head() != HeadKind::Discrete {
            need(model.action_dim(), MAX_ACTION_DIM)?;
        }
        let mut stds = [1.0f32; W];
        let norm = model::normalization_of(bytes);
        if let Some(n) = norm {
            for (s, &v) in stds.iter_mut().zip(n.var) {
                *s = norm_std(v, n.epsilon);
            }
        }
        let (low, high) = model::action_bounds_of(bytes).unwrap_or((&[], &[]));
        Ok(Self {
            model,
            layers,
            n_layers: if table.is_none() {
                model.n_layers().min(L)
            } else {
                0
            },
            head: model.head(),
            obs_dim: model.obs_dim(),
            action_dim: model.action_dim(),
            input_q: model.input_quant(),
            output_q,
            norm_mean: norm.map(|n| n.mean).unwrap_or(&[]),
            norm_clip: norm.map(|n| n.clip).unwrap_or(f32::INFINITY),
            low,
            high,
            table,
            bufs: [[0.0; W]; 2],
            outputs: [0.0; W],
            norm_std: stds,
            n_outputs: 0,
            state: 0,
        })
    }

    /// The model.
    pub fn model(&self) -> &Model<'a> {
        &self.model
    }

    /// The head's inputs of the last [`Self::act`], as f32: logits or Q-values (discrete), means
    /// before squashing or clipping (continuous), dequantized for int8 models, the state's Q-values
    /// for a Q-table; empty for a greedy table and before the first `act`.
    pub fn outputs(&self) -> &[f32] {
        match self.table {
            Some(Table::Greedy(_)) => &[],
            Some(Table::Q { q, n_actions }) => {
                if self.n_outputs == 0 {
                    return &[];
                }
                let start = self.state.saturating_mul(n_actions);
                q.get(start..start.saturating_add(n_actions)).unwrap_or(&[])
            }
            None => self.outputs.get(..self.n_outputs).unwrap_or(&[]),
        }
    }

    /// Chooses the action for `obs`; see the module documentation for the errors.
    pub fn act(&mut self, obs: &[f32]) -> Result<ActionOut, PolicyError> {
        let expected = self.obs_dim;
        if obs.len() != expected {
            return Err(PolicyError::ObsLength {
                expected,
                got: obs.len(),
            });
        }
        if let Some(index) = obs.iter().position(|v| !v.is_finite()) {
            return Err(PolicyError::NonFiniteObs { index });
        }
        // `new` refused kinds outside `K`, so the `KindLeftOut` arms are never taken; with `K` a
        // constant they only let the compiler drop the code of the kinds left out.
        match self.table {
            Some(table) if K & kinds::TABLE != 0 => self.act_tabular(obs, table),
            Some(_) => Err(self.left_out()),
            None => self.act_mlp(obs),
        }
    }

    fn left_out(&self) -> PolicyError {
        PolicyError::KindLeftOut {
            needed: kinds::of(&self.model),
            compiled: K,
        }
    }

    fn act_tabular(&mut self, obs: &[f32], table: Table<'_>) -> Result<ActionOut, PolicyError> {
        let n_states = self.model.n_states();
        let s = obs.first().copied().unwrap_or(-1.0);
        let integral = libm::truncf(s) == s;
        if s.is_nan() || s < 0.0 || s >= n_states as f32 || !integral {
            return Err(PolicyError::InvalidState { n_states });
        }
        let s = s as usize;
        self.state = s;
        self.n_outputs = 1;
        let a = match table {
            Table::Greedy(actions) => actions.get(s).copied().unwrap_or(0),
            Table::Q { q, n_actions } => {
                let row = q.get(s * n_actions..(s + 1) * n_actions).unwrap_or(&[]);
                argmax(row) as u32
            }
        };
        Ok(ActionOut::Discrete(a))
    }

    fn act_mlp(&mut self, obs: &[f32]) -> Result<ActionOut, PolicyError> {
        let [a, b] = &mut self.bufs;
        let (mean, std, clip) = (self.norm_mean, &self.norm_std, self.norm_clip);
        let norm = |i: usize, x: f32| match (mean.get(i), std.get(i)) {
            (Some(&mu), Some(&sd)) => normalize(x, mu, sd, clip),
            _ => x,
        };
        let n = self.action_dim.min(W);
        let outputs = &mut self.outputs[..n];
        // Capacities were checked in `new`, so the layers cannot refuse the buffers: their
        // `Result`s are ignored.
        match self.input_q {
            None if K & kinds::MLP_F32 == 0 => return Err(self.left_out()),
            Some(_) if K & kinds::MLP_INT8 == 0 => return Err(self.left_out()),
            None => {
                // f32: normalize into `a`, then ping-pong between the two buffers.
                let (mut cur, mut next) = (&mut a[..], &mut b[..]);
                for (i, (o, &x)) in cur.iter_mut().zip(obs).enumerate() {
                    *o = norm(i, x);
                }
                for slot in self.layers.get(..self.n_layers).unwrap_or(&[]) {
                    if let Some(LayerView {
                        data: LayerData::F32(d),
                        ..
                    }) = slot
                    {
                        let _ = d.forward(cur, next);
                    }
                    core::mem::swap(&mut cur, &mut next);
                }
                outputs.copy_from_slice(&cur[..n]);
            }
            Some(q) => {
                // int8: quantize into the i16 view of `a` (zero padding), run, dequantize.
                let mut cur: &mut [i16] = bytemuck::cast_slice_mut(&mut a[..]);
                let mut next: &mut [i16] = bytemuck::cast_slice_mut(&mut b[..]);
                let depth = padded_depth(obs.len()).min(cur.len());
                let (xs, pad) = cur[..depth].split_at_mut(obs.len().min(depth));
                for (i, (o, &x)) in xs.iter_mut().zip(obs).enumerate() {
                    *o = quant::quantize_f32(norm(i, x), q) as i16;
                }
                pad.fill(0);
                for slot in self.layers.get(..self.n_layers).unwrap_or(&[]) {
                    if let Some(LayerView {
                        data:
                            LayerData::Int8 {
                                dense, act_table, ..
                            },
                        out_dim,
                        ..
                    }) = slot
                    {
                        let _ = dense.forward(cur, next);
                        // TFLM's TANH / LOGISTIC: one table load per output (the table has 256
                        // entries and every output is in -128..=127, so the index is in range).
                        if let [_, ..] = act_table {
                            for y in next.iter_mut().take(*out_dim) {
                                *y = act_table
                                    .get((*y as i32 + 128) as usize)
                                    .copied()
                                    .unwrap_or(0) as i16;
                            }
                        }
                    }
                    core::mem::swap(&mut cur, &mut next);
                }
                let oq = self.output_q.unwrap_or(q);
                for (o, &y) in outputs.iter_mut().zip(cur.iter()) {
                    *o = quant::dequantize_i8(y as i32, oq);
                }
            }
        }
        self.n_outputs = n;
        if let Some(index) = outputs.iter().position(|v| !v.is_finite()) {
            return Err(PolicyError::NonFiniteOutput { index });
        }
        Ok(match self.head {
            HeadKind::Discrete => ActionOut::Discrete(argmax(outputs) as u32),
            _ if K & kinds::CONTINUOUS == 0 => return Err(self.left_out()),
            head => {
                let mut values = [0.0f32; MAX_ACTION_DIM];
                for (((v, &mu), &lo), &hi) in values
                    .iter_mut()
                    .zip(outputs.iter())
                    .zip(self.low)
                    .zip(self.high)
                {
                    *v = if head == HeadKind::ContinuousTanh {
                        lo + (0.5 * (libm::tanhf(mu) + 1.0)) * (hi - lo)
                    } else if mu < lo {
                        lo
                    } else if mu > hi {
                        hi
                    } else {
                        mu
                    };
                }
                ActionOut::Continuous {
                    values,
                    dim: n.min(MAX_ACTION_DIM),
                }
            }
        })
    }
}
