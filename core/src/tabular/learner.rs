//! The ε-greedy learner: the update rules ([`Rule`]), the schedules of ε and α ([`Schedule`]),
//! the tie-break ([`TieBreak`]), the hyper-parameters ([`Hyper`]), and [`Learner`], which acts
//! and learns on a [`QView`] with the caller's generator.

use rand_core::RngCore;

use super::table::first_max;
use super::{QView, TabularError};
use crate::rng;

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Q-learning (Watkins 1989): bootstrap from `max_a Q(s′, a)`.
    QLearning,
    /// SARSA (Rummery & Niranjan 1994): bootstrap from `Q(s′, a′)`, `a′` the next action taken.
    Sarsa,
    /// Expected SARSA (van Seijen et al. 2009): bootstrap from the expectation of `Q(s′, ·)`
    /// under the ε-greedy policy, `ε·mean + (1 − ε)·max`.
    ExpectedSarsa,
}

/// How a rate (the exploration rate ε, the learning rate α) changes, once per episode
/// ([`Learner::end_episode`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The same value in every episode.
    Constant(f32),
    /// The seed's schedule: `v ← max(min, v·decay)` after each episode, from `start`.
    Exponential {
        /// The value in the first episode.
        start: f32,
        /// The factor applied after each episode, in `(0, 1]`.
        decay: f32,
        /// The floor.
        min: f32,
    },
    /// `v = start + (end − start)·min(1, k / episodes)` in episode `k` (from 0).
    Linear {
        /// The value in the first episode.
        start: f32,
        /// The value from episode `episodes` on.
        end: f32,
        /// Episodes of the change (0: `end` from the second episode).
        episodes: u32,
    },
}

impl Schedule {
    /// The seed's exploration: ε 1.0, decayed by 0.995 per episode to a floor of 0.01.
    pub const SEED_EPSILON: Schedule = Schedule::Exponential {
        start: 1.0,
        decay: 0.995,
        min: 0.01,
    };

    /// The value in the first episode.
    pub const fn start(&self) -> f32 {
        match *self {
            Schedule::Constant(start)
            | Schedule::Exponential { start, .. }
            | Schedule::Linear { start, .. } => start,
        }
    }

    /// The value after `episodes` episodes, given the value `current` of the last one.
    fn next(&self, current: f32, episodes: u32) -> f32 {
        match *self {
            Schedule::Constant(v) => v,
            Schedule::Exponential { decay, min, .. } => (current * decay).max(min),
            Schedule::Linear {
                start,
                end,
                episodes: span,
            } => {
                if episodes >= span {
                    end
                } else {
                    start + (end - start) * (episodes as f32 / span as f32)
                }
            }
        }
    }

    /// Checks that every value the schedule takes lies in `[0, 1]` (`(0, 1]` with `positive`)
    /// and that a decay lies in `(0, 1]`.
    const fn validate(&self, field: Field, positive: bool) -> Result<(), TabularError> {
        const fn rate(v: f32, positive: bool) -> bool {
            (v > 0.0 || (!positive && v == 0.0)) && v <= 1.0
        }
        let (values_ok, decay_ok) = match *self {
            Schedule::Constant(v) => (rate(v, positive), true),
            Schedule::Exponential { start, decay, min } => (
                rate(start, positive) && rate(min, positive),
                decay > 0.0 && decay <= 1.0,
            ),
            Schedule::Linear { start, end, .. } => {
                (rate(start, positive) && rate(end, positive), true)
            }
        };
        if !values_ok {
            return Err(TabularError::BadHyper {
                field: field.name,
                expected: if positive {
                    "values in (0, 1]"
                } else {
                    "values in [0, 1]"
                },
            });
        }
        if !decay_ok {
            return Err(TabularError::BadHyper {
                field: field.decay,
                expected: "a decay in (0, 1]",
            });
        }
        Ok(())
    }
}

/// Field names for the errors of [`Schedule::validate`].
#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    decay: &'static str,
}

/// How exploration chooses among equal greedy values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    /// Uniformly at random among the maxima (one draw when there is more than one).
    Random,
    /// The lowest index, as the learned policy acts.
    First,
}

