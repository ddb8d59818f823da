//! Environments of the user's own, registered beside the built-ins: a crate implements core's
//! [`Env`] and [`UserEnv`] (no_std, so the same code runs on the controller), and its `main` is
//!
//! ```no_run
//! # use picorl_core::env::{Action, Env, EnvError, EnvSpec, Space, StepResult, UserEnv};
//! # struct MyRobot;
//! # const SPEC: EnvSpec = EnvSpec { id: "MyRobot-v0", observation_space: Space::Discrete { n: 1 },
//! #     action_space: Space::Discrete { n: 1 }, max_episode_steps: 1 };
//! # impl Env for MyRobot {
//! #     fn spec(&self) -> &EnvSpec { &SPEC }
//! #     fn reset(&mut self, _: Option<u64>, _: &mut [f32]) -> Result<(), EnvError> { Ok(()) }
//! #     fn step(&mut self, _: Action<'_>, _: &mut [f32]) -> Result<StepResult, EnvError> { Err(EnvError::NeedsReset) }
//! #     fn state_dim(&self) -> usize { 0 }
//! #     fn get_state(&self, _: &mut [f64]) -> Result<(), EnvError> { Ok(()) }
//! #     fn set_state(&mut self, _: &[f64], _: &mut [f32]) -> Result<(), EnvError> { Ok(()) }
//! # }
//! # impl UserEnv for MyRobot { const SPEC: EnvSpec = SPEC; fn make(_: &[(&str, &str)]) -> Result<Self, EnvError> { Ok(MyRobot) } }
//! use picorl_host::envs::user_env::{EnvRegistration, Registry};
//!
//! fn main() -> std::process::ExitCode {
//!     picorl_host::cli::run_with(
//!         Registry::new().register(
//!             EnvRegistration::of::<MyRobot>().config("ppo", "[MyRobot-v0]\ntotal_steps = 100000\n"),
//!         ),
//!     )
//! }
//! ```
//!
//! That binary is the whole `picorl` command line with `MyRobot-v0` in `picorl env list`, and
//! `train` (every algorithm whose action space fits), `--resume`, `eval`, `export`, `plot` and,
//! with [`EnvRegistration::picture`], `render` take it by its id.
//!
//! What the host adds around a user's environment ([`make`] wraps it):
//! - a panic inside `reset`, `step` or the state calls is caught there and becomes an error that
//!   carries the panic's message, which ends the run the way any error does (the run directory
//!   keeps its last checkpoint);
//! - a NaN or infinite observation value or reward is an error naming the value and the step;
//! - a continuous action outside the declared bounds (by more than rounding) or of the wrong
//!   length is an error before the environment sees it; a discrete one out of range likewise;
//! - the registration itself is checked when the binary starts: ids must be new, spaces well
//!   formed, and the environment must reset with its default options into a buffer of its
//!   declared observation length.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::{Action, Env, EnvError, EnvSpec, Space, StepResult, UserEnv};
use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea};

/// plotters, as the host draws with it: a [`Picture`]'s `draw` function paints with it, and a
/// user's crate needs no plotters of its own (nor a matching version).
pub use plotters;

/// Where a [`Picture`] draws: a white canvas of the picture's size, y down, in pixels.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// What a [`Picture`]'s `draw` returns.
pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// How `picorl render` draws a user's environment: one frame per step from its internal state
/// (what [`Env::get_state`] copies out) and the action that led there.
#[derive(Debug, Clone, Copy)]
pub struct Picture {
    /// The default size in pixels (width, height); `--size` overrides it.
    pub size: (u32, u32),
    /// Frames per second of the GIF by default; `--fps` overrides it.
    pub fps: f64,
    /// Draws the state; `action` is `None` after a reset. picorl writes the caption (id, step,
    /// return, action) over it.
    pub draw: fn(area: &Area<'_>, state: &[f64], action: Option<&[f32]>) -> DrawResult,
}

/// Builds a boxed user environment from checked options.
type MakeFn = fn(&[(&str, &str)]) -> Result<Box<dyn Env + Send>, EnvError>;

fn make_boxed<E: UserEnv + Send + 'static>(
    options: &[(&str, &str)],
) -> Result<Box<dyn Env + Send>, EnvError> {
    E::make(options).map(|e| Box::new(e) as Box<dyn Env + Send>)
}

