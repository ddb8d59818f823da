//! `picorl render`: what a policy does, as pictures drawn in Rust (plotters' bitmap backend and
//! the embedded font, nothing to install).
//!
//! - Classic control (CartPole, Pendulum, MountainCar, MountainCarContinuous, Acrobot): one frame
//!   per step of a deterministic episode, drawn from the environment's internal state with
//!   Gymnasium's proportions (its `render()` code is the reference for sizes and angles), encoded
//!   as an animated GIF; a `.png` output is the first frame.
//! - Grid worlds (FrozenLake, CliffWalking, Taxi): the map with the greedy action of every state
//!   as an arrow and, where the policy has them (a Q-table), the state values `max_a Q(s, a)` as a
//!   heat map. A `.png` is that picture; a `.gif` shows the agent walking an episode over it. Taxi
//!   has 500 states but 25 cells: the picture shows the 25 states of the passenger's and the
//!   destination's current places.
//!
//! GIF frames use one fixed 256-colour palette (a 6×6×6 colour cube and 40 greys) and carry only
//! the rectangle that changed since the previous frame, which keeps an episode's file small.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use picorl_core::env::{AnyEnv, Env};
use picorl_core::model::ModelKind;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::cli::load_run;
use crate::eval::{Actor, OwnedAction};
use crate::picorl_file::{CoreActor, PicorlFile};
use crate::train::config::ResolvedConfig;
use crate::train::files::write_atomic;
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

/// `picorl render`.
#[derive(Args, Debug)]
pub struct RenderArgs {
    /// A run directory (its checkpoint) or a .picorl file.
    pub source: PathBuf,
    /// The environment id (default: the run's, or the one the .picorl file records).
    #[arg(long)]
    pub env: Option<String>,
    /// An environment option (repeatable; default: the run's).
    #[arg(long = "env-kwargs", value_name = "KEY=VALUE")]
    pub env_kwargs: Vec<String>,
    /// The file to write: .gif (an episode) or .png (one picture).
    #[arg(long)]
    pub out: PathBuf,
    /// The episode's reset seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The most steps drawn (default: the environment's time limit, or 500 without one).
    #[arg(long)]
    pub max_steps: Option<u32>,
    /// Draw every K-th step (the last step is always drawn).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub every: u32,
    /// Frames per second of the GIF (default: Gymnasium's `render_fps` for the environment).
    #[arg(long)]
    pub fps: Option<f64>,
    /// The picture's size in pixels, WIDTHxHEIGHT (default: the environment's own).
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// Python modules the Gymnasium workers import before `gymnasium.make` (`--env gym:ID`;
    /// default: the run's).
    #[arg(long = "gym-packages", value_name = "MODULE", num_args = 1..)]
    pub gym_packages: Vec<String>,
}

/// An RGB picture, row-major, 3 bytes a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws on a white `width`×`height` canvas.
pub fn paint(width: u32, height: u32, f: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<Image> {
    crate::plot::register_font();
    if width == 0 || height == 0 || width > 8192 || height > 8192 {
        bail!("picture size {width}x{height}: each side must be within 1..=8192");
    }
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        f(&root).map_err(|e| anyhow!("drawing: {e}"))?;
        root.present().map_err(|e| anyhow!("drawing: {e}"))?;
    }
    Ok(Image { width, height, rgb })
}

/// Encodes `img` as a PNG file.
pub fn png_bytes(img: &Image) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width, img.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Charts are flat colours and thin lines: the best deflate with adaptive filters keeps
        // them several times smaller than the default.
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut w = enc.write_header().context("encoding PNG")?;
        w.write_image_data(&img.rgb).context("encoding PNG")?;
    }
    Ok(out)
}

/// Writes `img` to `path` as a PNG, atomically.
pub fn save_png(img: &Image, path: &Path) -> Result<()> {
    write_atomic(path, &png_bytes(img)?)
}

/// An animated GIF built frame by frame in memory.
pub struct GifEncoder {
    enc: gif::Encoder<Vec<u8>>,
    width: u32,
    height: u32,
    prev: Option<Vec<u8>>,
    frames: usize,
}

/// The fixed palette: a 6×6×6 colour cube (indices 0..216), then 40 greys.
fn palette() -> Vec<u8> {
    let mut p = Vec::with_capacity(768);
    for r in 0..6u32 {
        for g in 0..6u32 {
            for b in 0..6u32 {
                p.extend([r * 51, g * 51, b * 51].map(|v| v as u8));
            }
        }
    }
    for i in 0..40u32 {
        let v = (i * 255 / 39) as u8;
        p.extend([v, v, v]);
    }
    p
}

