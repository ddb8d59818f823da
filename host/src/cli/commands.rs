//! The commands on `.picorl` files and exports: `export`, `inspect`, `infer`, `bench`, and
//! `eval` of a file. Each reads through `picorl-core`, the code the firmware runs.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::model::HeadKind;
use serde_json::json;

use crate::cli::{BenchArgs, EvalArgs, ExportArgs, InferArgs, InspectArgs};
use crate::envs::eval::{self, EvalResult};
use crate::export::interop::Format;
use crate::export::picorl_file::{kind_name, quant_name, CoreActor, PicorlFile};
use crate::export::pipeline::{export_policy, export_with_f32, report, ReportOptions};
use crate::export::{Calibration, FileMeta, Quant};
use crate::train::config::ResolvedConfig;
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
/// unnarrowed output range and error-compensating int8 weights (`export::calib`, `export::fit`).
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

/// [`export_file`] with `qat_steps` of quantization-aware fine-tuning (int8; `export::qat`).
pub fn export_file_qat<A: Algorithm>(
    agent: &mut A,
    setup: &Setup,
    quant: Quant,
    calib_episodes: u32,
    qat_steps: u32,
) -> Result<(PicorlFile, Option<Calibration>)> {
    let mut env = setup.make_env()?;
    export_policy(
        agent.export()?,
        agent,
        env.as_mut(),
        setup.spec.observation_space.flat_dim(),
        quant,
        calib_episodes,
        &run_meta(&setup.run),
        qat_steps,
    )
}

/// What a `.picorl` file records of the run that trained its policy.
fn run_meta(run: &crate::train::config::RunOptions) -> FileMeta {
    FileMeta {
        env: run.env.clone(),
        kwargs: run.env_kwargs.clone(),
        algo: run.algo.clone(),
    }
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
    let (mut agent, setup) = crate::train::load_run_from::<A>(&a.run_dir, cfg, checkpoint)?;
    if a.qat > 0 && quant != Quant::Int8 {
        bail!("--qat {} needs --quant int8", a.qat);
    }
    let mut env = setup.make_env()?;
    let (file, f32_file, calib) = export_with_f32(
        agent.export()?,
        &mut agent,
        env.as_mut(),
        setup.spec.observation_space.flat_dim(),
        quant,
        a.calib_episodes,
        &run_meta(&setup.run),
        a.qat,
    )?;
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
