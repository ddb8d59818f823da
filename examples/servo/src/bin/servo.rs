//! `servo`: picorl's whole command line with `Servo-v0` registered beside the built-ins.
//!
//! ```sh
//! cargo run --release -p picorl-servo --bin servo -- train --algo ppo --env Servo-v0
//! ```
use std::f64::consts::PI;
use std::process::ExitCode;

use picorl_host::envs::user_env::plotters::prelude::*;
use picorl_host::envs::user_env::{Area, DrawResult, EnvRegistration, Picture, Registry};
use picorl_servo::Servo;

/// The rotor seen end-on: a disc with its pointer at θ and the target as a red mark.
fn draw(area: &Area<'_>, state: &[f64], action: Option<&[f32]>) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let (cx, cy) = (i32::try_from(w / 2)?, i32::try_from(h / 2 + 10)?);
    let r = f64::from(w.min(h)) * 0.35;
    let at = |angle: f64, radius: f64| {
        // Angles counter-clockwise from the right, y down on the screen.
        (
            cx + (radius * angle.cos()).round() as i32,
            cy - (radius * angle.sin()).round() as i32,
        )
    };
    let (theta, target) = (state[0], state[3]);
    area.draw(&Circle::new(
        (cx, cy),
        r as i32,
        RGBColor(220, 220, 220).filled(),
    ))?;
    area.draw(&Circle::new((cx, cy), r as i32, BLACK.stroke_width(2)))?;
    // Encoder ticks every 30 degrees.
    for k in 0..12 {
        let a = f64::from(k) * PI / 6.0;
        area.draw(&PathElement::new(vec![at(a, r * 0.9), at(a, r)], BLACK))?;
    }
    area.draw(&PathElement::new(
        vec![at(target, r * 0.75), at(target, r * 1.15)],
        RED.stroke_width(4),
    ))?;
    area.draw(&PathElement::new(
        vec![(cx, cy), at(theta, r * 0.95)],
        BLUE.stroke_width(6),
    ))?;
    area.draw(&Circle::new((cx, cy), 6, BLACK.filled()))?;
    // The applied voltage as a bar along the bottom, centred at 0 V.
    if let Some(&[u]) = action {
        let bar_y = i32::try_from(h)? - 18;
        let len = (f64::from(u) * f64::from(w) * 0.4).round() as i32;
        let (x0, x1) = if len < 0 {
            (cx + len, cx)
        } else {
            (cx, cx + len)
        };
        area.draw(&Rectangle::new(
            [(x0, bar_y), (x1.max(x0 + 1), bar_y + 10)],
            RGBColor(80, 80, 200).filled(),
        ))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    picorl_host::cli::run_with(
        Registry::new().register(
            EnvRegistration::of::<Servo>()
                .config("ppo", include_str!("../../configs/ppo.toml"))
                .config("sac", include_str!("../../configs/sac.toml"))
                .picture(Picture {
                    size: (400, 400),
                    fps: 50.0,
                    draw,
                }),
        ),
    )
}
