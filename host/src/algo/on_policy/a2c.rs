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

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::actor_critic::{ActorCritic, NetOptions};
use super::pg_state::{restore_tensors, resume_tensors, PgOptimizer, PgResume};
use super::ppo::Schedule;
use super::rollout::{action_tensor, collect, explained_variance, normalize, obs_tensor};
use super::running_norm::RewardNorm;
use crate::algo::nets::{tensor_to_vec, Activation};
use crate::envs::eval::{Actor, OwnedAction};
use crate::envs::vec_env::VecEnv;
use crate::export::PolicyExport;
use crate::train::{Algorithm, Setup, TrainCtx};

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
#[serde(deny_unknown_fields, default)]
pub struct A2cConfig {
    /// Parallel environments.
    pub n_envs: usize,
    /// Steps per environment per update.
    pub n_steps: usize,
    /// Learning rate.
    pub learning_rate: f64,
    /// Learning-rate schedule: `constant` or `linear` (to zero at the end of the budget).
    pub lr_schedule: Schedule,
    /// `rmsprop` or `adam`.
    pub optimizer: A2cOptimizer,
    /// RMSprop's smoothing constant α.
    pub rms_prop_alpha: f64,
    /// The optimizer's ε (RMSprop: added to the root of the mean square, as PyTorch does).
    pub optimizer_eps: f64,
    /// Discount factor.
    pub gamma: f64,
    /// GAE's λ (1: plain n-step returns).
    pub gae_lambda: f64,
    /// Entropy bonus coefficient.
    pub ent_coef: f64,
    /// Value loss coefficient.
    pub vf_coef: f64,
    /// Gradient norm clip (0: none).
    pub max_grad_norm: f64,
    /// Normalize the advantages of each rollout to zero mean and unit variance.
    pub normalize_advantage: bool,
    /// Hidden layer sizes of the policy and of the value network.
    pub hidden: Vec<usize>,
    /// The policy's hidden activation: `tanh` or `relu` (`relu` for an exact int8 export).
    pub activation: Activation,
    /// The value network's hidden activation (it is not exported).
    pub vf_activation: Activation,
    /// Orthogonal initialisation.
    pub ortho_init: bool,
    /// Initial log-std of a Gaussian policy.
    pub log_std_init: f64,
    /// Running observation normalization (exported with the policy).
    pub normalize_obs: bool,
    /// Scale rewards by the running std of the discounted return.
    pub normalize_reward: bool,
}

impl Default for A2cConfig {
    fn default() -> Self {
        Self {
            n_envs: 1,
            n_steps: 5,
            learning_rate: 7e-4,
            lr_schedule: Schedule::Constant,
            optimizer: A2cOptimizer::Rmsprop,
            rms_prop_alpha: 0.99,
            optimizer_eps: 1e-5,
            gamma: 0.99,
            gae_lambda: 1.0,
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            normalize_advantage: false,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            vf_activation: Activation::Tanh,
            ortho_init: true,
            log_std_init: 0.0,
            normalize_obs: false,
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

/// An A2C learner.
#[derive(Debug)]
pub struct A2c {
    cfg: A2cConfig,
    ac: ActorCritic,
    opt: PgOptimizer,
    envs: VecEnv,
    reward_norm: Option<RewardNorm>,
    rng: picorl_core::rng::Pcg32,
}

impl Actor for A2c {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        self.ac.act_deterministic(obs)
    }
}

impl Algorithm for A2c {
    const NAME: &'static str = "a2c";
    const CONFIG: &'static str = include_str!("../../../configs/a2c.toml");
    type Hyper = A2cConfig;

    fn new(setup: &Setup, cfg: A2cConfig) -> Result<Self> {
        anyhow::ensure!(
            cfg.n_envs > 0 && cfg.n_steps > 0,
            "n_envs and n_steps must be positive"
        );
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
            &NetOptions {
                hidden: cfg.hidden.clone(),
                activation: cfg.activation,
                ortho_init: cfg.ortho_init,
                log_std_init: cfg.log_std_init,
                normalize_obs: cfg.normalize_obs,
                use_sde: false,
                sde_sample_freq: -1,
            },
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
        let envs = setup.make_vec_env(cfg.n_envs)?;
        let reward_norm = cfg
            .normalize_reward
            .then(|| RewardNorm::new(cfg.n_envs, cfg.gamma));
        Ok(Self {
            cfg,
            ac,
            opt,
            envs,
            reward_norm,
            // Action draws have their own stream, apart from the environments' and libtorch's.
            rng: picorl_core::rng::seeded(setup.run.seed ^ 0x4132_435f_6163_7473),
        })
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &[
            "loss",
            "policy_loss",
            "value_loss",
            "entropy",
            "explained_variance",
            "learning_rate",
            "value_mean",
        ]
    }

    fn train_iter(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        let c = &self.cfg;
        let lr = c.lr_schedule.at(c.learning_rate, ctx.progress_remaining());
        self.opt.set_lr(lr);

        let r = collect(
            &mut self.ac,
            &mut self.envs,
            ctx,
            c.n_steps,
            c.gamma,
            self.reward_norm.as_mut(),
            &mut self.rng,
        )?;
        let (mut adv, ret) = r.gae(c.gamma, c.gae_lambda);
        let ev = explained_variance(&r.values, &ret);
        if c.normalize_advantage {
            normalize(&mut adv, 1e-8);
        }
        let device = self.ac.vs.device();
        let obs = obs_tensor(&r, self.ac.obs_dim(), device);
        let actions = action_tensor(&r, &self.ac.kind, device);
        let (log_probs, entropy, values) = self.ac.evaluate_with_value(&obs, &actions);
        let (loss, pg, vl, h) = a2c_loss(
            &log_probs,
            &entropy,
            &values,
            &Tensor::from_slice(&adv).to_device(device),
            &Tensor::from_slice(&ret).to_device(device),
            c.ent_coef,
            c.vf_coef,
        );
        self.opt.step(&loss, c.max_grad_norm);

        // One read of the diagnostics per update.
        let stats = tch::no_grad(|| Tensor::stack(&[&loss, &pg, &vl, &h], 0));
        let mut row: Vec<f64> = tensor_to_vec(&stats).into_iter().map(f64::from).collect();
        ctx.check_finite("the A2C loss", row[0])?;
        row.push(ev);
        row.push(lr);
        row.push(r.mean_value());
        ctx.log(&row)
    }

    fn save(&self, path: &Path) -> Result<()> {
        self.ac.save(path)
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        self.ac.load(path)
    }

    fn export(&self) -> Result<PolicyExport> {
        Ok(self.ac.export())
    }

    fn resume_state(&self) -> Result<Vec<(String, Tensor)>> {
        let state = PgResume::of_vec_learner(&self.rng, &self.envs, &self.reward_norm);
        resume_tensors(Self::NAME, &self.ac, &self.opt, state)
    }

    fn restore_state(&mut self, saved: &[(String, Tensor)]) -> Result<()> {
        match restore_tensors(Self::NAME, saved, &mut self.ac, &mut self.opt)? {
            Some(s) => s.restore_vec_learner(&mut self.rng, &mut self.envs, &mut self.reward_norm),
            None => Ok(()),
        }
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
