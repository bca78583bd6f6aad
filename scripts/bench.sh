#!/usr/bin/env bash
# Benchmark (not part of scripts/test.sh's checks; its short mode runs at the end of it so the
# script cannot rot): the release server on loopback, on a fresh SQLite database and then on a
# fresh PostgreSQL database, seeded with an admin, 10,000 live sessions, a device grant and the
# test provider of end2end/provider. Prints one table per database: throughput and p50/p99 of
# /healthz, `me`, a signed-in page render and a bearer-token request, each as a ratio to
# /healthz of the same run (a shared machine's absolute figures vary; ratios in one run are what
# to compare); server CPU per OIDC sign-in; the JS+WASM+CSS each page downloads; RSS; start-up
# time. docs/performance.md explains each figure and keeps the last table. Asserts nothing about
# timings, only that every figure was produced; ends every process it started.
#
#   scripts/bench.sh              5 s per load figure, 200 sign-ins
#   scripts/bench.sh --short      1 s per load figure, 20 sign-ins (CI)
#   BENCH_SECONDS=3 BENCH_SIGNINS=300 BENCH_ENGINES=sqlite scripts/bench.sh
#
# Builds the release server when it is missing or older than the sources (GRIMMORY_BIN names a
# binary to take as it is); installs wrk and sqlite3 from Debian when missing (as root); needs the npm
# packages of end2end/ (scripts/tools.sh) and a PostgreSQL at TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/postgres; scripts/postgres.sh starts one).
set -euo pipefail
given_bin="${GRIMMORY_BIN:-}"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"

short=false
case "${1:-}" in
  --short) short=true ;;
  '') ;;
  *) echo "usage: scripts/bench.sh [--short]" >&2; exit 2 ;;
esac
if $short; then seconds_default=1 signins_default=20; else seconds_default=5 signins_default=200; fi
seconds="${BENCH_SECONDS:-$seconds_default}"
signins="${BENCH_SIGNINS:-$signins_default}"
sessions="${BENCH_SESSIONS:-10000}"
engines="${BENCH_ENGINES:-sqlite postgres}"
for n in "$seconds" "$signins" "$sessions"; do
  case "$n" in '' | *[!0-9]* | 0) echo "error: BENCH_SECONDS, BENCH_SIGNINS and BENCH_SESSIONS are whole numbers above 0" >&2; exit 2 ;; esac
done
# As in the issue's figures: two threads, 64 connections.
wrk_args=(-t2 -c64 "-d${seconds}s")
admin_password='correct horse battery'
secret_key=bench-run-secret-key-material

# ---------------------------------------------------------------- tools and build
# wrk makes the load; sqlite3 seeds the sessions of the SQLite run.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "error: ${missing[*]} missing and not root: apt-get install ${missing[*]}" >&2; exit 1; }
  log "installing ${missing[*]} from Debian"
  [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -d end2end/node_modules/oidc-provider ] || { echo "error: run scripts/tools.sh first (end2end npm packages)" >&2; exit 1; }
if [ -d "$target_dir/site" ]; then export LEPTOS_SITE_ROOT="$target_dir/site"; fi
bin="${given_bin:-$GRIMMORY_BIN}"
wasm="$LEPTOS_SITE_ROOT/pkg/grimmory.wasm"
# cargo-leptos redoes the WebAssembly steps (about a minute) even when nothing changed, so it
# runs only when the server or the site is missing or older than one of its sources.
outdated() {
  [ -x "$bin" ] && [ -f "$wasm" ] || return 0
  [ -n "$(find src app migrations Cargo.toml Cargo.lock -newer "$bin" -print -quit)" ] \
    || [ -n "$(find app frontend style public Cargo.toml Cargo.lock -newer "$wasm" -print -quit)" ]
}
if [ -z "$given_bin" ] && outdated; then
  step "release build" cargo leptos build --release
fi
[ -x "$bin" ] || { echo "error: no release build at $bin" >&2; exit 1; }

