//! Deep Deterministic Policy Gradient (Lillicrap et al. 2016): TD3's learner with one critic,
//! an actor update after every critic update and no target policy smoothing (SB3's `DDPG` is its
//! `TD3` with these settings, and so is this one). Exploration noise is Gaussian or
//! Ornstein-Uhlenbeck (`noise_type`).

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::td3::{Td3, Td3Config};
use crate::eval::{Actor, OwnedAction};
use crate::export::PolicyExport;
use crate::train::{Algorithm, Setup, TrainCtx};

/// DDPG's hyper-parameters: [`Td3Config`]'s keys with DDPG's defaults (`n_critics = 1`,
/// `policy_delay = 1`, `target_policy_noise = 0`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DdpgConfig(pub Td3Config);

impl Default for DdpgConfig {
    fn default() -> Self {
        Self(Td3Config {
            n_critics: 1,
            policy_delay: 1,
            target_policy_noise: 0.0,
            ..Td3Config::default()
        })
    }
}

/// A DDPG learner.
#[derive(Debug)]
pub struct Ddpg(Td3);

impl Actor for Ddpg {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        self.0.act(obs)
    }
}

impl Algorithm for Ddpg {
    const NAME: &'static str = "ddpg";
    const CONFIG: &'static str = include_str!("../../configs/ddpg.toml");
    type Hyper = DdpgConfig;

    fn new(setup: &Setup, cfg: DdpgConfig) -> Result<Self> {
        Ok(Self(Td3::build(setup, cfg.0, "ddpg")?))
    }

    fn metric_names(&self) -> &'static [&'static str] {
        self.0.metric_names()
    }

    fn train_iter(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        self.0.train_round(ctx)
    }

    fn save(&self, path: &Path) -> Result<()> {
        self.0.save_to(path)
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        self.0.load_from(path)
    }

    fn export(&self) -> Result<PolicyExport> {
        Ok(self.0.export_policy())
    }

    fn resume_state(&self) -> Result<Vec<(String, tch::Tensor)>> {
        self.0.resume_tensors()
    }

    fn restore_state(&mut self, saved: &[(String, tch::Tensor)]) -> Result<()> {
        self.0.restore_tensors(saved)
    }
}
