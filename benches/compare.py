#!/usr/bin/env python3
"""picorl against its peers, in one run on this machine: writes benches/RESULTS.md.

Run through `benches/compare.sh` (which sets up the venv, builds picorl and installs the peers);
by hand: `python benches/compare.py --picorl PATH --peers PATH [--seeds 0 1 2 3 4]`.

Sections (each table says how it was measured):
  1. time-to-solve against Stable-Baselines3: PPO and DQN on CartPole-v1, SAC and TD3 on
     Pendulum-v1, under the protocols of issues 6-8 (compare_sb3.py), 5 seeds, one thread each;
  2. environment step throughput against Gymnasium: single env and vector env;
  3. single-observation inference: core (`picorl bench`, f32 and int8) against libtorch's forward
     (tch, from Rust), PyTorch's eager forward and onnxruntime, on the same MLP weights;
  4. the firmware's instructions per MAC (firmware-example/run under QEMU) next to CMSIS-NN's;
  5. (`rltools`, when the `rltools` package is installed) Pendulum-v1 time-to-solve and seconds per
     step of RLtools beside picorl, SB3's from section 1 (benches/rltools_pendulum.py).

The file is rewritten after each section, so an interrupted run leaves what it measured.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import compare_sb3  # noqa: E402
import rltools_pendulum  # noqa: E402

ALGOS = ["ppo", "dqn", "sac", "td3"]
# The environments picorl and Gymnasium both have (picorl's Trading-v0 is its own).
GYM_ENVS = [
    "CartPole-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1", "Acrobot-v1",
    "FrozenLake-v1", "FrozenLake8x8-v1", "CliffWalking-v1", "CliffWalkingSlippery-v1", "Taxi-v4",
]
VEC_ENVS = ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0"]
# CMSIS-NN's int8 fully-connected inner loop (Lai, Suda and Chandra 2018, "CMSIS-NN: Efficient
# Neural Network Kernels for Arm Cortex-M CPUs", arXiv:1801.06601; the q7 x q15 kernel
# arm_nn_mat_mult_kernel_q7_q15): per pass, 2 x 2 outputs over 4 inputs = 16 MACs in 8 SMLADs,
# with the loads, the q7-to-q15 sign extensions (SXTB16, PKH) and the loop, about 26 instructions:
# about 1.6 instructions per MAC for the inner loop alone (issue 10's figure), requantization not
# counted.
CMSIS_NN_PER_MAC = 1.6


def load():
    return os.getloadavg()


def sh(cmd, timeout=1800, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout, **kw).stdout


def fmt_s(x):
    return "—" if x is None else f"{x:.2f} s"


def fmt_ratio(a, b):
    return "—" if not a or not b else f"**{a / b:.1f}×**"


def best_of(fn, batches, per):
    """The fastest time per call over `batches` batches of `per` calls (seconds). Batches are kept
    short (a few hundred microseconds) on both sides, so that on a loaded machine some batches run
    without being preempted: the minimum is then the cost of the work, not of the load."""
    best = float("inf")
    for _ in range(batches):
        t = time.perf_counter()
        for _ in range(per):
            fn()
        best = min(best, (time.perf_counter() - t) / per)
    return best


# ---------------------------------------------------------------------------------------------
# 1. Time-to-solve


def section_train(a, results):
    out = results.setdefault("train", {})
    for algo in a.algos:
        sb3, pico = [], []
        loads = []
        for seed in a.seeds:
            loads.append(load()[0])
            sb3.append(compare_sb3.run_sb3(seed, algo))
            pico.append(compare_sb3.run_picorl(a.picorl, seed, algo))
            print(f"  {algo} seed {seed}: sb3 {sb3[-1]['solved_at_step']} steps "
                  f"{sb3[-1]['solved_train_seconds']} s; picorl {pico[-1]['solved_at_step']} steps "
                  f"{pico[-1]['solved_train_seconds']} s (load {loads[-1]:.1f})", file=sys.stderr)
            # Written after every seed: an interrupted run keeps the seeds it finished.
            out[algo] = dict(sb3=compare_sb3.summary(sb3), picorl=compare_sb3.summary(pico),
                             load_min=min(loads), load_max=max(loads), seeds_run=len(sb3))
            write(a, results)


def table_train(t, a_seeds):
    rows = [
        "| algorithm, env | picorl: solved, median (min–max) | picorl steps | SB3: solved, median (min–max) | SB3 steps | SB3 / picorl | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for algo in ALGOS:
        if algo not in t:
            continue
        x = t[algo]

        p, s = x["picorl"], x["sb3"]
        env = compare_sb3.PROTOCOL[algo][0]
        partial = "" if x.get("seeds_run", len(a_seeds)) == len(a_seeds) else f" ({x['seeds_run']} of {len(a_seeds)} seeds)"
        rows.append(
            f"| {algo.upper()}, {env}{partial} | {p['solved']}, {fmt_s(p['median_seconds'])} "
            f"({fmt_s(p['min_seconds'])}–{fmt_s(p['max_seconds'])}) | {p['median_steps'] or '—'} "
            f"| {s['solved']}, {fmt_s(s['median_seconds'])} ({fmt_s(s['min_seconds'])}–{fmt_s(s['max_seconds'])}) "
            f"| {s['median_steps'] or '—'} | {fmt_ratio(s['median_seconds'], p['median_seconds'])} "
            f"| {x['load_min']:.1f}–{x['load_max']:.1f} |")
    rows.append("")
    rows.append("Per seed (seconds to solve, `—` unsolved):")
    rows.append("")
    for algo in ALGOS:
        if algo not in t:
            continue
        for lib in ("picorl", "sb3"):
            vals = ", ".join("—" if r["solved_train_seconds"] is None else f"{r['solved_train_seconds']:.2f}"
                             for r in t[algo][lib]["runs"])
            rows.append(f"- {algo.upper()} {lib}: {vals}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# 5. RLtools beside picorl and SB3 on Pendulum-v1


def section_rltools(a, results):
    def keep(res):
        results["rltools"] = dict(res, env_impl=a.rltools_env, seeds=a.seeds)
        write(a, results)
    rltools_pendulum.run_all(a.seeds, rltools_pendulum.ALGOS, ["rltools", "picorl"], a.picorl,
                             a.rltools_env, on_seed=keep)


def table_rltools(r, train):
    """rltools_pendulum's table, with SB3's SAC and TD3 columns taken from section 1 of the same
    run (the same seeds and protocol), where it ran."""
    res = {k: dict(v) for k, v in r.items() if k in rltools_pendulum.ALGOS}
    for algo, row in res.items():
        sb3 = (train or {}).get(algo, {}).get("sb3")
        if sb3 and algo in ("sac", "td3"):
            runs = [dict(x, train_steps=x.get("train_steps") or x["solved_at_step"]
                         or compare_sb3.PENDULUM_BUDGET) for x in sb3["runs"]]
            row["sb3"] = rltools_pendulum.summary(runs)
            row["load_min"] = min(row["load_min"], train[algo]["load_min"])
            row["load_max"] = max(row["load_max"], train[algo]["load_max"])
    return rltools_pendulum.table(res, r.get("env_impl", "cpp"))


# ---------------------------------------------------------------------------------------------
# 2. Environment steps


def gym_single(env_id):
    import gymnasium as gym
    import numpy as np
    env = gym.make(env_id)
    env.reset(seed=0)
    box = isinstance(env.action_space, gym.spaces.Box)
    torques = [np.array([u], dtype=np.float32) for u in (1.0, -0.5, 0.25, -1.0)]
    n = None if box else int(env.action_space.n)
    t = [0]

    def step():
        k = t[0]
        act = torques[k & 3] if box else k % n
        _, _, term, trunc, _ = env.step(act)
        t[0] = k + 1
        if term or trunc:
            env.reset()
    return best_of(step, 500, 50) * 1e9


def gym_vector(env_id, n, mode):
    import gymnasium as gym
    import numpy as np
    envs = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode)
    envs.reset(seed=0)
    space = envs.single_action_space
    if isinstance(space, gym.spaces.Box):
        acts = [np.sin(np.arange(n * space.shape[0], dtype=np.float32) * 0.7 + s).reshape(n, -1)
                for s in (0.0, 1.0)]
    else:
        k = int(space.n)
        acts = [np.arange(n) % k, (np.arange(n) // 2) % k]
    t = [0]

    def step():
        envs.step(acts[t[0] & 1])
        t[0] += 1
    # About 50 single steps' worth of work per batch.
    per = max(1, 50 // n) if mode == "sync" else max(2, 2048 // n)
    return n / best_of(step, 300, per)


def section_env(a, results, peers):
    import gymnasium as gym
    single = {}
    for env_id in GYM_ENVS:
        single[env_id] = gym_single(env_id)
    vec = {}
    for env_id in VEC_ENVS:
        for n in (8, 256):
            vec[f"{env_id} x{n} sync"] = gym_vector(env_id, n, "sync")
            if gym.spec(env_id).vector_entry_point:
                vec[f"{env_id} x{n} vector_entry_point"] = gym_vector(env_id, n, "vector_entry_point")
    results["env"] = dict(gym_single=single, gym_vec=vec, picorl_single=peers["env"],
                          picorl_vec=peers["vec_env"], load=load()[0])
    write(a, results)


def table_env(e):
    rows = ["| environment | picorl step | Gymnasium `gym.make` step | picorl faster by |",
            "|---|---|---|---|"]
    for env_id in GYM_ENVS:
        p, g = e["picorl_single"].get(env_id), e["gym_single"].get(env_id)
        rows.append(f"| {env_id} | {p:.1f} ns | {g / 1000:.2f} µs | **{g / p:.0f}×** |")
    if "Trading-v0" in e["picorl_single"]:
        rows.append(f"| Trading-v0 (picorl only) | {e['picorl_single']['Trading-v0']:.1f} ns | — | — |")
    rows += ["", "| vectorized, one thread | picorl `VecEnv` | Gymnasium | picorl faster by |", "|---|---|---|---|"]
    for env_id in VEC_ENVS:
        for n in (8, 256):
            p = e["picorl_vec"][f"{env_id} x{n}"]
            for mode, label in (("sync", "`SyncVectorEnv`"), ("vector_entry_point", "numpy-vectorized (`vector_entry_point`)")):
                g = e["gym_vec"].get(f"{env_id} x{n} {mode}")
                if g is None:
                    continue
                rows.append(f"| {env_id} ×{n} | {p / 1e6:.1f} M steps/s | {g / 1e3:.0f} k steps/s, {label} | **{p / g:.0f}×** |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# 3. Inference


def onnx_model(spec):
    """The MLP of `spec` (peers' JSON: dims, row-major weights, biases) as an ONNX graph with
    onnx's helper API: Gemm (transB) and Relu per layer, then ArgMax, as core's policy acts."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    dims = spec["dims"]
    nodes, inits, x = [], [], "obs"
    for l in range(len(dims) - 1):
        w = np.array(spec["weights"][l], dtype=np.float32).reshape(dims[l + 1], dims[l])
        b = np.array(spec["biases"][l], dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"w{l}"), numpy_helper.from_array(b, f"b{l}")]
        y = f"h{l}"
        nodes.append(helper.make_node("Gemm", [x, f"w{l}", f"b{l}"], [y], transB=1))
        if l + 2 < len(dims):
            nodes.append(helper.make_node("Relu", [y], [y + "r"]))
            y += "r"
        x = y
    nodes.append(helper.make_node("ArgMax", [x], ["action"], axis=1, keepdims=0))
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, dims[0]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, dims[-1]]),
         helper.make_tensor_value_info("action", TensorProto.INT64, [1])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def section_nn(a, results, peers):
    import numpy as np
    import onnxruntime as ort
    import torch
    torch.set_num_threads(1)
    out = {}
    for name, row in peers["nn"].items():
        spec = json.load(open(os.path.join(a.work, f"{name}.json")))
        obs = np.array(spec["obs"], dtype=np.float32).reshape(1, -1)
        r = dict(row)
        # core through the public CLI (docs/cli.md's `picorl bench`).
        for q in ("f32", "int8"):
            j = json.loads(sh([a.picorl, "bench", os.path.join(a.work, f"{name}-{q}.picorl"),
                               "--iterations", "200000", "--json"]))
            r[f"cli_{q}_ns"] = j["ns_per_inference"]
        # onnxruntime, one thread, the same weights.
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(onnx_model(spec), so, providers=["CPUExecutionProvider"])
        logits, _ = sess.run(None, {"obs": obs})
        feed = {"obs": obs}
        r["ort_ns"] = best_of(lambda: sess.run(["action"], feed), 500, 20) * 1e9
        # The same function? core's f32 outputs (`picorl infer`) against onnxruntime's logits.
        inf = json.loads(sh([a.picorl, "infer", os.path.join(a.work, f"{name}-f32.picorl"),
                             "--obs", ",".join(repr(float(v)) for v in spec["obs"]), "--json"]))
        r["max_abs_diff_core_ort"] = float(np.max(np.abs(np.array(inf["outputs"]) - logits[0])))
        # PyTorch's eager forward from Python (what an SB3 policy's predict runs underneath).
        layers = [torch.nn.Linear(spec["dims"][l], spec["dims"][l + 1]) for l in range(len(spec["dims"]) - 1)]
        with torch.no_grad():
            for l, lin in enumerate(layers):
                lin.weight.copy_(torch.tensor(spec["weights"][l]).reshape(lin.weight.shape))
                lin.bias.copy_(torch.tensor(spec["biases"][l]))
        seq = []
        for l, lin in enumerate(layers):
            seq.append(lin)
            if l + 1 < len(layers):
                seq.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*seq)
        x = torch.from_numpy(obs)

        def fwd():
            with torch.no_grad():
                return int(net(x).argmax())
        r["torch_py_ns"] = best_of(fwd, 500, 5) * 1e9
        out[name] = r
    results["nn"] = dict(nets=out, load=load()[0])
    write(a, results)


