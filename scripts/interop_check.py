#!/usr/bin/env python3
"""`picorl export --out FILE.onnx` and `--out FILE.tflite --quant int8`, run in their own runtimes
(onnxruntime; TensorFlow Lite Micro's Python interpreter, PyPI `tflite-micro`) and compared with
core (`picorl infer --obs-file`, the code the firmware runs) on 1,000 random observations per model:

  - ONNX: `outputs` (the head's inputs) within 1e-5 of core's f32 outputs (relative to the value
    where it exceeds 1: `|onnx - core| <= 1e-5 * max(1, |core|)`), the same discrete actions (bar
    exact near-ties within that tolerance), continuous actions within the same tolerance;
  - TFLite int8: `outputs` bit-identical to core's int8 outputs (compared as f32 bit patterns),
    the same discrete actions, clip-head actions bit-identical, tanh-head actions within 1e-6
    (TFLM's TANH is the C library's tanhf, core's is libm's port of musl);
  - the .tflite file's structure: QUANTIZE first, DEQUANTIZE after the last FULLY_CONNECTED, each
    FULLY_CONNECTED with int8 weights quantized per output channel (one scale per row, zero points
    0) and int32 biases;
  - int8 TANH and LOGISTIC: every activation table a .picorl file holds (`picorl inspect --json`)
    equals, entry for entry, what TFLM's own TANH / LOGISTIC kernel gives for all 256 int8 inputs
    under that layer's quantization (a one-op .tflite model per table); the tables come from the
    tanh networks below and from `core/tests/model_fixtures/tanh_sigmoid_int8.picorl` (a tanh and a
    sigmoid layer, written by core's writer).

Models: a DQN (CartPole, argmax over Q-values), the export quality test's trained DQN fixture
(CartPole; Q-values in a range without 0, so an output zero point beyond int8), a discrete PPO (CartPole, hardtanh), TD3 and SAC
actors (Pendulum, tanh-squashed), a PPO with observation normalization (Acrobot, ReLU), a PPO with
its default tanh hidden layers (Acrobot, int8 TANH), and a Gaussian PPO with tanh hidden layers
(Pendulum, clipped mean; int8 TANH). Each is trained briefly (seed 0):
what is checked is the export, not the policy's quality.

Prints one PASS/FAIL line per check and, last, `interop: N passed, M failed`.
Usage: interop_check.py PICORL_BINARY WORK_DIR
"""
import json
import subprocess
import sys
from pathlib import Path

import flatbuffers
import numpy as np
import onnxruntime as ort
from tflite_micro import runtime as tflm
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

PICORL, WORK = sys.argv[1], Path(sys.argv[2])
WORK.mkdir(parents=True, exist_ok=True)
N_OBS = 1000
passed = failed = 0


def check(ok, what):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    passed += bool(ok)
    failed += not ok


