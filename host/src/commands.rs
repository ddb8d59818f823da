//! The commands on `.picorl` files and exports: `export`, `inspect`, `infer`, `bench`, and
//! `eval` of a file. Each reads through `picorl-core`, the code the firmware runs.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::model::HeadKind;
use serde_json::json;

use crate::cli::{BenchArgs, EvalArgs, ExportArgs, InferArgs, InspectArgs};
use crate::eval::{self, Actor, EvalResult, OwnedAction};
use crate::export::{
    build_model, build_model_with_meta, calibrate, Calibration, FileMeta, PolicyExport, Quant,
};
use crate::export_report::{self, Comparison};
use crate::interop::Format;
use crate::picorl_file::{kind_name, owned, quant_name, CoreActor, PicorlFile};
use crate::quant_calib::search_int8;
use crate::quant_fit::equalized;
use crate::train::config::ResolvedConfig;
use crate::train::files::write_atomic;
use crate::train::{Algorithm, Setup};
use crate::{envs, with_algo};

/// `picorl eval FILE.picorl`: through core's `Policy`, the firmware's code. Returns the result
/// with the environment's id and options.
pub fn eval_file(a: &EvalArgs) -> Result<(EvalResult, String, BTreeMap<String, String>)> {
    let file = PicorlFile::load(&a.path)?;
    let (env_id, kwargs) = file.environment(&a.path, a.env.as_deref(), &a.env_kwargs)?;
    let mut env = envs::make(&env_id, &kwargs)?;
    let env_obs = env.spec().observation_space.flat_dim();
    let model_obs = file.model().obs_dim();
    if env_obs != model_obs {
        bail!(
            "{} takes {model_obs} observation values, and {env_id} gives {env_obs}: the file was trained on another environment (give its id with --env)",
            a.path.display()
        );
    }
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
        ) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .zip(low.iter().zip(high.iter()))
                    .all(|((p, q), (l, h))| (p - q).abs() <= 0.01 * (h - l))
        }
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
/// `calib_episodes` rollouts of the run's own policy (reset seeds 20000, 20001, …): channel
/// equalization, a range per input dimension, quantile ranges searched layer by layer, an
/// unnarrowed output range and error-compensating int8 weights (`quant_calib`, `quant_fit`).
/// The file records the run's environment, its options and the algorithm. Returns the file and,
/// for int8, the calibration it was written with.
pub fn export_file<A: Algorithm>(
    agent: &mut A,
    setup: &Setup,
    quant: Quant,
    calib_episodes: u32,
) -> Result<(PicorlFile, Option<Calibration>)> {
    export_file_qat(agent, setup, quant, calib_episodes, 0)
}

/// [`export_file`] with `qat_steps` of quantization-aware fine-tuning (int8; `quant_qat`).
pub fn export_file_qat<A: Algorithm>(
    agent: &mut A,
    setup: &Setup,
    quant: Quant,
    calib_episodes: u32,
    qat_steps: u32,
) -> Result<(PicorlFile, Option<Calibration>)> {
    let policy = agent.export()?;
    let obs_dim = setup.spec.observation_space.flat_dim();
    let mut env = setup.make_env()?;
    let meta = FileMeta {
        env: setup.run.env.clone(),
        kwargs: setup.run.env_kwargs.clone(),
        algo: setup.run.algo.clone(),
    };
    export_policy_qat(
        policy,
        agent,
        env.as_mut(),
        obs_dim,
        quant,
        calib_episodes,
        &meta,
        qat_steps,
    )
}

/// [`export_file`] for any policy: `reference` (the policy's own f32 function) acts in the
/// calibration rollouts on `env`; `meta` is what the file records of its origin. `picorl import`
/// writes a policy trained elsewhere through it.
pub fn export_policy(
    policy: PolicyExport,
    reference: &mut dyn Actor,
    env: &mut dyn picorl_core::env::Env,
    obs_dim: usize,
    quant: Quant,
    calib_episodes: u32,
    meta: &FileMeta,
) -> Result<(PicorlFile, Option<Calibration>)> {
    export_policy_qat(
        policy,
        reference,
        env,
        obs_dim,
        quant,
        calib_episodes,
        meta,
        0,
    )
}

