#!/usr/bin/env bash
# Builds the container image with Podman and checks what docs/install.md promises:
#  1. the image builds (here from a server and site built on this machine: no container
#     registry is reachable: the Containerfile's `--target prebuilt`) and is small;
#  2. a container on a volume completes first-run setup over HTTP, and after a restart the
#     admin still signs in (database and secret key kept);
#  3. `podman stop` ends it well within its timeout, with a page's event stream open, exit 0;
#  4. deploy/compose.yaml comes up on a fresh volume, its health check passing on port 8080;
#  5. deploy/compose.postgres.yaml (PostgreSQL, two replicas, Caddy): both replicas answer
#     through the proxy, share one session and see the client's address, not the proxy's.
# It removes the containers, volumes and networks it made; the images stay as a cache.
# Needs root (rootful Podman). Once the release build is done: about 4 minutes the first time
# on a machine (it makes a Debian base image and stand-ins for the postgres and caddy images),
# 1.5 minutes after that.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"

image=localhost/grimmory:container-test
base=localhost/debian-base:bookworm
# Tagged by their sources, so an edit to them builds them again.
stand_ins="$(cat scripts/container/* | sha256sum | cut -c1-12)"
postgres_image="localhost/grimmory-test-postgres:$stand_ins"
caddy_image="localhost/grimmory-test-caddy:$stand_ins"
ctr=grimmory-ct
project=grimmory-ct
# Below the ephemeral range (32768 and up), where a local test server may be listening.
port="${CONTAINER_TEST_PORT:-28080}"
compose_port=$((port + 1))
password='correct horse battery'

if [ "$(id -u)" != 0 ]; then
  echo "error: scripts/container-test.sh needs root (rootful Podman)" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/grimmory-ct.XXXXXX")"
