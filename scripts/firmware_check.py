#!/usr/bin/env python3
"""The firmware under QEMU against `picorl eval` on the host, value for value.

For each mode (a discrete policy in f32 and int8, a continuous actor, ...) this trains a small
policy with the host binary, exports it, runs `firmware-example/run` with it, and checks that:
  - every `episode=I seed=S return=R steps=N` line equals the host's return for that seed, bit for
    bit (both print shortest round-trip text, so the parsed doubles must be equal);
  - the summary's mean return equals the host's;
  - every `infer obs=... action=... outputs=...` line equals `picorl infer` on the same observation.
Prints one `PASS`/`FAIL` line per check and, last, `firmware: N passed, M failed`.
Usage: firmware_check.py PICORL_BINARY WORK_DIR [hover]   (hover: only the quadrotor hover check)
"""
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PICORL, WORK = sys.argv[1], Path(sys.argv[2])
ONLY_HOVER = sys.argv[3:] == ["hover"]
WORK.mkdir(parents=True, exist_ok=True)
passed = failed = 0


def check(ok, what):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    passed += ok
    failed += not ok


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def f32(x):
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def train(name, algo, env, steps, extra=()):
    out = WORK / name
    if not (out / "checkpoint.safetensors").exists():
        run([PICORL, "train", "--algo", algo, "--env", env, "--seed", "0", "--threads", "1",
             "--total-steps", str(steps), "--eval-every", "0", "--eval-episodes", "2", "--quiet",
             "--out", str(out), *extra])
    return out


def mode(run_dir, env, quant, episodes=3, seed=100):
    name = f"{run_dir.name}-{quant}"
    model = WORK / f"{name}.picorl"
    run([PICORL, "export", str(run_dir), "--out", str(model), "--quant", quant, "--eval-episodes", "2",
         "--calib-episodes", "5"])
    fw = run([str(ROOT / "firmware-example" / "run"), "--policy", str(model), "--env", env,
              "--episodes", str(episodes), "--seed", str(seed)])
    host = json.loads(run([PICORL, "eval", str(model), "--env", env, "--episodes", str(episodes),
                           "--seed", str(seed), "--json"]))
    eps = [dict(kv.split("=", 1) for kv in l.split()) for l in fw.splitlines() if l.startswith("episode=")]
    check(len(eps) == episodes, f"{name}: {len(eps)} episode lines for {episodes} episodes")
    for e, s, r in zip(eps, host["seeds"], host["returns"]):
        check(int(e["seed"]) == s and float(e["return"]) == float(r),
              f"{name}: seed {e['seed']} return {e['return']} (host: seed {s} return {r!r})")
    summary = next((l for l in fw.splitlines() if l.startswith("summary ")), "")
    fields = dict(kv.split("=", 1) for kv in summary.split()[1:])
    check(float(fields.get("mean_return", "nan")) == float(host["mean_return"]),
          f"{name}: mean_return {fields.get('mean_return')} (host {host['mean_return']!r})")
    check(fields.get("quant") == quant, f"{name}: quant={fields.get('quant')}")
    for line in fw.splitlines():
        m = re.match(r"infer obs=\[(.*?)\] action=(\S+|\[.*?\]) outputs=\[(.*?)\]$", line)
        if not m:
            continue
        obs = ",".join(v.strip() for v in m.group(1).split(","))
        h = json.loads(run([PICORL, "infer", str(model), "--obs", obs, "--json"]))
        fw_out = [f32(v) for v in m.group(3).split(",")] if m.group(3) else []
        host_out = [f32(v) for v in h["outputs"]]
        check(fw_out == host_out, f"{name}: outputs for obs [{obs}] (firmware {fw_out}, host {host_out})")
    print(f"  {summary}", flush=True)


