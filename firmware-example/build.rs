//! Picks the memory layout (PICORL_BOARD) and embeds the policy (PICORL_POLICY), the environment
//! (PICORL_ENV, PICORL_ENV_KWARGS), the episodes (PICORL_EPISODES) and the first seed
//! (PICORL_SEED) at build time; PICORL_MODE=learn builds the on-device learning mode instead
//! (PICORL_LEARN_HYPER=seed|tuned). `firmware-example/run` sets these; a plain `cargo build`
//! embeds the PPO CartPole policy committed under policies/.
//!
//! Everything that can be known here is checked here, with core's full messages: the model (core's
//! reader, every field and the CRC), the environment's options (core's `make`). The firmware then
//! needs neither the reader nor the messages in flash.
use std::{env, fs, path::Path, path::PathBuf};

fn var(name: &str, default: &str) -> String {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).unwrap_or_else(|_| default.to_string())
}

fn fail(msg: String) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}

/// What the firmware needs to know of the embedded policy, read by core's full reader (every
/// length, offset, value range and the CRC are checked here, so the image carries no reader).
struct PolicyFacts {
    /// The scratch width: its widest layer (or observation), padded as core pads it.
    capacity: usize,
    /// Multiply-accumulates per inference.
    macs: u64,
    /// "f32" or "int8".
    quant: &'static str,
    /// Core's `policy::kinds` the model needs: the only code the firmware's policy compiles in.
    kinds: u32,
}

fn policy_facts(policy: &str, bytes: &[u8]) -> PolicyFacts {
    // The reader wants a 4-byte-aligned buffer (weights are read in place): copy into words.
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    let aligned = &bytemuck::cast_slice::<u32, u8>(&words)[..bytes.len()];
    let model = picorl_core::model::Model::parse(aligned)
        .unwrap_or_else(|e| fail(format!("PICORL_POLICY={policy}: {e}")));
    let pad = |l: picorl_core::model::LayerView<'_>| {
        picorl_core::nn::padded_depth(l.in_dim).max(picorl_core::nn::padded_rows(l.out_dim))
    };
    let widest = model
        .layers()
        .map(pad)
        .chain([picorl_core::nn::padded_depth(model.obs_dim())])
        .max()
        .unwrap_or(4);
    PolicyFacts {
        capacity: widest.div_ceil(4) * 4,
        macs: model.macs(),
        quant: match model.quant() {
            picorl_core::model::QuantKind::F32 => "f32",
            picorl_core::model::QuantKind::Int8 => "int8",
        },
        kinds: picorl_core::policy::kinds::of(&model),
    }
}