def run(args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def train(name, algo, env, steps, extra=()):
    out = WORK / name
    if not (out / "summary.json").exists():
        run([PICORL, "train", "--algo", algo, "--env", env, "--seed", "0", "--threads", "1",
             "--total-steps", steps, "--eval-every", "0", "--eval-episodes", "2", "--quiet",
             "--out", out, *extra])
    return out


def observations(scale, seed):
    """N_OBS observations, normal with the given per-component scale (some beyond the ranges
    seen in training, so that clipping and int8 saturation are exercised), as f32."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N_OBS, len(scale))) * np.asarray(scale)).astype(np.float32)


def core(model, obs):
    """`picorl infer --obs-file` on every observation: (outputs as f32 [N, n], actions)."""
    f = model.with_suffix(".obs.txt")
    # repr of the f32 value as a double: the shortest text that parses back to the same f32.
    f.write_text("".join(",".join(repr(float(v)) for v in o) + "\n" for o in obs))
    lines = [json.loads(l) for l in run([PICORL, "infer", model, "--obs-file", f]).splitlines()]
    outputs = np.array([l["outputs"] for l in lines], dtype=np.float32)
    actions = [l["action"] for l in lines]
    return outputs, actions


def export(run_dir, out, quant):
    run([PICORL, "export", run_dir, "--out", out, "--quant", quant, "--eval-episodes", "2",
         "--calib-episodes", "5"])


def check_onnx(name, run_dir, obs):
    picorl, onnx = WORK / f"{name}-f32.picorl", WORK / f"{name}.onnx"
    export(run_dir, picorl, "f32")
    export(run_dir, onnx, "f32")
    c_out, c_act = core(picorl, obs)
    sess = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    check([i.name for i in sess.get_inputs()] == ["obs"] and names == ["outputs", "action"],
          f"{name}.onnx: input obs, outputs {names}")
    o_out, o_act = sess.run(["outputs", "action"], {"obs": obs})
    tol = 1e-5 * np.maximum(1.0, np.abs(c_out))
    err = np.abs(o_out.astype(np.float64) - c_out)
    check(o_out.shape == c_out.shape and bool(np.all(err <= tol)),
          f"{name}.onnx: outputs of {len(obs)} observations within 1e-5 of core f32 "
          f"(max |diff| {err.max():.3g}, max |core| {np.abs(c_out).max():.3g})")
    if isinstance(c_act[0], list):
        c_act = np.array(c_act, dtype=np.float32)
        aerr = np.abs(o_act.astype(np.float64) - c_act)
        check(bool(np.all(aerr <= 1e-5 * np.maximum(1.0, np.abs(c_act)))),
              f"{name}.onnx: continuous actions within 1e-5 of core (max |diff| {aerr.max():.3g})")
    else:
        srt = np.sort(c_out, axis=1)
        gap = srt[:, -1] - srt[:, -2]
        clear = gap > 2 * tol.max(axis=1)
        same = np.asarray(o_act) == np.asarray(c_act)
        check(bool(np.all(same[clear])),
              f"{name}.onnx: argmax equals core's on {int(clear.sum())} observations without a "
              f"near-tie ({int(same.sum())}/{len(same)} equal overall)")


def check_tflite_structure(name, data, n_layers):
    m = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(data, 0))
    g = m.subgraphs[0]
    code = lambda op: max(m.operatorCodes[op.opcodeIndex].builtinCode,
                          m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)
    ops = [code(op) for op in g.operators]
    B = tfl.BuiltinOperator
    fcs = [op for op in g.operators if code(op) == B.FULLY_CONNECTED]
    ok = (len(fcs) == n_layers and B.QUANTIZE in ops and B.DEQUANTIZE in ops
          and ops.index(B.QUANTIZE) < ops.index(B.FULLY_CONNECTED)
          and ops.index(B.DEQUANTIZE) == max(i for i, c in enumerate(ops) if c == B.FULLY_CONNECTED) + 1)
    for op in fcs:
        w, b = g.tensors[op.inputs[1]], g.tensors[op.inputs[2]]
        rows = w.shape[0]
        ok = ok and (w.type == tfl.TensorType.INT8 and b.type == tfl.TensorType.INT32
                     and len(w.quantization.scale) == rows and list(w.quantization.zeroPoint) == [0] * rows
                     and w.quantization.quantizedDimension == 0)
    check(ok, f"{name}.tflite: {n_layers} int8 FULLY_CONNECTED with per-channel weights and int32 "
              f"biases between QUANTIZE and DEQUANTIZE (ops {ops})")


def mutated(data):
    """`data` with the first FULLY_CONNECTED's weights negated (one weight is not enough: a weight
    of an input dimension that the observations clip to one value, or of a channel they never
    reach, changes nothing)."""
    m = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(data, 0))
    g = m.subgraphs[0]
    fc = next(op for op in g.operators
              if m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode == tfl.BuiltinOperator.FULLY_CONNECTED)
    buf = m.buffers[g.tensors[fc.inputs[1]].buffer]
    w = np.array(buf.data, dtype=np.uint8).view(np.int8)
    w[:] = np.clip(-w.astype(np.int16), -127, 127).astype(np.int8)
    buf.data = w.view(np.uint8)
    b = flatbuffers.Builder(len(data) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def act_model(code, in_scale, in_zp, out_scale, out_zp):
    """A one-op .tflite model: int8 [1, 256] -> TANH or LOGISTIC -> int8 [1, 256]."""
    m = tfl.ModelT()
    m.version = 3
    oc = tfl.OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = code
    oc.version = 1
    m.operatorCodes = [oc]

    def tensor(name, scale, zp):
        t = tfl.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 256], tfl.TensorType.INT8, 0, name
        q = tfl.QuantizationParametersT()
        q.scale, q.zeroPoint = [scale], [zp]
        t.quantization = q
        return t

    g = tfl.SubGraphT()
    g.tensors = [tensor("x", in_scale, in_zp), tensor("y", out_scale, out_zp)]
    g.inputs, g.outputs = [0], [1]
    op = tfl.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    g.operators = [op]
    m.subgraphs = [g]
    m.buffers = [tfl.BufferT()]
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def check_act_tables(name, picorl):
    """Every activation table in `picorl` against TFLM's kernel on all 256 int8 inputs."""
    layers = json.loads(run([PICORL, "inspect", picorl, "--json"]))["layers"]
    kinds = {"tanh": (tfl.BuiltinOperator.TANH, 1 / 128, 0),
             "sigmoid": (tfl.BuiltinOperator.LOGISTIC, 1 / 256, -128)}
    tables = [(i, l) for i, l in enumerate(layers) if "act_table" in l]
    for i, l in tables:
        code, s_out, zp_out = kinds[l["activation"]]
        interp = tflm.Interpreter.from_bytes(act_model(
            code, l["dense_output_scale"], l["dense_output_zero_point"], s_out, zp_out))
        interp.set_input(np.arange(-128, 128, dtype=np.int8).reshape(1, 256), 0)
        interp.invoke()
        t = interp.get_output(0).reshape(-1).astype(int)
        c = np.array(l["act_table"], dtype=int)
        check(np.array_equal(t, c),
              f"{name}: layer {i} {l['activation']} table (input scale {l['dense_output_scale']:.4g}, "
              f"zero point {l['dense_output_zero_point']}) equals TFLM's int8 "
              f"{'TANH' if code == tfl.BuiltinOperator.TANH else 'LOGISTIC'} on all 256 inputs "
              f"({int((t == c).sum())}/256)")
    return len(tables)


