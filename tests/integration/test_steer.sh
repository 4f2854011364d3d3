# SPDX-License-Identifier: MIT
# Issue 12, the operator's controls through the protocol: unknown fields refused, delayed
# and scheduled jobs, priorities on a paused then resumed pipeline, idempotency keys,
# pause/resume, undrain, re-driving and purging dead letters, the payload in status.
. "$(dirname "$0")/lib.sh"
start_weftd "
pipelines:
  order:
    stages:
      - {name: rec, exec: [sh, -c, 'cat >> $T/order; echo >> $T/order'], workers: 1}
  echo:
    stages:
      - {name: e, builtin: echo}
  flaky:
    stages:
      - {name: up, builtin: upper}
      - {name: gate, exec: [sh, -c, 'test -e $T/open && cat'], retry: {attempts: 2, initial: 10ms}}
      - {name: e, builtin: echo}"

# --- unknown and misplaced members: refused by name, nothing created
r=$(ask '{"id":1,"op":"submit","pipeline":"echo","payload":"x","dealy":"1h"}')
matches "$r" '"code":"bad_field"' && matches "$r" 'unknown field \\"dealy\\"' || fail "misspelt delay: $r"
[ "$("$WEFTCTL" --json stats echo | jget pipelines.echo.submitted)" = 0 ] || fail "a refused submit created a job"
r=$(ask '{"id":2,"op":"list","job":"x"}')
matches "$r" 'field \\"job\\" does not apply to op list' || fail "misplaced member: $r"
ok "an unknown or misplaced member is bad_field naming it; nothing was submitted"

# --- delay: scheduled, holding no worker, not run early, run on time
t0=$(date +%s%3N)
r=$(ask '{"id":3,"op":"submit","pipeline":"echo","payload":"later","delay":"1500ms"}')
id=$(jget job <<<"$r")
matches "$r" '"state":"scheduled"' || fail "delayed submit answer: $r"
due=$(jget run_at_ms <<<"$r")
[ $((due - t0)) -ge 1400 ] && [ $((due - t0)) -le 2500 ] || fail "run_at_ms $due is not now+1.5s ($t0)"
[ "$(job_state "$id")" = scheduled ] || fail "not scheduled: $(job_state "$id")"
matches "$(ask '{"op":"list","state":"scheduled"}')" "\"$id\"" || fail "list --state scheduled misses $id"
r=$(ask "{\"op\":\"wait\",\"job\":\"$id\",\"timeout\":\"10s\"}")
t1=$(date +%s%3N)
matches "$r" '"state":"done"' || fail "delayed job: $r"
[ $((t1 - t0)) -ge 1450 ] || fail "the delayed job ran early: after $((t1 - t0)) ms"
started=$(jget job.started_ms <<<"$r")
[ "$started" -ge "$((due - 5))" ] && [ "$started" -le "$((due + 1500))" ] || fail "started at $started, due $due"
ok "delay 1.5s: scheduled (listed), not run early, started on time ($((started - due)) ms after due)"

# run_at in the past runs at once; RFC 3339 and Unix seconds both accepted
r=$(ask '{"op":"submit","pipeline":"echo","payload":"p","run_at":"2001-01-01T00:00:00Z","wait":true,"timeout":"5s"}')
matches "$r" '"state":"done"' || fail "run_at in the past: $r"
r=$(ask "{\"op\":\"submit\",\"pipeline\":\"echo\",\"run_at\":$(( $(date +%s) + 3600 ))}")
far=$(jget job <<<"$r")
matches "$r" '"state":"scheduled"' || fail "run_at in an hour: $r"
r=$(ask "{\"op\":\"cancel\",\"job\":\"$far\"}")
matches "$r" '"state":"canceled"' || fail "cancel a scheduled job: $r"
ok "run_at in the past runs at once; an hour ahead is scheduled and cancel ends it"

# --- priorities on a paused pipeline: higher first, FIFO within one
matches "$(ask '{"op":"pause","pipeline":"order"}')" '"paused":true' || fail "pause"
matches "$(ask '{"op":"pipelines"}')" '"name":"order"[^]]*"paused":true' || fail "pipelines does not show paused"
ids=()
for pp in "a 0" "b 5" "c -5" "d 5" "e 0" "f 100" "g -100"; do
	set -- $pp
	r=$(ask "{\"op\":\"submit\",\"pipeline\":\"order\",\"payload\":\"$1\",\"priority\":$2}")
	ids+=("$(jget job <<<"$r")")
