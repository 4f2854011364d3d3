# SPDX-License-Identifier: MIT
# Issue 17: retries off the worker. A stage with one worker and a 3 s backoff: a failing
# job waits for its retry in the schedule (retrying, its due time listed and counted) and
# a good job submitted 0.2 s later finishes in well under 100 ms; the retrying job keeps
# its due time and attempt count across kill -9 and a clean restart; retry runs its next
# attempt now; cancel ends it at once.
. "$(dirname "$0")/lib.sh"
CONF="
pipelines:
  p:
    stages:
      - name: s
        exec: [sh, -c, 'x=\$(cat); test \"\$x\" != bad']
        workers: 1
        retry: {attempts: 3, initial: 3s, multiplier: 2, jitter: none}"
DAEMON="  durability: batch"
start_weftd "$CONF" "$DAEMON"

r=$(ask '{"op":"submit","pipeline":"p","payload":"bad"}')
bad=$(jget job <<<"$r")
[ -n "$bad" ] || fail "submit: $r"
wait_for "the bad job retrying" in_state "$bad" retrying
sleep 0.2
r=$(ask '{"op":"submit","pipeline":"p","payload":"good","wait":true,"timeout":"10s"}')
matches "$r" '"state":"done"' || fail "good job: $r"
took=$(( $(jget job.finished_ms <<<"$r") - $(jget job.created_ms <<<"$r") ))
[ "$took" -lt 100 ] || fail "the good job took ${took} ms behind a retrying one"
ok "a good job behind a retrying one on the stage's only worker: done ${took} ms after its submit"

r=$("$WEFTCTL" --json list --state retrying)
[ "$(jget jobs.0.id <<<"$r")" = "$bad" ] || fail "list --state retrying: $r"
due=$(jget jobs.0.run_at_ms <<<"$r")
[ "$(jget jobs.0.attempts <<<"$r")" = 1 ] || fail "attempts: $r"
[ "$due" -gt "$(date +%s%3N)" ] || fail "due time $due not in the future"
[ "$("$WEFTCTL" --json stats p | jget pipelines.p.stages.0.retrying)" = 1 ] || fail "stats retrying"
ok "list --state retrying shows it with its due time (run_at_ms) and attempts; stats count it"

stop_weftd KILL
rm -f "$SOCK"
start_weftd "$CONF" "$DAEMON"
r=$("$WEFTCTL" --json status "$bad")
[ "$(jget job.state <<<"$r")" = retrying ] || fail "after kill -9: $r"
[ "$(jget job.run_at_ms <<<"$r")" = "$due" ] || fail "due time changed: $due -> $(jget job.run_at_ms <<<"$r")"
[ "$(jget job.attempts <<<"$r")" = 1 ] || fail "attempt count after kill -9: $r"
ok "kill -9: the retrying job keeps its due time and attempt count"

# its second attempt when due (not before), then retrying again with a doubled backoff
attempt2() { [ "$("$WEFTCTL" --json status "$bad" | jget job.attempts)" = 2 ]; }
wait_for "the second attempt" attempt2
[ "$(date +%s%3N)" -ge "$due" ] || fail "second attempt before its due time"
wait_for "retrying again" in_state "$bad" retrying
# retry: the next (last) attempt now, not in 6 s
t0=$(date +%s%3N)
matches "$(ask "{\"op\":\"retry\",\"job\":\"$bad\"}")" '"retried":1' || fail "retry now"
r=$(ask "{\"op\":\"wait\",\"job\":\"$bad\",\"timeout\":\"10s\"}")
matches "$r" '"state":"failed"' && matches "$r" 'attempt 3/3' || fail "after retry now: $r"
[ $(( $(date +%s%3N) - t0 )) -lt 3000 ] || fail "retry now waited for the backoff"
ok "second attempt when due, then retry (re-drive now) ran the last at once: a dead letter"

r=$(ask '{"op":"submit","pipeline":"p","payload":"bad"}')
id=$(jget job <<<"$r")
wait_for "retrying" in_state "$id" retrying
due=$("$WEFTCTL" --json status "$id" | jget job.run_at_ms)
stop_weftd; [ "$WEFTD_RC" = 0 ] || fail "clean stop: exit $WEFTD_RC"
rm -f "$SOCK"
start_weftd "$CONF" "$DAEMON"
r=$("$WEFTCTL" --json status "$id")
[ "$(jget job.state <<<"$r")" = retrying ] && [ "$(jget job.run_at_ms <<<"$r")" = "$due" ] ||
	fail "after a clean restart: $r (due $due)"
ok "a drain leaves a retrying job waiting: after a clean restart it is retrying, due as before"

matches "$(ask "{\"op\":\"cancel\",\"job\":\"$id\"}")" 'canceled' || fail "cancel"
[ "$(job_state "$id")" = canceled ] || fail "cancel of a retrying job: $(job_state "$id")"
[ "$("$WEFTCTL" --json stats p | jget pipelines.p.stages.0.retrying)" = 0 ] || fail "stats after cancel"
ok "cancel ends a retrying job at once"
alive