# ---------------------------------------------------------------- processes, and their end
work="$(mktemp -d)"
server_pid=""
idp_pid=""
pg_base="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_db=""
stop_processes() {
  for pid in $idp_pid $server_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $idp_pid $server_pid; do
    wait "$pid" 2>/dev/null || true
  done
  idp_pid="" server_pid=""
}
drop_database() {
  if [ -n "$pg_db" ]; then
    psql -q "$pg_base" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  pg_db=""
}
cleanup() {
  stop_processes
  drop_database
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "error: $*" >&2; exit 1; }

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

# The value of KEY in a "name key=value key=value" line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
# A JSON answer's top-level field.
json_field() { node -e 'const v = JSON.parse(process.argv[1])[process.argv[2]]; if (v === undefined) process.exit(1); console.log(v)' "$1" "$2"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status"; }
ticks_per_second="$(getconf CLK_TCK)"
# The server's CPU time so far (user + system), in ms: fields 14 and 15 of /proc/<pid>/stat,
# counted after the command name in parentheses.
cpu_ms() { sed 's/.*) //' "/proc/$server_pid/stat" | awk -v hz="$ticks_per_second" '{print ($12 + $13) * 1000 / hz}'; }

# Answers 200 to a request with HEADER (may be empty)? Checked before a load figure, so a
# redirect to the login page is never measured as a page render.
check_ok() {
  local url="$1" header="$2" status
  status="$(curl -sS -o "$work/check.out" -w '%{http_code}' ${header:+-H "$header"} "$url")"
  [ "$status" = 200 ] || die "GET $url answered $status: $(head -c 300 "$work/check.out")"
}

# One load figure: prints "rps p50 p99 cpu_us_per_request timeouts". The server's CPU per
# request varies much less than throughput when other work shares the machine.
load() {
  local url="$1" header="$2" out cpu_before cpu_after
  check_ok "$url" "$header"
  cpu_before="$(cpu_ms)"
  out="$(BENCH_HEADER="$header" wrk "${wrk_args[@]}" -s scripts/bench/wrk.lua "$url" | grep '^bench ')" \
    || die "wrk printed no figures for $url"
  cpu_after="$(cpu_ms)"
  [ "$(field "$out" non2xx)" = 0 ] && [ "$(field "$out" errors)" = 0 ] \
    || die "GET $url under load had failures: $out"
  echo "$(field "$out" rps) $(field "$out" p50_ms) $(field "$out" p99_ms)" \
    "$(awk -v a="$cpu_before" -v b="$cpu_after" -v n="$(field "$out" requests)" 'BEGIN {print (b - a) * 1000 / n}')" \
    "$(field "$out" timeouts)"
}

# ---------------------------------------------------------------- one engine
bench_engine() {
  local engine="$1" label database_url
  case "$engine" in
    sqlite)
      label=SQLite
      rm -f "$work"/grimmory.db*
      database_url="sqlite://$work/grimmory.db?mode=rwc"
      ;;
    postgres)
      label=PostgreSQL
      pg_db="grimmory_bench_$(date +%s)_$$"
      psql -q "$pg_base" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
      database_url="${pg_base%/*}/$pg_db"
      ;;
    *) die "BENCH_ENGINES takes sqlite and postgres" ;;
  esac

  log "$label: starting grimmory and the test provider"
  # Started as a simple command through `env`, which execs it: $! is the server's own pid,
  # whose /proc figures are read.
  local settings_env=("DATABASE_URL=$database_url" GRIMMORY_TRUSTED_PROXIES=127.0.0.1
    "GRIMMORY_SECRET_KEY=$secret_key" RUST_LOG=warn)
  env "${settings_env[@]}" GRIMMORY_BIND=127.0.0.1:0 "$bin" >"$work/server.log" 2>&1 &
  server_pid=$!
  local app
  app="$(wait_for_line "$work/server.log" '^grimmory listening on ' "$server_pid" | awk '{print $4}')"
  local rss_start
  rss_start="$(rss_kib)"
  node end2end/provider/start.mjs --redirect-uri "$app/oauth2-callback" \
    --post-logout-redirect-uri "$app/login?signedOut=1" >"$work/idp.json" 2>"$work/idp.log" &
  idp_pid=$!
  local idp issuer secret
  idp="$(wait_for_line "$work/idp.json" '^\{' "$idp_pid")"
  issuer="$(json_field "$idp" issuer)"
  secret="$(node -e 'console.log(JSON.parse(process.argv[1]).clients.confidential.clientSecret)' "$idp")"

  log "$label: the admin, the provider, $sessions sessions, a device grant"
  local admin_cookie admin_id settings status
  admin_cookie="$(curl -sS -D - -o /dev/null -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"email\":\"admin@example.org\",\"name\":\"Bench Admin\",\"password\":\"$admin_password\"}" \
    "$app/api/v1/setup" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(grimmory_session=[^;]*\).*/\1/p')"
  [ -n "$admin_cookie" ] || die "setup did not sign the admin in"
  admin_id="$(json_field "$(curl -sS -H "cookie: $admin_cookie" "$app/api/v1/auth/me")" id)"
  settings="$(node -e 'console.log(JSON.stringify({providerName: "Test IdP", clientId: "grimmory-confidential",
    clientSecret: process.argv[2], issuerUri: process.argv[1], oidcEnabled: true, autoProvisioning: true,
    scopes: "openid profile email groups"}))' "$issuer" "$secret")"
  status="$(curl -sS -o "$work/settings.json" -w '%{http_code}' -X PUT -H 'content-type: application/json' \
    -H "cookie: $admin_cookie" -d "$settings" "$app/api/v1/settings/oidc")"
  [ "$status" = 200 ] || die "saving the OIDC settings answered $status: $(cat "$work/settings.json")"

  node scripts/bench/sessions.mjs --user-id "$admin_id" --count "$sessions" --cookie-file "$work/cookie" >"$work/sessions.sql"
  case "$engine" in
    sqlite) { echo '.timeout 10000'; cat "$work/sessions.sql"; } | sqlite3 -bail "$work/grimmory.db" >/dev/null ;;
    postgres) psql -q -v ON_ERROR_STOP=1 "$database_url" -f "$work/sessions.sql" >/dev/null ;;
  esac
  local session_cookie
  session_cookie="grimmory_session=$(cat "$work/cookie")"

  local code device_code user_code token
  code="$(curl -sS -d client_name=bench "$app/api/v1/auth/device/code")"
  device_code="$(json_field "$code" device_code)" || die "no device code: $code"
  user_code="$(json_field "$code" user_code)"
  status="$(curl -sS -o "$work/approve.json" -w '%{http_code}' -H 'content-type: application/json' \
    -H "cookie: $admin_cookie" -d "{\"userCode\":\"$user_code\",\"allow\":true,\"password\":\"$admin_password\"}" \
    "$app/api/v1/auth/device/approve")"
  [ "$status" = 200 ] || die "approving the device answered $status: $(cat "$work/approve.json")"
  token="$(curl -sS -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d "device_code=$device_code" \
    "$app/api/v1/auth/token")"
  token="$(json_field "$token" access_token)" || die "no access token: $token"

  local rss_idle
  rss_idle="$(rss_kib)"

  log "$label: load figures, $(human_secs "$seconds") each"
  local healthz me page bearer
  healthz="$(load "$app/healthz" '')"
  me="$(load "$app/api/v1/auth/me" "cookie: $session_cookie")"
  page="$(load "$app/" "cookie: $session_cookie")"
  bearer="$(load "$app/api/v1/libraries" "authorization: Bearer $token")"

  log "$label: $signins OIDC sign-ins"
  local signin_line
  signin_line="$(node scripts/bench/signins.mjs --app "$app" --pid "$server_pid" --count "$signins")"
  local sizes
  sizes="$(node scripts/bench/sizes.mjs --app "$app" --cookie "$session_cookie")"
  local rss_after
  rss_after="$(rss_kib)"
  # The one warning of a fresh database (no admin yet, at start) is expected.
  grep -iE ' (ERROR|WARN) ' "$work/server.log" | grep -v 'no admin yet' >&2 \
    && die "the server logged warnings or errors"
  stop_processes

  log "$label: start-up on the migrated database"
  local startup_line
  startup_line="$(env "${settings_env[@]}" node scripts/bench/startup.mjs --bin "$bin" --runs 3)"
  drop_database

  print_table "$label" "$healthz" "$me" "$page" "$bearer" "$signin_line" "$sizes" \
    "$rss_start $rss_idle $rss_after" "$startup_line"
}

