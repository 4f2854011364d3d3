# SPDX-License-Identifier: MIT
# Issue 12 across restarts (durability: batch): a delayed job is not run early and runs on
# time after a restart in between; a dead letter is re-driven after a restart (its error,
# attempts and input survive it); pause survives a reload and a restart.
. "$(dirname "$0")/lib.sh"
CONF="
pipelines:
  echo:
    stages:
      - {name: e, builtin: echo}
  gate:
    stages:
      - {name: up, builtin: upper}
      - {name: g, exec: [sh, -c, 'test -e $T/open && cat']}"
DAEMON="  durability: batch"
start_weftd "$CONF" "$DAEMON"

t0=$(date +%s%3N)
r=$(ask '{"op":"submit","pipeline":"echo","payload":"later","delay":"3s"}')
id=$(jget job <<<"$r"); due=$(jget run_at_ms <<<"$r")
matches "$r" '"state":"scheduled"' || fail "delayed submit: $r"
r=$(ask '{"op":"submit","pipeline":"gate","payload":"abc","wait":true,"timeout":"10s"}')
dl=$(jget job.id <<<"$r")
matches "$r" '"state":"failed"' || fail "dead letter: $r"
matches "$(ask '{"op":"pause","pipeline":"echo"}')" '"paused":true' || fail "pause"
stop_weftd KILL
rm -f "$SOCK"
start_weftd "$CONF" "$DAEMON"
[ "$(job_state "$id")" = scheduled ] || fail "after kill -9 the delayed job is $(job_state "$id")"
r=$(ask "{\"op\":\"status\",\"job\":\"$dl\",\"payload\":true}")
matches "$r" '"state":"failed"' && matches "$r" '"stage":"g"' && matches "$r" '"payload":"abc"' || fail "dead letter after kill -9: $r"
matches "$(ask '{"op":"pipelines"}')" '"name":"echo","paused":true' || fail "pause lost at the restart"
ok "kill -9: the delayed job is still scheduled, the dead letter kept its stage and input, echo still paused"

# a reload keeps the pause; resume lets the due job run, never before its time
"$WEFTCTL" reload >/dev/null || fail "reload"
matches "$(ask '{"op":"pipelines"}')" '"name":"echo","paused":true' || fail "pause lost at a reload"
matches "$(ask '{"op":"resume","pipeline":"echo"}')" '"paused":false' || fail "resume"
r=$(ask "{\"op\":\"wait\",\"job\":\"$id\",\"timeout\":\"15s\"}")
matches "$r" '"state":"done"' || fail "delayed job after the restart: $r"
started=$(jget job.started_ms <<<"$r")
[ "$started" -ge "$due" ] || fail "ran $((due - started)) ms early"
[ "$started" -le $((due + 3000)) ] || fail "ran $((started - due)) ms late"
ok "after a reload echo is still paused; resumed, the delayed job ran on time ($((started - due)) ms after due, $(( $(date +%s%3N) - t0 )) ms after submit)"

touch "$T/open"
matches "$(ask "{\"op\":\"retry\",\"job\":\"$dl\"}")" '"retried":1' || fail "retry after restart"
r=$(ask "{\"op\":\"wait\",\"job\":\"$dl\",\"timeout\":\"10s\"}")
matches "$r" '"output":"ABC"' || fail "re-driven after restart: $r"
ok "the dead letter is re-driven after the restart from its failed stage with its input"
stop_weftd; [ "$WEFTD_RC" = 0 ] || fail "exit $WEFTD_RC"
rm -f "$SOCK"
start_weftd "$CONF" "$DAEMON"
r=$(ask "{\"op\":\"status\",\"job\":\"$dl\"}")
matches "$r" '"state":"done"' && matches "$r" '"output":"ABC"' || fail "a finished job after a clean restart: $r"
ok "its result survives a clean restart"
alive
