# SPDX-License-Identifier: MIT
# Retention by bytes (issue 11, item 6): finished jobs' outputs are kept within
# retention.bytes (oldest evicted first), so a few large outputs do not hold the memory of
# all of them (24 outputs of 32 MiB held 794 MB with only a count limit); and a stage's
# max_output fails an attempt whose output is larger, with a clear error.
. "$(dirname "$0")/lib.sh"
CONF='
pipelines:
  big:
    stages:
      - {name: gen, exec: [sh, -c, "head -c 8388608 /dev/zero | tr \"\\\\0\" x"], workers: 1}
  capped:
    stages:
      - {name: gen, exec: [sh, -c, "head -c 100000 /dev/zero"], max_output: 64KiB}
      - {name: u, builtin: upper}
  capped_builtin:
    stages:
      - {name: echo, builtin: upper, max_output: 10}'
start_weftd "$CONF" "  retention: {count: 10000, age: 1h, bytes: 32MiB}"
ids=()
for i in $(seq 12); do ids+=("$("$WEFTCTL" submit big "$i")") || fail "submit $i"; done
# counted through stats, not waited for: a wait would bring every output into one answer
big_done() { [ "$("$WEFTCTL" --json stats big | jget pipelines.big.done)" = 12 ]; }
WAIT_S=60 wait_for "12 big jobs done" big_done
stats=$("$WEFTCTL" --json stats)
kept=$(jget jobs.finished_retained <<<"$stats")
bytes=$(jget jobs.finished_bytes <<<"$stats")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$WEFTD_PID/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$WEFTD_PID/status")
[ "$bytes" -le $((32 << 20)) ] || fail "retained $bytes bytes over a 32 MiB budget"
[ "$kept" = 4 ] || fail "retained $kept jobs of 8 MiB within 32 MiB (want 4)"
# sanitizers multiply memory (redzones, ASan's quarantine): the RSS bound is for plain builds
case "$BUILD" in *build-address|*build-thread) ;; *)
	[ "$hwm" -lt $((96 * 1024)) ] || fail "peak RSS $hwm KiB with 96 MiB of outputs made and 32 MiB retained" ;;
esac
ok "12 outputs of 8 MiB, retention.bytes 32 MiB: $kept retained ($bytes bytes); RSS $((rss / 1024)) MiB, peak $((hwm / 1024)) MiB"
# the oldest went first: the first job is gone, the last is there
rc=0; "$WEFTCTL" status "${ids[0]}" > /dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "the oldest finished job is still retained"
"$WEFTCTL" status "${ids[11]}" > /dev/null || fail "the newest finished job is gone"
ok "the oldest finished jobs are evicted first"

id=$("$WEFTCTL" submit capped x) || fail "submit capped"
rc=0; "$WEFTCTL" wait "$id" > /dev/null 2>&1 || rc=$?
err=$("$WEFTCTL" --json status "$id" | jget job.error)
matches "$err" "output exceeds the stage's max_output of 65536 bytes" || fail "capped exec: $err"
ok "exec output over max_output fails the attempt: $err"
id=$("$WEFTCTL" submit capped_builtin "a payload of 21 bytes") || fail "submit capped_builtin"
rc=0; "$WEFTCTL" wait "$id" > /dev/null 2>&1 || rc=$?
err=$("$WEFTCTL" --json status "$id" | jget job.error)
matches "$err" "max_output of 10 bytes" || fail "capped builtin: $err"
ok "builtin output over max_output fails the attempt: $err"
