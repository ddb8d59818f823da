//! On-device deep RL (`run --mode dqn`): core's DQN ([`DqnConfig::CARTPOLE`]: a 4-64-64-2
//! network, Adam, a target network, a replay ring, ε-greedy from a seeded PCG) trains on
//! CartPole-v1 inside the Cortex-M4F program, no heap: the workspace and the replay memory are
//! arrays on the stack. It prints what core's `dqn_cartpole` example prints on the desktop (each
//! training episode's return, each evaluation, the weights' CRC-32), so the two outputs can be
//! compared line for line (`scripts/dqn_check.sh`), then the instructions per environment step
//! (the update included; evaluation episodes counted apart), flash and RAM.

use picorl_core::learn::dqn::{self, Dqn, DqnConfig, DqnError, Event};
use picorl_core::replay::{self, ActionShape, ReplayBuffer};

use crate::bits::Line;
use crate::{config, measure, Error, ACTION_DIM, OBS_DIM};

const CFG: DqnConfig = DqnConfig::CARTPOLE;
const WORK: usize = dqn::workspace_len(&CFG, OBS_DIM, ACTION_DIM);
const REPLAY: usize = match replay::buffer_storage_len(CFG.replay, OBS_DIM, ActionShape::Discrete) {
    Some(n) => n,
    None => panic!("the replay memory's size overflows"),
};

impl From<DqnError> for Error {
    fn from(e: DqnError) -> Self {
        Error::Dqn(e)
    }
}

/// Fixed texts for DQN's errors (no `core::fmt` in the image).
pub fn describe(e: &DqnError) -> &'static str {
    match e {
        DqnError::Learn(_) => "network buffer of the wrong size",
        DqnError::Env(_) => "environment refused a call",
        DqnError::Replay(_) => "replay refused a transition",
        DqnError::Unsupported => "DQN needs a discrete-action environment",
        DqnError::Workspace { .. } => "workspace too small",
        DqnError::EmptyBatch => "batch size zero",
    }
}

/// Trains on the device and reports.
pub fn run() -> Result<(), Error> {
    let syst = cortex_m::Peripherals::take().ok_or(Error::NoSysTick)?.SYST;
    let clock = measure::Clock::start(syst);
    let mut work = [0f32; WORK];
    let mut storage = [0f32; REPLAY];
    let mut replay = ReplayBuffer::new(&mut storage[..], OBS_DIM, ActionShape::Discrete)
        .map_err(|e| Error::Dqn(DqnError::Replay(e)))?;
    let mut learner = Dqn::new(CFG, OBS_DIM, ACTION_DIM, &mut work, config::SEED)?;
    let mut env = crate::make_env()?;
    let mut eval_env = crate::make_env()?;

    // Instructions, in SysTick ticks: training steps (acting, storing, updates) and evaluations.
    let (mut train_ticks, mut eval_ticks) = (0u64, 0u64);
    let mut mark = clock.now();
    let out = dqn::train(
        &mut learner,
        &mut env,
        &mut eval_env,
        &mut replay,
        config::SEED,
        |e| match e {
            Event::Episode {
                index, ret, steps, ..
            } => {
                Line::new()
                    .str("episode=")
                    .uint(u64::from(index))
                    .str(" return=")
                    .f64(ret)
                    .str(" steps=")
                    .uint(u64::from(steps))
                    .print();
            }
            Event::Eval { step, mean } => {
                eval_ticks += u64::from(clock.ticks_since(mark));
                Line::new()
                    .str("eval step=")
                    .uint(u64::from(step))
                    .str(" mean=")
                    .f64(mean)
                    .print();
                mark = clock.now();
            }
            Event::Step => {
                train_ticks += u64::from(clock.ticks_since(mark));
                mark = clock.now();
            }
        },
    )?;
    Line::new()
        .str("dqn env=")
        .str(config::ENV_ID)
        .str(" seed=")
        .uint(config::SEED)
        .str(" steps=")
        .uint(u64::from(out.steps))
        .str(" updates=")
        .uint(u64::from(out.updates))
        .str(" episodes=")
        .uint(u64::from(out.episodes))
        .str(" last_eval=")
        .f64(out.last_eval)
        .str(" solved=")
        .str(if out.solved_at_step.is_some() {
            "true"
        } else {
            "false"
        })
        .str(" weights_crc=")
        .uint(u64::from(learner.params_crc()))
        .print();
    let steps = u64::from(out.steps.max(1));
    let train = train_ticks * measure::INSTRUCTIONS_PER_TICK;
    Line::new()
        .str("summary mode=dqn instructions_per_step=")
        .uint((train + steps / 2) / steps)
        .str(" train_instructions=")
        .uint(train)
        .str(" eval_instructions=")
        .uint(eval_ticks * measure::INSTRUCTIONS_PER_TICK)
        .str(" workspace_bytes=")
        .uint((WORK * 4) as u64)
        .str(" replay_bytes=")
        .uint((REPLAY * 4) as u64)
        .footprint()
        .print();
    Ok(())
}
