"""The driver behind `picorl tune`: an Optuna study whose trials are `picorl train` runs.

`picorl tune` writes this file and `tune_spaces.py` to `OUT/.picorl-tune/` and hands its process
over to it (exec) with the project venv's Python, so that signals to the worker reach this driver;
when the trials are done it hands the process back to `picorl tune --finish` for the summary. Optuna is the engine (its TPE sampler, its median or successive-halving
pruner, its storages); this file only turns a trial into a training run and back:

- trial K runs `picorl train --algo A --env E --seed S --set key=value ... --out OUT/trial-K`;
- every line the run appends to its `eval.csv` is reported to Optuna (`trial.report(mean_return,
  step)`); when the pruner says so the run is stopped (SIGTERM, then SIGKILL) and the trial is
  pruned;
- the objective (maximized): without `--stop-at-return`, the last evaluation's mean return; with
  `--stop-at-return R`, a run that reached R scores `R + 1 - solved_at_step / total_steps` (every
  solved run above every unsolved one, the fewer steps the better) and one that did not scores its
  last evaluation's mean return;
- SIGINT or SIGTERM stops every running `picorl train`, marks their trials failed and exits 1;
  a worker killed outright (SIGKILL, a lost machine) stops heartbeating, and the next worker to
  start a trial marks its trials failed (Optuna's heartbeat, `--heartbeat` seconds).

At the end it writes `OUT/tune.json`: the study's trials (every worker's) and the best one with
its run's `config.toml`, from which `picorl tune` writes `best.toml` and the summary.
"""

import argparse
import csv
import ctypes
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import warnings


def fail(msg):
    """picorl's one-line error and exit status 1 (this process has taken `picorl tune`'s place)."""
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


try:
    import optuna
    from optuna.trial import TrialState
except ImportError:
    fail(f"tune: {sys.executable} cannot import optuna: run scripts/setup.sh (it installs optuna "
         "into the project venv), or set PICORL_PYTHON to a Python that has it")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tune_spaces  # noqa: E402


class WorkerStopped(Exception):
    """The worker was told to stop (SIGINT/SIGTERM): the running trials are marked failed."""


class TrainFailed(Exception):
    """`picorl train` exited with an error of its own: the trial fails, the study goes on."""


STOP = threading.Event()
CHILDREN = set()
CHILDREN_LOCK = threading.Lock()


def on_signal(signum, _frame):
    STOP.set()
    with CHILDREN_LOCK:
        for c in CHILDREN:
            try:
                c.terminate()
            except OSError:
                pass


def die_with_parent():
    """In a `picorl train` child: SIGKILL when this driver dies (Linux's prctl
    PR_SET_PDEATHSIG), so a worker killed outright leaves no training behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def public(url):
    """A storage URL without its password, for reports."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


def log(msg):
    print(f"tune: {msg}", file=sys.stderr, flush=True)


def new_eval_rows(path, done):
    """Rows of `eval.csv` after the first `done` complete ones (a line still being written waits)."""
    try:
        with open(path, newline="") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    complete = text[: text.rfind("\n") + 1]
    rows = list(csv.DictReader(io.StringIO(complete)))
    return rows[done:]


def objective_value(summary, stop_at):
    final = summary.get("final_eval_mean")
    if final is None:
        raise TrainFailed("the run's summary.json has no final_eval_mean")
    solved = summary.get("solved_at_step")
    if stop_at is not None and solved is not None:
        return stop_at + 1.0 - solved / max(summary["total_steps"], 1)
    return float(final)


