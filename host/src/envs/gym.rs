//! The Gymnasium bridge: `--env gym:ID` steps any Gymnasium environment with Box (1-D) and
//! Discrete spaces in Python worker processes, behind core's [`Env`] trait, so that every
//! learner, evaluation, export's calibration rollouts and `picorl eval FILE.picorl --env gym:ID`
//! use it unchanged.
//!
//! - **Workers.** One Python process of the project venv's interpreter ([`python`]) holds the
//!   copies of one [`crate::envs::vec_env::VecEnv`] (a vectorized worker: one message steps them all,
//!   with Gymnasium's same-step autoreset done in the worker) or the single copy that
//!   [`crate::envs::make`] asks for. Its source, `host/python/picorl_gym_worker.py`, is embedded
//!   in the binary and run with `python -c`; its docstring is the protocol: little-endian frames
//!   `op:u8 len:u32 payload` over the worker's stdin and stdout (`f32` observations and
//!   continuous actions, `u32` discrete actions, `f64` rewards, `u8` flags).
//! - **No orphans.** Workers are started from one long-lived thread and set `PR_SET_PDEATHSIG`
//!   (SIGKILL) through `ctypes.prctl`, so a SIGKILLed trainer takes them along; they also exit on
//!   end of file on stdin, and a dropped worker is killed and reaped.
//! - **Errors.** A Python exception in `make`, `reset` or `step` becomes one message naming the
//!   environment and the exception's last line (`gym:Foo-v0: ValueError: …`); a worker that dies
//!   is reported with its exit status and the last line it wrote to stderr. NaN or infinite
//!   observations and rewards, observations of the wrong length and actions outside the declared
//!   bounds are errors that say which step and which component. Every failure reaches core's
//!   [`Env`] callers as [`EnvError::Failed`], whose text is leaked once per failure (a failure
//!   ends the run).
//! - **Seeds.** `Env::reset(Some(seed))` is Gymnasium's `reset(seed=seed)`; `reset(None)` is
//!   `reset()`, which continues the environment's generator. `terminated` and `truncated` are
//!   Gymnasium's own (its `TimeLimit` wrapper truncates).
//! - **Specs.** The spaces are read from the worker when the environment is first made, once per
//!   distinct (id, kwargs, `--gym-packages`); their bounds and id are leaked once per such key
//!   (a bounded leak: a process makes a handful).
//! - **Idle workers are kept.** A single-copy environment that is dropped hands its worker to a
//!   small pool, from which the next `make` of the same key takes it (evaluations make an
//!   environment each time; starting Python and importing Gymnasium costs about a second). A
//!   pooled worker is always reset with a seed before use, which rebuilds its state.
//! - **Resume.** [`crate::envs::vec_env::VecEnv::restore`] replays the journal (the seeded reset and
//!   every action since, with the autoresets) inside the worker in one message per copy. That is
//!   exact for every environment whose episodes are a function of the `reset(seed=…)` seed and
//!   the actions, which Gymnasium asks of every environment (its `np_random`). An environment
//!   that draws from elsewhere (Python's `random` module, the global `numpy.random`, the clock)
//!   or that simulates non-deterministically (multi-threaded physics) resumes into a different
//!   state: the run continues, but not bit for bit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Result};
use picorl_core::env::{Action, Env, EnvError, EnvSpec, Space, StepResult, NO_TIME_LIMIT};

use crate::envs::vec_env::{Actions, BatchOut, BatchStep, VecEnv};

mod worker;

use worker::*;

/// The prefix of a Gymnasium id on picorl's command line: `gym:Hopper-v5`.
pub const PREFIX: &str = "gym:";

/// The worker's source, run with `python -c`.
pub(super) const WORKER_SOURCE: &str = include_str!("../../python/picorl_gym_worker.py");

/// Gymnasium's id in a `gym:ID`, or `None` for another id.
pub fn gym_id(id: &str) -> Option<&str> {
    id.strip_prefix(PREFIX)
}

