//! Training copies whose observation carries the environment's privileged observation
//! ([`Env::write_privileged`]) after its own: what an asymmetric critic (Pinto et al. 2018;
//! *Learning to Fly in Seconds*, Eschmann et al. 2024, Sec. III-C) reads while the actor reads the
//! observation the deployed policy will see.
//!
//! [`WithPrivileged`] wraps one copy: its observation is `[obs (d), privileged (s)]`, written
//! after every reset, step and `set_state`, so the vectorized copies, the n-step windows, the
//! replay memory and a `--resume` journal carry both without knowing of it. Only the training
//! copies are wrapped; evaluation, export and the controller see the plain environment.

use picorl_core::env::{Action, Env, EnvError, EnvSpec, Space, StepResult};

/// The widest observation (`d + s`) a wrapped copy may have: the wrapped spec's bounds are
/// slices of these (unbounded: only the plain environment's spec is shown to users).
const MAX_DIM: usize = 4096;
static LOW: [f32; MAX_DIM] = [f32::NEG_INFINITY; MAX_DIM];
static HIGH: [f32; MAX_DIM] = [f32::INFINITY; MAX_DIM];

/// One copy whose observation is followed by its privileged observation.
pub struct WithPrivileged {
    inner: Box<dyn Env + Send>,
    spec: EnvSpec,
    obs_dim: usize,
}

impl WithPrivileged {
    /// Wraps `inner`; an error when it has no privileged observation (naming it) or the two
    /// together are wider than 4,096 values.
    pub fn new(inner: Box<dyn Env + Send>) -> anyhow::Result<Self> {
        let plain = *inner.spec();
        let (d, s) = (plain.obs_dim(), inner.privileged_dim());
        anyhow::ensure!(
            s > 0,
            "{} has no privileged observation for an asymmetric critic \
             (critic_input = \"privileged\"): use critic_input = \"observation\"",
            plain.id
        );
        anyhow::ensure!(
            d + s <= MAX_DIM,
            "{}: an observation of {d} and a privileged observation of {s} values are more than \
             {MAX_DIM} together",
            plain.id
        );
        Ok(Self {
            inner,
            spec: EnvSpec {
                observation_space: Space::Box {
                    dim: d + s,
                    low: &LOW[..d + s],
                    high: &HIGH[..d + s],
                },
                ..plain
            },
            obs_dim: d,
        })
    }

    /// The plain observation's length and the buffer split after it.
    fn split<'a>(&self, obs: &'a mut [f32]) -> Result<(&'a mut [f32], &'a mut [f32]), EnvError> {
        let expected = self.spec.obs_dim();
        if obs.len() != expected {
            return Err(EnvError::ObsBuffer {
                expected,
                got: obs.len(),
            });
        }
        Ok(obs.split_at_mut(self.obs_dim))
    }
}

impl Env for WithPrivileged {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        let (plain, privileged) = self.split(obs)?;
        self.inner.reset(seed, plain)?;
        self.inner.write_privileged(privileged)
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let (plain, privileged) = self.split(obs)?;
        let r = self.inner.step(action, plain)?;
        self.inner.write_privileged(privileged)?;
        Ok(r)
    }

    fn state_dim(&self) -> usize {
        self.inner.state_dim()
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        self.inner.get_state(out)
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        let (plain, privileged) = self.split(obs)?;
        self.inner.set_state(state, plain)?;
        self.inner.write_privileged(privileged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picorl_core::env::EnvOptions;

    #[test]
    fn the_observation_is_followed_by_the_privileged_one() {
        let make = || -> Box<dyn Env + Send> {
            Box::new(picorl_core::env::make("Quadrotor-v0", &EnvOptions::default()).unwrap())
        };
        let mut plain = make();
        let mut wide = WithPrivileged::new(make()).unwrap();
        let (d, s) = (plain.spec().obs_dim(), plain.privileged_dim());
        assert_eq!(wide.spec().obs_dim(), d + s);
        assert_eq!(wide.spec().id, "Quadrotor-v0");
        let (mut o, mut w, mut p) = (vec![0.0; d], vec![0.0; d + s], vec![0.0; s]);
        plain.reset(Some(7), &mut o).unwrap();
        wide.reset(Some(7), &mut w).unwrap();
        for k in 0..30 {
            let a = [0.1 * (k % 3) as f32, -0.2, 0.3, 0.0];
            let r1 = plain.step(Action::Continuous(&a), &mut o).unwrap();
            let r2 = wide.step(Action::Continuous(&a), &mut w).unwrap();
            assert_eq!(r1, r2);
            plain.write_privileged(&mut p).unwrap();
            assert_eq!(&w[..d], &o[..]);
            assert_eq!(&w[d..], &p[..]);
        }
        assert!(matches!(
            wide.step(Action::Continuous(&[0.0; 4]), &mut o),
            Err(EnvError::ObsBuffer { .. })
        ));
    }

    #[test]
    fn an_environment_without_one_is_an_error_naming_it() {
        let env = Box::new(picorl_core::env::make("Pendulum-v1", &EnvOptions::default()).unwrap());
        let e = WithPrivileged::new(env).err().unwrap().to_string();
        assert!(e.contains("Pendulum-v1") && e.contains("privileged"), "{e}");
    }
}
