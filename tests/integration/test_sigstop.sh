# SPDX-License-Identifier: MIT
# A daemon stopped (SIGSTOP) for longer than the heartbeat timeout and continued (SIGCONT)
# does not blame its workers: the supervisor sees that it was not running itself, gives
# every attempt a fresh heartbeat period, and healthy exec jobs finish on their first try.
# A stuck attempt is still caught after that period.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  ex:
    stages:
      - {name: e, exec: [sh, -c, "sleep 4; cat"], workers: 4, heartbeat_timeout: 1s}
  stuck:
    stages:
      - {name: s, builtin: sleep, params: {duration: 30s, beat: false}, heartbeat_timeout: 2s}' \
	"  heartbeat_interval: 100ms"
ids=()
for i in 1 2 3 4; do ids+=("$("$WEFTCTL" submit ex "job$i")") || fail "submit $i"; done
for id in "${ids[@]}"; do wait_for "job $id running" in_state "$id" running; done
at_exit "kill -CONT $WEFTD_PID"
kill -STOP "$WEFTD_PID"
sleep 5
kill -CONT "$WEFTD_PID"
for i in 1 2 3 4; do
	id=${ids[$((i - 1))]}
	rc=0; "$WEFTCTL" wait "$id" >/dev/null || rc=$?
	js=$("$WEFTCTL" --json status "$id")
	[ $rc -eq 0 ] && [ "$(echo "$js" | jget job.attempts)" = 1 ] && [ "$(echo "$js" | jget job.output)" = "job$i" ] \
		|| fail "job $i after SIGSTOP 5 s + SIGCONT (heartbeat_timeout 1s): exit $rc: $js"
done
st=$("$WEFTCTL" --json stats ex)
[ "$(echo "$st" | jget pipelines.ex.stages.0.heartbeat_timeouts)" = 0 ] || fail "heartbeat_timeouts: $st"
ok "4 exec jobs across a 5 s SIGSTOP (heartbeat_timeout 1s) finish on their first attempt"
# Whether the gap is logged depends on who runs first after SIGCONT: a worker's beat that
# comes before the monitor's late wake-up moves the deadline, and no miss is seen at all
# (the jobs above are the property; the line is not asserted, it failed one CI run).
rc=0; out=$("$WEFTCTL" --json submit stuck y --wait) || rc=$?
[ $rc -eq 1 ] && matches "$out" heartbeat || fail "a stuck attempt after the gap: exit $rc: $out"
ok "a stuck attempt after the gap is still cancelled for its lost heartbeat"