/// A learner's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// The update rule.
    pub rule: Rule,
    /// Step size α, every value in `(0, 1]`.
    pub learning_rate: Schedule,
    /// Discount γ, in `[0, 1]`.
    pub gamma: f32,
    /// The exploration rate ε, every value in `[0, 1]`.
    pub epsilon: Schedule,
    /// Tie-breaking while exploring.
    pub tie_break: TieBreak,
    /// The seed's reward shaping: a step that terminates with reward exactly 0 (FrozenLake's
    /// holes) is learned as reward `−hole_penalty`. 0 turns it off; non-negative and finite.
    pub hole_penalty: f32,
}

impl Hyper {
    /// The seed's Q-learning on FrozenLake: α 0.8, γ 0.95, ε 1.0 decayed by 0.995 per episode to
    /// 0.01, no shaping.
    pub const SEED: Hyper = Hyper {
        rule: Rule::QLearning,
        learning_rate: Schedule::Constant(0.8),
        gamma: 0.95,
        epsilon: Schedule::SEED_EPSILON,
        tie_break: TieBreak::Random,
        hole_penalty: 0.0,
    };

    /// Checks every field's range.
    pub const fn validate(&self) -> Result<(), TabularError> {
        let lr = Field {
            name: "learning_rate",
            decay: "learning_rate.decay",
        };
        if let Err(e) = self.learning_rate.validate(lr, true) {
            return Err(e);
        }
        let eps = Field {
            name: "epsilon",
            decay: "epsilon.decay",
        };
        if let Err(e) = self.epsilon.validate(eps, false) {
            return Err(e);
        }
        if !(self.gamma >= 0.0 && self.gamma <= 1.0) {
            return Err(TabularError::BadHyper {
                field: "gamma",
                expected: "a number in [0, 1]",
            });
        }
        if !(self.hole_penalty >= 0.0 && self.hole_penalty < f32::INFINITY) {
            return Err(TabularError::BadHyper {
                field: "hole_penalty",
                expected: "a finite number >= 0",
            });
        }
        Ok(())
    }
}

/// One step of experience: `(s, a, r, s′, terminated)`.
///
/// A truncated step (the time limit) is not terminal: learning bootstraps from `s′`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Experience {
    /// The state acted in.
    pub state: u32,
    /// The action taken.
    pub action: u32,
    /// The reward (the environment's `f64` rounded to `f32`).
    pub reward: f32,
    /// The next state.
    pub next_state: u32,
    /// Whether `next_state` is terminal (Gymnasium's `terminated`).
    pub terminated: bool,
}

impl Experience {
    /// A step of experience.
    pub const fn new(
        state: u32,
        action: u32,
        reward: f32,
        next_state: u32,
        terminated: bool,
    ) -> Self {
        Self {
            state,
            action,
            reward,
            next_state,
            terminated,
        }
    }
}

/// What [`Learner::learn`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learned {
    /// The temporal-difference error `target − Q(s, a)` before the update.
    pub td_error: f32,
    /// The ε-greedy action for `next_state`, to take next if the episode goes on (for SARSA it
    /// is the action the update bootstrapped from). 0, with no draw, after a terminal step.
    pub next_action: u32,
}

/// Where a learner stands in its schedules (what a checkpoint saves besides the table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Episodes finished.
    pub episodes: u32,
    /// The exploration rate ε of the current episode.
    pub epsilon: f32,
    /// The learning rate α of the current episode.
    pub learning_rate: f32,
}

/// An ε-greedy tabular learner: the hyper-parameters and the schedules' state. It holds no
/// table and no generator: it acts and learns on the caller's [`QView`] with the caller's seeded
/// generator, so all three can live in `static`s or on a small stack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learner {
    hyper: Hyper,
    progress: Progress,
}

impl Learner {
    /// A learner at its first episode; an error names a hyper-parameter out of range.
    pub const fn new(hyper: Hyper) -> Result<Self, TabularError> {
        if let Err(e) = hyper.validate() {
            return Err(e);
        }
        Ok(Self {
            hyper,
            progress: Progress {
                episodes: 0,
                epsilon: hyper.epsilon.start(),
                learning_rate: hyper.learning_rate.start(),
            },
        })
    }

    /// The hyper-parameters.
    pub const fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// The exploration rate ε of the current episode.
    pub const fn epsilon(&self) -> f32 {
        self.progress.epsilon
    }

    /// The learning rate α of the current episode.
    pub const fn learning_rate(&self) -> f32 {
        self.progress.learning_rate
    }

    /// Episodes finished, and the current ε and α.
    pub const fn progress(&self) -> Progress {
        self.progress
    }