done
sleep 0.3 # a paused pipeline must not start any of them
[ ! -s "$T/order" ] || fail "a paused pipeline ran $(cat "$T/order")"
[ "$(job_state "${ids[0]}")" = queued ] || fail "paused job state $(job_state "${ids[0]}")"
matches "$(ask '{"op":"resume","pipeline":"order"}')" '"paused":false' || fail "resume"
r=$(ask "{\"op\":\"wait\",\"jobs\":[\"${ids[0]}\",\"${ids[6]}\"],\"timeout\":\"10s\"}")
matches "$r" '"done":true' || fail "resumed jobs: $r"
got=$(tr -d '\n' < "$T/order")
[ "$got" = fbdaecg ] || fail "order $got, want fbdaecg (priority, then FIFO)"
ok "paused: nothing ran; resumed: priority order, FIFO within one ($got)"

# --- keys: a duplicate answers the first job, creates nothing
r1=$(ask '{"op":"submit","pipeline":"echo","payload":"k","key":"order-42"}')
r2=$(ask '{"op":"submit","pipeline":"echo","payload":"other","key":"order-42"}')
r3=$(ask '{"op":"submit","pipeline":"order","payload":"","key":"order-42"}')
[ "$(jget job <<<"$r1")" = "$(jget job <<<"$r2")" ] || fail "duplicate key got a new job: $r1 / $r2"
matches "$r2" '"duplicate":true' || fail "no duplicate flag: $r2"
! matches "$r1" 'duplicate' || fail "first submit flagged duplicate: $r1"
[ "$(jget job <<<"$r3")" != "$(jget job <<<"$r1")" ] || fail "a key is per pipeline"
r=$(ask "{\"op\":\"status\",\"job\":\"$(jget job <<<"$r1")\",\"payload\":true}")
matches "$r" '"key":"order-42"' && matches "$r" '"payload":"k"' || fail "status payload/key: $r"
ok "a second submit with the key answers the first job with duplicate:true; keys are per pipeline; status shows key and payload"

# helpers for wait_for (evaluated at each try)
dead_letters() { [ "$(ask '{"op":"list","pipeline":"flaky","state":"failed"}' | grep -o '"state":"failed"' | wc -l)" = "$1" ]; }
stage0_done() { [ "$("$WEFTCTL" --json stats flaky | jget pipelines.flaky.stages.0.done)" = "$1" ]; }

# --- dead letters: re-driven from the failed stage, or from the start; purged
r=$(ask '{"op":"submit","pipeline":"flaky","payload":"abc","wait":true,"timeout":"10s"}')
dl=$(jget job.id <<<"$r")
matches "$r" '"state":"failed"' && matches "$r" '"stage":"gate"' || fail "dead letter: $r"
r=$(ask "{\"op\":\"retry\",\"job\":\"${ids[0]}\"}")
matches "$r" '"code":"conflict"' && matches "$r" 'not a dead letter' || fail "retry of a done job: $r"
touch "$T/open"
r=$(ask "{\"op\":\"retry\",\"job\":\"$dl\"}")
matches "$r" '"retried":1' || fail "retry: $r"
r=$(ask "{\"op\":\"wait\",\"job\":\"$dl\",\"timeout\":\"10s\"}")
matches "$r" '"state":"done"' && matches "$r" '"output":"ABC"' || fail "re-driven job: $r"
stage0_done 1 || fail "stage 1 ran again for a re-drive from the failed stage"
ok "retry re-drives a dead letter from the stage that failed (stage 1 not run again); a done job is a conflict"

rm "$T/open"
for i in 1 2 3; do ask '{"op":"submit","pipeline":"flaky","payload":"x"}' >/dev/null; done
wait_for "3 dead letters" dead_letters 3
touch "$T/open"
r=$(ask '{"op":"retry","pipeline":"flaky","all":true,"from_start":true}')
matches "$r" '"retried":3' || fail "retry all: $r"
wait_for "re-driven from the start" stage0_done 7 # 1 + 3 + the 3 again
ok "retry --all --from-start re-drives every dead letter through stage 1 again"
rm "$T/open"
ask '{"op":"submit","pipeline":"flaky","payload":"y"}' >/dev/null
wait_for "a dead letter" dead_letters 1
r=$(ask '{"op":"purge","pipeline":"flaky","all":true}')
matches "$r" '"purged":1' || fail "purge: $r"
matches "$(ask '{"op":"list","pipeline":"flaky","state":"failed"}')" '"jobs":\[\]' || fail "purged dead letter still listed"
ok "purge deletes the dead letters"

# --- drain and undrain: intake reopens without a restart
matches "$(ask '{"op":"drain"}')" '"drained"' || fail "drain"
matches "$(ask '{"op":"submit","pipeline":"echo"}')" '"code":"draining"' || fail "submit while drained"
matches "$(ask '{"op":"undrain"}')" '"intake":"open"' || fail "undrain"
matches "$(ask '{"op":"submit","pipeline":"echo","wait":true,"timeout":"5s"}')" '"state":"done"' || fail "submit after undrain"
ask '{"op":"drain"}' >/dev/null
matches "$(ask '{"op":"resume"}')" '"intake":"open"' || fail "resume without a pipeline"
ok "drain closes intake; undrain (or resume without pipeline) opens it again"
alive
