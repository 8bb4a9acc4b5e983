#!/usr/bin/env bash
# deploy/ovop-backup end to end: a PostgreSQL cluster archiving its WAL through
# `ovop-backup archive-wal`, the system on it (`deploy/ovop up` in a scratch var/ of the build
# directory: broker and registryd), a base backup, batch A written through ovopctl, a restore
# point, batch B; then a restore to the point into a new data directory served on another
# port. The copy must hold batch A and not batch B, its event log must be gap-free and end
# where it ended at the point, and registryd started against it must answer reads. Then a
# dump / restore-dump round trip and the refusals (non-empty data directory, unknown backup,
# a WAL segment missing from the archive, an archive conflict, a dump into a database that is
# not empty).
#
#   tests/integration/test-backup.sh BUILD_DIR
set -euo pipefail

[[ $# -eq 1 ]] || {
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
}
ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/../.." && pwd)
BUILD=$(cd -- "$1" && pwd)
OVOP=$ROOT/deploy/ovop
VAR=$BUILD/test-backup-var
CTL=$BUILD/bin/ovopctl
PG_BIN=${PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
export PG_BIN

export OVOP_VAR_DIR=$VAR OVOP_BUILD_DIR=$BUILD OVOP_UP_BUILD=0 OVOP_DEMO_DATA=0
export OVOP_REGISTRYD_INSTANCES=1 OVOP_EXPORTD_INSTANCES=0 OVOP_MATCHD_INSTANCES=0
export OVOP_NOTIFYD_INSTANCES=0 OVOP_UP_TIMEOUT=120

# The cluster runs as `postgres` (or pg-scratch's ovop-pg) when we are root: its archive_command
# and restore_command run as that user, so the script and the archive live where it can reach
# (under VAR, which pg-scratch makes traversable).
BACKUP=$VAR/ovop-backup
WAL=$VAR/wal
BACKUPS=$VAR/backups
RESTORED=$VAR/restored
MY_REGISTRYD=

# as_pg CMD...: CMD as the OS user of the cluster in VAR/pg (the owner of its data directory).
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$(stat -c %U "$VAR/pg/data")" -- "$@"
    else
        "$@"
    fi
}

fail() {
    echo "FAIL: $*" >&2
    for f in "$VAR/pg/postgres.log" "$VAR/restored.log" "$VAR/log/registryd-restored.log"; do
        [[ -f $f ]] || continue
        echo "--- last lines of $f" >&2
        tail -n 20 "$f" >&2
    done
    exit 1
}

cleanup() {
    [[ -z $MY_REGISTRYD ]] || kill "$MY_REGISTRYD" 2>/dev/null || true
    if [[ -f $RESTORED/postmaster.pid ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$RESTORED" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    "$OVOP" down --purge >/dev/null 2>&1 || true
    rm -rf "$VAR"
}
cleanup
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The cluster, archiving into WAL through ovop-backup archive-wal, accepting replication
#    connections from 127.0.0.1 for pg_basebackup.
"$ROOT/tests/pg-scratch.sh" start "$VAR/pg" >/dev/null || fail "pg-scratch start failed"
install -m 0755 "$ROOT/deploy/ovop-backup" "$BACKUP"
mkdir -p "$WAL" "$BACKUPS"
[[ $(id -u) -ne 0 ]] || chown "$(stat -c %U "$VAR/pg/data")" "$WAL"
as_pg tee -a "$VAR/pg/data/postgresql.conf" >/dev/null <<EOF
archive_mode = on
archive_command = '$BACKUP archive-wal %p %f $WAL'
EOF
as_pg tee -a "$VAR/pg/data/pg_hba.conf" >/dev/null <<EOF
host    replication   ovop   127.0.0.1/32  scram-sha-256
EOF
as_pg "$PG_BIN/pg_ctl" -D "$VAR/pg/data" -l "$VAR/pg/postgres.log" -m fast -w restart >/dev/null || fail "restart with archiving failed"

# 2. The system on it: the broker and one registryd (deploy/ovop up migrates and bootstraps).
"$OVOP" up >"$BUILD/test-backup-up.log" 2>&1 || {
    cat "$BUILD/test-backup-up.log" >&2
    fail "deploy/ovop up failed"
}
set -a
# shellcheck disable=SC1091
. "$VAR/ovop.env"
set +a
DB=$OVOP_DATABASE_URL
sql() { "$PG_BIN/psql" -X -At -q -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
[[ $(sql "$DB" "SHOW archive_mode") == on ]] || fail "archive_mode is not on after up"

# territories PREFIX FROM TO: creates rayons PREFIX-FROM..TO under the Issyk-Kul region
# through the broker and registryd (each an event in bus.events).
rayon_code() { printf '417029%02d000000' "$1"; }
territories() {
    local i
    for ((i = $2; i <= $3; i++)); do
        "$CTL" territory create "$(rayon_code "$i")" --kind rayon --parent 41702000000000 \
            --ru "$1-$i" --valid-from 2020-01-01 >/dev/null || fail "territory create $1-$i failed"
    done
}
# wait_sequenced [URL]: waits until every event in the database at URL (default DB) has its
# seq (bus.sequence_events numbers them after commit).
wait_sequenced() {
    local i
    for i in $(seq 1 100); do
        [[ $(sql "${1:-$DB}" "SELECT count(*) FROM bus.events WHERE seq IS NULL") == 0 ]] && return 0
        sleep 0.1
    done
    fail "events left without seq"
}

territories before 1 3
wait_sequenced

# 3. Base backup (verified with pg_verifybackup), batch A, the restore point, batch B.
t0=$(date +%s.%N)
name=$("$BACKUP" base "$BACKUPS" --database-url "$DB" 2>"$VAR/base.err") || {
    cat "$VAR/base.err" >&2
    fail "ovop-backup base failed"
}
awk -v a="$t0" -v b="$(date +%s.%N)" -v s="$(du -sh "$BACKUPS/$name" | cut -f1)" \
    'BEGIN { printf "base backup (pg_basebackup, gzip, pg_verifybackup): %.1f s, %s\n", b - a, s }'
[[ -f $BACKUPS/$name/base.tar.gz && -f $BACKUPS/$name/backup_manifest ]] || fail "backup $name incomplete"
# No password in what it prints (the URL names a password file; its content must not appear).
pw=$(sed -n 's/^127\.0\.0\.1:\*:\*:ovop://p' "$VAR/pg/pgpass")
[[ -n $pw ]] || fail "no password for ovop in $VAR/pg/pgpass"
if grep -qF "$pw" "$VAR/base.err"; then fail "base printed the password"; fi
territories batch-a 10 14
wait_sequenced
head_a=$(sql "$DB" "SELECT max(seq) FROM bus.events")
time_a=$(sql "$DB" "SELECT clock_timestamp()")
"$BACKUP" point before-b --backup-dir "$BACKUPS" --database-url "$DB" >/dev/null || fail "point failed"
out=$("$BACKUP" point before-b --backup-dir "$BACKUPS" --database-url "$DB" 2>&1) &&
    fail "a second point before-b was not refused"
grep -q POINT_EXISTS <<<"$out" || fail "second point before-b: $out"
territories batch-b 20 24
wait_sequenced
head_b=$(sql "$DB" "SELECT max(seq) FROM bus.events")
((head_b == head_a + 5)) || fail "batch B wrote $((head_b - head_a)) events, want 5"
sql "$DB" "SELECT pg_switch_wal()" >/dev/null
# wait_archived: waits until PostgreSQL has archived every finished segment (no .ready left).
wait_archived() {
    local i
    for i in $(seq 1 300); do
        compgen -G "$VAR/pg/data/pg_wal/archive_status/*.ready" >/dev/null || return 0
        sleep 0.1
    done
    fail "WAL not archived within 30 s"
}
wait_archived
"$BACKUP" list "$BACKUPS" --wal-dir "$WAL" | tee "$VAR/list.out"
grep -q "^$name " "$VAR/list.out" || fail "list does not show $name"
grep -q "^before-b " "$VAR/list.out" || fail "list does not show the restore point"

# 4. Refusals before the real restore: nothing may be written.
mkdir -p "$VAR/full" && touch "$VAR/full/x"
out=$("$BACKUP" restore --target-name before-b "$BACKUPS" "$WAL" "$VAR/full" 2>&1) &&
    fail "restore into a non-empty directory succeeded"
grep -q DATADIR_NOT_EMPTY <<<"$out" || fail "non-empty directory: $out"
[[ $(ls "$VAR/full") == x ]] || fail "restore wrote into the non-empty directory"
out=$("$BACKUP" restore --latest "$VAR/no-such-backup" "$WAL" "$VAR/r1" 2>&1) &&
    fail "restore from an unknown backup succeeded"
grep -q UNKNOWN_BACKUP <<<"$out" || fail "unknown backup: $out"
[[ ! -e $VAR/r1 ]] || fail "restore from an unknown backup created its data directory"
# A segment between the backup and the point removed from a copy of the archive.
cp -a "$WAL" "$VAR/wal-gap"
start=$(sed -n 's/^start_wal=//p' "$BACKUPS/$name/ovop-backup.info")
gap=$(find "$VAR/wal-gap" -name '[0-9A-F]*' -printf '%f\n' | grep -E '^[0-9A-F]{24}$' | sort |
    awk -v s="$start" '$1 > s' | head -n 1)
[[ -n $gap ]] || fail "no archived segment after the backup's $start"
rm "$VAR/wal-gap/$gap"
out=$("$BACKUP" restore --target-name before-b "$BACKUPS" "$VAR/wal-gap" "$VAR/r2" 2>&1) &&
    fail "restore with segment $gap missing succeeded"
grep -q "WAL_MISSING.*$gap" <<<"$out" || fail "missing WAL: $out"
[[ ! -e $VAR/r2 ]] || fail "restore with missing WAL created its data directory"
out=$("$BACKUP" restore --target-name no-such-point "$BACKUPS" "$WAL" "$VAR/r3" 2>&1) &&
    fail "restore to a point never made succeeded"
grep -q "POINT_NOT_ARCHIVED" <<<"$out" || fail "unknown point: $out"
[[ ! -e $VAR/r3 ]] || fail "restore to an unknown point created its data directory"
# restore-wal of a file not archived, archive-wal over a different file.
"$BACKUP" restore-wal 000000010000000000000FFF "$VAR/x" "$WAL" 2>/dev/null && fail "restore-wal of a missing file succeeded"
some=$(find "$WAL" -name '[0-9A-F]*' -printf '%f\n' | grep -E '^[0-9A-F]{24}$' | head -n 1)
cksum_before=$(cksum <"$WAL/$some")
head -c 1000 /dev/urandom >"$VAR/other"
out=$("$BACKUP" archive-wal "$VAR/other" "$some" "$WAL" 2>&1) && fail "archive-wal overwrote $some"
grep -q ARCHIVE_CONFLICT <<<"$out" || fail "archive conflict: $out"
[[ $(cksum <"$WAL/$some") == "$cksum_before" ]] || fail "archive-wal changed $some"
"$BACKUP" archive-wal "$WAL/$some" "$some" "$WAL" || fail "archiving the same file again is not success"
"$BACKUP" archive-wal "$VAR/other" "../x" "$WAL" 2>/dev/null && fail "archive-wal took the name ../x"

# restore_to DIR LOGNAME TARGET...: restores into DIR (on a free port, archiving off), starts
# the copy and waits until it is promoted; sets R_DB to its URL and prints the time taken.
restore_to() {
    local dir=$1 log=$VAR/$2.log port t0 t1 i
    shift 2
    port=$((20000 + RANDOM % 12000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    touch "$log"
    [[ $(id -u) -ne 0 ]] || chown "$(stat -c %U "$VAR/pg/data")" "$log"
    t0=$(date +%s.%N)
    "$BACKUP" restore "$@" --port "$port" --archive-off "$BACKUPS" "$WAL" "$dir" ||
        fail "ovop-backup restore $* failed"
    as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$log" -w -t 120 start >/dev/null ||
        fail "the cluster restored with $* did not start"
    R_DB=$(sed -E "s#127\.0\.0\.1:[0-9]+#127.0.0.1:$port#" <<<"$DB")
    for i in $(seq 1 600); do
        [[ $(sql "$R_DB" "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] && break
        sleep 0.1
    done
    [[ $(sql "$R_DB" "SELECT pg_is_in_recovery()") == f ]] || fail "the cluster restored with $* was not promoted"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v t="$*" \
        'BEGIN { printf "restore %s (unpack, replay, promote): %.1f s\n", t, b - a }'
}

# check_copy: the copy at R_DB holds batch A and not batch B, and its event log is gap-free
# and ends at head_a.
check_copy() {
    local n_a n_b cnt lo hi nulls
    n_a=$(sql "$R_DB" "SELECT count(*) FROM registry.territories WHERE name_ru LIKE 'batch-a-%'")
    n_b=$(sql "$R_DB" "SELECT count(*) FROM registry.territories WHERE name_ru LIKE 'batch-b-%'")
    [[ $n_a == 5 ]] || fail "restored batch A: $n_a territories, want 5"
    [[ $n_b == 0 ]] || fail "restored batch B: $n_b territories, want 0"
    read -r cnt lo hi nulls < <(sql "$R_DB" "SELECT count(*), min(seq), max(seq),
        count(*) FILTER (WHERE seq IS NULL) FROM bus.events" | tr '|' ' ')
    [[ $hi == "$head_a" ]] || fail "restored event log ends at seq $hi, want $head_a"
    [[ $nulls == 0 && $cnt == $((hi - lo + 1)) ]] ||
        fail "restored event log has gaps: $cnt events, seq $lo..$hi, $nulls unsequenced"
    echo "restored event log: $cnt events, seq $lo..$hi (the original's ends at $head_b)"
}

# 5. Restore to the time between the batches, check, stop; then to the restore point.
restore_to "$VAR/restored-time" restored-time --target-time "$time_a"
check_copy
as_pg "$PG_BIN/pg_ctl" -D "$VAR/restored-time" -m fast -w stop >/dev/null
rm -rf "$VAR/restored-time"
restore_to "$RESTORED" restored --target-name before-b
grep -q 'recovery stopping at restore point "before-b"' "$VAR/restored.log" ||
    fail "the log does not say recovery stopped at before-b"
check_copy

# 7. registryd against the restored database answers reads through the broker: the one
#    `up` started steps aside, ours takes its place.
"$OVOP" scale registryd 0 >/dev/null 2>&1 || fail "scale registryd 0 failed"
"$BUILD/bin/ovop-registryd" --broker="$OVOP_BROKER" \
    --database-url="$(sed -E 's#^(postgres(ql)?://)[^@/?]*@#\1ovop_registry@#' <<<"$R_DB")" \
    --key="$VAR/keys/svc-ovop.registry.secret" --broker-key="$VAR/keys/broker.key" \
    --http=127.0.0.1:0 --instance=registryd-restored 2>"$VAR/log/registryd-restored.log" &
MY_REGISTRYD=$!
ok=0
for i in $(seq 1 100); do
    if "$CTL" --timeout-ms=1000 --retries=0 territory get "$(rayon_code 10)" >"$VAR/get-a.out" 2>/dev/null; then
        ok=1
        break
    fi
    sleep 0.2
done
((ok)) || fail "registryd on the restored database does not answer"
grep -q batch-a-10 "$VAR/get-a.out" || fail "territory get on the restored database: $(cat "$VAR/get-a.out")"
out=$("$CTL" --timeout-ms=2000 territory get "$(rayon_code 20)" 2>&1) &&
    fail "batch B's territory is served from the restored database: $out"
grep -qi 'NOT_FOUND' <<<"$out" || fail "batch B's territory: want NOT_FOUND, got: $out"
# Writes go on where the copy ends: the next event is head_a + 1, still without a gap.
territories batch-c 30 30
wait_sequenced "$R_DB"
[[ $(sql "$R_DB" "SELECT count(*) || ' ' || max(seq) FROM bus.events") == "$((head_a + 1)) $((head_a + 1))" ]] ||
    fail "a write on the copy: $(sql "$R_DB" "SELECT count(*), min(seq), max(seq) FROM bus.events")"
kill "$MY_REGISTRYD"
wait "$MY_REGISTRYD" || true
MY_REGISTRYD=

# 8. dump and restore-dump: the copy holds both batches and the same event log.
"$BACKUP" dump "$VAR/ovop.dump" --database-url "$DB" || fail "dump failed"
out=$("$BACKUP" dump "$VAR/ovop.dump" --database-url "$DB" 2>&1) && fail "dump overwrote its file"
grep -q DUMP_EXISTS <<<"$out" || fail "dump over a file: $out"
sql "$DB" "CREATE DATABASE ovop_copy" >/dev/null
COPY_DB=$(sed -E 's#^(postgres(ql)?://[^/?]*)/[^?]*#\1/ovop_copy#' <<<"$DB")
"$BACKUP" restore-dump "$VAR/ovop.dump" "$COPY_DB" || fail "restore-dump failed"
for q in "SELECT count(*) FROM registry.territories WHERE name_ru LIKE 'batch-%'" \
    "SELECT count(*), max(seq) FROM bus.events"; do
    [[ $(sql "$DB" "$q") == $(sql "$COPY_DB" "$q") ]] || fail "dump copy differs: $q"
done
out=$("$BACKUP" restore-dump "$VAR/ovop.dump" "$COPY_DB" 2>&1) && fail "restore-dump into a full database succeeded"
grep -q DATABASE_NOT_EMPTY <<<"$out" || fail "restore-dump into a full database: $out"
echo "dump round trip: $(sql "$COPY_DB" "SELECT count(*) FROM bus.events") events"

# 9. A second base backup with --keep 1: the first is deleted, and the WAL before the new
#    one's start with it.
sleep 1
name2=$("$BACKUP" base "$BACKUPS" --database-url "$DB" --keep 1 --wal-dir "$WAL" 2>/dev/null) ||
    fail "second base backup failed"
left=("$BACKUPS"/base-*)
[[ ${#left[@]} == 1 && ${left[0]} == "$BACKUPS/$name2" ]] || fail "--keep 1 left: ${left[*]}"
start2=$(sed -n 's/^start_wal=//p' "$BACKUPS/$name2/ovop-backup.info")
old_wal=$(find "$WAL" -name '[0-9A-F]*' -printf '%f\n' | grep -E '^[0-9A-F]{24}' | awk -v s="$start2" 'substr($1, 9, 16) < substr(s, 9, 16)')
[[ -z $old_wal ]] || fail "WAL before $start2 left after --keep 1: $old_wal"

echo "PASS"