/// The palette index nearest to a colour: a grey ramp entry for greys, else the colour cube.
fn palette_index(r: u8, g: u8, b: u8) -> u8 {
    let (lo, hi) = (r.min(g).min(b), r.max(g).max(b));
    if hi - lo <= 12 {
        let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
        216 + ((avg * 39 + 127) / 255) as u8
    } else {
        let q = |v: u8| (u32::from(v) * 5 + 127) / 255;
        (q(r) * 36 + q(g) * 6 + q(b)) as u8
    }
}

impl std::fmt::Debug for GifEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GifEncoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl GifEncoder {
    /// A looping GIF of `width`×`height` frames.
    pub fn new(width: u32, height: u32) -> Result<Self> {
        let (w, h) = (
            u16::try_from(width).map_err(|_| anyhow!("GIF width {width} exceeds 65535"))?,
            u16::try_from(height).map_err(|_| anyhow!("GIF height {height} exceeds 65535"))?,
        );
        let mut enc = gif::Encoder::new(Vec::new(), w, h, &palette()).context("encoding GIF")?;
        enc.set_repeat(gif::Repeat::Infinite)
            .context("encoding GIF")?;
        Ok(Self {
            enc,
            width,
            height,
            prev: None,
            frames: 0,
        })
    }

    /// Appends a frame shown for `delay_cs` hundredths of a second.
    pub fn push(&mut self, img: &Image, delay_cs: u16) -> Result<()> {
        if (img.width, img.height) != (self.width, self.height) {
            bail!(
                "internal: a {}x{} frame in a {}x{} GIF",
                img.width,
                img.height,
                self.width,
                self.height
            );
        }
        let idx: Vec<u8> = img
            .rgb
            .chunks_exact(3)
            .map(|p| palette_index(p[0], p[1], p[2]))
            .collect();
        let (w, h) = (self.width as usize, self.height as usize);
        // The rectangle that changed since the previous frame (all of the first frame).
        let (x0, y0, x1, y1) = match &self.prev {
            None => (0, 0, w - 1, h - 1),
            Some(prev) => {
                let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
                for y in 0..h {
                    let row = y * w;
                    for x in 0..w {
                        if idx[row + x] != prev[row + x] {
                            x0 = x0.min(x);
                            x1 = x1.max(x);
                            y0 = y0.min(y);
                            y1 = y1.max(y);
                        }
                    }
                }
                if x0 > x1 {
                    (0, 0, 0, 0) // nothing changed: one unchanged pixel keeps the timing
                } else {
                    (x0, y0, x1, y1)
                }
            }
        };
        let mut buf = Vec::with_capacity((x1 - x0 + 1) * (y1 - y0 + 1));
        for y in y0..=y1 {
            buf.extend_from_slice(&idx[y * w + x0..=y * w + x1]);
        }
        let frame = gif::Frame {
            delay: delay_cs,
            dispose: gif::DisposalMethod::Keep,
            left: x0 as u16,
            top: y0 as u16,
            width: (x1 - x0 + 1) as u16,
            height: (y1 - y0 + 1) as u16,
            buffer: Cow::Owned(buf),
            ..gif::Frame::default()
        };
        self.enc.write_frame(&frame).context("encoding GIF")?;
        self.prev = Some(idx);
        self.frames += 1;
        Ok(())
    }

    /// Frames so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The finished file.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.enc.into_inner().context("encoding GIF")
    }
}

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

/// The greedy policy and state values that a grid-world picture shows.
#[derive(Debug, Clone, Default)]
pub struct GridOverlay {
    /// The action of every state (arrows), if known.
    pub policy: Option<Vec<u32>>,
    /// A value per state (the heat map), if known.
    pub values: Option<Vec<f32>>,
}

