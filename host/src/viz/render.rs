//! `picorl render`: what a policy does, as pictures drawn in Rust. One deterministic episode
//! acted by a run's network or a `.picorl` file, drawn frame by frame ([`super::scenes`]) into
//! an animated GIF; a `.png` output is the first frame, or for grid worlds the greedy policy and
//! the state values ([`super::grid`]). Gymnasium's environments bring their own frames
//! ([`super::render_gym`]), environments of the user's own their own picture
//! ([`super::render_user`]).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use picorl_core::env::{AnyEnv, Env};
use picorl_core::model::ModelKind;

use super::canvas::{parse_size, png_bytes, GifEncoder};
use super::grid::{is_grid, GridOverlay};
use super::scenes::{default_fps, default_size, draw_frame, FrameInfo};
use super::RenderOptions;
use crate::envs::eval::{Actor, OwnedAction};
use crate::export::picorl_file::{CoreActor, PicorlFile};
use crate::train::config::ResolvedConfig;
use crate::train::load_run;
use crate::util::fs::write_atomic;
use crate::{envs, with_algo};

/// `picorl render --help`'s closing text.
pub const RENDER_HELP: &str = "\
The episode is deterministic (reset seed --seed), acted by the run's network (through libtorch) or
by the .picorl file (through core). Classic control (CartPole-v1, Pendulum-v1, MountainCar-v0,
MountainCarContinuous-v0, Acrobot-v1) is drawn as Gymnasium draws it; .png writes the first frame.
Grid worlds (FrozenLake, CliffWalking, Taxi) show the greedy action of every state as an arrow
(Taxi: P pick up, D drop off) and, for a Q-table, max_a Q(s, a) as a heat map; .png writes that
picture, .gif the agent's episode over it.

Examples:
  picorl render runs/ppo-cartpole --out cartpole.gif
  picorl render cartpole.picorl --env CartPole-v1 --seed 3 --every 2 --size 300x200 --out small.gif
  picorl render runs/qlearning-frozenlake --out policy.png
  picorl render runs/qlearning-taxi --seed 1 --out taxi.gif";

/// The greedy policy and, where the source has them, the state values of a grid world.
fn overlay_of(
    env: &AnyEnv,
    actor: &mut dyn Actor,
    values: Option<Vec<f32>>,
) -> Result<GridOverlay> {
    let Some(t) = env.as_tabular() else {
        return Ok(GridOverlay::default());
    };
    let policy = (0..t.n_states())
        .map(|s| match actor.act(&[s as f32])? {
            OwnedAction::Discrete(a) => Ok(a),
            OwnedAction::Continuous(_) => bail!("a continuous action for a grid world"),
        })
        .collect::<Result<Vec<u32>>>()?;
    Ok(GridOverlay {
        policy: Some(policy),
        values,
    })
}

/// Whether `--out` asks for a `.png` (else a `.gif`); another extension is an error.
fn wants_png(a: &RenderOptions) -> Result<bool> {
    match a.out.extension().and_then(|e| e.to_str()) {
        Some("png") => Ok(true),
        Some("gif") => Ok(false),
        _ => bail!(
            "--out {}: the extension picks the format: .gif (an episode) or .png (one picture)",
            a.out.display()
        ),
    }
}

/// Renders one deterministic episode (or, for a `.png`, one picture) of `actor` in `env`.
pub fn render_episode(
    env: &mut AnyEnv,
    actor: &mut dyn Actor,
    values: Option<Vec<f32>>,
    a: &RenderOptions,
) -> Result<Vec<u8>> {
    let size = match &a.size {
        Some(s) => parse_size(s)?,
        None => default_size(env),
    };
    let overlay = if is_grid(env.spec().id) {
        overlay_of(env, actor, values)?
    } else {
        GridOverlay::default()
    };
    let mut obs = vec![0.0f32; env.spec().observation_space.flat_dim()];
    env.reset(Some(a.seed), &mut obs)
        .map_err(|e| anyhow!("resetting {} with seed {}: {e}", env.spec().id, a.seed))?;
    let mut info = FrameInfo::default();
    let png = wants_png(a)?;
    if png {
        if is_grid(env.spec().id) {
            info.hide_agent = true;
            info.caption = Some(format!(
                "{}: greedy policy{}",
                env.spec().id,
                if overlay.values.is_some() {
                    ", max_a Q(s, a) as colour"
                } else {
                    ""
                }
            ));
        }
        return png_bytes(&draw_frame(env, &info, &overlay, size)?);
    }
    if a.every == 0 {
        bail!("--every must be positive");
    }
    let fps = a.fps.unwrap_or_else(|| default_fps(env));
    if !(fps.is_finite() && fps > 0.0) {
        bail!("--fps {fps}: must be positive");
    }
    // GIF delays are in hundredths of a second; viewers treat less than 2 as slow, so 2 is the
    // floor (50 frames per second).
    let delay = ((100.0 * f64::from(a.every) / fps).round() as u16).max(2);
    let max_steps = a
        .max_steps
        .unwrap_or(env.spec().time_limit().unwrap_or(500));
    let mut gif = GifEncoder::new(size.0, size.1)?;
    gif.push(&draw_frame(env, &info, &overlay, size)?, delay)?;
    loop {
        if info.step >= max_steps {
            break;
        }
        let action = actor.act(&obs)?;
        let r = env
            .step(action.as_action(), &mut obs)
            .map_err(|e| anyhow!("step {} with action {action:?}: {e}", info.step))?;
        info.step += 1;
        info.ret += r.reward;
        info.action = Some(action);
        let last = r.done() || info.step >= max_steps;
        if info.step % a.every == 0 || last {
            // The last frame stays up longer, so the ending can be seen.
            let d = if last { delay.max(100) } else { delay };
            gif.push(&draw_frame(env, &info, &overlay, size)?, d)?;
        }
        if last {
            break;
        }
    }
    eprintln!(
        "{}: {} steps, return {:?}, {} frames",
        a.out.display(),
        info.step,
        info.ret,
        gif.frames()
    );
    gif.finish()
}

