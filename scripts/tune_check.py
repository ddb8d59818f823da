#!/usr/bin/env python3
"""`picorl tune` on its embedded default storage, then workers sharing one study on a real
PostgreSQL server.

1. The default (a SQLite file in OUT): three trials, `best.toml` that `picorl train --config`
   takes, the summary's JSON.
2. A PostgreSQL 15 server of its own (initdb in a temporary directory, a free local port; as root
   the server runs as the `postgres` user, since initdb refuses root), then at once:
   workers A and B (4 trials each) and worker C (2 trials) on one study; C is sent SIGTERM while its
   first trial trains. Checked in the study (read with Optuna itself, not picorl's report):
   trial numbers 0..N-1 each once, A's and B's 8 trials complete or pruned, each with its own run
   directory under its own worker's OUT, C's interrupted trial failed, nothing left running.
3. A worker whose driver is killed outright (SIGKILL: no handler runs) leaves its trial running;
   the next worker, once the heartbeat is stale, marks it failed.
The server is stopped at the end, whatever happened. Prints PASS/FAIL lines and a total.
Usage: tune_check.py PICORL_BINARY WORK_DIR
"""
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

PICORL, WORK = sys.argv[1], Path(sys.argv[2])
WORK.mkdir(parents=True, exist_ok=True)
passed = failed = 0

# Small trials: a few seconds of PPO on CartPole each, evaluated every 256 steps.
SPACE = WORK / "space.toml"
SPACE.write_text("""
[n_envs]
choices = [2, 4]
[n_steps]
choices = [16, 32]
[batch_size]
choices = [32, 64]
[n_epochs]
int = [1, 4]
[hidden]
choices = [[16, 16], [32, 32]]
""")
TRIAL = ["--algo", "ppo", "--env", "CartPole-v1", "--total-steps", "1024", "--eval-every", "256",
         "--eval-episodes", "2", "--space", str(SPACE)]


def check(ok, what):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    passed += bool(ok)
    failed += not ok


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr[-3000:]}")
    return r.stdout


