# Sourced by the run and test scripts: where the build lands and which tools come first.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
# wasm-opt from npm (binaryen), never a download at build time.
export PATH="$root/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$root/target/site}"
export GRIMMORY_BIN="$target_dir/release/grimmory"
