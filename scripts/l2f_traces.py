#!/usr/bin/env python3
"""Records reference episodes of `Quadrotor-v0` from L2F, the simulator of *Learning to Fly in
Seconds* (Eschmann et al., RA-L 2024), through its Python package `l2f` (PyPI, 2.0.18).

    ~/.cache/picorl/venv-torch-2.11.0/bin/python scripts/l2f_traces.py

(`scripts/setup.sh` installs `l2f` into the project venv: a source package, several minutes of
g++.) Writes core/tests/fixtures/l2f_traces.jsonl: one episode a line, in the input format of
`picorl env replay`, with L2F's answers inline in each step:

    {"env": "Quadrotor-v0", "kwargs": {}, "initial_state": [p, q, v, w, rpm],
     "steps": [{"action": [4], "obs": [82], "reward": r, "terminated": b, "truncated": b,
                "state": [17]}, ...],
     "seed": s, "policy": name}

"state" (L2F's physical state after the step) is extra, ignored by the replay: core's test
(core/tests/l2f.rs) also checks each step alone from L2F's exact previous state, which tells a
wrong step from drift.

"initial_state" is the 17 values of `l2f.State` (position, orientation w x y z, linear velocity,
angular velocity, rpm) right after `sample_initial_state` (or `initial_state`), the part of the
state picorl's `set_state` takes; L2F's action history and last action at that point are what a
reset makes of them (every history entry `2 rpm - 1`, the last action zero), which picorl
rebuilds. Each step calls L2F's `step`, `reward` (of state, action, next state), `terminated` (of
the next state) and `observe` (of the next state). L2F does not flag truncation itself: its
environment's `EPISODE_STEP_LIMIT` is 500, and the trace sets `truncated` at step 500, as
picorl's time limit does.

Also writes core/tests/fixtures/l2f_parameters.json: L2F's parameters as `parameters_to_json`
prints them (the source of the reward weights picorl uses).

L2F computes in float32 built with -Ofast -march=native, so its numbers are not bit-for-bit
reproducible by anyone (fused multiply-adds, reassociation); `picorl env replay` must agree to a
tolerance (host/tests/env_replay.rs).

Episodes: sampled initial states (L2F's `init_90_deg` distribution) with uniform random commands
(tumbling within a few steps), with the hover command plus noise, with a small PD controller that
keeps the vehicle flying (long episodes, truncation at 500), with commands out of [-1, 1] (L2F
clips them for the motors and keeps them as given in the action history), and from L2F's
`initial_state` (at rest at the target, motors at the hover throttle).
"""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

try:
    import l2f
    from l2f import vector1 as vec
except ImportError as e:  # pragma: no cover
    sys.exit(f"l2f_traces.py: needs the l2f package (pip install l2f==2.0.18): {e}")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "core", "tests", "fixtures")
LIMIT = 500
HOVER_RPM = 0.806  # c2 r^2 + c1 r + c0 = m g / 4 for the Crazyflie parameters
HOVER_CMD = 2 * HOVER_RPM - 1


def f32_text(x) -> str:
    return str(np.float32(x))


def dump(value) -> str:
    """JSON with float32 values as shortest float32 text and float64 values as repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, np.float32):
        assert math.isfinite(float(value)), value
        return str(value)
    if isinstance(value, float):
        assert math.isfinite(value), value
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ",".join(dump(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dump(v) for k, v in value.items()) + "}"
    raise TypeError(type(value))


class L2F:
    """One L2F environment through the package's vector1 interface."""

    def __init__(self, seed: int):
        self.device = l2f.Device()
        self.env = vec.VectorEnvironment()
        self.params = vec.VectorParameters()
        self.state = vec.VectorState()
        self.next_state = vec.VectorState()
        self.rng = vec.VectorRng()
        vec.initialize_environment(self.device, self.env)
        vec.initialize_rng(self.device, self.rng, seed)
        vec.initial_parameters(self.device, self.env, self.params)
        assert self.env.OBSERVATION_DIM == 82, self.env.OBSERVATION_DIM
        assert self.env.EPISODE_STEP_LIMIT == LIMIT, self.env.EPISODE_STEP_LIMIT

    def sample(self):
        vec.sample_initial_state(self.device, self.env, self.params, self.state, self.rng)

    def at_rest(self):
        vec.initial_state(self.device, self.env, self.params, self.state)

    def physical(self) -> list[float]:
        s = self.state.states[0]
        values = [*s.position, *s.orientation, *s.linear_velocity, *s.angular_velocity, *s.rpm]
        return [float(np.float32(v)) for v in values]

    def observe(self) -> np.ndarray:
        obs = np.zeros((1, self.env.OBSERVATION_DIM), dtype=np.float32)
        vec.observe(self.device, self.env, self.params, self.state, obs, self.rng)
        return obs[0]

    def step(self, action: np.ndarray):
        a = np.asarray(action, dtype=np.float32).reshape(1, 4)
        vec.step(self.device, self.env, self.params, self.state, a, self.next_state, self.rng)
        rewards = np.zeros((1,), dtype=np.float32)
        vec.reward(self.device, self.env, self.params, self.state, a, self.next_state, rewards, self.rng)
        flags = np.zeros((1,), dtype=bool)
        vec.terminated(self.device, self.env, self.params, self.next_state, flags, self.rng)
        self.state.assign(self.next_state)
        return self.observe(), rewards[0], bool(flags[0])

    def parameters_json(self) -> str:
        return l2f.parameters_to_json(self.device, self.env.environments[0], self.params.parameters[0])


