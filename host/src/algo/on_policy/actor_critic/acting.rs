//! How an [`ActorCritic`] acts: sampled actions in rollouts through native copies of its
//! networks ([`Acting`]), batched over the environment copies, and the deterministic action
//! through the firmware's f32 dense layers.

use anyhow::{bail, Result};
use picorl_core::rng::{self, Pcg32};

use super::{argmax, ActionKind, ActorCritic, SdeNoise, HALF_LOG_2PI, SDE_EPS};
use crate::algo::backend::{Backend, Net};
use crate::envs::eval::OwnedAction;

impl ActorCritic {
    /// Copies the weights to the acting copies when an update has changed them (rollouts call
    /// it before acting).
    pub fn sync_cpu(&mut self) -> Result<()> {
        if self.stale {
            self.acting
                .refresh(self.body.as_ref(), &self.head, &self.vf)?;
            self.stale = false;
        }
        Ok(())
    }

    /// Samples one action per normalized observation (the rows of `x`, one per environment copy)
    /// with the acting copies, draws from `rng`, writing actions (discrete as indices,
    /// continuous unclipped components), log-probabilities and values.
    pub fn sample_cpu(&mut self, x: &[f32], rng: &mut Pcg32, out: &mut CpuSample) -> Result<()> {
        self.sync_cpu()?;
        out.clear();
        let rows = x.len() / self.obs_dim;
        let log_std = self.log_std.as_ref().map_or(&[][..], |p| &p.values);
        let Acting {
            body,
            head,
            vf,
            sigma2,
            ..
        } = &mut self.acting;
        out.values.extend_from_slice(vf.forward(x, rows)?);
        let (feats, h) = match body {
            Some(b) => {
                let h = b.dims()[b.dims().len() - 1];
                (b.forward(x, rows)?, h)
            }
            None => (x, self.obs_dim),
        };
        let outs = head.forward(feats, rows)?;
        let n_out = self.kind.outputs();
        if let Some(sde) = &mut self.sde {
            sigma2.clear();
            sigma2.extend(log_std.iter().map(|l| (2.0 * l).exp()));
            for env in 0..rows {
                sde.features.clear();
                sde.features
                    .extend_from_slice(&feats[env * h..(env + 1) * h]);
                let means = &outs[env * n_out..(env + 1) * n_out];
                sde_sample(means, sde, env, sigma2, out)?;
            }
            return Ok(());
        }
        for p in outs.chunks_exact(n_out) {
            match &self.kind {
                ActionKind::Discrete { .. } => {
                    // log-softmax, then inverse-CDF sampling with one uniform draw.
                    let m = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let lse = m + p.iter().map(|l| (l - m).exp()).sum::<f32>().ln();
                    let u = rng::unit_f32(rng);
                    let mut c = 0.0f32;
                    let mut pick = p.len() - 1;
                    for (i, l) in p.iter().enumerate() {
                        c += (l - lse).exp();
                        if u < c {
                            pick = i;
                            break;
                        }
                    }
                    out.discrete.push(pick as u32);
                    out.log_probs.push(p[pick] - lse);
                }
                ActionKind::Continuous { .. } => {
                    let mut lp = 0.0f32;
                    for (mean, ls) in p.iter().zip(log_std) {
                        let z = rng::normal_f64(rng) as f32;
                        out.continuous.push(mean + ls.exp() * z);
                        lp += -0.5 * z * z - ls - HALF_LOG_2PI;
                    }
                    out.log_probs.push(lp);
                }
            }
        }
        Ok(())
    }

    /// Values of normalized observations, with the acting copy.
    pub fn values_cpu(&mut self, x: &[f32]) -> Result<Vec<f32>> {
        self.sync_cpu()?;
        let rows = x.len() / self.obs_dim;
        Ok(self.acting.vf.forward(x, rows)?.to_vec())
    }