/// Whether `id` names a Gymnasium environment (`gym:…`).
pub fn is_gym(id: &str) -> bool {
    id.starts_with(PREFIX)
}

static PACKAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Sets the modules every worker started from now on imports before `gymnasium.make`
/// (`--gym-packages`, or a run's `config.toml`).
pub fn set_packages(modules: &[String]) {
    *PACKAGES.lock().unwrap_or_else(|e| e.into_inner()) = modules.to_vec();
}

/// The modules set by [`set_packages`].
pub fn packages() -> Vec<String> {
    PACKAGES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The interpreter the workers run: `$PICORL_PYTHON`, else the venv's `python3`
/// (`$PICORL_VENV`, else the venv whose libtorch the binary was built against), else `python3`
/// on `PATH`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PICORL_PYTHON") {
        return p.into();
    }
    if let Some(v) = std::env::var_os("PICORL_VENV") {
        let p = Path::new(&v).join("bin/python3");
        if p.exists() {
            return p;
        }
    }
    // `<venv>/lib/python3.X/site-packages/torch/lib`: five folders below the venv.
    if let Some(lib) = option_env!("PICORL_LIBTORCH_BUILD_DIR") {
        if let Some(venv) = Path::new(lib).ancestors().nth(5) {
            let p = venv.join("bin/python3");
            if p.exists() {
                return p;
            }
        }
    }
    PathBuf::from("python3")
}

/// Idle single-copy workers, by key (see the module docs).
static POOL: Mutex<Vec<(Key, Worker)>> = Mutex::new(Vec::new());
/// The most idle workers kept.
const POOL_SIZE: usize = 4;

/// Specs read so far, by (id, kwargs, packages).
#[allow(clippy::type_complexity)]
static SPECS: Mutex<Vec<((String, BTreeMap<String, String>, Vec<String>), Described)>> =
    Mutex::new(Vec::new());

/// An environment's spec with the bounds the bridge checks actions against.
#[derive(Debug, Clone, Copy)]
struct Described {
    spec: EnvSpec,
    act_low: &'static [f32],
    act_high: &'static [f32],
}

fn leak<T: Clone>(v: &[T]) -> &'static [T] {
    Box::leak(v.to_vec().into_boxed_slice())
}

/// Core's space for a worker's, bounds leaked (once per spec key).
fn core_space(label: &str, what: &str, s: &GymSpace) -> Result<Space> {
    match s {
        GymSpace::Discrete { n } if *n > 0 => Ok(Space::Discrete { n: *n }),
        GymSpace::Discrete { n } => bail!("{label}: the {what} space is Discrete({n})"),
        GymSpace::Box { low, high } => {
            if low.is_empty() {
                bail!("{label}: the {what} space is an empty Box");
            }
            if let Some(i) = (0..low.len()).find(|&i| low[i].is_nan() || high[i].is_nan()) {
                bail!("{label}: the {what} space has a NaN bound at index {i}");
            }
            if let Some(i) = (0..low.len()).find(|&i| low[i] > high[i]) {
                bail!(
                    "{label}: the {what} space has low {:?} > high {:?} at index {i}",
                    low[i],
                    high[i]
                );
            }
            Ok(space_box(low, high))
        }
    }
}

fn space_box(low: &[f32], high: &[f32]) -> Space {
    Space::Box {
        dim: low.len(),
        low: leak(low),
        high: leak(high),
    }
}

/// The spec for a worker's hello, interned per (id, kwargs, packages).
fn describe(key: &Key, hello: &Hello) -> Result<Described> {
    let skey = (key.id.clone(), key.kwargs.clone(), key.packages.clone());
    let mut specs = SPECS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, d)) = specs.iter().find(|(k, _)| *k == skey) {
        return Ok(*d);
    }
    let label = format!("{PREFIX}{}", key.id);
    let observation_space = core_space(&label, "observation", &hello.obs)?;
    let action_space = core_space(&label, "action", &hello.act)?;
    let (act_low, act_high) = match action_space {
        Space::Box { low, high, .. } => (low, high),
        Space::Discrete { .. } => (&[][..], &[][..]),
    };
    let max_episode_steps = match hello.max_episode_steps {
        Some(n) => u32::try_from(n).unwrap_or(NO_TIME_LIMIT),
        None => NO_TIME_LIMIT,
    };
    let d = Described {
        spec: EnvSpec {
            id: Box::leak(label.into_boxed_str()),
            observation_space,
            action_space,
            max_episode_steps,
        },
        act_low,
        act_high,
    };
    specs.push((skey, d));
    Ok(d)
}

