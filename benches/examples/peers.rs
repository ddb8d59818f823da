//! The Rust side of `benches/compare.py`: picorl's figures for the side-by-side tables, as one
//! JSON object on stdout, and the models the Python side times with its peers.
//!
//! `cargo run --release -p picorl-benches --example peers -- OUT_DIR`
//!
//! - `env`: one step of every environment through [`AnyEnv`] / the host's boxes (what
//!   `picorl` steps), best of many short batches, in ns; a reset whenever an episode ends.
//! - `vec_env`: the host's `VecEnv` (autoreset), one thread, 8 and 256 copies, in env-steps/s.
//! - `nn`: for the 4-64-64-2 and 17-256-256-6 ReLU MLPs (seeded weights): core's f32 and int8
//!   policies (one observation, argmax included) and libtorch's forward of the same weights
//!   (tch, one thread, `no_grad`, argmax included), in ns. The models are written to
//!   `OUT_DIR/<dims>-{f32,int8}.picorl` (for `picorl bench` and the firmware) and the weights
//!   to `OUT_DIR/<dims>.json` (`{"dims", "weights", "biases", "obs"}`, for onnxruntime).
//!
//! Timings are the fastest of many short batches (a shared machine's interference only ever adds
//! time; a batch of a few hundred microseconds often runs unpreempted).
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use picorl_benches::{best, random_mlp, write_model};
use picorl_core::env::{Action, Env, Space};
use picorl_core::model::Model;
use picorl_core::policy::Policy;
use picorl_host::envs::vec_env::{Actions, VecEnv};
use serde_json::{json, Value};

/// Best-of nanoseconds per step of `env` with a fixed cycle of actions.
fn single(env: &mut (dyn Env + Send)) -> f64 {
    const TORQUES: [f32; 4] = [1.0, -0.5, 0.25, -1.0];
    let dim = env.spec().observation_space.flat_dim();
    let n = match env.spec().action_space {
        Space::Discrete { n } => Some(n),
        Space::Box { .. } => None,
    };
    let mut obs = vec![0.0f32; dim];
    env.reset(Some(0), &mut obs[..dim]).expect("reset");
    let mut t = 0u32;
    best(500, 500, || {
        let u = [TORQUES[(t & 3) as usize]];
        let action = match n {
            Some(n) => Action::Discrete(t % n),
            None => Action::Continuous(&u),
        };
        let r = env.step(black_box(action), &mut obs[..dim]).expect("step");
        t = t.wrapping_add(1);
        if r.done() {
            env.reset(None, &mut obs[..dim]).expect("reset");
        }
        black_box(&obs);
    }) * 1e9
}

/// Env-steps per second of a one-thread `VecEnv` of `n` copies of `id`.
fn vectorized(id: &str, n: usize) -> f64 {
    let envs = (0..n)
        .map(|_| picorl_host::envs::make(id, &BTreeMap::new()))
        .collect::<Result<Vec<_>, _>>()
        .expect("make");
    let mut v = VecEnv::new(envs).expect("VecEnv");
    v.set_threads(1);
    v.reset(0).expect("reset");
    let dim = v.spec().action_space.flat_dim();
    let discrete = matches!(v.spec().action_space, Space::Discrete { .. });
    let k = match v.spec().action_space {
        Space::Discrete { n } => n,
        Space::Box { .. } => 1,
    };
    let da: [Vec<u32>; 2] = [
        (0..n as u32).map(|i| i % k).collect(),
        (0..n as u32).map(|i| (i / 2) % k).collect(),
    ];
    let ca: [Vec<f32>; 2] = [
        (0..n * dim).map(|i| (i as f32 * 0.7).sin()).collect(),
        (0..n * dim).map(|i| (i as f32 * 0.7 + 1.0).sin()).collect(),
    ];
    let mut t = 0usize;
    let per = (2048 / n).max(2);
    let s = best(300, per, || {
        let a = if discrete {
            Actions::Discrete(&da[t & 1])
        } else {
            Actions::Continuous(&ca[t & 1])
        };
        v.step(a).expect("step");
        t += 1;
        black_box(v.obs());
    });
    n as f64 / s
}

fn main() -> anyhow::Result<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: peers OUT_DIR"))?
        .into();
    std::fs::create_dir_all(&out)?;
    tch::set_num_threads(1);

    let mut env = serde_json::Map::new();
    for id in picorl_host::envs::ids() {
        let mut e = picorl_host::envs::make(id, &BTreeMap::new())?;
        env.insert(id.to_string(), json!(single(&mut *e)));
    }
    let mut vec_env = serde_json::Map::new();
    for id in ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0"] {
        for n in [8usize, 256] {
            vec_env.insert(format!("{id} x{n}"), json!(vectorized(id, n)));
        }
    }

    let mut nn = serde_json::Map::new();
    for dims in [&[4usize, 64, 64, 2][..], &[17, 256, 256, 6]] {
        let name = picorl_benches::dims_name(dims);
        let net = random_mlp(dims, 1);
        let obs: Vec<f32> = (0..dims[0]).map(|i| (i as f32 * 0.37).sin()).collect();
        let macs: usize = dims.windows(2).map(|w| w[0] * w[1]).sum();
        let mut row = serde_json::Map::new();
        for int8 in [false, true] {
            let (buf, len) = write_model(&net, int8);
            let q = if int8 { "int8" } else { "f32" };
            std::fs::write(out.join(format!("{name}-{q}.picorl")), &buf.0[..len])?;
            let m = Model::parse(&buf.0[..len]).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut p = Policy::<'_, 256>::new(m).map_err(|e| anyhow::anyhow!("{e}"))?;
            // Batches of a few hundred microseconds at most (see `best`).
            let per = (200_000 / macs).max(2);
            let ns = best(500, per, || {
                black_box(p.act(black_box(&obs)).expect("act"));
            }) * 1e9;
            row.insert(format!("core_{q}_ns"), json!(ns));
        }
        let layers: Vec<(tch::Tensor, tch::Tensor)> = (0..dims.len() - 1)
            .map(|l| {
                let w = tch::Tensor::from_slice(&net.weights[l])
                    .reshape([dims[l + 1] as i64, dims[l] as i64]);
                (w, tch::Tensor::from_slice(&net.biases[l]))
            })
            .collect();
        let x = tch::Tensor::from_slice(&obs).reshape([1, dims[0] as i64]);
        let ns = best(500, 20, || {
            tch::no_grad(|| {
                let mut h = black_box(&x).shallow_clone();
                for (l, (w, b)) in layers.iter().enumerate() {
                    h = h.linear(w, Some(b));
                    if l + 2 < dims.len() {
                        h = h.relu();
                    }
                }
                black_box(h.argmax(-1, false).int64_value(&[0]));
            })
        }) * 1e9;
        row.insert("tch_ns".into(), json!(ns));
        row.insert("macs".into(), json!(macs));
        std::fs::write(
            out.join(format!("{name}.json")),
            serde_json::to_string(&json!({
                "dims": dims, "weights": net.weights, "biases": net.biases, "obs": obs,
            }))?,
        )?;
        nn.insert(name, Value::Object(row));
    }
    println!("{}", json!({"env": env, "vec_env": vec_env, "nn": nn}));
    Ok(())
}
