#!/usr/bin/env bash
# function_test.sh - unit tests of the handler in function.sh (`mise run test`).
#
# Every event in events/ goes through `handler` the way runtime/bootstrap
# calls it (the event on stdin, the response on stdout, a subshell), and jq
# checks the answer against the table below; a few inline events check what
# must never crash. Prints one line per check and exits non-zero on a failure.
#
# Usage: tests/function_test.sh    (needs bash 4.3 or later, like the handler,
#        and jq for the checks)

set -u

# event file          status  message
CASES='
hello.json            200     Hello, Chris
hello-default.json    200     Hello, World
goodbye.json          200     Goodbye, Chris
not-found.json        404     Not found
malformed.json        400     Bad request
method-not-allowed.json 405   Method not allowed
'

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd) || exit 2
cd "$ROOT" || exit 2
command -v jq >/dev/null 2>&1 || {
    echo "function_test: jq is missing (mise install)" >&2
    exit 2
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/function_test.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PASSED=0
FAILED=0
pass() {
    PASSED=$((PASSED + 1))
    printf 'ok    %s\n' "$*"
}
fail() {
    FAILED=$((FAILED + 1))
    printf 'FAIL  %s\n' "$*"
}
# check DESCRIPTION EXPECTED ACTUAL
check() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1: expected [$2], got [$3]"
    fi
}

# The handler, loaded as the bootstrap loads it (with HANDLER_DIR set).
# shellcheck disable=SC2034 # read by function.sh, not here
HANDLER_DIR=$ROOT
# shellcheck source=/dev/null
. "$ROOT/function.sh" </dev/null

# expect NAME EVENT_FILE STATUS MESSAGE: run the handler on EVENT_FILE and
# check the whole Lambda proxy response.
expect() {
    _name=$1 _event=$2 _status=$3 _message=$4
    if ! (handler) <"$_event" >"$TMP/response" 2>"$TMP/stderr"; then
        fail "$_name: handler exited non-zero: $(cat "$TMP/stderr")"
        return
    fi
    if ! jq -e 'type == "object"' "$TMP/response" >/dev/null 2>&1; then
        fail "$_name: the response is not a JSON object: $(cat "$TMP/response")"
        return
    fi
    _r=$TMP/response
    check "$_name: statusCode" "$_status" "$(jq -r '.statusCode' "$_r")"
    check "$_name: content-type" application/json "$(jq -r '.headers["content-type"]' "$_r")"
    # 405 names the method that is allowed; no other answer has the header.
    _allow=; [ "$_status" != 405 ] || _allow=GET
    check "$_name: allow" "$_allow" "$(jq -r '.headers.allow // empty' "$_r")"
    check "$_name: body.status" "$_status" "$(jq -r '.body | fromjson | .status' "$_r")"
    check "$_name: body.message" "$_message" "$(jq -r '.body | fromjson | .message' "$_r")"
    _ts=$(jq -r '.body | fromjson | .timestamp' "$_r")
    case $_ts in
        [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z)
            pass "$_name: body.timestamp is RFC 3339 UTC" ;;
        *) fail "$_name: body.timestamp [$_ts]" ;;
    esac
}

# --- every event in events/, against the table ----------------------------------

echo "$CASES" | while read -r event status message; do
    [ -n "$event" ] || continue
    [ -f "events/$event" ] || echo "$event"
done >"$TMP/missing"
check "every case has its event file" "" "$(cat "$TMP/missing")"

for file in events/*.json; do
    event=${file#events/}
    row=$(echo "$CASES" | awk -v e="$event" '$1 == e')
    if [ -z "$row" ]; then
        fail "$file: no expectation in the table of $0"
        continue
    fi
    # read: the first two words, then the rest of the line (the message).
    read -r _ status message <<EOF
$row
EOF
    expect "$event" "$file" "$status" "$message"
done

# --- events that must never crash the handler -------------------------------------

# event NAME JSON: write an inline event to $TMP/NAME.json.
event() {
    printf '%s' "$2" >"$TMP/$1.json"
}
hello='"rawPath":"/hello","requestContext":{"http":{"method":"GET"}}'

event not-json 'this is not JSON'
expect "not JSON" "$TMP/not-json.json" 400 "Bad request"
event empty ''
expect "empty event" "$TMP/empty.json" 400 "Bad request"
event array '[1, 2]'
expect "a JSON array" "$TMP/array.json" 400 "Bad request"
event two-objects '{} {}'
expect "two JSON values" "$TMP/two-objects.json" 400 "Bad request"
event bad-name "{$hello,\"queryStringParameters\":{\"name\":42}}"
expect "name is not a string" "$TMP/bad-name.json" 400 "Bad request"
event post '{"rawPath":"/goodbye","requestContext":{"http":{"method":"DELETE"}}}'
expect "DELETE /goodbye" "$TMP/post.json" 405 "Method not allowed"
event post-unknown '{"rawPath":"/nowhere","requestContext":{"http":{"method":"POST"}}}'
expect "POST to an unknown path" "$TMP/post-unknown.json" 404 "Not found"
event number '{"rawPath":"/hello","requestContext":{"http":{"method":"GET"}},"n":01}'
expect "a number JSON forbids (01)" "$TMP/number.json" 400 "Bad request"
event control "{$hello,\"queryStringParameters\":{\"name\":\"a$(printf '\001')b\"}}"
expect "a raw control character in a string" "$TMP/control.json" 400 "Bad request"
event bad-escape "{$hello,\"queryStringParameters\":{\"name\":\"a\\qb\"}}"
expect "an escape JSON does not have" "$TMP/bad-escape.json" 400 "Bad request"
event two-numbers "{$hello,\"n\":[1 2]}"
expect "two values without a comma" "$TMP/two-numbers.json" 400 "Bad request"
event later-key "{$hello,\"rawPath\":\"/goodbye\"}"
expect "the last of two equal keys wins" "$TMP/later-key.json" 200 "Goodbye, World"
event nested "{$hello,\"headers\":{\"rawPath\":\"/x\",\"a\":[1,-2.5e3,true,false,null,{}]}}"
expect "keys of the same name deeper down do not count" "$TMP/nested.json" 200 "Hello, World"
event empty-name "{$hello,\"queryStringParameters\":{\"name\":\"\"}}"
expect "empty name" "$TMP/empty-name.json" 200 "Hello, World"
event quoted-name "{$hello,\"queryStringParameters\":{\"name\":\"Ch\\\"r\\\\is \\u00e9\"}}"
expect "name with quotes, backslash, non-ASCII" "$TMP/quoted-name.json" 200 'Hello, Ch"r\is é'

echo
echo "function_test: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
