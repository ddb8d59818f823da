#!/usr/bin/env bash
# picorl set-up: installs what this machine lacks, idempotently, and prints the
# environment the build needs. Sourced by ./x; safe to run again (quick when all is there).
#
#   - Debian packages: rustc-web, cargo-web, rust-web-src (the Cortex-M4F build: rustup cannot add
#     the thumbv7em target here) and qemu-system-arm (the firmware under QEMU).
#   - A Python venv with torch==2.11.0 (libtorch for tch 0.24) and gymnasium==1.4.0 (reference
#     traces), kept under ~/.cache/picorl so fresh clones reuse it; created wherever it is missing;
#     onnxruntime and tflite-micro (the ONNX / TFLite export checks) added to it under their own stamp,
#     and gymnasium[mujoco] (MuJoCo environments for `--env gym:ID`) under another.
#     and optuna, psycopg2-binary, stable-baselines3 and onnx (picorl tune, the import checks) under
#     another; Debian's postgresql (the shared-study test). With PICORL_WITH_RLTOOLS=1 (which
#     benches/compare.sh sets): rltools and Debian's libopenblas-dev (RLtools, the benchmark peer).
# Sourced by ./x and other scripts: the strict options hold inside this file only, and the
# caller's options are restored at the end.
_picorl_saved_opts="$(set +o)"
set -euo pipefail

PICORL_TORCH_VERSION=2.11.0
PICORL_GYM_VERSION=1.4.0
PICORL_VENV="${PICORL_VENV:-$HOME/.cache/picorl/venv-torch-$PICORL_TORCH_VERSION}"

die() { echo "error: setup: $*" >&2; exit 1; }
say() { echo "setup: $*" >&2; }

need_apt=()
[ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] || need_apt+=(rustc-web cargo-web)
[ -d /usr/lib/rustlib/src/rust/library ] || need_apt+=(rust-web-src)
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2 || die "apt-get update failed (no network to Debian's mirrors?)"
  $SUDO apt-get install -y -qq --no-install-recommends rustc-web cargo-web rust-web-src qemu-system-arm >&2 \
    || die "apt-get install ${need_apt[*]} failed"
fi

stamp="$PICORL_VENV/.picorl-ready"
if [ ! -f "$stamp" ]; then
  say "creating the Python venv at $PICORL_VENV (torch==$PICORL_TORCH_VERSION, about 5 GB, a minute)"
  mkdir -p "$(dirname "$PICORL_VENV")"
  python3 -m venv "$PICORL_VENV" || die "python3 -m venv $PICORL_VENV failed (is python3-venv installed?)"
  "$PICORL_VENV/bin/pip" install -q --upgrade pip >&2 || die "pip upgrade in $PICORL_VENV failed"
  "$PICORL_VENV/bin/pip" install -q "torch==$PICORL_TORCH_VERSION" "gymnasium==$PICORL_GYM_VERSION" numpy >&2 \
    || die "pip install torch==$PICORL_TORCH_VERSION into $PICORL_VENV failed"
  touch "$stamp"
fi
# The runtimes that check `picorl export --out FILE.onnx / FILE.tflite` (scripts/interop_check.py):
# a stamp of their own, so venvs made before they were added get them too.
PICORL_ORT_VERSION=1.32.0
PICORL_TFLM_VERSION=0.dev20261023182759
interop_stamp="$PICORL_VENV/.picorl-interop-$PICORL_ORT_VERSION-$PICORL_TFLM_VERSION"
if [ ! -f "$interop_stamp" ]; then
  say "installing onnxruntime==$PICORL_ORT_VERSION and tflite-micro==$PICORL_TFLM_VERSION into $PICORL_VENV"
  "$PICORL_VENV/bin/pip" install -q "onnxruntime==$PICORL_ORT_VERSION" "tflite-micro==$PICORL_TFLM_VERSION" >&2 \
    || die "pip install onnxruntime and tflite-micro into $PICORL_VENV failed"
  touch "$interop_stamp"
fi
# MuJoCo for the Gymnasium bridge's configs (`--env gym:Hopper-v5`…): gymnasium's `mujoco` extra,
# the `mujoco` wheel from PyPI (no system library to install), under a stamp of its own.
PICORL_MUJOCO_VERSION=4.0.1
mujoco_stamp="$PICORL_VENV/.picorl-mujoco-$PICORL_MUJOCO_VERSION"
if [ ! -f "$mujoco_stamp" ]; then
  say "installing gymnasium[mujoco]==$PICORL_GYM_VERSION (mujoco==$PICORL_MUJOCO_VERSION) into $PICORL_VENV"
  "$PICORL_VENV/bin/pip" install -q "gymnasium[mujoco]==$PICORL_GYM_VERSION" "mujoco==$PICORL_MUJOCO_VERSION" >&2 \
    || die "pip install gymnasium[mujoco] into $PICORL_VENV failed"
  touch "$mujoco_stamp"
