# Sourced by .ci/run and scripts: ensure_postgres makes DATABASE_URL point at a PostgreSQL that
# answers, and stop_postgres stops what ensure_postgres started, and only that (scripts/test calls
# it on exit). Order: an existing DATABASE_URL; postgres@127.0.0.1:5432 with trust auth; the
# Debian cluster started with pg_ctlcluster (stopped again at once when it does not take trust auth
# on 5432, as Debian's does not out of the box); a throwaway cluster in a temporary directory on a
# free port.

# What ensure_postgres started: "cluster <version>" (Debian's main cluster) or "own <dir>" (a
# throwaway cluster), for stop_postgres; empty when it started nothing.
POSTGRES_STARTED=""

pg_answers() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

# The newest PostgreSQL's bin directory.
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# Runs a command as the owner of a throwaway cluster: the postgres user when we are root, else us.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; else "$@"; fi
}

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ] && pg_answers "$DATABASE_URL"; then export DATABASE_URL; return 0; fi
  local local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if pg_answers "$local_url"; then export DATABASE_URL="$local_url"; return 0; fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    # It answers 0 only when it started the cluster (2 when it was running already).
    if pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1; then
      POSTGRES_STARTED="cluster $version"
    fi
    for _ in $(seq 1 30); do pg_answers "$local_url" && { export DATABASE_URL="$local_url"; return 0; }; sleep 0.5; done
    stop_postgres
  fi
  start_own_postgres
}

# Starts a cluster of our own in a temporary directory on a free port, trust auth, owned by the
# postgres user when we are root; DATABASE_URL points at it.
start_own_postgres() {
  local bindir dir port
  bindir=$(pg_bindir)
  [ -n "$bindir" ] || { echo "no PostgreSQL binaries found" >&2; return 1; }
  dir=$(mktemp -d /tmp/manifold-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
  pg_as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
  POSTGRES_STARTED="own $dir"
  pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -l "$dir/log" -w start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  pg_answers "$DATABASE_URL"
}

# Stops the server ensure_postgres started, if it started one, and removes a throwaway cluster's
# directory.
stop_postgres() {
  case $POSTGRES_STARTED in
    "cluster "*)
      pg_ctlcluster --skip-systemctl-redirect "${POSTGRES_STARTED#cluster }" main stop >/dev/null 2>&1 || true
      ;;
    "own "*)
      local dir=${POSTGRES_STARTED#own }
      pg_as_owner "$(pg_bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
      rm -rf "$dir"
      ;;
  esac
  POSTGRES_STARTED=""
}
