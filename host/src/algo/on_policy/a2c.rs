//! Advantage Actor-Critic (A2C; the synchronous form of Mnih et al. 2016's A3C,
//! arXiv:1602.01783) as stable-baselines3 implements it: `n_steps`-step rollouts over `n_envs`
//! copies of the environment, advantages by GAE (with SB3's default λ = 1 they are the plain
//! n-step returns minus the values), and *one* gradient step per rollout on
//! `policy_loss − ent_coef · entropy + vf_coef · value_loss`, with the gradient norm clipped.
//! RMSprop as SB3 configures it (α 0.99, ε 1e-5, PyTorch's ε outside the square root) or Adam.
//!
//! Collection, truncation bootstrapping and GAE are [`rollout`](super::rollout)'s, shared with
//! PPO; the networks are [`ActorCritic`](super::actor_critic::ActorCritic)'s.
//!
//! Checkpoints hold the networks and, for a bit-exact `--resume`, the optimizer's moments (RMSprop's
//! mean square or Adam's), the action generator, the environments' journal and the normalization
//! statistics ([`pg_state`](super::pg_state)): a resumed run ends with the same metrics as an
//! uninterrupted one (`host/tests/crash_resume.rs`).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::actor_critic::Acts;
use super::base::{log_means, log_rollout, OnPolicy, PgCore, RolloutShape, RolloutUpdate};
use super::options::PgOptions;
use super::rollout::{explained_variance, normalize, Rollout};
use crate::algo::backend::{AdamConfig, Optimizer, RmsPropConfig};
use crate::export::Activation;
use crate::train::{Setup, TrainCtx};

/// A2C's optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum A2cOptimizer {
    /// PyTorch's RMSprop with `rms_prop_alpha` and `optimizer_eps` (SB3's `use_rms_prop=True`).
    Rmsprop,
    /// Adam with `optimizer_eps`.
    Adam,
}

/// A2C's hyper-parameters (defaults: SB3's `A2C`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct A2cConfig {
    /// The options the policy-gradient learners share (their keys are this section's own).
    #[serde(flatten)]
    pub pg: PgOptions,
    /// Steps per environment per update.
    pub n_steps: usize,
    /// Learning rate.
    pub learning_rate: f64,
    /// `rmsprop` or `adam`.
    pub optimizer: A2cOptimizer,
    /// RMSprop's smoothing constant α.
    pub rms_prop_alpha: f64,
    /// The optimizer's ε (RMSprop: added to the root of the mean square, as PyTorch does).
    pub optimizer_eps: f64,
    /// GAE's λ (1: plain n-step returns).
    pub gae_lambda: f64,
    /// Normalize the advantages of each rollout to zero mean and unit variance.
    pub normalize_advantage: bool,
    /// The value network's hidden activation (it is not exported).
    pub vf_activation: Activation,
    /// Scale rewards by the running std of the discounted return.
    pub normalize_reward: bool,
}

impl Default for A2cConfig {
    fn default() -> Self {
        Self {
            pg: PgOptions::default(),
            n_steps: 5,
            learning_rate: 7e-4,
            optimizer: A2cOptimizer::Rmsprop,
            rms_prop_alpha: 0.99,
            optimizer_eps: 1e-5,
            gae_lambda: 1.0,
            normalize_advantage: false,
            vf_activation: Activation::Tanh,
            normalize_reward: false,
        }
    }
}

/// The A2C loss on one batch (SB3's `A2C.train`): `[loss, policy_loss, value_loss, entropy]`,
/// and its derivatives with respect to each row's log-probability, entropy and value.
///
/// `policy_loss = −mean(A · log π(a|s))`, `value_loss = mean((R − V(s))²)`,
/// `loss = policy_loss − ent_coef · mean(H) + vf_coef · value_loss`; so
/// `∂/∂ log π = −A/B`, `∂/∂H = −ent_coef/B`, `∂/∂V = −2·vf_coef·(R − V)/B`.
pub fn a2c_loss(
    log_probs: &[f32],
    entropy: &[f32],
    values: &[f32],
    advantages: &[f32],
    returns: &[f32],
    ent_coef: f64,
    vf_coef: f64,
) -> ([f64; 4], [Vec<f32>; 3]) {
    let n = log_probs.len();
    let (nf, bn) = (n as f64, n as f32);
    let mut pg = 0.0f64;
    let mut vl = 0.0f64;
    let mut h = 0.0f64;
    let mut d = [
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    ];
    for i in 0..n {
        pg -= f64::from(advantages[i] * log_probs[i]);
        let err = returns[i] - values[i];
        vl += f64::from(err * err);
        h += f64::from(entropy[i]);
        d[0].push(-advantages[i] / bn);
        d[1].push(-(ent_coef as f32) / bn);
        d[2].push(vf_coef as f32 * -2.0 * err / bn);
    }
    let (pg, vl, h) = (pg / nf, vl / nf, h / nf);
    ([pg - ent_coef * h + vf_coef * vl, pg, vl, h], d)
}