/// A worker for `key`, from the pool or new, with its spec.
fn lease(key: Key) -> Result<Lease> {
    let pooled = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.iter()
            .position(|(k, _)| *k == key)
            .map(|i| pool.swap_remove(i).1)
    };
    let skey = (key.id.clone(), key.kwargs.clone(), key.packages.clone());
    if let Some(worker) = pooled {
        let specs = SPECS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, d)) = specs.iter().find(|(k, _)| *k == skey) {
            return Ok(Lease {
                key,
                described: *d,
                render: false,
                render_fps: None,
                worker: Some(worker),
            });
        }
    }
    let (worker, hello) = Worker::start(&key)?;
    let described = describe(&key, &hello)?;
    Ok(Lease {
        key,
        described,
        render: hello.render,
        render_fps: hello.render_fps,
        worker: Some(worker),
    })
}

/// A worker leased for a while: back to the pool when dropped, if it is healthy.
#[derive(Debug)]
struct Lease {
    key: Key,
    described: Described,
    render: bool,
    render_fps: Option<f64>,
    worker: Option<Worker>,
}

impl Lease {
    fn call(&mut self, op: u8, payload: &[u8]) -> Result<&[u8], String> {
        match self.worker.as_mut() {
            Some(w) => w.call(op, payload),
            None => Err(format!("{PREFIX}{}: no worker", self.key.id)),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(w) = self.worker.take() else { return };
        if w.broken || self.key.copies != 1 || self.key.render {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_SIZE {
            pool.push((self.key.clone(), w));
        }
    }
}

/// Makes the key for `id` (`gym:…`) with the current packages.
fn key(id: &str, kwargs: &BTreeMap<String, String>, copies: usize, render: bool) -> Result<Key> {
    let Some(gid) = gym_id(id) else {
        bail!("{id} is not a Gymnasium id (gym:ID)");
    };
    if gid.is_empty() {
        bail!("--env gym: needs a Gymnasium id after the colon (gym:CartPole-v1)");
    }
    Ok(Key {
        id: gid.to_string(),
        kwargs: kwargs.clone(),
        packages: packages(),
        copies,
        render,
    })
}

/// The spec of `gym:ID` with `kwargs` (starting a worker the first time).
pub fn spec(id: &str, kwargs: &BTreeMap<String, String>) -> Result<EnvSpec> {
    Ok(make(id, kwargs)?.described.spec)
}

/// One copy of `gym:ID` (its own worker).
pub fn make(id: &str, kwargs: &BTreeMap<String, String>) -> Result<GymEnv> {
    let lease = lease(key(id, kwargs, 1, false)?)?;
    Ok(GymEnv::new(Arc::new(Mutex::new(lease)), 0))
}

/// One copy of `gym:ID` made with `render_mode="rgb_array"`, for [`GymEnv::frame`].
pub fn make_rendering(id: &str, kwargs: &BTreeMap<String, String>) -> Result<GymEnv> {
    let lease = lease(key(id, kwargs, 1, true)?)?;
    if !lease.render {
        bail!(
            "{id}: the environment has no render_mode \"rgb_array\" (its metadata's render_modes)"
        );
    }
    Ok(GymEnv::new(Arc::new(Mutex::new(lease)), 0))
}

/// `n` copies of `gym:ID` in one vectorized worker, each reset with `seed + i`.
pub fn make_vec(id: &str, kwargs: &BTreeMap<String, String>, n: usize) -> Result<VecEnv> {
    if n == 0 {
        bail!("a vectorized env needs at least one copy");
    }
    let lease = lease(key(id, kwargs, n, false)?)?;
    let described = lease.described;
    let shared = Arc::new(Mutex::new(lease));
    let envs = (0..n)
        .map(|i| Box::new(GymEnv::new(shared.clone(), i as u32)) as Box<dyn Env + Send>)
        .collect();
    let batch = GymBatch {
        shared,
        described,
        n,
        episode_steps: vec![0; n],
        payload: Vec::new(),
    };
    VecEnv::with_batch(envs, Box::new(batch))
}

/// Leaks an error message for [`EnvError::Failed`] (once per failure: a failure ends the run).
fn external(message: String) -> EnvError {
    EnvError::Failed {
        reason: Box::leak(message.into_boxed_str()),
    }
}

/// Checks one continuous action against the declared bounds; within a rounding of them it is
/// clipped onto them (a tanh squashed into `[low, high]` lands a float's width outside).
fn check_action(label: &str, d: &Described, a: &[f32], out: &mut Vec<u8>) -> Result<(), String> {
    if a.len() != d.act_low.len() {
        return Err(format!(
            "{label}: an action of {} components; the action space declares {}",
            a.len(),
            d.act_low.len()
        ));
    }
    for (i, &v) in a.iter().enumerate() {
        let (lo, hi) = (d.act_low[i], d.act_high[i]);
        if !v.is_finite() {
            return Err(format!("{label}: action component {i} is {v:?}"));
        }
        let slack = |b: f32| 1e-5 * b.abs().max(1.0);
        if v < lo - slack(lo) || v > hi + slack(hi) {
            return Err(format!(
                "{label}: action component {i} is {v:?}, outside the declared bounds [{lo:?}, {hi:?}]"
            ));
        }
        out.extend_from_slice(&v.clamp(lo, hi).to_le_bytes());
    }
    Ok(())
}

fn check_discrete(label: &str, spec: &EnvSpec, a: u32, out: &mut Vec<u8>) -> Result<(), String> {
    match spec.action_space {
        Space::Discrete { n } if a < n => {
            out.extend_from_slice(&a.to_le_bytes());
            Ok(())
        }
        Space::Discrete { n } => Err(format!("{label}: action {a} is out of range 0..{n}")),
        Space::Box { .. } => Err(format!("{label}: a discrete action for a Box action space")),
    }
}

/// NaN or infinity in an observation or reward, named with its step.
fn check_finite(label: &str, what: &str, obs: &[f32], reward: Option<f64>) -> Result<(), String> {
    if let Some(i) = obs.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "{label}: {what} returned observation[{i}] = {:?}",
            obs[i]
        ));
    }
    match reward {
        Some(r) if !r.is_finite() => Err(format!("{label}: {what} returned reward {r:?}")),
        _ => Ok(()),
    }
}

