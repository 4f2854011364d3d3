# exec stages: a multi-stage coreutils flow, failures with stderr kept, timeouts kill the child.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  wc:
    stages:
      - {name: lower, exec: ["tr", "A-Z", "a-z"], timeout: 10s}
      - {name: rev, exec: ["rev"], timeout: 10s}
      - {name: count, exec: ["wc", "-c"], timeout: 10s}
  bad:
    stages:
      - name: b
        exec: ["sh", "-c", "echo oops >&2; exit 3"]
        retry: {attempts: 3, initial: 50ms, jitter: none}
  child:
    stages:
      - {name: s, exec: ["sleep", "31.25"], timeout: 300ms, kill_grace: 200ms}'
out=$("$WEFTCTL" submit wc "Hello World" --wait) || fail "exec flow exit $?"
[ "$(echo $out)" = 11 ] || fail "exec flow output '$out'"
[ "$(echo 'ABC' | "$WEFTCTL" submit wc - --wait | tr -d ' ')" = 4 ] || fail "stdin"
ok "exec stages tr -> rev -> wc -c"
"$WEFTCTL" --json submit bad x --wait > "$T/r"; rc=$?
[ $rc -eq 1 ] || fail "exec failure exit $rc"
jget job.attempts < "$T/r" | grep -qx 3 || fail "attempts: $(cat "$T/r")"
jget job.log < "$T/r" | grep oops >/dev/null || fail "stderr tail: $(cat "$T/r")"
ok "a failing command retries, dead-letters, and keeps its stderr"
"$WEFTCTL" --json submit child x --wait > "$T/r"; rc=$?
[ $rc -eq 1 ] || fail "exec timeout exit $rc: $(cat "$T/r")"
sleep 0.5
pgrep -f "sleep 31.25" >/dev/null && fail "the exec child survived its timeout"
ok "exec timeout kills the child (no leftover process)"
alive
