# SPDX-License-Identifier: MIT
# Connection limits (issue 11 item 8): a request line not completed within request_timeout
# (slowloris) and a connection idle for idle_timeout are closed, one with a wait pending is
# not; one uid gets max_connections_per_uid connections, the next is refused `busy`.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  slow:
    stages:
      - {name: s, builtin: sleep, params: {duration: 3s}, workers: 2, timeout: 60s}' \
'  request_timeout: 1s
  idle_timeout: 2s
  max_connections: 16
  max_connections_per_uid: 4'

# hold SECONDS BYTES: connect, send BYTES (no newline unless given), report when the daemon
# closes the connection (seconds after connecting, or "open" when still open at SECONDS)
hold() {
	python3 - "$SOCK" "$1" "$2" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); t = time.time()
if sys.argv[3]: s.sendall(sys.argv[3].encode().decode("unicode_escape").encode())
s.settimeout(float(sys.argv[2])); out = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
    print("closed %.1f %s" % (time.time() - t, out.decode().strip()))
except socket.timeout:
    print("open %s" % out.decode().strip())
PY
}
# slowloris: a partial line, never finished
r=$(hold 6 '{"op":"pi')
[[ "$r" =~ ^closed\ 1\.[0-9] ]] || fail "partial line: $r (want closed after ~1 s)"
ok "partial request line closed after request_timeout: $r"
# idle: connected, nothing sent
r=$(hold 6 '')
[[ "$r" =~ ^closed\ 2\.[0-9] ]] || fail "idle connection: $r (want closed after ~2 s)"
ok "idle connection closed after idle_timeout: $r"
# a connection with a wait pending is not idle: answered after 3 s, then idle again
j=$("$WEFTCTL" submit slow x) || fail "submit"
r=$(hold 8 "{\"id\":1,\"op\":\"wait\",\"job\":\"$j\"}\\n")
[[ "$r" =~ ^closed\ (4\.[5-9]|5\.[0-9]).*\"done\":true ]] || fail "wait on an idle connection: $r"
ok "a pending wait keeps the connection; idle_timeout counts after its answer: ${r:0:40}"
# the per-uid share: 4 held, the 5th refused busy, and freed slots are usable again
python3 - "$SOCK" <<'PY' || fail "per-uid share"
import json, socket, sys, time
held = []
for i in range(4):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'{"op":"ping"}\n')
    assert b'"ok":true' in s.recv(4096), "ping %d" % i
    held.append(s)
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
r = json.loads(s.makefile().readline())
assert r["ok"] is False and r["error"]["code"] == "busy" and "uid" in r["error"]["message"], r
for h in held: h.close()
time.sleep(0.3)
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5); s.sendall(b'{"op":"ping"}\n')
assert b'"ok":true' in s.recv(4096), "after closing"
PY
ok "max_connections_per_uid 4: the 5th connection of one uid gets busy; slots come back"
alive "after the limits"

# out of fds: RLIMIT_NOFILE (hard) 64 with max_connections 200: a warning at start; 150
# clients at once: the ones past the fds get `busy` at once (not left waiting), and the
# log has a line per back-off period, not ten a second
stop_weftd
write_conf '
pipelines:
  slow:
    stages:
      - {name: s, builtin: sleep, params: {duration: 3s}}' '  max_connections: 200'
(ulimit -n 64; exec "$WEFTD" --config "$T/weftd.yaml" 2>> "$T/weftd.log") &
WEFTD_PID=$!
pings() { "$WEFTCTL" ping >/dev/null 2>&1; }
wait_for "weftd with 64 fds" pings
logged "max_connections 200 exceeds RLIMIT_NOFILE 64" || fail "no RLIMIT_NOFILE warning"
ok "warns that max_connections exceeds RLIMIT_NOFILE"
r=$(python3 - "$SOCK" <<'PY'
import json, socket, sys, time
held, busy, t = [], 0, time.time()
for i in range(150):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
for s in held:
    try:
        s.sendall(b'{"op":"ping"}\n')
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused busy and closed before the ping went out: its line is still there
for s in held:
    s.settimeout(10)
    r = json.loads(s.makefile().readline())
    busy += (not r["ok"]) and r["error"]["code"] == "busy"
print(busy, round(time.time() - t, 1))
PY
) || fail "150 clients with 64 fds"
read -r nbusy secs <<<"$r"
[ "$nbusy" -gt 50 ] || fail "only $nbusy of 150 refused busy with 64 fds ($secs s)"
n=$(log_count 'accept: Too many open files')
[ "$n" -le 2 ] || fail "$n EMFILE log lines"
ok "150 clients, 64 fds: $nbusy answered busy within ${secs}s; $n log line(s)"
alive "out of fds"
