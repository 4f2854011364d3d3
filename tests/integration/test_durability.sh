# Durability (daemon.durability fsync and batch): jobs accepted and not finished survive a
# kill -9: after a restart on the same state_dir they run again under their ids and complete;
# jobs that had finished are not run again.
. "$(dirname "$0")/lib.sh"
CONF='
pipelines:
  slow:
    stages:
      # holds every job until $T/go exists (expanded by the shell: the quotes around it
      # end and restart the CONF string): none finishes before the kill, even under ASan;
      # children orphaned by the kill -9 end when the test removes $T
      - {name: s, exec: [sh, -c, "while [ -d '$T' ] && [ ! -e '$T/go' ]; do sleep 0.05; done; cat"], workers: 2}
      - {name: u, builtin: upper}
  quick:
    stages:
      - {name: q, builtin: upper}'
for mode in fsync batch; do
	rm -rf "$T/state" "$T/go"
	start_weftd "$CONF" "  durability: $mode"
	done_id=$("$WEFTCTL" submit quick early) || fail "$mode: submit quick"
	"$WEFTCTL" wait "$done_id" > /dev/null || fail "$mode: quick job"
	ids=()
	for i in 1 2 3 4 5 6; do ids+=("$("$WEFTCTL" submit slow "p$i")") || fail "$mode: submit $i"; done
	stop_weftd KILL
	[ -s "$T/state/journal" ] || fail "$mode: no journal in $T/state"
	rm -f "$SOCK"
	start_weftd "$CONF" "  durability: $mode"
	logged "6 unfinished jobs resumed" || fail "$mode: not all 6 resumed"
	touch "$T/go"
	out=$("$WEFTCTL" --timeout 20s wait "${ids[@]}" 2>/dev/null) || fail "$mode: resumed jobs did not finish: $out"
	for i in 1 2 3 4 5 6; do
		[ "$("$WEFTCTL" --json status "${ids[$((i-1))]}" | jget job.output)" = "P$i" ] || fail "$mode: job $i output"
	done
	[ "$("$WEFTCTL" --json stats quick | jget pipelines.quick.submitted)" = 0 ] || fail "$mode: a finished job ran again"
	n=$(grep -o "[0-9]* unfinished jobs resumed" "$T/weftd.log" | tail -1)
	ok "durability $mode: kill -9 with accepted jobs in flight, restart: $n, all 6 done under their ids"
	stop_weftd; [ "$WEFTD_RC" = 0 ] || fail "$mode: exit $WEFTD_RC at a clean stop"
	# and a clean stop leaves nothing to resume
	start_weftd "$CONF" "  durability: $mode"
	[ "$(log_count "unfinished jobs resumed")" = 1 ] || fail "$mode: finished jobs resumed again"
	stop_weftd; [ "$WEFTD_RC" = 0 ] || fail "$mode: exit $WEFTD_RC at a clean stop"
	: > "$T/weftd.log"
done
ok "a clean restart resumes nothing"

# jobs cut by the drain deadline stay unfinished in the journal and resume at the next start
rm -rf "$T/state" "$T/go"
start_weftd "$CONF" "  durability: batch
  shutdown_timeout: 200ms"
ids=()
for i in 1 2 3 4 5; do ids+=("$("$WEFTCTL" submit slow "c$i")") || fail "submit $i"; done
stop_weftd
logged "drain timed out" || fail "the drain did not time out"
start_weftd "$CONF" "  durability: batch"
touch "$T/go"
"$WEFTCTL" --timeout 20s wait "${ids[@]}" > /dev/null 2>&1 || fail "cut jobs did not resume and finish"
ok "jobs cut by the shutdown deadline resume at the next start: $(grep -o "[0-9]* unfinished jobs resumed" "$T/weftd.log")"
stop_weftd

# unfinished jobs of a pipeline that is gone at the next start are closed as lost, logged
rm -rf "$T/state" "$T/go"
: > "$T/weftd.log"
start_weftd "$CONF" "  durability: fsync"
lost=$("$WEFTCTL" submit slow doomed) || fail "submit doomed"
stop_weftd KILL
rm -f "$SOCK"
start_weftd '
pipelines:
  quick:
    stages:
      - {name: q, builtin: upper}' "  durability: fsync"
logged "journal: job $lost: pipeline slow is gone: closed as lost" || fail "lost job not logged"
stop_weftd
start_weftd "$CONF" "  durability: fsync"
[ "$(log_count "unfinished jobs resumed")" = 0 ] || fail "a lost job came back"
ok "a job whose pipeline is gone at restart is closed as lost (logged), not resumed later"
