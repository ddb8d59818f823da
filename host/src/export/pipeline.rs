//! `picorl export`'s steps after a policy is in hand, shared by `export` (a run's policy) and
//! `import` (an ONNX policy trained elsewhere): calibration rollouts, the int8 search, the file
//! with its origin, and the report of what the export costs.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

use super::calib::search_int8;
use super::fit::equalized;
use super::interop::Format;
use super::picorl_file::{kind_name, owned, CoreActor, PicorlFile};
use super::report::{self as export_report, Comparison};
use super::{
    build_model, build_model_with_meta, calibrate, Calibration, FileMeta, PolicyExport, Quant,
};
use crate::envs::eval::{self, Actor, OwnedAction};
use crate::util::fmt::num;
use crate::util::fs::write_atomic;

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

/// A policy's `.picorl` file, for any policy (`export_file` is it for a run's): `reference` (the
/// policy's own f32 function) acts in the calibration rollouts on `env`; `meta` is what the file
/// records of its origin.
///
/// With `qat_steps` of quantization-aware fine-tuning (int8): when positive, a copy
/// of the searched int8 export's layers is fine-tuned (`export::qat`), searched and fitted again,
/// and kept if its file keeps more of the policy's decisions on the calibration observations.
/// Prints the two scores on stderr.
#[allow(clippy::too_many_arguments)]
pub fn export_policy(
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
        // the same observations (`export::calib`, `export::fit`).
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

/// The fine-tuned alternative to the searched export `fit` (see [`export_policy`]).
#[allow(clippy::too_many_arguments)]
fn with_qat(
    policy: &PolicyExport,
    folded: &PolicyExport,
    obs: &[f32],
    obs_dim: usize,
    fit: PolicyExport,
    calib: Calibration,
    choice: &super::calib::Int8Choice,
    steps: u32,
) -> Result<(PolicyExport, Calibration)> {
    use super::calib::{range_normalized, subsample};
    let sub = subsample(obs, obs_dim);
    let start = range_normalized(folded, &sub, obs_dim, choice.input_tail);
    let (input, outputs) = super::int8_quant_params(&fit, &calib)?;
    let tuned = super::qat::fine_tuned(&start, input, &outputs, &sub, obs_dim, steps, 0)?;
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

/// [`export_policy`] with, for int8, the same policy's f32 file: the reference of
/// [`report`]'s int8 figures (for f32 both are the one file). `picorl export` and `picorl import`
/// both write through it.
#[allow(clippy::too_many_arguments)]
pub fn export_with_f32(
    policy: PolicyExport,
    reference: &mut dyn Actor,
    env: &mut dyn picorl_core::env::Env,
    obs_dim: usize,
    quant: Quant,
    calib_episodes: u32,
    meta: &FileMeta,
    qat_steps: u32,
) -> Result<(PicorlFile, PicorlFile, Option<Calibration>)> {
    let (file, calib) = export_policy(
        policy.clone(),
        reference,
        env,
        obs_dim,
        quant,
        calib_episodes,
        meta,
        qat_steps,
    )?;
    let f32_file = match quant {
        Quant::F32 => file.clone(),
        Quant::Int8 => {
            export_policy(
                policy,
                reference,
                env,
                obs_dim,
                Quant::F32,
                calib_episodes,
                meta,
                0,
            )?
            .0
        }
    };
    Ok((file, f32_file, calib))
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
            num(reference.mean()),
            num(reference.std()),
            a.eval_episodes
        );
        if quant == Quant::Int8 {
            println!("{:<28} {}", "return, f32 file", num(return_f32));
        }
        println!(
            "{:<28} {} ± {}",
            "return, exported file",
            num(exported.mean()),
            num(exported.std())
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