/// `ORIGIN` of the FLASH region in a linker memory layout.
fn flash_origin(layout: &Path) -> String {
    let text = fs::read_to_string(layout)
        .unwrap_or_else(|e| fail(format!("reading {}: {e}", layout.display())));
    text.lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("FLASH")?;
            let origin = rest.split("ORIGIN").nth(1)?.split('=').nth(1)?;
            origin.split(',').next().map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| fail(format!("{}: no FLASH ORIGIN", layout.display())))
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // `run --env-crate` builds this program from a generated manifest elsewhere: the firmware's
    // own files (layouts, the default policy) are then named by PICORL_FIRMWARE_DIR.
    let manifest = match env::var("PICORL_FIRMWARE_DIR") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")),
    };
    println!("cargo:rerun-if-env-changed=PICORL_FIRMWARE_DIR");
    println!("cargo::rustc-check-cfg=cfg(picorl_learn)");
    println!("cargo::rustc-check-cfg=cfg(picorl_user_env)");
    // An environment of the user's own: the type (implementing core's `UserEnv`) in the crate
    // that `run --env-crate` adds as the dependency `picorl_user_env`.
    let user_type = var("PICORL_ENV_TYPE", "");
    println!("cargo::rustc-check-cfg=cfg(picorl_dqn)");

    let board = var("PICORL_BOARD", "qemu");
    let layout = match board.as_str() {
        "qemu" => manifest.join("memory.x"),
        name => manifest.join("boards").join(format!("{name}.x")),
    };
    let layout_text = fs::read(&layout).unwrap_or_else(|e| {
        fail(format!(
            "PICORL_BOARD={board}: cannot read {}: {e}",
            layout.display()
        ))
    });
    fs::write(out.join("memory.x"), layout_text).expect("OUT_DIR is writable");
    // cortex-m-rt's `device` feature includes `device.x` for the interrupt handlers' names; the
    // firmware enables no interrupt (main.rs), so there are none to name.
    fs::write(
        out.join("device.x"),
        "/* No device interrupts: see __INTERRUPTS in src/main.rs. */\n",
    )
    .expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", layout.display());

    let mode = var("PICORL_MODE", "policy");
    // `dqn` learns on the device too (no policy embedded), with core's DQN instead of a table.
    let learn = mode == "learn" || mode == "dqn";
    if mode == "dqn" {
        println!("cargo:rustc-cfg=picorl_dqn");
    }
    let learn_hyper_seed = match var("PICORL_LEARN_HYPER", "tuned").as_str() {
        "seed" => true,
        "tuned" => false,
        other => fail(format!(
            "PICORL_LEARN_HYPER={other}: expected seed or tuned"
        )),
    };
    let (policy_name, facts) = if learn {
        println!("cargo:rustc-cfg=picorl_learn");
        let none = PolicyFacts {
            capacity: 4,
            macs: 0,
            quant: "",
            kinds: 0,
        };
        (String::new(), none)
    } else {
        let default = manifest.join("policies/cartpole-ppo-int8.picorl");
        let policy = var("PICORL_POLICY", &default.display().to_string());
        let bytes =
            fs::read(&policy).unwrap_or_else(|e| fail(format!("PICORL_POLICY={policy}: {e}")));
        fs::write(out.join("policy.picorl"), &bytes).expect("OUT_DIR is writable");
        println!("cargo:rerun-if-changed={policy}");
        let name = Path::new(&policy)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "policy".into());
        (name, policy_facts(&policy, &bytes))
    };

    let env_id = var("PICORL_ENV", "CartPole-v1");
    let kwargs = var("PICORL_ENV_KWARGS", "");
    let episodes: u32 = var("PICORL_EPISODES", "10")
        .parse()
        .unwrap_or_else(|e| fail(format!("PICORL_EPISODES: {e}")));
    let seed: u64 = var("PICORL_SEED", "0")
        .parse()
        .unwrap_or_else(|e| fail(format!("PICORL_SEED: {e}")));
    let mut kw = String::new();
    for pair in kwargs.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .unwrap_or_else(|| fail(format!("PICORL_ENV_KWARGS: `{pair}` is not key=value")));
        kw.push_str(&format!("    ({k:?}, {v:?}),\n"));
    }
    // Make the environment here with core's own code, so that a bad option fails the build with
    // core's full message (the firmware prints only fixed texts).
    let mut options = picorl_core::env::EnvOptions::default();
    for pair in kwargs.split(',').filter(|p| !p.is_empty()) {
        if let Some((k, v)) = pair.split_once('=') {
            options
                .set(k, v)
                .unwrap_or_else(|e| fail(format!("PICORL_ENV_KWARGS: option {k}: {e}")));
        }
    }
    if !user_type.is_empty() {
        if learn {
            fail("PICORL_MODE=learn runs core's FrozenLake, not a user's environment".into());
        }
        println!("cargo:rustc-cfg=picorl_user_env");
    } else if let Err(e) = picorl_core::env::make(&env_id, &options) {
        fail(format!("PICORL_ENV={env_id}: {e}"));
    }
    // The concrete environment type for the id (core's registry, one type per Gymnasium class).
    let env_type = match env_id.as_str() {
        _ if !user_type.is_empty() => "",
        "CartPole-v1" => "CartPole",
        "MountainCar-v0" => "MountainCar",
        "MountainCarContinuous-v0" => "MountainCarContinuous",
        "Pendulum-v1" => "Pendulum",
        "Acrobot-v1" => "Acrobot",
        "FrozenLake-v1" | "FrozenLake8x8-v1" => "FrozenLake",
        "CliffWalking-v1" | "CliffWalkingSlippery-v1" => "CliffWalking",
        "Taxi-v4" => "Taxi",
        "Quadrotor-v0" => "Quadrotor",
        other => fail(format!(
            "PICORL_ENV={other}: not an environment of picorl-core"
        )),
    };
    let env_type = if user_type.is_empty() {
        format!("picorl_core::env::{env_type}")
    } else {
        format!("picorl_user_env::{user_type}")
    };
    let config = format!(
        "/// The environment id the policy runs in.\npub const ENV_ID: &str = {env_id:?};\n\
         /// Gymnasium `make` options, as key/value pairs.\npub const ENV_KWARGS: &[(&str, &str)] = &[\n{kw}];\n\
         /// Episodes to run.\npub const EPISODES: u32 = {episodes};\n\
         /// Episode i resets with SEED + i.\npub const SEED: u64 = {seed};\n\
         /// The policy's name (its file stem).\npub const POLICY_NAME: &str = {policy_name:?};\n\
         /// Scratch width of the policy (its widest layer, padded).\npub const POLICY_CAPACITY: usize = {};\n\
         /// Multiply-accumulates per inference.\npub const MACS: u64 = {};\n\
         /// The policy's arithmetic.\npub const QUANT: &str = {:?};\n\
         /// The kinds of model the policy's code handles (core's `policy::kinds`).\npub const POLICY_KINDS: u32 = {};\n\
         /// Where the board's flash starts.\npub const FLASH_ORIGIN: usize = {};\n\
         /// The environment's type.\npub type EnvType = {env_type};\n\
         /// The learning mode uses the seed's hyper-parameters.\npub const LEARN_HYPER_SEED: bool = {learn_hyper_seed};\n",
        facts.capacity,
        facts.macs,
        facts.quant,
        facts.kinds,
        flash_origin(&layout)
    );
    fs::write(out.join("config.rs"), config).expect("OUT_DIR is writable");
}