# ---------------------------------------------------------------- the table
print_table() {
  local label="$1" healthz="$2" me="$3" page="$4" bearer="$5" signin_line="$6" sizes="$7"
  local rss="$8" startup_line="$9"
  local base_rps base_p99 base_cpu
  read -r base_rps _ base_p99 base_cpu _ <<<"$healthz"
  printf '\n### %s\n\n' "$label"
  printf '| request (wrk %s) | req/s | p50 ms | p99 ms | req/s ÷ /healthz | p99 ÷ /healthz | server CPU µs/request | CPU ÷ /healthz | timeouts |\n' "${wrk_args[*]}"
  printf '|---|--:|--:|--:|--:|--:|--:|--:|--:|\n'
  local name figures rps p50 p99 cpu timeouts
  for name in healthz me page bearer; do
    figures="${!name}"
    read -r rps p50 p99 cpu timeouts <<<"$figures"
    awk -v n="$name" -v r="$rps" -v a="$p50" -v b="$p99" -v br="$base_rps" -v bp="$base_p99" \
      -v c="$cpu" -v bc="$base_cpu" -v timeouts="$timeouts" 'BEGIN {
      split("healthz=GET /healthz|me=GET /api/v1/auth/me (session cookie)|page=GET / (page render, signed in)|bearer=GET /api/v1/libraries (bearer token)", t, "|")
      for (i in t) { split(t[i], kv, "="); names[kv[1]] = kv[2] }
      printf "| %s | %.0f | %.2f | %.2f | %.2f | %.1f | %.0f | %.1f | %d |\n", names[n], r, a, b, r / br, b / bp, c, c / bc, timeouts
    }'
  done
  printf '\n| figure | value |\n|---|--:|\n'
  printf '| server CPU per OIDC sign-in (%s sign-ins) | %s ms |\n' \
    "$(field "$signin_line" count)" "$(field "$signin_line" cpu_ms)"
  local page_name line
  for page_name in login dashboard oidc-settings all; do
    line="$(grep "^size page=$page_name " <<<"$sizes")"
    awk -v n="$page_name" -v f="$(field "$line" files)" -v r="$(field "$line" raw)" -v g="$(field "$line" gzip)" 'BEGIN {
      split("login=login page (/login)|dashboard=dashboard (/)|oidc-settings=OIDC settings (/settings/oidc)|all=all three pages together", t, "|")
      for (i in t) { split(t[i], kv, "="); names[kv[1]] = kv[2] }
      printf "| JS+WASM+CSS, %s: %d files | %.0f KiB raw, %.0f KiB gzip |\n", names[n], f, r / 1024, g / 1024
    }'
  done
  awk -v rss="$rss" -v s="$sessions" 'BEGIN {
    split(rss, r, " ")
    printf "| server RSS at start (empty database) | %.1f MiB |\n", r[1] / 1024
    printf "| server RSS idle (admin set up, %d sessions seeded) | %.1f MiB |\n", s, r[2] / 1024
    printf "| server RSS after the run | %.1f MiB |\n", r[3] / 1024
  }'
  printf '| start-up to the first /healthz 200, migrated database (median of %s) | %s ms |\n' \
    "$(field "$startup_line" runs)" "$(field "$startup_line" median_ms)"
}

if [ -n "$given_bin" ]; then build="binary $bin"; else build="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"; fi
printf '## grimmory benchmark: %s, %s, %s CPUs (%s)\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$build" "$(nproc)" \
  "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
# Every figure, or the script fails: what CI checks.
for engine in $engines; do
  bench_engine "$engine"
done
