#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for weftd, for weftctl's client-side tests only: run per connection by
`socat UNIX-LISTEN:SOCK,fork EXEC:...`. Appends every request line to $FAKE_DIR/requests
and answers it with $FAKE_DIR/<op>.json (one JSON object: the answer without "id"), or
{"ok":true} when that file is absent. A file holding several lines answers successive
requests of that op with successive lines (the last one repeats)."""
import json, os, sys

d = os.environ["FAKE_DIR"]
seen = {}
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line:
        continue
    with open(os.path.join(d, "requests"), "a") as f:
        f.write(line + "\n")
    req = json.loads(line)
    op = req.get("op", "")
    path = os.path.join(d, op + ".json")
    answer = {"ok": True}
    if os.path.exists(path):
        lines = [l for l in open(path).read().splitlines() if l.strip()]
        n = seen.get(op, 0)
        seen[op] = n + 1
        answer = json.loads(lines[min(n, len(lines) - 1)])
    out = {"id": req.get("id")}
    out.update(answer)
    sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    sys.stdout.flush()
