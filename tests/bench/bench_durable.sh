# SPDX-License-Identifier: MIT
# bench_durable.sh — durable submits (run by `make bench`):
#   jobs_per_s_durable      durability: batch, one connection with 100 submits in flight
#                           (group commit across the pipelined lines of one connection)
#   jobs_per_s_durable_c64  durability: batch, 64 connections, 100 in flight each
#                           (group commit across connections)
# Both end to end (first submit written -> every job done, one noop builtin stage), the
# median of BENCH_RUNS runs, each printed as a comment. The journal lives in a fresh
# directory under TMPDIR (default /tmp: put it on the disk the figure is for).
# Env: WEFTD, BUILD, BENCH_DURABLE_JOBS (default 100000), BENCH_RUNS (3).
set -eu
: "${WEFTD:=build/weftd}" "${BUILD:=build}"
LOAD=$BUILD/bench/weftd_load
N=${BENCH_DURABLE_JOBS:-100000}
T=$(mktemp -d "${TMPDIR:-/tmp}/weftd-bench-durable.XXXXXX")
PID=
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$T"' EXIT
start() {
	[ -n "$PID" ] && { kill $PID; wait $PID 2>/dev/null || true; }
	rm -rf "$T/s.sock" "$T/state"
	printf 'daemon:\n  socket: %s\n  procs: 2\n  durability: batch\n  state_dir: %s\n  log_level: warning\n  retention: {count: 100000, age: 1m}\npipelines:\n  noop:\n    stages:\n      - {name: noop, builtin: noop, workers: 8, queue: 65536, timeout: 0s}\n' \
		"$T/s.sock" "$T/state" > "$T/c.yaml"
	"$WEFTD" --config "$T/c.yaml" 2> "$T/log" & PID=$!
	for _ in $(seq 100); do
		echo '{"op":"ping"}' | socat -t 1 - UNIX-CONNECT:"$T/s.sock" 2>/dev/null | grep -q true && return 0
		kill -0 $PID 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# run NAME CONNS WINDOW: the median jobs/s over the runs, each run as a comment
run() {
	start || { cat "$T/log" >&2; exit 1; }
	"$LOAD" "$T/s.sock" noop "$2" "$3" 20000 > /dev/null # warm-up
	: > "$T/runs"
	for _ in $(seq "${BENCH_RUNS:-3}"); do
		r=$("$LOAD" "$T/s.sock" noop "$2" "$3" "$N")
		echo "# $1: $r" >&2
		echo "$r" | sed -E 's/.*jobs_per_s ([0-9]+).*/\1/' >> "$T/runs"
	done
	echo "$1 $(sort -n "$T/runs" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}') jobs/s"
}
run jobs_per_s_durable 1 100
run jobs_per_s_durable_c64 64 100