/// One copy of a Gymnasium environment, behind core's [`Env`].
pub struct GymEnv {
    shared: Arc<Mutex<Lease>>,
    copy: u32,
    described: Described,
    episode_steps: u64,
    payload: Vec<u8>,
}

impl std::fmt::Debug for GymEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GymEnv")
            .field("env", &self.described.spec.id)
            .field("copy", &self.copy)
            .finish()
    }
}

impl GymEnv {
    fn new(shared: Arc<Mutex<Lease>>, copy: u32) -> Self {
        let described = shared.lock().unwrap_or_else(|e| e.into_inner()).described;
        Self {
            shared,
            copy,
            described,
            episode_steps: 0,
            payload: Vec::new(),
        }
    }

    fn label(&self) -> &'static str {
        self.described.spec.id
    }

    /// Gymnasium's `render_fps` for the environment, where its metadata gives one.
    pub fn render_fps(&self) -> Option<f64> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .render_fps
    }

    /// The current picture of this copy (height, width, RGB bytes), from an environment made
    /// with [`make_rendering`].
    pub fn frame(&mut self) -> Result<(u32, u32, Vec<u8>)> {
        let mut lease = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let reply = lease
            .call(b'F', &self.copy.to_le_bytes())
            .map_err(|e| anyhow!(e))?;
        let mut c = Cursor::new(reply);
        let (h, w) = (
            c.u32().map_err(|e| anyhow!(e))?,
            c.u32().map_err(|e| anyhow!(e))?,
        );
        let rgb = c
            .take(h as usize * w as usize * 3)
            .map_err(|e| anyhow!(e))?
            .to_vec();
        Ok((h, w, rgb))
    }

    fn obs_len(&self, obs: &[f32]) -> Result<(), EnvError> {
        let expected = self.described.spec.observation_space.flat_dim();
        if obs.len() != expected {
            return Err(EnvError::ObsBuffer {
                expected,
                got: obs.len(),
            });
        }
        Ok(())
    }
}

