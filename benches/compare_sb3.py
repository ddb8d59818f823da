#!/usr/bin/env python3
"""DQN or PPO on CartPole-v1 (`--algo dqn|ppo`), side by side: Stable-Baselines3 (rl-baselines3-zoo's hyper-parameters) and
picorl (its own dqn.toml), under one protocol.

Protocol (issue 6): one CPU thread each; every 5,000 environment steps, evaluate the deterministic
policy for 20 episodes (reset seeds 10000, 10001, ...); solved = mean return >= 475; the clock
counts training only (evaluation excluded). Seeds run one after the other, SB3 then picorl for
each seed, so both see the same machine load. Prints, per library, the median time-to-solve and
steps-to-solve over the seeds that solved, the solved seeds, and the ratio of the medians.

Set-up: stable-baselines3 and gymnasium in the project venv (scripts/setup.sh makes the venv;
`pip install stable-baselines3` adds SB3), and a release build of picorl:

    source scripts/setup.sh && cargo build --release -p picorl-host
    python benches/compare_sb3.py --seeds 0 1 2 3 4 [--picorl PATH] [--json]

Both sides' budgets are 50,000 steps (the zoo's n_timesteps and picorl's total_steps); a seed that
does not solve within it counts as unsolved.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

EVAL_EVERY = 5_000
EVAL_EPISODES = 20
SOLVED = 475.0
BUDGET = 50_000

# rl-baselines3-zoo, hyperparams/dqn.yml, CartPole-v1.
ZOO = dict(
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]),
)


# rl-baselines3-zoo, hyperparams/ppo.yml, CartPole-v1 (8 envs, n_timesteps 1e5).
PPO_ZOO = dict(
    n_steps=32,
    batch_size=256,
    gae_lambda=0.8,
    gamma=0.98,
    n_epochs=20,
    ent_coef=0.0,
    learning_rate=lambda f: 1e-3 * f,
    clip_range=lambda f: 0.2 * f,
)
PPO_ENVS = 8
PPO_BUDGET = 100_000


def run_sb3(seed, algo="dqn"):
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)

    class Protocol(BaseCallback):
        def __init__(self):
            super().__init__()
            self.eval_env = gym.make("CartPole-v1")
            self.eval_seconds = 0.0
            self.solved_at = None
            self.solved_seconds = None
            self.last_mean = None
            self.next_eval = EVAL_EVERY

        def _on_training_start(self):
            self.start = time.perf_counter()

        def _on_step(self):
            # The first step at or past each multiple of EVAL_EVERY (a vectorized step adds
            # n_envs), as picorl evaluates at the first iteration boundary past it.
            if self.num_timesteps < self.next_eval:
                return True
            while self.next_eval <= self.num_timesteps:
                self.next_eval += EVAL_EVERY
            t = time.perf_counter()
            returns = []
            for i in range(EVAL_EPISODES):
                obs, _ = self.eval_env.reset(seed=10_000 + i)
                done, ret = False, 0.0
                while not done:
                    action, _ = self.model.predict(obs, deterministic=True)
                    obs, r, term, trunc, _ = self.eval_env.step(action)
                    ret += r
                    done = term or trunc
                returns.append(ret)
            self.eval_seconds += time.perf_counter() - t
            self.last_mean = sum(returns) / len(returns)
            if self.last_mean >= SOLVED:
                self.solved_at = self.num_timesteps
                self.solved_seconds = time.perf_counter() - self.start - self.eval_seconds
                return False
            return True

    if algo == "ppo":
        env = make_vec_env("CartPole-v1", n_envs=PPO_ENVS, seed=seed)
        model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **PPO_ZOO)
        budget = PPO_BUDGET
    else:
        env = gym.make("CartPole-v1")
        model = DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **ZOO)
        budget = BUDGET
    cb = Protocol()
    t = time.perf_counter()
    model.learn(total_timesteps=budget, callback=cb)
    train_seconds = time.perf_counter() - t - cb.eval_seconds
    return dict(
        seed=seed,
        solved_at_step=cb.solved_at,
        solved_train_seconds=cb.solved_seconds,
        train_seconds=train_seconds,
        final_eval_mean=cb.last_mean,
    )


def run_picorl(binary, seed, algo="dqn"):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        cmd = [
            binary, "train", "--algo", algo, "--env", "CartPole-v1", "--threads", "1",
            "--eval-every", str(EVAL_EVERY), "--eval-episodes", str(EVAL_EPISODES),
            "--stop-at-return", str(SOLVED), "--seed", str(seed), "--quiet", "--out", out,
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
    return dict(
        seed=seed,
        solved_at_step=s["solved_at_step"],
        solved_train_seconds=s["solved_train_seconds"],
        train_seconds=s["train_seconds"],
        final_eval_mean=s["final_eval_mean"],
    )


def summary(runs):
    solved = [r for r in runs if r["solved_at_step"] is not None]
    return dict(
        solved=f"{len(solved)}/{len(runs)}",
        median_seconds=statistics.median(r["solved_train_seconds"] for r in solved) if solved else None,
        median_steps=statistics.median(r["solved_at_step"] for r in solved) if solved else None,
        runs=runs,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--algo", choices=["dqn", "ppo"], default="dqn")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "target"))
    p.add_argument("--picorl", default=os.path.join(target, "release", "picorl"))
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = p.parse_args()

    sb3, pico = [], []
    for seed in a.seeds:
        load = os.getloadavg()[0]
        sb3.append(run_sb3(seed, a.algo))
        pico.append(run_picorl(a.picorl, seed, a.algo))
        print(
            f"seed {seed} (load {load:.1f}): sb3 solved_at {sb3[-1]['solved_at_step']} in "
            f"{sb3[-1]['solved_train_seconds']} s; picorl solved_at {pico[-1]['solved_at_step']} in "
            f"{pico[-1]['solved_train_seconds']} s",
            file=sys.stderr,
        )
    s, q = summary(sb3), summary(pico)
    ratio = s["median_seconds"] / q["median_seconds"] if s["median_seconds"] and q["median_seconds"] else None
    if a.json:
        print(json.dumps(dict(sb3=s, picorl=q, speedup=ratio)))
    else:
        for name, x in (("sb3", s), ("picorl", q)):
            print(f"{name:>7}: solved {x['solved']}, median time-to-solve {x['median_seconds']} s, "
                  f"median steps-to-solve {x['median_steps']}")
        print(f"speed-up (sb3 median / picorl median): {ratio}")


if __name__ == "__main__":
    main()
