#!/usr/bin/env bash
# deploy/soak.sh — the soak of `deploy/ovop soak MINUTES [CLIENTS]` (not in CI): against the
# local system that `deploy/ovop up` started (with its supervisor and the demo villages),
# CLIENTS concurrent clients register producers and read them back and read territories for
# MINUTES, while a chaos loop kills (-9) a random daemon or the broker, or (one time in four)
# crashes and restarts PostgreSQL, every 3 to 10 s. Every write carries its own request id and is
# retried under that id until it is answered, as a client should. Then it checks, in the
# database: every acknowledged write is there as acknowledged, no request was written twice,
# the event sequence has no gap; it prints its figures and fails on any violation.
#
# Needs, from deploy/ovop: OVOP_VAR_DIR (var/), OVOPCTL, PG_BIN, and var/ovop.env's variables
# (OVOP_BROKER, OVOP_KEY, OVOP_BROKER_KEY, OVOP_DATABASE_URL) exported.
set -euo pipefail

MINUTES=${1:?usage: soak.sh MINUTES [CLIENTS]}
CLIENTS=${2:-8}
[[ $MINUTES =~ ^[0-9]+$ && $MINUTES -gt 0 ]] || { echo "MINUTES must be a positive number" >&2; exit 2; }
[[ $CLIENTS =~ ^[0-9]+$ && $CLIENTS -gt 0 ]] || { echo "CLIENTS must be a positive number" >&2; exit 2; }
VAR=${OVOP_VAR_DIR:?}
RUN=$VAR/run
ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd)
TAG=soak-$(date -u +%Y%m%d%H%M%S)
OUT=$VAR/soak/$TAG
mkdir -p "$OUT"
mapfile -t VILLAGES < <(awk -F, 'NR > 1 && $2 == "village" { gsub(/ /, "", $1); print $1 }' \
    "$ROOT/deploy/demo/villages.csv")
