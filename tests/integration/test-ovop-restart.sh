#!/usr/bin/env bash
# deploy/ovop restart: `up` (in a scratch var/ under the build directory, with its own
# PostgreSQL cluster) with two instances of registryd, then `restart registryd` while clients
# read and write through ovopctl (its default policy: 3 s per attempt, 2 retries with the same
# request id): every call must succeed and both instances must run under new pids. Then
# `restart` of everything: every process under a new pid, `status` all well, not one of them
# counted as a supervisor's restart.
#
#   tests/integration/test-ovop-restart.sh BUILD_DIR
set -euo pipefail

[[ $# -eq 1 ]] || {
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
}
ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/../.." && pwd)
BUILD=$(cd -- "$1" && pwd)
OVOP=$ROOT/deploy/ovop
VAR=$BUILD/test-ovop-restart-var

export OVOP_VAR_DIR=$VAR OVOP_BUILD_DIR=$BUILD OVOP_UP_BUILD=0 OVOP_DEMO_DATA=0
export OVOP_REGISTRYD_INSTANCES=2 OVOP_UP_TIMEOUT=120

fail() {
    echo "FAIL: $*" >&2
    "$OVOP" status >&2 || true
    exit 1
}

cleanup() {
    [[ ${#LOAD_PIDS[@]} -eq 0 ]] || kill "${LOAD_PIDS[@]}" 2>/dev/null || true
    "$OVOP" down --purge >/dev/null 2>&1 || true
    rm -rf "$VAR"
}

LOAD_PIDS=()
cleanup
trap cleanup EXIT
trap 'exit 130' INT TERM

"$OVOP" up >"$BUILD/test-ovop-restart-up.log" 2>&1 || {
    cat "$BUILD/test-ovop-restart-up.log" >&2
    fail "deploy/ovop up failed"
}
set -a
# shellcheck disable=SC1091
. "$VAR/ovop.env"
set +a

pid_of() { cat "$VAR/run/$1.pid"; }

# load N: reads of a territory and writes of a new one (each with its own request id) until
# var/stop-load exists; each call's exit code on a line of var/load-N.
load() {
    local i=0 code rc
    while [[ ! -e $VAR/stop-load ]]; do
        i=$((i + 1))
        rc=0
        if ((i % 2)); then
            "$BUILD/bin/ovopctl" territory get 41704000000000 >/dev/null 2>>"$VAR/load-$1.err" ||
                rc=$?
        else
            code=$(printf '417042350%02d%03d' "$1" "$i")
            "$BUILD/bin/ovopctl" territory create "$code" --kind village \
                --parent 41704235000000 --ru "Село $i" --en "Village $i" \
                >/dev/null 2>>"$VAR/load-$1.err" || rc=$?
        fi
        echo "$rc" >>"$VAR/load-$1"
    done
}

"$BUILD/bin/ovopctl" territory get 41704235000000 >/dev/null || fail "no district 41704235000000"
old1=$(pid_of registryd-1)
old2=$(pid_of registryd-2)
rm -f "$VAR/stop-load" "$VAR"/load-*
for n in 1 2 3 4; do
    load "$n" &
    LOAD_PIDS+=("$!")
done
sleep 1
"$OVOP" restart registryd >"$BUILD/test-ovop-restart-registryd.log" 2>&1 || {
    cat "$BUILD/test-ovop-restart-registryd.log" >&2
    fail "deploy/ovop restart registryd failed"
}
sleep 1
touch "$VAR/stop-load"
wait "${LOAD_PIDS[@]}"
LOAD_PIDS=()
calls=$(cat "$VAR"/load-[0-9] | wc -l)
failed=$(grep -cv '^0$' <(cat "$VAR"/load-[0-9]) || true)
echo "restart registryd under load: $calls ovopctl calls, $failed failed"
cat "$BUILD/test-ovop-restart-registryd.log"
((calls > 20)) || fail "only $calls calls ran"
((failed == 0)) || fail "$failed calls failed: $(sort -u "$VAR"/load-*.err | head -5)"
[[ $(pid_of registryd-1) != "$old1" && $(pid_of registryd-2) != "$old2" ]] ||
    fail "registryd instances were not restarted"

declare -A before
for f in "$VAR"/run/*.bin; do
    name=${f##*/}
    name=${name%.bin}
    before[$name]=$(pid_of "$name")
done
"$OVOP" restart >"$BUILD/test-ovop-restart-all.log" 2>&1 || {
    cat "$BUILD/test-ovop-restart-all.log" >&2
    fail "deploy/ovop restart failed"
}
cat "$BUILD/test-ovop-restart-all.log"
for name in "${!before[@]}"; do
    [[ $(pid_of "$name") != "${before[$name]}" ]] || fail "$name was not restarted"
done
"$OVOP" status >/dev/null || fail "status is not all well after the restart"
if grep -q . "$VAR"/run/*.restarts 2>/dev/null; then
    fail "a planned restart was counted as the supervisor's: $(cat "$VAR"/run/*.restarts)"
fi
echo "PASS"
