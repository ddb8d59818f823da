//! Choosing the int8 ranges of an export (issue "int8 that keeps the policy's decisions"):
//! a range per input dimension, hidden-layer ranges that ignore rare states when that keeps more
//! decisions, and an output range that covers every calibration state, so that the file's
//! `outputs` stay the f32 outputs, unsaturated.
//!
//! - [`range_normalized`]: the file's observation normalization (one mean and variance per
//!   dimension, the format's own fields) is chosen so that each dimension's calibrated range maps
//!   onto `[-1, 1]`; the inverse affine map is folded into the first layer (the function is
//!   unchanged). The single int8 input scale then gives every dimension its 255 steps. Before, a
//!   standardization gave all dimensions one shared range, which a rare 7.6σ pole angle stretched
//!   until the angular velocity kept ~75 levels.
//! - Ranges are **quantiles**: the `tail` fraction of values below the low end and above the
//!   high end is left outside the range (saturated). `tail = 0` is the plain min/max (TFLite's
//!   converter). [`search_int8`] tries the tails of [`TAILS`] for the input, then for each hidden
//!   layer in turn (greedily, input first), keeping a tail only when the int8 file it gives keeps
//!   more of the f32 policy's decisions on the calibration observations ([`decision_score`]).
//!   The output layer always gets the plain min/max: its values are what `outputs` prints.
//! - **Outputs kept too** (discrete heads): a tail that saturates a hidden layer can keep a few
//!   more decisions while the file's `outputs` drift far from the f32 ones on the states it
//!   saturates (the demo's PPO: a 1% tail on the first layer kept 27 more of ~18,700 decision
//!   points and left the outputs 15.4 steps off at the 99th percentile, against 3.2). When the
//!   greedy choice's outputs are more than [`OUTPUT_STEPS`] steps off (p99, calibration states),
//!   the search takes, among the candidates it tried whose outputs are within that, the best one
//!   whose decision score is below the choice's by at most [`SCORE_SLACK`] of the most a file can
//!   score; if there is none, the greedy choice stands.
//! - Hidden hardtanh layers get their calibrated range intersected with `[-1, 1]` (written as an
//!   identity int8 layer, int8 saturation at a bound of 1 is hardtanh's clamp exactly; a narrower
//!   bound saturates where no calibration value goes).
//!
//! Every candidate is judged by core's own int8 inference of the file it gives, after
//! `export::fit`'s error-compensating weights for its ranges: measured, not modelled.

use anyhow::{anyhow, Result};
use picorl_core::nn::activation::hard_tanh;

use super::Activation;
use crate::export::fit::{fitted, MAX_FIT_SAMPLES};
use crate::export::picorl_file::PicorlFile;
use crate::export::{
    build_model, int8_quant_params, Calibration, HeadExport, ObsNormExport, PolicyExport, Quant,
};

/// "A few output steps": the p99 output error, in the file's output steps, that [`search_int8`]
/// tries to keep on the calibration states (discrete heads).
pub const OUTPUT_STEPS: f64 = 4.0;

/// How much decision score [`search_int8`] gives up for outputs within [`OUTPUT_STEPS`]: this
/// share of the most a file can score (every state agreed, decisive ones twice).
pub const SCORE_SLACK: f64 = 0.002;

/// Tails tried by [`search_int8`], as fractions of the values left out at each end.
pub const TAILS: [f64; 5] = [0.0, 1e-4, 1e-3, 3e-3, 1e-2];

/// The gap below which two outputs of a discrete head are a near-tie: 1% of the calibrated
/// output range. States whose top two f32 outputs differ by more are "decisive".
pub const DECISIVE_GAP: f64 = 0.01;

