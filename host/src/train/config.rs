//! Hyper-parameters and run options: built-in TOML files in the style of rl-baselines3-zoo (one
//! file per algorithm under `host/configs/`, a section per environment id), `--config FILE`
//! instead, and `--set key=value` overrides. Every resolved value is written to the run
//! directory's `config.toml`, from which `--resume` rebuilds the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Keys of a config section that are run options rather than the algorithm's hyper-parameters.
pub const RUN_KEYS: &[&str] = &[
    "total_steps",
    "eval_every",
    "eval_episodes",
    "stop_at_return",
    "log_interval",
    "stop_at_hover",
    "env_kwargs",
];

/// The default of [`RunOptions::log_interval`].
pub const LOG_INTERVAL: u64 = 1000;

fn default_log_interval() -> u64 {
    LOG_INTERVAL
}

/// Everything a run needs besides the hyper-parameters; all of it is saved in `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunOptions {
    /// The algorithm, as `--algo` names it.
    pub algo: String,
    /// The environment id.
    pub env: String,
    /// Gymnasium `make` options.
    #[serde(default)]
    pub env_kwargs: BTreeMap<String, String>,
    /// Seed of every random draw.
    pub seed: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// CPU threads for libtorch (0: libtorch's default).
    pub threads: usize,
    /// Environment steps to train for.
    pub total_steps: u64,
    /// Evaluate every this many environment steps (0: only at the end).
    pub eval_every: u64,
    /// Episodes per evaluation.
    pub eval_episodes: u32,
    /// Stop once an evaluation's mean return reaches this.
    pub stop_at_return: Option<f64>,
    /// A `metrics.csv` row every this many environment steps, each column the mean (or last
    /// value) of what the algorithm logged since the previous row.
    #[serde(default = "default_log_interval")]
    pub log_interval: u64,
    /// `Quadrotor-v0`: stop once an evaluation's hover success (`crate::envs::hover`) reaches this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_at_hover: Option<f64>,
    /// Python modules the Gymnasium workers import before `make` (`--gym-packages`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gym_packages: Vec<String>,
    /// Where the learner's networks compute (`--backend`).
    #[serde(default)]
    pub backend: BackendChoice,
}

/// `--backend`: where a learner's networks compute (`crate::algo::backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Native on the CPU for small networks, libtorch otherwise.
    #[default]
    Auto,
    /// `picorl_core::learn` on the CPU.
    Native,
    /// libtorch, on `--device`.
    Torch,
}

impl std::str::FromStr for BackendChoice {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "native" => Ok(Self::Native),
            "torch" => Ok(Self::Torch),
            other => bail!("unknown backend `{other}` (expected auto, native or torch)"),
        }
    }
}

/// A resolved configuration: the run options and the algorithm's hyper-parameters as a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolvedConfig {
    /// Run options.
    #[serde(flatten)]
    pub run: RunOptions,
    /// The algorithm's hyper-parameters, every key present.
    pub hyper: toml::Table,
}

impl ResolvedConfig {
    /// Reads a run directory's `config.toml`; an error names the file, the line and the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        // Parsed as a table first: TOML's syntax errors keep their place in the text (the
        // flattened struct would lose it), then every field is checked with its line.
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow!("{}", located(path, &text, &e)))?;
        let mut hyper = match table.remove("hyper") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => bail!(
                "{}{}: `hyper` is not a table",
                path.display(),
                top_level_line(&text, "hyper")
                    .map(|l| format!(" line {l}"))
                    .unwrap_or_default()
            ),
            None => bail!("{}: no [hyper] table", path.display()),
        };
        // Run directories of picorl before the loop owned `metrics.csv`'s rows kept DQN's, TD3's
        // and SAC's `log_interval` among the hyper-parameters: it is the run's option now.
        if let Some(v) = hyper.remove("log_interval") {
            table.entry("log_interval").or_insert(v);
        }
        let run = RunOptions::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            let message = e.message().to_string();
            // The key: the one the message names (`missing field `seed``), else the one at the
            // error's place when the table is read back from text (a table loses the places).
            let named = message.split('`').nth(1).unwrap_or("").to_string();
            let is_field =
                message.starts_with("missing field") || message.starts_with("unknown field");
            let key = if !is_field {
                toml::to_string(&table)
                    .ok()
                    .and_then(|t| {
                        let span = toml::from_str::<RunOptions>(&t).err()?.span()?;
                        let at = t[..span.start.min(t.len())].matches('\n').count();
                        let line = t.lines().nth(at)?;
                        Some(line.split('=').next()?.trim().trim_matches('"').to_string())
                    })
                    .unwrap_or_default()
            } else {
                named
            };
            let line = top_level_line(&text, &key)
                .map(|l| format!(" line {l}"))
                .unwrap_or_default();
            let culprit = if key.is_empty() || message.contains(&format!("`{key}`")) {
                String::new()
            } else {
                format!("`{key}`: ")
            };
            anyhow!("{}{line}: {culprit}{}", path.display(), one_line(&message))
        })?;
        Ok(Self { run, hyper })
    }

    /// The TOML text written to the run directory.
    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string(self)?)
    }

    /// The hyper-parameters as the algorithm's struct; an unknown key is an error that names
    /// it.
    pub fn hyper<H: Serialize + DeserializeOwned + Default>(&self) -> Result<H> {
        let known = known_keys::<H>();
        if let Some(key) = self.hyper.keys().find(|k| !known.contains(k)) {
            bail!(
                "config.toml [hyper]: unknown key `{key}`; known keys: {}",
                known.join(", ")
            );
        }
        deserialize_naming_key(&self.hyper).map_err(|e| anyhow!("config.toml [hyper]: {e}"))
    }
}

