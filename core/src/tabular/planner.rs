//! Planning over a toy-text environment's transition table: finite-horizon value iteration
//! ([`plan`]) and exact evaluation of a policy under the time limit ([`evaluate_policy`]), the
//! optimum a learner is measured against.

use super::TabularError;
use crate::env::TabularEnv;

/// The optimum that [`plan`] finds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The optimal expected undiscounted return within the horizon, from the reset distribution.
    /// On FrozenLake (reward 1 at the goal, 0 elsewhere) it is the probability of reaching the
    /// goal within the time limit.
    pub expected_return: f64,
    /// Sweeps done (at most the horizon; fewer when the values reached a fixed point).
    pub sweeps: u32,
}

/// Finite-horizon value iteration over `env`'s transition table: the largest expected
/// undiscounted return any policy collects within `horizon` steps (the environment's time limit),
/// `V_k(s) = max_a Σ p·(r + [not terminated]·V_{k−1}(s′))` with `V_0 = 0`, for `k` up to
/// `horizon`.
///
/// Writes `V_horizon` to `value` and to `policy` the action that attains it (the optimal first
/// action with the whole budget ahead; ties within `1e-12` go to the lowest index). The optimal
/// policy under a time limit may depend on the steps left; a stationary policy (a Q-table's greedy
/// policy) can at best equal the optimum, and [`evaluate_policy`] measures how close it comes.
/// `scratch`, `value` and `policy` hold one entry per state. Sweeps stop early at an exact fixed
/// point. An environment without a time limit needs a finite `horizon` chosen by the caller.
///
/// Taxi's fickle passenger is not in Gymnasium's table, so not in this plan either.
pub fn plan(
    env: &dyn TabularEnv,
    horizon: u32,
    value: &mut [f64],
    scratch: &mut [f64],
    policy: &mut [u32],
) -> Result<Plan, TabularError> {
    let n = check_buffers(env, value, scratch)?;
    if policy.len() != n {
        return Err(TabularError::BufferSize {
            expected: n,
            got: policy.len(),
        });
    }
    value.fill(0.0);
    policy.fill(0);
    let mut sweeps = 0;
    while sweeps < horizon {
        let mut changed = false;
        for s in 0..n {
            let mut best = (0u32, f64::NEG_INFINITY);
            for a in 0..env.n_actions() {
                let v = backup(env, s as u32, a, value)?;
                if v > best.1 + 1e-12 {
                    best = (a, v);
                }
            }
            if let (Some(out), Some(p)) = (scratch.get_mut(s), policy.get_mut(s)) {
                *out = best.1;
                *p = best.0;
            }
        }
        for (v, &new) in value.iter_mut().zip(scratch.iter()) {
            changed |= *v != new;
            *v = new;
        }
        sweeps += 1;
        if !changed {
            break;
        }
    }
    Ok(Plan {
        expected_return: from_start(env, value),
        sweeps,
    })
}

/// The exact expected undiscounted return of the stationary policy `policy` (one action per
/// state) within `horizon` steps, from the reset distribution: finite-horizon policy evaluation
/// over `env`'s transition table. On FrozenLake it is the policy's probability of reaching the
/// goal within the time limit, with no sampling error. Writes the values per state to `value`;
/// `scratch` is a second buffer of the same length.
pub fn evaluate_policy(
    env: &dyn TabularEnv,
    policy: &[u32],
    horizon: u32,
    value: &mut [f64],
    scratch: &mut [f64],
) -> Result<f64, TabularError> {
    let n = check_buffers(env, value, scratch)?;
    if policy.len() != n {
        return Err(TabularError::BufferSize {
            expected: n,
            got: policy.len(),
        });
    }
    value.fill(0.0);
    let mut sweeps = 0;
    while sweeps < horizon {
        for (s, (out, &a)) in scratch.iter_mut().zip(policy).enumerate() {
            *out = backup(env, s as u32, a, value)?;
        }
        let mut changed = false;
        for (v, &new) in value.iter_mut().zip(scratch.iter()) {
            changed |= *v != new;
            *v = new;
        }
        sweeps += 1;
        if !changed {
            break;
        }
    }
    Ok(from_start(env, value))
}

fn check_buffers(
    env: &dyn TabularEnv,
    value: &[f64],
    scratch: &[f64],
) -> Result<usize, TabularError> {
    let n = env.n_states() as usize;
    for got in [value.len(), scratch.len()] {
        if got != n {
            return Err(TabularError::BufferSize { expected: n, got });
        }
    }
    Ok(n)
}

