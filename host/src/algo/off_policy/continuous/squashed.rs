//! SAC's actor on either backend: a tanh-squashed Gaussian, its reparameterized samples with
//! their log-densities, and the actor loss's gradient written out by hand.
//!
//! **Density.** For `u ~ N(μ, σ²)` per component and `a = tanh(u)`:
//! `log π(a|s) = Σ_k [−½ z_k² − log σ_k − ½ log 2π] − Σ_k log(1 − tanh(u_k)²)`, `z = (u − μ)/σ`,
//! the last term in the stable form `2 (log 2 − u − softplus(−2u))` (Haarnoja et al. 2018,
//! appendix C).
//!
//! **Two kinds of actor.**
//! - *Gaussian*: one network with `2a` outputs, the pre-tanh mean and `log σ` (clamped to SB3's
//!   `[−20, 2]`); `u = μ + σ ε` with `ε` one standard-normal draw per row and component.
//! - *gSDE* (Raffin et al. 2021, SB3's SAC `use_sde`): a body `φ(s)` (the last hidden layer) and a
//!   linear head `μ(φ)`, and a learned `[h, a]` matrix `log σ`; `u = μ + φ·E` with `E = σ ⊙ Z`, one
//!   standard-normal `[h, a]` matrix `Z` for the whole batch, whose density over `Z` is
//!   `N(μ, Σ_j φ_j² σ_jk² + 10⁻⁶)` per component (SB3's `epsilon`).
//!
//! **Gradient of `mean_b(α log π_b − min_i Q_i(s_b, a_b))`.** With `w = 1/B`, `g = ∂/∂a` of the
//! critics' part (from [`super::nets::QSet::action_grad`]) and `d_u = g (1 − a²) + 2 w α a` (the
//! tanh term's `∂/∂u` is `2 tanh u`):
//! - Gaussian: `∂/∂μ = d_u`; `∂/∂ log σ = (d_u σ ε − w α) · 1[−20 ≤ log σ ≤ 2]` (`z = ε` does not
//!   depend on the parameters, so the `−½ z²` term has no gradient, as under autograd).
//! - gSDE: with `n = φ·E` and `v` the variance, `∂/∂n = d_u − w α n / v`,
//!   `∂/∂v = w α (½ n²/v² − ½/v)`; `∂/∂μ = d_u` into the head, `∂/∂φ_j = head's input gradient +
//!   Σ_k (∂n_k E_jk + ∂v_k 2 φ_j σ_jk²)` into the body, and
//!   `∂/∂ log σ_jk = Σ_b (∂n_bk φ_bj E_jk + ∂v_bk φ_bj² 2 σ_jk²)`.
//!
//! `host/src/algo/off_policy/sac.rs`'s tests check these against libtorch's autograd on the same
//! network.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use picorl_core::learn::Adam;
use picorl_core::rng::Pcg32;

use super::nets::{
    actor_dims, export_nets, load_layers_from, name_layers_from, ActorExport, NetGroup,
};
use super::{LOG_STD_MAX, LOG_STD_MIN};
use crate::algo::backend::{AdamConfig, AdamState, Backend, Layer, Net};
use crate::export::Activation;
use crate::export::PolicyExport;

/// SB3's `epsilon` added to gSDE's variance.
const SDE_EPS: f32 = 1e-6;
const HALF_LOG_2PI: f32 = 0.918_938_5;

/// `log(1 − tanh(u)²)` as `2 (log 2 − u − softplus(−2u))` (softplus linear above 20, as
/// PyTorch's).
fn log_one_minus_tanh_sq(u: f32) -> f32 {
    let x = -2.0 * u;
    let softplus = if x > 20.0 { x } else { x.exp().ln_1p() };
    2.0 * (std::f32::consts::LN_2 - u - softplus)
}

/// What the actor is made of.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per learner, never moved in a loop
enum Parts {
    Gaussian(Net),
    Sde {
        body: Net,
        head: Net,
        /// `[h, a]` row-major.
        log_std: Vec<f32>,
        opt: Adam,
        m: Vec<f32>,
        v: Vec<f32>,
    },
}

/// SAC's squashed-Gaussian actor.
#[derive(Debug)]
pub struct SquashedActor {
    parts: Parts,
    act_dim: usize,
    // The last sample, for the backward pass.
    rows: usize,
    eps: Vec<f32>,
    sigma: Vec<f32>,
    in_range: Vec<bool>,
    phi: Vec<f32>,
    n: Vec<f32>,
    var: Vec<f32>,
    /// The last sample's actions `tanh(u)`, `rows × a`.
    pub a: Vec<f32>,
    /// The last sample's log-densities, one per row.
    pub logp: Vec<f32>,
    /// [`SquashedActor::gradients`]' outputs' (or gSDE means') gradient.
    pub d_out: Vec<f32>,
    /// gSDE: the features' gradient, the head's share excluded.
    pub d_phi: Vec<f32>,
    /// gSDE: `log σ`'s gradient.
    pub d_log_std: Vec<f32>,
}

