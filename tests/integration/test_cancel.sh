# SPDX-License-Identifier: MIT
# Cancel (queued and running), attempt timeouts, and exec children killed on timeout.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  slow:
    stages:
      - {name: s, builtin: sleep, params: {duration: 30s}, workers: 1, timeout: 60s}
  short:
    stages:
      - {name: s, builtin: sleep, params: {duration: 30s}, timeout: 200ms}'

a=$("$WEFTCTL" submit slow a) || fail "submit a"
b=$("$WEFTCTL" submit slow b) || fail "submit b"
wait_for "job a running" in_state "$a" running
[ "$(job_state "$b")" = queued ] || fail "b not queued"
[ "$("$WEFTCTL" --json cancel "$b" | jget job.state)" = canceled ] || fail "queued cancel"
t0=$(date +%s%N)
"$WEFTCTL" cancel "$a" > /dev/null || fail "cancel a"
rc=0; "$WEFTCTL" --timeout 5s wait "$a" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 1 ] || fail "wait on canceled exit $rc"
matches "$("$WEFTCTL" --json status "$a" | jget job.error)" "canceled by client" || fail "cancel reason"
[ "$(job_state "$a")" = canceled ] || fail "a's state after cancel: $(job_state "$a")"
[ $ms -lt 2000 ] || fail "running cancel took ${ms}ms"
ok "cancel: a queued job at once, a running one in ${ms}ms"

rc=0; "$WEFTCTL" --json submit short x --wait > "$T/r" || rc=$?
[ $rc -eq 1 ] || fail "timeout exit $rc"
matches "$(jget job.error < "$T/r")" "timed out" || fail "timeout error: $(cat "$T/r")"
ok "an attempt over its timeout fails: $(jget job.error < "$T/r")"

"$WEFTCTL" wait --help > "$T/help" || fail "weftctl wait --help exit $?"
matches "$(cat "$T/help")" "wait ID" || fail "wait --help text: $(cat "$T/help")"
ok "weftctl wait --help exits 0 with the usage"
alive
