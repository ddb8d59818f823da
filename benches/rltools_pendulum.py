#!/usr/bin/env python3
"""Pendulum-v1 time-to-solve side by side: RLtools (the `rltools` package from PyPI), picorl and
Stable-Baselines3, under one protocol, with seconds per environment step.

Protocol (issues 8 and 25, as benches/compare_sb3.py's): one CPU thread each; evaluate the
deterministic policy for 20 episodes of Gymnasium's Pendulum-v1 (reset seeds 10000, 10001, ...)
every 2,000 environment steps (at the first update boundary at or past each multiple, as picorl
does); solved = mean return >= -200; the clock counts training only (evaluation and construction
excluded). Seeds run one after the other, each library in turn for a seed, so all see the same
load. Per library and algorithm it prints the seeds solved, the median time-to-solve and
steps-to-solve over the solved seeds, and the median seconds per environment step.

RLtools: `rltools` (github.com/rl-tools/python-interface) compiles RLtools' C++ training loop for
the configuration it is given, with the machine's g++ (`-O3 -march=native -ffast-math`, and
`-lblas` where a BLAS is installed), caching the module under $TMPDIR/rltools. The first run of
each algorithm compiles for a minute or more; the compile time is printed and never counted.
`--env-impl` chooses what the training loop steps:
  cpp  RLtools' own C++ Pendulum (shipped in the package; benches/rltools/environment.h names it),
       as RLtools' zoo and its published figures run it;
  gym  Gymnasium's Pendulum-v1 through the package's Python-environment bridge (RescaleAction to
       [-1, 1]), what a Python user of the package gets.
Evaluation is always Gymnasium's Pendulum-v1 through `state.action(obs)` (the deterministic actor,
scaled back to [-2, 2]).
Hyper-parameters are RLtools' zoo configs for Pendulum-v1 (rl-tools src/rl/zoo/pendulum-v1/
sac.h, td3.h, ppo.h): 64x64 networks, batch 100 (SAC: 2 environments, initial alpha 1.0, 20,000
loop steps; TD3: RLtools' defaults, 20,000 steps; PPO: 4 environments x 1,024 steps, batch 256,
2 epochs, gamma 0.95, entropy coefficient 1.0, 74 iterations ~ 300k steps); everything else the
package's defaults, which mirror RLtools' DefaultParameters.

picorl: `picorl train --algo A --env Pendulum-v1 --threads 1 ...` with its built-in config.
SB3: benches/compare_sb3.py's run_sb3 (rl-baselines3-zoo's configs); SAC and TD3 only (the zoo's
Pendulum PPO is not part of compare_sb3.py).

    source scripts/setup.sh && cargo build --release -p picorl-host
    pip install rltools==2.2.1        # scripts/setup.sh does it with PICORL_WITH_RLTOOLS=1
    python benches/rltools_pendulum.py --seeds 0 1 2 3 4 [--algos sac td3 ppo] [--libs rltools picorl sb3]
        [--env-impl cpp|gym] [--picorl PATH] [--json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import contextlib
import tempfile
import time
import warnings

# One thread for every BLAS the libraries might load, before any of them is imported. MKL is
# turned off for RLtools: it refuses MKL once torch is imported (SB3 runs in this process).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
os.environ.setdefault("RL_TOOLS_DISABLE_MKL", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

ENV_ID = "Pendulum-v1"
EVAL_EVERY = 2_000
EVAL_EPISODES = 20
SOLVED = -200.0
ALGOS = ["sac", "td3", "ppo"]
LIBS = ["rltools", "picorl", "sb3"]

# RLtools' zoo, src/rl/zoo/pendulum-v1/{sac,td3,ppo}.h, as keyword arguments of the package's
# SAC/TD3/PPO (the names are the package's compile-time parameters).
RLTOOLS_ZOO = {
    "sac": dict(ACTOR_BATCH_SIZE=100, CRITIC_BATCH_SIZE=100, STEP_LIMIT=20_000, ACTOR_NUM_LAYERS=3,
                ACTOR_HIDDEN_DIM=64, CRITIC_NUM_LAYERS=3, CRITIC_HIDDEN_DIM=64, ALPHA=1.0,
                N_ENVIRONMENTS=2),
    "td3": dict(STEP_LIMIT=20_000, ACTOR_NUM_LAYERS=3, ACTOR_HIDDEN_DIM=64, CRITIC_NUM_LAYERS=3,
                CRITIC_HIDDEN_DIM=64),
    "ppo": dict(STEP_LIMIT=74, ACTOR_HIDDEN_DIM=64, CRITIC_HIDDEN_DIM=64, N_ENVIRONMENTS=4,
                ON_POLICY_RUNNER_STEPS_PER_ENV=1024, BATCH_SIZE=256, GAMMA=0.95,
                ACTION_ENTROPY_COEFFICIENT=1.0, N_EPOCHS=2, EPISODE_STEP_LIMIT=200),
}


def env_steps_per_loop_step(algo):
    """Environment steps one `state.step()` of RLtools' loop takes: an off-policy loop step steps
    every environment once (then trains once); a PPO step is a whole rollout and its update."""
    z = RLTOOLS_ZOO[algo]
    if algo == "ppo":
        return z["N_ENVIRONMENTS"] * z["ON_POLICY_RUNNER_STEPS_PER_ENV"]
    return z.get("N_ENVIRONMENTS", 1)


def rltools_version():
    from importlib.metadata import version
    return version("rltools")


def gym_env():
    import gymnasium as gym
    # RescaleAction's float64 bounds: Gymnasium warns that it casts them to float32.
    warnings.filterwarnings("ignore", message=".*precision lowered.*")
    from gymnasium.wrappers import RescaleAction
    # RLtools' actions are normalized to [-1, 1].
    return RescaleAction(gym.make(ENV_ID), -1.0, 1.0)


_modules = {}


@contextlib.contextmanager
def stdout_to_stderr():
    """RLtools' C++ loop prints its progress with printf; keep stdout for the results."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def rltools_module(algo, env_impl):
    """The compiled training module for `algo` (compiled once per configuration, then cached by
    the package); returns (module, compile seconds)."""
    key = (algo, env_impl)
    if key in _modules:
        return _modules[key], 0.0
    import rltools
    if env_impl == "cpp":
        env = {"path": os.path.join(HERE, "rltools"), "action_dim": 1, "observation_dim": 3}
    else:
        counter = [0]

        def env():
            # The bridge resets without a seed: each environment it makes gets its own.
            e = gym_env()
            e.reset(seed=900_000 + counter[0])
            counter[0] += 1
            return e
    factory = {"sac": rltools.SAC, "td3": rltools.TD3, "ppo": rltools.PPO}[algo]
    t = time.perf_counter()
    with stdout_to_stderr():
        module = factory(env, interface_name=f"picorl_bench_{env_impl}", enable_evaluation=False,
                         **RLTOOLS_ZOO[algo])
    _modules[key] = module
    return module, time.perf_counter() - t


