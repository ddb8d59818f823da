//! Tabular Q-learning (`qlearning`) and SARSA (`sarsa`, with Expected SARSA as its option
//! `expected`) on the toy-text environments (FrozenLake, CliffWalking, Taxi): the table, the
//! update and the exploration are `picorl_core::tabular`'s, the very code that learns on the
//! Cortex-M; this file only drives it through the shared training loop.
//!
//! - One training iteration is one episode, and one `metrics.csv` row: its return and length, the
//!   ε and α it ran with, and its mean |TD error|. The schedules of ε and α move once per episode.
//! - Episode `k` resets the environment, and seeds the learner's generator, with seeds derived
//!   from the run's seed and `k` (SplitMix64), so a run resumed from its checkpoint (the Q-table,
//!   the episode count, ε and α) continues exactly as the uninterrupted run would have.
//! - The checkpoint is the Q-table as a `[states, actions]` f32 tensor in safetensors, with the
//!   schedules' state beside it (its parts declared once, [`crate::algo::state`]). Evaluation and export use the greedy policy (lowest index among
//!   equal values).
//! - At the end, the learned greedy policy's exact expected return within the time limit (on
//!   FrozenLake: its probability of success) is printed beside the optimum that finite-horizon
//!   value iteration finds over the environment's transition table.

use std::ops::ControlFlow;
use std::path::Path;

use anyhow::{anyhow, bail, ensure, Result};
use picorl_core::env::{AnyEnv, Env};
use picorl_core::rng;
use picorl_core::tabular::{
    self, EpisodeError, Hyper, Learner, Progress, QView, Rule, Schedule, TieBreak,
};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::algo::state;
use crate::envs::eval::{Actor, OwnedAction};
use crate::export::Activation;
use crate::export::{HeadExport, PolicyExport};
use crate::train::{Algorithm, Setup, TrainCtx};

/// The planning horizon for an environment that Gymnasium registers without a time limit
/// (`CliffWalking-v1`), in steps.
pub const UNLIMITED_HORIZON: u32 = 1000;

/// How a rate changes from episode to episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Always the initial value.
    Constant,
    /// Multiplied by `*_decay` after each episode, down to `*_end`.
    Exponential,
    /// From the initial value to `*_end` over `*_episodes` episodes, then `*_end`.
    Linear,
}

/// How exploration chooses among equal greedy values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TieBreakKind {
    /// Uniformly at random (seeded).
    Random,
    /// The lowest index.
    First,
}

/// Hyper-parameters of `qlearning` and `sarsa` (defaults: the seed's Q-learning on FrozenLake:
/// α 0.8, γ 0.95, ε 1.0 decayed by 0.995 per episode to 0.01).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TabularConfig {
    /// Discount factor γ, in [0, 1].
    pub gamma: f64,
    /// Learning rate α of the first episode, in (0, 1].
    pub learning_rate: f64,
    /// How α changes per episode: `constant`, `exponential` or `linear`.
    pub learning_rate_schedule: ScheduleKind,
    /// α's final value (`linear`) or floor (`exponential`).
    pub learning_rate_end: f64,
    /// α's factor per episode (`exponential`).
    pub learning_rate_decay: f64,
    /// Episodes of α's change (`linear`).
    pub learning_rate_episodes: u32,
    /// Exploration rate ε of the first episode, in [0, 1].
    pub epsilon: f64,
    /// How ε changes per episode: `constant`, `exponential` or `linear`.
    pub epsilon_schedule: ScheduleKind,
    /// ε's final value (`linear`) or floor (`exponential`).
    pub epsilon_end: f64,
    /// ε's factor per episode (`exponential`).
    pub epsilon_decay: f64,
    /// Episodes of ε's change (`linear`).
    pub epsilon_episodes: u32,
    /// Ties among greedy values while exploring: `random` (seeded) or `first`.
    pub tie_break: TieBreakKind,
    /// Reward shaping: a step that terminates with reward 0 (a FrozenLake hole) is learned as
    /// `-hole_penalty` (0: off).
    pub hole_penalty: f64,
    /// `sarsa` only: Expected SARSA (bootstrap from the ε-greedy expectation).
    pub expected: bool,
}

