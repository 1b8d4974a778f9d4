#!/usr/bin/env bash
# Stops the throw-away PostgreSQL cluster that tests/postgres/start.sh started and deletes its data
# directory. The data directory comes from the first argument or from LOCKSTEP_TEST_POSTGRES_DATA
# (set by `eval "$(tests/postgres/start.sh)"`). The cluster is stopped with `pg_ctl stop -m
# immediate`: its data is thrown away, so there is nothing to flush. Safe to run twice.
set -euo pipefail

log() { echo "postgres/stop.sh: $*" >&2; }

data="${1:-${LOCKSTEP_TEST_POSTGRES_DATA:-}}"
if [ -z "$data" ]; then
  log "no data directory: pass it as the first argument or set LOCKSTEP_TEST_POSTGRES_DATA"
  exit 1
fi
if [ ! -d "$data" ]; then
  log "$data is already gone"
  exit 0
fi
# Refuse to delete anything that start.sh did not create.
case "$(basename "$data")" in
  lockstep-pg.*) ;;
  *)
    log "$data is not a data directory made by tests/postgres/start.sh (lockstep-pg.*); not touching it"
    exit 1
    ;;
esac

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
pid=""
if [ -f "$data/postmaster.pid" ]; then
  pid="$(head -n 1 "$data/postmaster.pid")"
fi
if [ -n "$bin" ] && [ -f "$data/PG_VERSION" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$(stat -c %U "$data")" -- "$bin/pg_ctl" -D "$data" stop -m immediate -w >/dev/null 2>&1 || true
  else
    "$bin/pg_ctl" -D "$data" stop -m immediate -w >/dev/null 2>&1 || true
  fi
fi
# If pg_ctl could not stop it, end that one postmaster by its pid (it is ours: it runs on $data).
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$data"; then
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -rf "$data"
log "stopped and removed $data"
