#!/usr/bin/env bash
# A PostgreSQL primary with a synchronous hot standby on loopback, for the failover test and
# the replica benchmark.
#
#   tests/support/pgha.sh start DIR         a fresh pair in DIR (anything there is removed):
#                                           the primary by tests/pg-scratch.sh in DIR/primary,
#                                           the standby by pg_basebackup -R in DIR/standby,
#                                           streaming, synchronous (an acknowledged commit is
#                                           flushed on the standby). Prints, one a line:
#       PGHA_PRIMARY_URL=...   the primary alone (superuser ovop)
#       PGHA_STANDBY_URL=...   the standby alone
#       PGHA_URL=...           both hosts, target_session_attrs=read-write: follows a failover
#       PGHA_READ_URL=...      both hosts, target_session_attrs=prefer-standby
#   tests/support/pgha.sh kill-primary DIR  the primary stops at once (pg_ctl stop -m immediate)
#   tests/support/pgha.sh promote DIR       the standby becomes the primary (pg_ctl promote)
#   tests/support/pgha.sh stop DIR          stops whatever still runs (the files stay)
#
# Every URL names the primary's password file, which holds every role's password for any
# port: the standby has the same roles. The standby's own connection to the primary uses a
# copy of the superuser's line owned by the cluster's OS user (root's file is not readable
# by it). Only the URLs go to stdout.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)

if [ -z "${PG_BIN:-}" ]; then
    PG_BIN=$(pg_config --bindir 2>/dev/null) || PG_BIN=
    [ -x "$PG_BIN/initdb" ] || PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

die() {
    echo "pgha: $*" >&2
    exit 1
}

[ $# -eq 2 ] || {
    echo "usage: $0 start|kill-primary|promote|stop DIR" >&2
    exit 2
}
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd -P)
primary=$dir/primary
standby=$dir/standby

# The cluster's OS user, as tests/pg-scratch.sh chooses it (it creates ovop-pg if needed).
if [ "$(id -u)" -eq 0 ]; then
    if getent passwd postgres >/dev/null; then pg_user=postgres; else pg_user=ovop-pg; fi
    as_pg() { runuser -u "$pg_user" -- "$@"; }
else
    pg_user=$(id -un)
    as_pg() { "$@"; }
fi

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# psql_primary SQL: runs SQL on the primary as ovop, printing its unaligned output.
psql_primary() {
    "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$primary_url" -c "$1"
}

start() {
    [ -d "$primary" ] && stop_all
    rm -rf "$dir"/primary "$dir"/standby
    local line
    line=$("$here/../pg-scratch.sh" start "$primary") || die "could not start the primary"
    primary_url=${line#OVOP_TEST_PG_URL=}
    local p1 passfile
    p1=$(cat "$primary/port")
    passfile=$primary/pgpass

    # Replication connections of the superuser, from loopback only, with its password.
    as_pg tee -a "$primary/data/pg_hba.conf" >/dev/null <<EOF
host    replication   ovop   127.0.0.1/32  scram-sha-256
EOF
    psql_primary "SELECT pg_reload_conf()" >/dev/null

    mkdir -p "$standby"
    chmod 0700 "$standby"
    [ "$(id -u)" -ne 0 ] || chown "$pg_user" "$standby"
    # shellcheck disable=SC2016 # $1 is the inner shell's
    grep '^127\.0\.0\.1:\*:\*:ovop:' "$passfile" |
        as_pg sh -c 'umask 077 && cat >"$1"' sh "$standby/pgpass"
    as_pg "$PG_BIN/pg_basebackup" -D "$standby/data" -R -X stream -c fast \
        -d "host=127.0.0.1 port=$p1 user=ovop passfile=$standby/pgpass application_name=ovop_standby" \
        >"$dir/basebackup.log" 2>&1 || die "pg_basebackup failed, see $dir/basebackup.log"

    local p2 tries=0
    while :; do
        tries=$((tries + 1))
        [ $tries -le 20 ] || die "could not start the standby, see $standby/postgres.log"
        p2=$((20000 + RANDOM % 30000))
        if [ "$p2" = "$p1" ] || ! port_free "$p2"; then
            continue
        fi
        # Later lines win: the primary's port and socket directory came with the copy.
        as_pg tee -a "$standby/data/postgresql.auto.conf" >/dev/null <<EOF
port = $p2
unix_socket_directories = '$standby'
hot_standby = on
hot_standby_feedback = on
EOF
        as_pg "$PG_BIN/pg_ctl" -D "$standby/data" -l "$standby/postgres.log" -w -t 60 start \
            >/dev/null 2>&1 && break
    done
    echo "$p2" | as_pg tee "$standby/port" >/dev/null

    # Synchronous from now on (set on the primary only: the promoted standby has no standby
    # to wait for). Waits until the standby streams and is the synchronous one.
    psql_primary "ALTER SYSTEM SET synchronous_standby_names = 'ovop_standby'" >/dev/null
    psql_primary "SELECT pg_reload_conf()" >/dev/null
    tries=0
    until [ "$(psql_primary "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND sync_state = 'sync'")" = 1 ]; do
        tries=$((tries + 1))
        [ $tries -le 300 ] || die "the standby does not stream synchronously"
        sleep 0.1
    done

    local q="passfile=${primary_url#*passfile=}"
    echo "PGHA_PRIMARY_URL=$primary_url"
    echo "PGHA_STANDBY_URL=postgresql://ovop@127.0.0.1:$p2/postgres?$q"
    echo "PGHA_URL=postgresql://ovop@127.0.0.1:$p1,127.0.0.1:$p2/postgres?$q&target_session_attrs=read-write"
    echo "PGHA_READ_URL=postgresql://ovop@127.0.0.1:$p1,127.0.0.1:$p2/postgres?$q&target_session_attrs=prefer-standby"
}

stop_all() {
    local d
    for d in "$primary/data" "$standby/data"; do
        [ -f "$d/PG_VERSION" ] || continue
        if as_pg "$PG_BIN/pg_ctl" -D "$d" status >/dev/null 2>&1; then
            as_pg "$PG_BIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || true
        fi
    done
}

case $cmd in
start) start ;;
kill-primary) as_pg "$PG_BIN/pg_ctl" -D "$primary/data" -m immediate -w stop >/dev/null ;;
promote) as_pg "$PG_BIN/pg_ctl" -D "$standby/data" -w -t 60 promote >/dev/null ;;
stop) stop_all ;;
*) die "unknown command $cmd" ;;
esac
