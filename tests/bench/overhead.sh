# SPDX-License-Identifier: MIT
# overhead.sh — sourced by bench_trace.sh and bench_profile.sh: what a long-running op (a
# trace, a CPU profile) costs the jobs while it runs. A daemon with one noop pipeline;
# interleaved pairs of noop runs (alternating which goes first), one without the op and
# one while a client holds the op open (it ends when its client goes); the medians.
#   overhead NAME REQUEST WHAT  prints "NAME P %", P = (without - with) / without * 100,
#   and a comment line with the runs. WHAT names the op in the daemon's log ("WHAT
#   started", "WHAT ended"). The daemon's log stays in $T/log for the caller.
# Env: WEFTD, BUILD, BENCH_JOBS (default 1000000), BENCH_RUNS (3), BENCH_CONNS (4),
# BENCH_WINDOW (64).
set -eu
: "${WEFTD:=build/weftd}" "${BUILD:=build}"
LOAD=$BUILD/bench/weftd_load
N=${BENCH_JOBS:-1000000}; C=${BENCH_CONNS:-4}; W=${BENCH_WINDOW:-64}
T=$(mktemp -d /tmp/weftd-bench.XXXXXX)
PID= HOLDER=
trap 'kill $HOLDER $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT

overhead() {
	local name=$1 req=$2 what=$3 held=0
	printf 'daemon:\n  socket: %s\n  procs: 2\n  durability: none\n  log_level: info\n  retention: {count: 100000, age: 1m}\npipelines:\n  noop:\n    stages:\n      - {name: noop, builtin: noop, workers: 8, queue: 65536, timeout: 0s}\n' \
		"$T/s.sock" > "$T/c.yaml"
	"$WEFTD" --config "$T/c.yaml" 2> "$T/log" & PID=$!
	for _ in $(seq 100); do echo '{"op":"ping"}' | socat -t 1 - UNIX-CONNECT:"$T/s.sock" 2>/dev/null | grep -q true && break; sleep 0.05; done
	"$LOAD" "$T/s.sock" noop "$C" "$W" 120000 > /dev/null   # warm-up (bench_daemon.sh says why)
	echo "$req" > "$T/req" # a file: socat splits its address at commas
	: > "$T/off"; : > "$T/on"
	for i in $(seq "${BENCH_RUNS:-3}"); do
		if [ $((i % 2)) = 1 ]; then rate >> "$T/off"; run_on; else run_on; rate >> "$T/off"; fi
	done
	local off on
	off=$(med "$T/off"); on=$(med "$T/on")
	echo "# ${what%:}: without $(tr '\n' ' ' < "$T/off")jobs/s, while it runs $(tr '\n' ' ' < "$T/on")jobs/s" >&2
	echo "$name $(awk -v a="$off" -v b="$on" 'BEGIN {printf "%.1f", (a - b) / a * 100}') %"
}

rate() { "$LOAD" "$T/s.sock" noop "$C" "$W" "$N" | sed -E 's/.*jobs_per_s ([0-9]+).*/\1/'; }
med() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
logs() { grep -c "$1" "$T/log" || true; }
# wait_log PATTERN N: the daemon logged PATTERN N times
wait_log() { for _ in $(seq 400); do [ "$(logs "$1")" -ge "$2" ] && return 0; sleep 0.05; done; echo "# no '$1' in the log" >&2; exit 1; }
# one run while a client holds the op open, then the client goes and the op ends
run_on() {
	socat -u SYSTEM:"cat $T/req; exec sleep 120" UNIX-CONNECT:"$T/s.sock" & HOLDER=$!
	held=$((held + 1))
	wait_log "$what started" $held
	rate >> "$T/on"
	kill $HOLDER; wait $HOLDER 2>/dev/null || true; HOLDER=
	wait_log "$what ended" $held
}
