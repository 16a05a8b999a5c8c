#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis that the tests talk to answer on loopback.
#
# Why a script: a fresh CI machine or a newcomer's laptop may have neither running, and the
# integration tests must talk to the real things (docs/architecture.md), never to stand-ins.
#
# Idempotent and polite: whatever already answers is used as it is (never restarted or
# reconfigured); only what is missing is installed (as root, Debian's packages) and started.
#
# Progress and errors go to stderr. Stdout carries only `export NAME=value` lines, for the
# settings that differ from the test defaults in tests/settings.py
# (postgres://postgres@127.0.0.1:5432/talad and redis://127.0.0.1:6379/14), so a caller can
#     eval "$(scripts/services.sh)"
# and ./talad test does exactly that.
set -euo pipefail

readonly WAIT_S=60

log() { printf 'services: %s\n' "$*" >&2; }
die() {
  printf 'services: error: %s\n' "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
# Shell-quoted, so the caller's eval gets the value back byte for byte.
emit() { printf 'export %s=%q\n' "$1" "$2"; }
# Never print a password into a CI log.
redact() { sed -E 's#(://[^:/@]+:)[^@]*@#\1***@#' <<<"$1"; }

APT_UPDATED=0
apt_install() {
  if [[ $EUID -ne 0 ]]; then
    die "$* is not installed and only root may install it; install it, or set $APT_HINT"
  fi
  have apt-get || die "$* is not installed and there is no apt-get here; install it, or set $APT_HINT"
  export DEBIAN_FRONTEND=noninteractive
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update…"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "installing $* with apt-get…"
  apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

# --- Redis ------------------------------------------------------------------------------

# PING over bash's /dev/tcp, so the check needs no redis-cli.
# shellcheck disable=SC2016 # the inner script expands its own arguments
redis_tcp_ping() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r -t 2 reply <&3 || exit 1
    [[ $reply == "+PONG"* ]]' _ "$1" "$2" 2>/dev/null
}

redis_url_ping() {
  local url=$1
  if [[ $url == unix://* ]]; then
    local path=${url#unix://}
    path=${path%%\?*}
    redis-cli -s "$path" ping 2>/dev/null | grep -q PONG
  else
    redis-cli -u "$url" ping 2>/dev/null | grep -q PONG
  fi
}

ensure_redis() {
  if [[ -n ${REDIS_URL:-} ]]; then
    local shown
    shown=$(redact "$REDIS_URL")
    if ! have redis-cli; then
      log "Redis: using REDIS_URL=$shown as given (no redis-cli here to check it)"
      return 0
    fi
    local waited=0
    until redis_url_ping "$REDIS_URL"; do
      ((waited < 15)) || die "Redis at REDIS_URL=$shown does not answer PING"
      sleep 1
      waited=$((waited + 1))
    done
    log "Redis: REDIS_URL=$shown answers"
    return 0
  fi

  if redis_tcp_ping 127.0.0.1 6379; then
    log "Redis: 127.0.0.1:6379 answers"
    return 0
  fi
  if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    die "something listens on 127.0.0.1:6379 but does not answer Redis PING (a password?); set REDIS_URL"
  fi

  APT_HINT="REDIS_URL=redis://HOST:PORT/14"
  have redis-server || apt_install redis-server
  # Debian's package may have started its own server on 6379 just now.
  if ! redis_tcp_ping 127.0.0.1 6379; then
    log "Redis: starting redis-server on 127.0.0.1:6379 (in memory, nothing saved)…"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp >&2 || die "redis-server did not start"
  fi
  local waited=0
  until redis_tcp_ping 127.0.0.1 6379; do
    ((waited < WAIT_S)) || die "Redis on 127.0.0.1:6379 did not answer within ${WAIT_S}s"
    sleep 1
    waited=$((waited + 1))
  done
  log "Redis: 127.0.0.1:6379 answers"
}

# --- PostgreSQL -------------------------------------------------------------------------

wait_pg() { # host port
  local waited=0
  until pg_isready -q -h "$1" -p "$2" -t 2; do
    ((waited < WAIT_S)) || die "PostgreSQL on $1:$2 was not ready within ${WAIT_S}s"
    sleep 1
    waited=$((waited + 1))
  done
}

# Prints "version name port status" of the cluster to use: the one on 5432, else the newest.
pick_cluster() {
  pg_lsclusters --no-header 2>/dev/null | awk '
    { line = $1 " " $2 " " $3 " " $4; last = line; if ($3 == 5432) on5432 = line }
    END { if (on5432 != "") print on5432; else if (last != "") print last }'
}

ensure_postgres() {
  if [[ -n ${DATABASE_URL:-} ]]; then
    local shown
    shown=$(redact "$DATABASE_URL")
    if [[ $DATABASE_URL =~ ^postgres(ql)?:// ]] && have pg_isready; then
      local waited=0
      until pg_isready -q -d "$DATABASE_URL" -t 2; do
        ((waited < WAIT_S)) || die "PostgreSQL at DATABASE_URL=$shown was not ready within ${WAIT_S}s"
        sleep 1
        waited=$((waited + 1))
      done
      log "PostgreSQL: DATABASE_URL=$shown is ready"
    else
      log "PostgreSQL: using DATABASE_URL=$shown as given"
    fi
    return 0
  fi

  local port=5432 rc=0
  APT_HINT="DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/talad"
  if have pg_isready; then
    pg_isready -q -h 127.0.0.1 -p 5432 -t 2 || rc=$?
  else
    rc=2
  fi
  if ((rc == 1)); then
    log "PostgreSQL: 127.0.0.1:5432 is starting up; waiting…"
    wait_pg 127.0.0.1 5432
  elif ((rc != 0)); then
    if ! have pg_ctlcluster || ! have psql; then
      apt_install postgresql
    fi
    local cluster ver name status
    cluster=$(pick_cluster)
    if [[ -z $cluster ]]; then
      [[ $EUID -eq 0 ]] || die "no PostgreSQL cluster exists; create one (pg_createcluster) or set $APT_HINT"
      ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
      [[ -n $ver ]] || die "PostgreSQL is installed but no server version was found in /usr/lib/postgresql"
      log "PostgreSQL: creating cluster $ver/main…"
      pg_createcluster "$ver" main >&2 || die "pg_createcluster $ver main failed"
      cluster=$(pick_cluster)
    fi
    read -r ver name port status <<<"$cluster"
    if [[ $status != online* ]]; then
      log "PostgreSQL: starting cluster $ver/$name on port $port…"
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 ||
        die "could not start PostgreSQL cluster $ver/$name (see above; its log is in /var/log/postgresql)"
    fi
    wait_pg 127.0.0.1 "$port"
  fi
  log "PostgreSQL: 127.0.0.1:$port is ready"

  if ! have psql; then
    log "PostgreSQL: no psql here to check the login; assuming user postgres may connect"
    [[ $port == 5432 ]] || emit DATABASE_URL "postgres://postgres@127.0.0.1:$port/talad"
    return 0
  fi
  # -w: never prompt (CI has no stdin); a server that wants a password says so and fails.
  if psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -w -qtAX -c 'select 1' >/dev/null 2>&1; then
    [[ $port == 5432 ]] || emit DATABASE_URL "postgres://postgres@127.0.0.1:$port/talad"
    return 0
  fi

  # Fresh Debian clusters trust local sockets ("peer") but want scram over TCP: use, or
  # make, a password role that may create the test database, through the socket as postgres.
  if PGPASSWORD=talad psql -h 127.0.0.1 -p "$port" -U talad -d postgres -w -qtAX -c 'select 1' \
    >/dev/null 2>&1; then
    log "PostgreSQL: using role talad"
    emit DATABASE_URL "postgres://talad:talad@127.0.0.1:$port/talad"
    return 0
  fi
  [[ $EUID -eq 0 ]] ||
    die "PostgreSQL on 127.0.0.1:$port refuses user postgres without a password; set $APT_HINT (a role with CREATEDB)"
  have runuser || die "runuser is missing; cannot reach PostgreSQL as the postgres user"
  log "PostgreSQL: user postgres needs a password over TCP; making role talad (password talad, CREATEDB)…"
  (cd / && runuser -u postgres -- psql -p "$port" -d postgres -v ON_ERROR_STOP=1 -qX) >&2 <<'SQL' ||
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'talad') THEN
    CREATE ROLE talad LOGIN PASSWORD 'talad' CREATEDB;
  ELSE
    ALTER ROLE talad LOGIN PASSWORD 'talad' CREATEDB;
  END IF;
END
$$;
SELECT 'CREATE DATABASE talad OWNER talad'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'talad')\gexec
SQL
    die "could not create role talad as the postgres user"
  PGPASSWORD=talad psql -h 127.0.0.1 -p "$port" -U talad -d postgres -w -qtAX -c 'select 1' >/dev/null ||
    die "role talad cannot log in over TCP on 127.0.0.1:$port (check pg_hba.conf)"
  log "PostgreSQL: using role talad"
  emit DATABASE_URL "postgres://talad:talad@127.0.0.1:$port/talad"
}

ensure_postgres
ensure_redis
