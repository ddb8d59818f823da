//! Grid worlds (FrozenLake, CliffWalking, Taxi) as pictures: the map with the greedy action of
//! every state as an arrow and, where the policy has them (a Q-table), the state values
//! `max_a Q(s, a)` as a heat map. Taxi has 500 states but 25 cells: the picture shows the 25
//! states of the passenger's and the destination's current places.

use picorl_core::env::AnyEnv;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{font, viridis, Area, DrawResult, BAR, MARGIN, TITLE};

/// The greedy policy and state values that a grid-world picture shows.
#[derive(Debug, Clone, Default)]
pub struct GridOverlay {
    /// The action of every state (arrows), if known.
    pub policy: Option<Vec<u32>>,
    /// A value per state (the heat map), if known.
    pub values: Option<Vec<f32>>,
}

/// Which kind of picture an environment gets.
pub fn is_grid(id: &str) -> bool {
    id.starts_with("FrozenLake") || id.starts_with("CliffWalking") || id.starts_with("Taxi")
}

/// Rows and columns of a grid world's map.
pub fn grid_dims(env: &AnyEnv) -> (usize, usize) {
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

/// Draws a grid world's map with the agent at state `agent` (when `show_agent`), the greedy
/// policy's arrows and the value heat map of `overlay`.
pub fn grid(
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
