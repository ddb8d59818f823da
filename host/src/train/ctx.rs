//! What a training iteration reports to the shared loop: steps, finished episodes, and its
//! metrics, which the loop writes as `metrics.csv`, `timing.csv`, `episodes.csv` and TensorBoard
//! rows.
//!
//! **Metrics through the loop** (as stable-baselines3's `logger.record_mean` / `record` /
//! `dump`): an algorithm hands each value to [`TrainCtx::log_mean`] (a loss, a Q-value: the row
//! shows the mean of every value since the previous row, and a NaN or infinite value stops the
//! run, naming the column and the step) or [`TrainCtx::log_value`] (a counter, a schedule's
//! value: the row shows the last one). The loop writes a row every `log_interval` environment
//! steps (a run option), after the training iteration that crosses it. So a column means the
//! same for every algorithm: its mean over the updates of the interval.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::files::{cell, CsvLog};
use crate::envs::vec_env::VecEnv;

/// What a training iteration reports to the shared loop.
#[derive(Debug)]
pub struct TrainCtx {
    /// Environment steps so far.
    pub steps: u64,
    /// The step budget.
    pub total_steps: u64,
    pub(super) episodes: u64,
    pub(super) recent: VecDeque<(f64, u32)>,
    pub(super) metrics: CsvLog,
    pub(super) timing: CsvLog,
    pub(super) episodes_log: CsvLog,
    pub(super) metric_names: &'static [&'static str],
    /// The algorithm's name, for messages.
    pub(super) algo: &'static str,
    pub(super) tensorboard: crate::train::tensorboard::EventWriter,
    pub(super) tensorboard_tags: Vec<String>,
    /// The step from which the next `metrics.csv` row also goes to TensorBoard: at most about
    /// [`TENSORBOARD_POINTS`] points a run (TensorBoard shows 1,000 a tag; the CSV keeps all).
    pub(super) tensorboard_next: u64,
    pub(super) clock: Duration,
    pub(super) iter_start: Option<Instant>,
    pub(super) steps_at_last_log: u64,
    pub(super) clock_at_last_log: Duration,
    /// A `metrics.csv` row every this many environment steps.
    pub(super) log_interval: u64,
    /// The step at or after which the next row is written.
    pub(super) next_log: u64,
    /// What was logged since the last row.
    pub(super) pending: Pending,
}

/// The values logged since the last `metrics.csv` row, per column (saved in checkpoints, so a
/// resumed run writes the rows an uninterrupted one does).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    sums: Vec<f64>,
    counts: Vec<u32>,
    last: Vec<Option<f64>>,
}

impl Pending {
    /// Nothing logged, for `columns` columns.
    pub fn new(columns: usize) -> Self {
        Self {
            sums: vec![0.0; columns],
            counts: vec![0; columns],
            last: vec![None; columns],
        }
    }

    /// How many columns it holds.
    pub fn columns(&self) -> usize {
        self.sums.len()
    }

    /// The row: each column's mean where means were logged, else its last value, else NaN.
    fn row(&self) -> Vec<f64> {
        (0..self.sums.len())
            .map(|i| match self.counts[i] {
                0 => self.last[i].unwrap_or(f64::NAN),
                n => self.sums[i] / f64::from(n),
            })
            .collect()
    }
}

/// About how many points of each training metric a run writes to TensorBoard.
const TENSORBOARD_POINTS: u64 = 1000;

/// Finished training episodes averaged in `metrics.csv` (SB3 averages its last 100).
const RECENT: usize = 20;

impl TrainCtx {
    /// The fraction of the budget still ahead, 1 → 0 (for linear schedules, as SB3's
    /// `progress_remaining`).
    pub fn progress_remaining(&self) -> f64 {
        1.0 - (self.steps as f64 / self.total_steps.max(1) as f64).min(1.0)
    }

    /// Counts the steps of one [`VecEnv::step`] and records its finished episodes.
    pub fn record(&mut self, envs: &VecEnv) -> Result<()> {
        self.steps += envs.len() as u64;
        for f in envs.finished() {
            self.episode(f.ret, f.len)?;
        }
        Ok(())
    }

    /// Counts one environment step.
    pub fn count_step(&mut self) {
        self.steps += 1;
    }

    /// Records a finished training episode.
    pub fn episode(&mut self, ret: f64, len: u32) -> Result<()> {
        self.episodes += 1;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((ret, len));
        self.episodes_log
            .row(&[self.steps.to_string(), cell(ret), len.to_string()])
    }

