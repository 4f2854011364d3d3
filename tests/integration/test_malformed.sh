# SPDX-License-Identifier: MIT
# Malformed input gets structured errors; the connection (where it can) and the daemon stay up.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  echo:
    stages:
      - {name: e, builtin: echo}' '  max_request_bytes: 1KiB'

code() { jget error.code; }
# expect REQUEST ID CODE MESSAGE-REGEX: the one answer to REQUEST is a well-formed error
# with that id (JSON, "null" when the line is not parseable), code, and a message that
# names what is wrong.
expect() {
	local r
	r=$(ask "$1") || fail "no answer to $1"
	python3 - "$r" "$2" "$3" "$4" <<'PY' || fail "$1 -> $r (want id $2, $3, /$4/)"
import json, re, sys
r, want_id, code, msg = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
assert set(r) == {"id", "ok", "error"}, r
assert r["ok"] is False and r["id"] == want_id, r
assert r["error"]["code"] == code, r
assert re.search(msg, r["error"]["message"]), r
PY
}
expect 'not json' null bad_json '.'
expect '[1,2]' null bad_json 'object'
expect '{"id":1,"id":2,"op":"ping"}' null bad_json 'duplicate'
expect '{"id":1,"op":"fly"}' 1 unknown_op '"fly"'
expect '{"id":"s","op":"fly"}' '"s"' unknown_op '"fly"'
expect '{"id":1}' 1 missing_field '"op"'
expect '{"id":1,"op":"submit"}' 1 missing_field '"pipeline"'
expect '{"id":1,"op":"status"}' 1 missing_field '"job"'
expect '{"id":1,"op":"submit","pipeline":"nope"}' 1 unknown_pipeline '"nope"'
expect '{"id":1,"op":"status","job":"nope"}' 1 unknown_job '"nope"'
expect '{"id":1,"op":"submit","pipeline":7}' 1 bad_field '^pipeline'
expect '{"id":1,"op":"submit","pipeline":"echo","timeout":"xyz"}' 1 bad_field '^timeout'
expect '{"id":[1],"op":"ping"}' null bad_field '^id '
ok "bad_json, unknown_op, missing_field, unknown_pipeline, unknown_job, bad_field: each with its id and a message naming the fault"

# oversized line, then a valid request on the same connection
{ python3 -c 'print("{\"id\":1,\"op\":\"ping\",\"x\":\"" + "a"*5000 + "\"}")'; echo '{"id":2,"op":"ping"}'; } |
	socat -t 5 - UNIX-CONNECT:"$SOCK" > "$T/r" || fail "oversized: socat exit $?"
[ "$(wc -l < "$T/r")" = 2 ] || fail "oversized: want 2 answers: $(cat "$T/r")"
[ "$(sed -n 1p "$T/r" | code)" = too_large ] || fail "oversized: $(cat "$T/r")"
matches "$(sed -n 1p "$T/r" | jget error.message)" "1024" || fail "too_large message: $(cat "$T/r")"
[ "$(sed -n 2p "$T/r" | jget id)" = 2 ] || fail "no answer after the oversized line: $(cat "$T/r")"
[ "$(sed -n 2p "$T/r" | jget ok)" = true ] || fail "the ping after the oversized line failed: $(cat "$T/r")"
ok "oversized line -> too_large, the connection stays usable"

# binary garbage (NUL bytes, invalid UTF-8) with newlines: one error per line, daemon up
head -c 4096 /dev/urandom | tr '\n' 'x' | fold -w 200 > "$T/garbage"
n=$(wc -l < "$T/garbage")
socat -t 5 - UNIX-CONNECT:"$SOCK" < "$T/garbage" > "$T/r" || fail "garbage: socat exit $?"
[ "$(grep -c '"ok":false' "$T/r" || true)" -ge $((n - 1)) ] || fail "garbage: $(wc -l < "$T/r") answers for $n lines"
python3 -c '
import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    assert r["ok"] is False and r["error"]["code"] in ("bad_json", "too_large") and r["error"]["message"], r
' "$T/r" || fail "an error response is not valid JSON"
ok "binary garbage: $n lines, each answered with a valid JSON error"

# a client that vanishes mid-wait, many times: nothing breaks
for i in $(seq 50); do
	printf '{"id":1,"op":"wait","job":"x"}\n{"id":2,"op":"submit","pipeline":"echo","wait":true}\n' |
		timeout 0.2 socat -t 0 - UNIX-CONNECT:"$SOCK" >/dev/null 2>&1 || true # killed: it vanishes
done
alive "after clients vanished"
ok "the daemon keeps serving after malformed input and vanished clients"
