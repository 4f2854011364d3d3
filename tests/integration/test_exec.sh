# exec stages: a multi-stage coreutils flow, failures with stderr kept, timeouts kill the child,
# and no child outlives a weftd killed with SIGKILL (its keeper kills them).
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
      - {name: s, exec: ["sleep", "31.25"], timeout: 300ms, kill_grace: 200ms}
  long:
    stages:
      - {name: s, exec: ["sh", "-c", "sleep 300", "keeper-probe-'$$'"], workers: 2, timeout: 0s}'
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

# SIGKILL: weftd cannot stop its children itself. The keeper process sees weftd's end of
# its pipe close and kills the groups of the children still running: the shell and its
# sleep both. A graceful stop leaves no keeper behind either.
"$WEFTCTL" submit long a > /dev/null && "$WEFTCTL" submit long b > /dev/null || fail "submit long"
for _ in $(seq 50); do
	[ "$(pgrep -fc "keeper-probe-$$")" -eq 2 ] && break
	sleep 0.05
done
[ "$(pgrep -fc "keeper-probe-$$")" -eq 2 ] || fail "the two exec children did not start"
kill -KILL "$WEFTD_PID"; wait "$WEFTD_PID" 2>/dev/null
for _ in $(seq 40); do
	pgrep -f "keeper-probe-$$" >/dev/null || break
	sleep 0.05
done
pgrep -fa "keeper-probe-$$" && fail "exec children outlived a SIGKILLed weftd"
ok "exec children end with a weftd killed by SIGKILL"
start_weftd "$(sed -n '/^pipelines:/,$p' "$T/weftd.yaml")"
keeper=$(pgrep -P "$WEFTD_PID" -x weftd-keeper) || fail "no keeper process"
kill -TERM "$WEFTD_PID"; wait "$WEFTD_PID"
kill -0 "$keeper" 2>/dev/null && fail "the keeper outlived a graceful stop"
ok "a graceful stop reaps the keeper"
