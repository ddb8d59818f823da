//! picorl's firmware example: a Cortex-M4F program that embeds an exported `.picorl` policy and
//! runs it in a closed loop against picorl-core's environment, printing per episode
//! `episode=I seed=S return=R steps=N` and, last, a `summary …` line with the instructions per
//! inference, flash and RAM (see docs/cli.md). `firmware-example/run` builds and runs it.
//!
//! The same `Policy::act` and `Env::step` run here and in `picorl eval` on the desktop, so the
//! returns agree value for value and bit for bit.
#![no_std]
#![no_main]

mod bits;
#[cfg(picorl_dqn)]
mod dqn;
mod errors;
#[cfg(all(picorl_learn, not(picorl_dqn)))]
mod learn;
mod measure;

use bits::{println, Line};
use cortex_m_rt::entry;
use cortex_m_semihosting::debug;
#[cfg(picorl_user_env)]
use picorl_core::env::UserEnv;
use picorl_core::env::{Env, EnvError, EnvSpec, Space};
#[cfg(not(picorl_user_env))]
use picorl_core::env::{EnvOptions, Registered, REGISTRY};
#[cfg(not(picorl_learn))]
use picorl_core::model::Model;
use picorl_core::policy::{Policy, PolicyError};

/// Build-time configuration from `build.rs` (environment, episodes, seed, policy name, sizes).
#[allow(dead_code)]
mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(not(picorl_user_env))]
const fn find_spec(id: &str) -> EnvSpec {
    let mut i = 0;
    while i < REGISTRY.len() {
        if str_eq(REGISTRY[i].id, id) {
            return REGISTRY[i];
        }
        i += 1;
    }
    panic!("PICORL_ENV names no environment of picorl-core's registry");
}

/// The environment's spec, found at compile time.
#[cfg(not(picorl_user_env))]
const SPEC: EnvSpec = find_spec(config::ENV_ID);
/// An environment of the user's own (`run --env-crate`): its spec, which `--env` must name.
#[cfg(picorl_user_env)]
const SPEC: EnvSpec = <config::EnvType as UserEnv>::SPEC;
#[cfg(picorl_user_env)]
const _: () = assert!(
    str_eq(SPEC.id, config::ENV_ID),
    "PICORL_ENV is not the id of the user environment's SPEC"
);
#[cfg(not(picorl_user_env))]
static SPEC_REF: EnvSpec = SPEC;
const OBS_DIM: usize = SPEC.observation_space.flat_dim();
const ACTION_DIM: usize = match SPEC.action_space {
    Space::Discrete { n } => n as usize,
    Space::Box { dim, .. } => dim,
};

/// States of a discrete observation space (the learning mode's table rows).
#[cfg(all(picorl_learn, not(picorl_dqn)))]
const OBS_STATES: usize = match SPEC.observation_space {
    Space::Discrete { n } => n as usize,
    Space::Box { .. } => panic!("the learning mode needs a discrete observation space"),
};

/// The policy, embedded and checked against the environment's shape when this file compiles.
#[cfg(not(picorl_learn))]
static MODEL: &[u8] = picorl_core::include_model!(
    concat!(env!("OUT_DIR"), "/policy.picorl"),
    obs = OBS_DIM,
    actions = ACTION_DIM
);

/// Inferences timed for the instruction count.
const TIMED_INFERENCES: u32 = 1024;
/// Observations kept from the first episode to time and to print outputs for.
const PROBES: usize = 16;
/// The largest environment state printed at the end of each episode (`final_state` lines).
const FINAL_STATE_MAX: usize = 17;
/// Probe observations whose outputs are printed (`infer …` lines) for the host to compare.
const PRINTED_PROBES: usize = 3;

enum Error {
    Policy(PolicyError),
    Env(EnvError),
    Option(&'static str, EnvError),
    NoSysTick,
    #[cfg(all(picorl_learn, not(picorl_dqn)))]
    Tabular(picorl_core::tabular::TabularError),
    #[cfg(all(picorl_learn, not(picorl_dqn)))]
    TableTooSmall,
    #[cfg(picorl_dqn)]
    Dqn(picorl_core::learn::dqn::DqnError),
}

impl Error {
    /// Prints `error: …` naming what failed (see `errors.rs`).
    fn print(&self) {
        let mut line = Line::new();
        line.str("error: ");
        match self {
            Error::Policy(e) => line.str("policy: ").str(errors::policy(e)),
            Error::Env(e) => line.str(config::ENV_ID).str(": ").str(errors::env(e)),
            Error::Option(k, e) => line
                .str(config::ENV_ID)
                .str(": option ")
                .str(k)
                .str(": ")
                .str(errors::env(e)),
            Error::NoSysTick => line.str("SysTick is not available"),
            #[cfg(all(picorl_learn, not(picorl_dqn)))]
            Error::Tabular(e) => line.str("tabular: ").str(errors::tabular(e)),
            #[cfg(picorl_dqn)]
            Error::Dqn(e) => line.str("dqn: ").str(dqn::describe(e)),
            #[cfg(all(picorl_learn, not(picorl_dqn)))]
            Error::TableTooSmall => {
                line.str("the environment has more states than the firmware's table")
            }
        };
        line.print();
    }
}

impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Self {
        Error::Policy(e)
    }
}
impl From<EnvError> for Error {
    fn from(e: EnvError) -> Self {
        Error::Env(e)
    }
}

/// The user's environment with its options (`run --env-crate`); an option it does not take is
/// refused here, as the host refuses it.
#[cfg(picorl_user_env)]
fn make_env() -> Result<config::EnvType, Error> {
    if let Some(k) = picorl_core::env::unknown_option::<config::EnvType>(config::ENV_KWARGS) {
        return Err(Error::Option(k, EnvError::BadOption));
    }
    Ok(<config::EnvType as UserEnv>::make(config::ENV_KWARGS)?)
}

