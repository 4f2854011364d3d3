# SPDX-License-Identifier: MIT
# Multi-stage flows give the right outputs (builtins, exec), and weftctl's commands work.
. "$(dirname "$0")/lib.sh"
start_weftd '
pipelines:
  shout:
    stages:
      - {name: upper, builtin: upper, workers: 2}
      - {name: digest, builtin: sha256, workers: 2}
  echo:
    stages:
      - {name: e, builtin: echo}'

want=$(printf HELLO | sha256sum | cut -d" " -f1)
out=$("$WEFTCTL" submit shout hello --wait) || fail "submit --wait exit $?"
[ "$out" = "$want" ] || fail "shout output '$out' != '$want'"
ok "builtins upper -> sha256 give sha256(HELLO)"

id=$("$WEFTCTL" submit echo "some text") || fail "submit"
[ ${#id} -eq 16 ] || fail "job id '$id'"
out=$("$WEFTCTL" wait "$id") || fail "wait exit $?"
[ "$out" = "some text" ] || fail "echo output '$out'"
matches "$("$WEFTCTL" status "$id")" "state *done" || fail "status not done"
[ "$(job_state "$id")" = done ] || fail "--json status"
ok "submit / wait / status by id"

# binary payloads round-trip through payload_b64 / output_b64
head -c 3000 /dev/urandom > "$T/bin"
"$WEFTCTL" submit echo -f "$T/bin" --wait > "$T/bin.out" || fail "binary submit"
cmp -s "$T/bin" "$T/bin.out" || fail "binary payload changed"
[ "$(printf 'from stdin' | "$WEFTCTL" submit echo - --wait)" = "from stdin" ] || fail "stdin payload"
ok "binary payload (-f) and stdin (-) round-trip"

ids=$(for i in $(seq 20); do "$WEFTCTL" submit echo "p$i" || exit 1; done) || fail "submit 20"
"$WEFTCTL" wait $ids > "$T/w" 2>/dev/null || fail "wait many exit $?"
[ "$(grep -c ' done$' "$T/w")" -eq 20 ] || fail "wait many: $(cat "$T/w")"
[ "$("$WEFTCTL" list --pipeline echo --limit 5 | tail -n +2 | wc -l)" = 5 ] || fail "list limit"
[ "$("$WEFTCTL" --json list --state done --limit 3 | jget jobs.2.state)" = done ] || fail "list state"
[ "$("$WEFTCTL" --json stats echo | jget pipelines.echo.done)" = 23 ] || fail "stats done count"
matches "$("$WEFTCTL" pipelines)" "^shout" || fail "pipelines"
"$WEFTCTL" stats > /dev/null || fail "stats"
ok "wait many, list filters, stats counters, pipelines"

# The runtime's counters come with the full stats (not with one pipeline's): the jobs
# above ran as fibers on the 2 procs and were switched to, through the ring.
"$WEFTCTL" --json stats > "$T/st" || fail "stats exit $?"
python3 - "$T/st" <<'PY' || fail "runtime stats: $(cat "$T/st")"
import json, sys
rt = json.load(open(sys.argv[1]))["runtime"]
assert rt["procs"] == 2, rt
assert rt["connections"] >= 1, rt  # this one
assert 0 < rt["fibers"] <= rt["fibers_spawned"], rt
assert rt["switches"] > rt["fibers_spawned"], rt  # 20+ jobs, each a few switches
assert rt["io_submitted"] > 0 and rt["io_completed"] > 0, rt
PY
[ "$("$WEFTCTL" --json stats echo | jget runtime)" = None ] || fail "runtime in one pipeline's stats"
matches "$("$WEFTCTL" stats)" "^runtime: procs 2, connections " || fail "runtime line: $("$WEFTCTL" stats)"
ok "stats: the runtime's counters"

rc=0; "$WEFTCTL" submit nosuch x || rc=$?; [ $rc -eq 6 ] || fail "unknown pipeline exit $rc"
rc=0; "$WEFTCTL" status 0123456789abcdef || rc=$?; [ $rc -eq 6 ] || fail "unknown job exit $rc"
rc=0; "$WEFTCTL" frobnicate || rc=$?; [ $rc -eq 2 ] || fail "usage exit $rc"
rc=0; "$WEFTCTL" --socket "$T/none.sock" ping || rc=$?; [ $rc -eq 3 ] || fail "no daemon exit $rc"
rc=0; "$WEFTCTL" reload > /dev/null || rc=$?; [ $rc -eq 0 ] || fail "reload exit $rc"
ok "exit codes: 6 rejected, 2 usage, 3 no connection"

alive
