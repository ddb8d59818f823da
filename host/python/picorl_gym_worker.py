"""picorl's Gymnasium worker: steps Gymnasium environments for the `picorl` binary.

The binary starts it with the project venv's interpreter (`python -c SOURCE CONFIG_JSON`; the
source is embedded in the binary) and speaks to it over the worker's stdin and stdout with the
binary protocol below. Nothing here is meant to be run by hand.

CONFIG_JSON: {"id": str, "kwargs": {str: str}, "packages": [str], "copies": int,
              "render": bool, "parent": int}

Framing, little-endian:
  request  = op:u8 len:u32 payload[len]
  reply    = status:u8 len:u32 payload[len]     status 0: ok; 1: error, payload = UTF-8 message
The first reply is sent unasked, once the environments are made ("hello", below).

Ops (copy: u32 index; seed: has_seed:u8 then seed:u64; an action is act_dim f32 for a Box action
space, or one u32 for a Discrete one):
  b"R" reset    copy seed                     -> obs
  b"S" step     copy action                   -> reward:f64 terminated:u8 truncated:u8 obs
  b"V" step all copies actions of every copy  -> rewards f64*n, terminated u8*n, truncated u8*n,
                                                 obs f32*(n*d) (after the autoreset), then the final
                                                 observation f32*d of each copy that ended, in order
                (an ended episode is reset at once with reset(), which continues the copy's
                generator: Gymnasium's same-step autoreset)
  b"P" replay   copy seed steps:u32 actions   -> resets:u64 ep_return:f64 ep_len:u32 obs
                (reset(seed), then every action with the autoresets, as b"S" and b"V" would)
  b"F" frame    copy                          -> height:u32 width:u32 rgb u8*(h*w*3)
  b"Q" quit

obs is obs_dim f32 (a Discrete observation is one f32 holding the integer). Observations are
checked against the declared space's length here; NaN and infinities are checked by the binary,
which knows the step.

hello = json_len:u32 json, then for each Box space (observation first, then action) low f32*dim
and high f32*dim. json: {"obs": {"kind": "box", "dim": d} | {"kind": "discrete", "n": n},
"act": (same), "max_episode_steps": int | null, "render": bool (rgb_array is among its
render_modes), "render_fps": float | null}
"""

import json
import os
import struct
import sys


def last_line(exc):
    """The exception's last line, as a traceback prints it: `ValueError: message`."""
    import traceback

    lines = traceback.format_exception_only(type(exc), exc)
    text = lines[-1].strip() if lines else type(exc).__name__
    return text.splitlines()[-1] if text else type(exc).__name__


class Fail(Exception):
    """An error whose message is already what the binary should print."""