/// A2C's own part of the on-policy learner: its networks, optimizer and one-step update.
#[derive(Debug)]
pub struct A2cUpdate;

/// An A2C learner.
pub type A2c = OnPolicy<A2cUpdate>;

impl RolloutUpdate for A2cUpdate {
    const NAME: &'static str = "a2c";
    const CONFIG: &'static str = include_str!("../../../configs/a2c.toml");
    const METRICS: &'static [&'static str] = &[
        "loss",
        "policy_loss",
        "value_loss",
        "entropy",
        "explained_variance",
        "learning_rate",
        "value_mean",
    ];
    const RNG_SALT: u64 = 0x4132_435f_6163_7473;
    type Hyper = A2cConfig;

    fn shape(cfg: &A2cConfig) -> RolloutShape {
        RolloutShape::new(&cfg.pg, cfg.n_steps, cfg.normalize_reward)
    }

    fn build(setup: &Setup, cfg: &A2cConfig) -> Result<PgCore> {
        anyhow::ensure!(
            cfg.optimizer_eps > 0.0,
            "optimizer_eps must be positive (got {}): the value head's unused columns would divide 0 by 0",
            cfg.optimizer_eps
        );
        anyhow::ensure!(
            (0.0..1.0).contains(&cfg.rms_prop_alpha),
            "rms_prop_alpha must be in [0, 1) (got {})",
            cfg.rms_prop_alpha
        );
        let (lr, eps) = (cfg.learning_rate as f32, cfg.optimizer_eps as f32);
        let opt = match cfg.optimizer {
            A2cOptimizer::Rmsprop => Optimizer::RmsProp(RmsPropConfig {
                lr,
                alpha: cfg.rms_prop_alpha as f32,
                eps,
            }),
            A2cOptimizer::Adam => Optimizer::Adam(AdamConfig { lr, eps }),
        };
        PgCore::new(
            setup,
            Self::NAME,
            &cfg.pg.net_options(),
            cfg.vf_activation,
            opt,
            Self::RNG_SALT,
        )
    }

    fn update(
        core: &mut PgCore,
        c: &A2cConfig,
        r: &Rollout,
        progress: f64,
        ctx: &mut TrainCtx,
    ) -> Result<()> {
        let lr = c.pg.lr_schedule.at(c.learning_rate, progress);
        core.ac.set_lr(lr);
        let (mut adv, ret) = r.gae(c.pg.gamma, c.gae_lambda);
        let ev = explained_variance(&r.values, &ret);
        if c.normalize_advantage {
            normalize(&mut adv, 1e-8);
        }
        let acts = if r.actions_discrete.is_empty() {
            Acts::Continuous(&r.actions_continuous)
        } else {
            Acts::Discrete(&r.actions_discrete)
        };
        let e = core.ac.evaluate(&r.obs, r.log_probs.len(), acts, true)?;
        let (stats, [d_logp, d_ent, d_value]) = a2c_loss(
            &e.log_probs,
            &e.entropies,
            &e.values,
            &adv,
            &ret,
            c.pg.ent_coef,
            c.pg.vf_coef,
        );
        core.ac.backward(&d_logp, &d_ent, Some(&d_value))?;
        core.ac.step(c.pg.max_grad_norm)?;
        log_means(ctx, &Self::METRICS[..4], &stats)?;
        log_rollout(ctx, r, ev, lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_pieces_by_hand() {
        // Two samples: log π = [ln ½, ln ¼], A = [2, −1], entropies [0.5, 0.3],
        // V = [1, 2], R = [3, 1].
        // policy_loss = −(2 ln ½ − ln ¼)/2 = −(−2 ln 2 + 2 ln 2)/2 = 0
        // value_loss  = ((3−1)² + (1−2)²)/2 = 2.5
        // entropy     = 0.4
        // loss        = 0 − 0.1·0.4 + 0.5·2.5 = 1.21
        let ([loss, pg, vl, h], [d_logp, d_ent, d_v]) = a2c_loss(
            &[0.5f32.ln(), 0.25f32.ln()],
            &[0.5, 0.3],
            &[1.0, 2.0],
            &[2.0, -1.0],
            &[3.0, 1.0],
            0.1,
            0.5,
        );
        assert!(pg.abs() < 1e-6);
        assert!((vl - 2.5).abs() < 1e-6);
        assert!((h - 0.4).abs() < 1e-6);
        assert!((loss - 1.21).abs() < 1e-6);
        // ∂/∂ log π = −A/B: the step raises the log-probability of an action with a positive
        // advantage and lowers it for a negative one. ∂/∂V = −2·vf·(R − V)/B.
        assert_eq!(d_logp, vec![-1.0, 0.5]);
        assert_eq!(d_ent, vec![-0.05, -0.05]);
        assert_eq!(d_v, vec![-1.0, 0.5]);
    }
}
