#!/usr/bin/env python3
"""Time-to-solve side by side: Stable-Baselines3 (rl-baselines3-zoo's hyper-parameters) and
picorl (its own host/configs/<algo>.toml), under one protocol. `--algo dqn|ppo` on CartPole-v1,
`--algo sac|td3` on Pendulum-v1.

Protocol (issues 6-8): one CPU thread each; evaluate the deterministic policy for 20 episodes
(reset seeds 10000, 10001, ...) every 5,000 environment steps on CartPole-v1 (solved = mean return
>= 475) or every 2,000 on Pendulum-v1 (solved = mean return >= -200); the clock counts training
only (evaluation excluded). Seeds run one after the other, SB3 then picorl for each seed, so both
see the same machine load. Prints, per library, the median time-to-solve and steps-to-solve over
the seeds that solved, the solved seeds, and the ratio of the medians.

Set-up: stable-baselines3 and gymnasium in the project venv (scripts/setup.sh makes the venv;
`pip install stable-baselines3` adds SB3), and a release build of picorl:

    source scripts/setup.sh && cargo build --release -p picorl-host
    python benches/compare_sb3.py --seeds 0 1 2 3 4 [--picorl PATH] [--json]

Budgets: the zoo's n_timesteps for SB3 (DQN 50,000, PPO 100,000, SAC and TD3 20,000) and
picorl's own total_steps; a seed that does not solve within its budget counts as unsolved.
`benches/compare.sh` runs this for all four algorithms as part of the full comparison.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

EVAL_EPISODES = 20
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

# rl-baselines3-zoo, hyperparams/sac.yml, Pendulum-v1: n_timesteps 20000, learning_rate 1e-3;
# everything else SB3's SAC defaults (buffer 1e6, learning_starts 100, batch 256, tau 0.005,
# gamma 0.99, ent_coef "auto", train_freq 1, gradient_steps 1, net_arch [256, 256]).
SAC_ZOO = dict(learning_rate=1e-3)
# rl-baselines3-zoo, hyperparams/td3.yml, Pendulum-v1: n_timesteps 20000, gamma 0.98,
# buffer_size 200000, learning_starts 10000, noise_type normal, noise_std 0.1, train_freq 1,
# gradient_steps 1, learning_rate 1e-3, policy_kwargs dict(net_arch=[400, 300]).
TD3_ZOO = dict(
    gamma=0.98,
    buffer_size=200_000,
    learning_starts=10_000,
    train_freq=1,
    gradient_steps=1,
    learning_rate=1e-3,
    policy_kwargs=dict(net_arch=[400, 300]),
)
TD3_NOISE_STD = 0.1
PENDULUM_BUDGET = 20_000

# Per algorithm: (environment, evaluate every N steps, solved at mean return >=).
PROTOCOL = {
    "dqn": ("CartPole-v1", 5_000, 475.0),
    "ppo": ("CartPole-v1", 5_000, 475.0),
    "sac": ("Pendulum-v1", 2_000, -200.0),
    "td3": ("Pendulum-v1", 2_000, -200.0),
}


def run_sb3(seed, algo="dqn"):
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import DQN, PPO, SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    env_id, eval_every, solved = PROTOCOL[algo]

    class Protocol(BaseCallback):
        def __init__(self):
            super().__init__()
            self.eval_env = gym.make(env_id)
            self.eval_seconds = 0.0
            self.solved_at = None
            self.solved_seconds = None
            self.last_mean = None
            self.next_eval = eval_every

        def _on_training_start(self):
            self.start = time.perf_counter()

        def _on_step(self):
            # The first step at or past each multiple of eval_every (a vectorized step adds
            # n_envs), as picorl evaluates at the first iteration boundary past it.
            if self.num_timesteps < self.next_eval:
                return True
            while self.next_eval <= self.num_timesteps:
                self.next_eval += eval_every
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
            if self.last_mean >= solved:
                self.solved_at = self.num_timesteps
                self.solved_seconds = time.perf_counter() - self.start - self.eval_seconds
                return False
            return True

    if algo == "ppo":
        env = make_vec_env("CartPole-v1", n_envs=PPO_ENVS, seed=seed)
        model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **PPO_ZOO)
        budget = PPO_BUDGET
    elif algo == "sac":
        env = gym.make(env_id)
        model = SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **SAC_ZOO)
        budget = PENDULUM_BUDGET
    elif algo == "td3":
        env = gym.make(env_id)
        dim = env.action_space.shape[0]
        noise = NormalActionNoise(mean=np.zeros(dim), sigma=TD3_NOISE_STD * np.ones(dim))
        model = TD3("MlpPolicy", env, seed=seed, device="cpu", verbose=0, action_noise=noise, **TD3_ZOO)
        budget = PENDULUM_BUDGET
    else:
        env = gym.make(env_id)
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
    env_id, eval_every, solved = PROTOCOL[algo]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        cmd = [
            binary, "train", "--algo", algo, "--env", env_id, "--threads", "1",
            "--eval-every", str(eval_every), "--eval-episodes", str(EVAL_EPISODES),
            "--stop-at-return", str(solved), "--seed", str(seed), "--quiet", "--out", out,
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
    secs = [r["solved_train_seconds"] for r in solved]
    return dict(
        solved=f"{len(solved)}/{len(runs)}",
        median_seconds=statistics.median(secs) if solved else None,
        min_seconds=min(secs) if solved else None,
        max_seconds=max(secs) if solved else None,
        median_steps=statistics.median(r["solved_at_step"] for r in solved) if solved else None,
        runs=runs,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--algo", choices=sorted(PROTOCOL), default="dqn")
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