def evaluate_rltools(state, env):
    import numpy as np
    returns = []
    for i in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=10_000 + i)
        done, ret = False, 0.0
        while not done:
            action = state.action(np.asarray(obs, dtype=np.float32))
            obs, r, term, trunc, _ = env.step(action)
            ret += float(r)
            done = term or trunc
        returns.append(ret)
    return sum(returns) / len(returns)


def run_rltools(seed, algo, env_impl="cpp"):
    module, compile_seconds = rltools_module(algo, env_impl)
    eval_env = gym_env()
    per_step = env_steps_per_loop_step(algo)
    state = module.State(seed)
    steps, train, next_eval = 0, 0.0, EVAL_EVERY
    solved_at = solved_seconds = last_mean = None
    finished = False
    with stdout_to_stderr():
        while not finished:
            t = time.perf_counter()
            finished = state.step()
            train += time.perf_counter() - t
            steps += per_step
            if steps >= next_eval or finished:
                while next_eval <= steps:
                    next_eval += EVAL_EVERY
                last_mean = evaluate_rltools(state, eval_env)
                if last_mean >= SOLVED:
                    solved_at, solved_seconds = steps, train
                    break
    return dict(seed=seed, solved_at_step=solved_at, solved_train_seconds=solved_seconds,
                train_seconds=train, train_steps=steps, final_eval_mean=last_mean,
                compile_seconds=compile_seconds)


