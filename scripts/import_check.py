#!/usr/bin/env python3
"""`picorl import` of policies trained with Stable-Baselines3 and exported to ONNX as SB3's
documentation shows (`torch.onnx.export` of `policy(obs, deterministic=True)` for PPO, of
`policy.actor(obs, deterministic=True)` for SAC, opset 17; torch's TorchScript exporter).

- PPO on CartPole-v1 (discrete: ArgMax after the Categorical's log-softmax), with ReLU layers
  (int8-ready) and with SB3's default tanh; SAC on Pendulum-v1 (a tanh-squashed actor).
- f32 import: `picorl infer` (core, the firmware's code) gives the same actions as onnxruntime on
  the ONNX file, after SB3's own post-processing (`unscale_action`), on 10,000 observations:
  discrete actions equal, continuous ones within 1e-4 of the action range (f32 sums in another
  order).
- `--obs-norm`: SB3 VecNormalize's formula, clip((obs - mean) / sqrt(var + eps)), applied before
  onnxruntime, against the import with that file.
- int8 import: export's report (return of the ONNX function vs the file, action agreement).
- The firmware under QEMU runs the imported files: every episode's return equals `picorl eval`'s.
- Unsupported graphs (a convolution, a GRU, an unknown operator, a dynamic observation axis): exit
  1 and one `error:` line naming the node or input.
Prints PASS/FAIL lines and a total. Usage: import_check.py PICORL_BINARY WORK_DIR
"""
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch as th
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.env_util import make_vec_env

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
PICORL, WORK = sys.argv[1], Path(sys.argv[2])
WORK.mkdir(parents=True, exist_ok=True)
th.set_num_threads(1)
passed = failed = 0


def check(ok, what):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    passed += bool(ok)
    failed += not ok


def run(args, ok=True):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr[-3000:]}")
    return r


# SB3's export recipe (docs/guide/export.rst, "Export to ONNX").
class OnnxableSB3Policy(th.nn.Module):
    def __init__(self, policy):
        super().__init__()
        self.policy = policy

    def forward(self, observation):
        return self.policy(observation, deterministic=True)


class OnnxableActor(th.nn.Module):
    def __init__(self, actor):
        super().__init__()
        self.actor = actor

    def forward(self, observation):
        return self.actor(observation, deterministic=True)


def to_onnx(module, obs_dim, path, **kw):
    th.onnx.export(module, th.randn(1, obs_dim), str(path), opset_version=17, input_names=["input"],
                   dynamo=False, **kw)
    return path


def observations(env, n=10_000):
    rng = np.random.default_rng(0)
    if env == "CartPole-v1":
        hi = np.array([2.4, 3.0, 0.21, 3.0], dtype=np.float32)
        return (rng.uniform(-1, 1, size=(n, 4)) * hi).astype(np.float32)
    th_ = rng.uniform(-np.pi, np.pi, size=n)
    return np.stack([np.cos(th_), np.sin(th_), rng.uniform(-8, 8, size=n)], axis=1).astype(np.float32)


def ort_actions(path, obs, post):
    sess = ort.InferenceSession(str(path))
    name = sess.get_inputs()[0].name
    return [post(sess.run(None, {name: o[None, :]})[0]) for o in obs]


def core_actions(model, obs):
    f = WORK / f"{model.stem}-obs.csv"
    f.write_text("\n".join(",".join(repr(float(v)) for v in o) for o in obs) + "\n")
    out = run([PICORL, "infer", model, "--obs-file", f]).stdout
    return [json.loads(l)["action"] for l in out.splitlines()]


def import_(onnx, env, name, quant="f32", extra=()):
    out = WORK / f"{name}.picorl"
    rep = json.loads(run([PICORL, "import", onnx, "--env", env, "--out", out, "--quant", quant,
                          "--eval-episodes", "5", "--calib-episodes", "10", "--json", *extra]).stdout)
    return out, rep