/// [`export_policy`] with `qat_steps` of quantization-aware fine-tuning: when positive, a copy
/// of the searched int8 export's layers is fine-tuned (`quant_qat`), searched and fitted again,
/// and kept if its file keeps more of the policy's decisions on the calibration observations.
/// Prints the two scores on stderr.
#[allow(clippy::too_many_arguments)]
pub fn export_policy_qat(
    policy: PolicyExport,
    reference: &mut dyn Actor,
    env: &mut dyn picorl_core::env::Env,
    obs_dim: usize,
    quant: Quant,
    calib_episodes: u32,
    meta: &FileMeta,
    qat_steps: u32,
) -> Result<(PicorlFile, Option<Calibration>)> {
    let (policy, calib) = if quant == Quant::Int8 {
        let obs = rollout_obs(env, reference, 20_000, calib_episodes)?;
        // Function-preserving folds, then the searched ranges and the int8 weights chosen on
        // the same observations (`quant_calib`, `quant_fit`).
        // The outputs are never shifted (say, Q-values less their mean): the file's `outputs`
        // are the policy's own logits or Q-values, over an output range of their own
        // (`QuantParams::from_output_range`).
        let folded = equalized(&policy, &obs, obs_dim);
        match search_int8(&policy, &folded, &obs, obs_dim) {
            Ok((fit, calib, choice)) if qat_steps > 0 => {
                let (fit, calib) = with_qat(
                    &policy, &folded, &obs, obs_dim, fit, calib, &choice, qat_steps,
                )?;
                (fit, Some(calib))
            }
            Ok((fit, calib, _)) => (fit, Some(calib)),
            Err(e) => {
                // `build_model` names what is wrong with the policy (an activation int8 lacks,
                // say) better than the search's first failing candidate.
                let calib = calibrate(&policy, &obs, obs_dim);
                build_model(&policy, obs_dim, quant, Some(&calib))?;
                return Err(e);
            }
        }
    } else {
        (policy, None)
    };
    let bytes = build_model_with_meta(&policy, obs_dim, quant, calib.as_ref(), Some(meta))?;
    Ok((PicorlFile::from_bytes(bytes)?, calib))
}

/// The fine-tuned alternative to the searched export `fit` (see [`export_policy_qat`]).
#[allow(clippy::too_many_arguments)]
fn with_qat(
    policy: &PolicyExport,
    folded: &PolicyExport,
    obs: &[f32],
    obs_dim: usize,
    fit: PolicyExport,
    calib: Calibration,
    choice: &crate::quant_calib::Int8Choice,
    steps: u32,
) -> Result<(PolicyExport, Calibration)> {
    use crate::quant_calib::{range_normalized, subsample};
    let sub = subsample(obs, obs_dim);
    let start = range_normalized(folded, &sub, obs_dim, choice.input_tail);
    let (input, outputs) = crate::export::int8_quant_params(&fit, &calib)?;
    let tuned = crate::quant_qat::fine_tuned(&start, input, &outputs, &sub, obs_dim, steps, 0)?;
    let (fit2, calib2, choice2) = search_int8(policy, &tuned, obs, obs_dim)?;
    let keep = choice2.score > choice.score;
    eprintln!(
        "qat: {steps} steps: calibration score {:.6} -> {:.6} ({})",
        choice.score,
        choice2.score,
        if keep {
            "the fine-tuned copy is written"
        } else {
            "no gain: the searched export is written"
        }
    );
    Ok(if keep { (fit2, calib2) } else { (fit, calib) })
}