    /// Continues from a saved [`Progress`]; an error for an ε outside `[0, 1]` or an α outside
    /// `(0, 1]`.
    pub fn set_progress(&mut self, progress: Progress) -> Result<(), TabularError> {
        if !(0.0..=1.0).contains(&progress.epsilon) {
            return Err(TabularError::BadHyper {
                field: "epsilon",
                expected: "a number in [0, 1]",
            });
        }
        if !(progress.learning_rate > 0.0 && progress.learning_rate <= 1.0) {
            return Err(TabularError::BadHyper {
                field: "learning_rate",
                expected: "a number in (0, 1]",
            });
        }
        self.progress = progress;
        Ok(())
    }

    /// Ends an episode: counts it and moves ε and α along their schedules.
    pub fn end_episode(&mut self) {
        let p = &mut self.progress;
        p.episodes = p.episodes.saturating_add(1);
        p.epsilon = self.hyper.epsilon.next(p.epsilon, p.episodes);
        p.learning_rate = self.hyper.learning_rate.next(p.learning_rate, p.episodes);
    }

    /// The ε-greedy action in `state`.
    ///
    /// Draws, in order: one uniform `f32` ([`rng::unit_f32`]); below ε, one uniform action
    /// ([`rng::below`]); otherwise, with [`TieBreak::Random`] and more than one maximum, one
    /// index among the maxima.
    pub fn act<T: AsRef<[f32]>, R: RngCore + ?Sized>(
        &self,
        q: &QView<T>,
        state: u32,
        rng: &mut R,
    ) -> Result<u32, TabularError> {
        let row = q.row(state)?;
        if rng::unit_f32(rng) < self.progress.epsilon {
            return Ok(rng::below(rng, q.n_actions()));
        }
        let (first, best) = first_max(row);
        if self.hyper.tie_break == TieBreak::First {
            return Ok(first);
        }
        let ties = row.iter().filter(|&&v| v == best).count() as u32;
        if ties <= 1 {
            return Ok(first);
        }
        let mut k = rng::below(rng, ties);
        for (i, &v) in row.iter().enumerate() {
            if v == best {
                if k == 0 {
                    return Ok(i as u32);
                }
                k -= 1;
            }
        }
        Ok(first)
    }

