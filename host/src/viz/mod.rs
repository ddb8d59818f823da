//! Pictures: the learning curve and `picorl plot` ([`plot`]), and `picorl render` ([`render`],
//! with [`render_gym`] for Gymnasium's own frames and [`render_user`] for environments of the
//! user's own).
//!
//! **The room.** `viz/` reads run directories and `.picorl` files and draws; it may use `train`
//! (configs, run files), `envs`, `export` and `util`. Nothing below `cli` imports it: a training
//! run draws its learning curve through the hook `cli` passes to the loop. Its options are plain
//! structs; their clap definitions live in `cli`.

pub mod canvas;
pub mod grid;
pub mod plot;
pub mod render;
pub mod render_gym;
pub mod render_user;
pub mod scenes;

use std::path::PathBuf;

/// What `picorl render` draws and where: the command line's `render` arguments, whose help
/// says what each means and defaults to.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Run directory or `.picorl` file.
    pub source: PathBuf,
    /// Environment id, else the source's.
    pub env: Option<String>,
    /// `KEY=VALUE` options, else the source's.
    pub env_kwargs: Vec<String>,
    /// `.gif` or `.png` to write.
    pub out: PathBuf,
    /// Reset seed.
    pub seed: u64,
    /// Step limit, else the time limit (500 without one).
    pub max_steps: Option<u32>,
    /// Every K-th step is a frame.
    pub every: u32,
    /// GIF frame rate, else Gymnasium's.
    pub fps: Option<f64>,
    /// `WxH` in pixels, else the environment's.
    pub size: Option<String>,
    /// Python modules for `gym:` workers, else the run's.
    pub gym_packages: Vec<String>,
}
