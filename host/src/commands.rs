//! The commands on `.picorl` files and exports: `export`, `inspect`, `infer`, `bench`, and
//! `eval` of a file. Each reads through `picorl-core`, the code the firmware runs.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::model::HeadKind;
use serde_json::json;

use crate::cli::{load_run, BenchArgs, EvalArgs, ExportArgs, InferArgs, InspectArgs};
use crate::eval::{self, Actor, EvalResult, OwnedAction};
use crate::export::{
    build_model, calibrate, centered, int8_quant_params, standardized, Calibration, PolicyExport,
    Quant,
};
use crate::interop::Format;
use crate::picorl_file::{kind_name, owned, quant_name, CoreActor, PicorlFile};
use crate::quant_fit::{equalized, fitted, searched_output_range};
use crate::train::config::ResolvedConfig;
use crate::train::files::write_atomic;
use crate::train::{Algorithm, Setup};
use crate::{envs, with_algo};

/// `picorl eval FILE.picorl`: through core's `Policy`, the firmware's code. Returns the result
/// with the environment's id and options.
pub fn eval_file(a: &EvalArgs) -> Result<(EvalResult, String, BTreeMap<String, String>)> {
    let file = PicorlFile::load(&a.path)?;
    let env_id = a.env.clone().ok_or_else(|| {
        anyhow!(
            "{}: a .picorl file names no environment: pass --env ENV_ID",
            a.path.display()
        )
    })?;
    let kwargs = envs::parse_kwargs(&a.env_kwargs)?;
    let mut env = envs::make(&env_id, &kwargs)?;
    let mut policy = file.policy()?;
    let res = eval::evaluate(
        env.as_mut(),
        &mut CoreActor(&mut policy),
        a.seed,
        a.episodes,
    )?;
    Ok((res, env_id, kwargs))
}

/// Rolls out `actor` for `episodes` episodes from `first_seed`, collecting every observation.
fn rollout_obs(
    env: &mut dyn picorl_core::env::Env,
    actor: &mut dyn Actor,
    first_seed: u64,
    episodes: u32,
) -> Result<Vec<f32>> {
    struct Recorder<'a> {
        inner: &'a mut dyn Actor,
        seen: Vec<f32>,
    }
    impl Actor for Recorder<'_> {
        fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
            self.seen.extend_from_slice(obs);
            self.inner.act(obs)
        }
    }
    let mut r = Recorder {
        inner: actor,
        seen: Vec::new(),
    };
    eval::evaluate(env, &mut r, first_seed, episodes)?;
    Ok(r.seen)
}

/// Two actions agree: discrete ones when equal, continuous ones when every component is within
/// 1% of its action range.
fn agree(a: &OwnedAction, b: &OwnedAction, space: &picorl_core::env::Space) -> bool {
    match (a, b, space) {
        (OwnedAction::Discrete(x), OwnedAction::Discrete(y), _) => x == y,
        (
            OwnedAction::Continuous(x),
            OwnedAction::Continuous(y),
            picorl_core::env::Space::Box { low, high, .. },
        ) => x
            .iter()
            .zip(y)
            .enumerate()
            .all(|(i, (p, q))| (p - q).abs() <= 0.01 * (high[i] - low[i])),
        _ => false,
    }
}

/// `picorl export RUN_DIR --out FILE.picorl|FILE.onnx|FILE.tflite`.
pub fn export(a: ExportArgs) -> Result<()> {
    let quant: Quant = a.quant.parse()?;
    let format = Format::for_output(&a.out, quant)?;
    if a.eval_episodes == 0 || (quant == Quant::Int8 && a.calib_episodes == 0) {
        bail!("--eval-episodes and --calib-episodes must be positive");
    }
    let cfg = ResolvedConfig::load(&a.run_dir.join("config.toml"))
        .with_context(|| format!("{} is no run directory", a.run_dir.display()))?;
    let algo = cfg.run.algo.clone();
    with_algo!(algo.as_str(), A => export_run::<A>(&a, &cfg, quant, format))
}

