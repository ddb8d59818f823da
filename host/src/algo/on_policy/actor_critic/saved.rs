//! An [`ActorCritic`] in checkpoints: its weights file and its resume state.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use tch::Tensor;

use super::super::running_norm::RunningMeanStd;
use super::ActorCritic;
use crate::algo::backend::saved::{
    floats_under, layer_tensors, load_adam, load_layers_from, name_layers_from, save_adam,
};
use crate::algo::backend::{AdamState, Layer, Net, ParamVec};
use crate::algo::state::{Loading, Part, Saving, Weights};

impl ActorCritic {
    /// Loads the stacked layout of the libtorch-only learner (`w{i}`: `[2, in, out]`, the policy
    /// then the value network, whose output layer was padded to the policy's width).
    fn load_stacked(&mut self, saved: &BTreeMap<String, Vec<f32>>, path: &Path) -> Result<()> {
        let mut dims = vec![self.obs_dim];
        if let Some(b) = &self.body {
            dims.extend_from_slice(&b.dims()[1..]);
        }
        dims.push(self.kind.outputs());
        let n = dims.len() - 1;
        let (mut pi, mut vf) = (Vec::new(), Vec::new());
        for (k, w) in dims.windows(2).enumerate() {
            let (i, o) = (w[0], w[1]);
            let get = |key: String, want: usize| -> Result<&Vec<f32>> {
                match saved.get(&key) {
                    Some(v) if v.len() == want => Ok(v),
                    Some(v) => bail!(
                        "{}: `{key}` has {} values, the network expects {want}",
                        path.display(),
                        v.len()
                    ),
                    None => bail!("{}: no tensor `{key}`", path.display()),
                }
            };
            let wk = get(format!("w{k}"), 2 * i * o)?;
            let bk = get(format!("b{k}"), 2 * o)?;
            for (net, out) in [(0, &mut pi), (1, &mut vf)] {
                let cols = if net == 1 && k + 1 == n { 1 } else { o };
                let mut weight = vec![0.0; cols * i];
                for r in 0..i {
                    for j in 0..cols {
                        weight[j * i + r] = wk[net * i * o + r * o + j];
                    }
                }
                let bias = bk[net * o..net * o + cols].to_vec();
                out.push(Layer { weight, bias });
            }
        }
        self.set_pi_layers(&pi)?;
        self.vf.set_layers(&vf)
    }

    fn set_pi_layers(&mut self, layers: &[Layer]) -> Result<()> {
        let nb = self.body.as_ref().map_or(0, |b| b.dims().len() - 1);
        if let Some(b) = &mut self.body {
            b.set_layers(&layers[..nb])?;
        }
        self.head.set_layers(&layers[nb..])
    }
}

/// The weights file: the policy's layers (`pi.l{i}`), the value network's (`vf.l{i}`), the
/// log-std and the observation statistics (`obs_norm.{mean,var,count}`, as f32).
impl Weights for ActorCritic {
    fn save(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) -> Result<()> {
        let mut layers = Vec::new();
        let nb = match &self.body {
            Some(b) => {
                name_layers_from("pi", 0, b, &mut layers);
                b.dims().len() - 1
            }
            None => 0,
        };
        name_layers_from("pi", nb, &self.head, &mut layers);
        name_layers_from("vf", 0, &self.vf, &mut layers);
        layer_tensors(prefix, &layers, out);
        if let Some(ls) = &self.log_std {
            out.push((format!("{prefix}log_std"), Tensor::from_slice(&ls.values)));
        }
        if let Some(n) = &self.obs_norm {
            let f =
                |x: &[f64]| Tensor::from_slice(&x.iter().map(|&v| v as f32).collect::<Vec<_>>());
            out.push((format!("{prefix}obs_norm.mean"), f(&n.stats.mean)));
            out.push((format!("{prefix}obs_norm.var"), f(&n.stats.var)));
            out.push((format!("{prefix}obs_norm.count"), f(&[n.stats.count])));
        }
        Ok(())
    }

    fn load(&mut self, prefix: &str, saved: &[(String, Tensor)], path: &Path) -> Result<()> {
        let saved = floats_under(prefix, saved);
        if saved.contains_key("w0") && !saved.contains_key("pi.l0.weight") {
            self.load_stacked(&saved, path)?;
        } else {
            let nb = self.body.as_ref().map_or(0, |b| b.dims().len() - 1);
            if let Some(b) = &mut self.body {
                load_layers_from("pi", 0, b, &saved, path)?;
            }
            load_layers_from("pi", nb, &mut self.head, &saved, path)?;
            load_layers_from("vf", 0, &mut self.vf, &saved, path)?;
        }
        if let Some(ls) = &mut self.log_std {
            match saved.get("log_std") {
                Some(v) if v.len() == ls.values.len() => ls.values.clone_from(v),
                Some(v) => bail!(
                    "{}: `log_std` has {} values, the policy expects {}",
                    path.display(),
                    v.len(),
                    ls.values.len()
                ),
                None => bail!("{}: no tensor `log_std`", path.display()),
            }
        }
        if let Some(n) = &mut self.obs_norm {
            let get = |key: &str, want: usize| -> Result<Vec<f64>> {
                match saved.get(key) {
                    Some(v) if v.len() == want => Ok(v.iter().map(|&x| f64::from(x)).collect()),
                    _ => bail!(
                        "{}: no observation statistics `{key}` of {want} values",
                        path.display()
                    ),
                }
            };
            n.stats.mean = get("obs_norm.mean", self.obs_dim)?;
            n.stats.var = get("obs_norm.var", self.obs_dim)?;
            n.stats.count = get("obs_norm.count", 1)?[0];
        }
        self.stale = true;
        self.cpu_stale = true;
        self.sync_cpu()
    }
}

/// The resume state beyond the weights: every network's and the log-std's optimizer state
/// (`adam{i}_m`, `adam{i}_v`, `adam_t`; the policy's body, its head, the value network, the
/// log-std), and the observation statistics in `f64` (the weights hold them as `f32`), as
/// `obs_norm` (null without normalization).
impl Part for ActorCritic {
    fn save(&self, name: &str, out: &mut Saving) -> Result<()> {
        let mut states: Vec<AdamState> = self.nets().filter_map(Net::adam_state).collect();
        states.extend(self.log_std.as_ref().map(ParamVec::opt_state));
        save_adam(&states, name, out)?;
        let stats = self.obs_norm.as_ref().map(|n| &n.stats);
        out.json(&format!("{name}obs_norm"), &stats)
    }

    fn load(&mut self, name: &str, from: &Loading) -> Result<()> {
        let n = self.nets().count() + usize::from(self.log_std.is_some());
        let states = load_adam(n, name, from)?;
        let mut it = states.iter();
        for net in self.body.iter_mut().chain([&mut self.head, &mut self.vf]) {
            if let Some(s) = it.next() {
                net.set_adam_state(s)?;
            }
        }
        if let (Some(ls), Some(s)) = (&mut self.log_std, it.next()) {
            ls.set_opt_state(s)?;
        }
        let saved: Option<RunningMeanStd> = from.json(&format!("{name}obs_norm"))?;
        match (&mut self.obs_norm, saved) {
            (Some(n), Some(stats)) if n.stats.same_shape(&stats) => n.stats = stats,
            (None, None) => {}
            _ => bail!("the checkpoint's observation statistics do not fit this run's"),
        }
        Ok(())
    }
}
