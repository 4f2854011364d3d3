# SPDX-License-Identifier: MIT
# Deeply nested JSON (issue: one line nested ~1,800 deep overflowed the connection fiber's
# stack inside a recursive parser, killing the daemon): the line is refused with bad_json
# naming the nesting, at any depth past the limit, and the daemon and the connection stay up.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  echo:
    stages:
      - {name: e, builtin: echo}'

# nested N: a ping whose extra member x is N arrays deep
nested() { python3 -c 'import sys; n = int(sys.argv[1]); print("{\"id\":1,\"op\":\"ping\",\"x\":" + "[" * n + "]" * n + "}")' "$1"; }

for n in 63 64 65 1800 100000; do
	r=$(nested $n | socat -t 10 - UNIX-CONNECT:"$SOCK") || fail "no answer at depth $n"
	# the request object is one level: x may nest 63 more, and is then valid JSON refused
	# only as a member ping does not read (bad_field), not as JSON (bad_json)
	if [ $n -le 63 ]; then
		matches "$r" '"code":"bad_field"' || fail "depth $n: want bad_field (unknown x), got $r"
	else
		matches "$r" '"code":"bad_json"' || fail "depth $n: want bad_json, got $r"
		matches "$r" 'nest' || fail "depth $n: the message does not name the nesting: $r"
	fi
	alive "after a line nested $n deep"
done
ok "nesting up to the limit parses (bad_field for the unknown member); past it (65, 1,800, 100,000 deep) bad_json; the daemon stays up"

# the same connection goes on after the refusal
r=$( { nested 1800; echo '{"id":2,"op":"ping"}'; } | socat -t 10 - UNIX-CONNECT:"$SOCK")
matches "$r" '"id":2,"ok":true' || fail "the connection did not go on after a refused line: $r"
ok "the connection serves the next request after a refused deep line"
