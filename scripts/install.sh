#!/usr/bin/env bash
# `./x install [DIR]`: builds the release `picorl` and copies it to DIR (default
# $PICORL_BIN_DIR, else ~/.local/bin), then runs it from / to show that it finds libtorch there
# (the binary's runpath names the venv's torch/lib: no LD_LIBRARY_PATH needed). Sourced
# environment (scripts/setup.sh, CARGO_TARGET_DIR) comes from ./x.
set -euo pipefail
bin_dir="${1:-${PICORL_BIN_DIR:-$HOME/.local/bin}}"
echo "install: building picorl (release)" >&2
cargo build --release -p picorl-host --bin picorl --quiet \
  || { echo "error: install: cargo build --release -p picorl-host failed (see above)" >&2; exit 1; }
built="$CARGO_TARGET_DIR/release/picorl"
mkdir -p "$bin_dir" || { echo "error: install: cannot create $bin_dir" >&2; exit 1; }
# A copy, not a link: a later build in the target directory does not change the installed one.
install -m 0755 "$built" "$bin_dir/picorl.tmp" && mv -f "$bin_dir/picorl.tmp" "$bin_dir/picorl" \
  || { echo "error: install: cannot write $bin_dir/picorl" >&2; exit 1; }
# From another directory, in a clean environment: the runpath must find libtorch by itself.
if ! version="$(cd / && env -u LD_LIBRARY_PATH "$bin_dir/picorl" --version 2>&1)"; then
  echo "error: install: $bin_dir/picorl does not run from /: $version" >&2
  exit 1
fi
echo "installed $bin_dir/picorl: $version" >&2
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on PATH; add it, e.g. echo 'export PATH=\"$bin_dir:\$PATH\"' >> ~/.bashrc" >&2 ;;
esac