impl SquashedActor {
    /// A Gaussian actor (`2a` outputs), or with `sde_log_std_init` a gSDE actor whose `log σ`
    /// starts there; Adam at `lr`, weights drawn from `rng`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        backend: Backend,
        obs_dim: usize,
        act_dim: usize,
        hidden: &[usize],
        activation: Activation,
        sde_log_std_init: Option<f64>,
        lr: f64,
        rng: &mut Pcg32,
    ) -> Result<Self> {
        let adam = AdamConfig::pytorch(lr);
        let parts = match sde_log_std_init {
            None => {
                let dims = actor_dims(obs_dim, act_dim, hidden, true);
                Parts::Gaussian(Net::new(backend, &dims, activation, Some(adam), rng)?)
            }
            Some(init) => {
                let Some(&h) = hidden.last() else {
                    bail!("sac: use_sde needs at least one hidden layer (its features)");
                };
                let mut body_dims = vec![obs_dim];
                body_dims.extend_from_slice(hidden);
                let body = Net::new_body(backend, &body_dims, activation, Some(adam), rng)?;
                let head = Net::new(backend, &[h, act_dim], activation, Some(adam), rng)?;
                let n = h * act_dim;
                let mut opt = Adam::new(adam.lr);
                opt.eps = adam.eps;
                Parts::Sde {
                    body,
                    head,
                    log_std: vec![init as f32; n],
                    opt,
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            }
        };
        Ok(Self {
            parts,
            act_dim,
            rows: 0,
            eps: Vec::new(),
            sigma: Vec::new(),
            in_range: Vec::new(),
            phi: Vec::new(),
            n: Vec::new(),
            var: Vec::new(),
            a: Vec::new(),
            logp: Vec::new(),
            d_out: Vec::new(),
            d_phi: Vec::new(),
            d_log_std: Vec::new(),
        })
    }

    /// gSDE's `[h, a]` log σ (empty without gSDE).
    pub fn sde_log_std(&self) -> &[f32] {
        match &self.parts {
            Parts::Sde { log_std, .. } => log_std,
            Parts::Gaussian(_) => &[],
        }
    }

    /// Whether the actor explores with gSDE.
    pub fn uses_sde(&self) -> bool {
        matches!(self.parts, Parts::Sde { .. })
    }

    /// The shape of the standard-normal draws [`SquashedActor::sample`] takes for `rows` rows:
    /// `rows × a`, or gSDE's one `h × a` matrix.
    pub fn noise_len(&self, rows: usize) -> usize {
        match &self.parts {
            Parts::Gaussian(_) => rows * self.act_dim,
            Parts::Sde { log_std, .. } => log_std.len(),
        }
    }

    /// A reparameterized sample for `rows` observations with the draws `eps`
    /// ([`SquashedActor::noise_len`] values): fills [`SquashedActor::a`] and
    /// [`SquashedActor::logp`], and keeps what [`SquashedActor::step`] needs.
    pub fn sample(&mut self, obs: &[f32], rows: usize, eps: &[f32]) -> Result<()> {
        let a = self.act_dim;
        self.rows = rows;
        self.eps.clear();
        self.eps.extend_from_slice(eps);
        self.a.clear();
        self.logp.clear();
        self.sigma.clear();
        self.in_range.clear();
        match &mut self.parts {
            Parts::Gaussian(net) => {
                let out = net.forward(obs, rows)?;
                for (r, row) in out.chunks_exact(2 * a).enumerate() {
                    let mut lp = 0.0f32;
                    for k in 0..a {
                        let raw = row[a + k];
                        self.in_range
                            .push(raw >= LOG_STD_MIN as f32 && raw <= LOG_STD_MAX as f32);
                        let ls = raw.clamp(LOG_STD_MIN as f32, LOG_STD_MAX as f32);
                        let sigma = ls.exp();
                        let u = row[k] + sigma * eps[r * a + k];
                        let z = (u - row[k]) / sigma;
                        lp += -0.5 * z * z - ls - HALF_LOG_2PI - log_one_minus_tanh_sq(u);
                        self.sigma.push(sigma);
                        self.a.push(u.tanh());
                    }
                    self.logp.push(lp);
                }
            }
            Parts::Sde {
                body,
                head,
                log_std,
                ..
            } => {
                let h = log_std.len() / a;
                self.phi.clear();
                self.phi.extend_from_slice(body.forward(obs, rows)?);
                let mean = head.forward(&self.phi, rows)?;
                self.sigma.extend(log_std.iter().map(|l| l.exp()));
                self.n.clear();
                self.var.clear();
                for r in 0..rows {
                    let phi = &self.phi[r * h..(r + 1) * h];
                    let mut lp = 0.0f32;
                    for k in 0..a {
                        let (mut n, mut var) = (0.0f32, 0.0f32);
                        for (j, &p) in phi.iter().enumerate() {
                            let s = self.sigma[j * a + k];
                            n += p * (s * eps[j * a + k]);
                            var += p * p * (s * s);
                        }
                        let var = var + SDE_EPS;
                        let u = mean[r * a + k] + n;
                        lp += -0.5 * n * n / var
                            - 0.5 * var.ln()
                            - HALF_LOG_2PI
                            - log_one_minus_tanh_sq(u);
                        self.n.push(n);
                        self.var.push(var);
                        self.a.push(u.tanh());
                    }
                    self.logp.push(lp);
                }
            }
        }
        Ok(())
    }

    /// After [`SquashedActor::sample`]: the gradient of `mean_b(α log π_b) + critics' part`
    /// (`g` the critics' part's gradient with respect to the actions, `rows × a`) with respect
    /// to what the sample was computed from, into [`SquashedActor::d_out`] (the Gaussian
    /// network's outputs, or gSDE's means), [`SquashedActor::d_phi`] (gSDE: the features, the
    /// head's share excluded) and [`SquashedActor::d_log_std`] (gSDE's `log σ`).
    pub fn gradients(&mut self, g: &[f32], alpha: f32) {
        let (rows, a) = (self.rows, self.act_dim);
        let wa = alpha / rows as f32;
        self.d_out.clear();
        let d_u = g
            .iter()
            .zip(&self.a)
            .map(|(&g, &x)| g * (1.0 - x * x) + 2.0 * wa * x);
        match &self.parts {
            Parts::Gaussian(_) => {
                let d_u: Vec<f32> = d_u.collect();
                for r in 0..rows {
                    self.d_out.extend_from_slice(&d_u[r * a..(r + 1) * a]);
                    for k in 0..a {
                        let i = r * a + k;
                        let d = d_u[i] * self.sigma[i] * self.eps[i] - wa;
                        self.d_out.push(if self.in_range[i] { d } else { 0.0 });
                    }
                }
            }
            Parts::Sde { log_std, .. } => {
                self.d_out.extend(d_u);
                let h = log_std.len() / a;
                self.d_phi.clear();
                self.d_phi.resize(rows * h, 0.0);
                self.d_log_std.clear();
                self.d_log_std.resize(h * a, 0.0);
                let mut grad_e = vec![0.0f32; h * a];
                for r in 0..rows {
                    for k in 0..a {
                        let i = r * a + k;
                        let (n, var) = (self.n[i], self.var[i]);
                        let dn = self.d_out[i] - wa * n / var;
                        let dv = wa * (0.5 * n * n / (var * var) - 0.5 / var);
                        for j in 0..h {
                            let s = self.sigma[j * a + k];
                            let e = s * self.eps[j * a + k];
                            let p = self.phi[r * h + j];
                            self.d_phi[r * h + j] += dn * e + dv * 2.0 * p * s * s;
                            grad_e[j * a + k] += dn * p;
                            self.d_log_std[j * a + k] += dv * p * p * 2.0 * s * s;
                        }
                    }
                }
                // E = σ ⊙ Z: ∂E/∂ log σ = E.
                for (jk, ge) in grad_e.iter().enumerate() {
                    let e = self.sigma[jk] * self.eps[jk];
                    self.d_log_std[jk] += ge * e;
                }
            }
        }
    }

    /// One Adam step after [`SquashedActor::sample`] on `mean_b(α log π_b) + critics' part`
    /// ([`SquashedActor::gradients`]).
    pub fn step(&mut self, g: &[f32], alpha: f32) -> Result<()> {
        self.gradients(g, alpha);
        match &mut self.parts {
            Parts::Gaussian(net) => {
                net.backward(&self.d_out, true, false)?;
                net.step()?;
            }
            Parts::Sde {
                body,
                head,
                log_std,
                opt,
                m,
                v,
            } => {
                let d_phi_head = head.backward(&self.d_out, true, true)?;
                let d_phi: Vec<f32> = d_phi_head
                    .iter()
                    .zip(&self.d_phi)
                    .map(|(a, b)| a + b)
                    .collect();
                head.step()?;
                body.backward(&d_phi, true, false)?;
                body.step()?;
                opt.step(log_std, &self.d_log_std, m, v)
                    .map_err(|e| anyhow::anyhow!("internal: gSDE log σ: {e}"))?;
            }
        }
        Ok(())
    }
}