impl RunOptions {
    /// A run of `algo` on `env` for tests: seed 0 on one CPU thread, `total_steps`, no
    /// evaluation during training, ten episodes at the end, nothing else set.
    #[cfg(test)]
    pub(crate) fn for_tests(algo: &str, env: &str, total_steps: u64) -> Self {
        Self {
            algo: algo.into(),
            env: env.into(),
            env_kwargs: BTreeMap::new(),
            seed: 0,
            device: "cpu".into(),
            threads: 1,
            total_steps,
            eval_every: 0,
            eval_episodes: 10,
            stop_at_return: None,
            log_interval: LOG_INTERVAL,
            stop_at_hover: None,
            gym_packages: Vec::new(),
            backend: Default::default(),
        }
    }
}

/// Where a config section came from, for error messages.
#[derive(Debug, Clone)]
pub enum Source {
    /// The built-in file of an algorithm.
    BuiltIn(String),
    /// A user's `--config FILE`.
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::BuiltIn(name) => write!(f, "built-in {name}"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A TOML error as one line: `FILE line N: message` (the line from the error's span).
fn located(path: &Path, text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => format!(
            "{} line {}: {}",
            path.display(),
            text[..span.start.min(text.len())].matches('\n').count() + 1,
            e.message()
        ),
        None => format!("{}: {}", path.display(), e.message()),
    }
}

/// The 1-based line where a top-level `key` is set (before any table header).
fn top_level_line(text: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            return None;
        }
        if t.split('=').next().map(|k| k.trim().trim_matches('"')) == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

/// Toml errors span several lines (a caret under the culprit); the CLI prints one.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The keys a hyper-parameter struct knows (those of its default, serialized).
pub fn known_keys<H: Serialize + Default>() -> Vec<String> {
    match toml::Value::try_from(H::default()) {
        Ok(toml::Value::Table(t)) => t.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Reads the section for `env` from a config text, checking every key against `H` and the run
/// keys; the error names the source, the key and its line.
pub fn section<H: Serialize + DeserializeOwned + Default>(
    text: &str,
    source: &Source,
    env: &str,
) -> Result<toml::Table> {
    let doc: toml::Table =
        toml::from_str(text).map_err(|e| anyhow!("{source}: {}", one_line(&e.to_string())))?;
    let Some(section) = doc.get(env) else {
        let have: Vec<&String> = doc.keys().collect();
        bail!("{source}: no [{env}] section (sections: {have:?})");
    };
    let toml::Value::Table(section) = section else {
        bail!("{source}: [{env}] is not a table")
    };
    let known = known_keys::<H>();
    for key in section.keys() {
        if !known.contains(key) && !RUN_KEYS.contains(&key.as_str()) {
            let line = line_of_key(text, env, key)
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            bail!(
                "{source}{line}: unknown key `{key}` in [{env}]; known keys: {}",
                list(&known)
            );
        }
    }
    Ok(section.clone())
}

fn list(keys: &[String]) -> String {
    let mut all: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .chain(RUN_KEYS.iter().copied())
        .collect();
    all.sort_unstable();
    all.join(", ")
}

/// The 1-based line where `key` is set inside section `[env]`.
fn line_of_key(text: &str, env: &str, key: &str) -> Option<usize> {
    let mut in_section = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_section = t
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .trim_matches('"')
                == env;
        } else if in_section && t.split('=').next().map(|k| k.trim().trim_matches('"')) == Some(key)
        {
            return Some(i + 1);
        }
    }
    None
}

/// Applies one `--set key=value` to `table`: the value is parsed as TOML (`3e-4`, `true`,
/// `[64, 64]`, `"relu"`), and a bare word that is not TOML is taken as a string. A value of the
/// wrong type is an error that names this `--set`.
pub fn apply_set<H: Serialize + DeserializeOwned + Default>(
    table: &mut toml::Table,
    assignment: &str,
) -> Result<()> {
    let (key, value) = assignment
        .split_once('=')
        .ok_or_else(|| anyhow!("--set {assignment}: expected key=value"))?;
    let key = key.trim();
    let known = known_keys::<H>();
    if !known.iter().any(|k| k == key) && !RUN_KEYS.contains(&key) {
        bail!(
            "--set {assignment}: unknown key `{key}`; known keys: {}",
            list(&known)
        );
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    // The value alone, on the defaults: its type is checked against this key here, so that
    // the error blames this `--set` rather than the config file it overrides.
    if !RUN_KEYS.contains(&key) {
        if let Ok(toml::Value::Table(mut defaults)) = toml::Value::try_from(H::default()) {
            defaults.insert(key.to_string(), parsed.clone());
            if let Err(e) = H::deserialize(toml::Value::Table(defaults)) {
                bail!("--set {assignment}: {}", one_line(e.message()));
            }
        }
    } else {
        if key == "env_kwargs" {
            bail!("--set {assignment}: environment options go in --env-kwargs key=value");
        }
        let ok = match key {
            "stop_at_return" | "stop_at_hover" => parsed
                .as_float()
                .or(parsed.as_integer().map(|i| i as f64))
                .is_some(),
            _ => parsed.as_integer().is_some_and(|i| i >= 0),
        };
        if !ok {
            bail!("--set {assignment}: `{key}` takes a number");
        }
    }
    table.insert(key.to_string(), parsed);
    Ok(())
}

/// Fills `H` from a section (defaults for missing keys), returning it with the run keys removed
/// and the table of every hyper-parameter, resolved.
pub fn resolve<H: Serialize + DeserializeOwned + Default>(
    mut section: toml::Table,
    source: &Source,
) -> Result<(H, toml::Table, toml::Table)> {
    let mut run = toml::Table::new();
    for key in RUN_KEYS {
        if let Some(v) = section.remove(*key) {
            run.insert((*key).to_string(), v);
        }
    }
    let mut full = match toml::Value::try_from(H::default())? {
        toml::Value::Table(t) => t,
        _ => bail!("hyper-parameters must serialize to a table"),
    };
    for (k, v) in section {
        full.insert(k, v);
    }
    let hyper = deserialize_naming_key(&full).map_err(|e| anyhow!("{source}: {e}"))?;
    // Re-serialize so the saved table holds exactly what the run used.
    let full = match toml::Value::try_from(&hyper)? {
        toml::Value::Table(t) => t,
        _ => bail!("hyper-parameters must serialize to a table"),
    };
    check_ranges(&full).map_err(|e| anyhow!("{source} (or --set): {e}"))?;
    Ok((hyper, full, run))
}

/// `H` from a full table of its keys. Its error names the culprit key: a struct with flattened
/// fields (the policy-gradient learners' shared options) reports a wrong type without it, so the
/// key is found by trying each value alone on the defaults.
fn deserialize_naming_key<H: Serialize + DeserializeOwned + Default>(
    table: &toml::Table,
) -> std::result::Result<H, String> {
    H::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        let message = one_line(&e.to_string());
        let Ok(toml::Value::Table(defaults)) = toml::Value::try_from(H::default()) else {
            return message;
        };
        let culprit = table.iter().find(|(k, v)| {
            let mut one = defaults.clone();
            one.insert((*k).clone(), (*v).clone());
            H::deserialize(toml::Value::Table(one)).is_err()
        });
        match culprit {
            Some((key, _)) if !message.contains(key.as_str()) => format!("`{key}`: {message}"),
            _ => message,
        }
    })
}

/// Hyper-parameters that are probabilities or discounts: in `[0, 1]`.
const UNIT_KEYS: &[&str] = &[
    "gamma",
    "gae_lambda",
    "tau",
    "dropout",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
];

/// Hyper-parameters that are layer widths: every entry at least 1.
const WIDTH_KEYS: &[&str] = &["hidden", "actor_hidden", "critic_hidden"];

/// The range checks every algorithm shares, so that an out-of-range value is an error naming
/// its key before anything is written, not a NaN (or a panic) steps later: every number finite,
/// discounts and probabilities in `[0, 1]`, learning rates positive, layer widths at least 1.
/// An algorithm checks its own keys beyond these when it is built.
pub fn check_ranges(table: &toml::Table) -> Result<()> {
    for (key, value) in table {
        let floats: Vec<f64> = match value {
            toml::Value::Float(x) => vec![*x],
            toml::Value::Array(a) => a.iter().filter_map(toml::Value::as_float).collect(),
            _ => Vec::new(),
        };
        if let Some(x) = floats.iter().find(|x| !x.is_finite()) {
            bail!("`{key}` = {x}: must be a finite number");
        }
        let number = match value {
            toml::Value::Float(x) => Some(*x),
            toml::Value::Integer(i) => Some(*i as f64),
            _ => None,
        };
        if let Some(x) = number {
            if UNIT_KEYS.contains(&key.as_str()) && !(0.0..=1.0).contains(&x) {
                bail!("`{key}` = {x}: must be in [0, 1]");
            }
            if key == "learning_rate" && x <= 0.0 {
                bail!("`{key}` = {x}: must be positive");
            }
        }
        if WIDTH_KEYS.contains(&key.as_str()) {
            if let toml::Value::Array(a) = value {
                if let Some(w) = a.iter().find(|w| w.as_integer().is_none_or(|w| w < 1)) {
                    bail!("`{key}` = {value}: every layer width must be at least 1 (found {w})");
                }
            }
        }
    }
    Ok(())
}

/// The section's `env_kwargs` table (environment options, as `--env-kwargs` gives them) as
/// `key → value text`; an option that is not a number, boolean or string is an error naming it.
pub fn env_kwargs(run: &toml::Table, source: &Source) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(v) = run.get("env_kwargs") else {
        return Ok(out);
    };
    let toml::Value::Table(t) = v else {
        bail!("{source}: `env_kwargs` must be a table of environment options");
    };
    for (k, v) in t {
        let text = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => format!("{f:?}"),
            toml::Value::Boolean(b) => b.to_string(),
            _ => bail!("{source}: `env_kwargs.{k}` must be a number, boolean or string"),
        };
        out.insert(k.clone(), text);
    }
    Ok(out)
}