/// The `.picorl` file of a run's deterministic policy: f32 as trained, or int8 calibrated on
/// `calib_episodes` rollouts of the run's own policy (reset seeds 20000, 20001, …): the
/// standardization and centering folds, channel equalization, error-compensating int8 weights
/// and, for argmax heads, the output range that agrees best (`export`, `quant_fit`). Returns the
/// file and, for int8, the calibration it was written with.
pub fn export_file<A: Algorithm>(
    agent: &mut A,
    setup: &Setup,
    quant: Quant,
    calib_episodes: u32,
) -> Result<(PicorlFile, Option<Calibration>)> {
    let policy = agent.export()?;
    let obs_dim = setup.spec.observation_space.flat_dim();
    let mut env = setup.make_env()?;
    export_policy(policy, agent, env.as_mut(), obs_dim, quant, calib_episodes)
}

/// [`export_file`] for any policy: `reference` (the policy's own f32 function) acts in the
/// calibration rollouts on `env`. `picorl import` writes a policy trained elsewhere through it.
pub fn export_policy(
    policy: PolicyExport,
    reference: &mut dyn Actor,
    env: &mut dyn picorl_core::env::Env,
    obs_dim: usize,
    quant: Quant,
    calib_episodes: u32,
) -> Result<(PicorlFile, Option<Calibration>)> {
    let (policy, calib) = if quant == Quant::Int8 {
        let obs = rollout_obs(env, reference, 20_000, calib_episodes)?;
        // Function-preserving folds, then ranges, then the int8 weights chosen on the same
        // observations (`quant_fit`).
        let policy = equalized(
            &centered(&standardized(&policy, &obs, obs_dim)),
            &obs,
            obs_dim,
        );
        let calib = calibrate(&policy, &obs, obs_dim);
        let (policy, calib) = match int8_quant_params(&policy, &calib) {
            Ok((input, outputs)) => {
                let fit = fitted(&policy, &obs, obs_dim, input, &outputs)?;
                let (calib, _) = searched_output_range(&policy, &fit, &obs, obs_dim, &calib)?;
                (fit, calib)
            }
            // `build_model` reports what is wrong with the policy or its ranges.
            Err(_) => (policy, calib),
        };
        (policy, Some(calib))
    } else {
        (policy, None)
    };
    let bytes = build_model(&policy, obs_dim, quant, calib.as_ref())?;
    Ok((PicorlFile::from_bytes(bytes)?, calib))
}

fn export_run<A: Algorithm>(
    a: &ExportArgs,
    cfg: &ResolvedConfig,
    quant: Quant,
    format: Format,
) -> Result<()> {
    let (mut agent, setup) = load_run::<A>(&a.run_dir, cfg)?;
    let mut env = setup.make_env()?;
    let (file, calib) = export_file(&mut agent, &setup, quant, a.calib_episodes)?;
    let opts = ReportOptions {
        out: &a.out,
        format,
        quant,
        calib_episodes: a.calib_episodes,
        eval_episodes: a.eval_episodes,
        json: a.json,
    };
    report(
        &mut agent,
        env.as_mut(),
        &setup.spec,
        &file,
        calib.as_ref(),
        &opts,
    )
}

/// What [`report`] writes and prints.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions<'a> {
    /// The file to write.
    pub out: &'a std::path::Path,
    /// Its format.
    pub format: Format,
    /// f32 or int8.
    pub quant: Quant,
    /// Episodes the int8 ranges were calibrated on.
    pub calib_episodes: u32,
    /// Episodes compared (seeds 0, 1, …).
    pub eval_episodes: u32,
    /// One JSON object on stdout.
    pub json: bool,
}

