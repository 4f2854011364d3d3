# SPDX-License-Identifier: MIT
# A full disk does not stick (issue 11, item 4): with state_dir on a small tmpfs, fill it:
# submits are refused with `unavailable` (weftctl exit 4, retry later), not `internal`; free
# the space: the journal recovers by itself (no restart), submits are accepted again and
# every acknowledged job runs to the end. Needs root for mount (CI runs as root).
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/state"
if ! mount -t tmpfs -o size=1m,mode=0700 tmpfs "$T/state" 2>"$T/mount.err"; then
	skip "test_disk_full: cannot mount a tmpfs (not root, or no permission): $(cat "$T/mount.err")"
	exit 0
fi
at_exit "umount -l '$T/state'"
CONF='
pipelines:
  quick:
    stages:
      - {name: q, builtin: upper}'
start_weftd "$CONF" "  durability: batch"
big=$(head -c 3000 /dev/zero | tr '\0' 'x')
acked=()
for i in 1 2 3; do acked+=("$("$WEFTCTL" submit quick "before$i")") || fail "submit $i before the disk fills"; done
ok "submits accepted on an empty tmpfs"
dd if=/dev/zero of="$T/state/fill" bs=4k 2>/dev/null || true
refused=0
for i in $(seq 40); do
	rc=0; id=$("$WEFTCTL" submit quick "$big" 2>"$T/err") || rc=$?
	if [ "$rc" = 0 ]; then acked+=("$id"); continue; fi
	refused=1; break
done
[ "$refused" = 1 ] || fail "40 submits of 3 KB accepted on a full 1 MiB tmpfs"
[ "$rc" = 4 ] || fail "weftctl exit $rc on a full disk (want 4: retry later): $(cat "$T/err")"
line=$(ask '{"op":"submit","id":7,"pipeline":"quick","payload":"x"}')
matches "$line" '"code":"unavailable"' || fail "full disk: not unavailable: $line"
ok "full disk: submit refused with unavailable (weftctl exit 4): $line"
logged "journal: No space left on device: refusing submits" || fail "the journal error is not logged"
for i in $(seq 20); do rc=0; "$WEFTCTL" submit quick "$big" > /dev/null 2>&1 || rc=$?; [ "$rc" = 4 ] || fail "refused submit $i: exit $rc"; done
n=$(log_count "refusing submits")
[ "$n" -le 3 ] || fail "the journal error logged $n times for 21 refused submits"
ok "20 more submits on the full disk: each refused at once (exit 4); the journal error logged $n time(s)"
alive "with a full disk"
rm -f "$T/state/fill"
t0=$(date +%s%N)
submit_quietly() { "$WEFTCTL" submit quick after > /dev/null 2>&1; }
wait_for "a submit accepted after space returned" submit_quietly
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
logged "journal: writable again" || fail "no recovery logged"
for i in 1 2 3; do acked+=("$("$WEFTCTL" submit quick "after$i")") || fail "submit $i after space returned"; done
ok "space freed: submits accepted again after ${ms} ms, without a restart"
out=$("$WEFTCTL" --timeout 20s wait "${acked[@]}" 2>&1) || fail "acknowledged jobs did not all finish: $out"
for id in "${acked[@]}"; do
	[ "$("$WEFTCTL" --json status "$id" | jget job.state)" = done ] || fail "job $id not done"
done
ok "all ${#acked[@]} acknowledged jobs done"
# and none is lost to the journal either: a restart finds nothing unfinished, the file clean
stop_weftd; [ "$WEFTD_RC" = 0 ] || fail "exit $WEFTD_RC at a clean stop"
start_weftd "$CONF" "  durability: batch"
! logged "damaged journal" || fail "the journal was left damaged: $(grep damaged "$T/weftd.log")"
ok "a restart finds a clean journal"
