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

a=$("$WEFTCTL" submit slow a); b=$("$WEFTCTL" submit slow b)
sleep 0.2
"$WEFTCTL" --json status "$a" | jget job.state | grep -qx running || fail "a not running"
"$WEFTCTL" --json status "$b" | jget job.state | grep -qx queued || fail "b not queued"
"$WEFTCTL" --json cancel "$b" | jget job.state | grep -qx canceled || fail "queued cancel"
t0=$(date +%s%N)
"$WEFTCTL" cancel "$a" > /dev/null || fail "cancel a"
"$WEFTCTL" --timeout 5s wait "$a"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 1 ] || fail "wait on canceled exit $rc"
"$WEFTCTL" --json status "$a" | jget job.error | grep -q "canceled by client" || fail "cancel reason"
[ $ms -lt 2000 ] || fail "running cancel took ${ms}ms"
ok "cancel: a queued job at once, a running one in ${ms}ms"

"$WEFTCTL" --json submit short x --wait > "$T/r"; rc=$?
[ $rc -eq 1 ] || fail "timeout exit $rc"
jget job.error < "$T/r" | grep -q "timed out" || fail "timeout error: $(cat "$T/r")"
ok "an attempt over its timeout fails: $(jget job.error < "$T/r")"

"$WEFTCTL" wait --help >/dev/null
alive