/// The value of `sorted` (ascending) at quantile `p` in `[0, 1]` (nearest rank below).
fn quantile(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = (p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `(low, high)` of `sorted` with a fraction `tail` of the values left out at each end.
pub fn tail_range(sorted: &[f32], tail: f64) -> (f32, f32) {
    (quantile(sorted, tail), quantile(sorted, 1.0 - tail))
}

/// Observations to calibrate on: at most [`MAX_FIT_SAMPLES`], evenly spaced over those given.
pub fn subsample(obs: &[f32], obs_dim: usize) -> Vec<f32> {
    if obs_dim == 0 {
        return Vec::new();
    }
    let total = obs.len() / obs_dim;
    let stride = total.div_ceil(MAX_FIT_SAMPLES).max(1);
    obs.chunks_exact(obs_dim)
        .step_by(stride)
        .flatten()
        .copied()
        .collect()
}

/// The f32 forward pass of a normalized observation, returning every layer's output *before*
/// its activation (the last layer has none).
pub fn forward_pre(policy: &PolicyExport, x: &[f32]) -> Vec<Vec<f32>> {
    let n = policy.layers.len();
    let mut outs: Vec<Vec<f32>> = Vec::with_capacity(n);
    let mut input = x.to_vec();
    for (k, l) in policy.layers.iter().enumerate() {
        let z: Vec<f32> = (0..l.outputs)
            .map(|o| {
                let row = &l.weights[o * l.inputs..(o + 1) * l.inputs];
                l.bias[o] + row.iter().zip(&input).map(|(w, v)| w * v).sum::<f32>()
            })
            .collect();
        if k + 1 < n {
            input = z.iter().map(|&v| hidden(policy.activation, v)).collect();
        }
        outs.push(z);
    }
    outs
}

/// The hidden activation in f32.
pub fn hidden(a: Activation, z: f32) -> f32 {
    match a {
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Hardtanh => hard_tanh(z),
    }
}

/// Per dimension, the normalized observation values (sorted), under `policy`'s normalization.
fn input_values(policy: &PolicyExport, obs: &[f32], obs_dim: usize) -> Vec<Vec<f32>> {
    let mut cols = vec![Vec::new(); obs_dim];
    for raw in obs.chunks_exact(obs_dim) {
        let mut x = raw.to_vec();
        policy.normalize(&mut x);
        for (c, v) in cols.iter_mut().zip(x) {
            c.push(v);
        }
    }
    for c in &mut cols {
        c.sort_by(f32::total_cmp);
    }
    cols
}

/// `policy` with an observation normalization that maps each dimension's calibrated range (the
/// tail `tail` left out at each end) onto `[-1, 1]`, composed with the policy's own
/// normalization if it has one, and the inverse map folded into the first layer
/// (`W' = W·diag(b)`, `b' = b + W·a` for normalized values `z = a + b·y`). The stored
/// normalization has no clip: beyond `[-1, 1]` the int8 input saturates, which is where the
/// range ends (inside the policy's own clip, whose values the quantiles already saw clipped).
/// A policy without layers is returned unchanged.
pub fn range_normalized(
    policy: &PolicyExport,
    obs: &[f32],
    obs_dim: usize,
    tail: f64,
) -> PolicyExport {
    let Some(first) = policy.layers.first() else {
        return policy.clone();
    };
    if obs_dim == 0 || obs.len() < obs_dim || first.inputs != obs_dim {
        return policy.clone();
    }
    let cols = input_values(policy, obs, obs_dim);
    // The policy's own normalization, as `raw = m + s·z` (z its normalized value).
    let (m, s): (Vec<f64>, Vec<f64>) = match &policy.obs_norm {
        Some(n) => (0..obs_dim)
            .map(|i| {
                (
                    f64::from(n.mean[i]),
                    f64::from(picorl_core::policy::norm_std(n.var[i], n.eps)),
                )
            })
            .unzip(),
        None => (vec![0.0; obs_dim], vec![1.0; obs_dim]),
    };
    let mut a = vec![0.0f64; obs_dim];
    let mut b = vec![1.0f64; obs_dim];
    for i in 0..obs_dim {
        let (lo, hi) = tail_range(&cols[i], tail);
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        a[i] = 0.5 * (lo + hi);
        let half = 0.5 * (hi - lo);
        // A constant feature keeps its scale: only its value is removed.
        b[i] = if half > 1e-9 * (1.0 + a[i].abs()) {
            half
        } else {
            1.0
        };
    }
    let mut out = policy.clone();
    let l0 = &mut out.layers[0];
    for o in 0..l0.outputs {
        let row = &mut l0.weights[o * obs_dim..(o + 1) * obs_dim];
        let shift: f64 = row.iter().zip(&a).map(|(&w, &ai)| f64::from(w) * ai).sum();
        l0.bias[o] = (f64::from(l0.bias[o]) + shift) as f32;
        for (w, bi) in row.iter_mut().zip(&b) {
            *w = (f64::from(*w) * bi) as f32;
        }
    }
    let mean: Vec<f32> = (0..obs_dim).map(|i| (m[i] + s[i] * a[i]) as f32).collect();
    let var: Vec<f32> = (0..obs_dim)
        .map(|i| ((s[i] * b[i]) * (s[i] * b[i])) as f32)
        .collect();
    out.obs_norm = Some(ObsNormExport {
        mean,
        var,
        eps: 0.0,
        clip: f32::INFINITY,
    });
    out
}

/// Every layer's values over the observations, sorted: the pre-activation output of a tanh
/// layer (the int8 file quantizes it before its TANH), the activation's output otherwise.
pub fn layer_values(policy: &PolicyExport, obs: &[f32], obs_dim: usize) -> Vec<Vec<f32>> {
    let n = policy.layers.len();
    let mut vals: Vec<Vec<f32>> = vec![Vec::new(); n];
    for raw in obs.chunks_exact(obs_dim) {
        let mut x = raw.to_vec();
        policy.normalize(&mut x);
        for (k, z) in forward_pre(policy, &x).into_iter().enumerate() {
            let last = k + 1 == n;
            vals[k].extend(z.into_iter().map(|v| match policy.activation {
                _ if last => v,
                Activation::Tanh => v,
                a => hidden(a, v),
            }));
        }
    }
    for v in &mut vals {
        v.sort_by(f32::total_cmp);
    }
    vals
}

/// The calibration of `policy` whose input is `[-1, 1]` (after [`range_normalized`]) and whose
/// layer `k` range leaves out `tails[k]` at each end; hardtanh hidden ranges are intersected with
/// `[-1, 1]`.
pub fn calibration_with_tails(
    policy: &PolicyExport,
    values: &[Vec<f32>],
    tails: &[f64],
    samples: usize,
) -> Calibration {
    let n = policy.layers.len();
    let layers = values
        .iter()
        .zip(tails)
        .enumerate()
        .map(|(k, (v, &t))| {
            let (lo, hi) = tail_range(v, t);
            if policy.activation == Activation::Hardtanh && k + 1 < n {
                (lo.max(-1.0), hi.min(1.0))
            } else {
                (lo, hi)
            }
        })
        .collect();
    Calibration {
        input: (-1.0, 1.0),
        layers,
        samples,
    }
}

/// The f32 policy's decisions on calibration observations, to compare int8 files against.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The raw observations.
    pub obs: Vec<f32>,
    /// Values in one observation.
    pub obs_dim: usize,
    /// Per observation, the f32 head's inputs.
    pub outputs: Vec<Vec<f32>>,
    /// Per observation, whether a discrete decision is decisive (top-two gap above
    /// [`DECISIVE_GAP`] of the output range).
    pub decisive: Vec<bool>,
    /// Per observation, the f32 action (discrete: its index as f32).
    pub actions: Vec<Vec<f32>>,
}

/// Applies `head` to the network outputs `out` (discrete: the argmax index).
pub fn head_action(head: &HeadExport, out: &[f32]) -> Vec<f32> {
    match head {
        HeadExport::Argmax | HeadExport::Tabular { .. } => {
            vec![picorl_core::policy::argmax(out) as f32]
        }
        HeadExport::TanhScale { low, high } => out
            .iter()
            .zip(low.iter().zip(high))
            .map(|(&mu, (&lo, &hi))| lo + (0.5 * (mu.tanh() + 1.0)) * (hi - lo))
            .collect(),
        HeadExport::Clip { low, high } => out
            .iter()
            .zip(low.iter().zip(high))
            .map(|(&mu, (&lo, &hi))| mu.clamp(lo, hi))
            .collect(),
    }
}

/// The top-two gap of `out` (0 for fewer than two values).
pub fn top_two_gap(out: &[f32]) -> f64 {
    let mut best = f32::NEG_INFINITY;
    let mut second = f32::NEG_INFINITY;
    for &v in out {
        if v > best {
            second = best;
            best = v;
        } else if v > second {
            second = v;
        }
    }
    if second.is_finite() {
        f64::from(best) - f64::from(second)
    } else {
        0.0
    }
}

impl Reference {
    /// The f32 `policy`'s outputs and actions on `obs` (raw, `obs_dim` each).
    pub fn new(policy: &PolicyExport, obs: &[f32], obs_dim: usize) -> Self {
        let outputs: Vec<Vec<f32>> = obs
            .chunks_exact(obs_dim)
            .map(|raw| {
                let mut x = raw.to_vec();
                policy.normalize(&mut x);
                policy.forward_all(&x).pop().unwrap_or_default()
            })
            .collect();
        let (lo, hi) = outputs
            .iter()
            .flatten()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let range = f64::from(hi) - f64::from(lo);
        let decisive = outputs
            .iter()
            .map(|o| top_two_gap(o) > DECISIVE_GAP * range)
            .collect();
        let actions = outputs
            .iter()
            .map(|o| head_action(&policy.head, o))
            .collect();
        Self {
            obs: obs.to_vec(),
            obs_dim,
            outputs,
            decisive,
            actions,
        }
    }
}

/// How well an int8 file keeps `reference`'s decisions (higher is better): discrete heads count
/// agreements, decisive ones twice; continuous heads the negative sum of squared action errors as
/// shares of the action range.
pub fn decision_score(file: &PicorlFile, head: &HeadExport, reference: &Reference) -> Result<f64> {
    Ok(judge(file, head, reference)?.score)
}

/// What [`judge`] measured of one candidate file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// [`decision_score`].
    pub score: f64,
    /// The p99 of `|file output - f32 output|` in the file's output steps (0 for an f32 file).
    pub output_steps: f64,
}

