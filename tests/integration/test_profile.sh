# SPDX-License-Identifier: MIT
# Profiles of a running weftd, read by `go tool pprof` (Debian's golang-go, a test-only
# dependency): the CPU profile of a daemon running a CPU-burning plugin stage names the
# plugin's (static) function with its pipeline and stage labels; the fiber profile shows
# the idle workers parked in their queue; block, mutex and heap profiles open too. Over the
# socket (weftctl profile) and HTTP (daemon.http.debug): a second CPU profile at once is
# refused (exit 7 / 409), bad input 400/404/405, a stalled client holds no worker, and
# without debug the endpoints are 404. The HTTP timeout (1 s) is shorter than the profiles:
# a suspended request does not time out.
. "$(dirname "$0")/lib.sh"
command -v curl > /dev/null || { skip "curl is not installed (make test installs it)"; exit 0; }
command -v go > /dev/null || { skip "go is not installed (golang-go; make test installs it)"; exit 0; }
export HOME=$T GOCACHE=$T/gocache # go tool pprof keeps nothing outside the test
pprof() { timeout 60 go tool pprof "$@" 2>&1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BURN=$(realpath "$BUILD/tests/plugins/burn.so")
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
CONF="pipelines:
  hot:
    stages:
      - name: spin
        workers: 2
        plugin: {path: $BURN}
  idle:
    stages:
      - name: wait
        workers: 3
        builtin: echo"
# jemalloc samples allocations only when started so (weftd links it except under SAN)
export MALLOC_CONF=prof:true
start_weftd "$CONF" "  http: {listen: \"127.0.0.1:$PORT\", debug: true, timeout: 1s}" # shorter than a profile

# keep both burners busy for the whole profile: 40 jobs of 100 ms of CPU each
for i in $(seq 40); do "$WEFTCTL" submit hot 100 > /dev/null || fail "submit $i"; done
"$WEFTCTL" profile cpu --seconds 2 -o "$T/cpu.pb.gz" & P1=$!
sleep 0.3 # the first profile is under way (a 2 s window)
rc=0; "$WEFTCTL" profile cpu --seconds 1 -o "$T/cpu2.pb.gz" 2> "$T/err" || rc=$?
[ $rc = 7 ] || fail "a second CPU profile at once: exit $rc, not 7 (conflict): $(cat "$T/err")"
matches "$(cat "$T/err")" "being taken already" || fail "conflict message: $(cat "$T/err")"
ok "a second CPU profile while one runs: refused, exit 7 (conflict)"
[ "$(code "$URL/debug/pprof/profile?seconds=1")" = 409 ] || fail "HTTP: a second CPU profile is not 409"
ok "HTTP: the same is 409"
wait $P1 || fail "weftctl profile cpu"
top=$(pprof -top "$T/cpu.pb.gz") || fail "go tool pprof -top: $top"
matches "$top" -E '^ +[0-9.]+m?s +[0-9.]+% .* burn_plugin_spin$' || fail "burn_plugin_spin not in the CPU profile: $top"
# among the top entries: the first three by flat time
matches "$(grep -A3 ' flat ' <<<"$top")" burn_plugin_spin || fail "burn_plugin_spin not among the top entries: $top"
tags=$(pprof -tags "$T/cpu.pb.gz")
matches "$tags" -E '^ +pipeline: Total' || fail "no pipeline label: $tags"
matches "$tags" -E ': hot$' || fail "no pipeline=hot: $tags"
matches "$tags" -E ': spin$' || fail "no stage=spin: $tags"
focus=$(pprof -top -tagfocus stage=spin "$T/cpu.pb.gz")
matches "$focus" burn_plugin_spin || fail "-tagfocus stage=spin loses the plugin: $focus"
ok "CPU profile: go tool pprof reads it, burn_plugin_spin (a static function of the plugin) on top, labels pipeline=hot stage=spin"

out=$("$WEFTCTL" profile fibers --debug 1) || fail "profile fibers --debug 1"
matches "$out" -E '^3 @ ' || fail "the 3 idle workers are not one group: $out"
grp=$(awk '/^3 @ /,/^$/' <<<"$out")
matches "$grp" '"pipeline":"idle"' || fail "idle workers' labels: $grp"
matches "$grp" -E 'eng_queue_get' || fail "idle workers not in their queue: $grp"
out=$("$WEFTCTL" profile fibers --debug 2) || fail "profile fibers --debug 2"
matches "$out" -E '^fiber [0-9]+ \[parked, [^]]*, [0-9]+ ms\]: idle/wait/0$' || fail "debug 2: $out"
"$WEFTCTL" profile fibers -o "$T/fibers.pb.gz" || fail "profile fibers"
top=$(pprof -top "$T/fibers.pb.gz") || fail "pprof fibers: $top"
matches "$top" eng_queue_get || fail "pprof fibers: $top"
matches "$(pprof -tags "$T/fibers.pb.gz")" -E ': idle/wait/1$' || fail "pprof fibers: no fiber names"
ok "fiber profile: the idle workers parked in their queue (one group of 3, labels, wait reason, age; pprof reads it)"

for k in block mutex; do
	"$WEFTCTL" profile $k --seconds 1 -o "$T/$k.pb.gz" || fail "profile $k"
	top=$(pprof -top "$T/$k.pb.gz") || fail "pprof $k: $top"
	matches "$top" "Type: delay" || fail "$k profile type: $top"
done
ok "block and mutex profiles: go tool pprof reads them"
if out=$("$WEFTCTL" profile heap -o "$T/heap.prof" 2>&1); then
	top=$(pprof -top "$BUILD/weftd" "$T/heap.prof") || fail "pprof heap: $top"
	matches "$top" -E 'Type: (inuse_space|space)' || fail "pprof heap: $top"
	ok "heap profile (jemalloc's): go tool pprof reads it"
else
	matches "$out" "heap profiling needs" || fail "heap: $out"
	skip "heap profile: $out"
fi

# HTTP: the same profiles, bad input, stalled clients
curl -sf -o "$T/h.pb.gz" "$URL/debug/pprof/profile?seconds=1" || fail "GET profile"
matches "$(pprof -top "$T/h.pb.gz")" "Type: cpu" || fail "pprof on GET profile"
curl -sf -o "$T/g.pb.gz" "$URL/debug/pprof/goroutine" || fail "GET goroutine"
matches "$(pprof -top "$T/g.pb.gz")" "eng_queue_get" || fail "pprof on GET goroutine"
matches "$(curl -sf "$URL/debug/pprof/goroutine?debug=1")" -E '^3 @ ' || fail "goroutine?debug=1"
matches "$(curl -sf "$URL/debug/pprof/goroutine?debug=2")" -E '^fiber [0-9]+ \[' || fail "goroutine?debug=2"
curl -sf -o "$T/hb.pb.gz" "$URL/debug/pprof/block?seconds=1" || fail "GET block"
curl -sf -o "$T/hm.pb.gz" "$URL/debug/pprof/mutex?seconds=1" || fail "GET mutex"
h=$(code "$URL/debug/pprof/heap"); [ "$h" = 200 ] || [ "$h" = 501 ] || fail "GET heap: $h"
ok "HTTP: /debug/pprof/profile, goroutine (?debug=1, ?debug=2), block, mutex, heap"
for q in "profile?seconds=0" "profile?seconds=61" "profile?seconds=x" "profile?seconds=" \
	 "goroutine?debug=3" "block?seconds=-1"; do
	[ "$(code "$URL/debug/pprof/$q")" = 400 ] || fail "$q: not 400"
done
[ "$(code "$URL/debug/pprof/nope")" = 404 ] || fail "unknown endpoint: not 404"
[ "$(code "$URL/debug/pprof/")" = 404 ] || fail "/debug/pprof/: not 404"
[ "$(code -X POST "$URL/debug/pprof/heap")" = 405 ] || fail "POST: not 405"
ok "HTTP bad input: seconds or debug out of range 400, unknown endpoint 404, POST 405"

# A client that asks for a CPU profile and stalls (never reads), plus one that sends half
# a request: jobs still run and other requests are answered meanwhile.
python3 -c '
import socket, sys, time
a = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
a.sendall(b"GET /debug/pprof/profile?seconds=3 HTTP/1.1\r\nHost: x\r\n\r\n")
b = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b.sendall(b"GET /debug/pprof/goroutine HTTP/1.1\r\nHo")
time.sleep(6)' "$PORT" & STALL=$!
at_exit "kill $STALL"
sleep 0.5
out=$("$WEFTCTL" submit idle hello --wait 2>&1) || fail "a job while clients stall: $out"
[ "$(code "$URL/healthz")" = 200 ] || fail "healthz while clients stall"
matches "$(curl -sf "$URL/debug/pprof/goroutine?debug=2")" "http/pprof" || fail "the stalled profile's fiber"
ok "stalled clients (one mid-profile, one mid-request) hold no worker: jobs run, requests answered"

# a client that goes away mid-profile ends it (nobody would read it): the next is not refused
wait $STALL 2>/dev/null || true # its 3 s HTTP profile is over
n0=$(grep -c "profile: cpu started" "$T/weftd.log" || true)
echo '{"id":1,"op":"profile","kind":"cpu","seconds":60}' > "$T/req" # socat splits its address at commas
socat -u SYSTEM:"cat $T/req; exec sleep 60" UNIX-CONNECT:"$SOCK" & GONE=$!
started() { [ "$(grep -c "profile: cpu started" "$T/weftd.log" || true)" -gt "$n0" ]; }
wait_for "the 60 s profile started" started
kill $GONE; wait $GONE 2>/dev/null || true
ended() { [ "$(grep -c "profile: cpu ended" "$T/weftd.log" || true)" -gt "$n0" ]; }
WAIT_S=10 wait_for "the abandoned 60 s profile ended" ended
"$WEFTCTL" profile cpu --seconds 1 -o "$T/cpu3.pb.gz" 2> "$T/err" || fail "after a client left: $(cat "$T/err")"
ok "a client that goes away ends its CPU profile (within 10 s, not 60): the next one is taken"
kill $STALL 2>/dev/null || true
wait $STALL 2>/dev/null || true
alive

stop_weftd
start_weftd "$CONF" "  http: {listen: \"127.0.0.1:$PORT\"}"
for e in profile heap goroutine block mutex; do
	[ "$(code "$URL/debug/pprof/$e")" = 404 ] || fail "$e without debug: not 404"
done
[ "$(code "$URL/healthz")" = 200 ] || fail "healthz"
ok "without daemon.http.debug every /debug/pprof/ endpoint is 404"
"$WEFTCTL" profile fibers -o "$T/f2.pb.gz" || fail "the profile op works without HTTP"
ok "the profile op works without the debug endpoints"
