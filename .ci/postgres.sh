# Sourced by .ci/run and scripts: makes DATABASE_URL point at a PostgreSQL that answers.
# Order: an existing DATABASE_URL; postgres@127.0.0.1:5432 with trust auth; the Debian cluster
# started with pg_ctlcluster; a throwaway cluster in a temporary directory on a free port.

pg_answers() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ] && pg_answers "$DATABASE_URL"; then export DATABASE_URL; return 0; fi
  local local_url="postgres://postgres@127.0.0.1:5432/postgres"
  if pg_answers "$local_url"; then export DATABASE_URL="$local_url"; return 0; fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do pg_answers "$local_url" && { export DATABASE_URL="$local_url"; return 0; }; sleep 0.5; done
  fi
  # A cluster of our own, trust auth, owned by the postgres user when we are root.
  local bindir dir port owner
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$bindir" ] || { echo "no PostgreSQL binaries found" >&2; return 1; }
  dir=$(mktemp -d /tmp/manifold-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  owner=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then owner=postgres; chown postgres "$dir"; fi
  run_as() { if [ "$owner" = "$(id -un)" ]; then "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi; }
  run_as "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
  run_as "$bindir/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -l "$dir/log" -w start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  pg_answers "$DATABASE_URL"
}
