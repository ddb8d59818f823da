//! On-device learning (`run --mode learn`): tabular Q-learning on FrozenLake inside the
//! Cortex-M4F program, no heap: a `QTable<64, 4>` on the stack (1 KiB), core's `Learner`, core's
//! environment, draws from a seeded PCG. Prints the greedy policy's success over 1,000 evaluation
//! episodes (seeds 10000, 10001, …) before and after training, the instructions per update, and a
//! checksum of the learned table's bits (FNV-1a), which the host checks against core's golden
//! vector: the controller learns the same table, bit for bit, as the desktop.
//!
//! Hyper-parameters: `PICORL_LEARN_HYPER=seed` is the seed's (α 0.8, γ 0.95, ε 1.0 decaying by
//! 0.995 per episode to 0.01, core's `Hyper::SEED`); `tuned` (the default) is picorl's FrozenLake
//! configuration (α 0.2 → 0.005 and ε 1 → 0.01 linearly over the run and half of it, γ 0.99).

use core::ops::ControlFlow;
use picorl_core::env::{Action, Env, EnvOptions, Registered};
use picorl_core::rng;

use picorl_core::tabular::{
    self, EpisodeError, Experience, Hyper, Learner, QTable, QView, Rule, Schedule, TabularError,
    TieBreak,
};

use crate::bits::Line;
use crate::{config, measure, Error, SPEC_REF};

/// Largest table the firmware reserves: FrozenLake8x8's 64 states, 4 actions.
const STATES: usize = 64;
const ACTIONS: usize = 4;
const EVAL_EPISODES: u64 = 1000;
const TIMED_UPDATES: usize = 128;

impl From<TabularError> for Error {
    fn from(e: TabularError) -> Self {
        Error::Tabular(e)
    }
}

impl From<EpisodeError> for Error {
    fn from(e: EpisodeError) -> Self {
        match e {
            EpisodeError::Reset(e) | EpisodeError::Step { error: e, .. } => Error::Env(e),
            EpisodeError::Observation(e) | EpisodeError::Act(e) | EpisodeError::Learn(e) => {
                Error::Tabular(e)
            }
        }
    }
}

fn hyper(episodes: u32) -> Hyper {
    if config::LEARN_HYPER_SEED {
        return Hyper::SEED;
    }
    Hyper {
        rule: Rule::QLearning,
        learning_rate: Schedule::Linear {
            start: 0.2,
            end: 0.005,
            episodes,
        },
        gamma: 0.99,
        epsilon: Schedule::Linear {
            start: 1.0,
            end: 0.01,
            episodes: (episodes / 2).max(1),
        },
        tie_break: TieBreak::Random,
        hole_penalty: 0.0,
    }
}

/// The greedy policy's mean return (FrozenLake: its success rate) over the evaluation seeds.
fn greedy_success(env: &mut config::EnvType, q: &QView<&mut [f32]>) -> Result<f64, Error> {
    let mut obs = [0.0f32; 1];
    let mut total = 0.0f64;
    for i in 0..EVAL_EPISODES {
        env.reset(Some(10_000 + i), &mut obs)?;
        loop {
            let s = tabular::discrete_state(&obs)?;
            let r = env.step(Action::Discrete(q.greedy(s)?), &mut obs)?;
            total += r.reward;
            if r.done() {
                break;
            }
        }
    }
    Ok(total / EVAL_EPISODES as f64)
}

/// Trains on the device and reports.
pub fn run() -> Result<(), Error> {
    let syst = cortex_m::Peripherals::take().ok_or(Error::NoSysTick)?.SYST;
    let clock = measure::Clock::start(syst);
    let mut options = EnvOptions::default();
    for (k, v) in config::ENV_KWARGS {
        options.set(k, v).map_err(|e| Error::Option(k, e))?;
    }
    let mut env = config::EnvType::from_options(&SPEC_REF, &options)?;
    let n_states = crate::OBS_STATES;
    let mut table = QTable::<STATES, ACTIONS>::new();
    let all = table.view_mut().into_inner();
    let values = all
        .get_mut(..n_states * ACTIONS)
        .ok_or(Error::TableTooSmall)?;
    let mut q = QView::new(values, ACTIONS)?;

    let before = greedy_success(&mut env, &q)?;
    let mut learner = Learner::new(hyper(config::EPISODES))?;
    let mut rng = rng::seeded(config::SEED);
    let mut recorded = [Experience::new(0, 0, 0.0, 0, false); TIMED_UPDATES];
    let mut n_recorded = 0;
    let mut steps = 0u64;
    for e in 0..u64::from(config::EPISODES) {
        tabular::run_episode(
            &mut env,
            Some(config::SEED + e),
            &mut learner,
            &mut q,
            &mut rng,
            |step| {
                if n_recorded < TIMED_UPDATES {
                    recorded[n_recorded] = step.experience;
                    n_recorded += 1;
                }
                steps += 1;
                ControlFlow::Continue(())
            },
        )?;
    }
    let epsilon = learner.epsilon();
    let sum = q.checksum();
    let after = greedy_success(&mut env, &q)?;

    // Instructions per update (learn, which also picks the next action): replay the recorded
    // experiences on a scratch learner, less the same loop without the update.
    let n = n_recorded.max(1);
    let mut scratch = learner;
    let start = clock.now();
    for exp in recorded.iter().take(n) {
        let out = scratch.learn(&mut q, core::hint::black_box(exp), &mut rng);
        core::hint::black_box(&out);
    }
    let with = clock.ticks_since(start);
    let start = clock.now();
    for exp in recorded.iter().take(n) {
        core::hint::black_box(exp);
    }
    let without = clock.ticks_since(start);
    let per_update = measure::instructions_per(with, without, n as u64);

    Line::new()
        .str("learn env=")
        .str(config::ENV_ID)
        .str(" episodes=")
        .uint(u64::from(config::EPISODES))
        .str(" steps=")
        .uint(steps)
        .str(" seed=")
        .uint(config::SEED)
        .str(" hyper=")
        .str(if config::LEARN_HYPER_SEED {
            "seed"
        } else {
            "tuned"
        })
        .str(" success_before=")
        .f64(before)
        .str(" success_after=")
        .f64(after)
        .str(" eval_episodes=")
        .uint(EVAL_EPISODES)
        .str(" epsilon=")
        .f64(f64::from(epsilon))
        .str(" table_checksum=")
        .uint(u64::from(sum))
        .str(" instructions_per_update=")
        .uint(per_update)
        .footprint()
        .print();
    Ok(())
}
