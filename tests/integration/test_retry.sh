# SPDX-License-Identifier: MIT
# Failures retry with growing delays, then dead-letter with the last error; fail-then-succeed.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  flaky:
    stages:
      - name: f
        builtin: fail
        params: {message: "boom"}
        retry: {attempts: 4, initial: 100ms, max: 1s, multiplier: 2, jitter: none}
  twice:
    stages:
      - name: f
        builtin: fail
        params: {times: "2"}
        retry: {attempts: 3, initial: 20ms, jitter: none}
      - {name: e, builtin: upper}'

t0=$(date +%s%N)
rc=0; "$WEFTCTL" --json submit flaky x --wait > "$T/r" || rc=$?
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
[ $rc -eq 1 ] || fail "dead letter exit $rc"
state=$(jget job.state < "$T/r"); err=$(jget job.error < "$T/r"); att=$(jget job.attempts < "$T/r")
[ "$state" = failed ] || fail "state $state"
[ "$att" = 4 ] || fail "attempts $att"
matches "$err" "attempt 4/4: boom" || fail "error '$err'"
# 100 + 200 + 400 ms of backoff between 4 attempts
[ $ms -ge 700 ] && [ $ms -lt 3000 ] || fail "took ${ms}ms, want 700..3000"
ok "4 attempts with 100/200/400ms backoff (${ms}ms), then failed: $err"
[ "$("$WEFTCTL" --json stats flaky | jget pipelines.flaky.stages.0.retried)" = 3 ] || fail "retried count"
[ "$("$WEFTCTL" --json list --state failed | jget jobs.0.state)" = failed ] || fail "dead letter list"
ok "stats count 3 retries; the job is listed as failed"

out=$("$WEFTCTL" submit twice abc --wait) || fail "fail-twice exit $?"
[ "$out" = ABC ] || fail "output $out"
ok "fails twice, third attempt succeeds and the next stage runs"
alive