    /// Mean return of the recent training episodes (NaN before the first).
    pub fn recent_return(&self) -> f64 {
        self.recent.iter().map(|r| r.0).sum::<f64>() / self.recent.len() as f64
    }

    /// The index of metric `column` (an internal error for a name the algorithm does not list in
    /// [`super::Algorithm::metric_names`]).
    fn column(&self, column: &str) -> Result<usize> {
        match self.metric_names.iter().position(|c| *c == column) {
            Some(i) if i < self.pending.sums.len() => Ok(i),
            _ => bail!(
                "internal: metric `{column}` is not one of {:?}",
                self.metric_names
            ),
        }
    }

    /// Adds `value` to `column`'s mean over the current row's interval. A NaN or infinite value
    /// stops the run: `training diverged: ALGO's COLUMN is VALUE at step N`.
    pub fn log_mean(&mut self, column: &str, value: f64) -> Result<()> {
        let i = self.column(column)?;
        if !value.is_finite() {
            bail!(
                "training diverged: {}'s {column} is {value} at step {}",
                self.algo,
                self.steps
            );
        }
        self.pending.sums[i] += value;
        self.pending.counts[i] += 1;
        Ok(())
    }

    /// Sets `column`'s value for the current row (the last one logged before it is written); a
    /// NaN leaves the cell empty.
    pub fn log_value(&mut self, column: &str, value: f64) -> Result<()> {
        let i = self.column(column)?;
        self.pending.last[i] = value.is_finite().then_some(value);
        Ok(())
    }

    /// Whether the steps have reached the next row: an algorithm that reads its losses from the
    /// device only for rows (TD3, SAC) reads them in the iteration for which this holds.
    pub fn row_due(&self) -> bool {
        self.steps >= self.next_log
    }

    /// Writes the row of the interval that ended, once the steps have reached it (the loop calls
    /// this after every training iteration).
    pub(super) fn dump_if_due(&mut self) -> Result<()> {
        if self.steps < self.next_log {
            return Ok(());
        }
        while self.next_log <= self.steps {
            self.next_log = self.next_log.saturating_add(self.log_interval.max(1));
        }
        let row = self.pending.row();
        self.pending = Pending::new(self.metric_names.len());
        self.write_row(&row)
    }

    /// Writes a `metrics.csv` row: the shared columns, then `values` in the order of
    /// [`super::Algorithm::metric_names`]. The wall clock goes to a `timing.csv` row of its own (step,
    /// train_seconds, steps_per_second), so that `metrics.csv` is a function of the seed alone: the
    /// same seed gives the same file, byte for byte, on the CPU.
    fn write_row(&mut self, values: &[f64]) -> Result<()> {
        if values.len() != self.metric_names.len() {
            bail!(
                "internal: {} metric values for columns {:?}",
                values.len(),
                self.metric_names
            );
        }
        let now = self.train_clock();
        let dt = (now - self.clock_at_last_log).as_secs_f64();
        let sps = if dt > 0.0 {
            (self.steps - self.steps_at_last_log) as f64 / dt
        } else {
            f64::NAN
        };
        self.steps_at_last_log = self.steps;
        self.clock_at_last_log = now;
        let len =
            self.recent.iter().map(|r| f64::from(r.1)).sum::<f64>() / self.recent.len() as f64;
        let mut row = vec![
            self.steps.to_string(),
            self.episodes.to_string(),
            cell(self.recent_return()),
            cell(len),
        ];
        row.extend(values.iter().map(|v| cell(*v)));
        self.metrics.row(&row)?;
        self.timing
            .row(&[self.steps.to_string(), cell(now.as_secs_f64()), cell(sps)])?;
        if self.steps < self.tensorboard_next {
            return Ok(());
        }
        self.tensorboard_next = self.steps + self.total_steps / TENSORBOARD_POINTS;
        let mut numbers = vec![self.episodes as f64, self.recent_return(), len];
        numbers.extend_from_slice(values);
        numbers.push(sps);
        self.tensorboard
            .scalars(self.steps, &self.tensorboard_tags, &numbers)
    }

    pub(super) fn flush(&mut self) -> Result<()> {
        self.metrics.flush()?;
        self.timing.flush()?;
        self.tensorboard.flush()?;
        self.episodes_log.flush()
    }

    pub(super) fn train_clock(&self) -> Duration {
        self.clock + self.iter_start.map(|t| t.elapsed()).unwrap_or_default()
    }
}
