#!/bin/bash
# deploy/completion/ovopctl.bash, sourced in bash against the built ovopctl: a few
# COMP_WORDS/COMP_CWORD give the expected COMPREPLY (verbs, sub-verbs, global options,
# a verb's options, values of global options skipped).
# Usage: ovopctl-completion.sh COMPLETION_FILE OVOPCTL
set -u
# shellcheck source=/dev/null
. "$1" || { echo "cannot source $1"; exit 1; }
ctl=$2
failed=0

# expect "WANT (sorted, space-separated)" WORD...: the last word is the one completed.
expect()
{
    local want=$1
    shift
    COMP_WORDS=("$ctl" "$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _ovopctl
    local got
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
    if [[ $got != "$want" ]]; then
        printf 'FAIL: ovopctl %s<TAB>\n  want: %s\n  got:  %s\n' "$*" "$want" "$got"
        failed=1
    fi
}

expect "principal producer product programme" pr
expect "--broker --broker-key" --bro
expect "--json" --js
expect "--timeout-ms" --t
# --broker takes a value (skipped), --json does not.
expect "principal producer product programme" --json --broker tcp://127.0.0.1:5555 pr
expect "subscription" --broker=tcp://127.0.0.1:5555 subs
expect "revoke revoke-key roles rotate-key" principal r
expect "bootstrap migrate version" db ""
expect "attach issue reject revoke" export doc ""
expect "get set" rubric ""
expect "--idle-ms" subscription listen --id
expect "--notify-key" --json subscription listen 12 --no
expect "--force --help" keygen --
expect "status" stat
expect "--database-read-url --help --json --max-lag --timeout-ms" status --
# the programme's verbs complete from their own --help too.
expect "add-participant" programme add-
expect "report show stats" sales ""
expect "--expected-revision" sales report 5 2026-03 --exp
# The global option list is the binary's: as many as ovopctl --help shows.
n=$("$ctl" --help | grep -c '^  --')
COMP_WORDS=("$ctl" --) COMP_CWORD=1 COMPREPLY=()
_ovopctl
if ((${#COMPREPLY[@]} != n)); then
    echo "FAIL: ovopctl --<TAB> gave ${#COMPREPLY[@]} options, ovopctl --help lists $n"
    failed=1
fi
((failed)) || echo "ovopctl completion: all cases pass"
exit $failed