/// The Q-table of a tabular run's checkpoint, as `max_a Q(s, a)` per state.
fn tabular_values(dir: &Path) -> Result<Vec<f32>> {
    let path = dir.join(crate::train::CHECKPOINT);
    let tensors = tch::Tensor::read_safetensors(&path)
        .with_context(|| format!("reading {}", path.display()))?;
    let q = tensors
        .iter()
        .find(|(n, _)| n == "q")
        .map(|(_, t)| t)
        .ok_or_else(|| anyhow!("{}: no tensor `q`", path.display()))?;
    let [_, n_actions] = q.size()[..] else {
        bail!("{}: `q` is not a table", path.display());
    };
    let values = Vec::<f32>::try_from(q.to_kind(tch::Kind::Float).flatten(0, -1))?;
    Ok(max_per_row(&values, n_actions.max(1) as usize))
}

fn max_per_row(q: &[f32], n: usize) -> Vec<f32> {
    q.chunks(n)
        .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .collect()
}

/// Makes a core environment to draw; a host-only one (Trading-v0) has no picture.
fn renderable(id: &str, kwargs: &std::collections::BTreeMap<String, String>) -> Result<AnyEnv> {
    if envs::HOST_SPECS.iter().any(|s| s.id == id) {
        bail!("--env {id}: picorl render draws picorl-core's environments; {id} has no picture");
    }
    envs::make_any(id, kwargs)
}

/// `picorl render`.
pub fn render(a: RenderOptions) -> Result<()> {
    // The options first, before a run is loaded.
    wants_png(&a)?;
    if let Some(s) = &a.size {
        parse_size(s)?;
    }
    if a.every == 0 {
        bail!("--every must be positive");
    }
    crate::envs::gym::set_packages(&a.gym_packages);
    let size = a.size.as_deref().map(parse_size).transpose()?;
    let bytes = if let Some(bytes) = crate::viz::render_user::render_bytes(&a)? {
        bytes
    } else if a.source.is_dir() {
        let dir = &a.source;
        let cfg = ResolvedConfig::load(&dir.join("config.toml"))
            .with_context(|| format!("{} is no run directory", dir.display()))?;
        let env_id = a.env.clone().unwrap_or(cfg.run.env.clone());
        let kwargs = if a.env_kwargs.is_empty() && a.env.is_none() {
            cfg.run.env_kwargs.clone()
        } else {
            envs::parse_kwargs(&a.env_kwargs)?
        };
        if crate::envs::gym::is_gym(&env_id) {
            // Gymnasium draws the frames (render_mode="rgb_array").
            let algo = cfg.run.algo.clone();
            return finish_render(
                &a,
                with_algo!(algo.as_str(), A => {
                    let (mut agent, _) = load_run::<A>(dir, &cfg)?;
                    crate::viz::render_gym::render_episode(&env_id, &kwargs, &mut agent, &a, wants_png(&a)?, size)
                })?,
            );
        }
        let mut env = renderable(&env_id, &kwargs)?;
        let algo = cfg.run.algo.clone();
        let values = if matches!(algo.as_str(), "qlearning" | "sarsa") {
            Some(tabular_values(dir)?)
        } else {
            None
        };
        with_algo!(algo.as_str(), A => {
            let (mut agent, _) = load_run::<A>(dir, &cfg)?;
            render_episode(&mut env, &mut agent, values, &a)
        })?
    } else if a.source.exists() {
        let file = PicorlFile::load(&a.source)?;
        let (env_id, kwargs) = file.environment(&a.source, a.env.as_deref(), &a.env_kwargs)?;
        if crate::envs::gym::is_gym(&env_id) {
            let mut policy = file.policy()?;
            let bytes = crate::viz::render_gym::render_episode(
                &env_id,
                &kwargs,
                &mut CoreActor(&mut policy),
                &a,
                wants_png(&a)?,
                size,
            )?;
            return finish_render(&a, bytes);
        }
        let mut env = renderable(&env_id, &kwargs)?;
        let mut policy = file.policy()?;
        let values = match (file.model().kind(), env.as_tabular()) {
            (ModelKind::QTable, Some(t)) => Some(
                (0..t.n_states())
                    .map(|s| {
                        policy
                            .act(&[s as f32])
                            .map_err(|e| anyhow!("{}: state {s}: {e}", a.source.display()))?;
                        Ok(policy
                            .outputs()
                            .iter()
                            .copied()
                            .fold(f32::NEG_INFINITY, f32::max))
                    })
                    .collect::<Result<Vec<f32>>>()?,
            ),
            _ => None,
        };
        render_episode(&mut env, &mut CoreActor(&mut policy), values, &a)?
    } else {
        bail!("{}: no such run directory or file", a.source.display());
    };
    finish_render(&a, bytes)
}

/// Writes the picture to `--out`.
fn finish_render(a: &RenderOptions, bytes: Vec<u8>) -> Result<()> {
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: creating {}", a.out.display(), dir.display()))?;
    }
    write_atomic(&a.out, &bytes).with_context(|| format!("--out {}", a.out.display()))?;
    eprintln!("wrote {} ({} bytes)", a.out.display(), bytes.len());
    Ok(())
}