impl Default for TabularConfig {
    fn default() -> Self {
        Self {
            gamma: 0.95,
            learning_rate: 0.8,
            learning_rate_schedule: ScheduleKind::Constant,
            learning_rate_end: 0.01,
            learning_rate_decay: 1.0,
            learning_rate_episodes: 0,
            epsilon: 1.0,
            epsilon_schedule: ScheduleKind::Exponential,
            epsilon_end: 0.01,
            epsilon_decay: 0.995,
            epsilon_episodes: 0,
            tie_break: TieBreakKind::Random,
            hole_penalty: 0.0,
            expected: false,
        }
    }
}

fn schedule(kind: ScheduleKind, start: f64, end: f64, decay: f64, episodes: u32) -> Schedule {
    let (start, end, decay) = (start as f32, end as f32, decay as f32);
    match kind {
        ScheduleKind::Constant => Schedule::Constant(start),
        ScheduleKind::Exponential => Schedule::Exponential {
            start,
            decay,
            min: end,
        },
        ScheduleKind::Linear => Schedule::Linear {
            start,
            end,
            episodes,
        },
    }
}

impl TabularConfig {
    /// Core's hyper-parameters for the update rule `rule` (Q-learning or SARSA).
    pub fn hyper(&self, rule: Rule) -> Result<Hyper> {
        let rule = match (rule, self.expected) {
            (Rule::Sarsa, true) => Rule::ExpectedSarsa,
            (_, true) => bail!("`expected` (Expected SARSA) is an option of sarsa only"),
            (rule, false) => rule,
        };
        let c = self;
        let hyper = Hyper {
            rule,
            learning_rate: schedule(
                c.learning_rate_schedule,
                c.learning_rate,
                c.learning_rate_end,
                c.learning_rate_decay,
                c.learning_rate_episodes,
            ),
            gamma: c.gamma as f32,
            epsilon: schedule(
                c.epsilon_schedule,
                c.epsilon,
                c.epsilon_end,
                c.epsilon_decay,
                c.epsilon_episodes,
            ),
            tie_break: match c.tie_break {
                TieBreakKind::Random => TieBreak::Random,
                TieBreakKind::First => TieBreak::First,
            },
            hole_penalty: c.hole_penalty as f32,
        };
        hyper.validate().map_err(|e| anyhow!("{e}"))?;
        Ok(hyper)
    }
}

/// SplitMix64's finalizer: decorrelates the seeds derived from `(run seed, episode)`.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The reset seed of training episode `episode` and the seed of the learner's draws in it.
pub fn episode_seeds(seed: u64, episode: u64) -> (u64, u64) {
    let base = splitmix64(seed) ^ splitmix64(episode.wrapping_mul(2));
    (splitmix64(base), splitmix64(base ^ 1))
}

/// An `f32` as the `f64` whose shortest text is the `f32`'s (`0.01`, not `0.009999999776482582`),
/// for the CSV logs, which print `f64`.
fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// A tabular learner: `Tabular<false>` is `qlearning`, `Tabular<true>` is `sarsa`.
#[derive(Debug)]
pub struct Tabular<const SARSA: bool> {
    learner: Learner,
    q: QView<Vec<f32>>,
    env: AnyEnv,
    seed: u64,
    /// Episodes started by this run (may exceed core's `u32` episode count).
    episodes: u64,
}

/// `qlearning`.
pub type QLearning = Tabular<false>;
/// `sarsa`.
pub type Sarsa = Tabular<true>;

impl<const SARSA: bool> Tabular<SARSA> {
    /// The Q-table.
    pub fn table(&self) -> &QView<Vec<f32>> {
        &self.q
    }

    /// The learner (its hyper-parameters and schedules).
    pub fn learner(&self) -> &Learner {
        &self.learner
    }

