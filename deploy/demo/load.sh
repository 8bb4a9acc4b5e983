#!/usr/bin/env bash
# deploy/demo/load.sh — loads the demo data set through the system itself, with ovopctl:
# villages (the statistics committee's CSV shape), producers with their OVOP products,
# cooperatives, village specializations and a few brand certificates.
#
# Every change carries a request id derived from the data (--request-id), so running it again
# returns the first replies instead of acting twice: the load is idempotent, like any client
# retry. Needs OVOP_BROKER, OVOP_KEY and OVOP_BROKER_KEY (from var/ovop.env: the local
# operator, who holds the roles every step needs) and ovopctl; OVOPCTL overrides its path.
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
declare -A first_of_village=() producer_of=() product_of=() village_members=()

# json_id: the first "id" of ovopctl --json output on stdin.
json_id() { sed -n 's/^  "id": "\{0,1\}\([0-9]*\)"\{0,1\},$/\1/p' | head -n 1; }
# json_version: the first "version" of ovopctl --json output on stdin.
json_version() { sed -n 's/^  "version": \([0-9]*\),\{0,1\}$/\1/p' | head -n 1; }
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
        id=$(json_id <<<"$out")
        [[ -n $id ]] || {
            failed=$((failed + 1))
            continue
        }
        producer_of[$tax]=$id
        [[ -n ${first_of_village[$territory]:-} ]] || first_of_village[$territory]=$id
        pargs=(--producer "$id" --name-en "$pen" --name-ru "$pru" --category "$category"
            --hs "$hs" --unit "$unit" --capacity "$capacity" --price "$price")
        [[ -n $season ]] && pargs+=(--season "${season// /,}")
        pout=$(ctl --json --request-id "demo-product-$tax" product create "${pargs[@]}") || {
            failed=$((failed + 1))
            continue
        }
        product_of[$tax]=$(json_id <<<"$pout")
        village_members[$territory]+="$id "
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
        # The third village of each district has not declared yet: the coverage query has
        # something to find.
        [[ ${territory:8:3} == 003 ]] && continue
        spec_of[$territory]=$hs
        ctl --request-id "demo-spec-$territory-$hs" spec declare "$territory" "$hs" \
            --narrative "The village's $category, made by its families for export" \
            >/dev/null || true
    done
} <"$here/producers.csv"
echo "  ${#spec_of[@]} villages declared a specialization"

echo "founding cooperatives of neighbours"
coops=0
for territory in "${!village_members[@]}"; do
    read -r -a ids <<<"${village_members[$territory]}"
    ((${#ids[@]} >= 3)) || continue
    ctl --request-id "demo-coop-$territory" coop create --name "Cooperative of $territory" \
        --territory "$territory" --member "${ids[0]}" --member "${ids[1]}" \
        --member "${ids[2]}" --founded 2024-03-01 >/dev/null && coops=$((coops + 1))
done
echo "  $coops cooperatives"

echo "certifying producers under the \"Made in Kyrgyzstan\" brand"
certified=0 k=0
for tax in "${!product_of[@]}"; do
    k=$((k + 1))
    ((k % 9 == 0)) || continue
    pid=${producer_of[$tax]} prod=${product_of[$tax]}
    [[ -n $pid && -n $prod ]] || continue
    # Scores vary with the tax id, so the stars (and the approving level) vary too.
    q=$((20 + ${tax: -1} + ${tax: -2:1} % 5))
    a=$(ctl --json --request-id "demo-app-$tax" application submit --producer "$pid" \
        --product "$prod") || continue
    app=$(json_id <<<"$a") v=$(json_version <<<"$a")
    s=$(ctl --json --request-id "demo-score-$tax" application score "$app" --version "$v" \
        --score community=$((28 + q % 12)) --score marketing=$((15 + q % 10)) \
        --score quality=$((q + 5)) --committee "Regional OVOP committee") || continue
    stars=$(sed -n 's/^  "stars": \([0-9]*\),$/\1/p' <<<"$s" | head -n 1)
    v=$(json_version <<<"$s")
    case $stars in
    5) level=national ;;
    4) level=region ;;
    0 | "") continue ;;
    *) level=district ;;
    esac
    ctl --request-id "demo-decide-$tax" application decide "$app" --version "$v" --approve \
        --level "$level" --decided-by "OVOP $level committee" >/dev/null &&
        certified=$((certified + 1))
done
echo "  $certified producers certified"