/// One environment of the user's own: its spec, how to make it, its hyper-parameters per
/// algorithm and, optionally, its picture.
#[derive(Debug, Clone)]
pub struct EnvRegistration {
    spec: &'static EnvSpec,
    options: &'static [&'static str],
    make: MakeFn,
    configs: Vec<(String, &'static str)>,
    picture: Option<Picture>,
}

impl EnvRegistration {
    /// The registration of `E`, with no built-in hyper-parameters and no picture.
    pub fn of<E: UserEnv + Send + 'static>() -> Self {
        Self {
            // One spec per registration, for the life of the process.
            spec: Box::leak(Box::new(E::SPEC)),
            options: E::OPTIONS,
            make: make_boxed::<E>,
            configs: Vec::new(),
            picture: None,
        }
    }

    /// Built-in hyper-parameters for `algo` (`ppo`, `sac`, …): TOML with a section named after
    /// the environment's id, as in picorl's `configs/<algo>.toml` (`total_steps`,
    /// `eval_every`, … and the algorithm's keys). `--config FILE` still replaces it.
    pub fn config(mut self, algo: &str, toml: &'static str) -> Self {
        self.configs.push((algo.to_string(), toml));
        self
    }

    /// How `picorl render` draws the environment.
    pub fn picture(mut self, picture: Picture) -> Self {
        self.picture = Some(picture);
        self
    }

    /// The spec.
    pub fn spec(&self) -> &'static EnvSpec {
        self.spec
    }

    /// The built-in hyper-parameters for `algo`, if registered.
    pub fn config_for(&self, algo: &str) -> Option<&'static str> {
        self.configs
            .iter()
            .find(|(a, _)| a == algo)
            .map(|(_, text)| *text)
    }

    /// The picture, if registered.
    pub fn picture_of(&self) -> Option<&Picture> {
        self.picture.as_ref()
    }

    /// Makes the environment with `kwargs`, wrapped in the host's checks. An unknown key is an
    /// error that lists the known ones.
    pub fn make(&self, kwargs: &BTreeMap<String, String>) -> Result<Box<dyn Env + Send>> {
        let id = self.spec.id;
        if let Some(k) = kwargs.keys().find(|k| !self.options.contains(&k.as_str())) {
            bail!(
                "{id}: unknown option `{k}` (options: {})",
                if self.options.is_empty() {
                    "none".to_string()
                } else {
                    self.options.join(", ")
                }
            );
        }
        let pairs: Vec<(&str, &str)> = kwargs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let env = guarded(|| (self.make)(&pairs))
            .map_err(|e| anyhow!("{id}: making it with {kwargs:?}: {e}"))?;
        if env.spec() != self.spec {
            bail!(
                "{id}: the environment's spec() is not its registered SPEC (it says id `{}`)",
                env.spec().id
            );
        }
        Ok(Box::new(Checked::new(env)))
    }

    /// Checks the registration: a new id, well-formed spaces, and an environment that makes
    /// with its defaults and resets into a buffer of its declared observation length.
    fn check(&self, taken: &[&str]) -> Result<()> {
        let s = self.spec;
        if s.id.is_empty() || s.id.starts_with("gym:") || s.id.contains(char::is_whitespace) {
            bail!(
                "`{}`: an id is non-empty, has no spaces and does not start with gym:",
                s.id
            );
        }
        if taken.contains(&s.id) {
            bail!(
                "{}: the id is already taken (by a built-in or an earlier registration)",
                s.id
            );
        }
        for (what, space) in [
            ("observation", &s.observation_space),
            ("action", &s.action_space),
        ] {
            if !space.is_valid() {
                bail!(
                    "{}: the {what} space {space:?} is not well formed (a Box needs dim > 0, \
                     exactly dim low and high bounds, low <= high, no NaN; Discrete needs n > 0)",
                    s.id
                );
            }
        }
        let mut env = self.make(&BTreeMap::new())?;
        let mut obs = vec![0.0f32; s.obs_dim()];
        env.reset(Some(0), &mut obs).map_err(|e| {
            anyhow!(
                "{}: reset(seed 0) into a buffer of the declared {} observation values: {e}",
                s.id,
                s.obs_dim()
            )
        })?;
        Ok(())
    }
}