fn export_run<A: Algorithm>(
    a: &ExportArgs,
    cfg: &ResolvedConfig,
    quant: Quant,
    format: Format,
) -> Result<()> {
    let checkpoint = if a.which == "best" {
        crate::train::BEST
    } else {
        crate::train::CHECKPOINT
    };
    let (mut agent, setup) = crate::cli::load_run_from::<A>(&a.run_dir, cfg, checkpoint)?;
    let mut env = setup.make_env()?;
    if a.qat > 0 && quant != Quant::Int8 {
        bail!("--qat {} needs --quant int8", a.qat);
    }
    let (file, calib) = export_file_qat(&mut agent, &setup, quant, a.calib_episodes, a.qat)?;
    // The f32 file (the run's policy through core) is the reference of the int8 figures.
    let f32_file = match quant {
        Quant::F32 => file.clone(),
        Quant::Int8 => export_file(&mut agent, &setup, Quant::F32, a.calib_episodes)?.0,
    };
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
        &f32_file,
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
/// function) and `f32_file` (the same policy in f32 through core) on the same seeds and
/// observations: `picorl export`'s and `picorl import`'s report.
pub fn report(
    reference: &mut dyn Actor,
    env: &mut dyn picorl_core::env::Env,
    spec: &picorl_core::env::EnvSpec,
    file: &PicorlFile,
    f32_file: &PicorlFile,
    calib: Option<&Calibration>,
    o: &ReportOptions<'_>,
) -> Result<()> {
    let (a, quant, format, agent) = (o, o.quant, o.format, reference);
    let obs_dim = spec.observation_space.flat_dim();
    if a.out.is_dir() {
        bail!("--out {}: a directory, not a file", a.out.display());
    }
    // An existing file is replaced, and the person is told (scripts re-export on purpose).
    let replacing = a.out.exists();

    // The report: the policy's own function, its f32 file and the exported file, on the same
    // seeds and observations.
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
    let return_f32 = if quant == Quant::F32 {
        exported.mean()
    } else {
        let mut p = f32_file.policy()?;
        eval::evaluate(env, &mut CoreActor(&mut p), 0, a.eval_episodes)?.mean()
    };
    let output_range = calib
        .and_then(|c| c.layers.last())
        .map(|&(lo, hi)| f64::from(hi) - f64::from(lo));
    let cmp = export_report::compare(
        f32_file,
        file,
        &reference_obs,
        obs_dim,
        &spec.action_space,
        output_range,
    )?;
    let warnings = export_report::warnings(&cmp, return_f32, exported.mean());
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
    if replacing {
        eprintln!("warning: replaced the existing {}", a.out.display());
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
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
                "return_f32": return_f32,
                "action_agreement": agreement,
                "decisive_agreement": cmp.decisive_agreement,
                "decisive_states": cmp.decisive_states,
                "mean_gap_lost": cmp.mean_gap_lost,
                "action_error_p99": cmp.action_error_p99,
                "output_error_p99_steps": cmp.output_error_p99_steps,
                "ram_bytes": file.inference_ram_bytes(),
                "episodes": a.eval_episodes,
                "warnings": warnings,
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
            "{:<28} {} ± {}  ({} episodes)",
            "return, run's policy",
            crate::progress::num(reference.mean()),
            crate::progress::num(reference.std()),
            a.eval_episodes
        );
        if quant == Quant::Int8 {
            println!(
                "{:<28} {}",
                "return, f32 file",
                crate::progress::num(return_f32)
            );
        }
        println!(
            "{:<28} {} ± {}",
            "return, exported file",
            crate::progress::num(exported.mean()),
            crate::progress::num(exported.std())
        );
        println!(
            "{:<28} {:.4} ({} observations)",
            "action agreement", agreement, total
        );
        print_comparison(&cmp);
    }
    Ok(())
}

/// The file-against-f32-file figures of the export report, as text.
fn print_comparison(c: &Comparison) {
    if let Some(d) = c.decisive_agreement {
        println!(
            "{:<28} {:.4} ({} states with a top-two gap above 1% of the output range {:.4})",
            "decisive agreement", d, c.decisive_states, c.output_range
        );
    }
    if let Some(g) = c.mean_gap_lost {
        println!(
            "{:<28} {:.6} (output units, where the actions differ)",
            "mean gap lost", g
        );
    }
    if let Some(p) = c.action_error_p99 {
        println!("{:<28} {:.5} of the action range", "action error p99", p);
    }
    if let Some(s) = c.output_error_p99_steps {
        println!("{:<28} {:.2} output steps", "outputs error p99", s);
    }
}

/// One layer of `picorl inspect`: sizes, activation and, for int8, its quantization.
fn layer_json(l: &picorl_core::model::LayerView<'_>) -> serde_json::Value {
    let mut v = json!({
        "inputs": l.in_dim,
        "outputs": l.out_dim,
        "activation": l.activation.to_string(),
    });
    if let picorl_core::model::LayerData::Int8 {
        input,
        output,
        fc_output,
        weight_scales,
        act_table,
        ..
    } = l.data
    {
        v["input_scale"] = json!(input.scale);
        v["input_zero_point"] = json!(input.zero_point);
        v["output_scale"] = json!(output.scale);
        v["output_zero_point"] = json!(output.zero_point);
        v["weight_scales"] = json!(weight_scales);
        if !act_table.is_empty() {
            // The dense part's output, which TFLM's TANH / LOGISTIC reads, and the table.
            v["dense_output_scale"] = json!(fc_output.scale);
            v["dense_output_zero_point"] = json!(fc_output.zero_point);
            v["act_table"] = json!(act_table);
        }
    }
    v
}