def run_picorl(binary, seed, algo):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        cmd = [binary, "train", "--algo", algo, "--env", ENV_ID, "--threads", "1",
               "--eval-every", str(EVAL_EVERY), "--eval-episodes", str(EVAL_EPISODES),
               "--stop-at-return", str(SOLVED), "--seed", str(seed), "--quiet", "--out", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
    return dict(seed=seed, solved_at_step=s["solved_at_step"],
                solved_train_seconds=s["solved_train_seconds"], train_seconds=s["train_seconds"],
                train_steps=s["total_steps"], final_eval_mean=s["final_eval_mean"])


def run_sb3(seed, algo):
    import compare_sb3
    r = compare_sb3.run_sb3(seed, algo)
    # run_sb3 stops at the solve; otherwise it ran its whole budget.
    r["train_steps"] = r["solved_at_step"] or compare_sb3.PENDULUM_BUDGET
    return r


def seconds_per_step(r):
    """Training seconds per environment step over the run (to the solve, or the whole budget)."""
    steps = r["solved_at_step"] or r["train_steps"]
    secs = r["solved_train_seconds"] if r["solved_at_step"] else r["train_seconds"]
    return secs / steps if steps else None


def summary(runs):
    solved = [r for r in runs if r["solved_at_step"] is not None]
    secs = [r["solved_train_seconds"] for r in solved]
    sps = [x for x in (seconds_per_step(r) for r in runs) if x is not None]
    return dict(
        solved=f"{len(solved)}/{len(runs)}",
        median_seconds=statistics.median(secs) if solved else None,
        min_seconds=min(secs) if solved else None,
        max_seconds=max(secs) if solved else None,
        median_steps=statistics.median(r["solved_at_step"] for r in solved) if solved else None,
        median_seconds_per_step=statistics.median(sps) if sps else None,
        runs=runs,
    )


def applicable(lib, algo):
    return not (lib == "sb3" and algo == "ppo")


def run_all(seeds, algos, libs, picorl, env_impl, log=sys.stderr, on_seed=None):
    """{algo: {lib: summary, "load_min", "load_max"}}; `on_seed(results)` after every seed."""
    results = {}
    for algo in algos:
        runs = {lib: [] for lib in libs if applicable(lib, algo)}
        loads = []
        for seed in seeds:
            loads.append(os.getloadavg()[0])
            line = []
            for lib in runs:
                if lib == "rltools":
                    r = run_rltools(seed, algo, env_impl)
                elif lib == "picorl":
                    r = run_picorl(picorl, seed, algo)
                else:
                    r = run_sb3(seed, algo)
                runs[lib].append(r)
                line.append(f"{lib} {r['solved_at_step']} steps {fmt(r['solved_train_seconds'])}"
                            f" ({fmt_us(seconds_per_step(r))}/step)")
            print(f"  {algo} seed {seed} (load {loads[-1]:.1f}): " + "; ".join(line), file=log)
            results[algo] = {lib: summary(r) for lib, r in runs.items()}
            results[algo].update(load_min=min(loads), load_max=max(loads), seeds_run=len(loads))
            if on_seed:
                on_seed(results)
    return results


def fmt(x):
    return "—" if x is None else f"{x:.2f} s"


def fmt_us(x):
    if x is None:
        return "—"
    if x < 1e-5:
        return f"{x * 1e6:.1f} µs"
    return f"{x * 1e6:.0f} µs" if x < 1e-3 else f"{x * 1e3:.2f} ms"


def table(results, env_impl):
    head = ("| algorithm, Pendulum-v1 | RLtools: solved, median (min–max) | steps | per step "
            "| picorl: solved, median (min–max) | steps | per step "
            "| SB3: solved, median (min–max) | steps | per step | picorl / RLtools | load |")
    rows = [head, "|" + "---|" * 12]
    for algo in ALGOS:
        if algo not in results:
            continue
        x = results[algo]
        cells = []
        for lib in LIBS:
            s = x.get(lib)
            if s is None:
                cells += ["—", "—", "—"]
                continue
            cells += [f"{s['solved']}, {fmt(s['median_seconds'])} ({fmt(s['min_seconds'])}–"
                      f"{fmt(s['max_seconds'])})", f"{s['median_steps'] or '—'}",
                      fmt_us(s["median_seconds_per_step"])]
        r, p = x.get("rltools"), x.get("picorl")
        ratio = ("—" if not (r and p and r["median_seconds"] and p["median_seconds"])
                 else f"{p['median_seconds'] / r['median_seconds']:.2f}×")
        rows.append(f"| {algo.upper()} | " + " | ".join(cells) + f" | {ratio} "
                    f"| {x['load_min']:.1f}–{x['load_max']:.1f} |")
    rows += ["", f"RLtools steps its {'own C++' if env_impl == 'cpp' else 'Gymnasium (Python)'} "
             "Pendulum while training; every evaluation is Gymnasium's. Per seed (seconds to "
             "solve, `—` unsolved):", ""]
    for algo in ALGOS:
        for lib in LIBS:
            if algo in results and lib in results[algo]:
                vals = ", ".join(fmt(r["solved_train_seconds"]).removesuffix(" s")
                                 for r in results[algo][lib]["runs"])
                rows.append(f"- {algo.upper()} {lib}: {vals}")
    return "\n".join(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--algos", nargs="+", choices=ALGOS, default=ALGOS)
    p.add_argument("--libs", nargs="+", choices=LIBS, default=LIBS)
    p.add_argument("--env-impl", choices=["cpp", "gym"], default="cpp",
                   help="what RLtools' training loop steps (default: its own C++ Pendulum)")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    p.add_argument("--picorl", default=os.path.join(target, "release", "picorl"))
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = p.parse_args()
    if "picorl" in a.libs and not os.path.exists(a.picorl):
        sys.exit(f"error: --picorl {a.picorl}: no such file (cargo build --release -p picorl-host)")
    if "rltools" in a.libs:
        try:
            version = rltools_version()
        except Exception:
            sys.exit("error: the rltools package is not installed (pip install rltools==2.2.1)")
        print(f"rltools {version}, env-impl {a.env_impl}", file=sys.stderr)
    results = run_all(a.seeds, a.algos, a.libs, a.picorl, a.env_impl)
    if a.json:
        print(json.dumps(dict(env_impl=a.env_impl, seeds=a.seeds, results=results)))
    else:
        print(table(results, a.env_impl))


if __name__ == "__main__":
    main()
