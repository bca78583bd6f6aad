# shellcheck shell=bash
# Sourced by the scripts: where the build lands, which tools come first, and a step timer.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
# wasm-opt from npm (binaryen), never a download at build time.
export PATH="$root/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$root/target/site}"
export GRIMMORY_BIN="$target_dir/release/grimmory"

log() { printf '==> %s\n' "$*" >&2; }

# "95 s" or "4 min 5 s": long first runs are read in minutes.
human_secs() {
  local s="$1"
  if [ "$s" -ge 60 ]; then printf '%d min %d s' $((s / 60)) $((s % 60)); else printf '%d s' "$s"; fi
}

# Runs a command as a named step and says when it starts and how long it took, so nobody
# stares at a silent terminal during a first run's long builds.
step() {
  local _step="$1" _step_started=$SECONDS
  shift
  log "$_step"
  "$@"
  log "$_step: done in $(human_secs $((SECONDS - _step_started)))"
}