[[ ${#VILLAGES[@]} -gt 0 ]] || { echo "no village in deploy/demo/villages.csv" >&2; exit 1; }

now() { date -u +%T; }
ctl() { "$OVOPCTL" --timeout-ms=3000 --retries=1 "$@"; }

# write_one C I: registers producer I of client C under request id TAG-C-I, retried under the
# same id until answered (at most 40 tries, 0.5 s apart); prints "ACK RID ID TAX",
# "REFUSED RID EXIT" (an answer that is not OK) or "UNKNOWN RID" (no answer at all).
write_one() {
    local c=$1 i=$2 rid=$TAG-$1-$2 tax out rc id
    # Every try sends the same body: a retry is the same request, not a new one.
    local village=${VILLAGES[RANDOM % ${#VILLAGES[@]}]}
    # An individual's INN: 2, a birth date (client, run), a serial (I): unique in the run.
    tax=$(printf '2%02d%02d%04d%05d' $((c % 28 + 1)) $((10#${TAG: -4:2} % 12 + 1)) \
        $((1940 + 10#${TAG: -2} % 60)) "$i")
    for _ in $(seq 1 40); do
        rc=0
        out=$(ctl --json --request-id "$rid" producer register --kind individual \
            --name "Soak $rid" --tax-id "$tax" \
            --territory "$village" 2>/dev/null) || rc=$?
        if ((rc == 0)); then
            id=$(sed -n 's/^  "id": "\{0,1\}\([0-9]*\)"\{0,1\},$/\1/p' <<<"$out" | head -n 1)
            echo "ACK $rid $id $tax"
            return 0
        fi
        # 10 + status: 14 DEADLINE_EXCEEDED, 20 ABORTED, 24 UNAVAILABLE, 23 INTERNAL (a
        # database gone mid-request) and transport failures (< 10) are worth a retry.
        case $rc in
        1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 14 | 20 | 23 | 24) sleep 0.5 ;;
        *)
            echo "REFUSED $rid $rc"
            return 0
            ;;
        esac
    done
    echo "UNKNOWN $rid"
}

# client C END: writes and reads until END (SECONDS), one write for two reads: the producer
# of an earlier acknowledged write (NOT_FOUND would be a lost write) and a village.
client() {
    local c=$1 end=$2 i=0 line ids=() rc id
    while ((SECONDS < end)); do
        i=$((i + 1))
        line=$(write_one "$c" "$i")
        echo "$line"
        [[ $line == ACK* ]] && ids+=("$(cut -d' ' -f3 <<<"$line")")
        if ((${#ids[@]} > 0)); then
            id=${ids[RANDOM % ${#ids[@]}]}
            rc=0
            ctl producer get "$id" >/dev/null 2>&1 || rc=$?
            if ((rc == 15)); then echo "LOST $id"; else echo "READ $rc"; fi
        fi
        rc=0
        ctl territory get "${VILLAGES[RANDOM % ${#VILLAGES[@]}]}" >/dev/null 2>&1 || rc=$?
        echo "READ $rc"
    done
}

as_pg() {
    local owner
    owner=$(stat -c %U "$VAR/pg/data")
    if [[ $(id -un) == "$owner" ]]; then "$@"; else runuser -u "$owner" -- "$@"; fi
}

# chaos END: every 3 to 10 s, kill -9 of a random daemon instance or the broker (the
# supervisor restarts it), or PostgreSQL stopped -m immediate (a crash) and started again.
chaos() {
    local end=$1 victims victim pid f
    while ((SECONDS < end)); do
        sleep $((3 + RANDOM % 8))
        ((SECONDS < end)) || break
        # PostgreSQL one time in four, otherwise one of the processes under the supervisor.
        victims=()
        for f in "$RUN"/*.pid; do
            f=${f##*/}
            [[ $f == supervisor.pid ]] || victims+=("${f%.pid}")
        done
        victim=postgres
        ((RANDOM % 4 == 0)) || victim=${victims[RANDOM % ${#victims[@]}]}
        if [[ $victim == postgres ]]; then
            echo "$(now) KILL postgres (immediate stop, start)"
            as_pg "$PG_BIN/pg_ctl" -D "$VAR/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
            as_pg "$PG_BIN/pg_ctl" -D "$VAR/pg/data" -l "$VAR/pg/postgres.log" -w -t 60 start \
                >/dev/null 2>&1 || echo "$(now) PostgreSQL did not start again"
        elif pid=$(cat "$RUN/$victim.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null; then
            echo "$(now) KILL $victim"
        fi
    done
}

echo "soak $TAG: $CLIENTS clients for $MINUTES min, chaos every 3-10 s; output in $OUT"
END=$((SECONDS + MINUTES * 60))
pids=()
for c in $(seq 1 "$CLIENTS"); do
    client "$c" "$END" >"$OUT/client-$c.txt" &
    pids+=($!)
done
chaos "$END" >"$OUT/chaos.txt"
wait "${pids[@]}"
echo "load over; waiting for every service to answer before checking"
for _ in $(seq 1 120); do
    ctl ping ovop.registry >/dev/null 2>&1 && break
    sleep 0.5
done
sleep 3 # the sequencer numbers the last events after their commit

# figure NAME: the value of NAME in the checks' output.
figure() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$OUT/checks.txt"; }
# count PATTERN: the clients' lines that match PATTERN.
count() { cat "$OUT"/client-*.txt | grep -c "$1" || true; }

# In the database: the acknowledged writes as acknowledged (id, tax id, name), requests
# written twice (producers, events), the event sequence's gaps and repeats.
grep -h '^ACK ' "$OUT"/client-*.txt | awk '{ print $2 "," $3 "," $4 }' >"$OUT/acked.csv" || true
"$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$OVOP_DATABASE_URL" >"$OUT/checks.txt" <<SQL
CREATE TEMP TABLE acked (rid text, id bigint, tax text);
\copy acked FROM '$OUT/acked.csv' WITH (FORMAT csv)
SELECT 'missing', count(*) FROM acked a LEFT JOIN registry.producers p
    ON p.id = a.id AND p.tax_id = a.tax AND p.legal_name = 'Soak ' || a.rid WHERE p.id IS NULL;
SELECT 'written', count(*) FROM registry.producers WHERE legal_name LIKE 'Soak $TAG-%';
SELECT 'duplicate_producers', count(*) FROM (SELECT legal_name FROM registry.producers
    WHERE legal_name LIKE 'Soak $TAG-%' GROUP BY 1 HAVING count(*) > 1) d;
SELECT 'duplicate_events', count(*) FROM (SELECT 1 FROM bus.events
    WHERE request_id LIKE '%$TAG-%' GROUP BY request_id, type HAVING count(*) > 1) d;
SELECT 'events', count(*) FROM bus.events WHERE request_id LIKE '%$TAG-%';
SELECT 'seq_gaps', coalesce(max(seq) - min(seq) + 1 - count(DISTINCT seq), 0) FROM bus.events;
SELECT 'seq_repeats', count(seq) - count(DISTINCT seq) FROM bus.events;
SELECT 'unsequenced', count(*) FROM bus.events WHERE seq IS NULL;
SQL

acked=$(count '^ACK ')
lost=$(count '^LOST ')
missing=$(figure missing)
written=$(figure written)
bad=$((missing + lost + $(figure duplicate_producers) + $(figure duplicate_events) +
    $(figure seq_gaps) + $(figure seq_repeats) + $(figure unsequenced)))
faults=$(awk '/KILL/ { print $3 }' "$OUT/chaos.txt" | sed 's/-[0-9]*$//' | sort | uniq -c |
    awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')
{
    echo
    echo "soak $TAG: $MINUTES min, $CLIENTS clients"
    echo "faults:  $(grep -c KILL "$OUT/chaos.txt" || true) ($faults)"
    echo "writes:  $acked acknowledged, $(count '^REFUSED ') refused," \
        "$(count '^UNKNOWN ') unanswered after 40 tries; $((written - acked)) written" \
        "without the acknowledgement reaching the client"
    echo "reads:   $(count '^READ 0$') answered, $(count '^READ [1-9]') failed during faults," \
        "$lost acknowledged producers not found"
    echo "checks:  $missing acknowledged writes missing, $(figure duplicate_producers)" \
        "producers written twice, $(figure duplicate_events) requests with two events" \
        "(of $(figure events)), $(figure seq_gaps) gaps and $(figure seq_repeats) repeats" \
        "in the event sequence, $(figure unsequenced) events never sequenced"
    if ((bad == 0)); then echo "result:  PASS"; else echo "result:  FAIL ($bad violations)"; fi
} | tee "$OUT/report.txt"
((bad == 0))
