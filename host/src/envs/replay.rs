//! `picorl env replay`: the public conformance tool. It replays Gymnasium traces (JSON lines)
//! against picorl's environments and prints what picorl computes, one JSON line per record, in
//! the format `docs/cli.md` fixes:
//!
//! ```text
//! in:  {"env": "CartPole-v1", "kwargs": {…}, "initial_state": [f64…] | int, "steps": [{"action": int | [f64…]}, …]}
//! out: {"env": "CartPole-v1", "steps": [{"obs": [f32…], "reward": f64, "terminated": bool, "truncated": bool}, …]}
//! ```
//!
//! - `initial_state` is set with [`Env::set_state`] (a number for toy text, a list for classic
//!   control), so the time limit counts from it as step 0. `kwargs` are Gymnasium's `make`
//!   options as JSON values, handed to [`EnvOptions::set`] as text (a string as itself, anything
//!   else as its JSON text); `"render_mode": null`, Gymnasium's default, is accepted and ignored.
//!   Other keys of a record or a step are ignored.
//! - Stepping stops after the first step that terminates or truncates; the actions after it are
//!   not read.
//! - `obs` is always a list: integers for a discrete observation (`[5]`), f32 values printed
//!   shortest round-trip otherwise; `reward` is f64, shortest round-trip.
//! - Extension for stochastic environments: a step that carries Gymnasium's recorded random
//!   draws, `"u"` (the uniform of `categorical_sample`, a number or a list of numbers in
//!   `[0, 1)`) and/or `"choice"` (the index Taxi's fickle passenger picked, an integer or a
//!   list), is stepped with exactly those draws ([`AnyEnv::step_with`]), so a recorded trace of
//!   a slippery FrozenLake, CliffWalking or a fickle Taxi reproduces exactly
//!   (`scripts/gym_traces.py` records them). A step without them draws from the environment's
//!   own generator. A step whose environment needs a draw the step does not carry is an error.
//! - Records are answered as they are read (stdout is flushed after each), so a process can pipe
//!   records in one at a time. The first bad record (malformed JSON, an unknown id, a bad
//!   option, a state of the wrong length, a bad action or draw) ends the replay with an error
//!   that names the file, the line and the field; the records before it have been answered.
//!
//! Host-only environments (`Trading-v0`) replay too, without draws: their `initial_state` is
//! their own state vector (see [`crate::envs::trading`]).

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::{
    make as core_make, Action, AnyEnv, Draws, Env, EnvError, EnvOptions, Space, StepResult,
    REGISTRY,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::envs;

/// Replays the records of `path` (`-`: stdin) and writes one JSON line per record to stdout.
pub fn replay_path(path: &Path) -> Result<()> {
    let stdout = io::stdout();
    let out = stdout.lock();
    if path == Path::new("-") {
        replay(io::stdin().lock(), out, "<stdin>")?;
    } else {
        let file = File::open(path).with_context(|| format!("{}", path.display()))?;
        replay(BufReader::new(file), out, &path.display().to_string())?;
    }
    Ok(())
}

/// Replays every record of `input` (named `name` in errors), writing one JSON line per record
/// to `out`. Blank lines are skipped. Returns the number of records replayed.
pub fn replay<R: BufRead, W: Write>(input: R, mut out: W, name: &str) -> Result<usize> {
    let mut n = 0;
    for (i, line) in input.lines().enumerate() {
        let at = || format!("{name} line {}", i + 1);
        let line = line.map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => anyhow!("{}: not UTF-8 text", at()),
            _ => anyhow!("{}: {e}", at()),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = replay_record(&line).map_err(|e| anyhow!("{}: {e}", at()))?;
        serde_json::to_writer(&mut out, &answer).context("writing the replay to stdout")?;
        out.write_all(b"\n")
            .and_then(|()| out.flush())
            .context("writing the replay to stdout")?;
        n += 1;
    }
    Ok(n)
}

/// One answered record.
#[derive(Debug, Serialize)]
struct Answer {
    env: String,
    steps: Vec<AnsweredStep>,
}

/// One answered step.
#[derive(Debug, Serialize)]
struct AnsweredStep {
    obs: Obs,
    reward: f64,
    terminated: bool,
    truncated: bool,
}

/// An observation as the contract prints it: integers for a discrete one, f32 otherwise.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Obs {
    Discrete([u32; 1]),
    Box(Vec<f32>),
}

/// The environment of a record: core's (which can take recorded draws) or a host-only one.
enum ReplayEnv {
    Core(Box<AnyEnv>),
    Host(Box<dyn Env + Send>),
}

