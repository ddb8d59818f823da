//! One frame of an environment in its current state: classic control (CartPole, Pendulum,
//! MountainCar, MountainCarContinuous, Acrobot) drawn from the environment's internal state with
//! Gymnasium's proportions (its `render()` code is the reference for sizes and angles),
//! `Quadrotor-v0` in two projections, and grid worlds through [`super::grid`].

use anyhow::{anyhow, Result};
use picorl_core::env::{AnyEnv, Env};
use plotters::prelude::*;

use super::canvas::{font, paint, Area, DrawResult, Image, BAR, MARGIN, TITLE};
use super::grid::{grid, grid_dims, GridOverlay};
use crate::envs::eval::OwnedAction;

/// What a frame shows besides the environment's state.
#[derive(Debug, Clone, Default)]
pub struct FrameInfo {
    /// Steps taken.
    pub step: u32,
    /// The return so far.
    pub ret: f64,
    /// The action that led to this state (`None` after a reset).
    pub action: Option<OwnedAction>,
    /// A caption instead of the step, return and action.
    pub caption: Option<String>,
    /// Grid worlds: leave the agent out (a policy picture).
    pub hide_agent: bool,
}

/// The default picture size of an environment (Gymnasium's screen sizes for classic control).
pub fn default_size(env: &AnyEnv) -> (u32, u32) {
    match env {
        AnyEnv::CartPole(_) | AnyEnv::MountainCar(_) | AnyEnv::MountainCarContinuous(_) => {
            (600, 400)
        }
        AnyEnv::Pendulum(_) | AnyEnv::Acrobot(_) => (500, 500),
        AnyEnv::Quadrotor(_) => (640, 360),
        _ => {
            let (rows, cols) = grid_dims(env);
            let cell = (480 / rows.max(cols) as u32).clamp(40, 96);
            (
                cols as u32 * cell + 2 * MARGIN + BAR,
                rows as u32 * cell + TITLE + MARGIN,
            )
        }
    }
}

/// Gymnasium's `metadata["render_fps"]`.
pub fn default_fps(env: &AnyEnv) -> f64 {
    match env {
        AnyEnv::CartPole(_) => 50.0,
        AnyEnv::Acrobot(_) => 15.0,
        AnyEnv::Pendulum(_) | AnyEnv::MountainCar(_) | AnyEnv::MountainCarContinuous(_) => 30.0,
        // L2F's 100 Hz, drawn at a quarter of it (GIF delays are in hundredths of a second).
        AnyEnv::Quadrotor(_) => 25.0,
        _ => 4.0,
    }
}

fn state_of(env: &AnyEnv) -> Result<Vec<f64>> {
    let mut s = vec![0.0; env.state_dim()];
    env.get_state(&mut s).map_err(|e| anyhow!("{e}"))?;
    Ok(s)
}

fn action_text(a: &Option<OwnedAction>) -> String {
    match a {
        None => String::new(),
        Some(OwnedAction::Discrete(a)) => format!("   action {a}"),
        Some(OwnedAction::Continuous(v)) => {
            let parts: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
            format!("   action [{}]", parts.join(", "))
        }
    }
}

