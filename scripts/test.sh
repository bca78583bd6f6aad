#!/usr/bin/env bash
# Sets up what is missing and runs every check and test: formatting, lints, the Rust unit and
# integration tests (each on SQLite and on PostgreSQL), then the browser tests in Chromium
# against the release build.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"

scripts/tools.sh --with-browser
scripts/postgres.sh

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --all-targets -- -D warnings
cargo clippy -p app -p frontend --target wasm32-unknown-unknown -- -D warnings

log "Rust tests (SQLite and PostgreSQL)"
cargo test

log "release build"
cargo leptos build --release

log "browser tests"
cd end2end
npx playwright test

# The benchmark in its short mode, so it cannot rot: it fails only when a figure is missing.
cd "$root"
log "benchmark, short mode"
scripts/bench.sh --short
