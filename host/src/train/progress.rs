//! What long work tells the person watching, on stderr: with a terminal, a bar with the rate,
//! the recent return and the latest evaluation; without one (`nohup`, `| tee`, CI logs), a line
//! per evaluation and one every few seconds; nothing with `--quiet`. Training ends with one
//! human summary line (`train::run`). Numbers for people are rounded ([`num`], [`count`]);
//! machine-read output (JSON, `key=value`) keeps every digit.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` steps, with steps per second and a message (the recent return).
pub fn bar(total: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} steps, {per_sec}, {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Seconds between two progress lines without a terminal (`PICORL_PROGRESS_SECONDS` overrides).
pub const LINE_EVERY_SECONDS: f64 = 5.0;

pub use crate::util::fmt::{count, num};

/// How a training reports its progress.
#[derive(Debug)]
pub struct Progress {
    total: u64,
    /// Where this process started (a resumed run's rate counts its own steps only).
    first_step: u64,
    first_train: Duration,
    bar: Option<ProgressBar>,
    lines: Option<(Duration, Instant)>,
    rate: f64,
    recent: f64,
    last_eval: Option<(u64, f64, f64)>,
}

impl Progress {
    /// Progress over `total` steps from `first_step` (more than 0 when resuming), whose training
    /// clock reads `first_train`: a bar on a terminal, lines otherwise, nothing when `quiet`.
    pub fn new(total: u64, first_step: u64, first_train: Duration, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} steps, {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_position(first_step.min(total));
            bar
        });
        let every = std::env::var("PICORL_PROGRESS_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(LINE_EVERY_SECONDS);
        let lines = (!quiet && !terminal).then(|| (Duration::from_secs_f64(every), Instant::now()));
        Self {
            total,
            first_step,
            first_train,
            bar,
            lines,
            rate: f64::NAN,
            recent: f64::NAN,
            last_eval: None,
        }
    }

    /// Steps done so far, the training clock, and the recent training return.
    pub fn update(&mut self, steps: u64, train: Duration, recent_return: f64) {
        let dt = train.saturating_sub(self.first_train).as_secs_f64();
        if dt > 0.0 {
            self.rate = steps.saturating_sub(self.first_step) as f64 / dt;
        }
        self.recent = recent_return;
        if let Some(bar) = &self.bar {
            bar.set_position(steps.min(self.total));
            bar.set_message(self.message());
        }
        if let Some((every, last)) = &mut self.lines {
            if last.elapsed() >= *every {
                *last = Instant::now();
                eprintln!(
                    "step {}/{} ({:.0}%), {}",
                    count(steps.min(self.total)),
                    count(self.total),
                    100.0 * steps.min(self.total) as f64 / self.total.max(1) as f64,
                    self.message()
                );
            }
        }
    }

    /// An evaluation's result: in the bar, or a line of its own.
    pub fn eval(&mut self, step: u64, mean: f64, std: f64, episodes: usize) {
        self.last_eval = Some((step, mean, std));
        if let Some(bar) = &self.bar {
            bar.set_message(self.message());
        }
        if self.lines.is_some() {
            eprintln!(
                "eval at step {}: return {} ± {} ({episodes} episodes)",
                count(step),
                num(mean),
                num(std)
            );
        }
    }

    /// An evaluation from before (a resumed run's last), shown in the bar without a line.
    pub fn remember_eval(&mut self, step: u64, mean: f64, std: f64) {
        self.last_eval = Some((step, mean, std));
    }

    /// Removes the bar (before the summary line).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn message(&self) -> String {
        let mut m = String::new();
        if self.rate.is_finite() {
            m.push_str(&format!("{} steps/s, ", count(self.rate.round() as u64)));
        }
        m.push_str(&format!("return {}", num(self.recent)));
        if let Some((step, mean, std)) = self.last_eval {
            m.push_str(&format!(
                ", eval {} ± {} at {}",
                num(mean),
                num(std),
                count(step)
            ));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_numbers_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_239_628_107), "1,239,628,107");
        assert_eq!(num(14.16642156650719), "14.17");
        assert_eq!(num(f64::NAN), "-");
    }
}
