#!/usr/bin/env bash
# Start a throw-away PostgreSQL server from Debian's package (postgresql-15) in a temporary folder and
# print its SQLAlchemy URL (psycopg 3 driver). Usage:
#   eval "$(.ci/postgres.sh start /tmp/biodiv-pg 55432)"   # exports BIODIV_TEST_DATABASE_URL
#   .ci/postgres.sh stop /tmp/biodiv-pg
# initdb refuses to run as root, so as root the server runs as the `postgres` system user.
set -euo pipefail
action=${1:?start|stop}
dir=${2:-/tmp/biodiv-pg}
port=${3:-55432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bindir" ] && [ "$action" = start ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's postgresql package" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2 || {
    apt-get update -q >&2  # a fresh machine may have no package lists yet
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >&2
  }
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
fi
[ -n "$bindir" ] || { echo "no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$action" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres: "$dir"
      as_owner "$bindir/initdb" -D "$dir/data" -U biodiv --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U biodiv biodiv_test 2>/dev/null || true
    echo "export BIODIV_TEST_DATABASE_URL=postgresql+psycopg://biodiv@127.0.0.1:$port/biodiv_test"
    ;;
  stop)
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