def stop_child(child):
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def make_objective(a, space):
    def objective(trial):
        t0 = time.monotonic()
        if STOP.is_set():
            raise WorkerStopped(f"trial {trial.number}: the worker was stopped")
        params = tune_spaces.sample(trial, space)
        run_dir = os.path.join(a.out, f"trial-{trial.number}")
        cmd = [a.picorl, "train", "--algo", a.algo, "--env", a.env, "--seed", str(a.seed),
               "--out", run_dir, "--quiet"] + a.train_args
        for k, v in params.items():
            cmd += ["--set", f"{k}={tune_spaces.toml_value(v)}"]
        # Where the trial runs, in one write (each is a round trip to the storage).
        trial.set_user_attr("run", {"dir": os.path.abspath(run_dir), "host": socket.gethostname()})
        os.makedirs(os.path.join(a.out, "logs"), exist_ok=True)
        log_path = os.path.join(a.out, "logs", f"trial-{trial.number}.log")
        with open(log_path, "w") as err:
            child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                     preexec_fn=die_with_parent)
        with CHILDREN_LOCK:
            CHILDREN.add(child)
        spawned = time.monotonic()
        pruned = False
        try:
            # stdout is one line (the summary), read at the end; poll eval.csv meanwhile.
            seen = 0
            while True:
                finished = child.poll() is not None
                for row in new_eval_rows(os.path.join(run_dir, "eval.csv"), seen):
                    seen += 1
                    trial.report(float(row["mean_return"]), int(row["step"]))
                    if not finished and trial.should_prune():
                        pruned = True
                        stop_child(child)
                        break
                if pruned or finished or STOP.is_set():
                    break
                time.sleep(a.poll)
            if STOP.is_set():
                stop_child(child)
                raise WorkerStopped(f"trial {trial.number}: the worker was stopped")
            out = child.communicate()[0]
        finally:
            with CHILDREN_LOCK:
                CHILDREN.discard(child)
        child_seconds = time.monotonic() - spawned
        if pruned:
            log(f"trial {trial.number}: pruned at {seen} evaluations")
            raise optuna.TrialPruned()
        if child.returncode != 0:
            last = ""
            with open(log_path) as f:
                lines = [ln.strip() for ln in f if ln.strip()]
                last = lines[-1] if lines else ""
            raise TrainFailed(f"trial {trial.number}: picorl train exited {child.returncode}: {last}")
        summary = json.loads(out.strip().splitlines()[-1])
        value = objective_value(summary, a.stop_at_return)
        with open(os.path.join(run_dir, "config.toml")) as f:
            result = {"config_toml": f.read(), "child_seconds": child_seconds,
                      "wall_seconds": time.monotonic() - t0}
        for k in ("train_seconds", "eval_seconds", "total_steps", "solved_at_step", "final_eval_mean"):
            result[k] = summary.get(k)
        trial.set_user_attr("result", result)
        log(f"trial {trial.number}: value {value!r} ({summary.get('train_seconds'):.2f} s training)")
        return value

    return objective


def storage_of(a):
    url = a.storage
    # SQLAlchemy 2.1 reads a bare postgresql:// with psycopg 3; the project installs psycopg2.
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    kw = dict(heartbeat_interval=a.heartbeat, grace_period=3 * a.heartbeat)
    if url.startswith("sqlite:"):
        # Two threads of one worker (and workers on one machine) write the same file: wait for
        # the lock rather than fail.
        kw["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    return optuna.storages.RDBStorage(url, **kw)


def trial_record(t):
    run = t.user_attrs.get("run", {})
    res = t.user_attrs.get("result", {})
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "value": t.value,
        "params": {k: t.params[k] for k in sorted(t.params)},
        "intermediate": [[s, v] for s, v in sorted(t.intermediate_values.items())],
        "dir": run.get("dir"),
        "host": run.get("host"),
        "train_seconds": res.get("train_seconds"),
        "eval_seconds": res.get("eval_seconds"),
        "child_seconds": res.get("child_seconds"),
        "wall_seconds": res.get("wall_seconds"),
        "solved_at_step": res.get("solved_at_step"),
        "duration_seconds": t.duration.total_seconds() if t.duration is not None else None,
    }