/// Writes `file` to `o.out` and reports what it costs against `reference` (the policy's own
/// function) on the same seeds and observations: `picorl export`'s and `picorl import`'s report.
pub fn report(
    reference: &mut dyn Actor,
    env: &mut dyn picorl_core::env::Env,
    spec: &picorl_core::env::EnvSpec,
    file: &PicorlFile,
    calib: Option<&Calibration>,
    o: &ReportOptions<'_>,
) -> Result<()> {
    let (a, quant, format, agent) = (o, o.quant, o.format, reference);
    let obs_dim = spec.observation_space.flat_dim();

    // The report: the run's own policy and the file, on the same seeds and observations.
    let reference_obs = rollout_obs(env, agent, 0, a.eval_episodes)?;
    let reference = eval::evaluate(env, agent, 0, a.eval_episodes)?;
    let mut core_policy = file.policy()?;
    let exported = eval::evaluate(env, &mut CoreActor(&mut core_policy), 0, a.eval_episodes)?;
    let mut same = 0usize;
    let total = reference_obs.len() / obs_dim.max(1);
    for o in reference_obs.chunks_exact(obs_dim) {
        let r = agent.act(o)?;
        let e = owned(&core_policy.act(o).map_err(|e| anyhow!("policy: {e}"))?);
        same += usize::from(agree(&r, &e, &spec.action_space));
    }
    let agreement = same as f64 / total.max(1) as f64;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: creating {}", a.out.display(), dir.display()))?;
    }
    // .onnx and .tflite files are converted from the checked .picorl bytes: the same numbers.
    let m = file.model();
    let out_bytes = format
        .encode(file.bytes(), &m)
        .with_context(|| format!("--out {}", a.out.display()))?;
    write_atomic(a.out, &out_bytes).with_context(|| format!("--out {}", a.out.display()))?;
    if a.json {
        println!(
            "{}",
            json!({
                "file": a.out.display().to_string(),
                "quant": quant.name(),
                "bytes": out_bytes.len(),
                "macs": m.macs(),
                "return_reference": reference.mean(),
                "return_exported": exported.mean(),
                "action_agreement": agreement,
                "ram_bytes": file.inference_ram_bytes(),
                "episodes": a.eval_episodes,
            })
        );
    } else {
        println!(
            "exported {} ({}, {})",
            a.out.display(),
            quant.name(),
            kind_name(&m)
        );
        println!("{:<28} {}", "bytes", out_bytes.len());
        println!("{:<28} {}", "MACs per inference", m.macs());
        println!(
            "{:<28} {}",
            "inference RAM (bytes)",
            file.inference_ram_bytes()
        );
        if let Some(c) = &calib {
            println!(
                "{:<28} {} observations, {} episodes",
                "calibration", c.samples, a.calib_episodes
            );
        }
        println!(
            "{:<28} {:?} ± {:?}",
            "return, run's policy",
            reference.mean(),
            reference.std()
        );
        println!(
            "{:<28} {:?} ± {:?}",
            "return, exported file",
            exported.mean(),
            exported.std()
        );
        println!(
            "{:<28} {:.4} ({} observations)",
            "action agreement", agreement, total
        );
    }
    Ok(())
}

/// `picorl inspect FILE`.
pub fn inspect(a: InspectArgs) -> Result<()> {
    let file = PicorlFile::load(&a.file)?;
    let m = file.model();
    let layers: Vec<serde_json::Value> = m
        .layers()
        .map(|l| json!({"inputs": l.in_dim, "outputs": l.out_dim, "activation": format!("{:?}", l.activation).to_lowercase()}))
        .collect();
    let (low, high) = m
        .action_bounds()
        .map(|(l, h)| (l.to_vec(), h.to_vec()))
        .unwrap_or_default();
    if a.json {
        println!(
            "{}",
            json!({
                "file": a.file.display().to_string(),
                "version": m.version(),
                "kind": kind_name(&m),
                "quant": quant_name(m.quant()),
                "obs_dim": m.obs_dim(),
                "action_dim": m.action_dim(),
                "layers": layers,
                "states": m.n_states(),
                "normalization": m.normalization().is_some(),
                "action_low": low,
                "action_high": high,
                "macs": m.macs(),
                "bytes": m.file_len(),
                "ram_bytes": file.inference_ram_bytes(),
                "crc32": format!("{:08x}", m.crc()),
            })
        );
    } else {
        println!("{} — .picorl version {}", a.file.display(), m.version());
        println!("{:<16} {}", "kind", kind_name(&m));
        println!("{:<16} {}", "quantization", quant_name(m.quant()));
        println!("{:<16} {}", "observation", m.obs_dim());
        let act = if m.head() == HeadKind::Discrete {
            "actions"
        } else {
            "action dims"
        };
        println!("{:<16} {}", act, m.action_dim());
        for (i, l) in m.layers().enumerate() {
            println!(
                "{:<16} {} → {} ({:?})",
                format!("layer {i}"),
                l.in_dim,
                l.out_dim,
                l.activation
            );
        }
        if m.n_states() > 0 && m.n_layers() == 0 {
            println!("{:<16} {}", "states", m.n_states());
        }
        println!(
            "{:<16} {}",
            "normalization",
            if m.normalization().is_some() {
                "stored"
            } else {
                "none"
            }
        );
        if !low.is_empty() {
            println!("{:<16} low {:?}, high {:?}", "action bounds", low, high);
        }
        println!("{:<16} {}", "MACs", m.macs());
        println!("{:<16} {} bytes", "file", m.file_len());
        println!(
            "{:<16} {} bytes",
            "inference RAM",
            file.inference_ram_bytes()
        );
        println!("{:<16} {:08x}", "CRC-32", m.crc());
    }
    Ok(())
}