def default_storage():
    out = WORK / "local"
    shutil.rmtree(out, ignore_errors=True)
    summary = json.loads(run([PICORL, "tune", *TRIAL, "--trials", "3", "--out", str(out), "--json"]))
    check(summary["trials"] == 3 and summary["complete"] + summary["pruned"] == 3,
          f"default storage: 3 trials, {summary['complete']} complete, {summary['pruned']} pruned")
    check((out / "study.db").exists(), "default storage: the study is OUT/study.db")
    best = out / "best.toml"
    check(best.exists() and summary["best_toml"] == str(best), f"best.toml written ({summary['best_toml']})")
    run_dir = WORK / "from-best"
    shutil.rmtree(run_dir, ignore_errors=True)
    s = json.loads(run([PICORL, "train", "--algo", "ppo", "--env", "CartPole-v1", "--config", str(best),
                        "--total-steps", "256", "--quiet", "--out", str(run_dir)]))
    check(s["total_steps"] >= 256, "picorl train --config best.toml trains")
    check(summary["overhead_seconds_mean"] is not None,
          f"the summary reports the overhead per trial (wall - training - evaluation): "
          f"{summary['overhead_seconds_mean']:.2f} s (a figure, not a speed check)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found or not found[-1]:
        raise RuntimeError(f"{name} not found (scripts/setup.sh installs Debian's postgresql)")
    return found[-1]


class Postgres:
    """A throwaway server: a data directory and a socket directory of its own, one local port."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="picorl-pg-"))
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: the package's `postgres` user runs them.
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        run([*self.as_user, pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--no-sync", "-E", "UTF8"])
        run([*self.as_user, pg_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(self.dir / "log"),
             "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self):
        subprocess.run([*self.as_user, pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast",
                        "-w", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def sqlalchemy_url(url):
    """SQLAlchemy 2.1 reads a bare postgresql:// with psycopg 3; psycopg2 is what is installed."""
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def worker(url, study, name, trials, extra=()):
    out = WORK / name
    shutil.rmtree(out, ignore_errors=True)
    return subprocess.Popen([PICORL, "tune", *TRIAL, "--trials", str(trials), "--storage", url,
                             "--study", study, "--out", str(out), "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(pred, timeout, what, proc):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited ({proc.returncode}) before {what}: {proc.communicate()[1][-1500:]}")
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def shared_study(pg):
    url, study = pg.url, "two-workers"
    a = worker(url, study, "worker-a", 4)
    b = worker(url, study, "worker-b", 4)
    c = worker(url, study, "worker-c", 2)
    # C's first trial is training once its run directory has an eval.csv header.
    wait_for(lambda: list((WORK / "worker-c").glob("trial-*/eval.csv")), 300, "worker C's first trial", c)
    c.send_signal(signal.SIGTERM)
    c_err = c.communicate(timeout=120)[1]
    check(c.returncode == 1 and "marked failed" in c_err,
          f"worker C, sent SIGTERM mid-trial, exits 1 saying its trial is marked failed (exit {c.returncode})")
    for w, name in [(a, "A"), (b, "B")]:
        out, err = w.communicate(timeout=900)
        check(w.returncode == 0, f"worker {name} finished its 4 trials (exit {w.returncode}) {err[-500:] if w.returncode else ''}")
    trials = optuna.load_study(study_name=study, storage=sqlalchemy_url(url)).get_trials(deepcopy=False)
    numbers = sorted(t.number for t in trials)
    check(numbers == list(range(len(trials))), f"trial numbers 0..{len(trials) - 1}, each once: {numbers}")
    states = {t.number: t.state.name for t in trials}
    check(not [n for n, s in states.items() if s == "RUNNING"], f"no trial left running: {states}")
    dirs = {}
    for name in ("worker-a", "worker-b", "worker-c"):
        for d in (WORK / name).glob("trial-*"):
            dirs.setdefault(int(d.name.split("-")[1]), []).append(name)
    by_worker = {n: [t for t in trials if t.user_attrs.get("run", {}).get("dir", "").startswith(str(WORK / n) + "/")]
                 for n in ("worker-a", "worker-b", "worker-c")}
    for n in ("worker-a", "worker-b"):
        ok = [t for t in by_worker[n] if t.state.name in ("COMPLETE", "PRUNED")]
        check(len(by_worker[n]) == 4 and len(ok) == 4,
              f"{n}: 4 trials in the study, all complete or pruned ({[(t.number, t.state.name) for t in by_worker[n]]})")
    failed_c = [t for t in by_worker["worker-c"] if t.state.name == "FAIL"]
    check(len(failed_c) >= 1 and all(t.state.name in ("FAIL", "COMPLETE", "PRUNED") for t in by_worker["worker-c"]),
          f"worker C: its interrupted trial is failed ({[(t.number, t.state.name) for t in by_worker['worker-c']]})")
    check(sum(len(v) for v in by_worker.values()) == len(trials),
          f"every trial belongs to one worker ({len(trials)} trials)")
    check(all(len(v) == 1 for v in dirs.values()) and sorted(dirs) == sorted(
        t.number for t in trials if t.user_attrs.get("run")),
          "every trial that started has exactly one run directory, under its own worker")


def killed_outright(pg):
    study = "killed"
    d = worker(pg.url, study, "worker-d", 1, ["--heartbeat", "1"])
    wait_for(lambda: list((WORK / "worker-d").glob("trial-*/eval.csv")), 300, "worker D's trial", d)
    # `picorl tune` has handed its process to the driver: this kills the driver.
    d.kill()
    d.communicate(timeout=60)
    before = optuna.load_study(study_name=study, storage=sqlalchemy_url(pg.url)).get_trials(deepcopy=False)
    check([t.state.name for t in before] == ["RUNNING"],
          f"a driver killed outright leaves its trial running ({[t.state.name for t in before]})")
    time.sleep(4)  # the heartbeat's grace period: 3 x 1 s
    e = worker(pg.url, study, "worker-e", 1, ["--heartbeat", "1"])
    e.communicate(timeout=300)
    after = optuna.load_study(study_name=study, storage=sqlalchemy_url(pg.url)).get_trials(deepcopy=False)
    states = [t.state.name for t in after]
    check(e.returncode == 0 and states[0] == "FAIL" and states[1] in ("COMPLETE", "PRUNED"),
          f"the next worker marks the stale trial failed and runs its own ({states})")


try:
    default_storage()
    pg = Postgres()
    try:
        shared_study(pg)
        killed_outright(pg)
    finally:
        pg.stop()
except (RuntimeError, subprocess.TimeoutExpired) as e:
    check(False, str(e))
print(f"tune: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
