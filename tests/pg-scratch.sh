#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests and local runs.
#
#   tests/pg-scratch.sh start DIR   initdb into DIR (once), start it, print OVOP_TEST_PG_URL=...
#   tests/pg-scratch.sh stop DIR    stop the cluster in DIR (the files stay; rm -rf DIR to drop)
#
# The server runs as an unprivileged OS user (PostgreSQL refuses root): `postgres` when it
# exists, otherwise a system user `ovop-pg` created here. It listens on 127.0.0.1 only, on a
# free port, with trust authentication for 127.0.0.1 and nothing else (its unix socket, in
# DIR, accepts no login); the superuser role is `ovop`. fsync stays on: benchmarks need
# honest durability.
# Only the URL goes to stdout, so `eval "$(tests/pg-scratch.sh start DIR)"` works.
set -euo pipefail

if [ -z "${PG_BIN:-}" ]; then
    PG_BIN=$(pg_config --bindir 2>/dev/null) || PG_BIN=
    [ -x "$PG_BIN/initdb" ] || PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

die() {
    echo "pg-scratch: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
[ -x "$PG_BIN/initdb" ] || die "could not find PostgreSQL server binaries (set PG_BIN)"
mkdir -p "$2"
dir=$(cd "$2" && pwd -P)

# as_pg CMD...: runs CMD as the cluster's OS user (ourselves when not root).
if [ "$(id -u)" -eq 0 ]; then
    if getent passwd postgres >/dev/null; then
        pg_user=postgres
    else
        pg_user=ovop-pg
        getent passwd "$pg_user" >/dev/null ||
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
                "$pg_user" || die "could not create system user $pg_user"
    fi
    as_pg() { runuser -u "$pg_user" -- "$@"; }
else
    pg_user=$(id -un)
    as_pg() { "$@"; }
fi

data=$dir/data
log=$dir/postgres.log

# port_free PORT: true when nothing listens on 127.0.0.1:PORT.
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    if [ "$(id -u)" -eq 0 ]; then
        chown "$pg_user" "$dir"
        chmod 0700 "$dir"
        # Every ancestor must be traversable by the cluster's user.
        local d=$dir
        while [ "$d" != / ]; do
            d=$(dirname "$d")
            as_pg test -x "$d" || chmod o+x "$d"
        done
    fi

    if [ ! -f "$data/PG_VERSION" ]; then
        as_pg "$PG_BIN/initdb" -D "$data" --username=ovop --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            die "initdb failed, see $dir/initdb.log"
        as_pg tee "$data/pg_hba.conf" >/dev/null <<'EOF'
# pg-scratch: trust on 127.0.0.1 only; nothing else may connect.
host    all   all   127.0.0.1/32  trust
EOF
    fi

    if as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        port=$(cat "$dir/port")
    else
        local tries=0
        while :; do
            tries=$((tries + 1))
            [ $tries -le 20 ] || die "could not start PostgreSQL, see $log"
            port=$((20000 + RANDOM % 30000))
            port_free "$port" || continue
            as_pg tee "$data/postgresql.auto.conf" >/dev/null <<EOF
# pg-scratch settings (rewritten at each start)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
max_connections = 200
EOF
            if as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
                break
            fi
        done
        echo "$port" | as_pg tee "$dir/port" >/dev/null
    fi
    echo "OVOP_TEST_PG_URL=postgresql://ovop@127.0.0.1:$port/postgres"
}

stop() {
    [ -f "$data/PG_VERSION" ] || die "no cluster in $dir"
    if as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
