//! DQN on CartPole-v1 with core's learner ([`DqnConfig::CARTPOLE`]), printing what the
//! firmware's `--mode dqn` prints: one `episode=I return=R steps=N` line per training episode,
//! `eval step=S mean=M` per evaluation, and a last `dqn …` line with the weights' CRC-32. The
//! two outputs are compared line for line by `scripts/dqn_check.sh`: host == controller.
//!
//! `cargo run --release -p picorl-core --example dqn_cartpole -- [SEED]`
use picorl_core::env::{CartPole, Env};
use picorl_core::learn::dqn::{self, Dqn, DqnConfig, Event};
use picorl_core::replay::{self, ActionShape, ReplayBuffer};
use std::process::ExitCode;

fn main() -> ExitCode {
    let seed = match std::env::args().nth(1).map(|s| s.parse::<u64>()) {
        None => 0,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("error: SEED: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = DqnConfig::CARTPOLE;
    let (obs_dim, n) = (4, 2);
    let mut mem = vec![0f32; dqn::workspace_len(&cfg, obs_dim, n)];
    let storage = vec![
        0f32;
        replay::buffer_storage_len(cfg.replay, obs_dim, ActionShape::Discrete)
            .unwrap_or(0)
    ];
    let run = || -> Result<(), dqn::DqnError> {
        let mut replay = ReplayBuffer::new(storage, obs_dim, ActionShape::Discrete)?;
        let mut learner = Dqn::new(cfg, obs_dim, n, &mut mem, seed)?;
        let (mut env, mut eval_env) = (CartPole::new(), CartPole::new());
        let t = std::time::Instant::now();
        let out = dqn::train(
            &mut learner,
            &mut env,
            &mut eval_env,
            &mut replay,
            seed,
            |e| match e {
                Event::Episode {
                    index, ret, steps, ..
                } => println!("episode={index} return={ret:?} steps={steps}"),
                Event::Eval { step, mean } => println!("eval step={step} mean={mean:?}"),
                Event::Step => {}
            },
        )?;
        eprintln!("{:.2} s on this machine", t.elapsed().as_secs_f64());
        println!(
            "dqn env=CartPole-v1 seed={seed} steps={} updates={} episodes={} last_eval={:?} solved={} weights_crc={}",
            out.steps,
            out.updates,
            out.episodes,
            out.last_eval,
            out.solved_at_step.is_some(),
            learner.params_crc(),
        );
        let _ = env.spec();
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