    /// The greedy action of every state.
    pub fn greedy_policy(&self) -> Result<Vec<u32>> {
        let mut policy = vec![0u32; self.q.n_states() as usize];
        self.q
            .greedy_policy(&mut policy)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(policy)
    }

    /// The greedy policy's exact expected return within the environment's time limit (on
    /// FrozenLake: its probability of success), the optimum from value iteration, and the
    /// horizon they are computed over.
    pub fn versus_optimum(&self) -> Result<(f64, f64, u32)> {
        let env = self
            .env
            .as_tabular()
            .ok_or_else(|| anyhow!("not a toy-text environment"))?;
        let horizon = self.env.spec().time_limit().unwrap_or(UNLIMITED_HORIZON);
        let n = self.q.n_states() as usize;
        let (mut value, mut scratch, mut best) = (vec![0.0; n], vec![0.0; n], vec![0u32; n]);
        let policy = self.greedy_policy()?;
        let learned = tabular::evaluate_policy(env, &policy, horizon, &mut value, &mut scratch)
            .map_err(|e| anyhow!("{e}"))?;
        let optimum = tabular::plan(env, horizon, &mut value, &mut scratch, &mut best)
            .map_err(|e| anyhow!("{e}"))?;
        Ok((learned, optimum.expected_return, horizon))
    }
}

impl<const SARSA: bool> Actor for Tabular<SARSA> {
    fn act(&mut self, obs: &[f32]) -> Result<OwnedAction> {
        let s = tabular::discrete_state(obs).map_err(|e| anyhow!("observation {obs:?}: {e}"))?;
        Ok(OwnedAction::Discrete(
            self.q.greedy(s).map_err(|e| anyhow!("{e}"))?,
        ))
    }
}