impl ReplayEnv {
    fn env(&mut self) -> &mut dyn Env {
        match self {
            ReplayEnv::Core(e) => e.as_mut(),
            ReplayEnv::Host(e) => e.as_mut(),
        }
    }

    /// Steps with the recorded draws where there are some (only core's environments draw in a
    /// step; a host-only one ignores them), from the environment's own generator otherwise.
    fn step(
        &mut self,
        action: Action<'_>,
        draws: Option<&mut Recorded>,
        obs: &mut [f32],
    ) -> Result<StepResult, EnvError> {
        match (self, draws) {
            (ReplayEnv::Core(e), Some(draws)) => e.step_with(action, draws, obs),
            (env, _) => env.env().step(action, obs),
        }
    }
}

fn replay_record(line: &str) -> Result<Answer> {
    let rec: Value = serde_json::from_str(line).map_err(|e| anyhow!("not valid JSON: {e}"))?;
    let Value::Object(rec) = rec else {
        bail!("expected a JSON object (a record), got {}", kind(&rec));
    };
    let id = match rec.get("env") {
        Some(Value::String(id)) => id.as_str(),
        Some(other) => bail!(
            "env: expected an environment id (a string), got {}",
            kind(other)
        ),
        None => bail!("env: missing (the environment id, e.g. \"CartPole-v1\")"),
    };
    let empty = Map::new();
    let kwargs = match rec.get("kwargs") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(k)) => k,
        Some(other) => bail!(
            "kwargs: expected an object of make options, got {}",
            kind(other)
        ),
    };
    let mut env = make(id, kwargs)?;
    let spec = *env.env().spec();

    let state = match rec.get("initial_state") {
        Some(Value::Number(x)) => vec![number(x)],
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Number(x) => Ok(number(x)),
                other => Err(anyhow!(
                    "initial_state[{i}]: expected a number, got {}",
                    kind(other)
                )),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(other) => bail!(
            "initial_state: expected a number (toy text) or a list of numbers, got {}",
            kind(other)
        ),
        None => bail!(
            "initial_state: missing (Gymnasium's env.unwrapped.state, or .s for toy text, after a reset)"
        ),
    };
    let dim = spec.observation_space.flat_dim();
    let mut obs_buf = vec![0.0f32; dim];
    let obs = &mut obs_buf[..];
    env.env()
        .set_state(&state, obs)
        .map_err(|e| anyhow!("initial_state: {e}"))?;

    let steps = match rec.get("steps") {
        Some(Value::Array(s)) => s,
        Some(other) => bail!("steps: expected a list of steps, got {}", kind(other)),
        None => bail!("steps: missing (a list of {{\"action\": …}} objects)"),
    };
    let mut answered = Vec::with_capacity(steps.len());
    let mut components = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        let Value::Object(step) = step else {
            bail!("steps[{k}]: expected an object, got {}", kind(step));
        };
        let action = action(step, &spec.action_space, &mut components)
            .map_err(|e| anyhow!("steps[{k}].action: {e}"))?;
        let mut draws = Recorded::of(step).map_err(|e| anyhow!("steps[{k}].{e}"))?;
        let result = env.step(action, draws.as_mut(), obs);
        if let Some(e) = draws.and_then(|d| d.fault) {
            bail!("steps[{k}]: {e}");
        }
        let r: StepResult = result.map_err(|e| match e {
            EnvError::ActionOutOfRange { .. }
            | EnvError::WrongActionKind
            | EnvError::ActionDim { .. }
            | EnvError::NonFiniteAction { .. } => anyhow!("steps[{k}].action: {e}"),
            _ => anyhow!("steps[{k}]: {e}"),
        })?;
        answered.push(AnsweredStep {
            obs: match spec.observation_space {
                Space::Discrete { .. } => Obs::Discrete([obs[0] as u32]),
                Space::Box { .. } => Obs::Box(obs.to_vec()),
            },
            reward: r.reward,
            terminated: r.terminated,
            truncated: r.truncated,
        });
        if r.done() {
            break;
        }
    }
    Ok(Answer {
        env: id.to_string(),
        steps: answered,
    })
}