/// Draws one frame of `env` in its current state, `size` pixels. Grid worlds are drawn with
/// `overlay`; classic control ignores it.
pub fn draw_frame(
    env: &AnyEnv,
    info: &FrameInfo,
    overlay: &GridOverlay,
    size: (u32, u32),
) -> Result<Image> {
    let state = state_of(env)?;
    let id = env.spec().id;
    let caption = info.caption.clone().unwrap_or_else(|| {
        format!(
            "{id}   step {}   return {:.1}{}",
            info.step,
            info.ret,
            action_text(&info.action)
        )
    });
    paint(size.0, size.1, |root| {
        match env {
            AnyEnv::CartPole(_) => cartpole(root, &state)?,
            AnyEnv::Pendulum(_) => pendulum(root, &state, &info.action)?,
            AnyEnv::MountainCar(_) => mountain_car(root, &state, 0.5)?,
            AnyEnv::MountainCarContinuous(_) => mountain_car(root, &state, 0.45)?,
            AnyEnv::Acrobot(_) => acrobot(root, &state)?,
            AnyEnv::Quadrotor(_) => quadrotor(root, &state)?,
            _ => grid(
                root,
                env,
                state.first().copied().unwrap_or(0.0) as u32,
                overlay,
                !info.hide_agent,
            )?,
        }
        let (w, _) = root.dim_in_pixel();
        let size = (f64::from(w) / 42.0).clamp(10.0, 16.0);
        root.draw(&Text::new(caption, (6, 6), font(size)))?;
        Ok(())
    })
}

/// Pixel coordinates of a world point: `scale` pixels per unit, origin at `(ox, oy)` pixels, y up.
fn px(x: f64, y: f64, scale: f64, ox: f64, oy: f64) -> (i32, i32) {
    (
        (ox + x * scale).round() as i32,
        (oy - y * scale).round() as i32,
    )
}

/// A rectangle `[l, r] × [b, t]` (world units) rotated by `angle` (counter-clockwise) about the
/// origin, then moved to `at`.
fn rotated_rect(l: f64, r: f64, b: f64, t: f64, angle: f64, at: (f64, f64)) -> [(f64, f64); 4] {
    let (s, c) = angle.sin_cos();
    [(l, b), (l, t), (r, t), (r, b)].map(|(x, y)| (at.0 + x * c - y * s, at.1 + x * s + y * c))
}

fn cartpole(root: &Area<'_>, s: &[f64]) -> DrawResult {
    // Gymnasium's cartpole.py: a 600×400 screen spans 2 × x_threshold = 4.8 units; the cart is
    // 50×30 px with its top 100 px above the bottom, the pole 10 px wide and 2 × 0.5 units long.
    let (w, h) = root.dim_in_pixel();
    let k = f64::from(w) / 600.0;
    let scale = f64::from(w) / 4.8;
    let (x, theta) = (s[0], s[2]);
    let track = f64::from(h) - 100.0 * k;
    let cart_x = f64::from(w) / 2.0 + x * scale;
    root.draw(&PathElement::new(
        vec![(0, track as i32), (w as i32, track as i32)],
        BLACK.stroke_width(1),
    ))?;
    let (cw, ch) = (50.0 * k, 30.0 * k);
    let cart_y = track - ch / 2.0;
    root.draw(&Rectangle::new(
        [
            ((cart_x - cw / 2.0) as i32, (cart_y - ch / 2.0) as i32),
            ((cart_x + cw / 2.0) as i32, (cart_y + ch / 2.0) as i32),
        ],
        BLACK.filled(),
    ))?;
    // The pole: pixel coordinates with y up, rotated by -theta (theta > 0 leans right).
    let axle = (cart_x, f64::from(h) - (cart_y - ch / 4.0));
    let (pw, pl) = (10.0 * k, scale);
    let pole = rotated_rect(-pw / 2.0, pw / 2.0, -pw / 2.0, pl - pw / 2.0, -theta, axle);
    root.draw(&Polygon::new(
        pole.map(|(px_, py)| (px_.round() as i32, (f64::from(h) - py).round() as i32))
            .to_vec(),
        RGBColor(202, 152, 101).filled(),
    ))?;
    root.draw(&Circle::new(
        (axle.0 as i32, (f64::from(h) - axle.1) as i32),
        (pw / 2.0).max(1.0) as i32,
        RGBColor(129, 132, 203).filled(),
    ))?;
    Ok(())
}