/// Which kind of picture an environment gets.
fn is_grid(id: &str) -> bool {
    id.starts_with("FrozenLake") || id.starts_with("CliffWalking") || id.starts_with("Taxi")
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
fn default_fps(env: &AnyEnv) -> f64 {
    match env {
        AnyEnv::CartPole(_) => 50.0,
        AnyEnv::Acrobot(_) => 15.0,
        AnyEnv::Pendulum(_) | AnyEnv::MountainCar(_) | AnyEnv::MountainCarContinuous(_) => 30.0,
        // L2F's 100 Hz, drawn at a quarter of it (GIF delays are in hundredths of a second).
        AnyEnv::Quadrotor(_) => 25.0,
        _ => 4.0,
    }
}

const TITLE: u32 = 30;
const MARGIN: u32 = 8;
const BAR: u32 = 78;

fn font(size: f64) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
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

/// Rows and columns of a grid world's map.
fn grid_dims(env: &AnyEnv) -> (usize, usize) {
    match env {
        AnyEnv::FrozenLake(e) => (e.map().nrow(), e.map().ncol()),
        AnyEnv::CliffWalking(_) => (4, 12),
        _ => (5, 5),
    }
}

/// Taxi's walls (taxi.py's `MAP`): a `|` right of cell `(row, col)`.
const TAXI_MAP: [&[u8; 11]; 5] = [
    b"|R: | : :G|",
    b"| : | : : |",
    b"| : : : : |",
    b"| | : | : |",
    b"|Y| : |B: |",
];
/// Taxi's stands R, G, Y, B as `(row, col)`, and their colours in Gymnasium's picture.
const TAXI_STANDS: [((usize, usize), &str, RGBColor); 4] = [
    ((0, 0), "R", RGBColor(220, 50, 50)),
    ((0, 4), "G", RGBColor(40, 160, 60)),
    ((4, 0), "Y", RGBColor(210, 180, 0)),
    ((4, 3), "B", RGBColor(40, 90, 220)),
];

/// What one cell of a grid world is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    /// An ordinary state: its index, whether it ends the episode, and a letter to print.
    State(u32, bool, Option<&'static str>),
    /// Not a state an agent stands in (a CliffWalking cliff cell).
    Wall,
}

fn grid_cell(env: &AnyEnv, agent: u32, row: usize, col: usize) -> Cell {
    match env {
        AnyEnv::FrozenLake(e) => {
            let s = (row * e.map().ncol() + col) as u32;
            match e.map().cell(row, col) {
                Some(b'H') => Cell::State(s, true, Some("H")),
                Some(b'G') => Cell::State(s, true, Some("G")),
                Some(b'S') => Cell::State(s, false, Some("S")),
                _ => Cell::State(s, false, None),
            }
        }
        AnyEnv::CliffWalking(_) => {
            let s = (row * 12 + col) as u32;
            match (row, col) {
                (3, 0) => Cell::State(s, false, Some("S")),
                (3, 11) => Cell::State(s, true, Some("G")),
                (3, _) => Cell::Wall,
                _ => Cell::State(s, false, None),
            }
        }
        _ => {
            // Taxi: the cell's state with the passenger and destination of the agent's state.
            let (pass, dest) = ((agent / 4) % 5, agent % 4);
            let s = (((row * 5 + col) as u32 * 5 + pass) * 4) + dest;
            Cell::State(s, false, None)
        }
    }
}

/// The agent's cell in a grid world.
fn agent_cell(env: &AnyEnv, agent: u32) -> (usize, usize) {
    match env {
        AnyEnv::FrozenLake(e) => {
            let n = e.map().ncol();
            (agent as usize / n, agent as usize % n)
        }
        AnyEnv::CliffWalking(_) => (agent as usize / 12, agent as usize % 12),
        _ => {
            let cell = agent / 20;
            ((cell / 5) as usize, (cell % 5) as usize)
        }
    }
}

/// The unit direction `(dx, dy)` (y down) of a move, or the letter of a non-move action.
fn action_glyph(env: &AnyEnv, a: u32) -> std::result::Result<(f64, f64), &'static str> {
    let (l, d, r, u) = ((-1.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.0, -1.0));
    match env {
        // FrozenLake: 0 left, 1 down, 2 right, 3 up.
        AnyEnv::FrozenLake(_) => Ok([l, d, r, u][a as usize % 4]),
        // CliffWalking: 0 up, 1 right, 2 down, 3 left.
        AnyEnv::CliffWalking(_) => Ok([u, r, d, l][a as usize % 4]),
        // Taxi: 0 south, 1 north, 2 east, 3 west, 4 pick up, 5 drop off.
        _ => match a {
            0 => Ok(d),
            1 => Ok(u),
            2 => Ok(r),
            3 => Ok(l),
            4 => Err("P"),
            _ => Err("D"),
        },
    }
}

