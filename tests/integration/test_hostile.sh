# SPDX-License-Identifier: MIT
# Hostile clients (issue 11): a huge wait timeout does not overflow into a short one;
# a client that half-closes still gets its answers; connections opened during a drain are
# served; answers are bounded (list without outputs, repeated ids once, a size limit,
# binary output as base64); idle and partial-line connections are closed; one uid cannot
# take every connection.
. "$(dirname "$0")/lib.sh"
CONF='
pipelines:
  slow:
    stages:
      - {name: s, builtin: sleep, params: {duration: 1500ms}, workers: 4, timeout: 60s}
  long:
    stages:
      - {name: s, builtin: sleep, params: {duration: 4s}, workers: 1, timeout: 60s}
  quick:
    stages:
      - {name: q, builtin: upper}'

start_weftd "$CONF"

# talk 'JSON line' [SECONDS]: send one request on a connection kept open, print the first
# answer line (at most SECONDS, default 20, for it).
talk() {
	python3 - "$SOCK" "$1" "${2:-20}" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(float(sys.argv[3]))
s.sendall(sys.argv[2].encode() + b"\n"); f = s.makefile("rb")
print(f.readline().decode(), end="")
PY
}

# 9. wait with timeout 9223372036854 ms (and a huge duration string): answers when the
# job ends, not after a few ms with done:false (now + timeout used to overflow)
j=$("$WEFTCTL" submit slow x) || fail "submit"
t0=$(date +%s%N)
r=$(talk "{\"id\":1,\"op\":\"wait\",\"job\":\"$j\",\"timeout\":9223372036854}")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(echo "$r" | jget done)" = true ] || fail "huge timeout: answered after ${ms}ms: $r"
ok "wait timeout 9223372036854 ms: done after ${ms}ms"
j=$("$WEFTCTL" submit slow x) || fail "submit"
rc=0; "$WEFTCTL" --timeout 2562047h47m16s wait "$j" >/dev/null || rc=$?
[ "$rc" = 0 ] || fail "huge duration string: weftctl wait exit $rc"
ok "wait timeout 2562047h47m16s: done"

# 14. PROTOCOL.md's own example: the client half-closes after its request (echo | socat)
# and still gets the answer of a wait on a job longer than a second
conns() { "$WEFTCTL" --json stats | jget runtime.connections; }
j=$("$WEFTCTL" submit slow x) || fail "submit"
r=$(echo "{\"id\":4,\"op\":\"wait\",\"job\":\"$j\",\"timeout\":\"10s\"}" | socat -t 15 - UNIX-CONNECT:"$SOCK")
[ "$(echo "$r" | jget done)" = true ] || fail "half-closed wait: '$r'"
ok "half-closed client gets its wait answer"
r=$(printf '%s\n%s\n' '{"id":5,"op":"ping"}' "{\"id\":6,\"op\":\"wait\",\"jobs\":[\"$j\"],\"timeout\":0}" |
	socat -t 15 - UNIX-CONNECT:"$SOCK")
[ "$(echo "$r" | wc -l)" = 2 ] || fail "two answers then close: '$r'"
ok "half-closed client: every answer, then the daemon closes"
# a client gone for good (both sides) does not keep its wait's connection open
j=$("$WEFTCTL" submit slow x) || fail "submit"
python3 - "$SOCK" "$j" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(('{"id":7,"op":"wait","job":"%s"}\n' % sys.argv[2]).encode()); s.close()
PY
one_conn() { [ "$(conns)" = 1 ]; }
WAIT_S=1 wait_for "the closed client's connection to go (before its job ends)" one_conn
ok "a closed client's wait ends at once"

# 13. a connection opened during the drain after SIGTERM is served: submit answers
# `draining`, status and wait work; the drain then ends and the daemon exits 0
j=$("$WEFTCTL" submit long x) || fail "submit"
wait_for "the long job running" in_state "$j" running
kill -TERM "$WEFTD_PID"
wait_for "the drain started" logged "draining: "
r=$(talk '{"id":8,"op":"submit","pipeline":"quick","payload":"x"}' 3) || fail "no answer to a submit during the drain"
[ "$(echo "$r" | jget error.code)" = draining ] || fail "submit during the drain: $r"
r=$(talk "{\"id\":9,\"op\":\"status\",\"job\":\"$j\"}" 3) || fail "no answer to status during the drain"
[ "$(echo "$r" | jget job.state)" = running ] || fail "status during the drain: $r"
r=$(talk "{\"id\":10,\"op\":\"wait\",\"job\":\"$j\"}" 10) || fail "no answer to wait during the drain"
[ "$(echo "$r" | jget job.state)" = done ] || fail "wait during the drain: $r"
ok "during a drain new connections are served (submit: draining; status; wait: done)"
WEFTD_RC=0; wait "$WEFTD_PID" || WEFTD_RC=$?
[ "$WEFTD_RC" = 0 ] || fail "exit $WEFTD_RC after the drain"
ok "drain ends, exit 0"