impl ActorExport for SquashedActor {
    fn export_rows(&self, mean_only: bool, low: Vec<f32>, high: Vec<f32>) -> PolicyExport {
        match &self.parts {
            Parts::Gaussian(net) => {
                export_nets(&[net], mean_only.then_some(self.act_dim), low, high)
            }
            Parts::Sde { body, head, .. } => export_nets(&[body, head], None, low, high),
        }
    }
}

super::nets::net_group_state!(SquashedActor);

/// The actor in the weights file (`pi.pi.l0.weight` …, gSDE's `pi.log_std`) and its Adam states
/// (the network, or gSDE's body, head and log σ).
impl NetGroup for SquashedActor {
    fn named_layers(&self, out: &mut Vec<(String, Layer)>) {
        match &self.parts {
            Parts::Gaussian(net) => name_layers_from("pi.pi", 0, net, out),
            Parts::Sde { body, head, .. } => {
                name_layers_from("pi.pi", 0, body, out);
                name_layers_from("pi.pi", body.dims().len() - 1, head, out);
            }
        }
    }

    fn extra(&self) -> Option<(&'static str, [usize; 2], &[f32])> {
        match &self.parts {
            Parts::Sde { log_std, .. } => Some((
                "pi.log_std",
                [log_std.len() / self.act_dim, self.act_dim],
                log_std,
            )),
            Parts::Gaussian(_) => None,
        }
    }