/// Viridis (matplotlib's default colour map), from 9 of its points, interpolated.
pub fn viridis(t: f64) -> RGBColor {
    const P: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * 8.0;
    let i = (x.floor() as usize).min(7);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (P[i], P[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn grid(
    root: &Area<'_>,
    env: &AnyEnv,
    agent: u32,
    overlay: &GridOverlay,
    show_agent: bool,
) -> DrawResult {
    let (w, h) = root.dim_in_pixel();
    let (rows, cols) = grid_dims(env);
    let avail_w = w.saturating_sub(2 * MARGIN + BAR).max(cols as u32);
    let avail_h = h.saturating_sub(TITLE + MARGIN).max(rows as u32);
    let cell = (avail_w / cols as u32).min(avail_h / rows as u32).max(1) as i32;
    let (x0, y0) = (MARGIN as i32, TITLE as i32);
    let cells: Vec<(usize, usize, Cell)> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .map(|(r, c)| (r, c, grid_cell(env, agent, r, c)))
        .collect();
    // The heat map's range: the values of the cells shown that are not terminal.
    let value = |s: u32| {
        overlay
            .values
            .as_ref()
            .and_then(|v| v.get(s as usize).copied())
    };
    let shown: Vec<f32> = cells
        .iter()
        .filter_map(|&(_, _, c)| match c {
            Cell::State(s, false, _) => value(s).filter(|v| v.is_finite()),
            _ => None,
        })
        .collect();
    let lo = shown.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = shown.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let norm = |v: f32| f64::from((v - lo) / span);
    let text_size = (f64::from(cell) * 0.3).clamp(9.0, 22.0);
    for &(r, c, kind) in &cells {
        let (cx, cy) = (x0 + c as i32 * cell, y0 + r as i32 * cell);
        let rect = [(cx, cy), (cx + cell, cy + cell)];
        let (fill, dark) = match kind {
            Cell::Wall => (RGBColor(90, 60, 50), true),
            Cell::State(_, true, Some("H")) => (RGBColor(45, 45, 45), true),
            Cell::State(_, true, _) => (RGBColor(250, 215, 80), false),
            Cell::State(s, false, _) => match value(s).filter(|v| v.is_finite()) {
                Some(v) => {
                    let t = norm(v);
                    (viridis(t), t < 0.6)
                }
                None => (RGBColor(215, 232, 245), false),
            },
        };
        root.draw(&Rectangle::new(rect, fill.filled()))?;
        root.draw(&Rectangle::new(
            rect,
            RGBColor(255, 255, 255).stroke_width(1),
        ))?;
        let ink = if dark { WHITE } else { BLACK };
        if let Cell::State(_, _, Some(letter)) = kind {
            root.draw(&Text::new(
                letter,
                (cx + 3, cy + 2),
                ("sans-serif", text_size * 0.7).into_font().color(&ink),
            ))?;
        }
        if matches!(env, AnyEnv::CliffWalking(_)) && kind == Cell::Wall {
            continue;
        }
        let Cell::State(s, terminal, _) = kind else {
            continue;
        };
        if terminal {
            continue;
        }
        let Some(a) = overlay.policy.as_ref().and_then(|p| p.get(s as usize)) else {
            continue;
        };
        let (mx, my) = (
            f64::from(cx) + f64::from(cell) / 2.0,
            f64::from(cy) + f64::from(cell) / 2.0,
        );
        match action_glyph(env, *a) {
            Ok((dx, dy)) => {
                let len = f64::from(cell) * 0.32;
                let (tx, ty) = (mx + dx * len, my + dy * len);
                let (bx, by) = (mx - dx * len, my - dy * len);
                let head = f64::from(cell) * 0.16;
                let (nx, ny) = (-dy, dx);
                let wing = |side: f64| {
                    (
                        (tx - dx * head + nx * head * 0.7 * side).round() as i32,
                        (ty - dy * head + ny * head * 0.7 * side).round() as i32,
                    )
                };
                let stroke = (cell / 16).max(1) as u32;
                root.draw(&PathElement::new(
                    vec![
                        (bx.round() as i32, by.round() as i32),
                        (
                            (tx - dx * head * 0.5).round() as i32,
                            (ty - dy * head * 0.5).round() as i32,
                        ),
                    ],
                    ink.stroke_width(stroke),
                ))?;
                root.draw(&Polygon::new(
                    vec![
                        (tx.round() as i32, ty.round() as i32),
                        wing(1.0),
                        wing(-1.0),
                    ],
                    ink.filled(),
                ))?;
            }
            Err(letter) => {
                root.draw(&Text::new(
                    letter,
                    (mx as i32, my as i32),
                    ("sans-serif", text_size * 1.2)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                ))?;
            }
        }
    }
    if let AnyEnv::Taxi(_) = env {
        taxi_marks(root, agent, (x0, y0), cell)?;
    }
    // The agent: a ring around its cell's arrow (green in Taxi while it carries the passenger).
    let (ar, ac) = agent_cell(env, agent);
    let centre = (
        x0 + ac as i32 * cell + cell / 2,
        y0 + ar as i32 * cell + cell / 2,
    );
    let carrying = matches!(env, AnyEnv::Taxi(_)) && (agent / 4) % 5 == 4;
    let agent_color = if carrying {
        RGBColor(40, 160, 60)
    } else {
        RGBColor(230, 60, 30)
    };
    if show_agent {
        let r = cell * 2 / 5;
        let w = (cell / 14).max(2) as u32;
        root.draw(&Circle::new(centre, r, WHITE.stroke_width(w + 2)))?;
        root.draw(&Circle::new(centre, r, agent_color.stroke_width(w)))?;
    }
    // The colour bar.
    if !shown.is_empty() {
        let bx = x0 + cols as i32 * cell + 12;
        let (top, bottom) = (y0, y0 + rows as i32 * cell);
        let n = (bottom - top).max(1);
        for i in 0..n {
            let t = 1.0 - f64::from(i) / f64::from(n);
            root.draw(&Rectangle::new(
                [(bx, top + i), (bx + 14, top + i + 1)],
                viridis(t).filled(),
            ))?;
        }
        root.draw(&Rectangle::new(
            [(bx, top), (bx + 14, bottom)],
            BLACK.stroke_width(1),
        ))?;
        let small = font(11.0);
        root.draw(&Text::new(
            format!("{hi:.3}"),
            (bx + 17, top),
            small.clone(),
        ))?;
        root.draw(&Text::new(
            format!("{lo:.3}"),
            (bx + 17, bottom - 12),
            small.clone(),
        ))?;
        root.draw(&Text::new(
            "max Q",
            (bx + 17, (top + bottom) / 2 - 6),
            small,
        ))?;
    }
    Ok(())
}

/// Taxi's walls, stands, passenger and destination.
fn taxi_marks(root: &Area<'_>, agent: u32, (x0, y0): (i32, i32), cell: i32) -> DrawResult {
    let wall = BLACK.stroke_width((cell / 12).max(2) as u32);
    root.draw(&Rectangle::new(
        [(x0, y0), (x0 + 5 * cell, y0 + 5 * cell)],
        wall,
    ))?;
    for (r, line) in TAXI_MAP.iter().enumerate() {
        for c in 0..4 {
            if line[2 * c + 2] == b'|' {
                let x = x0 + (c as i32 + 1) * cell;
                root.draw(&PathElement::new(
                    vec![(x, y0 + r as i32 * cell), (x, y0 + (r as i32 + 1) * cell)],
                    wall,
                ))?;
            }
        }
    }
    let (pass, dest) = ((agent / 4) % 5, agent % 4);
    for (i, &((r, c), name, color)) in TAXI_STANDS.iter().enumerate() {
        let (cx, cy) = (x0 + c as i32 * cell, y0 + r as i32 * cell);
        root.draw(&Text::new(
            name,
            (cx + cell - 4, cy + 3),
            ("sans-serif", (f64::from(cell) * 0.22).max(9.0))
                .into_font()
                .color(&color)
                .pos(Pos::new(HPos::Right, VPos::Top)),
        ))?;
        if i as u32 == dest {
            let m = cell / 10;
            root.draw(&Rectangle::new(
                [(cx + m, cy + m), (cx + cell - m, cy + cell - m)],
                color.stroke_width(3),
            ))?;
        }
        if i as u32 == pass {
            root.draw(&Circle::new(
                (cx + cell / 5, cy + cell - cell / 5),
                cell / 9,
                color.filled(),
            ))?;
        }
    }
    Ok(())
}

/// Parses `--size WxH`.
pub fn parse_size(text: &str) -> Result<(u32, u32)> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow!("--size {text}: expected WIDTHxHEIGHT, e.g. 600x400"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (16..=4096).contains(n))
            .ok_or_else(|| anyhow!("--size {text}: each side must be a whole number in 16..=4096"))
    };
    Ok((parse(w)?, parse(h)?))
}

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
fn wants_png(a: &RenderArgs) -> Result<bool> {
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
    a: &RenderArgs,
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
pub fn render(a: RenderArgs) -> Result<()> {
    // The options first, before a run is loaded.
    wants_png(&a)?;
    if let Some(s) = &a.size {
        parse_size(s)?;
    }
    if a.every == 0 {
        bail!("--every must be positive");
    }
    crate::gym::set_packages(&a.gym_packages);
    let size = a.size.as_deref().map(parse_size).transpose()?;
    let bytes = if let Some(bytes) = crate::render_user::render_bytes(&a)? {
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
        if crate::gym::is_gym(&env_id) {
            // Gymnasium draws the frames (render_mode="rgb_array").
            let algo = cfg.run.algo.clone();
            return finish_render(
                &a,
                with_algo!(algo.as_str(), A => {
                    let (mut agent, _) = load_run::<A>(dir, &cfg)?;
                    crate::render_gym::render_episode(&env_id, &kwargs, &mut agent, &a, wants_png(&a)?, size)
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
        if crate::gym::is_gym(&env_id) {
            let mut policy = file.policy()?;
            let bytes = crate::render_gym::render_episode(
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
fn finish_render(a: &RenderArgs, bytes: Vec<u8>) -> Result<()> {
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: creating {}", a.out.display(), dir.display()))?;
    }
    write_atomic(&a.out, &bytes).with_context(|| format!("--out {}", a.out.display()))?;
    eprintln!("wrote {} ({} bytes)", a.out.display(), bytes.len());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_maps_cube_colours_and_greys_exactly() {
        let p = palette();
        assert_eq!(p.len(), 768);
        for (r, g, b) in [(0, 0, 0), (255, 255, 255), (255, 0, 0), (51, 102, 153)] {
            let i = palette_index(r, g, b) as usize;
            assert_eq!(&p[3 * i..3 * i + 3], &[r, g, b], "{r},{g},{b}");
        }
        // A grey between cube entries goes to the ramp: 128 → ramp step round(128·39/255) = 20,
        // whose value is 20·255/39 = 130.
        assert_eq!(palette_index(128, 128, 128), 236);
        assert_eq!(p[3 * 236], 130);
    }

    #[test]
    fn gif_frames_composite_back_to_the_pictures() {
        let blank = paint(40, 30, |_| Ok(())).unwrap();
        let boxed = paint(40, 30, |a| {
            a.draw(&Rectangle::new(
                [(5, 6), (12, 20)],
                RGBColor(255, 0, 0).filled(),
            ))?;
            Ok(())
        })
        .unwrap();
        let pictures = [&blank, &boxed, &boxed, &blank];
        let mut enc = GifEncoder::new(40, 30).unwrap();
        for p in pictures {
            enc.push(p, 5).unwrap();
        }
        let bytes = enc.finish().unwrap();
        let mut d = gif::DecodeOptions::new()
            .read_info(bytes.as_slice())
            .unwrap();
        let mut canvas = vec![0u8; 40 * 30];
        let mut rects = Vec::new();
        for p in pictures {
            let f = d.read_next_frame().unwrap().expect("a frame per picture");
            rects.push((f.left, f.top, f.width, f.height));
            for y in 0..f.height as usize {
                for x in 0..f.width as usize {
                    canvas[(f.top as usize + y) * 40 + f.left as usize + x] =
                        f.buffer[y * f.width as usize + x];
                }
            }
            let want: Vec<u8> = p
                .rgb
                .chunks_exact(3)
                .map(|c| palette_index(c[0], c[1], c[2]))
                .collect();
            assert_eq!(canvas, want);
        }
        assert!(d.read_next_frame().unwrap().is_none());
        // The first frame is whole, the second only the red box (plotters fills x 5..12 and
        // y 6..20, ends excluded: 7×14 pixels), the third (no change) one pixel, the fourth the
        // box again.
        assert_eq!(
            rects,
            [(0, 0, 40, 30), (5, 6, 7, 14), (0, 0, 1, 1), (5, 6, 7, 14)]
        );
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("600x400").unwrap(), (600, 400));
        assert!(parse_size("600").is_err());
        assert!(parse_size("0x10").is_err());
    }
}
