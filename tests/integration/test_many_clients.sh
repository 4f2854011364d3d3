# SPDX-License-Identifier: MIT
# 1,000 concurrent clients each submit and wait: every answer is correct.
. "$(dirname "$0")/lib.sh"
ulimit -n 4096 2>/dev/null || true # the 1000 sockets below fail clearly if it is lower
start_weftd '
pipelines:
  shout:
    stages:
      - {name: upper, builtin: upper, workers: 8, queue: 4096}
      - {name: echo, builtin: echo, workers: 8}' '  max_connections: 2000'
t0=$(date +%s%N)
python3 - "$SOCK" <<'PY' || fail "clients"
import json, selectors, socket, sys
path, N = sys.argv[1], 1000
sel = selectors.DefaultSelector()
conns = []
for i in range(N):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    conns.append(s)
for i, s in enumerate(conns):   # all connected first: 1,000 clients at once
    s.sendall((json.dumps({"id": i, "op": "submit", "pipeline": "shout",
                           "payload": "client %d" % i, "wait": True, "timeout": "15s"}) + "\n").encode())
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, [i, b""])
left, bad = N, 0
while left:
    ev = sel.select(timeout=20)
    if not ev:
        sys.exit("timed out with %d clients unanswered" % left)
    for key, _ in ev:
        data = key.data
        chunk = key.fileobj.recv(65536)
        if not chunk:
            sys.exit("client %d: connection closed" % data[0])
        data[1] += chunk
        if data[1].endswith(b"\n"):
            r = json.loads(data[1])
            ok = (r.get("ok") and r["id"] == data[0] and r["job"]["state"] == "done"
                  and r["job"]["output"] == "CLIENT %d" % data[0])
            if not ok:
                bad += 1
                print("bad answer:", r, file=sys.stderr)
            sel.unregister(key.fileobj); key.fileobj.close(); left -= 1
sys.exit(1 if bad else 0)
PY
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok "1000 concurrent clients submit+wait, all correct (${ms}ms)"
[ "$("$WEFTCTL" --json stats shout | jget pipelines.shout.done)" = 1000 ] || fail "done count"
alive
