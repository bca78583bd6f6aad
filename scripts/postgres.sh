#!/usr/bin/env bash
# Makes sure a PostgreSQL answers for the tests: the one at TEST_DATABASE_URL, or the local
# server at 127.0.0.1:5432, started (or installed from Debian) when it is not running.
set -euo pipefail
log() { printf '==> %s\n' "$*" >&2; }

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  exit 0
fi

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: $* needs root; or set TEST_DATABASE_URL to a PostgreSQL the tests may create databases on" >&2
    exit 1
  fi
}

# The tests connect as postgres without a password, as on a developer machine.
connects() { psql -h 127.0.0.1 -U postgres -c 'SELECT 1' postgres >/dev/null 2>&1; }

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && connects; then
  exit 0
fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  need_root "installing PostgreSQL"
  log "installing PostgreSQL from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
need_root "starting PostgreSQL"
version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 60); do
  if pg_isready -q -h 127.0.0.1 -p 5432; then
    if ! connects; then
      log "allowing local test connections without a password"
      hba="/etc/postgresql/$version/main/pg_hba.conf"
      sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "$hba"
      pg_ctlcluster --skip-systemctl-redirect "$version" main reload
      sleep 1
    fi
    connects && exit 0
  fi
  sleep 1
done
echo "error: PostgreSQL did not start; set TEST_DATABASE_URL to a server the tests may create databases on" >&2
exit 1
