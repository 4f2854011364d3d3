# SPDX-License-Identifier: MIT
# Power cut (issue 18): a job whose submit was acknowledged survives the loss of every
# write that was not synced, not only a kill -9 (which keeps the page cache: that is
# test_durability). The state_dir is a FUSE layer (tests/tools/lazyfs.py, after LazyFS)
# that passes everything through but remembers each file as of its last fsync/fdatasync;
# the "power cut" kills weftd and the layer and puts every file back to that content. A
# journal that acknowledged a submit before syncing it loses the job here.
# Why FUSE and not dm-flakey / dm-log-writes: this VM's kernel has no device-mapper (no
# device-mapper in /proc/misc, no /dev/mapper/control, no modules to load), while FUSE is
# built in. Skipped, saying so, where /dev/fuse, root or python3-fusepy is missing.
. "$(dirname "$0")/lib.sh"
LAZY=$(realpath "$(dirname "$0")/../tools/lazyfs.py")
PY=/usr/bin/python3 # Debian's, where python3-fusepy is
if [ ! -c /dev/fuse ] || [ "$(id -u)" != 0 ] || ! "$PY" -c 'import fusepy' 2>/dev/null; then
	skip "power cut: needs /dev/fuse, root and python3-fusepy (a FUSE layer that drops unsynced writes)"
	exit 0
fi

LAZY_PID=
mount_lazy() {
	mkdir -p "$T/back" "$T/state"
	"$PY" "$LAZY" mount "$T/back" "$T/synced" "$T/state" 2>> "$T/lazyfs.log" &
	LAZY_PID=$!
	wait_for "the lazyfs mount" mountpoint -q "$T/state"
}
# The power cut: weftd and the layer die at once; unsynced data is gone.
power_cut() {
	kill -KILL "$WEFTD_PID"; wait "$WEFTD_PID" 2>/dev/null || true
	kill -KILL "$LAZY_PID"; wait "$LAZY_PID" 2>/dev/null || true
	umount -l "$T/state"
	"$PY" "$LAZY" cut "$T/back" "$T/synced"
	rm -f "$SOCK"
}
at_exit '[ -z "$LAZY_PID" ] || kill -KILL $LAZY_PID; umount -l "$T/state"'

CONF='
pipelines:
  slow:
    stages:
      # holds every job until $T/go exists (none finishes before the cut)
      - {name: s, exec: [sh, -c, "while [ -d '$T' ] && [ ! -e '$T/go' ]; do sleep 0.05; done; cat"], workers: 2}
      - {name: u, builtin: upper}'
for mode in fsync batch; do
	rm -rf "$T/back" "$T/synced" "$T/go"
	mount_lazy
	echo "not synced" > "$T/state/probe"
	start_weftd "$CONF" "  durability: $mode"
	ids=()
	for i in 1 2 3 4 5 6; do ids+=("$("$WEFTCTL" submit slow "p$i")") || fail "$mode: submit $i"; done
	power_cut
	[ ! -s "$T/back/probe" ] || fail "$mode: the layer kept a write that was never synced"
	[ -s "$T/back/journal" ] || fail "$mode: no journal after the cut"
	mount_lazy
	start_weftd "$CONF" "  durability: $mode"
	wait_for "$mode: weftd ready after the cut" logged "ready:"
	resumed=$(grep -o '[0-9]* unfinished jobs resumed' "$T/weftd.log" | tail -1 || true)
	logged "6 unfinished jobs resumed" || fail "$mode: not all 6 acknowledged jobs survived the cut: ${resumed:-none} resumed"
	touch "$T/go"
	out=$("$WEFTCTL" --timeout 20s wait "${ids[@]}" 2>/dev/null) || fail "$mode: resumed jobs did not finish: $out"
	for i in 1 2 3 4 5 6; do
		[ "$("$WEFTCTL" --json status "${ids[$((i-1))]}" | jget job.output)" = "P$i" ] || fail "$mode: job $i output"
	done
	ok "durability $mode: power cut (unsynced writes lost) after 6 acknowledged submits: all 6 resumed and done"
	stop_weftd
	kill -KILL "$LAZY_PID"; wait "$LAZY_PID" 2>/dev/null || true
	umount -l "$T/state"
	LAZY_PID=
	: > "$T/weftd.log"
done
