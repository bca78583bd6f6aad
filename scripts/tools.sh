#!/usr/bin/env bash
# Installs the build tools the project needs, skipping each one that is already at the right
# version. Nothing here downloads a binary from outside the package registries (crates.io, npm,
# Debian). On a new machine the two Rust tools are most of the first run: they are built with a
# lighter profile, both at once, each into its own log, with a progress line every minute.
# The versions, and what this changes on the machine: docs/development.md.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"

CARGO_LEPTOS_VERSION=0.3.11

# test.sh asks for what only the checks need: Chromium, rustfmt and clippy.
with_browser=false
[ "${1:-}" = "--with-browser" ] && with_browser=true

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: $* missing and not root: install it with apt-get (Debian package: $*)" >&2
    exit 1
  fi
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The tools' own release profiles (cargo-leptos: fat LTO, one codegen unit, so its last step
# keeps one core busy for minutes) cost time on every new machine for speed nobody notices:
# they process one small app. Measured on 2 shared cores, fresh CARGO_HOME: both tools took
# 27.8 min one after the other in release, 15.8 min at once with this profile (22-24
# CPU-minutes either way: the gain is cores kept busy). 16 codegen units, not 256: on 2 cores
# the extra units cost more CPU than their parallelism gains. Not `--debug`: swc then prints
# its debug logging on every build.
TOOL_PROFILE='
[profile.grimmory-tool]
inherits = "release"
opt-level = 1
lto = false
codegen-units = 16
debug-assertions = false
incremental = false
'

# Builds a crate from a copy of its published source after pinning one dependency, because
# the locked versions some tools ship need a newer rustc or a crate this registry mirror
# lacks; the copy also takes the lighter profile above.
install_from_source() {
  local crate="$1" version="$2" pin_pkg="$3" pin_version="$4"; shift 4
  local srcs work
  srcs=("${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"${crate}-${version}")
  work="$(mktemp -d)"
  cp -r "${srcs[0]}" "$work/src"
  printf '%s' "$TOOL_PROFILE" >>"$work/src/Cargo.toml"
  (cd "$work/src" && cargo update -p "$pin_pkg" --precise "$pin_version")
  cargo install --locked --profile grimmory-tool "$@" --path "$work/src"
  rm -rf "$work"
}

logs=""
declare -A pids=() started=()
# Starts an install in the background with its output in a log file.
start_install() {
  local name="$1"; shift
  [ -n "$logs" ] || logs="$(mktemp -d "${TMPDIR:-/tmp}/grimmory-tools.XXXXXX")"
  log "building $name (log: $logs/$name.log)"
  "$@" >"$logs/$name.log" 2>&1 &
  pids[$name]=$!
  started[$name]=$SECONDS
  # One core: one build at a time goes faster than two fighting over it.
  [ "$(nproc)" -ge 2 ] || wait_installs
}

# Waits for the background installs, with a line a minute saying what each is compiling.
wait_installs() {
  local name last_report=$SECONDS
  while [ "${#pids[@]}" -gt 0 ]; do
    for name in "${!pids[@]}"; do
      if ! kill -0 "${pids[$name]}" 2>/dev/null; then
        if wait "${pids[$name]}"; then
          log "$name installed in $(human_secs $((SECONDS - started[$name])))"
          unset "pids[$name]"
        else
          tail -n 40 "$logs/$name.log" >&2
          echo "error: installing $name failed; full log: $logs/$name.log" >&2
          exit 1
        fi
      fi
    done
    if [ "${#pids[@]}" -gt 0 ]; then
      sleep 2
      if [ $((SECONDS - last_report)) -ge 60 ]; then
        last_report=$SECONDS
        for name in "${!pids[@]}"; do
          log "… $name: $(human_secs $((SECONDS - started[$name]))) so far, $(grep -o 'Compiling [^ ]*' "$logs/$name.log" | tail -n1 || true)"
        done
      fi
    fi
  done
}

if $with_browser; then
  for component in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$component"; then
      rustup component add "$component"
    fi
  done
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target" rustup target add wasm32-unknown-unknown
fi

# Unpacks the published sources (cargo info does) before the builds start: both at once would
# only queue on cargo's package cache lock.
need_leptos=false need_bindgen=false
if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  need_leptos=true
  cargo info "cargo-leptos@$CARGO_LEPTOS_VERSION" >/dev/null
fi
# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
wb_version="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
if ! wasm-bindgen --version 2>/dev/null | grep -q " ${wb_version}\$"; then
  need_bindgen=true
  cargo info "wasm-bindgen-cli@$wb_version" >/dev/null
fi
if $need_leptos; then
  log "cargo-leptos $CARGO_LEPTOS_VERSION is missing: building it (once per machine, about 15 minutes on 2 cores)"
  # no_downloads: it takes wasm-bindgen and wasm-opt from PATH instead of fetching binaries.
  start_install cargo-leptos install_from_source cargo-leptos "$CARGO_LEPTOS_VERSION" \
    cargo-util-schemas 0.14.1 --features no_downloads
fi
if $need_bindgen; then
  log "wasm-bindgen-cli $wb_version is missing: building it (meanwhile, about 5 minutes)"
  # Only the wasm-bindgen binary, without the test runner's TLS stack.
  start_install wasm-bindgen-cli install_from_source wasm-bindgen-cli "$wb_version" \
    webpki-roots 1.0.10 --no-default-features --bin wasm-bindgen
fi
wait_installs

if $with_browser && [ ! -x /usr/bin/chromium ]; then
  step "installing Chromium from Debian (for the browser tests)" apt_install chromium
fi

if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ ! -d end2end/node_modules/@playwright/test ] \
   || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  step "installing npm packages (wasm-opt, Playwright, oidc-provider)" \
    bash -c 'cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund'
fi
[ -z "$logs" ] || rm -rf "$logs"