/// The environments of the user's own that a `picorl` binary knows, in registration order.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    envs: Vec<EnvRegistration>,
}

impl Registry {
    /// No environments of the user's own: the plain `picorl`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one environment.
    pub fn register(mut self, env: EnvRegistration) -> Self {
        self.envs.push(env);
        self
    }

    /// The registered environments.
    pub fn envs(&self) -> &[EnvRegistration] {
        &self.envs
    }
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Makes `registry` the process's environments of the user's own, after checking every
/// registration ([`EnvRegistration`]'s checks). Once per process; `cli::run_with` calls it.
pub fn install(registry: Registry) -> Result<()> {
    let mut taken: Vec<&str> = crate::envs::specs().map(|s| s.id).collect();
    for r in &registry.envs {
        r.check(&taken).context("registering an environment")?;
        taken.push(r.spec.id);
    }
    REGISTRY
        .set(registry)
        .map_err(|_| anyhow!("the environments of the user's own were already registered"))
}

/// The registration of `id`, if it is a user's environment.
pub fn find(id: &str) -> Option<&'static EnvRegistration> {
    REGISTRY.get()?.envs.iter().find(|r| r.spec.id == id)
}

/// The specs of the user's environments, in registration order.
pub fn specs() -> impl Iterator<Item = &'static EnvSpec> {
    REGISTRY
        .get()
        .into_iter()
        .flat_map(|r| r.envs.iter().map(|e| e.spec))
}

thread_local! {
    /// The message of a panic caught by [`guarded`] on this thread (set by the panic hook).
    static CAUGHT: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Runs `f` (a call into a user's environment), turning a panic into
/// [`EnvError::Failed`] with the panic's message and place; the default panic message is not
/// printed for it (the error says it once).
fn guarded<T>(f: impl FnOnce() -> Result<T, EnvError>) -> Result<T, EnvError> {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let inside = CAUGHT.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(slot) => {
                        let msg = info
                            .payload()
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| info.payload().downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic without a message".to_string());
                        *slot = Some(match info.location() {
                            Some(l) => format!("{msg} (at {}:{})", l.file(), l.line()),
                            None => msg,
                        });
                        true
                    }
                    None => false,
                }
            });
            if !inside {
                previous(info);
            }
        }));
    });
    CAUGHT.with(|c| *c.borrow_mut() = Some(None));
    let out = panic::catch_unwind(AssertUnwindSafe(f));
    let msg = CAUGHT.with(|c| c.borrow_mut().take()).flatten();
    match out {
        Ok(r) => r,
        Err(_) => Err(failed(format!(
            "the environment panicked: {}",
            msg.unwrap_or_else(|| "no message".to_string())
        ))),
    }
}

/// An [`EnvError::Failed`] with `reason`. The text lives for the rest of the process: an error
/// ends the command, so at most a few are ever made.
fn failed(reason: String) -> EnvError {
    EnvError::Failed {
        reason: Box::leak(reason.into_boxed_str()),
    }
}

/// A user's environment inside the host's checks (see the module's list).
struct Checked {
    inner: Box<dyn Env + Send>,
    /// Steps since the last reset or set state.
    step: u64,
    /// The seed of the last reset (`None`: the generator continued).
    seed: Option<u64>,
}

impl Checked {
    fn new(inner: Box<dyn Env + Send>) -> Self {
        Self {
            inner,
            step: 0,
            seed: None,
        }
    }

    /// "step 17 of the episode reset with seed 5", for messages.
    fn at(&self) -> String {
        match self.seed {
            Some(s) => format!("step {} of the episode reset with seed {s}", self.step),
            None => format!("step {} of an episode reset without a seed", self.step),
        }
    }

