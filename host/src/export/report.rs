//! What an export costs the policy, measured file against file through core (the firmware's
//! code): the figures `picorl export` prints and `--json` carries, and that
//! `tests/export_quality.rs` asserts.
//!
//! - **Decisive agreement** (discrete heads): the share of the reference's *decisive* states —
//!   top-two gap of its outputs above [`DECISIVE_GAP`] (1%) of the output range — on which the
//!   file picks the reference's action. A near-tie is not a decision the policy cares about, and
//!   int8 resolves it either way.
//! - **Mean gap lost** (discrete heads): where the actions differ, the mean of
//!   `out_ref[a_ref] - out_ref[a_file]`, in output units: what the reference thinks the file's
//!   choice costs.
//! - **Action error p99** (continuous heads): the 99th percentile, over observations and
//!   components, of `|a_file - a_ref|` as a share of the action range `high - low`.
//! - **Output error p99** (int8 files): the 99th percentile of `|out_file - out_ref|` in output
//!   steps (the last layer's int8 scale): whether the file's `outputs` are the reference's.

use anyhow::{anyhow, Result};
use picorl_core::env::Space;

pub use crate::export::calib::percentile;
use crate::export::calib::top_two_gap;
pub use crate::export::calib::DECISIVE_GAP;
use crate::export::picorl_file::PicorlFile;

/// The goals the report warns below (issue "int8 that keeps the policy's decisions").
pub mod goals {
    /// Mean return within this share of the reference's.
    pub const RETURN_SHARE: f64 = 0.02;
    /// Discrete heads: agreement on decisive states at least this.
    pub const DECISIVE_AGREEMENT: f64 = 0.99;
    /// Continuous heads: p99 action error at most this share of the action range.
    pub const ACTION_ERROR_P99: f64 = 0.02;
}

/// File-against-file figures on a set of observations.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Observations compared.
    pub observations: usize,
    /// Share on which the actions agree (discrete: equal; continuous: every component within 1%
    /// of its range).
    pub agreement: f64,
    /// Discrete heads: agreement on decisive states.
    pub decisive_agreement: Option<f64>,
    /// Discrete heads: how many states were decisive.
    pub decisive_states: usize,
    /// Discrete heads: mean reference-output gap lost where the actions differ (0 if none do).
    pub mean_gap_lost: Option<f64>,
    /// The output range the decisive gap is a share of.
    pub output_range: f64,
    /// Continuous heads: p99 of the action error as a share of the action range.
    pub action_error_p99: Option<f64>,
    /// int8 files: p99 of `|out_file - out_ref|` in the file's output steps.
    pub output_error_p99_steps: Option<f64>,
}

/// Compares `file` with `reference` on raw observations `obs` (`obs_dim` each). `output_range`
/// is the calibrated output range (an int8 file's last-layer range); without one, the range of
/// the reference's outputs over `obs`.
pub fn compare(
    reference: &PicorlFile,
    file: &PicorlFile,
    obs: &[f32],
    obs_dim: usize,
    space: &Space,
    output_range: Option<f64>,
) -> Result<Comparison> {
    let mut r = reference.policy()?;
    let mut f = file.policy()?;
    let out_step = file.model().layers().last().and_then(|l| match l.data {
        picorl_core::model::LayerData::Int8 { output, .. } => Some(f64::from(output.scale)),
        picorl_core::model::LayerData::F32(_) => None,
    });
    let mut rows = Vec::new();
    for o in obs.chunks_exact(obs_dim.max(1)) {
        let ar = r.act(o).map_err(|e| anyhow!("reference policy: {e}"))?;
        let af = f.act(o).map_err(|e| anyhow!("exported policy: {e}"))?;
        rows.push((ar, af, r.outputs().to_vec(), f.outputs().to_vec()));
    }
    let n = rows.len();
    let range = output_range.unwrap_or_else(|| {
        let (lo, hi) = rows
            .iter()
            .flat_map(|x| x.2.iter())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        (f64::from(hi) - f64::from(lo)).max(0.0)
    });
    let mut same = 0usize;
    let (mut decisive, mut decisive_same) = (0usize, 0usize);
    let mut lost = Vec::new();
    let mut action_err = Vec::new();
    let mut out_err = Vec::new();
    for (ar, af, or, of) in &rows {
        if let Some(step) = out_step {
            for (a, b) in or.iter().zip(of) {
                out_err.push((f64::from(*a) - f64::from(*b)).abs() / step);
            }
        }
        match (ar.discrete(), af.discrete(), space) {
            (Some(x), Some(y), _) => {
                let agree = x == y;
                same += usize::from(agree);
                if top_two_gap(or) > DECISIVE_GAP * range {
                    decisive += 1;
                    decisive_same += usize::from(agree);
                }
                if !agree {
                    let v = |i: u32| or.get(i as usize).copied().map_or(0.0, f64::from);
                    lost.push(v(x) - v(y));
                }
            }
            (None, None, Space::Box { low, high, .. }) => {
                let (x, y) = (
                    ar.continuous().unwrap_or(&[]),
                    af.continuous().unwrap_or(&[]),
                );
                let mut all = true;
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    let span = f64::from(high[i] - low[i]).max(f64::MIN_POSITIVE);
                    let e = (f64::from(*p) - f64::from(*q)).abs() / span;
                    all &= e <= 0.01;
                    action_err.push(e);
                }
                same += usize::from(all);
            }
            _ => {}
        }
    }
    let discrete = matches!(space, Space::Discrete { .. });
    Ok(Comparison {
        observations: n,
        agreement: same as f64 / n.max(1) as f64,
        decisive_agreement: discrete.then(|| {
            if decisive == 0 {
                1.0
            } else {
                decisive_same as f64 / decisive as f64
            }
        }),
        decisive_states: decisive,
        mean_gap_lost: discrete.then(|| {
            if lost.is_empty() {
                0.0
            } else {
                lost.iter().sum::<f64>() / lost.len() as f64
            }
        }),
        output_range: range,
        action_error_p99: (!discrete).then(|| percentile(&mut action_err, 0.99)),
        output_error_p99_steps: out_step.map(|_| percentile(&mut out_err, 0.99)),
    })
}

/// The warnings for figures below their goals (`return_ref`, `return_file`: mean returns).
pub fn warnings(c: &Comparison, return_ref: f64, return_file: f64) -> Vec<String> {
    let mut w = Vec::new();
    if (return_file - return_ref).abs() > goals::RETURN_SHARE * return_ref.abs() {
        w.push(format!(
            "the exported file's mean return {return_file:?} is more than 2% from the f32 policy's {return_ref:?}"
        ));
    }
    if let Some(d) = c
        .decisive_agreement
        .filter(|&d| d < goals::DECISIVE_AGREEMENT)
    {
        w.push(format!(
            "decisive agreement {d:.4} is below the goal of 0.99 ({} decisive states)",
            c.decisive_states
        ));
    }
    if let Some(p) = c.action_error_p99.filter(|&p| p > goals::ACTION_ERROR_P99) {
        w.push(format!(
            "p99 action error {p:.4} of the action range is above the goal of 0.02"
        ));
    }
    w
}