def pd_controller(obs: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A small attitude and altitude controller on L2F's observation, to keep episodes long.

    Thrust: hover plus PD on height; roll and pitch torques: PD on the tilt (third row of R) and
    on the body rates, steering the tilt against the horizontal position and velocity errors.
    Motor mixing for L2F's Crazyflie layout (rotor i at (x_i, y_i) = (+,-), (-,-), (-,+), (+,+)).
    """
    p, R, v, w = obs[0:3], obs[3:12].reshape(3, 3), obs[12:15], obs[15:18]
    thrust = 0.0 - 0.4 * p[2] - 0.3 * v[2]
    # Desired tilt of body z (world frame): lean against position and velocity errors.
    want = np.array([-0.3 * p[0] - 0.2 * v[0], -0.3 * p[1] - 0.2 * v[1]])
    z_body = R[:, 2]  # body z axis in world coordinates
    ex = z_body[0] - want[0]
    ey = z_body[1] - want[1]
    # Tilting body z towards +x needs a positive pitch rate (about body y); towards +y, a
    # negative roll rate (about body x).
    roll = 0.03 * ey - 0.006 * w[0]
    pitch = -0.03 * ex - 0.006 * w[1]
    yaw = -0.01 * w[2]
    # torque_x = sum y_i f_i, torque_y = -sum x_i f_i, torque_z = sum yaw_i k f_i.
    mix = np.array(
        [
            [1, -1, -1, -1],
            [1, -1, 1, 1],
            [1, 1, 1, -1],
            [1, 1, -1, 1],
        ],
        dtype=np.float64,
    )
    u = mix @ np.array([thrust, roll, pitch, yaw]) + HOVER_CMD
    u += rng.normal(0.0, noise, 4)
    return np.clip(u, -1.0, 1.0).astype(np.float32)


def episode(seed: int, policy: str, start: str = "sample") -> dict:
    sim = L2F(seed)
    if start == "sample":
        sim.sample()
    else:
        sim.at_rest()
    initial = sim.physical()
    obs = sim.observe()
    rng = np.random.default_rng(1000 + seed)
    steps = []
    for t in range(1, LIMIT + 1):
        if policy == "random":
            a = rng.uniform(-1.0, 1.0, 4).astype(np.float32)
        elif policy == "hover_noise":
            a = (HOVER_CMD + rng.normal(0.0, 0.05, 4)).astype(np.float32)
        elif policy == "out_of_range":
            a = rng.uniform(-3.0, 3.0, 4).astype(np.float32)
        elif policy == "pd":
            a = pd_controller(obs, rng, 0.02)
        else:
            raise ValueError(policy)
        obs, reward, terminated = sim.step(a)
        truncated = t == LIMIT
        steps.append(
            {
                "action": [float(x) for x in a],
                "obs": [np.float32(x) for x in obs],
                "reward": float(reward),
                "terminated": terminated,
                "truncated": truncated,
                "state": sim.physical(),
            }
        )
        if terminated or truncated:
            break
    return {
        "env": "Quadrotor-v0",
        "kwargs": {},
        "initial_state": initial,
        "steps": steps,
        "seed": seed,
        "policy": policy,
    }


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    records = []
    for seed in range(6):
        records.append(episode(seed, "random"))
    for seed in range(6, 12):
        records.append(episode(seed, "hover_noise"))
    for seed in range(12, 16):
        records.append(episode(seed, "out_of_range"))
    for seed in range(16, 20):
        records.append(episode(seed, "pd"))
    for seed in range(20, 23):
        records.append(episode(seed, "pd", start="at_rest"))
    records.append(episode(26, "hover_noise", start="at_rest"))
    path = os.path.join(OUT, "l2f_traces.jsonl")
    with open(path, "w") as f:
        for r in records:
            f.write(dump(r) + "\n")
    lengths = [len(r["steps"]) for r in records]
    ends = sum(r["steps"][-1]["truncated"] for r in records)
    print(f"l2f_traces.py: {len(records)} episodes, {sum(lengths)} steps (lengths {lengths}), "
          f"{ends} truncated, to {path}")
    params = json.loads(L2F(0).parameters_json())
    with open(os.path.join(OUT, "l2f_parameters.json"), "w") as f:
        json.dump(params, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
