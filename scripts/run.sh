#!/usr/bin/env bash
# Sets up what is missing, builds the release server and runs it on the embedded SQLite
# database (./data/grimmory.db) at http://127.0.0.1:3000. Extra arguments go to the server.
# Each step says what it does and how long it took: a new machine's first run takes minutes.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
step "build tools (each is skipped when already installed)" scripts/tools.sh
if [ -x "$GRIMMORY_BIN" ]; then
  what="release build (only what changed)"
else
  what="release build of the server and the page code (first time: about 10 minutes on 2 cores)"
fi
step "$what" cargo leptos build --release
log "starting $GRIMMORY_BIN"
exec "$GRIMMORY_BIN" "$@"
