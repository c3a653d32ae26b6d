#!/bin/sh
# Start a throwaway cluster: user/password/database "wallet", listening on 127.0.0.1:$PGPORT.
# With STANDBY_OF=host:port: a streaming standby of that primary instead (pg_basebackup -R, its
# application_name $APPLICATION_NAME), for database: {standby: true}.
set -eu
PGPORT=${PGPORT:-5432}
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/walletchaos/data
if [ ! -s "$DATA/PG_VERSION" ] && [ -n "${STANDBY_OF:-}" ]; then
  mkdir -p "$DATA" /var/run/walletchaos && chown -R postgres:postgres /var/lib/walletchaos /var/run/walletchaos
  chmod 0700 "$DATA"
  su postgres -s /bin/sh -c "$BIN/pg_basebackup -d 'host=${STANDBY_OF%:*} port=${STANDBY_OF##*:} user=postgres \
    application_name=${APPLICATION_NAME:-standby}' -D $DATA -R -X stream --no-sync -c fast"
elif [ ! -s "$DATA/PG_VERSION" ]; then
  mkdir -p "$DATA" /var/run/walletchaos && chown -R postgres:postgres /var/lib/walletchaos /var/run/walletchaos
  su postgres -s /bin/sh -c "$BIN/initdb -D $DATA --no-sync -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >/dev/null"
  su postgres -s /bin/sh -c "$BIN/pg_ctl -D $DATA -o '-p $PGPORT -k /var/run/walletchaos -c listen_addresses=' -w start >/dev/null"
  su postgres -s /bin/sh -c "$BIN/psql -h /var/run/walletchaos -p $PGPORT -U postgres -qc \"CREATE ROLE wallet LOGIN CREATEDB PASSWORD 'wallet'\""
  su postgres -s /bin/sh -c "$BIN/psql -h /var/run/walletchaos -p $PGPORT -U postgres -qc 'CREATE DATABASE wallet OWNER wallet'"
  su postgres -s /bin/sh -c "$BIN/pg_ctl -D $DATA -m fast -w stop >/dev/null"
fi
exec su postgres -s /bin/sh -c "exec $BIN/postgres -D $DATA -p $PGPORT -k /var/run/walletchaos \
  -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c shared_buffers=128MB"
