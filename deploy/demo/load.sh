#!/usr/bin/env bash
# deploy/demo/load.sh — loads the demo data set through the system itself, with ovopctl:
# villages (the statistics committee's CSV shape), producers with their OVOP products,
# cooperatives, village specializations and a few brand certificates.
#
# Every change carries a request id derived from the data (--request-id), so running it again
# returns the first replies instead of acting twice: the load is idempotent, like any client
# retry. Needs OVOP_BROKER (from var/ovop.env) and ovopctl; OVOPCTL overrides its path.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
ovopctl=${OVOPCTL:-$root/build/bin/ovopctl}
log=${OVOP_DEMO_LOG:-/dev/null}

ctl() { "$ovopctl" "$@" 2>>"$log"; }

echo "loading villages from deploy/demo/villages.csv"
ctl territory import "$here/villages.csv" --valid-from 2000-01-01 | tail -n 4

echo "registering producers and their products from deploy/demo/producers.csv"
n=0 failed=0
declare -A first_of_village=() producer_of=()
{
    read -r _header
    while IFS=, read -r name kind tax territory lat lon phone members pen pru category hs unit \
        capacity price season; do
        season=${season%$'\r'}
        args=(--kind "$kind" --name "$name" --tax-id "$tax" --territory "$territory"
            --lat "$lat" --lon "$lon" --phone "$phone")
        [[ -n $members ]] && args+=(--members "$members")
        out=$(ctl --json --request-id "demo-producer-$tax" producer register "${args[@]}") || {
            failed=$((failed + 1))
            continue
        }
        id=$(sed -n 's/^  "id": "\{0,1\}\([0-9]*\)"\{0,1\},$/\1/p' <<<"$out" | head -n 1)
        [[ -n $id ]] || {
            failed=$((failed + 1))
            continue
        }
        producer_of[$tax]=$id
        [[ -n ${first_of_village[$territory]:-} ]] || first_of_village[$territory]=$id
        pargs=(--producer "$id" --name-en "$pen" --name-ru "$pru" --category "$category"
            --hs "$hs" --unit "$unit" --capacity "$capacity" --price "$price")
        [[ -n $season ]] && pargs+=(--season "${season// /,}")
        ctl --request-id "demo-product-$tax" product create "${pargs[@]}" >/dev/null ||
            failed=$((failed + 1))
        n=$((n + 1))
        if ((n % 50 == 0)); then
            echo "  $n producers"
        fi
    done
} <"$here/producers.csv"
echo "  $n producers registered with their products ($failed failures)"

echo "declaring village specializations"
declare -A spec_of=()
{
    read -r _header
    while IFS=, read -r _name _kind _tax territory _ _ _ _ _ _ category hs _rest; do
        [[ -n ${spec_of[$territory]:-} ]] && continue
        spec_of[$territory]=$hs
        ctl --request-id "demo-spec-$territory-$hs" spec declare "$territory" "$hs" \
            --narrative "The village's $category, made by its families for export" \
            >/dev/null || true
    done
} <"$here/producers.csv"
echo "  ${#spec_of[@]} villages declared a specialization"
