# SPDX-License-Identifier: MIT
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
rc=0; "$WEFTCTL" --json submit bad x --wait > "$T/r" || rc=$?
[ $rc -eq 1 ] || fail "exec failure exit $rc"
[ "$(jget job.attempts < "$T/r")" = 3 ] || fail "attempts: $(cat "$T/r")"
matches "$(jget job.log < "$T/r")" oops || fail "stderr tail: $(cat "$T/r")"
ok "a failing command retries, dead-letters, and keeps its stderr"
rc=0; "$WEFTCTL" --json submit child x --wait > "$T/r" || rc=$?
[ $rc -eq 1 ] || fail "exec timeout exit $rc: $(cat "$T/r")"
gone() { ! pgrep -f "$1" >/dev/null; }
WAIT_S=5 wait_for "the exec child (sleep 31.25) ends after its timeout" gone "sleep 31.25"
ok "exec timeout kills the child (no leftover process)"
alive

# SIGKILL: weftd cannot stop its children itself. The keeper process sees weftd's end of
# its pipe close and kills the groups of the children still running: the shell and its
# sleep both. A graceful stop leaves no keeper behind either.
"$WEFTCTL" submit long a > /dev/null && "$WEFTCTL" submit long b > /dev/null || fail "submit long"
two_children() { [ "$(pgrep -fc "keeper-probe-$$" || true)" -eq 2 ]; }
wait_for "the two exec children start" two_children
stop_weftd KILL
WAIT_S=5 wait_for "exec children (keeper-probe-$$) end with the SIGKILLed weftd" gone "keeper-probe-$$"
ok "exec children end with a weftd killed by SIGKILL"
start_weftd "$(sed -n '/^pipelines:/,$p' "$T/weftd.yaml")"
keeper=$(pgrep -P "$WEFTD_PID" -x weftd-keeper) || fail "no keeper process"
stop_weftd
[ "$WEFTD_RC" = 0 ] || fail "exit $WEFTD_RC at a graceful stop"
if kill -0 "$keeper" 2>/dev/null; then fail "the keeper outlived a graceful stop"; fi
ok "a graceful stop reaps the keeper"
