//! Running observation (and return) statistics, as stable-baselines3's `VecNormalize`:
//! Chan et al.'s parallel update of mean and variance, observations normalized as
//! `clip((obs - mean) / sqrt(var + eps), ±clip)`. The statistics are saved with the run and
//! exported into the `.picorl` file, so core and the firmware normalize the same way.

use crate::export::ObsNormExport;

/// Mean and variance of a stream of vectors (serializable: a bit-exact `--resume` restores the
/// `f64` statistics, which the checkpoint's weights hold only as `f32`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunningMeanStd {
    /// Per-component mean.
    pub mean: Vec<f64>,
    /// Per-component (population) variance.
    pub var: Vec<f64>,
    /// Samples seen (starts at a tiny epsilon, as SB3's does, so the first update is defined).
    pub count: f64,
}

impl RunningMeanStd {
    /// Whether `other` holds statistics of vectors of this size (a restored state must).
    pub fn same_shape(&self, other: &Self) -> bool {
        other.mean.len() == self.mean.len() && other.var.len() == self.mean.len()
    }

    /// Statistics of `dim`-vectors, starting at mean 0, variance 1.
    pub fn new(dim: usize) -> Self {
        Self {
            mean: vec![0.0; dim],
            var: vec![1.0; dim],
            count: 1e-4,
        }
    }

    /// Folds in a batch of `batch.len() / dim` vectors.
    pub fn update(&mut self, batch: &[f32]) {
        let dim = self.mean.len();
        let n = batch.len() / dim;
        if n == 0 {
            return;
        }
        for j in 0..dim {
            let col = batch.iter().skip(j).step_by(dim).map(|&x| f64::from(x));
            let bmean = col.clone().sum::<f64>() / n as f64;
            let bvar = col.map(|x| (x - bmean).powi(2)).sum::<f64>() / n as f64;
            let delta = bmean - self.mean[j];
            let total = self.count + n as f64;
            let m2 = self.var[j] * self.count
                + bvar * n as f64
                + delta * delta * self.count * n as f64 / total;
            self.mean[j] += delta * n as f64 / total;
            self.var[j] = m2 / total;
        }
        self.count += n as f64;
    }
}

/// Observation normalization with its clip and epsilon (SB3's defaults: 10 and 1e-8).
#[derive(Debug, Clone, PartialEq)]
pub struct ObsNorm {
    /// The statistics.
    pub stats: RunningMeanStd,
    /// Normalized values are clipped to `[-clip, clip]`.
    pub clip: f32,
    /// Added to the variance.
    pub eps: f32,
}

impl ObsNorm {
    /// Normalization of `dim` components with SB3's clip 10 and eps 1e-8.
    pub fn new(dim: usize) -> Self {
        Self {
            stats: RunningMeanStd::new(dim),
            clip: 10.0,
            eps: 1e-8,
        }
    }

    /// Normalizes `obs` (any number of vectors) in place, in `f32` exactly as core does it with
    /// the exported `f32` statistics, so training sees what the controller computes.
    pub fn apply(&self, obs: &mut [f32]) {
        let e = self.export();
        let dim = e.mean.len();
        for (i, x) in obs.iter_mut().enumerate() {
            let j = i % dim;
            *x = ((*x - e.mean[j]) / (e.var[j] + e.eps).sqrt()).clamp(-e.clip, e.clip);
        }
    }

    /// The `f32` statistics written to the model file.
    pub fn export(&self) -> ObsNormExport {
        ObsNormExport {
            mean: self.stats.mean.iter().map(|&m| m as f32).collect(),
            var: self.stats.var.iter().map(|&v| v as f32).collect(),
            eps: self.eps,
            clip: self.clip,
        }
    }
}

/// Reward scaling by the running standard deviation of the discounted return (SB3's
/// `VecNormalize(norm_reward=True)`): `r / sqrt(var(R) + eps)`, clipped to ±10. Serializable,
/// for a bit-exact `--resume`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RewardNorm {
    stats: RunningMeanStd,
    returns: Vec<f64>,
    gamma: f64,
}

impl RewardNorm {
    /// Whether `other` scales rewards of as many environments (a restored state must).
    pub fn same_shape(&self, other: &Self) -> bool {
        self.stats.same_shape(&other.stats) && other.returns.len() == self.returns.len()
    }

    /// For `n` parallel environments and discount `gamma`.
    pub fn new(n: usize, gamma: f64) -> Self {
        Self {
            stats: RunningMeanStd::new(1),
            returns: vec![0.0; n],
            gamma,
        }
    }

    /// Scales one step's rewards in place; `done[i]` restarts copy `i`'s return.
    pub fn apply(&mut self, rewards: &mut [f32], done: &[bool]) {
        for (ret, &r) in self.returns.iter_mut().zip(rewards.iter()) {
            *ret = *ret * self.gamma + f64::from(r);
        }
        let batch: Vec<f32> = self.returns.iter().map(|&r| r as f32).collect();
        self.stats.update(&batch);
        let scale = (self.stats.var[0] + 1e-8).sqrt() as f32;
        for (r, (ret, &d)) in rewards.iter_mut().zip(self.returns.iter_mut().zip(done)) {
            *r = (*r / scale).clamp(-10.0, 10.0);
            if d {
                *ret = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_stats_match_the_batch_stats() {
        let mut s = RunningMeanStd::new(2);
        let data: Vec<f32> = (0..100)
            .flat_map(|i| [i as f32, 2.0 * i as f32 + 1.0])
            .collect();
        s.update(&data[..60]);
        s.update(&data[60..]);
        // Column 0 is 0..99: mean 49.5, population variance (100² - 1) / 12 = 833.25.
        assert!((s.mean[0] - 49.5).abs() < 1e-3);
        assert!((s.var[0] - 833.25).abs() < 0.1);
        assert!((s.mean[1] - 100.0).abs() < 1e-3);
        assert!((s.var[1] - 4.0 * 833.25).abs() < 0.5);
    }

    #[test]
    fn normalization_clips() {
        let mut n = ObsNorm::new(1);
        n.stats.mean = vec![1.0];
        n.stats.var = vec![4.0];
        let mut obs = [3.0f32, 1.0, 1000.0];
        n.apply(&mut obs);
        assert!((obs[0] - 1.0).abs() < 1e-6 && obs[1] == 0.0 && obs[2] == 10.0);
    }
}