/// Reads a run key from a section's run table.
pub fn run_key<T: DeserializeOwned>(
    run: &toml::Table,
    key: &str,
    source: &Source,
) -> Result<Option<T>> {
    run.get(key)
        .map(|v| {
            T::deserialize(v.clone())
                .map_err(|e| anyhow!("{source}: `{key}`: {}", one_line(&e.to_string())))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct H {
        lr: f64,
        hidden: Vec<usize>,
        act: String,
    }
    impl Default for H {
        fn default() -> Self {
            Self {
                lr: 1e-3,
                hidden: vec![64, 64],
                act: "tanh".into(),
            }
        }
    }

    const TEXT: &str = "[CartPole-v1]\nlr = 3e-4\ntotal_steps = 1000\n\n[Acrobot-v1]\nlrr = 1.0\n";

    #[test]
    fn section_resolve_and_set() {
        let src = Source::BuiltIn("test.toml".into());
        let mut s = section::<H>(TEXT, &src, "CartPole-v1").unwrap();
        apply_set::<H>(&mut s, "hidden=[32, 16]").unwrap();
        apply_set::<H>(&mut s, "act=relu").unwrap();
        let (h, full, run) = resolve::<H>(s, &src).unwrap();
        assert_eq!(
            h,
            H {
                lr: 3e-4,
                hidden: vec![32, 16],
                act: "relu".into()
            }
        );
        assert_eq!(full.len(), 3);
        assert_eq!(
            run_key::<u64>(&run, "total_steps", &src).unwrap(),
            Some(1000)
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let src = Source::BuiltIn("test.toml".into());
        let e = section::<H>(TEXT, &src, "Acrobot-v1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`lrr`") && e.contains("line 6") && e.contains("lr,"),
            "{e}"
        );
        let mut s = toml::Table::new();
        let e = apply_set::<H>(&mut s, "gamma=0.9").unwrap_err().to_string();
        assert!(e.contains("`gamma`") && e.contains("hidden"), "{e}");
        let e = section::<H>(TEXT, &src, "Pendulum-v1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no [Pendulum-v1] section"), "{e}");
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let src = Source::BuiltIn("t".into());
        for (set, culprit) in [
            ("lr=nan", "`lr` = NaN"),
            ("lr=inf", "`lr` = inf"),
            ("hidden=[64, 0]", "`hidden`"),
        ] {
            let mut s = toml::Table::new();
            apply_set::<H>(&mut s, set).unwrap();
            let e = format!("{:#}", resolve::<H>(s, &src).unwrap_err());
            assert!(e.contains(culprit), "{set}: {e}");
        }
        let mut t = toml::Table::new();
        t.insert("gamma".into(), toml::Value::Float(1.5));
        assert!(check_ranges(&t).unwrap_err().to_string().contains("[0, 1]"));
        t.insert("gamma".into(), toml::Value::Float(0.99));
        t.insert("learning_rate".into(), toml::Value::Float(0.0));
        assert!(check_ranges(&t)
            .unwrap_err()
            .to_string()
            .contains("positive"));
    }

    /// A config with flattened shared options, as the policy-gradient learners' are.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
    #[serde(default)]
    struct Flat {
        #[serde(flatten)]
        shared: H,
        steps: u64,
    }

    /// Without `deny_unknown_fields` (which `flatten` excludes), an unknown key is still refused
    /// by name, from a section, `--set` and a run's `config.toml`; and a wrong type in a
    /// flattened field names its key.
    #[test]
    fn flattened_configs_name_unknown_keys_and_wrong_types() {
        let src = Source::BuiltIn("test.toml".into());
        let e = section::<Flat>(TEXT, &src, "Acrobot-v1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`lrr`") && e.contains("line 6"), "{e}");
        let e = apply_set::<Flat>(&mut toml::Table::new(), "lrr=1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`lrr`") && e.contains("steps"), "{e}");
        let e = apply_set::<Flat>(&mut toml::Table::new(), "lr=\"high\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--set lr="), "{e}");

        let text = "[CartPole-v1]\nlr = \"high\"\nsteps = 3\n";
        let s = section::<Flat>(text, &src, "CartPole-v1").unwrap();
        let e = resolve::<Flat>(s, &src).unwrap_err().to_string();
        assert!(e.contains("test.toml") && e.contains("`lr`"), "{e}");

        let s = section::<Flat>(TEXT, &src, "CartPole-v1").unwrap();
        let (flat, mut hyper, _) = resolve::<Flat>(s, &src).unwrap();
        assert_eq!(flat.shared.lr, 3e-4);
        assert_eq!(
            hyper.keys().collect::<Vec<_>>(),
            ["act", "hidden", "lr", "steps"]
        );
        let run = |hyper: toml::Table| ResolvedConfig {
            run: RunOptions::for_tests("a", "CartPole-v1", 1),
            hyper,
        };
        assert_eq!(run(hyper.clone()).hyper::<Flat>().unwrap(), flat);
        hyper.insert("lrr".into(), toml::Value::Float(1.0));
        let e = run(hyper).hyper::<Flat>().unwrap_err().to_string();
        assert!(
            e.contains("config.toml [hyper]: unknown key `lrr`") && e.contains("steps"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_is_an_error() {
        let src = Source::BuiltIn("t".into());
        // From --set: the error names that --set, not the file it overrides.
        let mut s = toml::Table::new();
        let e = apply_set::<H>(&mut s, "lr=fast").unwrap_err().to_string();
        assert!(e.starts_with("--set lr=fast: "), "{e}");
        // From a file: the file.
        let mut s = toml::Table::new();
        s.insert("lr".into(), toml::Value::String("fast".into()));
        let e = resolve::<H>(s, &src).unwrap_err().to_string();
        assert!(e.starts_with("built-in t: "), "{e}");
    }

    #[test]
    fn a_damaged_run_config_names_its_line() {
        let dir = std::env::temp_dir().join(format!("picorl-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        let good = ResolvedConfig {
            run: RunOptions {
                eval_episodes: 1,
                ..RunOptions::for_tests("dqn", "CartPole-v1", 100)
            },
            hyper: toml::Table::new(),
        }
        .to_toml()
        .unwrap();
        let line = good
            .lines()
            .position(|l| l.starts_with("total_steps"))
            .unwrap()
            + 1;
        std::fs::write(&path, good.replace("total_steps = 100", "total_steps = -3")).unwrap();
        let e = ResolvedConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(&format!("line {line}: `total_steps`")) && !e.contains('|'),
            "{e}"
        );
        std::fs::write(&path, good.replace("total_steps = 100", "total_steps = ")).unwrap();
        let e = ResolvedConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains(&format!("line {line}:")) && !e.contains('|'),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