fi

# L2F (Learning to Fly in Seconds), the reference simulator that scripts/l2f_traces.py records
# Quadrotor-v0's conformance traces from: a source package (several minutes of g++), so only on
# demand, with PICORL_WITH_L2F=1 (the committed fixtures need no Python).
PICORL_L2F_VERSION=2.0.18
l2f_stamp="$PICORL_VENV/.picorl-l2f-$PICORL_L2F_VERSION"
if [ "${PICORL_WITH_L2F:-0}" = 1 ] && [ ! -f "$l2f_stamp" ]; then
  say "installing l2f==$PICORL_L2F_VERSION into $PICORL_VENV (compiles C++, several minutes)"
  "$PICORL_VENV/bin/pip" install -q "l2f==$PICORL_L2F_VERSION" >&2 \
    || die "pip install l2f==$PICORL_L2F_VERSION into $PICORL_VENV failed (needs g++)"
  touch "$l2f_stamp"
fi

# RLtools, the peer of benches/rltools_pendulum.py (benches/compare.sh sets PICORL_WITH_RLTOOLS=1):
# the `rltools` package (seconds to install; it compiles RLtools' C++ training loop with g++ on
# first use, a minute or two per configuration, cached under $TMPDIR/rltools) and Debian's OpenBLAS,
# which it links when present. Only on demand: nothing else needs them.
PICORL_RLTOOLS_VERSION=2.2.1
rltools_stamp="$PICORL_VENV/.picorl-rltools-$PICORL_RLTOOLS_VERSION"
if [ "${PICORL_WITH_RLTOOLS:-0}" = 1 ]; then
  if ! ls /usr/lib/*/libblas.so >/dev/null 2>&1; then
    say "installing Debian's libopenblas-dev (the BLAS that RLtools links)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >&2 || die "apt-get update failed (no network to Debian's mirrors?)"
    $SUDO apt-get install -y -qq --no-install-recommends libopenblas-dev >&2 \
      || die "apt-get install libopenblas-dev failed"
  fi
  if [ ! -f "$rltools_stamp" ]; then
    say "installing rltools==$PICORL_RLTOOLS_VERSION into $PICORL_VENV"
    "$PICORL_VENV/bin/pip" install -q "rltools==$PICORL_RLTOOLS_VERSION" >&2 \
      || die "pip install rltools==$PICORL_RLTOOLS_VERSION into $PICORL_VENV failed"
    touch "$rltools_stamp"
  fi
fi

# `picorl tune` (Optuna; psycopg2 for a study in PostgreSQL) and the `picorl import` checks
# (stable-baselines3 trains the policies scripts/import_check.py imports; onnx is what torch's
# ONNX exporter writes with): a stamp of their own.
PICORL_OPTUNA_VERSION=5.1.0
PICORL_PSYCOPG_VERSION=2.9.13
PICORL_SB3_VERSION=2.9.2
PICORL_ONNX_VERSION=1.23.2
tune_stamp="$PICORL_VENV/.picorl-tune-$PICORL_OPTUNA_VERSION-$PICORL_PSYCOPG_VERSION-$PICORL_SB3_VERSION-$PICORL_ONNX_VERSION"
if [ ! -f "$tune_stamp" ]; then
  say "installing optuna, psycopg2-binary, stable-baselines3 and onnx into $PICORL_VENV"
  "$PICORL_VENV/bin/pip" install -q "optuna==$PICORL_OPTUNA_VERSION" "psycopg2-binary==$PICORL_PSYCOPG_VERSION" \
    "stable-baselines3==$PICORL_SB3_VERSION" "onnx==$PICORL_ONNX_VERSION" >&2 \
    || die "pip install optuna, psycopg2-binary, stable-baselines3 and onnx into $PICORL_VENV failed"
  touch "$tune_stamp"
fi
# PostgreSQL (Debian's), for the test of workers sharing one `picorl tune` study
# (scripts/tune_check.py starts and stops a server of its own).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing Debian's postgresql"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2 || die "apt-get update failed (no network to Debian's mirrors?)"
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2 || die "apt-get install postgresql failed"
fi

# The rust-lld linker ships with rustup's toolchain (not on PATH by default).
RUSTUP_SYSROOT="$(rustc --print sysroot)"
LLD_DIR="$RUSTUP_SYSROOT/lib/rustlib/x86_64-unknown-linux-gnu/bin"
[ -x "$LLD_DIR/rust-lld" ] || die "rust-lld not found under $LLD_DIR"

export PICORL_VENV LLD_DIR
export LIBTORCH_USE_PYTORCH=1
export PATH="$PICORL_VENV/bin:$PATH"
eval "$_picorl_saved_opts"
unset _picorl_saved_opts
