#!/usr/bin/env bash
# Sets up what is missing, builds the release server and runs it on the embedded SQLite
# database (./data/grimmory.db) at http://127.0.0.1:3000. Extra arguments go to the server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
scripts/tools.sh
cargo leptos build --release
exec "$GRIMMORY_BIN" "$@"