/// Writes `text` to stdout; a closed pipe (`| head`) ends the command quietly.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// `picorl inspect FILE`.
pub fn inspect(a: InspectArgs) -> Result<()> {
    use std::fmt::Write;
    let file = PicorlFile::load(&a.file)?;
    let m = file.model();
    let layers: Vec<serde_json::Value> = m.layers().map(|l| layer_json(&l)).collect();
    let (low, high) = m
        .action_bounds()
        .map(|(l, h)| (l.to_vec(), h.to_vec()))
        .unwrap_or_default();
    let meta = m.meta();
    let kwargs: BTreeMap<&str, &str> = meta.iter().flat_map(|x| x.kwargs()).collect();
    let input_q = m.input_quant();
    if a.json {
        let v = json!({
            "file": a.file.display().to_string(),
            "version": m.version(),
            "kind": kind_name(&m),
            "quant": quant_name(m.quant()),
            "env": meta.map(|x| x.env_id()),
            "env_kwargs": kwargs,
            "algo": meta.map(|x| x.algo()),
            "obs_dim": m.obs_dim(),
            "action_dim": m.action_dim(),
            "input_scale": input_q.map(|q| q.scale),
            "input_zero_point": input_q.map(|q| q.zero_point),
            "layers": layers,
            "states": m.n_states(),
            "normalization": m.normalization().is_some(),
            "action_low": low,
            "action_high": high,
            "macs": m.macs(),
            "bytes": m.file_len(),
            "ram_bytes": file.inference_ram_bytes(),
            "crc32": format!("{:08x}", m.crc()),
        });
        return emit(&format!("{v}\n"));
    }
    let mut t = String::new();
    let _ = writeln!(t, "{} — .picorl version {}", a.file.display(), m.version());
    let _ = writeln!(t, "{:<16} {}", "kind", kind_name(&m));
    let _ = writeln!(t, "{:<16} {}", "quantization", quant_name(m.quant()));
    match meta {
        Some(x) => {
            let opts: Vec<String> = x.kwargs().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(
                t,
                "{:<16} {}{}",
                "environment",
                x.env_id(),
                if opts.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", opts.join(", "))
                }
            );
            if !x.algo().is_empty() {
                let _ = writeln!(t, "{:<16} {}", "algorithm", x.algo());
            }
        }
        None => {
            let _ = writeln!(t, "{:<16} not recorded (version 1)", "environment");
        }
    }
    let _ = writeln!(t, "{:<16} {}", "observation", m.obs_dim());
    let act = if m.head() == HeadKind::Discrete {
        "actions"
    } else {
        "action dims"
    };
    let _ = writeln!(t, "{:<16} {}", act, m.action_dim());
    if let Some(q) = input_q {
        let _ = writeln!(
            t,
            "{:<16} scale {:?}, zero point {}",
            "input (int8)", q.scale, q.zero_point
        );
    }
    for l in m.layers() {
        let _ = write!(
            t,
            "{:<16} {} → {} ({})",
            format!("layer {}", l.index),
            l.in_dim,
            l.out_dim,
            l.activation
        );
        if let picorl_core::model::LayerData::Int8 {
            output,
            fc_output,
            weight_scales,
            act_table,
            ..
        } = l.data
        {
            let (lo, hi) = weight_scales
                .iter()
                .fold((f32::INFINITY, 0.0f32), |(a, b), &w| (a.min(w), b.max(w)));
            if !act_table.is_empty() {
                let _ = write!(
                    t,
                    ", dense out scale {:?} zp {}",
                    fc_output.scale, fc_output.zero_point
                );
            }
            let _ = write!(
                t,
                ", out scale {:?} zp {}, weight scales {:.3e}..{:.3e}",
                output.scale, output.zero_point, lo, hi
            );
        }
        let _ = writeln!(t);
    }
    if m.n_states() > 0 && m.n_layers() == 0 {
        let _ = writeln!(t, "{:<16} {}", "states", m.n_states());
    }
    let _ = writeln!(
        t,
        "{:<16} {}",
        "normalization",
        if m.normalization().is_some() {
            "stored"
        } else {
            "none"
        }
    );
    if !low.is_empty() {
        let _ = writeln!(t, "{:<16} low {:?}, high {:?}", "action bounds", low, high);
    }
    let _ = writeln!(t, "{:<16} {}", "MACs", m.macs());
    let _ = writeln!(t, "{:<16} {} bytes", "file", m.file_len());
    let _ = writeln!(
        t,
        "{:<16} {} bytes",
        "inference RAM",
        file.inference_ram_bytes()
    );
    let _ = writeln!(t, "{:<16} {:08x}", "CRC-32", m.crc());
    emit(&t)
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
