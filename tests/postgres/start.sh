#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster for the PostgreSQL store tests and prints the shell lines
# that point the tests at it:
#
#   eval "$(tests/postgres/start.sh)"      # sets LOCKSTEP_TEST_POSTGRES, _DATA and _PID
#   dotnet test tests/Lockstep.Storage.Tests ...
#   tests/postgres/stop.sh                 # stops it and deletes its data directory
#
# What it does, on a fresh Debian 12 machine too:
# - installs the server (package `postgresql`) with apt-get when its binaries are missing, without
#   letting the package create and start its default cluster (we want nothing on port 5432);
# - initdb's a new data directory /tmp/lockstep-pg.* (UTF-8, C locale, trust authentication: the cluster
#   holds nothing but test data and is reachable from this machine only), as the `postgres` system
#   user when run as root, because initdb and postgres refuse to run as root;
# - starts postgres on 127.0.0.1 only (no Unix socket, nothing on other addresses) and a free port,
#   and waits until it accepts connections.
# Only the `export` lines go to standard output; progress and errors go to standard error.
set -euo pipefail

log() { echo "postgres/start.sh: $*" >&2; }

find_bin() {
  # The newest installed major version wins (Debian 12 ships 15).
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
    echo "$dir"
  fi
}

bin="$(find_bin)"
if [ -z "$bin" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "the PostgreSQL server is not installed and we are not root: run 'apt-get install postgresql' first"
    exit 1
  fi
  log "installing the PostgreSQL server (apt-get install postgresql)"
  # The package would create and start a cluster `main` on localhost:5432 (IPv4 and IPv6): tell
  # postgresql-common not to, and keep this file when the package brings its own version of it.
  mkdir -p /etc/postgresql-common
  if ! grep -qs '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
    echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql >&2
  bin="$(find_bin)"
  if [ -z "$bin" ]; then
    log "apt-get installed postgresql but no server binaries are under /usr/lib/postgresql/*/bin"
    exit 1
  fi
fi

# Run a server binary as the cluster's owner: `postgres` when we are root, else ourselves.
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  owner="$(id -un)"
  as_owner() { "$@"; }
fi

# As root, under /tmp: the postgres user must be able to reach the directory ($TMPDIR may be private).
if [ "$(id -u)" -eq 0 ]; then
  parent=/tmp
else
  parent="${TMPDIR:-/tmp}"
fi
data="$(mktemp -d "$parent/lockstep-pg.XXXXXXXX")"
chown "$owner" "$data"
chmod 700 "$data"
started=0
cleanup() {
  if [ "$started" -eq 0 ]; then
    as_owner "$bin/pg_ctl" -D "$data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$data"
  fi
}
trap cleanup EXIT

log "initdb $data"
as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$data.initdb.log" 2>&1 || {
  cat "$data.initdb.log" >&2
  rm -f "$data.initdb.log"
  exit 1
}
rm -f "$data.initdb.log"

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    # No python3: a random high port; if it is taken, postgres fails to bind and the loop tries another.
    echo $((20000 + RANDOM % 40000))
  fi
}

# Another process may take the port between picking and binding it: try a few.
port=""
for attempt in 1 2 3 4 5; do
  candidate="$(free_port)"
  # The last `port` line wins, so a retry just appends.
  cat >>"$data/postgresql.conf" <<EOF

# lockstep tests (tests/postgres/start.sh), attempt $attempt
listen_addresses = '127.0.0.1'
port = $candidate
unix_socket_directories = ''
max_connections = 200
EOF
  if as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null 2>&1; then
    port="$candidate"
    break
  fi
  log "could not start on port $candidate (attempt $attempt):"
  tail -n 5 "$data/server.log" >&2 || true
done
if [ -z "$port" ]; then
  log "giving up: PostgreSQL did not start"
  exit 1
fi

# pg_ctl -w already waited for the server; this also proves a TCP connection works.
for _ in $(seq 1 60); do
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
    break
  fi
  sleep 0.5
done
"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres || { log "PostgreSQL does not accept connections"; exit 1; }

pid="$(head -n 1 "$data/postmaster.pid")"
started=1
log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, pid $pid, data $data"
printf 'export LOCKSTEP_TEST_POSTGRES=%q\n' "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
printf 'export LOCKSTEP_TEST_POSTGRES_DATA=%q\n' "$data"
printf 'export LOCKSTEP_TEST_POSTGRES_PID=%q\n' "$pid"