stream_pid=""
compose() {
  podman-compose -p "$project" -f deploy/compose.postgres.yaml "$@"
}
# With their anonymous volumes (the image's /data, unused on PostgreSQL), which
# podman-compose 1.0's `down -v` leaves behind.
remove_compose_containers() {
  local c
  for c in $(podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$project"); do
    podman rm -f -v -t 0 "$c" >/dev/null 2>&1 || true
  done
}
cleanup() {
  local rc=$?
  [ -z "$stream_pid" ] || kill "$stream_pid" 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    log "failed; the logs of what was running:"
    podman logs --tail 30 "$ctr" 2>/dev/null || true
    for c in $(podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$project" 2>/dev/null); do
      echo "--- $c" >&2
      podman logs --tail 30 "$c" 2>&1 || true
    done
  fi
  remove_leftovers
  rm -rf "$work"
  exit "$rc"
}
# What this script makes; also run first, in case an earlier run was killed.
remove_leftovers() {
  command -v podman >/dev/null || return 0
  podman rm -f -v -t 0 "$ctr" >/dev/null 2>&1 || true
  podman volume rm -f "$ctr-data" >/dev/null 2>&1 || true
  if command -v podman-compose >/dev/null; then
    remove_compose_containers
    compose down -v -t 0 >/dev/null 2>&1 || true
  fi
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  remove_sqlite_compose
}
remove_sqlite_compose() {
  local c
  for c in $(podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$project-sqlite"); do
    podman rm -f -v -t 0 "$c" >/dev/null 2>&1 || true
  done
  podman volume rm -f "$project-sqlite_grimmory-data" >/dev/null 2>&1 || true
  podman network rm -f "$project-sqlite_default" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Where this was verified (a VM sandbox), crun fails ("cgroups in hybrid mode not supported")
# and the kernel refuses Podman's default RLIMIT_NOFILE of 1048576: runc and capped limits,
# for podman-compose's podman calls too. Harmless elsewhere.
cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"
remove_leftovers

# Each step's time, for the summary at the end.
declare -a summary=()
timed() {
  local _what="$1" _started=$SECONDS
  shift
  step "$_what" "$@"
  summary+=("$(printf '%-62s %s' "$_what" "$(human_secs $((SECONDS - _started)))")")
}
# Podman without systemd cannot schedule health checks and says so at every start and stop;
# this script runs the check itself (podman healthcheck run).
pod() {
  podman "$@" 2> >(grep -v 'systemd connection' >&2)
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Polls until `url` answers 200, at most `secs` seconds.
wait_http() {
  local url="$1" secs="$2" deadline=$((SECONDS + $2))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$url did not answer 200 within $secs s"
    sleep 0.5
  done
}

# A request from inside container `$1` to its own server, answered as raw HTTP: the image has
# bash but no HTTP client, and loopback is what /metrics answers without a token.
inside() {
  local container="$1" path="$2"
  podman exec "$container" bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/3000 && printf 'GET $path HTTP/1.0\r\n\r\n' >&3 && cat <&3"
}

prerequisites() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v podman-compose >/dev/null || missing+=(podman-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# A Debian bookworm base made here, standing in for debian:bookworm-slim from a registry.
base_image() {
  if podman image exists "$base"; then
    log "$base exists"
    return
  fi
  local mirror rootfs="$work/rootfs"
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
}

# The release server and site, built on this machine and copied at once: another worktree
# sharing the target folder may overwrite target/release/grimmory at any moment.
host_build() {
  scripts/tools.sh
  cargo leptos build --release
  mkdir -p "$work/context/prebuilt"
  # Stripped as the Containerfile's own build does: 15 MB less, only panic backtraces lose names.
  strip -o "$work/context/prebuilt/grimmory" "$GRIMMORY_BIN"
  cp -r "$LEPTOS_SITE_ROOT" "$work/context/prebuilt/site"
}

build_image() {
  # Docker format keeps HEALTHCHECK (OCI images have no such field).
  podman build -q --format docker -f Containerfile \
    --build-arg BASE_IMAGE="$base" --build-arg BUILDER_IMAGE="$base" --build-arg NODE_IMAGE="$base" \
    --target prebuilt -t "$image" "$work/context" >/dev/null
  local bytes
  bytes="$(podman image inspect --format '{{.Size}}' "$image")"
  image_mb=$((bytes / 1000000))
  podman image inspect --format '{{.Config.User}} {{.Config.Healthcheck.Test}}' "$image" \
    | grep -q '^grimmory .*healthz' || fail "the image runs as root or has no health check"
  podman run --rm --entrypoint /bin/sh "$image" -c \
    '! command -v cargo && ! command -v gcc && ! command -v node' >/dev/null 2>&1 \
    || fail "build tools in the final image"
  log "image $image: $image_mb MB"
}

run_single() {
  pod run -d --name "$ctr" -p "127.0.0.1:$port:3000" -v "$ctr-data:/data" "$image" >/dev/null
}

setup_over_http() {
  wait_http "http://127.0.0.1:$port/healthz" 60
  local token
  token="$(podman logs "$ctr" 2>&1 | grep -o 'setup token: [0-9a-f]*' | awk '{print $3}' | tail -n1)"
  [ -n "$token" ] || fail "no setup token in the log (listening off loopback must print one)"
  local body
  body="$(jq -n --arg t "$token" --arg p "$password" \
    '{username: "admin", email: "admin@example.org", name: "Ada Admin", password: $p, setupToken: $t}')"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
    -d "$body" "http://127.0.0.1:$port/api/v1/setup")" = 201 ] || fail "setup did not answer 201"
  pod healthcheck run "$ctr" >/dev/null || fail "the image's health check failed"
}

login() {
  local base_url="$1" jar="$2"
  shift 2
  curl -s -o /dev/null -w '%{http_code}' -c "$jar" -H 'content-type: application/json' "$@" \
    -d "$(jq -n --arg p "$password" '{username: "admin", password: $p}')" \
    "$base_url/api/v1/auth/login"
}

restart_keeps_everything() {
  pod stop -t 30 "$ctr" >/dev/null
  pod start "$ctr" >/dev/null
  wait_http "http://127.0.0.1:$port/healthz" 60
  [ "$(login "http://127.0.0.1:$port" "$work/jar")" = 200 ] || fail "the admin cannot sign in after a restart"
  curl -s "http://127.0.0.1:$port/api/v1/setup/status" | grep -q '"completed":true' \
    || fail "setup is open again after a restart"
  podman exec "$ctr" test -s /data/secret.key || fail "no secret key in the volume"
}

stop_is_prompt() {
  # A signed-in page's event stream, which never ends by itself, open during the stop.
  curl -s -N -b "$work/jar" -D "$work/stream-headers" -o /dev/null \
    "http://127.0.0.1:$port/api/v1/auth/events" &
  stream_pid=$!
  local deadline=$((SECONDS + 10))
  until grep -q '^HTTP/1.1 200' "$work/stream-headers" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the event stream did not open"
    sleep 0.2
  done
  local started stopped_ms code
  started="$(date +%s%N)"
  pod stop -t 30 "$ctr" >/dev/null
  stopped_ms=$((($(date +%s%N) - started) / 1000000))
  code="$(podman inspect --format '{{.State.ExitCode}}' "$ctr")"
  log "podman stop took $stopped_ms ms (timeout 30 s), exit code $code"
  [ "$code" = 0 ] || fail "exit code $code after SIGTERM"
  [ "$stopped_ms" -lt 5000 ] || fail "podman stop took $stopped_ms ms"
  wait "$stream_pid" || true
  stream_pid=""
  podman logs "$ctr" 2>&1 | grep -q 'stopped' || fail "no clean stop in the log"
}

stand_in_images() {
  # What a user pulls from a registry (postgres, caddy), made here from Debian's packages.
  podman image exists "$postgres_image" || podman build -q -f scripts/container/postgres.Containerfile \
    --build-arg BASE_IMAGE="$base" -t "$postgres_image" scripts/container >/dev/null
  podman image exists "$caddy_image" || podman build -q -f scripts/container/caddy.Containerfile \
    --build-arg BASE_IMAGE="$base" -t "$caddy_image" scripts/container >/dev/null
}

compose_up() {
  export GRIMMORY_IMAGE="$image" POSTGRES_IMAGE="$postgres_image" CADDY_IMAGE="$caddy_image"
  export GRIMMORY_PORT="127.0.0.1:$compose_port" GRIMMORY_PUBLIC_URL="http://127.0.0.1:$compose_port"
  GRIMMORY_SECRET_KEY="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
  POSTGRES_PASSWORD="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  export GRIMMORY_SECRET_KEY POSTGRES_PASSWORD
  # podman-compose 1.0 ignores the compose file's ipam subnet: make the network it would.
  podman network create --subnet "${GRIMMORY_SUBNET:-172.30.80.0/24}" \
    --label "io.podman.compose.project=$project" "${project}_default" >/dev/null
  compose up -d >"$work/compose-up.log" 2>&1 || { cat "$work/compose-up.log" >&2; fail "compose up"; }
  replica1="$(podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$project" | grep 'grimmory-1')"
  replica2="$(podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$project" | grep 'grimmory-2')"
  # Both replicas up (they restart until PostgreSQL accepts connections), and the proxy.
  local r deadline=$((SECONDS + 120))
  for r in "$replica1" "$replica2"; do
    until inside "$r" /healthz 2>/dev/null | head -n1 | grep -q ' 200 '; do
      [ "$SECONDS" -lt "$deadline" ] || fail "$r did not become healthy"
      sleep 1
    done
  done
  wait_http "http://127.0.0.1:$compose_port/healthz" 30
}

replicas_share_a_session() {
  # The first admin from the command line, as docs/install.md says for replicas: each
  # replica prints its own setup token, and the proxy picks the replica.
  printf '%s\n' "$password" | podman exec -i "$replica1" grimmory admin create admin --admin >/dev/null
  local url="http://127.0.0.1:$compose_port"
  # A forged X-Forwarded-For must not reach the audit log: Caddy replaces it.
  [ "$(login "$url" "$work/jar2" -H 'X-Forwarded-For: 203.0.113.7')" = 200 ] || fail "sign-in through the proxy"
  local i
  for i in 1 2 3 4 5 6; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -b "$work/jar2" "$url/api/v1/auth/me")" = 200 ] \
      || fail "request $i through the proxy was not signed in"
  done
  local r n
  for r in "$replica1" "$replica2"; do
    n="$(inside "$r" /metrics | grep 'route="/api/v1/auth/me",status="200"' | awk '{print $2}')"
    [ "${n:-0}" -ge 1 ] || fail "$r answered no signed-in request through the proxy"
    log "$r answered $n of the 6 signed-in requests"
  done
  local proxy_ip seen
  proxy_ip="$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
    "$(podman ps --format '{{.Names}}' --filter "label=io.podman.compose.project=$project" | grep '_grimmory_')")"
  seen="$(curl -s -b "$work/jar2" "$url/api/v1/admin/audit" \
    | jq -r '[.[] | select(.event == "LOGIN_SUCCESS")][0].clientIp')"
  log "client address in the audit log: $seen (proxy: $proxy_ip)"
  case "$seen" in
    "" | null | "$proxy_ip" | 203.0.113.7) fail "the replicas do not see the client's address through the proxy" ;;
  esac
}

# deploy/compose.yaml: the SQLite container listens on 8080, and the image's health check
# follows GRIMMORY_BIND there.
sqlite_compose() {
  local sqlite_port=$((port + 2)) c
  GRIMMORY_IMAGE="$image" GRIMMORY_PORT="127.0.0.1:$sqlite_port" \
    podman-compose -p "$project-sqlite" -f deploy/compose.yaml up -d >"$work/sqlite-up.log" 2>&1 \
    || { cat "$work/sqlite-up.log" >&2; fail "compose.yaml up"; }
  wait_http "http://127.0.0.1:$sqlite_port/healthz" 60
  c="$(podman ps --format '{{.Names}}' --filter "label=io.podman.compose.project=$project-sqlite")"
  pod healthcheck run "$c" >/dev/null || fail "the health check fails on port 8080"
  curl -s "http://127.0.0.1:$sqlite_port/api/v1/setup/status" | grep -q '"completed":false' \
    || fail "compose.yaml: a fresh volume is not waiting for setup"
  remove_sqlite_compose
}

compose_down() {
  compose stop -t 30 >/dev/null 2>&1
  remove_compose_containers
  compose down -v >/dev/null 2>&1
  podman network rm -f "${project}_default" >/dev/null
}

total_started=$SECONDS
timed "prerequisites (podman, runc, podman-compose, debootstrap)" prerequisites
timed "Debian base image (debootstrap, once)" base_image
timed "release build on this machine" host_build
timed "image build" build_image
timed "container on a volume: start" run_single
timed "first-run setup over HTTP, health check" setup_over_http
timed "restart: admin still signs in" restart_keeps_everything
timed "podman stop with an open event stream" stop_is_prompt
timed "compose.yaml (SQLite) up, health check on 8080" sqlite_compose
timed "PostgreSQL and Caddy images (from Debian, once)" stand_in_images
timed "compose.postgres.yaml up: PostgreSQL, 2 replicas, Caddy" compose_up
timed "both replicas answer through the proxy, one session" replicas_share_a_session
timed "compose down" compose_down

echo
echo "container test passed: image $image_mb MB, $(human_secs $((SECONDS - total_started))) in all"
printf '  %s\n' "${summary[@]}"
