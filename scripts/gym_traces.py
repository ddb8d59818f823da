#!/usr/bin/env python3
"""Records Gymnasium 1.4.0 reference data for picorl-core's environment tests.

Run with the project venv (it has gymnasium==1.4.0):

    ~/.cache/picorl/venv-torch-2.11.0/bin/python scripts/gym_traces.py

Writes, under core/tests/fixtures/:

- gym_traces.jsonl: deterministic episodes, one JSON record a line, in the input format of
  `picorl env replay` (docs/cli.md) with the expected output inline in each step:
  {"env", "kwargs", "initial_state", "steps": [{"action", "obs", "reward", "terminated",
  "truncated"}, ...]} plus the provenance keys "seed" and "policy" (ignored by the replay).
  `picorl env replay` must reproduce these records from "initial_state" and the actions alone.
- gym_traces_stochastic.jsonl: the same for the stochastic toy-text configurations (slippery
  FrozenLake and CliffWalking, rainy or fickle Taxi), where each step also carries the random
  draws Gymnasium made: "u" (the uniform of `categorical_sample`) and, when a fickle passenger
  changes destination, "choice" (the index picked among the other three destinations). Replaying
  them needs those draws (core's `AnyEnv::step_with`). For Taxi with `fickle_passenger`, the
  initial state is `[s, fickle_step]`.
- gym_tables.jsonl: the transition tables `P` and initial-state distributions of the toy-text
  configurations: {"env", "kwargs", "n_states", "n_actions", "isd": [[s, p], ...nonzero],
  "P": [[[[prob, next, reward, terminated], ...] per action] per state]}.

Observations are written as float32 shortest round-trip text (what Rust's `{:?}` of an f32
prints), rewards and continuous actions as float64 round-trip text; continuous actions are always
float32 values (as Gymnasium's Box(float32) samples are), so the f64 text is exact.

Episodes: resets with many seeds, random actions, adversarial ones (always one action, torques
far out of bounds, huge values), policies that reach the goal, episodes run to termination and to
truncation, and episodes that terminate on the very step of the time limit (Gymnasium then sets
both flags).
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings

import numpy as np

import gymnasium as gym

PINNED = "1.4.0"
if gym.__version__ != PINNED:
    sys.exit(f"gym_traces.py: needs gymnasium=={PINNED}, found {gym.__version__}")

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "core", "tests", "fixtures")


# --- JSON with float32 observations -------------------------------------------------------------


class F32(float):
    """A float32 value, written as its shortest float32 text."""


def dump(value) -> str:
    if isinstance(value, F32):
        return str(np.float32(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        assert math.isfinite(v), v
        return repr(v)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dump(v) for k, v in value.items()) + "}"
    raise TypeError(type(value))


# --- Recording the random draws of toy-text steps ----------------------------------------------


class DrawLog:
    """Stands in for an env's np_random and logs the draws Gymnasium's toy-text code makes."""

    def __init__(self, gen: np.random.Generator):
        self.gen = gen
        self.log: list[tuple[str, float | int]] = []

    def random(self, *args, **kwargs):
        v = self.gen.random(*args, **kwargs)
        self.log.append(("u", float(v)))
        return v

    def choice(self, seq, *args, **kwargs):
        v = self.gen.choice(seq, *args, **kwargs)
        self.log.append(("choice", list(seq).index(v)))
        return v

    def __getattr__(self, name):
        return getattr(self.gen, name)


# --- Episodes -----------------------------------------------------------------------------------

TOY = {"FrozenLake-v1", "FrozenLake8x8-v1", "CliffWalking-v1", "CliffWalkingSlippery-v1", "Taxi-v4"}


def initial_state(env_id: str, env) -> object:
    u = env.unwrapped
    if env_id in TOY:
        if env_id == "Taxi-v4" and u.fickle_passenger:
            return [int(u.s), int(bool(u.fickle_step))]
        return int(u.s)
    return [float(x) for x in np.asarray(u.state, dtype=np.float64)]


# Classic-control ids whose float64 state is perturbed in a shadow run (see `record`).
SHADOWED = {"CartPole-v1", "MountainCar-v0", "Pendulum-v1", "Acrobot-v1"}
# A record stops before the step where the shadow run's observations (or rewards) move by more
# than this, relative above 1, or its flags change: a tenth of the tests' tolerance.
CONDITIONING = 1e-6


def state_json(env_id, env):
    return [float(x) for x in np.asarray(env.unwrapped.state, dtype=np.float64)]


def record(env_id, kwargs, seed, policy_name, policy, max_steps=None, stochastic=False):
    """One episode from reset(seed): policy(obs, t, env) gives each action.

    Classic-control steps also carry "state", Gymnasium's internal state after the step (other
    keys are ignored by `picorl env replay`; the Rust tests use it to check each step from
    Gymnasium's exact state too).

    For the ids in SHADOWED a second Gymnasium env replays the same actions while its state is
    nudged by one ulp (a random sign per component) after every step: this is what two faithful
    implementations whose sin/cos differ in the last bit (glibc's and a microcontroller's libm)
    look like. Where the shadow's observations move by more than CONDITIONING, the trajectory is
    ill-conditioned (an unstable or chaotic system amplifying rounding) and cannot be reproduced
    to the tests' tolerance by anyone without bit-identical transcendental functions, so the
    record stops before that step and says so in "note".
    """
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    rec = {
        "env": env_id,
        "kwargs": kwargs,
        "seed": seed,
        "policy": policy_name,
        "initial_state": initial_state(env_id, env),
        "steps": [],
    }
    log = None
    if stochastic:
        log = DrawLog(env.unwrapped.np_random)
        env.unwrapped.np_random = log
    shadow = None
    if env_id in SHADOWED:
        shadow = gym.make(env_id, **kwargs)
        shadow.reset(seed=seed)
        nudge = np.random.default_rng(seed + 424242)
    t = 0
    while max_steps is None or t < max_steps:
        action = policy(obs, t, env)
        if log is not None:
            log.log.clear()
        obs, reward, terminated, truncated, _ = env.step(action)
        if shadow is not None:
            s_obs, s_reward, s_term, s_trunc, _ = shadow.step(action)
            scale = np.maximum(1.0, np.abs(obs.astype(np.float64)))
            drift = np.max(np.abs(obs.astype(np.float64) - s_obs) / scale)
            drift = max(drift, abs(reward - s_reward) / max(1.0, abs(reward)))
            if drift > CONDITIONING or (terminated, truncated) != (s_term, s_trunc):
                rec["note"] = f"cut after {t} steps: ill-conditioned beyond (1-ulp nudges grow past {CONDITIONING})"
                break
            st = np.asarray(shadow.unwrapped.state, dtype=np.float64)
            shadow.unwrapped.state = np.nextafter(st, np.where(nudge.random(st.shape) < 0.5, -np.inf, np.inf))
        step = {"action": action_json(action)}
        if log is not None:
            for kind, v in log.log:
                step[kind] = v
        step.update(
            obs=obs_json(obs),
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
        )
        if env_id not in TOY:
            step["state"] = state_json(env_id, env)
        rec["steps"].append(step)
        t += 1
        if terminated or truncated:
            break
    env.close()
    return rec


def action_json(a):
    if isinstance(a, np.ndarray):
        assert a.dtype == np.float32
        return [float(x) for x in a]
    return int(a)


def obs_json(obs):
    if isinstance(obs, np.ndarray):
        assert obs.dtype == np.float32, obs.dtype
        return [F32(float(x)) for x in obs]
    return [int(obs)]


# --- Policies -----------------------------------------------------------------------------------


def const(a):
    return lambda obs, t, env: a


def random_discrete(n, seed):
    rng = np.random.default_rng(seed)
    return lambda obs, t, env: int(rng.integers(n))


def random_box(low, high, seed):
    rng = np.random.default_rng(seed)
    return lambda obs, t, env: np.array([rng.uniform(low, high)], dtype=np.float32)


def box(value):
    return lambda obs, t, env: np.array([value], dtype=np.float32)


def cartpole_controller(bias=0.0, until=None):
    def act(obs, t, env):
        if until is not None and t >= until:
            return 1
        return int(obs[2] + 0.5 * obs[3] + bias * obs[0] > 0.0)

    return act


def mountain_car_energy(delay=0, seed=None):
    rng = np.random.default_rng(seed)

    def act(obs, t, env):
        if t < delay:
            return int(rng.integers(3))
        return 2 if obs[1] >= 0 else 0

    return act


def mcc_energy(scale=1.0, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)

    def act(obs, t, env):
        f = scale if obs[1] >= 0 else -scale
        return np.array([f + noise * rng.normal()], dtype=np.float32)

    return act


def pendulum_swing(seed=0):
    rng = np.random.default_rng(seed)

    def act(obs, t, env):
        cos, sin, thdot = obs
        if cos > 0.9:  # near the top: a PD controller
            u = -8.0 * math.atan2(sin, cos) - 1.5 * thdot
        else:  # pump energy
            u = 2.0 * np.sign(thdot) if thdot != 0 else 1.0
        return np.array([u + 0.05 * rng.normal()], dtype=np.float32)

    return act


def acrobot_energy(seed=0, eps=0.0, mix=0.0):
    """Torque along the second joint's velocity (plus `mix` of the first's): swings up."""
    rng = np.random.default_rng(seed)

    def act(obs, t, env):
        if rng.random() < eps:
            return int(rng.integers(3))
        return 2 if obs[5] + mix * obs[4] > 0 else 0

    return act


_BEST: dict[str, np.ndarray] = {}


def best_actions(env_id, kwargs, gamma=0.95):
    """The greedy actions of value iteration on P (cached per configuration)."""
    key = env_id + json.dumps(kwargs, sort_keys=True)
    if key not in _BEST:
        P = gym.make(env_id, **kwargs).unwrapped.P
        nS, nA = len(P), len(P[0])
        prob, nxt, rew, live = (np.zeros((nS, nA, 3)) for _ in range(4))
        for s in range(nS):
            for a in range(nA):
                for i, (p, s2, r, d) in enumerate(P[s][a]):
                    prob[s, a, i], nxt[s, a, i], rew[s, a, i], live[s, a, i] = p, s2, r, not d
        nxt = nxt.astype(int)
        v = np.zeros(nS)
        for _ in range(2000):
            q = (prob * (rew + gamma * live * v[nxt])).sum(axis=2)
            nv = q.max(axis=1)
            if np.max(np.abs(nv - v)) < 1e-9:
                break
            v = nv
        _BEST[key] = q.argmax(axis=1)
    return _BEST[key]


def greedy(env_id, kwargs, eps, seed):
    """Epsilon-greedy on the values of P, for episodes that reach the goal."""
    best = best_actions(env_id, kwargs)
    n_actions = int(gym.make(env_id, **kwargs).action_space.n)
    rng = np.random.default_rng(seed)

    def act(obs, t, env):
        if rng.random() < eps:
            return int(rng.integers(n_actions))
        return int(best[int(obs)])

    return act


def script(actions):
    return lambda obs, t, env: actions[t]


# --- Searches for episodes that terminate on the last step of the time limit ------------------


def terminates_at(env_id, kwargs, seed, policy_factory, limit):
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    policy = policy_factory()
    for t in range(limit):
        obs, _, terminated, truncated, _ = env.step(policy(obs, t, env))
        if terminated or truncated:
            return t + 1 == limit and terminated and truncated
    return False


def find_both_flags(env_id, kwargs, limit, factories, seeds):
    for seed in seeds:
        for name, factory in factories:
            if terminates_at(env_id, kwargs, seed, factory, limit):
                rec = record(env_id, kwargs, seed, name + " (terminates at the time limit)", factory())
                if "note" not in rec:
                    return rec
    print(f"gym_traces.py: no {env_id} episode terminating at step {limit} found", file=sys.stderr)
    return None


# --- The records ----------------------------------------------------------------------------------


def classic_control():
    recs = []
    # CartPole-v1
    for seed in range(25):
        recs.append(record("CartPole-v1", {}, seed, "random", random_discrete(2, 1000 + seed)))
    for seed in range(5):
        kw = {"sutton_barto_reward": True}
        recs.append(record("CartPole-v1", kw, 100 + seed, "random", random_discrete(2, 2000 + seed)))
    recs.append(record("CartPole-v1", {}, 7, "always 0", const(0)))
    recs.append(record("CartPole-v1", {}, 8, "always 1", const(1)))
    recs.append(record("CartPole-v1", {}, 0, "controller (balances; cut where ill-conditioned)", cartpole_controller()))
    # No CartPole episode that terminates on step 500: open-loop replay of the inverted pendulum
    # is ill-conditioned that long (1-ulp differences grow past 1e-6 after about 300 steps), so
    # such a record would be cut (see `record`); cartpole.rs tests that case by itself.

    # MountainCar-v0
    for seed in range(20):
        recs.append(record("MountainCar-v0", {}, seed, "random", random_discrete(3, 3000 + seed), max_steps=10))
    for seed in range(3):
        recs.append(record("MountainCar-v0", {}, 40 + seed, "random (truncates)", random_discrete(3, 3100 + seed)))
    recs.append(record("MountainCar-v0", {}, 50, "always 0 (left wall)", const(0)))
    recs.append(record("MountainCar-v0", {}, 51, "always 2", const(2)))
    for seed in range(8):
        recs.append(record("MountainCar-v0", {}, 60 + seed, "energy (terminates)", mountain_car_energy(seed=seed)))
    for seed in range(3):
        kw = {"goal_velocity": 0.02}
        recs.append(record("MountainCar-v0", kw, 70 + seed, "energy (terminates)", mountain_car_energy(seed=seed)))
    both = find_both_flags(
        "MountainCar-v0",
        {},
        200,
        [(f"random for {d} steps, then energy", (lambda d=d, s=s: mountain_car_energy(delay=d, seed=s))) for d in range(60, 140) for s in range(3)],
        range(80, 84),
    )
    recs += [both] if both else []

    # MountainCarContinuous-v0
    mcc = "MountainCarContinuous-v0"
    for seed in range(20):
        recs.append(record(mcc, {}, seed, "random", random_box(-1.0, 1.0, 4000 + seed), max_steps=10))
    recs.append(record(mcc, {}, 40, "random (truncates)", random_box(-1.0, 1.0, 4100)))
    recs.append(record(mcc, {}, 41, "random in [-3, 3] (out of bounds)", random_box(-3.0, 3.0, 4101), max_steps=300))
    recs.append(record(mcc, {}, 42, "always -1e30", box(-1e30), max_steps=40))
    recs.append(record(mcc, {}, 43, "always 3.4e38", box(3.4e38), max_steps=40))
    recs.append(record(mcc, {}, 44, "always -1 (left wall)", box(-1.0), max_steps=150))
    for seed in range(6):
        recs.append(record(mcc, {}, 50 + seed, "energy (terminates)", mcc_energy(noise=0.3, seed=seed)))
    for seed in range(2):
        recs.append(record(mcc, {}, 60 + seed, "energy x2 (terminates)", mcc_energy(scale=2.0, seed=seed)))
    for seed in range(2):
        recs.append(record(mcc, {"goal_velocity": 0.01}, 70 + seed, "energy (terminates)", mcc_energy(noise=0.1, seed=seed)))

    # Pendulum-v1
    for seed in range(20):
        recs.append(record("Pendulum-v1", {}, seed, "random", random_box(-2.0, 2.0, 5000 + seed), max_steps=5))
    for seed in range(3):
        recs.append(record("Pendulum-v1", {}, 40 + seed, "random (truncates)", random_box(-2.0, 2.0, 5100 + seed)))
    recs.append(record("Pendulum-v1", {}, 43, "random in [-10, 10] (out of bounds)", random_box(-10.0, 10.0, 5103)))
    recs.append(record("Pendulum-v1", {}, 44, "always 1e30", box(1e30), max_steps=50))
    recs.append(record("Pendulum-v1", {}, 45, "always 0", box(0.0), max_steps=100))
    recs.append(record("Pendulum-v1", {}, 46, "swing up", pendulum_swing(seed=1)))
    recs.append(record("Pendulum-v1", {"g": 9.81}, 47, "swing up", pendulum_swing(seed=2)))
    recs.append(record("Pendulum-v1", {"g": 9.81}, 48, "random", random_box(-2.0, 2.0, 5108), max_steps=100))
    recs.append(record("Pendulum-v1", {"g": 0.0}, 49, "random", random_box(-2.0, 2.0, 5109), max_steps=100))

    # Acrobot-v1
    for seed in range(20):
        recs.append(record("Acrobot-v1", {}, seed, "random", random_discrete(3, 6000 + seed), max_steps=10))
    for seed in range(2):
        recs.append(record("Acrobot-v1", {}, 40 + seed, "random (truncates)", random_discrete(3, 6100 + seed)))
    recs.append(record("Acrobot-v1", {}, 42, "always 0", const(0), max_steps=200))
    for seed in range(5):
        recs.append(record("Acrobot-v1", {}, 50 + seed, "energy (terminates)", acrobot_energy(seed=seed, eps=0.1)))
    for seed in range(3):
        recs.append(record("Acrobot-v1", {}, 60 + seed, "energy (terminates)", acrobot_energy(seed=seed, mix=1.0)))
    return recs


FL_CUSTOM = ["SFFHF", "FHFFS", "FFFHG"]  # non-square, two starts


def toy_text_deterministic():
    recs = []
    fl = "FrozenLake-v1"
    nsl = {"is_slippery": False}
    for seed in range(20):
        recs.append(record(fl, nsl, seed, "random", random_discrete(4, 7000 + seed)))
    for seed in range(5):
        recs.append(record(fl, nsl, 30 + seed, "greedy eps 0.2", greedy(fl, nsl, 0.2, seed)))
    # 94 bumps into the top-left corner, then the six moves to the goal: step 100 terminates.
    path = [0] * 94 + [1, 1, 2, 2, 1, 2]
    recs.append(record(fl, nsl, 40, "to the goal on step 100", script(path)))
    kw = {"map_name": "8x8", "is_slippery": False}
    for seed in range(5):
        recs.append(record(fl, kw, 50 + seed, "greedy eps 0.1", greedy(fl, kw, 0.1, seed)))
    kw = {"desc": FL_CUSTOM, "is_slippery": False, "reward_schedule": [5, -1, -0.25]}
    for seed in range(8):
        recs.append(record(fl, kw, 60 + seed, "greedy eps 0.3", greedy(fl, kw, 0.3, seed)))
    kw = {"is_slippery": False}
    for seed in range(3):
        recs.append(record("FrozenLake8x8-v1", kw, 70 + seed, "greedy eps 0.1", greedy("FrozenLake8x8-v1", kw, 0.1, seed)))
    recs.append(record("FrozenLake8x8-v1", kw, 73, "always 0 (truncates at 200)", const(0)))

    cw = "CliffWalking-v1"
    for seed in range(3):
        recs.append(record(cw, {}, seed, "greedy eps 0.1", greedy(cw, {}, 0.1, seed)))
    for seed in range(3):
        recs.append(record(cw, {}, 10 + seed, "random (first 300 steps)", random_discrete(4, 8000 + seed), max_steps=300))
    recs.append(record(cw, {}, 20, "always 1 (into the cliff)", const(1), max_steps=30))
    recs.append(record("CliffWalkingSlippery-v1", {"is_slippery": False}, 21, "greedy", greedy(cw, {}, 0.0, 0)))

    tx = "Taxi-v4"
    for seed in range(20):
        recs.append(record(tx, {}, seed, "greedy eps 0.1", greedy(tx, {}, 0.1, seed)))
    for seed in range(2):
        recs.append(record(tx, {}, 30 + seed, "random (truncates)", random_discrete(6, 9000 + seed)))
    recs.append(record(tx, {}, 32, "always 4 (bad pickups)", const(4), max_steps=20))
    recs.append(record(tx, {}, 33, "always 5 (bad drop-offs)", const(5), max_steps=20))
    # Wander for 180 steps on the spot (north into the top wall? no: pickups cost -10), then greedy:
    both = find_both_flags(
        tx,
        {},
        200,
        [(f"west x{k}, then greedy", (lambda k=k: delayed(const(3), k, greedy(tx, {}, 0.0, 0)))) for k in range(170, 200)],
        range(40, 60),
    )
    recs += [both] if both else []
    return recs


def delayed(first, k, then):
    return lambda obs, t, env: first(obs, t, env) if t < k else then(obs, t, env)


def toy_text_stochastic():
    recs = []

    def rec(env_id, kwargs, seed, name, policy, max_steps=None):
        recs.append(record(env_id, kwargs, seed, name, policy, max_steps=max_steps, stochastic=True))

    fl = "FrozenLake-v1"
    for seed in range(15):
        rec(fl, {}, seed, "greedy eps 0.1", greedy(fl, {}, 0.1, seed))
    for seed in range(5):
        rec(fl, {}, 20 + seed, "random", random_discrete(4, 10000 + seed))
    kw = {"map_name": "8x8", "success_rate": 0.6}
    for seed in range(5):
        rec(fl, kw, 30 + seed, "greedy eps 0.1", greedy(fl, kw, 0.1, seed))
    kw = {"desc": FL_CUSTOM, "success_rate": 0.5, "reward_schedule": [2, -1, 0]}
    for seed in range(8):
        rec(fl, kw, 40 + seed, "greedy eps 0.1", greedy(fl, kw, 0.1, seed))
    for seed in range(4):
        rec("FrozenLake8x8-v1", {}, 50 + seed, "greedy eps 0.05", greedy("FrozenLake8x8-v1", {}, 0.05, seed))

    cws = "CliffWalkingSlippery-v1"
    for seed in range(4):
        rec(cws, {}, seed, "greedy eps 0.05", greedy(cws, {}, 0.05, seed), max_steps=400)
    for seed in range(2):
        rec("CliffWalking-v1", {"is_slippery": True}, 10 + seed, "random (first 200 steps)", random_discrete(4, 11000 + seed), max_steps=200)

    tx = "Taxi-v4"
    for kw, n in [
        ({"is_rainy": True}, 10),
        ({"is_rainy": True, "rainy_probability": 0.5}, 5),
        ({"fickle_passenger": True}, 10),
        ({"fickle_passenger": True, "fickle_probability": 1.0}, 10),
        ({"is_rainy": True, "fickle_passenger": True, "fickle_probability": 1.0}, 6),
    ]:
        for seed in range(n):
            rec(tx, kw, 100 + seed, "greedy eps 0.1", greedy(tx, kw, 0.1, seed))
    rec(tx, {"is_rainy": True}, 120, "random (truncates)", random_discrete(6, 12000))
    return recs


def tables():
    configs = [
        ("FrozenLake-v1", {}),
        ("FrozenLake-v1", {"is_slippery": False}),
        ("FrozenLake-v1", {"map_name": "8x8"}),
        ("FrozenLake-v1", {"success_rate": 0.6, "reward_schedule": [2, -1, -0.01]}),
        ("FrozenLake-v1", {"success_rate": 1.0}),
        ("FrozenLake-v1", {"desc": FL_CUSTOM}),
        ("FrozenLake-v1", {"desc": ["SFFFFFFFFFFFFFFF"] * 15 + ["HFFFFFFFFFFFFFFG"]}),
        ("FrozenLake8x8-v1", {}),
        ("FrozenLake8x8-v1", {"map_name": "4x4", "is_slippery": False}),
        ("CliffWalking-v1", {}),
        ("CliffWalking-v1", {"is_slippery": True}),
        ("CliffWalkingSlippery-v1", {}),
        ("Taxi-v4", {}),
        ("Taxi-v4", {"is_rainy": True}),
    ]
    out = []
    for env_id, kwargs in configs:
        env = gym.make(env_id, **kwargs)
        u = env.unwrapped
        P = u.P
        n_states, n_actions = int(env.observation_space.n), int(env.action_space.n)
        isd = [[s, float(p)] for s, p in enumerate(u.initial_state_distrib) if p > 0]
        table = [
            [[[float(p), int(s2), float(r), bool(d)] for p, s2, r, d in P[s][a]] for a in range(n_actions)]
            for s in range(n_states)
        ]
        out.append({"env": env_id, "kwargs": kwargs, "n_states": n_states, "n_actions": n_actions, "isd": isd, "P": table})
    return out


def write(name, records):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        for r in records:
            f.write(dump(r) + "\n")
    print(f"{os.path.relpath(path, ROOT)}: {len(records)} records, {os.path.getsize(path) / 1e3:.0f} kB")


def main():
    os.makedirs(OUT, exist_ok=True)
    write("gym_traces.jsonl", classic_control() + toy_text_deterministic())
    write("gym_traces_stochastic.jsonl", toy_text_stochastic())
    write("gym_tables.jsonl", tables())


if __name__ == "__main__":
    main()