    fn load_named(&mut self, saved: &BTreeMap<String, Vec<f32>>, path: &Path) -> Result<()> {
        match &mut self.parts {
            Parts::Gaussian(net) => load_layers_from("pi.pi", 0, net, saved, path),
            Parts::Sde {
                body,
                head,
                log_std,
                ..
            } => {
                load_layers_from("pi.pi", 0, body, saved, path)?;
                load_layers_from("pi.pi", body.dims().len() - 1, head, saved, path)?;
                match saved.get("pi.log_std") {
                    Some(v) if v.len() == log_std.len() => {
                        log_std.copy_from_slice(v);
                        Ok(())
                    }
                    _ => bail!(
                        "{}: no `pi.log_std` of {} values (a checkpoint of another actor?)",
                        path.display(),
                        log_std.len()
                    ),
                }
            }
        }
    }

    fn adam_states(&self) -> Vec<AdamState> {
        match &self.parts {
            Parts::Gaussian(net) => net.adam_state().into_iter().collect(),
            Parts::Sde {
                body,
                head,
                opt,
                m,
                v,
                ..
            } => {
                let mut s: Vec<AdamState> = body.adam_state().into_iter().collect();
                s.extend(head.adam_state());
                s.push(AdamState {
                    m: m.clone(),
                    v: v.clone(),
                    t: opt.t,
                });
                s
            }
        }
    }

    fn set_adam_states(&mut self, states: &[AdamState]) -> Result<()> {
        match (&mut self.parts, states) {
            (Parts::Gaussian(net), [s]) => net.set_adam_state(s),
            (
                Parts::Sde {
                    body,
                    head,
                    opt,
                    m,
                    v,
                    ..
                },
                [sb, sh, sl],
            ) => {
                body.set_adam_state(sb)?;
                head.set_adam_state(sh)?;
                if sl.m.len() != m.len() || sl.v.len() != v.len() {
                    bail!("gSDE log σ's Adam state has the wrong length");
                }
                m.copy_from_slice(&sl.m);
                v.copy_from_slice(&sl.v);
                opt.t = sl.t;
                Ok(())
            }
            _ => bail!("{} actor optimizer states for this actor", states.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Far in the tail the direct form overflows (1 - tanh(20)² rounds to 0 in f32); the stable
    /// one gives log(1 - tanh²u) ≈ 2 log 2 - 2|u| = -38.61; near 0 it is the direct value.
    #[test]
    fn log_one_minus_tanh_sq_is_stable() {
        for u in [20.0f32, -20.0] {
            let g = super::log_one_minus_tanh_sq(u);
            assert!(
                (f64::from(g) - (2.0 * std::f64::consts::LN_2 - 40.0)).abs() < 1e-3,
                "{g}"
            );
        }
        for u in [-1.5f32, 0.0, 0.3] {
            let direct = (1.0 - f64::from(u).tanh().powi(2)).ln();
            assert!((f64::from(super::log_one_minus_tanh_sq(u)) - direct).abs() < 1e-5);
        }
    }
}
