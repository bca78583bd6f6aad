#!/usr/bin/env bash
# Installs the build tools the project needs, skipping each one that is already
# at the right version. Nothing here downloads a binary from outside the package
# registries (crates.io, npm, Debian): see docs/development.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CARGO_LEPTOS_VERSION=0.3.11

log() { printf '==> %s\n' "$*" >&2; }

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

# Builds a crate from a copy of its published source after pinning one dependency,
# because the locked versions some tools ship need a newer rustc or a crate this
# registry mirror lacks.
install_from_source() {
  local crate="$1" version="$2" pin_pkg="$3" pin_version="$4"; shift 4
  local src
  cargo info "${crate}@${version}" >/dev/null
  src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"${crate}-${version}" | head -n1)"
  local work
  work="$(mktemp -d)"
  cp -r "$src" "$work/src"
  (cd "$work/src" && cargo update -p "$pin_pkg" --precise "$pin_version")
  cargo install --locked "$@" --path "$work/src"
  rm -rf "$work"
}

for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (once per machine, about 14 minutes)"
  install_from_source cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-util-schemas 0.14.1 --features no_downloads
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
wb_version="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
if ! wasm-bindgen --version 2>/dev/null | grep -q " ${wb_version}\$"; then
  log "installing wasm-bindgen-cli $wb_version"
  install_from_source wasm-bindgen-cli "$wb_version" webpki-roots 1.0.10
fi

if $with_browser && [ ! -x /usr/bin/chromium ]; then
  log "installing Chromium from Debian (for the browser tests)"
  apt_install chromium
fi

if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ ! -d end2end/node_modules/@playwright/test ] \
   || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  log "installing npm packages (wasm-opt, Playwright, oidc-provider)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
