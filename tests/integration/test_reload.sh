# SPDX-License-Identifier: MIT
# Reload (SIGHUP and `weftctl reload`): a valid changed file applies (a new pipeline takes
# jobs, a changed stage's output changes, an unchanged pipeline keeps its counters, a job in
# flight on a changed pipeline finishes under the old settings); an invalid file is rejected
# (logged, `weftctl reload` exits non-zero with the error) and the old config keeps running;
# under load (clients submitting and waiting in a loop across several reloads) no request
# fails and no job is lost.
. "$(dirname "$0")/lib.sh"
conf() { # conf TEXT-FOR-shout [extra pipelines]
	printf '%s\n' "pipelines:" \
		"  keep:" "    stages:" "      - {name: u, builtin: upper, workers: 2}" \
		"  shout:" "    stages:" "      - {name: a, builtin: sleep, params: {duration: 20ms}, workers: 4}" \
		"      - {name: b, builtin: echo, params: {text: $1}, workers: 4}" \
		"  slowchange:" "    stages:" "      - {name: s, builtin: sleep, params: {duration: ${3:-1500ms}}, workers: 1}" \
		"${2:-}"
}
start_weftd "$(conf one)"
"$WEFTCTL" submit keep --wait k > /dev/null || fail "submit keep"
inflight=$("$WEFTCTL" submit slowchange before-reload) || fail "submit slowchange"
# (done only if this machine took 1.5 s to poll: the checks below still hold)
wait_for "the in-flight job running" in_state "$inflight" "running|done"

# 1. SIGHUP with a changed file: shout's output changes, a pipeline is added, slowchange
#    gets a new duration while its in-flight job finishes under the old one
write_conf "$(conf two "  added:
    stages:
      - {name: x, builtin: echo, params: {text: new-pipeline}}" 50ms)"
kill -HUP "$WEFTD_PID"
wait_for "the SIGHUP reload" logged "reloaded:|reload rejected"
logged "reloaded: 1 pipelines unchanged, 2 changed, 1 added, 0 removed" \
	|| fail "reload summary: $(grep reload "$T/weftd.log")"
[ "$("$WEFTCTL" submit shout --wait x)" = two ] || fail "changed stage output after SIGHUP"
[ "$("$WEFTCTL" submit added --wait x)" = new-pipeline ] || fail "added pipeline"
[ "$("$WEFTCTL" --json stats keep | jget pipelines.keep.done)" = 1 ] || fail "unchanged pipeline disturbed"
t0=$(date +%s%N)
[ "$("$WEFTCTL" submit slowchange --wait fast)" = fast ] || fail "changed pipeline"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $ms -lt 1000 ] || fail "new slowchange job ran with the old duration (${ms}ms)"
"$WEFTCTL" wait "$inflight" > /dev/null || fail "in-flight job across the reload"
[ "$("$WEFTCTL" --json status "$inflight" | jget job.state)" = done ] || fail "in-flight job state"
ok "SIGHUP applies a changed file: new output, added pipeline, unchanged kept, in-flight job done (new job ${ms}ms)"

# 2. an invalid file: rejected, the error returned and logged, the old config runs on
printf 'daemon:\n  socket: %s\npipelines:\n  shout:\n    stages:\n      - {name: a, builtin: nosuch}\n' "$SOCK" > "$T/weftd.yaml"
rc=0; out=$("$WEFTCTL" reload 2>&1) || rc=$?
[ $rc -ne 0 ] || fail "weftctl reload of an invalid file exited 0: $out"
matches "$out" "nosuch" || fail "reload error does not say why: $out"
logged "reload rejected.*nosuch" || fail "rejected reload not logged"
rej=$(log_count "reload rejected")
kill -HUP "$WEFTD_PID"
more_rejected() { [ "$(log_count "reload rejected")" -gt "$rej" ]; }
wait_for "SIGHUP with an invalid file rejected and logged" more_rejected
[ "$("$WEFTCTL" submit shout --wait x)" = two ] || fail "old config not running after a rejected reload"
alive "after rejected reloads"
ok "invalid file: weftctl reload exits $rc ($out), the old config keeps running"

# 3. reload under load: clients submit+wait in a loop while the config flips 6 times
write_conf "$(conf one)"
python3 - "$SOCK" > "$T/load.out" <<'PY' &
import json, socket, sys, threading, time
stop = time.time() + 4.0
res = {"ok": 0, "fail": 0, "bad": []}
lock = threading.Lock()
def client(n):
    c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); f = c.makefile()
    i = 0
    while time.time() < stop:
        i += 1
        pipe = "keep" if i % 2 else "shout"
        c.sendall((json.dumps({"id": i, "op": "submit", "pipeline": pipe, "payload": "p%d" % i, "wait": True}) + "\n").encode())
        r = json.loads(f.readline())
        good = r.get("ok") and r["id"] == i and r["job"]["state"] == "done" and \
            r["job"]["output"] in (("P%d" % i,) if pipe == "keep" else ("one", "two"))
        with lock:
            if good: res["ok"] += 1
            else:
                res["fail"] += 1
                if len(res["bad"]) < 3: res["bad"].append(r)
ts = [threading.Thread(target=client, args=(n,)) for n in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(res))
PY
LPID=$!
rej=$(log_count "reload rejected")
sleep 0.3 # pacing: let the clients get going
for i in 1 2 3 4 5 6; do
	if [ $((i % 2)) = 1 ]; then write_conf "$(conf two)"; else write_conf "$(conf one)"; fi
	n0=$(log_count "reloaded:|reload rejected")
	if [ $((i % 3)) = 0 ]; then "$WEFTCTL" reload > /dev/null || fail "reload $i"; else kill -HUP "$WEFTD_PID"; fi
	# the next file only once this one is read (a SIGHUP sent meanwhile would coalesce)
	reload_done() { [ "$(log_count "reloaded:|reload rejected")" -gt "$n0" ]; }
	wait_for "reload $i under load" reload_done
	sleep 0.3 # pacing: the clients run under this config a while
done
wait $LPID || fail "the load clients: $(cat "$T/load.out")"
res=$(cat "$T/load.out")
[ "$(echo "$res" | jget fail)" = 0 ] || fail "requests failed across reloads: $res"
n=$(echo "$res" | jget ok)
[ "$n" -gt 50 ] || fail "too few jobs went through: $res"
[ "$(log_count "reload rejected")" = "$rej" ] || fail "a reload under load was rejected"
[ "$(log_count "reloaded:")" -ge 7 ] || fail "not every reload under load applied"
# every accepted job ended done: the table holds no live or failed ones
lst=$("$WEFTCTL" --json list --limit 10000) || fail "list"
echo "$lst" | python3 -c '
import json,sys
jobs = json.loads(sys.stdin.readline())["jobs"]
bad = [j for j in jobs if j["state"] != "done"]
assert not bad, bad[:3]
' || fail "jobs not done after the reloads"
ok "reload under load: $n submit+wait requests across 6 reloads, 0 failed, 0 lost"
