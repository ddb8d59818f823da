//! `picorl render` for an environment of the user's own: one frame per step of a deterministic
//! episode, drawn by the [`Picture`] its registration gives, with picorl's caption on top;
//! `.png` writes the first frame, `.gif` the episode.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::Env;
use plotters::prelude::*;

use super::canvas::{paint, parse_size, png_bytes, GifEncoder, Image};
use super::RenderOptions;
use crate::envs::eval::{Actor, OwnedAction};
use crate::envs::user_env::{self, Picture};
use crate::export::picorl_file::{CoreActor, PicorlFile};
use crate::train::config::ResolvedConfig;
use crate::train::load_run;
use crate::{envs, with_algo};

/// The picture's bytes when `a` names an environment of the user's own (from `--env`, or the
/// run directory's config); `None` for any other environment, which `picorl render` draws
/// itself.
pub fn render_bytes(a: &RenderOptions) -> Result<Option<Vec<u8>>> {
    let run = if a.source.is_dir() {
        let cfg = ResolvedConfig::load(&a.source.join("config.toml"))
            .with_context(|| format!("{} is no run directory", a.source.display()))?;
        Some(cfg)
    } else {
        None
    };
    let env_id = match (&a.env, &run) {
        (Some(id), _) => id.clone(),
        (None, Some(cfg)) => cfg.run.env.clone(),
        (None, None) => return Ok(None),
    };
    let Some(reg) = user_env::find(&env_id) else {
        return Ok(None);
    };
    let Some(picture) = reg.picture_of().copied() else {
        bail!("--env {env_id}: its registration gives no picture (EnvRegistration::picture)");
    };
    let kwargs: BTreeMap<String, String> = match &run {
        Some(cfg) if a.env_kwargs.is_empty() && a.env.is_none() => cfg.run.env_kwargs.clone(),
        _ => envs::parse_kwargs(&a.env_kwargs)?,
    };
    let mut env = reg.make(&kwargs)?;
    let bytes = match run {
        Some(cfg) => {
            let algo = cfg.run.algo.clone();
            with_algo!(algo.as_str(), A => {
                let (mut agent, _) = load_run::<A>(&a.source, &cfg)?;
                episode(env.as_mut(), &mut agent, &picture, a)
            })?
        }
        None if a.source.exists() => {
            let file = PicorlFile::load(&a.source)?;
            let mut policy = file.policy()?;
            episode(env.as_mut(), &mut CoreActor(&mut policy), &picture, a)?
        }
        None => bail!("{}: no such run directory or file", a.source.display()),
    };
    Ok(Some(bytes))
}

/// One frame: the picture of the state, and the caption.
fn frame(
    env: &dyn Env,
    picture: &Picture,
    size: (u32, u32),
    step: u32,
    ret: f64,
    action: Option<&OwnedAction>,
) -> Result<Image> {
    let mut state = vec![0.0; env.state_dim()];
    env.get_state(&mut state)
        .map_err(|e| anyhow!("{}: get_state: {e}", env.spec().id))?;
    let values = match action {
        Some(OwnedAction::Continuous(v)) => Some(v.clone()),
        Some(OwnedAction::Discrete(a)) => Some(vec![*a as f32]),
        None => None,
    };
    let act_text = values
        .as_ref()
        .map(|v| {
            let parts: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
            format!("   action [{}]", parts.join(", "))
        })
        .unwrap_or_default();
    let caption = format!(
        "{}   step {step}   return {ret:.2}{act_text}",
        env.spec().id
    );
    paint(size.0, size.1, |root| {
        (picture.draw)(root, &state, values.as_deref())?;
        let (w, _) = root.dim_in_pixel();
        let font_size = (f64::from(w) / 42.0).clamp(10.0, 16.0);
        let style = ("sans-serif", font_size).into_font().color(&BLACK);
        root.draw(&Text::new(caption, (6, 6), style))?;
        Ok(())
    })
}

/// Renders one deterministic episode of `actor` in `env` (a `.png`: the first frame).
fn episode(
    env: &mut dyn Env,
    actor: &mut dyn Actor,
    picture: &Picture,
    a: &RenderOptions,
) -> Result<Vec<u8>> {
    let size = match &a.size {
        Some(s) => parse_size(s)?,
        None => picture.size,
    };
    let id = env.spec().id;
    let mut obs = vec![0.0f32; env.spec().obs_dim()];
    env.reset(Some(a.seed), &mut obs)
        .map_err(|e| anyhow!("resetting {id} with seed {}: {e}", a.seed))?;
    let first = frame(env, picture, size, 0, 0.0, None)?;
    if a.out.extension().and_then(|e| e.to_str()) == Some("png") {
        return png_bytes(&first);
    }
    let fps = a.fps.unwrap_or(picture.fps);
    if !(fps.is_finite() && fps > 0.0) {
        bail!("--fps {fps}: must be positive");
    }
    let delay = ((100.0 * f64::from(a.every) / fps).round() as u16).max(2);
    let max_steps = a
        .max_steps
        .unwrap_or(env.spec().time_limit().unwrap_or(500));
    let mut gif = GifEncoder::new(size.0, size.1)?;
    gif.push(&first, delay)?;
    let (mut step, mut ret) = (0u32, 0.0);
    while step < max_steps {
        let action = actor.act(&obs)?;
        let r = env
            .step(action.as_action(), &mut obs)
            .map_err(|e| anyhow!("{id}: step {step} with action {action:?}: {e}"))?;
        step += 1;
        ret += r.reward;
        let last = r.done() || step >= max_steps;
        if step % a.every == 0 || last {
            let d = if last { delay.max(100) } else { delay };
            gif.push(&frame(env, picture, size, step, ret, Some(&action))?, d)?;
        }
        if last {
            break;
        }
    }
    eprintln!(
        "{}: {step} steps, return {ret:?}, {} frames",
        a.out.display(),
        gif.frames()
    );
    gif.finish()
}
