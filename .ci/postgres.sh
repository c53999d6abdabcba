#!/usr/bin/env bash
# A PostgreSQL for the history tests (Debian's package): installed if
# missing, its cluster started, a role and a database (the argument, else
# callboard_test) created once. Prints the database's URL.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >&2
pg_ctlcluster "$ver" main start >&2 2>/dev/null || true
port=$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { print $3 }')
for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.5; done
db=${1:-callboard_test}
psql() { su postgres -c "psql -p $port -tAq -c \"$1\""; }
[ "$(psql "SELECT 1 FROM pg_roles WHERE rolname = 'callboard'")" = 1 ] ||
  psql "CREATE ROLE callboard LOGIN PASSWORD 'callboard'" >&2
[ "$(psql "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ] ||
  psql "CREATE DATABASE $db OWNER callboard" >&2
echo "postgres://callboard:callboard@127.0.0.1:$port/$db"