def hover_check():
    # The committed hover policy (docs/quadrotor.md, "Training"), int8: 1,000 control steps from
    # each of five seeds. An episode ends at L2F's 500-step limit, so the 1,000 steps from seed S
    # are two episodes, reset with S and S + 1, both flown to the limit (the seeds avoid 1, 3, 5,
    # 53, 77 and 86, the six of 0..99 where the int8 policy crashes). Every return, step count and
    # final state (position, attitude, velocities, motor speeds) must equal the host's, bit for bit.
    hover = ROOT / "firmware-example" / "policies" / "quadrotor-hover-td3-int8.picorl"
    for s in (10, 30, 50, 70, 90):
        fw = run([str(ROOT / "firmware-example" / "run"), "--policy", str(hover), "--episodes", "2",
                  "--seed", str(s)])
        host = json.loads(run([PICORL, "eval", str(hover), "--episodes", "2", "--seed", str(s), "--json"]))
        eps = [dict(kv.split("=", 1) for kv in l.split()) for l in fw.splitlines() if l.startswith("episode=")]
        finals = [l.split(" state=", 1)[1] for l in fw.splitlines() if l.startswith("final_state ")]
        steps = sum(int(e["steps"]) for e in eps)
        same = (len(eps) == 2 and len(finals) == 2
                and all(float(e["return"]) == float(r) for e, r in zip(eps, host["returns"]))
                and all([float(v) for v in f.strip("[]").split(",")] == h
                        for f, h in zip(finals, host["final_states"])))
        check(same and steps == 1000,
              f"hover int8 seeds {s},{s + 1}: {steps} control steps, returns and final states "
              f"{'equal' if same else 'DIFFER'} (firmware {[e['return'] for e in eps]}, host {host['returns']})")
        if s == 10:
            print("  " + next((l for l in fw.splitlines() if l.startswith("summary ")), ""), flush=True)


try:
    if ONLY_HOVER:
        hover_check()
        print(f"firmware: {passed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
    cartpole = train("ppo-cartpole", "ppo", "CartPole-v1", 4096)
    mode(cartpole, "CartPole-v1", "f32")
    mode(cartpole, "CartPole-v1", "int8")
    acrobot = train("ppo-acrobot", "ppo", "Acrobot-v1", 2048, ["--set", "activation=relu", "--set", "n_envs=4"])
    mode(acrobot, "Acrobot-v1", "int8", episodes=2)
    pendulum = train("ppo-pendulum", "ppo", "Pendulum-v1", 2048, ["--set", "activation=relu", "--set", "n_envs=2"])
    mode(pendulum, "Pendulum-v1", "f32", episodes=2)
    mode(pendulum, "Pendulum-v1", "int8", episodes=2)
    # A tanh-squashed actor (TD3), the continuous head the off-policy learners export.
    td3 = train("td3-pendulum", "td3", "Pendulum-v1", 1500)
    mode(td3, "Pendulum-v1", "int8", episodes=2)
    # Quadrotor-v0 (L2F's Crazyflie): 82 observations, four motor commands, and a float32 RK4
    # simulation that the controller steps as the host does; 20 episodes from 20 seeds.
    quad = train("td3-quadrotor", "td3", "Quadrotor-v0", 1500, ["--set", "learning_starts=500"])
    mode(quad, "Quadrotor-v0", "int8", episodes=20)
    hover_check()
    # A policy of the wrong shape for the environment stops the build in a const check: one
    # `error:` line that says so, not the compiler's dump (the committed file names no env).
    r = subprocess.run([str(ROOT / "firmware-example" / "run"), "--policy",
                        str(ROOT / "firmware-example" / "policies" / "cartpole-ppo-int8.picorl"),
                        "--env", "Acrobot-v1", "--build-only"], capture_output=True, text=True)
    errs = [l for l in r.stderr.splitlines() if l.startswith("error")]
    check(r.returncode == 1 and len(errs) == 1 and "differs" in errs[0] and "E0080" not in r.stderr,
          f"a CartPole policy for Acrobot-v1: exit {r.returncode}, {errs}")
    lake = train("qlearning-frozenlake", "qlearning", "FrozenLake-v1", 150000)
    mode(lake, "FrozenLake-v1", "f32", episodes=20)
    # On-device learning: the seed's hyper-parameters, 200 episodes, must learn core's golden
    # table (core/src/tabular/episode.rs, golden_table_bits), bit for bit.
    out = run([str(ROOT / "firmware-example" / "run"), "--mode", "learn", "--episodes", "200",
               "--learn-hyper", "seed", "--seed", "0"])
    line = next((l for l in out.splitlines() if l.startswith("learn ")), "")
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    check(f.get("table_checksum") == "2431936500" and f.get("epsilon") == "0.36695799231529236",
          f"on-device Q-learning: table checksum {f.get('table_checksum')} and epsilon {f.get('epsilon')} "
          "(core's golden vector: 2431936500, 0.36695799231529236)")
    print(f"  {line}", flush=True)
except RuntimeError as e:
    check(False, str(e))
print(f"firmware: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
