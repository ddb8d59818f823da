//! Charts drawn in Rust with an embedded font (DejaVu Sans), so nothing needs installing:
//!
//! - `learning_curve.png` in every run directory: training-episode returns with a smoothed line,
//!   evaluation means with their spread (± one standard deviation over the evaluation's
//!   episodes, and the min–max range), and below them small panels of the algorithm's own
//!   diagnostics from `metrics.csv` (loss; mean Q or value; ε, entropy or the entropy
//!   coefficient; PPO's approximate KL and clip fraction; explained variance) — whichever
//!   columns the algorithm writes ([`PANELS`]).
//! - `picorl plot RUN_DIR… --out FILE.png`: runs compared on one chart, grouped by algorithm
//!   (a panel per environment), with the mean over the group's runs (seeds) and a band of ± one
//!   standard deviation across them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::canvas::{paint, parse_size, save_png};
use crate::train::config::ResolvedConfig;

/// Width of `learning_curve.png`.
pub const CURVE_WIDTH: u32 = 1200;
/// Height of the returns chart of `learning_curve.png`.
const RETURNS_HEIGHT: u32 = 520;
/// Height of one row of diagnostic panels.
const PANEL_ROW_HEIGHT: u32 = 250;
/// Diagnostic panels per row.
const PANELS_PER_ROW: usize = 3;

/// The size of `learning_curve.png` with `panels` diagnostic panels.
pub fn curve_size(panels: usize) -> (u32, u32) {
    let rows = panels.div_ceil(PANELS_PER_ROW) as u32;
    (CURVE_WIDTH, RETURNS_HEIGHT + rows * PANEL_ROW_HEIGHT)
}

/// The diagnostic panels, in order: a title and the `metrics.csv` columns it draws (the first
/// that the run has). An algorithm gets the panels whose columns it writes.
pub const PANELS: &[(&str, &[&str])] = &[
    ("loss", &["loss", "critic_loss"]),
    ("actor loss", &["actor_loss"]),
    ("mean |TD error|", &["td_error_abs"]),
    ("mean Q", &["q_mean"]),
    ("mean value estimate", &["value_mean"]),
    ("ε (exploration)", &["epsilon"]),
    ("policy entropy", &["entropy"]),
    ("entropy coefficient α", &["ent_coef"]),
    ("approximate KL", &["approx_kl"]),
    ("clip fraction", &["clip_fraction"]),
    ("explained variance", &["explained_variance"]),
];

