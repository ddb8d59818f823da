#!/usr/bin/env bash
# examples/servo/run.sh [--seed N] [--episodes N] [--total-steps N] [--out DIR]
#
# Servo-v0 from training to the controller, one command: trains PPO with the `servo` binary
# (picorl's command line with Servo-v0 registered), exports the policy to int8, evaluates the
# file through core on the host, runs the firmware example with this crate's environment under
# QEMU, checks that host and MCU returns are equal bit for bit, and evaluates the tuned PD
# controller on the same episodes (reset seeds 0..N-1). Everything goes to --out (default
# runs/servo-<seed>, which must not exist); the last lines are the report.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
usage() { sed -n '2,2p' "$0" | sed 's/^# //' >&2; exit 2; }

seed=0 episodes=20 total="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
    --episodes) episodes="${2:?--episodes needs a number}"; shift 2 ;;
    --total-steps) total="${2:?--total-steps needs a number}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "error: unknown option $1" >&2; usage ;;
  esac
done
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "error: --seed $seed: expected a non-negative integer" >&2; exit 2; }
[[ "$episodes" =~ ^[0-9]+$ ]] && [ "$episodes" -gt 0 ] || { echo "error: --episodes $episodes: expected a positive integer" >&2; exit 2; }
[ -z "$total" ] || [[ "$total" =~ ^[0-9]+$ ]] || { echo "error: --total-steps $total: expected a positive integer" >&2; exit 2; }
out="${out:-$repo/runs/servo-$seed}"
[ ! -e "$out" ] || { echo "error: --out $out exists (choose another, or remove it)" >&2; exit 1; }

source "$repo/scripts/setup.sh"
set -euo pipefail
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/picorl/target}"
cd "$repo"
echo "== building the servo binaries" >&2
cargo build --release -p picorl-servo --quiet
servo="$CARGO_TARGET_DIR/release/servo"
mkdir -p "$out"

echo "== training PPO on Servo-v0 (seed $seed)" >&2
"$servo" train --algo ppo --env Servo-v0 --seed "$seed" ${total:+--total-steps "$total"} --quiet \
  --out "$out/run" > "$out/summary.json"
echo "== exporting to int8" >&2
"$servo" export "$out/run" --out "$out/servo-int8.picorl" --quant int8 --json > "$out/export.json"
echo "== evaluating the int8 file on the host (through core)" >&2
"$servo" eval "$out/servo-int8.picorl" --env Servo-v0 --episodes "$episodes" --seed 0 --json > "$out/host.json"
echo "== the firmware with examples/servo under QEMU" >&2
firmware-example/run --env-crate "$here" --env-type Servo --env Servo-v0 \
  --policy "$out/servo-int8.picorl" --episodes "$episodes" --seed 0 > "$out/mcu.txt"
echo "== the tuned PD controller on the same episodes" >&2
"$CARGO_TARGET_DIR/release/servo-pd" --episodes "$episodes" --seed 0 --json > "$out/pd.json"
python3 "$here/check.py" "$out"