    fn check_obs(&self, obs: &[f32]) -> Result<(), EnvError> {
        self.check_finite("observation", obs)
    }

    /// An error naming the first value of `what` that is NaN or infinite, and the step.
    fn check_finite(&self, what: &str, values: &[f32]) -> Result<(), EnvError> {
        match values.iter().position(|v| !v.is_finite()) {
            Some(i) => Err(failed(format!(
                "{what} value {i} is {} at {}",
                values[i],
                self.at()
            ))),
            None => Ok(()),
        }
    }

    fn check_len(&self, obs: &[f32]) -> Result<(), EnvError> {
        let expected = self.inner.spec().obs_dim();
        if obs.len() == expected {
            Ok(())
        } else {
            Err(EnvError::ObsBuffer {
                expected,
                got: obs.len(),
            })
        }
    }

    /// The action, checked against the declared space; a component outside its bounds by no
    /// more than rounding (a millionth of the range) is brought back inside.
    fn check_action<'a>(
        &self,
        action: Action<'a>,
        buf: &'a mut Vec<f32>,
    ) -> Result<Action<'a>, EnvError> {
        match (action, &self.inner.spec().action_space) {
            (Action::Discrete(a), Space::Discrete { n }) => {
                if a < *n {
                    Ok(action)
                } else {
                    Err(EnvError::ActionOutOfRange { action: a, n: *n })
                }
            }
            (Action::Continuous(v), Space::Box { dim, low, high }) => {
                if v.len() != *dim {
                    return Err(EnvError::ActionDim {
                        expected: *dim,
                        got: v.len(),
                    });
                }
                buf.clear();
                for (i, ((&a, &l), &h)) in v.iter().zip(low.iter()).zip(high.iter()).enumerate() {
                    if !a.is_finite() {
                        return Err(EnvError::NonFiniteAction { index: i });
                    }
                    let tol = if (h - l).is_finite() {
                        1e-6 * (h - l)
                    } else {
                        0.0
                    };
                    if a < l - tol || a > h + tol {
                        return Err(failed(format!(
                            "action component {i} = {a:?} is outside its bounds [{l:?}, {h:?}] at {}",
                            self.at()
                        )));
                    }
                    buf.push(a.clamp(l, h));
                }
                Ok(Action::Continuous(buf))
            }
            _ => Err(EnvError::WrongActionKind),
        }
    }
}

impl Env for Checked {
    fn spec(&self) -> &EnvSpec {
        self.inner.spec()
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        self.check_len(obs)?;
        self.step = 0;
        self.seed = seed;
        let inner = &mut self.inner;
        guarded(|| inner.reset(seed, obs))?;
        self.check_obs(obs)
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        self.check_len(obs)?;
        // The step being taken, for messages (an action refused here is at this step too).
        self.step += 1;
        let mut buf = Vec::new();
        let action = self.check_action(action, &mut buf)?;
        let inner = &mut self.inner;
        let r = guarded(|| inner.step(action, obs))?;
        self.check_obs(obs)?;
        if !r.reward.is_finite() {
            return Err(failed(format!("reward is {} at {}", r.reward, self.at())));
        }
        Ok(r)
    }

    fn state_dim(&self) -> usize {
        // A panic here has no error to become: an empty state, which get_state then refuses.
        let inner = &self.inner;
        guarded(|| Ok(inner.state_dim())).unwrap_or(0)
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        let inner = &self.inner;
        guarded(|| inner.get_state(out))
    }

    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        self.check_len(obs)?;
        self.step = 0;
        self.seed = None;
        let inner = &mut self.inner;
        guarded(|| inner.set_state(state, obs))?;
        self.check_obs(obs)
    }

    fn privileged_dim(&self) -> usize {
        let inner = &self.inner;
        guarded(|| Ok(inner.privileged_dim())).unwrap_or(0)
    }

    fn write_privileged(&self, out: &mut [f32]) -> Result<(), EnvError> {
        let inner = &self.inner;
        guarded(|| inner.write_privileged(out))?;
        self.check_finite("privileged observation", out)
    }
}
