//! Pictures: a frame of every environment, an episode GIF, the learning curve with its
//! diagnostic panels, `picorl plot` and `picorl render` on real (tabular, fast) runs. Each image
//! is decoded again and checked for its stated size and for content (not one flat colour).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use picorl_core::env::{make, AnyEnv, Env, EnvOptions, REGISTRY};
use picorl_host::algo::tabular::QLearning;
use picorl_host::envs::eval::{Actor, OwnedAction};
use picorl_host::train::config::{self, ResolvedConfig, RunOptions, Source as CfgSource};
use picorl_host::train::{run_with, Algorithm, Control};
use picorl_host::viz::canvas::{self, Image};
use picorl_host::viz::grid::GridOverlay;
use picorl_host::viz::plot::{self, PlotOptions, Source, XAxis};
use picorl_host::viz::render;
use picorl_host::viz::scenes::{self, FrameInfo};
use picorl_host::viz::RenderOptions;

/// Checks size and that the picture has content: at least 1% of pixels not background white
/// and at least three distinct colours.
fn assert_has_content(img: &Image, what: &str) {
    assert_eq!(
        img.rgb.len(),
        (img.width * img.height * 3) as usize,
        "{what}"
    );
    let px: Vec<[u8; 3]> = img
        .rgb
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let inked = px.iter().filter(|p| **p != [255, 255, 255]).count();
    assert!(
        inked * 100 >= px.len(),
        "{what}: only {inked} of {} pixels drawn",
        px.len()
    );
    let colours: HashSet<[u8; 3]> = px.into_iter().collect();
    assert!(colours.len() >= 3, "{what}: {} colours", colours.len());
}

fn decode_png(bytes: &[u8]) -> Image {
    let mut reader = png::Decoder::new(bytes).read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    Image {
        width: info.width,
        height: info.height,
        rgb: buf,
    }
}

/// `(width, height, frames)` of a GIF.
fn decode_gif(bytes: &[u8]) -> (u16, u16, usize) {
    let mut d = gif::DecodeOptions::new()
        .read_info(bytes)
        .expect("a GIF header");
    let (w, h) = (d.width(), d.height());
    let mut frames = 0;
    while let Some(f) = d.read_next_frame().expect("a GIF frame") {
        assert!(
            f.left + f.width <= w && f.top + f.height <= h,
            "frame inside the picture"
        );
        frames += 1;
    }
    (w, h, frames)
}

fn reset(id: &str) -> AnyEnv {
    let mut env = make(id, &EnvOptions::default()).unwrap();
    let mut obs = vec![0.0; env.spec().observation_space.flat_dim()];
    env.reset(Some(0), &mut obs).unwrap();
    env
}

#[test]
fn every_environment_draws_a_frame_of_its_size() {
    for spec in REGISTRY {
        let env = reset(spec.id);
        let size = scenes::default_size(&env);
        let img =
            scenes::draw_frame(&env, &FrameInfo::default(), &GridOverlay::default(), size).unwrap();
        assert_eq!((img.width, img.height), size, "{}", spec.id);
        assert_has_content(&img, spec.id);
        // A stated size other than the default is honoured.
        let small = scenes::draw_frame(
            &env,
            &FrameInfo::default(),
            &GridOverlay::default(),
            (320, 240),
        )
        .unwrap();
        assert_eq!((small.width, small.height), (320, 240), "{}", spec.id);
        assert_has_content(&small, spec.id);
        // PNG bytes round-trip to the same picture.
        assert_eq!(
            decode_png(&canvas::png_bytes(&img).unwrap()),
            img,
            "{}",
            spec.id
        );
    }
}

#[test]
fn grid_worlds_show_the_policy_and_the_values() {
    for id in [
        "FrozenLake-v1",
        "FrozenLake8x8-v1",
        "CliffWalking-v1",
        "Taxi-v4",
    ] {
        let env = reset(id);
        let n = env.as_tabular().unwrap().n_states() as usize;
        let size = scenes::default_size(&env);
        let plain =
            scenes::draw_frame(&env, &FrameInfo::default(), &GridOverlay::default(), size).unwrap();
        let arrows = GridOverlay {
            policy: Some((0..n).map(|s| (s % 4) as u32).collect()),
            values: None,
        };
        let with_arrows = scenes::draw_frame(&env, &FrameInfo::default(), &arrows, size).unwrap();
        assert_ne!(plain, with_arrows, "{id}: the arrows are drawn");
        let heat = GridOverlay {
            values: Some((0..n).map(|s| s as f32 / n as f32).collect()),
            ..arrows.clone()
        };
        let with_heat = scenes::draw_frame(&env, &FrameInfo::default(), &heat, size).unwrap();
        // The heat map's colours come from viridis: its darkest end (the lowest value) is drawn.
        let dark = canvas::viridis(0.0);
        let viridis_px = with_heat
            .rgb
            .chunks_exact(3)
            .filter(|p| p == &[dark.0, dark.1, dark.2])
            .count();
        assert!(viridis_px > 0, "{id}: no heat map");
        assert_ne!(with_arrows, with_heat, "{id}");
    }
}

/// Pushes the cart toward the side the pole leans: CartPole's textbook controller.
struct Lean;