def main():
    p = argparse.ArgumentParser(prog="picorl tune (driver)")
    p.add_argument("--picorl", required=True)
    p.add_argument("--algo", required=True)
    p.add_argument("--env", required=True)
    p.add_argument("--trials", type=int, required=True)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--storage", required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler-seed", type=int)
    p.add_argument("--pruner", choices=["median", "halving", "none"], default="median")
    p.add_argument("--space")
    p.add_argument("--stop-at-return", type=float)
    p.add_argument("--heartbeat", type=int, default=10)
    p.add_argument("--poll", type=float, default=0.1)
    p.add_argument("--finish", required=True, help="JSON list: the picorl arguments run at the end")
    p.add_argument("--train-arg", dest="train_args", action="append", default=[])
    a = p.parse_args()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    overrides = {}
    if a.space:
        try:
            with open(a.space, "rb") as f:
                overrides = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            fail(f"--space {a.space}: {e}")
    try:
        space = tune_spaces.space(a.algo, overrides)
    except ValueError as e:
        fail(f"{'--space ' + a.space + ': ' if a.space else ''}{e}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats are "experimental" in Optuna 5.1; the warning says nothing a user can act on.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    pruner = {
        # Median: no pruning before 5 trials have finished, nor before a trial's second evaluation.
        "median": optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        "halving": optuna.pruners.SuccessiveHalvingPruner(),
        "none": optuna.pruners.NopPruner(),
    }[a.pruner]
    sampler = optuna.samplers.TPESampler(seed=a.sampler_seed, multivariate=True)
    # Workers starting together race to create the storage's tables (PostgreSQL: a unique
    # violation for the loser): a failed attempt is retried, and then finds them made.
    for attempt in range(5):
        try:
            study = optuna.create_study(study_name=a.study, storage=storage_of(a), sampler=sampler,
                                        pruner=pruner, direction="maximize", load_if_exists=True)
            break
        except Exception as e:  # SQLAlchemy's and the drivers' errors: bad URL, no server, no driver
            if attempt == 4 or "import" in str(e):
                fail(f"--storage {public(a.storage)}: "
                     f"{str(e).splitlines()[0] if str(e) else type(e).__name__}")
            time.sleep(0.5 + random.random())
    # One study, one task: a worker of another algorithm or environment is refused.
    task = {"algo": a.algo, "env": a.env}
    if not study.user_attrs:
        for k, v in task.items():
            study.set_user_attr(k, v)
    elif {k: study.user_attrs.get(k) for k in task} != task:
        fail(f"--study {a.study}: it tunes --algo {study.user_attrs.get('algo')} --env "
             f"{study.user_attrs.get('env')}, not --algo {a.algo} --env {a.env}")
    log(f"study {a.study!r}: {len(study.trials)} trials so far; this worker runs {a.trials} "
        f"({a.jobs} at a time)")
    started = time.monotonic()
    stopped = False
    try:
        study.optimize(make_objective(a, space), n_trials=a.trials, n_jobs=a.jobs,
                       catch=(TrainFailed,), gc_after_trial=False)
    except WorkerStopped:
        stopped = True
    except KeyboardInterrupt:
        stopped = True
    wall = time.monotonic() - started

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(done, key=lambda t: t.value) if done else None
    report = {
        "study": a.study,
        "storage": public(a.storage),
        "algo": a.algo,
        "env": a.env,
        "wall_seconds": wall,
        "stopped": stopped,
        "trials": [trial_record(t) for t in trials],
        "best": None if best is None else dict(trial_record(best),
                                               config_toml=best.user_attrs.get("result", {}).get("config_toml")),
    }
    tmp = os.path.join(a.out, "tune.json.tmp")
    with open(tmp, "w") as f:
        json.dump(report, f)
    os.replace(tmp, os.path.join(a.out, "tune.json"))
    if stopped or STOP.is_set():
        fail(f"tune: stopped by a signal; this worker's running trials are marked failed in study "
             f"{a.study} ({public(a.storage)})")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(a.picorl, [a.picorl] + json.loads(a.finish))


if __name__ == "__main__":
    main()
