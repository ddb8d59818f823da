#!/usr/bin/env python3
"""Time-to-solve on a Gymnasium environment through picorl's bridge (`--env gym:ID`), side by
side with Stable-Baselines3 stepping the same environment in-process.

Protocol (issue 19): SAC on InvertedPendulum-v5, one CPU thread each (torch.set_num_threads(1)
for SB3; `--threads 1` for picorl, whose Python worker is single-threaded), the deterministic
policy evaluated for 20 episodes (reset seeds 10000, 10001, ...) every 2,000 environment steps,
solved at a mean return >= 950; the clock counts training only (evaluation excluded), in both.
Both use the same hyper-parameters: picorl's `["gym:InvertedPendulum-v5"]` section of
host/configs/sac.toml, which is SB3's SAC defaults with 64x64 networks and 1,000 random steps.
Seeds run one after the other, SB3 then picorl, so both see the same machine load.

    source scripts/setup.sh && cargo build --release -p picorl-host
    python benches/compare_gym_sb3.py --seeds 0 1 2 [--picorl PATH] [--json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ENV = "InvertedPendulum-v5"
EVAL_EVERY = 2000
EVAL_EPISODES = 20
SOLVED = 950.0
BUDGET = 50_000


def sb3_run(seed):
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    env = gym.make(ENV)
    eval_env = gym.make(ENV)

    def evaluate(model):
        rets = []
        for i in range(EVAL_EPISODES):
            obs, _ = eval_env.reset(seed=10000 + i)
            done, ret = False, 0.0
            while not done:
                a, _ = model.predict(obs, deterministic=True)
                obs, r, term, trunc, _ = eval_env.step(a)
                ret += r
                done = term or trunc
            rets.append(ret)
        return float(np.mean(rets))

    class Clock(BaseCallback):
        def __init__(self):
            super().__init__()
            self.train = 0.0
            self.t0 = None
            self.solved = None

        def _on_training_start(self):
            self.t0 = time.perf_counter()

        def _on_step(self):
            if self.num_timesteps % EVAL_EVERY == 0:
                self.train += time.perf_counter() - self.t0
                mean = evaluate(self.model)
                self.t0 = time.perf_counter()
                if mean >= SOLVED:
                    self.solved = (self.num_timesteps, self.train)
                    return False
            return True

    model = SAC(
        "MlpPolicy",
        env,
        learning_starts=1000,
        policy_kwargs=dict(net_arch=[64, 64]),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    clock = Clock()
    model.learn(BUDGET, callback=clock)
    return clock.solved


def picorl_run(binary, seed):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        r = subprocess.run(
            [binary, "train", "--algo", "sac", "--env", f"gym:{ENV}", "--seed", str(seed),
             "--device", "cpu", "--threads", "1", "--quiet", "--eval-every", str(EVAL_EVERY),
             "--eval-episodes", str(EVAL_EPISODES), "--stop-at-return", str(SOLVED),
             "--total-steps", str(BUDGET), "--out", out],
            capture_output=True, text=True,
        )
        if r.returncode != 0:
            sys.exit(f"picorl failed: {r.stderr.strip().splitlines()[-1]}")
        s = json.loads(r.stdout)
        if s["solved_at_step"] is None:
            return None
        return (s["solved_at_step"], s["solved_train_seconds"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--picorl", default="target/release/picorl")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = {"sb3": [], "picorl": []}
    for seed in a.seeds:
        rows["sb3"].append(sb3_run(seed))
        rows["picorl"].append(picorl_run(a.picorl, seed))
        print(f"seed {seed}: sb3 {rows['sb3'][-1]} picorl {rows['picorl'][-1]}", file=sys.stderr)
    out = {"env": ENV, "algo": "sac", "seeds": a.seeds}
    for lib, rs in rows.items():
        solved = [r for r in rs if r is not None]
        out[lib] = {
            "solved": len(solved),
            "steps": [r and r[0] for r in rs],
            "seconds": [r and round(r[1], 2) for r in rs],
            "median_seconds": statistics.median([r[1] for r in solved]) if solved else None,
            "median_steps": statistics.median([r[0] for r in solved]) if solved else None,
        }
    if out["sb3"]["median_seconds"] and out["picorl"]["median_seconds"]:
        out["speedup"] = round(out["sb3"]["median_seconds"] / out["picorl"]["median_seconds"], 2)
    print(json.dumps(out) if a.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
