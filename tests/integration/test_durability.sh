# SPDX-License-Identifier: MIT
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

# ---- issue 12: stages, ended jobs and keys across kill -9 ------------------------------
# A two-stage exec pipeline whose stages append "payload stage" lines to $T/ran: once a
# job's STAGE record is written, a kill -9 does not run its first stage again (kill -9
# keeps the page cache: written is what survives). A later submit's acknowledgement proves
# the STAGE records queued before it were written (one writer, in order).
CONF2="
pipelines:
  two:
    stages:
      - {name: s1, exec: [sh, -c, 'read x; echo \"\$x s1\" >> $T/ran; printf %s \"\$x\"'], workers: 4}
      - {name: s2, exec: [sh, -c, 'while [ -d $T ] && [ ! -e $T/go2 ]; do sleep 0.05; done; read x; echo \"\$x s2\" >> $T/ran; printf %s-2 \"\$x\"'], workers: 4}
  quick:
    stages:
      - {name: q, builtin: upper}
  bad:
    stages:
      - {name: f, exec: [sh, -c, 'echo oops >&2; exit 3'], retry: {attempts: 1}}"
stop_weftd
rm -rf "$T/state" "$T/go2" "$T/ran"
: > "$T/weftd.log"
start_weftd "$CONF2" "  durability: batch"
ids=()
for i in 1 2 3 4; do ids+=("$("$WEFTCTL" submit two "p$i")") || fail "submit two $i"; done
at_s2() { for id in "${ids[@]}"; do [ "$("$WEFTCTL" --json status "$id" | jget job.stage)" = s2 ] || return 1; done; }
wait_for "every job at stage s2" at_s2
"$WEFTCTL" submit quick sync > /dev/null || fail "sync submit"
done_id=$("$WEFTCTL" submit quick kept) || fail "submit quick"
"$WEFTCTL" wait "$done_id" > /dev/null || fail "quick job"
bad_id=$("$WEFTCTL" submit bad x) || fail "submit bad"
"$WEFTCTL" wait "$bad_id" > /dev/null 2>&1 || true
key_id=$(ask '{"op":"submit","pipeline":"quick","payload":"k","key":"once"}' | jget job)
[ -n "$key_id" ] && [ "$key_id" != None ] || fail "keyed submit"
"$WEFTCTL" submit quick sync2 > /dev/null || fail "sync submit 2"
stop_weftd KILL
rm -f "$SOCK"
start_weftd "$CONF2" "  durability: batch"
touch "$T/go2"
"$WEFTCTL" --timeout 20s wait "${ids[@]}" > /dev/null 2>&1 || fail "resumed jobs did not finish"
for i in 1 2 3 4; do
	[ "$(grep -c "^p$i s1$" "$T/ran")" = 1 ] || fail "job p$i: stage s1 ran $(grep -c "^p$i s1$" "$T/ran") times: $(tr '\n' ' ' < "$T/ran")"
	[ "$(grep -c "^p$i s2$" "$T/ran")" -ge 1 ] || fail "job p$i: stage s2 never ran"
	[ "$("$WEFTCTL" --json status "${ids[$((i-1))]}" | jget job.output)" = "p$i-2" ] || fail "job p$i output"
done
ok "kill -9 with jobs at stage 2: they resume there, stage 1 is not run again"
r=$("$WEFTCTL" --json status "$done_id")
[ "$(jget job.state <<<"$r")" = done ] && [ "$(jget job.output <<<"$r")" = KEPT ] || fail "a done job after kill -9: $r"
r=$("$WEFTCTL" --json status "$bad_id")
[ "$(jget job.state <<<"$r")" = failed ] && matches "$r" 'exit status 3' && matches "$r" '"log":"oops' || fail "a failed job after kill -9: $r"
ok "kill -9: a done job keeps its output, a failed one its error and log"
r=$(ask '{"op":"submit","pipeline":"quick","payload":"k","key":"once"}')
[ "$(jget job <<<"$r")" = "$key_id" ] && matches "$r" '"duplicate":true' || fail "the key after kill -9: $r (first job $key_id)"
ok "kill -9: a second submit with a key answers the first job, duplicate"
stop_weftd; [ "$WEFTD_RC" = 0 ] || fail "exit $WEFTD_RC at a clean stop"
start_weftd "$CONF2" "  durability: batch"
r=$("$WEFTCTL" --json status "$done_id")
[ "$(jget job.output <<<"$r")" = KEPT ] || fail "a done job after a clean restart: $r"
[ "$(jget job.state <<<"$("$WEFTCTL" --json status "$bad_id")")" = failed ] || fail "a failed job after a clean restart"
ok "a clean restart: ended jobs come back as they ended"
stop_weftd

# kill -9 several times under load: every acknowledged submit is done in the end, with
# its output, under its id
rm -rf "$T/state" "$T/acked"
: > "$T/acked"
for round in 1 2 3; do
	start_weftd "$CONF2" "  durability: batch"
	( for i in $(seq 1 400); do
		id=$("$WEFTCTL" submit quick "r$round-$i" 2>/dev/null) || break
		echo "$id r$round-$i" >> "$T/acked"
	done ) &
	loader=$!
	sleep 0.$((3 + round))
	stop_weftd KILL
	wait "$loader" 2>/dev/null || true
	rm -f "$SOCK"
done
start_weftd "$CONF2" "  durability: batch"
n=0
while read -r id p; do
	up=$(echo "$p" | tr a-z A-Z)
	r=$("$WEFTCTL" --json --timeout 20s wait "$id" 2>/dev/null) || fail "acknowledged job $id ($p) lost: $r"
	[ "$(jget job.output <<<"$r")" = "$up" ] || fail "job $id ($p): $r"
	n=$((n + 1))
done < "$T/acked"
[ "$n" -gt 0 ] || fail "no submit was acknowledged"
ok "kill -9 three times under load: all $n acknowledged jobs done, none lost"
stop_weftd