fn parse_obs(text: &str, what: &str) -> Result<Vec<f32>> {
    text.split(',')
        .map(|v| {
            v.trim()
                .parse::<f32>()
                .map_err(|e| anyhow!("{what}: `{}`: {e}", v.trim()))
        })
        .collect()
}

/// `picorl infer FILE --obs …`.
pub fn infer(a: InferArgs) -> Result<()> {
    let file = PicorlFile::load(&a.file)?;
    let mut policy = file.policy()?;
    let mut one = |obs: &[f32], json: bool, what: &str| -> Result<()> {
        let action = policy.act(obs).map_err(|e| anyhow!("{what}: {e}"))?;
        let outputs = policy.outputs().to_vec();
        let action_json = match action.continuous() {
            Some(v) => json!(v),
            None => json!(action.discrete().unwrap_or(0)),
        };
        if json {
            println!("{}", json!({"action": action_json, "outputs": outputs}));
        } else {
            println!("action={action_json} outputs={outputs:?}");
        }
        Ok(())
    };
    match (&a.obs, &a.obs_file) {
        (Some(o), _) => one(&parse_obs(o, "--obs")?, a.json, "--obs"),
        (None, Some(p)) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let what = format!("{} line {}", p.display(), i + 1);
                one(&parse_obs(line, &what)?, true, &what)?;
            }
            Ok(())
        }
        (None, None) => bail!("--obs or --obs-file is required"),
    }
}

/// `picorl bench FILE`.
pub fn bench(a: BenchArgs) -> Result<()> {
    if a.iterations == 0 {
        bail!("--iterations must be positive");
    }
    let file = PicorlFile::load(&a.file)?;
    let m = file.model();
    let mut policy = file.policy()?;
    // A fixed, varied set of observations (inference does the same work for every input).
    let dim = m.obs_dim();
    let tabular = m.n_layers() == 0;
    let inputs: Vec<Vec<f32>> = (0..64)
        .map(|k| {
            (0..dim)
                .map(|j| {
                    if tabular {
                        (k % m.n_states().max(1)) as f32
                    } else {
                        ((k * 7 + j * 3) % 11) as f32 / 11.0 - 0.5
                    }
                })
                .collect()
        })
        .collect();
    for o in &inputs {
        policy.act(o).map_err(|e| anyhow!("{e}"))?;
    }
    let start = Instant::now();
    for i in 0..a.iterations {
        let r = policy.act(std::hint::black_box(&inputs[(i % 64) as usize]));
        std::hint::black_box(&r);
    }
    let ns = start.elapsed().as_nanos() as f64 / a.iterations as f64;
    if a.json {
        println!(
            "{}",
            json!({"ns_per_inference": ns, "macs": m.macs(), "iterations": a.iterations})
        );
    } else {
        println!(
            "{:.1} ns per inference ({} MACs, {} iterations)",
            ns,
            m.macs(),
            a.iterations
        );
    }
    Ok(())
}
