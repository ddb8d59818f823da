#!/usr/bin/env bash
# benches/compare.sh [--seeds 0 1 2 3 4] [--sections env,nn,firmware,train,rltools]
#
# picorl against its peers in one run on this machine; writes benches/RESULTS.md (see
# benches/compare.py). Sets up what it needs first: the project venv (scripts/setup.sh: torch,
# gymnasium; with PICORL_WITH_RLTOOLS=1, set here unless given as 0, the `rltools` package and
# Debian's OpenBLAS for the RLtools section), the peers in it (stable-baselines3, onnxruntime,
# onnx), a release build of `picorl` and of benches/examples/peers.rs. Runs `nice`d; the full run
# took 51 minutes on 2 shared cores (load 2-14), most of it SB3 (DQN, SAC and TD3: minutes per
# seed under load). `--sections rltools` runs only RLtools beside picorl on Pendulum-v1
# (benches/rltools_pendulum.py; SB3 columns from the train section, this run's or the one kept).
set -euo pipefail
cd "$(dirname "$0")/.."
export PICORL_WITH_RLTOOLS="${PICORL_WITH_RLTOOLS:-1}"
source scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/picorl/target}"

# The peers, pinned so that a later run measures the same thing.
PEERS=(stable-baselines3==2.9.2 onnxruntime==1.32.0 onnx==1.23.2)
if ! python -c "import stable_baselines3, onnxruntime, onnx" 2>/dev/null; then
  echo "compare: installing ${PEERS[*]} into $PICORL_VENV" >&2
  python -m pip install -q "${PEERS[@]}" >&2 || { echo "error: compare: pip install ${PEERS[*]} failed" >&2; exit 1; }
fi

echo "compare: building picorl and the peers example (release)" >&2
cargo build --release --quiet -p picorl-host -p picorl-benches --example peers \
  || { echo "error: compare: the release build failed (see above)" >&2; exit 1; }

exec nice -n 10 python benches/compare.py \
  --picorl "$CARGO_TARGET_DIR/release/picorl" \
  --peers "$CARGO_TARGET_DIR/release/examples/peers" "$@"
