#!/usr/bin/env bash
# deploy/ovop's supervisor: `up` (in a scratch var/ under the build directory, with its own
# PostgreSQL cluster, so a developer's var/ is not touched), then kill -9 of exportd and of
# the broker: each must come back on its own and answer `ovopctl ping`, `status` must count
# the restarts, a second death soon after must wait longer (back-off), `scale` down must not be
# undone, and after `down` nothing may come back.
#
#   tests/integration/test-supervise.sh BUILD_DIR
set -euo pipefail

[[ $# -eq 1 ]] || {
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
}
ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/../.." && pwd)
BUILD=$(cd -- "$1" && pwd)
OVOP=$ROOT/deploy/ovop
VAR=$BUILD/test-supervise-var

export OVOP_VAR_DIR=$VAR OVOP_BUILD_DIR=$BUILD OVOP_UP_BUILD=0 OVOP_DEMO_DATA=0
export OVOP_REGISTRYD_INSTANCES=1 OVOP_UP_TIMEOUT=120
# Back-off as in production, except the reset: a process must run 60 s before its delay goes
# back to 0.5 s, so the second quick death below surely waits 1 s.
export OVOP_RESTART_SEC_MS=500 OVOP_RESTART_MAX_MS=30000 OVOP_RESTART_RESET_MS=60000

fail() {
    echo "FAIL: $*" >&2
    echo "--- status" >&2
    "$OVOP" status >&2 || true
    echo "--- var/log/supervisor.log" >&2
    cat "$VAR/log/supervisor.log" >&2 || true
    exit 1
}

cleanup() {
    "$OVOP" down --purge >/dev/null 2>&1 || true
    rm -rf "$VAR"
}

# A run killed half-way leaves its system behind: stop it before starting afresh.
cleanup
trap cleanup EXIT
trap 'exit 130' INT TERM

"$OVOP" up >"$BUILD/test-supervise-up.log" 2>&1 || {
    cat "$BUILD/test-supervise-up.log" >&2
    fail "deploy/ovop up failed"
}
set -a
# shellcheck disable=SC1091
. "$VAR/ovop.env"
set +a

pid_of() { cat "$VAR/run/$1.pid"; }
alive() { [[ -d /proc/$1 ]] && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
ping() { "$BUILD/bin/ovopctl" --timeout-ms=1000 --retries=0 ping "$1" >/dev/null 2>&1; }
restarts() { awk '{ print $1 }' "$VAR/run/$1.restarts" 2>/dev/null || echo 0; }

# wait_back NAME OLD-PID SERVICE...: waits up to 60 s until NAME runs under a new pid and
# every SERVICE answers a ping through the broker; prints the seconds it took.
wait_back() {
    local name=$1 old=$2 start=$SECONDS pid s ok
    shift 2
    while ((SECONDS - start < 60)); do
        pid=$(pid_of "$name" 2>/dev/null || true)
        if [[ -n $pid && $pid != "$old" ]] && alive "$pid"; then
            ok=1
            for s in "$@"; do
                ping "$s" || ok=0
            done
            if ((ok)); then
                echo "$((SECONDS - start))"
                return 0
            fi
        fi
        sleep 0.2
    done
    fail "$name did not come back within 60 s (old pid $old)"
}

"$OVOP" status >/dev/null || fail "status is not all well after up"
ping ovop.exports || fail "ovop.exports does not answer after up"

# 1. kill -9 of the only exportd.
old=$(pid_of exportd-1)
kill -KILL "$old"
t=$(wait_back exportd-1 "$old" ovop.exports)
echo "exportd-1 back and answering after ${t} s"
[[ $(restarts exportd-1) == 1 ]] || fail "exportd-1 restarts: $(restarts exportd-1), want 1"

# 2. kill -9 of the broker: it comes back on its endpoint and the workers find it again.
old=$(pid_of broker)
kill -KILL "$old"
t=$(wait_back broker "$old" ovop.exports ovop.registry)
echo "broker back and every service answering after ${t} s"
[[ $(restarts broker) == 1 ]] || fail "broker restarts: $(restarts broker), want 1"

# 3. exportd dies again soon after its restart: the supervisor waits twice as long (1 s).
old=$(pid_of exportd-1)
kill -KILL "$old"
wait_back exportd-1 "$old" ovop.exports >/dev/null
[[ $(restarts exportd-1) == 2 ]] || fail "exportd-1 restarts: $(restarts exportd-1), want 2"
grep -q 'exportd-1 .* restarting it in 1000 ms' "$VAR/log/supervisor.log" ||
    fail "the second restart of exportd-1 did not back off to 1000 ms"

# 4. status shows the restarts: count and time. A restarted daemon's /readyz says 200 once
# the broker has answered its heartbeat, which may come a little after its first reply.
for _ in $(seq 1 100); do
    out=$("$OVOP" status 2>&1) && break
    sleep 0.3
done
"$OVOP" status >/dev/null || fail "status is not all well after the restarts"
echo "$out"
grep -Eq '^exportd-1 +[0-9]+ +running +2 [0-9T:-]+Z ' <<<"$out" || fail "status shows no 2 restarts of exportd-1"
grep -Eq '^broker +[0-9]+ +running +1 [0-9T:-]+Z ' <<<"$out" || fail "status shows no restart of the broker"
grep -Eq '^supervisor +[0-9]+ +running' <<<"$out" || fail "status shows no supervisor"

# 5. scale down is not undone.
old=$(pid_of exportd-1)
"$OVOP" scale exportd 0 >/dev/null 2>&1 || fail "scale exportd 0 failed"
sleep 3
alive "$old" && fail "exportd-1 (pid $old) still runs after scale exportd 0"
[[ ! -f $VAR/run/exportd-1.pid ]] || fail "exportd-1 was started again after scale exportd 0"

# 6. down: the supervisor goes first, nothing comes back.
broker=$(pid_of broker)
registryd=$(pid_of registryd-1)
supervisor=$(cat "$VAR/run/supervisor.pid")
"$OVOP" down >/dev/null 2>&1 || fail "down failed"
sleep 2
for p in "$broker" "$registryd" "$supervisor"; do
    alive "$p" && fail "pid $p still runs after down"
done
ls "$VAR"/run/*.pid >/dev/null 2>&1 && fail "run files left after down: $(ls "$VAR/run")"
echo "PASS"
