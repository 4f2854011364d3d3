# SPDX-License-Identifier: MIT
# One state_dir, one daemon (issue 11, item 2): a second weftd on the same state_dir (its own
# socket) exits at start naming the directory and the holder's pid; the first keeps serving
# and its journal stays its own. The lock dies with its holder: after a kill -9 a new daemon
# takes the directory.
. "$(dirname "$0")/lib.sh"
CONF='
pipelines:
  quick:
    stages:
      - {name: q, builtin: upper}'
start_weftd "$CONF" "  durability: batch"
[ -e "$T/state/lock" ] || fail "no lock file in $T/state"
sed "s|socket: .*|socket: $T/second.sock|" "$T/weftd.yaml" > "$T/second.yaml"
rc=0
timeout 5 "$WEFTD" --config "$T/second.yaml" 2> "$T/second.log" || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "the second daemon on one state_dir: exit $rc (log: $(cat "$T/second.log"))"
msg=$(grep "in use" "$T/second.log" || true)
matches "$msg" "state_dir $T/state is in use by another weftd (pid $WEFTD_PID)" ||
	fail "no clear message naming the directory and pid: $(cat "$T/second.log")"
ok "a second daemon on the same state_dir exits $rc: ${msg#*>}"
id=$("$WEFTCTL" submit quick still) || fail "submit to the first daemon"
[ "$("$WEFTCTL" wait "$id")" = STILL ] || fail "the first daemon's job"
alive "after the second one was refused"
stop_weftd KILL
rm -f "$SOCK"
start_weftd "$CONF" "  durability: batch"
ok "after a kill -9 of the holder a new daemon takes the state_dir"
stop_weftd; [ "$WEFTD_RC" = 0 ] || fail "exit $WEFTD_RC at a clean stop"
