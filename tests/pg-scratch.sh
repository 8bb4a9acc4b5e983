#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests and local runs.
#
#   tests/pg-scratch.sh start DIR   initdb into DIR (once), start it, print OVOP_TEST_PG_URL=...
#   tests/pg-scratch.sh stop DIR    stop the cluster in DIR (the files stay; rm -rf DIR to drop)
#
# The server runs as an unprivileged OS user (PostgreSQL refuses root): `postgres` when it
# exists, otherwise a system user `ovop-pg` created here. It listens on 127.0.0.1 only, on a
# free port, and asks every connection for a password (scram-sha-256; its unix socket, in
# DIR, accepts no login): another local user cannot log in as the superuser and run
# COPY ... FROM PROGRAM as the cluster's OS user. The roles are the superuser `ovop` and the
# daemons' own (ovop_registry, ovop_exports, ovop_broker, ovop_matching, ovop_notify), created
# here right after initdb so the migrations find them; each has a random password, kept only
# in the libpq password file DIR/pgpass (mode 0600, readable by whoever ran this script).
# The URL names that file (?passfile=...), so no password is ever on a command line, in an
# environment variable or in a log; a URL for another role is the same with its user name.
# fsync stays on: benchmarks need honest durability.
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
passfile=$dir/pgpass
# The daemons' roles. The migrations create the ones missing (without a password: no login
# here); made here first, they can log in.
ROLES=(ovop_registry ovop_exports ovop_broker ovop_matching ovop_notify)
ROLES+=(ovop_programme) # programd

# port_free PORT: true when nothing listens on 127.0.0.1:PORT.
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# new_password: 48 random hex digits (192 bits; nothing to quote in SQL or in the passfile).
new_password() {
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
}

# urlencode STRING: STRING with every byte but [A-Za-z0-9/._~-] percent-encoded.
urlencode() {
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
        [A-Za-z0-9/._~-]) out+=$c ;;
        *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

# has_password ROLE: true when the passfile holds ROLE's password.
has_password() {
    [ -f "$passfile" ] && grep -q "^127\.0\.0\.1:\*:\*:$1:" "$passfile"
}

# remember_password ROLE PASSWORD: appends ROLE's line to the passfile (mode 0600: libpq
# ignores a password file others can read).
remember_password() {
    (
        umask 077
        printf '127.0.0.1:*:*:%s:%s\n' "$1" "$2" >>"$passfile"
    )
    chmod 0600 "$passfile"
}

# hba METHOD: writes pg_hba.conf: METHOD for 127.0.0.1 and nothing else.
hba() {
    as_pg tee "$data/pg_hba.conf" >/dev/null <<EOF
# pg-scratch: $1 on 127.0.0.1 only; nothing else may connect.
host    all   all   127.0.0.1/32  $1
EOF
}

# psql_as_owner: runs the SQL on stdin as `ovop` (its password from the passfile).
psql_as_owner() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -d "postgresql://ovop@127.0.0.1:$port/postgres?passfile=$(urlencode "$passfile")" \
        >/dev/null
}

# init: initdb with password authentication from the start. initdb reads the superuser's
# password from a file only the cluster's user can read, removed right after.
init() {
    local pw
    rm -f "$passfile"
    pw=$(new_password)
    # shellcheck disable=SC2016 # $1 is the inner shell's
    as_pg sh -c 'umask 077 && cat >"$1"' sh "$dir/initdb.pw" <<<"$pw"
    if ! as_pg "$PG_BIN/initdb" -D "$data" --username=ovop --auth=scram-sha-256 \
        --pwfile="$dir/initdb.pw" --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
        rm -f "$dir/initdb.pw"
        die "initdb failed, see $dir/initdb.log"
    fi
    rm -f "$dir/initdb.pw"
    remember_password ovop "$pw"
    hba scram-sha-256
}

# upgrade_trust: a cluster made by an earlier pg-scratch trusted 127.0.0.1. The superuser
# gets a password (through that trust, its last use) and the cluster asks for passwords.
upgrade_trust() {
    grep -q 'trust$' "$data/pg_hba.conf" || return 0
    local pw
    pw=$(new_password)
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "postgresql://ovop@127.0.0.1:$port/postgres" \
        >/dev/null <<<"ALTER ROLE ovop PASSWORD '$pw';" ||
        die "could not give ovop a password on the trust cluster in $dir (rm -rf it)"
    rm -f "$passfile"
    remember_password ovop "$pw"
    hba scram-sha-256
    as_pg "$PG_BIN/pg_ctl" -D "$data" reload >/dev/null
}

# ensure_roles: each daemon role without a password in the passfile gets one (and is
# created, LOGIN, when missing). The password goes in the SQL on psql's stdin, never in argv.
ensure_roles() {
    local role pw
    for role in "${ROLES[@]}"; do
        has_password "$role" && continue
        pw=$(new_password)
        psql_as_owner <<EOF || die "could not create role $role"
DO \$\$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
        ALTER ROLE $role LOGIN PASSWORD '$pw';
    ELSE
        CREATE ROLE $role LOGIN PASSWORD '$pw';
    END IF;
END
\$\$;
EOF
        remember_password "$role" "$pw"
    done
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

    [ -f "$data/PG_VERSION" ] || init

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
password_encryption = 'scram-sha-256'
fsync = on
max_connections = 200
EOF
            if as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
                break
            fi
        done
        echo "$port" | as_pg tee "$dir/port" >/dev/null
    fi
    upgrade_trust
    has_password ovop || die "no password for ovop in $passfile: rm -rf $dir and start again"
    ensure_roles
    echo "OVOP_TEST_PG_URL=postgresql://ovop@127.0.0.1:$port/postgres?passfile=$(urlencode "$passfile")"
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
