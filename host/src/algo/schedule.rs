//! Schedules of a hyper-parameter over training.

/// SB3's `get_linear_fn`: `start` falling linearly to `end` over the first `end_fraction` of the
/// budget, then `end`. `progress_remaining` goes from 1 to 0.
pub fn linear_schedule(start: f64, end: f64, end_fraction: f64, progress_remaining: f64) -> f64 {
    let progress = 1.0 - progress_remaining;
    if end_fraction <= 0.0 || progress > end_fraction {
        end
    } else {
        start + progress * (end - start) / end_fraction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_schedule_as_sb3() {
        // start 1, end 0.05 over the first 10 %: at 5 % progress, 1 - 0.5 · 0.95 = 0.525.
        assert_eq!(linear_schedule(1.0, 0.05, 0.1, 1.0), 1.0);
        assert!((linear_schedule(1.0, 0.05, 0.1, 0.95) - 0.525).abs() < 1e-12);
        assert_eq!(linear_schedule(1.0, 0.05, 0.1, 0.5), 0.05);
        assert_eq!(linear_schedule(1.0, 0.05, 0.0, 1.0), 0.05);
    }
}