/// `Σ p·(r + [not terminated]·V(s′))` over `P[s][a]`.
fn backup(env: &dyn TabularEnv, s: u32, a: u32, value: &[f64]) -> Result<f64, TabularError> {
    let mut sum = 0.0;
    for t in &env.transitions(s, a)? {
        let next = if t.terminated {
            0.0
        } else {
            value.get(t.next as usize).copied().unwrap_or(0.0)
        };
        sum += t.prob * (t.reward + next);
    }
    Ok(sum)
}

fn from_start(env: &dyn TabularEnv, value: &[f64]) -> f64 {
    value
        .iter()
        .enumerate()
        .map(|(s, v)| env.initial_probability(s as u32) * v)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{CliffWalking, FrozenLake, MapDesc, Taxi};

    #[test]
    fn plans_the_deterministic_maps_by_hand() {
        let mut value = [0.0; 16];
        let mut scratch = [0.0; 16];
        let mut policy = [0u32; 16];
        // 4x4 non-slippery: the goal is 6 moves away; reachable within 100 steps with certainty,
        // and within 5 not at all.
        let env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, false);
        let p = plan(&env, 100, &mut value, &mut scratch, &mut policy).unwrap();
        assert_eq!(p.expected_return, 1.0);
        assert!(p.sweeps < 100, "a fixed point stops the sweeps");
        let short = plan(&env, 5, &mut value, &mut scratch, &mut policy).unwrap();
        assert_eq!(short.expected_return, 0.0);
        let exact = plan(&env, 6, &mut value, &mut scratch, &mut policy).unwrap();
        assert_eq!(exact.expected_return, 1.0);
        // CliffWalking: 13 steps of reward −1 along the cliff edge.
        let env = CliffWalking::new(false);
        let (mut v, mut s, mut pi) = ([0.0; 48], [0.0; 48], [0u32; 48]);
        let p = plan(&env, 1000, &mut v, &mut s, &mut pi).unwrap();
        assert_eq!(p.expected_return, -13.0);
        assert_eq!(evaluate_policy(&env, &pi, 1000, &mut v, &mut s), Ok(-13.0));
        // A policy that always goes up never arrives: −1 for each of the horizon's steps.
        assert_eq!(
            evaluate_policy(&env, &[0; 48], 50, &mut v, &mut s),
            Ok(-50.0)
        );
        assert_eq!(
            evaluate_policy(&env, &[0; 47], 50, &mut v, &mut s),
            Err(TabularError::BufferSize {
                expected: 48,
                got: 47
            })
        );
    }

    #[test]
    fn plans_match_gymnasium() {
        // Reference: the same finite-horizon value iteration in numpy over Gymnasium 1.4.0's
        // `env.unwrapped.P` (`V = max_a sum(p * (r + (0 if d else V[ns])))`, `horizon` times,
        // then `initial_state_distrib @ V`): 4x4 slippery within 100 steps 0.7441902878292689
        // (0.8235294117647044 with no limit: the time limit costs 8 points); 8x8 slippery within
        // 200 steps 0.9132201502016288; Taxi-v4 within 200 steps 7.930000000000001 (a fixed
        // point after 19 sweeps).
        let env = FrozenLake::new(MapDesc::FOUR_BY_FOUR, true);
        let (mut v, mut s, mut pi) = ([0.0; 16], [0.0; 16], [0u32; 16]);
        let p = plan(&env, 100, &mut v, &mut s, &mut pi).unwrap();
        assert_eq!(p.expected_return, 0.7441902878292689);
        let own = evaluate_policy(&env, &pi, 100, &mut v, &mut s).unwrap();
        // The first-stage action as a stationary policy: 0.7401648977587045, 99.5% of the optimum.
        assert!(
            own <= p.expected_return && own > 0.99 * p.expected_return,
            "{own}"
        );
        let unlimited = plan(&env, 10_000, &mut v, &mut s, &mut pi).unwrap();
        assert!((unlimited.expected_return - 0.8235294117647044).abs() < 1e-12);

        let env = FrozenLake::eight_by_eight();
        let (mut v, mut s, mut pi) = ([0.0; 64], [0.0; 64], [0u32; 64]);
        let p = plan(&env, 200, &mut v, &mut s, &mut pi).unwrap();
        assert!(
            (p.expected_return - 0.9132201502016288).abs() < 1e-12,
            "{p:?}"
        );

        let taxi = Taxi::new();
        let (mut v, mut s, mut pi) = ([0.0; 500], [0.0; 500], [0u32; 500]);
        let p = plan(&taxi, 200, &mut v, &mut s, &mut pi).unwrap();
        assert!((p.expected_return - 7.93).abs() < 1e-12, "{p:?}");
        assert_eq!(p.sweeps, 19);
    }
}