impl<const SARSA: bool> Algorithm for Tabular<SARSA> {
    const NAME: &'static str = if SARSA { "sarsa" } else { "qlearning" };
    const CONFIG: &'static str = if SARSA {
        include_str!("../../configs/sarsa.toml")
    } else {
        include_str!("../../configs/qlearning.toml")
    };
    type Hyper = TabularConfig;

    fn new(setup: &Setup, cfg: TabularConfig) -> Result<Self> {
        let rule = if SARSA { Rule::Sarsa } else { Rule::QLearning };
        let hyper = cfg.hyper(rule)?;
        let learner = Learner::new(hyper).map_err(|e| anyhow!("{e}"))?;
        let env = crate::envs::make_any(&setup.run.env, &setup.run.env_kwargs)?;
        let Some(t) = env.as_tabular() else {
            bail!(
                "{} learns tables: {} has no discrete states (use a toy-text environment)",
                Self::NAME,
                setup.run.env
            );
        };
        let (n_states, n_actions) = (t.n_states() as usize, t.n_actions() as usize);
        let q = QView::new(vec![0.0f32; n_states * n_actions], n_actions)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(Self {
            learner,
            q,
            env,
            seed: setup.run.seed,
            episodes: 0,
        })
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &[
            "return",
            "length",
            "epsilon",
            "learning_rate",
            "td_error_abs",
        ]
    }

    fn train_iter(&mut self, ctx: &mut TrainCtx) -> Result<()> {
        let (env_seed, draw_seed) = episode_seeds(self.seed, self.episodes);
        let mut rng = rng::seeded(draw_seed);
        let id = self.env.spec().id;
        // Episodes with a time limit always run to their end, so that a run resumed from its
        // checkpoint continues exactly where the uninterrupted run would be; the budget ending
        // inside an episode that has no time limit stops it, and it is not counted.
        let unlimited = self.env.spec().time_limit().is_none();
        let (eps, lr) = (self.learner.epsilon(), self.learner.learning_rate());
        let mut td_sum = 0.0f64;
        let end = tabular::run_episode(
            &mut self.env,
            Some(env_seed),
            &mut self.learner,
            &mut self.q,
            &mut rng,
            |step| {
                ctx.count_step();
                td_sum += f64::from(step.learned.td_error.abs());
                if unlimited && ctx.steps >= ctx.total_steps {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .map_err(|e| match e {
            EpisodeError::Reset(e) => anyhow::Error::new(e).context(format!("resetting {id}")),
            EpisodeError::Step { step, error } => anyhow::Error::new(error)
                .context(format!("{id}: episode {}, step {step}", self.episodes)),
            EpisodeError::Act(e) => anyhow!("{e}"),
            EpisodeError::Observation(e) | EpisodeError::Learn(e) => anyhow!("{id}: {e}"),
        })?;
        if !end.finished {
            return Ok(());
        }
        let (ret, len) = (end.reward_sum, end.length);
        let td_abs = td_sum / f64::from(len);
        self.episodes += 1;
        ctx.episode(ret, len)?;
        ctx.log_mean("td_error_abs", td_abs)?;
        ctx.log_mean("return", ret)?;
        ctx.log_mean("length", f64::from(len))?;
        ctx.log_value("epsilon", shortest(eps))?;
        ctx.log_value("learning_rate", shortest(lr))
    }

    fn save(&self, path: &Path) -> Result<()> {
        state::save_weights(self, path)
    }

    fn load(&mut self, path: &Path) -> Result<()> {
        state::load_weights(self, path)
    }

    fn export(&self) -> Result<PolicyExport> {
        Ok(PolicyExport {
            layers: Vec::new(),
            activation: Activation::Relu,
            head: HeadExport::Tabular {
                actions: self.greedy_policy()?,
                n_actions: self.q.n_actions(),
            },
            obs_norm: None,
        })
    }

    fn finish(&mut self, _setup: &Setup) -> Result<()> {
        let (learned, optimum, horizon) = self.versus_optimum()?;
        let spec = self.env.spec();
        let what = if spec.id.starts_with("FrozenLake") {
            "success probability"
        } else {
            "expected return"
        };
        let within = match spec.time_limit() {
            Some(h) => format!("within the time limit of {h} steps"),
            None => format!("within {horizon} steps (no time limit)"),
        };
        let share = if optimum > 0.0 {
            format!(" ({:.2}% of it)", 100.0 * learned / optimum)
        } else {
            String::new()
        };
        eprintln!(
            "{} on {}: greedy policy's {what} {within}: {learned:.6}{share}; optimum by value iteration: {optimum:.6}",
            Self::NAME,
            spec.id
        );
        Ok(())
    }
}

// The whole learner is its weights file: the Q-table as a `[states, actions]` f32 tensor, the
// episodes started, and ε and α where the schedules stand (read after the episodes).
crate::learner_state! {
    impl[const SARSA: bool] for Tabular<SARSA>, named Self::NAME;
    tensor "q" => |t| {
        Tensor::from_slice(t.q.values())
            .reshape([i64::from(t.q.n_states()), i64::from(t.q.n_actions())])
    }, |t, q| {
        let want = [i64::from(t.q.n_states()), i64::from(t.q.n_actions())];
        ensure!(
            q.size() == want && q.kind() == Kind::Float,
            "`q` is {:?} {:?}, expected {want:?} Float for {}",
            q.size(),
            q.kind(),
            t.env.spec().id
        );
        let values = Vec::<f32>::try_from(q.flatten(0, -1))?;
        t.q.values_mut().copy_from_slice(&values);
        Ok(())
    },
    tensor "episodes" => |t| Tensor::from_slice(&[t.episodes as i64]), |t, e| {
        let &[episodes] = Vec::<i64>::try_from(e.to_kind(Kind::Int64))?.as_slice() else {
            bail!("`episodes` has the wrong length");
        };
        ensure!(episodes >= 0, "negative episode count");
        t.episodes = episodes as u64;
        Ok(())
    },
    tensor "schedule" => |t| {
        let p = t.learner.progress();
        Tensor::from_slice(&[p.epsilon, p.learning_rate])
    }, |t, s| {
        let &[epsilon, learning_rate] = Vec::<f32>::try_from(s.to_kind(Kind::Float))?.as_slice()
        else {
            bail!("`schedule` has the wrong length");
        };
        let progress = Progress {
            episodes: u32::try_from(t.episodes).unwrap_or(u32::MAX),
            epsilon,
            learning_rate,
        };
        t.learner.set_progress(progress).map_err(|e| anyhow!("{e}"))
    },
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::train::config::{self, ResolvedConfig, RunOptions, Source};

    #[test]
    fn episode_seeds_differ() {
        let a = episode_seeds(0, 0);
        assert_ne!(a.0, a.1);
        assert_ne!(a, episode_seeds(0, 1));
        assert_ne!(a, episode_seeds(1, 0));
        assert_eq!(a, episode_seeds(0, 0));
    }

    #[test]
    fn config_maps_to_core() {
        let c = TabularConfig::default();
        assert_eq!(c.hyper(Rule::QLearning).unwrap(), Hyper::SEED);
        let e = TabularConfig {
            expected: true,
            ..c.clone()
        };
        assert_eq!(e.hyper(Rule::Sarsa).unwrap().rule, Rule::ExpectedSarsa);
        assert!(e.hyper(Rule::QLearning).is_err());
        let bad = TabularConfig { gamma: 1.5, ..c };
        assert!(bad
            .hyper(Rule::QLearning)
            .unwrap_err()
            .to_string()
            .contains("gamma"));
        assert_eq!(shortest(0.01), 0.01);
    }

    /// The built-in config of `A` for `env`, with `kwargs` and `--set` overrides, as `picorl train`
    /// resolves it (seed 0, CPU, evaluation only at the end).
    fn builtin<A: Algorithm>(env: &str, kwargs: &[(&str, &str)], sets: &[&str]) -> ResolvedConfig {
        let src = Source::BuiltIn("test".into());
        let mut section = config::section::<A::Hyper>(A::CONFIG, &src, env).unwrap();
        for s in sets {
            config::apply_set::<A::Hyper>(&mut section, s).unwrap();
        }
        let (_, hyper, run) = config::resolve::<A::Hyper>(section, &src).unwrap();
        let env_kwargs: BTreeMap<String, String> = kwargs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let total_steps = config::run_key(&run, "total_steps", &src).unwrap().unwrap();
        ResolvedConfig {
            run: RunOptions {
                env_kwargs,
                ..RunOptions::for_tests(A::NAME, env, total_steps)
            },
            hyper,
        }
    }

    fn fresh_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("picorl-tabular-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn trained<const SARSA: bool>(
        name: &str,
        env: &str,
        kwargs: &[(&str, &str)],
    ) -> (Tabular<SARSA>, serde_json::Value) {
        let cfg = builtin::<Tabular<SARSA>>(env, kwargs, &[]);
        let dir = fresh_dir(name);
        let outcome = crate::train::run::<Tabular<SARSA>>(&cfg, &dir, false, true).unwrap();
        let (agent, _) = crate::train::load_run::<Tabular<SARSA>>(&dir, &cfg).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        (agent, outcome.summary)
    }

    /// The learned greedy policy's mean return over 10,000 evaluation episodes (seeds 10000, …)
    /// as a fraction of the optimum within the time limit, printed with the training cost.
    fn share_of_optimum<const SARSA: bool>(name: &str, env: &str, kwargs: &[(&str, &str)]) -> f64 {
        let (mut agent, summary) = trained::<SARSA>(name, env, kwargs);
        let map: BTreeMap<String, String> = kwargs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut e = crate::envs::make(env, &map).unwrap();
        let res = crate::envs::eval::evaluate(e.as_mut(), &mut agent, 10_000, 10_000).unwrap();
        let (exact, optimum, _) = agent.versus_optimum().unwrap();
        let share = res.mean() / optimum;
        eprintln!(
            "{name}: {} episodes, {} steps, {:.3} s of training; mean return over 10,000 episodes {:.4} \
             (exact {exact:.4}), optimum {optimum:.4}: {:.2}%",
            agent.episodes,
            summary["total_steps"],
            summary["train_seconds"].as_f64().unwrap_or(f64::NAN),
            res.mean(),
            100.0 * share
        );
        share
    }

    #[test]
    fn qlearning_frozen_lake_4x4_slippery() {
        assert!(share_of_optimum::<false>("q4s", "FrozenLake-v1", &[]) >= 0.97);
    }

    #[test]
    fn qlearning_frozen_lake_8x8_slippery() {
        assert!(share_of_optimum::<false>("q8s", "FrozenLake8x8-v1", &[]) >= 0.90);
    }

    #[test]
    fn qlearning_frozen_lake_not_slippery() {
        assert_eq!(
            share_of_optimum::<false>("q4", "FrozenLake-v1", &[("is_slippery", "false")]),
            1.0
        );
        assert_eq!(
            share_of_optimum::<false>("q8", "FrozenLake8x8-v1", &[("is_slippery", "false")]),
            1.0
        );
    }

    #[test]
    fn sarsa_frozen_lake() {
        assert!(share_of_optimum::<true>("s4s", "FrozenLake-v1", &[]) >= 0.97);
        assert!(share_of_optimum::<true>("s8s", "FrozenLake8x8-v1", &[]) >= 0.90);
        assert_eq!(
            share_of_optimum::<true>("s4", "FrozenLake-v1", &[("is_slippery", "false")]),
            1.0
        );
    }

    #[test]
    fn taxi_and_the_cliff() {
        assert!(share_of_optimum::<false>("qtaxi", "Taxi-v4", &[]) >= 0.97);
        // Sutton & Barto's example 6.6: Q-learning walks along the cliff (13 steps), SARSA
        // learns the safe path (17 steps).
        let (q, _) = trained::<false>("qcliff", "CliffWalking-v1", &[]);
        assert_eq!(
            q.versus_optimum().unwrap(),
            (-13.0, -13.0, UNLIMITED_HORIZON)
        );
        let (s, _) = trained::<true>("scliff", "CliffWalking-v1", &[]);
        assert_eq!(s.versus_optimum().unwrap().0, -17.0);
    }

    #[test]
    fn same_seed_same_run_and_exact_resume() {
        let cfg = builtin::<QLearning>("FrozenLake-v1", &[], &["total_steps=30000"]);
        let whole = fresh_dir("whole");
        crate::train::run::<QLearning>(&cfg, &whole, false, true).unwrap();
        let again = fresh_dir("again");
        crate::train::run::<QLearning>(&cfg, &again, false, true).unwrap();
        let read = |d: &PathBuf, f: &str| std::fs::read(d.join(f)).unwrap();
        // The checkpoints' learner tensors (the loop's state beside them holds the wall clock).
        let same_checkpoint = |a: &PathBuf, b: &PathBuf| {
            let t = |d: &PathBuf| {
                crate::train::learner_tensors(&d.join("checkpoint.safetensors")).unwrap()
            };
            let (a, b) = (t(a), t(b));
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|((n, x), (m, y))| n == m && x.equal(y))
        };
        assert!(same_checkpoint(&whole, &again));
        assert_eq!(read(&whole, "episodes.csv"), read(&again, "episodes.csv"));
        // Half the budget, then resumed to the whole: the same table and the same episodes.
        let mut half = cfg.clone();
        half.run.total_steps = 15_000;
        let split = fresh_dir("split");
        crate::train::run::<QLearning>(&half, &split, false, true).unwrap();
        std::fs::write(split.join("config.toml"), cfg.to_toml().unwrap()).unwrap();
        crate::train::run::<QLearning>(&cfg, &split, true, true).unwrap();
        assert!(same_checkpoint(&whole, &split));
        assert_eq!(read(&whole, "episodes.csv"), read(&split, "episodes.csv"));
        for d in [whole, again, split] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
