#!/usr/bin/env bash
# Writes the ops endpoints of the local deployment (var/ovop.env's OVOP_HTTP_<NAME>, set by
# deploy/ovop up and scale) as a Prometheus file_sd target list, var/prometheus-targets.json,
# which the job ovop-local of deploy/observability/prometheus.yml reads. Run it again after
# `deploy/ovop up` or `scale`: the ports are picked at start.
#
#   deploy/observability/local-targets.sh [VAR_DIR]   (default: $OVOP_VAR_DIR or var/)
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/../.." && pwd)
VAR=${1:-${OVOP_VAR_DIR:-$ROOT/var}}
ENV_FILE=$VAR/ovop.env
[[ -f $ENV_FILE ]] || {
    echo "local-targets.sh: no $ENV_FILE: start the system with deploy/ovop up first" >&2
    exit 1
}

out=$VAR/prometheus-targets.json
tmp=$out.tmp
{
    echo "["
    first=1
    while IFS= read -r line; do
        [[ $line =~ ^OVOP_HTTP_([A-Z0-9_]+)=\'?([^\']*)\'?$ ]] || continue
        name=${BASH_REMATCH[1],,}
        name=${name//_/-}
        daemon=${name%-[0-9]*}
        ((first)) || echo ","
        first=0
        printf '  {"targets": ["%s"], "labels": {"component": "%s", "instance_name": "%s"}}' \
            "${BASH_REMATCH[2]}" "$daemon" "$name"
    done <"$ENV_FILE"
    printf '\n]\n'
} >"$tmp"
mv "$tmp" "$out"
echo "wrote $out"
