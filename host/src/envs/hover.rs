//! `Quadrotor-v0`'s success figure: the share of evaluation episodes that hover.
//!
//! An episode *hovers* when it runs to the time limit (500 steps, 5 s) without terminating, and
//! the vehicle is within [`RADIUS`] of the target after each of its last [`HOLD_STEPS`] steps
//! (the last second at L2F's 100 Hz). The return alone does not say this: L2F's reward charges
//! angular acceleration and yaw, so a policy that holds the point while its motors chatter can
//! score below one that drifts smoothly; and a return cannot tell a hover 0.3 m off the target
//! from one on it. The radius is the issue's ("within 0.1 m of the target for their last
//! second"), a little more than the Crazyflie's 92 mm motor-to-motor span.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use picorl_core::env::{Env, Quadrotor};

/// Distance to the target that counts as holding it, m.
pub const RADIUS: f32 = 0.1;

/// Steps at the end of an episode that must all be within [`RADIUS`]: one second at 100 Hz.
pub const HOLD_STEPS: u32 = 100;

/// Judges one environment's episodes; [`Judge::for_env`] gives one for `Quadrotor-v0` only.
#[derive(Debug, Clone, Default)]
pub struct Judge {
    /// Consecutive steps, up to the latest, that ended within [`RADIUS`].
    streak: u32,
    /// Each finished episode's verdict.
    pub hovered: Vec<bool>,
}

impl Judge {
    /// A judge for `env_id`, or `None` when the figure does not apply to it.
    pub fn for_env(env_id: &str) -> Option<Self> {
        (env_id == Quadrotor::new().spec().id).then(Self::default)
    }

    /// Starts an episode.
    pub fn reset(&mut self) {
        self.streak = 0;
    }

    /// Records the observation after a step (its first three values are the position error).
    pub fn observe(&mut self, obs: &[f32]) {
        let d2: f32 = obs.iter().take(3).map(|x| x * x).sum();
        self.streak = if d2 <= RADIUS * RADIUS {
            self.streak + 1
        } else {
            0
        };
    }

    /// Ends an episode: it hovered if it was truncated (not terminated) holding the target.
    pub fn finish(&mut self, terminated: bool) {
        self.hovered.push(!terminated && self.streak >= HOLD_STEPS);
    }

    /// The share of episodes that hovered (NaN for none).
    pub fn success(&self) -> f64 {
        share(&self.hovered)
    }
}

/// Appends a training evaluation's success to `DIR/hover.csv` (`step,train_seconds,hover_success,
/// episodes`, a header first), so that time-to-hover is read from the run: the training seconds
/// of the first row at the success wanted. Nothing for an environment without the figure.
pub fn log_eval(dir: &Path, step: u64, train_seconds: f64, hovered: Option<&[bool]>) -> Result<()> {
    let Some(h) = hovered else {
        return Ok(());
    };
    let path = dir.join("hover.csv");
    let fresh = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    if fresh {
        writeln!(f, "step,train_seconds,hover_success,episodes")?;
    }
    writeln!(f, "{step},{train_seconds:?},{:?},{}", share(h), h.len())
        .with_context(|| format!("writing {}", path.display()))
}

/// The share of `true` in `verdicts` (NaN when empty).
pub fn share(verdicts: &[bool]) -> f64 {
    verdicts.iter().filter(|h| **h).count() as f64 / verdicts.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_last_second_or_fails() {
        let mut j = Judge::for_env("Quadrotor-v0").unwrap();
        assert!(Judge::for_env("CartPole-v1").is_none());
        let near = [0.05f32, -0.05, 0.05, 9.0];
        let far = [0.08f32, 0.0, 0.07, 0.0];
        // 400 steps away, then 100 near: hovers.
        j.reset();
        (0..400).for_each(|_| j.observe(&far));
        (0..100).for_each(|_| j.observe(&near));
        j.finish(false);
        // One step away at the very end: fails.
        j.reset();
        (0..499).for_each(|_| j.observe(&near));
        j.observe(&far);
        j.finish(false);
        // Near throughout but terminated: fails.
        j.reset();
        (0..500).for_each(|_| j.observe(&near));
        j.finish(true);
        // 99 steps near: fails.
        j.reset();
        (0..99).for_each(|_| j.observe(&near));
        j.finish(false);
        assert_eq!(j.hovered, [true, false, false, false]);
        assert_eq!(j.success(), 0.25);
    }
}