fn pendulum(root: &Area<'_>, s: &[f64], action: &Option<OwnedAction>) -> DrawResult {
    // Gymnasium's pendulum.py: a 500×500 screen spans ±2.2 units; a rod of length 1 and width 0.2
    // from the centre, at angle theta from upright (counter-clockwise).
    let (w, h) = root.dim_in_pixel();
    let scale = f64::from(w.min(h)) / 4.4;
    let (ox, oy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let theta = s[0];
    let tip = (-theta.sin(), theta.cos());
    let rod = rotated_rect(
        0.0,
        1.0,
        -0.1,
        0.1,
        theta + std::f64::consts::FRAC_PI_2,
        (0.0, 0.0),
    );
    let to_px = |p: (f64, f64)| px(p.0, p.1, scale, ox, oy);
    let red = RGBColor(204, 77, 77);
    root.draw(&Polygon::new(rod.map(to_px).to_vec(), red.filled()))?;
    root.draw(&Circle::new(
        to_px((0.0, 0.0)),
        (0.1 * scale) as i32,
        red.filled(),
    ))?;
    root.draw(&Circle::new(to_px(tip), (0.1 * scale) as i32, red.filled()))?;
    root.draw(&Circle::new(
        to_px((0.0, 0.0)),
        (0.05 * scale).max(2.0) as i32,
        BLACK.filled(),
    ))?;
    // The torque (bounded by 2): an arc about the pivot, longer for a larger torque, pointing
    // the way it turns (positive: counter-clockwise).
    if let Some(OwnedAction::Continuous(u)) = action {
        let u = f64::from(u.first().copied().unwrap_or(0.0)).clamp(-2.0, 2.0);
        if u.abs() > 0.01 {
            let r = 0.45;
            let span = u / 2.0 * 2.5;
            let n = 24;
            let pts: Vec<(i32, i32)> = (0..=n)
                .map(|i| {
                    let a = std::f64::consts::FRAC_PI_2 + span * f64::from(i) / f64::from(n);
                    to_px((r * a.cos(), r * a.sin()))
                })
                .collect();
            let end = std::f64::consts::FRAC_PI_2 + span;
            let dir = u.signum();
            let head = [
                (r * end.cos(), r * end.sin()),
                (
                    (r - 0.08) * end.cos() - dir * 0.1 * end.sin(),
                    (r - 0.08) * end.sin() + dir * 0.1 * end.cos(),
                ),
                (
                    (r + 0.08) * end.cos() - dir * 0.1 * end.sin(),
                    (r + 0.08) * end.sin() + dir * 0.1 * end.cos(),
                ),
            ];
            root.draw(&PathElement::new(pts, BLACK.stroke_width(3)))?;
            root.draw(&Polygon::new(head.map(to_px).to_vec(), BLACK.filled()))?;
        }
    }
    Ok(())
}

fn mountain_car(root: &Area<'_>, s: &[f64], goal: f64) -> DrawResult {
    // Gymnasium's mountain_car.py: positions -1.2..0.6 across the screen, height
    // 0.45 sin(3x) + 0.55, a 40×20 px car 10 px above the track, tilted by cos(3x) radians, and a
    // flag at the goal.
    let (w, h) = root.dim_in_pixel();
    let (min_x, max_x) = (-1.2, 0.6);
    let scale = f64::from(w) / (max_x - min_x);
    let k = f64::from(w) / 600.0;
    let height = |x: f64| (3.0 * x).sin() * 0.45 + 0.55;
    let bottom = f64::from(h);
    let to_px = |x: f64, y: f64| ((x - min_x) * scale, bottom - y * scale);
    let track: Vec<(i32, i32)> = (0..=100)
        .map(|i| {
            let x = min_x + (max_x - min_x) * f64::from(i) / 100.0;
            let p = to_px(x, height(x));
            (p.0 as i32, p.1 as i32)
        })
        .collect();
    let mut ground = track.clone();
    ground.push((w as i32, h as i32));
    ground.push((0, h as i32));
    root.draw(&Polygon::new(ground, RGBColor(222, 222, 222).filled()))?;
    root.draw(&PathElement::new(track, BLACK.stroke_width(2)))?;
    let pos = s[0];
    let angle = (3.0 * pos).cos();
    let (cw, ch, clear) = (40.0 * k, 20.0 * k, 10.0 * k);
    let base = ((pos - min_x) * scale, height(pos) * scale);
    let to_screen = |p: (f64, f64)| (p.0.round() as i32, (bottom - p.1).round() as i32);
    let body = rotated_rect(-cw / 2.0, cw / 2.0, clear, clear + ch, angle, base);
    root.draw(&Polygon::new(body.map(to_screen).to_vec(), BLACK.filled()))?;
    for wx in [cw / 4.0, -cw / 4.0] {
        let (sa, ca) = angle.sin_cos();
        let c = (base.0 + wx * ca - clear * sa, base.1 + wx * sa + clear * ca);
        root.draw(&Circle::new(
            to_screen(c),
            (ch / 2.5) as i32,
            RGBColor(128, 128, 128).filled(),
        ))?;
    }
    let flag = to_px(goal, height(goal));
    let (fx, fy) = (flag.0 as i32, flag.1 as i32);
    let pole = (50.0 * k) as i32;
    root.draw(&PathElement::new(
        vec![(fx, fy), (fx, fy - pole)],
        BLACK.stroke_width(2),
    ))?;
    root.draw(&Polygon::new(
        vec![
            (fx, fy - pole),
            (fx, fy - pole + (10.0 * k) as i32),
            (fx + (25.0 * k) as i32, fy - pole + (5.0 * k) as i32),
        ],
        RGBColor(204, 204, 0).filled(),
    ))?;
    Ok(())
}

fn acrobot(root: &Area<'_>, s: &[f64]) -> DrawResult {
    // Gymnasium's acrobot.py: a 500×500 screen spans ±2.2 units; two links of length 1 hang from
    // the centre (theta1 = 0 is straight down, theta2 relative to the first link); the goal is the
    // tip 1 unit above the pivot, drawn as a line.
    let (w, h) = root.dim_in_pixel();
    let scale = f64::from(w.min(h)) / 4.4;
    let (ox, oy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let to_px = |p: (f64, f64)| px(p.0, p.1, scale, ox, oy);
    let (t1, t2) = (s[0], s[1]);
    let p1 = (t1.sin(), -t1.cos());
    let p2 = (p1.0 + (t1 + t2).sin(), p1.1 - (t1 + t2).cos());
    root.draw(&PathElement::new(
        vec![to_px((-2.2, 1.0)), to_px((2.2, 1.0))],
        BLACK.stroke_width(1),
    ))?;
    let blue = RGBColor(0, 204, 204);
    for (from, angle) in [((0.0, 0.0), t1), (p1, t1 + t2)] {
        let link = rotated_rect(
            0.0,
            1.0,
            -0.1,
            0.1,
            angle - std::f64::consts::FRAC_PI_2,
            from,
        );
        root.draw(&Polygon::new(link.map(to_px).to_vec(), blue.filled()))?;
    }
    for p in [(0.0, 0.0), p1] {
        root.draw(&Circle::new(
            to_px(p),
            (0.1 * scale) as i32,
            RGBColor(204, 204, 0).filled(),
        ))?;
    }
    root.draw(&Circle::new(
        to_px(p2),
        (0.05 * scale).max(2.0) as i32,
        BLACK.filled(),
    ))?;
    Ok(())
}

/// `Quadrotor-v0` (state `[p, q (w, x, y, z), v, ω, rpm]`): two panels, a top view (x right,
/// y up) and a side view (x right, z up), each spanning the ±1 m box outside which the episode
/// terminates, with the target (the origin) as a cross. The vehicle is drawn 4× its size (its
/// arms are 4 cm long) from its rotated arms, each rotor shaded by its speed, and its thrust axis.
fn quadrotor(root: &Area<'_>, s: &[f64]) -> DrawResult {
    let (w, h) = root.dim_in_pixel();
    let (w, h) = (f64::from(w), f64::from(h));
    let get = |i: usize| s.get(i).copied().unwrap_or(0.0);
    let p = [get(0), get(1), get(2)];
    let (qw, qx, qy, qz) = (get(3), get(4), get(5), get(6));
    // The body-to-world rotation of q.
    let r = [
        [
            1.0 - 2.0 * (qy * qy + qz * qz),
            2.0 * (qx * qy - qw * qz),
            2.0 * (qx * qz + qw * qy),
        ],
        [
            2.0 * (qx * qy + qw * qz),
            1.0 - 2.0 * (qx * qx + qz * qz),
            2.0 * (qy * qz - qw * qx),
        ],
        [
            2.0 * (qx * qz - qw * qy),
            2.0 * (qy * qz + qw * qx),
            1.0 - 2.0 * (qx * qx + qy * qy),
        ],
    ];
    const LOOK: f64 = 4.0;
    let world = |b: [f64; 3]| -> [f64; 3] {
        let mut out = p;
        for (i, o) in out.iter_mut().enumerate() {
            *o += LOOK * (r[i][0] * b[0] + r[i][1] * b[1] + r[i][2] * b[2]);
        }
        out
    };
    let rotors = [
        [0.028, -0.028, 0.0],
        [-0.028, -0.028, 0.0],
        [-0.028, 0.028, 0.0],
        [0.028, 0.028, 0.0],
    ];
    let panel = f64::min((w - 30.0) / 2.0, h - 60.0);
    let scale = panel / 2.4;
    let top = 40.0 + (h - 40.0 - panel) / 2.0;
    let grey = RGBColor(190, 190, 190);
    let blue = RGBColor(60, 90, 200);
    for (k, (label, axis)) in [("top: x, y", 1usize), ("side: x, z", 2usize)]
        .into_iter()
        .enumerate()
    {
        let left = 10.0 + k as f64 * (panel + 10.0);
        let (ox, oy) = (left + panel / 2.0, top + panel / 2.0);
        let to_px = |x: f64, y: f64| px(x, y, scale, ox, oy);
        root.draw(&Rectangle::new(
            [to_px(-1.0, 1.0), to_px(1.0, -1.0)],
            grey.stroke_width(1),
        ))?;
        root.draw(&Text::new(
            label,
            (left as i32 + 4, top as i32 - 18),
            font(13.0),
        ))?;
        let c = 0.06;
        root.draw(&PathElement::new(
            vec![to_px(-c, 0.0), to_px(c, 0.0)],
            RED.stroke_width(2),
        ))?;
        root.draw(&PathElement::new(
            vec![to_px(0.0, -c), to_px(0.0, c)],
            RED.stroke_width(2),
        ))?;
        let centre = to_px(p[0], p[axis]);
        for (i, rotor) in rotors.iter().enumerate() {
            let at = world(*rotor);
            let end = to_px(at[0], at[axis]);
            root.draw(&PathElement::new(vec![centre, end], BLACK.stroke_width(3)))?;
            let speed = get(13 + i).clamp(0.0, 1.0);
            let shade = (230.0 - 200.0 * speed) as u8;
            root.draw(&Circle::new(
                end,
                (0.02 * LOOK * scale).max(3.0) as i32,
                RGBColor(shade, shade, 255).filled(),
            ))?;
            root.draw(&Circle::new(
                end,
                (0.02 * LOOK * scale).max(3.0) as i32,
                blue.stroke_width(1),
            ))?;
        }
        let up = world([0.0, 0.0, 0.05]);
        root.draw(&PathElement::new(
            vec![centre, to_px(up[0], up[axis])],
            blue.stroke_width(2),
        ))?;
    }
    Ok(())
}
