# SPDX-License-Identifier: MIT
# Backpressure: a full first queue answers busy (exit 4); the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  tiny:
    stages:
      - {name: s, builtin: sleep, params: {duration: 2s}, workers: 1, queue: 1}'
first=$("$WEFTCTL" submit tiny 1) || fail "first"
wait_for "the worker takes job 1 (the queue is empty again)" in_state "$first" running
"$WEFTCTL" submit tiny 2 > /dev/null || fail "second (queued)"
rc=0; "$WEFTCTL" submit tiny 3 2> "$T/err" || rc=$?
[ $rc -eq 4 ] || fail "third: exit $rc"
grep -q busy "$T/err" || fail "no busy message: $(cat "$T/err")"
matches "$(ask '{"id":"b","op":"submit","pipeline":"tiny"}')" '"code":"busy"' || fail "busy over the wire"
[ "$("$WEFTCTL" --json stats tiny | jget pipelines.tiny.busy)" = 2 ] || fail "busy counter"
ok "queue 1 + 1 worker: the third submit gets busy (exit 4), counted in stats"
alive