/// The one environment type this firmware runs (not `AnyEnv`, so only its code is linked).
#[cfg(not(picorl_user_env))]
fn make_env() -> Result<config::EnvType, Error> {
    let mut options = EnvOptions::default();
    for (k, v) in config::ENV_KWARGS {
        options.set(k, v).map_err(|e| Error::Option(k, e))?;
    }
    Ok(config::EnvType::from_options(&SPEC_REF, &options)?)
}

extern "C" {
    /// cortex-m-rt's handler for unexpected exceptions and interrupts.
    fn DefaultHandler();
}

/// The device-specific part of the vector table. The firmware enables no interrupt (SysTick is
/// polled, its exception stays off), so no IRQ can be taken, and the table keeps one entry where
/// cortex-m-rt without its `device` feature would put 240 (960 bytes of flash): the linker script
/// wants the table longer than the 16 system vectors.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
static __INTERRUPTS: [unsafe extern "C" fn(); 1] = [DefaultHandler];

#[entry]
fn main() -> ! {
    measure::paint_stack();
    #[cfg(all(picorl_learn, not(picorl_dqn)))]
    let result = learn::run();
    #[cfg(picorl_dqn)]
    let result = dqn::run();
    #[cfg(not(picorl_learn))]
    let result = run_policy();
    let code = match result {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(e) => {
            e.print();
            debug::EXIT_FAILURE
        }
    };
    debug::exit(code);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[cfg(not(picorl_learn))]
fn run_policy() -> Result<(), Error> {
    let syst = cortex_m::Peripherals::take().ok_or(Error::NoSysTick)?.SYST;
    let clock = measure::Clock::start(syst);
    // build.rs ran core's full reader on these bytes (every length, offset, value range and the
    // CRC) when it built the firmware, and include_model! checked magic, length, CRC and shape:
    // the image needs no reader of its own. An unchecked view of valid bytes is the checked one.
    let model = Model::new_unchecked(MODEL);
    // Only the code for this model's kinds (int8 or f32 layers, a table, a continuous head).
    let mut policy: Policy<'static, { config::POLICY_CAPACITY }, 8, { config::POLICY_KINDS }> =
        Policy::new(model)?;
    let mut env = make_env()?;

    let mut obs = [0.0f32; OBS_DIM];
    let mut probes = [[0.0f32; OBS_DIM]; PROBES];
    let mut n_probes = 0;
    let mut sum = 0.0f64;
    for i in 0..config::EPISODES {
        let seed = config::SEED + u64::from(i);
        env.reset(Some(seed), &mut obs)?;
        let (mut ret, mut steps) = (0.0f64, 0u32);
        loop {
            if n_probes < PROBES {
                probes[n_probes] = obs;
                n_probes += 1;
            }
            let action = policy.act(&obs)?;
            let r = env.step(action.as_action(), &mut obs)?;
            ret += r.reward;
            steps += 1;
            if r.done() {
                break;
            }
        }
        Line::new()
            .str("episode=")
            .uint(u64::from(i))
            .str(" seed=")
            .uint(seed)
            .str(" return=")
            .f64(ret)
            .str(" steps=")
            .uint(u64::from(steps))
            .print();
        // The state the episode ended in (a robot's: position, attitude, motors), for the host
        // to compare with its own run value for value.
        let dim = env.state_dim();
        if dim > 0 && dim <= FINAL_STATE_MAX {
            let mut state = [0.0f64; FINAL_STATE_MAX];
            env.get_state(&mut state[..dim])?;
            let mut line = Line::new();
            line.str("final_state seed=").uint(seed).str(" state=[");
            for (k, v) in state[..dim].iter().enumerate() {
                if k > 0 {
                    line.str(", ");
                }
                line.f64(*v);
            }
            line.str("]").print();
        }
        sum += ret;
    }

    for p in probes.iter().take(n_probes.min(PRINTED_PROBES)) {
        let action = policy.act(p)?;
        let mut line = Line::new();
        line.str("infer obs=").f32s(p).str(" action=");
        match action.continuous() {
            Some(a) => line.f32s(a),
            None => line.uint(u64::from(action.discrete().unwrap_or(0))),
        };
        line.str(" outputs=").f32s(policy.outputs()).print();
    }

    // Instructions per inference: the timed loop less the same loop without the inference.
    let n = n_probes.max(1);
    let start = clock.now();
    for k in 0..TIMED_INFERENCES as usize {
        let a = policy.act(core::hint::black_box(&probes[k % n]));
        core::hint::black_box(&a);
    }
    let with = clock.ticks_since(start);
    let start = clock.now();
    for k in 0..TIMED_INFERENCES as usize {
        core::hint::black_box(&probes[k % n]);
    }
    let without = clock.ticks_since(start);
    let per_inference = measure::instructions_per(with, without, u64::from(TIMED_INFERENCES));

    Line::new()
        .str("summary policy=")
        .str(config::POLICY_NAME)
        .str(" quant=")
        .str(config::QUANT)
        .str(" episodes=")
        .uint(u64::from(config::EPISODES))
        .str(" mean_return=")
        .f64(sum / f64::from(config::EPISODES))
        .str(" instructions_per_inference=")
        .uint(per_inference)
        .str(" macs=")
        .uint(config::MACS)
        .footprint()
        .print();
    Ok(())
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Core never panics on any input; reaching this is a bug. No message formatting here keeps
    // the formatting machinery for panics out of the image.
    println("error: panic");
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