/// [`decision_score`] and how far the file's `outputs` are from the reference's.
pub fn judge(file: &PicorlFile, head: &HeadExport, reference: &Reference) -> Result<Judgement> {
    let mut core = file.policy()?;
    let mut score = 0.0f64;
    let step = file.model().layers().last().and_then(|l| match l.data {
        picorl_core::model::LayerData::Int8 { output, .. } => Some(f64::from(output.scale)),
        picorl_core::model::LayerData::F32(_) => None,
    });
    let mut out_err = Vec::new();
    for (((raw, want), &decisive), want_out) in reference
        .obs
        .chunks_exact(reference.obs_dim)
        .zip(&reference.actions)
        .zip(&reference.decisive)
        .zip(&reference.outputs)
    {
        let a = core.act(raw).map_err(|e| anyhow!("policy: {e}"))?;
        if let Some(step) = step {
            for (&y, &r) in core.outputs().iter().zip(want_out) {
                out_err.push((f64::from(y) - f64::from(r)).abs() / step);
            }
        }
        match (head, a.continuous()) {
            (HeadExport::Clip { low, high } | HeadExport::TanhScale { low, high }, Some(v)) => {
                for (i, (&x, &y)) in v.iter().zip(want).enumerate() {
                    let r = f64::from(high[i] - low[i]).max(1e-12);
                    score -= ((f64::from(x) - f64::from(y)) / r).powi(2);
                }
            }
            _ => {
                let same = a.discrete().map(|d| d as f32) == want.first().copied();
                score += f64::from(u8::from(same)) * if decisive { 2.0 } else { 1.0 };
            }
        }
    }
    Ok(Judgement {
        score,
        output_steps: percentile(&mut out_err, 0.99),
    })
}

