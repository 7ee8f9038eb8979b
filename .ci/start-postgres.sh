#!/usr/bin/env bash
# Install (if needed) and start a local PostgreSQL server for the tests; prints the URL to use.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 || pg_ctlcluster "$version" main status >&2
for _ in $(seq 1 30); do
  su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='dfew'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"create role dfew login createdb password 'dfew'\"" >&2
# Tests drop their throwaway databases WITH (FORCE); an autovacuum worker may still be in
# one, and only members of pg_signal_backend may end it.
su postgres -c "psql -qc 'grant pg_signal_backend to dfew'" >&2
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
echo "postgresql+psycopg://dfew:dfew@127.0.0.1:${port}/postgres"