fn seed_bytes(out: &mut Vec<u8>, seed: Option<u64>) {
    out.push(u8::from(seed.is_some()));
    out.extend_from_slice(&seed.unwrap_or(0).to_le_bytes());
}

impl Env for GymEnv {
    fn spec(&self) -> &EnvSpec {
        &self.described.spec
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        self.obs_len(obs)?;
        self.payload.clear();
        self.payload.extend_from_slice(&self.copy.to_le_bytes());
        seed_bytes(&mut self.payload, seed);
        let label = self.label();
        let mut lease = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let reply = lease.call(b'R', &self.payload).map_err(external)?;
        Cursor::new(reply).f32s(obs).map_err(external)?;
        let what = match seed {
            Some(s) => format!("reset(seed={s})"),
            None => "reset()".into(),
        };
        check_finite(label, &what, obs, None).map_err(external)?;
        self.episode_steps = 0;
        Ok(())
    }

    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        self.obs_len(obs)?;
        let label = self.label();
        self.payload.clear();
        self.payload.extend_from_slice(&self.copy.to_le_bytes());
        match action {
            Action::Discrete(a) => {
                check_discrete(label, &self.described.spec, a, &mut self.payload)
                    .map_err(external)?
            }
            Action::Continuous(a) => {
                if matches!(self.described.spec.action_space, Space::Discrete { .. }) {
                    return Err(EnvError::WrongActionKind);
                }
                check_action(label, &self.described, a, &mut self.payload).map_err(external)?
            }
        }
        let mut lease = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let reply = lease.call(b'S', &self.payload).map_err(external)?;
        let mut c = Cursor::new(reply);
        let parsed = (|| -> Result<StepResult, String> {
            let reward = c.f64()?;
            let terminated = c.u8()? != 0;
            let truncated = c.u8()? != 0;
            c.f32s(obs)?;
            Ok(StepResult {
                reward,
                terminated,
                truncated,
            })
        })()
        .map_err(external)?;
        self.episode_steps += 1;
        let what = format!("step {} of the episode", self.episode_steps);
        check_finite(label, &what, obs, Some(parsed.reward)).map_err(external)?;
        Ok(parsed)
    }

    fn state_dim(&self) -> usize {
        0
    }

    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        if out.is_empty() {
            Ok(())
        } else {
            Err(EnvError::StateDim {
                expected: 0,
                got: out.len(),
            })
        }
    }

    fn set_state(&mut self, _state: &[f64], _obs: &mut [f32]) -> Result<(), EnvError> {
        Err(external(format!(
            "{}: a Gymnasium environment's state cannot be set through the bridge",
            self.label()
        )))
    }
}

/// Every copy of a vectorized worker stepped with one message.
struct GymBatch {
    shared: Arc<Mutex<Lease>>,
    described: Described,
    n: usize,
    episode_steps: Vec<u64>,
    payload: Vec<u8>,
}

impl GymBatch {
    fn label(&self) -> &'static str {
        self.described.spec.id
    }
}