/// A CSV written by the trainer: its header and rows of numbers (empty cells are NaN).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub header: Vec<String>,
    /// Rows of values.
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// Reads `path`; the error names the file and line.
    pub fn read(path: &Path) -> Result<Self> {
        let (header, rows) = read_csv(path)?;
        Ok(Self { header, rows })
    }

    /// The values of column `name` paired with column 0 (the step), NaN rows left out.
    pub fn series(&self, name: &str) -> Option<Vec<(f64, f64)>> {
        let i = self.header.iter().position(|h| h == name)?;
        Some(
            self.rows
                .iter()
                .filter_map(|r| Some((*r.first()?, *r.get(i)?)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect(),
        )
    }
}

/// Reads a CSV written by the trainer into its header and rows of numbers (empty cells → NaN).
pub fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header = lines
        .next()
        .ok_or_else(|| anyhow!("{}: empty", path.display()))?;
    let header: Vec<String> = header.split(',').map(str::to_string).collect();
    let rows = lines
        .enumerate()
        .map(|(i, l)| {
            l.split(',')
                .map(|c| {
                    if c.is_empty() {
                        Ok(f64::NAN)
                    } else {
                        c.parse::<f64>()
                    }
                })
                .collect::<Result<Vec<f64>, _>>()
                .map_err(|e| anyhow!("{} line {}: {e}", path.display(), i + 2))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((header, rows))
}

/// A trailing moving average over `window` values.
pub fn smooth(xs: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut out = Vec::with_capacity(xs.len());
    let mut sum = 0.0;
    for i in 0..xs.len() {
        sum += xs[i];
        if i >= window {
            sum -= xs[i - window];
        }
        out.push(sum / (i + 1).min(window) as f64);
    }
    out
}

/// A diagnostic panel: its title, the column it draws and that column's `(step, value)` points.
pub type Panel = (&'static str, &'static str, Vec<(f64, f64)>);

/// The panels a run's `metrics.csv` supports: a title and its series.
pub fn diagnostic_panels(metrics: &Table) -> Vec<Panel> {
    PANELS
        .iter()
        .filter_map(|(title, cols)| {
            cols.iter().find_map(|c| {
                metrics
                    .series(c)
                    .filter(|s| !s.is_empty())
                    .map(|s| (*title, *c, s))
            })
        })
        .collect()
}

/// `(min, max)` of the finite values, padded by 5%, never empty.
fn y_range(ys: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = ys
        .filter(|y| y.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 * hi.abs().max(1.0) {
        lo -= 0.5 * lo.abs().max(1e-3);
        hi += 0.5 * hi.abs().max(1e-3);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// An axis label for a count of steps: `500`, `15k`, `2.5M`.
pub fn steps_label(x: &f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{}M", (x / 1e5).round() / 10.0)
    } else if a >= 1e3 {
        format!("{}k", (x / 1e2).round() / 10.0)
    } else {
        format!("{x:.0}")
    }
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const EVAL_RED: RGBColor = RGBColor(200, 40, 40);
const TRAIN_BLUE: RGBColor = RGBColor(31, 90, 200);

/// The returns chart: training episodes (dots and a mean of 20) and evaluations (mean ± std,
/// min–max).
fn returns_chart(
    area: &Area<'_>,
    title: &str,
    episodes: &[(f64, f64)],
    evals: &[(f64, f64, f64, f64, f64)],
) -> DrawResult {
    let x_max = episodes
        .iter()
        .map(|p| p.0)
        .chain(evals.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let (y_lo, y_hi) = y_range(
        episodes
            .iter()
            .map(|p| p.1)
            .chain(evals.iter().flat_map(|e| [e.3, e.4, e.1 - e.2, e.1 + e.2])),
    );
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc("environment steps")
        .x_label_formatter(&steps_label)
        .y_desc("return")
        .label_style(("sans-serif", 14))
        .draw()?;
    let light = RGBColor(160, 185, 230);
    chart.draw_series(
        episodes
            .iter()
            .map(|&(x, y)| Circle::new((x, y), 1, light.filled())),
    )?;
    let sm = smooth(&episodes.iter().map(|p| p.1).collect::<Vec<_>>(), 20);
    chart
        .draw_series(LineSeries::new(
            episodes.iter().zip(&sm).map(|(p, &s)| (p.0, s)),
            TRAIN_BLUE.stroke_width(2),
        ))?
        .label("training episodes (mean of 20)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], TRAIN_BLUE.stroke_width(2)));
    // Evaluations: the min–max range thin, ± std thick, the mean as a line with points.
    chart.draw_series(evals.iter().map(|&(x, _, _, lo, hi)| {
        PathElement::new(vec![(x, lo), (x, hi)], EVAL_RED.mix(0.5).stroke_width(1))
    }))?;
    chart.draw_series(evals.iter().map(|&(x, m, s, _, _)| {
        PathElement::new(vec![(x, m - s), (x, m + s)], EVAL_RED.stroke_width(3))
    }))?;
    chart
        .draw_series(
            LineSeries::new(evals.iter().map(|p| (p.0, p.1)), EVAL_RED.stroke_width(2))
                .point_size(3),
        )?
        .label("evaluation mean ± std (thin: min–max)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], EVAL_RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// One small diagnostic panel: the raw values thin, and smoothed when there are many.
fn metric_panel(area: &Area<'_>, title: &str, series: &[(f64, f64)], x_max: f64) -> DrawResult {
    let (y_lo, y_hi) = y_range(series.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(58)
        .build_cartesian_2d(0.0..x_max.max(1.0), y_lo..y_hi)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 11))
        .x_labels(5)
        .x_label_formatter(&steps_label)
        .y_labels(5)
        .draw()?;
    let color = RGBColor(60, 60, 60);
    if series.len() > 100 {
        chart.draw_series(LineSeries::new(series.iter().copied(), color.mix(0.25)))?;
        let sm = smooth(
            &series.iter().map(|p| p.1).collect::<Vec<_>>(),
            series.len() / 50,
        );
        chart.draw_series(LineSeries::new(
            series.iter().zip(sm).map(|(p, s)| (p.0, s)),
            color.stroke_width(2),
        ))?;
    } else {
        chart.draw_series(
            LineSeries::new(series.iter().copied(), color.stroke_width(2)).point_size(2),
        )?;
    }
    Ok(())
}

/// Draws `learning_curve.png` in the run directory from `episodes.csv`, `eval.csv` and, for
/// the diagnostic panels, `metrics.csv` (a missing or unreadable `metrics.csv` draws none).
/// Returns the picture's size.
pub fn learning_curve(dir: &Path) -> Result<(u32, u32)> {
    let episodes = Table::read(&dir.join("episodes.csv"))?;
    let evals = Table::read(&dir.join("eval.csv"))?;
    let metrics = Table::read(&dir.join("metrics.csv")).unwrap_or_default();
    let ep: Vec<(f64, f64)> = episodes
        .rows
        .iter()
        .filter(|r| r.len() >= 2)
        .map(|r| (r[0], r[1]))
        .collect();
    // eval.csv: step, train_seconds, mean, std, min, max, episodes.
    let ev: Vec<(f64, f64, f64, f64, f64)> = evals
        .rows
        .iter()
        .filter(|r| r.len() >= 6)
        .map(|r| (r[0], r[2], r[3], r[4], r[5]))
        .collect();
    let panels = diagnostic_panels(&metrics);
    let size = curve_size(panels.len());
    // The title says what ran (the directory's name is in the file's path already).
    let title = match ResolvedConfig::load(&dir.join("config.toml")) {
        Ok(cfg) => format!("{} on {}, seed {}", cfg.run.algo, cfg.run.env, cfg.run.seed),
        Err(_) => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let x_max = ep
        .iter()
        .map(|p| p.0)
        .chain(ev.iter().map(|p| p.0))
        .chain(panels.iter().flat_map(|p| p.2.iter().map(|q| q.0)))
        .fold(1.0, f64::max);
    let img = paint(size.0, size.1, |root| {
        let (top, bottom) = root.split_vertically(RETURNS_HEIGHT);
        returns_chart(&top, &title, &ep, &ev)?;
        if !panels.is_empty() {
            let rows = panels.len().div_ceil(PANELS_PER_ROW);
            for (area, (title, col, series)) in bottom
                .split_evenly((rows, PANELS_PER_ROW))
                .iter()
                .zip(&panels)
            {
                let t = if title == col {
                    (*title).to_string()
                } else {
                    format!("{title} ({col})")
                };
                metric_panel(area, &t, series, x_max)?;
            }
        }
        Ok(())
    })?;
    let path = dir.join("learning_curve.png");
    save_png(&img, &path)?;
    Ok(size)
}

/// `picorl plot --help`'s closing text.
pub const PLOT_HELP: &str = "\
Runs of one algorithm on one environment form a group (read from each run's config.toml); the
group's line is the mean over its runs and the band ± one standard deviation across them. A run
stopped early by --stop-at-return keeps its last value to the right of its end. Also prints each
group's last return (mean ± std) on stdout.

Examples:
  picorl plot runs/ppo-CartPole-v1-* runs/dqn-CartPole-v1-* --out cartpole.png
  picorl plot runs/sac-Pendulum-v1-* --x seconds --out pendulum-time.png
  picorl plot runs/qlearning-FrozenLake-v1-0 --source train --out frozenlake.png";

/// What the x axis of `picorl plot` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Environment steps.
    Steps,
    /// Training seconds (evaluation excluded; only with `--source eval`).
    Seconds,
}

/// Which returns `picorl plot` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Evaluation means (`eval.csv`) when every run has at least two, else training episodes.
    Auto,
    /// The deterministic policy's evaluation means (`eval.csv`).
    Eval,
    /// Training-episode returns (`episodes.csv`), as a trailing mean of 20 episodes.
    Train,
}

/// What `picorl plot` does, from its arguments (`picorl plot --help` says what each
/// means and defaults to).
#[derive(Debug, Clone)]
pub struct PlotOptions {
    /// `RUNS`.
    pub runs: Vec<PathBuf>,
    /// `--out`.
    pub out: PathBuf,
    /// `SOURCE`.
    pub source: Source,
    /// `--x`.
    pub x: XAxis,
    /// `--title`.
    pub title: Option<String>,
    /// `--size`.
    pub size: Option<String>,
    /// `--by-run`.
    pub by_run: bool,
}

/// One run's curve for `picorl plot`.
#[derive(Debug, Clone)]
struct RunCurve {
    algo: String,
    /// Evaluation means (else training episodes).
    eval: bool,
    env: String,
    points: Vec<(f64, f64)>,
}

fn load_curve(dir: &Path, source: Source, x: XAxis) -> Result<RunCurve> {
    if !dir.is_dir() {
        bail!("{}: no such run directory", dir.display());
    }
    let cfg = ResolvedConfig::load(&dir.join("config.toml"))
        .with_context(|| format!("{} is no run directory", dir.display()))?;
    let evals = Table::read(&dir.join("eval.csv"))?;
    let use_eval = match source {
        Source::Eval => true,
        Source::Train => false,
        Source::Auto => evals.rows.len() >= 2,
    };
    let points = if use_eval {
        let col = match x {
            XAxis::Steps => 0,
            XAxis::Seconds => 1,
        };
        evals
            .rows
            .iter()
            .filter_map(|r| Some((*r.get(col)?, *r.get(2)?)))
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .collect::<Vec<_>>()
    } else {
        if x == XAxis::Seconds {
            bail!(
                "--x seconds needs evaluation means (eval.csv has no training-episode times): \
                 use --source eval"
            );
        }
        let ep = Table::read(&dir.join("episodes.csv"))?;
        let pts: Vec<(f64, f64)> = ep
            .rows
            .iter()
            .filter_map(|r| Some((*r.first()?, *r.get(1)?)))
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .collect();
        let sm = smooth(&pts.iter().map(|p| p.1).collect::<Vec<_>>(), 20);
        pts.iter().zip(sm).map(|(p, s)| (p.0, s)).collect()
    };
    if points.is_empty() {
        bail!(
            "{}: no {} to plot yet",
            dir.display(),
            if use_eval {
                "evaluations (eval.csv)"
            } else {
                "training episodes (episodes.csv)"
            }
        );
    }
    Ok(RunCurve {
        algo: cfg.run.algo,
        eval: use_eval,
        env: cfg.run.env,
        points,
    })
}

/// The value of a curve at `x`: interpolated between its points, its last value after its end
/// (a run stopped by `--stop-at-return` keeps the return it stopped at), none before its start.
pub fn value_at(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let first = points.first()?;
    if x < first.0 {
        return None;
    }
    let i = points.partition_point(|p| p.0 <= x);
    if i == points.len() {
        return points.last().map(|p| p.1);
    }
    let (a, b) = (points[i - 1], points[i]);
    let t = if b.0 > a.0 {
        (x - a.0) / (b.0 - a.0)
    } else {
        0.0
    };
    Some(a.1 + t * (b.1 - a.1))
}

/// Mean and population standard deviation across the curves that have a value at each of
/// `xs`: `(x, mean, std, n)`.
pub fn aggregate(curves: &[&[(f64, f64)]], xs: &[f64]) -> Vec<(f64, f64, f64, usize)> {
    xs.iter()
        .filter_map(|&x| {
            let v: Vec<f64> = curves.iter().filter_map(|c| value_at(c, x)).collect();
            if v.is_empty() {
                return None;
            }
            let n = v.len() as f64;
            let m = v.iter().sum::<f64>() / n;
            let s = (v.iter().map(|y| (y - m).powi(2)).sum::<f64>() / n).sqrt();
            Some((x, m, s, v.len()))
        })
        .collect()
}

/// Tableau's ten colours (matplotlib's default cycle).
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// `picorl plot`: draws the comparison and returns the picture's size.
pub fn compare(a: &PlotOptions) -> Result<(u32, u32)> {
    if a.out.extension().and_then(|e| e.to_str()) != Some("png") {
        bail!("--out {}: picorl plot writes .png", a.out.display());
    }
    // A run named twice (`runs/ppo runs/ppo/`) is one run.
    let mut runs: Vec<&PathBuf> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for d in &a.runs {
        let key = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
        if seen.insert(key) {
            runs.push(d);
        } else {
            eprintln!(
                "warning: {} is given more than once: counted once",
                d.display()
            );
        }
    }
    // Auto: evaluation means when every run has at least two, else training episodes for
    // every run: one kind of curve on one chart.
    let source = match a.source {
        Source::Auto => {
            let evals = |d: &Path| {
                Table::read(&d.join("eval.csv"))
                    .map(|t| t.rows.len())
                    .unwrap_or(0)
            };
            if runs.iter().all(|d| evals(d) >= 2) {
                Source::Eval
            } else {
                Source::Train
            }
        }
        s => s,
    };
    let curves = runs
        .iter()
        .map(|d| {
            let mut c = load_curve(d, source, a.x)?;
            if a.by_run {
                c.algo = d
                    .file_name()
                    .map_or_else(|| d.display().to_string(), |n| n.to_string_lossy().into());
            }
            Ok(c)
        })
        .collect::<Result<Vec<_>>>()?;
    // env → algo → curves, in first-seen order of algorithms (stable colours).
    type Curves<'a> = Vec<&'a [(f64, f64)]>;
    let mut envs: BTreeMap<&str, BTreeMap<&str, Curves<'_>>> = BTreeMap::new();
    let mut algos: Vec<&str> = Vec::new();
    for c in &curves {
        if !algos.contains(&c.algo.as_str()) {
            algos.push(&c.algo);
        }
        envs.entry(&c.env)
            .or_default()
            .entry(&c.algo)
            .or_default()
            .push(&c.points);
    }
    let n = envs.len();
    let cols = n.min(2);
    let rows = n.div_ceil(cols);
    let size = match &a.size {
        Some(s) => parse_size(s)?,
        None => (900 * cols as u32, 560 * rows as u32),
    };
    let x_desc = match a.x {
        XAxis::Steps => "environment steps",
        XAxis::Seconds => "training seconds",
    };
    let y_desc = if curves.iter().all(|c| c.eval) {
        "return (evaluation mean; band: ± std across runs)"
    } else {
        "return (band: ± std across runs)"
    };
    for (env, groups) in &envs {
        for (algo, cs) in groups {
            let end: Vec<f64> = cs.iter().filter_map(|c| c.last().map(|p| p.1)).collect();
            let m = end.iter().sum::<f64>() / end.len() as f64;
            let s = (end.iter().map(|y| (y - m).powi(2)).sum::<f64>() / end.len() as f64).sqrt();
            println!(
                "{env} {algo}: {} run{}, last {} {m:.2} ± {s:.2}",
                cs.len(),
                if cs.len() == 1 { "" } else { "s" },
                if source == Source::Eval {
                    "evaluation mean"
                } else {
                    "training return (mean of 20 episodes)"
                }
            );
        }
    }
    let img = paint(size.0, size.1, |root| {
        for (area, (env, groups)) in root.split_evenly((rows, cols)).iter().zip(&envs) {
            let x_max = groups
                .values()
                .flatten()
                .filter_map(|c| c.last().map(|p| p.0))
                .fold(1.0, f64::max);
            let xs: Vec<f64> = (0..=200).map(|i| x_max * f64::from(i) / 200.0).collect();
            type Aggregate = Vec<(f64, f64, f64, usize)>;
            let series: Vec<(&str, Aggregate)> = groups
                .iter()
                .map(|(algo, cs)| (*algo, aggregate(cs, &xs)))
                .collect();
            let (lo, hi) = y_range(
                series
                    .iter()
                    .flat_map(|(_, s)| s.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2])),
            );
            let title = match &a.title {
                Some(t) if n == 1 => t.clone(),
                Some(t) => format!("{t}: {env}"),
                None => (*env).to_string(),
            };
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(64)
                .build_cartesian_2d(0.0..x_max, lo..hi)?;
            let secs_label = |x: &f64| format!("{x}");
            let x_label: &dyn Fn(&f64) -> String = match a.x {
                XAxis::Steps => &steps_label,
                XAxis::Seconds => &secs_label,
            };
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .x_label_formatter(x_label)
                .x_desc(x_desc)
                .y_desc(y_desc)
                .label_style(("sans-serif", 13))
                .draw()?;
            for (algo, s) in &series {
                let k = algos.iter().position(|x| x == algo).unwrap_or(0);
                let color = COLORS[k % COLORS.len()];
                let n_runs = groups.get(algo).map_or(0, Vec::len);
                let mut band: Vec<(f64, f64)> = s.iter().map(|p| (p.0, p.1 + p.2)).collect();
                band.extend(s.iter().rev().map(|p| (p.0, p.1 - p.2)));
                chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.2).filled())))?;
                chart
                    .draw_series(LineSeries::new(
                        s.iter().map(|p| (p.0, p.1)),
                        color.stroke_width(2),
                    ))?
                    .label(format!(
                        "{algo} ({n_runs} run{})",
                        if n_runs == 1 { "" } else { "s" }
                    ))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()?;
        }
        Ok(())
    })?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: creating {}", a.out.display(), dir.display()))?;
    }
    save_png(&img, &a.out).with_context(|| format!("--out {}", a.out.display()))?;
    eprintln!("wrote {} ({}x{})", a.out.display(), size.0, size.1);
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_by_hand() {
        assert_eq!(smooth(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn step_labels() {
        assert_eq!(steps_label(&500.0), "500");
        assert_eq!(steps_label(&15_000.0), "15k");
        assert_eq!(steps_label(&2_500.0), "2.5k");
        assert_eq!(steps_label(&2_500_000.0), "2.5M");
    }

    #[test]
    fn curves_interpolate_and_hold_their_end() {
        let c = [(10.0, 0.0), (20.0, 100.0)];
        assert_eq!(value_at(&c, 5.0), None);
        assert_eq!(value_at(&c, 10.0), Some(0.0));
        assert_eq!(value_at(&c, 15.0), Some(50.0));
        assert_eq!(value_at(&c, 30.0), Some(100.0));
        // At x = 15 the runs are at 50 and 150: mean 100, population std 50.
        let d = [(10.0, 100.0), (20.0, 200.0)];
        let agg = aggregate(&[&c, &d], &[5.0, 15.0]);
        assert_eq!(agg, vec![(15.0, 100.0, 50.0, 2)]);
    }

    #[test]
    fn panels_follow_the_columns_an_algorithm_writes() {
        let t = |cols: &[&str]| Table {
            header: ["step"].iter().chain(cols).map(|s| s.to_string()).collect(),
            rows: vec![vec![1.0; cols.len() + 1]],
        };
        let names =
            |tb: &Table| -> Vec<&str> { diagnostic_panels(tb).iter().map(|p| p.1).collect() };
        // DQN's columns.
        let dqn = t(&["loss", "q_mean", "epsilon", "beta", "updates"]);
        assert_eq!(names(&dqn), ["loss", "q_mean", "epsilon"]);
        // PPO's, as it writes them.
        use crate::algo::on_policy::base::RolloutUpdate;
        let ppo = t(crate::algo::on_policy::ppo::PpoUpdate::METRICS);
        assert_eq!(
            names(&ppo),
            [
                "loss",
                "value_mean",
                "entropy",
                "approx_kl",
                "clip_fraction",
                "explained_variance"
            ]
        );
        // SAC's: the critic's loss stands in for "loss".
        let sac = t(&["critic_loss", "actor_loss", "q_mean", "ent_coef"]);
        assert_eq!(
            names(&sac),
            ["critic_loss", "actor_loss", "q_mean", "ent_coef"]
        );
        assert_eq!(curve_size(0), (1200, 520));
        assert_eq!(curve_size(4), (1200, 1020));
    }
}