def table_nn(n):
    rows = [
        "| net (MACs) | core f32 | core int8 | tch forward (Rust) | onnxruntime | PyTorch eager (Python) | tch / core f32 | onnxruntime / core f32 | `picorl bench` mean, f32 / int8 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in n["nets"].items():
        f = r["core_f32_ns"]
        rows.append(
            f"| {name} ({r['macs']:,}) | {f / 1000:.2f} µs | {r['core_int8_ns'] / 1000:.2f} µs | "
            f"{r['tch_ns'] / 1000:.2f} µs | {r['ort_ns'] / 1000:.2f} µs | {r['torch_py_ns'] / 1000:.2f} µs | "
            f"**{r['tch_ns'] / f:.1f}×** | **{r['ort_ns'] / f:.1f}×** | "
            f"{r['cli_f32_ns'] / 1000:.2f} / {r['cli_int8_ns'] / 1000:.2f} µs |")
    rows.append("")
    rows.append("Same function: the largest difference between core's f32 outputs (`picorl infer`) and "
                "onnxruntime's logits: " + ", ".join(f"{k} {v['max_abs_diff_core_ort']:.1e}" for k, v in n["nets"].items())
                + ".")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# 4. Firmware


def section_firmware(a, results):
    runs = []
    policies = [
        ("4-64-64-2, ReLU, seeded weights", "f32", os.path.join(a.work, "4-64-64-2-f32.picorl")),
        ("4-64-64-2, ReLU, seeded weights", "int8", os.path.join(a.work, "4-64-64-2-int8.picorl")),
        ("PPO CartPole-v1 4-64-64-2, hardtanh (firmware-example/policies)", "int8",
         os.path.join(ROOT, "firmware-example", "policies", "cartpole-ppo-int8.picorl")),
    ]
    for label, q, path in policies:
        text = sh([os.path.join(ROOT, "firmware-example", "run"), "--policy", path,
                   "--env", "CartPole-v1", "--episodes", "1"], stdin=subprocess.DEVNULL, timeout=900)
        line = [l for l in text.splitlines() if l.startswith("summary ")][-1]
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        ipi, macs = int(kv["instructions_per_inference"]), int(kv["macs"])
        runs.append(dict(policy=label, quant=kv["quant"], instructions=ipi, macs=macs,
                         per_mac=ipi / macs, flash=int(kv["flash_bytes"]), ram=int(kv["ram_bytes"])))
    results["firmware"] = dict(runs=runs, load=load()[0])
    write(a, results)


def table_firmware(f):
    rows = ["| policy | quant | instructions / inference | MACs | instructions / MAC | CMSIS-NN int8 inner loop | flash | RAM |",
            "|---|---|---|---|---|---|---|---|"]
    for r in f["runs"]:
        cm = f"~{CMSIS_NN_PER_MAC} (picorl ×{CMSIS_NN_PER_MAC / r['per_mac']:.2f} fewer)" if r["quant"] == "int8" else "—"
        rows.append(f"| {r['policy']} | {r['quant']} | {r['instructions']:,} | {r['macs']:,} | **{r['per_mac']:.3f}** "
                    f"| {cm} | {r['flash'] / 1000:.1f} KB | {r['ram'] / 1000:.1f} KB |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def versions(a):
    v = {}
    v["picorl"] = sh([a.picorl, "--version"]).strip()
    v["rustc"] = sh(["rustc", "--version"]).strip()
    v["python"] = platform.python_version()
    for mod in ("torch", "gymnasium", "stable_baselines3", "onnxruntime", "onnx", "numpy"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception as e:  # a missing peer is reported, not hidden
            v[mod] = f"unavailable ({e})"
    try:
        v["rltools"] = rltools_pendulum.rltools_version()
    except Exception as e:
        v["rltools"] = f"unavailable ({e})"
    try:
        v["qemu"] = sh(["qemu-system-arm", "--version"]).splitlines()[0]
    except Exception as e:
        v["qemu"] = f"unavailable ({e})"
    return v


def machine():
    cpu = "unknown"
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(open("/proc/meminfo").readline().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs{mem}, {platform.system()} {platform.release()}"


def json_path(a):
    return os.path.splitext(a.out)[0] + ".json"


def write(a, results):
    r = results
    with open(json_path(a) + ".tmp", "w") as f:
        json.dump({k: v for k, v in r.items()}, f, indent=1)
    os.replace(json_path(a) + ".tmp", json_path(a))
    parts = [
        "# picorl against its peers",
        "",
        f"Written by `benches/compare.sh` (`benches/compare.py`) on {r['started']} (UTC), in one run"
        + (f" that took {r['minutes']:.0f} minutes." if "minutes" in r else " (in progress or interrupted: sections below are those finished)."),
        "",
        f"- Machine: {r['machine']}.",
        f"- Load average (1 min) at the start: {r['load_start']:.2f}"
        + (f"; at the end: {r['load_end']:.2f}" if "load_end" in r else "")
        + ". The run is `nice`d; other work on the machine adds time to both sides of a comparison, so ratios "
          "taken in one run are fairer than absolute times.",
        "- Versions: " + "; ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
    ]
    if "kept" in r:
        # Each kept section with the run that measured it (a section kept twice keeps its date).
        when = r["kept"].get("measured", {})
        by_run = {}
        for name in r["kept"]["sections"]:
            by_run.setdefault(when.get(name, r["kept"]["started"]), []).append(name)
        parts.append("- Kept from earlier runs, not re-measured: " + "; ".join(
            f"{', '.join(names)} (measured {started} UTC)" for started, names in by_run.items()) + ".")
    parts += [
        "- Raw figures: `" + os.path.basename(json_path(a)) + "`.",
        "",
    ]
    if "train" in r:
        parts += [
            "## Time-to-solve against Stable-Baselines3",
            "",
            "Protocol (issues 6–8, `benches/compare_sb3.py`): one CPU thread each (`--threads 1`, "
            "`torch.set_num_threads(1)`); evaluate the deterministic policy for 20 episodes (reset seeds "
            "10000+) every 5,000 steps on CartPole-v1 (solved at mean return ≥ 475) and every 2,000 steps on "
            "Pendulum-v1 (solved at ≥ −200); the clock counts training only. Seeds "
            + ", ".join(map(str, a.seeds)) + "; for each seed SB3 runs, then picorl, so both see the same load. "
            "SB3 uses rl-baselines3-zoo's hyper-parameters (hyperparams/ppo.yml, dqn.yml for CartPole-v1; "
            "sac.yml: lr 1e-3, otherwise SAC's defaults; td3.yml: γ 0.98, buffer 200k, 10k random steps, "
            "Gaussian noise 0.1, lr 1e-3, 400×300 nets; budgets the zoo's n_timesteps) and picorl its own "
            "`host/configs/<algo>.toml`. Medians and ranges are over the seeds that solved; the ratio is "
            "SB3's median over picorl's.",
            "",
            table_train(r["train"], a.seeds),
            "",
        ]
    if "env" in r:
        parts += [
            "## Environment steps against Gymnasium",
            "",
            "One step with a fixed cycle of actions, a reset whenever an episode ends, the fastest of many "
            "short batches (interference only adds time), one thread. picorl: `AnyEnv`/host boxes as "
            "`picorl` steps them (`examples/peers.rs`); Gymnasium: `gym.make(id)` with its default wrappers, "
            "what a user steps. Vectorized: picorl's `VecEnv` (autoreset) against `gym.make_vec` "
            f"(`SyncVectorEnv`, and the numpy-vectorized `CartPoleVectorEnv` where Gymnasium has one). Load {r['env']['load']:.1f}.",
            "",
            table_env(r["env"]),
            "",
        ]
    if "nn" in r:
        parts += [
            "## Single-observation inference",
            "",
            "The same seeded ReLU MLPs (weights from `examples/peers.rs`), one observation, argmax "
            "included, one thread, each the fastest of 500 short batches: core's `Policy::act` (f32, int8; "
            "`examples/peers.rs`), libtorch's forward through tch (Rust, `no_grad`), onnxruntime (CPU provider, "
            "one thread; the ONNX graph built in Python with `onnx.helper` from the same weights: Gemm, Relu, "
            "ArgMax) and PyTorch's eager forward from Python. The last column is `picorl bench FILE --json` "
            "(docs/cli.md), a mean over 200,000 inferences, which the machine's load inflates. "
            f"Ratios: how many times longer the peer takes than core f32. Load {r['nn']['load']:.1f}.",
            "",
            table_nn(r["nn"]),
            "",
        ]
    if "firmware" in r:
        parts += [
            "## The firmware: instructions per MAC",
            "",
            "`firmware-example/run --policy FILE --env CartPole-v1 --episodes 1` under QEMU (mps2-an386, "
            "Cortex-M4F, `-icount shift=0`): SysTick counts instructions over 1,024 timed inferences, "
            "requantization, activations and argmax included. CMSIS-NN's figure is for its int8 "
            "fully-connected inner loop alone (Lai, Suda and Chandra 2018, arXiv:1801.06601: 16 MACs in "
            "8 SMLADs among about 26 instructions), so the comparison favours CMSIS-NN.",
            "",
            table_firmware(r["firmware"]),
            "",
        ]
    if "rltools" in r:
        parts += [
            "## Pendulum-v1 beside RLtools",
            "",
            "RLtools through the `rltools` package from PyPI (`benches/rltools_pendulum.py`: it compiles "
            "RLtools' C++ training loop with g++ `-O3 -march=native -ffast-math`, OpenBLAS where "
            "installed), RLtools' zoo configs for Pendulum-v1 (64×64, batch 100); picorl its built-in "
            "configs; SB3's SAC and TD3 are section 1's runs. The protocol is section 1's Pendulum one "
            "(20 deterministic episodes of Gymnasium's Pendulum-v1 every 2,000 environment steps, "
            "solved at ≥ −200, training clock only, one thread); seeds "
            + ", ".join(map(str, r["rltools"].get("seeds", a.seeds))) + ". Seconds per step: "
            "training seconds over environment steps, to the solve (or the whole budget), median "
            "over the seeds.",
            "",
            table_rltools(r["rltools"], r.get("train")),
            "",
        ]
    for err in r.get("errors", []):
        parts += [f"**Section failed** — {err}", ""]
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(parts))
    os.replace(tmp, a.out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--picorl", required=True, help="the release picorl binary")
    p.add_argument("--peers", required=True, help="the release build of examples/peers.rs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--algos", nargs="+", choices=ALGOS, default=ALGOS,
                   help="the algorithms of the time-to-solve section (default: all four)")
    p.add_argument("--sections", default=None,
                   help="comma-separated subset of env,nn,firmware,train,rltools (default: all; "
                        "rltools where the rltools package is installed)")
    p.add_argument("--rltools-env", choices=["cpp", "gym"], default="cpp",
                   help="what RLtools' training loop steps: its C++ Pendulum or Gymnasium's")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    a = p.parse_args()
    all_sections = ["env", "nn", "firmware", "train", "rltools"]
    if a.sections is None:
        try:
            rltools_pendulum.rltools_version()
            sections = all_sections
        except Exception:
            print("compare: the rltools package is not installed: no RLtools section "
                  "(PICORL_WITH_RLTOOLS=1 benches/compare.sh installs it)", file=sys.stderr)
            sections = all_sections[:4]
    else:
        sections = a.sections.split(",")
    for s in sections:
        if s not in all_sections:
            p.error(f"--sections: unknown section `{s}` (known: {', '.join(all_sections)})")
    t0 = time.time()
    results = dict(
        started=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        machine=machine(), load_start=load()[0], versions=versions(a),
    )
    # A partial run (some sections, or some algorithms) keeps the rest of the previous run's
    # results (the JSON beside RESULTS.md), and says so in the file.
    previous = json_path(a)
    partial = set(sections) != set(all_sections) or set(a.algos) != set(ALGOS)
    if partial and os.path.exists(previous):
        with open(previous) as f:
            old = json.load(f)
        kept = []
        for name in ("env", "nn", "firmware", "rltools"):
            if name not in sections and name in old:
                results[name] = old[name]
                kept.append(name)
        if "train" in old:
            for algo, row in old["train"].items():
                if "train" not in sections or algo not in a.algos:
                    results.setdefault("train", {})[algo] = row
                    kept.append(f"train/{algo}")
        if kept:
            measured = old.get("kept", {}).get("measured", {})
            # Runs written before "measured" existed: their kept sections date from the run
            # they were kept from.
            if "kept" in old and not measured:
                measured = {n: old["kept"]["started"] for n in old["kept"]["sections"]}
            results["kept"] = dict(sections=kept, started=old.get("started"),
                                   measured={n: measured.get(n, old.get("started")) for n in kept})
    with tempfile.TemporaryDirectory() as work:
        a.work = work
        peers = None
        if "env" in sections or "nn" in sections or "firmware" in sections:
            print("picorl's side (examples/peers.rs) ...", file=sys.stderr)
            peers = json.loads(sh([a.peers, work]))
        steps = [
            ("env", "environment steps against Gymnasium", lambda: section_env(a, results, peers)),
            ("nn", "inference against tch, PyTorch and onnxruntime", lambda: section_nn(a, results, peers)),
            ("firmware", "the firmware under QEMU", lambda: section_firmware(a, results)),
            ("train", f"time-to-solve against SB3, seeds {a.seeds} (20-60 minutes)", lambda: section_train(a, results)),
            ("rltools", f"Pendulum-v1 beside RLtools, seeds {a.seeds}", lambda: section_rltools(a, results)),
        ]
        for name, what, run in steps:
            if name not in sections:
                continue
            print(f"{what} ...", file=sys.stderr)
            try:
                run()
            except Exception as e:  # one failed section is reported; the others still run
                detail = getattr(e, "stderr", None) or ""
                results.setdefault("errors", []).append(f"{name}: {e} {detail.strip()[-500:]}")
                print(f"error: compare: section {name} failed: {e}", file=sys.stderr)
                write(a, results)
    results["minutes"] = (time.time() - t0) / 60
    results["load_end"] = load()[0]
    write(a, results)
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
