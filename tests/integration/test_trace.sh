# SPDX-License-Identifier: MIT
# The scheduler trace as its users meet it: `weftctl trace` and GET /debug/trace give JSON
# that parses (python3's json), with a track per proc holding fibers' run slices and one
# span per job attempt per stage for every job that ran during the trace; one trace at a
# time (conflict / 409), and a client that goes away ends its own; seconds out of range
# refused (bad_field / 400); /debug/trace is 404 unless daemon.http.debug is on.
. "$(dirname "$0")/lib.sh"
command -v curl > /dev/null || { skip "curl is not installed (make test installs it)"; exit 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
N=20
CONF="pipelines:
  shout:
    stages:
      - name: up
        builtin: upper
      - name: say.it
        builtin: echo"
start_weftd "$CONF" "  http: {listen: \"127.0.0.1:$PORT\", debug: true}"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# check_trace FILE STAGES JOBS: the JSON parses; per proc a named track with run slices;
# STAGES x JOBS job spans (b/e pairs), each job's id among them. Prints what it found.
check_trace() { python3 - "$@" <<'EOP'
import json, sys
path, stages, jobs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = json.load(open(path))
ev = d["traceEvents"]
procs = d["otherData"]["procs"]
assert all(e.get("ts", 0) >= 0 for e in ev), "an event before the trace's start"
tracks = {e["tid"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
assert tracks == set(range(procs)), f"tracks {tracks} for {procs} procs"
slices = {}
for e in ev:
    if e["ph"] == "X":
        assert e["dur"] >= 0 and e["tid"] in tracks, e
        slices[e["tid"]] = slices.get(e["tid"], 0) + 1
assert set(slices) == tracks, f"run slices per proc: {slices}"
begins = [e for e in ev if e["ph"] == "b" and "job" in e.get("args", {})]
ends = {e["id"]: e["name"] for e in ev if e["ph"] == "e"}
assert len(begins) == stages * jobs, f"{len(begins)} job spans, want {stages * jobs}"
for b in begins:
    a = b["args"]
    assert a["pipeline"] == "shout" and a["stage"] == b["name"] and a["attempt"] == "1", b
    assert b["id"] in ends, f"span {b} never ended"
    assert ends[b["id"]] == b["name"], f"span {b} ended as {ends[b['id']]}"  # Perfetto matches by name and id
assert len({b["args"]["job"] for b in begins}) == jobs
kinds = {e["ph"] + ":" + e.get("cat", "") for e in ev}
for k in ("i:park", "i:wake", "C:"):
    assert k in kinds, f"no {k} event: {sorted(kinds)}"
print(f"{len(ev)} events, {procs} procs, slices {slices}, {len(begins)} job spans, lost {d['otherData']['lost']}")
EOP
}

# A trace over the Unix socket while N jobs run through both stages. The jobs start once
# the trace runs: a second trace is refused (conflict, exit 7) only then.
"$WEFTCTL" trace --seconds 5 -o "$T/trace.json" > "$T/trace.out" 2>&1 &
TR=$!
# tracing N: N traces have started (the log says so; a probe trace would race the real one)
tracing() { [ "$(log_count 'trace: started')" -ge "$1" ]; }
tracing_ended() { [ "$(log_count 'trace: ended')" -ge "$1" ]; }
wait_for "the trace to run" tracing 1
r=$("$WEFTCTL" trace --seconds 1 -o /dev/null 2>&1) && fail "a second trace ran: $r"
matches "$r" "conflict" || fail "a second trace: $r" 
for i in $(seq $N); do "$WEFTCTL" submit shout "job $i" --wait > /dev/null 2>&1 || fail "submit $i"; done
wait "$TR" || fail "weftctl trace: $(cat "$T/trace.out")"
out=$(check_trace "$T/trace.json" 2 $N 2>&1) || fail "the trace: $out"
ok "weftctl trace: JSON with a run-slice track per proc and $((2 * N)) job spans for $N jobs ($out)"

# The same over HTTP, and one at a time across both.
curl -sf -o "$T/http.json" "$URL/debug/trace?seconds=4" &
CU=$!
wait_for "GET /debug/trace to run" tracing 2
[ "$(code "$URL/debug/trace?seconds=1")" = 409 ] || fail "a second GET /debug/trace: not 409"
rc=0; r=$("$WEFTCTL" trace --seconds 1 -o /dev/null 2>&1) || rc=$?
[ $rc = 7 ] && matches "$r" -i "conflict\|already" || fail "weftctl trace during an HTTP trace: rc $rc: $r"
for i in $(seq 5); do "$WEFTCTL" submit shout "http $i" --wait > /dev/null 2>&1 || fail "submit http $i"; done
wait "$CU" || fail "GET /debug/trace failed"
out=$(check_trace "$T/http.json" 2 5 2>&1) || fail "the HTTP trace: $out"
ok "GET /debug/trace: the same JSON ($out); a second trace meanwhile: 409 over HTTP, conflict over the socket"

# A client that gives up while its trace runs: the trace ends on time, the listener goes on.
curl -s -m 1 -o /dev/null "$URL/debug/trace?seconds=2" || true
wait_for "the abandoned HTTP trace to end" tracing_ended 3
t0=$(date +%s%3N)
[ "$(code "$URL/debug/trace?seconds=1")" = 200 ] || fail "GET /debug/trace after one abandoned"
took=$(( $(date +%s%3N) - t0 ))
# the resumed request wakes the listener (not its 10 s idle timeout)
[ "$took" -lt 4000 ] || fail "a 1 s trace answered after $took ms"
ok "an HTTP client that gave up while its trace ran: the listener serves traces again (a 1 s one in $took ms)"

for s in 0 61 -1 abc 1.5 ""; do
	[ "$(code "$URL/debug/trace?seconds=$s")" = 400 ] || fail "seconds=$s: not 400"
done
[ "$(code -X POST "$URL/debug/trace")" = 405 ] || fail "POST /debug/trace: not 405"
for s in 0 61 x; do
	rc=0; r=$("$WEFTCTL" trace --seconds "$s" -o /dev/null 2>&1) || rc=$?
	[ $rc = 2 ] || fail "weftctl trace --seconds $s: rc $rc ($r)"
done
for bad in '"seconds":0' '"seconds":61' '"seconds":"5"' '"seconds":2.5' '"seconds":null'; do
	r=$(ask "{\"id\":1,\"op\":\"trace\",$bad}")
	[ "$(jget error.code <<<"$r")" = bad_field ] || fail "trace with $bad: $r"
done
r=$(ask '{"id":1,"op":"trace","limit":5}')
[ "$(jget error.code <<<"$r")" = bad_field ] || fail "trace with limit: $r"
r=$(ask '{"id":1,"op":"list","seconds":5}')
[ "$(jget error.code <<<"$r")" = bad_field ] || fail "list with seconds: $r"
rc=0; r=$("$WEFTCTL" trace 2>&1) || rc=$?
[ $rc = 2 ] || fail "weftctl trace without -o: rc $rc"
ok "seconds out of range: 400 over HTTP, bad_field on the socket, a usage error in weftctl; POST 405"

# A client that goes away ends its trace: the next one may start at once, not in 60 s.
echo '{"id":1,"op":"trace","seconds":60}' > "$T/req"
socat -u SYSTEM:"cat $T/req; exec sleep 100" UNIX-CONNECT:"$SOCK" &
SO=$!
at_exit "kill $SO"
wait_for "the 60 s trace to run" tracing 5
t0=$(date +%s)
kill "$SO"; wait "$SO" 2>/dev/null || true
ended() { logged 'trace: ended after .*\(cancelled\)'; }
wait_for "the trace of the client gone to end" ended
"$WEFTCTL" trace --seconds 1 -o /dev/null || fail "a trace after the one cancelled"
ok "a client gone away ends its trace: another one ran $(( $(date +%s) - t0 )) s later"

r=$(ask '{"id":7,"op":"trace"}') # default: 1 second
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["ok"] and r["id"] == 7 and r["trace"]["otherData"]["seconds"] == 1' "$r" \
	|| fail "trace with no seconds: ${r:0:300}"
ok "the trace op over plain socat: one line, the document under \"trace\", 1 second by default"
alive "after the traces"

stop_weftd
start_weftd "$CONF" "  http: {listen: \"127.0.0.1:$PORT\"}"
[ "$(code "$URL/debug/trace?seconds=1")" = 404 ] || fail "/debug/trace without debug: not 404"
"$WEFTCTL" trace --seconds 1 -o "$T/t2.json" || fail "weftctl trace without debug"
ok "without daemon.http.debug: /debug/trace 404; the trace op still answers on the Unix socket"
finish