    /// The deterministic action: argmax of the logits, or the mean clipped to the bounds, as the
    /// exported policy computes it (core's f32 dense layers).
    pub fn act_deterministic(&mut self, raw_obs: &[f32]) -> Result<OwnedAction> {
        if raw_obs.len() != self.obs_dim {
            bail!(
                "observation of length {}, expected {}",
                raw_obs.len(),
                self.obs_dim
            );
        }
        if self.cpu_stale {
            let export = self.export();
            self.cpu.refresh(&export);
            self.cpu_stale = false;
        }
        let x = self.normalized(raw_obs);
        let v = self.cpu.forward(&x)?;
        Ok(match &self.kind {
            ActionKind::Discrete { .. } => OwnedAction::Discrete(argmax(v)),
            ActionKind::Continuous { low, high, .. } => OwnedAction::Continuous(
                v.iter()
                    .enumerate()
                    .map(|(i, a)| a.clamp(low[i], high[i]))
                    .collect(),
            ),
        })
    }
}

/// Native copies of the networks that act in rollouts, and their scratch.
#[derive(Debug)]
pub(super) struct Acting {
    body: Option<Net>,
    head: Net,
    vf: Net,
    /// gSDE's `σ² = exp(2 log_std)`, once per sampling.
    sigma2: Vec<f32>,
}

impl Acting {
    pub(super) fn new(body: Option<&Net>, head: &Net, vf: &Net) -> Result<Self> {
        // Copies without optimizers; their weights are the networks' (the draw is replaced).
        let copy = |net: &Net, activated: bool| {
            let mut c = Net::with_optimizer(
                Backend::Native,
                net.dims(),
                net.activation(),
                activated,
                None,
                &mut rng::seeded(0),
            )?;
            c.set_layers(&net.layers())?;
            Ok::<_, anyhow::Error>(c)
        };
        Ok(Self {
            body: body.map(|b| copy(b, true)).transpose()?,
            head: copy(head, false)?,
            vf: copy(vf, false)?,
            sigma2: Vec::new(),
        })
    }

    pub(super) fn refresh(&mut self, body: Option<&Net>, head: &Net, vf: &Net) -> Result<()> {
        if let (Some(c), Some(b)) = (&mut self.body, body) {
            c.set_layers(&b.layers())?;
        }
        self.head.set_layers(&head.layers())?;
        self.vf.set_layers(&vf.layers())
    }
}

/// One gSDE action for copy `env` with policy means `means`: `a = μ + φ·E_env`, and its
/// log-density under the marginal `N(μ, φ²·σ² + ε)` (`sigma2` the `[h, d]` variances
/// `exp(2 log_std)`).
fn sde_sample(
    means: &[f32],
    sde: &SdeNoise,
    env: usize,
    sigma2: &[f32],
    out: &mut CpuSample,
) -> Result<()> {
    let d = means.len();
    let e = sde.matrix(env, d)?;
    let mut lp = 0.0f32;
    for (k, mean) in means.iter().enumerate() {
        let noise = sde.noise(e, d, k);
        let mut var = SDE_EPS;
        for (j, phi) in sde.features.iter().enumerate() {
            var += phi * phi * sigma2[j * d + k];
        }
        out.continuous.push(mean + noise);
        lp += -0.5 * noise * noise / var - 0.5 * var.ln() - HALF_LOG_2PI;
    }
    out.log_probs.push(lp);
    Ok(())
}

/// What [`ActorCritic::sample_cpu`] writes.
#[derive(Debug, Default, Clone)]
pub struct CpuSample {
    /// Discrete actions (empty for continuous).
    pub discrete: Vec<u32>,
    /// Continuous actions, unclipped (empty for discrete).
    pub continuous: Vec<f32>,
    /// Log-probabilities.
    pub log_probs: Vec<f32>,
    /// Values.
    pub values: Vec<f32>,
}

impl CpuSample {
    fn clear(&mut self) {
        self.discrete.clear();
        self.continuous.clear();
        self.log_probs.clear();
        self.values.clear();
    }
}