impl BatchStep for GymBatch {
    fn step_all(&mut self, actions: Actions<'_>, out: BatchOut<'_>) -> Result<()> {
        let label = self.label();
        let (n, d) = (self.n, self.described.spec.observation_space.flat_dim());
        self.payload.clear();
        match actions {
            Actions::Discrete(a) => {
                for (i, &a) in a.iter().enumerate() {
                    check_discrete(label, &self.described.spec, a, &mut self.payload)
                        .map_err(|e| anyhow!("copy {i}: {e}"))?;
                }
            }
            Actions::Continuous(a) => {
                let k = self.described.act_low.len().max(1);
                for (i, a) in a.chunks(k).enumerate() {
                    check_action(label, &self.described, a, &mut self.payload)
                        .map_err(|e| anyhow!("copy {i}: {e}"))?;
                }
            }
        }
        let mut lease = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let reply = lease.call(b'V', &self.payload).map_err(|e| anyhow!(e))?;
        let mut c = Cursor::new(reply);
        let err = |e: String| anyhow!("{label}: {e}");
        for r in out.rewards.iter_mut() {
            *r = c.f64().map_err(err)?;
        }
        for t in out.terminated.iter_mut() {
            *t = c.u8().map_err(err)? != 0;
        }
        for t in out.truncated.iter_mut() {
            *t = c.u8().map_err(err)? != 0;
        }
        c.f32s(&mut out.obs[..n * d]).map_err(err)?;
        for i in 0..n {
            self.episode_steps[i] += 1;
            let done = out.terminated[i] || out.truncated[i];
            let what = format!("copy {i}: step {} of the episode", self.episode_steps[i]);
            if done {
                let fin = &mut out.final_obs[i * d..(i + 1) * d];
                c.f32s(fin).map_err(err)?;
                check_finite(label, &what, fin, Some(out.rewards[i])).map_err(|e| anyhow!(e))?;
                self.episode_steps[i] = 0;
                let first = &out.obs[i * d..(i + 1) * d];
                check_finite(label, &format!("copy {i}: reset()"), first, None)
                    .map_err(|e| anyhow!(e))?;
            } else {
                check_finite(
                    label,
                    &what,
                    &out.obs[i * d..(i + 1) * d],
                    Some(out.rewards[i]),
                )
                .map_err(|e| anyhow!(e))?;
            }
        }
        Ok(())
    }

    fn reset_copy(&mut self, copy: usize) {
        if let Some(s) = self.episode_steps.get_mut(copy) {
            *s = 0;
        }
    }

    fn replay(
        &mut self,
        copy: usize,
        seed: Option<u64>,
        actions: &[f32],
        obs: &mut [f32],
    ) -> Result<Option<(u64, f64, u32)>> {
        let label = self.label();
        let Some(seed) = seed else { return Ok(None) };
        let per = self.described.act_low.len().max(1);
        let steps = actions.len() / per;
        self.payload.clear();
        self.payload.extend_from_slice(&(copy as u32).to_le_bytes());
        seed_bytes(&mut self.payload, Some(seed));
        self.payload
            .extend_from_slice(&u32::try_from(steps)?.to_le_bytes());
        let discrete = matches!(self.described.spec.action_space, Space::Discrete { .. });
        for a in actions.chunks(per) {
            if discrete {
                self.payload.extend_from_slice(&(a[0] as u32).to_le_bytes());
            } else {
                check_action(label, &self.described, a, &mut self.payload)
                    .map_err(|e| anyhow!(e))?;
            }
        }
        let mut lease = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let reply = lease.call(b'P', &self.payload).map_err(|e| anyhow!(e))?;
        let mut c = Cursor::new(reply);
        let err = |e: String| anyhow!("{label}: {e}");
        let resets = c.u64().map_err(err)?;
        let ret = c.f64().map_err(err)?;
        let len = c.u32().map_err(err)?;
        c.f32s(obs).map_err(err)?;
        if let Some(s) = self.episode_steps.get_mut(copy) {
            *s = u64::from(len);
        }
        Ok(Some((resets, ret, len)))
    }
}
