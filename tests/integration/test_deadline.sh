# SPDX-License-Identifier: MIT
# Issue 17: per-job deadlines. submit "deadline" (a duration, RFC 3339 or Unix seconds):
# a running exec job is ended expired at its deadline and its child is gone (SIGTERM,
# then SIGKILL); a scheduled one expires before its due time; expired is listed and
# counted; a journaled deadline survives kill -9.
. "$(dirname "$0")/lib.sh"
CONF="
pipelines:
  slow:
    stages:
      - name: s
        exec: [sh, -c, 'echo \$\$ > $T/pid; exec sleep 300']
        kill_grace: 500ms
  quick:
    stages:
      - {name: e, builtin: echo}"
DAEMON="  durability: batch"
start_weftd "$CONF" "$DAEMON"

t0=$(date +%s%3N)
r=$(ask '{"op":"submit","pipeline":"slow","payload":"x","deadline":"1s","wait":true,"timeout":"20s"}')
matches "$r" '"state":"expired"' && matches "$r" 'expired: its deadline passed' || fail "running job: $r"
took=$(( $(date +%s%3N) - t0 ))
[ "$took" -ge 1000 ] && [ "$took" -lt 10000 ] || fail "expired after ${took} ms"
pid=$(cat "$T/pid")
gone() { ! kill -0 "$pid" 2>/dev/null; }
wait_for "the exec child gone" gone
ok "a running exec job expired at its deadline (${took} ms) and its child $pid is gone"

r=$(ask "{\"op\":\"submit\",\"pipeline\":\"quick\",\"payload\":\"x\",\"delay\":\"1h\",\"deadline\":$(( $(date +%s) + 2 ))}")
id=$(jget job <<<"$r")
matches "$r" '"state":"scheduled"' || fail "scheduled: $r"
wait_for "the scheduled job expired" in_state "$id" expired
[ "$("$WEFTCTL" --json list --state expired | jget jobs.0.id)" = "$id" ] || fail "list --state expired"
[ "$("$WEFTCTL" --json stats quick | jget pipelines.quick.expired)" = 1 ] || fail "stats expired"
ok "a scheduled job expires before its due time; list --state expired and stats show it"

r=$(ask '{"op":"submit","pipeline":"quick","payload":"late","delay":"1h","deadline":"4s"}')
id=$(jget job <<<"$r")
dl=$("$WEFTCTL" --json status "$id" | jget job.deadline_ms)
[ -n "$dl" ] && [ "$dl" -gt "$(date +%s%3N)" ] || fail "deadline_ms: $dl"
stop_weftd KILL
rm -f "$SOCK"
start_weftd "$CONF" "$DAEMON"
[ "$("$WEFTCTL" --json status "$id" | jget job.deadline_ms)" = "$dl" ] || fail "deadline lost at kill -9"
wait_for "expired after the restart" in_state "$id" expired
[ "$(date +%s%3N)" -ge "$dl" ] || fail "expired before its deadline"
ok "a journaled deadline survives kill -9 and the job expires after the restart"

# due and past their deadline while the daemon was down: expired at the restart, never
# run (300 of them: a worker would race the deadline for some without the replay's check)
done0=$("$WEFTCTL" --json list --state done --limit 10000 | grep -o '"id"' | wc -l)
for i in $(seq 300); do
	printf '{"id":%d,"op":"submit","pipeline":"quick","payload":"gone","delay":"3s","deadline":"3500ms"}\n' "$i"
done | socat -t 10 - UNIX-CONNECT:"$SOCK" > "$T/late"
[ "$(grep -c '"job"' "$T/late")" = 300 ] || fail "submits: $(head -3 "$T/late")"
stop_weftd KILL
rm -f "$SOCK"
sleep 4
start_weftd "$CONF" "$DAEMON"
id=$(jget job < <(tail -1 "$T/late"))
wait_for "expired at the restart" in_state "$id" expired
n=$("$WEFTCTL" --json list --state expired --limit 10000 | grep -o '"id"' | wc -l)
ran=$(( $("$WEFTCTL" --json list --state done --limit 10000 | grep -o '"id"' | wc -l) - done0 ))
[ "$ran" = 0 ] && [ "$n" -ge 300 ] || fail "after the restart: $ran ran, $n expired"
ok "300 jobs whose deadline passed while the daemon was down expire at the restart, none runs"
r=$(ask '{"op":"submit","pipeline":"quick","payload":"x","deadline":"soon"}')
matches "$r" 'bad_field' || fail "bad deadline: $r"
ok "a malformed deadline is a bad_field"
# weftctl's --deadline: the same from the command line; an expired job's wait exits 1
t0=$(date +%s%3N)
id=$("$WEFTCTL" submit slow y --deadline 800ms) || fail "weftctl submit --deadline"
rc=0; "$WEFTCTL" --timeout 10s wait "$id" >/dev/null 2>&1 || rc=$?
t1=$(date +%s%3N)
[ "$(job_state "$id")" = expired ] && [ $rc -eq 1 ] && [ $((t1 - t0)) -lt 5000 ] ||
	fail "weftctl --deadline: $(job_state "$id"), wait exit $rc after $((t1 - t0)) ms"
ok "weftctl submit --deadline 800ms: the running job ends expired ($((t1 - t0)) ms), wait exits 1"
alive
