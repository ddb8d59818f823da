#!/usr/bin/env python3
"""What each int8 stage alone costs a DQN's decisions on CartPole-v1 (issue 9's 99% agreement).

Reads the committed DQN run `host/tests/fixtures/export/dqn-cartpole` (dueling 4-64-64-2, ReLU),
rolls its f32 greedy policy out in Gymnasium's CartPole-v1 (20 calibration episodes on reset seeds
20000.., as `picorl export` calibrates, and 100 test episodes on seeds 0..99, as
`host/tests/export_quality.rs` measures), and reports, for one quantized stage at a time with
everything else left in f64, how often the quantized network picks the f32 network's action on
the test observations:

  - the input (the observation after a per-dimension affine map that makes each dimension span
    the int8 range: the best an int8 input with per-dimension normalization can do; and with one
    range for all dimensions),
  - one hidden layer's activations (one int8 range per channel, the best channel equalization
    can do; and one range per layer),
  - the weights, per-output-channel symmetric int8 (round to nearest, TFLite's converter; and the
    error-compensating rounding of GPTQ, Frantar et al. 2023, on the calibration inputs, as
    `host/src/export/fit.rs` does),
  - and, last, activations at 8..16 bits with GPTQ-rounded int8 weights.

This is a model of the int8 network in f64 (fake quantization), not core's integer arithmetic;
core's own figure for the full pipeline is `export_quality.rs`'s. The point it makes: in about 1%
of the states this policy visits its two actions' Q-values differ by less than 0.06% of the
advantage range, and int8 weights alone (activations exact) or int8 activations alone (weights
exact) already move several percent of the decisions.

Usage: quant_floor.py [RUN_DIR]     (needs numpy and gymnasium: the project's venv)
"""
import json
import struct
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUN = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "host/tests/fixtures/export/dqn-cartpole"


def read_safetensors(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", name
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a : 8 + n + b], dtype=np.float32).reshape(t["shape"])
    return {k: v.astype(np.float64) for k, v in out.items()}


T = read_safetensors(RUN / "checkpoint.safetensors")
W = [T["q.l0.weight"], T["q.l1.weight"]]
B = [T["q.l0.bias"], T["q.l1.bias"]]
# Dueling head: Q = V + A - mean(A). The argmax does not see V, nor any common shift, so the
# exported head is the centered advantage (what `export::centered` folds too).
A, bA = T["q.q.weight"], T["q.q.bias"]
W.append(A - A.mean(0))
B.append(bA - bA.mean())


def forward(x, w=W, b=B, quant=lambda k, a: a):
    """Layer outputs; `quant(k, a)` is applied to layer k's input (k = 0: the observation)."""
    outs = []
    for k in range(3):
        x = quant(k, x) @ w[k].T + b[k]
        if k < 2:
            x = np.maximum(x, 0.0)
        outs.append(x)
    return outs


def rollout(seeds):
    env = gym.make("CartPole-v1")
    seen = []
    for s in seeds:
        o, _ = env.reset(seed=s)
        done = False
        while not done:
            seen.append(o)
            a = int(np.argmax(forward(o[None].astype(np.float64))[2][0]))
            o, _, term, trunc, _ = env.step(a)
            done = term or trunc
    return np.array(seen, dtype=np.float64)


calib = rollout(range(20000, 20020))
test = rollout(range(100))
ref = np.argmax(forward(test)[2], 1)
calib_outs = forward(calib)


def fake_quant(x, lo, hi, bits=8):
    levels = 2**bits - 1
    s = (hi - lo) / levels
    return np.clip(np.round((x - lo) / s), 0, levels) * s + lo


def weights_rtn(w):
    s = np.abs(w).max(1, keepdims=True) / 127
    return np.round(w / s) * s


def weights_gptq(w, x, damp=0.01):
    """Row by row, column by column: round, push the error onto the columns not yet rounded."""
    h = x.T @ x / len(x)
    h += np.eye(len(h)) * damp * np.mean(np.diag(h))
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    q = np.zeros_like(w)
    for r in range(w.shape[0]):
        row = w[r].copy()
        s = np.abs(w[r]).max() / 127
        for j in range(len(row)):
            q[r, j] = np.clip(np.round(row[j] / s), -127, 127) * s
            row[j + 1 :] -= (row[j] - q[r, j]) / u[j, j] * u[j, j + 1 :]
    return q


def agreement(outs):
    return float((np.argmax(outs[2], 1) == ref).mean())


lo, hi = calib.min(0), calib.max(0)
rows = []


def per_dim_input(k, a):
    if k != 0:
        return a
    z = (a - lo) / (hi - lo)
    return fake_quant(z, 0.0, 1.0) * (hi - lo) + lo


def per_tensor_input(k, a):
    if k != 0:
        return a
    mu, sd = calib.mean(0), calib.std(0)
    zc = (calib - mu) / sd
    return fake_quant((a - mu) / sd, zc.min(), zc.max()) * sd + mu


rows.append(("input, one range per dimension", agreement(forward(test, quant=per_dim_input))))
rows.append(("input, one range", agreement(forward(test, quant=per_tensor_input))))
for layer in (1, 2):
    m = calib_outs[layer - 1]
    chan = np.where(m.max(0) > 0, m.max(0), 1.0)

    def per_channel(k, a, layer=layer, chan=chan):
        return fake_quant(a / chan, 0.0, 1.0) * chan if k == layer else a

    def per_layer(k, a, layer=layer, top=m.max()):
        return fake_quant(a, 0.0, top) if k == layer else a

    rows.append((f"hidden layer {layer}, one range per channel", agreement(forward(test, quant=per_channel))))
    rows.append((f"hidden layer {layer}, one range", agreement(forward(test, quant=per_layer))))
rows.append(("weights, round to nearest", agreement(forward(test, w=[weights_rtn(w) for w in W]))))
inputs = [calib, calib_outs[0], calib_outs[1]]
gptq = [weights_gptq(w, x) for w, x in zip(W, inputs)]
rows.append(("weights, GPTQ on calibration", agreement(forward(test, w=gptq))))


def everything(bits):
    """Input per dimension, hidden layers per channel, at `bits`; GPTQ int8 weights."""
    chans = [np.where(m.max(0) > 0, m.max(0), 1.0) for m in calib_outs[:2]]

    def q(k, a):
        if k == 0:
            z = (a - lo) / (hi - lo)
            return fake_quant(z, 0.0, 1.0, bits) * (hi - lo) + lo
        c = chans[k - 1]
        return fake_quant(a / c, 0.0, 1.0, bits) * c

    return agreement(forward(test, w=gptq, quant=q))


for bits in (8, 10, 12, 16):
    rows.append((f"all activations at {bits} bits + GPTQ int8 weights", everything(bits)))

gap = np.abs(forward(test)[2][:, 0] - forward(test)[2][:, 1])
span = calib_outs[2].max() - calib_outs[2].min()
print(f"{RUN.name}: {len(calib)} calibration and {len(test)} test observations")
for p in (1, 5, 10):
    print(f"  {p:>2}% of test states: the two actions' gap below {np.percentile(gap, p) / span:.4%} of the output range")
print(f"{'int8 stage (everything else exact)':<52} action agreement")
for name, a in rows:
    print(f"{name:<52} {a:.4f}")