def check_tflite(name, run_dir, obs, tanh_head=False):
    picorl, tflite = WORK / f"{name}-int8.picorl", WORK / f"{name}.tflite"
    export(run_dir, picorl, "int8")
    export(run_dir, tflite, "int8")
    c_out, c_act = core(picorl, obs)
    data = tflite.read_bytes()
    n_layers = len(json.loads(run([PICORL, "inspect", picorl, "--json"]))["layers"])
    check_tflite_structure(name, data, n_layers)
    check_act_tables(name, picorl)
    interp = tflm.Interpreter.from_bytes(data)
    t_out = np.zeros_like(c_out)
    t_act = []
    for i, o in enumerate(obs):
        interp.set_input(o.reshape(1, -1), 0)
        interp.invoke()
        t_out[i] = interp.get_output(0)[0]
        t_act.append(interp.get_output(1).reshape(-1))
    same = t_out.view(np.uint32) == c_out.view(np.uint32)
    rows = int(np.all(same, axis=1).sum())
    check(bool(np.all(same)),
          f"{name}.tflite: TFLM int8 outputs bit-identical to core's int8 on {rows}/{len(obs)} observations")
    # The comparison can fail: the same file with one weight of the first layer moved by one
    # int8 step must differ from core somewhere.
    mutant = tflm.Interpreter.from_bytes(mutated(data))
    differs = 0
    for i, o in enumerate(obs):
        mutant.set_input(o.reshape(1, -1), 0)
        mutant.invoke()
        differs += not np.array_equal(mutant.get_output(0)[0].view(np.uint32), c_out[i].view(np.uint32))
    check(differs > 0, f"{name}.tflite: a copy with layer 0's weights negated differs "
                       f"from core on {differs}/{len(obs)} observations")
    if isinstance(c_act[0], list):
        c_act = np.array(c_act, dtype=np.float32)
        t_act = np.array(t_act, dtype=np.float32)
        if tanh_head:
            aerr = np.abs(t_act.astype(np.float64) - c_act)
            check(bool(np.all(aerr <= 1e-6 * np.maximum(1.0, np.abs(c_act)))),
                  f"{name}.tflite: tanh-head actions within 1e-6 of core (max |diff| {aerr.max():.3g})")
        else:
            check(bool(np.all(t_act.view(np.uint32) == c_act.view(np.uint32))),
                  f"{name}.tflite: clip-head actions bit-identical to core's")
    else:
        t_act = np.array([int(a[0]) for a in t_act])
        check(bool(np.all(t_act == np.asarray(c_act))),
              f"{name}.tflite: argmax equals core's on {int((t_act == np.asarray(c_act)).sum())}/{len(obs)}")


