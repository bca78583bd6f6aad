#!/usr/bin/env bash
# Soak run (not part of scripts/test.sh): the release server on loopback under mixed traffic for
# a while (default 10 minutes): sign-ins through the test provider (end2end/provider), `me`, page
# renders, background refreshes, sign-outs and the back-channel logouts they set off. Prints
# requests, errors, p99 and the server's RSS every minute; fails on any error or when RSS grew
# 10 % or more after the first minute. Stops by itself and ends every process it started.
#
#   scripts/soak.sh [SECONDS]                       SQLite in a temporary folder
#   SOAK_ENGINE=postgres scripts/soak.sh [SECONDS]  a fresh database on TEST_DATABASE_URL's server
#                                                   (default postgres://postgres@127.0.0.1:5432/postgres)
#   SOAK_SECONDS=120 SOAK_USERS=4 scripts/soak.sh
#
# Needs the release build (cargo leptos build --release; GRIMMORY_BIN overrides the binary) and
# the npm packages of end2end/ (scripts/tools.sh).
set -euo pipefail
given_bin="${GRIMMORY_BIN:-}"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"

seconds="${1:-${SOAK_SECONDS:-600}}"
users="${SOAK_USERS:-4}"
engine="${SOAK_ENGINE:-sqlite}"
case "$seconds" in '' | *[!0-9]*) echo "error: SECONDS must be a whole number" >&2; exit 2 ;; esac
bin="${given_bin:-$GRIMMORY_BIN}"
[ -x "$bin" ] || { echo "error: no release build at $bin: run cargo leptos build --release" >&2; exit 1; }
[ -d end2end/node_modules/oidc-provider ] || { echo "error: run scripts/tools.sh first (end2end npm packages)" >&2; exit 1; }
if [ -d "$target_dir/site" ]; then export LEPTOS_SITE_ROOT="$target_dir/site"; fi

work="$(mktemp -d)"
server_pid=""
idp_pid=""
pg_base="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_db=""
cleanup() {
  for pid in $idp_pid $server_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $idp_pid $server_pid; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$pg_db" ]; then
    psql -q "$pg_base" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case "$engine" in
  sqlite) database_url="sqlite://$work/grimmory.db?mode=rwc" ;;
  postgres)
    pg_db="grimmory_soak_$(date +%s)_$$"
    psql -q "$pg_base" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
    database_url="${pg_base%/*}/$pg_db"
    ;;
  *) echo "error: SOAK_ENGINE must be sqlite or postgres" >&2; exit 2 ;;
esac

# Waits (at most 30 s) until FILE has a line matching PATTERN; prints that line.
wait_for_line() {
  local file="$1" pattern="$2" pid="$3"
  for _ in $(seq 1 150); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "error: process $pid ended early:" >&2; cat "$file" >&2; return 1; }
    sleep 0.2
  done
  echo "error: timed out waiting for '$pattern' in $file" >&2
  return 1
}

log "starting grimmory ($engine)"
DATABASE_URL="$database_url" GRIMMORY_BIND=127.0.0.1:0 GRIMMORY_TRUSTED_PROXIES=127.0.0.1 \
  GRIMMORY_SECRET_KEY=soak-run-secret-key-material RUST_LOG=warn \
  "$bin" >"$work/server.log" 2>&1 &
server_pid=$!
app="$(wait_for_line "$work/server.log" '^grimmory listening on ' "$server_pid" | awk '{print $4}')"

log "starting the test provider"
node end2end/provider/start.mjs --log --access-token-ttl 75 \
  --redirect-uri "$app/oauth2-callback" \
  --post-logout-redirect-uri "$app/login?signedOut=1" \
  --backchannel-logout-uri "$app/api/v1/auth/oidc/backchannel-logout" \
  >"$work/idp.json" 2>"$work/idp.log" &
idp_pid=$!
idp="$(wait_for_line "$work/idp.json" '^\{' "$idp_pid")"
issuer="$(node -e 'console.log(JSON.parse(process.argv[1]).issuer)' "$idp")"
secret="$(node -e 'console.log(JSON.parse(process.argv[1]).clients.confidential.clientSecret)' "$idp")"

log "setting up the admin and OIDC"
admin_cookie="$(curl -sS -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"username":"admin","email":"admin@example.org","name":"Soak Admin","password":"correct horse battery"}' \
  "$app/api/v1/setup" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(grimmory_session=[^;]*\).*/\1/p')"
[ -n "$admin_cookie" ] || { echo "error: setup did not sign the admin in" >&2; exit 1; }
settings="$(node -e 'console.log(JSON.stringify({providerName: "Test IdP", clientId: "grimmory-confidential",
  clientSecret: process.argv[2], issuerUri: process.argv[1], oidcEnabled: true, autoProvisioning: true,
  scopes: "openid profile email groups offline_access"}))' "$issuer" "$secret")"
status="$(curl -sS -o "$work/settings.json" -w '%{http_code}' -X PUT -H 'content-type: application/json' \
  -H "cookie: $admin_cookie" -d "$settings" "$app/api/v1/settings/oidc")"
[ "$status" = 200 ] || { echo "error: saving the OIDC settings answered $status: $(cat "$work/settings.json")" >&2; exit 1; }

log "soaking for $(human_secs "$seconds") with $users users"
set +e
timeout $((seconds + 120)) node scripts/soak.mjs --app "$app" --pid "$server_pid" --issuer "$issuer" \
  --client-secret "$secret" --idp-log "$work/idp.log" --seconds "$seconds" --users "$users"
result=$?
set -e
if grep -qiE ' (ERROR|WARN) ' "$work/server.log"; then
  log "the server logged warnings or errors:"
  grep -iE ' (ERROR|WARN) ' "$work/server.log" | sort | uniq -c | sort -rn | head -20 >&2
fi
exit "$result"