/// Makes the record's environment: core's through [`EnvOptions`], a host-only one through
/// [`envs::make`].
fn make(id: &str, kwargs: &Map<String, Value>) -> Result<ReplayEnv> {
    let text: Vec<(&str, String)> = kwargs
        .iter()
        .filter(|(k, v)| !(k.as_str() == "render_mode" && v.is_null()))
        .map(|(k, v)| {
            let t = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.as_str(), t)
        })
        .collect();
    if REGISTRY.iter().any(|s| s.id == id) {
        let mut options = EnvOptions::new();
        for (k, t) in &text {
            options.set(k, t).map_err(|e| anyhow!("kwargs.{k}: {e}"))?;
        }
        let env = core_make(id, &options).map_err(|e| anyhow!("kwargs: {e}"))?;
        Ok(ReplayEnv::Core(Box::new(env)))
    } else if envs::ids().contains(&id) {
        let map: BTreeMap<String, String> =
            text.into_iter().map(|(k, t)| (k.to_string(), t)).collect();
        Ok(ReplayEnv::Host(envs::make(id, &map)?))
    } else {
        bail!(
            "env: unknown environment `{id}`; known: {}",
            envs::ids().join(", ")
        )
    }
}

/// The step's action for an environment whose action space is `space`; continuous components
/// go to `components`.
fn action<'a>(
    step: &Map<String, Value>,
    space: &Space,
    components: &'a mut Vec<f32>,
) -> Result<Action<'a>> {
    let Some(a) = step.get("action") else {
        bail!("missing");
    };
    match (space, a) {
        (Space::Discrete { n }, Value::Number(x)) => match x.as_u64().map(u32::try_from) {
            Some(Ok(a)) => Ok(Action::Discrete(a)),
            _ => bail!("expected an integer in 0..{n}, got {x}"),
        },
        (Space::Discrete { n }, other) => {
            bail!("expected an integer in 0..{n}, got {}", kind(other))
        }
        (Space::Box { dim, .. }, a) => {
            components.clear();
            match a {
                Value::Number(x) => components.push(number(x) as f32),
                Value::Array(xs) => {
                    for (i, x) in xs.iter().enumerate() {
                        match x {
                            Value::Number(x) => components.push(number(x) as f32),
                            other => bail!("[{i}]: expected a number, got {}", kind(other)),
                        }
                    }
                }
                other => bail!("expected a list of {dim} numbers, got {}", kind(other)),
            }
            Ok(Action::Continuous(components))
        }
    }
}

/// The random draws Gymnasium made in one step, handed back in order. A draw asked for but not
/// recorded (or a recorded choice out of range) is noted in `fault` and answered with 0, and the
/// step is then reported as an error.
#[derive(Debug)]
struct Recorded {
    units: VecDeque<f64>,
    choices: VecDeque<u64>,
    fault: Option<String>,
}

impl Recorded {
    /// The draws a step carries (`"u"`, `"choice"`), `None` when it carries neither. The error
    /// names the key at fault.
    fn of(step: &Map<String, Value>) -> Result<Option<Self>> {
        let (u, choice) = (step.get("u"), step.get("choice"));
        if u.is_none() && choice.is_none() {
            return Ok(None);
        }
        let units = list(u)
            .iter()
            .map(|v| match v.as_f64() {
                Some(x) if (0.0..1.0).contains(&x) => Ok(x),
                _ => Err(anyhow!("u: expected numbers in [0, 1), got {v}")),
            })
            .collect::<Result<_>>()?;
        let choices = list(choice)
            .iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| anyhow!("choice: expected non-negative integers, got {v}"))
            })
            .collect::<Result<_>>()?;
        Ok(Some(Self {
            units,
            choices,
            fault: None,
        }))
    }
}

/// A JSON value or list of values as a list (absent: empty).
fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
    }
}

impl Draws for Recorded {
    fn unit(&mut self) -> f64 {
        self.units.pop_front().unwrap_or_else(|| {
            self.fault.get_or_insert_with(|| {
                "the environment needed a uniform draw (\"u\") that the step does not carry"
                    .to_string()
            });
            0.0
        })
    }

    fn index(&mut self, n: u32) -> u32 {
        match self.choices.pop_front() {
            Some(k) if k < u64::from(n) => k as u32,
            Some(k) => {
                self.fault.get_or_insert_with(|| {
                    format!("choice: {k} is out of range 0..{n} for this step")
                });
                0
            }
            None => {
                self.fault.get_or_insert_with(|| {
                    format!(
                        "the environment needed a choice among {n} (\"choice\") that the step does not carry"
                    )
                });
                0
            }
        }
    }
}

/// A JSON number as f64 (integers beyond 2^53 round, as Python's float() would).
fn number(x: &serde_json::Number) -> f64 {
    x.as_f64().unwrap_or(f64::NAN)
}

/// What kind of JSON value `v` is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
