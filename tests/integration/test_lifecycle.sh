# SPDX-License-Identifier: MIT
# Lifecycle: SIGTERM drains in-flight jobs then exits 0 (a waiting client gets its answer); a second SIGTERM skips the wait;
# the drain op refuses submits with `draining`; SIGUSR1 dumps fibers and counters to the log;
# READY/STOPPING/STATUS reach NOTIFY_SOCKET.
. "$(dirname "$0")/lib.sh"
CONF='
pipelines:
  slow:
    stages:
      - {name: s, builtin: sleep, params: {duration: 2s}, workers: 2, timeout: 60s}
  long:
    stages:
      - {name: s, builtin: sleep, params: {duration: 60s}, workers: 1, timeout: 120s}
  quick:
    stages:
      - {name: q, builtin: upper}'

# a notify socket to catch what weftd tells systemd
python3 - "$T/notify.sock" > "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode().replace("\n", " | "), flush=True)
PY
NPID=$!
at_exit 'kill $NPID'
wait_for "the notify socket" test -S "$T/notify.sock"
export NOTIFY_SOCKET=$T/notify.sock

# 1. SIGTERM with a job in flight: it finishes, submits are refused meanwhile, exit 0
start_weftd "$CONF" "  shutdown_timeout: 10s"
wait_for "READY=1 on the notify socket" grep -q "READY=1" "$T/notify.log"
ok "READY=1 sent: $(grep -m1 READY "$T/notify.log")"
kill -USR1 "$WEFTD_PID"
# the runtime's line comes last in the dump
wait_for "the SIGUSR1 dump's runtime line" logged 'SIGUSR1: \{"runtime":\{"procs":2,'
logged "fiber dump follows" && logged "'accept'" && logged '"slow"' || fail "SIGUSR1 dump missing"
ok "SIGUSR1 dumps fibers, stage counters and the runtime's"
# a client waiting on a job in flight gets its answer; a client connected before the TERM
# submits during the drain: `draining`
python3 - "$SOCK" "$WEFTD_PID" "$T/weftd.log" > "$T/during" <<'PY' &
import json, os, signal, socket, sys, time
def conn():
    c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); return c, c.makefile()
c1, f1 = conn()
c1.sendall(b'{"id":1,"op":"submit","pipeline":"slow","payload":"inflight","wait":true}\n')
c2, f2 = conn()
for _ in range(1000):  # until the job runs (and c2 is accepted: it got answers)
    c2.sendall(b'{"id":0,"op":"list","state":"running"}\n')
    if json.loads(f2.readline())["jobs"]: break
    time.sleep(0.02)
else:
    sys.exit("the job never ran")
os.kill(int(sys.argv[2]), signal.SIGTERM)
# intake closes before the daemon logs "draining:"
for _ in range(400):
    if "draining: " in open(sys.argv[3]).read(): break
    time.sleep(0.05)
else:
    sys.exit("the drain did not start")
c2.sendall(b'{"id":2,"op":"submit","pipeline":"quick","payload":"x"}\n')
print(f2.readline().strip())
print(f1.readline().strip())
PY
CPID=$!
t0=$(date +%s%N)
wait $CPID || fail "the client during the drain: $(cat "$T/during")"
[ "$(head -1 "$T/during" | jget error.code)" = draining ] || fail "submit during drain: $(cat "$T/during")"
ok "a submit during the SIGTERM drain gets draining"
rc=0; wait "$WEFTD_PID" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 0 ] || fail "exit $rc after a clean drain"
[ "$(sed -n 2p "$T/during" | jget job.output)" = inflight ] || fail "waiting client: $(cat "$T/during")"
ok "the client waiting across the SIGTERM got its job's output"
[ ! -e "$SOCK" ] || fail "socket file left behind at exit"
ok "socket file removed at exit"
logged "drained: 1 jobs finished" || fail "in-flight job not drained"
[ $ms -ge 500 ] || fail "exited after ${ms}ms: did not wait for the job"
wait_for "STOPPING=1 on the notify socket" grep -q "STOPPING=1" "$T/notify.log"
ok "SIGTERM: in-flight job finished (${ms}ms), STOPPING=1, exit 0"

# 2. a second SIGTERM skips the wait
start_weftd "$CONF" "  shutdown_timeout: 30s"
"$WEFTCTL" --json submit long x --wait > "$T/long.out" &
LWPID=$!
long_submitted() { [ "$("$WEFTCTL" --json stats long | jget pipelines.long.submitted)" = 1 ]; }
wait_for "the long job submitted" long_submitted
t0=$(date +%s%N)
# the second TERM after weftd handled the first (pending signals coalesce)
drains=$(log_count "draining: ")
more_drains() { [ "$(log_count "draining: ")" -gt "$drains" ]; }
kill -TERM "$WEFTD_PID"
wait_for "the first SIGTERM handled" more_drains
kill -TERM "$WEFTD_PID"
rc=0; wait "$WEFTD_PID" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $ms -lt 5000 ] || fail "second SIGTERM did not skip the drain (${ms}ms)"
logged "not waiting for the drain" || fail "second TERM not logged"
lrc=0; wait $LWPID || lrc=$?
[ $lrc -eq 1 ] || fail "the waiting client of the cut job exited $lrc, want 1"
[ "$(jget job.error < "$T/long.out")" = "canceled by shutdown" ] || fail "cut job: $(cat "$T/long.out")"
ok "second SIGTERM skips the drain: exit $rc after ${ms}ms; the cut job ends canceled by shutdown (its waiter told)"

# 3. the drain op: waits for running jobs, then submits get `draining`
start_weftd "$CONF"
d=$("$WEFTCTL" submit slow d) || fail "submit"
wait_for "job d running" in_state "$d" running
r=$(printf '%s\n' '{"id":7,"op":"drain"}' | socat -t 30 - UNIX-CONNECT:"$SOCK") || fail "drain request"
matches "$r" '"ok":true' || fail "drain: $r"
[ "$(echo "$r" | jget drained)" = 1 ] || fail "drain count: $r"
r=$(ask '{"id":8,"op":"submit","pipeline":"quick","payload":"x"}')
[ "$(echo "$r" | jget error.code)" = draining ] || fail "submit after drain: $r"
alive "after drain"
ok "drain op: answered after the job finished ($r)"
stop_weftd
[ "$WEFTD_RC" = 0 ] || fail "exit $WEFTD_RC after drain + TERM"
ok "exit 0 after a drain then SIGTERM"