impl Actor for Lean {
    fn act(&mut self, obs: &[f32]) -> anyhow::Result<OwnedAction> {
        Ok(OwnedAction::Discrete(u32::from(
            obs[2] + 0.5 * obs[3] > 0.0,
        )))
    }
}

fn render_args(source: &Path, out: &str) -> RenderOptions {
    RenderOptions {
        source: source.to_path_buf(),
        env: None,
        env_kwargs: Vec::new(),
        out: PathBuf::from(out),
        seed: 0,
        max_steps: None,
        every: 1,
        fps: None,
        size: None,
        gym_packages: Vec::new(),
    }
}

#[test]
fn an_episode_becomes_a_gif_of_every_drawn_step() {
    let mut env = make("CartPole-v1", &EnvOptions::default()).unwrap();
    let mut a = render_args(Path::new("unused"), "episode.gif");
    a.max_steps = Some(30);
    a.every = 3;
    a.size = Some("300x200".into());
    let bytes = render::render_episode(&mut env, &mut Lean, None, &a).unwrap();
    // The reset frame, then steps 3, 6, …, 30: 11 frames.
    assert_eq!(decode_gif(&bytes), (300, 200, 11));
    a.out = PathBuf::from("frame.png");
    let png = render::render_episode(&mut env, &mut Lean, None, &a).unwrap();
    let img = decode_png(&png);
    assert_eq!((img.width, img.height), (300, 200));
    assert_has_content(&img, "CartPole png");
    a.out = PathBuf::from("episode.mp4");
    let err = render::render_episode(&mut env, &mut Lean, None, &a).unwrap_err();
    assert!(format!("{err:#}").contains("--out episode.mp4"), "{err:#}");
}

fn train_tabular(seed: u64, tag: &str) -> PathBuf {
    let source = CfgSource::BuiltIn("test".into());
    let section = config::section::<<QLearning as Algorithm>::Hyper>(
        QLearning::CONFIG,
        &source,
        "FrozenLake-v1",
    )
    .unwrap();
    let (_, hyper, _) =
        config::resolve::<<QLearning as Algorithm>::Hyper>(section, &source).unwrap();
    let cfg = ResolvedConfig {
        run: RunOptions {
            algo: "qlearning".into(),
            env: "FrozenLake-v1".into(),
            env_kwargs: Default::default(),
            seed,
            device: "cpu".into(),
            threads: 1,
            total_steps: 20_000,
            eval_every: 4_000,
            eval_episodes: 20,
            stop_at_return: None,
            log_interval: picorl_host::train::config::LOG_INTERVAL,
            stop_at_hover: None,
            gym_packages: Vec::new(),
            backend: Default::default(),
        },
        hyper,
    };
    let dir = std::env::temp_dir().join(format!("picorl-viz-{}-{tag}-{seed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The hook the command line passes: the loop itself draws nothing.
    let control = Control {
        quiet: true,
        pictures: Some(|d| plot::learning_curve(d).map(|_| ())),
        ..Control::default()
    };
    run_with::<QLearning>(&cfg, &dir, &control).unwrap();
    dir
}

#[test]
fn runs_plot_and_render() {
    let a = train_tabular(0, "run");
    let b = train_tabular(1, "run");
    // The learning curve every run draws: the returns, and Q-learning's panels (|TD error|, ε).
    let curve = decode_png(&std::fs::read(a.join("learning_curve.png")).unwrap());
    assert_eq!((curve.width, curve.height), plot::curve_size(2));
    assert_has_content(&curve, "learning_curve.png");

    // picorl plot: two seeds of one group.
    let out = a.join("compare.png");
    let args = PlotOptions {
        runs: vec![a.clone(), b.clone()],
        out: out.clone(),
        source: Source::Auto,
        x: XAxis::Steps,
        title: None,
        size: None,
        by_run: false,
    };
    assert_eq!(plot::compare(&args).unwrap(), (900, 560));
    let img = decode_png(&std::fs::read(&out).unwrap());
    assert_eq!((img.width, img.height), (900, 560));
    assert_has_content(&img, "compare.png");
    let bad = PlotOptions {
        runs: vec![a.join("no-such-run")],
        ..args
    };
    let err = plot::compare(&bad).unwrap_err();
    assert!(format!("{err:#}").contains("no-such-run"), "{err:#}");

    // picorl render of the run: the policy picture (with the Q-table's values) and an episode.
    let pic = a.join("policy.png");
    render::render(render_args(&a, pic.to_str().unwrap())).unwrap();
    let img = decode_png(&std::fs::read(&pic).unwrap());
    let env = reset("FrozenLake-v1");
    assert_eq!((img.width, img.height), scenes::default_size(&env));
    assert_has_content(&img, "policy.png");
    let gif = a.join("episode.gif");
    render::render(render_args(&a, gif.to_str().unwrap())).unwrap();
    let (w, h, frames) = decode_gif(&std::fs::read(&gif).unwrap());
    assert_eq!((u32::from(w), u32::from(h)), scenes::default_size(&env));
    assert!(frames >= 2, "{frames} frames");

    for d in [a, b] {
        let _ = std::fs::remove_dir_all(d);
    }
}