def compare_f32(onnx, env, name, obs, post, discrete, tol=0.0, extra=(), ort_obs=None):
    model, rep = import_(onnx, env, name, extra=extra)
    ref = ort_actions(onnx, obs if ort_obs is None else ort_obs, post)
    got = core_actions(model, obs)
    if discrete:
        diff = sum(int(a) != int(b) for a, b in zip(ref, got))
        check(len(got) == len(obs) and diff == 0,
              f"{name}: f32 import acts as onnxruntime on {len(obs)} observations ({diff} differ)")
    else:
        err = max(float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b)))) for a, b in zip(ref, got))
        check(len(got) == len(obs) and err <= tol,
              f"{name}: f32 import acts as onnxruntime on {len(obs)} observations (max |diff| {err:.3g} <= {tol:.3g})")
    print(f"  report: {json.dumps(rep)}", flush=True)
    return model, rep


def firmware(model, env, episodes=2, seed=100):
    fw = run([ROOT / "firmware-example" / "run", "--policy", model, "--env", env, "--episodes", episodes,
              "--seed", seed]).stdout
    host = json.loads(run([PICORL, "eval", model, "--env", env, "--episodes", episodes, "--seed", seed,
                           "--json"]).stdout)
    eps = [dict(kv.split("=", 1) for kv in l.split()) for l in fw.splitlines() if l.startswith("episode=")]
    same = len(eps) == episodes and all(
        int(e["seed"]) == s and float(e["return"]) == float(r) for e, s, r in zip(eps, host["seeds"], host["returns"]))
    check(same, f"{model.name}: the firmware's returns equal picorl eval's "
                f"({[e['return'] for e in eps]} vs {host['returns']})")


def refused(onnx, env, words):
    r = run([PICORL, "import", onnx, "--env", env, "--out", WORK / "refused.picorl"], ok=False)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error:")
          and all(w in lines[0] for w in words),
          f"{onnx.name}: refused with one line naming {words}: {lines}")


