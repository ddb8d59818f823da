//! Target networks: Polyak averaging `θ' ← τ θ + (1 - τ) θ'` of variables paired by name; `τ = 1`
//! is a hard copy.

use anyhow::{anyhow, bail, Result};
use tch::{nn, Tensor};

/// Target-network updates: the online and target variables paired by name once.
#[derive(Debug)]
pub struct TargetSync {
    pairs: Vec<(Tensor, Tensor)>,
}

impl TargetSync {
    /// Pairs two [`flatten_vars`] buffers of networks of the same shape: one operation per update.
    pub fn flat(online: &Tensor, target: &Tensor) -> Result<Self> {
        if online.size() != target.size() {
            bail!(
                "internal: flat buffers of {:?} and {:?} values",
                online.size(),
                target.size()
            );
        }
        Ok(Self {
            pairs: vec![(online.shallow_clone(), target.shallow_clone())],
        })
    }

    /// Pairs every variable of `target` with the one of the same name in `online`.
    pub fn new(online: &nn::VarStore, target: &nn::VarStore) -> Result<Self> {
        let on = online.variables();
        let mut names: Vec<(String, Tensor)> = target.variables().into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let pairs = names
            .into_iter()
            .map(|(name, t)| {
                let o = on.get(&name).ok_or_else(|| {
                    anyhow!("internal: target variable {name} has no online twin")
                })?;
                Ok((o.shallow_clone(), t))
            })
            .collect::<Result<Vec<_>>>()?;
        if pairs.len() != on.len() {
            bail!(
                "internal: {} online variables, {} target variables",
                on.len(),
                pairs.len()
            );
        }
        Ok(Self { pairs })
    }

    /// `θ' ← τ θ + (1 - τ) θ'` (a copy when `tau >= 1`).
    pub fn update(&self, tau: f64) {
        tch::no_grad(|| {
            for (online, target) in &self.pairs {
                let mut t = target.shallow_clone();
                if tau >= 1.0 {
                    t.copy_(online);
                } else {
                    let _ = t.lerp_(online, tau);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn polyak_and_hard_updates() {
        let online = nn::VarStore::new(Device::Cpu);
        let target = nn::VarStore::new(Device::Cpu);
        let a = online.root().var("w", &[2], nn::Init::Const(1.0));
        let b = target.root().var("w", &[2], nn::Init::Const(0.0));
        let sync = TargetSync::new(&online, &target).unwrap();
        sync.update(0.25);
        assert_eq!(crate::algo::nets::tensor_to_vec(&b), vec![0.25, 0.25]);
        sync.update(0.25);
        // 0.25 + 0.25 · (1 - 0.25) = 0.4375.
        assert_eq!(crate::algo::nets::tensor_to_vec(&b), vec![0.4375, 0.4375]);
        sync.update(1.0);
        assert_eq!(
            crate::algo::nets::tensor_to_vec(&b),
            crate::algo::nets::tensor_to_vec(&a)
        );
    }
}
