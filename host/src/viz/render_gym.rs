//! `picorl render` for `gym:ID`: the frames are the environment's own
//! (`render_mode="rgb_array"`, drawn by Gymnasium in the worker), encoded as `picorl render`
//! encodes its own pictures: a GIF of the episode, or the first frame as a `.png`.

use anyhow::{anyhow, bail, Result};
use picorl_core::env::Env;

use super::canvas::{png_bytes, GifEncoder, Image};
use super::RenderOptions;
use crate::envs::eval::Actor;
use crate::envs::gym::GymEnv;

/// Gymnasium's frame, scaled (nearest pixel) to `--size` when asked.
fn frame(env: &mut GymEnv, size: Option<(u32, u32)>) -> Result<Image> {
    let (h, w, rgb) = env.frame()?;
    if h == 0 || w == 0 {
        bail!("{}: render() returned an empty frame", env.spec().id);
    }
    let img = Image {
        width: w,
        height: h,
        rgb,
    };
    let Some((tw, th)) = size.filter(|&s| s != (w, h)) else {
        return Ok(img);
    };
    let mut out = vec![0u8; (tw * th * 3) as usize];
    for y in 0..th {
        let sy = (u64::from(y) * u64::from(h) / u64::from(th)) as u32;
        for x in 0..tw {
            let sx = (u64::from(x) * u64::from(w) / u64::from(tw)) as u32;
            let (s, d) = (((sy * w + sx) * 3) as usize, ((y * tw + x) * 3) as usize);
            out[d..d + 3].copy_from_slice(&img.rgb[s..s + 3]);
        }
    }
    Ok(Image {
        width: tw,
        height: th,
        rgb: out,
    })
}

/// One deterministic episode of `actor` in `id` (made with `render_mode="rgb_array"`).
pub fn render_episode(
    id: &str,
    kwargs: &std::collections::BTreeMap<String, String>,
    actor: &mut dyn Actor,
    a: &RenderOptions,
    png: bool,
    size: Option<(u32, u32)>,
) -> Result<Vec<u8>> {
    let mut env = crate::envs::gym::make_rendering(id, kwargs)?;
    let mut obs = vec![0.0f32; env.spec().observation_space.flat_dim()];
    env.reset(Some(a.seed), &mut obs)
        .map_err(|e| anyhow!("resetting {id} with seed {}: {e}", a.seed))?;
    let first = frame(&mut env, size)?;
    if png {
        return png_bytes(&first);
    }
    let fps = a.fps.or(env.render_fps()).unwrap_or(30.0);
    if !(fps.is_finite() && fps > 0.0) {
        bail!("--fps {fps}: must be positive");
    }
    let delay = ((100.0 * f64::from(a.every.max(1)) / fps).round() as u16).max(2);
    let max_steps = a
        .max_steps
        .unwrap_or(env.spec().time_limit().unwrap_or(500));
    let mut gif = GifEncoder::new(first.width, first.height)?;
    gif.push(&first, delay)?;
    let (mut steps, mut ret) = (0u32, 0.0);
    while steps < max_steps {
        let action = actor.act(&obs)?;
        let r = env
            .step(action.as_action(), &mut obs)
            .map_err(|e| anyhow!("step {steps} with action {action:?}: {e}"))?;
        steps += 1;
        ret += r.reward;
        let last = r.done() || steps >= max_steps;
        if steps % a.every.max(1) == 0 || last {
            let img = frame(&mut env, size.or(Some((first.width, first.height))))?;
            gif.push(&img, if last { delay.max(100) } else { delay })?;
        }
        if last {
            break;
        }
    }
    eprintln!(
        "{}: {steps} steps, return {ret:?}, {} frames",
        a.out.display(),
        gif.frames()
    );
    gif.finish()
}
