//! Loading a run directory's algorithm from one of its checkpoints, for `eval`, `export`,
//! `render` and the tests: the run's own config, on the CPU.

use std::path::Path;

use anyhow::{bail, Result};

use super::config::ResolvedConfig;
use super::{Algorithm, Setup, CHECKPOINT};

/// Loads a run directory's algorithm with its checkpoint, ready to act or export.
pub fn load_run<A: Algorithm>(dir: &Path, cfg: &ResolvedConfig) -> Result<(A, Setup)> {
    load_run_from(dir, cfg, CHECKPOINT)
}

/// [`load_run`] from a checkpoint of the run by name: [`CHECKPOINT`] (the last) or
/// [`super::BEST`] (the best evaluation's).
pub fn load_run_from<A: Algorithm>(
    dir: &Path,
    cfg: &ResolvedConfig,
    checkpoint: &str,
) -> Result<(A, Setup)> {
    let mut run = cfg.run.clone();
    run.device = "cpu".into();
    if crate::envs::gym::packages().is_empty() {
        crate::envs::gym::set_packages(&run.gym_packages);
    }
    let spec = *crate::envs::make(&run.env, &run.env_kwargs)?.spec();
    let setup = Setup {
        run,
        device: tch::Device::Cpu,
        spec,
    };
    // Its initial weights, drawn from libtorch's generator, are replaced by the checkpoint's.
    let mut algo = {
        let _turn = super::torch_generator();
        A::new(&setup, cfg.hyper()?)?
    };
    let ckpt = dir.join(checkpoint);
    if !ckpt.exists() {
        bail!(
            "{}: no {checkpoint} (the run has not saved {} yet)",
            dir.display(),
            if checkpoint == CHECKPOINT {
                "a checkpoint"
            } else {
                "an evaluated checkpoint"
            }
        );
    }
    algo.load(&ckpt)?;
    Ok((algo, setup))
}
