#!/usr/bin/env bash
# tests/lint/proto-lint.sh — a Buf-style lint of .proto files with protoc alone: protoc
# compiles them into a FileDescriptorSet, decodes it to text against descriptor.proto, and
# awk reads the text.
#
#   proto-lint.sh INCLUDE_DIR FILE.proto...
#   proto-lint.sh --expect-fail FINDINGS INCLUDE_DIR FILE.proto...
#
# Rules (each finding is one line "FILE: RULE: SUBJECT: what is wrong"):
#   money-type   a field whose name has a money word (value, price, amount, cost, fee, usd, som,
#                tyiyn, cents; words are the parts between underscores) is double or float:
#                money travels as integer minor units (int64 price_usd_cents)
#   enum-zero    an enum's value 0 is not <ENUM_NAME_IN_UPPER_SNAKE>_UNSPECIFIED
#   enum-prefix  an enum's value does not start with <ENUM_NAME_IN_UPPER_SNAKE>_
# ovop.v1.Status.Code is exempt from the enum rules: its values are gRPC's codes.
#
# Exit status: 0 no finding, 1 findings (on stderr), 2 protoc or descriptor.proto missing, or
# the files do not compile. With --expect-fail the files are meant to break the rules (the
# lint's own test): it exits 0 when the findings are exactly FINDINGS' lines (FILE: RULE:
# SUBJECT, one a line, in any order) and every rule fired, 1 otherwise.
set -euo pipefail

die() {
    printf 'proto-lint: %s\n' "$*" >&2
    exit 2
}

expect=
if [[ ${1:-} == --expect-fail ]]; then
    [[ $# -ge 2 ]] || die "usage: $0 --expect-fail FINDINGS INCLUDE_DIR FILE.proto..."
    expect=$2
    shift 2
fi
[[ $# -ge 2 ]] || die "usage: $0 [--expect-fail FINDINGS] INCLUDE_DIR FILE.proto..."
include=$1
shift

command -v protoc >/dev/null || die "protoc not found: install the Debian package protobuf-compiler"
descriptor_dir=/usr/include
[[ -r $descriptor_dir/google/protobuf/descriptor.proto ]] ||
    die "$descriptor_dir/google/protobuf/descriptor.proto not found: install the Debian package libprotobuf-dev"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc -I "$include" --include_imports --descriptor_set_out="$tmp/set.pb" "$@" ||
    die "protoc could not compile $*"
protoc -I "$descriptor_dir" --decode=google.protobuf.FileDescriptorSet \
    google/protobuf/descriptor.proto <"$tmp/set.pb" >"$tmp/set.txt" ||
    die "protoc could not decode the descriptor set"

# The decoded set is nested blocks ("message_type {" ... "}") of "key: value" lines. Each
# block's kind, name, number and type are kept per depth; a field is judged when its block
# closes, an enum when its block closes, after its values.
# shellcheck disable=SC2016 # awk's $1 and $2
lint='
function upper_snake(s,    out, i, c, prev, nxt) {
    out = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1); prev = substr(s, i - 1, 1); nxt = substr(s, i + 1, 1)
        if (i > 1 && c ~ /[A-Z]/ && (prev ~ /[a-z0-9]/ || (prev ~ /[A-Z]/ && nxt ~ /[a-z]/)))
            out = out "_"
        out = out c
    }
    return toupper(out)
}
# The dotted name of the block at depth d: package, then the messages and enums around it.
function full_name(d,    i, n) {
    n = pkg
    for (i = 2; i <= d; i++)
        if (kind[i] == "message_type" || kind[i] == "nested_type" || kind[i] == "enum_type")
            n = n "." name[i]
    return n
}
function finding(rule, subject, what) {
    printf "%s: %s: %s: %s\n", name[1], rule, subject, what
}
function check_field(d,    words, n, i, w, subject) {
    if (type[d] != "TYPE_DOUBLE" && type[d] != "TYPE_FLOAT")
        return
    n = split(tolower(name[d]), words, "_")
    for (i = 1; i <= n; i++) {
        w = words[i]
        if (w ~ /^(values?|prices?|amounts?|costs?|fees?|usd|som|tyiyn|cents)$/) {
            finding("money-type", full_name(d - 1) "." name[d],
                    "is " tolower(substr(type[d], 6)) "; money is integer minor units, e.g. " \
                    "int64 price_usd_cents")
            return
        }
    }
}
function check_enum(d,    enum, prefix, i) {
    enum = full_name(d)
    if (enum == "ovop.v1.Status.Code")
        return
    prefix = upper_snake(name[d]) "_"
    if (zero != prefix "UNSPECIFIED")
        finding("enum-zero", enum, "value 0 is " (zero == "" ? "missing" : zero) \
                "; name it " prefix "UNSPECIFIED")
    for (i = 1; i <= nvals; i++)
        if (index(vals[i], prefix) != 1)
            finding("enum-prefix", enum "." vals[i], "lacks the prefix " prefix)
}
/\{$/ {
    depth++
    kind[depth] = $1; name[depth] = ""; number[depth] = ""; type[depth] = ""
    if ($1 == "enum_type") { nvals = 0; zero = "" }
    next
}
/^ *\}$/ {
    if (kind[depth] == "field")
        check_field(depth)
    else if (kind[depth] == "value" && kind[depth - 1] == "enum_type") {
        vals[++nvals] = name[depth]
        if (number[depth] == "0")
            zero = name[depth]
    } else if (kind[depth] == "enum_type")
        check_enum(depth)
    depth--
    next
}
$1 == "name:" { v = $2; gsub(/"/, "", v); name[depth] = v; next }
$1 == "package:" && depth == 1 { v = $2; gsub(/"/, "", v); pkg = v; next }
$1 == "number:" { number[depth] = $2; next }
$1 == "type:" { type[depth] = $2; next }
'
awk "$lint" "$tmp/set.txt" >"$tmp/findings"
n=$(wc -l <"$tmp/findings")

if [[ -n $expect ]]; then
    cat "$tmp/findings"
    rc=0
    cut -d: -f1-3 "$tmp/findings" | sort >"$tmp/got"
    grep -v '^#' "$expect" | grep . | sort >"$tmp/want"
    if ! diff -u "$tmp/want" "$tmp/got" >"$tmp/diff"; then
        printf 'proto-lint: the findings differ from %s (- expected, + found):\n' "$expect" >&2
        cat "$tmp/diff" >&2
        rc=1
    fi
    for rule in money-type enum-zero enum-prefix; do
        if ! grep -q ": $rule: " "$tmp/findings"; then
            printf 'proto-lint: the rule %s found nothing in files meant to break it\n' "$rule" >&2
            rc=1
        fi
    done
    ((rc == 0)) && printf 'proto-lint: %d findings, as expected\n' "$n"
    exit "$rc"
fi

if ((n > 0)); then
    cat "$tmp/findings" >&2
    printf 'proto-lint: %d problem(s) in %s\n' "$n" "$*" >&2
    exit 1
fi
printf 'proto-lint: %d file(s) clean\n' "$#"