def die_with_parent(parent):
    """SIGKILL this worker when the thread that started it dies (PR_SET_PDEATHSIG), and stop at
    once if that already happened. Linux only; elsewhere stdin's end of file still ends it."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass
    if parent and os.getppid() != parent:
        os._exit(0)


def parse_value(text):
    """A `--env-kwargs` value as Python: a literal (3, 0.5, True, "x", [1, 2]) or else the text."""
    import ast

    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class Space:
    """A Gymnasium space picorl can use: a 1-D Box or a Discrete."""

    SUPPORTED = "picorl supports Box spaces of shape (n,) and Discrete spaces"

    def __init__(self, space, what, env_id):
        import numpy as np
        from gymnasium import spaces

        self.np = np
        if isinstance(space, spaces.Discrete):
            self.kind = "discrete"
            self.n = int(space.n)
            self.start = int(space.start)
            self.dim = 1
        elif isinstance(space, spaces.Box):
            shape = tuple(space.shape)
            if len(shape) != 1:
                hint = (
                    "image observations are not supported"
                    if len(shape) == 3 or space.dtype == np.uint8
                    else "wrap the environment in gymnasium.wrappers.FlattenObservation"
                )
                raise Fail(
                    f"gym:{env_id}: the {what} space is {space} ({hint}); {self.SUPPORTED}"
                )
            self.kind = "box"
            self.dim = int(shape[0])
            self.dtype = space.dtype
            self.low = np.asarray(space.low, dtype=np.float32).reshape(-1)
            self.high = np.asarray(space.high, dtype=np.float32).reshape(-1)
        else:
            raise Fail(
                f"gym:{env_id}: the {what} space is {type(space).__name__} ({space}); "
                f"{self.SUPPORTED}"
            )

    def describe(self):
        if self.kind == "discrete":
            return {"kind": "discrete", "n": self.n}
        return {"kind": "box", "dim": self.dim}

    def bounds(self):
        if self.kind == "discrete":
            return b""
        return self.low.tobytes() + self.high.tobytes()


class Worker:
    def __init__(self, cfg):
        self.env_id = cfg["id"]
        try:
            import numpy as np
            import gymnasium as gym
        except ImportError as e:
            raise Fail(
                f"gym:{self.env_id}: gymnasium is not installed for {sys.executable} "
                f"({last_line(e)}); scripts/setup.sh installs it, or set PICORL_PYTHON"
            )
        self.np = np
        for module in cfg.get("packages", []):
            try:
                __import__("importlib").import_module(module)
            except BaseException as e:  # a module may also call sys.exit
                raise Fail(f"--gym-packages: module `{module}` does not import: {last_line(e)}")
        kwargs = {k: parse_value(v) for k, v in cfg.get("kwargs", {}).items()}
        if cfg.get("render"):
            kwargs["render_mode"] = "rgb_array"
        copies = int(cfg.get("copies", 1))
        self.envs = []
        for _ in range(copies):
            try:
                env = gym.make(self.env_id, **kwargs)
            except Exception as e:
                raise Fail(f"gym:{self.env_id}: gymnasium.make failed: {last_line(e)}")
            self.envs.append(env)
        first = self.envs[0]
        self.obs_space = Space(first.observation_space, "observation", self.env_id)
        self.act_space = Space(first.action_space, "action", self.env_id)
        spec = getattr(first, "spec", None)
        self.max_steps = getattr(spec, "max_episode_steps", None) if spec else None
        modes = (getattr(first, "metadata", {}) or {}).get("render_modes", []) or []
        self.render = "rgb_array" in modes
        fps = (getattr(first, "metadata", {}) or {}).get("render_fps")
        self.render_fps = float(fps) if isinstance(fps, (int, float)) and fps > 0 else None
        self.d = self.obs_space.dim
        self.a = self.act_space.dim
        self.act_bytes = 4 * self.a

    def hello(self):
        desc = {
            "obs": self.obs_space.describe(),
            "act": self.act_space.describe(),
            "max_episode_steps": self.max_steps,
            "render": self.render,
            "render_fps": self.render_fps,
        }
        text = json.dumps(desc).encode()
        return (
            struct.pack("<I", len(text))
            + text
            + self.obs_space.bounds()
            + self.act_space.bounds()
        )

    def obs_bytes(self, obs, what):
        np = self.np
        if self.obs_space.kind == "discrete":
            return struct.pack("<f", float(int(obs) - self.obs_space.start))
        arr = np.asarray(obs, dtype=np.float32).reshape(-1)
        if arr.size != self.d:
            raise Fail(
                f"gym:{self.env_id}: {what} returned an observation of {arr.size} values; "
                f"the observation space declares {self.d}"
            )
        return arr.tobytes()

    def action(self, raw):
        np = self.np
        if self.act_space.kind == "discrete":
            return int(struct.unpack("<I", raw)[0]) + self.act_space.start
        return np.frombuffer(raw, dtype=np.float32).astype(self.act_space.dtype)

    def env(self, i):
        if not 0 <= i < len(self.envs):
            raise Fail(f"gym:{self.env_id}: no copy {i} (this worker has {len(self.envs)})")
        return self.envs[i]

    @staticmethod
    def seed(payload, at):
        has, seed = struct.unpack_from("<BQ", payload, at)
        return (seed if has else None), at + 9

    def reset(self, i, seed):
        obs, _info = self.env(i).reset(seed=seed)
        return obs

    def step(self, i, action):
        obs, reward, terminated, truncated, _info = self.env(i).step(action)
        return obs, float(reward), bool(terminated), bool(truncated)

    def handle(self, op, p):
        if op == b"S":
            (i,) = struct.unpack_from("<I", p, 0)
            obs, r, term, trunc = self.step(i, self.action(p[4 : 4 + self.act_bytes]))
            return struct.pack("<dBB", r, term, trunc) + self.obs_bytes(obs, "step")
        if op == b"V":
            n = len(self.envs)
            ab = self.act_bytes
            rewards, terms, truncs, obs_out, finals = [], [], [], [], []
            for i in range(n):
                obs, r, term, trunc = self.step(i, self.action(p[i * ab : (i + 1) * ab]))
                rewards.append(r)
                terms.append(term)
                truncs.append(trunc)
                if term or trunc:
                    finals.append(self.obs_bytes(obs, "step"))
                    obs = self.reset(i, None)
                obs_out.append(self.obs_bytes(obs, "step"))
            return b"".join(
                [
                    struct.pack(f"<{n}d{n}B{n}B", *rewards, *terms, *truncs),
                    *obs_out,
                    *finals,
                ]
            )
        if op == b"R":
            (i,) = struct.unpack_from("<I", p, 0)
            seed, _ = self.seed(p, 4)
            return self.obs_bytes(self.reset(i, seed), "reset")
        if op == b"P":
            (i,) = struct.unpack_from("<I", p, 0)
            seed, at = self.seed(p, 4)
            (steps,) = struct.unpack_from("<I", p, at)
            at += 4
            obs = self.reset(i, seed) if seed is not None else None
            resets, ret, length = 0, 0.0, 0
            ab = self.act_bytes
            for k in range(steps):
                obs, r, term, trunc = self.step(i, self.action(p[at + k * ab : at + (k + 1) * ab]))
                ret += r
                length += 1
                if term or trunc:
                    obs = self.reset(i, None)
                    resets, ret, length = resets + 1, 0.0, 0
            if obs is None:
                raise Fail(f"gym:{self.env_id}: a replay needs a seeded reset")
            return struct.pack("<QdI", resets, ret, length) + self.obs_bytes(obs, "replay")
        if op == b"F":
            (i,) = struct.unpack_from("<I", p, 0)
            frame = self.env(i).render()
            if frame is None:
                raise Fail(f"gym:{self.env_id}: render() returned no frame")
            arr = self.np.asarray(frame, dtype=self.np.uint8)
            if arr.ndim != 3 or arr.shape[2] < 3:
                raise Fail(f"gym:{self.env_id}: render() returned an array of shape {arr.shape}")
            arr = self.np.ascontiguousarray(arr[:, :, :3])
            return struct.pack("<II", arr.shape[0], arr.shape[1]) + arr.tobytes()
        raise Fail(f"gym:{self.env_id}: unknown request {op!r}")


def main():
    cfg = json.loads(sys.argv[1])
    die_with_parent(int(cfg.get("parent", 0)))
    # The protocol owns the original stdin and stdout; whatever the environment prints goes to
    # stderr, so a print() in a user's environment cannot corrupt a reply.
    proto_in = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
    proto_out = os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = sys.stderr

    def send(status, payload):
        data = struct.pack("<BI", status, len(payload)) + payload
        view = memoryview(data)
        while view:
            k = os.write(proto_out, view)
            view = view[k:]

    try:
        worker = Worker(cfg)
        send(0, worker.hello())
    except Fail as e:
        send(1, str(e).encode())
        return
    except BaseException as e:
        send(1, f"gym:{cfg.get('id')}: {last_line(e)}".encode())
        return
    while True:
        head = proto_in.read(5)
        if len(head) < 5:
            return  # the binary is gone: end of file on stdin
        op, n = struct.unpack("<cI", head)
        payload = proto_in.read(n) if n else b""
        if len(payload) < n:
            return
        if op == b"Q":
            return
        try:
            reply = worker.handle(op, payload)
        except Fail as e:
            send(1, str(e).encode())
            continue
        except BaseException as e:
            send(1, f"gym:{worker.env_id}: {last_line(e)}".encode())
            continue
        send(0, reply)


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
