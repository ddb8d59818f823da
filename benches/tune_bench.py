#!/usr/bin/env python3
"""`picorl tune` on PPO CartPole-v1: wall time of the study, tuning overhead per trial, and the best
config against the built-in one's time-to-solve.

Runs `picorl tune --algo ppo --env CartPole-v1 --trials N --jobs J --stop-at-return 475` (the
built-in config's budget and evaluations: every 5,000 steps, 20 episodes), then trains the built-in
config and `best.toml` once each on seed 0 with `--stop-at-return 475`. Overhead per trial (from the
study's own records): Optuna's trial duration minus the run's training and evaluation seconds,
split into the driver's share (duration minus the `picorl train` process's lifetime: sampling,
storage, polling) and the process's fixed costs (its lifetime minus training and evaluation:
start-up, libtorch, the plots and files written at the end).
Usage: benches/tune_bench.py PICORL_BINARY OUT_DIR [--trials 50] [--jobs 2]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import time

p = argparse.ArgumentParser()
p.add_argument("picorl")
p.add_argument("out")
p.add_argument("--trials", type=int, default=50)
p.add_argument("--jobs", type=int, default=2)
a = p.parse_args()
shutil.rmtree(a.out, ignore_errors=True)
os.makedirs(a.out)
tune_dir = os.path.join(a.out, "tune")
load0 = os.getloadavg()
t0 = time.monotonic()
summary = json.loads(subprocess.run(
    [a.picorl, "tune", "--algo", "ppo", "--env", "CartPole-v1", "--trials", str(a.trials), "--jobs", str(a.jobs),
     "--stop-at-return", "475", "--sampler-seed", "0", "--out", tune_dir, "--json"],
    check=True, capture_output=True, text=True).stdout)
wall = time.monotonic() - t0
load1 = os.getloadavg()
report = json.load(open(os.path.join(tune_dir, "tune.json")))
done = [t for t in report["trials"] if t["state"] == "complete"]
over = [t["duration_seconds"] - t["train_seconds"] - t["eval_seconds"] for t in done]
driver = [t["duration_seconds"] - t["child_seconds"] for t in done]
process = [t["child_seconds"] - t["train_seconds"] - t["eval_seconds"] for t in done]


def train(name, extra):
    out = os.path.join(a.out, name)
    s = json.loads(subprocess.run(
        [a.picorl, "train", "--algo", "ppo", "--env", "CartPole-v1", "--seed", "0", "--threads", "1",
         "--stop-at-return", "475", "--quiet", "--out", out, *extra], check=True, capture_output=True,
        text=True).stdout)
    return s["solved_at_step"], s["solved_train_seconds"], s["final_eval_mean"]


builtin = train("builtin", [])
best = train("best", ["--config", os.path.join(tune_dir, "best.toml")])
med = statistics.median
print(f"study: {a.trials} trials, {a.jobs} jobs: wall {wall:.1f} s; {summary['complete']} complete, "
      f"{summary['pruned']} pruned, {summary['failed']} failed; load average {load0[0]:.1f} before, {load1[0]:.1f} after")
if done:
    print(f"overhead per complete trial: mean {statistics.mean(over):.2f} s, median {med(over):.2f} s "
          f"(driver {med(driver):.2f} s, picorl train process {med(process):.2f} s, medians)")
print(f"best trial {summary['best']['number']}: value {summary['best']['value']}, params {json.dumps(summary['best']['params'])}")
print(f"built-in config, seed 0: solved at {builtin[0]} steps, {builtin[1]} s training (final eval {builtin[2]})")
print(f"best.toml, seed 0:       solved at {best[0]} steps, {best[1]} s training (final eval {best[2]})")
