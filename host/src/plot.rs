//! `learning_curve.png`: training-episode returns with a smoothed line, and evaluation means with
//! their spread, drawn in Rust with an embedded font (DejaVu Sans), so nothing needs installing.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded font once.
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is a valid TrueType file committed with the source; failure would be a bug.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Image size of `learning_curve.png`.
pub const CURVE_SIZE: (u32, u32) = (960, 540);

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

/// Draws `learning_curve.png` in the run directory from `episodes.csv` and `eval.csv`.
pub fn learning_curve(dir: &Path) -> Result<()> {
    register_font();
    let (_, episodes) = read_csv(&dir.join("episodes.csv"))?;
    let (_, evals) = read_csv(&dir.join("eval.csv"))?;
    let ep: Vec<(f64, f64)> = episodes
        .iter()
        .filter(|r| r.len() >= 2)
        .map(|r| (r[0], r[1]))
        .collect();
    let ev: Vec<(f64, f64, f64)> = evals
        .iter()
        .filter(|r| r.len() >= 4)
        .map(|r| (r[0], r[2], r[3]))
        .collect();
    let x_max = ep
        .iter()
        .map(|p| p.0)
        .chain(ev.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let ys = ep
        .iter()
        .map(|p| p.1)
        .chain(ev.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]));
    let (mut y_min, mut y_max) = ys
        .filter(|y| y.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    if y_max - y_min < 1e-9 {
        y_max = y_min + 1.0;
    }
    let pad = 0.05 * (y_max - y_min);
    let path = dir.join("learning_curve.png");
    let root = BitMapBackend::new(&path, CURVE_SIZE).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let title = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, (y_min - pad)..(y_max + pad))?;
        chart
            .configure_mesh()
            .x_desc("environment steps")
            .y_desc("return")
            .label_style(("sans-serif", 14))
            .draw()?;
        let light = RGBColor(150, 180, 230);
        chart.draw_series(
            ep.iter()
                .map(|&(x, y)| Circle::new((x, y), 1, light.filled())),
        )?;
        let sm = smooth(&ep.iter().map(|p| p.1).collect::<Vec<_>>(), 20);
        chart
            .draw_series(LineSeries::new(
                ep.iter().zip(&sm).map(|(p, &s)| (p.0, s)),
                BLUE.stroke_width(2),
            ))?
            .label("training episodes (mean of 20)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
        let red = RGBColor(200, 40, 40);
        chart.draw_series(ev.iter().map(|&(x, m, s)| {
            PathElement::new(vec![(x, m - s), (x, m + s)], red.stroke_width(2))
        }))?;
        chart
            .draw_series(
                LineSeries::new(ev.iter().map(|p| (p.0, p.1)), red.stroke_width(2)).point_size(3),
            )?
            .label("evaluation mean ± std")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow!("drawing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_by_hand() {
        assert_eq!(smooth(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
    }
}
