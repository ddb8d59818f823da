#!/usr/bin/env bash
# scripts/dqn_check.sh [SEED]: core's DQN trains CartPole-v1 on the desktop (core's dqn_cartpole
# example) and on the Cortex-M4F under QEMU (firmware-example/run --mode dqn) from the same seed;
# every training episode's return, every evaluation and the weights' CRC-32 must agree, line for
# line. Prints the firmware's instructions per step, flash and RAM.
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:-0}"
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "error: SEED $seed: expected a non-negative integer" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# `std` on the host: the matrix kernel the host learner runs (AVX-512 or AVX2 where the CPU has
# them), checked against the controller's scalar one.
cargo run --release --quiet -p picorl-core --features std --example dqn_cartpole -- "$seed" >"$work/host.txt"
firmware-example/run --mode dqn --seed "$seed" >"$work/mcu.txt"
keep() { grep -E '^(episode=|eval |dqn )' "$1"; }
if ! diff <(keep "$work/host.txt") <(keep "$work/mcu.txt") >"$work/diff.txt"; then
  echo "error: the firmware's DQN run differs from the host's (first differences below)" >&2
  head -20 "$work/diff.txt" >&2
  exit 1
fi
grep -q ' solved=true ' "$work/host.txt" || { echo "error: DQN did not solve CartPole-v1 with seed $seed" >&2; exit 1; }
echo "host == MCU: $(keep "$work/host.txt" | grep -c '^episode=') episodes, $(grep '^dqn ' "$work/host.txt")"
grep '^summary ' "$work/mcu.txt"