/// What [`search_int8`] chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Choice {
    /// The tail left out of each input dimension's range.
    pub input_tail: f64,
    /// The tail left out of each layer's range (the last is always 0).
    pub layer_tails: Vec<f64>,
    /// The chosen file's [`decision_score`] on the calibration observations.
    pub score: f64,
}

/// The int8 export of `policy` (function-preserving folds already applied by the caller, except
/// the input ranges) calibrated on `obs`: the input normalization and hidden ranges chosen by
/// the greedy search described in the module documentation, the weights fitted by
/// `export::fit::fitted`. `reference` is the original f32 policy, whose decisions are kept.
/// Returns the policy to write, its calibration and the choice.
pub fn search_int8(
    reference_policy: &PolicyExport,
    policy: &PolicyExport,
    obs: &[f32],
    obs_dim: usize,
) -> Result<(PolicyExport, Calibration, Int8Choice)> {
    let obs = subsample(obs, obs_dim);
    let samples = obs.len() / obs_dim.max(1);
    let reference = Reference::new(reference_policy, &obs, obs_dim);
    let n = policy.layers.len();
    let build =
        |input_tail: f64, tails: &[f64]| -> Result<(PolicyExport, Calibration, Judgement)> {
            let p = range_normalized(policy, &obs, obs_dim, input_tail);
            let values = layer_values(&p, &obs, obs_dim);
            let c = calibration_with_tails(&p, &values, tails, samples);
            let (input, outputs) = int8_quant_params(&p, &c)?;
            let fit = fitted(&p, &obs, obs_dim, input, &outputs)?;
            let bytes = build_model(&fit, obs_dim, Quant::Int8, Some(&c))?;
            let file = PicorlFile::from_bytes(bytes)?;
            let j = judge(&file, &policy.head, &reference)?;
            Ok((fit, c, j))
        };
    // Every candidate tried: (input tail, layer tails, judgement).
    let mut tried: Vec<(f64, Vec<f64>, Judgement)> = Vec::new();
    let mut tails = vec![0.0; n];
    let mut input_tail = 0.0;
    let mut best = build(input_tail, &tails)?;
    tried.push((input_tail, tails.clone(), best.2));
    for &t in &TAILS[1..] {
        let cand = build(t, &tails)?;
        tried.push((t, tails.clone(), cand.2));
        if cand.2.score > best.2.score {
            best = cand;
            input_tail = t;
        }
    }
    for k in 0..n.saturating_sub(1) {
        for &t in &TAILS[1..] {
            let mut ts = tails.clone();
            ts[k] = t;
            let cand = build(input_tail, &ts)?;
            tried.push((input_tail, ts.clone(), cand.2));
            if cand.2.score > best.2.score {
                best = cand;
                tails = ts;
            }
        }
    }
    // Outputs kept too (module documentation), for discrete heads.
    if matches!(policy.head, HeadExport::Argmax) && best.2.output_steps > OUTPUT_STEPS {
        let max_score = (samples + reference.decisive.iter().filter(|&&d| d).count()) as f64;
        let floor = best.2.score - SCORE_SLACK * max_score;
        let alt = tried
            .iter()
            .filter(|(_, _, j)| j.output_steps <= OUTPUT_STEPS && j.score >= floor)
            .max_by(|a, b| a.2.score.total_cmp(&b.2.score));
        if let Some((it, ts, _)) = alt {
            input_tail = *it;
            tails = ts.clone();
            best = build(input_tail, &tails)?;
        }
    }
    let (fit, calib, j) = best;
    Ok((
        fit,
        calib,
        Int8Choice {
            input_tail,
            layer_tails: tails,
            score: j.score,
        },
    ))
}

/// The `q`-quantile (nearest rank) of `v`, sorted in place; 0 for none.
pub fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}
