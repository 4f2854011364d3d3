# SPDX-License-Identifier: MIT
# Heartbeats: an attempt that stops beating (builtin sleep with beat: false) is cancelled by
# the supervisor after the stage's heartbeat_timeout and retried per the stage's retry
# policy, then dead-lettered; counted as heartbeat_timeouts. A beating long job is not, nor
# an exec child that is silent (the worker beats while the child lives).
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  stuck:
    stages:
      - name: s
        builtin: sleep
        params: {duration: 30s, beat: false}
        heartbeat_timeout: 1s
        retry: {attempts: 2, initial: 10ms, max: 10ms}
  beating:
    stages:
      - {name: s, builtin: sleep, params: {duration: 2500ms}, heartbeat_timeout: 1s}
  silentexec:
    stages:
      - {name: e, exec: [sh, -c, "sleep 2.5; cat"], heartbeat_timeout: 1s}' "  heartbeat_interval: 100ms
  heartbeat_timeout: 10s"
t0=$(date +%s%N)
b=$("$WEFTCTL" submit beating x) || fail "submit beating"
e=$("$WEFTCTL" submit silentexec quiet) || fail "submit silentexec"
rc=0; out=$("$WEFTCTL" --json submit stuck x --wait) || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 1 ] || fail "stuck job: exit $rc: $out"
matches "$out" "heartbeat" || fail "stuck job error: $out"
[ "$(echo "$out" | jget job.state)" = failed ] || fail "stuck job state: $out"
[ "$(echo "$out" | jget job.attempts)" = 2 ] || fail "stuck job attempts: $out"
[ $ms -lt 8000 ] || fail "stuck job took ${ms}ms"
st=$("$WEFTCTL" --json stats stuck) || fail "stats stuck"
[ "$(echo "$st" | jget pipelines.stuck.stages.0.heartbeat_timeouts)" = 2 ] || fail "heartbeat_timeouts: $st"
[ "$(echo "$st" | jget pipelines.stuck.stages.0.retried)" = 1 ] || fail "retried: $st"
logged "no heartbeat for" || fail "heartbeat loss not logged"
ok "a stuck attempt is cancelled after its heartbeat_timeout, retried, then dead-lettered (${ms}ms, 2 heartbeat_timeouts)"
"$WEFTCTL" wait "$b" > /dev/null || fail "the beating job failed"
[ "$("$WEFTCTL" --json stats beating | jget pipelines.beating.stages.0.heartbeat_timeouts)" = 0 ] || fail "beating job timed out"
ok "a job that beats runs past the heartbeat_timeout"
"$WEFTCTL" wait "$e" > /dev/null || fail "the silent exec job failed: $("$WEFTCTL" --json status "$e")"
[ "$("$WEFTCTL" --json status "$e" | jget job.output)" = quiet ] || fail "silent exec output"
ok "an exec child silent for longer than the heartbeat_timeout is not stuck: the worker beats while it lives"
