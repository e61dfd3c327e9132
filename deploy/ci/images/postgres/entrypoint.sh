#!/bin/sh
# First start on an empty data directory: initdb with POSTGRES_USER as superuser (password
# POSTGRES_PASSWORD, scram-sha-256 over TCP) and an empty POSTGRES_DB. Later starts reuse the data.
set -eu
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    # The temporary server has no TCP and its socket elsewhere, so neither the health check nor
    # the app sees it as ready before the database exists.
    pg_ctl --wait --silent -o "-c listen_addresses='' -c unix_socket_directories=/tmp" start
    if [ "$db" != postgres ]; then
        createdb --host=/tmp --username="$user" "$db"
    fi
    pg_ctl --wait --silent --mode=fast stop
    echo "entrypoint: initialised $PGDATA (user $user, database $db)"
fi
exec "$@"
