# SPDX-License-Identifier: MIT
# Issue 17: a deadline expires a QUEUED job too (test_deadline.sh covers the running and
# scheduled ones): behind a running job on a stage's only worker, and in a paused
# pipeline's queue; the job ends expired at its deadline without ever running, and the
# job ahead of it is untouched.
. "$(dirname "$0")/lib.sh"
start_weftd "
pipelines:
  one:
    stages:
      - {name: s, exec: [sh, -c, 'cat; sleep 3'], workers: 1}
  held:
    stages:
      - {name: e, builtin: echo}"

ahead=$("$WEFTCTL" submit one first) || fail "submit first"
wait_for "the first job running" in_state "$ahead" running
t0=$(date +%s%3N)
id=$("$WEFTCTL" submit one second --deadline 700ms) || fail "submit second"
[ "$(job_state "$id")" = queued ] || fail "second not queued: $(job_state "$id")"
wait_for "the queued job expired" in_state "$id" expired
took=$(( $(date +%s%3N) - t0 ))
[ "$took" -ge 650 ] && [ "$took" -lt 2900 ] || fail "expired after ${took} ms"
[ "$("$WEFTCTL" --json status "$id" | jget job.attempts)" = 0 ] || fail "the expired job ran: $("$WEFTCTL" --json status "$id")"
in_state "$ahead" running || fail "the job ahead: $(job_state "$ahead")"
ok "a job queued behind a running one expires at its deadline (${took} ms) without running"

"$WEFTCTL" pause held >/dev/null || fail "pause"
id=$("$WEFTCTL" submit held x --deadline 500ms) || fail "submit held"
[ "$(job_state "$id")" = queued ] || fail "not queued: $(job_state "$id")"
wait_for "the paused pipeline's queued job expired" in_state "$id" expired
"$WEFTCTL" resume held >/dev/null || fail "resume"
[ "$("$WEFTCTL" --json stats held | jget pipelines.held.expired)" = 1 ] || fail "stats expired"
ok "a job queued in a paused pipeline expires at its deadline; stats count it"
wait_for "the first job done" in_state "$ahead" done
alive
