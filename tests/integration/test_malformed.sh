# Malformed input gets structured errors; the connection (where it can) and the daemon stay up.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  echo:
    stages:
      - {name: e, builtin: echo}' '  max_request_bytes: 1KiB'

code() { jget error.code; }
[ "$(ask 'not json' | code)" = bad_json ] || fail "invalid json"
[ "$(ask '[1,2]' | code)" = bad_json ] || fail "array"
[ "$(ask '{"id":1,"op":"fly"}' | code)" = unknown_op ] || fail "unknown op"
[ "$(ask '{"id":1}' | code)" = missing_field ] || fail "missing op"
[ "$(ask '{"id":1,"op":"submit"}' | code)" = missing_field ] || fail "missing pipeline"
[ "$(ask '{"id":1,"op":"submit","pipeline":"nope"}' | code)" = unknown_pipeline ] || fail "unknown pipeline"
[ "$(ask '{"id":1,"op":"status","job":"nope"}' | code)" = unknown_job ] || fail "unknown job"
[ "$(ask '{"id":1,"op":"submit","pipeline":7}' | code)" = bad_field ] || fail "bad field"
ask '{"id":[1],"op":"ping"}' | grep -q '"ok":false' || fail "array id"
ok "bad_json, unknown_op, missing_field, unknown_pipeline, unknown_job, bad_field"

# oversized line, then a valid request on the same connection
{ python3 -c 'print("{\"id\":1,\"op\":\"ping\",\"x\":\"" + "a"*5000 + "\"}")'; echo '{"id":2,"op":"ping"}'; } |
	socat -t 5 - UNIX-CONNECT:"$SOCK" > "$T/r"
sed -n 1p "$T/r" | code | grep -qx too_large || fail "oversized: $(cat "$T/r")"
sed -n 2p "$T/r" | jget id | grep -qx 2 || fail "no answer after the oversized line: $(cat "$T/r")"
ok "oversized line -> too_large, the connection stays usable"

# binary garbage (NUL bytes, invalid UTF-8) with newlines: one error per line, daemon up
head -c 4096 /dev/urandom | tr '\n' 'x' | fold -w 200 > "$T/garbage"
n=$(wc -l < "$T/garbage")
socat -t 5 - UNIX-CONNECT:"$SOCK" < "$T/garbage" > "$T/r"
[ "$(grep -c '"ok":false' "$T/r")" -ge $((n - 1)) ] || fail "garbage: $(wc -l < "$T/r") answers for $n lines"
python3 -c '
import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$T/r" || fail "an error response is not valid JSON"
ok "binary garbage: $n lines, each answered with a valid JSON error"

# a client that vanishes mid-wait, many times: nothing breaks
for i in $(seq 50); do
	printf '{"id":1,"op":"wait","job":"x"}\n{"id":2,"op":"submit","pipeline":"echo","wait":true}\n' |
		timeout 0.2 socat -t 0 - UNIX-CONNECT:"$SOCK" >/dev/null 2>&1
done
alive "after clients vanished"
ok "the daemon keeps serving after malformed input and vanished clients"
