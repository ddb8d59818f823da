//! core's DQN learns CartPole-v1 from a fixed seed, on the desktop, and the weights it ends with
//! are a golden vector: `firmware-example/run --mode dqn` must end with the same CRC-32
//! (`scripts/dqn_check.sh` compares every episode's return too).
//!
//! Trains up to 50,000 steps: run it in release (`cargo test --release -p picorl-core --test
//! dqn_cartpole`), as `./x test` does.
use picorl_core::env::CartPole;
use picorl_core::learn::dqn::{self, Dqn, DqnConfig, Event};
use picorl_core::replay::{self, ActionShape, ReplayBuffer};

#[test]
fn dqn_solves_cartpole_and_matches_its_golden_weights() {
    let cfg = DqnConfig::CARTPOLE;
    let seed = 0;
    let mut mem = vec![0f32; dqn::workspace_len(&cfg, 4, 2)];
    let storage =
        vec![0f32; replay::buffer_storage_len(cfg.replay, 4, ActionShape::Discrete).unwrap()];
    let mut replay = ReplayBuffer::new(storage, 4, ActionShape::Discrete).unwrap();
    let mut learner = Dqn::new(cfg, 4, 2, &mut mem, seed).unwrap();
    let (mut env, mut eval_env) = (CartPole::new(), CartPole::new());
    let mut returns = Vec::new();
    let mut evals = Vec::new();
    let out = dqn::train(
        &mut learner,
        &mut env,
        &mut eval_env,
        &mut replay,
        seed,
        |e| match e {
            Event::Episode { ret, .. } => returns.push(ret),
            Event::Eval { mean, .. } => evals.push(mean),
            Event::Step => {}
        },
    )
    .unwrap();
    // Solved: a greedy evaluation (10 episodes) averaged at least 475, well before the budget.
    assert!(
        out.solved_at_step.is_some(),
        "not solved: evaluations {evals:?}"
    );
    assert!(out.last_eval >= 475.0);
    assert!(out.steps < cfg.total_steps);
    // It learned: the first evaluation (2,000 steps, mostly random play) was far from it.
    assert!(evals[0] < 100.0, "{evals:?}");
    assert_eq!(returns.len() as u32, out.episodes);
    // The golden run (the firmware prints the same).
    assert_eq!((out.steps, out.updates, out.episodes), (34_000, 8256, 374));
    assert_eq!(learner.params_crc(), 1_442_872_853);
}