CARTPOLE = [2.0, 2.0, 0.3, 2.0]
PENDULUM = [1.0, 1.0, 6.0]
ACROBOT = [1.0, 1.0, 1.0, 1.0, 8.0, 16.0]

try:
    dqn = train("dqn-cartpole", "dqn", "CartPole-v1", 3000)
    check_onnx("dqn-cartpole", dqn, observations(CARTPOLE, 1))
    check_tflite("dqn-cartpole", dqn, observations(CARTPOLE, 2))
    # A trained Q-network (the export quality test's fixture): its Q-values lie in a range
    # without 0, so its output zero point lies beyond int8 (format version 3).
    fixture_dqn = Path(__file__).resolve().parent.parent / "host/tests/fixtures/export/dqn-cartpole"
    check_tflite("dqn-cartpole-trained", fixture_dqn, observations(CARTPOLE, 14))
    last = json.loads(run([PICORL, "inspect", WORK / "dqn-cartpole-trained-int8.picorl",
                           "--json"]))["layers"][-1]
    zp = last["output_zero_point"]
    check(not -128 <= zp <= 127,
          f"dqn-cartpole-trained: output zero point {zp} lies beyond int8 (the case checked above)")
    ppo = train("ppo-cartpole", "ppo", "CartPole-v1", 4096)
    check_onnx("ppo-cartpole", ppo, observations(CARTPOLE, 3))
    check_tflite("ppo-cartpole", ppo, observations(CARTPOLE, 4))
    td3 = train("td3-pendulum", "td3", "Pendulum-v1", 1500)
    check_onnx("td3-pendulum", td3, observations(PENDULUM, 5))
    check_tflite("td3-pendulum", td3, observations(PENDULUM, 6), tanh_head=True)
    sac = train("sac-pendulum", "sac", "Pendulum-v1", 1500)
    check_onnx("sac-pendulum", sac, observations(PENDULUM, 10))
    check_tflite("sac-pendulum", sac, observations(PENDULUM, 11), tanh_head=True)
    acrobot = train("ppo-acrobot", "ppo", "Acrobot-v1", 2048, ["--set", "activation=relu", "--set", "n_envs=4"])
    check_onnx("ppo-acrobot", acrobot, observations(ACROBOT, 7))
    check_tflite("ppo-acrobot", acrobot, observations(ACROBOT, 8))
    pendulum = train("ppo-pendulum", "ppo", "Pendulum-v1", 2048, ["--set", "n_envs=2"])
    check_onnx("ppo-pendulum", pendulum, observations(PENDULUM, 9))
    check_tflite("ppo-pendulum", pendulum, observations(PENDULUM, 12))
    acrobot_tanh = train("ppo-acrobot-tanh", "ppo", "Acrobot-v1", 2048, ["--set", "n_envs=4"])
    check_tflite("ppo-acrobot-tanh", acrobot_tanh, observations(ACROBOT, 13))
    fixture = Path(__file__).resolve().parent.parent / "core/tests/model_fixtures/tanh_sigmoid_int8.picorl"
    check(check_act_tables("tanh_sigmoid_int8.picorl", fixture) == 2,
          "tanh_sigmoid_int8.picorl: both activation tables checked")
except RuntimeError as e:
    check(False, str(e))
print(f"interop: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