def unsupported_graphs():
    class Conv(th.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = th.nn.Conv1d(1, 2, 2)
            self.l = th.nn.Linear(6, 2)

        def forward(self, x):
            return self.l(self.c(x.unsqueeze(1)).flatten(1))

    class Gru(th.nn.Module):
        def __init__(self):
            super().__init__()
            self.g = th.nn.GRU(4, 8, batch_first=True)
            self.l = th.nn.Linear(8, 2)

        def forward(self, x):
            return self.l(self.g(x.unsqueeze(1))[0][:, -1])

    class Sine(th.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = th.nn.Linear(4, 8), th.nn.Linear(8, 2)

        def forward(self, x):
            return self.b(th.sin(self.a(x)))

    refused(to_onnx(Conv(), 4, WORK / "conv.onnx"), "CartPole-v1", ["Conv", "node"])
    # The path back from the output meets the indexing of the GRU's output (a Gather) first: that
    # node is the one named.
    refused(to_onnx(Gru(), 4, WORK / "gru.onnx"), "CartPole-v1", ["node", "not supported"])
    refused(to_onnx(Sine(), 4, WORK / "sine.onnx"), "CartPole-v1", ["Sin", "node"])
    mlp = th.nn.Sequential(th.nn.Linear(4, 8), th.nn.ReLU(), th.nn.Linear(8, 2))
    refused(to_onnx(mlp, 4, WORK / "dynamic.onnx", dynamic_axes={"input": {0: "batch", 1: "features"}}),
            "CartPole-v1", ["input", "dynamic"])


def main():
    cart = observations("CartPole-v1")
    pend = observations("Pendulum-v1")
    argmax = lambda out: int(out.reshape(-1)[0])  # noqa: E731
    # SB3's unscale_action for Pendulum's bounds [-2, 2].
    unscale = lambda out: (-2.0 + 0.5 * (out.reshape(-1).astype(np.float64) + 1.0) * 4.0).tolist()  # noqa: E731

    # PPO, ReLU layers (int8-ready), rl-baselines3-zoo's CartPole-v1 settings, 16k steps.
    relu = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=0), seed=0, device="cpu", n_steps=32, batch_size=256, n_epochs=20,
               gae_lambda=0.8, gamma=0.98, ent_coef=0.0, learning_rate=1e-3, clip_range=0.2,
               policy_kwargs=dict(net_arch=[32, 32], activation_fn=th.nn.ReLU))
    relu.learn(16_000)
    ppo_relu = to_onnx(OnnxableSB3Policy(relu.policy), 4, WORK / "ppo_relu.onnx")
    f32, _ = compare_f32(ppo_relu, "CartPole-v1", "ppo-relu-f32", cart, argmax, True)
    firmware(f32, "CartPole-v1")
    int8, rep = import_(ppo_relu, "CartPole-v1", "ppo-relu-int8", "int8")
    print(f"  report: {json.dumps(rep)}", flush=True)
    check(rep["quant"] == "int8" and rep["action_agreement"] >= 0.95,
          f"ppo-relu-int8: action agreement {rep['action_agreement']} >= 0.95, returns "
          f"{rep['return_reference']} (ONNX) vs {rep['return_exported']} (int8)")
    firmware(int8, "CartPole-v1")

    # VecNormalize statistics given explicitly: the same formula before onnxruntime.
    norm = {"mean": [0.1, -0.2, 0.01, 0.3], "var": [0.5, 2.0, 0.01, 1.5], "epsilon": 1e-8, "clip_obs": 5.0}
    (WORK / "norm.json").write_text(json.dumps(norm))
    normed = np.clip((cart - np.array(norm["mean"], dtype=np.float32))
                     / np.sqrt(np.array(norm["var"], dtype=np.float32) + np.float32(1e-8)), -5, 5).astype(np.float32)
    compare_f32(ppo_relu, "CartPole-v1", "ppo-relu-obsnorm", cart, argmax, True,
                extra=["--obs-norm", WORK / "norm.json"], ort_obs=normed)

    # PPO with SB3's default tanh layers: f32 imports, and int8 too (int8 TANH as TFLite Micro
    # computes it), through core and on the firmware.
    tanh = PPO("MlpPolicy", "CartPole-v1", seed=0, device="cpu", n_steps=64, policy_kwargs=dict(net_arch=[32, 32]))
    tanh.learn(2_000)
    ppo_tanh = to_onnx(OnnxableSB3Policy(tanh.policy), 4, WORK / "ppo_tanh.onnx")
    compare_f32(ppo_tanh, "CartPole-v1", "ppo-tanh-f32", cart, argmax, True)
    tanh8 = WORK / "ppo-tanh-int8.picorl"
    rep = json.loads(run([PICORL, "import", ppo_tanh, "--env", "CartPole-v1", "--out", tanh8, "--quant", "int8",
                          "--json"]).stdout)
    print(f"  report: {json.dumps(rep)}", flush=True)
    check(rep["quant"] == "int8" and rep["decisive_agreement"] >= 0.95,
          f"ppo-tanh-int8: decisive agreement {rep['decisive_agreement']} >= 0.95 (int8 TANH layers)")
    firmware(tanh8, "CartPole-v1")

    # SAC on Pendulum: the tanh-squashed actor, rescaled to the bounds as SB3's predict does.
    sac = SAC("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", learning_starts=200,
              policy_kwargs=dict(net_arch=[64, 64]))
    sac.learn(2_000)
    sac_onnx = to_onnx(OnnxableActor(sac.policy.actor), 3, WORK / "sac_actor.onnx")
    f32, _ = compare_f32(sac_onnx, "Pendulum-v1", "sac-f32", pend, unscale, False, tol=1e-4 * 4.0)
    firmware(f32, "Pendulum-v1")
    int8, rep = import_(sac_onnx, "Pendulum-v1", "sac-int8", "int8")
    print(f"  report: {json.dumps(rep)}", flush=True)
    check(rep["quant"] == "int8" and rep["action_agreement"] >= 0.8,
          f"sac-int8: action agreement (within 1% of the range) {rep['action_agreement']} >= 0.8, returns "
          f"{rep['return_reference']} (ONNX) vs {rep['return_exported']} (int8)")
    firmware(int8, "Pendulum-v1")

    unsupported_graphs()


try:
    main()
except RuntimeError as e:
    check(False, str(e))
print(f"import: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
