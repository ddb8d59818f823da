#!/usr/bin/env bash
# Every test: `./x test` runs this with the environment scripts/setup.sh prepares.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check
(cd firmware-example && cargo fmt -- --check)

step "no import cycle among the host's modules"
python3 scripts/module_cycles.py --self-test
python3 scripts/module_cycles.py host/src

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace (release: the learning tests train real policies)"
cargo test --workspace --release

step "./x install: the binary copied to a directory of its own runs from / with a bare environment"
install_dir="$(mktemp -d)/bin"
scripts/install.sh "$install_dir"
(cd / && env -i "$install_dir/picorl" --version)
rm -rf "$(dirname "$install_dir")"

step "picorl-core for thumbv7em-none-eabihf: the proof that core is no_std and allocation-free"
PATH="$LLD_DIR:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="-D warnings" \
  /usr/bin/cargo build -p picorl-core --release --target thumbv7em-none-eabihf \
  -Zbuild-std=core,panic_abort --target-dir "$CARGO_TARGET_DIR/thumbv7em" --quiet

step "the firmware for a real board (WeAct STM32F411 Black Pill): build only"
firmware-example/run --board blackpill-f411 --build-only --policy firmware-example/policies/cartpole-ppo-int8.picorl

step "fuzz the .picorl reader (cargo-fuzz on stable via RUSTC_BOOTSTRAP, 20 s from the committed corpus)"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
# core/fuzz/corpus/model_reader (committed, minimized) seeds the run; new inputs go to a scratch
# directory, so the tree is left as it was.
fuzz_new="$(mktemp -d)"
(cd core && env -u CARGO_TARGET_DIR RUSTC_BOOTSTRAP=1 cargo fuzz run model_reader "$fuzz_new" "$PWD/fuzz/corpus/model_reader" \
  -- -max_total_time=20 -print_final_stats=1 2>&1 | tail -15)
rm -rf "$fuzz_new"

step "the firmware under QEMU, checked against picorl eval on the host"
python3 scripts/firmware_check.py "$CARGO_TARGET_DIR/release/picorl" "$(mktemp -d)"

step "on-device deep RL: core's DQN on CartPole-v1, host and firmware (QEMU) bit for bit"
scripts/dqn_check.sh 0

step "an environment of the user's own (examples/servo): trained briefly, int8, firmware under QEMU, host == MCU"
examples/servo/run.sh --total-steps 8192 --episodes 3 --out "$(mktemp -d)/servo"

step "ONNX and TFLite exports in onnxruntime and TFLite Micro, checked against core"
python3 scripts/interop_check.py "$CARGO_TARGET_DIR/release/picorl" "$(mktemp -d)"

step "picorl tune: the embedded study, then workers sharing one study on a PostgreSQL server"
python3 scripts/tune_check.py "$CARGO_TARGET_DIR/release/picorl" "$(mktemp -d)"

step "picorl import: SB3 PPO and SAC policies from ONNX, against onnxruntime and on the firmware"
python3 scripts/import_check.py "$CARGO_TARGET_DIR/release/picorl" "$(mktemp -d)"
