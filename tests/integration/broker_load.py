#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# broker_load.py — test_broker.sh's client: submit N jobs round-robin over the nodes'
# sockets (pipelined, one connection each), then wait for every job from a node other
# than its submitter and check its output. Prints "ok N" or the first failure.
#   broker_load.py PIPELINE N SOCK1 SOCK2 ... [--expect upper|echo:TEXT] [--ids FILE: submit only]
#   [--wait-only FILE: wait for the jobs that --ids saved]
import json, socket, sys

def lines(sock):
    buf = b""
    while True:
        d = sock.recv(1 << 16)
        if not d:
            return
        buf += d
        while b"\n" in buf:
            l, buf = buf.split(b"\n", 1)
            yield json.loads(l)

def roundtrip(path, reqs):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall("".join(json.dumps(r) + "\n" for r in reqs).encode())
    out = {}
    it = lines(s)
    for _ in reqs:
        r = next(it)
        out[r["id"]] = r
    s.close()
    return out

def main():
    args = sys.argv[1:]
    opts = {}
    while "--" in " ".join(args) and any(a.startswith("--") for a in args):
        i = next(i for i, a in enumerate(args) if a.startswith("--"))
        opts[args[i][2:]] = args[i + 1]
        del args[i:i + 2]
    pipe, n, socks = args[0], int(args[1]), args[2:]
    jobs = []  # (id, payload, submitter index)
    if "wait-only" in opts:
        jobs = [tuple(json.loads(l)) for l in open(opts["wait-only"])]
    else:
        per = [[] for _ in socks]
        for i in range(n):
            per[i % len(socks)].append({"id": i, "op": "submit", "pipeline": pipe, "payload": "job-%d" % i})
        for k, path in enumerate(socks):
            res = roundtrip(path, per[k])
            for r in per[k]:
                a = res[r["id"]]
                if not a.get("ok"):
                    print("submit failed:", a); sys.exit(1)
                jobs.append((a["job"], r["payload"], k))
        if "ids" in opts:
            with open(opts["ids"], "w") as f:
                for j in jobs:
                    f.write(json.dumps(j) + "\n")
            print("submitted", len(jobs))
            return  # --ids: submit only; --wait-only FILE waits for them later
    per = [[] for _ in socks]
    for i, (jid, payload, k) in enumerate(jobs):
        per[(k + 1) % len(socks)].append({"id": i, "op": "wait", "job": jid, "timeout": opts.get("timeout", "120s")})
    expect = opts.get("expect", "upper")
    for k, path in enumerate(socks):
        if not per[k]:
            continue
        res = roundtrip(path, per[k])
        for r in per[k]:
            a = res[r["id"]]
            jid, payload, _ = jobs[r["id"]]
            want = payload.upper() if expect == "upper" else expect.split(":", 1)[1]
            # the answer must be this job's own (a reply handed to the wrong caller on a
            # shared Redis connection once answered with another job's hash)
            if not a.get("ok") or not a.get("done") or a["job"].get("id") != jid or \
                    a["job"]["state"] != "done" or a["job"].get("output") != want:
                print("job", jid, "from", payload, "->", a); sys.exit(1)
    print("ok", len(jobs))

main()