    /// Learns from one step and picks the next action.
    ///
    /// Checks the step first (states and action in range, a finite reward) and changes nothing
    /// when it is refused. Then, by [`Rule`]: Q-learning and Expected SARSA update `Q(s, a)` and
    /// draw the next action with [`Learner::act`]; SARSA draws the next action first and
    /// bootstraps from it. After a terminal step nothing is drawn.
    pub fn learn<T, R>(
        &self,
        q: &mut QView<T>,
        exp: &Experience,
        rng: &mut R,
    ) -> Result<Learned, TabularError>
    where
        T: AsRef<[f32]> + AsMut<[f32]>,
        R: RngCore + ?Sized,
    {
        let current = q.get(exp.state, exp.action)?;
        let next_row = q.row(exp.next_state)?;
        if !exp.reward.is_finite() {
            return Err(TabularError::NonFiniteReward);
        }
        let h = &self.hyper;
        let reward = if exp.terminated && exp.reward == 0.0 && h.hole_penalty > 0.0 {
            -h.hole_penalty
        } else {
            exp.reward
        };
        let (bootstrap, sarsa_next) = if exp.terminated {
            (0.0, None)
        } else {
            match h.rule {
                Rule::QLearning => (first_max(next_row).1, None),
                Rule::ExpectedSarsa => {
                    let eps = self.progress.epsilon;
                    let mean = next_row.iter().sum::<f32>() / next_row.len() as f32;
                    (eps * mean + (1.0 - eps) * first_max(next_row).1, None)
                }
                Rule::Sarsa => {
                    let a = self.act(q, exp.next_state, rng)?;
                    (q.get(exp.next_state, a)?, Some(a))
                }
            }
        };
        let td_error = reward + h.gamma * bootstrap - current;
        q.set(
            exp.state,
            exp.action,
            current + self.progress.learning_rate * td_error,
        )?;
        let next_action = match sarsa_next {
            Some(a) => a,
            None if exp.terminated => 0,
            None => self.act(q, exp.next_state, rng)?,
        };
        Ok(Learned {
            td_error,
            next_action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tabular::{discrete_state, QTable};

    fn learner(rule: Rule) -> Learner {
        match Learner::new(Hyper {
            rule,
            learning_rate: Schedule::Constant(0.5),
            gamma: 0.9,
            ..Hyper::SEED
        }) {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn updates_by_hand() {
        // Q(0, ·) = [0, 0], Q(1, ·) = [2, 4]; step (0, 1, r=1, s'=1); α 0.5, γ 0.9, ε 1.
        let mut data = [0.0f32, 0.0, 2.0, 4.0];
        let exp = Experience::new(0, 1, 1.0, 1, false);
        // Q-learning: target 1 + 0.9·4 = 4.6; TD 4.6; Q(0,1) = 0 + 0.5·4.6 = 2.3.
        let mut q = QView::new(&mut data[..], 2).unwrap();
        let l = learner(Rule::QLearning);
        let out = l.learn(&mut q, &exp, &mut rng::seeded(0)).unwrap();
        assert_eq!(out.td_error, 4.6);
        assert_eq!(q.get(0, 1).unwrap(), 2.3);
        // Expected SARSA with ε = 1: target 1 + 0.9·mean(2, 4) = 3.7; Q(0,1) = 2.3 + 0.5·1.4.
        let l = learner(Rule::ExpectedSarsa);
        let out = l.learn(&mut q, &exp, &mut rng::seeded(0)).unwrap();
        assert!((out.td_error - 1.4).abs() < 1e-6);
        assert!((q.get(0, 1).unwrap() - 3.0).abs() < 1e-6);
        // Terminal: no bootstrap, nothing drawn. target 1; TD 1 − 3 = −2; Q = 3 − 1 = 2.
        let mut r = rng::seeded(5);
        let before = r.clone();
        let out = l
            .learn(&mut q, &Experience::new(0, 1, 1.0, 1, true), &mut r)
            .unwrap();
        assert!((out.td_error + 2.0).abs() < 1e-6);
        assert_eq!(out.next_action, 0);
        assert_eq!(r, before);
    }

    #[test]
    fn sarsa_bootstraps_from_the_action_it_returns() {
        for seed in 0..20 {
            let mut data = [0.0f32, 0.0, 1.0, 3.0];
            let mut q = QView::new(&mut data[..], 2).unwrap();
            let l = learner(Rule::Sarsa);
            let out = l
                .learn(
                    &mut q,
                    &Experience::new(0, 0, 0.0, 1, false),
                    &mut rng::seeded(seed),
                )
                .unwrap();
            let bootstrapped = [1.0f32, 3.0][out.next_action as usize];
            assert_eq!(out.td_error, 0.9 * bootstrapped);
        }
    }

    #[test]
    fn hole_penalty_shapes_only_zero_reward_terminations() {
        let mut l = learner(Rule::QLearning);
        l.hyper.hole_penalty = 1.0;
        let mut table = QTable::<2, 1>::new();
        let mut q = table.view_mut();
        let mut r = rng::seeded(0);
        let hole = l.learn(&mut q, &Experience::new(0, 0, 0.0, 1, true), &mut r);
        assert_eq!(hole.unwrap().td_error, -1.0);
        let goal = l.learn(&mut q, &Experience::new(1, 0, 1.0, 1, true), &mut r);
        assert_eq!(goal.unwrap().td_error, 1.0);
        let going_on = l.learn(&mut q, &Experience::new(1, 0, 0.0, 1, false), &mut r);
        assert_eq!(going_on.unwrap().td_error, 0.9 * 0.5 - 0.5);
    }

    #[test]
    fn bad_input_is_an_error_and_changes_nothing() {
        let mut table = QTable::<3, 2>::filled(1.0);
        let l = learner(Rule::Sarsa);
        let mut r = rng::seeded(0);
        let mut q = table.view_mut();
        let cases = [
            (
                Experience::new(3, 0, 0.0, 0, false),
                TabularError::StateOutOfRange {
                    state: 3,
                    n_states: 3,
                },
            ),
            (
                Experience::new(0, 0, 0.0, 7, false),
                TabularError::StateOutOfRange {
                    state: 7,
                    n_states: 3,
                },
            ),
            (
                Experience::new(0, 2, 0.0, 0, false),
                TabularError::ActionOutOfRange {
                    action: 2,
                    n_actions: 2,
                },
            ),
            (
                Experience::new(0, 0, f32::NAN, 0, false),
                TabularError::NonFiniteReward,
            ),
        ];
        for (exp, err) in cases {
            assert_eq!(l.learn(&mut q, &exp, &mut r), Err(err));
        }
        assert_eq!(
            l.act(&q, 9, &mut r).unwrap_err().to_string(),
            "state 9 is out of range 0..3"
        );
        assert_eq!(table, QTable::<3, 2>::filled(1.0));
        assert!(QView::new(&[0.0f32; 5][..], 2).is_err());
        assert!(QView::new(&[0.0f32; 0][..], 1).is_err());
        assert!(QView::new(&[0.0f32; 4][..], 0).is_err());
        for obs in [
            &[-1.0f32][..],
            &[0.5],
            &[f32::NAN],
            &[f32::INFINITY],
            &[],
            &[1.0, 2.0],
        ] {
            assert_eq!(discrete_state(obs), Err(TabularError::BadObservation));
        }
        assert_eq!(discrete_state(&[15.0]), Ok(15));
    }

    #[test]
    fn bad_hyper_parameters_are_named() {
        let bad = [
            (
                Hyper {
                    learning_rate: Schedule::Constant(0.0),
                    ..Hyper::SEED
                },
                "learning_rate",
            ),
            (
                Hyper {
                    learning_rate: Schedule::Constant(f32::NAN),
                    ..Hyper::SEED
                },
                "learning_rate",
            ),
            (
                Hyper {
                    gamma: 1.5,
                    ..Hyper::SEED
                },
                "gamma",
            ),
            (
                Hyper {
                    hole_penalty: -1.0,
                    ..Hyper::SEED
                },
                "hole_penalty",
            ),
            (
                Hyper {
                    hole_penalty: f32::INFINITY,
                    ..Hyper::SEED
                },
                "hole_penalty",
            ),
            (
                Hyper {
                    epsilon: Schedule::Exponential {
                        start: 1.0,
                        decay: 0.0,
                        min: 0.0,
                    },
                    ..Hyper::SEED
                },
                "epsilon.decay",
            ),
            (
                Hyper {
                    learning_rate: Schedule::Linear {
                        start: 0.5,
                        end: 0.0,
                        episodes: 3,
                    },
                    ..Hyper::SEED
                },
                "learning_rate",
            ),
            (
                Hyper {
                    epsilon: Schedule::Linear {
                        start: 1.0,
                        end: -0.1,
                        episodes: 3,
                    },
                    ..Hyper::SEED
                },
                "epsilon",
            ),
        ];
        for (h, field) in bad {
            match Learner::new(h) {
                Err(TabularError::BadHyper { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn epsilon_schedules_per_episode() {
        let mut l = Learner::new(Hyper::SEED).unwrap();
        assert_eq!(l.epsilon(), 1.0);
        l.end_episode();
        assert_eq!(l.epsilon(), 0.995);
        for _ in 0..2000 {
            l.end_episode();
        }
        // 0.995^919 ≈ 0.01: the floor is reached after about 920 episodes.
        assert_eq!(l.epsilon(), 0.01);
        assert_eq!(l.progress().episodes, 2001);
        let mut l = Learner::new(Hyper {
            epsilon: Schedule::Linear {
                start: 1.0,
                end: 0.2,
                episodes: 4,
            },
            ..Hyper::SEED
        })
        .unwrap();
        let mut seen = [0.0f32; 6];
        for e in &mut seen {
            *e = l.epsilon();
            l.end_episode();
        }
        assert_eq!(seen, [1.0, 0.8, 0.6, 0.39999998, 0.2, 0.2]);
    }

    #[test]
    fn ties_random_while_exploring_lowest_when_greedy() {
        let mut l = Learner::new(Hyper {
            epsilon: Schedule::Linear {
                start: 0.0,
                end: 0.0,
                episodes: 0,
            },
            ..Hyper::SEED
        })
        .unwrap();
        let table = QTable::<1, 4>::filled(0.0);
        let q = table.view();
        let mut r = rng::seeded(3);
        let mut seen = [0u32; 4];
        for _ in 0..400 {
            seen[l.act(&q, 0, &mut r).unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 60), "{seen:?}");
        assert_eq!(q.greedy(0), Ok(0));
        l.hyper.tie_break = TieBreak::First;
        assert_eq!(l.act(&q, 0, &mut r), Ok(0));
        let data = [1.0f32, 3.0, f32::NAN, 3.0];
        let q = QView::new(&data[..], 4).unwrap();
        assert_eq!(q.greedy(0), Ok(1));
        let nan = [f32::NAN, f32::NAN];
        assert_eq!(QView::new(&nan[..], 2).unwrap().greedy(0), Ok(0));
    }
}
