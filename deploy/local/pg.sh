# Sourced by deploy/local/cluster.sh and bench/compare.sh: a throwaway PostgreSQL from the server
# binaries on this machine (on PATH, or Debian's /usr/lib/postgresql/<version>/bin, newest first).

# Puts the PostgreSQL binaries (initdb, pg_ctl, psql, pgbench) first on PATH; fails without them.
use_pg_bin() {
  pg_bin=$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")
  [ -x "$pg_bin/initdb" ] || { echo "no PostgreSQL binaries: install postgresql or set DATABASE_URL" >&2; return 1; }
  PATH="$pg_bin:$PATH"
  export PATH
}

# start_throwaway_pg <dir> <port>: starts (initialising on first use) a cluster in <dir> listening on
# 127.0.0.1:<port> only (no Unix socket: its path would be too long under a deep checkout) with trust
# auth, and exports DATABASE_URL. stop_throwaway_pg stops it.
start_throwaway_pg() {
  use_pg_bin || return 1
  pg_dir=$1; pg_data="$1/data"
  as_pg=""
  if [ "$(id -u)" = 0 ]; then as_pg="runuser -u postgres --"; mkdir -p "$pg_dir"; chown postgres "$pg_dir"; fi
  [ -d "$pg_data" ] || $as_pg "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 >/dev/null
  $as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_dir/log" -w \
    -o "-p $2 -c unix_socket_directories='' -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$2/postgres"
}

stop_throwaway_pg() {
  if [ -n "${pg_data:-}" ]; then $as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m fast stop >/dev/null 2>&1 || true; fi
}
