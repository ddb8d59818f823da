//! Advantage Actor-Critic (A2C; the synchronous form of Mnih et al. 2016's A3C,
//! arXiv:1602.01783) as stable-baselines3 implements it: `n_steps`-step rollouts over `n_envs`
//! copies of the environment, advantages by GAE (with SB3's default λ = 1 they are the plain
//! n-step returns minus the values), and *one* gradient step per rollout on
//! `policy_loss − ent_coef · entropy + vf_coef · value_loss`, with the gradient norm clipped.
//! RMSprop as SB3 configures it (α 0.99, ε 1e-5, PyTorch's ε outside the square root) or Adam.
//!
//! Collection, truncation bootstrapping and GAE are [`rollout`](super::rollout)'s, shared with
//! PPO; the networks are [`ActorCritic`]'s.
//!
//! Checkpoints hold the networks and, for a bit-exact `--resume`, the optimizer's moments (RMSprop's
//! mean square or Adam's), the action generator, the environments' journal and the normalization
//! statistics ([`pg_state`](super::pg_state)): a resumed run ends with the same metrics as an
//! uninterrupted one (`host/tests/crash_resume.rs`).

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::actor_critic::ActorCritic;
use super::base::{log_means, log_rollout, OnPolicy, PgCore, RolloutShape, RolloutUpdate};
use super::options::PgOptions;
use super::pg_state::PgOptimizer;
use super::rollout::{action_tensor, explained_variance, normalize, obs_tensor, Rollout};
use crate::algo::nets::Activation;
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

/// The A2C loss on one batch: `(loss, policy_loss, value_loss, entropy)`, each a scalar tensor.
///
/// `policy_loss = −mean(A · log π(a|s))`, `value_loss = mean((R − V(s))²)`,
/// `loss = policy_loss − ent_coef · mean(H) + vf_coef · value_loss` (SB3's `A2C.train`).
pub fn a2c_loss(
    log_probs: &Tensor,
    entropy: &Tensor,
    values: &Tensor,
    advantages: &Tensor,
    returns: &Tensor,
    ent_coef: f64,
    vf_coef: f64,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let policy_loss = -(advantages * log_probs).mean(Kind::Float);
    let value_loss = (returns - values).square().mean(Kind::Float);
    let entropy = entropy.mean(Kind::Float);
    let loss = &policy_loss - ent_coef * &entropy + vf_coef * &value_loss;
    (loss, policy_loss, value_loss, entropy)
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

    fn build(setup: &Setup, cfg: &A2cConfig) -> Result<(ActorCritic, PgOptimizer)> {
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
        let ac = ActorCritic::with_value_activation(
            &setup.spec,
            setup.device,
            &cfg.pg.net_options(),
            cfg.vf_activation,
        );
        let opt = match cfg.optimizer {
            A2cOptimizer::Rmsprop => PgOptimizer::rmsprop(
                &ac,
                cfg.learning_rate,
                cfg.rms_prop_alpha,
                cfg.optimizer_eps,
            ),
            A2cOptimizer::Adam => PgOptimizer::adam(&ac, cfg.learning_rate, cfg.optimizer_eps),
        };
        Ok((ac, opt))
    }

    fn update(
        core: &mut PgCore,
        c: &A2cConfig,
        r: &Rollout,
        progress: f64,
        ctx: &mut TrainCtx,
    ) -> Result<()> {
        let lr = c.pg.lr_schedule.at(c.learning_rate, progress);
        core.opt.set_lr(lr);
        let (mut adv, ret) = r.gae(c.pg.gamma, c.gae_lambda);
        let ev = explained_variance(&r.values, &ret);
        if c.normalize_advantage {
            normalize(&mut adv, 1e-8);
        }
        let device = core.ac.vs.device();
        let obs = obs_tensor(r, core.ac.obs_dim(), device);
        let actions = action_tensor(r, &core.ac.kind, device);
        let (log_probs, entropy, values) = core.ac.evaluate_with_value(&obs, &actions);
        let (loss, pg, vl, h) = a2c_loss(
            &log_probs,
            &entropy,
            &values,
            &Tensor::from_slice(&adv).to_device(device),
            &Tensor::from_slice(&ret).to_device(device),
            c.pg.ent_coef,
            c.pg.vf_coef,
        );
        core.opt.step(&loss, c.pg.max_grad_norm);

        // One read of the diagnostics per update.
        let stats = tch::no_grad(|| Tensor::stack(&[&loss, &pg, &vl, &h], 0));
        log_means(ctx, &Self::METRICS[..4], &stats)?;
        log_rollout(ctx, r, ev, lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::nets::tensor_to_vec;

    #[test]
    fn loss_pieces_by_hand() {
        // Two samples: log π = [ln ½, ln ¼], A = [2, −1], entropies [0.5, 0.3],
        // V = [1, 2], R = [3, 1].
        // policy_loss = −(2 ln ½ − ln ¼)/2 = −(−2 ln 2 + 2 ln 2)/2 = 0
        // value_loss  = ((3−1)² + (1−2)²)/2 = 2.5
        // entropy     = 0.4
        // loss        = 0 − 0.1·0.4 + 0.5·2.5 = 1.21
        let t = |v: &[f32]| Tensor::from_slice(v);
        let (loss, pg, vl, h) = a2c_loss(
            &t(&[0.5f32.ln(), 0.25f32.ln()]),
            &t(&[0.5, 0.3]),
            &t(&[1.0, 2.0]),
            &t(&[2.0, -1.0]),
            &t(&[3.0, 1.0]),
            0.1,
            0.5,
        );
        assert!(pg.double_value(&[]).abs() < 1e-6);
        assert!((vl.double_value(&[]) - 2.5).abs() < 1e-6);
        assert!((h.double_value(&[]) - 0.4).abs() < 1e-6);
        assert!((loss.double_value(&[]) - 1.21).abs() < 1e-6);
    }

    #[test]
    fn policy_gradient_pushes_up_positive_advantages() {
        // d policy_loss / d log π = −A / B: the gradient raises the log-probability of an action
        // with a positive advantage and lowers it for a negative one.
        let lp = Tensor::from_slice(&[-0.5f32, -0.7]).set_requires_grad(true);
        let zeros = Tensor::zeros([2], (Kind::Float, tch::Device::Cpu));
        let adv = Tensor::from_slice(&[2.0f32, -1.0]);
        let (loss, ..) = a2c_loss(&lp, &zeros, &zeros, &adv, &zeros, 0.0, 0.5);
        loss.backward();
        assert_eq!(tensor_to_vec(&lp.grad()), vec![-1.0, 0.5]);
    }
}
